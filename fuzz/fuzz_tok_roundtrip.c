/* Encode/decode of arbitrary text against fixed tokenizers:
 *   byte 0 even: a small byte-level BPE tokenizer built here (Qwen2/3 pre-tokenizer regex,
 *                ByteLevel decoder, two special added tokens, no normalizer);
 *   byte 0 odd:  ../shared/models/stories260k (SentencePiece-style, byte fallback) when present.
 * For valid UTF-8 both guarantee decode(encode(x)) == x (stories260k: x without U+2581, which
 * its decoder turns into a space, and without its added tokens, after which HF's per-segment
 * normalizer prepends one). Streaming decode must agree with whole decode. */
#include <omp.h>

#include "fuzz_tok.h"

static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) k = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) k = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) k = 3, cp = c & 0x07;
        else return false;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    static ct_tokenizer *toks[2];
    static int init;
    if (!init) {
        omp_set_num_threads(1);
        toks[0] = byte_level_tokenizer();
        ct_err e = {0};
        if (ct_tokenizer_load("../shared/models/stories260k", &toks[1], &e)) toks[1] = NULL;
        init = 1;
    }
    if (n < 1) return 0;
    const ct_tokenizer *tok = toks[d[0] & 1];
    if (!tok) tok = toks[0];
    bool sp = tok != toks[0];
    d++, n--;
    ct_err err = {0};
    ct_ids ids = {0};
    ct_status st = ct_tokenizer_encode(tok, (const char *)d, n, false, &ids, &err);
    fz_check_err(st, &err);
    if (st) goto out;
    int32_t V = ct_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < ids.n; i++)
        if (ids.data[i] < 0 || ids.data[i] >= V) abort();
    char *s = NULL;
    size_t len = 0;
    st = ct_tokenizer_decode(tok, ids.data, ids.n, false, &s, &len, &err);
    fz_check_err(st, &err);
    if (st) goto out;
    /* stories260k: HF normalizes each text segment between added tokens on its own, so the
     * Prepend("▁") normalizer also puts "▁" (decoded as a space) after <s>, </s>, <unk> */
    bool sp_added = sp && (memmem(d, n, "<s>", 3) || memmem(d, n, "</s>", 4) || memmem(d, n, "<unk>", 5));
    bool guaranteed = valid_utf8(d, n) && !memchr(d, 0, n) && !(sp && memmem(d, n, "\xe2\x96\x81", 3)) && !sp_added;
    if (guaranteed && (len != n || memcmp(s, d, n))) {
        fprintf(stderr, "round trip differs: in %zu bytes, out %zu bytes \"%.*s\"\n", n, len, (int)len, s);
        abort();
    }
    /* streaming decode == whole decode */
    ct_detok dt;
    ct_detok_init(&dt, false);
    char *acc = malloc(len + 64);
    size_t an = 0;
    for (size_t i = 0; i <= ids.n && !st; i++) {
        char *t = NULL;
        size_t tl = 0;
        st = i < ids.n ? ct_detok_step(&dt, tok, ids.data[i], &t, &tl, &err) : ct_detok_flush(&dt, tok, &t, &tl, &err);
        if (t && an + tl <= len + 63) memcpy(acc + an, t, tl);
        if (t) an += tl;
        free(t);
    }
    fz_check_err(st, &err);
    if (!st && (an != len || memcmp(acc, s, len))) {
        fprintf(stderr, "stream decode differs: %zu vs %zu bytes\n", an, len);
        abort();
    }
    ct_detok_free(&dt);
    free(acc);
    free(s);
out:
    ct_ids_free(&ids);
    return 0;
}
