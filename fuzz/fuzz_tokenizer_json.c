/* tokenizer.json (+ tokenizer_config.json after a NUL byte) loading. A tokenizer that loads
 * must then encode a few fixed texts (special tokens, invalid UTF-8, CJK), decode the ids with
 * and without special tokens, stream-decode them, and look every id up. */
#include <omp.h>

#include "ctune/tokenizer.h"
#include "fuzz_util.h"

static const char *const kTexts[] = {
    "Hello world! <|im_start|>user\nhi<|im_end|>\n", "  a  b\t\tc\r\n", "\xff\xfe\x80 bad utf8 \xc3",
    "日本語のテキスト ünïcödé 🙂", "abc<s></s><unk>dd", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    static int init;
    if (!init) omp_set_num_threads(1), init = 1;
    const uint8_t *nul = memchr(d, 0, n);
    size_t n_tok = nul ? (size_t)(nul - d) : n;
    fz_write(fz_path(0, "tokenizer.json"), d, n_tok);
    if (nul)
        fz_write(fz_path(1, "tokenizer_config.json"), nul + 1, n - n_tok - 1);
    else
        unlink(fz_path(1, "tokenizer_config.json"));
    ct_err err = {0};
    ct_tokenizer *tok = NULL;
    ct_status st = ct_tokenizer_load(fz_dir(), &tok, &err);
    fz_check_err(st, &err);
    if (st) return 0;
    int32_t V = ct_tokenizer_vocab_size(tok);
    for (int32_t i = -1; i <= V && i < 4096; i++) {
        const char *s = ct_tokenizer_id_to_token(tok, i);
        if (s && ct_tokenizer_token_to_id(tok, s) < 0) abort();
        (void)ct_tokenizer_is_special(tok, i);
    }
    (void)ct_tokenizer_chat_template(tok);
    (void)ct_tokenizer_bos_id(tok), (void)ct_tokenizer_eos_id(tok), (void)ct_tokenizer_pad_id(tok);
    for (size_t k = 0; k < sizeof kTexts / sizeof *kTexts; k++) {
        ct_ids ids = {0};
        st = ct_tokenizer_encode(tok, kTexts[k], strlen(kTexts[k]), k & 1, &ids, &err);
        fz_check_err(st, &err);
        if (st == CT_OK) {
            for (size_t i = 0; i < ids.n; i++)
                if (ids.data[i] < 0 || ids.data[i] >= V) abort();
            for (int skip = 0; skip < 2; skip++) {
                char *s = NULL;
                size_t len = 0;
                st = ct_tokenizer_decode(tok, ids.data, ids.n, skip, &s, &len, &err);
                fz_check_err(st, &err);
                if (st == CT_OK && strlen(s) > len) abort();
                free(s);
            }
            ct_detok dt;
            ct_detok_init(&dt, false);
            for (size_t i = 0; i < ids.n && !st; i++) {
                char *s = NULL;
                size_t len;
                st = ct_detok_step(&dt, tok, ids.data[i], &s, &len, &err);
                free(s);
            }
            char *s = NULL;
            size_t len;
            if (!st) st = ct_detok_flush(&dt, tok, &s, &len, &err);
            fz_check_err(st, &err);
            free(s);
            ct_detok_free(&dt);
        }
        ct_ids_free(&ids);
    }
    /* ids out of range must be refused, not read */
    int32_t bad[2] = {V, -5};
    char *s = NULL;
    size_t len;
    st = ct_tokenizer_decode(tok, bad, 2, false, &s, &len, &err);
    fz_check_err(st, &err);
    free(s);
    ct_tokenizer_free(tok);
    return 0;
}
