/* Every row of the linear kernel table (src/ops/kernels.h), called directly (so a fallback row
 * runs even where the dispatcher would pick a faster one), against the exact f32 reference
 * (weights decoded exactly, products summed in double) on random shapes, forward, input gradient
 * and weight gradient, in each precision the row serves; and both attention algorithms (per row and
 * blocked, with and without a KV-cache offset and packed segments) against a double reference.
 * A new kernel (a 4-bit format, a GPU) is one more table row and is checked here unchanged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/kernels.h"

static uint64_t g_s = 0x853c49e6748fea9bull;
static double urand(void) {
    g_s = g_s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}
static size_t irand(size_t lo, size_t hi) { return lo + (size_t)((urand() + 1.0) * 0.5 * (double)(hi - lo + 1)) % (hi - lo + 1); }

/* A random [N, K] weight in dtype dt (values representable in it). */
static ct_tensor rand_weight(ct_dtype dt, size_t N, size_t K) {
    size_t n = N * K;
    float *f = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) f[i] = (float)(0.2 * urand());
    ct_tensor t = {.dtype = dt, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}};
    t.data = malloc(n * ct_dtype_size(dt) + 64);
    ct_f32_to_dtype(f, n, dt, t.data);
    free(f);
    return t;
}

/* max |got - ref| / max |ref| of y[T,N] = x W^T (dx = false) or dx[T,K] = dy W (true). */
static double rel_err(const float *got, const float *x, const ct_tensor *W, size_t T, size_t K, size_t N, bool dx) {
    float *w = malloc(N * K * sizeof(float));
    ct_tensor_to_f32(W, 0, N * K, w);
    double mx = 0, err = 0;
    size_t R = dx ? K : N, S = dx ? N : K;
    for (size_t t = 0; t < T; t++)
        for (size_t r = 0; r < R; r++) {
            double s = 0;
            for (size_t j = 0; j < S; j++) s += (double)x[t * S + j] * (dx ? w[j * K + r] : w[r * K + j]);
            mx = fmax(mx, fabs(s));
            err = fmax(err, fabs(s - got[t * R + r]));
        }
    free(w);
    return err / fmax(mx, 1e-30);
}

/* The same for dW[N,K] = dy[T,N]^T x[T,K]. */
static double rel_err_dw(const float *got, const float *dy, const float *x, size_t T, size_t K, size_t N) {
    double mx = 0, err = 0;
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++) {
            double s = 0;
            for (size_t t = 0; t < T; t++) s += (double)dy[t * N + n] * x[t * K + k];
            mx = fmax(mx, fabs(s));
            err = fmax(err, fabs(s - got[n * K + k]));
        }
    return err / fmax(mx, 1e-30);
}

static void check_row(const ct_linear_kernel *k, ct_dtype dt, ct_precision prec, ct_ctx *c) {
    for (int rep = 0; rep < 4; rep++) {
        size_t maxT = k->max_T < 70 ? k->max_T : 70;
        size_t T = irand(k->min_T, maxT), K = irand(1, 300), N = irand(1, 300);
        if (rep == 3) K = 1024 + irand(0, 40), N = 520; /* several blocks of every kernel */
        ct_tensor W = rand_weight(dt, N, K);
        float *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
        float *dy = malloc(T * N * sizeof(float)), *dx = calloc(T * K, sizeof(float));
        float *dW = calloc(N * K, sizeof(float));
        for (size_t i = 0; i < T * K; i++) x[i] = (float)urand();
        for (size_t i = 0; i < T * N; i++) dy[i] = (float)urand();
        if (k->forward) {
            k->forward(c, y, x, &W, T, K, N);
            double e = rel_err(y, x, &W, T, K, N, false);
            CHECK_MSG(e <= k->tol, "%s %s %s forward T=%zu K=%zu N=%zu: rel err %.3g > %.3g", k->name,
                      ct_dtype_name(dt), prec ? "bf16" : "f32", T, K, N, e, k->tol);
        }
        if (k->backward_dx) {
            k->backward_dx(c, dx, dy, &W, T, K, N);
            double e = rel_err(dx, dy, &W, T, K, N, true);
            CHECK_MSG(e <= k->tol, "%s %s %s dx T=%zu K=%zu N=%zu: rel err %.3g > %.3g", k->name, ct_dtype_name(dt),
                      prec ? "bf16" : "f32", T, K, N, e, k->tol);
        }
        if (k->backward_dw) {
            k->backward_dw(c, dW, dy, x, T, K, N);
            double e = rel_err_dw(dW, dy, x, T, K, N);
            CHECK_MSG(e <= k->tol, "%s %s %s dW T=%zu K=%zu N=%zu: rel err %.3g > %.3g", k->name, ct_dtype_name(dt),
                      prec ? "bf16" : "f32", T, K, N, e, k->tol);
        }
        free(W.data);
        free(x), free(y), free(dy), free(dx), free(dW);
    }
}

TEST(ops_kernels_linear_table) {
    ct_ctx *c = NULL;
    ct_err err = {0};
    CHECK_OK(ct_ctx_new(&c, 0, &err), &err);
    REQUIRE(c);
    size_t n = 0, ran = 0;
    const ct_linear_kernel *rows = ct_linear_kernels(&n);
    static const ct_dtype floats[] = {CT_DTYPE_F32, CT_DTYPE_BF16, CT_DTYPE_F16, CT_DTYPE_F64};
    for (size_t i = 0; i < n; i++) {
        const ct_linear_kernel *k = &rows[i];
        if (k->available && !k->available()) {
            printf("    %s: not available on this CPU\n", k->name);
            continue;
        }
        for (int p = 0; p < 2; p++) {
            if (!(k->precisions & (1u << p)) || !ct_ctx_set_precision(c, (ct_precision)p)) continue;
            for (size_t d = 0; d < sizeof floats / sizeof floats[0]; d++)
                if (k->wtype == floats[d] || k->wtype == CT_DTYPE_ANY_FLOAT) {
                    check_row(k, floats[d], (ct_precision)p, c);
                    ran++;
                }
        }
        ct_ctx_set_precision(c, CT_PRECISION_F32);
    }
    CHECK(ran >= 5);
    /* the dispatcher picks the first serving row */
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F32, 100, CT_LINEAR_FWD)->name, "f32-sgemm");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F32, 100, CT_LINEAR_DW)->name, "f32-sgemm");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, 1, CT_LINEAR_FWD)->name, "bf16-gemv");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, CT_GEMV_MAX_T, CT_LINEAR_FWD)->name, "bf16-gemv");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, CT_GEMV_MAX_T + 1, CT_LINEAR_FWD)->name, "decode-sgemm");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, 1, CT_LINEAR_DX)->name, "decode-sgemm");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, 1, CT_LINEAR_DW)->name, "decode-sgemm");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, 64, CT_LINEAR_FWD)->name, "decode-sgemm");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F16, 2, CT_LINEAR_FWD)->name, "f16-gemv");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F16, 2, CT_LINEAR_DX)->name, "decode-sgemm");
    CHECK(ct_linear_pick(c, CT_DTYPE_I32, 2, CT_LINEAR_FWD) == NULL);
    CHECK(ct_ctx_set_precision(c, CT_PRECISION_BF16));
    const char *bf = ct_cpu_has_bf16() ? "bf16-avx512bf16" : "bf16-round-sgemm";
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, 64, CT_LINEAR_FWD)->name, bf);
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F32, 64, CT_LINEAR_DX)->name, bf);
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F16, 64, CT_LINEAR_DW)->name, bf);
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F64, 5, CT_LINEAR_FWD)->name, bf);
    /* decode (T <= 4) stays exact */
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, 4, CT_LINEAR_FWD)->name, "bf16-gemv");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F32, 4, CT_LINEAR_FWD)->name, "f32-sgemm");
    CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, 4, CT_LINEAR_DW)->name, "decode-sgemm");
    ct_ctx_free(c);
}

/* Double-precision causal GQA attention with a cache offset (S >= T) and segments. */
static void ref_attention(double *out, const float *q, const float *k, const float *v, const int32_t *sq,
                          const int32_t *sk, size_t T, size_t S, size_t Hq, size_t Hkv, size_t D) {
    double *p = malloc(S * sizeof(double));
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < Hq; h++) {
            size_t kh = h / (Hq / Hkv), last = t + S - T;
            double mx = -INFINITY, sum = 0;
            for (size_t j = 0; j <= last; j++) {
                p[j] = -INFINITY;
                if (sq && sq[t] != sk[j]) continue;
                double s = 0;
                for (size_t d = 0; d < D; d++) s += (double)q[(t * Hq + h) * D + d] * k[(j * Hkv + kh) * D + d];
                p[j] = s / sqrt((double)D);
                mx = fmax(mx, p[j]);
            }
            for (size_t j = 0; j <= last; j++) sum += p[j] == -INFINITY ? 0 : exp(p[j] - mx);
            for (size_t d = 0; d < D; d++) {
                double o = 0;
                for (size_t j = 0; j <= last; j++)
                    if (p[j] != -INFINITY) o += exp(p[j] - mx) / sum * v[(j * Hkv + kh) * D + d];
                out[(t * Hq + h) * D + d] = o;
            }
        }
    free(p);
}

TEST(ops_kernels_attention_variants) {
    ct_ctx *c = ct_test_ctx();
    /* T < 32: per row; T >= 32: blocked (and > 256: several query blocks); S > T: cache offset */
    const size_t shapes[][2] = {{1, 1}, {1, 57}, {7, 7}, {9, 40}, {40, 40}, {45, 100}, {300, 300}, {260, 330}};
    size_t Hq = 6, Hkv = 2, D = 8;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t T = shapes[s][0], S = shapes[s][1];
        for (int withseg = 0; withseg < 2; withseg++) {
            float *q = malloc(T * Hq * D * 4), *k = malloc(S * Hkv * D * 4), *v = malloc(S * Hkv * D * 4);
            float *o = malloc(T * Hq * D * 4), *o2 = malloc(T * Hq * D * 4);
            double *ref = malloc(T * Hq * D * 8);
            int32_t *sk = malloc(S * 4);
            for (size_t i = 0; i < T * Hq * D; i++) q[i] = (float)urand();
            for (size_t i = 0; i < S * Hkv * D; i++) k[i] = (float)urand(), v[i] = (float)urand();
            for (size_t j = 0; j < S; j++) sk[j] = (int32_t)(j / 23);
            const int32_t *sq = withseg ? sk + (S - T) : NULL;
            ct_attention_forward(c, o, q, k, v, sq, withseg ? sk : NULL, T, S, Hq, Hkv, D);
            ct_attention_forward_rows(c, o2, q, k, v, sq, withseg ? sk : NULL, T, S, Hq, Hkv, D);
            ref_attention(ref, q, k, v, sq, sk, T, S, Hq, Hkv, D);
            double e1 = 0, e2 = 0;
            for (size_t i = 0; i < T * Hq * D; i++) e1 = fmax(e1, fabs(o[i] - ref[i])), e2 = fmax(e2, fabs(o2[i] - ref[i]));
            CHECK_MSG(e1 < 1e-5 && e2 < 1e-5, "attention T=%zu S=%zu seg %d: err %.3g (dispatch) %.3g (rows)", T, S,
                      withseg, e1, e2);
            free(q), free(k), free(v), free(o), free(o2), free(ref), free(sk);
        }
    }
}

/* The decode GEMV at every dispatch level the CPU supports, bf16 and f16, odd sizes (tails of
 * every block width), token counts past a tile, row ranges that start mid-tile: against a double
 * reference, and the same bits whatever the row split. */
TEST(ops_kernels_gemv_levels) {
    static const size_t Ks[] = {1, 7, 15, 16, 17, 31, 32, 33, 63, 65, 100, 257, 1040};
    static const size_t Ns[] = {1, 3, 5, 6, 37};
    static const ct_dtype dts[] = {CT_DTYPE_BF16, CT_DTYPE_F16};
    size_t ran = 0;
    for (int lv = 0; lv < CT_GEMV_LEVELS; lv++) {
        if (!ct_gemv_level_available((ct_gemv_level)lv)) {
            printf("    gemv %s: not available on this CPU\n", ct_gemv_level_name((ct_gemv_level)lv));
            continue;
        }
        for (size_t d = 0; d < 2; d++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
                for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++) {
                    size_t K = Ks[ki], N = Ns[ni], T = 1 + (ki * 5 + ni) % 11; /* 1..11 tokens */
                    ct_tensor W = rand_weight(dts[d], N, K);
                    float *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
                    float *y2 = malloc(T * N * sizeof(float));
                    for (size_t i = 0; i < T * K; i++) x[i] = (float)urand();
                    size_t nxp = ct_gemv_xp_floats((ct_gemv_level)lv, dts[d], T, K);
                    float *xp = malloc((nxp ? nxp : 1) * sizeof(float));
                    ct_gemv_prepare((ct_gemv_level)lv, dts[d], xp, x, T, K);
                    ct_gemv_rows((ct_gemv_level)lv, y, N, x, xp, &W, T, K, 0, N);
                    double e = rel_err(y, x, &W, T, K, N, false);
                    CHECK_MSG(e <= 1e-5, "gemv %s %s T=%zu K=%zu N=%zu: rel err %.3g",
                              ct_gemv_level_name((ct_gemv_level)lv), ct_dtype_name(dts[d]), T, K, N, e);
                    /* rows one at a time, then from an odd start: the same bits */
                    for (size_t n = 0; n < N; n++) ct_gemv_rows((ct_gemv_level)lv, y2, N, x, xp, &W, T, K, n, n + 1);
                    CHECK(memcmp(y, y2, T * N * sizeof(float)) == 0);
                    memset(y2, 0, T * N * sizeof(float));
                    ct_gemv_rows((ct_gemv_level)lv, y2, N, x, xp, &W, T, K, 0, N / 2);
                    ct_gemv_rows((ct_gemv_level)lv, y2, N, x, xp, &W, T, K, N / 2, N);
                    CHECK(memcmp(y, y2, T * N * sizeof(float)) == 0);
                    /* each token alone: the bits it gets among T (batched decode = single steps) */
                    for (size_t t = 0; t < T; t++) {
                        ct_gemv_prepare((ct_gemv_level)lv, dts[d], xp, x + t * K, 1, K);
                        ct_gemv_rows((ct_gemv_level)lv, y2, N, x + t * K, xp, &W, 1, K, 0, N);
                        CHECK_MSG(memcmp(y + t * N, y2, N * sizeof(float)) == 0,
                                  "gemv %s %s T=%zu K=%zu N=%zu: token %zu alone differs",
                                  ct_gemv_level_name((ct_gemv_level)lv), ct_dtype_name(dts[d]), T, K, N, t);
                    }
                    free(W.data), free(x), free(y), free(y2), free(xp);
                    ran++;
                }
    }
    CHECK(ran >= 2 * 13 * 5);
}

/* ct_linear_multi_forward (q/k/v, gate/up fused into one parallel region) equals one
 * ct_linear_forward per matrix bit for bit, with biases, at 1, 2 and 3 threads; a mixed set
 * (an f32 weight) takes the per-matrix path. */
TEST(ops_kernels_linear_multi) {
    ct_ctx *c = ct_test_ctx();
    int th0 = ct_ctx_threads(c);
    size_t K = 203, Nn[3] = {130, 31, 31};
    for (int mixed = 0; mixed < 2; mixed++)
        for (size_t T = 1; T <= CT_GEMV_MAX_T + 1; T += 4) {
            ct_tensor W[3], b[3];
            const ct_tensor *Wp[3], *bp[3];
            float *ys[3], *yr[3], *x = malloc(T * K * sizeof(float));
            for (size_t i = 0; i < T * K; i++) x[i] = (float)urand();
            for (int i = 0; i < 3; i++) {
                W[i] = rand_weight(mixed && i == 2 ? CT_DTYPE_F32 : i == 1 ? CT_DTYPE_F16 : CT_DTYPE_BF16, Nn[i], K);
                b[i] = rand_weight(CT_DTYPE_F32, 1, Nn[i]);
                b[i].ndim = 1, b[i].shape[0] = (int64_t)Nn[i];
                Wp[i] = &W[i], bp[i] = i == 1 ? NULL : &b[i];
                ys[i] = malloc(T * Nn[i] * sizeof(float)), yr[i] = malloc(T * Nn[i] * sizeof(float));
            }
            for (int th = 1; th <= 3; th++) {
                ct_ctx_set_threads(c, th);
                ct_linear_multi_forward(c, ys, x, Wp, bp, 3, T, K);
                for (int i = 0; i < 3; i++) {
                    ct_linear_forward(c, yr[i], x, Wp[i], bp[i], T, K, Nn[i]);
                    CHECK_MSG(memcmp(ys[i], yr[i], T * Nn[i] * sizeof(float)) == 0,
                              "linear_multi T=%zu threads %d matrix %d differs", T, th, i);
                }
            }
            for (int i = 0; i < 3; i++) free(W[i].data), free(b[i].data), free(ys[i]), free(yr[i]);
            free(x);
        }
    ct_ctx_set_threads(c, th0);
}
