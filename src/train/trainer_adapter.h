/* Applies a PEFT LoRA adapter to a loaded model for inference by merging it into f32 copies of
 * the adapted weights: W' = W + scaling * B A (PEFT LoraLayer.merge; dropout is off at
 * inference). The model's stored weights are untouched; ct_adapter_unapply restores the views.
 * Prompt-tuning adapters are refused (they change the input embeddings, not weights). */
#ifndef CT_TRAIN_TRAINER_ADAPTER_H
#define CT_TRAIN_TRAINER_ADAPTER_H

#include "ctune/err.h"
#include "model/model.h"

typedef struct ct_applied_adapter ct_applied_adapter;

ct_status ct_adapter_apply(ct_model *m, const char *adapter_dir, ct_applied_adapter **out, ct_err *err);
void ct_adapter_unapply(ct_applied_adapter *a);

#endif
