/* Moving the trainable set of a train model from one group of decoder layers to another: the
 * parameter side of BAdam's block-coordinate training (src/train/badam.h decides which block and
 * when). Only the active block has f32 masters, gradients and AdamW moments; every other tensor
 * is held as the model stores it, as BAdam's BlockOptimizer keeps its low-precision parameters:
 *
 *   leaving a block   each master is written back into the tensor's own storage, rounded to the
 *                     model's dtype (BlockOptimizer._update_param: lp.copy_(hp.to(lp.dtype))).
 *                     The storage is the trainer's f32 copy of the frozen weight when it made one
 *                     (ct_train_model_cache_frozen_f32), else a copy in the stored dtype made on
 *                     the first write (the checkpoint's mmap is never written);
 *   entering a block  the registry is rebuilt for its tensors: masters from the stored values
 *                     (hp = lp.float()), gradients and moments zero (the optimizer state is
 *                     cleared at every switch, as BlockOptimizer.switch_trainable_params does). */
#ifndef CT_PEFT_BLOCK_H
#define CT_PEFT_BLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "ctune/err.h"
#include "peft/method.h"

/* Writes tm's masters back and makes layers ids[0..n) (every tensor of each) the registry.
 * f32_copies: the storage made on a first write is f32 (the trainer caches frozen weights in
 * f32), else the model's stored dtype. tm must be a freeze-method model. */
ct_status ct_train_model_switch_layers(ct_train_model *tm, const int *ids, size_t n, bool f32_copies, ct_err *err);
/* Writes f32 values into tensor *t of tm (a view of tm->w, not in the registry), rounded to the
 * model's dtype, making it a writable copy first as above. */
ct_status ct_train_model_store(ct_train_model *tm, ct_tensor *t, const float *values, bool f32_copies, ct_err *err);

#endif
