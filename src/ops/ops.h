/* The compute interface the model calls. The only place with kernels (src/ops/cpu/ now, a CUDA
 * backend later behind the same signatures). Conventions (llm.c style): outputs first, then
 * inputs, then weights, then dimensions. Activations are f32, row-major; weights are ct_tensor
 * views in their stored dtype. Backward functions ACCUMULATE (+=) into gradient buffers. */
#ifndef CT_OPS_OPS_H
#define CT_OPS_OPS_H

#include <stdbool.h>
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

/* ---- Threading model (one pool for the whole library) ----
 * All parallelism is OpenMP. OpenBLAS is switched to ONE thread the first time libctune calls
 * it, and every large GEMM is split by ct_sgemm into column (or row) blocks that OpenMP threads
 * run as independent single-threaded sgemm calls. Two pools (OpenMP + OpenBLAS pthreads) on the
 * same cores spin against each other: measured 30x slower decode and 20x slower training steps
 * (docs/perf.md). Nothing reads or sets OMP_* / OPENBLAS_* environment variables.
 * Every C element is computed by one sgemm call whatever the thread count, so results do not
 * depend on the number of threads. */

/* C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C[M,N]  (f32, row-major, leading
 * dimensions in elements). op(A) = A[M,K] (lda >= K), or A^T with A stored [K,M] when trans_a
 * (lda >= M); op(B) = B[K,N] (ldb >= N), or B^T with B stored [N,K] when trans_b (ldb >= K).
 * Split over the OpenMP threads when large and not already inside a parallel region. Use this
 * instead of a bare cblas_sgemm call. */
void ct_sgemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha, const float *A,
              size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* C[M,N] = A[M,K] · B[N,K]^T (contiguous): ct_sgemm(false, true, ...). */
void ct_sgemm_nt(float *C, const float *A, const float *B, size_t M, size_t N, size_t K);

/* Opt-in bf16 compute (like torch.autocast(bfloat16)): linear layers with bf16 weights and more
 * than 4 tokens (prefill, training) round the activations (forward) and the output gradients
 * (input-gradient backward) to bf16 (nearest even) and use AVX512-BF16 dot products with f32
 * accumulation. Default off: the exact f32 path (bf16 weights widened
 * exactly). Returns false, leaving the mode off, when the CPU lacks AVX512-BF16. Global. */
bool ct_ops_set_bf16_compute(bool on);
bool ct_ops_get_bf16_compute(void);

/* Threads used by the kernels (the OpenMP thread count). n <= 0: all cores. */
void ct_ops_set_threads(int n);
int ct_ops_get_threads(void);

#endif
