/* Reduced-precision batched decode GEMV (opt-in, ct_ctx_set_batch_precision CT_BATCH_BF16DOT):
 * y[T, N] = bf16(x)[T, K] W[N, K]^T for bf16 W and 2..CT_GEMV_MAX_T tokens, on CPUs with
 * AVX512-BF16. x is rounded to bf16 once per call (nearest even, ct_f32_to_bf16, the rounding of
 * vcvtne2ps2bf16) into rows padded with zeros to a multiple of 32; each weight row is dotted with
 * every token's row by vdpbf16ps (_mm512_dpbf16_ps: two bf16 products per f32 lane, added to the
 * lane's f32 sum). A product of two bf16 values is exact in f32 (8 + 8 significant bits), so the
 * only differences from the exact path are the rounding of x and the order of the f32 sums (and
 * the instruction's flushing of subnormal inputs and outputs to zero). Twice the products per
 * instruction of the f32 FMA path, which is what batched decode is bound by (docs/perf.md).
 * From 4 tokens on, three rows share each load of x and the weight streams are prefetched by
 * software (memory and compute then overlap; see below).
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
/* From BF16DOT_GROUP_MIN_T tokens on, rows go three at a time (24 accumulators at 8 tokens: each
 * load of x feeds three products, each weight load eight) and every weight stream is prefetched
 * into the L2 cache (T1 hint) at the same column two row groups ahead: three row streams that
 * restart every row are too short for the hardware prefetcher, and an L1 (T0) prefetch of them
 * stalled the loads (docs/perf.md, "Fourth pass"). On one thread, 8 tokens,
 * the 151936 x 896 LM head streamed from memory: 94 G products/s against 75 with one row and a T0
 * prefetch, the instruction's peak being ~117. Fewer tokens keep one row (or two, below) and
 * the hardware prefetcher: closer to memory-bound, as in the exact T = 1 kernel. */
#define BF16DOT_GROUP_MIN_T 4
#define BF16DOT_GROUP 3
#define BF16DOT_PF_GROUPS 2

/* R rows (1 to 3) x TT tokens: one accumulator per row and token, 32 weights per step (the
 * last step's K % 32 through a masked load; the padded x is zero there), then reduced. A row's
 * arithmetic is the same whichever R computes it. pf: bytes ahead of each weight load to
 * prefetch into L2 (0: none). */
BF16DOT_TARGET static inline __attribute__((always_inline)) void
rows_tokens(float *y, size_t ldy, const uint16_t *xb, size_t ld, const uint16_t *W, size_t R, size_t TT, size_t K,
            size_t n, size_t pf) {
    __m512 acc[BF16DOT_GROUP][CT_GEMV_MAX_T];
    _Pragma("GCC unroll 3") for (size_t r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) acc[r][t] = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k += 32) {
        __mmask32 m = K - k >= 32 ? (__mmask32)~0u : (__mmask32)((1u << (K - k)) - 1u);
        __m512bh w[BF16DOT_GROUP];
        _Pragma("GCC unroll 3") for (size_t r = 0; r < R; r++) {
            const uint16_t *wr = W + (n + r) * K + k;
            w[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, wr);
            /* a hint (never faults): near the matrix's end the address may lie past it, so it is
             * formed as an integer, not by pointer arithmetic */
            if (pf) _mm_prefetch((const char *)((uintptr_t)wr + pf), _MM_HINT_T1);
        }
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) {
            __m512bh xv = (__m512bh)_mm512_loadu_si512((const void *)(xb + t * ld + k));
            _Pragma("GCC unroll 3") for (size_t r = 0; r < R; r++) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], w[r], xv);
        }
    }
    _Pragma("GCC unroll 3") for (size_t r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (size_t t = 0; t < TT; t++) y[t * ldy + n + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* Below BF16DOT_GROUP_MIN_T tokens, x of all tokens above this many bytes: two rows at a time
 * (one weight stream ran faster while x stays in the L1 cache: 1.6x on the 151936 x 896 LM head,
 * T = 8, one thread). */
#define BF16DOT_PAIR_X_BYTES (24u << 10)

#define ROWS_T(TT)                                                                              \
    do {                                                                                        \
        size_t n = n0, pf = 0;                                                                  \
        if ((TT) >= BF16DOT_GROUP_MIN_T) {                                                      \
            pf = BF16DOT_PF_GROUPS * BF16DOT_GROUP * K * sizeof(uint16_t);                      \
            for (; n + BF16DOT_GROUP <= n1; n += BF16DOT_GROUP)                                 \
                rows_tokens(y, ldy, xb, ld, W, BF16DOT_GROUP, TT, K, n, pf);                    \
        } else if ((TT) * ld * 2 > BF16DOT_PAIR_X_BYTES)                                        \
            for (; n + 2 <= n1; n += 2) rows_tokens(y, ldy, xb, ld, W, 2, TT, K, n, 0);         \
        for (; n < n1; n++) rows_tokens(y, ldy, xb, ld, W, 1, TT, K, n, pf);                    \
    } while (0)

BF16DOT_TARGET static void rows_bf16dot(float *y, size_t ldy, const uint16_t *xb, const uint16_t *W, size_t T,
                                        size_t K, size_t n0, size_t n1) {
    size_t ld = ct_gemv_bf16dot_ld(K);
    switch (T) { /* TT a compile-time constant in each case */
    case 1: ROWS_T(1); break;
    case 2: ROWS_T(2); break;
    case 3: ROWS_T(3); break;
    case 4: ROWS_T(4); break;
    case 5: ROWS_T(5); break;
    case 6: ROWS_T(6); break;
    case 7: ROWS_T(7); break;
    default: ROWS_T(8); break;
    }
}
#undef ROWS_T
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
