/* Fine-tuning method set-up (full | freeze | lora | prompt), see method.h. Full/freeze/
 * modules_to_save tensors get an f32 master in the registry and tm.w's view points at it; LoRA
 * and prompt tensors exist only in the registry. */
#include "peft/method.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/str.h"
#include "peft/freeze.h"
#include "peft/peft_io.h"
#include "peft/prompt.h"

float ct_lora_scaling(double alpha, int r, bool rslora) {
    return (float)(rslora ? alpha / sqrt((double)r) : alpha / (double)r);
}

void ct_lora_init_a(float *A, int r, size_t in, uint64_t seed, uint64_t stream) {
    double bound = 1.0 / sqrt((double)in);
    for (size_t i = 0; i < (size_t)r * in; i++) A[i] = (float)((2.0 * ct_rng_uniform(seed, stream, i) - 1.0) * bound);
}

/* ---- LoRA targets ---- */

/* One lora_target item into the mask (bit ct_spec_lora_index of the module). */
typedef struct target_ctx {
    uint32_t mask;
    ct_err *err;
} target_ctx;

static int add_target(const char *item, void *user) {
    target_ctx *t = user;
    const ct_tensor_spec *s = ct_spec_by_lora(item);
    if (!strcmp(item, "all") || !strcmp(item, "all-linear")) {
        t->mask = (1u << CT_LORA_MODULES) - 1;
        return 0;
    }
    if (!s) {
        ct_err_set(t->err, CT_ERR_ARG,
                   "lora_target: unknown module '%s' (expected all or q_proj, k_proj, v_proj, o_proj, gate_proj, "
                   "up_proj, down_proj)",
                   item);
        return -1;
    }
    t->mask |= 1u << ct_spec_lora_index(s->id);
    return 0;
}

ct_status ct_lora_target_mask(const char *list, uint32_t *mask, ct_err *err) {
    target_ctx t = {0, err};
    int rc = 0;
    if (!list || !*list) t.mask = (1u << CT_LORA_MODULES) - 1;
    else rc = ct_each_item(list, add_target, &t);
    *mask = t.mask;
    return rc ? CT_ERR_ARG : CT_OK;
}

/* ---- registry of model tensors ---- */

typedef struct reg_ctx {
    ct_train_model *tm;
    const ct_freeze_patterns *keep; /* NULL: every tensor */
    const char *prefix;
    bool failed;
} reg_ctx;

static int reg_one(const ct_tensor_spec *s, int layer, void *user) {
    reg_ctx *r = user;
    char hf[192], name[256];
    ct_spec_name(hf, sizeof hf, &r->tm->model->cfg, s, layer);
    if (r->keep && !ct_freeze_match(r->keep, hf)) return 0;
    ct_tensor *t = ct_weights_at(&r->tm->w, s, layer);
    if (!t->data) return 0;
    snprintf(name, sizeof name, "%s%s", r->prefix, hf);
    if (ct_params_add(&r->tm->params, name, t->ndim, t->shape[0], t->ndim > 1 ? t->shape[1] : 0, s->decay, t) < 0)
        r->failed = true;
    return 0;
}

static ct_status reg_model_tensors(ct_train_model *tm, const ct_freeze_patterns *keep, const char *prefix,
                                   ct_err *err) {
    reg_ctx r = {tm, keep, prefix, false};
    ct_specs_each(&tm->model->cfg, reg_one, &r);
    return r.failed ? ct_err_set(err, CT_ERR_NOMEM, "out of memory") : CT_OK;
}

/* Points the gradient views at the grads of registered tensors. A tied lm_head shares the
 * embedding: full/freeze train it through both uses; PEFT's modules_to_save copies
 * embed_tokens, so there the LM head keeps the original weights. */
static void link_grads(ct_train_model *tm, bool keep_tie) {
    void *embed_orig = NULL;
    for (size_t i = 0; i < tm->params.n; i++) {
        ct_param *p = &tm->params.p[i];
        if (!p->view) continue;
        for (int g = 0; g < CT_GT_COUNT; g++)
            if (p->view == &tm->w.g[g]) tm->grads.g[g] = p->grad;
        if (p->view == &tm->w.g[CT_GT_EMBED]) embed_orig = p->orig.data;
        for (int l = 0; l < tm->w.n_layers; l++)
            for (int id = 0; id < CT_LT_COUNT; id++)
                if (p->view == &tm->w.layers[l].t[id]) tm->grads.layer[l][id] = p->grad;
    }
    if (embed_orig && keep_tie && tm->w.g[CT_GT_LM_HEAD].data == embed_orig) {
        tm->w.g[CT_GT_LM_HEAD] = tm->w.g[CT_GT_EMBED];
        tm->grads.g[CT_GT_LM_HEAD] = tm->grads.g[CT_GT_EMBED];
    }
}

/* PEFT modules_to_save (LlamaFactory additional_target): whole non-layer modules trained in full
 * and saved as "base_model.model.<hf name>". Names are validated like freeze extra modules
 * (embed_tokens, norm, lm_head when untied) and matched as whole modules, as PEFT does. */
static ct_status add_modules_to_save(ct_train_model *tm, const char *list, ct_err *err) {
    ct_freeze_patterns fp; /* layer count 0: only the validated extra names */
    ct_status st = ct_freeze_patterns_init(&fp, &tm->model->cfg, 0, "all", list, err);
    if (st) return st;
    static const char *prefix = "base_model.model.";
    size_t before = tm->params.n, keep = before;
    st = reg_model_tensors(tm, NULL, prefix, err);
    for (size_t i = before; !st && i < tm->params.n; i++) {
        const char *hf = tm->params.p[i].name + strlen(prefix);
        bool wanted = false;
        for (size_t k = 0; k < fp.n; k++) {
            const char *mod = !strcmp(fp.pat[k], "lm_head") ? "lm_head.weight"
                              : !strcmp(fp.pat[k], "norm")  ? "model.norm.weight"
                                                            : "model.embed_tokens.weight";
            wanted = wanted || !strcmp(hf, mod);
        }
        if (wanted) tm->params.p[keep++] = tm->params.p[i];
    }
    tm->params.n = keep;
    ct_freeze_patterns_free(&fp);
    return st;
}

static bool layer_listed(const ct_method_cfg *cfg, int layer) {
    if (!cfg->layer_ids) return true;
    for (size_t i = 0; i < cfg->n_layer_ids; i++)
        if (cfg->layer_ids[i] == layer) return true;
    return false;
}

static ct_status setup_lora(ct_train_model *tm, const ct_method_cfg *cfg, int32_t *idx_a, int32_t *idx_b,
                            int32_t *idx_m, ct_err *err) {
    int r = cfg->lora_rank, L = tm->w.n_layers;
    if (r <= 0) return ct_err_set(err, CT_ERR_ARG, "lora_rank must be positive (got %d)", r);
    if (cfg->lora_dropout < 0 || cfg->lora_dropout >= 1)
        return ct_err_set(err, CT_ERR_ARG, "lora_dropout must be in [0, 1) (got %g)", cfg->lora_dropout);
    uint32_t targets;
    ct_status tst = ct_lora_target_mask(cfg->init_adapter ? "all" : cfg->lora_target, &targets, err);
    if (tst) return tst;
    double alpha = cfg->lora_alpha > 0 ? cfg->lora_alpha : 2.0 * r;
    tm->lora_r = r;
    tm->lora_scaling = ct_lora_scaling(alpha, r, cfg->use_rslora);
    tm->lora.n_layers = L;
    tm->lora.dropout = (float)cfg->lora_dropout;
    tm->lora.ref = calloc((size_t)(L > 0 ? L : 1) * CT_LT_COUNT, sizeof *tm->lora.ref);
    if (!tm->lora.ref) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    char name[224];
    for (int l = 0; l < L; l++) {
        for (int id = 0; id < CT_LT_COUNT; id++) {
            const ct_tensor_spec *s = &ct_layer_specs[id];
            int k = ct_spec_lora_index(id);
            idx_a[l * CT_LT_COUNT + id] = idx_b[l * CT_LT_COUNT + id] = idx_m[l * CT_LT_COUNT + id] = -1;
            const ct_tensor *W = &tm->w.layers[l].t[id];
            if (k < 0 || !(targets & (1u << k)) || !W->data || !layer_listed(cfg, l)) continue;
            if (cfg->init_adapter && !ct_peft_find_lora(cfg->init_adapter, l, s->lora)) continue;
            char mod[160];
            ct_spec_module(mod, sizeof mod, &tm->model->cfg, s, l);
            snprintf(name, sizeof name, "base_model.model.%s.lora_A.weight", mod);
            idx_a[l * CT_LT_COUNT + id] = ct_params_add(&tm->params, name, 2, r, W->shape[1], true, NULL);
            snprintf(name, sizeof name, "base_model.model.%s.lora_B.weight", mod);
            idx_b[l * CT_LT_COUNT + id] = ct_params_add(&tm->params, name, 2, W->shape[0], r, true, NULL);
            if (cfg->use_dora) { /* PEFT's key: no ".weight" */
                snprintf(name, sizeof name, "base_model.model.%s.lora_magnitude_vector", mod);
                if ((idx_m[l * CT_LT_COUNT + id] = ct_params_add(&tm->params, name, 1, W->shape[0], 0, true, NULL)) < 0)
                    return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            }
            if (idx_a[l * CT_LT_COUNT + id] < 0 || idx_b[l * CT_LT_COUNT + id] < 0)
                return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        }
    }
    if (cfg->additional_target && *cfg->additional_target) return add_modules_to_save(tm, cfg->additional_target, err);
    return CT_OK;
}

/* After the registry is allocated: LoRA refs into it (DoRA: magnitudes and a row-norm slice
 * each) and A's init (B stays 0). */
static ct_status link_lora(ct_train_model *tm, const int32_t *idx_a, const int32_t *idx_b, const int32_t *idx_m,
                           ct_err *err) {
    size_t n_out = 0;
    for (int i = 0; i < tm->w.n_layers * CT_LT_COUNT; i++)
        if (idx_m[i] >= 0) n_out += tm->params.p[idx_m[i]].numel;
    tm->dora = n_out > 0;
    if (tm->dora && !(tm->dora_wnorm = calloc(n_out, sizeof *tm->dora_wnorm)))
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t off = 0;
    for (int l = 0; l < tm->w.n_layers; l++) {
        for (int id = 0; id < CT_LT_COUNT; id++) {
            int ia = idx_a[l * CT_LT_COUNT + id], ib = idx_b[l * CT_LT_COUNT + id], im = idx_m[l * CT_LT_COUNT + id];
            if (ia < 0) continue;
            ct_param *A = &tm->params.p[ia], *B = &tm->params.p[ib];
            ct_lora_ref *ref = &tm->lora.ref[l * CT_LT_COUNT + id];
            *ref = (ct_lora_ref){.A = A->data, .B = B->data, .dA = A->grad, .dB = B->grad, .r = tm->lora_r,
                                 .scaling = tm->lora_scaling};
            if (im >= 0) {
                ct_param *M = &tm->params.p[im];
                ref->mag = M->data;
                ref->dmag = M->grad;
                ref->wnorm = tm->dora_wnorm + off;
                off += M->numel;
            }
            ct_lora_init_a(A->data, tm->lora_r, (size_t)A->shape[1], tm->seed,
                           0x4c6f5241ull + (uint64_t)l * CT_LORA_MODULES + (uint64_t)ct_spec_lora_index(id));
        }
    }
    return CT_OK;
}

ct_status ct_train_model_init(ct_train_model *tm, const ct_model *m, const ct_method_cfg *cfg, ct_err *err) {
    memset(tm, 0, sizeof *tm);
    tm->model = m;
    tm->method = cfg->method;
    tm->xent_chunk = 0; /* the precision's default (ops.h) */
    tm->seed = cfg->seed;
    tm->prompt_param = -1;
    int L = m->cfg.num_layers;
    ct_status st = ct_weights_clone(&tm->w, &m->w, err);
    if (st) return st;
    tm->grads.layer = calloc((size_t)(L > 0 ? L : 1), sizeof *tm->grads.layer);
    int32_t *idx_a = malloc((size_t)(L > 0 ? L : 1) * CT_LT_COUNT * sizeof *idx_a);
    int32_t *idx_b = malloc((size_t)(L > 0 ? L : 1) * CT_LT_COUNT * sizeof *idx_b);
    int32_t *idx_m = malloc((size_t)(L > 0 ? L : 1) * CT_LT_COUNT * sizeof *idx_m);
    if (!tm->grads.layer || !idx_a || !idx_b || !idx_m) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    switch (st ? -1 : (int)cfg->method) {
    case -1: break;
    case CT_METHOD_FULL: st = reg_model_tensors(tm, NULL, "", err); break;
    case CT_METHOD_FREEZE: {
        ct_freeze_patterns fp;
        st = cfg->layer_ids ? ct_freeze_patterns_layers(&fp, &m->cfg, cfg->layer_ids, cfg->n_layer_ids,
                                                        cfg->freeze_trainable_modules, cfg->freeze_extra_modules, err)
                            : ct_freeze_patterns_init(&fp, &m->cfg, cfg->freeze_trainable_layers,
                                                      cfg->freeze_trainable_modules, cfg->freeze_extra_modules, err);
        if (st) break;
        st = reg_model_tensors(tm, &fp, "", err);
        ct_freeze_patterns_free(&fp);
        break;
    }
    case CT_METHOD_LORA: st = setup_lora(tm, cfg, idx_a, idx_b, idx_m, err); break;
    case CT_METHOD_PROMPT:
        if (cfg->num_virtual_tokens <= 0) {
            st = ct_err_set(err, CT_ERR_ARG, "num_virtual_tokens must be positive (got %d)", cfg->num_virtual_tokens);
            break;
        }
        tm->n_virtual = cfg->num_virtual_tokens;
        tm->prompt_param = ct_params_add(&tm->params, "prompt_embeddings", 2, cfg->num_virtual_tokens,
                                         m->cfg.hidden_size, true, NULL);
        if (tm->prompt_param < 0) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        break;
    default: st = ct_err_set(err, CT_ERR_ARG, "unknown finetuning method %d", (int)cfg->method);
    }
    if (!st && tm->params.n == 0)
        st = ct_err_set(err, CT_ERR_ARG, "no trainable parameters selected (check freeze_trainable_* / lora_target)");
    if (!st) st = cfg->defer_state ? ct_params_alloc_data(&tm->params, err) : ct_params_alloc(&tm->params, err);
    if (!st) {
        link_grads(tm, cfg->method == CT_METHOD_FULL || cfg->method == CT_METHOD_FREEZE);
        if (tm->lora_r) st = link_lora(tm, idx_a, idx_b, idx_m, err);
        if (!st && tm->lora_r) st = ct_lora_init_variants(tm, cfg, err);
    }
    if (!st && tm->prompt_param >= 0) {
        ct_param *P = &tm->params.p[tm->prompt_param];
        tm->grads.virt = P->grad;
        st = ct_prompt_init_embeddings(P->data, tm->n_virtual, m, cfg->prompt_init, cfg->prompt_init_ids,
                                       cfg->n_prompt_init_ids, cfg->seed, err);
    }
    free(idx_a);
    free(idx_b);
    free(idx_m);
    if (st) ct_train_model_free(tm);
    return st;
}

ct_status ct_train_model_register(ct_train_model *tm, const ct_freeze_patterns *keep, ct_err *err) {
    ct_status st = reg_model_tensors(tm, keep, "", err);
    if (!st) st = ct_params_alloc(&tm->params, err);
    if (!st) link_grads(tm, true);
    return st;
}

ct_dec_hooks ct_train_model_hooks(const ct_train_model *tm) {
    ct_dec_hooks h = {.w = &tm->w, .lora = tm->lora_r ? &tm->lora : NULL, .virt = NULL, .n_virt = 0};
    if (tm->prompt_param >= 0) {
        h.virt = tm->params.p[tm->prompt_param].data;
        h.n_virt = (size_t)tm->n_virtual;
    }
    return h;
}

/* Replaces view t (not trainable, not f32) by an f32 copy owned by tm. */
static ct_status cache_one(ct_train_model *tm, ct_tensor *t, ct_err *err) {
    if (!t->data || (t->dtype != CT_DTYPE_BF16 && t->dtype != CT_DTYPE_F16)) return CT_OK; /* quantized stay */
    return ct_tensor_own_f32(t, &tm->owned, &tm->n_owned, err);
}

ct_status ct_train_model_cache_frozen_f32(ct_train_model *tm, ct_err *err) {
    bool tied = ct_weights_tied(&tm->w);
    ct_status st = cache_one(tm, &tm->w.g[CT_GT_EMBED], err);
    if (!st && tied) tm->w.g[CT_GT_LM_HEAD] = tm->w.g[CT_GT_EMBED];
    else if (!st) st = cache_one(tm, &tm->w.g[CT_GT_LM_HEAD], err);
    if (!st) st = cache_one(tm, &tm->w.g[CT_GT_FINAL_NORM], err);
    for (int l = 0; !st && l < tm->w.n_layers; l++)
        for (int id = 0; !st && id < CT_LT_COUNT; id++) st = cache_one(tm, &tm->w.layers[l].t[id], err);
    return st;
}

void ct_train_model_free(ct_train_model *tm) {
    for (size_t i = 0; i < tm->n_owned; i++) free(tm->owned[i]);
    free(tm->owned);
    ct_arena_free(&tm->acts);
    ct_params_free(&tm->params);
    ct_weights_free(&tm->w);
    free(tm->grads.layer);
    free(tm->lora.ref);
    free(tm->dora_wnorm);
    memset(tm, 0, sizeof *tm);
}
