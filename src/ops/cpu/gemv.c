/* Decode GEMV: y[T, N] = x[T, K] W[N, K]^T for 16-bit weights (bf16, f16) and few tokens
 * (T <= CT_GEMV_MAX_T: one decode step, or one step of up to 8 sequences decoded together).
 * Memory-bound: each weight row is streamed once per call and dotted with every token's row of
 * x, widened exactly to f32 in registers (no f32 copy of W anywhere), products summed in f32.
 *
 * Dispatch levels, picked at run time (ct_gemv_level_best): AVX-512 (512-bit FMA; bf16 widened
 * with a shift and a mask: a 64-byte load holds 32 bf16 whose even elements are the low halves
 * of its 32-bit lanes and odd elements the high halves, so x is pre-arranged once per call as
 * [16 even | 16 odd] per 32-element block), AVX2 (the same over 256 bits and 16-element blocks)
 * and plain C. f16 is widened with vcvtph2ps, x used as is; its weights are loaded 64 bytes at a
 * time like bf16's and converted by 32-byte halves (streamed from memory on one thread 1.1x
 * faster than four 32-byte loads, docs/perf.md). The functions are compiled with target
 * attributes, so the library runs on any x86-64 and on other CPUs (scalar level).
 *
 * The arithmetic of a row does not depend on which other rows share its tile or on the thread
 * that computes it: results do not depend on the thread count nor on how rows are partitioned
 * (so n matrices fused into one call give the same bits as n calls).
 * Batched decode steps with CT_BATCH_BF16DOT take the reduced-precision kernel of gemv_bf16dot.c
 * instead (ct_gemv_forward). */
#include <omp.h>
#include <string.h>

#include "ops/cpu/cpu.h"
#include "ops/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CT_GEMV_X86 1
#include <immintrin.h>
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#endif

bool ct_gemv_level_available(ct_gemv_level lv) {
#ifdef CT_GEMV_X86
    __builtin_cpu_init();
    if (lv == CT_GEMV_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    if (lv == CT_GEMV_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
    return lv == CT_GEMV_SCALAR;
}

ct_gemv_level ct_gemv_level_best(void) {
    static int best = -1;
    int b = __atomic_load_n(&best, __ATOMIC_RELAXED);
    if (b < 0) {
        b = ct_gemv_level_available(CT_GEMV_AVX512) ? CT_GEMV_AVX512
            : ct_gemv_level_available(CT_GEMV_AVX2) ? CT_GEMV_AVX2
                                                     : CT_GEMV_SCALAR;
        __atomic_store_n(&best, b, __ATOMIC_RELAXED);
    }
    return (ct_gemv_level)b;
}

const char *ct_gemv_level_name(ct_gemv_level lv) {
    return lv == CT_GEMV_AVX512 ? "avx512" : lv == CT_GEMV_AVX2 ? "avx2" : "scalar";
}

/* Elements per pre-arranged block of x at each level (0: x used as is). */
static size_t perm_block(ct_gemv_level lv, ct_dtype dt) {
    if (dt != CT_DTYPE_BF16) return 0;
    return lv == CT_GEMV_AVX512 ? 32 : lv == CT_GEMV_AVX2 ? 16 : 0;
}

size_t ct_gemv_xp_floats(ct_gemv_level lv, ct_dtype dt, size_t T, size_t K) {
    size_t B = perm_block(lv, dt);
    return B ? T * (K / B * B) : 0;
}

void ct_gemv_prepare(ct_gemv_level lv, ct_dtype dt, float *xp, const float *x, size_t T, size_t K) {
    size_t B = perm_block(lv, dt);
    if (!B) return;
    size_t Kb = K / B * B, h = B / 2;
    for (size_t t = 0; t < T; t++)
        for (size_t k0 = 0; k0 < Kb; k0 += B)
            for (size_t i = 0; i < h; i++) {
                xp[t * Kb + k0 + i] = x[t * K + k0 + 2 * i];
                xp[t * Kb + k0 + h + i] = x[t * K + k0 + 2 * i + 1];
            }
}

/* ---- plain C ---- */

static inline float w_at(const uint16_t *w, size_t k, bool bf16) {
    return bf16 ? ct_bf16_to_f32(w[k]) : ct_f16_to_f32(w[k]);
}

/* Row n, token t: sum over k in [k0, K) in order, added to s (the vector levels' tail). */
static inline float tail_dot(float s, const uint16_t *w, const float *xt, size_t k0, size_t K, bool bf16) {
    for (size_t k = k0; k < K; k++) s += w_at(w, k, bf16) * xt[k];
    return s;
}

static void rows_scalar(float *y, size_t ldy, const float *x, const uint16_t *W, bool bf16, size_t T, size_t K,
                        size_t n0, size_t n1) {
    for (size_t n = n0; n < n1; n++) {
        const uint16_t *w = W + n * K;
        for (size_t t = 0; t < T; t++) y[t * ldy + n] = tail_dot(0.0f, w, x + t * K, 0, K, bf16);
    }
}

/* ---- AVX-512 ---- */

#ifdef CT_GEMV_X86
/* One row x TT tokens of y. The row is read front to back, 64 elements (128 bytes) per step,
 * into four accumulators per token (even / odd halves of the step's two 32-blocks; a last lone
 * 32-block goes to the first two), summed (a0 + a1) + (a2 + a3), then the scalar tail. One row
 * at a time keeps the weights one sequential stream (4 interleaved row streams ran 30-60 %
 * slower in an A/B on the loaded machine); the arithmetic is the same for every TT. Also tried
 * for T >= 2 and not kept (docs/perf.md, "Batched decode kernels, second pass"): 2 rows x 2 or 3
 * tokens per pass (slower), software prefetch of the weights (1.3-1.5x slower), each weight
 * vector loaded once instead of folded into both the shift and the mask (no change).
 * xpf (one token only): x is prefetched into L1 GEMV_XPF_AHEAD floats ahead. A row of x longer
 * than the L1 cache holds beside a weight row (Qwen2.5-0.5B's down_proj, K = 4864: 19 KB of f32
 * x with 9.5 KB of weights per row) is evicted by the weight stream every row, and its reloads
 * from L2 slowed the stream to 17-20 GB/s against 30-33 for K <= 3584 (one thread); prefetched,
 * 24-26 GB/s (docs/perf.md, "Fourth pass"). For short rows it costs. */
#define GEMV_XPF_AHEAD 128
#define GEMV_XPF_MIN_K 3600
/* Per-token accumulators are named variables, not arrays indexed by token: GCC kept arrays of
 * __m512 in memory and stored every accumulator back to the stack on each step (one store per
 * FMA; the same bits either way). Named, the exact batched decode of 8 sequences ran ~15 %
 * faster (docs/perf.md, "Fifth pass"). */
#define AVX512_ACC(t) __m512 a0_##t = _mm512_setzero_ps(), a1_##t = a0_##t, a2_##t = a0_##t, a3_##t = a0_##t
#define AVX512_FMA4(t)                                                                                \
    if ((t) < (TT)) {                                                                                 \
        const float *xt = xs + (t) * ldx + k;                                                         \
        a0_##t = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xt), a0_##t);                                    \
        a1_##t = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), a1_##t);                               \
        a2_##t = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xt + 32), a2_##t);                               \
        a3_##t = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xt + 48), a3_##t);                               \
    }
#define AVX512_FMA2(t)                                                                                \
    if ((t) < (TT)) {                                                                                 \
        const float *xt = xs + (t) * ldx + k;                                                         \
        a0_##t = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xt), a0_##t);                                    \
        a1_##t = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), a1_##t);                               \
    }
#define AVX512_OUT(t)                                                                                 \
    if ((t) < (TT)) {                                                                                 \
        __m512 s = _mm512_add_ps(_mm512_add_ps(a0_##t, a1_##t), _mm512_add_ps(a2_##t, a3_##t));       \
        y[(t) * ldy + n] = tail_dot(_mm512_reduce_add_ps(s), wr, x + (t) * K, Kb, K, bf16);           \
    }
#define AVX512_BODY(TT, xpf)                                                                          \
    do {                                                                                              \
        const uint16_t *wr = W + n * K;                                                               \
        AVX512_ACC(0);                                                                                \
        AVX512_ACC(1);                                                                                \
        AVX512_ACC(2);                                                                                \
        AVX512_ACC(3);                                                                                \
        size_t k = 0;                                                                                 \
        for (; k + 64 <= Kb; k += 64) {                                                               \
            __m512 w0, w1, w2, w3;                                                                    \
            if ((TT) == 1 && (xpf)) /* hints (never fault): addresses formed as integers */           \
                _Pragma("GCC unroll 4") for (size_t i = 0; i < 64; i += 16) _mm_prefetch(                 \
                    (const char *)((uintptr_t)(xs + k) + (GEMV_XPF_AHEAD + i) * sizeof(float)), _MM_HINT_T0); \
            if (bf16) {                                                                               \
                __m512i v0 = _mm512_loadu_si512((const void *)(wr + k));                              \
                __m512i v1 = _mm512_loadu_si512((const void *)(wr + k + 32));                         \
                w0 = _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16));                                  \
                w1 = _mm512_castsi512_ps(_mm512_and_si512(v0, hmask));                                \
                w2 = _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16));                                  \
                w3 = _mm512_castsi512_ps(_mm512_and_si512(v1, hmask));                                \
            } else {                                                                                  \
                __m512i v0 = _mm512_loadu_si512((const void *)(wr + k));                              \
                __m512i v1 = _mm512_loadu_si512((const void *)(wr + k + 32));                         \
                w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(v0));                                     \
                w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v0, 1));                               \
                w2 = _mm512_cvtph_ps(_mm512_castsi512_si256(v1));                                     \
                w3 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v1, 1));                               \
            }                                                                                         \
            AVX512_FMA4(0) AVX512_FMA4(1) AVX512_FMA4(2) AVX512_FMA4(3)                               \
        }                                                                                             \
        if (k < Kb) {                                                                                 \
            __m512 w0, w1;                                                                            \
            if (bf16) {                                                                               \
                __m512i v0 = _mm512_loadu_si512((const void *)(wr + k));                              \
                w0 = _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16));                                  \
                w1 = _mm512_castsi512_ps(_mm512_and_si512(v0, hmask));                                \
            } else {                                                                                  \
                __m512i v0 = _mm512_loadu_si512((const void *)(wr + k));                              \
                w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(v0));                                     \
                w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v0, 1));                               \
            }                                                                                         \
            AVX512_FMA2(0) AVX512_FMA2(1) AVX512_FMA2(2) AVX512_FMA2(3)                               \
        }                                                                                             \
        AVX512_OUT(0) AVX512_OUT(1) AVX512_OUT(2) AVX512_OUT(3)                                       \
    } while (0)

/* TT <= 4 tokens (a compile-time constant after inlining), rows [n0, n1) one after another. */
AVX512_TARGET static inline __attribute__((always_inline)) void
avx512_tokens(float *y, size_t ldy, const float *x, const float *xs, size_t ldx, const uint16_t *W, bool bf16,
              size_t TT, size_t K, size_t Kb, size_t n0, size_t n1, bool xpf) {
    const __m512i hmask = _mm512_set1_epi32((int)0xffff0000u);
    for (size_t n = n0; n < n1; n++) AVX512_BODY(TT, xpf);
}

/* Rows per chunk: a chunk's weights (at most GEMV_CHUNK_ROWS * K * 2 bytes) are streamed from
 * memory by the first group of 4 tokens and re-read from the L2 cache by the next groups
 * (16 to 128 rows or 128-512 KB per chunk measured within noise of 32; 8 slower). */
#define GEMV_CHUNK_ROWS 32

AVX512_TARGET static void rows_avx512(float *y, size_t ldy, const float *x, const float *xp, const uint16_t *W,
                                      bool bf16, size_t T, size_t K, size_t n0, size_t n1) {
    size_t Kb = K / 32 * 32;
    /* bf16 reads the pre-arranged x (stride Kb), f16 x itself (stride K) */
    const float *xs = bf16 ? xp : x;
    size_t ldx = bf16 ? Kb : K;
    for (size_t c0 = n0; c0 < n1; c0 += GEMV_CHUNK_ROWS) {
        size_t c1 = n1 - c0 < GEMV_CHUNK_ROWS ? n1 : c0 + GEMV_CHUNK_ROWS;
        for (size_t t0 = 0; t0 < T; t0 += 4) {
            size_t tt = T - t0 < 4 ? T - t0 : 4;
            float *yt = y + t0 * ldy;
            const float *xt = x + t0 * K, *xst = xs + t0 * ldx;
#define T512(b, n) avx512_tokens(yt, ldy, xt, xst, ldx, W, b, n, K, Kb, c0, c1, false)
            if (tt == 1 && K >= GEMV_XPF_MIN_K) {
                if (bf16) avx512_tokens(yt, ldy, xt, xst, ldx, W, true, 1, K, Kb, c0, c1, true);
                else avx512_tokens(yt, ldy, xt, xst, ldx, W, false, 1, K, Kb, c0, c1, true);
            } else if (bf16) {
                switch (tt) {
                case 1: T512(true, 1); break;
                case 2: T512(true, 2); break;
                case 3: T512(true, 3); break;
                default: T512(true, 4); break;
                }
            } else {
                switch (tt) {
                case 1: T512(false, 1); break;
                case 2: T512(false, 2); break;
                case 3: T512(false, 3); break;
                default: T512(false, 4); break;
                }
            }
#undef T512
        }
    }
}

/* ---- AVX2: the same over 256 bits, 16-element blocks ---- */

/* Named per-token accumulators, as AVX512_ACC and its companions. */
#define AVX2_ACC(t) __m256 a0_##t = _mm256_setzero_ps(), a1_##t = a0_##t, a2_##t = a0_##t, a3_##t = a0_##t
#define AVX2_FMA4(t)                                                                                  \
    if ((t) < (TT)) {                                                                                 \
        const float *xt = xs + (t) * ldx + k;                                                         \
        a0_##t = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt), a0_##t);                                    \
        a1_##t = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt + 8), a1_##t);                                \
        a2_##t = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xt + 16), a2_##t);                               \
        a3_##t = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xt + 24), a3_##t);                               \
    }
#define AVX2_FMA2(t)                                                                                  \
    if ((t) < (TT)) {                                                                                 \
        const float *xt = xs + (t) * ldx + k;                                                         \
        a0_##t = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt), a0_##t);                                    \
        a1_##t = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt + 8), a1_##t);                                \
    }
#define AVX2_OUT(t)                                                                                   \
    if ((t) < (TT)) {                                                                                 \
        __m256 s8 = _mm256_add_ps(_mm256_add_ps(a0_##t, a1_##t), _mm256_add_ps(a2_##t, a3_##t));      \
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));             \
        s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                                                   \
        s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));                                                     \
        y[(t) * ldy + n] = tail_dot(_mm_cvtss_f32(s4), wr, x + (t) * K, Kb, K, bf16);                 \
    }

/* One row x TT (<= 2) tokens, AVX512_BODY's structure over 256 bits: 32 elements (64 bytes) per
 * step into four accumulators per token (even / odd halves of the step's two 16-blocks; a last
 * lone 16-block goes to the first two), summed (a0 + a1) + (a2 + a3), reduced, then the scalar
 * tail. One row at a time keeps one weight stream: two interleaved rows (the earlier kernel, one
 * accumulator per row and token) read 10 GB/s on one thread, a third of the probe. */
#define AVX2_BODY(TT)                                                                                 \
    do {                                                                                              \
        const uint16_t *wr = W + n * K;                                                               \
        AVX2_ACC(0);                                                                                  \
        AVX2_ACC(1);                                                                                  \
        size_t k = 0;                                                                                 \
        for (; k + 32 <= Kb; k += 32) {                                                               \
            __m256 w0, w1, w2, w3;                                                                    \
            if (bf16) {                                                                               \
                __m256i v0 = _mm256_loadu_si256((const __m256i *)(wr + k));                           \
                __m256i v1 = _mm256_loadu_si256((const __m256i *)(wr + k + 16));                      \
                w0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16));                                  \
                w1 = _mm256_castsi256_ps(_mm256_and_si256(v0, hmask));                                \
                w2 = _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16));                                  \
                w3 = _mm256_castsi256_ps(_mm256_and_si256(v1, hmask));                                \
            } else {                                                                                  \
                w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + k)));                     \
                w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + k + 8)));                 \
                w2 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + k + 16)));                \
                w3 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + k + 24)));                \
            }                                                                                         \
            AVX2_FMA4(0) AVX2_FMA4(1)                                                                 \
        }                                                                                             \
        if (k < Kb) {                                                                                 \
            __m256 w0, w1;                                                                            \
            if (bf16) {                                                                               \
                __m256i v0 = _mm256_loadu_si256((const __m256i *)(wr + k));                           \
                w0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16));                                  \
                w1 = _mm256_castsi256_ps(_mm256_and_si256(v0, hmask));                                \
            } else {                                                                                  \
                w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + k)));                     \
                w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + k + 8)));                 \
            }                                                                                         \
            AVX2_FMA2(0) AVX2_FMA2(1)                                                                 \
        }                                                                                             \
        AVX2_OUT(0) AVX2_OUT(1)                                                                       \
    } while (0)

/* TT <= 2 tokens (a compile-time constant after inlining), rows [n0, n1) one after another. */
AVX2_TARGET static inline __attribute__((always_inline)) void
avx2_tokens(float *y, size_t ldy, const float *x, const float *xs, size_t ldx, const uint16_t *W, bool bf16,
            size_t TT, size_t K, size_t Kb, size_t n0, size_t n1) {
    const __m256i hmask = _mm256_set1_epi32((int)0xffff0000u);
    for (size_t n = n0; n < n1; n++) AVX2_BODY(TT);
}

AVX2_TARGET static void rows_avx2(float *y, size_t ldy, const float *x, const float *xp, const uint16_t *W,
                                  bool bf16, size_t T, size_t K, size_t n0, size_t n1) {
    size_t Kb = K / 16 * 16;
    const float *xs = bf16 ? xp : x;
    size_t ldx = bf16 ? Kb : K;
    for (size_t c0 = n0; c0 < n1; c0 += GEMV_CHUNK_ROWS) { /* as rows_avx512, 2 tokens per pass */
        size_t c1 = n1 - c0 < GEMV_CHUNK_ROWS ? n1 : c0 + GEMV_CHUNK_ROWS;
        for (size_t t0 = 0; t0 < T; t0 += 2) {
            float *yt = y + t0 * ldy;
            const float *xt = x + t0 * K, *xst = xs + t0 * ldx;
            bool two = T - t0 >= 2;
            if (bf16) {
                if (two) avx2_tokens(yt, ldy, xt, xst, ldx, W, true, 2, K, Kb, c0, c1);
                else avx2_tokens(yt, ldy, xt, xst, ldx, W, true, 1, K, Kb, c0, c1);
            } else {
                if (two) avx2_tokens(yt, ldy, xt, xst, ldx, W, false, 2, K, Kb, c0, c1);
                else avx2_tokens(yt, ldy, xt, xst, ldx, W, false, 1, K, Kb, c0, c1);
            }
        }
    }
}
#endif

void ct_gemv_rows(ct_gemv_level lv, float *y, size_t ldy, const float *x, const float *xp, const ct_tensor *W,
                  size_t T, size_t K, size_t n0, size_t n1) {
    const uint16_t *w = (const uint16_t *)W->data;
    bool bf16 = W->dtype == CT_DTYPE_BF16;
    if (n0 >= n1) return;
#ifdef CT_GEMV_X86
    if (lv == CT_GEMV_AVX512) {
        rows_avx512(y, ldy, x, xp, w, bf16, T, K, n0, n1);
        return;
    }
    if (lv == CT_GEMV_AVX2) {
        rows_avx2(y, ldy, x, xp, w, bf16, T, K, n0, n1);
        return;
    }
#endif
    (void)xp;
    rows_scalar(y, ldy, x, w, bf16, T, K, n0, n1);
}

/* Bytes of weights below which a call runs on the calling thread (a fork costs more). */
#define GEMV_PAR_MIN_BYTES (256u << 10)

void ct_cpu_gemv_parallel(ct_ctx *c, const ct_tensor *const *Ws, size_t n, size_t bytes, size_t align,
                          ct_cpu_rows_fn rows, void *user) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += (size_t)Ws[i]->shape[0];
    int nt = bytes < GEMV_PAR_MIN_BYTES ? 1 : ct_ctx_threads(c);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t th = (size_t)omp_get_thread_num(), nth = (size_t)omp_get_num_threads();
        size_t r0 = total * th / nth / align * align;
        size_t r1 = th + 1 == nth ? total : total * (th + 1) / nth / align * align, base = 0;
        for (size_t i = 0; i < n && base < r1; i++) {
            size_t N = (size_t)Ws[i]->shape[0], a = r0 > base ? r0 - base : 0, b = r1 - base < N ? r1 - base : N;
            if (a < b) rows(user, i, a, b);
            base += N;
        }
    }
}

typedef struct gemv_call {
    ct_gemv_level lv;
    float *const *ys;
    const float *x, *const *xp;
    const uint16_t *xb; /* bf16-dot: x rounded to bf16, or NULL */
    const ct_tensor *const *Ws;
    size_t T, K;
} gemv_call;

static void gemv_part(void *user, size_t i, size_t a, size_t b) {
    const gemv_call *g = user;
    const ct_tensor *W = g->Ws[i];
    size_t N = (size_t)W->shape[0];
    if (g->xb) ct_gemv_bf16dot_rows(g->ys[i], N, g->xb, W, g->T, g->K, a, b);
    else ct_gemv_rows(g->lv, g->ys[i], N, g->x, g->xp[W->dtype == CT_DTYPE_F16], W, g->T, g->K, a, b);
}

void ct_gemv_forward(ct_ctx *c, ct_gemv_level lv, float *const *ys, const float *x, const ct_tensor *const *Ws,
                     size_t n, size_t T, size_t K) {
    size_t total = 0, xpn[2] = {0, 0};
    for (size_t i = 0; i < n; i++) total += (size_t)Ws[i]->shape[0];
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    /* the opt-in bf16-dot kernel (gemv_bf16dot.c): x rounded to bf16 once, bf16 W only */
    bool dot = T >= 2 && ct_ctx_gemv_bf16dot(c);
    for (size_t i = 0; dot && i < n; i++) dot = Ws[i]->dtype == CT_DTYPE_BF16;
    uint16_t *xb = dot ? ct_scratch(ar, T * ct_gemv_bf16dot_ld(K) * sizeof(uint16_t)) : NULL;
    if (dot) ct_gemv_bf16dot_prepare(xb, x, T, K);
    /* x pre-arranged once per dtype (bf16 and f16 matrices may share a call) */
    const float *xp[2] = {NULL, NULL};
    static const ct_dtype dts[2] = {CT_DTYPE_BF16, CT_DTYPE_F16};
    for (int d = 0; d < 2; d++) {
        xpn[d] = ct_gemv_xp_floats(lv, dts[d], T, K);
        if (!xpn[d] || dot) continue;
        bool used = false;
        for (size_t i = 0; i < n; i++) used |= Ws[i]->dtype == dts[d];
        if (!used) continue;
        float *p = ct_scratch_f32(ar, xpn[d]);
        ct_gemv_prepare(lv, dts[d], p, x, T, K);
        xp[d] = p;
    }
    gemv_call g = {lv, ys, x, xp, xb, Ws, T, K};
    ct_cpu_gemv_parallel(c, Ws, n, total * K * 2, 1, gemv_part, &g);
    ct_arena_release(ar, mk);
}
