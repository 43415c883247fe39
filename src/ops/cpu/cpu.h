/* Internal helpers shared by the CPU kernels (not part of the ops interface). */
#ifndef CT_OPS_CPU_CPU_H
#define CT_OPS_CPU_CPU_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/tensor.h"

/* Switches OpenBLAS to one thread (once per process); called before every BLAS call. */
void ct_cpu_blas_init(void);

/* out[i] = f32(in[i]) for n bf16 values (exact widening, vectorised). */
void ct_cpu_bf16_to_f32(float *out, const uint16_t *in, size_t n);

/* out[r, :] = f32(W[r0 + r, k0 : k0 + kw]) for r < nr: a block of rows / columns of W[., K]
 * widened to f32 into a dense [nr, kw] buffer (any float dtype). */
void ct_cpu_block_to_f32(float *out, const ct_tensor *W, size_t r0, size_t nr, size_t K, size_t k0,
                         size_t kw);

/* In-place RoPE rotation of x[T, H, D] (HF rotate_half convention, f32 angle pos * inv_freq as HF
 * computes it) by +angle (sign 1: ct_rope_forward) or -angle (sign -1: ct_rope_backward, the
 * transpose). */
void ct_cpu_rope_rotate(float *x, const int32_t *pos, size_t T, size_t H, size_t D, double theta,
                        float sign);

/* One causal attention row (the plain per-row algorithm): p[j] = exp(q_t·k_j * scale - max) for
 * keys j <= last of kv head kh (k is [S, Hkv*D]), 0 for keys of another segment (seg_k non-NULL
 * and seg_k[j] != seg_t). Returns 1 / sum_j p[j] (0 when every key is masked); the caller
 * normalises. Shared by the naive attention forward and the backward's recomputation so both
 * see bit-identical probabilities. */
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
        float s = 0.0f;
        for (size_t d = 0; d < D; d++) s += qt[d] * kj[d];
        p[j] = s * scale;
        if (p[j] > mx) mx = p[j];
    }
    float sum = 0.0f;
    for (size_t j = 0; j <= last; j++) {
        p[j] = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx);
        sum += p[j];
    }
    return sum > 0.0f ? 1.0f / sum : 0.0f;
}

/* True when the CPU has AVX-512 F/BW/VL and AVX512-BF16 (runtime check). */
bool ct_cpu_has_avx512bf16(void);

/* y[T,N] = bf16(x)[T,K] · W[N,K]^T (bf16 W) with AVX512-BF16 dot products when the opt-in
 * bf16 compute mode is on (ct_ops_set_bf16_compute); returns false (nothing done) otherwise. */
bool ct_cpu_linear_bf16(float *y, const float *x, const uint16_t *W, size_t T, size_t K, size_t N);

/* dx[T,K] += bf16(dy)[T,N] · W[N,K] (bf16 W), same mode and kernel; false when the mode is off. */
bool ct_cpu_linear_bf16_dx(float *dx, const float *dy, const uint16_t *W, size_t T, size_t K, size_t N);

#endif
