/* RFC 4180 CSV rows (quoted fields with "" escapes and line breaks, CRLF or LF), for benchmark
 * files. Each row reports the line it starts on; an unterminated quote or a stray character
 * after a closing quote is an error naming path:line. A UTF-8 BOM at the start is skipped. */
#ifndef CT_EVAL_CSV_H
#define CT_EVAL_CSV_H

#include <stddef.h>

#include "ctune/err.h"

typedef struct ct_csv_row {
    size_t n;
    char **f; /* fields, NUL-terminated */
    size_t line;
} ct_csv_row;

/* Calls fn for every row of text (rows of only one empty field, i.e. blank lines, are skipped). */
typedef ct_status (*ct_csv_fn)(void *user, const ct_csv_row *row, ct_err *err);
ct_status ct_csv_parse(const char *text, size_t len, const char *path, ct_csv_fn fn, void *user, ct_err *err);

#endif
