/* The Q8_0 / Q4_0 decode GEMV (src/ops/cpu/gemv_quant.c) on weights packed by 8 rows
 * (ggml_blocks.h): every dispatch level the CPU has against the scalar level bit for bit (the
 * same exact integer block sums and the same f32 order) for T = 1..8, row counts below 8, not a
 * multiple of 8 (a plain tail) and a multiple of 8, even and odd block counts, row ranges that
 * cut through groups; the scalar level against a plain
 * restatement of ggml's math (activations quantized as ggml-cpu's x86 quantize_row_q8_0, integer
 * block sums, f16 scales multiplied in f32); against the dequantized f32 reference within the
 * bound the 8-bit activation quantization implies; the same bits for any row partition, thread count,
 * and with several matrices fused in one call; the dtype table's to_f32 at any offset and the
 * plain blocks given back after packing; prefill
 * (T > 8) through the linear table exact on the dequantized weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/kernels.h"
#include "quant/ggml_blocks.h"

static uint64_t g_s = 0x2545f4914f6cdd1dull;
static double urand(void) {
    g_s = g_s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* A random [N, K] weight quantized to dt (ggml's reference quantizer), rows of mixed scale. */
static ct_tensor qweight(ct_dtype dt, size_t N, size_t K) {
    size_t bb = dt == CT_DTYPE_Q8_0 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES;
    float *f = malloc(K * sizeof(float));
    uint8_t *q = malloc(N * K / CT_GGML_QK * bb);
    for (size_t n = 0; n < N; n++) {
        double sc = 0.05 + 0.3 * fabs(urand());
        for (size_t k = 0; k < K; k++) f[k] = (float)(sc * urand());
        if (n % 7 == 3) memset(f, 0, CT_GGML_QK * sizeof(float)); /* an all-zero block: d = 0 */
        bool ok = dt == CT_DTYPE_Q8_0 ? ct_ggml_quantize_q8_0(f, K, q + n * K / CT_GGML_QK * bb)
                                      : ct_ggml_quantize_q4_0(f, K, q + n * K / CT_GGML_QK * bb);
        CHECK(ok);
    }
    free(f);
    CHECK(ct_ggml_pack8(q, N, K, dt == CT_DTYPE_Q8_0)); /* the dtype's layout: by 8 rows */
    return (ct_tensor){.dtype = dt, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = q};
}

static void rand_x(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(urand() * (i % 11 == 0 ? 4.0 : 1.0));
}

static double max_rel(const float *a, const float *b, size_t n) {
    double e = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)b[i]));
    }
    return e / fmax(mx, 1e-30);
}

TEST(gemv_quant_levels_match_scalar) {
    static const ct_dtype dts[2] = {CT_DTYPE_Q8_0, CT_DTYPE_Q4_0};
    static const size_t Ks[4] = {32, 96, 1024 + 32 * 3, 4864}; /* 1, 3, 35, 152 blocks: odd tails, groups of 16 */
    static const size_t Ns[3] = {1, 37, 64}; /* plain, 4 packed groups + 5 tail rows, 8 groups */
    /* the AVX-512 level twice where the CPU has VNNI: vpdpbusd, then vpmaddubsw + vpmaddwd */
    for (int pass = 0; pass < CT_GEMV_LEVELS + 1; pass++) {
        int lv = pass < CT_GEMV_LEVELS ? pass : CT_GEMV_AVX512;
        if (lv == CT_GEMV_SCALAR) continue;
        if (!ct_gemvq_level_available((ct_gemv_level)lv)) {
            printf("    gemv_quant %s: not available on this CPU\n", ct_gemv_level_name((ct_gemv_level)lv));
            continue;
        }
        if (lv == CT_GEMV_AVX512) {
            bool second = pass == CT_GEMV_LEVELS;
            if (second && !ct_gemv_int8_vnni(true)) break; /* no VNNI: the first pass ran the only variant */
            bool vnni = ct_gemv_int8_vnni(!second);
            printf("    gemv_quant avx512: integer products by %s\n",
                   vnni ? "vpdpbusd (VNNI)" : "vpmaddubsw + vpmaddwd");
        }
        for (int d = 0; d < 2; d++)
            for (int ki = 0; ki < 4; ki++)
                for (int ni = 0; ni < 3; ni++)
                    for (size_t T = 1; T <= CT_GEMV_MAX_T; T++) {
                        size_t K = Ks[ki], N = Ns[ni];
                        ct_tensor W = qweight(dts[d], N, K);
                        float *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
                        float *ref = malloc(T * N * sizeof(float)), *y2 = malloc(T * N * sizeof(float));
                        void *mem = malloc(ct_gemvq_x_bytes((ct_gemv_level)lv, T, K));
                        void *mem0 = malloc(ct_gemvq_x_bytes(CT_GEMV_SCALAR, T, K));
                        rand_x(x, T * K);
                        ct_gemvq_x xq, xq0;
                        ct_gemvq_prepare(CT_GEMV_SCALAR, &xq0, mem0, x, T, K);
                        ct_gemvq_prepare((ct_gemv_level)lv, &xq, mem, x, T, K);
                        /* the level's quantized activations: the scalar ones, byte for byte */
                        size_t xb = T * (K / CT_GGML_QK) * (2 * sizeof(float) + CT_GGML_QK); /* d, bias, codes */
                        CHECK(ct_gemvq_x_bytes((ct_gemv_level)lv, T, K) >= xb && !memcmp(mem, mem0, xb));
                        ct_gemvq_rows(CT_GEMV_SCALAR, ref, N, &xq0, &W, 0, N);
                        ct_gemvq_rows((ct_gemv_level)lv, y, N, &xq, &W, 0, N);
                        CHECK_MSG(memcmp(y, ref, T * N * sizeof(float)) == 0,
                                  "gemv_quant %s %s T=%zu K=%zu N=%zu: not the scalar level's bits (rel %.3g)",
                                  ct_gemv_level_name((ct_gemv_level)lv), ct_dtype_name(dts[d]), T, K, N,
                                  max_rel(y, ref, T * N));
                        /* any row partition: the same bits */
                        for (size_t n = 0; n < N; n++) ct_gemvq_rows((ct_gemv_level)lv, y2, N, &xq, &W, n, n + 1);
                        CHECK(memcmp(y, y2, T * N * sizeof(float)) == 0);
                        memset(y2, 0, T * N * sizeof(float)); /* ranges cutting through groups */
                        for (size_t n = 0; n < N; n += 5) ct_gemvq_rows((ct_gemv_level)lv, y2, N, &xq, &W, n, n + 5 < N ? n + 5 : N);
                        CHECK(memcmp(y, y2, T * N * sizeof(float)) == 0);
                        free(W.data), free(x), free(y), free(ref), free(y2), free(mem), free(mem0);
                    }
    }
    ct_gemv_int8_vnni(true);
}

/* ggml's activation quantization, restated (ggml-cpu x86 quantize_row_q8_0): amax = max |x|,
 * d = amax / 127 stored as f16, id = amax ? 127 / amax : 0, q = round-half-even(x * id). */
static float ggml_q8_act(const float *x, int8_t q[32]) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 32; j++) q[j] = (int8_t)lrintf(x[j] * id);
    return ct_f16_to_f32(ct_f32_to_f16(amax / 127.0f));
}

/* The scalar level against ggml's math done plainly: the codes and scales bit for bit, the
 * outputs = sum_b (dw_b * dx_b) * isum_b (the f32 product, isum exact) summed in double, within
 * f32 summation rounding; and ggml's half-to-even rounding of x * id on exact halves. */
TEST(gemv_quant_scalar_is_ggml_math) {
    static const ct_dtype dts[2] = {CT_DTYPE_Q8_0, CT_DTYPE_Q4_0};
    size_t K = 1024 + 32 * 3, N = 29, nb = K / 32;
    for (int d = 0; d < 2; d++)
        for (size_t T = 1; T <= CT_GEMV_MAX_T; T += 7) {
            ct_tensor W = qweight(dts[d], N, K);
            float *w = malloc(N * K * sizeof(float)), *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
            ct_tensor_to_f32(&W, 0, N * K, w);
            rand_x(x, T * K);
            void *mem = malloc(ct_gemvq_x_bytes(CT_GEMV_SCALAR, T, K));
            ct_gemvq_x xq;
            ct_gemvq_prepare(CT_GEMV_SCALAR, &xq, mem, x, T, K);
            ct_gemvq_rows(CT_GEMV_SCALAR, y, N, &xq, &W, 0, N);
            int8_t *q = malloc(T * K);
            float *dx = malloc(T * nb * sizeof(float));
            for (size_t t = 0; t < T; t++)
                for (size_t b = 0; b < nb; b++) dx[t * nb + b] = ggml_q8_act(x + t * K + b * 32, q + t * K + b * 32);
            for (size_t t = 0; t < T; t++) {
                CHECK(memcmp(q + t * K, xq.q + t * xq.ldq, K) == 0);
                CHECK(memcmp(dx + t * nb, xq.d + t * nb, nb * sizeof(float)) == 0);
            }
            int bad = 0;
            for (size_t n = 0; n < N; n++)
                for (size_t t = 0; t < T; t++) {
                    double ref = 0, mag = 0;
                    for (size_t b = 0; b < nb; b++) {
                        uint8_t blk[CT_GGML_Q8_0_BYTES];
                        ct_ggml_block_at(W.data, N, K, dts[d] == CT_DTYPE_Q8_0, n, b, blk);
                        float dw = ct_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8));
                        int32_t isum = 0; /* the weight codes: dequantized value / dw (exact) */
                        for (size_t j = 0; j < 32; j++)
                            isum += (dw != 0.0f ? (int32_t)lrintf(w[n * K + b * 32 + j] / dw) : 0) * q[t * K + b * 32 + j];
                        float s = dw * dx[t * nb + b];
                        ref += (double)s * isum, mag += fabs((double)s * isum);
                    }
                    /* f32 accumulation: at most nb / 2 + 4 roundings of 2^-24 relative on the way */
                    bad += fabs(y[t * N + n] - ref) > (double)(nb / 2 + 4) * 0x1p-24 * mag;
                }
            CHECK_MSG(bad == 0, "%s T=%zu: %d outputs off ggml's math beyond f32 summation", ct_dtype_name(dts[d]), T, bad);
            free(W.data), free(w), free(x), free(y), free(mem), free(q), free(dx);
        }
    /* exact halves round to even (ggml's _mm256_round_ps, not roundf): amax 127 gives id = 1 */
    float xh[32] = {127.0f, 2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 1.5f};
    void *mem = malloc(ct_gemvq_x_bytes(CT_GEMV_SCALAR, 1, 32));
    ct_gemvq_x xq;
    ct_gemvq_prepare(CT_GEMV_SCALAR, &xq, mem, xh, 1, 32);
    static const int8_t want[7] = {127, 2, 4, -2, 0, 0, 2};
    CHECK(memcmp(xq.q, want, 7) == 0);
    CHECK(xq.d[0] == ct_f16_to_f32(ct_f32_to_f16(1.0f)));
    free(mem);
}

/* |y - x W~^T| <= sum_k |W~[n,k]| e_b(k) (+ f32 rounding), W~ the dequantized weight and
 * e_b = amax_b / 254 + amax_b 2^-11 the activation's rounding per element: half a step of
 * amax / 127, plus 127 steps times the f16 rounding of the step (relative 2^-11). */
TEST(gemv_quant_within_activation_bound_of_dequantized) {
    static const ct_dtype dts[2] = {CT_DTYPE_Q8_0, CT_DTYPE_Q4_0};
    ct_err err = {0};
    ct_ctx *c = NULL;
    CHECK_OK(ct_ctx_new(&c, 1, &err), &err);
    REQUIRE(c);
    for (int d = 0; d < 2; d++)
        for (size_t T = 1; T <= CT_GEMV_MAX_T; T += 3) {
            size_t K = 320, N = 53;
            ct_tensor W = qweight(dts[d], N, K);
            float *w = malloc(N * K * sizeof(float)), *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
            ct_tensor_to_f32(&W, 0, N * K, w);
            rand_x(x, T * K);
            ct_linear_forward(c, y, x, &W, NULL, T, K, N);
            CHECK_STREQ(ct_linear_pick(c, dts[d], T, CT_LINEAR_FWD)->name,
                        dts[d] == CT_DTYPE_Q8_0 ? "q8_0-gemv" : "q4_0-gemv");
            int bad = 0;
            for (size_t t = 0; t < T; t++)
                for (size_t n = 0; n < N; n++) {
                    double ref = 0, bound = 0, mag = 0;
                    for (size_t b = 0; b < K / 32; b++) {
                        double amax = 0;
                        for (size_t j = 0; j < 32; j++) amax = fmax(amax, fabs(x[t * K + b * 32 + j]));
                        for (size_t j = 0; j < 32; j++) {
                            double wv = w[n * K + b * 32 + j];
                            ref += wv * x[t * K + b * 32 + j];
                            bound += fabs(wv) * amax * (1.0 / 254.0 + 0x1p-11);
                            mag += fabs(wv * x[t * K + b * 32 + j]);
                        }
                    }
                    bad += fabs(y[t * N + n] - ref) > bound * 1.001 + 1e-6 * mag;
                }
            CHECK_MSG(bad == 0, "%s T=%zu: %d outputs outside the activation-rounding bound", ct_dtype_name(dts[d]), T,
                      bad);
            /* prefill (T > 8): the weights decoded to f32, sgemm: exact on the dequantized values */
            size_t TP = 13;
            float *xp = malloc(TP * K * sizeof(float)), *yp = malloc(TP * N * sizeof(float));
            rand_x(xp, TP * K);
            ct_linear_forward(c, yp, xp, &W, NULL, TP, K, N);
            ct_tensor wf = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = w};
            float *yr = malloc(TP * N * sizeof(float));
            ct_linear_forward(c, yr, xp, &wf, NULL, TP, K, N);
            CHECK(max_rel(yp, yr, TP * N) <= 1e-6);
            free(xp), free(yp), free(yr);
            free(W.data), free(w), free(x), free(y);
        }
    ct_ctx_free(c);
}

/* Non-finite activations give NaN outputs (not garbage codes), as the f32 path would. */
TEST(gemv_quant_nonfinite_x) {
    ct_tensor W = qweight(CT_DTYPE_Q8_0, 4, 64);
    float x[64], y[4];
    rand_x(x, 64);
    x[40] = INFINITY;
    for (int lv = 0; lv < CT_GEMV_LEVELS; lv++) {
        if (!ct_gemvq_level_available((ct_gemv_level)lv)) continue;
        void *mem = malloc(ct_gemvq_x_bytes((ct_gemv_level)lv, 1, 64));
        ct_gemvq_x xq;
        ct_gemvq_prepare((ct_gemv_level)lv, &xq, mem, x, 1, 64);
        ct_gemvq_rows((ct_gemv_level)lv, y, 4, &xq, &W, 0, 4);
        for (int n = 0; n < 4; n++) CHECK(isnan(y[n]));
        free(mem);
    }
    free(W.data);
    /* an odd block count (3) and a non-finite first block of token 1: token 0 is untouched */
    ct_tensor W3 = qweight(CT_DTYPE_Q4_0, 5, 96);
    float x2[192], y1[5], y2[10];
    rand_x(x2, 192);
    x2[96] = INFINITY;
    for (int lv = 0; lv < CT_GEMV_LEVELS; lv++) {
        if (!ct_gemvq_level_available((ct_gemv_level)lv)) continue;
        void *m1 = malloc(ct_gemvq_x_bytes((ct_gemv_level)lv, 1, 96)), *m2 = malloc(ct_gemvq_x_bytes((ct_gemv_level)lv, 2, 96));
        ct_gemvq_x a, b;
        ct_gemvq_prepare((ct_gemv_level)lv, &a, m1, x2, 1, 96);
        ct_gemvq_prepare((ct_gemv_level)lv, &b, m2, x2, 2, 96);
        ct_gemvq_rows((ct_gemv_level)lv, y1, 5, &a, &W3, 0, 5);
        ct_gemvq_rows((ct_gemv_level)lv, y2, 5, &b, &W3, 0, 5);
        CHECK_MSG(memcmp(y1, y2, sizeof y1) == 0, "%s: token 0 depends on token 1", ct_gemv_level_name((ct_gemv_level)lv));
        for (int n = 0; n < 5; n++) CHECK(isfinite(y1[n]) && isnan(y2[5 + n]));
        free(m1), free(m2);
    }
    free(W3.data);
}

/* Fused matrices (q/k/v, gate/up) and 1 vs 2 threads: bit for bit the single calls. */
TEST(gemv_quant_fused_and_threads_bitwise) {
    ct_err err = {0};
    ct_ctx *c = NULL;
    CHECK_OK(ct_ctx_new(&c, 1, &err), &err);
    REQUIRE(c);
    size_t K = 512, T = 3;
    size_t Ns[3] = {700, 129, 129}; /* > 256 KiB of weights: the parallel region runs */
    ct_tensor W[3];
    const ct_tensor *Wp[3];
    float *ys[3], *y1[3], *x = malloc(T * K * sizeof(float));
    rand_x(x, T * K);
    for (int i = 0; i < 3; i++) {
        W[i] = qweight(i == 1 ? CT_DTYPE_Q4_0 : CT_DTYPE_Q8_0, Ns[i], K);
        Wp[i] = &W[i];
        ys[i] = malloc(T * Ns[i] * sizeof(float)), y1[i] = malloc(T * Ns[i] * sizeof(float));
        ct_linear_forward(c, y1[i], x, &W[i], NULL, T, K, Ns[i]);
    }
    ct_ctx_set_threads(c, 2);
    ct_linear_multi_forward(c, ys, x, Wp, NULL, 3, T, K);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(memcmp(ys[i], y1[i], T * Ns[i] * sizeof(float)) == 0, "matrix %d: fused 2-thread != single", i);
        free(W[i].data), free(ys[i]), free(y1[i]);
    }
    free(x);
    ct_ctx_free(c);
}

/* to_f32 at any offset and length equals the whole-row dequantization of the plain blocks, for
 * plain rows (N < 8) and packed groups with a tail (N = 11); packing keeps the byte count. */
TEST(gemv_quant_to_f32_offsets) {
    static const ct_dtype dts[2] = {CT_DTYPE_Q8_0, CT_DTYPE_Q4_0};
    static const size_t Ns[2] = {3, 11};
    for (int d = 0; d < 2; d++)
        for (int ni = 0; ni < 2; ni++) {
            size_t N = Ns[ni], K = 96, n = N * K, bb = dts[d] == CT_DTYPE_Q8_0 ? 34 : 18;
            bool q8 = dts[d] == CT_DTYPE_Q8_0;
            float f[96], all[11 * 96], part[11 * 96];
            uint8_t *plain = malloc(n / 32 * bb), *q = malloc(n / 32 * bb);
            for (size_t r = 0; r < N; r++) {
                for (size_t k = 0; k < K; k++) f[k] = (float)urand();
                CHECK(q8 ? ct_ggml_quantize_q8_0(f, K, plain + r * K / 32 * bb)
                         : ct_ggml_quantize_q4_0(f, K, plain + r * K / 32 * bb));
            }
            if (q8) ct_ggml_dequantize_q8_0(plain, n, all);
            else ct_ggml_dequantize_q4_0(plain, n, all);
            memcpy(q, plain, n / 32 * bb);
            CHECK(ct_ggml_pack8(q, N, K, q8));
            CHECK((N < 8) == (memcmp(q, plain, n / 32 * bb) == 0));
            ct_tensor W = {.dtype = dts[d], .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = q};
            CHECK_EQ_INT((long long)ct_tensor_nbytes(&W), (long long)(n / 32 * bb));
            for (size_t r = 0; r < N; r++)
                for (size_t b = 0; b < K / 32; b++) {
                    uint8_t blk[34];
                    ct_ggml_block_at(q, N, K, q8, r, b, blk);
                    CHECK(memcmp(blk, plain + (r * K / 32 + b) * bb, bb) == 0);
                }
            static const size_t offs[][2] = {{0, 288}, {5, 3}, {31, 2}, {30, 100}, {64, 32}, {250, 38}, {0, 1}};
            for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
                ct_tensor_to_f32(&W, offs[i][0], offs[i][1], part);
                CHECK(memcmp(part, all + offs[i][0], offs[i][1] * sizeof(float)) == 0);
            }
            ct_tensor_to_f32(&W, 0, n, part);
            CHECK(memcmp(part, all, n * sizeof(float)) == 0);
            free(plain), free(q);
        }
}
