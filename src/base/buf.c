#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ct_buf_put(ct_buf *b, const char *s, size_t n) {
    if (b->oom) return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return -1;
        }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int ct_buf_puts(ct_buf *b, const char *s) { return ct_buf_put(b, s, strlen(s)); }

int ct_buf_vprintf(ct_buf *b, const char *fmt, va_list ap) {
    if (b->oom) return -1;
    char small[256];
    va_list again;
    va_copy(again, ap);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    if (k < 0 || (size_t)k < sizeof small) {
        va_end(again);
        return k < 0 ? -1 : ct_buf_put(b, small, (size_t)k);
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        va_end(again);
        b->oom = true;
        return -1;
    }
    vsnprintf(big, (size_t)k + 1, fmt, again);
    va_end(again);
    int r = ct_buf_put(b, big, (size_t)k);
    free(big);
    return r;
}

int ct_buf_printf(ct_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = ct_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

int ct_buf_shell_word(ct_buf *b, const char *s) {
    bool plain = *s != 0;
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("-_./:,=+@%", *p) != NULL;
    if (plain) return ct_buf_puts(b, s);
    int r = ct_buf_put(b, "'", 1);
    for (const char *p = s; *p; p++) r |= *p == '\'' ? ct_buf_put(b, "'\\''", 4) : ct_buf_put(b, p, 1);
    return r | ct_buf_put(b, "'", 1);
}

ct_status ct_buf_reserve(ct_buf *b, size_t extra, ct_err *err) {
    if (b->len + extra + 1 <= b->cap) return CT_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    b->data = d;
    b->cap = cap;
    return CT_OK;
}

ct_status ct_buf_append(ct_buf *b, const void *data, size_t n, ct_err *err) {
    if (ct_buf_put(b, data, n)) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

void ct_buf_free(ct_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

int ct_buf_xml_escape(ct_buf *b, const char *s) {
    for (const char *p = s; p && *p; p++) {
        const char *e = *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '&' ? "&amp;" : *p == '"' ? "&quot;"
                      : *p == '\'' ? "&#39;" : NULL;
        if (e) ct_buf_puts(b, e);
        else ct_buf_put(b, p, 1);
    }
    return b->oom ? -1 : 0;
}
