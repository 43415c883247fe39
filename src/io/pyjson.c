#include "io/pyjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"


void ct_pyjson_float(double x, char *buf, size_t n) {
    if (isnan(x)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, n, x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (x == 0) {
        snprintf(buf, n, signbit(x) ? "-0.0" : "0.0");
        return;
    }
    /* Shortest %.{p}e that reads back to x: the digits Python's repr uses. */
    char tmp[64];
    int p;
    for (p = 0; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, x);
        if (strtod(tmp, NULL) == x) break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX */
    bool neg = tmp[0] == '-';
    const char *s = tmp + neg;
    char digits[32];
    size_t nd = 0;
    const char *e = strchr(s, 'e');
    for (const char *c = s; c < e; c++)
        if (*c != '.') digits[nd++] = *c;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int exp10 = atoi(e + 1);
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (exp10 < -4 || exp10 >= 16) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++) out[o++] = digits[i];
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
        for (size_t i = 0; i < nd; i++) out[o++] = digits[i];
    } else {
        size_t intd = (size_t)exp10 + 1;
        for (size_t i = 0; i < intd; i++) out[o++] = i < nd ? digits[i] : '0';
        out[o++] = '.';
        if (nd > intd)
            for (size_t i = intd; i < nd; i++) out[o++] = digits[i];
        else
            out[o++] = '0';
    }
    out[o] = 0;
    snprintf(buf, n, "%s", out);
}

/* Decodes one UTF-8 code point; returns bytes consumed (invalid bytes map to U+FFFD). */
static size_t utf8_next(const unsigned char *s, size_t len, unsigned *cp) {
    unsigned c = s[0];
    size_t need = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
    if (need == 0) {
        *cp = c;
        return 1;
    }
    if (need > 3 || need >= len) {
        *cp = 0xfffd;
        return 1;
    }
    unsigned v = c & (0x3f >> need);
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v;
    return need + 1;
}

static void put_string(ct_buf *b, const char *str, size_t len) {
    ct_buf_put(b, "\"", 1);
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    char esc[16];
    while (i < len) {
        unsigned cp;
        size_t k = utf8_next(s + i, len - i, &cp);
        i += k;
        switch (cp) {
        case '"': ct_buf_puts(b, "\\\""); continue;
        case '\\': ct_buf_puts(b, "\\\\"); continue;
        case '\n': ct_buf_puts(b, "\\n"); continue;
        case '\r': ct_buf_puts(b, "\\r"); continue;
        case '\t': ct_buf_puts(b, "\\t"); continue;
        case '\b': ct_buf_puts(b, "\\b"); continue;
        case '\f': ct_buf_puts(b, "\\f"); continue;
        default: break;
        }
        if (cp >= 0x20 && cp < 0x7f) {
            char c = (char)cp;
            ct_buf_put(b, &c, 1);
        } else if (cp < 0x10000) {
            snprintf(esc, sizeof esc, "\\u%04x", cp);
            ct_buf_puts(b, esc);
        } else {
            unsigned v = cp - 0x10000;
            snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            ct_buf_puts(b, esc);
        }
    }
    ct_buf_put(b, "\"", 1);
}

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void newline(ct_buf *b, int indent, int depth) {
    ct_buf_put(b, "\n", 1);
    for (int i = 0; i < indent * depth; i++) ct_buf_put(b, " ", 1);
}

static void dump(ct_buf *b, const json_t *v, int indent, bool sort, int depth) {
    char num[64];
    switch (json_typeof(v)) {
    case JSON_NULL: ct_buf_puts(b, "null"); break;
    case JSON_TRUE: ct_buf_puts(b, "true"); break;
    case JSON_FALSE: ct_buf_puts(b, "false"); break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        ct_buf_puts(b, num);
        break;
    case JSON_REAL:
        ct_pyjson_float(json_real_value(v), num, sizeof num);
        ct_buf_puts(b, num);
        break;
    case JSON_STRING: put_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (!n) {
            ct_buf_puts(b, "[]");
            break;
        }
        ct_buf_put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) ct_buf_puts(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline(b, indent, depth + 1);
            dump(b, json_array_get(v, i), indent, sort, depth + 1);
        }
        if (indent >= 0) newline(b, indent, depth);
        ct_buf_put(b, "]", 1);
        break;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        if (!n) {
            ct_buf_puts(b, "{}");
            break;
        }
        const char **keys = malloc(n * sizeof *keys);
        if (!keys) {
            b->oom = true;
            break;
        }
        size_t k = 0;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) keys[k++] = key;
        if (sort) qsort(keys, k, sizeof *keys, cmp_keys);
        ct_buf_put(b, "{", 1);
        for (size_t i = 0; i < k; i++) {
            if (i) ct_buf_puts(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline(b, indent, depth + 1);
            put_string(b, keys[i], strlen(keys[i]));
            ct_buf_puts(b, ": ");
            dump(b, json_object_get(v, keys[i]), indent, sort, depth + 1);
        }
        free(keys);
        if (indent >= 0) newline(b, indent, depth);
        ct_buf_put(b, "}", 1);
        break;
    }
    }
}

char *ct_pyjson_dumps(const json_t *v, int indent, bool sort_keys) {
    ct_buf b = {0};
    dump(&b, v, indent, sort_keys, 0);
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    if (!b.data) return strdup("");
    return b.data;
}

ct_status ct_pyjson_write_file(const char *path, const json_t *v, int indent, bool sort_keys,
                               bool newline, ct_err *err) {
    char *s = ct_pyjson_dumps(v, indent, sort_keys);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(s);
    if (newline) {
        char *t = realloc(s, n + 2);
        if (!t) {
            free(s);
            return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", path);
        }
        s = t;
        s[n++] = '\n';
        s[n] = 0;
    }
    ct_status st = ct_write_file_atomic(path, s, n, err);
    free(s);
    return st;
}
