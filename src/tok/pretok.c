/* Pre-tokenizers of tokenizer.json ("pre_tokenizer"): Split (String/Regex pattern, behavior,
 * invert), ByteLevel (add_prefix_space, use_regex; maps bytes to GPT-2 unicode), Metaspace,
 * Digits, Sequence. Mirrors HF tokenizers pre_tokenizers/ and the split behaviours of
 * `NormalizedString::split` (tokenizer/normalizer.rs). Regexes run on PCRE2 in UTF + UCP mode so
 * \p{L}, \p{N} and \s are Unicode-aware, like Oniguruma in HF. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

/* GPT-2's pattern, used by ByteLevel when use_regex is true (HF byte_level.rs). */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

ct_status ct_regex_compile(const char *pat, size_t len, bool literal, pcre2_code **out,
                           const char *where, ct_err *err) {
    int ec;
    PCRE2_SIZE eo;
    uint32_t opt = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    *out = pcre2_compile((PCRE2_SPTR)pat, len, opt, &ec, &eo, NULL);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: bad regex at offset %zu: %s", where, (size_t)eo,
                          (const char *)msg);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* falls back to the interpreter on failure */
    return CT_OK;
}

static const char *jtype(const json_t *j) {
    return json_is_object(j) ? json_string_value(json_object_get(j, "type")) : NULL;
}

static ct_status parse_replacement(const json_t *j, char *out, size_t *len, const char *where,
                                   ct_err *err) {
    const json_t *r = json_object_get(j, "replacement");
    if (!json_is_string(r) || json_string_length(r) == 0 || json_string_length(r) > 4)
        return ct_err_set(err, CT_ERR_FORMAT, "%s.replacement: expected one character", where);
    *len = json_string_length(r);
    memcpy(out, json_string_value(r), *len);
    return CT_OK;
}

static ct_status parse_prepend_scheme(const json_t *j, ct_prepend_scheme *out, const char *where,
                                      ct_err *err) {
    const char *ps = json_string_value(json_object_get(j, "prepend_scheme"));
    const json_t *aps = json_object_get(j, "add_prefix_space");
    if (!ps) {
        *out = (aps && !json_is_true(aps)) ? CT_PREPEND_NEVER : CT_PREPEND_ALWAYS;
        return CT_OK;
    }
    if (!strcmp(ps, "always")) *out = CT_PREPEND_ALWAYS;
    else if (!strcmp(ps, "first")) *out = CT_PREPEND_FIRST;
    else if (!strcmp(ps, "never")) *out = CT_PREPEND_NEVER;
    else return ct_err_set(err, CT_ERR_FORMAT, "%s.prepend_scheme: unknown value '%s'", where, ps);
    return CT_OK;
}

ct_status ct_pretok_parse(ct_pretok *p, const void *json, const char *where, ct_err *err) {
    const json_t *j = json;
    memset(p, 0, sizeof *p);
    const char *t = jtype(j);
    if (!t) return ct_err_set(err, CT_ERR_FORMAT, "%s.type: missing", where);
    char w[512];
    if (!strcmp(t, "Sequence")) {
        p->type = CT_PRETOK_SEQUENCE;
        const json_t *arr = json_object_get(j, "pretokenizers");
        if (!json_is_array(arr))
            return ct_err_set(err, CT_ERR_FORMAT, "%s.pretokenizers: expected an array", where);
        p->n_items = json_array_size(arr);
        p->items = calloc(p->n_items ? p->n_items : 1, sizeof *p->items);
        if (!p->items) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < p->n_items; i++) {
            snprintf(w, sizeof w, "%s.pretokenizers[%zu]", where, i);
            if (ct_pretok_parse(&p->items[i], json_array_get(arr, i), w, err)) return err->code;
        }
        return CT_OK;
    }
    if (!strcmp(t, "Split")) {
        p->type = CT_PRETOK_SPLIT;
        const json_t *pat = json_object_get(j, "pattern");
        const json_t *s = json_object_get(pat, "String"), *r = json_object_get(pat, "Regex");
        snprintf(w, sizeof w, "%s.pattern", where);
        if (json_is_string(s)) {
            if (ct_regex_compile(json_string_value(s), json_string_length(s), true, &p->re, w, err))
                return err->code;
        } else if (json_is_string(r)) {
            snprintf(w, sizeof w, "%s.pattern.Regex", where);
            if (ct_regex_compile(json_string_value(r), json_string_length(r), false, &p->re, w, err))
                return err->code;
        } else
            return ct_err_set(err, CT_ERR_FORMAT,
                              "%s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", where);
        const char *b = json_string_value(json_object_get(j, "behavior"));
        if (!b) return ct_err_set(err, CT_ERR_FORMAT, "%s.behavior: missing", where);
        if (!strcmp(b, "Removed")) p->behavior = CT_SPLIT_REMOVED;
        else if (!strcmp(b, "Isolated")) p->behavior = CT_SPLIT_ISOLATED;
        else if (!strcmp(b, "MergedWithPrevious")) p->behavior = CT_SPLIT_MERGED_WITH_PREVIOUS;
        else if (!strcmp(b, "MergedWithNext")) p->behavior = CT_SPLIT_MERGED_WITH_NEXT;
        else if (!strcmp(b, "Contiguous")) p->behavior = CT_SPLIT_CONTIGUOUS;
        else return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s.behavior: unsupported '%s'", where, b);
        p->invert = json_is_true(json_object_get(j, "invert"));
        return CT_OK;
    }
    if (!strcmp(t, "ByteLevel")) {
        p->type = CT_PRETOK_BYTELEVEL;
        p->add_prefix_space = json_is_true(json_object_get(j, "add_prefix_space"));
        const json_t *ur = json_object_get(j, "use_regex");
        p->use_regex = !ur || json_is_true(ur); /* HF default: true */
        snprintf(w, sizeof w, "%s (GPT-2 pattern)", where);
        if (p->use_regex &&
            ct_regex_compile(GPT2_PATTERN, sizeof GPT2_PATTERN - 1, false, &p->re, w, err))
            return err->code;
        return CT_OK;
    }
    if (!strcmp(t, "Metaspace")) {
        p->type = CT_PRETOK_METASPACE;
        if (parse_replacement(j, p->replacement, &p->replacement_len, where, err) ||
            parse_prepend_scheme(j, &p->prepend_scheme, where, err))
            return err->code;
        const json_t *sp = json_object_get(j, "split");
        p->split = !sp || json_is_true(sp);
        return CT_OK;
    }
    if (!strcmp(t, "Digits")) {
        p->type = CT_PRETOK_DIGITS;
        p->individual_digits = json_is_true(json_object_get(j, "individual_digits"));
        return CT_OK;
    }
    return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s.type: unsupported pre_tokenizer '%s'", where, t);
}

void ct_pretok_free(ct_pretok *p) {
    for (size_t i = 0; i < p->n_items; i++) ct_pretok_free(&p->items[i]);
    free(p->items);
    if (p->re) pcre2_code_free(p->re);
    memset(p, 0, sizeof *p);
}

/* A split of one piece: spans covering it in order, flagged as match / non-match. */
typedef struct span {
    size_t a, b;
    bool m;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

static ct_status spans_add(spans *s, size_t a, size_t b, bool m, ct_err *err) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (span){a, b, m};
    return CT_OK;
}

/* Regex matches of re in s[0..len) as alternating spans (HF pattern.rs for SysRegex). */
static ct_status regex_spans(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t len,
                             spans *out, ct_err *err) {
    size_t prev = 0, from = 0;
    while (from < len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ct_err_set(err, CT_ERR_ARG, "pre-tokenizer regex failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (a == b) { /* empty match: step over one character */
            from = a + 1;
            while (from < len && ((unsigned char)s[from] & 0xC0) == 0x80) from++;
            continue;
        }
        if (a > prev && spans_add(out, prev, a, false, err)) return err->code;
        if (spans_add(out, a, b, true, err)) return err->code;
        prev = from = b;
    }
    if (prev < len && spans_add(out, prev, len, false, err)) return err->code;
    return CT_OK;
}

/* Applies a split behaviour and appends the non-empty pieces (HF normalizer.rs `split`). */
static ct_status emit_split(const char *s, spans *sp, ct_split_behavior beh, bool invert,
                            ct_pieces *out, ct_err *err) {
    if (invert)
        for (size_t i = 0; i < sp->n; i++) sp->v[i].m = !sp->v[i].m;
    size_t n = 0; /* compact in place */
    switch (beh) {
    case CT_SPLIT_ISOLATED: n = sp->n; break;
    case CT_SPLIT_REMOVED:
        for (size_t i = 0; i < sp->n; i++)
            if (!sp->v[i].m) sp->v[n++] = sp->v[i];
        break;
    case CT_SPLIT_MERGED_WITH_PREVIOUS: {
        bool prev_m = false;
        for (size_t i = 0; i < sp->n; i++) {
            span x = sp->v[i];
            if (x.m && !prev_m && n) sp->v[n - 1].b = x.b;
            else sp->v[n++] = x;
            prev_m = x.m;
        }
        break;
    }
    case CT_SPLIT_MERGED_WITH_NEXT: {
        /* fold from the right, then the result is in reverse order */
        bool prev_m = false;
        span *tmp = malloc((sp->n ? sp->n : 1) * sizeof *tmp);
        if (!tmp) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = sp->n; i-- > 0;) {
            span x = sp->v[i];
            if (x.m && !prev_m && k) tmp[k - 1].a = x.a;
            else tmp[k++] = x;
            prev_m = x.m;
        }
        for (size_t i = 0; i < k; i++) sp->v[i] = tmp[k - 1 - i];
        n = k;
        free(tmp);
        break;
    }
    case CT_SPLIT_CONTIGUOUS: {
        bool prev_m = false;
        for (size_t i = 0; i < sp->n; i++) {
            span x = sp->v[i];
            if (x.m == prev_m && n) sp->v[n - 1].b = x.b;
            else sp->v[n++] = x;
            prev_m = x.m;
        }
        break;
    }
    }
    for (size_t i = 0; i < n; i++)
        if (sp->v[i].b > sp->v[i].a &&
            ct_pieces_add(out, s + sp->v[i].a, sp->v[i].b - sp->v[i].a, err))
            return err->code;
    return CT_OK;
}

static ct_status bytelevel_map(const char *s, size_t len, ct_pieces *out, ct_err *err) {
    /* each byte becomes one code point < U+0144: at most 2 UTF-8 bytes, written in place */
    if (!len) return CT_OK;
    if (ct_buf_reserve(&out->text, len * 2, err)) return err->code;
    char *b = out->text.data + out->text.len;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) k += ct_utf8_encode(ct_bytelevel_char((uint8_t)s[i]), b + k);
    return ct_pieces_add_tail(out, k, err);
}

static ct_status apply_one(const ct_pretok *p, const ct_pieces *in, bool first_segment,
                           ct_pieces *out, ct_err *err) {
    ct_pieces_clear(out);
    if (p->type == CT_PRETOK_SEQUENCE) {
        ct_pieces a = {0}, b = {0};
        ct_status st = CT_OK;
        const ct_pieces *cur = in;
        for (size_t i = 0; i < p->n_items && !st; i++) {
            ct_pieces *dst = (i % 2 == 0) ? &a : &b;
            st = apply_one(&p->items[i], cur, first_segment, dst, err);
            cur = dst;
        }
        if (!st)
            for (size_t i = 0; i < cur->n && !st; i++)
                st = ct_pieces_add(out, cur->text.data + cur->off[i], cur->len[i], err);
        ct_pieces_free(&a);
        ct_pieces_free(&b);
        return st;
    }
    spans sp = {0};
    pcre2_match_data *md = NULL;
    ct_status st = CT_OK;
    if (p->re) {
        md = pcre2_match_data_create_from_pattern(p->re, NULL);
        if (!md) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_buf tmp = {0};
    for (size_t i = 0; i < in->n && !st; i++) {
        const char *s = in->text.data + in->off[i];
        size_t len = in->len[i];
        sp.n = 0;
        switch (p->type) {
        case CT_PRETOK_SPLIT:
            if (!(st = regex_spans(p->re, md, s, len, &sp, err)))
                st = emit_split(s, &sp, p->behavior, p->invert, out, err);
            break;
        case CT_PRETOK_BYTELEVEL:
            if (p->add_prefix_space && (len == 0 || s[0] != ' ')) {
                tmp.len = 0;
                if ((st = ct_buf_append(&tmp, " ", 1, err)) || (st = ct_buf_append(&tmp, s, len, err)))
                    break;
                s = tmp.data;
                len = tmp.len;
            }
            if (!p->use_regex) {
                st = bytelevel_map(s, len, out, err);
                break;
            }
            if ((st = regex_spans(p->re, md, s, len, &sp, err))) break;
            for (size_t k = 0; k < sp.n && !st; k++)
                if (sp.v[k].b > sp.v[k].a)
                    st = bytelevel_map(s + sp.v[k].a, sp.v[k].b - sp.v[k].a, out, err);
            break;
        case CT_PRETOK_METASPACE: {
            tmp.len = 0;
            bool prepend = p->prepend_scheme == CT_PREPEND_ALWAYS ||
                           (p->prepend_scheme == CT_PREPEND_FIRST && first_segment && i == 0);
            bool starts = (len && s[0] == ' ') ||
                          (len >= p->replacement_len && !memcmp(s, p->replacement, p->replacement_len));
            if (prepend && !starts)
                st = ct_buf_append(&tmp, p->replacement, p->replacement_len, err);
            for (size_t k = 0; k < len && !st; k++)
                st = s[k] == ' ' ? ct_buf_append(&tmp, p->replacement, p->replacement_len, err)
                                 : ct_buf_append(&tmp, s + k, 1, err);
            if (st) break;
            if (!p->split) {
                st = ct_pieces_add(out, tmp.data ? tmp.data : "", tmp.len, err);
                break;
            }
            /* split on the replacement, MergedWithNext */
            size_t prev = 0;
            for (size_t k = 0; k + p->replacement_len <= tmp.len && !st;) {
                if (!memcmp(tmp.data + k, p->replacement, p->replacement_len)) {
                    if (k > prev) st = spans_add(&sp, prev, k, false, err);
                    if (!st) st = spans_add(&sp, k, k + p->replacement_len, true, err);
                    k += p->replacement_len;
                    prev = k;
                } else
                    k++;
            }
            if (!st && prev < tmp.len) st = spans_add(&sp, prev, tmp.len, false, err);
            if (!st) st = emit_split(tmp.data, &sp, CT_SPLIT_MERGED_WITH_NEXT, false, out, err);
            break;
        }
        case CT_PRETOK_DIGITS: {
            size_t k = 0;
            while (k < len && !st) {
                bool d = s[k] >= '0' && s[k] <= '9';
                size_t e = k + 1;
                if (!d || !p->individual_digits)
                    while (e < len && ((s[e] >= '0' && s[e] <= '9') == d)) e++;
                st = spans_add(&sp, k, e, d, err);
                k = e;
            }
            if (!st)
                st = emit_split(s, &sp, p->individual_digits ? CT_SPLIT_ISOLATED : CT_SPLIT_CONTIGUOUS,
                                false, out, err);
            break;
        }
        case CT_PRETOK_SEQUENCE: break;
        }
    }
    ct_buf_free(&tmp);
    free(sp.v);
    if (md) pcre2_match_data_free(md);
    return st;
}

ct_status ct_pretok_apply(const ct_pretok *p, const ct_pieces *in, bool first_segment,
                          ct_pieces *out, ct_err *err) {
    return apply_one(p, in, first_segment, out, err);
}
