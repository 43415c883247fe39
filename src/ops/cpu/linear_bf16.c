/* Opt-in bf16 compute for linear layers (CT_PRECISION_BF16, a row of the linear kernel table):
 * y[T,N] = bf16(x)[T,K] · bf16(W)[N,K]^T, dx += bf16(dy) · bf16(W) and dW += bf16(dy)^T · bf16(x)
 * with AVX512-BF16 `vdpbf16ps` (pairs of bf16 products summed into f32 lanes), f32 accumulation,
 * operands rounded to bf16 with round-to-nearest-even as torch.autocast does. Weights of any
 * float dtype: bf16 used as stored, f32 rounded while packed, others (f16, quantized formats)
 * decoded block by block through the dtype table into a small scratch and rounded there. The
 * kernel is compiled with a target attribute and only called after a runtime CPU check, so the
 * library still runs on CPUs without AVX-512 (they get the bf16-round-sgemm row, linear.c). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cpu/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10
#define CT_HAVE_BF16_KERNEL 1
#include <immintrin.h>
#endif

bool ct_cpu_has_bf16(void) {
#ifdef CT_HAVE_BF16_KERNEL
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

#ifdef CT_HAVE_BF16_KERNEL
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* Micro-kernel: BF16_TT tokens x 32 outputs (two zmm of 16 f32 lanes per token, 16
 * accumulators). W is packed per 32-row block in the pair-interleaved layout vdpbf16ps wants,
 * P[k/2][j][2] = W[n0 + j][k, k+1], so each lane is one output column and no horizontal sums
 * are needed; the token's bf16 pair x[t][k, k+1] is broadcast to all lanes. */
#define BF16_TT 8
#define BF16_NB 32

/* o[0:Kp] = bf16(x[0:K]) (nearest even), zero-padded to Kp (a multiple of 32). */
BF16_TARGET static void row_to_bf16(uint16_t *o, const float *xr, size_t K, size_t Kp) {
    for (size_t k = 0; k < Kp; k += 32) {
        size_t r = K > k ? K - k : 0;
        __mmask16 m0 = r >= 16 ? 0xffff : (__mmask16)((1u << r) - 1);
        __mmask16 m1 = r >= 32 ? 0xffff : r > 16 ? (__mmask16)((1u << (r - 16)) - 1) : 0;
        __m512 lo = _mm512_maskz_loadu_ps(m0, xr + k), hi = _mm512_maskz_loadu_ps(m1, xr + k + 16);
        _mm512_storeu_si512((void *)(o + k), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

/* Pair row p of dW's dy^T (a stored [K, lda], K = tokens): q[r] = (bf16(a[2p, r]), bf16(a[2p + 1, r]))
 * for r < R, zero past K. In this layout the pair the kernel broadcasts for row r at pair step
 * p is q[p * R + r]: dy^T never needs a transpose, two rows of dy give one contiguous row of q. */
BF16_TARGET static void pairs_to_bf16(uint16_t *q, const float *a, size_t lda, size_t R, size_t K, size_t p) {
    const float *a0 = a + 2 * p * lda, *a1 = a0 + lda;
    bool h0 = 2 * p < K, h1 = 2 * p + 1 < K;
    for (size_t r = 0; r < R; r += 16) {
        __mmask16 m = R - r >= 16 ? 0xffff : (__mmask16)((1u << (R - r)) - 1);
        __m512 v0 = h0 ? _mm512_maskz_loadu_ps(m, a0 + r) : _mm512_setzero_ps();
        __m512 v1 = h1 ? _mm512_maskz_loadu_ps(m, a1 + r) : _mm512_setzero_ps();
        __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v0));
        __m512i hi = _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v1)), 16);
        _mm512_mask_storeu_epi32(q + 2 * r, m, _mm512_or_si512(lo, hi));
    }
}

/* Contraction elements packed at a time (a group of packed blocks, 8 * KC * 64 bytes, stays in
 * L2). */
#define BF16_KC 2048

/* dst[0:n] = bf16(src[0:n]) (nearest even, as torch's f32 -> bf16 cast). */
BF16_TARGET static void round_to_bf16(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(dst + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i)));
    }
}

/* The operand B is read from: a weight of any float dtype, or f32 activations (dW's x). */
typedef struct bsrc {
    const ct_tensor *W; /* B(k, c) = W[c * ld + k] (trans) or W[k * ld + c] */
    size_t ld;
    bool trans;
    size_t block; /* the dtype's storage block: decoder calls start and end on block bounds */
} bsrc;

/* Scratch a thread's packing needs: f32 decode buffer and two bf16 rows (see pack_b). */
#define SEG_F32(kcmax, block) ((kcmax) + 2 * (block))
#define SEG_U16(kcmax) ((kcmax) + 2 * BF16_NB)

/* Elements [off, off + n) of W as bf16: bf16 weights are used in place, f32 ones rounded into u,
 * every other float dtype (f16, and block-quantized formats) decoded by the dtype table into f
 * (the enclosing block-aligned span, so a 4-bit block is dequantised on the fly and the weight
 * never exists as a whole 16-bit copy) and rounded into u. */
BF16_TARGET static const uint16_t *seg_bf16(const bsrc *b, size_t off, size_t n, float *f, uint16_t *u) {
    const ct_tensor *W = b->W;
    if (W->dtype == CT_DTYPE_BF16) return (const uint16_t *)W->data + off;
    if (W->dtype == CT_DTYPE_F32) {
        round_to_bf16(u, (const float *)W->data + off, n);
        return u;
    }
    size_t a0 = off / b->block * b->block, a1 = (off + n + b->block - 1) / b->block * b->block;
    size_t numel = (size_t)ct_tensor_numel(W);
    if (a1 > numel) a1 = numel;
    ct_tensor_to_f32(W, a0, a1 - a0, f);
    round_to_bf16(u, f + (off - a0), n);
    return u;
}

/* Packs B(k, c) for k in [k0, k0 + kc) (kc even, zero past kmax) and c in [c0, c0 + nb) (zero
 * past nb) as P[((k - k0) / 2 * 32 + j) * 2 + (k & 1)], rounding to bf16 as seg_bf16 does. */
BF16_TARGET static void pack_b(uint16_t *P, const bsrc *b, size_t k0, size_t kc, size_t kmax, size_t c0,
                               size_t nb, float *f, uint16_t *u) {
    size_t k1 = k0 + kc < kmax ? k0 + kc : kmax, np = (k1 - k0) / 2; /* full pairs */
    bool odd = (k1 - k0) & 1;
    if (nb < BF16_NB || np * 2 < kc) memset(P, 0, kc * BF16_NB * sizeof(uint16_t));
    if (b->trans) { /* each output column's row of W is contiguous: copy 32-bit pairs */
        for (size_t j = 0; j < nb; j++) {
            const uint16_t *w = seg_bf16(b, (c0 + j) * b->ld + k0, k1 - k0, f, u);
            for (size_t p = 0; p < np; p++) memcpy(P + (p * BF16_NB + j) * 2, w + 2 * p, 4);
            if (odd) P[(np * BF16_NB + j) * 2] = w[2 * np];
        }
    } else { /* two rows of W give one row of pairs */
        for (size_t p = 0; p < np; p++) {
            const uint16_t *w0 = seg_bf16(b, (k0 + 2 * p) * b->ld + c0, nb, f, u);
            const uint16_t *w1 = seg_bf16(b, (k0 + 2 * p + 1) * b->ld + c0, nb, f, u + BF16_NB);
            uint32_t *d = (uint32_t *)(void *)(P + p * BF16_NB * 2);
            size_t j = 0;
            for (; j + 16 <= nb; j += 16) {
                __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w0 + j)));
                __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w1 + j)));
                _mm512_storeu_si512((void *)(d + j), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
            }
            for (; j < nb; j++) d[j] = (uint32_t)w0[j] | (uint32_t)w1[j] << 16;
        }
        if (odd) {
            const uint16_t *w0 = seg_bf16(b, (k0 + 2 * np) * b->ld + c0, nb, f, u);
            for (size_t j = 0; j < nb; j++) P[(np * BF16_NB + j) * 2] = w0[j];
        }
    }
}

/* y[t, 0:nb] (+)= sum_{k < kc} A(t, k) B(k, .) for t < tt <= BF16_TT (rows past tt reuse row 0
 * and are not stored), nb <= 32 columns (masked), P packed by pack_b; the bf16 pair
 * (A(t, 2 k2), A(t, 2 k2 + 1)) is at xb + t * ldx + k2 * skx. */
BF16_TARGET static inline __attribute__((always_inline)) void
kernel8x32_body(float *y, size_t ldy, const uint16_t *xb, size_t ldx, size_t skx, size_t kc, size_t tt,
                const uint16_t *P, size_t nb, bool acc) {
    const uint16_t *xr[BF16_TT];
    for (size_t i = 0; i < BF16_TT; i++) xr[i] = xb + (i < tt ? i : 0) * ldx;
    __m512 a0[BF16_TT], a1[BF16_TT];
#pragma GCC unroll 8
    for (size_t i = 0; i < BF16_TT; i++) a0[i] = a1[i] = _mm512_setzero_ps();
    for (size_t k2 = 0; k2 < kc / 2; k2++) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void *)(P + k2 * 64));
        __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void *)(P + k2 * 64 + 32));
#pragma GCC unroll 8
        for (size_t i = 0; i < BF16_TT; i++) {
            int32_t pair;
            memcpy(&pair, xr[i] + skx * k2, sizeof pair);
            __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
            a0[i] = _mm512_dpbf16_ps(a0[i], xv, w0);
            a1[i] = _mm512_dpbf16_ps(a1[i], xv, w1);
        }
    }
    __mmask16 m0 = nb >= 16 ? 0xffff : (__mmask16)((1u << nb) - 1);
    __mmask16 m1 = nb >= 32 ? 0xffff : nb > 16 ? (__mmask16)((1u << (nb - 16)) - 1) : 0;
    for (size_t i = 0; i < tt; i++) {
        float *yr = y + i * ldy;
        if (acc) {
            a0[i] = _mm512_add_ps(a0[i], _mm512_maskz_loadu_ps(m0, yr));
            a1[i] = _mm512_add_ps(a1[i], _mm512_maskz_loadu_ps(m1, yr + 16));
        }
        _mm512_mask_storeu_ps(yr, m0, a0[i]);
        _mm512_mask_storeu_ps(yr + 16, m1, a1[i]);
    }
}

/* Row-major bf16 A (xb[t * ldx + k]): the pair stride is a constant. */
BF16_TARGET static void kernel8x32(float *y, size_t ldy, const uint16_t *xb, size_t ldx, size_t kc, size_t tt,
                                   const uint16_t *P, size_t nb, bool acc) {
    kernel8x32_body(y, ldy, xb, ldx, 2, kc, tt, P, nb, acc);
}

/* Pair-interleaved A (pairs_to_bf16, R rows): row t's pairs R pairs apart. */
BF16_TARGET static void kernel8x32_pairs(float *y, size_t ldy, const uint16_t *q, size_t R, size_t kc, size_t tt,
                                         const uint16_t *P, size_t nb, bool acc) {
    kernel8x32_body(y, ldy, q, 2, 2 * R, kc, tt, P, nb, acc);
}

/* Column blocks packed together into one panel group that all threads share, and rows of y
 * per work item (a work item is one row chunk times one block of the group). */
#define BF16_GROUP 8
#define BF16_RC 64

/* y[R, NC] (+)= bf16(A)[R, KX] · bf16(B)[KX, NC]: A is f32, a[r * lda + k] (rounded into xb
 * row by row) or (a_trans) a[k * lda + r] (into xb as pair rows, pairs_to_bf16); B is read
 * through pack_b. The threads first round A into xb together; then, per group of BF16_GROUP
 * 32-column blocks and per contraction block, they pack the group's panels together (one
 * panel each) and split the (row chunk, block) work items of the group. Every element of y is
 * computed by one work item in a fixed order, so the result does not depend on the thread
 * count; the group's packed panels (at most BF16_GROUP * BF16_KC * 64 bytes) are the only copy
 * of B, so a quantized weight never exists as a whole 16-bit copy. */
BF16_TARGET static void gemm_bf16(ct_ctx *c, float *y, const float *a, size_t lda, bool a_trans,
                                  const bsrc *B, size_t R, size_t KX, size_t NC, bool acc) {
    size_t Kp = (KX + 31) / 32 * 32, kcmax = Kp < BF16_KC ? Kp : BF16_KC;
    size_t nblk = (NC + BF16_NB - 1) / BF16_NB, nrc = (R + BF16_RC - 1) / BF16_RC;
    ct_arena *ar0 = ct_ctx_arena(c);
    size_t mk0 = ct_arena_mark(ar0);
    uint16_t *xb = ct_scratch(ar0, R * Kp * sizeof(uint16_t));
    uint16_t *Pg = ct_scratch(ar0, BF16_GROUP * kcmax * BF16_NB * sizeof(uint16_t));
#pragma omp parallel num_threads(ct_ctx_threads(c)) if (R * NC * KX > (1u << 21))
    {
        if (a_trans) {
#pragma omp for schedule(static)
            for (size_t p = 0; p < Kp / 2; p++) pairs_to_bf16(xb + 2 * p * R, a, lda, R, KX, p);
        } else {
#pragma omp for schedule(static)
            for (size_t r = 0; r < R; r++) row_to_bf16(xb + r * Kp, a + r * lda, KX, Kp);
        }
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        float *f = ct_scratch_f32(ar, SEG_F32(kcmax, B->block));
        uint16_t *u = ct_scratch(ar, SEG_U16(kcmax) * sizeof(uint16_t));
        for (size_t g0 = 0; g0 < nblk; g0 += BF16_GROUP) {
            size_t ng = nblk - g0 < BF16_GROUP ? nblk - g0 : BF16_GROUP;
            for (size_t k0 = 0; k0 < Kp; k0 += BF16_KC) {
                size_t kc = Kp - k0 < BF16_KC ? Kp - k0 : BF16_KC;
#pragma omp for schedule(static)
                for (size_t b = 0; b < ng; b++) {
                    size_t c0 = (g0 + b) * BF16_NB, nb = NC - c0 < BF16_NB ? NC - c0 : BF16_NB;
                    pack_b(Pg + b * kcmax * BF16_NB, B, k0, kc, KX, c0, nb, f, u);
                }
#pragma omp for schedule(static)
                for (size_t it = 0; it < nrc * ng; it++) {
                    size_t b = it % ng, r0 = it / ng * BF16_RC, r1 = r0 + BF16_RC < R ? r0 + BF16_RC : R;
                    size_t c0 = (g0 + b) * BF16_NB, nb = NC - c0 < BF16_NB ? NC - c0 : BF16_NB;
                    const uint16_t *P = Pg + b * kcmax * BF16_NB;
                    for (size_t t0 = r0; t0 < r1; t0 += BF16_TT) {
                        size_t tt = r1 - t0 < BF16_TT ? r1 - t0 : BF16_TT;
                        if (a_trans)
                            kernel8x32_pairs(y + t0 * NC + c0, NC, xb + (k0 / 2 * R + t0) * 2, R, kc, tt, P, nb,
                                             acc || k0 > 0);
                        else
                            kernel8x32(y + t0 * NC + c0, NC, xb + t0 * Kp + k0, Kp, kc, tt, P, nb, acc || k0 > 0);
                    }
                }
            }
        }
        ct_arena_release(ar, mk);
    }
    ct_arena_release(ar0, mk0);
}

static bsrc weight_src(const ct_tensor *W, size_t K, bool trans) {
    const ct_dtype_traits *tr = ct_dtype_info(W->dtype);
    return (bsrc){W, K, trans, tr && tr->block > 1 ? tr->block : 1};
}
#endif

/* The table only picks these rows after ct_cpu_has_bf16(); without the kernel they are never
 * reached. W may have any float dtype (pack_b rounds or decodes it). */
void ct_cpu_linear_bf16(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K,
                        size_t N) {
#ifdef CT_HAVE_BF16_KERNEL
    bsrc b = weight_src(W, K, true);
    gemm_bf16(c, y, x, K, false, &b, T, K, N, false);
#else
    (void)c, (void)y, (void)x, (void)W, (void)T, (void)K, (void)N;
#endif
}

void ct_cpu_linear_bf16_dx(ct_ctx *c, float *dx, const float *dy, const ct_tensor *W, size_t T,
                           size_t K, size_t N) {
#ifdef CT_HAVE_BF16_KERNEL
    bsrc b = weight_src(W, K, false);
    gemm_bf16(c, dx, dy, N, false, &b, T, N, K, true);
#else
    (void)c, (void)dx, (void)dy, (void)W, (void)T, (void)K, (void)N;
#endif
}

/* dW[N,K] += bf16(dy)^T[N,T] · bf16(x)[T,K], f32 accumulation: rows of the product are dW's
 * rows, the contraction runs over tokens, and x (f32 activations) is B, rounded while packed. */
void ct_cpu_linear_bf16_dw(ct_ctx *c, float *dW, const float *dy, const float *x, size_t T, size_t K,
                           size_t N) {
#ifdef CT_HAVE_BF16_KERNEL
    ct_tensor xt = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {(int64_t)T, (int64_t)K}, .data = (void *)x};
    bsrc b = {&xt, K, false, 1};
    gemm_bf16(c, dW, dy, N, true, &b, N, T, K, true);
#else
    (void)c, (void)dW, (void)dy, (void)x, (void)T, (void)K, (void)N;
#endif
}
