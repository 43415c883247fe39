/* BAdam (use_badam), LLaMA Pro (use_llama_pro) and GaLore (use_galore) in the training loop:
 * what they change in the method set-up, the optimizer step and the messages of a run
 * (docs/training.md "BAdam, LLaMA Pro, GaLore"; their checkpoint state is in trainer_save.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "peft/block.h"
#include "peft/freeze.h"
#include "train/checkpoint.h"
#include "train/trainer_internal.h"

/* torch.optim.AdamW's default weight_decay: BAdam's BlockOptimizer builds its parameter groups
 * as {"weight_decay": ..., **base_optimizer.defaults}, and HF passes weight_decay per group, not
 * in the defaults, so every active parameter decays with it under LlamaFactory. */
#define BADAM_WEIGHT_DECAY 0.01

ct_status ct_trainer_method_cfg(ct_trainer *t, ct_method_cfg *mc, ct_err *err) {
    const ct_train_config *c = t->cfg;
    const ct_config *mcfg = ct_model_config(t->model);
    int L = mcfg->num_layers;
    if (c->use_llama_pro) {
        int n = ct_llama_pro_layers(L, (int)c->freeze_trainable_layers, t->layer_ids, err);
        if (n < 0) return err ? err->code : CT_ERR_ARG;
        t->n_layer_ids = (size_t)n;
        mc->layer_ids = t->layer_ids;
        mc->n_layer_ids = t->n_layer_ids;
        char list[1024];
        size_t k = 0;
        for (size_t i = 0; i < t->n_layer_ids && k < sizeof list - 16; i++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", i ? ", " : "", t->layer_ids[i]);
        ct_trainer_msg(t, "use_llama_pro: %s only the expanded blocks %s (%d layers, one in every %d)",
                       mc->method == CT_METHOD_LORA ? "LoRA adapts" : "training", list, L,
                       L / (int)c->freeze_trainable_layers);
    }
    if (c->use_badam) {
        ct_badam_order order;
        if (!ct_badam_order_parse(c->badam_switch_mode, &order))
            return ct_err_set(err, CT_ERR_ARG, "badam_switch_mode: unknown '%s'", c->badam_switch_mode);
        ct_status st = ct_badam_init(&t->badam, L, order, c->badam_switch_interval, (int)c->badam_start_block,
                                     (uint64_t)c->seed, err);
        if (st) return st;
        t->badam_on = true;
        mc->method = CT_METHOD_FREEZE; /* the active block's layer, every tensor of it */
        mc->freeze_trainable_modules = "all";
        mc->freeze_extra_modules = NULL;
        t->layer_ids[0] = t->badam.active;
        t->n_layer_ids = 1;
        mc->layer_ids = t->layer_ids;
        mc->n_layer_ids = 1;
    }
    if (c->use_galore) mc->defer_state = true;
    return CT_OK;
}

/* ---- GaLore parameter selection (LlamaFactory _create_galore_optimizer) ---- */

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
static ct_status check_targets(const ct_trainer *t, ct_err *err) {
    const ct_train_config *c = t->cfg;
    const ct_config *mc = ct_model_config(t->model);
    for (size_t i = 0; i < c->galore_target.n; i++) {
        const char *x = c->galore_target.v[i];
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

static ct_status setup_galore(ct_trainer *t, ct_err *err) {
    const ct_train_config *c = t->cfg;
    ct_train_model *tm = &t->tm;
    ct_galore_proj proj;
    if (!ct_galore_proj_parse(c->galore_proj_type, &proj))
        return ct_err_set(err, CT_ERR_ARG, "galore_proj_type: unknown '%s'", c->galore_proj_type);
    ct_status st = check_targets(t, err);
    if (st) return st;
    bool all = c->galore_target.n == 1 && !strcmp(c->galore_target.v[0], "all");
    bool *sel = calloc(tm->params.n ? tm->params.n : 1, sizeof *sel);
    if (!sel) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t n_sel = 0, sel_numel = 0;
    for (size_t i = 0; i < tm->params.n; i++) {
        const ct_param *p = &tm->params.p[i];
        char mod[192];
        bool head;
        if (!p->view || p->ndim != 2 || !linear_module(tm, p->view, mod, sizeof mod, &head)) continue;
        bool hit = false;
        for (size_t k = 0; !hit && k < c->galore_target.n; k++)
            hit = all ? !head : strstr(mod, c->galore_target.v[k]) != NULL;
        if (hit) sel[i] = true, n_sel++, sel_numel += p->numel;
    }
    if (!n_sel) {
        free(sel);
        return ct_err_set(err, CT_ERR_ARG, "use_galore: no trainable linear weight matches galore_target");
    }
    st = ct_galore_init(&t->galore, &tm->params, sel, c->galore_rank, c->galore_update_interval, c->galore_scale, proj,
                        err);
    free(sel);
    if (!st) st = ct_params_alloc_state(&tm->params, err);
    if (st) return st;
    t->galore_on = true;
    t->galore.no_clip = c->galore_layerwise;
    size_t state = 0;
    for (size_t j = 0; j < t->galore.n; j++) state += tm->params.p[t->galore.p[j].index].state_numel;
    ct_trainer_msg(t, "use_galore: %zu linear weights (%zu parameters) projected to rank %lld (%s, SVD every %lld steps, "
                      "scale %g): their AdamW moments hold %zu values instead of %zu, + %zu in projectors",
                   t->galore.n, sel_numel, (long long)c->galore_rank, c->galore_proj_type ? c->galore_proj_type : "std",
                   (long long)c->galore_update_interval, c->galore_scale, 2 * state, 2 * sel_numel,
                   t->galore.proj_floats);
    if (c->galore_layerwise)
        ct_trainer_msg(t, "galore_layerwise: per-parameter updates, so no gradient clipping (max_grad_norm does not "
                          "apply), as LlamaFactory's per-layer GaLore; ctune still holds the step's gradients");
    return CT_OK;
}

static void badam_prepare(ct_trainer *t) {
    for (size_t i = 0; i < t->tm.params.n; i++) t->tm.params.p[i].decay = true;
    t->opt.step = 0;
    if (t->opt.bf16_params) ct_params_round_bf16(t->ctx, &t->tm.params);
}

static void badam_announce(ct_trainer *t) {
    if (t->cfg->badam_verbose < 1) return;
    const ct_config *mc = ct_model_config(t->model);
    ct_trainer_msg(t, "badam: step %" PRId64 ": block %d (%slayers.%d.) trainable, %zu parameters", t->step,
                   t->badam.active, mc->weight_prefix, t->badam.active, t->tm.params.total);
    for (size_t i = 0; t->cfg->badam_verbose >= 2 && i < t->tm.params.n; i++)
        ct_trainer_msg(t, "badam:   %s", t->tm.params.p[i].name);
}

ct_status ct_trainer_method_setup(ct_trainer *t, ct_err *err) {
    if (!t->tm_ready) return CT_OK;
    const ct_train_config *c = t->cfg;
    if (t->badam_on) {
        t->opt.weight_decay = BADAM_WEIGHT_DECAY;
        badam_prepare(t);
        ct_trainer_msg(t, "use_badam: layer-wise BAdam over %d blocks (the decoder layers; embeddings, final norm and "
                          "LM head stay frozen), %s from block %d, switching every %lld steps (the first block trains "
                          "%lld); weight decay %g on every active parameter as BAdam's BlockOptimizer under "
                          "LlamaFactory%s",
                       t->badam.n_blocks, ct_badam_order_name(t->badam.order), t->badam.active,
                       (long long)c->badam_switch_interval, (long long)(c->badam_switch_interval - 1),
                       BADAM_WEIGHT_DECAY, ct_train_config_is_set(c, "weight_decay") ? " (weight_decay is not used)" : "");
        badam_announce(t);
    }
    if (c->use_galore) return setup_galore(t, err);
    return CT_OK;
}

ct_status ct_trainer_optimizer_step(ct_trainer *t, double lr, float clip, ct_err *err) {
    if (t->galore_on) {
        ct_status st = ct_galore_step(t->ctx, &t->galore, &t->opt, &t->tm.params, lr, clip, err);
        if (st) return ct_err_prefix(err, "step %" PRId64, t->step + 1);
    } else {
        ct_adamw_step(t->ctx, &t->opt, &t->tm.params, lr, clip);
    }
    if (t->badam_on && ct_badam_step_done(&t->badam)) {
        t->layer_ids[0] = t->badam.active;
        ct_status st = ct_train_model_switch_layers(&t->tm, t->layer_ids, 1, t->frozen_f32, err);
        if (st) return ct_err_prefix(err, "badam: switching to block %d", t->badam.active);
        badam_prepare(t);
        t->step++; /* announce with the step just finished */
        badam_announce(t);
        t->step--;
    }
    return CT_OK;
}

/* ---- checkpoints: BAdam's schedule and the weights of the blocks trained before ---- */

json_t *ct_trainer_method_state(const ct_trainer *t) {
    if (!t->badam_on) return NULL;
    const ct_badam *b = &t->badam;
    json_t *o = json_object(), *perm = json_array(), *visited = json_array();
    json_object_set_new(o, "switch_mode", json_string(ct_badam_order_name(b->order)));
    json_object_set_new(o, "blocks", json_integer(b->n_blocks));
    json_object_set_new(o, "active", json_integer(b->active));
    json_object_set_new(o, "next", json_integer(b->next));
    json_object_set_new(o, "step", json_integer(b->step));
    json_object_set_new(o, "permutations", json_integer(b->n_perms));
    for (int i = 0; i < b->n_left; i++) json_array_append_new(perm, json_integer(b->perm[i]));
    for (int i = 0; i < b->n_blocks; i++)
        if (b->visited[i]) json_array_append_new(visited, json_integer(i));
    json_object_set_new(o, "permutation_left", perm);
    json_object_set_new(o, "visited", visited);
    return o;
}

/* The layer tensors of a block that trained before and is not active: their views in tm.w. */
static bool saved_block(const ct_trainer *t, int l) { return t->badam.visited[l] && l != t->badam.active; }

ct_status ct_trainer_method_blocks(ct_trainer *t, ct_st_item **items, char (**names)[192], size_t *n, ct_err *err) {
    *items = NULL, *names = NULL, *n = 0;
    if (!t->badam_on) return CT_OK;
    const ct_config *mc = ct_model_config(t->model);
    size_t cap = (size_t)t->badam.n_blocks * CT_LT_COUNT + 1;
    *items = calloc(cap, sizeof **items);
    *names = calloc(cap, sizeof **names);
    if (!*items || !*names) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int l = 0; l < t->badam.n_blocks; l++) {
        if (!saved_block(t, l)) continue;
        for (int id = 0; id < CT_LT_COUNT; id++) {
            ct_tensor *v = &t->tm.w.layers[l].t[id];
            if (!v->data) continue;
            ct_spec_name((*names)[*n], sizeof **names, mc, &ct_layer_specs[id], l);
            ct_st_item it = {(*names)[*n], *v, mc->dtype == CT_DTYPE_F32 ? CT_DTYPE_F32 : mc->dtype};
            (*items)[(*n)++] = it;
        }
    }
    return CT_OK;
}

static ct_status json_ints(const json_t *a, int *out, int max, int lo, int hi, int *n) {
    if (!json_is_array(a) || (int)json_array_size(a) > max) return CT_ERR_FORMAT;
    size_t i;
    json_t *x;
    *n = 0;
    json_array_foreach(a, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) >= hi) return CT_ERR_FORMAT;
        out[(*n)++] = (int)json_integer_value(x);
    }
    return CT_OK;
}

/* Moves the run to the checkpoint's active block and reloads the blocks trained before it
 * (CT_CKPT_BLOCKS, in the model's dtype) into the weights, before the registry is restored. */
ct_status ct_trainer_method_resume(ct_trainer *t, const char *dir, const json_t *state, ct_err *err) {
    const json_t *o = json_object_get(state, "badam");
    if (!t->badam_on) {
        if (o) return ct_err_set(err, CT_ERR_ARG, "%s: the checkpoint was trained with use_badam, the config has not", dir);
        return CT_OK;
    }
    ct_badam b = t->badam;
    int64_t blocks = 0, active = -1, next = -1, step = 0, perms = 0;
    int visited[CT_BADAM_MAX_BLOCKS], nv = 0;
    const char *mode = o ? ct_json_get_str(o, "switch_mode") : NULL;
    bool ok = o && mode && ct_json_get_int(o, "blocks", &blocks) && ct_json_get_int(o, "active", &active) &&
              ct_json_get_int(o, "next", &next) && ct_json_get_int(o, "step", &step) &&
              ct_json_get_int(o, "permutations", &perms) && blocks == b.n_blocks && active >= 0 && active < blocks &&
              next >= 0 && next < blocks && step >= 0 && perms >= 0 &&
              !json_ints(json_object_get(o, "permutation_left"), b.perm, CT_BADAM_MAX_BLOCKS, 0, (int)blocks, &b.n_left) &&
              !json_ints(json_object_get(o, "visited"), visited, CT_BADAM_MAX_BLOCKS, 0, (int)blocks, &nv);
    if (!ok) return ct_err_set(err, CT_ERR_FORMAT, "%s/%s: no valid \"badam\" state (not a use_badam checkpoint?)", dir, CT_CKPT_STATE);
    if (strcmp(mode, ct_badam_order_name(b.order)))
        return ct_err_set(err, CT_ERR_ARG, "%s: checkpoint used badam_switch_mode %s, the config says %s", dir, mode,
                          ct_badam_order_name(b.order));
    b.active = (int)active, b.next = (int)next, b.step = step, b.n_perms = perms;
    memset(b.visited, 0, sizeof b.visited);
    for (int i = 0; i < nv; i++) b.visited[visited[i]] = true;
    t->badam = b;
    t->layer_ids[0] = b.active;
    ct_status st = ct_train_model_switch_layers(&t->tm, t->layer_ids, 1, t->frozen_f32, err);
    if (!st) badam_prepare(t);
    char *path = st ? NULL : ct_path_join(dir, CT_CKPT_BLOCKS);
    ct_st *sf = NULL;
    if (!st && !path) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_st_open(path, &sf, err);
    const ct_config *mc = ct_model_config(t->model);
    float *buf = NULL;
    for (int l = 0; !st && l < b.n_blocks; l++) {
        if (!saved_block(t, l)) continue;
        for (int id = 0; !st && id < CT_LT_COUNT; id++) {
            ct_tensor *v = &t->tm.w.layers[l].t[id];
            if (!v->data) continue;
            char name[192];
            ct_spec_name(name, sizeof name, mc, &ct_layer_specs[id], l);
            const ct_tensor *e = ct_st_get(sf, name);
            size_t n = (size_t)ct_tensor_numel(v);
            if (!e || ct_tensor_numel(e) != (int64_t)n) {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: missing or misshapen tensor %s", path, name);
                break;
            }
            float *nb = realloc(buf, n * sizeof *buf);
            if (!nb) {
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                break;
            }
            buf = nb;
            ct_tensor_to_f32(e, 0, n, buf);
            st = ct_train_model_store(&t->tm, v, buf, t->frozen_f32, err);
        }
    }
    free(buf);
    ct_st_close(sf);
    free(path);
    return st;
}

void ct_trainer_method_free(ct_trainer *t) {
    if (t->galore_on) ct_galore_free(&t->galore);
}
