/* The one decoder: an inference pass (KV cache, prefill) gives the training forward's logits bit
 * for bit on the same input, with and without LoRA; batched decode of sequences of different
 * lengths gives each sequence's own decode. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/decoder.h"
#include "peft/method.h"

/* logits [T, V] of ids through the decoder: a train pass without cache (train true) or an
 * inference prefill into a fresh KV cache (false). */
static float *pass_logits(const ct_model *m, const ct_dec_hooks *hk, const int32_t *ids, size_t T, bool train) {
    ct_ctx *c = ct_test_ctx();
    ct_err err = {0};
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    int32_t *pos = malloc(T * sizeof *pos);
    for (size_t t = 0; t < T; t++) pos[t] = (int32_t)t;
    ct_kv_cache *kv = NULL;
    if (!train) CHECK_OK(ct_kv_cache_init(&kv, &m->cfg, T, &err), &err);
    ct_dec_rows rows = {.B = 1, .T = T, .ids = ids, .pos = pos, .kv = train ? NULL : &kv};
    ct_dec_opts o = {.train = train};
    ct_arena ar = {0};
    ct_dec d;
    float *lg = malloc(T * V * sizeof *lg);
    CHECK_OK(ct_dec_forward(&d, c, m, hk, &o, &ar, &rows, &err), &err);
    ct_linear_forward(c, lg, d.hidden, &d.w->g[CT_GT_LM_HEAD], NULL, T, C, V);
    if (!train) CHECK(ct_dec_backward(&d, d.hidden, NULL) == CT_ERR_ARG); /* no activations were kept */
    ct_dec_end(&d);
    ct_arena_free(&ar);
    ct_kv_cache_free(kv);
    free(pos);
    return lg;
}

static void check_bitwise(const char *dir) {
    ct_err err = {0};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(dir, &m, &err), &err);
    REQUIRE(m);
    size_t V = (size_t)m->cfg.vocab_size;
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (int32_t)((i * 7 + 3) % (int)V);
    /* LoRA with non-zero B on every linear, through the training method's hooks */
    ct_method_cfg mc = {.method = CT_METHOD_LORA, .lora_rank = 2, .seed = 4}; /* no dropout: the same input */
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, m, &mc, &err), &err);
    for (size_t i = 0; i < tm.params.n; i++)
        if (strstr(tm.params.p[i].name, "lora_B"))
            for (size_t j = 0; j < tm.params.p[i].numel; j++) tm.params.p[i].data[j] = 0.01f * (float)(j % 5);
    ct_dec_hooks lora = ct_train_model_hooks(&tm);
    const size_t lens[2] = {9, 40}; /* per-row and blocked attention */
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 2; k++) {
            size_t T = lens[k];
            float *a = pass_logits(m, h ? &lora : NULL, ids, T, true);
            float *b = pass_logits(m, h ? &lora : NULL, ids, T, false);
            CHECK_MSG(memcmp(a, b, T * V * sizeof(float)) == 0, "%s%s T=%zu: inference logits differ from training",
                      dir, h ? " + LoRA" : "", T);
            free(a);
            free(b);
        }
    /* the public entry point is the same pass */
    float *a = pass_logits(m, NULL, ids, 40, true), *b = malloc(40 * V * sizeof *b);
    CHECK_OK(ct_model_forward(ct_test_ctx(), m, NULL, NULL, ids, 40, NULL, b, NULL, &err), &err);
    CHECK(memcmp(a, b, 40 * V * sizeof(float)) == 0);
    free(a);
    free(b);
    ct_train_model_free(&tm);
    ct_model_free(m);
}

TEST(decoder_inference_equals_training_bitwise) {
    check_bitwise("tests/fixtures/tiny-qwen3");
    check_bitwise("tests/fixtures/tiny-qwen2-bf16");
    check_bitwise("tests/fixtures/tiny-llama");
}

TEST(decoder_batched_decode) {
    ct_err err = {0};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load("tests/fixtures/tiny-qwen2-bf16", &m, &err), &err);
    REQUIRE(m);
    size_t V = (size_t)m->cfg.vocab_size;
    ct_ctx *c = ct_test_ctx();
    const int32_t pa[5] = {1, 5, 9, 2, 7}, pb[2] = {3, 4};
    ct_kv_cache *kb[2] = {NULL, NULL}, *ks[2] = {NULL, NULL};
    float *lb = malloc(2 * V * sizeof(float)), *ls = malloc(V * sizeof(float));
    for (int i = 0; i < 2; i++) {
        CHECK_OK(ct_kv_cache_init(&kb[i], &m->cfg, 16, &err), &err);
        CHECK_OK(ct_kv_cache_init(&ks[i], &m->cfg, 16, &err), &err);
        CHECK_OK(ct_model_forward(c, m, NULL, kb[i], i ? pb : pa, i ? 2 : 5, NULL, NULL, ls, &err), &err);
        CHECK_OK(ct_model_forward(c, m, NULL, ks[i], i ? pb : pa, i ? 2 : 5, NULL, NULL, ls, &err), &err);
    }
    int32_t next[2] = {11, 12};
    double worst = 0;
    for (int step = 0; step < 3; step++) {
        CHECK_OK(ct_model_forward_batch(c, m, NULL, kb, 2, next, 1, lb, &err), &err);
        for (int i = 0; i < 2; i++) {
            CHECK_OK(ct_model_forward(c, m, NULL, ks[i], &next[i], 1, NULL, NULL, ls, &err), &err);
            CHECK_EQ_INT(ct_kv_cache_len(kb[i]), ct_kv_cache_len(ks[i]));
            double mx = 0, d = 0;
            for (size_t j = 0; j < V; j++) mx = fmax(mx, fabs(ls[j])), d = fmax(d, fabs(ls[j] - lb[i * V + j]));
            worst = fmax(worst, d / mx);
        }
        next[0] = (next[0] * 3 + 1) % (int32_t)V;
        next[1] = (next[1] * 5 + 2) % (int32_t)V;
    }
    CHECK_MSG(worst < 1e-5, "batched decode differs from single decode: %.3g", worst);
    CHECK_EQ_INT(ct_kv_cache_len(kb[0]), 8);
    CHECK_EQ_INT(ct_kv_cache_len(kb[1]), 5);
    /* a full cache is an error naming the capacity, and changes no cache */
    ct_kv_cache *full = NULL;
    CHECK_OK(ct_kv_cache_init(&full, &m->cfg, 2, &err), &err);
    CHECK_OK(ct_model_forward(c, m, NULL, full, pb, 2, NULL, NULL, ls, &err), &err);
    ct_kv_cache *pair[2] = {kb[0], full};
    CHECK(ct_model_forward_batch(c, m, NULL, pair, 2, next, 1, lb, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "capacity 2") != NULL);
    CHECK_EQ_INT(ct_kv_cache_len(kb[0]), 8);
    CHECK_EQ_INT(ct_kv_cache_len(full), 2);
    ct_kv_cache_free(full);
    for (int i = 0; i < 2; i++) {
        ct_kv_cache_free(kb[i]);
        ct_kv_cache_free(ks[i]);
    }
    free(lb);
    free(ls);
    ct_model_free(m);
}

/* ct_kv_cache_copy + ct_model_forward_batch_rows: two copies of one prefilled cache continue
 * with rows of 3 and 1 ids (the second right-padded); the chosen positions' logits equal those of
 * lone ct_model_forward passes within 1e-5 (the GEMMs sum over more rows), on a model with
 * attention layers only and on the hybrid tiny-qwen3_5 (copied recurrent states). Bad rows and
 * caches of another model are errors. */
TEST(decoder_forward_batch_rows_padded) {
    const char *dirs[2] = {"tests/fixtures/tiny-llama", "tests/fixtures/tiny-qwen3_5"};
    ct_err err = {0};
    ct_model *m[2] = {NULL, NULL};
    for (int mi = 0; mi < 2; mi++) CHECK_OK(ct_model_load(dirs[mi], &m[mi], &err), &err);
    REQUIRE(m[0] && m[1]);
    ct_ctx *c = ct_test_ctx();
    const int32_t prefix[4] = {1, 5, 9, 2}, a[3] = {7, 8, 3}, b[1] = {6};
    for (int mi = 0; mi < 2; mi++) {
        size_t V = (size_t)m[mi]->cfg.vocab_size;
        ct_kv_cache *base = NULL, *cp[2] = {NULL, NULL}, *lone = NULL;
        CHECK_OK(ct_kv_cache_init(&base, &m[mi]->cfg, 8, &err), &err);
        CHECK_OK(ct_model_forward(c, m[mi], NULL, base, prefix, 4, NULL, NULL, NULL, &err), &err);
        for (int i = 0; i < 2; i++) {
            CHECK_OK(ct_kv_cache_init(&cp[i], &m[mi]->cfg, 1, &err), &err);
            CHECK_OK(ct_kv_cache_copy(cp[i], base, 3, &err), &err);
            CHECK_EQ_INT(ct_kv_cache_len(cp[i]), 4);
        }
        const int32_t ids[6] = {7, 8, 3, 6, 6, 6};
        const size_t rows[4] = {0, 1, 2, 3}; /* a's three positions, b's one (3 + 0) */
        float *lb = malloc(4 * V * sizeof(float)), *ls = malloc(3 * V * sizeof(float));
        CHECK_OK(ct_model_forward_batch_rows(c, m[mi], NULL, cp, 2, ids, 3, rows, 4, lb, &err), &err);
        double worst = 0;
        for (int i = 0; i < 2; i++) {
            CHECK_OK(ct_kv_cache_init(&lone, &m[mi]->cfg, 8, &err), &err);
            CHECK_OK(ct_model_forward(c, m[mi], NULL, lone, prefix, 4, NULL, NULL, NULL, &err), &err);
            CHECK_OK(ct_model_forward(c, m[mi], NULL, lone, i ? b : a, i ? 1 : 3, NULL, ls, NULL, &err), &err);
            const float *got = lb + (i ? 3 : 0) * V;
            for (size_t j = 0; j < (i ? 1 : 3) * V; j++) worst = fmax(worst, fabs(ls[j] - got[j]));
            ct_kv_cache_free(lone);
            lone = NULL;
        }
        CHECK_MSG(worst < 1e-5, "%s: batched rows differ from lone passes by %.3g", dirs[mi], worst);
        const size_t bad[1] = {6};
        CHECK(ct_model_forward_batch_rows(c, m[mi], NULL, cp, 2, ids, 3, bad, 1, lb, &err) == CT_ERR_ARG);
        ct_kv_cache *other = NULL;
        CHECK_OK(ct_kv_cache_init(&other, &m[1 - mi]->cfg, 8, &err), &err);
        CHECK(ct_kv_cache_copy(other, base, 1, &err) == CT_ERR_ARG);
        CHECK(strstr(err.msg, "different models") != NULL);
        ct_kv_cache_free(other);
        free(lb);
        free(ls);
        ct_kv_cache_free(base);
        for (int i = 0; i < 2; i++) ct_kv_cache_free(cp[i]);
    }
    for (int mi = 0; mi < 2; mi++) ct_model_free(m[mi]);
}
