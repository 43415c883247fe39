/* Incremental (streaming) decode, as HF tokenizers' DecodeStream (`step_decode_stream`):
 * keep a short window of ids whose decoded text is `prefix`; after pushing an id, decode the
 * window and emit what extends the prefix, unless the text ends in U+FFFD (a partial UTF-8
 * character split across tokens) — then wait for more ids. The window then restarts at the ids
 * that produced the last emitted text, so context-dependent decoders (Strip, Metaspace) behave
 * as in a full decode. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

void ct_detok_init(ct_detok *d, bool skip_special) {
    memset(d, 0, sizeof *d);
    d->skip_special = skip_special;
}

void ct_detok_free(ct_detok *d) {
    free(d->ids);
    free(d->prefix);
    memset(d, 0, sizeof *d);
}

static bool ends_with_fffd(const char *s, size_t len) {
    return len >= 3 && !memcmp(s + len - 3, "\xEF\xBF\xBD", 3);
}

ct_status ct_detok_step(ct_detok *d, const ct_tokenizer *tok, int32_t id, char **text,
                        size_t *len, ct_err *err) {
    *text = NULL;
    *len = 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        int32_t *ids = realloc(d->ids, cap * sizeof *ids);
        if (!ids) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        d->ids = ids;
        d->cap = cap;
    }
    d->ids[d->n++] = id;
    char *s;
    size_t sl;
    if (ct_tokenizer_decode(tok, d->ids, d->n, d->skip_special, &s, &sl, err)) return err->code;
    if (sl <= d->prefix_len || ends_with_fffd(s, sl)) {
        free(s);
        return CT_OK;
    }
    if (memcmp(s, d->prefix ? d->prefix : "", d->prefix_len)) {
        /* The decoder rewrote earlier text (HF DecodeStreamError::InvalidPrefix). */
        free(s);
        return ct_err_set(err, CT_ERR_ARG, "streaming decode: decoded text no longer extends its prefix");
    }
    size_t nl = sl - d->prefix_len;
    char *out = malloc(nl + 1);
    if (!out) {
        free(s);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    memcpy(out, s + d->prefix_len, nl);
    out[nl] = 0;
    free(s);
    /* drop ids before the previous window start; the new prefix is the rest */
    size_t keep_from = d->prefix_index;
    size_t new_prefix_index = d->n - keep_from;
    memmove(d->ids, d->ids + keep_from, (d->n - keep_from) * sizeof *d->ids);
    d->n -= keep_from;
    free(d->prefix);
    d->prefix = NULL;
    d->prefix_len = 0;
    if (ct_tokenizer_decode(tok, d->ids, d->n, d->skip_special, &d->prefix, &d->prefix_len, err)) {
        free(out);
        return err->code;
    }
    d->prefix_index = new_prefix_index;
    *text = out;
    *len = nl;
    return CT_OK;
}

ct_status ct_detok_flush(ct_detok *d, const ct_tokenizer *tok, char **text, size_t *len,
                         ct_err *err) {
    *text = NULL;
    *len = 0;
    char *s;
    size_t sl;
    if (ct_tokenizer_decode(tok, d->ids, d->n, d->skip_special, &s, &sl, err)) return err->code;
    if (sl <= d->prefix_len || memcmp(s, d->prefix ? d->prefix : "", d->prefix_len)) {
        free(s);
        return CT_OK;
    }
    memmove(s, s + d->prefix_len, sl - d->prefix_len);
    s[sl - d->prefix_len] = 0;
    *text = s;
    *len = sl - d->prefix_len;
    d->n = 0;
    d->prefix_index = 0;
    free(d->prefix);
    d->prefix = NULL;
    d->prefix_len = 0;
    return CT_OK;
}
