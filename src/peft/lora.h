/* LoRA on a linear layer (PEFT semantics): y = W x + b + scaling * B (A dropout(x)).
 * A [r, in], B [out, r], f32. Dropout (nn.Dropout on the LoRA input, train mode) uses the
 * counter-based RNG (src/base/rng.h): element (t, i) of call `stream` is dropped when
 * uniform(seed, stream, t*in+i) < p, kept ones are scaled by 1/(1-p); the backward redraws the
 * same mask, so no mask is stored. */
#ifndef CT_PEFT_LORA_H
#define CT_PEFT_LORA_H

#include <stddef.h>
#include <stdint.h>

/* y[N,out] += scaling * (drop(x)[N,in] A^T) B^T */
void ct_lora_forward(float *y, const float *x, const float *A, const float *B, size_t N,
                     size_t in, size_t out, int r, float scaling, float dropout, uint64_t seed,
                     uint64_t stream);
/* dx[N,in] += ..., dA[r,in] += ..., dB[out,r] += ... (any may be NULL). */
void ct_lora_backward(float *dx, float *dA, float *dB, const float *dy, const float *x,
                      const float *A, const float *B, size_t N, size_t in, size_t out, int r,
                      float scaling, float dropout, uint64_t seed, uint64_t stream);
/* PEFT reset_lora_parameters: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in));
 * (B is zeroed by the caller). Our own seeded RNG, not torch's. */
void ct_lora_init_a(float *A, int r, size_t in, uint64_t seed, uint64_t stream);
/* scaling = alpha / r, or alpha / sqrt(r) with rsLoRA. */
float ct_lora_scaling(double alpha, int r, int rslora);

#endif
