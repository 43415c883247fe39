/* The fast decode paths against the exact path, token for token (issue 15): greedy generation
 * through the KV cache (one token per step: the decode GEMV, q/k/v and gate/up fused) and batched
 * decode of 8 sequences (one GEMV step of 8 tokens) must pick the same tokens as the exact path,
 * a full forward of the whole sequence without a cache at every step (more than CT_GEMV_MAX_T
 * tokens: weights decoded to f32, sgemm). On the tiny bf16 / f16 Qwen2, Qwen3 and Llama fixtures
 * and on stories260k (../shared) as stored (f32) and exported to bf16 and f16; at 1 and 2
 * threads, whose logits must also be bitwise equal. */
#include <stdlib.h>
#include <string.h>

#include "ctune/generate.h"
#include "ctune/model.h"
#include "decode_util.h"
#include "harness.h"
#include "ops/kernels.h"

enum { GEN = 20, NSEQ = 8, MAXP = 16 };

static void check_model(const ct_model *m, const char *name) {
    ct_err err = {0};
    ct_ctx *c = NULL; /* one thread (fast on a loaded machine); 2 threads for the last check */
    CHECK_OK(ct_ctx_new(&c, 1, &err), &err);
    REQUIRE(c);
    size_t V = (size_t)ct_model_config(m)->vocab_size;
    int32_t fast[NSEQ][GEN], seq[MAXP + GEN];
    float *l = malloc(V * sizeof(float));
    /* exact path: the whole sequence, no cache, every step */
    for (int s = 0; s < NSEQ; s++) {
        decode_greedy(c, m, s, GEN, fast[s], NULL);
        size_t n = decode_prompt(seq, s, V);
        int same = 0;
        for (int i = 0; i < GEN; i++) {
            CHECK_OK(ct_model_forward(c, m, NULL, NULL, seq, n, NULL, NULL, l, &err), &err);
            int32_t id = decode_argmax(l, V);
            if (id != fast[s][i]) break;
            seq[n++] = id;
            same++;
        }
        CHECK_MSG(same == GEN, "%s sequence %d: cached decode leaves the exact path at generated token %d", name, s,
                  same);
    }
    /* batched decode: 8 sequences of different lengths advance together */
    int bad = decode_batched_first_diff(c, m, NSEQ, GEN, &fast[0][0]);
    CHECK_MSG(bad < 0, "%s: batched decode differs from single decode at generated token %d", name, bad);
    /* 1 and 2 threads: the same logits, bit for bit */
    float *l1 = malloc(GEN * V * sizeof(float)), *l2 = malloc(GEN * V * sizeof(float));
    int32_t o1[GEN], o2[GEN];
    ct_ctx_set_threads(c, 1);
    decode_greedy(c, m, 3, GEN, o1, l1);
    ct_ctx_set_threads(c, 2);
    decode_greedy(c, m, 3, GEN, o2, l2);
    CHECK_MSG(memcmp(l1, l2, GEN * V * sizeof(float)) == 0, "%s: decode logits depend on the thread count", name);
    ct_ctx_free(c);
    free(l1), free(l2), free(l);
}

TEST(decode_paths_fixtures_greedy_equal_exact) {
    static const char *dirs[] = {"tests/fixtures/tiny-qwen2-bf16", "tests/fixtures/tiny-qwen2-f16",
                                 "tests/fixtures/tiny-qwen3-bf16", "tests/fixtures/tiny-llama-bf16"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        ct_err err = {0};
        ct_model *m = NULL;
        CHECK_OK(ct_model_load(dirs[i], &m, &err), &err);
        if (m) check_model(m, dirs[i]);
        ct_model_free(m);
    }
}

TEST(decode_paths_stories260k_greedy_equal_exact) {
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k not found (set CTUNE_SHARED)");
        return;
    }
    char src[1024];
    snprintf(src, sizeof src, "%s", dir);
    ct_err err = {0};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(src, &m, &err), &err);
    if (!m) return;
    check_model(m, "stories260k f32");
    static const ct_dtype dts[2] = {CT_DTYPE_BF16, CT_DTYPE_F16};
    for (int d = 0; d < 2; d++) {
        char out[1100];
        snprintf(out, sizeof out, "%s/stories260k-%s", ct_test_tmpdir(), ct_dtype_name(dts[d]));
        ct_export_opts o = {.dtype = dts[d]};
        CHECK_OK(ct_model_export(m, src, out, &o, &err), &err);
        ct_model *m16 = NULL;
        CHECK_OK(ct_model_load(out, &m16, &err), &err);
        if (m16) check_model(m16, out);
        ct_model_free(m16);
    }
    ct_model_free(m);
}

/* ct_generate_batch (generate-batch's path: up to 8 sequences per decode step, more in groups)
 * gives every prompt what ct_generate gives it alone: greedy and sampled (own seeded generator
 * per sequence), sequences stopping early on an eos id while the others go on; the hybrid
 * Qwen3.5 fixture included (recurrent state per sequence). */
TEST(decode_paths_generate_batch_equals_one_by_one) {
    static const char *dirs[] = {"tests/fixtures/tiny-qwen2-bf16", "tests/fixtures/tiny-llama-bf16",
                                 "tests/fixtures/tiny-qwen3_5"};
    enum { NP = 11 };
    for (size_t di = 0; di < sizeof dirs / sizeof dirs[0]; di++) {
        ct_err err = {0};
        ct_model *m = NULL;
        CHECK_OK(ct_model_load(dirs[di], &m, &err), &err);
        if (!m) continue;
        ct_ctx *c = NULL;
        CHECK_OK(ct_ctx_new(&c, 1, &err), &err);
        size_t V = (size_t)ct_model_config(m)->vocab_size;
        int32_t pr[NP][MAXP];
        const int32_t *pp[NP];
        size_t pn[NP];
        for (int s = 0; s < NP; s++) pn[s] = decode_prompt(pr[s], s, V) - (size_t)s % 5, pp[s] = pr[s];
        for (int sampled = 0; sampled < 2; sampled++) {
            ct_gen_params p;
            ct_gen_params_init(&p, ct_model_config(m));
            p.max_new_tokens = 12;
            p.do_sample = sampled;
            p.temperature = 1.0f, p.top_k = 0, p.top_p = 1.0f, p.repetition_penalty = 1.0f;
            p.seed = 7;
            p.num_eos = 1;
            p.eos_ids[0] = (int32_t)(V / 3); /* some sequences stop on it */
            ct_ids outs[NP], one[NP];
            ct_gen_stop why[NP], why1;
            memset(outs, 0, sizeof outs), memset(one, 0, sizeof one);
            CHECK_OK(ct_generate_batch(c, m, NULL, pp, pn, NP, &p, outs, why, &err), &err);
            for (int s = 0; s < NP; s++) {
                CHECK_OK(ct_generate(c, m, NULL, pp[s], pn[s], &p, &one[s], &why1, &err), &err);
                CHECK_MSG(one[s].n == outs[s].n && !memcmp(one[s].data, outs[s].data, one[s].n * sizeof(int32_t)) &&
                              why1 == why[s],
                          "%s %s prompt %d: batched %zu ids (stop %d), alone %zu ids (stop %d)", dirs[di],
                          sampled ? "sampled" : "greedy", s, outs[s].n, (int)why[s], one[s].n, (int)why1);
                ct_ids_free(&outs[s]), ct_ids_free(&one[s]);
            }
        }
        ct_gen_params p;
        ct_gen_params_init(&p, ct_model_config(m));
        p.on_token = NULL;
        ct_ids o = {0};
        p.max_new_tokens = -1;
        CHECK(ct_generate_batch(c, m, NULL, pp, pn, 1, &p, &o, NULL, &err) == CT_ERR_ARG);
        ct_ctx_free(c);
        ct_model_free(m);
    }
}
