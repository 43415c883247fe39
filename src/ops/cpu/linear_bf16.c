/* Opt-in bf16 compute for linear layers (CT_PRECISION_BF16, a row of the linear kernel table):
 * y[T,N] = bf16(x)[T,K] · W[N,K]^T with AVX512-BF16 `vdpbf16ps` (pairs of bf16 products summed into f32
 * lanes), f32 accumulation, activations rounded to bf16 with round-to-nearest-even as
 * torch.autocast does. The kernel is compiled with a target attribute and only called after a
 * runtime CPU check, so the library still runs on CPUs without AVX-512. */
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

/* xb[t, 0:Kp] = bf16(x[t, 0:K]) (nearest even), zero-padded to Kp (a multiple of 32). */
BF16_TARGET static void rows_to_bf16(uint16_t *xb, const float *x, size_t T, size_t K, size_t Kp) {
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * K;
        uint16_t *o = xb + t * Kp;
        for (size_t k = 0; k < Kp; k += 32) {
            size_t r = K > k ? K - k : 0;
            __mmask16 m0 = r >= 16 ? 0xffff : (__mmask16)((1u << r) - 1);
            __mmask16 m1 = r >= 32 ? 0xffff : r > 16 ? (__mmask16)((1u << (r - 16)) - 1) : 0;
            __m512 lo = _mm512_maskz_loadu_ps(m0, xr + k), hi = _mm512_maskz_loadu_ps(m1, xr + k + 16);
            _mm512_storeu_si512((void *)(o + k), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

/* Contraction elements packed at a time (the packed block, KC*64 bytes, stays in L2). */
#define BF16_KC 4096

/* Packs B(k, c) for k in [k0, k0 + kc) (kc even, zero past kmax) and c in [c0, c0 + nb) (zero
 * past nb) as P[((k - k0) / 2 * 32 + j) * 2 + (k & 1)]. trans: B(k, c) = W[c * ld + k] (the
 * forward, W[N,K]); else B(k, c) = W[k * ld + c] (dx = dy W). */
static void pack_b(uint16_t *P, const uint16_t *W, size_t ld, bool trans, size_t k0, size_t kc,
                   size_t kmax, size_t c0, size_t nb) {
    size_t k1 = k0 + kc < kmax ? k0 + kc : kmax, np = (k1 - k0) / 2; /* full pairs */
    bool odd = (k1 - k0) & 1;
    if (nb < BF16_NB || np * 2 < kc) memset(P, 0, kc * BF16_NB * sizeof(uint16_t));
    if (trans) { /* each output column's row of W is contiguous: copy 32-bit pairs */
        for (size_t j = 0; j < nb; j++) {
            const uint16_t *w = W + (c0 + j) * ld + k0;
            for (size_t p = 0; p < np; p++) memcpy(P + (p * BF16_NB + j) * 2, w + 2 * p, 4);
            if (odd) P[(np * BF16_NB + j) * 2] = w[2 * np];
        }
    } else { /* two rows of W give one row of pairs */
        for (size_t p = 0; p < np; p++) {
            const uint16_t *w0 = W + (k0 + 2 * p) * ld + c0, *w1 = w0 + ld;
            uint32_t *d = (uint32_t *)(void *)(P + p * BF16_NB * 2);
            for (size_t j = 0; j < nb; j++) d[j] = (uint32_t)w0[j] | (uint32_t)w1[j] << 16;
        }
        if (odd) {
            const uint16_t *w0 = W + (k0 + 2 * np) * ld + c0;
            for (size_t j = 0; j < nb; j++) P[(np * BF16_NB + j) * 2] = w0[j];
        }
    }
}

/* y[t, 0:nb] (+)= sum_{k < kc} xr_t[k] B(k, .) for t < tt <= BF16_TT (rows past tt reuse row 0
 * and are not stored), nb <= 32 columns (masked), P packed by pack_b. */
BF16_TARGET static void kernel8x32(float *y, size_t ldy, const uint16_t *xb, size_t ldx, size_t kc,
                                   size_t tt, const uint16_t *P, size_t nb, bool acc) {
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
            memcpy(&pair, xr[i] + 2 * k2, sizeof pair);
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

/* y[T, NC] (+)= bf16(x)[T, KX] · B[KX, NC] with B read from bf16 W as pack_b describes. */
BF16_TARGET static void gemm_bf16(ct_ctx *c, float *y, const float *x, const uint16_t *W, size_t ld,
                                  bool trans, size_t T, size_t KX, size_t NC, bool acc) {
    size_t Kp = (KX + 31) / 32 * 32;
    ct_arena *ar0 = ct_ctx_arena(c);
    size_t mk0 = ct_arena_mark(ar0);
    uint16_t *xb = ct_scratch(ar0, T * Kp * sizeof(uint16_t));
    rows_to_bf16(xb, x, T, KX, Kp);
    size_t nblk = (NC + BF16_NB - 1) / BF16_NB;
#pragma omp parallel num_threads(ct_ctx_threads(c)) if (T * NC * KX > (1u << 21))
    {
        size_t kcmax = Kp < BF16_KC ? Kp : BF16_KC;
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        uint16_t *P = ct_scratch(ar, kcmax * BF16_NB * sizeof(uint16_t));
#pragma omp for schedule(dynamic, 4)
        for (size_t b = 0; b < nblk; b++) {
            size_t c0 = b * BF16_NB, nb = NC - c0 < BF16_NB ? NC - c0 : BF16_NB;
            for (size_t k0 = 0; k0 < Kp; k0 += BF16_KC) {
                size_t kc = Kp - k0 < BF16_KC ? Kp - k0 : BF16_KC;
                pack_b(P, W, ld, trans, k0, kc, KX, c0, nb);
                for (size_t t0 = 0; t0 < T; t0 += BF16_TT)
                    kernel8x32(y + t0 * NC + c0, NC, xb + t0 * Kp + k0, Kp, kc,
                               T - t0 < BF16_TT ? T - t0 : BF16_TT, P, nb, acc || k0 > 0);
            }
        }
        ct_arena_release(ar, mk);
    }
    ct_arena_release(ar0, mk0);
}
#endif

/* The table only picks these rows after ct_cpu_has_bf16(); without the kernel they are never
 * reached. */
void ct_cpu_linear_bf16(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K,
                        size_t N) {
#ifdef CT_HAVE_BF16_KERNEL
    gemm_bf16(c, y, x, (const uint16_t *)W->data, K, true, T, K, N, false);
#else
    (void)c, (void)y, (void)x, (void)W, (void)T, (void)K, (void)N;
#endif
}

void ct_cpu_linear_bf16_dx(ct_ctx *c, float *dx, const float *dy, const ct_tensor *W, size_t T,
                           size_t K, size_t N) {
#ifdef CT_HAVE_BF16_KERNEL
    gemm_bf16(c, dx, dy, (const uint16_t *)W->data, K, false, T, N, K, true);
#else
    (void)c, (void)dx, (void)dy, (void)W, (void)T, (void)K, (void)N;
#endif
}
