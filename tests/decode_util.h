/* Shared by the decode tests (test_decode_paths.c, test_quant_infer.c): the greedy choice, a
 * deterministic prompt, greedy (or teacher-forced) decoding through the KV cache, and batched
 * decode checked against expected ids. */
#ifndef CT_TESTS_DECODE_UTIL_H
#define CT_TESTS_DECODE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/model.h"
#include "harness.h"

static inline int32_t decode_argmax(const float *l, size_t V) {
    size_t b = 0;
    for (size_t j = 1; j < V; j++)
        if (l[j] > l[b]) b = j;
    return (int32_t)b;
}

/* Prompt s: 9 + s % 8 ids below V (> CT_GEMV_MAX_T, so every exact-path forward runs the sgemm
 * rows); returns its length. */
static inline size_t decode_prompt(int32_t *p, int s, size_t V) {
    size_t n = 9 + (size_t)s % 8;
    for (size_t i = 0; i < n; i++) p[i] = (int32_t)((1 + (size_t)s * 31 + i * 7) % V);
    return n;
}

/* gen ids of prompt s through the KV cache, one token per step, into out: greedy, or the ids of
 * force when force (teacher forcing: out = force); every step's logits into lg[gen][V] when lg. */
static inline void decode_steps(ct_ctx *c, const ct_model *m, int s, int gen, int32_t *out, float *lg,
                                const int32_t *force) {
    ct_err err = {0};
    size_t V = (size_t)ct_model_config(m)->vocab_size;
    int32_t p[16];
    size_t n = decode_prompt(p, s, V);
    ct_kv_cache *kv = NULL;
    CHECK_OK(ct_kv_cache_init(&kv, ct_model_config(m), n + (size_t)gen, &err), &err);
    float *l = malloc(V * sizeof(float));
    CHECK_OK(ct_model_forward(c, m, NULL, kv, p, n, NULL, NULL, l, &err), &err);
    for (int i = 0; i < gen; i++) {
        if (lg) memcpy(lg + (size_t)i * V, l, V * sizeof(float));
        out[i] = force ? force[i] : decode_argmax(l, V);
        if (i + 1 < gen) CHECK_OK(ct_model_forward(c, m, NULL, kv, &out[i], 1, NULL, NULL, l, &err), &err);
    }
    free(l);
    ct_kv_cache_free(kv);
}

/* Greedy decoding of prompt s (decode_steps without forcing). */
static inline void decode_greedy(ct_ctx *c, const ct_model *m, int s, int gen, int32_t *out, float *lg) {
    decode_steps(c, m, s, gen, out, lg, NULL);
}

/* Batched decode of prompts 0..nseq-1 (each prefilled alone, then gen - 1 steps of
 * ct_model_forward_batch, one token per sequence): the first step at which some sequence's greedy
 * id differs from want[s * gen + i], or -1 when every id equals want. */
static inline int decode_batched_first_diff(ct_ctx *c, const ct_model *m, int nseq, int gen, const int32_t *want) {
    ct_err err = {0};
    size_t V = (size_t)ct_model_config(m)->vocab_size;
    ct_kv_cache **kv = calloc((size_t)nseq, sizeof *kv);
    int32_t *next = malloc((size_t)nseq * sizeof *next);
    float *l = malloc((size_t)nseq * V * sizeof(float));
    int bad = -1;
    for (int s = 0; s < nseq; s++) {
        int32_t p[16];
        size_t n = decode_prompt(p, s, V);
        CHECK_OK(ct_kv_cache_init(&kv[s], ct_model_config(m), n + (size_t)gen, &err), &err);
        CHECK_OK(ct_model_forward(c, m, NULL, kv[s], p, n, NULL, NULL, l, &err), &err);
        next[s] = decode_argmax(l, V);
        if (next[s] != want[(size_t)s * (size_t)gen]) bad = 0;
    }
    for (int i = 1; i < gen && bad < 0; i++) {
        CHECK_OK(ct_model_forward_batch(c, m, NULL, kv, (size_t)nseq, next, 1, l, &err), &err);
        for (int s = 0; s < nseq; s++) {
            next[s] = decode_argmax(l + (size_t)s * V, V);
            if (next[s] != want[(size_t)s * (size_t)gen + (size_t)i] && bad < 0) bad = i;
        }
    }
    for (int s = 0; s < nseq; s++) ct_kv_cache_free(kv[s]);
    free(kv);
    free(next);
    free(l);
    return bad;
}

#endif
