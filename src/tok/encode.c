/* Encoding pipeline and simple accessors. Mirrors HF `TokenizerImpl::encode_single_sequence`:
 *   1. split the raw text on non-normalized added tokens (AddedVocabulary::extract_and_normalize),
 *   2. normalize each remaining segment separately (so Prepend('▁') applies per segment),
 *   3. split the normalized segment on normalized added tokens,
 *   4. pre-tokenize, 5. BPE each piece, 6. post-process (prefix/suffix ids such as BOS). */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

/* Per-call scratch buffers, reused across segments. */
typedef struct scratch {
    ct_buf norm;
    ct_pieces a, b;
} scratch;

static void scratch_free(scratch *s) {
    ct_buf_free(&s->norm);
    ct_pieces_free(&s->a);
    ct_pieces_free(&s->b);
}

/* Steps 4-5 on one normalized piece of text. */
static ct_status pretok_and_model(const ct_tokenizer *t, const char *s, size_t len, bool first,
                                  scratch *sc, ct_ids *out, ct_err *err) {
    if (!len) return CT_OK;
    if (!t->has_pretok) return ct_bpe_tokenize(&t->bpe, s, len, out, err);
    ct_pieces_clear(&sc->a);
    if (ct_pieces_add(&sc->a, s, len, err) || ct_pretok_apply(&t->pretok, &sc->a, first, &sc->b, err))
        return err->code;
    for (size_t i = 0; i < sc->b.n; i++)
        if (ct_bpe_tokenize(&t->bpe, sc->b.text.data + sc->b.off[i], sc->b.len[i], out, err))
            return err->code;
    return CT_OK;
}

/* Steps 2-5 on one raw segment between non-normalized added tokens. */
static ct_status encode_segment(const ct_tokenizer *t, const char *s, size_t len, bool first,
                                scratch *sc, ct_ids *out, ct_err *err) {
    if (!len) return CT_OK;
    const char *n = s;
    size_t nl = len;
    if (t->has_normalizer) {
        if (ct_normalizer_apply(&t->normalizer, s, len, &sc->norm, err)) return err->code;
        n = sc->norm.data ? sc->norm.data : "";
        nl = sc->norm.len;
    }
    if (!t->has_norm) return pretok_and_model(t, n, nl, first, sc, out, err);
    /* the normalized text must survive the pre-tokenizer scratch: copy it */
    char *copy = malloc(nl + 1);
    if (!copy) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    memcpy(copy, n, nl);
    ct_match *m = NULL;
    size_t nm = 0, prev = 0;
    ct_status st = ct_added_find(&t->trie_norm, t->added, copy, nl, &m, &nm, err);
    for (size_t i = 0; i < nm && !st; i++) {
        st = pretok_and_model(t, copy + prev, m[i].start - prev, first && prev == 0, sc, out, err);
        if (!st) st = ct_ids_push(out, m[i].id, err);
        prev = m[i].end;
    }
    if (!st) st = pretok_and_model(t, copy + prev, nl - prev, first && prev == 0, sc, out, err);
    free(m);
    free(copy);
    return st;
}

ct_status ct_tokenizer_encode(const ct_tokenizer *t, const char *text, size_t len, bool add_special,
                              ct_ids *out, ct_err *err) {
    size_t bad = ct_utf8_validate(text, len);
    if (bad != len)
        return ct_err_set(err, CT_ERR_ARG, "tokenizer: input text is not valid UTF-8 (byte %zu)", bad);
    if (add_special)
        for (size_t i = 0; i < t->post.n_prefix; i++)
            if (ct_ids_push(out, t->post.prefix[i], err)) return err->code;
    scratch sc = {0};
    ct_match *m = NULL;
    size_t nm = 0, prev = 0;
    ct_status st = CT_OK;
    if (t->has_raw) st = ct_added_find(&t->trie_raw, t->added, text, len, &m, &nm, err);
    for (size_t i = 0; i < nm && !st; i++) {
        st = encode_segment(t, text + prev, m[i].start - prev, prev == 0, &sc, out, err);
        if (!st) st = ct_ids_push(out, m[i].id, err);
        prev = m[i].end;
    }
    if (!st) st = encode_segment(t, text + prev, len - prev, prev == 0, &sc, out, err);
    free(m);
    scratch_free(&sc);
    if (!st && add_special)
        for (size_t i = 0; i < t->post.n_suffix && !st; i++) st = ct_ids_push(out, t->post.suffix[i], err);
    return st;
}

ct_status ct_tokenizer_encode_text(const ct_tokenizer *t, const char *text, size_t len, ct_ids *out,
                                   ct_err *err) {
    size_t start = out->n;
    ct_status s = ct_tokenizer_encode(t, text, len, true, out, err);
    if (s) return s;
    int32_t bos = ct_tokenizer_bos_id(t);
    if (ct_tokenizer_add_bos(t) && bos >= 0 && (out->n == start || out->data[start] != bos)) {
        if ((s = ct_ids_push(out, bos, err))) return s;
        memmove(out->data + start + 1, out->data + start, (out->n - start - 1) * sizeof(int32_t));
        out->data[start] = bos;
    }
    return CT_OK;
}

ct_status ct_tokenizer_encode_batch(const ct_tokenizer *t, const char *const *texts,
                                    const size_t *lens, size_t n, bool add_special, ct_ids *outs,
                                    int n_threads, ct_err *err) {
    ct_status first = CT_OK;
    size_t first_i = 0;
    ct_err first_err = {0};
    if (n_threads < 1) n_threads = 1;
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads)
    for (size_t i = 0; i < n; i++) {
        ct_err e = {0};
        ct_status st = ct_tokenizer_encode(t, texts[i], lens ? lens[i] : strlen(texts[i]), add_special,
                                           &outs[i], &e);
        if (st) {
#pragma omp critical(ct_tok_batch_err)
            if (!first || i < first_i) {
                first = st;
                first_i = i;
                first_err = e;
            }
        }
    }
    if (first) return ct_err_set(err, first, "text %zu: %s", first_i, first_err.msg);
    return CT_OK;
}

int32_t ct_tokenizer_vocab_size(const ct_tokenizer *t) { return t->n_ids; }

int32_t ct_tokenizer_token_to_id(const ct_tokenizer *t, const char *token) {
    size_t len = strlen(token);
    for (size_t i = 0; i < t->n_added; i++) /* added tokens take precedence, as in HF */
        if (t->added[i].len == len && !memcmp(t->added[i].content, token, len)) return t->added[i].id;
    return ct_strmap_get(&t->bpe.vocab, token, len);
}

const char *ct_tokenizer_id_to_token(const ct_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids ? t->id_to_token[id] : NULL;
}

bool ct_tokenizer_is_special(const ct_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && (t->id_flags[id] & CT_TOK_FLAG_SPECIAL);
}

int32_t ct_tokenizer_bos_id(const ct_tokenizer *t) { return t->bos_id; }
int32_t ct_tokenizer_eos_id(const ct_tokenizer *t) { return t->eos_id; }
int32_t ct_tokenizer_pad_id(const ct_tokenizer *t) { return t->pad_id; }
bool ct_tokenizer_add_bos(const ct_tokenizer *t) { return t->add_bos; }
const char *ct_tokenizer_chat_template(const ct_tokenizer *t) { return t->chat_template; }
int64_t ct_tokenizer_model_max_length(const ct_tokenizer *t) { return t->model_max_length; }
