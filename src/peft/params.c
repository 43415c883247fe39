/* Trainable-parameter registry (see params.h). */
#include "peft/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

static bool has_component(const char *name, const char *comp) {
    size_t n = strlen(comp);
    for (const char *p = strstr(name, comp); p; p = strstr(p + 1, comp))
        if ((p == name || p[-1] == '.') && (p[n] == 0 || p[n] == '.')) return true;
    return false;
}

bool ct_param_name_decays(const char *name) {
    if (strstr(name, "bias") || strstr(name, "layernorm") || strstr(name, "rmsnorm")) return false;
    if (has_component(name, "norm")) return false;
    for (const char *p = strstr(name, "_norm"); p; p = strstr(p + 1, "_norm"))
        if (p[5] == 0 || p[5] == '.') return false;
    return true;
}

int ct_params_add(ct_params *ps, const char *name, int ndim, int64_t d0, int64_t d1, bool decay, ct_tensor *view) {
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 64;
        ct_param *p = realloc(ps->p, cap * sizeof *p);
        if (!p) return -1;
        ps->p = p;
        ps->cap = cap;
    }
    ct_param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim > 1 ? d1 : 0;
    p->numel = (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1);
    if (view && view->ndim == 3) { /* a weight's shape is its view's (the DeltaNet conv: [C, 1, K]) */
        p->ndim = 3;
        for (int i = 0; i < 3; i++) p->shape[i] = view->shape[i];
        p->numel = (size_t)view->shape[0] * (size_t)view->shape[1] * (size_t)view->shape[2];
    }
    p->decay = decay;
    p->lr_scale = 1.0;
    p->view = view;
    if (view) p->orig = *view;
    return (int)ps->n++;
}

ct_status ct_params_alloc_data(ct_params *ps, ct_err *err) {
    size_t total = 0;
    for (size_t i = 0; i < ps->n; i++) {
        ps->p[i].offset = total;
        total += (ps->p[i].numel + 15) & ~(size_t)15; /* 64-byte aligned tensors */
    }
    ps->total = total;
    size_t n = total ? total : 16, bytes = 2 * n * sizeof(float);
    if (!(ps->data = aligned_alloc(64, bytes)))
        return ct_err_set(err, CT_ERR_NOMEM, "trainable parameters: cannot allocate 2 x %zu MiB", (bytes / 2) >> 20);
    memset(ps->data, 0, bytes);
    ps->grad = ps->data + n;
    for (size_t i = 0; i < ps->n; i++) {
        ct_param *p = &ps->p[i];
        p->data = ps->data + p->offset;
        p->grad = ps->grad + p->offset;
        if (p->view) {
            ct_tensor_to_f32(&p->orig, 0, p->numel, p->data);
            p->view->dtype = CT_DTYPE_F32;
            p->view->data = p->data;
            p->view->quant = NULL;
        }
    }
    return CT_OK;
}

void ct_params_set_state_shape(ct_params *ps, size_t i, int64_t d0, int64_t d1) {
    ct_param *p = &ps->p[i];
    p->state_shape[0] = d0;
    p->state_shape[1] = d1;
    p->state_numel = (size_t)d0 * (size_t)d1;
}

ct_status ct_params_alloc_state(ct_params *ps, ct_err *err) {
    size_t total = 0;
    for (size_t i = 0; i < ps->n; i++) {
        ct_param *p = &ps->p[i];
        if (!p->state_numel) p->state_numel = p->numel;
        p->state_offset = total;
        total += (p->state_numel + 15) & ~(size_t)15;
    }
    ps->state_total = total;
    size_t n = total ? total : 16, bytes = 2 * n * sizeof(float);
    free(ps->moments);
    if (!(ps->moments = aligned_alloc(64, bytes))) {
        ct_params_point_moments(ps, NULL, NULL);
        return ct_err_set(err, CT_ERR_NOMEM, "optimizer state: cannot allocate 2 x %zu MiB", (bytes / 2) >> 20);
    }
    memset(ps->moments, 0, bytes);
    ct_params_point_moments(ps, ps->moments, ps->moments + n);
    return CT_OK;
}

ct_status ct_params_alloc(ct_params *ps, ct_err *err) {
    ct_status st = ct_params_alloc_data(ps, err);
    return st ? st : ct_params_alloc_state(ps, err);
}

void ct_params_free(ct_params *ps) {
    free(ps->p);
    free(ps->data); /* masters and gradients share one allocation, */
    free(ps->moments); /* the two moments another */
    memset(ps, 0, sizeof *ps);
}

void ct_params_point_moments(ct_params *ps, float *m, float *v) {
    ps->m = m;
    ps->v = v;
    for (size_t i = 0; i < ps->n; i++) {
        ps->p[i].m = m ? m + ps->p[i].state_offset : NULL;
        ps->p[i].v = v ? v + ps->p[i].state_offset : NULL;
    }
}

void ct_params_drop_moments(ct_params *ps) {
    free(ps->moments);
    ps->moments = NULL;
    ct_params_point_moments(ps, NULL, NULL);
}

void ct_params_zero_grad(ct_params *ps) {
    if (ps->grad) memset(ps->grad, 0, ps->total * sizeof(float));
}

ct_param *ct_params_find(ct_params *ps, const char *name) {
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0) return &ps->p[i];
    return NULL;
}

#define NORM_BLOCK 65536

double ct_params_grad_norm(ct_ctx *c, const ct_params *ps) {
    size_t nb = (ps->total + NORM_BLOCK - 1) / NORM_BLOCK;
    if (!nb) return 0.0;
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    double *part = ct_scratch(ar, nb * sizeof(double));
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (ps->total > NORM_BLOCK)
    for (size_t b = 0; b < nb; b++) {
        size_t i1 = (b + 1) * NORM_BLOCK < ps->total ? (b + 1) * NORM_BLOCK : ps->total;
        double ss = 0.0;
        for (size_t i = b * NORM_BLOCK; i < i1; i++) ss += (double)ps->grad[i] * ps->grad[i];
        part[b] = ss;
    }
    double ss = 0.0;
    for (size_t b = 0; b < nb; b++) ss += part[b];
    ct_arena_release(ar, mk);
    return sqrt(ss);
}

bool ct_params_grads_finite(ct_ctx *c, const ct_params *ps) { return ct_all_finite(c, ps->grad, ps->total); }
