/* Decode GEMV for ggml's Q8_0 / Q4_0 weights (src/quant/ggml_blocks.h): y[T, N] = x[T, K] W[N, K]^T
 * for T <= CT_GEMV_MAX_T tokens, integer block dot products as in llama.cpp's
 * ggml_vec_dot_q8_0_q8_0 / _q4_0_q8_0, but with 16-bit activations where ggml uses 8-bit ones:
 *
 *   1. each token's row of x is quantized once per call per block of 32: amax = max |x|,
 *      dx = amax / 32767, q = round-half-even(x * 32767 / amax) as int16 (ggml: int8 codes,
 *      amax / 127, the scale rounded to f16); a block holding a NaN or an infinity gets dx = NaN
 *      and q = 0, so the outputs it touches are NaN as on the f32 path;
 *   2. per weight block b: isum_b = sum_j w_j q_j exactly in int32 (w_j = the int8 code, or
 *      code - 8 for Q4_0; |isum| <= 32 * 128 * 32767 < 2^31), then y += (dw_b * dx_b) * isum_b in
 *      f32 (dw_b the block's f16 scale).
 *
 * So the result differs from the f32 product with the dequantized weights by the activation's
 * rounding (|x - dx q| <= dx / 2 per element: 2^-16 of the block's largest |x|, 256 times less
 * than ggml's) plus f32 summation: greedy decoding follows the dequantized reference where
 * ggml's 8-bit activations already flip near-ties (tests/test_quant_infer.c). The 16-bit codes
 * cost a wider activation operand (read from cache), not weight bytes: decode stays bound by the
 * weight stream. tests/test_gemv_quant.c checks every level against the scalar one and against
 * the dequantized f32 reference within that bound.
 *
 * Levels: AVX-512 (BW + VNNI: two blocks' codes widened to int16 in two vectors, two vpdpwssd
 * per token and pair, Q4_0's -8 folded into the first accumulator, the pair's two f16 scales
 * converted together; x pre-arranged to match), AVX2 (per block, two 16-element
 * halves) and plain C; each weight block is loaded and unpacked once per call for all
 * T tokens. A row's arithmetic does not depend on the rows around it or the thread that computes
 * it: results are identical for any thread count and partition (like gemv.c). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/cpu/cpu.h"
#include "ops/kernels.h"
#include "quant/ggml_blocks.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CT_GEMVQ_X86 1
#include <immintrin.h>
#define AVX512Q_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define AVX2Q_TARGET __attribute__((target("avx2,fma,f16c")))
#endif

#define QK CT_GGML_QK

bool ct_gemvq_level_available(ct_gemv_level lv) {
#ifdef CT_GEMVQ_X86
    __builtin_cpu_init();
    if (lv == CT_GEMV_AVX512) return ct_gemv_level_available(lv) && __builtin_cpu_supports("avx512vnni");
#endif
    return ct_gemv_level_available(lv); /* gemv.c's CPU checks */
}

ct_gemv_level ct_gemvq_level_best(void) {
    static int best = -1;
    int b = __atomic_load_n(&best, __ATOMIC_RELAXED);
    if (b < 0) {
        b = ct_gemvq_level_available(CT_GEMV_AVX512) ? CT_GEMV_AVX512
            : ct_gemvq_level_available(CT_GEMV_AVX2) ? CT_GEMV_AVX2
                                                      : CT_GEMV_SCALAR;
        __atomic_store_n(&best, b, __ATOMIC_RELAXED);
    }
    return (ct_gemv_level)b;
}

static size_t block_bytes(ct_dtype dt) { return dt == CT_DTYPE_Q8_0 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES; }

/* ---- the quantized activations ---- */

/* int16 codes per token: K (x as is), or at the AVX-512 level ceil(K / 64) * 64 arranged per pair
 * of blocks (b, b + 1) as [b 0..15 | b+1 0..15 | b 16..31 | b+1 16..31] (a missing b + 1: zeros),
 * the order in which that level unpacks two weight blocks into two vectors of 32 int16. */
static size_t codes_per_token(ct_gemv_level lv, size_t K) {
    return lv == CT_GEMV_AVX512 ? (K / QK + 1) / 2 * 2 * QK : K;
}

/* int32 per token at the AVX-512 level: per pair of blocks 16 lanes, -8 * (sum of the block's
 * codes) in lanes 0 and 8 (Q4_0's offset: sum (c - 8) q = sum c q - 8 sum q, kept exact in int32). */
static size_t bias_per_token(ct_gemv_level lv, size_t K) { return lv == CT_GEMV_AVX512 ? (K / QK + 1) / 2 * 16 : 0; }

size_t ct_gemvq_x_bytes(ct_gemv_level lv, size_t T, size_t K) {
    return T * (K / QK) * sizeof(float) + T * bias_per_token(lv, K) * sizeof(int32_t) +
           T * codes_per_token(lv, K) * sizeof(int16_t) + 64;
}

void ct_gemvq_prepare(ct_gemv_level lv, ct_gemvq_x *xq, void *mem, const float *x, size_t T, size_t K) {
    size_t nb = K / QK, ld = codes_per_token(lv, K);
    size_t ldb = bias_per_token(lv, K);
    xq->d = (float *)mem; /* scales first (aligned), then the Q4_0 offsets, then the codes */
    xq->bias4 = (int32_t *)(xq->d + T * nb);
    xq->q = (int16_t *)(xq->bias4 + T * ldb);
    xq->T = T, xq->K = K, xq->ldq = ld;
    bool pairs = lv == CT_GEMV_AVX512;
    if (pairs) memset(xq->q, 0, T * ld * sizeof(int16_t)), memset(xq->bias4, 0, T * ldb * sizeof(int32_t));
    for (size_t t = 0; t < T; t++)
        for (size_t b = 0; b < nb; b++) {
            const float *v = x + t * K + b * QK;
            float amax = 0.0f;
            bool finite = true;
            for (int j = 0; j < QK; j++) {
                finite &= isfinite(v[j]) != 0;
                amax = fmaxf(amax, fabsf(v[j]));
            }
            float id = finite && amax != 0.0f ? 32767.0f / amax : 0.0f;
            int16_t *row = xq->q + t * ld;
            int32_t sum = 0;
            for (int j = 0; j < QK; j++) {
                int16_t c = finite ? (int16_t)nearbyintf(v[j] * id) : 0;
                sum += c;
                size_t at = !pairs ? b * QK + (size_t)j
                                   : b / 2 * 2 * QK + (size_t)(j / 16) * 32 + (b % 2) * 16 + (size_t)(j % 16);
                row[at] = c;
            }
            xq->d[t * nb + b] = finite ? amax / 32767.0f : NAN;
            if (pairs) xq->bias4[t * ldb + b / 2 * 16 + (b % 2) * 8] = -8 * sum;
        }
}

/* ---- plain C ---- */

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

static void rows_scalar(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *W, bool q8, size_t n0, size_t n1) {
    size_t K = xq->K, nb = K / QK, bb = q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES;
    for (size_t n = n0; n < n1; n++)
        for (size_t t = 0; t < xq->T; t++) {
            float s = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *blk = W + (n * nb + b) * bb;
                int8_t w[QK];
                block_codes(blk, q8, w);
                const int16_t *x = xq->q + t * xq->ldq + b * QK;
                int32_t is = 0;
                for (int j = 0; j < QK; j++) is += (int32_t)w[j] * x[j];
                s += f16_at(blk) * xq->d[t * nb + b] * (float)is;
            }
            y[t * ldy + n] = s;
        }
}

#ifdef CT_GEMVQ_X86
/* ---- AVX2: one block at a time (ggml's mul_sum_i8_pairs_float) ---- */

/* The block's 32 signed codes. */
AVX2Q_TARGET static inline __m256i avx2_codes(const uint8_t *blk, bool q8) {
    if (q8) return _mm256_loadu_si256((const __m256i *)(blk + 2));
    __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2)), m = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

AVX2Q_TARGET static inline float avx2_hsum(__m256 a) {
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
    return _mm_cvtss_f32(s4);
}

AVX2Q_TARGET static inline __attribute__((always_inline)) void
avx2_row(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *wr, bool q8, size_t TT, size_t n) {
    size_t K = xq->K, nb = K / QK, bb = q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES;
    __m256 acc[CT_GEMV_MAX_T];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[t] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *blk = wr + b * bb;
        __m256i w = avx2_codes(blk, q8);
        __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w)), w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1));
        float dw = _cvtsh_ss((unsigned short)(blk[0] | (blk[1] << 8)));
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
            const int16_t *x = xq->q + t * xq->ldq + b * QK;
            __m256i p = _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)x)),
                                         _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(x + 16))));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * xq->d[t * nb + b]), acc[t]);
        }
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) y[t * ldy + n] = avx2_hsum(acc[t]);
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

/* ---- AVX-512: two blocks per pair of 32-int16 vectors ---- */

/* The codes of blocks b0 and b1 (b1 NULL: zeros) as int16: *wa = [b0 0..15 | b1 0..15],
 * *wb = [b0 16..31 | b1 16..31] (the activation layout of ct_gemvq_prepare); Q4_0's codes
 * unsigned (0..15: the -8 is the activation's bias4). */
AVX512Q_TARGET static inline void avx512_codes2(const uint8_t *b0, const uint8_t *b1, bool q8, __m512i *wa,
                                                __m512i *wb) {
    if (q8) {
        __m256i a = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + 2)));
        __m256i c = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + 18)));
        if (b1) {
            a = _mm256_inserti128_si256(a, _mm_loadu_si128((const __m128i *)(b1 + 2)), 1);
            c = _mm256_inserti128_si256(c, _mm_loadu_si128((const __m128i *)(b1 + 18)), 1);
        }
        *wa = _mm512_cvtepi8_epi16(a), *wb = _mm512_cvtepi8_epi16(c);
        return;
    }
    __m256i v = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + 2)));
    if (b1) v = _mm256_inserti128_si256(v, _mm_loadu_si128((const __m128i *)(b1 + 2)), 1);
    __m512i z = _mm512_cvtepu8_epi16(v);
    *wa = _mm512_and_si512(z, _mm512_set1_epi16(0x0f));
    *wb = _mm512_srli_epi16(z, 4);
}

AVX512Q_TARGET static inline __attribute__((always_inline)) void
avx512_row(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *wr, bool q8, size_t TT, size_t n) {
    size_t nb = xq->K / QK, bb = q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES;
    const __m512i lo8 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512 acc[CT_GEMV_MAX_T];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[t] = _mm512_setzero_ps();
    for (size_t p = 0; p < nb; p += 2) {
        const uint8_t *b0 = wr + p * bb;
        bool two = p + 1 < nb;
        __m512i wa, wb;
        avx512_codes2(b0, two ? b0 + bb : NULL, q8, &wa, &wb);
        /* the two f16 scales -> [dw0, dw1] */
        uint32_t h = (uint32_t)(b0[0] | (b0[1] << 8)) | (two ? (uint32_t)(b0[bb] | (b0[bb + 1] << 8)) << 16 : 0u);
        __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128((int)h));
        const int16_t *xp = xq->q + p * QK;
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
            const int16_t *xt = xp + t * xq->ldq;
            __m512i s0 = q8 ? _mm512_setzero_si512() : _mm512_loadu_si512((const void *)(xq->bias4 + p * 8 + t * xq->ldq / 4));
            __m512i s = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(s0, wa, _mm512_loadu_si512((const void *)xt)), wb,
                                            _mm512_loadu_si512((const void *)(xt + 32)));
            const float *d = xq->d + t * nb + p; /* a lone last block: [dx0, 0] (nothing read past it) */
            __m128 dx = _mm_load_ss(d);
            if (two) {
                uint64_t u; /* d is only 4-byte aligned */
                memcpy(&u, d, sizeof u);
                dx = _mm_castsi128_ps(_mm_cvtsi64_si128((long long)u));
            }
            __m512 sc = _mm512_permutexvar_ps(lo8, _mm512_castps128_ps512(_mm_mul_ps(dw, dx)));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc[t]);
        }
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) y[t * ldy + n] = _mm512_reduce_add_ps(acc[t]);
}

AVX512Q_TARGET static void rows_avx512(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *W, bool q8,
                                       size_t n0, size_t n1) {
    size_t rb = xq->K / QK * (q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES);
#undef ROWS
#define ROWS(TT, Q)                                                                                                    \
    for (size_t n = n0; n < n1; n++) avx512_row(y, ldy, xq, W + n * rb, Q, TT, n);                                   \
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
