#include "risk/json_writer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ct_rjw_init(ct_rjw *w) { memset(w, 0, sizeof *w); }

void ct_rjw_free(ct_rjw *w) {
    free(w->buf);
    memset(w, 0, sizeof *w);
}

char *ct_rjw_take(ct_rjw *w) {
    char *b = w->oom ? NULL : w->buf;
    if (w->oom) free(w->buf);
    if (b == NULL && !w->oom) b = calloc(1, 1);
    memset(w, 0, sizeof *w);
    return b;
}

static bool grow(ct_rjw *w, size_t extra) {
    if (w->oom) return false;
    if (w->len + extra + 1 <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra + 1) cap *= 2;
    char *nb = realloc(w->buf, cap);
    if (!nb) {
        w->oom = true;
        return false;
    }
    w->buf = nb;
    w->cap = cap;
    return true;
}

void ct_rjw_raw(ct_rjw *w, const char *s, size_t n) {
    if (!grow(w, n)) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

void ct_rjw_rawz(ct_rjw *w, const char *s) { ct_rjw_raw(w, s, strlen(s)); }

void ct_rjw_printf(ct_rjw *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(w, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(w->buf + w->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
}

/* Separator before a value in the current container. */
static void sep(ct_rjw *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth - 1]) ct_rjw_raw(w, ",", 1);
        w->need_comma[w->depth - 1] = true;
    }
}

static void open_(ct_rjw *w, char c) {
    sep(w);
    ct_rjw_raw(w, &c, 1);
    if (w->depth >= CT_RJW_MAX_DEPTH) {
        w->oom = true; /* too deep for this writer: report as failure */
        return;
    }
    w->need_comma[w->depth] = false;
    w->opener[w->depth] = c;
    w->depth++;
}

void ct_rjw_obj(ct_rjw *w) { open_(w, '{'); }
void ct_rjw_arr(ct_rjw *w) { open_(w, '['); }

void ct_rjw_end(ct_rjw *w) {
    if (w->depth <= 0) return;
    w->depth--;
    char close = w->depth < CT_RJW_MAX_DEPTH && w->opener[w->depth] == '[' ? ']' : '}';
    ct_rjw_raw(w, &close, 1);
}

static void put_escaped(ct_rjw *w, const char *s) {
    ct_rjw_raw(w, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = NULL;
        char ubuf[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
                esc = ubuf;
            }
        }
        if (esc) {
            ct_rjw_raw(w, run, (size_t)(p - run));
            ct_rjw_rawz(w, esc);
            run = p + 1;
        }
    }
    ct_rjw_rawz(w, run);
    ct_rjw_raw(w, "\"", 1);
}

void ct_rjw_key(ct_rjw *w, const char *key) {
    sep(w);
    put_escaped(w, key);
    ct_rjw_raw(w, ":", 1);
    w->after_key = true;
}

void ct_rjw_str(ct_rjw *w, const char *s) {
    sep(w);
    put_escaped(w, s ? s : "");
}

void ct_rjw_int(ct_rjw *w, int64_t v) {
    sep(w);
    ct_rjw_printf(w, "%lld", (long long)v);
}

char *ct_fixed_fmt(char *out, int64_t v, int decimals) {
    if (decimals < 0) decimals = 0;
    if (decimals > 6) decimals = 6;
    /* Digits of |v| right to left, the point after `decimals` digits, at least one integer digit. */
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char tmp[32];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + a % 10);
        a /= 10;
        if (n == decimals) tmp[n++] = '.';
    } while (a || n <= decimals + (decimals > 0));
    size_t o = 0;
    if (v < 0) out[o++] = '-';
    while (n) out[o++] = tmp[--n];
    out[o] = 0;
    return out;
}

char *ct_int_grouped(char *out, int64_t v) {
    char tmp[32];
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)a);
    size_t n = strlen(tmp), o = 0;
    if (v < 0) out[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = 0;
    return out;
}

void ct_rjw_fixed(ct_rjw *w, int64_t v, int decimals) {
    char b[32];
    sep(w);
    ct_rjw_rawz(w, ct_fixed_fmt(b, v, decimals));
}

void ct_rjw_bool(ct_rjw *w, bool v) {
    sep(w);
    ct_rjw_rawz(w, v ? "true" : "false");
}

void ct_rjw_null(ct_rjw *w) {
    sep(w);
    ct_rjw_rawz(w, "null");
}

void ct_rjw_json(ct_rjw *w, const char *json) {
    sep(w);
    ct_rjw_rawz(w, json);
}
