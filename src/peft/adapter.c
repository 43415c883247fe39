/* PEFT adapters at inference (see include/ctune/adapter.h): target-module matching as PEFT's
 * check_target_module_exists, LoRA refs run unmerged through the decoder's linear-with-LoRA path
 * (or merged into f32 copies on request), modules_to_save replacements, prompt-tuning virtual
 * tokens, and the merged HF export. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/adapter.h"
#include "io/hf_export.h"
#include "model/gguf_export.h"
#include "model/gguf_qwen35.h"
#include "model/decoder.h"
#include "peft/lora_gguf.h"
#include "peft/peft_io.h"
#include "peft/pissa.h"

struct ct_adapter {
    ct_dec_hooks hooks;  /* first: what the decoder reads (model/decoder.h ct_adapter_hooks) */
    ct_adapter_kind kind;
    ct_peft_adapter peft;
    const ct_model *base;
    ct_weights w;        /* the base's views with modules_to_save (and merged linears) replaced */
    ct_lora_set lora;    /* unmerged LoRA: refs into peft's A / B */
    size_t n_lora;       /* adapted linears */
    float **owned;       /* merged f32 copies, PiSSA residuals */
    size_t n_owned;
    float *wnorm;        /* DoRA: ||W + scaling B A|| per row of every adapted linear, computed once */
    double scaling;
};

/* ---- target module matching (PEFT check_target_module_exists) ---- */

/* Matches HF module names ("model.layers.3.mlp.up_proj") against one of PEFT's target specs:
 * a regex string (re.fullmatch), or a list (exact name or ".<entry>" suffix; then
 * layers_to_transform restricts the layer index). */
typedef struct target_spec {
    const json_t *spec;      /* string or array (NULL: nothing) */
    pcre2_code *re;          /* compiled when spec is a string */
    const json_t *layers;    /* layers_to_transform: integer or array, NULL = all */
    bool layers_ok;          /* layers_pattern allows "layers" */
} target_spec;

static ct_status spec_init(target_spec *ts, const json_t *spec, const json_t *layers,
                           const json_t *pattern, const char *what, const char *cpath,
                           ct_err *err) {
    memset(ts, 0, sizeof *ts);
    ts->spec = spec && !json_is_null(spec) ? spec : NULL;
    ts->layers = layers && !json_is_null(layers) ? layers : NULL;
    if (ts->layers && json_is_array(ts->layers) && json_array_size(ts->layers) == 0)
        ts->layers = NULL;
    ts->layers_ok = true;
    if (pattern && json_is_string(pattern)) {
        ts->layers_ok = strcmp(json_string_value(pattern), "layers") == 0;
    } else if (pattern && json_is_array(pattern) && json_array_size(pattern) > 0) {
        size_t i;
        json_t *x;
        ts->layers_ok = false;
        json_array_foreach(pattern, i, x) if (json_is_string(x) &&
                                              !strcmp(json_string_value(x), "layers"))
            ts->layers_ok = true;
    }
    if (ts->layers && !json_is_integer(ts->layers) && !json_is_array(ts->layers))
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: layers_to_transform must be an integer or a list of integers",
                          cpath);
    if (!ts->spec) return CT_OK;
    if (json_is_string(ts->spec)) {
        const char *s = json_string_value(ts->spec);
        if (!strcmp(s, "all-linear")) return CT_OK;
        int ec;
        PCRE2_SIZE eo;
        ts->re = pcre2_compile((PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED,
                               PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &eo, NULL);
        if (!ts->re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return ct_err_set(err, CT_ERR_FORMAT, "%s: %s regex \"%s\" at offset %zu: %s", cpath,
                              what, s, (size_t)eo, (const char *)msg);
        }
        return CT_OK;
    }
    if (!json_is_array(ts->spec))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: %s must be a string or a list of strings",
                          cpath, what);
    size_t i;
    json_t *x;
    json_array_foreach(ts->spec, i, x) if (!json_is_string(x)) return ct_err_set(
        err, CT_ERR_FORMAT, "%s: %s[%zu] is not a string", cpath, what, i);
    return CT_OK;
}

static void spec_free(target_spec *ts) { pcre2_code_free(ts->re); }

static bool ends_with_dot(const char *key, const char *suffix) {
    size_t k = strlen(key), s = strlen(suffix);
    return s < k && key[k - s - 1] == '.' && !strcmp(key + k - s, suffix);
}

/* key: "model.layers.<layer>.<parent>.<module>". */
static bool spec_match(const target_spec *ts, const char *key, int layer, bool use_layers) {
    if (!ts->spec) return false;
    if (json_is_string(ts->spec)) {
        if (!ts->re) return true; /* all-linear: every decoder linear (lm_head excluded) */
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(ts->re, NULL);
        int rc = md ? pcre2_match(ts->re, (PCRE2_SPTR)key, strlen(key), 0, 0, md, NULL) : -1;
        pcre2_match_data_free(md);
        return rc >= 0;
    }
    size_t i;
    json_t *x;
    json_array_foreach(ts->spec, i, x) if (!strcmp(json_string_value(x), key)) return true;
    bool found = false;
    json_array_foreach(ts->spec, i, x) if (ends_with_dot(key, json_string_value(x))) found = true;
    if (!found || !use_layers || !ts->layers) return found;
    if (!ts->layers_ok) return false; /* no layer index found under that layers_pattern */
    if (json_is_integer(ts->layers)) return json_integer_value(ts->layers) == layer;
    json_array_foreach(ts->layers, i, x) if (json_is_integer(x) && json_integer_value(x) == layer)
        return true;
    return false;
}

/* ---- loading ---- */

/* modules_to_save tensors replace the base's views in ad->w. A tied head: PEFT's
 * ModulesToSaveWrapper copies the module, so replacing embed_tokens leaves lm_head on the
 * original embedding (and vice versa). */
static ct_status apply_saved(ct_adapter *ad, const char *wpath, ct_err *err) {
    const ct_config *c = &ad->base->cfg;
    for (size_t i = 0; i < ad->peft.n_saved; i++) {
        ct_peft_saved_tensor *sv = &ad->peft.saved[i];
        bool head_tied = !strcmp(sv->name, "lm_head.weight") && c->tie_word_embeddings;
        ct_tensor *t = head_tied ? &ad->w.g[CT_GT_LM_HEAD] : ct_weights_find(&ad->w, c, sv->name);
        if (!t)
            return ct_err_set(err, CT_ERR_SHAPE,
                              "%s: tensor base_model.model.%s (modules_to_save) names no weight of the base model", wpath,
                              sv->name);
        /* a qwen35 GGUF base stores norms as 1 + w and value heads tiled: only the embedding and
         * the head are stored as in the checkpoint */
        if (c->arch == CT_ARCH_QWEN3_5 && !c->norm_offset && t != &ad->w.g[CT_GT_EMBED] && t != &ad->w.g[CT_GT_LM_HEAD])
            return ct_err_set(err, CT_ERR_UNSUPPORTED,
                              "%s: modules_to_save %s on a Qwen3.5 GGUF base: only embed_tokens and lm_head can replace "
                              "its tensors (load the Hugging Face directory)", wpath, sv->name);
        bool same = t->ndim == sv->t.ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == sv->t.shape[d];
        if (!same)
            return ct_err_set(err, CT_ERR_SHAPE,
                              "%s: tensor base_model.model.%s has shape [%lld, %lld] but the base weight is [%lld, %lld]",
                              wpath, sv->name, (long long)sv->t.shape[0], (long long)(sv->t.ndim > 1 ? sv->t.shape[1] : 0),
                              (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0));
        *t = sv->t;
    }
    return CT_OK;
}

/* A PiSSA adapter (init_lora_weights "pissa*"): PEFT's from_pretrained re-runs the PiSSA
 * decomposition, so the adapted weight becomes W - scaling B0 A0 (peft/pissa.h; the same fixed
 * draws as training, so a ctune-trained adapter finds its residual bit for bit). */
static ct_status pissa_residual(ct_adapter *ad, ct_ctx *ctx, const ct_peft_lora_tensors *p, ct_tensor *W,
                                const char *wpath, ct_err *err) {
    ct_tensor orig = *W;
    char what[320];
    snprintf(what, sizeof what, "%s: layer %d %s", wpath, p->layer, p->module);
    float *A0 = malloc((size_t)(p->r * p->in) * sizeof *A0), *B0 = malloc((size_t)(p->out * p->r) * sizeof *B0);
    ct_status st = A0 && B0 ? ct_tensor_own_f32(W, &ad->owned, &ad->n_owned, err)
                            : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st)
        st = ct_pissa_init(ctx, &orig, (int)p->r, (float)ad->scaling, ad->peft.pissa_niter,
                           ct_pissa_stream(p->layer, ct_spec_lora_index(ct_spec_by_lora(p->module)->id)), A0, B0,
                           W->data, what, err);
    free(A0);
    free(B0);
    return st;
}

/* A base whose value heads are in llama.cpp's tiled order (a qwen35 GGUF file): the LoRA's B rows
 * (and DoRA magnitudes) or A columns that address value heads move as the exporter moves the
 * base's (gguf_qwen35.h), so the adapter meets the base's layout. */
static ct_status tile_v_heads(const ct_config *mc, const ct_peft_lora_tensors *p, ct_err *err) {
    ct_gguf_src q35 = {0};
    char name[96];
    int ndim;
    int64_t shape[3];
    ct_gguf_qwen35_map(mc, ct_spec_by_lora(p->module), p->layer, name, sizeof name, &q35, &ndim, shape);
    ct_status st = CT_OK;
    if (q35.vr.axis == CT_GGUF_VROWS) {
        st = ct_gguf_reorder_v_heads(p->B, p->out, p->r, &q35.vr, err);
        if (!st && p->M) st = ct_gguf_reorder_v_heads(p->M, p->out, 1, &q35.vr, err);
    } else if (q35.vr.axis == CT_GGUF_VCOLS) {
        st = ct_gguf_reorder_v_heads(p->A, p->r, p->in, &q35.vr, err);
    }
    return st;
}

/* Checks every LoRA tensor against the base and the config's target selection, then points the
 * refs at them. */
static ct_status apply_lora(ct_adapter *ad, const char *cpath, const char *wpath, ct_err *err) {
    const json_t *cfg = ad->peft.config;
    const ct_config *mc = &ad->base->cfg;
    const json_t *tm = json_object_get(cfg, "target_modules");
    json_t *deflt = NULL;
    if (!tm || json_is_null(tm)) { /* PEFT TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING */
        deflt = json_pack("[ss]", "q_proj", "v_proj");
        tm = deflt;
    }
    target_spec tgt, exc;
    ct_status st = spec_init(&tgt, tm, json_object_get(cfg, "layers_to_transform"), json_object_get(cfg, "layers_pattern"),
                             "target_modules", cpath, err);
    if (!st)
        st = spec_init(&exc, json_object_get(cfg, "exclude_modules"), NULL, NULL, "exclude_modules", cpath, err);
    else
        memset(&exc, 0, sizeof exc);
    const json_t *mts = json_object_get(cfg, "modules_to_save");
    /* Every tensor must address a decoder linear of the base with matching shapes. */
    for (size_t i = 0; !st && i < ad->peft.n_lora; i++) {
        const ct_peft_lora_tensors *p = &ad->peft.lora[i];
        char key[160];
        ct_peft_lora_key(key, sizeof key, mc->weight_prefix, p->layer, p->module, 'A');
        if (p->layer >= mc->num_layers) {
            st = ct_err_set(err, CT_ERR_SHAPE, "%s: tensor %s: the base model has only %d layers", wpath, key,
                            mc->num_layers);
            break;
        }
        const ct_tensor_spec *s = ct_spec_by_lora(p->module);
        if (ad->peft.language_model != !strcmp(mc->weight_prefix, "model.language_model.")) {
            st = ct_err_set(err, CT_ERR_SHAPE, "%s: tensor %s: the base model keeps its layers under %slayers "
                            "(adapter for a different model class?)", wpath, key, mc->weight_prefix);
            break;
        }
        if (!ct_spec_present(s, mc, p->layer)) {
            st = ct_err_set(err, CT_ERR_SHAPE, "%s: tensor %s: layer %d of the base model has no %s (%s layer)", wpath,
                            key, p->layer, p->module,
                            mc->layer_kind[p->layer] == CT_LAYER_DELTANET ? "linear_attention" : "full_attention");
            break;
        }
        const ct_tensor *W = ct_weights_at_c(&ad->w, s, p->layer);
        if (p->in != W->shape[1] || p->out != W->shape[0]) {
            char kb[160];
            bool a_bad = p->in != W->shape[1];
            ct_peft_lora_key(kb, sizeof kb, mc->weight_prefix, p->layer, p->module, a_bad ? 'A' : 'B');
            st = ct_err_set(err, CT_ERR_SHAPE,
                            "%s: tensor %s has shape [%lld, %lld] but the base weight is [%lld, %lld] (adapter for a "
                            "different model?)",
                            wpath, kb, (long long)(a_bad ? p->r : p->out), (long long)(a_bad ? p->in : p->r),
                            (long long)W->shape[0], (long long)W->shape[1]);
            break;
        }
        char mod[128];
        ct_spec_module(mod, sizeof mod, mc, s, p->layer);
        if (!spec_match(&tgt, mod, p->layer, true) || spec_match(&exc, mod, p->layer, false)) {
            st = ct_err_set(err, CT_ERR_FORMAT,
                            "%s: tensor %s adapts %s, which adapter_config.json's target_modules / "
                            "layers_to_transform do not select",
                            wpath, key, mod);
            break;
        }
    }
    /* Every module the config selects must have its tensors (PEFT would leave it at B = 0 with a
     * missing-keys warning; a partial adapter almost always means a mismatched file). */
    for (int l = 0; !st && l < mc->num_layers; l++)
        for (int id = 0; !st && id < CT_LT_COUNT; id++) {
            const ct_tensor_spec *s = &ct_layer_specs[id];
            if (!s->lora || !ct_spec_present(s, mc, l)) continue;
            char mod[128];
            ct_spec_module(mod, sizeof mod, mc, s, l);
            bool saved = false;
            size_t k;
            json_t *x;
            if (json_is_array(mts))
                json_array_foreach(mts, k, x) if (json_is_string(x) && ends_with_dot(mod, json_string_value(x))) saved = true;
            if (saved || !spec_match(&tgt, mod, l, true) || spec_match(&exc, mod, l, false)) continue;
            if (!ct_peft_find_lora(&ad->peft, l, s->lora)) {
                char key[160];
                ct_peft_lora_key(key, sizeof key, mc->weight_prefix, l, s->lora, 'A');
                st = ct_err_set(err, CT_ERR_FORMAT,
                                "%s: missing tensor %s (adapter_config.json's target_modules select %s)", wpath, key,
                                mod);
            }
        }
    spec_free(&tgt);
    spec_free(&exc);
    json_decref(deflt);
    if (st) return st;
    size_t L = (size_t)mc->num_layers, n_out = 0;
    ad->lora.n_layers = mc->num_layers;
    ad->lora.ref = calloc((L ? L : 1) * CT_LT_COUNT, sizeof *ad->lora.ref);
    if (!ad->lora.ref) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ad->peft.n_lora; i++) n_out += (size_t)ad->peft.lora[i].out;
    if (ad->peft.use_dora && !(ad->wnorm = malloc((n_out ? n_out : 1) * sizeof *ad->wnorm)))
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_ctx *ctx = NULL; /* DoRA norms and PiSSA residuals are computed once, here */
    if ((ad->peft.use_dora || ad->peft.pissa) && (st = ct_ctx_new(&ctx, 0, err))) return st;
    size_t off = 0;
    for (size_t i = 0; i < ad->peft.n_lora && !st; i++) {
        const ct_peft_lora_tensors *p = &ad->peft.lora[i];
        int id = ct_spec_by_lora(p->module)->id;
        ct_lora_ref *ref = &ad->lora.ref[(size_t)p->layer * CT_LT_COUNT + (size_t)id];
        *ref = (ct_lora_ref){.A = p->A, .B = p->B, .r = (int)p->r, .scaling = (float)ad->scaling};
        ct_tensor *W = &ad->w.layers[p->layer].t[id];
        if (mc->lin_v_tiled) st = tile_v_heads(mc, p, err);
        if (!st && ad->peft.pissa) st = pissa_residual(ad, ctx, p, W, wpath, err);
        if (!st && p->M) {
            ref->mag = p->M;
            ref->wnorm = ad->wnorm + off;
            ref->wnorm_fixed = true;
            off += (size_t)p->out;
            ct_dora_weight_norm(ctx, ref->wnorm, W, ref, (size_t)p->out, (size_t)p->in);
        }
    }
    ct_ctx_free(ctx);
    if (st) return st;
    ad->n_lora = ad->peft.n_lora;
    ad->hooks.lora = ad->n_lora ? &ad->lora : NULL;
    return CT_OK;
}

ct_status ct_adapter_load(const char *dir, const ct_model *base, ct_adapter **out, ct_err *err) {
    *out = NULL;
    ct_adapter *ad = calloc(1, sizeof *ad);
    if (!ad) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ad->base = base;
    ct_status st = ct_peft_load(dir, &ad->peft, err);
    if (st) {
        free(ad);
        return st;
    }
    char *cpath = ct_path_join(dir, "adapter_config.json");
    char *wpath = ct_path_join(dir, "adapter_model.safetensors");
    if (!cpath || !wpath) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_weights_clone(&ad->w, &base->w, err);
    ad->hooks.w = &ad->w;
    if (!st && ad->peft.type == CT_PEFT_PROMPT_TUNING) {
        ad->kind = CT_ADAPTER_PROMPT;
        if (ad->peft.token_dim != base->cfg.hidden_size)
            st = ct_err_set(err, CT_ERR_SHAPE,
                            "%s: tensor prompt_embeddings is [%lld, %lld] but the base model's hidden_size is %d", wpath,
                            (long long)ad->peft.num_virtual_tokens, (long long)ad->peft.token_dim, base->cfg.hidden_size);
        ad->hooks.virt = ad->peft.prompt_embeddings;
        ad->hooks.n_virt = (size_t)ad->peft.num_virtual_tokens;
    } else if (!st) {
        ad->kind = CT_ADAPTER_LORA;
        ad->scaling = ct_peft_lora_scaling(&ad->peft);
        st = apply_lora(ad, cpath, wpath, err);
        if (!st) st = apply_saved(ad, wpath, err);
    }
    free(cpath);
    free(wpath);
    if (st) ct_adapter_free(ad);
    else *out = ad;
    return st;
}

void ct_adapter_free(ct_adapter *ad) {
    if (!ad) return;
    for (size_t i = 0; i < ad->n_owned; i++) free(ad->owned[i]);
    free(ad->owned);
    free(ad->lora.ref);
    free(ad->wnorm);
    ct_weights_free(&ad->w);
    ct_peft_free(&ad->peft);
    free(ad);
}

ct_adapter_kind ct_adapter_type(const ct_adapter *ad) { return ad->kind; }
size_t ct_adapter_num_virtual(const ct_adapter *ad) { return ad->hooks.n_virt; }
const float *ct_adapter_virtual_embeds(const ct_adapter *ad) { return ad->hooks.virt; }
size_t ct_adapter_num_replaced(const ct_adapter *ad) { return ad->n_lora + ad->peft.n_saved; }
double ct_adapter_lora_scaling(const ct_adapter *ad) { return ad->scaling; }
const ct_tensor *ct_adapter_tensor(const ct_adapter *ad, const char *name) {
    return ct_weights_find((ct_weights *)&ad->w, &ad->base->cfg, name);
}
bool ct_adapter_is_merged(const ct_adapter *ad) { return ad->kind == CT_ADAPTER_LORA && ad->n_lora && !ad->hooks.lora; }

/* ---- merging: W' = W + scaling * B A in f32 (PEFT get_delta_weight) ---- */

/* Replaces every adapted linear of w by an f32 copy with its LoRA merged in; the copies are
 * appended to *owned. */
static ct_status merge_into(ct_ctx *ctx, const ct_adapter *ad, ct_weights *w, float ***owned, size_t *n_owned,
                            ct_err *err) {
    for (int l = 0; l < w->n_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) {
            const ct_lora_ref *r = &ad->lora.ref[(size_t)l * CT_LT_COUNT + (size_t)id];
            if (!r->A) continue;
            ct_tensor *W = &w->layers[l].t[id];
            ct_status st = ct_tensor_own_f32(W, owned, n_owned, err);
            if (st) return st;
            if (r->mag) ct_dora_merge(ctx, W->data, r, (size_t)W->shape[0], (size_t)W->shape[1]);
            else ct_lora_merge(ctx, W->data, r, (size_t)W->shape[0], (size_t)W->shape[1]);
        }
    return CT_OK;
}

ct_status ct_adapter_merge(ct_adapter *ad, ct_ctx *ctx, ct_err *err) {
    if (ad->kind != CT_ADAPTER_LORA || !ad->hooks.lora) return CT_OK;
    ct_status st = merge_into(ctx, ad, &ad->w, &ad->owned, &ad->n_owned, err);
    if (!st) ad->hooks.lora = NULL;
    return st;
}

/* ---- export ---- */

ct_status ct_adapter_export(ct_ctx *ctx, const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                            const char *out_dir, ct_dtype dtype, ct_err *err) {
    ct_export_opts o = {.dtype = dtype};
    return ct_adapter_export_ex(ctx, ad, base_dir, adapter_dir, out_dir, &o, err);
}

ct_status ct_adapter_export_ex(ct_ctx *ctx, const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                               const char *out_dir, const ct_export_opts *eo, ct_err *err) {
    ct_dtype dtype = eo->dtype;
    if (ct_model_need_hf(ad->base, "export", err)) return err->code;
    if (ad->kind == CT_ADAPTER_PROMPT)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "export: a prompt-tuning adapter has no weights to merge (use --adapter at inference instead)");
    const ct_config *mc = &ad->base->cfg;
    if (dtype == CT_DTYPE_COUNT) dtype = mc->dtype;
    if (dtype != CT_DTYPE_BF16 && dtype != CT_DTYPE_F16 && dtype != CT_DTYPE_F32)
        return ct_err_set(err, CT_ERR_ARG, "export: dtype must be bf16, f16 or f32");
    char *cpath = ct_path_join(base_dir, "config.json");
    json_t *cfg = NULL;
    ct_status st = cpath ? ct_json_load_file(cpath, &cfg, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(cpath);
    if (st) return st;
    /* the merged weights: a copy of the adapter's views with the (still unmerged) LoRA merged in */
    ct_weights w = {0};
    float **owned = NULL;
    size_t n_owned = 0;
    st = ct_weights_clone(&w, &ad->w, err);
    if (!st && ad->hooks.lora) st = merge_into(ctx, ad, &w, &owned, &n_owned, err);
    bool untie = mc->tie_word_embeddings && !ct_weights_tied(&w);
    if (untie) json_object_set_new(cfg, "tie_word_embeddings", json_false());
    ct_config ec = *mc;
    ec.tie_word_embeddings = mc->tie_word_embeddings && !untie;
    ct_weights_items wi = {0};
    if (!st) st = ct_weights_items_make(&wi, &w, &ec, dtype, err);
    if (!st) st = ct_weights_items_add_unloaded(&wi, ad->base, err);
    char *tk = ct_path_join(adapter_dir, "tokenizer.json");
    bool ad_tok = adapter_dir && tk && ct_file_exists(tk);
    free(tk);
    ct_hf_export_opts o = {.out_dir = out_dir,
                           .config = cfg,
                           .dtype = dtype,
                           .tokenizer_dir = ad_tok ? adapter_dir : base_dir,
                           .generation_config_dir = base_dir,
                           .max_shard_bytes = eo->max_shard_bytes};
    if (!st) st = ct_hf_export(&o, wi.items, wi.n, err);
    ct_weights_items_free(&wi);
    for (size_t i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    ct_weights_free(&w);
    json_decref(cfg);
    return st;
}

/* ---- GGUF (llama.cpp / Ollama) ---- */

/* tokenizer files from adapter_dir win when present (as in ct_adapter_export_ex) */
static const char *gguf_tok_dir(const char *base_dir, const char *adapter_dir) {
    char *tk = adapter_dir ? ct_path_join(adapter_dir, "tokenizer.json") : NULL;
    bool ad_tok = tk && ct_file_exists(tk);
    free(tk);
    return ad_tok ? adapter_dir : base_dir;
}

ct_status ct_adapter_export_gguf(ct_ctx *ctx, const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                                 const char *out_dir, const ct_gguf_export_opts *o, ct_err *err) {
    if (ct_model_need_hf(ad->base, "export", err)) return err->code;
    if (ad->kind == CT_ADAPTER_PROMPT)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "export: a prompt-tuning adapter has no weights to merge (use --adapter at inference instead)");
    ct_gguf_export_opts eo = *o;
    if (!eo.tokenizer_dir) eo.tokenizer_dir = gguf_tok_dir(base_dir, adapter_dir);
    ct_weights w = {0};
    float **owned = NULL;
    size_t n_owned = 0;
    ct_status st = ct_weights_clone(&w, &ad->w, err);
    if (!st && ad->hooks.lora) st = merge_into(ctx, ad, &w, &owned, &n_owned, err);
    char *path = ct_path_join(out_dir, "model.gguf");
    if (!st && !path) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_mkdir_p(out_dir, err);
    if (!st) st = ct_gguf_write_model(&ad->base->cfg, &w, eo.tokenizer_dir, path, &eo, err);
    if (!st) st = ct_gguf_write_modelfile(&ad->base->cfg, eo.tokenizer_dir, out_dir, "model.gguf", NULL, err);
    free(path);
    for (size_t i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    ct_weights_free(&w);
    return st;
}

ct_status ct_adapter_export_gguf_lora(const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                                      const char *out_dir, const ct_gguf_export_opts *o, ct_err *err) {
    ct_gguf_export_opts eo = *o;
    if (!eo.tokenizer_dir) eo.tokenizer_dir = gguf_tok_dir(base_dir, adapter_dir);
    const ct_config *cfg = &ad->base->cfg;
    char *mpath = ct_path_join(out_dir, "model.gguf"), *apath = ct_path_join(out_dir, "adapter.gguf");
    ct_status st = mpath && apath ? ct_mkdir_p(out_dir, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    /* the adapter first: its refusals (DoRA, PiSSA, modules_to_save) come before the big file */
    if (!st) st = ct_lora_gguf_write(&ad->peft, cfg, adapter_dir, apath, &eo, err);
    if (!st) st = ct_gguf_write_model(cfg, &ad->base->w, eo.tokenizer_dir, mpath, &eo, err);
    if (!st) st = ct_gguf_write_modelfile(cfg, eo.tokenizer_dir, out_dir, "model.gguf", "adapter.gguf", err);
    free(mpath);
    free(apath);
    return st;
}
