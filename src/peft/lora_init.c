/* LoRA initialisations and optimizer groups beyond PEFT's default (see method.h):
 *  - continuing from an adapter (LlamaFactory adapter_name_or_path, PeftModel.from_pretrained
 *    with is_trainable): A, B, DoRA magnitudes and modules_to_save as saved; a PiSSA adapter
 *    (init_lora_weights "pissa*") first turns the base into the PiSSA residual, as PEFT does;
 *  - PiSSA (peft/pissa.h): A, B from the SVD of W, W replaced by the residual;
 *  - DoRA (PEFT DoraLinearLayer.update_layer): m = ||W + scaling B A|| per output row;
 *  - LoRA+ (LlamaFactory _create_loraplus_optimizer): lora_B and every 1-D tensor get
 *    learning_rate * loraplus_lr_ratio, with weight decay unless "bias" is in the name (its
 *    decay list is transformers' get_parameter_names(model, [nn.LayerNorm]) minus biases, and
 *    RMSNorm is no nn.LayerNorm); the rest (lora_A, 2-D modules_to_save) keep learning_rate
 *    with weight decay. ctune has no embedding LoRA, so loraplus_lr_embedding's group is empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peft/method.h"
#include "peft/peft_io.h"
#include "peft/pissa.h"

/* Calls fn for every adapted linear (l, id) of tm. */
#define EACH_REF(tm, l, id, ref)                                                                            \
    for (int l = 0; l < (tm)->lora.n_layers; l++)                                                           \
        for (int id = 0; id < CT_LT_COUNT; id++)                                                            \
            for (ct_lora_ref *ref = &(tm)->lora.ref[(size_t)l * CT_LT_COUNT + (size_t)id]; ref && ref->A; ref = NULL)

/* W of (l, id) becomes an owned f32 PiSSA residual; A and B get the PiSSA factors. */
static ct_status pissa_one(ct_train_model *tm, ct_ctx *c, int l, int id, int niter, float *A, float *B, ct_err *err) {
    ct_tensor *W = &tm->w.layers[l].t[id], orig = *W;
    char what[160];
    ct_spec_module(what, sizeof what, &tm->model->cfg, &ct_layer_specs[id], l);
    ct_status st = ct_tensor_own_f32(W, &tm->owned, &tm->n_owned, err);
    if (st) return st;
    return ct_pissa_init(c, &orig, tm->lora_r, tm->lora_scaling, niter, ct_pissa_stream(l, ct_spec_lora_index(id)), A, B,
                         W->data, what, err);
}

static void set_init_name(ct_train_model *tm, int niter) {
    if (niter < 0) snprintf(tm->init_lora_weights, sizeof tm->init_lora_weights, "pissa");
    else snprintf(tm->init_lora_weights, sizeof tm->init_lora_weights, "pissa_niter_%d", niter);
}

static ct_status pissa_all(ct_train_model *tm, ct_ctx *c, int niter, ct_err *err) {
    ct_status st = CT_OK;
    EACH_REF(tm, l, id, ref) {
        if (!st) st = pissa_one(tm, c, l, id, niter, (float *)ref->A, (float *)ref->B, err);
    }
    if (!st) set_init_name(tm, niter);
    return st;
}

static ct_status from_adapter(ct_train_model *tm, const ct_peft_adapter *ad, ct_ctx *c, ct_err *err) {
    const ct_config *mc = &tm->model->cfg;
    size_t used = 0;
    ct_status st = CT_OK;
    EACH_REF(tm, l, id, ref) {
        const ct_tensor_spec *s = &ct_layer_specs[id];
        const ct_peft_lora_tensors *p = ct_peft_find_lora(ad, l, s->lora);
        const ct_tensor *W = &tm->w.layers[l].t[id];
        char key[192];
        ct_peft_lora_key(key, sizeof key, mc->weight_prefix, l, s->lora, 'A');
        if (st) continue;
        if (p->r != tm->lora_r || p->in != W->shape[1] || p->out != W->shape[0]) {
            st = ct_err_set(err, CT_ERR_SHAPE, "adapter_name_or_path: tensor %s is [%lld, %lld] but the base weight is "
                            "[%lld, %lld] with r=%d (adapter for a different model?)", key, (long long)p->r,
                            (long long)p->in, (long long)W->shape[0], (long long)W->shape[1], tm->lora_r);
            continue;
        }
        if (ad->pissa) { /* the residual the adapter was trained on; its A0, B0 are overwritten below */
            st = pissa_one(tm, c, l, id, ad->pissa_niter, (float *)ref->A, (float *)ref->B, err);
            if (st) continue;
        }
        memcpy((float *)ref->A, p->A, (size_t)(p->r * p->in) * sizeof(float));
        memcpy((float *)ref->B, p->B, (size_t)(p->out * p->r) * sizeof(float));
        if (ref->mag) memcpy((float *)ref->mag, p->M, (size_t)p->out * sizeof(float));
        used++;
    }
    if (!st && used != ad->n_lora)
        for (size_t i = 0; i < ad->n_lora && !st; i++) {
            const ct_peft_lora_tensors *p = &ad->lora[i];
            const ct_tensor_spec *s = ct_spec_by_lora(p->module);
            bool found = p->layer < tm->lora.n_layers && s && tm->lora.ref[(size_t)p->layer * CT_LT_COUNT + (size_t)s->id].A;
            char key[192];
            ct_peft_lora_key(key, sizeof key, mc->weight_prefix, p->layer, p->module, 'A');
            if (!found)
                st = ct_err_set(err, CT_ERR_SHAPE, "adapter_name_or_path: tensor %s adapts a linear the base model does "
                                "not have (%d layers)", key, mc->num_layers);
        }
    /* modules_to_save: every trained non-LoRA tensor starts from the adapter's copy */
    for (size_t i = 0; i < tm->params.n && !st; i++) {
        ct_param *p = &tm->params.p[i];
        if (strstr(p->name, ".lora_")) continue;
        const char *hf = p->name + strlen("base_model.model.");
        const ct_peft_saved_tensor *sv = NULL;
        for (size_t k = 0; k < ad->n_saved; k++)
            if (!strcmp(ad->saved[k].name, hf)) sv = &ad->saved[k];
        if (!sv || (size_t)ct_tensor_numel(&sv->t) != p->numel)
            st = ct_err_set(err, CT_ERR_FORMAT, "adapter_name_or_path: the adapter has no %s tensor %s (modules_to_save)",
                            sv ? "matching" : "", p->name);
        else memcpy(p->data, sv->t.data, p->numel * sizeof(float));
    }
    if (!st && ad->pissa) set_init_name(tm, ad->pissa_niter);
    return st;
}

void ct_lora_dora_init_magnitudes(ct_train_model *tm, ct_ctx *c) {
    EACH_REF(tm, l, id, ref) {
        if (!ref->mag) continue;
        const ct_tensor *W = &tm->w.layers[l].t[id];
        ct_dora_weight_norm(c, (float *)ref->mag, W, ref, (size_t)W->shape[0], (size_t)W->shape[1]);
    }
}

static void loraplus_groups(ct_params *ps, double ratio) {
    for (size_t i = 0; i < ps->n; i++) {
        ct_param *p = &ps->p[i];
        if (strstr(p->name, "lora_B") || p->ndim == 1) {
            p->lr_scale = ratio;
            p->decay = !strstr(p->name, "bias");
        } else {
            p->decay = true;
        }
    }
}

ct_status ct_lora_init_variants(ct_train_model *tm, const ct_method_cfg *cfg, ct_err *err) {
    const ct_peft_adapter *ad = cfg->init_adapter;
    bool compute = tm->dora || cfg->pissa_init || (ad && ad->pissa);
    ct_ctx *c = cfg->ctx, *own = NULL;
    ct_status st = CT_OK;
    if (compute && !c && !(st = ct_ctx_new(&own, 0, err))) c = own;
    if (!st && ad) st = from_adapter(tm, ad, c, err);
    else if (!st && cfg->pissa_init) st = pissa_all(tm, c, cfg->pissa_iter, err);
    if (!st && tm->dora && !ad) ct_lora_dora_init_magnitudes(tm, c);
    if (!st && cfg->loraplus_lr_ratio > 0) loraplus_groups(&tm->params, cfg->loraplus_lr_ratio);
    ct_ctx_free(own);
    return st;
}
