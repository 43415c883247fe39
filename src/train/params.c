/* Trainable-parameter registry and method setup (full | freeze | lora | prompt); see grad.h.
 * Full/freeze/modules_to_save tensors get an f32 master copy and the model's ct_tensor view is
 * repointed at it, so the forward reads the master weights and the export converts them back to
 * the stored dtype (param.orig). LoRA/prompt tensors exist only in the registry. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "peft/freeze.h"
#include "peft/lora.h"
#include "peft/prompt.h"
#include "train/grad.h"
#include "base/rng.h"

static const char *k_lt_names[CT_LT_COUNT] = {
    "input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "self_attn.q_proj.bias",
    "self_attn.k_proj.bias",   "self_attn.v_proj.bias",   "self_attn.o_proj.bias",
    "self_attn.q_norm.weight", "self_attn.k_norm.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight",
    "mlp.gate_proj.bias",      "mlp.up_proj.bias",        "mlp.down_proj.bias"};

const char *ct_layer_tensor_name(int id) { return id >= 0 && id < CT_LT_COUNT ? k_lt_names[id] : "?"; }

ct_tensor *ct_layer_tensor(ct_layer_weights *lw, int id) {
    switch (id) {
    case CT_LT_ATTN_NORM: return &lw->attn_norm;
    case CT_LT_WQ: return &lw->wq;
    case CT_LT_WK: return &lw->wk;
    case CT_LT_WV: return &lw->wv;
    case CT_LT_WO: return &lw->wo;
    case CT_LT_BQ: return &lw->bq;
    case CT_LT_BK: return &lw->bk;
    case CT_LT_BV: return &lw->bv;
    case CT_LT_BO: return &lw->bo;
    case CT_LT_Q_NORM: return &lw->q_norm;
    case CT_LT_K_NORM: return &lw->k_norm;
    case CT_LT_MLP_NORM: return &lw->mlp_norm;
    case CT_LT_GATE: return &lw->w_gate;
    case CT_LT_UP: return &lw->w_up;
    case CT_LT_DOWN: return &lw->w_down;
    case CT_LT_B_GATE: return &lw->b_gate;
    case CT_LT_B_UP: return &lw->b_up;
    case CT_LT_B_DOWN: return &lw->b_down;
    default: return NULL;
    }
}

static const char *k_lora_names[CT_LORA_MODULES] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                     "gate_proj", "up_proj", "down_proj"};
static const int k_lora_tensor[CT_LORA_MODULES] = {CT_LT_WQ, CT_LT_WK, CT_LT_WV, CT_LT_WO,
                                                   CT_LT_GATE, CT_LT_UP, CT_LT_DOWN};
const char *ct_lora_module_name(int i) { return k_lora_names[i]; }
int ct_lora_module_tensor(int i) { return k_lora_tensor[i]; }

/* ---- registry ---- */

static bool has_component(const char *name, const char *comp) {
    /* comp appears as a whole dot-separated component */
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

static int reg_add(ct_params *ps, const char *name, int ndim, int64_t d0, int64_t d1, ct_tensor *view) {
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 64;
        ps->p = realloc(ps->p, ps->cap * sizeof(ct_param));
    }
    ct_param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim > 1 ? d1 : 0;
    p->numel = (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1);
    p->decay = ct_param_name_decays(name);
    p->view = view;
    if (view) p->orig = *view;
    return (int)ps->n++;
}

/* Allocates the flat arrays, fills masters from the model views (then repoints them). */
static ct_status reg_alloc(ct_params *ps, ct_err *err) {
    size_t total = 0;
    for (size_t i = 0; i < ps->n; i++) {
        ps->p[i].offset = total;
        total += (ps->p[i].numel + 15) & ~(size_t)15; /* 64-byte aligned tensors */
    }
    ps->total = total;
    size_t bytes = (total ? total : 16) * sizeof(float);
    ps->data = aligned_alloc(64, bytes);
    ps->grad = aligned_alloc(64, bytes);
    ps->m = aligned_alloc(64, bytes);
    ps->v = aligned_alloc(64, bytes);
    if (!ps->data || !ps->grad || !ps->m || !ps->v)
        return ct_err_set(err, CT_ERR_NOMEM, "trainable parameters: cannot allocate 4 x %zu MiB",
                          bytes >> 20);
    memset(ps->data, 0, bytes);
    memset(ps->grad, 0, bytes);
    memset(ps->m, 0, bytes);
    memset(ps->v, 0, bytes);
    for (size_t i = 0; i < ps->n; i++) {
        ct_param *p = &ps->p[i];
        p->data = ps->data + p->offset;
        p->grad = ps->grad + p->offset;
        p->m = ps->m + p->offset;
        p->v = ps->v + p->offset;
        if (p->view) {
            ct_tensor_to_f32(&p->orig, 0, p->numel, p->data);
            p->view->dtype = CT_DTYPE_F32;
            p->view->data = p->data;
        }
    }
    return CT_OK;
}

void ct_params_zero_grad(ct_params *ps) {
    if (ps->grad) memset(ps->grad, 0, ps->total * sizeof(float));
}

ct_param *ct_params_find(ct_params *ps, const char *name) {
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0) return &ps->p[i];
    return NULL;
}

double ct_params_grad_norm(const ct_params *ps) {
    double ss = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : ss) if (ps->total > 65536)
    for (size_t i = 0; i < ps->total; i++) ss += (double)ps->grad[i] * ps->grad[i];
    return sqrt(ss);
}

bool ct_params_grads_finite(const ct_params *ps) {
    int ok = 1;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (ps->total > 65536)
    for (size_t i = 0; i < ps->total; i++) ok = ok && isfinite(ps->grad[i]);
    return ok;
}

/* ---- method setup ---- */

static int lora_targets(const char *list, uint32_t *mask, ct_err *err) {
    *mask = 0;
    if (!list || !*list || strcmp(list, "all") == 0 || strcmp(list, "all-linear") == 0) {
        *mask = (1u << CT_LORA_MODULES) - 1;
        return 0;
    }
    char *copy = strdup(list), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ') *--end = 0;
        if (!*tok) continue;
        int found = -1;
        for (int i = 0; i < CT_LORA_MODULES; i++)
            if (strcmp(tok, k_lora_names[i]) == 0) found = i;
        if (strcmp(tok, "all") == 0) {
            *mask = (1u << CT_LORA_MODULES) - 1;
            continue;
        }
        if (found < 0) {
            ct_err_set(err, CT_ERR_ARG,
                       "lora_target: unknown module '%s' (expected all or q_proj, k_proj, v_proj, "
                       "o_proj, gate_proj, up_proj, down_proj)", tok);
            rc = -1;
            break;
        }
        *mask |= 1u << found;
    }
    free(copy);
    return rc;
}

/* Registers every present model tensor whose HF name passes `keep` (NULL = all). */
static void reg_model_tensors(ct_train_model *tm, const ct_freeze_patterns *keep, const char *prefix) {
    ct_model *m = tm->model;
    char name[192];
    bool tied = m->w.lm_head.data == m->w.embed.data;
    snprintf(name, sizeof name, "%smodel.embed_tokens.weight", prefix);
    if (!keep || ct_freeze_match(keep, name + strlen(prefix)))
        reg_add(&tm->params, name, 2, m->w.embed.shape[0], m->w.embed.shape[1], &m->w.embed);
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) {
            ct_tensor *t = ct_layer_tensor(&m->w.layers[l], id);
            if (!t->data) continue;
            snprintf(name, sizeof name, "%smodel.layers.%d.%s", prefix, l, k_lt_names[id]);
            if (keep && !ct_freeze_match(keep, name + strlen(prefix))) continue;
            reg_add(&tm->params, name, t->ndim, t->shape[0], t->ndim > 1 ? t->shape[1] : 0, t);
        }
    snprintf(name, sizeof name, "%smodel.norm.weight", prefix);
    if (!keep || ct_freeze_match(keep, name + strlen(prefix)))
        reg_add(&tm->params, name, 1, m->w.final_norm.shape[0], 0, &m->w.final_norm);
    snprintf(name, sizeof name, "%slm_head.weight", prefix);
    if (!tied && m->w.lm_head.data && (!keep || ct_freeze_match(keep, name + strlen(prefix))))
        reg_add(&tm->params, name, 2, m->w.lm_head.shape[0], m->w.lm_head.shape[1], &m->w.lm_head);
}

/* Points the g_* mirrors at the grads of registered model views. */
static void link_grads(ct_train_model *tm, bool keep_tie) {
    ct_model *m = tm->model;
    void *embed_orig = NULL;
    for (size_t i = 0; i < tm->params.n; i++) {
        ct_param *p = &tm->params.p[i];
        if (!p->view) continue;
        if (p->view == &m->w.embed) {
            tm->g_embed = p->grad;
            embed_orig = p->orig.data;
        } else if (p->view == &m->w.final_norm) {
            tm->g_final_norm = p->grad;
        } else if (p->view == &m->w.lm_head) {
            tm->g_lm_head = p->grad;
        } else {
            for (int l = 0; l < m->cfg.num_layers; l++)
                for (int id = 0; id < CT_LT_COUNT; id++)
                    if (p->view == ct_layer_tensor(&m->w.layers[l], id)) tm->g_layer[l][id] = p->grad;
        }
    }
    /* Tied lm_head shares the embedding tensor: full/freeze train it through both uses. PEFT's
     * modules_to_save copies embed_tokens, so there the LM head keeps the original weights. */
    if (embed_orig && keep_tie && m->w.lm_head.data == embed_orig) {
        m->w.lm_head = m->w.embed;
        tm->g_lm_head = tm->g_embed;
    }
}

/* PEFT modules_to_save (LlamaFactory additional_target): whole non-layer modules trained in full
 * and saved as "base_model.model.<hf name>". Names are validated like freeze extra modules
 * (embed_tokens, norm, lm_head when untied) but matched as whole modules, as PEFT does. */
static ct_status add_modules_to_save(ct_train_model *tm, const char *list, ct_err *err) {
    ct_freeze_patterns fp; /* layer count 0: only the validated extra names */
    ct_status st = ct_freeze_patterns_init(&fp, &tm->model->cfg, 0, "all", list, err);
    if (st) return st;
    static const char *prefix = "base_model.model.";
    size_t before = tm->params.n, keep = before;
    reg_model_tensors(tm, NULL, prefix);
    for (size_t i = before; i < tm->params.n; i++) {
        const char *hf = tm->params.p[i].name + strlen(prefix);
        bool wanted = false;
        for (size_t k = 0; k < fp.n; k++) {
            const char *mod = strcmp(fp.pat[k], "lm_head") == 0 ? "lm_head.weight"
                              : strcmp(fp.pat[k], "norm") == 0 ? "model.norm.weight"
                                                               : "model.embed_tokens.weight";
            wanted = wanted || strcmp(hf, mod) == 0;
        }
        if (wanted) tm->params.p[keep++] = tm->params.p[i];
    }
    tm->params.n = keep;
    ct_freeze_patterns_free(&fp);
    return CT_OK;
}

ct_status ct_train_model_init(ct_train_model *tm, ct_model *m, const ct_method_cfg *cfg, ct_err *err) {
    memset(tm, 0, sizeof *tm);
    tm->model = m;
    tm->method = cfg->method;
    tm->xent_chunk = 64;
    tm->seed = cfg->seed;
    tm->prompt_param = -1;
    int L = m->cfg.num_layers;
    tm->g_layer = calloc((size_t)(L > 0 ? L : 1), sizeof *tm->g_layer);
    ct_status st = CT_OK;
    switch (cfg->method) {
    case CT_METHOD_FULL:
        reg_model_tensors(tm, NULL, "");
        break;
    case CT_METHOD_FREEZE: {
        ct_freeze_patterns fp;
        st = ct_freeze_patterns_init(&fp, &m->cfg, cfg->freeze_trainable_layers,
                                     cfg->freeze_trainable_modules, cfg->freeze_extra_modules, err);
        if (st) break;
        reg_model_tensors(tm, &fp, "");
        ct_freeze_patterns_free(&fp);
        break;
    }
    case CT_METHOD_LORA: {
        int r = cfg->lora_rank;
        if (r <= 0) {
            st = ct_err_set(err, CT_ERR_ARG, "lora_rank must be positive (got %d)", r);
            break;
        }
        if (cfg->lora_dropout < 0 || cfg->lora_dropout >= 1) {
            st = ct_err_set(err, CT_ERR_ARG, "lora_dropout must be in [0, 1) (got %g)", cfg->lora_dropout);
            break;
        }
        if (lora_targets(cfg->lora_target, &tm->lora.targets, err)) {
            st = err ? err->code : CT_ERR_ARG;
            break;
        }
        double alpha = cfg->lora_alpha > 0 ? cfg->lora_alpha : 2.0 * r;
        tm->lora.r = r;
        tm->lora.scaling = ct_lora_scaling(alpha, r, cfg->use_rslora);
        tm->lora.dropout = (float)cfg->lora_dropout;
        tm->lora.idx_a = malloc((size_t)(L > 0 ? L : 1) * CT_LORA_MODULES * sizeof(int32_t));
        tm->lora.idx_b = malloc((size_t)(L > 0 ? L : 1) * CT_LORA_MODULES * sizeof(int32_t));
        char name[192];
        for (int l = 0; l < L; l++)
            for (int i = 0; i < CT_LORA_MODULES; i++) {
                tm->lora.idx_a[l * CT_LORA_MODULES + i] = tm->lora.idx_b[l * CT_LORA_MODULES + i] = -1;
                if (!(tm->lora.targets & (1u << i))) continue;
                ct_tensor *W = ct_layer_tensor(&m->w.layers[l], k_lora_tensor[i]);
                const char *grp = i < 4 ? "self_attn" : "mlp";
                snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.%s.lora_A.weight", l,
                         grp, k_lora_names[i]);
                tm->lora.idx_a[l * CT_LORA_MODULES + i] = reg_add(&tm->params, name, 2, r, W->shape[1], NULL);
                snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.%s.lora_B.weight", l,
                         grp, k_lora_names[i]);
                tm->lora.idx_b[l * CT_LORA_MODULES + i] = reg_add(&tm->params, name, 2, W->shape[0], r, NULL);
            }
        if (cfg->additional_target && *cfg->additional_target)
            st = add_modules_to_save(tm, cfg->additional_target, err);
        break;
    }
    case CT_METHOD_PROMPT:
        if (cfg->num_virtual_tokens <= 0) {
            st = ct_err_set(err, CT_ERR_ARG, "num_virtual_tokens must be positive (got %d)", cfg->num_virtual_tokens);
            break;
        }
        tm->n_virtual = cfg->num_virtual_tokens;
        tm->prompt_param = reg_add(&tm->params, "prompt_embeddings", 2, cfg->num_virtual_tokens,
                                   m->cfg.hidden_size, NULL);
        break;
    default:
        st = ct_err_set(err, CT_ERR_ARG, "unknown finetuning method %d", (int)cfg->method);
    }
    if (!st && tm->params.n == 0)
        st = ct_err_set(err, CT_ERR_ARG, "no trainable parameters selected (check freeze_trainable_* / lora_target)");
    if (!st) st = reg_alloc(&tm->params, err);
    if (st) {
        ct_train_model_free(tm);
        return st;
    }
    link_grads(tm, cfg->method == CT_METHOD_FULL || cfg->method == CT_METHOD_FREEZE);
    if (tm->lora.r) {
        for (int l = 0; l < L; l++)
            for (int i = 0; i < CT_LORA_MODULES; i++) {
                int ia = tm->lora.idx_a[l * CT_LORA_MODULES + i];
                if (ia < 0) continue;
                ct_param *A = &tm->params.p[ia];
                ct_lora_init_a(A->data, tm->lora.r, (size_t)A->shape[1], cfg->seed,
                               0x4c6f5241ull + (uint64_t)(l * CT_LORA_MODULES + i));
            }
    }
    if (tm->prompt_param >= 0) {
        st = ct_prompt_init_embeddings(tm->params.p[tm->prompt_param].data, tm->n_virtual, m,
                                       cfg->prompt_init, cfg->prompt_init_ids, cfg->n_prompt_init_ids,
                                       cfg->seed, err);
        if (st) {
            ct_train_model_free(tm);
            return st;
        }
    }
    return CT_OK;
}

static ct_status cache_one(ct_train_model *tm, ct_tensor *t, ct_err *err) {
    if (!t->data || t->dtype == CT_DTYPE_F32) return CT_OK;
    size_t n = (size_t)ct_tensor_numel(t);
    float *f = malloc(n * sizeof(float));
    if (!f) return ct_err_set(err, CT_ERR_NOMEM, "cannot allocate %zu MiB for an f32 weight copy", (n * 4) >> 20);
    size_t blk = 1 << 16;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += blk) ct_tensor_to_f32(t, i, n - i < blk ? n - i : blk, f + i);
    tm->cache = realloc(tm->cache, (tm->n_cache + 1) * sizeof *tm->cache);
    tm->cache[tm->n_cache].view = t;
    tm->cache[tm->n_cache].orig = *t;
    tm->n_cache++;
    t->dtype = CT_DTYPE_F32;
    t->data = f;
    return CT_OK;
}

ct_status ct_train_model_cache_frozen_f32(ct_train_model *tm, ct_err *err) {
    ct_model *m = tm->model;
    bool tied = m->w.lm_head.data == m->w.embed.data;
    ct_status st = cache_one(tm, &m->w.embed, err);
    if (!st && tied) {
        m->w.lm_head.dtype = m->w.embed.dtype;
        m->w.lm_head.data = m->w.embed.data;
    } else if (!st) {
        st = cache_one(tm, &m->w.lm_head, err);
    }
    if (!st) st = cache_one(tm, &m->w.final_norm, err);
    for (int l = 0; !st && l < m->cfg.num_layers; l++)
        for (int id = 0; !st && id < CT_LT_COUNT; id++) st = cache_one(tm, ct_layer_tensor(&m->w.layers[l], id), err);
    return st;
}

ct_status ct_train_model_merge_lora(ct_train_model *tm, ct_err *err) {
    if (!tm->lora.r || tm->lora_merged) return CT_OK;
    ct_model *m = tm->model;
    int r = tm->lora.r;
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (int i = 0; i < CT_LORA_MODULES; i++) {
            int ia = tm->lora.idx_a[l * CT_LORA_MODULES + i];
            if (ia < 0) continue;
            const ct_param *A = &tm->params.p[ia], *B = &tm->params.p[tm->lora.idx_b[l * CT_LORA_MODULES + i]];
            ct_tensor *W = ct_layer_tensor(&m->w.layers[l], k_lora_tensor[i]);
            size_t out = (size_t)W->shape[0], in = (size_t)W->shape[1];
            float *f = malloc(out * in * sizeof(float));
            if (!f) {
                ct_train_model_unmerge_lora(tm);
                return ct_err_set(err, CT_ERR_NOMEM, "merge LoRA: cannot allocate %zu MiB", (out * in * 4) >> 20);
            }
            ct_tensor_to_f32(W, 0, out * in, f);
            /* W'[out,in] += scaling * B[out,r] A[r,in] */
            ct_sgemm(false, false, (int)out, (int)in, r, tm->lora.scaling, B->data,
                        r, A->data, (int)in, 1.0f, f, (int)in);
            tm->merged = realloc(tm->merged, (tm->n_merged + 1) * sizeof *tm->merged);
            tm->merged[tm->n_merged].view = W;
            tm->merged[tm->n_merged].orig = *W;
            tm->n_merged++;
            W->dtype = CT_DTYPE_F32;
            W->data = f;
        }
    tm->lora_merged = true;
    return CT_OK;
}

void ct_train_model_unmerge_lora(ct_train_model *tm) {
    for (size_t i = tm->n_merged; i-- > 0;) {
        free(tm->merged[i].view->data);
        *tm->merged[i].view = tm->merged[i].orig;
    }
    free(tm->merged);
    tm->merged = NULL;
    tm->n_merged = 0;
    tm->lora_merged = false;
}

void ct_train_model_free(ct_train_model *tm) {
    ct_train_model_unmerge_lora(tm);
    if (tm->model) {
        ct_model *m = tm->model;
        for (size_t i = tm->n_cache; i-- > 0;) {
            ct_tensor *v = tm->cache[i].view;
            if (v == &m->w.embed && m->w.lm_head.data == v->data) m->w.lm_head = tm->cache[i].orig;
            free(v->data);
            *v = tm->cache[i].orig;
        }
    }
    free(tm->cache);
    ct_train_ws_free(tm);
    if (tm->model) {
        ct_model *m = tm->model;
        for (size_t i = tm->params.n; i-- > 0;) {
            ct_param *p = &tm->params.p[i];
            if (!p->view) continue;
            if (p->view == &m->w.embed && m->w.lm_head.data == p->data) m->w.lm_head = p->orig;
            *p->view = p->orig;
        }
    }
    free(tm->params.p);
    free(tm->params.data);
    free(tm->params.grad);
    free(tm->params.m);
    free(tm->params.v);
    free(tm->g_layer);
    free(tm->lora.idx_a);
    free(tm->lora.idx_b);
    memset(tm, 0, sizeof *tm);
}
