/* Small string helpers shared by src/data and src/train/config.c. */
#ifndef CT_DATA_STRUTIL_H
#define CT_DATA_STRUTIL_H

/* Levenshtein distance (for "did you mean" suggestions). */
int ct_str_distance(const char *a, const char *b);

#endif
