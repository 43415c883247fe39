/* Opt-in bf16 compute (a context with CT_PRECISION_BF16): the AVX512-BF16 linear equals the double
 * product of bf16-rounded activations and bf16 weights (only the summation order differs), edge
 * tiles and K tails included; the default stays the exact f32 path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/ops.h"

/* Round to nearest even to bf16 and back (what torch.autocast does to activations). */
static float round_bf16(float f) { return ct_bf16_to_f32(ct_f32_to_bf16(f)); }

static void check_shape(ct_ctx *c, size_t T, size_t K, size_t N) {
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (T * 131 + K * 7 + N);
    float *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
    uint16_t *W = malloc(N * K * sizeof(uint16_t));
    for (size_t i = 0; i < T * K; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    for (size_t i = 0; i < N * K; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        W[i] = ct_f32_to_bf16((float)((double)(s >> 11) / 9007199254740992.0 * 0.2 - 0.1));
    }
    ct_tensor Wt = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = W};
    ct_linear_forward(c, y, x, &Wt, NULL, T, K, N);
    double maxerr = 0, maxref = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < N; n++) {
            double r = 0;
            for (size_t k = 0; k < K; k++) r += (double)round_bf16(x[t * K + k]) * ct_bf16_to_f32(W[n * K + k]);
            maxerr = fmax(maxerr, fabs(r - y[t * N + n]));
            maxref = fmax(maxref, fabs(r));
        }
    CHECK_MSG(maxerr <= 1e-5 * fmax(1.0, maxref), "bf16 linear T=%zu K=%zu N=%zu: err %.3g (max %.3g)", T, K, N,
              maxerr, maxref);
    free(x); free(y); free(W);
}

/* dx[T,K] += bf16(dy)[T,N] W[N,K] in bf16 mode, accumulating onto existing values; N above one
 * packed contraction block (4096) exercises the blocking. */
static void check_dx(ct_ctx *c, size_t T, size_t K, size_t N) {
    uint64_t s = 0x2545f4914f6cdd1dull ^ (T * 131 + K * 7 + N);
    float *dy = malloc(T * N * sizeof(float)), *dx = malloc(T * K * sizeof(float));
    float *dx0 = malloc(T * K * sizeof(float));
    uint16_t *W = malloc(N * K * sizeof(uint16_t));
    for (size_t i = 0; i < T * N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        dy[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    for (size_t i = 0; i < N * K; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        W[i] = ct_f32_to_bf16((float)((double)(s >> 11) / 9007199254740992.0 * 0.2 - 0.1));
    }
    for (size_t i = 0; i < T * K; i++) dx[i] = dx0[i] = (float)(i % 5) - 2.0f;
    ct_tensor Wt = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = W};
    ct_linear_backward(c, dx, NULL, NULL, dy, NULL, &Wt, T, K, N);
    double maxerr = 0, maxref = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t k = 0; k < K; k++) {
            double r = dx0[t * K + k];
            for (size_t n = 0; n < N; n++) r += (double)round_bf16(dy[t * N + n]) * ct_bf16_to_f32(W[n * K + k]);
            maxerr = fmax(maxerr, fabs(r - dx[t * K + k]));
            maxref = fmax(maxref, fabs(r));
        }
    CHECK_MSG(maxerr <= 2e-5 * fmax(1.0, maxref), "bf16 dx T=%zu K=%zu N=%zu: err %.3g (max %.3g)", T, K, N,
              maxerr, maxref);
    free(dy); free(dx); free(dx0); free(W);
}

TEST(perf_bf16_compute_linear) {
    ct_ctx *c = NULL;
    ct_err err = {0};
    CHECK_OK(ct_ctx_new(&c, 0, &err), &err);
    REQUIRE(c);
    CHECK(ct_ctx_precision(c) == CT_PRECISION_F32); /* default: exact f32 */
    if (!ct_ctx_set_precision(c, CT_PRECISION_BF16)) {
        CHECK(ct_ctx_precision(c) == CT_PRECISION_F32);
        ct_ctx_free(c);
        ct_test_skip("CPU lacks AVX512-BF16: the opt-in bf16 compute mode stays off");
        return;
    }
    check_shape(c, 13, 100, 37);  /* edge tiles in t and n, K tail of 4 */
    check_shape(c, 5, 64, 8);     /* smallest T that is not decode */
    check_shape(c, 67, 900, 130); /* several column blocks, threaded */
    check_dx(c, 11, 45, 70);
    check_dx(c, 9, 40, 5000);     /* two contraction blocks */
    /* the mode belongs to this context only */
    CHECK(ct_ctx_precision(ct_test_ctx()) == CT_PRECISION_F32);
    ct_ctx_set_precision(c, CT_PRECISION_F32);
    CHECK(ct_ctx_precision(c) == CT_PRECISION_F32);
    ct_ctx_free(c);
}
