/* Decode GEMV for ggml's K-quant weights Q4_K / Q5_K / Q6_K and IQ4_XS (super-blocks of 256,
 * stored row by row as in a GGUF file; layouts in src/quant/ggml_dequant.c): y[T, N] = x[T, K] W[N, K]^T for
 * T <= CT_GEMV_MAX_T tokens, with llama.cpp's numerics: ggml's vec_dot_type for these weights is
 * Q8_K, so the activations are quantized to Q8_K blocks and multiplied with integer dot products
 * (ggml_vec_dot_q4_K_q8_K and friends). Here:
 *
 *   1. each token's row of x is quantized once per call per block of 256 as ggml's
 *      quantize_row_q8_K_ref (the one x86 llama.cpp runs): amax = max |x_j| and max = the x_j of
 *      the first j with |x_j| = amax; amax = 0: d = 0, codes and bsums 0; else iscale = -127 / max
 *      (f32), q_j = nearest_int(iscale x_j) (round half to even, as ggml's add-1.5*2^23 trick),
 *      clamped to <= 127 (never reached: |iscale x_j| <= 127 (1 + 2^-24)^2 < 127.5, so |q| <= 127),
 *      bsums[i] = sum of codes 16 i .. 16 i + 15 (int16), d = 1 / iscale (f32); amax so small
 *      that iscale overflows (< 127 / FLT_MAX): codes 0 and d = 1 / iscale = -+0, what ggml's
 *      arithmetic gives there. A block holding a NaN or an infinity gets d = NaN, codes and bsums
 *      0, so the outputs it touches are NaN as on the f32 path (ggml skips NaNs in amax and codes
 *      them 0, silently; an infinity gives it d = -+inf and codes 0, so NaN outputs too). tests/fixtures/quant/ggml_q8k.safetensors
 *      holds ggml's own blocks for checking this bit for bit.
 *   2. per row n, token t and block b, exact int32 sums and then a fixed f32 order:
 *      Q4_K / Q5_K: d_w = f16 d, m_w = f16 dmin, 8 sub-blocks s of 32 with 6-bit scale sc_s and
 *        min mn_s, codes c (0..15, Q5_K 0..31): isum_b = sum_s sc_s sum_{j in s} c_j q_j,
 *        msum_b = sum_s mn_s (bsums[2s] + bsums[2s+1]); acc = fmaf(isum_b, d_x d_w, acc),
 *        acc2 = fmaf(msum_b, d_x m_w, acc2) (the products d_x d_w, d_x m_w rounded to f32 first),
 *        blocks in order from 0; y = acc - acc2.
 *      Q6_K: d_w = f16 d, 16 sub-blocks of 16 with int8 scale sc_s, codes c (0..63):
 *        isum_b = sum_s sc_s sum_j (c_j - 32) q_j; acc = fmaf(isum_b, d_x d_w, acc); y = acc.
 *      Q2_K: d_w, m_w = f16 d, dmin, 16 sub-blocks of 16 with 4-bit scale sc_s and min mn_s, codes
 *        c (0..3): isum_b = sum_s sc_s sum_j c_j q_j, msum_b = sum_s mn_s bsums[s], then as Q4_K;
 *        |isum| <= 256 * 15 * 3 * 127 < 2^21.
 *      Q3_K: d_w = f16 d, 16 sub-blocks of 16 with 6-bit scale ls_s - 32, codes c (-4..3: the low
 *        2 bits, minus 4 without the high bit): isum_b = sum_s (ls_s - 32) sum_j c_j q_j, then as
 *        Q6_K (the vector levels multiply c + 4 and subtract 4 sum_s (ls_s - 32) bsums[s]);
 *        |isum| <= 256 * 32 * 7 * 127 < 2^23.
 *      IQ4_XS: d_w = f16 d, 8 sub-blocks of 32 with scale ls_s - 32 (6-bit ls), codes c (0..15)
 *        into the levels L (-127 .. 113): isum_b = sum_s (ls_s - 32) sum_j L[c_j] q_j, then as
 *        Q6_K (ggml_vec_dot_iq4_xs_q8_K); |isum| <= 256 * 32 * 127 * 127 < 2^27.
 *      This is the weights' value w = d_w sc c - m_w mn (Q6_K: d_w sc (c - 32)) times x ~ d_x q,
 *      ggml's math; its float order differs (ggml sums lanes in f32), so we match llama.cpp up to
 *      f32 rounding. int32 bounds (|q| <= 127): Q4_K |isum| <= 256 * 63 * 15 * 127 < 2^25,
 *      Q5_K <= 256 * 63 * 31 * 127 < 2^26, msum <= 8 * 63 * 32 * 127 < 2^21, Q6_K
 *      <= 256 * 128 * 63 * 127 < 2^28 (the c q part; the -32 part as large); int16 pair sums of
 *      vpmaddubsw <= 2 * 63 * 127 = 16002 (no saturation). (float)isum rounds (to nearest even)
 *      once |isum| >= 2^24, the same at every level.
 *
 * Levels (gemv.c's CPU checks): plain C (the definition above), AVX2 and AVX-512 (the AVX2 code,
 * with vpdpwssd (AVX-512 VNNI, 256-bit) fusing vpmaddwd and the add where the CPU has it). The
 * vector levels take 4 rows at a time (the last group of a range repeats its last row): per row
 * and block, 32-byte vectors of 32 codes (u8) times 32 activation codes (s8) by vpmaddubsw, the
 * int16 pair sums times the sub-block scale broadcast as int16 by vpmaddwd, int32 lanes summed;
 * the Q4_K/Q5_K mins by one vpmaddwd of the min of each bsums pair with the bsums; the Q6_K -32
 * by 32 * sum_s sc_s bsums[s] (one vpmaddwd). The 4 rows' (isum, msum) lane vectors are reduced
 * together by a transposing vphaddd tree to one vector of 8 int32, whose lanes then get the f32
 * step above lane by lane (one vcvtdq2ps, vmulps, vfmadd for 4 rows). Each weight block is loaded
 * and unpacked once per call for all T tokens. A row's arithmetic does not depend on T, the rows
 * around it or the thread computing it: results are the same for any batch, thread count and
 * partition, and every level gives the scalar level's bits. */
#include <math.h>
#include <string.h>

#include "ops/cpu/cpu.h"
#include "ops/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CT_GEMVK_X86 1
#include <immintrin.h>
#define AVX2K_TARGET __attribute__((target("avx2,fma,f16c")))
#endif

#define QKK 256

bool ct_gemvk_supported(ct_dtype dt) {
    return dt == CT_DTYPE_Q2_K || dt == CT_DTYPE_Q3_K || dt == CT_DTYPE_Q4_K || dt == CT_DTYPE_Q5_K ||
           dt == CT_DTYPE_Q6_K || dt == CT_DTYPE_IQ4_XS;
}

/* IQ4_XS's 16 levels (ggml's kvalues_iq4nl) */
static const int8_t k_iq4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

size_t ct_gemvk_block_bytes(ct_dtype dt) { return ct_gemvk_supported(dt) ? ct_dtype_info(dt)->block_bytes : 0; }

/* ---- the Q8_K activations (the same bytes at every level) ---- */

size_t ct_gemvk_x_bytes(ct_gemv_level lv, size_t T, size_t K) {
    (void)lv;
    size_t nb = K / QKK;
    return T * nb * (sizeof(float) + 16 * sizeof(int16_t)) + T * K + 64;
}

static void layout(ct_gemvk_x *xq, void *mem, size_t T, size_t K) {
    size_t nb = K / QKK;
    xq->d = (float *)mem; /* block scales, bsums, then the codes */
    xq->bsums = (int16_t *)(xq->d + T * nb);
    xq->q = (int8_t *)(xq->bsums + T * nb * 16);
    xq->T = T, xq->K = K, xq->ldq = K;
}

/* ggml's nearest_int: v + 1.5 * 2^23 in f32 leaves round-half-even(v) in the low mantissa bits. */
static inline int nearest_int(float v) {
    float f = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* One block of 256, plain C (the definition). */
static void quant_block_scalar(const float *v, int8_t *q, int16_t *bs, float *d) {
    float amax = 0.0f, max = 0.0f;
    bool finite = true;
    for (int j = 0; j < QKK; j++) {
        float a = fabsf(v[j]);
        finite &= isfinite(v[j]) != 0;
        if (a > amax) amax = a, max = v[j];
    }
    memset(bs, 0, 16 * sizeof(int16_t));
    if (!finite || amax == 0.0f) {
        memset(q, 0, QKK);
        *d = finite ? 0.0f : NAN;
        return;
    }
    float iscale = -127.0f / max;
    if (!isfinite(iscale)) { /* amax < 127 / FLT_MAX: ggml's codes come out 0 (int8 of -2^22) */
        memset(q, 0, QKK);
        *d = 1.0f / iscale;
        return;
    }
    for (int j = 0; j < QKK; j++) {
        int c = nearest_int(iscale * v[j]);
        q[j] = (int8_t)(c < 127 ? c : 127);
        bs[j / 16] = (int16_t)(bs[j / 16] + q[j]);
    }
    *d = 1.0f / iscale;
}

#ifdef CT_GEMVK_X86
/* sum of all lanes of v0 .. v7, lane i = sum of v_i (a transposing vphaddd tree) */
AVX2K_TARGET static inline __m256i red8(__m256i v0, __m256i v1, __m256i v2, __m256i v3, __m256i v4, __m256i v5,
                                        __m256i v6, __m256i v7) {
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v4, v5), _mm256_hadd_epi32(v6, v7));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x21), _mm256_blend_epi32(a, b, 0xf0));
}

/* The scalar block quantizer, 8 lanes at a time: the same f32 product iscale * x rounded by
 * vcvtps2dq (round half to even in the default mode: ggml's nearest_int for |v| < 2^22). */
AVX2K_TARGET static void quant_block_avx2(const float *v, int8_t *q, int16_t *bs, float *d) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), inf = _mm256_set1_ps(INFINITY);
    __m256 mx = _mm256_setzero_ps();
    bool finite = true;
    for (int i = 0; i < QKK / 8; i++) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(v + 8 * i), absm);
        finite &= _mm256_movemask_ps(_mm256_cmp_ps(a, inf, _CMP_LT_OQ)) == 0xff;
        mx = _mm256_max_ps(mx, a);
    }
    memset(bs, 0, 16 * sizeof(int16_t));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    if (!finite || amax == 0.0f) {
        memset(q, 0, QKK);
        *d = finite ? 0.0f : NAN;
        return;
    }
    float max = 0.0f; /* the first element of largest magnitude */
    __m256 am = _mm256_set1_ps(amax);
    for (int i = 0; i < QKK / 8; i++) {
        int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(v + 8 * i), absm), am, _CMP_EQ_OQ));
        if (m) {
            max = v[8 * i + __builtin_ctz((unsigned)m)];
            break;
        }
    }
    float iscale = -127.0f / max;
    if (!isfinite(iscale)) {
        memset(q, 0, QKK);
        *d = 1.0f / iscale;
        return;
    }
    const __m256 is = _mm256_set1_ps(iscale);
    const __m256i c127 = _mm256_set1_epi32(127), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i s[16];
    for (int i = 0; i < QKK / 32; i++) {
        __m256i c[4];
        for (int k = 0; k < 4; k++)
            c[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + 32 * i + 8 * k), is)), c127);
        s[2 * i] = _mm256_add_epi32(c[0], c[1]), s[2 * i + 1] = _mm256_add_epi32(c[2], c[3]);
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
        _mm256_storeu_si256((__m256i *)(q + 32 * i), _mm256_permutevar8x32_epi32(p, order));
    }
    __m256i lo = red8(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
    __m256i hi = red8(s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]);
    _mm256_storeu_si256((__m256i *)bs, _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xd8));
    *d = 1.0f / iscale;
}
#endif

void ct_gemvk_prepare(ct_gemv_level lv, ct_gemvk_x *xq, void *mem, const float *x, size_t T, size_t K) {
    size_t nb = K / QKK;
    layout(xq, mem, T, K);
    for (size_t t = 0; t < T; t++)
        for (size_t b = 0; b < nb; b++) {
            const float *v = x + t * K + b * QKK;
            int8_t *q = xq->q + t * xq->ldq + b * QKK;
            int16_t *bs = xq->bsums + (t * nb + b) * 16;
            float *d = xq->d + t * nb + b;
#ifdef CT_GEMVK_X86
            if (lv != CT_GEMV_SCALAR) {
                quant_block_avx2(v, q, bs, d);
                continue;
            }
#else
            (void)lv;
#endif
            quant_block_scalar(v, q, bs, d);
        }
}

/* ---- plain C: the definition (header comment, step 2) ---- */

static inline float f16_at(const uint8_t *p) { return ct_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

/* Q4_K / Q5_K's 12 scale bytes: sub-block j's 6-bit scale and min (ggml's get_scale_min_k4). */
static inline void k4_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63, mn[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0x0f) | ((s[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

/* Q3_K's 12 scale bytes: the 16 6-bit scales (low nibbles of bytes 0..7, then their high
 * nibbles; bits 4-5 from bytes 8..11, two per scale), as ggml unpacks them, minus 32. */
static void k3_scales(const uint8_t *s, int32_t out[4]) {
    uint32_t a0, a1, t;
    memcpy(&a0, s, 4), memcpy(&a1, s + 4, 4), memcpy(&t, s + 8, 4);
    out[0] = (int32_t)((a0 & 0x0f0f0f0fu) | ((t & 0x03030303u) << 4));
    out[1] = (int32_t)((a1 & 0x0f0f0f0fu) | (((t >> 2) & 0x03030303u) << 4));
    out[2] = (int32_t)(((a0 >> 4) & 0x0f0f0f0fu) | (((t >> 4) & 0x03030303u) << 4));
    out[3] = (int32_t)(((a1 >> 4) & 0x0f0f0f0fu) | (((t >> 6) & 0x03030303u) << 4));
}

static void rows_scalar(float *y, size_t ldy, const ct_gemvk_x *xq, const ct_tensor *W, size_t n0, size_t n1) {
    size_t K = xq->K, nb = K / QKK, bb = ct_gemvk_block_bytes(W->dtype);
    bool q6 = W->dtype == CT_DTYPE_Q6_K, q5 = W->dtype == CT_DTYPE_Q5_K, iq4 = W->dtype == CT_DTYPE_IQ4_XS;
    bool q2 = W->dtype == CT_DTYPE_Q2_K, q3 = W->dtype == CT_DTYPE_Q3_K, mins = !q6 && !iq4 && !q3;
    for (size_t n = n0; n < n1; n++) {
        float acc[CT_GEMV_MAX_T] = {0}, acc2[CT_GEMV_MAX_T] = {0};
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = (const uint8_t *)W->data + (n * nb + b) * bb;
            int c[QKK], sc[16], mn[16] = {0}, nsub = q6 || q2 || q3 ? 16 : 8;
            float dw, mw = 0.0f;
            if (q3) { /* hmask @0, low bits @32, scales @96, d @108: e = 128 n + 32 j + r, code = bits 2 j of
                       * byte 32 n + r of the low bits, minus 4 unless bit 4 n + j of hmask[r] */
                for (int e = 0; e < QKK; e++) {
                    int n = e / 128, j = e % 128 / 32, r = e % 32;
                    c[e] = ((blk[32 + 32 * n + r] >> (2 * j)) & 3) - ((blk[r] >> (4 * n + j)) & 1 ? 0 : 4);
                }
                int32_t s4[4];
                k3_scales(blk + 96, s4);
                for (int s = 0; s < 16; s++) sc[s] = (int)(((uint32_t)s4[s / 4] >> (8 * (s % 4))) & 0xff) - 32;
                dw = f16_at(blk + 108);
            } else if (q2) { /* scales @0 (low nibble scale, high nibble min), codes @16, d @80, dmin @82 */
                for (int e = 0; e < QKK; e++) c[e] = (blk[16 + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
                for (int s = 0; s < 16; s++) sc[s] = blk[s] & 15, mn[s] = blk[s] >> 4;
                dw = f16_at(blk + 80), mw = f16_at(blk + 82);
            } else if (iq4) { /* d @0, scales_h @2, scales_l @4, codes @8: sub-block s's 16 bytes, low then high nibbles */
                unsigned sh = (unsigned)(blk[2] | blk[3] << 8);
                for (int s = 0; s < 8; s++) {
                    sc[s] = (((blk[4 + s / 2] >> (4 * (s % 2))) & 15) | (int)(((sh >> (2 * s)) & 3) << 4)) - 32;
                    for (int r = 0; r < 16; r++) {
                        c[32 * s + r] = k_iq4[blk[8 + 16 * s + r] & 15];
                        c[32 * s + r + 16] = k_iq4[blk[8 + 16 * s + r] >> 4];
                    }
                }
                dw = f16_at(blk);
            } else if (q6) { /* ql @0, qh @128, scales @192, d @208 */
                for (int e = 0; e < QKK; e++) {
                    int h = e / 128, k = e % 128 / 32, r = e % 32;
                    int low = (blk[64 * h + 32 * (k % 2) + r] >> (4 * (k / 2))) & 15;
                    c[e] = (low | (((blk[128 + 32 * h + r] >> (2 * k)) & 3) << 4)) - 32;
                }
                for (int s = 0; s < 16; s++) sc[s] = (int8_t)blk[192 + s];
                dw = f16_at(blk + 208);
            } else { /* d @0, dmin @2, scales @4, (Q5_K: qh @16,) nibbles @16 / @48 */
                uint8_t s8[8], m8[8];
                k4_scales(blk + 4, s8, m8);
                const uint8_t *qs = blk + (q5 ? 48 : 16);
                for (int e = 0; e < QKK; e++) {
                    int ch = e / 64, t = e % 64 / 32, r = e % 32;
                    c[e] = (qs[32 * ch + r] >> (4 * t)) & 15;
                    if (q5) c[e] |= ((blk[16 + r] >> (2 * ch + t)) & 1) << 4;
                }
                for (int s = 0; s < 8; s++) sc[s] = s8[s], mn[s] = m8[s];
                dw = f16_at(blk), mw = f16_at(blk + 2);
            }
            for (size_t t = 0; t < xq->T; t++) {
                const int8_t *q = xq->q + t * xq->ldq + b * QKK;
                const int16_t *bs = xq->bsums + (t * nb + b) * 16;
                int32_t isum = 0, msum = 0;
                for (int s = 0; s < nsub; s++) {
                    int32_t part = 0;
                    for (int j = s * (QKK / nsub); j < (s + 1) * (QKK / nsub); j++) part += c[j] * q[j];
                    isum += sc[s] * part;
                }
                float dx = xq->d[t * nb + b];
                acc[t] = fmaf((float)isum, dx * dw, acc[t]);
                if (mins) { /* Q2_K: a min per 16 (one bsum); Q4_K / Q5_K: per 32 (two) */
                    for (int s = 0; s < nsub; s++) msum += mn[s] * (q2 ? bs[s] : bs[2 * s] + bs[2 * s + 1]);
                    acc2[t] = fmaf((float)msum, dx * mw, acc2[t]);
                }
            }
        }
        for (size_t t = 0; t < xq->T; t++) y[t * ldy + n] = mins ? acc[t] - acc2[t] : acc[t];
    }
}

#ifdef CT_GEMVK_X86
/* ---- AVX2 / AVX-512 VNNI: 4 rows at a time ---- */

/* acc + the int32 pair products of a and b: vpdpwssd (AVX-512 VNNI + VL, 256-bit), spelled out
 * as the target lacks the intrinsic; it runs only where ct_cpu_int8_vnni(). */
AVX2K_TARGET static inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

/* acc + sum of the u8 codes c times the s8 activations x, the pairs times the int16 scale s */
AVX2K_TARGET static inline __attribute__((always_inline)) __m256i dot32(__m256i acc, __m256i c, const int8_t *x,
                                                                        __m256i s, bool vnni) {
    __m256i p = _mm256_maddubs_epi16(c, _mm256_loadu_si256((const __m256i *)x));
    return vnni ? dpwssd(acc, p, s) : _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
}

/* Software prefetch (prefetcht1) of the weights pf bytes ahead: the 4 rows of a group are
 * contiguous and groups follow each other, so row-block i of block b prefetches bb bytes at
 * rows[0] + (4 b + i) bb + pf, a linear stream at the rate the group consumes them; pf = one
 * group + 4 KiB. The hardware prefetchers do not follow the 4 interleaved row streams: without
 * this, Q4_K / Q6_K from memory ran at 7-12 GB/s on one thread (Zen 4), with it 17-24. Prefetch
 * instructions never fault (past the end of W included). */
#define PF_MIN 4096
static inline void prefetch_block(const uint8_t *p, size_t pf, size_t bb) {
    _Pragma("GCC unroll 4") for (size_t o = 0; o < bb; o += 64) __builtin_prefetch(p + pf + o, 0, 2);
}

static inline uint32_t u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The no-mins tail of block b (Q3_K, Q6_K, IQ4_XS): the 4 rows' isum vectors of each token
 * reduced (vphaddd tree) to lanes 0..3 and acc += isum (d_x d_w), d_w the f16 at byte doff of each
 * row's block. */
AVX2K_TARGET static inline __attribute__((always_inline)) void
acc_nomins(__m128 *acc, __m256i iv[4][CT_GEMV_MAX_T], const uint8_t *const rows[4], size_t b, size_t bb, size_t doff,
           const ct_gemvk_x *xq, size_t TT) {
    size_t nb = xq->K / QKK, o = b * bb + doff;
    __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short)(rows[0][o] | rows[0][o + 1] << 8), (short)(rows[1][o] | rows[1][o + 1] << 8),
                                            (short)(rows[2][o] | rows[2][o + 1] << 8), (short)(rows[3][o] | rows[3][o + 1] << 8),
                                            0, 0, 0, 0));
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
        __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(iv[0][t], iv[1][t]), _mm256_hadd_epi32(iv[2][t], iv[3][t]));
        __m128i si = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        __m128 sc = _mm_mul_ps(dw, _mm_set1_ps(xq->d[t * nb + b]));
        acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(si), sc, acc[t]);
    }
}

/* From 16 int16 scales, 8 per 128-bit lane: Sn = lane n in both lanes (n a constant). Then
 * scale_pair(Sn, j): lane 0 all scale 2 j of Sn, lane 1 all scale 2 j + 1 (a 32-code group of
 * two 16-element sub-blocks). */
AVX2K_TARGET static inline __m256i scale_lane(__m256i S, int n) {
    return n ? _mm256_permute2x128_si256(S, S, 0x11) : _mm256_permute2x128_si256(S, S, 0x00);
}
AVX2K_TARGET static inline __m256i scale_pair(__m256i Sn, int j) {
    return _mm256_shuffle_epi8(Sn, _mm256_set_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * j + 1))),
                                                    _mm_set1_epi16((short)(0x0100 + 0x0202 * 2 * j))));
}

/* s0 / s1 += one row block's 256 2-bit codes (bits 2 j of bytes 32 n .. 32 n + 31 of qs: the
 * 32-code group of sub-blocks 8 n + 2 j and 8 n + 2 j + 1), plus 4 times bit 4 n + j of hm[r]
 * when high (Q3_K's high bit; a constant, false for Q2_K), times the activations and the 16 int16
 * scales S (8 per 128-bit lane). */
AVX2K_TARGET static inline __attribute__((always_inline)) void
dot_codes2(__m256i *s0, __m256i *s1, __m256i S, const uint8_t *qs, bool high, const uint8_t *hm,
           const ct_gemvk_x *xq, size_t b, bool vnni, size_t TT) {
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256i h = high ? _mm256_loadu_si256((const __m256i *)hm) : _mm256_setzero_si256();
    _Pragma("GCC unroll 2") for (int n = 0; n < 2; n++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * n));
        __m256i Sn = scale_lane(S, n);
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            int hb = 4 * n + j;
            __m256i c = _mm256_and_si256(j ? _mm256_srli_epi16(v, 2 * j) : v, m3), sj = scale_pair(Sn, j);
            if (high) c = _mm256_or_si256(c, _mm256_slli_epi16(_mm256_and_si256(hb ? _mm256_srli_epi16(h, hb) : h, one), 2));
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                const int8_t *x = xq->q + t * xq->ldq + b * QKK + 128 * n + 32 * j;
                if (j % 2 == 0) s0[t] = dot32(s0[t], c, x, sj, vnni);
                else s1[t] = dot32(s1[t], c, x, sj, vnni);
            }
        }
    }
}

/* One Q2_K row block: s0 / s1 += the scaled code sums (dot_codes2), M = the 16 mins (int16) for
 * the bsums. */
AVX2K_TARGET static inline __attribute__((always_inline)) void
row_k2(__m256i *s0, __m256i *s1, __m256i *M, const uint8_t *blk, const ct_gemvk_x *xq, size_t b, bool vnni,
       size_t TT) {
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m128i sc8 = _mm_loadu_si128((const __m128i *)blk);
    __m256i S = _mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4)); /* lane n: scales 8 n .. 8 n + 7 */
    *M = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
    dot_codes2(s0, s1, S, blk + 16, false, NULL, xq, b, vnni, TT);
}

/* tile[t * 4 + i] = y of row rows[i] for token t: Q3_K, as quad_k6 (no mins). Codes c + 4 (0..7:
 * the low 2 bits | the high bit << 2) by vpmaddubsw, then the -4: 4 sum_s sc_s bsums[s]. */
AVX2K_TARGET static inline __attribute__((always_inline)) void
quad_k3(float *tile, const ct_gemvk_x *xq, const uint8_t *const rows[4], size_t pf, bool vnni, size_t TT) {
    size_t nb = xq->K / QKK, bb = 110;
    const __m256i c32 = _mm256_set1_epi16(32);
    __m128 acc[CT_GEMV_MAX_T];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[t] = _mm_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i iv[4][CT_GEMV_MAX_T];
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
            const uint8_t *blk = rows[i] + b * bb;
            prefetch_block(rows[0] + (4 * b + (size_t)i) * bb, pf, bb);
            int32_t s4[4];
            k3_scales(blk + 96, s4);
            __m256i S = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_setr_epi32(s4[0], s4[1], s4[2], s4[3])), c32);
            __m256i s[CT_GEMV_MAX_T], s1[CT_GEMV_MAX_T];
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                __m256i o = _mm256_madd_epi16(S, _mm256_loadu_si256((const __m256i *)(xq->bsums + (t * nb + b) * 16)));
                s[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(o, 2));
                s1[t] = _mm256_setzero_si256();
            }
            dot_codes2(s, s1, S, blk + 32, true, blk, xq, b, vnni, TT);
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) iv[i][t] = _mm256_add_epi32(s[t], s1[t]);
        }
        acc_nomins(acc, iv, rows, b, bb, 108, xq, TT);
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) _mm_storeu_ps(tile + t * 4, acc[t]);
}

/* tile[t * 4 + i] = y of row rows[i] for token t (0 <= t < TT): Q4_K (kind 4), Q5_K (5) or Q2_K (2). */
AVX2K_TARGET static inline __attribute__((always_inline)) void
quad_k4(float *tile, const ct_gemvk_x *xq, const uint8_t *const rows[4], size_t pf, int kind, bool vnni, size_t TT) {
    bool q5 = kind == 5, q2 = kind == 2;
    size_t nb = xq->K / QKK, bb = q2 ? 84 : q5 ? 176 : 144, dmo = q2 ? 80 : 0; /* dmo: d, dmin's offset */
    const __m256i m4 = _mm256_set1_epi8(0x0f), b5 = _mm256_set1_epi8(0x10);
    __m256 acc[CT_GEMV_MAX_T];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[t] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i iv[4][CT_GEMV_MAX_T], mv[4][CT_GEMV_MAX_T];
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
            const uint8_t *blk = rows[i] + b * bb, *qs = blk + (q5 ? 48 : 16);
            prefetch_block(rows[0] + (4 * b + (size_t)i) * bb, pf, bb);
            if (q2) {
                __m256i s0[CT_GEMV_MAX_T], s1[CT_GEMV_MAX_T], M;
                _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) s0[t] = s1[t] = _mm256_setzero_si256();
                row_k2(s0, s1, &M, blk, xq, b, vnni, TT);
                _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                    iv[i][t] = _mm256_add_epi32(s0[t], s1[t]);
                    mv[i][t] = _mm256_madd_epi16(M, _mm256_loadu_si256((const __m256i *)(xq->bsums + (t * nb + b) * 16)));
                }
                continue;
            }
            /* the 8 scales and mins (k4_scales on 32-bit words) */
            uint32_t a = u32_at(blk + 4), bw = u32_at(blk + 8), cw = u32_at(blk + 12);
            uint64_t sc = (uint64_t)(a & 0x3f3f3f3fu) | (uint64_t)((cw & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
            uint64_t mn = (uint64_t)(bw & 0x3f3f3f3fu) |
                          (uint64_t)(((cw >> 4) & 0x0f0f0f0fu) | ((bw >> 2) & 0x30303030u)) << 32;
            __m256i S = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
            __m128i m8 = _mm_cvtsi64_si128((long long)mn);
            __m256i M = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)); /* lane i: mn_(i/2) */
            __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
            __m256i s0[CT_GEMV_MAX_T], s1[CT_GEMV_MAX_T];
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) s0[t] = s1[t] = _mm256_setzero_si256();
            _Pragma("GCC unroll 4") for (int ch = 0; ch < 4; ch++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * ch));
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                if (q5) { /* fifth bit of sub-block j = 2 ch + t: bit j of qh, moved to bit 4 */
                    int j = 2 * ch;
                    __m256i h0 = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
                    __m256i h1 = j + 1 <= 4 ? _mm256_slli_epi16(qh, 3 - j) : _mm256_srli_epi16(qh, j - 3);
                    lo = _mm256_or_si256(lo, _mm256_and_si256(h0, b5));
                    hi = _mm256_or_si256(hi, _mm256_and_si256(h1, b5));
                }
                __m256i sl = _mm256_shuffle_epi8(S, _mm256_set1_epi16((short)(0x0100 + 0x0202 * 2 * ch)));
                __m256i sh = _mm256_shuffle_epi8(S, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * ch + 1))));
                _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                    const int8_t *x = xq->q + t * xq->ldq + b * QKK + 64 * ch;
                    if (ch % 2 == 0) s0[t] = dot32(dot32(s0[t], lo, x, sl, vnni), hi, x + 32, sh, vnni);
                    else s1[t] = dot32(dot32(s1[t], lo, x, sl, vnni), hi, x + 32, sh, vnni);
                }
            }
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                iv[i][t] = _mm256_add_epi32(s0[t], s1[t]);
                mv[i][t] = _mm256_madd_epi16(M, _mm256_loadu_si256((const __m256i *)(xq->bsums + (t * nb + b) * 16)));
            }
        }
        /* lanes (isum, msum) of rows 0..3; the scales d, dmin of the 4 rows in the same order */
        __m256 dm = _mm256_cvtph_ps(_mm_setr_epi32((int)u32_at(rows[0] + b * bb + dmo), (int)u32_at(rows[1] + b * bb + dmo),
                                                   (int)u32_at(rows[2] + b * bb + dmo), (int)u32_at(rows[3] + b * bb + dmo)));
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
            __m256i s = red8(iv[0][t], mv[0][t], iv[1][t], mv[1][t], iv[2][t], mv[2][t], iv[3][t], mv[3][t]);
            __m256 sc = _mm256_mul_ps(dm, _mm256_set1_ps(xq->d[t * nb + b]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), sc, acc[t]);
        }
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
        float a[8];
        _mm256_storeu_ps(a, acc[t]);
        for (int i = 0; i < 4; i++) tile[t * 4 + i] = a[2 * i] - a[2 * i + 1];
    }
}

/* The same for Q6_K: lanes = rows 0..3 of one 128-bit vector of isums. */
AVX2K_TARGET static inline __attribute__((always_inline)) void
quad_k6(float *tile, const ct_gemvk_x *xq, const uint8_t *const rows[4], size_t pf, bool vnni, size_t TT) {
    size_t nb = xq->K / QKK, bb = 210;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m128 acc[CT_GEMV_MAX_T];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[t] = _mm_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i iv[4][CT_GEMV_MAX_T];
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
            const uint8_t *blk = rows[i] + b * bb;
            prefetch_block(rows[0] + (4 * b + (size_t)i) * bb, pf, bb);
            __m256i S = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192))); /* 16 int16 scales */
            __m256i s[CT_GEMV_MAX_T], s1[CT_GEMV_MAX_T];
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                /* the -32: 32 sum_s sc_s bsums[s] */
                __m256i o = _mm256_madd_epi16(S, _mm256_loadu_si256((const __m256i *)(xq->bsums + (t * nb + b) * 16)));
                s[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(o, 5));
                s1[t] = _mm256_setzero_si256();
            }
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
                /* both lanes: the scales 8h .. 8h + 7 */
                __m256i Sh = scale_lane(S, h);
                __m256i L0 = _mm256_loadu_si256((const __m256i *)(blk + 64 * h));
                __m256i L1 = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32));
                __m256i H = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
                    __m256i low = k == 0 ? _mm256_and_si256(L0, m4)
                                  : k == 1 ? _mm256_and_si256(L1, m4)
                                  : k == 2 ? _mm256_and_si256(_mm256_srli_epi16(L0, 4), m4)
                                           : _mm256_and_si256(_mm256_srli_epi16(L1, 4), m4);
                    __m256i top = k == 0 ? _mm256_slli_epi16(H, 4)
                                  : k == 1 ? _mm256_slli_epi16(H, 2)
                                  : k == 2 ? H
                                           : _mm256_srli_epi16(H, 2);
                    __m256i c = _mm256_or_si256(low, _mm256_and_si256(top, m30));
                    /* lane 0: scale 8h + 2k (elements r < 16), lane 1: 8h + 2k + 1 */
                    __m256i sc = scale_pair(Sh, k);
                    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                        const int8_t *x = xq->q + t * xq->ldq + b * QKK + 128 * h + 32 * k;
                        if (k % 2 == 0) s[t] = dot32(s[t], c, x, sc, vnni);
                        else s1[t] = dot32(s1[t], c, x, sc, vnni);
                    }
                }
            }
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) iv[i][t] = _mm256_add_epi32(s[t], s1[t]);
        }
        acc_nomins(acc, iv, rows, b, bb, 208, xq, TT);
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) _mm_storeu_ps(tile + t * 4, acc[t]);
}

/* The same for IQ4_XS (no mins, as Q6_K): per pair of sub-blocks 32 bytes of codes, their nibbles
 * looked up in the 16 levels (vpshufb) and the 128-bit halves recombined into the two sub-blocks'
 * 32 values; levels (signed) times activations (signed) by vpmaddubsw of |level| with the
 * activation carrying the level's sign (vpsignb), then the int16 pair sums times the sub-block's
 * scale ls - 32 (vpmaddwd / vpdpwssd). |level| <= 127, so pair sums stay within int16. */
AVX2K_TARGET static inline __attribute__((always_inline)) void
quad_iq4(float *tile, const ct_gemvk_x *xq, const uint8_t *const rows[4], size_t pf, bool vnni, size_t TT) {
    size_t nb = xq->K / QKK, bb = 136;
    const __m256i m4 = _mm256_set1_epi8(0x0f), c32 = _mm256_set1_epi32(32), c3 = _mm256_set1_epi32(3);
    const __m256i lv = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)k_iq4));
    const __m256i shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    __m128 acc[CT_GEMV_MAX_T];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[t] = _mm_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i iv[4][CT_GEMV_MAX_T];
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
            const uint8_t *blk = rows[i] + b * bb;
            prefetch_block(rows[0] + (4 * b + (size_t)i) * bb, pf, bb);
            /* the 8 scales ls - 32 as int32: low nibbles of scales_l, then 2 bits each of scales_h */
            uint32_t sl = u32_at(blk + 4);
            __m128i lo = _mm_cvtsi32_si128((int)(sl & 0x0f0f0f0fu)), hi = _mm_cvtsi32_si128((int)((sl >> 4) & 0x0f0f0f0fu));
            __m256i s32 = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
            __m256i sh = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(blk[2] | blk[3] << 8), shifts), c3);
            s32 = _mm256_sub_epi32(_mm256_or_si256(s32, _mm256_slli_epi32(sh, 4)), c32);
            /* as int16, the 8 in both 128-bit lanes */
            __m256i S = _mm256_permute4x64_epi64(_mm256_packs_epi32(s32, s32), 0x88);
            __m256i s[CT_GEMV_MAX_T], s1[CT_GEMV_MAX_T];
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) s[t] = s1[t] = _mm256_setzero_si256();
            _Pragma("GCC unroll 4") for (int p = 0; p < 4; p++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 8 + 32 * p));
                __m256i l0 = _mm256_shuffle_epi8(lv, _mm256_and_si256(v, m4));
                __m256i l1 = _mm256_shuffle_epi8(lv, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                /* sub-block 2p: low nibbles of its 16 bytes, then the high ones; 2p + 1 the same */
                __m256i a = _mm256_permute2x128_si256(l0, l1, 0x20), c = _mm256_permute2x128_si256(l0, l1, 0x31);
                __m256i aa = _mm256_abs_epi8(a), ca = _mm256_abs_epi8(c);
                __m256i sa = _mm256_shuffle_epi8(S, _mm256_set1_epi16((short)(0x0100 + 0x0202 * 2 * p)));
                __m256i sc = _mm256_shuffle_epi8(S, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * p + 1))));
                _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
                    const int8_t *x = xq->q + t * xq->ldq + b * QKK + 64 * p;
                    __m256i xa = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x), a);
                    __m256i xc = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(x + 32)), c);
                    __m256i pa = _mm256_maddubs_epi16(aa, xa), pc = _mm256_maddubs_epi16(ca, xc);
                    s[t] = vnni ? dpwssd(s[t], pa, sa) : _mm256_add_epi32(s[t], _mm256_madd_epi16(pa, sa));
                    s1[t] = vnni ? dpwssd(s1[t], pc, sc) : _mm256_add_epi32(s1[t], _mm256_madd_epi16(pc, sc));
                }
            }
            _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) iv[i][t] = _mm256_add_epi32(s[t], s1[t]);
        }
        acc_nomins(acc, iv, rows, b, bb, 0, xq, TT);
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) _mm_storeu_ps(tile + t * 4, acc[t]);
}

/* Rows [n0, n1) in groups of 4 (the last repeats row n1 - 1), T tokens. */
AVX2K_TARGET static inline __attribute__((always_inline)) void
rows_vec_tt(float *y, size_t ldy, const ct_gemvk_x *xq, const ct_tensor *W, size_t n0, size_t n1, int kind,
            bool vnni, size_t TT) {
    size_t bb = ct_gemvk_block_bytes(W->dtype), rb = xq->K / QKK * bb;
    size_t pf = 4 * rb + PF_MIN; /* bytes ahead of the group's linear stream */
    for (size_t n = n0; n < n1; n += 4) {
        const uint8_t *rows[4];
        for (size_t i = 0; i < 4; i++) rows[i] = (const uint8_t *)W->data + (n + i < n1 ? n + i : n1 - 1) * rb;
        float tile[CT_GEMV_MAX_T * 4];
        if (kind == 6) quad_k6(tile, xq, rows, pf, vnni, TT);
        else if (kind == 8) quad_iq4(tile, xq, rows, pf, vnni, TT);
        else if (kind == 3) quad_k3(tile, xq, rows, pf, vnni, TT);
        else quad_k4(tile, xq, rows, pf, kind, vnni, TT);
        for (size_t i = 0; i < 4 && n + i < n1; i++)
            for (size_t t = 0; t < TT; t++) y[t * ldy + n + i] = tile[t * 4 + i];
    }
}

AVX2K_TARGET static void rows_vec(float *y, size_t ldy, const ct_gemvk_x *xq, const ct_tensor *W, size_t n0,
                                  size_t n1, bool vnni) {
#define ROWS(TT, KIND, V)                                                                                              \
    rows_vec_tt(y, ldy, xq, W, n0, n1, KIND, V, TT);                                                                   \
    break
#define BY_T(KIND, V)                                                                                                  \
    switch (xq->T) {                                                                                                   \
    case 1: ROWS(1, KIND, V); case 2: ROWS(2, KIND, V); case 3: ROWS(3, KIND, V); case 4: ROWS(4, KIND, V);            \
    case 5: ROWS(5, KIND, V); case 6: ROWS(6, KIND, V); case 7: ROWS(7, KIND, V); default: ROWS(8, KIND, V);           \
    }
#define BY_V(KIND)                                                                                                     \
    if (vnni) {                                                                                                        \
        BY_T(KIND, true)                                                                                               \
    } else {                                                                                                           \
        BY_T(KIND, false)                                                                                              \
    }                                                                                                                  \
    break
    switch (W->dtype) { /* kind: the Q<k>_K number, 8 for IQ4_XS */
    case CT_DTYPE_Q2_K: BY_V(2);
    case CT_DTYPE_Q3_K: BY_V(3);
    case CT_DTYPE_Q5_K: BY_V(5);
    case CT_DTYPE_Q6_K: BY_V(6);
    case CT_DTYPE_IQ4_XS: BY_V(8);
    default: BY_V(4);
    }
#undef BY_V
#undef ROWS
#undef BY_T
}
#endif

void ct_gemvk_rows(ct_gemv_level lv, float *y, size_t ldy, const ct_gemvk_x *xq, const ct_tensor *W, size_t n0,
                   size_t n1) {
    if (n0 >= n1 || xq->T == 0 || !ct_gemvk_supported(W->dtype)) return;
#ifdef CT_GEMVK_X86
    if (lv == CT_GEMV_AVX512 || lv == CT_GEMV_AVX2) {
        rows_vec(y, ldy, xq, W, n0, n1, lv == CT_GEMV_AVX512 && ct_cpu_int8_vnni());
        return;
    }
#else
    (void)lv;
#endif
    rows_scalar(y, ldy, xq, W, n0, n1);
}

typedef struct gemvk_call {
    ct_gemv_level lv;
    float *const *ys;
    const ct_gemvk_x *xq;
    const ct_tensor *const *Ws;
} gemvk_call;

static void gemvk_part(void *user, size_t i, size_t a, size_t b) {
    const gemvk_call *g = user;
    ct_gemvk_rows(g->lv, g->ys[i], (size_t)g->Ws[i]->shape[0], g->xq, g->Ws[i], a, b);
}

void ct_gemvk_forward(ct_ctx *c, ct_gemv_level lv, float *const *ys, const float *x, const ct_tensor *const *Ws,
                      size_t n, size_t T, size_t K) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += ct_tensor_nbytes(Ws[i]);
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    ct_gemvk_x xq;
    ct_gemvk_prepare(lv, &xq, ct_scratch_f32(ar, (ct_gemvk_x_bytes(lv, T, K) + 3) / 4), x, T, K);
    /* ranges cut at multiples of 4 rows (whole row groups) */
    gemvk_call g = {lv, ys, &xq, Ws};
    ct_cpu_gemv_parallel(c, Ws, n, bytes, 4, gemvk_part, &g);
    ct_arena_release(ar, mk);
}
