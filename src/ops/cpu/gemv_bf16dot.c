/* Reduced-precision batched decode GEMV (opt-in, ct_ctx_set_batch_precision CT_BATCH_BF16DOT):
 * y[T, N] = bf16(x)[T, K] W[N, K]^T for bf16 W and 2..CT_GEMV_MAX_T tokens, on CPUs with
 * AVX512-BF16. x is rounded to bf16 once per call (nearest even, ct_f32_to_bf16, the rounding of
 * vcvtne2ps2bf16) into rows padded with zeros to a multiple of 32; each weight row is dotted with
 * every token's row by vdpbf16ps (_mm512_dpbf16_ps: two bf16 products per f32 lane, added to the
 * lane's f32 sum). A product of two bf16 values is exact in f32 (8 + 8 significant bits), so the
 * only differences from the exact path are the rounding of x and the order of the f32 sums (and
 * the instruction's flushing of subnormal inputs and outputs to zero). Twice the products per
 * instruction of the f32 FMA path, which is what batched decode is bound by (docs/perf.md).
 *
 * Every row is computed the same way whatever rows share the call or the thread, so results do
 * not depend on the thread count. */
#include "ops/cpu/cpu.h"
#include "ops/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10 /* as linear_bf16.c */
#define CT_BF16DOT_X86 1
#include <immintrin.h>
#define BF16DOT_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#endif

bool ct_gemv_bf16dot_available(void) {
#ifdef CT_BF16DOT_X86
    return ct_cpu_has_bf16();
#else
    return false;
#endif
}

size_t ct_gemv_bf16dot_ld(size_t K) { return (K + 31) / 32 * 32; }

void ct_gemv_bf16dot_prepare(uint16_t *xb, const float *x, size_t T, size_t K) {
    size_t ld = ct_gemv_bf16dot_ld(K);
    for (size_t t = 0; t < T; t++) {
        for (size_t k = 0; k < K; k++) xb[t * ld + k] = ct_f32_to_bf16(x[t * K + k]);
        for (size_t k = K; k < ld; k++) xb[t * ld + k] = 0;
    }
}

#ifdef CT_BF16DOT_X86
/* One row, TT tokens: 64 weights (two 32-element halves, two accumulators per token) per step,
 * a last 32-block, then the tail of K % 32 weights through a masked load (the padded x is zero
 * there); the two accumulators are added and reduced. */
BF16DOT_TARGET static inline __attribute__((always_inline)) void
row_tokens(float *y, size_t ldy, const uint16_t *xb, size_t ld, const uint16_t *wr, size_t TT, size_t K,
           size_t n) {
    __m512 a0[CT_GEMV_MAX_T], a1[CT_GEMV_MAX_T];
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) a0[t] = a1[t] = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 64 <= K; k += 64) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void *)(wr + k));
        __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void *)(wr + k + 32));
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
            const uint16_t *xt = xb + t * ld + k;
            a0[t] = _mm512_dpbf16_ps(a0[t], w0, (__m512bh)_mm512_loadu_si512((const void *)xt));
            a1[t] = _mm512_dpbf16_ps(a1[t], w1, (__m512bh)_mm512_loadu_si512((const void *)(xt + 32)));
        }
    }
    if (k < K) { /* 1..63 weights left: one or two 32-blocks, the last one masked */
        size_t r0 = K - k < 32 ? K - k : 32, r1 = K - k - r0;
        __m512bh w0 = (__m512bh)_mm512_maskz_loadu_epi16((__mmask32)(r0 == 32 ? ~0u : (1u << r0) - 1u), wr + k);
        __m512bh w1 = (__m512bh)_mm512_maskz_loadu_epi16((__mmask32)(r1 == 0 ? 0u : (1u << r1) - 1u), wr + k + 32);
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
            const uint16_t *xt = xb + t * ld + k;
            a0[t] = _mm512_dpbf16_ps(a0[t], w0, (__m512bh)_mm512_loadu_si512((const void *)xt));
            if (r1) a1[t] = _mm512_dpbf16_ps(a1[t], w1, (__m512bh)_mm512_loadu_si512((const void *)(xt + 32)));
        }
    }
    _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) y[t * ldy + n] =
        _mm512_reduce_add_ps(_mm512_add_ps(a0[t], a1[t]));
}

BF16DOT_TARGET static void rows_bf16dot(float *y, size_t ldy, const uint16_t *xb, const uint16_t *W, size_t T,
                                        size_t K, size_t n0, size_t n1) {
    size_t ld = ct_gemv_bf16dot_ld(K);
    for (size_t n = n0; n < n1; n++) {
        const uint16_t *wr = W + n * K;
        switch (T) { /* TT a compile-time constant in each case */
        case 1: row_tokens(y, ldy, xb, ld, wr, 1, K, n); break;
        case 2: row_tokens(y, ldy, xb, ld, wr, 2, K, n); break;
        case 3: row_tokens(y, ldy, xb, ld, wr, 3, K, n); break;
        case 4: row_tokens(y, ldy, xb, ld, wr, 4, K, n); break;
        case 5: row_tokens(y, ldy, xb, ld, wr, 5, K, n); break;
        case 6: row_tokens(y, ldy, xb, ld, wr, 6, K, n); break;
        case 7: row_tokens(y, ldy, xb, ld, wr, 7, K, n); break;
        default: row_tokens(y, ldy, xb, ld, wr, 8, K, n); break;
        }
    }
}
#endif

void ct_gemv_bf16dot_rows(float *y, size_t ldy, const uint16_t *xb, const ct_tensor *W, size_t T, size_t K,
                          size_t n0, size_t n1) {
#ifdef CT_BF16DOT_X86
    for (size_t t0 = 0; t0 < T; t0 += CT_GEMV_MAX_T) {
        size_t tt = T - t0 < CT_GEMV_MAX_T ? T - t0 : CT_GEMV_MAX_T;
        rows_bf16dot(y + t0 * ldy, ldy, xb + t0 * ct_gemv_bf16dot_ld(K), (const uint16_t *)W->data, tt, K, n0, n1);
    }
#else
    (void)y, (void)ldy, (void)xb, (void)W, (void)T, (void)K, (void)n0, (void)n1;
#endif
}
