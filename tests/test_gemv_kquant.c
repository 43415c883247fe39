/* The K-quant decode GEMV (src/ops/cpu/gemv_kquant.c): the Q8_K activation quantizer against
 * ggml's own quantize_row_q8_K_ref bit for bit (tests/fixtures/quant/ggml_q8k.safetensors, from
 * tests/gen/make_q8k_fixtures.py) at every level; every dispatch level (and the AVX-512 one with
 * and without VNNI) against the scalar level bit for bit for Q2_K .. Q6_K and IQ4_XS, T = 1..8, row
 * counts that are no multiple of 4, partial row ranges, random block bytes and the extreme codes
 * and scales (no int16 saturation, no int32 overflow); the scalar level against a plain
 * restatement of the math in this file (own block decoding, integer sums, the same fmaf order);
 * all levels against the f32 product of ggml's dequantized weights with the f32 x within the
 * activation rounding bound; non-finite x; fused matrices of mixed dtypes and 1 vs 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "io/safetensors.h"
#include "ops/kernels.h"
#include "quant/ggml_dequant.h"

static uint64_t g_s = 0x9e3779b97f4a7c15ull;
static uint32_t rnd32(void) {
    g_s = g_s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_s >> 32);
}
static double urand(void) { return (double)rnd32() / 4294967296.0 * 2.0 - 1.0; }

static const ct_dtype k_dts[6] = {CT_DTYPE_Q4_K, CT_DTYPE_Q5_K, CT_DTYPE_Q6_K,
                                  CT_DTYPE_IQ4_XS, CT_DTYPE_Q2_K, CT_DTYPE_Q3_K};
#define N_DTS 6
/* the dtypes without mins (y = acc) */
static bool no_mins(ct_dtype dt) { return dt == CT_DTYPE_Q6_K || dt == CT_DTYPE_IQ4_XS || dt == CT_DTYPE_Q3_K; }

static void put_f16(uint8_t *p, float v) {
    uint16_t h = ct_f32_to_f16(v);
    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
}

/* A [N, K] weight of random block bytes with finite f16 scales (every code and scale pattern);
 * extreme != 0: every block all codes and scales at their largest (1) or the Q6_K / IQ4_XS code
 * 0 (2: Q6_K -32, IQ4_XS level -127 with scale -32). */
static ct_tensor kweight(ct_dtype dt, size_t N, size_t K, int extreme) {
    size_t bb = ct_gemvk_block_bytes(dt), nb = N * K / 256;
    uint8_t *w = malloc(nb * bb);
    for (size_t i = 0; i < nb * bb; i++) w[i] = extreme == 1 ? 0xff : extreme == 2 ? 0 : (uint8_t)rnd32();
    for (size_t b = 0; b < nb; b++) {
        uint8_t *blk = w + b * bb;
        if (dt == CT_DTYPE_Q6_K) {
            put_f16(blk + 208, extreme ? 0.01f : (float)(0.002 * urand()));
            if (extreme) memset(blk + 192, 0x80, 16); /* scales -128 */
        } else if (dt == CT_DTYPE_IQ4_XS) { /* extreme 1: levels 113, scales 31; 2: levels -127, scales -32 */
            put_f16(blk, extreme ? 0.01f : (float)(0.002 * urand()));
        } else if (dt == CT_DTYPE_Q3_K) { /* extreme 1: codes 3, scales 31; 2: codes -4, scales -32 */
            put_f16(blk + 108, extreme ? 0.01f : (float)(0.003 * urand()));
        } else if (dt == CT_DTYPE_Q2_K) {
            put_f16(blk + 80, extreme ? 0.01f : (float)(0.003 * urand()));
            put_f16(blk + 82, extreme ? 0.02f : (float)(0.01 * urand()));
        } else {
            put_f16(blk, extreme ? 0.01f : (float)(0.003 * urand()));
            put_f16(blk + 2, extreme ? 0.02f : (float)(0.01 * urand()));
        }
    }
    return (ct_tensor){.dtype = dt, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = w};
}

static void rand_x(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(urand() * (i % 11 == 0 ? 4.0 : 1.0));
}

TEST(gemv_kquant_q8k_is_ggml) {
    ct_st *st = NULL;
    ct_err err = {0};
    REQUIRE(ct_st_open(ct_test_path("tests/fixtures/quant/ggml_q8k.safetensors"), &st, &err) == CT_OK);
    const ct_tensor *xt = ct_st_get(st, "x"), *qt = ct_st_get(st, "q8k");
    REQUIRE(xt && qt);
    size_t K = (size_t)xt->shape[0], nb = K / 256;
    REQUIRE(K % 256 == 0 && (size_t)qt->shape[0] == nb * 292);
    const uint8_t *g = qt->data;
    for (int lv = 0; lv < CT_GEMV_LEVELS; lv++) {
        if (!ct_gemv_level_available((ct_gemv_level)lv)) continue;
        /* one token of K = 256 nb, and the same blocks as nb tokens of 256 */
        for (int form = 0; form < 2; form++) {
            size_t T = form ? nb : 1, KK = form ? 256 : K;
            void *mem = malloc(ct_gemvk_x_bytes((ct_gemv_level)lv, T, KK));
            ct_gemvk_x xq;
            ct_gemvk_prepare((ct_gemv_level)lv, &xq, mem, xt->data, T, KK);
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *gb = g + b * 292;
                CHECK_MSG(memcmp(&xq.d[b], gb, 4) == 0, "%s block %zu: d %.9g, ggml %.9g",
                          ct_gemv_level_name((ct_gemv_level)lv), b, (double)xq.d[b], (double)*(const float *)gb);
                CHECK_MSG(memcmp(xq.q + b * 256, gb + 4, 256) == 0, "%s block %zu: codes differ",
                          ct_gemv_level_name((ct_gemv_level)lv), b);
                CHECK_MSG(memcmp(xq.bsums + b * 16, gb + 260, 32) == 0, "%s block %zu: bsums differ",
                          ct_gemv_level_name((ct_gemv_level)lv), b);
            }
            free(mem);
        }
    }
    ct_st_close(st);
}

/* Non-finite blocks: d NaN, codes and bsums 0 at every level; the other blocks untouched. */
TEST(gemv_kquant_q8k_nonfinite) {
    float x[512];
    rand_x(x, 512);
    x[300] = NAN;
    for (int lv = 0; lv < CT_GEMV_LEVELS; lv++) {
        if (!ct_gemv_level_available((ct_gemv_level)lv)) continue;
        for (int k = 0; k < 2; k++) {
            x[300] = k ? INFINITY : NAN;
            void *mem = malloc(ct_gemvk_x_bytes((ct_gemv_level)lv, 1, 512)), *m0 = malloc(ct_gemvk_x_bytes(0, 1, 256));
            ct_gemvk_x xq, x0;
            ct_gemvk_prepare((ct_gemv_level)lv, &xq, mem, x, 1, 512);
            ct_gemvk_prepare(CT_GEMV_SCALAR, &x0, m0, x, 1, 256);
            CHECK(isnan(xq.d[1]) && xq.d[0] == x0.d[0] && memcmp(xq.q, x0.q, 256) == 0);
            int zero = 1;
            for (int j = 0; j < 256; j++) zero &= xq.q[256 + j] == 0 && (j >= 16 || xq.bsums[16 + j] == 0);
            CHECK(zero);
            free(mem), free(m0);
        }
    }
}

static double max_rel(const float *a, const float *b, size_t n) {
    double e = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)b[i]));
    }
    return e / fmax(mx, 1e-30);
}

TEST(gemv_kquant_levels_match_scalar) {
    static const size_t Ks[3] = {256, 768, 1280};
    static const size_t Ns[4] = {1, 3, 6, 37};
    for (int pass = 0; pass < CT_GEMV_LEVELS + 1; pass++) {
        int lv = pass < CT_GEMV_LEVELS ? pass : CT_GEMV_AVX512;
        if (lv == CT_GEMV_SCALAR) continue;
        if (!ct_gemv_level_available((ct_gemv_level)lv)) {
            printf("    gemv_kquant %s: not available on this CPU\n", ct_gemv_level_name((ct_gemv_level)lv));
            continue;
        }
        if (lv == CT_GEMV_AVX512) {
            bool second = pass == CT_GEMV_LEVELS;
            if (second && !ct_gemv_int8_vnni(true)) break;
            bool vnni = ct_gemv_int8_vnni(!second);
            printf("    gemv_kquant avx512: scale products by %s\n", vnni ? "vpdpwssd (VNNI)" : "vpmaddwd + vpaddd");
        }
        for (int d = 0; d < N_DTS; d++)
            for (int ki = 0; ki < 3; ki++)
                for (int ni = 0; ni < 5; ni++)
                    for (size_t T = 1; T <= CT_GEMV_MAX_T; T++) {
                        /* ni 4: the extreme blocks (all 0xff / Q6_K all 0) with x of one magnitude */
                        int extreme = ni == 4 ? (d >= 2 && d != 4 && T % 2 ? 2 : 1) : 0;
                        size_t K = Ks[ki], N = ni == 4 ? 5 : Ns[ni];
                        ct_tensor W = kweight(k_dts[d], N, K, extreme);
                        float *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
                        float *ref = malloc(T * N * sizeof(float)), *y2 = malloc(T * N * sizeof(float));
                        rand_x(x, T * K);
                        if (extreme)
                            for (size_t i = 0; i < T * K; i++) x[i] = T % 4 < 2 ? 1.0f : -1.0f;
                        void *mem = malloc(ct_gemvk_x_bytes((ct_gemv_level)lv, T, K));
                        void *mem0 = malloc(ct_gemvk_x_bytes(CT_GEMV_SCALAR, T, K));
                        ct_gemvk_x xq, xq0;
                        ct_gemvk_prepare(CT_GEMV_SCALAR, &xq0, mem0, x, T, K);
                        ct_gemvk_prepare((ct_gemv_level)lv, &xq, mem, x, T, K);
                        size_t xb = T * (K / 256) * (sizeof(float) + 32) + T * K;
                        CHECK(!memcmp(mem, mem0, xb));
                        ct_gemvk_rows(CT_GEMV_SCALAR, ref, N, &xq0, &W, 0, N);
                        ct_gemvk_rows((ct_gemv_level)lv, y, N, &xq, &W, 0, N);
                        CHECK_MSG(memcmp(y, ref, T * N * sizeof(float)) == 0,
                                  "gemv_kquant %s %s T=%zu K=%zu N=%zu extreme=%d: not the scalar bits (rel %.3g)",
                                  ct_gemv_level_name((ct_gemv_level)lv), ct_dtype_name(k_dts[d]), T, K, N, extreme,
                                  max_rel(y, ref, T * N));
                        for (size_t n = 0; n < N; n++) ct_gemvk_rows((ct_gemv_level)lv, y2, N, &xq, &W, n, n + 1);
                        CHECK(memcmp(y, y2, T * N * sizeof(float)) == 0);
                        memset(y2, 0, T * N * sizeof(float));
                        for (size_t n = 0; n < N; n += 5)
                            ct_gemvk_rows((ct_gemv_level)lv, y2, N, &xq, &W, n, n + 5 < N ? n + 5 : N);
                        CHECK(memcmp(y, y2, T * N * sizeof(float)) == 0);
                        free(W.data), free(x), free(y), free(ref), free(y2), free(mem), free(mem0);
                    }
    }
    ct_gemv_int8_vnni(true);
}

/* Block b of row n decoded plainly from the layouts (ggml_dequant.c): codes c (Q6_K: minus 32),
 * scale and min of each element's sub-block, d_w, m_w. */
static void decode_block(ct_dtype dt, const uint8_t *blk, int c[256], int sc[256], int mn[256], float *dw,
                         float *mw) {
    static const int lv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    for (int e = 0; e < 256; e++) {
        if (dt == CT_DTYPE_Q3_K) { /* low bits 2 j of byte 32 n + r @32, high bit 4 n + j of byte r @0 */
            int n = e / 128, j = e % 128 / 32, r = e % 32, s = e / 16;
            c[e] = ((blk[32 + 32 * n + r] >> (2 * j)) & 3) - ((blk[r] >> (4 * n + j)) & 1 ? 0 : 4);
            const uint8_t *k = blk + 96; /* scale s: nibble s / 8 of byte s % 8, bits 4-5: byte 8 + s % 4 */
            sc[e] = (((k[s % 8] >> (4 * (s / 8))) & 15) | ((k[8 + s % 4] >> (2 * (s / 4))) & 3) << 4) - 32;
            mn[e] = 0;
        } else if (dt == CT_DTYPE_Q2_K) { /* codes: bits 2 j of byte 32 n + r of @16, e = 128 n + 32 j + r */
            int n = e / 128, j = e % 128 / 32, r = e % 32;
            c[e] = (blk[16 + 32 * n + r] >> (2 * j)) & 3, sc[e] = blk[e / 16] & 15, mn[e] = blk[e / 16] >> 4;
        } else if (dt == CT_DTYPE_IQ4_XS) { /* sub-block j: 16 bytes @8 + 16 j, low nibbles then high */
            int j = e / 32, r = e % 32;
            c[e] = lv[(blk[8 + 16 * j + r % 16] >> (4 * (r / 16))) & 15];
            sc[e] = (((blk[4 + j / 2] >> (4 * (j % 2))) & 15) | (((blk[2] | blk[3] << 8) >> (2 * j)) & 3) << 4) - 32;
            mn[e] = 0;
        } else if (dt == CT_DTYPE_Q6_K) {
            int h = e / 128, k = e % 128 / 32, r = e % 32;
            int lo = (blk[64 * h + 32 * (k % 2) + r] >> (4 * (k / 2))) & 15, hi = (blk[128 + 32 * h + r] >> (2 * k)) & 3;
            c[e] = (lo | hi << 4) - 32, sc[e] = (int8_t)blk[192 + 8 * h + 2 * k + r / 16], mn[e] = 0;
        } else {
            bool q5 = dt == CT_DTYPE_Q5_K;
            int j = e / 32, ch = e / 64, r = e % 32;
            c[e] = (blk[(q5 ? 48 : 16) + 32 * ch + r] >> (4 * (j % 2))) & 15;
            if (q5 && (blk[16 + r] >> j & 1)) c[e] += 16;
            const uint8_t *s = blk + 4;
            sc[e] = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
            mn[e] = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        }
    }
    size_t off = dt == CT_DTYPE_Q6_K ? 208 : dt == CT_DTYPE_Q2_K ? 80 : dt == CT_DTYPE_Q3_K ? 108 : 0;
    *dw = ct_f16_to_f32((uint16_t)(blk[off] | blk[off + 1] << 8));
    *mw = no_mins(dt) ? 0.0f : ct_f16_to_f32((uint16_t)(blk[off + 2] | blk[off + 3] << 8));
}

/* The scalar level is the stated math: isum = sum_j sc c q, msum = sum_j mn q (= sum_s mn_s
 * (bsums[2s] + bsums[2s + 1])), exact (checked in int64 to fit int32), then fmaf in block order.
 * And the quantized x is within half a step of x: |x - d q| <= |d| (1/2 + 2^-16). */
TEST(gemv_kquant_scalar_is_the_math) {
    size_t K = 1024, N = 7, nb = K / 256, T = 3;
    for (int d = 0; d < N_DTS; d++) {
        ct_tensor W = kweight(k_dts[d], N, K, 0);
        float *x = malloc(T * K * sizeof(float)), *y = malloc(T * N * sizeof(float));
        rand_x(x, T * K);
        void *mem = malloc(ct_gemvk_x_bytes(CT_GEMV_SCALAR, T, K));
        ct_gemvk_x xq;
        ct_gemvk_prepare(CT_GEMV_SCALAR, &xq, mem, x, T, K);
        ct_gemvk_rows(CT_GEMV_SCALAR, y, N, &xq, &W, 0, N);
        int far = 0;
        for (size_t i = 0; i < T * K; i++) {
            float dx = xq.d[i / 256];
            far += fabs((double)x[i] - (double)dx * xq.q[i]) > fabs((double)dx) * (0.5 + 0x1p-16);
        }
        CHECK_MSG(far == 0, "%d activations more than half a step off", far);
        int bad = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t t = 0; t < T; t++) {
                float acc = 0.0f, acc2 = 0.0f;
                for (size_t b = 0; b < nb; b++) {
                    int c[256], sc[256], mn[256];
                    float dw, mw;
                    decode_block(k_dts[d], (const uint8_t *)W.data + (n * nb + b) * ct_gemvk_block_bytes(k_dts[d]), c,
                                 sc, mn, &dw, &mw);
                    const int8_t *q = xq.q + t * K + b * 256;
                    int64_t isum = 0, msum = 0;
                    for (int j = 0; j < 256; j++) isum += (int64_t)sc[j] * c[j] * q[j], msum += (int64_t)mn[j] * q[j];
                    CHECK(llabs(isum) < 0x7fffffff && llabs(msum) < 0x7fffffff);
                    float dx = xq.d[t * nb + b];
                    acc = fmaf((float)isum, dx * dw, acc);
                    acc2 = fmaf((float)msum, dx * mw, acc2);
                }
                float want = no_mins(k_dts[d]) ? acc : acc - acc2;
                bad += memcmp(&want, &y[t * N + n], sizeof want) != 0;
            }
        CHECK_MSG(bad == 0, "%s: %d outputs differ from the restated math", ct_dtype_name(k_dts[d]), bad);
        free(W.data), free(x), free(y), free(mem);
    }
}

/* |y - x W~^T| <= sum_j |W~_j| |d_x(j)| (1/2 + 2^-16) + f32 rounding, W~ = ggml's dequantized
 * weights: the activation rounding |x - d q| <= |d| / 2 (plus the rounding of d = 1 / iscale);
 * the f32 roundings (the weights' own two products, d_x d_w, the fma per block, acc - acc2) are
 * below 2^-22 (nb + 4) of the magnitude sum over both terms of w = d_w sc c - m_w mn. */
TEST(gemv_kquant_within_activation_bound_of_dequantized) {
    size_t K = 1536, N = 11, nb = K / 256;
    for (int lv = 0; lv < CT_GEMV_LEVELS; lv++) {
        if (!ct_gemv_level_available((ct_gemv_level)lv)) continue;
        for (int d = 0; d < N_DTS; d++)
            for (size_t T = 1; T <= CT_GEMV_MAX_T; T += 3) {
                ct_tensor W = kweight(k_dts[d], N, K, 0);
                float *w = malloc(N * K * sizeof(float)), *x = malloc(T * K * sizeof(float));
                float *y = malloc(T * N * sizeof(float));
                ct_ggml_dequantize_row(ct_ggml_kquant_type(k_dts[d]), W.data, N * K, w);
                rand_x(x, T * K);
                void *mem = malloc(ct_gemvk_x_bytes((ct_gemv_level)lv, T, K));
                ct_gemvk_x xq;
                ct_gemvk_prepare((ct_gemv_level)lv, &xq, mem, x, T, K);
                ct_gemvk_rows((ct_gemv_level)lv, y, N, &xq, &W, 0, N);
                int bad = 0;
                for (size_t n = 0; n < N; n++)
                    for (size_t t = 0; t < T; t++) {
                        double ref = 0, bound = 0, mag = 0;
                        for (size_t b = 0; b < nb; b++) {
                            int c[256], sc[256], mn[256];
                            float dw, mw;
                            decode_block(k_dts[d],
                                         (const uint8_t *)W.data + (n * nb + b) * ct_gemvk_block_bytes(k_dts[d]), c,
                                         sc, mn, &dw, &mw);
                            double dx = fabs((double)xq.d[t * nb + b]);
                            for (size_t j = 0; j < 256; j++) {
                                double wv = w[n * K + b * 256 + j], xv = x[t * K + b * 256 + j];
                                ref += wv * xv;
                                bound += fabs(wv) * dx * (0.5 + 0x1p-16);
                                mag += (fabs((double)dw * sc[j] * c[j]) + fabs((double)mw * mn[j])) * (fabs(xv) + dx);
                            }
                        }
                        bad += fabs(y[t * N + n] - ref) > bound + 0x1p-22 * (double)(nb + 4) * mag;
                    }
                CHECK_MSG(bad == 0, "%s %s T=%zu: %d outputs outside the activation-rounding bound",
                          ct_gemv_level_name((ct_gemv_level)lv), ct_dtype_name(k_dts[d]), T, bad);
                free(W.data), free(w), free(x), free(y), free(mem);
            }
    }
}

/* A non-finite activation: the outputs of its token are NaN, the other tokens' unchanged. */
TEST(gemv_kquant_nonfinite_x) {
    size_t K = 512, N = 6;
    for (int d = 0; d < N_DTS; d++) {
        ct_tensor W = kweight(k_dts[d], N, K, 0);
        float x[2 * 512], y1[6], y2[12];
        rand_x(x, 2 * K);
        x[K + 300] = d == 1 ? NAN : INFINITY;
        for (int lv = 0; lv < CT_GEMV_LEVELS; lv++) {
            if (!ct_gemv_level_available((ct_gemv_level)lv)) continue;
            void *m1 = malloc(ct_gemvk_x_bytes((ct_gemv_level)lv, 1, K)), *m2 = malloc(ct_gemvk_x_bytes((ct_gemv_level)lv, 2, K));
            ct_gemvk_x a, b;
            ct_gemvk_prepare((ct_gemv_level)lv, &a, m1, x, 1, K);
            ct_gemvk_prepare((ct_gemv_level)lv, &b, m2, x, 2, K);
            ct_gemvk_rows((ct_gemv_level)lv, y1, N, &a, &W, 0, N);
            ct_gemvk_rows((ct_gemv_level)lv, y2, N, &b, &W, 0, N);
            CHECK(memcmp(y1, y2, sizeof y1) == 0);
            for (size_t n = 0; n < N; n++) CHECK(isfinite(y1[n]) && isnan(y2[N + n]));
            free(m1), free(m2);
        }
        free(W.data);
    }
}

/* Fused matrices of mixed dtypes (Q4_K_M mixes Q4_K and Q6_K), 1 vs 2 threads: bit for bit the
 * single-matrix calls. */
TEST(gemv_kquant_fused_and_threads_bitwise) {
    ct_err err = {0};
    ct_ctx *c = NULL;
    CHECK_OK(ct_ctx_new(&c, 1, &err), &err);
    REQUIRE(c);
    size_t K = 1024, T = 3, Ns[3] = {601, 130, 77}; /* > 256 KiB of weights: the parallel region runs */
    ct_tensor W[3];
    const ct_tensor *Wp[3];
    float *ys[3], *y1[3], *x = malloc(T * K * sizeof(float));
    rand_x(x, T * K);
    ct_gemv_level lv = ct_gemv_level_best();
    for (int i = 0; i < 3; i++) {
        W[i] = kweight(k_dts[(i + 2) % N_DTS], Ns[i], K, 0);
        Wp[i] = &W[i];
        ys[i] = malloc(T * Ns[i] * sizeof(float)), y1[i] = malloc(T * Ns[i] * sizeof(float));
        ct_gemvk_forward(c, lv, &y1[i], x, &Wp[i], 1, T, K);
    }
    ct_ctx_set_threads(c, 2);
    ct_gemvk_forward(c, lv, ys, x, Wp, 3, T, K);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(memcmp(ys[i], y1[i], T * Ns[i] * sizeof(float)) == 0, "matrix %d: fused 2-thread != single", i);
        free(W[i].data), free(ys[i]), free(y1[i]);
    }
    free(x);
    ct_ctx_free(c);
}
