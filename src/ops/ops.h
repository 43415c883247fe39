/* The compute interface the model calls. The only place with kernels (src/ops/cpu/ now, a CUDA
 * backend later behind the same signatures). Conventions (llm.c style): outputs first, then
 * inputs, then weights, then dimensions. Activations are f32, row-major; weights are ct_tensor
 * views in their stored dtype. Backward functions ACCUMULATE (+=) into gradient buffers. */
#ifndef CT_OPS_OPS_H
#define CT_OPS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "ctune/tensor.h"

/* y[T,N] = x[T,K] · W[N,K]^T (+ b[N] if b && b->data). W/b any float dtype. */
void ct_linear_forward(float *y, const float *x, const ct_tensor *W, const ct_tensor *b, size_t T,
                       size_t K, size_t N);

/* y[T,C] = x * rsqrt(mean(x^2) + eps) * w  (HF LlamaRMSNorm, f32 math, no +1 offset).
 * rstd[T] (optional) receives rsqrt(mean(x^2)+eps) for the backward pass. y may alias x. */
void ct_rmsnorm_forward(float *y, float *rstd, const float *x, const ct_tensor *w, size_t T,
                        size_t C, float eps);

/* In-place HF (non-interleaved, rotate_half) RoPE on x[T, H, D] at position ids pos[T]:
 * inv_freq[i] = theta^(-2i/D); x' = x*cos + rotate_half(x)*sin. */
void ct_rope_forward(float *x, const int32_t *pos, size_t T, size_t H, size_t D, double theta);

/* Causal scaled-dot-product attention with GQA.
 * q[T, Hq*D]; k, v[S, Hkv*D] (S >= T: the last T keys are the queries' own positions, the first
 * S-T come from a KV cache); out[T, Hq*D]. Query t sits at key index t + (S - T) and sees key j
 * iff j <= t + (S - T) and (seg == NULL or seg_q[t] == seg_k[j]) (packed samples).
 * Scale 1/sqrt(D), softmax in f32. kv head of query head h is h / (Hq / Hkv).
 * probs (optional) [Hq, T, S] receives the softmax probabilities for the backward pass. */
void ct_attention_forward(float *out, float *probs, const float *q, const float *k,
                          const float *v, const int32_t *seg_q, const int32_t *seg_k, size_t T,
                          size_t S, size_t Hq, size_t Hkv, size_t D);

/* out[n] = silu(gate[n]) * up[n]. out may alias gate or up. */
void ct_swiglu_forward(float *out, const float *gate, const float *up, size_t n);

/* out[T, C] = E[ids[t], :] (E any float dtype). */
void ct_embedding_forward(float *out, const int32_t *ids, const ct_tensor *E, size_t T, size_t C);

/* out[n] += a[n] (residual add). */
void ct_add_inplace(float *out, const float *a, size_t n);

/* C[M,N] = A[M,K] · B[N,K]^T (f32, row-major): column blocks of C split over the OpenMP threads,
 * one single-threaded OpenBLAS sgemm each. Use this instead of a bare cblas_sgemm call. */
void ct_sgemm_nt(float *C, const float *A, const float *B, size_t M, size_t N, size_t K);

/* Threads used by the kernels. n <= 0: all cores. All parallelism is OpenMP; OpenBLAS is set to
 * one thread (its own pool would fight the OpenMP threads for the cores). */
void ct_ops_set_threads(int n);
int ct_ops_get_threads(void);

#endif
