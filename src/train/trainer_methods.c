/* BAdam (use_badam), LLaMA Pro (use_llama_pro) and GaLore (use_galore) in the training loop:
 * what they change in the method set-up, the optimizer step and the messages of a run
 * (docs/training.md "BAdam, LLaMA Pro, GaLore"; their checkpoint state is in trainer_save.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "peft/block.h"
#include "peft/freeze.h"
#include "train/checkpoint.h"
#include "train/trainer_internal.h"

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
        t->badam_start = t->badam;
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

static ct_status setup_galore(ct_trainer *t, ct_err *err) {
    const ct_train_config *c = t->cfg;
    ct_train_model *tm = &t->tm;
    ct_galore_proj proj;
    if (!ct_galore_proj_parse(c->galore_proj_type, &proj))
        return ct_err_set(err, CT_ERR_ARG, "galore_proj_type: unknown '%s'", c->galore_proj_type);
    bool *sel = calloc(tm->params.n ? tm->params.n : 1, sizeof *sel);
    size_t n_sel = 0, sel_numel = 0;
    ct_status st = sel ? ct_galore_select(tm, (const char *const *)c->galore_target.v, c->galore_target.n, sel, &n_sel, err)
                       : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (st) {
        free(sel);
        return st;
    }
    for (size_t i = 0; i < tm->params.n; i++)
        if (sel[i]) sel_numel += tm->params.p[i].numel;
    /* LlamaFactory's _get_decay_parameter_names for its GaLore groups: every parameter outside
     * nn.LayerNorm modules (RMSNorm is not one) without "bias" in its name decays */
    for (size_t i = 0; i < tm->params.n; i++) tm->params.p[i].decay = !strstr(tm->params.p[i].name, "bias");
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

static void badam_announce(ct_trainer *t) {
    if (t->cfg->badam_verbose < 1) return;
    const ct_config *mc = ct_model_config(t->model);
    ct_trainer_msg(t, "badam: from step %" PRId64 ": block %d (%slayers.%d.) trainable, %zu parameters", t->step + 1,
                   t->badam.active, mc->weight_prefix, t->badam.active, t->tm.params.total);
    for (size_t i = 0; t->cfg->badam_verbose >= 2 && i < t->tm.params.n; i++)
        ct_trainer_msg(t, "badam:   %s", t->tm.params.p[i].name);
}

ct_status ct_trainer_method_setup(ct_trainer *t, ct_err *err) {
    if (!t->tm_ready) return CT_OK;
    const ct_train_config *c = t->cfg;
    if (t->badam_on) {
        ct_badam_reset_optimizer(t->ctx, &t->opt, &t->tm.params);
        ct_trainer_msg(t, "use_badam: layer-wise BAdam over %d blocks (the decoder layers; embeddings, final norm and "
                          "LM head stay frozen), %s from block %d, switching every %lld steps (the first block trains "
                          "%lld); weight decay %g on every active parameter as BAdam's BlockOptimizer under "
                          "LlamaFactory%s",
                       t->badam.n_blocks, ct_badam_order_name(t->badam.order), t->badam.active,
                       (long long)c->badam_switch_interval, (long long)(c->badam_switch_interval - 1),
                       CT_BADAM_WEIGHT_DECAY, ct_train_config_is_set(c, "weight_decay") ? " (weight_decay is not used)" : "");
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
        ct_status st = ct_badam_apply(t->ctx, &t->badam, &t->tm, &t->opt, t->frozen_f32, err);
        if (st) return st;
        t->step++; /* the step just taken: the block trains from the next one */
        badam_announce(t);
        t->step--;
    }
    return CT_OK;
}

/* ---- checkpoints: BAdam's schedule and the weights of the blocks trained before ---- */

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

/* Moves the run to the checkpoint's active block and reloads the blocks trained before it
 * (CT_CKPT_BLOCKS, in the model's dtype) into the weights, before the registry is restored. */
ct_status ct_trainer_method_resume(ct_trainer *t, const char *dir, const ct_badam *b, ct_err *err) {
    if (!t->badam_on) return CT_OK;
    t->badam = *b;
    ct_status st = ct_badam_apply(t->ctx, &t->badam, &t->tm, &t->opt, t->frozen_f32, err);
    char *path = st ? NULL : ct_path_join(dir, CT_CKPT_BLOCKS);
    ct_st *sf = NULL;
    if (!st && !path) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_st_open(path, &sf, err);
    const ct_config *mc = ct_model_config(t->model);
    float *buf = NULL;
    for (int l = 0; !st && l < b->n_blocks; l++) {
        if (!saved_block(t, l)) continue;
        for (int id = 0; !st && id < CT_LT_COUNT; id++) {
            ct_tensor *v = &t->tm.w.layers[l].t[id];
            if (!v->data) continue;
            char name[192];
            ct_spec_name(name, sizeof name, mc, &ct_layer_specs[id], l);
            const ct_tensor *e = ct_st_get(sf, name);
            size_t n = (size_t)ct_tensor_numel(v);
            bool same = e && e->ndim == v->ndim;
            for (int d = 0; same && d < v->ndim; d++) same = e->shape[d] == v->shape[d];
            if (!same) {
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
