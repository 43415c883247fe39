/* PEFT LoRA → llama.cpp LoRA GGUF (rules in lora_gguf.h). */
#include "peft/lora_gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "model/arch.h"
#include "model/gguf_export.h"
#include "model/gguf_qwen35.h"

ct_status ct_lora_gguf_write(const ct_peft_adapter *a, const ct_config *cfg, const char *adapter_dir, const char *path,
                             const ct_gguf_export_opts *o, ct_err *err) {
    if (a->type != CT_PEFT_LORA)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: only LoRA adapters have a llama.cpp GGUF form", adapter_dir);
    if (a->use_dora)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: use_dora: llama.cpp LoRA files have no DoRA magnitudes "
                                                   "(export merged instead: drop --gguf-lora)", adapter_dir);
    if (a->pissa)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: init_lora_weights pissa changes the base weights; export it "
                                                   "merged (drop --gguf-lora)", adapter_dir);
    if (a->n_saved)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: modules_to_save (%s) cannot be carried by a llama.cpp LoRA "
                                                   "file; export it merged (drop --gguf-lora)", adapter_dir, a->saved[0].name);
    if (!a->n_lora) return ct_err_set(err, CT_ERR_FORMAT, "%s: the adapter has no LoRA tensors", adapter_dir);
    double alpha = a->use_rslora ? a->lora_alpha * sqrt((double)a->r) : a->lora_alpha;
    ct_gguf_writer *w = NULL;
    ct_status st = ct_gguf_writer_init(&w, err);
    if (st) return st;
    ct_tensor *views = calloc(2 * a->n_lora, sizeof *views);
    ct_gguf_src *src = calloc(2 * a->n_lora, sizeof *src);
    if (!views || !src) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_gguf_add_model_keys(w, cfg, "adapter", o->name, o->dtype, err);
    if (!st) st = ct_gguf_set_str(w, "adapter.type", "lora", err);
    if (!st) st = ct_gguf_set_f32(w, "adapter.lora.alpha", (float)alpha, err);
    for (size_t i = 0; !st && i < a->n_lora; i++) {
        const ct_peft_lora_tensors *l = &a->lora[i];
        const ct_tensor_spec *s = ct_spec_by_lora(l->module);
        if (!s || l->r != a->r) {
            st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: layer %d %s: %s", adapter_dir, l->layer, l->module,
                            s ? "a rank other than r (rank_pattern) has no llama.cpp form" : "no llama.cpp tensor");
            break;
        }
        int permute = 0;
        if (cfg->arch == CT_ARCH_LLAMA && s->id == CT_LT_WQ) permute = cfg->num_heads;
        if (cfg->arch == CT_ARCH_LLAMA && s->id == CT_LT_WK) permute = cfg->num_kv_heads;
        char base[96], name[112];
        snprintf(base, sizeof base, s->gguf, l->layer);
        /* Qwen3.5: the base's value-head reorder applies to B's rows or A's columns */
        ct_gguf_src q35 = {0};
        int q35_ndim;
        int64_t q35_shape[3];
        if (cfg->arch == CT_ARCH_QWEN3_5)
            ct_gguf_qwen35_map(cfg, s, l->layer, base, sizeof base, &q35, &q35_ndim, q35_shape);
        views[2 * i] = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {l->r, l->in}, .data = l->A};
        views[2 * i + 1] = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {l->out, l->r}, .data = l->B};
        for (int k = 0; !st && k < 2; k++) {
            ct_gguf_src *g = &src[2 * i + k];
            const ct_tensor *t = &views[2 * i + k];
            g->t = t;
            g->type = ct_gguf_tensor_type(o->dtype, 2, t->shape[1]);
            g->permute_heads = k == 1 ? permute : 0;
            if (q35.vr.axis == (k == 1 ? CT_GGUF_VROWS : CT_GGUF_VCOLS)) g->vr = q35.vr;
            snprintf(name, sizeof name, "%s.%s", base, k ? "lora_b" : "lora_a");
            st = ct_gguf_add_tensor(w, name, 2, t->shape, g->type, ct_gguf_fill_tensor, g, err);
        }
    }
    if (!st) st = ct_gguf_write(w, path, err);
    free(views);
    free(src);
    ct_gguf_writer_free(w);
    return st;
}
