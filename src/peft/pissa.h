/* PiSSA (PEFT LoraLayer.pissa_init; init_lora_weights "pissa" / "pissa_niter_<n>"): a LoRA whose
 * A and B hold the top-r singular triplets of the weight, on a base that keeps the rest.
 *   W = U S V^T;  A = sqrt(S_r / scaling) V_r^T [r, in];  B = U_r sqrt(S_r / scaling) [out, r]
 *   W_res = W - scaling * B A  (rounded through W's dtype, as PEFT writes it back into the weight)
 * Exact: LAPACK's thin SVD. Randomized (niter >= 0): torch.svd_lowrank(W, q=r, niter) (Halko et
 * al.'s subspace iteration, torch/_lowrank.py), whose Gaussian test matrix is torch.randn in
 * PEFT; here it is ct_rng_normal(CT_PISSA_SEED, ct_pissa_stream(layer, module), i), a fixed
 * draw, so loading a PiSSA adapter rebuilds bit for bit the residual it was trained on. The big
 * products run in f32 (as PEFT computes them), QR and SVD of the thin factors in f64. */
#ifndef CT_PEFT_PISSA_H
#define CT_PEFT_PISSA_H

#include <stdint.h>

#include "ctune/ctx.h"
#include "ctune/err.h"
#include "ctune/tensor.h"

#define CT_PISSA_SEED 0x5069535341ull /* "PiSSA" */

/* The stream of the test matrix of layer `layer`, LoRA module index `module` (ct_spec_lora_index). */
uint64_t ct_pissa_stream(int layer, int module);
/* A [r, in], B [out, r] and Wres [out, in] (f32) of W [out, in] (F32, BF16 or F16). niter < 0:
 * exact SVD. `what` names the weight in errors (rank too large, a non-float weight, LAPACK). */
ct_status ct_pissa_init(ct_ctx *c, const ct_tensor *W, int r, float scaling, int niter, uint64_t stream, float *A,
                        float *B, float *Wres, const char *what, ct_err *err);

#endif
