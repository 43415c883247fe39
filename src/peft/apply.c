/* PEFT adapters at inference (see include/ctune/adapter.h): target-module matching as PEFT's
 * check_target_module_exists, merged f32 copies of the adapted linears, prompt-tuning prefixes,
 * and the merged HF export. */
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
#include "io/peft_io.h"
#include "model/model.h"
#include "ops/ops.h"
#include "train/grad.h"

struct ct_adapter {
    ct_adapter_kind kind;
    ct_peft_adapter peft;
    const ct_model *base;
    ct_model *model;    /* shallow copy of base; replaced tensors point into owned[] */
    float **owned;      /* merged / saved f32 buffers */
    size_t n_owned;
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

/* ---- merging ---- */

static ct_status own(ct_adapter *ad, float *buf, ct_err *err) {
    float **o = realloc(ad->owned, (ad->n_owned + 1) * sizeof *o);
    if (!o) {
        free(buf);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ad->owned = o;
    ad->owned[ad->n_owned++] = buf;
    return CT_OK;
}

/* *W = f32(W) + scaling * B A with A [r, in], B [out, r] (PEFT LoraLayer.get_delta_weight). */
static ct_status merge_one(ct_adapter *ad, ct_tensor *W, const ct_peft_lora_tensors *p,
                           ct_err *err) {
    size_t out = (size_t)p->out, in = (size_t)p->in, r = (size_t)p->r;
    float *w = malloc(out * in * sizeof *w), *at = malloc(in * r * sizeof *at);
    float *delta = malloc(out * in * sizeof *delta);
    if (!w || !at || !delta) {
        free(w);
        free(at);
        free(delta);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory merging layer %d %s", p->layer,
                          p->module);
    }
    ct_tensor_to_f32(W, 0, out * in, w);
    for (size_t k = 0; k < r; k++) /* at[in, r] = A^T */
        for (size_t i = 0; i < in; i++) at[i * r + k] = p->A[k * in + i];
    ct_sgemm_nt(delta, p->B, at, out, in, r); /* delta[out, in] = B[out, r] . A[r, in] */
    float s = (float)ad->scaling;
    for (size_t i = 0; i < out * in; i++) w[i] += s * delta[i];
    free(at);
    free(delta);
    ct_status st = own(ad, w, err);
    if (st) return st;
    W->dtype = CT_DTYPE_F32;
    W->data = w;
    return CT_OK;
}

/* The model tensor with HF name `name` (NULL if the model has none). */
static ct_tensor *tensor_by_name(ct_model *m, const char *name) {
    if (!strcmp(name, "model.embed_tokens.weight")) return &m->w.embed;
    if (!strcmp(name, "model.norm.weight")) return &m->w.final_norm;
    if (!strcmp(name, "lm_head.weight")) return &m->w.lm_head;
    int l, n = 0;
    if (sscanf(name, "model.layers.%d.%n", &l, &n) != 1 || n == 0 || l < 0 ||
        l >= m->cfg.num_layers)
        return NULL;
    for (int id = 0; id < CT_LT_COUNT; id++)
        if (!strcmp(name + n, ct_layer_tensor_name(id))) {
            ct_tensor *t = ct_layer_tensor(&m->w.layers[l], id);
            return t->data ? t : NULL;
        }
    return NULL;
}

static ct_status apply_saved(ct_adapter *ad, const char *wpath, ct_err *err) {
    ct_model *m = ad->model;
    for (size_t i = 0; i < ad->peft.n_saved; i++) {
        ct_peft_saved_tensor *sv = &ad->peft.saved[i];
        bool head_tied = !strcmp(sv->name, "lm_head.weight") && m->cfg.tie_word_embeddings;
        ct_tensor *t = head_tied ? &m->w.lm_head : tensor_by_name(m, sv->name);
        if (!t)
            return ct_err_set(err, CT_ERR_SHAPE,
                              "%s: tensor base_model.model.%s (modules_to_save) names no weight "
                              "of the base model",
                              wpath, sv->name);
        bool same = t->ndim == sv->t.ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == sv->t.shape[d];
        if (!same)
            return ct_err_set(err, CT_ERR_SHAPE,
                              "%s: tensor base_model.model.%s has shape [%lld, %lld] but the base "
                              "weight is [%lld, %lld]",
                              wpath, sv->name, (long long)sv->t.shape[0],
                              (long long)(sv->t.ndim > 1 ? sv->t.shape[1] : 0),
                              (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0));
        /* Tied head: PEFT's ModulesToSaveWrapper copies the module, so replacing embed_tokens
         * leaves lm_head on the original embedding (and vice versa). */
        *t = sv->t;
    }
    return CT_OK;
}

#define k_modules(i) ct_lora_module_name(i)

static ct_status apply_lora(ct_adapter *ad, const char *cpath, const char *wpath, ct_err *err) {
    const json_t *cfg = ad->peft.config;
    ct_model *m = ad->model;
    const json_t *tm = json_object_get(cfg, "target_modules");
    json_t *deflt = NULL;
    if (!tm || json_is_null(tm)) { /* PEFT TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING */
        deflt = json_pack("[ss]", "q_proj", "v_proj");
        tm = deflt;
    }
    target_spec tgt, exc;
    ct_status st = spec_init(&tgt, tm, json_object_get(cfg, "layers_to_transform"),
                             json_object_get(cfg, "layers_pattern"), "target_modules", cpath, err);
    if (!st)
        st = spec_init(&exc, json_object_get(cfg, "exclude_modules"), NULL, NULL,
                       "exclude_modules", cpath, err);
    else
        memset(&exc, 0, sizeof exc);
    const json_t *mts = json_object_get(cfg, "modules_to_save");
    /* Every tensor must address a decoder linear of the base with matching shapes. */
    for (size_t i = 0; !st && i < ad->peft.n_lora; i++) {
        const ct_peft_lora_tensors *p = &ad->peft.lora[i];
        char key[160];
        ct_peft_lora_key(key, sizeof key, p->layer, p->module, 'A');
        if (p->layer >= m->cfg.num_layers) {
            st = ct_err_set(err, CT_ERR_SHAPE, "%s: tensor %s: the base model has only %d layers",
                            wpath, key, m->cfg.num_layers);
            break;
        }
        int mi = 0;
        while (mi < CT_LORA_MODULES && strcmp(k_modules(mi), p->module)) mi++;
        ct_tensor *W = ct_layer_tensor(&m->w.layers[p->layer], ct_lora_module_tensor(mi));
        if (p->in != W->shape[1] || p->out != W->shape[0]) {
            char kb[160];
            bool a_bad = p->in != W->shape[1];
            ct_peft_lora_key(kb, sizeof kb, p->layer, p->module, a_bad ? 'A' : 'B');
            st = ct_err_set(err, CT_ERR_SHAPE,
                            "%s: tensor %s has shape [%lld, %lld] but the base weight is "
                            "[%lld, %lld] (adapter for a different model?)",
                            wpath, kb, (long long)(a_bad ? p->r : p->out),
                            (long long)(a_bad ? p->in : p->r), (long long)W->shape[0],
                            (long long)W->shape[1]);
            break;
        }
        char mod[128];
        snprintf(mod, sizeof mod, "model.layers.%d.%s.%s", p->layer,
                 ct_peft_module_parent(p->module), p->module);
        if (!spec_match(&tgt, mod, p->layer, true) || spec_match(&exc, mod, p->layer, false)) {
            st = ct_err_set(err, CT_ERR_FORMAT,
                            "%s: tensor %s adapts %s, which adapter_config.json's "
                            "target_modules / layers_to_transform do not select",
                            wpath, key, mod);
            break;
        }
    }
    /* Every module the config selects must have its tensors (PEFT would leave it at B = 0 with a
     * missing-keys warning; a partial adapter almost always means a mismatched file). */
    for (int l = 0; !st && l < m->cfg.num_layers; l++)
        for (int mi = 0; !st && mi < CT_LORA_MODULES; mi++) {
            char mod[128];
            snprintf(mod, sizeof mod, "model.layers.%d.%s.%s", l,
                     ct_peft_module_parent(k_modules(mi)), k_modules(mi));
            bool saved = false;
            size_t k;
            json_t *x;
            if (json_is_array(mts))
                json_array_foreach(mts, k, x) if (json_is_string(x) &&
                                                  ends_with_dot(mod, json_string_value(x)))
                    saved = true;
            if (saved || !spec_match(&tgt, mod, l, true) || spec_match(&exc, mod, l, false))
                continue;
            if (!ct_peft_find_lora(&ad->peft, l, k_modules(mi))) {
                char key[160];
                ct_peft_lora_key(key, sizeof key, l, k_modules(mi), 'A');
                st = ct_err_set(err, CT_ERR_FORMAT,
                                "%s: missing tensor %s (adapter_config.json's target_modules "
                                "select %s)",
                                wpath, key, mod);
            }
        }
    spec_free(&tgt);
    spec_free(&exc);
    json_decref(deflt);
    for (size_t i = 0; !st && i < ad->peft.n_lora; i++) {
        const ct_peft_lora_tensors *p = &ad->peft.lora[i];
        int mi = 0;
        while (mi < CT_LORA_MODULES && strcmp(k_modules(mi), p->module)) mi++;
        st = merge_one(ad, ct_layer_tensor(&m->w.layers[p->layer], ct_lora_module_tensor(mi)), p,
                       err);
    }
    return st;
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
    ct_model *m = calloc(1, sizeof *m);
    size_t L = (size_t)base->cfg.num_layers;
    if (!cpath || !wpath || !m || !(m->w.layers = malloc((L ? L : 1) * sizeof *m->w.layers))) {
        if (m) free(m->w.layers);
        free(m);
        m = NULL;
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    } else {
        m->cfg = base->cfg;
        m->w.embed = base->w.embed;
        m->w.final_norm = base->w.final_norm;
        m->w.lm_head = base->w.lm_head;
        memcpy(m->w.layers, base->w.layers, L * sizeof *m->w.layers);
        m->dir = base->dir ? strdup(base->dir) : NULL;
        m->storage = NULL; /* ct_model_free leaves the weight data alone */
        ad->model = m;
    }
    if (!st && ad->peft.type == CT_PEFT_PROMPT_TUNING) {
        ad->kind = CT_ADAPTER_PROMPT;
        if (ad->peft.token_dim != base->cfg.hidden_size)
            st = ct_err_set(err, CT_ERR_SHAPE,
                            "%s: tensor prompt_embeddings is [%lld, %lld] but the base model's "
                            "hidden_size is %d",
                            wpath, (long long)ad->peft.num_virtual_tokens,
                            (long long)ad->peft.token_dim, base->cfg.hidden_size);
    } else if (!st) {
        ad->kind = CT_ADAPTER_LORA;
        ad->scaling = ct_peft_lora_scaling(&ad->peft);
        st = apply_lora(ad, cpath, wpath, err);
        if (!st) st = apply_saved(ad, wpath, err);
    }
    free(cpath);
    free(wpath);
    if (st) {
        ct_adapter_free(ad);
        return st;
    }
    *out = ad;
    return CT_OK;
}

void ct_adapter_free(ct_adapter *ad) {
    if (!ad) return;
    ct_model_free(ad->model);
    for (size_t i = 0; i < ad->n_owned; i++) free(ad->owned[i]);
    free(ad->owned);
    ct_peft_free(&ad->peft);
    free(ad);
}

ct_adapter_kind ct_adapter_type(const ct_adapter *ad) { return ad->kind; }
const ct_model *ct_adapter_model(const ct_adapter *ad) { return ad->model; }
size_t ct_adapter_num_virtual(const ct_adapter *ad) {
    return ad->kind == CT_ADAPTER_PROMPT ? (size_t)ad->peft.num_virtual_tokens : 0;
}
const float *ct_adapter_virtual_embeds(const ct_adapter *ad) {
    return ad->kind == CT_ADAPTER_PROMPT ? ad->peft.prompt_embeddings : NULL;
}
size_t ct_adapter_num_replaced(const ct_adapter *ad) { return ad->n_owned + ad->peft.n_saved; }
double ct_adapter_lora_scaling(const ct_adapter *ad) { return ad->scaling; }

/* ---- running ---- */

const ct_model *ct_adapted_model(const ct_model *base, const ct_adapter *ad) {
    return ad ? ad->model : base;
}

ct_status ct_adapted_prefill(const ct_model *base, const ct_adapter *ad, ct_kv_cache *kv,
                             size_t *n_prefix, ct_err *err) {
    *n_prefix = 0;
    size_t P = ad ? ct_adapter_num_virtual(ad) : 0;
    if (!P) return CT_OK;
    if (ct_kv_cache_len(kv) != 0)
        return ct_err_set(err, CT_ERR_ARG, "prompt tuning: the virtual tokens need an empty cache");
    ct_status st = ct_kv_cache_grow(kv, P + 1, err);
    if (!st)
        st = ct_model_forward_embeds(ct_adapted_model(base, ad), kv, ad->peft.prompt_embeddings,
                                     P, NULL, NULL, err);
    if (!st) *n_prefix = P;
    return st;
}

ct_status ct_adapted_generate(const ct_model *base, const ct_adapter *ad, const int32_t *prompt,
                              size_t n_prompt, const ct_gen_params *p, ct_ids *out,
                              ct_gen_stop *stop, ct_err *err) {
    const ct_model *m = ct_adapted_model(base, ad);
    if (!ad || ad->kind != CT_ADAPTER_PROMPT) return ct_generate(m, prompt, n_prompt, p, out, stop, err);
    if (stop) *stop = CT_GEN_STOP_LENGTH;
    if (n_prompt == 0) return ct_err_set(err, CT_ERR_ARG, "generate: empty prompt");
    if (p->max_new_tokens <= 0) return p->max_new_tokens < 0 ? ct_err_set(err, CT_ERR_ARG, "generate: max_new_tokens < 0") : CT_OK;
    ct_kv_cache *kv = NULL;
    size_t P = ct_adapter_num_virtual(ad), n_prefix = 0;
    ct_status st = ct_kv_cache_init(&kv, &m->cfg, P + n_prompt + (size_t)p->max_new_tokens, err);
    if (!st) st = ct_adapted_prefill(base, ad, kv, &n_prefix, err);
    if (!st) st = ct_generate_cached(m, kv, n_prefix, prompt, n_prompt, p, out, stop, err);
    ct_kv_cache_free(kv);
    return st;
}

/* -log softmax(row)[target] in double. */
static double row_nll(const float *row, size_t V, int32_t target) {
    float mx = row[0];
    for (size_t j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
    double se = 0.0;
    for (size_t j = 0; j < V; j++) se += exp((double)(row[j] - mx));
    return (double)mx + log(se) - (double)row[target];
}

#define NLL_CHUNK 32

ct_status ct_adapted_nll(const ct_model *base, const ct_adapter *ad, const int32_t *ids,
                         size_t T, double *nll_sum, size_t *n_predicted, ct_err *err) {
    const ct_model *m = ct_adapted_model(base, ad);
    size_t P = ad ? ct_adapter_num_virtual(ad) : 0;
    if (!P) return ct_model_nll(m, ids, T, nll_sum, n_predicted, err);
    *nll_sum = 0.0;
    *n_predicted = 0;
    if (T == 0) return CT_OK;
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    for (size_t t = 0; t < T; t++)
        if (ids[t] < 0 || (size_t)ids[t] >= V)
            return ct_err_set(err, CT_ERR_ARG, "nll: token id %d out of range [0, %zu)", ids[t], V);
    ct_kv_cache *kv = NULL;
    float *h = malloc(T * C * sizeof *h), *lg = malloc(NLL_CHUNK * V * sizeof *lg);
    ct_status st = (!h || !lg) ? ct_err_set(err, CT_ERR_NOMEM, "nll: out of memory")
                               : ct_kv_cache_init(&kv, &m->cfg, P + T, err);
    /* The last virtual token predicts ids[0]; token t predicts ids[t+1]. */
    if (!st)
        st = ct_model_forward_embeds(m, kv, ad->peft.prompt_embeddings, P, NULL, lg, err);
    double total = 0.0;
    if (!st) {
        total += row_nll(lg, V, ids[0]);
        st = ct_model_forward(m, kv, ids, T, h, NULL, NULL, err);
    }
    for (size_t t0 = 0; !st && t0 + 1 < T; t0 += NLL_CHUNK) {
        size_t n = T - 1 - t0 < NLL_CHUNK ? T - 1 - t0 : NLL_CHUNK;
        ct_linear_forward(lg, h + t0 * C, &m->w.lm_head, NULL, n, C, V);
        for (size_t i = 0; i < n; i++) total += row_nll(lg + i * V, V, ids[t0 + i + 1]);
    }
    free(h);
    free(lg);
    ct_kv_cache_free(kv);
    if (st) return st;
    if (!isfinite(total)) return ct_err_set(err, CT_ERR_NUMERIC, "nll: loss is not finite");
    *nll_sum = total;
    *n_predicted = T;
    return CT_OK;
}

/* ---- export ---- */

ct_status ct_adapter_export(const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                            const char *out_dir, ct_dtype dtype, ct_err *err) {
    if (ad->kind == CT_ADAPTER_PROMPT)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "export: a prompt-tuning adapter has no weights to merge (use "
                          "--adapter at inference instead)");
    const ct_model *m = ad->model;
    if (dtype == CT_DTYPE_COUNT) dtype = ad->base->cfg.dtype;
    if (dtype != CT_DTYPE_BF16 && dtype != CT_DTYPE_F16 && dtype != CT_DTYPE_F32)
        return ct_err_set(err, CT_ERR_ARG, "export: dtype must be bf16, f16 or f32");
    char *cpath = ct_path_join(base_dir, "config.json");
    json_t *cfg = NULL;
    ct_status st = cpath ? ct_json_load_file(cpath, &cfg, err)
                         : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(cpath);
    if (st) return st;
    bool untie = m->cfg.tie_word_embeddings && m->w.lm_head.data != m->w.embed.data;
    if (untie) json_object_set_new(cfg, "tie_word_embeddings", json_false());
    /* HF state-dict order: embed, layers (module order), norm, lm_head. */
    size_t L = (size_t)m->cfg.num_layers, cap = 3 + L * CT_LT_COUNT, n = 0;
    ct_st_item *items = calloc(cap, sizeof *items);
    char *names = malloc(cap * 96);
    if (!items || !names) {
        free(items);
        free(names);
        json_decref(cfg);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
#define ADD(nm, t)                                                       \
    do {                                                                 \
        char *slot = names + n * 96;                                     \
        snprintf(slot, 96, "%s", nm);                                    \
        items[n++] = (ct_st_item){slot, (t), dtype};                     \
    } while (0)
    ADD("model.embed_tokens.weight", m->w.embed);
    for (size_t l = 0; l < L; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) {
            ct_tensor *t = ct_layer_tensor(&m->w.layers[l], id);
            if (!t->data) continue;
            char nm[96];
            snprintf(nm, sizeof nm, "model.layers.%zu.%s", l, ct_layer_tensor_name(id));
            ADD(nm, *t);
        }
    ADD("model.norm.weight", m->w.final_norm);
    if (!m->cfg.tie_word_embeddings || untie) ADD("lm_head.weight", m->w.lm_head);
#undef ADD
    char *tk = ct_path_join(adapter_dir, "tokenizer.json");
    bool ad_tok = adapter_dir && tk && ct_file_exists(tk);
    free(tk);
    ct_hf_export_opts o = {.out_dir = out_dir,
                           .config = cfg,
                           .dtype = dtype,
                           .tokenizer_dir = ad_tok ? adapter_dir : base_dir,
                           .generation_config_dir = base_dir};
    st = ct_hf_export(&o, items, n, err);
    free(items);
    free(names);
    json_decref(cfg);
    return st;
}
