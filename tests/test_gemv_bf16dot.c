/* The opt-in bf16-dot batched GEMV (src/ops/cpu/gemv_bf16dot.c, CT_BATCH_BF16DOT).
 *
 * Kernel: against a scalar reference of the same math, x rounded to bf16 (nearest even) and
 * every product w * bf16(x) exact (two 8-bit significands: exact in f32 and in double), summed
 * in double. The kernel sums the same products in f32 in another order; any order of n additions
 * is off by at most (n - 1) u sum|p| / (1 - (n - 1) u) with u = 2^-24 (Higham, Accuracy and
 * Stability, 4.2), and a row of K products takes at most K additions along any path (lanes, the
 * pair inside vdpbf16ps, the final reduction), so the bound checked is 1.001 K 2^-24 sum|p|.
 * Sizes with every tail (K % 32), T = 1..8, x small and large enough for the paired-row loop, row
 * splits (pairs vs single rows) bitwise equal; skipped with a
 * message where the CPU lacks AVX512-BF16.
 *
 * Model: stories260k (../shared) exported to bf16, 8 sequences decoded together for a few steps:
 * the bf16-dot logits differ from the exact ones (the kernel ran) by at most LOGIT_TOL of the
 * largest exact logit magnitude, and the same bits at 1 and 2 threads. */
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "ctune/generate.h"
#include "ctune/model.h"
#include "harness.h"
#include "ops/kernels.h"

static float unif(uint64_t stream, uint64_t i) { return (float)(2.0 * ct_rng_uniform(7, stream, i) - 1.0); }

/* Max over y of |y - ref| / bound (<= 1 passes); y[T, N] from the kernel. */
static double ratio_to_bound(const float *y, const uint16_t *w, const float *x, size_t T, size_t K, size_t N) {
    double worst = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < N; n++) {
            double s = 0, a = 0;
            for (size_t k = 0; k < K; k++) {
                double p = (double)ct_bf16_to_f32(w[n * K + k]) * ct_bf16_to_f32(ct_f32_to_bf16(x[t * K + k]));
                s += p, a += fabs(p);
            }
            double bound = 1.001 * (double)K * 0x1p-24 * a, e = fabs((double)y[t * N + n] - s);
            double r = bound > 0 ? e / bound : (e > 0 ? INFINITY : 0);
            if (r > worst) worst = r;
        }
    return worst;
}

TEST(ops_kernels_gemv_bf16dot) {
    if (!ct_gemv_bf16dot_available()) {
        ct_test_skip("this CPU lacks AVX512-BF16 (the bf16-dot GEMV falls back to the exact path)");
        return;
    }
    static const size_t Ks[] = {1, 2, 7, 31, 32, 33, 63, 64, 65, 96, 100, 257, 1040, 1601, 6163}; /* the last two: paired rows */
    static const size_t Ns[] = {1, 5, 37};
    size_t ran = 0;
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
            for (size_t T = 1; T <= CT_GEMV_MAX_T; T++) {
                size_t K = Ks[ki], N = Ns[ni], ld = ct_gemv_bf16dot_ld(K);
                uint16_t *w = malloc(N * K * 2), *xb = malloc(T * ld * 2);
                float *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
                float *y2 = malloc(T * N * sizeof(float));
                for (size_t i = 0; i < N * K; i++) w[i] = ct_f32_to_bf16(0.2f * unif(ki * 100 + ni, i));
                for (size_t i = 0; i < T * K; i++) x[i] = unif(1000 + ki * 100 + ni * 10 + T, i);
                ct_tensor W = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = w};
                ct_gemv_bf16dot_prepare(xb, x, T, K);
                ct_gemv_bf16dot_rows(y, N, xb, &W, T, K, 0, N);
                double r = ratio_to_bound(y, w, x, T, K, N);
                CHECK_MSG(r <= 1.0, "bf16dot T=%zu K=%zu N=%zu: error %.3g x the summation bound", T, K, N, r);
                /* rows one at a time, then two halves: the same bits */
                for (size_t n = 0; n < N; n++) ct_gemv_bf16dot_rows(y2, N, xb, &W, T, K, n, n + 1);
                CHECK(memcmp(y, y2, T * N * sizeof(float)) == 0);
                memset(y2, 0, T * N * sizeof(float));
                ct_gemv_bf16dot_rows(y2, N, xb, &W, T, K, 0, N / 2);
                ct_gemv_bf16dot_rows(y2, N, xb, &W, T, K, N / 2, N);
                CHECK(memcmp(y, y2, T * N * sizeof(float)) == 0);
                free(w), free(xb), free(x), free(y), free(y2);
                ran++;
            }
    CHECK(ran == 15 * 3 * CT_GEMV_MAX_T);
}

/* ct_gemv_forward takes the kernel only inside a batched step with CT_BATCH_BF16DOT and T >= 2:
 * otherwise the exact rows' bits; unknown settings refused. */
TEST(ops_kernels_gemv_bf16dot_dispatch) {
    ct_err err = {0};
    ct_ctx *c = NULL;
    CHECK_OK(ct_ctx_new(&c, 2, &err), &err);
    REQUIRE(c);
    CHECK(!ct_ctx_set_batch_precision(c, (ct_batch_precision)7));
    CHECK(ct_ctx_batch_precision(c) == CT_BATCH_EXACT);
    size_t K = 333, N = 517, T = 5, ld = ct_gemv_bf16dot_ld(K);
    uint16_t *w = malloc(N * K * 2), *xb = malloc(T * ld * 2);
    float *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float)), *ye = malloc(T * N * sizeof(float));
    float *yd = malloc(T * N * sizeof(float));
    for (size_t i = 0; i < N * K; i++) w[i] = ct_f32_to_bf16(0.2f * unif(5, i));
    for (size_t i = 0; i < T * K; i++) x[i] = unif(6, i);
    ct_tensor W = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = w};
    const ct_tensor *Wp = &W;
    ct_gemv_level lv = ct_gemv_level_best();
    size_t nxp = ct_gemv_xp_floats(lv, CT_DTYPE_BF16, T, K);
    float *xp = malloc((nxp ? nxp : 1) * sizeof(float));
    ct_gemv_prepare(lv, CT_DTYPE_BF16, xp, x, T, K);
    ct_gemv_rows(lv, ye, N, x, xp, &W, T, K, 0, N);
    bool avail = ct_gemv_bf16dot_available();
    if (avail) {
        ct_gemv_bf16dot_prepare(xb, x, T, K);
        ct_gemv_bf16dot_rows(yd, N, xb, &W, T, K, 0, N);
        CHECK(memcmp(ye, yd, T * N * sizeof(float)) != 0); /* the two paths are distinguishable */
    }
    /* not in a batched step, or exact: the exact bits */
    CHECK(ct_ctx_set_batch_precision(c, CT_BATCH_BF16DOT));
    ct_gemv_forward(c, lv, &y, x, &Wp, 1, T, K);
    CHECK(memcmp(y, ye, T * N * sizeof(float)) == 0);
    ct_ctx_batch_step(c, true);
    CHECK(ct_ctx_set_batch_precision(c, CT_BATCH_EXACT));
    ct_gemv_forward(c, lv, &y, x, &Wp, 1, T, K);
    CHECK(memcmp(y, ye, T * N * sizeof(float)) == 0);
    /* batched step with bf16dot: the kernel's bits at 2 threads (its rows split) */
    CHECK(ct_ctx_set_batch_precision(c, CT_BATCH_BF16DOT));
    ct_gemv_forward(c, lv, &y, x, &Wp, 1, T, K);
    CHECK(memcmp(y, avail ? yd : ye, T * N * sizeof(float)) == 0);
    /* one token: exact */
    ct_gemv_forward(c, lv, &y, x, &Wp, 1, 1, K);
    CHECK(memcmp(y, ye, N * sizeof(float)) == 0);
    ct_ctx_batch_step(c, false);
    ct_ctx_free(c);
    free(w), free(xb), free(x), free(y), free(ye), free(yd), free(xp);
}

enum { NSEQ = 8, STEPS = 6 };
/* Largest |bf16dot - exact| logit over the largest |exact| logit (measured on stories260k bf16:
 * see docs/inference.md). */
#define LOGIT_TOL 0.01

/* Prefills 8 prompts and runs STEPS batched steps on fixed ids; logits of every step into
 * lg[STEPS][NSEQ][V]. */
static void batched_logits(ct_ctx *c, const ct_model *m, float *lg) {
    ct_err err = {0};
    size_t V = (size_t)ct_model_config(m)->vocab_size;
    ct_kv_cache *kv[NSEQ];
    int32_t next[NSEQ];
    for (int s = 0; s < NSEQ; s++) {
        int32_t p[16];
        size_t n = 3 + (size_t)s;
        for (size_t i = 0; i < n; i++) p[i] = (int32_t)((1 + (size_t)s * 31 + i * 7) % V);
        CHECK_OK(ct_kv_cache_init(&kv[s], ct_model_config(m), n + STEPS, &err), &err);
        CHECK_OK(ct_model_forward(c, m, NULL, kv[s], p, n, NULL, NULL, lg, &err), &err);
    }
    for (int i = 0; i < STEPS; i++) {
        for (int s = 0; s < NSEQ; s++) next[s] = (int32_t)((5 + (size_t)i * 13 + (size_t)s * 17) % V);
        CHECK_OK(ct_model_forward_batch(c, m, NULL, kv, NSEQ, next, 1, lg + (size_t)i * NSEQ * V, &err), &err);
    }
    for (int s = 0; s < NSEQ; s++) ct_kv_cache_free(kv[s]);
}

TEST(decode_paths_bf16dot_stories260k) {
    if (!ct_gemv_bf16dot_available()) {
        ct_test_skip("this CPU lacks AVX512-BF16 (the bf16-dot GEMV falls back to the exact path)");
        return;
    }
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k not found (set CTUNE_SHARED)");
        return;
    }
    ct_err err = {0};
    ct_model *m32 = NULL, *m = NULL;
    CHECK_OK(ct_model_load(dir, &m32, &err), &err);
    REQUIRE(m32);
    char out[1100];
    snprintf(out, sizeof out, "%s/stories260k-bf16", ct_test_tmpdir());
    ct_export_opts o = {.dtype = CT_DTYPE_BF16};
    CHECK_OK(ct_model_export(m32, dir, out, &o, &err), &err);
    ct_model_free(m32);
    CHECK_OK(ct_model_load(out, &m, &err), &err);
    REQUIRE(m);
    size_t V = (size_t)ct_model_config(m)->vocab_size, n = (size_t)STEPS * NSEQ * V;
    float *le = malloc(n * sizeof(float)), *ld = malloc(n * sizeof(float)), *ld2 = malloc(n * sizeof(float));
    ct_ctx *c = NULL;
    CHECK_OK(ct_ctx_new(&c, 1, &err), &err);
    REQUIRE(c);
    batched_logits(c, m, le);
    CHECK(ct_ctx_set_batch_precision(c, CT_BATCH_BF16DOT));
    batched_logits(c, m, ld);
    ct_ctx_set_threads(c, 2);
    batched_logits(c, m, ld2);
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(le[i])), d = fmax(d, fabs((double)ld[i] - le[i]));
    printf("    stories260k bf16, 8 sequences x %d steps: max |bf16dot - exact| logit %.4g, max |logit| %.4g (%.3g)\n",
           STEPS, d, mx, d / mx);
    CHECK_MSG(d > 0, "the bf16-dot path did not run (logits equal the exact path's)");
    CHECK_MSG(d <= LOGIT_TOL * mx, "bf16-dot logits off by %.4g (max |logit| %.4g, tolerance %.3g of it)", d, mx,
              LOGIT_TOL);
    CHECK_MSG(memcmp(ld, ld2, n * sizeof(float)) == 0, "bf16-dot logits depend on the thread count");
    ct_ctx_free(c);
    ct_model_free(m);
    free(le), free(ld), free(ld2);
}
