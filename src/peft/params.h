/* The trainable parameters of a fine-tuning run: one flat f32 allocation per role (master
 * weights, gradients, AdamW first and second moments), a named view per tensor, so the optimizer,
 * clipping and checkpoints are flat loops (llm.c style). */
#ifndef CT_PEFT_PARAMS_H
#define CT_PEFT_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/ctx.h"
#include "ctune/err.h"
#include "ctune/tensor.h"

typedef struct ct_param {
    char name[192];      /* key as saved: HF ("model.layers.0.mlp.up_proj.weight") for full/freeze,
                            PEFT ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                            "prompt_embeddings") for adapters */
    int ndim;
    int64_t shape[3];
    size_t numel, offset; /* offset of this tensor in the flat arrays */
    float *data, *grad, *m, *v; /* views into ct_params' flat arrays */
    size_t state_numel;  /* elements of m and v: numel, or fewer for an optimizer that keeps its
                            moments in another shape (GaLore: the projected gradient's) */
    int64_t state_shape[2]; /* that shape when state_numel != numel */
    size_t state_offset; /* of m and v in the state arrays */
    bool decay;          /* AdamW weight decay applies */
    double lr_scale;     /* its learning rate = the schedule's * lr_scale (1, and 0 counts as 1; LoRA+
                            lora_B and 1-D tensors: loraplus_lr_ratio) */
    ct_tensor *view;     /* full/freeze/modules_to_save: the weights view now pointing at data */
    ct_tensor orig;      /* that view's original (stored dtype, data) for export */
} ct_param;

typedef struct ct_params {
    ct_param *p;
    size_t n, cap;
    size_t total;                /* sum of numel (each tensor padded to 64 bytes) */
    size_t state_total;          /* sum of state_numel (padded the same way) */
    float *data, *grad;          /* flat [total] each, one allocation (data owns it) */
    float *m, *v;                /* flat [state_total] each; NULL until the state is allocated */
    float *moments;              /* the owned m + v allocation (NULL: dropped, ZeRO-1 shards them) */
} ct_params;

/* Adds a tensor (before ct_params_alloc); view (optional): the weights view it trains. Returns
 * its index, or -1 when out of memory. */
int ct_params_add(ct_params *ps, const char *name, int ndim, int64_t d0, int64_t d1, bool decay, ct_tensor *view);
/* Allocates the flat arrays (zeroed), copies each view's current value into its master and
 * points the view at the master (f32): ct_params_alloc_data then ct_params_alloc_state. */
ct_status ct_params_alloc(ct_params *ps, ct_err *err);
/* Masters and gradients only; the optimizer state follows with ct_params_alloc_state, once
 * ct_params_set_state_shape has given the parameters whose moments have another shape theirs. */
ct_status ct_params_alloc_data(ct_params *ps, ct_err *err);
/* Moments (zeroed) of state_numel elements per parameter (numel unless set). */
ct_status ct_params_alloc_state(ct_params *ps, ct_err *err);
/* Before ct_params_alloc_state: parameter i keeps m and v as [d0, d1]. */
void ct_params_set_state_shape(ct_params *ps, size_t i, int64_t d0, int64_t d1);
void ct_params_free(ct_params *ps);
/* Points ps->m, ps->v and every tensor's m, v into the flat [state_total] arrays m and v (NULL: none);
 * the caller keeps them alive. */
void ct_params_point_moments(ct_params *ps, float *m, float *v);
/* Frees the owned AdamW moments (ZeRO-1: each rank keeps its shard, src/train/trainer_dist.c). */
void ct_params_drop_moments(ct_params *ps);
void ct_params_zero_grad(ct_params *ps);
ct_param *ct_params_find(ct_params *ps, const char *name);
/* HF Trainer get_decay_parameter_names rule on a name: false for names with "bias",
 * "layernorm", "rmsnorm", a ".norm"/"norm." component or a "_norm" component. */
bool ct_param_name_decays(const char *name);
/* sqrt(sum of squares of all grads): f64 partial sums over fixed blocks, added in order, so the
 * result does not depend on the thread count. */
double ct_params_grad_norm(ct_ctx *c, const ct_params *ps);
/* True when every gradient is finite. */
bool ct_params_grads_finite(ct_ctx *c, const ct_params *ps);

#endif
