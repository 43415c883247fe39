/* The compute interface: every numeric kernel of ctune sits behind these functions (src/ops/cpu/
 * now; another backend later behind the same signatures). Model, adapter and training code is
 * written once against them.
 *
 * Conventions (llm.c style): each op is a pair <op>_forward / <op>_backward; outputs first, then
 * inputs, then weights, then dimensions. Activations and gradients are f32, row-major; weights
 * are ct_tensor views in any float dtype of the dtype table (ctune/tensor.h). Backward functions
 * ACCUMULATE (+=) into gradient buffers (callers zero them once per optimizer step, so gradient
 * accumulation is free); a NULL gradient output is skipped (frozen weights).
 *
 * Every call takes the compute context (ctune/ctx.h): its thread count bounds every parallel
 * region, its precision selects the linear kernels, and its per-thread arenas provide all
 * scratch memory (ct_ctx_arena), so steady-state calls do not allocate.
 *
 * Results do not depend on the thread count: every output element is computed by one thread in
 * a fixed order (sums across threads are combined in a fixed order too). */
#ifndef CT_OPS_OPS_H
#define CT_OPS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "ctune/ctx.h"
#include "ctune/tensor.h"

/* ---- context internals used by kernels ---- */

/* ct_model_forward_batch marks its steps of 2+ sequences (on) and their end (off); the decode
 * GEMV runs the bf16-dot kernel when a step is marked, c's batch precision is CT_BATCH_BF16DOT
 * and the CPU has AVX512-BF16 (ct_ctx_gemv_bf16dot). */
void ct_ctx_batch_step(ct_ctx *c, bool on);
bool ct_ctx_gemv_bf16dot(const ct_ctx *c);
/* The scratch arena of the calling thread (outside or inside a parallel region of this ctx). */
ct_arena *ct_ctx_arena(ct_ctx *c);
/* n floats from arena a; prints a one-line message and aborts when memory is exhausted (scratch
 * is small next to the weights and activations the caller already holds). */
float *ct_scratch_f32(ct_arena *a, size_t n);
void *ct_scratch(ct_arena *a, size_t bytes);

/* ---- matrix products ---- */

/* C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C (f32, row-major, leading dimensions in
 * elements); op(A) = A[M,K] (lda >= K) or A^T with A stored [K,M] (trans_a, lda >= M); op(B) =
 * B[K,N] (ldb >= N) or B^T with B stored [N,K] (trans_b). Split into column (or row) blocks over
 * the context's threads when large and not already inside a parallel region, each block one
 * single-threaded OpenBLAS call (OpenBLAS's own threads are switched off: two thread pools on
 * the same cores spin against each other, docs/perf.md). The only GEMM entry point. */
void ct_sgemm(ct_ctx *c, bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
              const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* ---- dense factorizations: LAPACK (OpenBLAS's, single-threaded), f64, row-major ---- */

/* Thin SVD A[m,n] = U diag(S) Vt: U [m,k], S [k] descending, Vt [k,n], k = min(m,n) (dgesdd on
 * a column-major copy of A, as torch.linalg.svd(full_matrices=False) does on a CPU). False when
 * LAPACK reports no convergence or memory runs out. */
bool ct_svd_f64(ct_ctx *c, const double *A, size_t m, size_t n, double *U, double *S, double *Vt);
/* A[m,n] (m >= n) := Q of its reduced QR decomposition (dgeqrf + dorgqr, Householder, as
 * torch.linalg.qr(A).Q). False on a LAPACK error or when memory runs out. */
bool ct_qr_q_f64(ct_ctx *c, double *A, size_t m, size_t n);
/* The leading r singular vectors of A [m, n] (f32, row-major; r <= min(m, n)): U [m, r] (the
 * first r columns of the thin U) and Vh [r, n] (the first r rows of V^T), either may be NULL.
 * Computed in f64 by LAPACK dgesdd (OpenBLAS's LAPACK; torch.linalg.svd calls gesdd on CPUs
 * too). LAPACK's signs are arbitrary (they differ between libraries, CPU and GPU), so each
 * returned vector is flipped to make its largest-magnitude component positive (the first one
 * on ties); U's columns and Vh's rows are fixed independently, so they are bases of the
 * singular subspaces, not one factorisation. Errors: CT_ERR_NOMEM, CT_ERR_NUMERIC (no
 * convergence or a non-finite input), CT_ERR_ARG (sizes). */
ct_status ct_svd_basis(const float *A, size_t m, size_t n, size_t r, float *U, float *Vh, ct_err *err);

/* Linear y[T,N] = x[T,K] W[N,K]^T (+ b[N] when b && b->data). The kernel is picked from the
 * linear kernel table (src/ops/kernels.h) by W's dtype, T and the context's precision. */
void ct_linear_forward(ct_ctx *c, float *y, const float *x, const ct_tensor *W, const ct_tensor *b,
                       size_t T, size_t K, size_t N);
/* Several linears of one input (q/k/v, gate/up): ys[i][T, N_i] = x[T,K] Ws[i]^T (+ bs[i] when bs
 * and bs[i] and bs[i]->data), N_i = Ws[i]->shape[0]. When the table's decode GEMV serves every
 * weight (16-bit, T <= CT_GEMV_MAX_T) the matrices run in one parallel region, the rows of all of
 * them split statically over the threads (no thread waits between matrices); otherwise one
 * ct_linear_forward each. Either way the results equal n ct_linear_forward calls bit for bit. */
void ct_linear_multi_forward(ct_ctx *c, float *const *ys, const float *x, const ct_tensor *const *Ws,
                             const ct_tensor *const *bs, size_t n, size_t T, size_t K);
/* dx[T,K] += dy W;  dW[N,K] += dy^T x (W f32 or not: dW is an f32 buffer);  db[N] += sum_t dy. */
void ct_linear_backward(ct_ctx *c, float *dx, float *dW, float *db, const float *dy, const float *x,
                        const ct_tensor *W, size_t T, size_t K, size_t N);

/* ---- LoRA (PEFT LoraLayer): y += scaling * (dropout(x) A^T) B^T ---- */

/* One adapted linear: A [r, in], B [out, r] (f32), their gradients (NULL: not trained).
 * DoRA (PEFT use_dora) when mag != NULL: the magnitude vector m [out], its gradient, and wnorm
 * [out], the row norms ||W + scaling B A|| the forward computes (PEFT recomputes them every
 * forward from the current A and B; wnorm_fixed: computed once, A and B no longer change). */
typedef struct ct_lora_ref {
    const float *A, *B;
    float *dA, *dB;
    int r;
    float scaling; /* lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA */
    const float *mag;
    float *dmag;
    float *wnorm;
    bool wnorm_fixed;
} ct_lora_ref;

/* Dropout (nn.Dropout, train mode) on the LoRA input: element i of draw `stream` is zeroed when
 * ct_rng_uniform(seed, stream, i) < p, kept ones are scaled by 1/(1-p); the backward redraws the
 * same mask, so no mask is stored. p == 0: no dropout. */
typedef struct ct_dropout {
    float p;
    uint64_t seed, stream;
} ct_dropout;

/* y[N,out] += scaling * (drop(x)[N,in] A^T) B^T. */
void ct_lora_forward(ct_ctx *c, float *y, const float *x, const ct_lora_ref *lo, ct_dropout drop,
                     size_t N, size_t in, size_t out);
/* dx[N,in] += ..., lo->dA += ..., lo->dB += ... (NULL ones skipped). */
void ct_lora_backward(ct_ctx *c, float *dx, const float *dy, const float *x, const ct_lora_ref *lo,
                      ct_dropout drop, size_t N, size_t in, size_t out);
/* W[out,in] += scaling * B A (f32, in place): PEFT get_delta_weight, the one LoRA merge. */
void ct_lora_merge(ct_ctx *c, float *W, const ct_lora_ref *lo, size_t out, size_t in);

/* ---- DoRA (PEFT DoraLinearLayer): the whole adapted linear ----
 * With xd = drop(x), g = m / ||W + s B A||_row (the norm detached, as PEFT and the DoRA paper's
 * section 4.3 do) and s = scaling:
 *   y = x W^T + b + (g - 1) * (xd W^T) + g * s * (xd A^T) B^T
 * (without dropout: y = g * (x W^T + s (x A^T) B^T) + b). */

/* norm[out] = ||W[j] + scaling * (B A)[j]|| per output row j (PEFT get_weight_norm). */
void ct_dora_weight_norm(ct_ctx *c, float *norm, const ct_tensor *W, const ct_lora_ref *lo, size_t out, size_t in);
/* y[N,out] = the adapted linear of x[N,in] (bias b optional); sets lo->wnorm unless wnorm_fixed. */
void ct_dora_forward(ct_ctx *c, float *y, const float *x, const ct_tensor *W, const ct_tensor *b,
                     const ct_lora_ref *lo, ct_dropout drop, size_t N, size_t in, size_t out);
/* Backward of ct_dora_forward (lo->wnorm as its forward left it; W and b are frozen, as under
 * every LoRA method): dx += ..., lo->dA, dB, dmag += ... (NULL ones skipped). */
void ct_dora_backward(ct_ctx *c, float *dx, const float *dy, const float *x, const ct_tensor *W,
                      const ct_lora_ref *lo, ct_dropout drop, size_t N, size_t in, size_t out);
/* W[out,in] = (m / ||W + s B A||_row) * (W + s B A) (f32, in place): PEFT's DoRA merge. */
void ct_dora_merge(ct_ctx *c, float *W, const ct_lora_ref *lo, size_t out, size_t in);

/* out[n] = drop(x)[n] (elements 0..n of the draw). */
void ct_dropout_forward(ct_ctx *c, float *out, const float *x, ct_dropout drop, size_t n);

/* ---- normalisation, position encoding, activations ---- */

/* y[T,C] = x * rsqrt(mean(x^2) + eps) * (w + w_add) (HF LlamaRMSNorm with w_add 0; Qwen3.5's
 * RMSNorm, whose weight is an offset from 1, with w_add 1; f32 math). rstd[T] (optional)
 * receives rsqrt(mean(x^2)+eps) for the backward. y may alias x. */
void ct_rmsnorm_forward(ct_ctx *c, float *y, float *rstd, const float *x, const ct_tensor *w, float w_add,
                        size_t T, size_t C, float eps);
/* With s = w + w_add: dx[T,C] += r*(s*dy) - x r^3/C sum_c(s*dy*x);  dw[C] += sum_t dy x r. */
void ct_rmsnorm_backward(ct_ctx *c, float *dx, float *dw, const float *dy, const float *x,
                         const float *rstd, const ct_tensor *w, float w_add, size_t T, size_t C);

/* In-place HF RoPE (rotate_half, angle pos * inv_freq[i] in f32; inv_freq[R/2] from the model's
 * rope parameters, ct_rope_inv_freq; cos and sin multiplied by `scale`, HF's attention_scaling:
 * 1 but for YaRN) on the first R dims of every head of x[T, H, D] (R < D: partial rotary, the
 * rest passes unchanged) at positions pos[T]. The backward is the transpose: the rotation by the
 * negated angle, times scale. */
void ct_rope_forward(ct_ctx *c, float *x, const int32_t *pos, size_t T, size_t H, size_t D, size_t R,
                     const float *inv_freq, float scale);
void ct_rope_backward(ct_ctx *c, float *dx, const int32_t *pos, size_t T, size_t H, size_t D, size_t R,
                      const float *inv_freq, float scale);

/* out[n] = silu(gate[n]) * up[n] (out may alias gate or up);
 * dg += dout*u*silu'(g), du += dout*silu(g). */
void ct_swiglu_forward(ct_ctx *c, float *out, const float *gate, const float *up, size_t n);
void ct_swiglu_backward(ct_ctx *c, float *dg, float *du, const float *dout, const float *g,
                        const float *u, size_t n);

/* out[n] += a[n] (residual add). */
void ct_add_inplace(ct_ctx *c, float *out, const float *a, size_t n);

/* ---- attention ---- */

/* Causal scaled-dot-product attention with GQA (kv head of query head h is h / (Hq / Hkv)).
 * q[T, Hq*D]; k, v [S, Hkv*D] (S >= T: the last T keys are the queries' own positions, the
 * first S-T come from a KV cache); out[T, Hq*D]. Query t sits at key index t + (S - T) and sees
 * key j iff j <= t + (S - T) and (seg_q == NULL or seg_q[t] == seg_k[j]) (packed samples).
 * Scale 1/sqrt(D), softmax in f32. Long query blocks run as sgemm per (head, 256-query block),
 * short ones row by row; the choice depends only on T, so a sequence gives the same bits in
 * training (no cache) and in a prefill of the same tokens. */
void ct_attention_forward(ct_ctx *c, float *out, const float *q, const float *k, const float *v,
                          const int32_t *seg_q, const int32_t *seg_k, size_t T, size_t S, size_t Hq,
                          size_t Hkv, size_t D);
/* Backward for T == S (training); probabilities are recomputed, no [H,T,T] buffer is kept.
 * dq[T,Hq*D], dk, dv[T,Hkv*D] += ...; GQA sums the group's heads into their kv head. */
void ct_attention_backward(ct_ctx *c, float *dq, float *dk, float *dv, const float *dout,
                           const float *q, const float *k, const float *v, const int32_t *seg,
                           size_t T, size_t Hq, size_t Hkv, size_t D);
/* The plain per-row algorithms both of the above use for short T (exposed for the kernel tests). */
void ct_attention_forward_rows(ct_ctx *c, float *out, const float *q, const float *k, const float *v,
                               const int32_t *seg_q, const int32_t *seg_k, size_t T, size_t S,
                               size_t Hq, size_t Hkv, size_t D);
void ct_attention_backward_rows(ct_ctx *c, float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const int32_t *seg,
                                size_t T, size_t Hq, size_t Hkv, size_t D);

/* ---- Gated DeltaNet (Qwen3.5 linear attention) ---- */
/* The kernels behind HF transformers' Qwen3_5GatedDeltaNet (modeling_qwen3_5.py): the causal
 * depthwise conv over q|k|v, their SiLU, the q/k L2 norm, the decay / write-strength gates, the
 * gated delta rule itself (chunked like torch_chunk_gated_delta_rule), the gated RMSNorm of its
 * output, and the sigmoid output gate of Qwen3_5Attention. Nothing model-specific: the decoder
 * layer slices its projections into the views these take. */

/* y[n] = silu(x[n]) = x sigmoid(x) (y may alias x);  dx += dy * silu'(x). */
void ct_silu_forward(ct_ctx *c, float *y, const float *x, size_t n);
void ct_silu_backward(ct_ctx *c, float *dx, const float *dy, const float *x, size_t n);
/* Output gate of Qwen3.5 attention: y[n] = x[n] * sigmoid(g[n]) (y may alias x);
 * dx += dy*sigmoid(g), dg += dy*x*sigmoid(g)*(1-sigmoid(g)) (NULL skipped). */
void ct_sigmoid_gate_forward(ct_ctx *c, float *y, const float *x, const float *g, size_t n);
void ct_sigmoid_gate_backward(ct_ctx *c, float *dx, float *dg, const float *dy, const float *x, const float *g, size_t n);

/* Causal depthwise conv1d (nn.Conv1d groups=channels, no bias, left padding K-1; HF
 * causal_conv1d_fn / causal_conv1d_update without the activation):
 *   y[t,ch] = sum_{j<K} w[ch,j] * xx[t + j - (K-1), ch]   (summed in j order)
 * where xx is x preceded by `prev` [K-1, CH] (the conv state of inference: the last K-1 inputs
 * seen before, oldest first; NULL: zeros). w: ct_tensor [CH, K] in any float dtype (HF's
 * conv1d.weight [CH,1,K] viewed 2-D). x, y [T, CH] (row stride CH); y must not alias x.
 * Updating the conv state for the next call is the caller's (the last K-1 rows of prev|x). */
void ct_conv1d_causal_forward(ct_ctx *c, float *y, const float *x, const float *prev, const ct_tensor *w,
                              size_t T, size_t CH, size_t K);
/* Training backward (prev = zeros): dx[T,CH] += ..., dw[CH,K] += ... (f32; NULL skipped). */
void ct_conv1d_causal_backward(ct_ctx *c, float *dx, float *dw, const float *dy, const float *x,
                               const ct_tensor *w, size_t T, size_t CH, size_t K);

/* L2 normalisation (FLA / HF l2norm) of rows*per_row vectors of length D:
 *   y = x * rsqrt(sum(x^2) + eps);  inv[rows*per_row] (optional) receives the rsqrt.
 * Vector i starts at x + (i / per_row) * ld + (i % per_row) * D (rows of per_row vectors at row
 * stride ld, e.g. the q heads of a [T, q|k|v] row); y and dx share that layout; y may alias x.
 * The backward needs the forward's inv: dx += inv*dy - inv^3 (x.dy) x. */
void ct_l2norm_forward(ct_ctx *c, float *y, float *inv, const float *x, size_t rows, size_t per_row,
                       size_t D, size_t ld, float eps);
void ct_l2norm_backward(ct_ctx *c, float *dx, const float *dy, const float *x, const float *inv,
                        size_t rows, size_t per_row, size_t D, size_t ld);

/* Gated RMSNorm (Qwen3_5RMSNormGated, norm before gate) of n contiguous vectors of length D:
 *   y = w * (x * rsqrt(mean(x^2) + eps)) * silu(z);  rstd[n] (optional) receives the rsqrt.
 * w: ct_tensor [D] in any float dtype (a plain weight, not 1 + w). The backward needs the
 * forward's rstd: dx, dz [n, D] += ...; dw[D] += ... (NULL skipped). */
void ct_rmsnorm_gated_forward(ct_ctx *c, float *y, float *rstd, const float *x, const float *z,
                              const ct_tensor *w, size_t n, size_t D, float eps);
void ct_rmsnorm_gated_backward(ct_ctx *c, float *dx, float *dz, float *dw, const float *dy, const float *x,
                               const float *z, const float *rstd, const ct_tensor *w, size_t n, size_t D);

/* The decay and write strength of Gated DeltaNet per token and value head:
 *   g[t,h] = -exp(A_log[h]) * softplus(a[t,h] + dt_bias[h])   (torch softplus: beta 1, threshold 20)
 *   beta[t,h] = sigmoid(b[t,h]);  a, b, g, beta [T, H]; A_log, dt_bias ct_tensor [H] any float dtype.
 * backward: da, db [T,H] += ..., dA_log, ddt_bias [H] += ... (f32; NULL skipped) from dg, dbeta
 * (either may be NULL: no gradient flows from it). */
void ct_deltanet_gates_forward(ct_ctx *c, float *g, float *beta, const float *a, const float *b,
                               const ct_tensor *A_log, const ct_tensor *dt_bias, size_t T, size_t H);
void ct_deltanet_gates_backward(ct_ctx *c, float *da, float *db, float *dA_log, float *ddt_bias,
                                const float *dg, const float *dbeta, const float *a, const float *b,
                                const ct_tensor *A_log, const ct_tensor *dt_bias, size_t T, size_t H);

/* The gated delta rule over one sequence of T tokens (no packing inside: the caller splits
 * packed rows into segments), grouped value heads (Hv a multiple of Hk): value head h reads q/k
 * head h / (Hv/Hk).
 * q, k: rows of Hk*Dk at row stride ld_qk (vector (t,h) at q + t*ld_qk + h*Dk), already
 * L2-normalised; the kernel scales q by 1/sqrt(Dk) itself. v: rows of Hv*Dv at stride ld_v.
 * g (log decay, <= 0), beta [T, Hv]. out [T, Hv*Dv] (contiguous). Per token, with S [Dk, Dv]
 * per value head (transformers' torch_recurrent_gated_delta_rule, the reference):
 *   S = exp(g_t) S;  S += k_t (beta_t (v_t - S^T k_t))^T;  out_t = S^T q_t / sqrt(Dk).
 * state [Hv, Dk, Dv]: in/out (the recurrent state of inference; NULL: start from zeros, final
 * state discarded). saved: NULL, or room for ct_deltanet_saved_floats(T, Hv, Dk, Dv) floats
 * receiving what the backward needs (the state at the start of every chunk).
 * The computation is chunked (CT_DELTANET_CHUNK tokens; the UT/WY form of
 * torch_chunk_gated_delta_rule: intra-chunk matrices with a unit-lower-triangular solve, then a
 * scan over chunks; a last chunk shorter than CT_DELTANET_CHUNK, T == 1 included, is not
 * padded); it agrees with the per-token recurrence to rounding. In-chunk cumulative decays are
 * summed in double. Value heads run in parallel. */
#define CT_DELTANET_CHUNK 64
size_t ct_deltanet_saved_floats(size_t T, size_t Hv, size_t Dk, size_t Dv);
void ct_deltanet_forward(ct_ctx *c, float *out, float *state, float *saved, const float *q, const float *k,
                         size_t ld_qk, const float *v, size_t ld_v, const float *g, const float *beta,
                         size_t T, size_t Hk, size_t Hv, size_t Dk, size_t Dv);
/* The per-token recurrence itself (reference for tests; same arguments, no saved). */
void ct_deltanet_recurrent_forward(ct_ctx *c, float *out, float *state, const float *q, const float *k,
                                   size_t ld_qk, const float *v, size_t ld_v, const float *g,
                                   const float *beta, size_t T, size_t Hk, size_t Hv, size_t Dk, size_t Dv);
/* Backward of ct_deltanet_forward (training: the forward started from zeros; the gradient of a
 * nonzero initial state is not computed), chunk by chunk in reverse from the saved chunk-start
 * states (required): dq, dk (stride ld_qk), dv (stride ld_v), dg, dbeta [T,Hv] all += (NULL
 * skipped). One thread per k head and its value heads, so dq/dk of a k head sum over its value
 * heads in head order. */
void ct_deltanet_backward(ct_ctx *c, float *dq, float *dk, size_t ld_qk, float *dv, size_t ld_v, float *dg,
                          float *dbeta, const float *dout, const float *saved, const float *q, const float *k,
                          const float *v, const float *g, const float *beta, size_t T, size_t Hk, size_t Hv,
                          size_t Dk, size_t Dv);

/* ---- embeddings ---- */

/* out[t] = E[ids[t]] for ids[t] >= 0, and virt[-1 - ids[t]] (f32 [P, C], prompt-tuning virtual
 * tokens) for ids[t] < 0. The backward scatter-adds dout rows into dE[V,C] / dvirt[P,C]
 * (either may be NULL). */
void ct_embedding_forward(ct_ctx *c, float *out, const int32_t *ids, const ct_tensor *E,
                          const float *virt, size_t T, size_t C);
void ct_embedding_backward(ct_ctx *c, float *dE, float *dvirt, const float *dout, const int32_t *ids,
                           size_t T, size_t C);

/* ---- loss ---- */

/* Labelled tokens per LM-head chunk of the training loss (chunk 0 below means this in f32
 * precision). In bf16 precision the head's weight is packed into bf16 panels once per chunk, so
 * a larger chunk amortises the packing (measured ~10 % of a Qwen2.5-0.5B LoRA step at T=512,
 * docs/perf.md) for chunk x vocab f32 logits of memory (311 MB at vocab 152k). */
#define CT_XENT_CHUNK 64
#define CT_XENT_CHUNK_BF16 512

/* Cross-entropy fused with the LM head, in chunks of `chunk` labelled tokens so the logits
 * [T, V] never exist whole. For token t with 0 <= label[t] < V:
 *   loss_t = logsumexp(h_t W^T) - (h_t W^T)[label_t], weighted by weight[t] (NULL: 1)
 * (f32 logits and exponentials as torch's f32 log_softmax, sums in double). Returns
 * sum_t weight_t loss_t and the count of labelled tokens in *n_tokens (optional); chunk 0: the
 * precision's default above. With
 * grad_scale != 0 it also accumulates the gradient of grad_scale * that sum: dh[T,C] += ...,
 * dW[V,C] += ... (dW may be NULL). Other labels (HF ignore_index -100) are skipped entirely.
 * The one negative log-likelihood of ctune: training, evaluation and eval-loss all use it. */
double ct_xent_forward_backward(ct_ctx *c, float *dh, float *dW, const float *h, const ct_tensor *W,
                                const int32_t *labels, const float *weight, size_t T, size_t C,
                                size_t V, float grad_scale, size_t chunk, size_t *n_tokens);

/* True when every value is finite. */
bool ct_all_finite(ct_ctx *c, const float *x, size_t n);

#endif
