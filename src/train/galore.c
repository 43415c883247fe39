/* GaLore AdamW (see galore.h). */
#include "train/galore.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops.h"

static const char *const k_proj[] = {"std", "reverse_std", "right", "left", "full"};

bool ct_galore_proj_parse(const char *name, ct_galore_proj *out) {
    if (!name) name = "std";
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, k_proj[i])) {
            *out = (ct_galore_proj)i;
            return true;
        }
    return false;
}

/* galore_projector.py: which side(s) a [m, n] gradient is projected on */
static void sides(ct_galore_proj proj, int64_t m, int64_t n, bool *left, bool *right) {
    switch (proj) {
    case CT_GALORE_STD: *right = m >= n, *left = !*right; break;
    case CT_GALORE_REVERSE_STD: *left = m >= n, *right = !*left; break;
    case CT_GALORE_RIGHT: *right = true, *left = false; break;
    case CT_GALORE_LEFT: *left = true, *right = false; break;
    case CT_GALORE_FULL: *left = *right = true; break;
    }
}

/* ---- which weights: LlamaFactory _create_galore_optimizer ---- */

/* Module name of a linear weight view of tm ("model.layers.0.self_attn.q_proj"), or false when
 * the view is not an nn.Linear weight (embedding, norms, biases, the DeltaNet's conv). A tied
 * embedding is the weight of the lm_head module too, as in HF. */
static bool linear_module(const ct_train_model *tm, const ct_tensor *view, char *mod, size_t n, bool *is_head) {
    const ct_config *c = &tm->model->cfg;
    *is_head = false;
    if (view == &tm->w.g[CT_GT_LM_HEAD] || (view == &tm->w.g[CT_GT_EMBED] && c->tie_word_embeddings)) {
        snprintf(mod, n, "lm_head");
        *is_head = true;
        return true;
    }
    for (int l = 0; l < tm->w.n_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++)
            if (view == &tm->w.layers[l].t[id] && ct_spec_lora_index(id) >= 0) {
                ct_spec_module(mod, n, c, &ct_layer_specs[id], l);
                return true;
            }
    return false;
}

typedef struct target_scan {
    const ct_config *cfg;
    const char *target;
    bool found;
} target_scan;

static int scan_linear(const ct_tensor_spec *s, int layer, void *user) {
    target_scan *ts = user;
    char mod[192];
    if (s->per_layer && ct_spec_lora_index(s->id) >= 0) {
        ct_spec_module(mod, sizeof mod, ts->cfg, s, layer);
        if (strstr(mod, ts->target)) ts->found = true;
    }
    return 0;
}

/* A galore_target that names no linear module of the model is an error (LlamaFactory would
 * silently project nothing). Matching is LlamaFactory's: the target is a substring of the
 * module's name. */
static ct_status check_targets(const ct_config *mc, const char *const *targets, size_t n_targets, ct_err *err) {
    for (size_t i = 0; i < n_targets; i++) {
        const char *x = targets[i];
        if (!strcmp(x, "all")) continue;
        target_scan ts = {mc, x, strstr("lm_head", x) != NULL};
        ct_specs_each(mc, scan_linear, &ts);
        if (!ts.found)
            return ct_err_set(err, CT_ERR_ARG,
                              "galore_target: '%s' matches no linear module of the model (q_proj, k_proj, v_proj, "
                              "o_proj, gate_proj, up_proj, down_proj, lm_head, or all)",
                              x);
    }
    return CT_OK;
}

ct_status ct_galore_select(const ct_train_model *tm, const char *const *targets, size_t n_targets, bool *sel,
                          size_t *n_sel, ct_err *err) {
    *n_sel = 0;
    if (!n_targets) return ct_err_set(err, CT_ERR_ARG, "galore_target: empty (use all or module names)");
    ct_status st = check_targets(&tm->model->cfg, targets, n_targets, err);
    if (st) return st;
    bool all = n_targets == 1 && !strcmp(targets[0], "all");
    for (size_t i = 0; i < tm->params.n; i++) {
        const ct_param *p = &tm->params.p[i];
        char mod[192];
        bool head, hit = false;
        sel[i] = false;
        if (!p->view || p->ndim != 2 || !linear_module(tm, p->view, mod, sizeof mod, &head)) continue;
        for (size_t k = 0; !hit && k < n_targets; k++) hit = all ? !head : strstr(mod, targets[k]) != NULL;
        if (hit) sel[i] = true, (*n_sel)++;
    }
    if (!*n_sel) return ct_err_set(err, CT_ERR_ARG, "use_galore: no trainable linear weight matches galore_target");
    return CT_OK;
}

ct_status ct_galore_init(ct_galore *g, ct_params *ps, const bool *is_galore, int64_t rank, int64_t update_gap,
                         double scale, ct_galore_proj proj, ct_err *err) {
    memset(g, 0, sizeof *g);
    if (rank < 1 || update_gap < 1 || !(scale > 0))
        return ct_err_set(err, CT_ERR_ARG, "galore: rank, update interval and scale must be positive");
    g->proj = proj;
    g->rank = rank;
    g->update_gap = update_gap;
    g->scale = scale;
    g->n_params = ps->n;
    g->is_galore = calloc(ps->n ? ps->n : 1, sizeof *g->is_galore);
    g->p = calloc(ps->n ? ps->n : 1, sizeof *g->p);
    if (!g->is_galore || !g->p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t max_mn = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (!is_galore[i]) continue;
        const ct_param *p = &ps->p[i];
        if (p->ndim != 2) return ct_err_set(err, CT_ERR_ARG, "galore: %s is not a 2-D weight", p->name);
        ct_galore_param *q = &g->p[g->n++];
        q->index = i;
        q->m = p->shape[0];
        q->n = p->shape[1];
        int64_t k = q->m < q->n ? q->m : q->n;
        q->r = rank < k ? rank : k;
        sides(proj, q->m, q->n, &q->left, &q->right);
        g->proj_floats += (q->left ? (size_t)(q->m * q->r) : 0) + (q->right ? (size_t)(q->r * q->n) : 0);
        if ((size_t)(q->m * q->n) > max_mn) max_mn = (size_t)(q->m * q->n);
        ct_params_set_state_shape(ps, i, q->left ? q->r : q->m, q->right ? q->r : q->n);
        g->is_galore[i] = true;
    }
    g->proj_mem = calloc(g->proj_floats ? g->proj_floats : 1, sizeof(float));
    g->scratch = malloc((max_mn ? 3 * max_mn : 1) * sizeof(float));
    if (!g->proj_mem || !g->scratch) return ct_err_set(err, CT_ERR_NOMEM, "galore: out of memory for the projectors");
    float *pm = g->proj_mem;
    for (size_t j = 0; j < g->n; j++) {
        ct_galore_param *q = &g->p[j];
        if (q->left) q->U = pm, pm += q->m * q->r;
        if (q->right) q->Vh = pm, pm += q->r * q->n;
    }
    return CT_OK;
}

void ct_galore_free(ct_galore *g) {
    free(g->p);
    free(g->proj_mem);
    free(g->scratch);
    free(g->is_galore);
    memset(g, 0, sizeof *g);
}

/* AdamW moments and direction of n values: m, v updated with x, then x = m / (sqrt(v) + eps). */
static void adam_direction(float *x, float *m, float *v, size_t n, float b1, float b2, float eps) {
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * x[i];
        v[i] = b2 * v[i] + (1.0f - b2) * x[i] * x[i];
        x[i] = m[i] / (sqrtf(v[i]) + eps);
    }
}

/* One GaLore weight: gradient G (scaled), projected direction back into `upd` [m, n]. */
static ct_status galore_param(ct_ctx *c, ct_galore *g, ct_galore_param *q, ct_param *p, float gs, bool refresh,
                              float b1, float b2, float eps, float *upd, ct_err *err) {
    size_t m = (size_t)q->m, n = (size_t)q->n, r = (size_t)q->r;
    float *G = upd, *low = g->scratch + m * n, *tmp = g->scratch + 2 * m * n;
    for (size_t i = 0; i < m * n; i++) G[i] = p->grad[i] * gs;
    if (refresh) {
        ct_status st = ct_svd_basis(G, m, n, r, q->left ? q->U : NULL, q->right ? q->Vh : NULL, err);
        if (st) return ct_err_prefix(err, "galore: projector of %s", p->name);
    }
    size_t lr_ = q->left ? r : m, lc = q->right ? r : n; /* the projected shape */
    if (q->left && q->right) {
        ct_sgemm(c, true, false, r, n, m, 1.0f, q->U, r, G, n, 0.0f, tmp, n);      /* U^T G      [r, n] */
        ct_sgemm(c, false, true, r, r, n, 1.0f, tmp, n, q->Vh, n, 0.0f, low, r);  /* (.) V_r    [r, r] */
    } else if (q->left) {
        ct_sgemm(c, true, false, r, n, m, 1.0f, q->U, r, G, n, 0.0f, low, n);
    } else {
        ct_sgemm(c, false, true, m, r, n, 1.0f, G, n, q->Vh, n, 0.0f, low, r);
    }
    adam_direction(low, p->m, p->v, lr_ * lc, b1, b2, eps);
    float sc = (float)g->scale;
    if (q->left && q->right) {
        ct_sgemm(c, false, false, m, r, r, 1.0f, q->U, r, low, r, 0.0f, tmp, r);  /* U_r (.)    [m, r] */
        ct_sgemm(c, false, false, m, n, r, sc, tmp, r, q->Vh, n, 0.0f, upd, n);   /* (.) V_r^T  [m, n] */
    } else if (q->left) {
        ct_sgemm(c, false, false, m, n, r, sc, q->U, r, low, n, 0.0f, upd, n);
    } else {
        ct_sgemm(c, false, false, m, n, r, sc, low, r, q->Vh, n, 0.0f, upd, n);
    }
    return CT_OK;
}

ct_status ct_galore_step(ct_ctx *c, ct_galore *g, ct_adamw *o, ct_params *ps, double lr, float grad_scale,
                         ct_err *err) {
    if (ps->n != g->n_params) return ct_err_set(err, CT_ERR_ARG, "galore: the registry changed");
    if (g->no_clip) grad_scale = 1.0f;
    bool refresh = o->step % g->update_gap == 0;
    o->step++;
    double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
    float step_size = (float)(lr * sqrt(bc2) / bc1);
    float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
    size_t j = 0;
    for (size_t k = 0; k < ps->n; k++) {
        ct_param *p = &ps->p[k];
        float wd = p->decay ? (float)(-lr * o->weight_decay) : 0.0f;
        float *x = p->data;
        size_t n = p->numel;
        if (g->is_galore[k]) {
            float *upd = g->scratch;
            ct_status st = galore_param(c, g, &g->p[j++], p, grad_scale, refresh, b1, b2, eps, upd, err);
            if (st) return st;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > 65536)
            for (size_t i = 0; i < n; i++) {
                x[i] -= step_size * upd[i];
                if (wd != 0.0f) x[i] += wd * x[i];
            }
            continue;
        }
        float *gr = p->grad, *m = p->m, *v = p->v;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float gi = gr[i] * grad_scale;
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            x[i] -= step_size * (m[i] / (sqrtf(v[i]) + eps));
            if (wd != 0.0f) x[i] += wd * x[i];
        }
    }
    if (o->bf16_params) ct_params_round_bf16(c, ps);
    return CT_OK;
}
