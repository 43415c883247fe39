/* The threading model (src/ops/ops.h, the context's thread count): ct_sgemm in every layout against a
 * double reference on 1 thread (one sgemm) and 2 threads (split, deterministic run to run), and
 * the training kernels that give bit-identical results whatever the thread count (1 vs 2). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/ops.h"

#define TCTX ct_test_ctx()

static uint64_t g_rng = 0x243f6a8885a308d3ull;
static float frand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *rvec(size_t n) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

/* C = alpha op(A) op(B) + beta C0 in double, compared with ct_sgemm on 1 and 2 threads. */
static void check_sgemm(bool ta, bool tb, size_t M, size_t N, size_t K) {
    size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    size_t ra = ta ? K : M, rb = tb ? N : K;
    float *A = rvec(ra * lda), *B = rvec(rb * ldb), *C0 = rvec(M * ldc);
    float *Cs[3];
    float alpha = 0.75f, beta = 0.5f;
    int saved = ct_ctx_threads(TCTX);
    for (int i = 0; i < 3; i++) { /* 1 thread, 2 threads, 2 threads again */
        Cs[i] = malloc(M * ldc * sizeof(float));
        memcpy(Cs[i], C0, M * ldc * sizeof(float));
        ct_ctx_set_threads(TCTX, i ? 2 : 1);
        ct_sgemm(TCTX, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cs[i], ldc);
    }
    ct_ctx_set_threads(TCTX, saved);
    double maxerr = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + m] : A[m * lda + k];
                double b = tb ? B[n * ldb + k] : B[k * ldb + n];
                s += a * b;
            }
            double ref = alpha * s + beta * C0[m * ldc + n];
            for (int i = 0; i < 2; i++) maxerr = fmax(maxerr, fabs(Cs[i][m * ldc + n] - ref));
        }
    CHECK_MSG(maxerr < 1e-3, "ct_sgemm(TCTX, %d,%d,%zu,%zu,%zu): max err %.3g", ta, tb, M, N, K, maxerr);
    /* padding columns of C untouched; the split is deterministic */
    for (int i = 0; i < 2; i++)
        for (size_t m = 0; m < M; m++)
            for (size_t n = N; n < ldc; n++) CHECK(Cs[i][m * ldc + n] == C0[m * ldc + n]);
    CHECK_MSG(memcmp(Cs[1], Cs[2], M * ldc * sizeof(float)) == 0, "ct_sgemm(TCTX, %d,%d) not deterministic", ta, tb);
    free(A); free(B); free(C0);
    for (int i = 0; i < 3; i++) free(Cs[i]);
}

TEST(perf_sgemm_layouts) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_sgemm(ta, tb, 37, 300, 190);  /* split along N */
            check_sgemm(ta, tb, 333, 70, 101);  /* split along M */
            check_sgemm(ta, tb, 3, 5, 7);       /* too small to split */
        }
}

TEST(perf_linear_backward_threads_identical) {
    /* bf16 weights wider than one dx column block and taller than one row block */
    size_t T = 33, K = 300, N = 520;
    float *x = rvec(T * K), *dy = rvec(T * N), *Wf = rvec(N * K);
    uint16_t *Wb = malloc(N * K * 2);
    for (size_t i = 0; i < N * K; i++) Wb[i] = ct_f32_to_bf16(Wf[i] * 0.1f);
    ct_tensor W = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = Wb};
    float *dx[2], *dW[2];
    int saved = ct_ctx_threads(TCTX);
    for (int i = 0; i < 2; i++) {
        dx[i] = calloc(T * K, sizeof(float));
        dW[i] = calloc(N * K, sizeof(float));
        ct_ctx_set_threads(TCTX, i + 1);
        ct_linear_backward(TCTX, dx[i], dW[i], NULL, dy, x, &W, T, K, N);
    }
    ct_ctx_set_threads(TCTX, saved);
    /* dx: per-thread column blocks, each one sgemm chain => bit-identical; dW: split ct_sgemm */
    CHECK(memcmp(dx[0], dx[1], T * K * sizeof(float)) == 0);
    double dwerr = 0;
    for (size_t i = 0; i < N * K; i++) dwerr = fmax(dwerr, fabs(dW[0][i] - dW[1][i]));
    CHECK_MSG(dwerr < 1e-4, "dW 1 vs 2 threads: %.3g", dwerr);
    /* spot-check dx against double math */
    double maxerr = 0;
    for (size_t t = 0; t < T; t += 7)
        for (size_t k = 0; k < K; k += 13) {
            double s = 0;
            for (size_t n = 0; n < N; n++) s += (double)dy[t * N + n] * ct_bf16_to_f32(Wb[n * K + k]);
            maxerr = fmax(maxerr, fabs(s - dx[0][t * K + k]));
        }
    CHECK_MSG(maxerr < 1e-3, "bf16 dx max err %.3g", maxerr);
    for (int i = 0; i < 2; i++) free(dx[i]), free(dW[i]);
    free(x); free(dy); free(Wf); free(Wb);
}

TEST(perf_attention_threads_identical) {
    size_t T = 300, Hq = 6, Hkv = 2, D = 16; /* two query blocks, GQA groups of 3 */
    float *q = rvec(T * Hq * D), *k = rvec(T * Hkv * D), *v = rvec(T * Hkv * D), *dout = rvec(T * Hq * D);
    int32_t *seg = malloc(T * sizeof(int32_t));
    for (size_t t = 0; t < T; t++) seg[t] = t < 120 ? 0 : 1;
    float *o[2], *g[2][3];
    int saved = ct_ctx_threads(TCTX);
    for (int i = 0; i < 2; i++) {
        ct_ctx_set_threads(TCTX, i + 1);
        o[i] = malloc(T * Hq * D * sizeof(float));
        g[i][0] = calloc(T * Hq * D, sizeof(float));
        g[i][1] = calloc(T * Hkv * D, sizeof(float));
        g[i][2] = calloc(T * Hkv * D, sizeof(float));
        ct_attention_forward(TCTX, o[i], q, k, v, seg, seg, T, T, Hq, Hkv, D);
        ct_attention_backward(TCTX, g[i][0], g[i][1], g[i][2], dout, q, k, v, seg, T, Hq, Hkv, D);
    }
    ct_ctx_set_threads(TCTX, saved);
    CHECK(memcmp(o[0], o[1], T * Hq * D * sizeof(float)) == 0);
    CHECK(memcmp(g[0][0], g[1][0], T * Hq * D * sizeof(float)) == 0);
    CHECK(memcmp(g[0][1], g[1][1], T * Hkv * D * sizeof(float)) == 0);
    CHECK(memcmp(g[0][2], g[1][2], T * Hkv * D * sizeof(float)) == 0);
    for (int i = 0; i < 2; i++) {
        free(o[i]);
        for (int j = 0; j < 3; j++) free(g[i][j]);
    }
    free(q); free(k); free(v); free(dout); free(seg);
}
