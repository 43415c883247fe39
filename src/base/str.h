/* Small string helpers shared across modules. */
#ifndef CT_BASE_STR_H
#define CT_BASE_STR_H

#include <stddef.h>

#include "ctune/err.h"

/* Levenshtein distance (insert / delete / substitute, bytes), for "did you mean" suggestions:
 * config keys, CLI options and commands, template and dataset names. Exact up to
 * CT_STR_DISTANCE_MAX; a larger distance is reported as some value above it (the work is a band
 * of the table, linear in the lengths: a 64 KiB option name costs microseconds, not seconds).
 * Returns a huge value (1 << 20) when out of memory. */
#define CT_STR_DISTANCE_MAX 64
int ct_str_distance(const char *a, const char *b);

/* Calls fn(item, ctx) for each item of a comma-separated list, spaces around items trimmed and
 * empty items skipped. Returns 0, or fn's first non-zero return (which stops the walk); -1 when
 * out of memory. */
int ct_each_item(const char *list, int (*fn)(const char *item, void *ctx), void *ctx);

/* Calls fn(ctx, line, lineno) for every non-blank line of the NUL-terminated buf (1-based line
 * numbers; buf is modified: line ends become NULs). Stops at, and returns, fn's first error. */
typedef ct_status (*ct_line_fn)(void *ctx, char *line, size_t lineno, ct_err *err);
ct_status ct_each_line(char *buf, ct_line_fn fn, void *ctx, ct_err *err);

#endif
