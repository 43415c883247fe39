/* Jinja tojson serialisation (see tojson.h). Mirrors Python json.dumps(ensure_ascii=False) with
 * default separators, which is what transformers' chat template `tojson` filter calls. */
#include "data/tojson.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pyjson.h"

int ct_tojson_string(ct_buf *b, const char *s, size_t n) {
    if (ct_buf_put(b, "\"", 1)) return -1;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        }
        if (esc) {
            if (ct_buf_put(b, s + start, i - start) || ct_buf_puts(b, esc)) return -1;
            start = i + 1;
        }
    }
    if (ct_buf_put(b, s + start, n - start)) return -1;
    return ct_buf_put(b, "\"", 1);
}

int ct_tojson(ct_buf *b, const json_t *v) {
    char tmp[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (ct_buf_put(b, "{", 1)) return -1;
        const char *k;
        json_t *x;
        bool first = true;
        json_object_foreach((json_t *)v, k, x) {
            if (!first && ct_buf_put(b, ", ", 2)) return -1;
            first = false;
            if (ct_tojson_string(b, k, strlen(k)) || ct_buf_put(b, ": ", 2) || ct_tojson(b, x))
                return -1;
        }
        return ct_buf_put(b, "}", 1);
    }
    case JSON_ARRAY: {
        if (ct_buf_put(b, "[", 1)) return -1;
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i && ct_buf_put(b, ", ", 2)) return -1;
            if (ct_tojson(b, json_array_get(v, i))) return -1;
        }
        return ct_buf_put(b, "]", 1);
    }
    case JSON_STRING: return ct_tojson_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return ct_buf_puts(b, tmp);
    case JSON_REAL: /* Python repr (shortest round-trip; 1.0 stays "1.0") */
        ct_pyjson_float(json_real_value(v), tmp, sizeof tmp);
        return ct_buf_puts(b, tmp);
    case JSON_TRUE: return ct_buf_puts(b, "true");
    case JSON_FALSE: return ct_buf_puts(b, "false");
    case JSON_NULL: return ct_buf_puts(b, "null");
    }
    return -1;
}

static int newline_indent(ct_buf *b, int n) {
    if (ct_buf_put(b, "\n", 1)) return -1;
    for (int i = 0; i < n; i++)
        if (ct_buf_put(b, " ", 1)) return -1;
    return 0;
}

static int tojson_indent(ct_buf *b, const json_t *v, int indent, int level) {
    if (json_is_object(v) && json_object_size(v)) {
        if (ct_buf_put(b, "{", 1)) return -1;
        const char *k;
        json_t *x;
        bool first = true;
        json_object_foreach((json_t *)v, k, x) {
            if (!first && ct_buf_put(b, ",", 1)) return -1;
            first = false;
            if (newline_indent(b, indent * (level + 1)) || ct_tojson_string(b, k, strlen(k)) ||
                ct_buf_put(b, ": ", 2) || tojson_indent(b, x, indent, level + 1))
                return -1;
        }
        if (newline_indent(b, indent * level)) return -1;
        return ct_buf_put(b, "}", 1);
    }
    if (json_is_array(v) && json_array_size(v)) {
        if (ct_buf_put(b, "[", 1)) return -1;
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i && ct_buf_put(b, ",", 1)) return -1;
            if (newline_indent(b, indent * (level + 1)) || tojson_indent(b, json_array_get(v, i), indent, level + 1))
                return -1;
        }
        if (newline_indent(b, indent * level)) return -1;
        return ct_buf_put(b, "]", 1);
    }
    return ct_tojson(b, v); /* scalars, {} and [] */
}

int ct_tojson_indent(ct_buf *b, const json_t *v, int indent) { return tojson_indent(b, v, indent, 0); }

char *ct_tojson_dup(const json_t *v) {
    ct_buf b = {0};
    if (ct_tojson(&b, v)) {
        ct_buf_free(&b);
        return NULL;
    }
    if (!b.data) return strdup("");
    return b.data;
}
