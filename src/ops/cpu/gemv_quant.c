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
 *   2. per row n and weight block b: the exact int32 block sum isum_b = sum_j w_j q_j (w_j the
 *      int8 code, or code - 8 for Q4_0); s_b = f16->f32(dw_b) * f16->f32(dx_b) in f32 (as ggml);
 *      acc_(b mod 2) = fma(float(isum_b), s_b, acc_(b mod 2)) (even and odd blocks in two f32
 *      accumulators, from 0), y = acc_0 + acc_1. This is the scalar level's definition, and every
 *      level gives its bits (the integer sums are exact in any order).
 *
 * So the result is llama.cpp's on the same blocks up to f32 summation order (ggml's repacked
 * Q4_0 path also takes one f32 FMA per row and block, in its own order), and differs from the
 * f32 product with the dequantized weights by the activation's rounding: |x - d q| <= amax / 254
 * + amax 2^-11 per element (half a step of amax / 127, plus the scale's f16 rounding), which flips
 * greedy near-ties now and then (tests/test_quant_infer.c states the logit tolerance;
 * tests/cli/quant_llama_cpp.sh compares with llama.cpp itself). tests/test_gemv_quant.c checks
 * every level against the scalar one bitwise, the scalar one against a plain restatement of
 * ggml's math, and all against the dequantized f32 reference within that bound.
 *
 * Layout (ggml_blocks.h, packed at load by ct_ggml_pack8; the idea of ggml-cpu's "repack"): rows
 * in groups of 8, per block the 8 rows' f16 scales together, then the 8 rows' codes in 4-byte
 * chunks, so one 256-bit load holds the same 4 codes of 8 rows, an int32 lane per row. A token's
 * 4 activation codes are broadcast to the 8 lanes and each lane accumulates its own row's block
 * sum: no horizontal reductions, and the f32 part (int -> f32 of the 8 sums, the 8 scales dw (one
 * vcvtph2ps) times dx, the FMA) is one 256-bit instruction each per block for 8 rows, where the
 * row-by-row layout took a convert, a scale product and an FMA per row and block. Tail rows (N
 * mod 8) stay plain and go through the scalar code (at most 7 rows of a matrix).
 *
 * Integer products, all exact: Q8_0 by ggml's sign trick, |w| (u8) times q with w's sign (s8):
 * maddubs pairs are at most 2 * 128 * 127 < 32767 (no int16 saturation: |q| <= 127, |w| <= 128),
 * then vpmaddwd with ones; Q4_0 by the unsigned nibbles c = w + 8 (0..15) times q, the 8 chunks'
 * maddubs pairs summed in int16 (|8 * 2 * 15 * 127| <= 30480) before one vpmaddwd, plus the
 * block's -8 * (sum of its 32 q), computed once per token (bias). With AVX-512 VNNI the pair
 * vpmaddubsw + vpmaddwd is one vpdpbusd (256-bit, EVEX).
 * Levels: AVX-512 (vpdpbusd on 256-bit vectors when the CPU has VNNI, else as AVX2: a 512-bit
 * vector would hold 16 rows, but the f32 part is 8 rows wide and CPUs that split 512-bit ops in
 * two 256-bit halves gain nothing), AVX2 (vpmaddubsw + vpmaddwd) and plain C; each weight vector
 * is loaded and unpacked once per call for all T tokens. A row's arithmetic does not depend on T,
 * the rows around it or the thread that computes it: results are identical for any batch, thread
 * count and partition (like gemv.c; a range that splits a group computes the group and keeps its
 * rows). */
#include <math.h>
#include <string.h>

#include "ops/cpu/cpu.h"
#include "ops/kernels.h"
#include "quant/ggml_blocks.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CT_GEMVQ_X86 1
#include <immintrin.h>
#define AVX2Q_TARGET __attribute__((target("avx2,fma,f16c")))
#endif

#define QK CT_GGML_QK

bool ct_gemvq_level_available(ct_gemv_level lv) { return ct_gemv_level_available(lv); /* gemv.c's CPU checks */ }

ct_gemv_level ct_gemvq_level_best(void) { return ct_gemv_level_best(); }

static int g_vnni_off; /* ct_gemv_int8_vnni(false): tests run the non-VNNI products on a VNNI CPU */

bool ct_cpu_int8_vnni(void) {
#ifdef CT_GEMVQ_X86
    __builtin_cpu_init();
    return !__atomic_load_n(&g_vnni_off, __ATOMIC_RELAXED) && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

bool ct_gemv_int8_vnni(bool allow) {
    __atomic_store_n(&g_vnni_off, !allow, __ATOMIC_RELAXED);
    return ct_cpu_int8_vnni();
}

/* ---- the quantized activations (the same at every level) ---- */

size_t ct_gemvq_x_bytes(ct_gemv_level lv, size_t T, size_t K) {
    (void)lv;
    size_t nb = K / QK;
    return T * nb * (sizeof(float) + sizeof(int32_t)) + T * nb * QK + 64;
}

#ifdef CT_GEMVQ_X86
/* The scalar loop below, 8 lanes at a time (the vector levels): max |x| by vmaxps (the same value
 * when the block is finite, the only case it is used), x * id multiplied in f32 and rounded by
 * vcvtps2dq in the current rounding mode as nearbyintf, packed to int8 in element order. */
AVX2Q_TARGET static void prepare_avx2(ct_gemvq_x *xq, const float *x, size_t T, size_t K) {
    size_t nb = K / QK;
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), inf = _mm256_set1_ps(INFINITY);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (size_t t = 0; t < T; t++) {
        int8_t *row = xq->q + t * xq->ldq;
        for (size_t b = 0; b < nb; b++) {
            const float *v = x + t * K + b * QK;
            __m256 vi[4], mx = _mm256_setzero_ps();
            bool finite = true;
            for (int i = 0; i < 4; i++) {
                vi[i] = _mm256_loadu_ps(v + 8 * i);
                __m256 a = _mm256_and_ps(vi[i], absm);
                finite &= _mm256_movemask_ps(_mm256_cmp_ps(a, inf, _CMP_LT_OQ)) == 0xff;
                mx = _mm256_max_ps(mx, a);
            }
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            float amax = _mm_cvtss_f32(m4);
            float d = ct_f16_to_f32(ct_f32_to_f16(amax / 127.0f));
            bool use = finite && d != 0.0f;
            int32_t sum = 0;
            if (use) {
                __m256 id = _mm256_set1_ps(127.0f / amax);
                __m256i q[4];
                for (int i = 0; i < 4; i++) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(vi[i], id));
                __m256i s4 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
                __m128i s2 = _mm_add_epi32(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
                s2 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0x4e));
                s2 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xb1));
                sum = _mm_cvtsi128_si32(s2);
                __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
                _mm256_storeu_si256((__m256i *)(row + b * QK), _mm256_permutevar8x32_epi32(p, order));
            } else {
                memset(row + b * QK, 0, QK);
            }
            xq->d[t * nb + b] = finite ? d : NAN;
            xq->bias[t * nb + b] = -8 * sum;
        }
    }
}
#endif

void ct_gemvq_prepare(ct_gemv_level lv, ct_gemvq_x *xq, void *mem, const float *x, size_t T, size_t K) {
    size_t nb = K / QK;
    xq->d = (float *)mem; /* block scales, Q4_0 block offsets, then the codes */
    xq->bias = (int32_t *)(xq->d + T * nb);
    xq->q = (int8_t *)(xq->bias + T * nb);
    xq->T = T, xq->K = K, xq->ldq = nb * QK;
#ifdef CT_GEMVQ_X86
    if (lv != CT_GEMV_SCALAR) {
        prepare_avx2(xq, x, T, K);
        return;
    }
#else
    (void)lv;
#endif
    for (size_t t = 0; t < T; t++) {
        int8_t *row = xq->q + t * xq->ldq;
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
            int32_t sum = 0;
            for (int j = 0; j < QK; j++) {
                row[b * QK + (size_t)j] = use ? (int8_t)nearbyintf(v[j] * id) : 0;
                sum += row[b * QK + (size_t)j];
            }
            xq->d[t * nb + b] = finite ? d : NAN;
            xq->bias[t * nb + b] = -8 * sum;
        }
    }
}

/* ---- plain C: the reference order (header comment, step 2), any row, packed or not ---- */

static inline float f16_at(const uint8_t *p) { return ct_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

/* The 32 signed codes of a plain block. */
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

static void rows_scalar(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *W, size_t N, bool q8, size_t n0,
                        size_t n1) {
    size_t K = xq->K, nb = K / QK;
    for (size_t n = n0; n < n1; n++) {
        float acc[CT_GEMV_MAX_T][2] = {{0}};
        for (size_t b = 0; b < nb; b++) {
            uint8_t blk[CT_GGML_Q8_0_BYTES];
            int8_t w[QK];
            ct_ggml_block_at(W, N, K, q8, n, b, blk);
            block_codes(blk, q8, w);
            float dw = f16_at(blk);
            for (size_t t = 0; t < xq->T; t++) {
                const int8_t *x = xq->q + t * xq->ldq + b * QK;
                int32_t isum = 0;
                for (int j = 0; j < QK; j++) isum += (int32_t)w[j] * x[j];
                acc[t][b % 2] = fmaf((float)isum, dw * xq->d[t * nb + b], acc[t][b % 2]);
            }
        }
        for (size_t t = 0; t < xq->T; t++) y[t * ldy + n] = acc[t][0] + acc[t][1];
    }
}

#ifdef CT_GEMVQ_X86
/* ---- AVX2 / AVX-512 VNNI: one group of 8 packed rows, lanes = rows ---- */

/* vpdpbusd (AVX-512 VNNI + VL) on 256-bit vectors, spelled out (the target lacks the intrinsic);
 * it only runs where ct_cpu_int8_vnni(). acc + per int32 lane the sum of 4 u8 x s8 products. */
AVX2Q_TARGET static inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}

/* Codes c*4 .. c*4 + 3 of token t's block b, broadcast to the 8 lanes. */
AVX2Q_TARGET static inline __m256i xchunk(const int8_t *xb, size_t c) {
    int32_t v;
    memcpy(&v, xb + 4 * c, 4);
    return _mm256_set1_epi32(v);
}

/* o[t * ldo + 0..7] = rows 0..7 of group G (its 8 * K / 32 packed blocks) for tokens 0..TT-1. */
AVX2Q_TARGET static inline __attribute__((always_inline)) void
group8(float *o, size_t ldo, const ct_gemvq_x *xq, const uint8_t *G, bool q8, bool vnni, size_t TT) {
    size_t nb = xq->K / QK, gb = 8 * ct_ggml_block_bytes(q8);
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[CT_GEMV_MAX_T][2];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    /* blocks in pairs, so that acc[t][j] is indexed by constants (acc[t][b % 2] kept acc on the stack) */
    for (size_t b0 = 0; b0 < nb; b0 += 2) {
        _Pragma("GCC unroll 2") for (size_t j = 0; j < 2; j++) {
            size_t b = b0 + j;
            if (b >= nb) break;
            const uint8_t *blk = G + b * gb;
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)); /* the 8 rows' scales */
            __m256i s[CT_GEMV_MAX_T];
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) s[t] = _mm256_setzero_si256();
            if (q8) {
                _Pragma("GCC unroll 8") for (size_t c = 0; c < 8; c++) {
                    __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * c)), aw = _mm256_sign_epi8(w, w);
                    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                        __m256i sx = _mm256_sign_epi8(xchunk(xq->q + t * xq->ldq + b * QK, c), w);
                        s[t] = vnni ? dpbusd(s[t], aw, sx)
                                    : _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones));
                    }
                }
            } else {
                /* chunk c: low nibbles are codes 4c.., high nibbles codes 16 + 4c.. (int16 sums: header) */
                _Pragma("GCC unroll 4") for (size_t c = 0; c < 4; c++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * c));
                    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                        const int8_t *xb = xq->q + t * xq->ldq + b * QK;
                        if (vnni)
                            s[t] = dpbusd(dpbusd(s[t], lo, xchunk(xb, c)), hi, xchunk(xb, c + 4));
                        else
                            s[t] = _mm256_add_epi16(s[t],
                                                    _mm256_add_epi16(_mm256_maddubs_epi16(lo, xchunk(xb, c)),
                                                                     _mm256_maddubs_epi16(hi, xchunk(xb, c + 4))));
                    }
                }
                _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                    if (!vnni) s[t] = _mm256_madd_epi16(s[t], ones);
                    s[t] = _mm256_add_epi32(s[t], _mm256_set1_epi32(xq->bias[t * nb + b]));
                }
            }
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(xq->d[t * nb + b]));
                acc[t][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), sc, acc[t][j]);
            }
        }
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) _mm256_storeu_ps(o + t * ldo, _mm256_add_ps(acc[t][0], acc[t][1]));
}

/* Rows [n0, n1) of the packed groups (n1 <= N / 8 * 8): whole groups straight into y, a group the
 * range cuts through into a stack tile, then its rows in range. */
AVX2Q_TARGET static inline __attribute__((always_inline)) void
groups(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *W, bool q8, bool vnni, size_t TT, size_t n0,
       size_t n1) {
    size_t gbytes = xq->K / QK * 8 * ct_ggml_block_bytes(q8);
    for (size_t g = n0 / 8; g * 8 < n1; g++) {
        if (g * 8 >= n0 && g * 8 + 8 <= n1) {
            group8(y + g * 8, ldy, xq, W + g * gbytes, q8, vnni, TT);
            continue;
        }
        float tile[CT_GEMV_MAX_T * 8];
        group8(tile, 8, xq, W + g * gbytes, q8, vnni, TT);
        for (size_t n = g * 8 > n0 ? g * 8 : n0; n < g * 8 + 8 && n < n1; n++)
            for (size_t t = 0; t < TT; t++) y[t * ldy + n] = tile[t * 8 + n - g * 8];
    }
}

AVX2Q_TARGET static void rows_packed(float *y, size_t ldy, const ct_gemvq_x *xq, const uint8_t *W, bool q8,
                                     bool vnni, size_t n0, size_t n1) {
#define ROWS(TT, Q, V)                                                                                                 \
    groups(y, ldy, xq, W, Q, V, TT, n0, n1);                                                                           \
    break
#define BY_T(Q, V)                                                                                                     \
    switch (xq->T) {                                                                                                   \
    case 1: ROWS(1, Q, V); case 2: ROWS(2, Q, V); case 3: ROWS(3, Q, V); case 4: ROWS(4, Q, V);                        \
    case 5: ROWS(5, Q, V); case 6: ROWS(6, Q, V); case 7: ROWS(7, Q, V); default: ROWS(8, Q, V);                       \
    }
    if (q8 && vnni) {
        BY_T(true, true)
    } else if (q8) {
        BY_T(true, false)
    } else if (vnni) {
        BY_T(false, true)
    } else {
        BY_T(false, false)
    }
#undef ROWS
#undef BY_T
}
#endif

void ct_gemvq_rows(ct_gemv_level lv, float *y, size_t ldy, const ct_gemvq_x *xq, const ct_tensor *W, size_t n0,
                   size_t n1) {
    const uint8_t *w = (const uint8_t *)W->data;
    bool q8 = W->dtype == CT_DTYPE_Q8_0;
    size_t N = (size_t)W->shape[0], n8 = N / 8 * 8;
    if (n0 >= n1 || xq->T == 0) return;
#ifdef CT_GEMVQ_X86
    if ((lv == CT_GEMV_AVX512 || lv == CT_GEMV_AVX2) && n0 < n8) {
        rows_packed(y, ldy, xq, w, q8, lv == CT_GEMV_AVX512 && ct_cpu_int8_vnni(), n0, n1 < n8 ? n1 : n8);
        n0 = n8;
    }
#else
    (void)lv;
#endif
    if (n0 < n1) rows_scalar(y, ldy, xq, w, N, q8, n0, n1);
}

typedef struct gemvq_call {
    ct_gemv_level lv;
    float *const *ys;
    const ct_gemvq_x *xq;
    const ct_tensor *const *Ws;
} gemvq_call;

static void gemvq_part(void *user, size_t i, size_t a, size_t b) {
    const gemvq_call *g = user;
    ct_gemvq_rows(g->lv, g->ys[i], (size_t)g->Ws[i]->shape[0], g->xq, g->Ws[i], a, b);
}

void ct_gemvq_forward(ct_ctx *c, ct_gemv_level lv, float *const *ys, const float *x, const ct_tensor *const *Ws,
                      size_t n, size_t T, size_t K) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += ct_tensor_nbytes(Ws[i]);
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    ct_gemvq_x xq;
    ct_gemvq_prepare(lv, &xq, ct_scratch_f32(ar, (ct_gemvq_x_bytes(lv, T, K) + 3) / 4), x, T, K);
    /* ranges cut at multiples of 8 rows (whole row groups) */
    gemvq_call g = {lv, ys, &xq, Ws};
    ct_cpu_gemv_parallel(c, Ws, n, bytes, 8, gemvq_part, &g);
    ct_arena_release(ar, mk);
}
