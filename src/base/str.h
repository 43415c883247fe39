/* Small string helpers shared across modules. */
#ifndef CT_BASE_STR_H
#define CT_BASE_STR_H

/* Levenshtein distance (insert / delete / substitute, bytes), for "did you mean" suggestions:
 * config keys, CLI options and commands, template and dataset names. Returns a huge value
 * (1 << 20) when out of memory. */
int ct_str_distance(const char *a, const char *b);

#endif
