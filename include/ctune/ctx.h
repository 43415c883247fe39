/* ctune — compute contexts.
 * A ct_ctx is what every computation runs in: the number of threads, the precision of matrix
 * products, and the scratch memory the kernels use (so they never allocate on the hot path).
 * Nothing about it is process-wide: two contexts with different settings can be used side by
 * side, each by one caller at a time (a context is not thread-safe; give each concurrent caller
 * its own). Models, adapters and tokenizers are read-only and can be shared between contexts. */
#ifndef CTUNE_CTX_H
#define CTUNE_CTX_H

#include <stdbool.h>

#include "ctune/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_ctx ct_ctx;

typedef enum ct_precision {
    CT_PRECISION_F32 = 0, /* exact: bf16/f16 weights widened to f32, f32 products (default) */
    CT_PRECISION_BF16,    /* like torch.autocast(bfloat16) for linear layers with more than 4
                             tokens, whatever the weight's float dtype (bf16, f32, f16, quantized):
                             activations, weights and output gradients are rounded to bf16
                             (nearest even) for the forward, input-gradient and weight-gradient
                             products, which accumulate in f32; their results stay f32 (torch
                             rounds y, dx and the weight gradient to bf16 once more). Runs on
                             every CPU: AVX512-BF16 dot products where the CPU has them
                             (ct_cpu_has_bf16), otherwise the same bf16 products through f32
                             sgemm (only the summation order differs; no faster than f32
                             there). Other ops stay f32. */
} ct_precision;

/* n_threads <= 0: all cores; above CT_MAX_THREADS: CT_ERR_ARG. */
#define CT_MAX_THREADS 1024
ct_status ct_ctx_new(ct_ctx **out, int n_threads, ct_err *err);
void ct_ctx_free(ct_ctx *c);
void ct_ctx_set_threads(ct_ctx *c, int n_threads); /* <= 0: all cores; capped at CT_MAX_THREADS */
int ct_ctx_threads(const ct_ctx *c);
/* Returns false (and leaves the precision unchanged) for a value outside ct_precision. */
bool ct_ctx_set_precision(ct_ctx *c, ct_precision p);
ct_precision ct_ctx_precision(const ct_ctx *c);
/* Arithmetic of batched decode steps (ct_model_forward_batch with 2..8 sequences, the steps of
 * generate-batch, serve's continuous batching and eval's eval_batch_size). Opt-in: */
typedef enum ct_batch_precision {
    CT_BATCH_EXACT = 0, /* as the single-sequence decode: bf16/f16 weights widened to f32, f32
                           FMAs (default; batched results equal one-by-one results) */
    CT_BATCH_BF16DOT,   /* bf16 weights only, on CPUs with AVX512-BF16 (ct_cpu_has_bf16): the
                           step's activations rounded to bf16 (nearest even) once per linear
                           layer, products (exact in f32) summed in f32 by vdpbf16ps, about twice
                           the multiply rate. Elsewhere (f16/f32/quantized weights, single
                           sequences, prefill, CPUs without AVX512-BF16) the exact path runs. */
} ct_batch_precision;
/* Returns false (and leaves the setting unchanged) for a value outside ct_batch_precision. */
bool ct_ctx_set_batch_precision(ct_ctx *c, ct_batch_precision p);
ct_batch_precision ct_ctx_batch_precision(const ct_ctx *c);
/* True when the CPU has the AVX512-BF16 kernel of CT_PRECISION_BF16 (AVX-512 F/BW/VL +
 * AVX512-BF16); without it that precision uses bf16-rounded operands with f32 sgemm. */
bool ct_cpu_has_bf16(void);

#ifdef __cplusplus
}
#endif
#endif
