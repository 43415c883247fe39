/* Decode GEMV for ggml's Q8_0 / Q4_0 weights (src/quant/ggml_blocks.h): y[T, N] = x[T, K] W[N, K]^T
 * for T <= CT_GEMV_MAX_T tokens, with llama.cpp's numerics: ggml's vec_dot_type for Q8_0 and Q4_0
 * weights is Q8_0, so ggml quantizes the activations to Q8_0 blocks and takes integer block dot
 * products (ggml_vec_dot_q8_0_q8_0 / _q4_0_q8_0). Here the same:
 *
 *   1. each token's row of x is quantized once per call per block of 32 as ggml-cpu's x86
 *      quantize_row_q8_0 does: amax = max |x|, d = amax / 127 rounded to f16 (the stored scale),
 *      id = amax ? 127 / amax : 0 (f32; note: not 1 / d), q = round-half-even(x * id) as int8
 *      (|q| <= 127). A block holding a NaN or an infinity gets d = NaN and q = 0, so the outputs
 *      it touches are NaN as on the f32 path (ggml's codes would be garbage); a block whose d
 *      rounds to 0 in f16 gets q = 0 (its product with d is 0 either way);
 *   2. per weight block b: 8 exact int32 partial sums, lane i = sum over elements 4i..4i+3 of
 *      w_j q_j (w_j the int8 code, or code - 8 for Q4_0), as ggml's maddubs / madd (or vpdpbusd)
 *      lanes; then, as ggml does, s_b = f16->f32(dw_b) * f16->f32(dx_b) in f32 and
 *      acc_lane = fma(float(lane_i), s_b, acc_lane). Blocks alternate between two sets of 8
 *      lane accumulators (even / odd b: the two halves of an AVX-512 vector), summed at the end
 *      and reduced 8 -> 4 -> 2 -> 1 (ggml: one set, hsum_float_8). Every level does exactly this,
 *      so every level gives the scalar level's bits.
 *
 * So the result is llama.cpp's on the same blocks up to f32 summation order, and differs from the
 * f32 product with the dequantized weights by the activation's rounding: |x - d q| <= amax / 254
 * + amax 2^-11 per element (half a step of amax / 127, plus the scale's f16 rounding), which flips
 * greedy near-ties now and then (tests/test_quant_infer.c states the logit tolerance;
 * tests/cli/quant_llama_cpp.sh compares with llama.cpp itself). 8-bit codes
 * run at twice 16-bit codes' integer rate (32 products per 256 bits, maddubs / vpdpbusd, against
 * 16 with vpmaddwd / vpdpwssd) and halve the activation bytes. tests/test_gemv_quant.c checks
 * every level against the scalar one bitwise, the scalar one against a plain restatement of
 * ggml's math, and all against the dequantized f32 reference within that bound.
 *
 * Integer products, all exact: Q8_0 by ggml's sign trick, |w| (u8) times q with w's sign (s8):
 * maddubs pairs are at most 2 * 128 * 127 < 32767 (no int16 saturation: |q| <= 127, |w| <= 128),
 * then vpmaddwd with ones; Q4_0 by the unsigned nibbles c = w + 8 (0..15) times q, plus the lane's
 * -8 * (sum of its 4 q), computed once per token (bias4; pairs <= 2 * 15 * 127). AVX-512 with
 * VNNI does maddubs + maddwd in one vpdpbusd (Q4_0's bias as its accumulator). The f32 part
 * (convert the 8 lanes, the scale product, the FMA: per block, as ggml) now costs as much as the
 * integer part; each token's block scales come pre-broadcast to the 8 lanes (dx8).
 * Levels: AVX-512 (BW; two blocks per 512-bit vector; vpdpbusd when the CPU has VNNI, else
 * vpmaddubsw + vpmaddwd), AVX2 (one block per 256-bit vector, ggml's mul_sum_i8_pairs) and
 * plain C; each weight block is loaded and unpacked once per call for all T tokens. A row's
 * arithmetic does not depend on T, the rows around it or the thread that computes it: results
 * are identical for any batch, thread count and partition (like gemv.c). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/cpu/cpu.h"
#include "ops/kernels.h"
#include "quant/ggml_blocks.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CT_GEMVQ_X86 1
#include <immintrin.h>
#define AVX512Q_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define AVX2Q_TARGET __attribute__((target("avx2,fma,f16c")))
#endif

#define QK CT_GGML_QK

bool ct_gemvq_level_available(ct_gemv_level lv) { return ct_gemv_level_available(lv); /* gemv.c's CPU checks */ }

ct_gemv_level ct_gemvq_level_best(void) { return ct_gemv_level_best(); }

static int g_vnni_off; /* ct_gemvq_avx512_vnni(false): tests run the non-VNNI products on a VNNI CPU */

bool ct_gemvq_avx512_vnni(bool allow) {
    __atomic_store_n(&g_vnni_off, !allow, __ATOMIC_RELAXED);
#ifdef CT_GEMVQ_X86
    __builtin_cpu_init();
    return allow && __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

/* Whether the AVX-512 level uses vpdpbusd (AVX-512 VNNI) for its integer products. */
static bool have_vnni(void) {
#ifdef CT_GEMVQ_X86
    __builtin_cpu_init();
    return !__atomic_load_n(&g_vnni_off, __ATOMIC_RELAXED) && __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

static size_t block_bytes(ct_dtype dt) { return dt == CT_DTYPE_Q8_0 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES; }

/* ---- the quantized activations (the same at every level) ---- */

/* int8 codes per token: K rounded up to an even number of blocks (the AVX-512 level reads blocks
 * in pairs; the padding is zeros). */
static size_t codes_per_token(size_t K) { return (K / QK + 1) / 2 * 2 * QK; }

size_t ct_gemvq_x_bytes(ct_gemv_level lv, size_t T, size_t K) {
    (void)lv;
    size_t ld = codes_per_token(K);
    return T * ld / 4 * (sizeof(float) + sizeof(int32_t)) + T * (K / QK) * sizeof(float) + T * ld + 64;
}

void ct_gemvq_prepare(ct_gemv_level lv, ct_gemvq_x *xq, void *mem, const float *x, size_t T, size_t K) {
    (void)lv;
    size_t nb = K / QK, ld = codes_per_token(K), l4 = ld / 4;
    xq->dx8 = (float *)mem; /* lane scales, lane offsets, block scales, then the codes */
    xq->bias4 = (int32_t *)(xq->dx8 + T * l4);
    xq->d = (float *)(xq->bias4 + T * l4);
    xq->q = (int8_t *)(xq->d + T * nb);
    xq->T = T, xq->K = K, xq->ldq = ld;
    for (size_t t = 0; t < T; t++) {
        int8_t *row = xq->q + t * ld;
        memset(row + nb * QK, 0, ld - nb * QK);
        for (size_t i = nb * 8; i < l4; i++) xq->dx8[t * l4 + i] = 0.0f, xq->bias4[t * l4 + i] = 0;
        for (size_t b = 0; b < nb; b++) {
            const float *v = x + t * K + b * QK;
            float amax = 0.0f;
            bool finite = true;
            for (int j = 0; j < QK; j++) {
                finite &= isfinite(v[j]) != 0;
                amax = fmaxf(amax, fabsf(v[j]));
            }
            float d = ct_f16_to_f32(ct_f32_to_f16(amax / 127.0f));
            bool use = finite && d != 0.0f;
            float id = use ? 127.0f / amax : 0.0f;
            for (int j = 0; j < QK; j++) row[b * QK + (size_t)j] = use ? (int8_t)nearbyintf(v[j] * id) : 0;
            xq->d[t * nb + b] = finite ? d : NAN;
            for (int i = 0; i < 8; i++) {
                const int8_t *c = row + b * QK + 4 * i;
                xq->dx8[t * l4 + b * 8 + (size_t)i] = xq->d[t * nb + b];
                xq->bias4[t * l4 + b * 8 + (size_t)i] = -8 * (c[0] + c[1] + c[2] + c[3]);
            }
        }
    }
}

/* ---- plain C: the reference order (header comment, step 2) ---- */

static inline float f16_at(const uint8_t *p) { return ct_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

/* The 32 signed codes of a block. */
static inline void block_codes(const uint8_t *blk, bool q8, int8_t w[QK]) {
    if (q8) {
        memcpy(w, blk + 2, QK);
        return;
    }
    for (int j = 0; j < QK / 2; j++) {
        w[j] = (int8_t)((blk[2 + j] & 0x0f) - 8);
        w[j + QK / 2] = (int8_t)((blk[2 + j] >> 4) - 8);
    }
}

/* hsum_float_8's order: (a0 + a4) + (a2 + a6) + ((a1 + a5) + (a3 + a7)), as (s0 + s2) + (s1 + s3). */
static inline float hsum8(const float a[8]) {
    float s[4];
    for (int i = 0; i < 4; i++) s[i] = a[i] + a[i + 4];
    return (s[0] + s[2]) + (s[1] + s[3]);
}

static void rows_scalar(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *W, bool q8, size_t n0, size_t n1) {
    size_t K = xq->K, nb = K / QK, bb = q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES;
    for (size_t n = n0; n < n1; n++)
        for (size_t t = 0; t < xq->T; t++) {
            float acc[2][8] = {{0}};
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *blk = W + (n * nb + b) * bb;
                int8_t w[QK];
                block_codes(blk, q8, w);
                const int8_t *x = xq->q + t * xq->ldq + b * QK;
                float s = f16_at(blk) * xq->d[t * nb + b];
                for (int i = 0; i < 8; i++) {
                    int32_t l = 0;
                    for (int j = 4 * i; j < 4 * i + 4; j++) l += (int32_t)w[j] * x[j];
                    acc[b % 2][i] = fmaf((float)l, s, acc[b % 2][i]);
                }
            }
            float a[8];
            for (int i = 0; i < 8; i++) a[i] = acc[0][i] + acc[1][i];
            y[t * ldy + n] = hsum8(a);
        }
}

#ifdef CT_GEMVQ_X86
/* ---- AVX2: one block per vector (ggml's mul_sum_i8_pairs_float) ---- */

/* The block's 32 codes: signed for Q8_0, Q4_0's unsigned 0..15 (the -8 is the activations' bias4). */
AVX2Q_TARGET static inline __m256i avx2_codes(const uint8_t *blk, bool q8) {
    if (q8) return _mm256_loadu_si256((const __m256i *)(blk + 2));
    __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2)), m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

AVX2Q_TARGET static inline float avx2_hsum(__m256 a) { /* hsum8's order */
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
    return _mm_cvtss_f32(s4);
}

/* acc[t] += lanes of block b (weight block blk) for tokens 0..TT-1. Q8_0: |w| x (q with w's sign)
 * (maddubs pairs <= 2 * 128 * 127); Q4_0: code x q (pairs <= 2 * 15 * 127) plus bias4. */
AVX2Q_TARGET static inline __attribute__((always_inline)) void
avx2_block(__m256 *acc, const ct_gemvq_x *xq, const uint8_t *blk, bool q8, size_t TT, size_t b) {
    size_t l4 = xq->ldq / 4;
    __m256i w = avx2_codes(blk, q8), aw = q8 ? _mm256_sign_epi8(w, w) : w, ones = _mm256_set1_epi16(1);
    __m256 dw = _mm256_set1_ps(_cvtsh_ss((unsigned short)(blk[0] | (blk[1] << 8))));
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(xq->q + t * xq->ldq + b * QK));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, q8 ? _mm256_sign_epi8(q, w) : q), ones);
        if (!q8) p = _mm256_add_epi32(p, _mm256_loadu_si256((const __m256i *)(xq->bias4 + t * l4 + b * 8)));
        __m256 sc = _mm256_mul_ps(dw, _mm256_loadu_ps(xq->dx8 + t * l4 + b * 8));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, acc[t]);
    }
}

AVX2Q_TARGET static inline __attribute__((always_inline)) void
avx2_row(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *wr, bool q8, size_t TT, size_t n) {
    size_t nb = xq->K / QK, bb = q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES, b = 0;
    __m256 a0[CT_GEMV_MAX_T], a1[CT_GEMV_MAX_T]; /* even and odd blocks */
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) a0[t] = a1[t] = _mm256_setzero_ps();
    for (; b + 1 < nb; b += 2) {
        avx2_block(a0, xq, wr + b * bb, q8, TT, b);
        avx2_block(a1, xq, wr + (b + 1) * bb, q8, TT, b + 1);
    }
    if (b < nb) avx2_block(a0, xq, wr + b * bb, q8, TT, b);
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) y[t * ldy + n] = avx2_hsum(_mm256_add_ps(a0[t], a1[t]));
}

AVX2Q_TARGET static void rows_avx2(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *W, bool q8, size_t n0,
                                   size_t n1) {
    size_t rb = xq->K / QK * (q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES);
#define ROWS(TT, Q)                                                                                                    \
    for (size_t n = n0; n < n1; n++) avx2_row(y, ldy, xq, W + n * rb, Q, TT, n);                                     \
    break
#define BY_T(Q)                                                                                                        \
    switch (xq->T) {                                                                                                   \
    case 1: ROWS(1, Q); case 2: ROWS(2, Q); case 3: ROWS(3, Q); case 4: ROWS(4, Q);                                    \
    case 5: ROWS(5, Q); case 6: ROWS(6, Q); case 7: ROWS(7, Q); default: ROWS(8, Q);                                   \
    }
    if (q8) {
        BY_T(true)
    } else {
        BY_T(false)
    }
}

/* ---- AVX-512: two blocks per vector, lanes 0..7 block b, 8..15 block b + 1 ---- */

/* vpdpbusd (AVX-512 VNNI) spelled out: the AVX-512 code is compiled for BW, whose target lacks the
 * intrinsic; it only runs where have_vnni(). acc + per int32 lane the sum of 4 u8 x s8 products. */
AVX512Q_TARGET static inline __m512i dpbusd(__m512i acc, __m512i u, __m512i s) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}

/* The codes of blocks b0 and b1 (b1 NULL: zeros) as [b0 0..31 | b1 0..31]: int8 for Q8_0, Q4_0's
 * unsigned 0..15 (the -8 is the activations' bias4). */
AVX512Q_TARGET static inline __m512i avx512_codes2(const uint8_t *b0, const uint8_t *b1, bool q8) {
    if (q8) {
        __m256i lo = _mm256_loadu_si256((const __m256i *)(b0 + 2));
        __m256i hi = b1 ? _mm256_loadu_si256((const __m256i *)(b1 + 2)) : _mm256_setzero_si256();
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    __m256i v = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + 2))), m = _mm256_set1_epi8(0x0f);
    if (b1) v = _mm256_inserti128_si256(v, _mm_loadu_si128((const __m128i *)(b1 + 2)), 1);
    __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    /* 128-bit chunks [b0 lo, b1 lo, b0 hi, b1 hi] -> [b0 lo, b0 hi, b1 lo, b1 hi] */
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

AVX512Q_TARGET static inline __attribute__((always_inline)) void
avx512_row(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *wr, bool q8, bool vnni, size_t TT, size_t n) {
    size_t nb = xq->K / QK, bb = q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES, l4 = xq->ldq / 4;
    const __m512i lo8 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i ones = _mm512_set1_epi16(1);
    __m512 acc[CT_GEMV_MAX_T];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[t] = _mm512_setzero_ps();
    for (size_t p = 0; p < nb; p += 2) {
        const uint8_t *b0 = wr + p * bb;
        bool two = p + 1 < nb;
        /* Q8_0: |w| and w's sign (ggml's sign trick); Q4_0: the unsigned codes */
        __m512i w = avx512_codes2(b0, two ? b0 + bb : NULL, q8), aw = q8 ? _mm512_abs_epi8(w) : w;
        __mmask64 neg = q8 ? _mm512_movepi8_mask(w) : 0;
        /* the two f16 scales -> [dw0 x 8 | dw1 x 8] (a lone last block: dw1 = 0) */
        uint32_t h = (uint32_t)(b0[0] | (b0[1] << 8)) | (two ? (uint32_t)(b0[bb] | (b0[bb + 1] << 8)) << 16 : 0u);
        __m512 dw = _mm512_permutexvar_ps(lo8, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)h))));
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
            __m512i q = _mm512_loadu_si512((const void *)(xq->q + t * xq->ldq + p * QK)), s;
            if (q8) {
                __m512i sq = _mm512_mask_sub_epi8(q, neg, _mm512_setzero_si512(), q); /* q with w's sign */
                s = vnni ? dpbusd(_mm512_setzero_si512(), aw, sq) : _mm512_madd_epi16(_mm512_maddubs_epi16(aw, sq), ones);
            } else {
                __m512i bias = _mm512_loadu_si512((const void *)(xq->bias4 + t * l4 + p * 8));
                s = vnni ? dpbusd(bias, aw, q) : _mm512_add_epi32(_mm512_madd_epi16(_mm512_maddubs_epi16(aw, q), ones), bias);
            }
            __m512 sc = _mm512_mul_ps(dw, _mm512_loadu_ps(xq->dx8 + t * l4 + p * 8));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc[t]);
        }
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
        __m256 e = _mm512_castps512_ps256(acc[t]), o = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t]), 1));
        y[t * ldy + n] = avx2_hsum(_mm256_add_ps(e, o));
    }
}

AVX512Q_TARGET static void rows_avx512(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *W, bool q8,
                                       size_t n0, size_t n1) {
    size_t rb = xq->K / QK * (q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES);
    bool vnni = have_vnni();
#undef ROWS
#define ROWS(TT, Q)                                                                                                    \
    if (vnni)                                                                                                          \
        for (size_t n = n0; n < n1; n++) avx512_row(y, ldy, xq, W + n * rb, Q, true, TT, n);                          \
    else                                                                                                               \
        for (size_t n = n0; n < n1; n++) avx512_row(y, ldy, xq, W + n * rb, Q, false, TT, n);                         \
    break
    if (q8) {
        BY_T(true)
    } else {
        BY_T(false)
    }
#undef ROWS
#undef BY_T
}
#endif

void ct_gemvq_rows(ct_gemv_level lv, float *y, size_t ldy, const ct_gemvq_x *xq, const ct_tensor *W, size_t n0,
                   size_t n1) {
    const uint8_t *w = (const uint8_t *)W->data;
    bool q8 = W->dtype == CT_DTYPE_Q8_0;
    if (n0 >= n1 || xq->T == 0) return;
#ifdef CT_GEMVQ_X86
    if (lv == CT_GEMV_AVX512) {
        rows_avx512(y, ldy, xq, w, q8, n0, n1);
        return;
    }
    if (lv == CT_GEMV_AVX2) {
        rows_avx2(y, ldy, xq, w, q8, n0, n1);
        return;
    }
#endif
    rows_scalar(y, ldy, xq, w, q8, n0, n1);
}

/* Bytes of weights below which a call runs on the calling thread (a fork costs more). */
#define GEMVQ_PAR_MIN_BYTES (256u << 10)

void ct_gemvq_forward(ct_ctx *c, ct_gemv_level lv, float *const *ys, const float *x, const ct_tensor *const *Ws,
                      size_t n, size_t T, size_t K) {
    size_t total = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        total += (size_t)Ws[i]->shape[0];
        bytes += (size_t)Ws[i]->shape[0] * (K / QK) * block_bytes(Ws[i]->dtype);
    }
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    ct_gemvq_x xq;
    ct_gemvq_prepare(lv, &xq, ct_scratch_f32(ar, (ct_gemvq_x_bytes(lv, T, K) + 3) / 4), x, T, K);
    int nt = ct_ctx_threads(c);
    if (bytes < GEMVQ_PAR_MIN_BYTES) nt = 1;
    /* rows of all matrices, concatenated, split into equal static ranges (one per thread) */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t th = (size_t)omp_get_thread_num(), nth = (size_t)omp_get_num_threads();
        size_t r0 = total * th / nth, r1 = total * (th + 1) / nth, base = 0;
        for (size_t i = 0; i < n && base < r1; i++) {
            size_t N = (size_t)Ws[i]->shape[0], a = r0 > base ? r0 - base : 0, b = r1 - base < N ? r1 - base : N;
            if (a < b) ct_gemvq_rows(lv, ys[i], N, &xq, Ws[i], a, b);
            base += N;
        }
    }
    ct_arena_release(ar, mk);
}
