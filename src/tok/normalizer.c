/* Normalizers of tokenizer.json ("normalizer"): NFC/NFD/NFKC/NFKD (utf8proc), Lowercase,
 * Prepend, Replace (String or Regex pattern, literal content), Strip, Sequence.
 * Mirrors HF tokenizers normalizers/{unicode,utils,prepend,replace,strip}.rs on the text only
 * (we track no offsets). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok/tok_internal.h"

/* Rust char::is_whitespace (Unicode White_Space). */
bool ct_unicode_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static const char *jtype(const json_t *j) {
    const char *t = json_is_object(j) ? json_string_value(json_object_get(j, "type")) : NULL;
    return t;
}

static ct_status dup_str(const json_t *v, char **out, size_t *len, const char *where,
                         const char *key, ct_err *err) {
    if (!json_is_string(v))
        return ct_err_set(err, CT_ERR_FORMAT, "%s.%s: expected a string", where, key);
    *len = json_string_length(v);
    *out = malloc(*len + 1);
    if (!*out) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    memcpy(*out, json_string_value(v), *len);
    (*out)[*len] = 0;
    return CT_OK;
}

/* Parses {"String": s} or {"Regex": r} patterns. */
static ct_status parse_pattern(const json_t *pat, char **lit, size_t *lit_len, pcre2_code **re,
                               const char *where, ct_err *err) {
    const json_t *s = json_object_get(pat, "String"), *r = json_object_get(pat, "Regex");
    if (json_is_string(s)) return dup_str(s, lit, lit_len, where, "pattern.String", err);
    if (json_is_string(r)) {
        char w[512];
        snprintf(w, sizeof w, "%s.pattern.Regex", where);
        return ct_regex_compile(json_string_value(r), json_string_length(r), false, re, w, err);
    }
    return ct_err_set(err, CT_ERR_FORMAT, "%s.pattern: expected {\"String\": ...} or {\"Regex\": ...}",
                      where);
}

ct_status ct_normalizer_parse(ct_normalizer *n, const void *json, const char *where, ct_err *err) {
    const json_t *j = json;
    memset(n, 0, sizeof *n);
    const char *t = jtype(j);
    if (!t) return ct_err_set(err, CT_ERR_FORMAT, "%s.type: missing", where);
    if (!strcmp(t, "Sequence")) {
        n->type = CT_NORM_SEQUENCE;
        const json_t *arr = json_object_get(j, "normalizers");
        if (!json_is_array(arr))
            return ct_err_set(err, CT_ERR_FORMAT, "%s.normalizers: expected an array", where);
        n->n_items = json_array_size(arr);
        n->items = calloc(n->n_items ? n->n_items : 1, sizeof *n->items);
        if (!n->items) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n->n_items; i++) {
            char w[512];
            snprintf(w, sizeof w, "%s.normalizers[%zu]", where, i);
            if (ct_normalizer_parse(&n->items[i], json_array_get(arr, i), w, err)) return err->code;
        }
        return CT_OK;
    }
    if (!strcmp(t, "NFC")) n->type = CT_NORM_NFC;
    else if (!strcmp(t, "NFD")) n->type = CT_NORM_NFD;
    else if (!strcmp(t, "NFKC")) n->type = CT_NORM_NFKC;
    else if (!strcmp(t, "NFKD")) n->type = CT_NORM_NFKD;
    else if (!strcmp(t, "Lowercase")) n->type = CT_NORM_LOWERCASE;
    else if (!strcmp(t, "Prepend")) {
        n->type = CT_NORM_PREPEND;
        return dup_str(json_object_get(j, "prepend"), &n->str, &n->str_len, where, "prepend", err);
    } else if (!strcmp(t, "Replace")) {
        n->type = CT_NORM_REPLACE;
        if (parse_pattern(json_object_get(j, "pattern"), &n->str, &n->str_len, &n->re, where, err))
            return err->code;
        return dup_str(json_object_get(j, "content"), &n->content, &n->content_len, where,
                       "content", err);
    } else if (!strcmp(t, "Strip")) {
        n->type = CT_NORM_STRIP;
        n->strip_left = json_is_true(json_object_get(j, "strip_left"));
        n->strip_right = json_is_true(json_object_get(j, "strip_right"));
    } else
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s.type: unsupported normalizer '%s'", where, t);
    return CT_OK;
}

void ct_normalizer_free(ct_normalizer *n) {
    for (size_t i = 0; i < n->n_items; i++) ct_normalizer_free(&n->items[i]);
    free(n->items);
    free(n->str);
    free(n->content);
    if (n->re) pcre2_code_free(n->re);
    memset(n, 0, sizeof *n);
}

static bool all_ascii(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

static ct_status unicode_norm(ct_norm_type t, const char *in, size_t len, ct_buf *out,
                              ct_err *err) {
    if (all_ascii(in, len)) return ct_buf_append(out, in, len, err); /* ASCII is invariant */
    int opt = UTF8PROC_STABLE;
    if (t == CT_NORM_NFC || t == CT_NORM_NFKC) opt |= UTF8PROC_COMPOSE;
    else opt |= UTF8PROC_DECOMPOSE;
    if (t == CT_NORM_NFKC || t == CT_NORM_NFKD) opt |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len, &dst,
                                      (utf8proc_option_t)opt);
    if (n < 0) {
        free(dst);
        return ct_err_set(err, CT_ERR_ARG, "unicode normalization failed: %s",
                          utf8proc_errmsg(n));
    }
    ct_status st = ct_buf_append(out, dst, (size_t)n, err);
    free(dst);
    return st;
}

static ct_status lowercase(const char *in, size_t len, ct_buf *out, ct_err *err) {
    const unsigned char *p = (const unsigned char *)in;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t cl = ct_utf8_decode(p + i, len - i, &cp);
        if (!cl) return ct_err_set(err, CT_ERR_ARG, "invalid UTF-8 at byte %zu", i);
        i += cl;
        char b[8];
        size_t bl;
        if (cp == 0x130) { /* Rust: 'İ'.to_lowercase() == "i\u{307}" */
            memcpy(b, "i\xCC\x87", 3);
            bl = 3;
        } else
            bl = ct_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), b);
        if (ct_buf_append(out, b, bl, err)) return err->code;
    }
    return CT_OK;
}

static ct_status replace(const ct_normalizer *n, const char *in, size_t len, ct_buf *out,
                         ct_err *err) {
    if (!n->re) {
        if (!n->str_len) return ct_buf_append(out, in, len, err);
        size_t i = 0;
        while (i < len) {
            const char *f = len - i >= n->str_len ? memmem(in + i, len - i, n->str, n->str_len) : NULL;
            if (!f) break;
            if (ct_buf_append(out, in + i, (size_t)(f - (in + i)), err) ||
                ct_buf_append(out, n->content, n->content_len, err))
                return err->code;
            i = (size_t)(f - in) + n->str_len;
        }
        return ct_buf_append(out, in + i, len - i, err);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
    if (!md) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t i = 0, from = 0;
    ct_status st = CT_OK;
    while (from <= len) {
        int rc = pcre2_match(n->re, (PCRE2_SPTR)in, len, from, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] == ov[0]) { /* empty match: skip one character */
            uint32_t cp;
            size_t cl = from < len ? ct_utf8_decode((const unsigned char *)in + from, len - from, &cp) : 1;
            from += cl ? cl : 1;
            continue;
        }
        if ((st = ct_buf_append(out, in + i, ov[0] - i, err)) ||
            (st = ct_buf_append(out, n->content, n->content_len, err)))
            break;
        i = from = ov[1];
    }
    pcre2_match_data_free(md);
    if (st) return st;
    return ct_buf_append(out, in + i, len - i, err);
}

static ct_status strip(const ct_normalizer *n, const char *in, size_t len, ct_buf *out,
                       ct_err *err) {
    const unsigned char *p = (const unsigned char *)in;
    size_t a = 0, b = len;
    if (n->strip_left)
        while (a < b) {
            uint32_t cp;
            size_t cl = ct_utf8_decode(p + a, b - a, &cp);
            if (!cl || !ct_unicode_is_space(cp)) break;
            a += cl;
        }
    if (n->strip_right)
        while (b > a) {
            size_t s = b - 1;
            while (s > a && (p[s] & 0xC0) == 0x80) s--;
            uint32_t cp;
            size_t cl = ct_utf8_decode(p + s, b - s, &cp);
            if (!cl || !ct_unicode_is_space(cp)) break;
            b = s;
        }
    return ct_buf_append(out, in + a, b - a, err);
}

ct_status ct_normalizer_apply(const ct_normalizer *n, const char *in, size_t len, ct_buf *out,
                              ct_err *err) {
    out->len = 0;
    switch (n->type) {
    case CT_NORM_SEQUENCE: {
        if (ct_buf_append(out, in, len, err)) return err->code;
        ct_buf tmp = {0};
        for (size_t i = 0; i < n->n_items; i++) {
            if (ct_normalizer_apply(&n->items[i], out->data, out->len, &tmp, err)) {
                ct_buf_free(&tmp);
                return err->code;
            }
            ct_buf s = *out;
            *out = tmp;
            tmp = s;
        }
        ct_buf_free(&tmp);
        return CT_OK;
    }
    case CT_NORM_NFC:
    case CT_NORM_NFD:
    case CT_NORM_NFKC:
    case CT_NORM_NFKD: return unicode_norm(n->type, in, len, out, err);
    case CT_NORM_LOWERCASE: return lowercase(in, len, out, err);
    case CT_NORM_PREPEND:
        if (len && ct_buf_append(out, n->str, n->str_len, err)) return err->code;
        return ct_buf_append(out, in, len, err);
    case CT_NORM_REPLACE: return replace(n, in, len, out, err);
    case CT_NORM_STRIP: return strip(n, in, len, out, err);
    }
    return ct_err_set(err, CT_ERR_UNSUPPORTED, "unknown normalizer");
}
