/* GaLore (gradient low-rank projection; galore_torch 1.0, github.com/jiaweizzhao/GaLore:
 * galore_torch/adamw.py + galore_projector.py), the optimizer LlamaFactory's use_galore builds
 * (GaLoreAdamW over its nodecay / decay / galore parameter groups):
 *
 *   every parameter   galore_torch's AdamW, not torch's: step t = 1, 2, ...,
 *                       m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
 *                       u = m / (sqrt(v) + eps),  p -= lr sqrt(1 - b2^t) / (1 - b1^t) * u,
 *                       then p -= lr wd p (decay after the update; wd 0 for biases and norms)
 *   a GaLore weight   (a targeted linear weight W [m, n]) works on its projected gradient:
 *                       at t - 1 = 0, gap, 2 gap, ... the projector is recomputed from the SVD of
 *                       that step's gradient G (after clipping); then g = project(G),
 *                       and the update is scale * project_back(u) -- the moments are [m, r],
 *                       [r, n] or [r, r] and carry over from one projector to the next
 *     std          m >= n: right, G V_r^T; else left, U_r^T G
 *     reverse_std  m >= n: left; else right
 *     right, left  always that side;  full: U_r^T G V_r^T (both)
 *   with U_r / V_r^T the leading r = min(galore_rank, m, n) singular vectors (ops.h
 *   ct_svd_basis: f64 LAPACK, signs fixed as there; galore_torch takes LAPACK's as they come,
 *   which differ between CPU and GPU). */
#ifndef CT_TRAIN_GALORE_H
#define CT_TRAIN_GALORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/ctx.h"
#include "ctune/err.h"
#include "peft/method.h"
#include "peft/params.h"
#include "train/optim.h"

typedef enum ct_galore_proj {
    CT_GALORE_STD = 0,
    CT_GALORE_REVERSE_STD,
    CT_GALORE_RIGHT,
    CT_GALORE_LEFT,
    CT_GALORE_FULL,
} ct_galore_proj;

/* "std" | "reverse_std" | "right" | "left" | "full" (NULL: std); false when unknown. */
bool ct_galore_proj_parse(const char *name, ct_galore_proj *out);

typedef struct ct_galore_param {
    size_t index;        /* in the registry */
    int64_t m, n;        /* the weight and its gradient, [m, n] */
    int64_t r;           /* min(rank, m, n) */
    bool left, right;    /* the sides projected */
    float *U;            /* left: [m, r] */
    float *Vh;           /* right: [r, n] */
} ct_galore_param;

typedef struct ct_galore {
    ct_galore_proj proj;
    int64_t rank, update_gap;
    double scale;
    bool no_clip;        /* galore_layerwise: per-parameter steps inside the backward, before any
                            clipping (the logged grad norm is still the whole one) */
    ct_galore_param *p;
    size_t n;
    float *proj_mem;     /* every U / Vh, one allocation */
    size_t proj_floats;
    float *scratch;      /* 2 x the largest m * n */
    bool *is_galore;     /* [registry size] */
    size_t n_params;
} ct_galore;

/* The trainable parameters of tm that GaLore projects (sel[tm->params.n], *n_sel of them):
 * the 2-D weights of nn.Linear modules (the decoder's projections; lm_head, which a tied
 * embedding is too) whose module name ("model.layers.0.self_attn.q_proj") contains one of
 * the targets; "all": every decoder projection, not lm_head (find_all_linear_modules). A target
 * that names no linear module of the model, or nothing selected, is an error (CT_ERR_ARG). */
ct_status ct_galore_select(const ct_train_model *tm, const char *const *targets, size_t n_targets, bool *sel,
                          size_t *n_sel, ct_err *err);
/* Makes the registry parameters flagged in is_galore[ps->n] GaLore parameters: gives their
 * moments the projected shape (ct_params_set_state_shape; call before ct_params_alloc_state)
 * and allocates the projectors. Each must be a 2-D weight. */
ct_status ct_galore_init(ct_galore *g, ct_params *ps, const bool *is_galore, int64_t rank, int64_t update_gap,
                         double scale, ct_galore_proj proj, ct_err *err);
void ct_galore_free(ct_galore *g);
/* One optimizer step of every parameter (see above) with learning rate lr, gradients scaled by
 * grad_scale (the clip factor; galore_layerwise ignores it); o->step counts the steps (the
 * projector update test uses the count before this step). Errors: the SVD's (ct_svd_basis). */
ct_status ct_galore_step(ct_ctx *c, ct_galore *g, ct_adamw *o, ct_params *ps, double lr, float grad_scale,
                         ct_err *err);

#endif
