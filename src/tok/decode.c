/* Decoding: ids → token strings → decoder chain → UTF-8. Mirrors HF `TokenizerImpl::decode`
 * (unknown ids dropped, special added tokens dropped when skip_special_tokens) and
 * decoders/{byte_level,replace,byte_fallback,fuse,strip,metaspace,sequence}.rs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

static const char *jtype(const json_t *j) {
    return json_is_object(j) ? json_string_value(json_object_get(j, "type")) : NULL;
}

static ct_status dup_json_str(const json_t *v, char **out, size_t *len, const char *where,
                              const char *key, ct_err *err) {
    if (!json_is_string(v))
        return ct_err_set(err, CT_ERR_FORMAT, "%s.%s: expected a string", where, key);
    *len = json_string_length(v);
    *out = malloc(*len + 1);
    if (!*out) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    memcpy(*out, json_string_value(v), *len + 1);
    return CT_OK;
}

ct_status ct_decoder_parse(ct_decoder *d, const void *json, const char *where, ct_err *err) {
    const json_t *j = json;
    memset(d, 0, sizeof *d);
    const char *t = jtype(j);
    if (!t) return ct_err_set(err, CT_ERR_FORMAT, "%s.type: missing", where);
    if (!strcmp(t, "Sequence")) {
        d->type = CT_DEC_SEQUENCE;
        const json_t *arr = json_object_get(j, "decoders");
        if (!json_is_array(arr))
            return ct_err_set(err, CT_ERR_FORMAT, "%s.decoders: expected an array", where);
        d->n_items = json_array_size(arr);
        d->items = calloc(d->n_items ? d->n_items : 1, sizeof *d->items);
        if (!d->items) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < d->n_items; i++) {
            char w[512];
            snprintf(w, sizeof w, "%s.decoders[%zu]", where, i);
            if (ct_decoder_parse(&d->items[i], json_array_get(arr, i), w, err)) return err->code;
        }
        return CT_OK;
    }
    if (!strcmp(t, "ByteLevel")) d->type = CT_DEC_BYTELEVEL;
    else if (!strcmp(t, "ByteFallback")) d->type = CT_DEC_BYTEFALLBACK;
    else if (!strcmp(t, "Fuse")) d->type = CT_DEC_FUSE;
    else if (!strcmp(t, "Replace")) {
        d->type = CT_DEC_REPLACE;
        const json_t *pat = json_object_get(j, "pattern");
        const json_t *s = json_object_get(pat, "String");
        if (!json_is_string(s))
            return ct_err_set(err, CT_ERR_UNSUPPORTED,
                              "%s.pattern: only {\"String\": ...} patterns are supported in decoders",
                              where);
        if (dup_json_str(s, &d->pattern, &d->pattern_len, where, "pattern.String", err) ||
            dup_json_str(json_object_get(j, "content"), &d->content, &d->content_len, where,
                         "content", err))
            return err->code;
    } else if (!strcmp(t, "Strip")) {
        d->type = CT_DEC_STRIP;
        if (dup_json_str(json_object_get(j, "content"), &d->content, &d->content_len, where,
                         "content", err))
            return err->code;
        json_int_t a = json_integer_value(json_object_get(j, "start"));
        json_int_t b = json_integer_value(json_object_get(j, "stop"));
        if (a < 0 || b < 0)
            return ct_err_set(err, CT_ERR_FORMAT, "%s.start/stop: must be >= 0", where);
        d->start = (size_t)a;
        d->stop = (size_t)b;
    } else if (!strcmp(t, "Metaspace")) {
        d->type = CT_DEC_METASPACE;
        const json_t *r = json_object_get(j, "replacement");
        if (!json_is_string(r) || !json_string_length(r) || json_string_length(r) > 4)
            return ct_err_set(err, CT_ERR_FORMAT, "%s.replacement: expected one character", where);
        d->replacement_len = json_string_length(r);
        memcpy(d->replacement, json_string_value(r), d->replacement_len);
        const char *ps = json_string_value(json_object_get(j, "prepend_scheme"));
        const json_t *aps = json_object_get(j, "add_prefix_space");
        d->prepend = ps ? strcmp(ps, "never") != 0 : (!aps || json_is_true(aps));
    } else
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s.type: unsupported decoder '%s'", where, t);
    return CT_OK;
}

void ct_decoder_free(ct_decoder *d) {
    for (size_t i = 0; i < d->n_items; i++) ct_decoder_free(&d->items[i]);
    free(d->items);
    free(d->pattern);
    free(d->content);
    memset(d, 0, sizeof *d);
}

/* A list of owned token strings. */
typedef struct toklist {
    char **s;
    size_t *len;
    size_t n, cap;
} toklist;

static void toklist_free(toklist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    free(l->len);
    memset(l, 0, sizeof *l);
}

/* Takes ownership of `s` (even on failure). */
static ct_status toklist_push_owned(toklist *l, char *s, size_t len, ct_err *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **ns = realloc(l->s, cap * sizeof *ns);
        if (ns) l->s = ns;
        size_t *nl = ns ? realloc(l->len, cap * sizeof *nl) : NULL;
        if (nl) l->len = nl;
        if (!ns || !nl) {
            free(s);
            return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        }
        l->cap = cap;
    }
    l->s[l->n] = s;
    l->len[l->n++] = len;
    return CT_OK;
}

static ct_status toklist_push(toklist *l, const char *s, size_t len, ct_err *err) {
    char *c = malloc(len + 1);
    if (!c) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (len) memcpy(c, s, len);
    c[len] = 0;
    return toklist_push_owned(l, c, len, err);
}

static ct_status push_buf(toklist *l, ct_buf *b, ct_err *err) {
    ct_status st = toklist_push(l, b->data ? b->data : "", b->len, err);
    b->len = 0;
    return st;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static ct_status run(const ct_decoder *d, const toklist *in, toklist *out, ct_err *err) {
    ct_buf b = {0};
    ct_status st = CT_OK;
    switch (d->type) {
    case CT_DEC_SEQUENCE: {
        toklist cur = {0};
        for (size_t i = 0; i < in->n && !st; i++) st = toklist_push(&cur, in->s[i], in->len[i], err);
        for (size_t k = 0; k < d->n_items && !st; k++) {
            toklist next = {0};
            st = run(&d->items[k], &cur, &next, err);
            toklist_free(&cur);
            cur = next;
        }
        if (st) toklist_free(&cur);
        else *out = cur;
        return st;
    }
    case CT_DEC_BYTELEVEL: {
        /* HF: a token made only of byte-map characters becomes those bytes; any other token
         * passes through as its UTF-8; the whole is decoded with from_utf8_lossy. */
        ct_buf raw = {0};
        for (size_t i = 0; i < in->n && !st; i++) {
            const unsigned char *p = (const unsigned char *)in->s[i];
            size_t len = in->len[i], mark = raw.len, k = 0;
            bool ok = true;
            while (k < len && !st) {
                uint32_t cp;
                size_t cl = ct_utf8_decode(p + k, len - k, &cp);
                int byte = cl ? ct_bytelevel_byte(cp) : -1;
                if (byte < 0) {
                    ok = false;
                    break;
                }
                char c = (char)byte;
                st = ct_buf_append(&raw, &c, 1, err);
                k += cl;
            }
            if (!st && !ok) {
                raw.len = mark;
                st = ct_buf_append(&raw, in->s[i], len, err);
            }
        }
        if (!st) st = ct_utf8_lossy_append(&b, raw.data ? raw.data : "", raw.len, err);
        if (!st) st = push_buf(out, &b, err);
        ct_buf_free(&raw);
        break;
    }
    case CT_DEC_REPLACE:
        for (size_t i = 0; i < in->n && !st; i++) {
            const char *s = in->s[i];
            size_t len = in->len[i], k = 0;
            while (k < len && !st) {
                const char *f = d->pattern_len && len - k >= d->pattern_len
                                    ? memmem(s + k, len - k, d->pattern, d->pattern_len)
                                    : NULL;
                if (!f) break;
                st = ct_buf_append(&b, s + k, (size_t)(f - (s + k)), err);
                if (!st) st = ct_buf_append(&b, d->content, d->content_len, err);
                k = (size_t)(f - s) + d->pattern_len;
            }
            if (!st) st = ct_buf_append(&b, s + k, len - k, err);
            if (!st) st = push_buf(out, &b, err);
        }
        break;
    case CT_DEC_BYTEFALLBACK: {
        ct_buf bytes = {0};
        for (size_t i = 0; i <= in->n && !st; i++) {
            const char *s = i < in->n ? in->s[i] : NULL;
            int hi = -1, lo = -1;
            if (s && in->len[i] == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
                hi = hexval(s[3]);
                lo = hexval(s[4]);
            }
            if (hi >= 0 && lo >= 0) {
                char c = (char)(hi * 16 + lo);
                st = ct_buf_append(&bytes, &c, 1, err);
                continue;
            }
            if (bytes.len) {
                if (ct_utf8_validate(bytes.data, bytes.len) == bytes.len)
                    st = toklist_push(out, bytes.data, bytes.len, err);
                else /* HF: one U+FFFD per byte when the run is not valid UTF-8 */
                    for (size_t k = 0; k < bytes.len && !st; k++)
                        st = toklist_push(out, "\xEF\xBF\xBD", 3, err);
                bytes.len = 0;
            }
            if (s && !st) st = toklist_push(out, s, in->len[i], err);
        }
        ct_buf_free(&bytes);
        break;
    }
    case CT_DEC_FUSE:
        for (size_t i = 0; i < in->n && !st; i++) st = ct_buf_append(&b, in->s[i], in->len[i], err);
        if (!st) st = push_buf(out, &b, err);
        break;
    case CT_DEC_STRIP:
        for (size_t i = 0; i < in->n && !st; i++) {
            const char *s = in->s[i];
            size_t a = 0, e = in->len[i], c = d->content_len;
            for (size_t k = 0; k < d->start && e - a >= c && !memcmp(s + a, d->content, c); k++)
                a += c;
            for (size_t k = 0; k < d->stop && e - a >= c && !memcmp(s + e - c, d->content, c); k++)
                e -= c;
            st = toklist_push(out, s + a, e - a, err);
        }
        break;
    case CT_DEC_METASPACE:
        for (size_t i = 0; i < in->n && !st; i++) {
            const char *s = in->s[i];
            size_t len = in->len[i], r = d->replacement_len;
            for (size_t k = 0; k < len && !st;) {
                if (len - k >= r && !memcmp(s + k, d->replacement, r)) {
                    st = ct_buf_append(&b, " ", 1, err);
                    k += r;
                } else
                    st = ct_buf_append(&b, s + k++, 1, err);
            }
            if (st) break;
            if (i == 0 && d->prepend && b.len && b.data[0] == ' ') {
                memmove(b.data, b.data + 1, b.len - 1);
                b.len--;
            }
            st = push_buf(out, &b, err);
        }
        break;
    }
    ct_buf_free(&b);
    if (st) toklist_free(out);
    return st;
}

/* transformers `clean_up_tokenization` (applied when clean_up_tokenization_spaces is true). */
static void clean_up_spaces(char *s, size_t *len) {
    static const char *pats[][2] = {{" .", "."},     {" ?", "?"},     {" !", "!"},
                                    {" ,", ","},     {" ' ", "'"},    {" n't", "n't"},
                                    {" 'm", "'m"},   {" 's", "'s"},   {" 've", "'ve"},
                                    {" 're", "'re"}};
    for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
        size_t pl = strlen(pats[p][0]), rl = strlen(pats[p][1]), w = 0;
        for (size_t r = 0; r < *len;) {
            if (*len - r >= pl && !memcmp(s + r, pats[p][0], pl)) {
                memmove(s + w, pats[p][1], rl);
                w += rl;
                r += pl;
            } else
                s[w++] = s[r++];
        }
        *len = w;
        s[w] = 0;
    }
}

ct_status ct_tokenizer_decode(const ct_tokenizer *tok, const int32_t *ids, size_t n,
                              bool skip_special, char **out, size_t *out_len, ct_err *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    toklist in = {0}, dec = {0};
    ct_status st = CT_OK;
    for (size_t i = 0; i < n && !st; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_ids || !tok->id_to_token[id]) continue; /* HF drops unknown ids */
        if (skip_special && (tok->id_flags[id] & CT_TOK_FLAG_SPECIAL)) continue;
        st = toklist_push(&in, tok->id_to_token[id], tok->id_len[id], err);
    }
    ct_buf res = {0};
    if (!st) {
        if (tok->has_decoder) {
            st = run(&tok->decoder, &in, &dec, err);
            for (size_t i = 0; i < dec.n && !st; i++) st = ct_buf_append(&res, dec.s[i], dec.len[i], err);
        } else /* HF without a decoder joins tokens with spaces */
            for (size_t i = 0; i < in.n && !st; i++) {
                if (i) st = ct_buf_append(&res, " ", 1, err);
                if (!st) st = ct_buf_append(&res, in.s[i], in.len[i], err);
            }
    }
    if (!st) st = ct_buf_reserve(&res, 0, err);
    toklist_free(&in);
    toklist_free(&dec);
    if (st) {
        ct_buf_free(&res);
        return st;
    }
    res.data[res.len] = 0;
    if (tok->clean_up_spaces) clean_up_spaces(res.data, &res.len);
    *out = res.data;
    if (out_len) *out_len = res.len;
    return CT_OK;
}
