/* Backward kernels for training (llm.c style: `<op>_backward`, outputs (gradients) first, then
 * upstream gradients, then saved forward inputs, then weights, then dimensions). Every function
 * ACCUMULATES (+=) into its gradient buffers, so callers zero them once per optimizer step and
 * gradient accumulation over micro-batches is free. Gradient outputs that are NULL are skipped
 * (frozen weights: only dX is computed). Activations and gradients are f32; weights are
 * ct_tensor views in any float dtype (bf16/f16 are converted in row blocks for sgemm). */
#ifndef CT_OPS_OPS_GRAD_H
#define CT_OPS_OPS_GRAD_H

#include <stddef.h>
#include <stdint.h>

#include "ctune/tensor.h"

/* Linear y[T,N] = x[T,K] W[N,K]^T + b[N].
 * dx[T,K] += dy W;  dW[N,K] += dy^T x;  db[N] += sum_t dy[t]. */
void ct_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                        const ct_tensor *W, size_t T, size_t K, size_t N);

/* dx[T,K] += dy[T,N] A[N,K] for an f32 matrix A (plain sgemm helper). */
void ct_matmul_dx_f32(float *dx, const float *dy, const float *A, size_t T, size_t K, size_t N);

/* RMSNorm y = x * r * w with r = rsqrt(mean(x^2)+eps) saved as rstd[T] by the forward.
 * dx[T,C] += r*(w*dy) - x * r^3/C * sum_c(w*dy*x);  dw[C] += sum_t dy * x * r. */
void ct_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                         const float *rstd, const ct_tensor *w, size_t T, size_t C);

/* RoPE is a rotation, so the backward rotates dx[T,H,D] in place by the negative angle. */
void ct_rope_backward(float *dx, const int32_t *pos, size_t T, size_t H, size_t D, double theta);

/* Attention backward for ct_attention_forward's semantics (T == S, no KV cache: training).
 * Probabilities are recomputed per query row from q,k (no [H,T,T] buffer is kept).
 * dq[T,Hq*D], dk, dv[T,Hkv*D] += ...; GQA sums the group's contributions into its kv head. */
void ct_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const int32_t *seg, size_t T,
                           size_t Hq, size_t Hkv, size_t D);

/* Plain per-row reference of the same (used by tests and for short sequences). */
void ct_attention_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                 const float *k, const float *v, const int32_t *seg, size_t T,
                                 size_t Hq, size_t Hkv, size_t D);

/* Training forward of the same attention (T == S) computed per 256-query block with sgemm
 * (ct_attention_forward semantics, no probs output); falls back to it for short sequences. */
void ct_attention_forward_blocked(float *out, const float *q, const float *k, const float *v,
                                  const int32_t *seg, size_t T, size_t Hq, size_t Hkv, size_t D);

/* out = silu(g) * u.  dg[n] += dout*u*silu'(g);  du[n] += dout*silu(g). */
void ct_swiglu_backward(float *dg, float *du, const float *dout, const float *g, const float *u,
                        size_t n);

/* out[t] = E[ids[t]].  dE[V,C] += scatter-add of dout rows (only touched rows change). */
void ct_embedding_backward(float *dE, const float *dout, const int32_t *ids, size_t T, size_t C);

/* Cross-entropy fused with the LM head, computed in chunks of `chunk` tokens so the logits
 * [T, V] never exist whole (a [chunk, V] buffer does). For token t with label[t] >= 0:
 *   loss_t = logsumexp(h_t W^T) - (h_t W^T)[label_t],  weighted by weight[t] (NULL: 1).
 * Returns sum_t weight_t * loss_t (double, not normalised) and stores the count of labelled
 * tokens in *n_tokens (optional). If grad_scale != 0 it also accumulates the gradient of
 * grad_scale * sum_t weight_t * loss_t:  dh[T,C] += ...,  dW[V,C] += ... (dW may be NULL).
 * Labels < 0 (HF ignore_index -100) are skipped entirely (no matmul work). Labels >= V are
 * the caller's bug and are skipped as well. */
double ct_lm_head_xent(float *dh, float *dW, const float *h, const ct_tensor *W,
                       const int32_t *labels, const float *weight, size_t T, size_t C, size_t V,
                       float grad_scale, size_t chunk, size_t *n_tokens);

/* True when every value is finite. */
int ct_all_finite(const float *x, size_t n);

#endif
