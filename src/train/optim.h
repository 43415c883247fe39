/* Optimizer, learning-rate schedules and gradient clipping, mirroring PyTorch / HF exactly:
 *  - ct_adamw_step = torch.optim.AdamW (decoupled decay p -= lr*wd*p, bias-corrected moments,
 *    eps added outside the sqrt), over the flat registry; params with decay == false (biases,
 *    norm weights: HF Trainer rule) get no weight decay; each parameter's lr is the schedule's
 *    times its lr_scale (torch param groups whose initial lr differ, under one LambdaLR: LoRA+).
 *  - ct_scheduler = transformers get_scheduler (LambdaLR factor times the base lr).
 *  - ct_clip_grad_norm + ct_adamw_step = torch.nn.utils.clip_grad_norm_ then AdamW: the total L2
 *    norm over all grads gives the factor min(1, max_norm / (norm + 1e-6)) (f32) that AdamW
 *    multiplies each gradient by as it reads it (the same f32 products as scaling the grads in
 *    place first, one pass over them fewer). */
#ifndef CT_TRAIN_OPTIM_H
#define CT_TRAIN_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "ctune/err.h"
#include "peft/params.h"

typedef struct ct_adamw {
    double beta1, beta2, eps, weight_decay;
    int64_t step; /* updates done so far (torch's state["step"]) */
    bool bf16_params; /* pure_bf16: parameters are rounded to bf16 (nearest even) after each update,
                         as bf16 parameters store them; moments stay f32 (torch keeps them in the
                         parameter's dtype: bf16) */
} ct_adamw;

/* HF TrainingArguments defaults: beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0. */
void ct_adamw_init(ct_adamw *o, double beta1, double beta2, double eps, double weight_decay);
/* One update of every parameter with learning rate lr and gradients grad * grad_scale (the clip
 * factor of ct_clip_grad_norm; 1: as they are); increments o->step. */
/* Rounds every parameter to bf16 (nearest even), in place (pure_bf16 at start). */
void ct_params_round_bf16(ct_ctx *c, ct_params *ps);
void ct_adamw_step(ct_ctx *c, ct_adamw *o, ct_params *ps, double lr, float grad_scale);
/* The same update of the flat range [lo, hi) of ps->data only, reading gradients g and moments
 * m, v indexed from lo (ZeRO-1: this rank's shard); increments o->step. */
void ct_adamw_step_range(ct_ctx *c, ct_adamw *o, ct_params *ps, double lr, float grad_scale, size_t lo, size_t hi,
                         const float *g, float *m, float *v);

/* Returns the total grad norm (before clipping) and in *scale the clip factor for ct_adamw_step
 * (1 when max_norm <= 0, the norm is below it or not finite). The grads are not modified. */
double ct_clip_grad_norm(ct_ctx *c, const ct_params *ps, double max_norm, float *scale);
/* The clip factor min(1, max_norm / (norm + 1e-6)) (f32) of a total norm; 1 when max_norm <= 0
 * or the norm is not finite. */
float ct_clip_factor(double norm, double max_norm);

typedef enum ct_sched_type {
    CT_SCHED_LINEAR = 0,
    CT_SCHED_COSINE,
    CT_SCHED_CONSTANT,
    CT_SCHED_CONSTANT_WITH_WARMUP,
    CT_SCHED_COSINE_WITH_MIN_LR,
} ct_sched_type;

typedef struct ct_scheduler {
    ct_sched_type type;
    double base_lr;
    int64_t total_steps, warmup_steps;
    double min_lr_rate; /* cosine_with_min_lr: floor as a fraction of base_lr */
    double num_cycles;  /* cosine: 0.5 (HF default) */
} ct_scheduler;

/* name: linear | cosine | constant | constant_with_warmup | cosine_with_min_lr.
 * warmup_steps > 0 wins, else ceil(warmup_ratio * total_steps) (HF get_warmup_steps).
 * min_lr_rate is used by cosine_with_min_lr only (HF: min_lr / learning_rate). */
ct_status ct_scheduler_init(ct_scheduler *s, const char *name, double base_lr, int64_t total_steps,
                            int64_t warmup_steps, double warmup_ratio, double min_lr_rate, ct_err *err);
/* Learning rate of update number `step` (0-based: the first optimizer step uses step 0). */
double ct_scheduler_lr(const ct_scheduler *s, int64_t step);

#endif
