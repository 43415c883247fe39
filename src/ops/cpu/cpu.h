/* Internal helpers shared by the CPU kernels (not part of the ops interface). */
#ifndef CT_OPS_CPU_CPU_H
#define CT_OPS_CPU_CPU_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/ops.h"

/* Parallel regions of a kernel run on the context's threads when the work is worth a fork. */
#define CT_PAR_MIN_ELEMS 65536

/* The rows of a multi-matrix GEMV on the context's threads (gemv.c, gemv_quant.c, gemv_kquant.c):
 * the rows of the n matrices Ws, concatenated, are split into equal static ranges, one per
 * thread, cut at multiples of `align` (whole row groups of a packed layout; the last range ends
 * at the last row), and each thread calls rows(user, i, a, b) for its rows [a, b) of matrix i.
 * One thread when the weights are fewer than 256 KiB (`bytes`): a fork costs more. Results do
 * not depend on the split when a row's arithmetic does not. */
typedef void (*ct_cpu_rows_fn)(void *user, size_t i, size_t a, size_t b);
void ct_cpu_gemv_parallel(ct_ctx *c, const ct_tensor *const *Ws, size_t n, size_t bytes, size_t align,
                          ct_cpu_rows_fn rows, void *user);

/* Whether the integer GEMVs' AVX-512 level uses AVX-512 VNNI (the CPU has it with VL, and
 * ct_gemv_int8_vnni has not switched it off). */
bool ct_cpu_int8_vnni(void);

/* Switches OpenBLAS to one thread (once per process); called before every BLAS call. */
void ct_cpu_blas_init(void);
/* One single-threaded OpenBLAS sgemm (ct_sgemm's arguments). */
void ct_cpu_sgemm1(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* out[r, :] = f32(W[r0 + r, k0 : k0 + kw]) for r < nr: a block of rows / columns of W[., K]
 * decoded to f32 into a dense [nr, kw] buffer through the dtype table. */
void ct_cpu_block_to_f32(float *out, const ct_tensor *W, size_t r0, size_t nr, size_t K, size_t k0,
                         size_t kw);

/* 16 floats as one GCC vector (unaligned loads / stores through memcpy; never passed or returned
 * by value, whose ABI depends on the instruction set): the compiler maps it onto the widest
 * registers the build targets (one zmm, two ymm or four xmm) with the same lane arithmetic, so
 * results do not depend on the instruction set. */
typedef float ct_cpu_v16 __attribute__((vector_size(64)));
typedef float ct_cpu_v8 __attribute__((vector_size(32)));
typedef float ct_cpu_v4 __attribute__((vector_size(16)));
typedef float ct_cpu_v2 __attribute__((vector_size(8)));

/* sum_d a[d] b[d]: 16 lane sums (lane i takes d = i mod 16 of the 16-blocks), reduced by halving
 * (lanes i and i + 8, then i + 4, ...), then the tail d >= n / 16 * 16 in order. */
static inline float ct_cpu_dot(const float *a, const float *b, size_t n) {
    size_t d = 0;
    float s = 0.0f;
    if (n >= 16) {
        ct_cpu_v16 acc, va, vb;
        memcpy(&va, a, sizeof va), memcpy(&vb, b, sizeof vb);
        acc = va * vb;
        for (d = 16; d + 16 <= n; d += 16) {
            memcpy(&va, a + d, sizeof va), memcpy(&vb, b + d, sizeof vb);
            acc += va * vb;
        }
        ct_cpu_v8 h8 = __builtin_shufflevector(acc, acc, 0, 1, 2, 3, 4, 5, 6, 7) +
                       __builtin_shufflevector(acc, acc, 8, 9, 10, 11, 12, 13, 14, 15);
        ct_cpu_v4 h4 = __builtin_shufflevector(h8, h8, 0, 1, 2, 3) + __builtin_shufflevector(h8, h8, 4, 5, 6, 7);
        ct_cpu_v2 h2 = __builtin_shufflevector(h4, h4, 0, 1) + __builtin_shufflevector(h4, h4, 2, 3);
        s = h2[0] + h2[1];
    }
    for (; d < n; d++) s += a[d] * b[d];
    return s;
}

/* y[d] += p x[d] for d < n (elementwise: the same bits as the plain loop). */
static inline void ct_cpu_axpy(float *y, float p, const float *x, size_t n) {
    size_t d = 0;
    for (; d + 16 <= n; d += 16) {
        ct_cpu_v16 vy, vx;
        memcpy(&vy, y + d, sizeof vy), memcpy(&vx, x + d, sizeof vx);
        vy += p * vx;
        memcpy(y + d, &vy, sizeof vy);
    }
    for (; d < n; d++) y[d] += p * x[d];
}

/* One causal attention row (the plain per-row algorithm): p[j] = exp(q_t·k_j * scale - max) for
 * keys j <= last of kv head kh (k is [S, Hkv*D]), 0 for keys of another segment (seg_k non-NULL
 * and seg_k[j] != seg_t). Returns 1 / sum_j p[j] (0 when every key is masked); the caller
 * normalises. Shared by the row forward and the backward's recomputation so both see
 * bit-identical probabilities. */
static inline float ct_cpu_attn_row(float *p, const float *qt, const float *k, size_t Hkv, size_t kh,
                                    size_t D, size_t last, float scale, const int32_t *seg_k,
                                    int32_t seg_t) {
    float mx = -INFINITY;
    for (size_t j = 0; j <= last; j++) {
        if (seg_k && seg_t != seg_k[j]) {
            p[j] = -INFINITY;
            continue;
        }
        const float *kj = k + (j * Hkv + kh) * D;
        p[j] = ct_cpu_dot(qt, kj, D) * scale;
        if (p[j] > mx) mx = p[j];
    }
    float sum = 0.0f;
    for (size_t j = 0; j <= last; j++) {
        p[j] = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx);
        sum += p[j];
    }
    return sum > 0.0f ? 1.0f / sum : 0.0f;
}

/* One chunk (n <= CT_DELTANET_CHUNK tokens) of one value head of the gated delta rule, the
 * UT/WY form of torch_chunk_gated_delta_rule (src/ops/cpu/deltanet.c). Matrices are row-major
 * with leading dimension n ([n, n]), Dk ([n, Dk]) or Dv ([n, Dv]). */
typedef struct ct_dn_chunk {
    size_t n, Dk, Dv;
    double *G;   /* [n] in-chunk cumulative log decay G_i = g_0 + ... + g_i */
    float *E;    /* [n] exp(G_i) */
    float *Gam;  /* [n, n] exp(G_i - G_j) for j <= i, else 0 */
    float *Q;    /* [n, Dk] q / sqrt(Dk) */
    float *K;    /* [n, Dk] k */
    float *KB;   /* [n, Dk] beta k */
    float *A;    /* [n, n] strictly lower part of (KB K^T) * Gam; M = I + A */
    float *P;    /* [n, n] (Q K^T) * Gam (lower, diagonal included) */
    float *U;    /* [n, Dv] M^-1 (beta v) */
    float *W;    /* [n, Dk] M^-1 (E * KB) */
    float *Vn;   /* [n, Dv] U - W S0: the values the chunk writes into the state */
} ct_dn_chunk;

/* Scratch for a chunk of up to CT_DELTANET_CHUNK tokens from arena a. */
void ct_dn_chunk_alloc(ct_dn_chunk *ck, ct_arena *a, size_t Dk, size_t Dv);
/* Fills every field for the n tokens at q, k (row stride ld_qk), v (ld_v), g, beta (stride Hv)
 * and the state S0 [Dk, Dv] at the chunk start. */
void ct_dn_chunk_compute(ct_dn_chunk *ck, size_t n, const float *q, const float *k, size_t ld_qk,
                         const float *v, size_t ld_v, const float *g, const float *beta, size_t Hv,
                         const float *S0);

/* AVX512-BF16 kernels of the linear table (src/ops/cpu/linear_bf16.c). */
void ct_cpu_linear_bf16(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K,
                        size_t N);
void ct_cpu_linear_bf16_dx(ct_ctx *c, float *dx, const float *dy, const ct_tensor *W, size_t T,
                           size_t K, size_t N);
void ct_cpu_linear_bf16_dw(ct_ctx *c, float *dW, const float *dy, const float *x, size_t T, size_t K,
                           size_t N);

#endif
