/* The raw bytes one token stands for in the middle of a decoded text: the decoder pipeline of
 * tokenizer.json applied to that token alone, without the steps that only touch the start of a
 * whole text (Strip, Metaspace's prepend) and without UTF-8 repair (a byte-level token may hold
 * part of a character). Constrained decoding walks these bytes. */
#include <string.h>

#include "base/buf.h"
#include "tok/tok_internal.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One decoder step on the bytes in *b (in place, through tmp). */
static ct_status step(const ct_decoder *d, ct_buf *b, ct_buf *tmp, ct_err *err) {
    ct_status st = CT_OK;
    tmp->len = 0;
    switch (d->type) {
    case CT_DEC_SEQUENCE:
        for (size_t k = 0; k < d->n_items && !st; k++) st = step(&d->items[k], b, tmp, err);
        return st;
    case CT_DEC_BYTELEVEL: { /* only when every character is in the byte map (as HF) */
        const unsigned char *p = (const unsigned char *)b->data;
        for (size_t k = 0; k < b->len && !st;) {
            uint32_t cp;
            size_t cl = ct_utf8_decode(p + k, b->len - k, &cp);
            int byte = cl ? ct_bytelevel_byte(cp) : -1;
            if (byte < 0) return CT_OK;
            char c = (char)byte;
            st = ct_buf_append(tmp, &c, 1, err);
            k += cl;
        }
        break;
    }
    case CT_DEC_BYTEFALLBACK:
        if (b->len == 6 && !memcmp(b->data, "<0x", 3) && b->data[5] == '>' && hexval(b->data[3]) >= 0 &&
            hexval(b->data[4]) >= 0) {
            char c = (char)(hexval(b->data[3]) * 16 + hexval(b->data[4]));
            st = ct_buf_append(tmp, &c, 1, err);
            break;
        }
        return CT_OK;
    case CT_DEC_REPLACE:
    case CT_DEC_METASPACE: {
        const char *pat = d->type == CT_DEC_REPLACE ? d->pattern : d->replacement;
        size_t pl = d->type == CT_DEC_REPLACE ? d->pattern_len : d->replacement_len;
        const char *rep = d->type == CT_DEC_REPLACE ? d->content : " ";
        size_t rl = d->type == CT_DEC_REPLACE ? d->content_len : 1;
        for (size_t k = 0; k < b->len && !st;) {
            if (pl && b->len - k >= pl && !memcmp(b->data + k, pat, pl)) {
                st = ct_buf_append(tmp, rep, rl, err);
                k += pl;
            } else
                st = ct_buf_append(tmp, b->data + k++, 1, err);
        }
        break;
    }
    case CT_DEC_FUSE:
    case CT_DEC_STRIP:
        return CT_OK;
    }
    if (st) return st;
    ct_buf t = *b;
    *b = *tmp;
    *tmp = t;
    return CT_OK;
}

ct_status ct_tokenizer_token_bytes(const ct_tokenizer *tok, int32_t id, char **out, size_t *len,
                                   ct_err *err) {
    *out = NULL;
    *len = 0;
    if (id < 0 || id >= tok->n_ids || !tok->id_to_token[id]) return CT_OK;
    ct_buf b = {0}, tmp = {0};
    ct_status st = ct_buf_append(&b, tok->id_to_token[id], tok->id_len[id], err);
    if (!st && tok->has_decoder) st = step(&tok->decoder, &b, &tmp, err);
    if (!st) st = ct_buf_reserve(&b, 0, err);
    ct_buf_free(&tmp);
    if (st) {
        ct_buf_free(&b);
        return st;
    }
    b.data[b.len] = 0;
    *out = b.data;
    *len = b.len;
    return CT_OK;
}
