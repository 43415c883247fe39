/* AdamW, HF schedules, global-norm clipping (see optim.h). */
#include "train/optim.h"

#include <math.h>
#include <string.h>

void ct_adamw_init(ct_adamw *o, double beta1, double beta2, double eps, double weight_decay) {
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->step = 0;
    o->bf16_params = false;
}

void ct_adamw_step_range(ct_ctx *c, ct_adamw *o, ct_params *ps, double lr, float grad_scale, size_t lo, size_t hi,
                         const float *g, float *m, float *v) {
    o->step++;
    double bc1 = 1.0 - pow(o->beta1, (double)o->step);
    double bc2 = 1.0 - pow(o->beta2, (double)o->step);
    float bc2_sqrt = (float)sqrt(bc2);
    float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
    for (size_t k = 0; k < ps->n; k++) {
        ct_param *p = &ps->p[k];
        size_t a = p->offset > lo ? p->offset : lo, b = p->offset + p->numel < hi ? p->offset + p->numel : hi;
        if (a >= b) continue;
        double plr = p->lr_scale > 0 ? lr * p->lr_scale : lr; /* its group's lr (LoRA+: lora_B) */
        float step_size = (float)(plr / bc1);
        float decay = p->decay ? (float)(1.0 - plr * o->weight_decay) : 1.0f;
        float *x = ps->data + a, *gg = (float *)g + (a - lo), *mm = m + (a - lo), *vv = v + (a - lo);
        size_t n = b - a;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float gi = gg[i] * grad_scale;
            x[i] *= decay;
            mm[i] = b1 * mm[i] + (1.0f - b1) * gi;
            vv[i] = b2 * vv[i] + (1.0f - b2) * gi * gi;
            x[i] -= step_size * mm[i] / (sqrtf(vv[i]) / bc2_sqrt + eps);
        }
        if (o->bf16_params) /* pure_bf16: stored as bf16 parameters store it */
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > 65536)
            for (size_t i = 0; i < n; i++) x[i] = ct_bf16_to_f32(ct_f32_to_bf16(x[i]));
    }
}

void ct_adamw_step(ct_ctx *c, ct_adamw *o, ct_params *ps, double lr, float grad_scale) {
    ct_adamw_step_range(c, o, ps, lr, grad_scale, 0, ps->total, ps->grad, ps->m, ps->v);
}

void ct_params_round_bf16(ct_ctx *c, ct_params *ps) {
    float *x = ps->data;
    size_t n = ps->total;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > 65536)
    for (size_t i = 0; i < n; i++) x[i] = ct_bf16_to_f32(ct_f32_to_bf16(x[i]));
}

float ct_clip_factor(double norm, double max_norm) {
    if (max_norm > 0 && isfinite(norm)) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) return (float)coef;
    }
    return 1.0f;
}

double ct_clip_grad_norm(ct_ctx *c, const ct_params *ps, double max_norm, float *scale) {
    double norm = ct_params_grad_norm(c, (ct_params *)ps);
    *scale = ct_clip_factor(norm, max_norm);
    return norm;
}

ct_status ct_scheduler_init(ct_scheduler *s, const char *name, double base_lr, int64_t total_steps,
                            int64_t warmup_steps, double warmup_ratio, double min_lr_rate, ct_err *err) {
    static const char *names[] = {"linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr"};
    memset(s, 0, sizeof *s);
    int found = -1;
    for (int i = 0; i < 5; i++)
        if (name && strcmp(name, names[i]) == 0) found = i;
    if (found < 0)
        return ct_err_set(err, CT_ERR_ARG,
                          "lr_scheduler_type: unknown '%s' (expected linear, cosine, constant, "
                          "constant_with_warmup, cosine_with_min_lr)", name ? name : "(null)");
    if (warmup_ratio < 0 || warmup_ratio > 1)
        return ct_err_set(err, CT_ERR_ARG, "warmup_ratio must be in [0, 1] (got %g)", warmup_ratio);
    s->type = (ct_sched_type)found;
    s->base_lr = base_lr;
    s->total_steps = total_steps;
    s->warmup_steps = warmup_steps > 0 ? warmup_steps : (int64_t)ceil(warmup_ratio * (double)total_steps);
    s->min_lr_rate = min_lr_rate;
    s->num_cycles = 0.5;
    return CT_OK;
}

double ct_scheduler_lr(const ct_scheduler *s, int64_t k) {
    double W = (double)s->warmup_steps, T = (double)s->total_steps, f;
    if (s->type == CT_SCHED_CONSTANT) return s->base_lr;
    if (k < s->warmup_steps) {
        f = (double)k / fmax(1.0, W);
    } else if (s->type == CT_SCHED_CONSTANT_WITH_WARMUP) {
        f = 1.0;
    } else if (s->type == CT_SCHED_LINEAR) {
        f = fmax(0.0, (T - (double)k) / fmax(1.0, T - W));
    } else {
        double progress = ((double)k - W) / fmax(1.0, T - W);
        f = 0.5 * (1.0 + cos(M_PI * s->num_cycles * 2.0 * progress));
        if (s->type == CT_SCHED_COSINE_WITH_MIN_LR) f = f * (1.0 - s->min_lr_rate) + s->min_lr_rate;
        f = fmax(0.0, f);
    }
    return s->base_lr * f;
}
