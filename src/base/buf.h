/* Growable byte buffer, always NUL-terminated (data[len] == 0 once anything was appended). */
#ifndef CT_BASE_BUF_H
#define CT_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "ctune/err.h"

typedef struct ct_buf {
    char *data;
    size_t len, cap;
    bool oom; /* sticky: set by a failed ct_buf_put/puts/printf, which then do nothing */
} ct_buf;

/* Error-reporting forms (library code that returns ct_status). */
ct_status ct_buf_reserve(ct_buf *b, size_t extra, ct_err *err);
ct_status ct_buf_append(ct_buf *b, const void *data, size_t n, ct_err *err);
/* Compact forms for builders that check OOM once at the end (b->oom, or any -1 returned):
 * 0 ok, -1 out of memory. */
int ct_buf_put(ct_buf *b, const char *s, size_t n);
int ct_buf_puts(ct_buf *b, const char *s);
int ct_buf_printf(ct_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ct_buf_vprintf(ct_buf *b, const char *fmt, va_list ap);
/* Appends s as one POSIX shell word: as it is when it holds only characters no shell treats
 * specially, else in single quotes (a quote inside written '\''). */
int ct_buf_shell_word(ct_buf *b, const char *s);
/* s with < > & " ' escaped for XML / HTML text and attribute values. */
int ct_buf_xml_escape(ct_buf *b, const char *s);
void ct_buf_free(ct_buf *b);

#endif
