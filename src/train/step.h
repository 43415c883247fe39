/* One micro-batch of a training run: forward, fused LM-head cross-entropy and (optionally)
 * backward of the fine-tuning method's model (src/peft/method.h) through the one decoder.
 *
 * Loss convention = HF causal LM (src/model/decoder.h ct_lm_batch): labels aligned with
 * input_ids, -100 ignored. The returned loss and the gradients are sum_t w_t CE_t / norm_tokens,
 * with norm_tokens the count of trained targets in the whole optimizer step
 * (ct_lm_count_targets over its micro-batches), so accumulating micro-batches reproduces one
 * big batch exactly. */
#ifndef CT_TRAIN_STEP_H
#define CT_TRAIN_STEP_H

#include <stdbool.h>

#include "ctune/ctx.h"
#include "model/decoder.h"
#include "peft/method.h"

/* Targets of b under tm's method (prompt tuning: labels[b,0] too). */
size_t ct_train_count_tokens(const ct_train_model *tm, const ct_lm_batch *b);

/* *loss = sum_t w_t CE_t / norm_tokens. With `backward` the gradients ACCUMULATE into
 * tm->params.grad and the LoRA dropout counter advances. Errors: bad ids / shapes (CT_ERR_ARG),
 * non-finite loss (CT_ERR_NUMERIC). */
ct_status ct_train_step(ct_ctx *ctx, ct_train_model *tm, const ct_lm_batch *b, double norm_tokens, bool backward,
                        double *loss, ct_err *err);

#endif
