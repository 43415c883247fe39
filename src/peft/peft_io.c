#include "peft/peft_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "io/pyjson.h"
#include "io/safetensors.h"
#include "io/st_writer.h"
#include "model/arch.h"

const char *ct_peft_module_parent(const char *module) {
    static char parents[CT_LT_COUNT][32];
    const ct_tensor_spec *s = ct_spec_by_lora(module);
    return s ? ct_spec_parent(s, parents[s->id], sizeof parents[s->id]) : NULL;
}

bool ct_peft_lora_key(char *buf, size_t n, const char *weight_prefix, int layer, const char *module, char ab) {
    const ct_tensor_spec *s = ct_spec_by_lora(module);
    if (!s || (ab != 'A' && ab != 'B' && ab != 'M') || layer < 0) return false;
    ct_config pc = {0};
    snprintf(pc.weight_prefix, sizeof pc.weight_prefix, "%s", weight_prefix ? weight_prefix : "model.");
    char mod[160];
    ct_spec_module(mod, sizeof mod, &pc, s, layer);
    int k = ab == 'M' ? snprintf(buf, n, "base_model.model.%s.lora_magnitude_vector", mod)
                      : snprintf(buf, n, "base_model.model.%s.lora_%c.weight", mod, ab);
    return k > 0 && (size_t)k < n;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *number(double x) {
    if (x == floor(x) && fabs(x) < 9e15) return json_integer((json_int_t)x);
    return json_real(x);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *ct_peft_lora_config_json(const ct_lora_config *c) {
    json_t *o = json_object();
    json_t *targets = json_array();
    const char **t = malloc((c->n_target_modules + 1) * sizeof *t);
    if (!o || !targets || !t) {
        json_decref(o);
        json_decref(targets);
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < c->n_target_modules; i++) t[i] = c->target_modules[i];
    qsort(t, c->n_target_modules, sizeof *t, cmp_str);
    for (size_t i = 0; i < c->n_target_modules; i++)
        if (i == 0 || strcmp(t[i], t[i - 1]) != 0) json_array_append_new(targets, json_string(t[i]));
    free(t);
    json_object_set_new(o, "alpha_pattern", json_object());
    json_object_set_new(o, "auto_mapping", json_null());
    json_object_set_new(o, "base_model_name_or_path", str_or_null(c->base_model_name_or_path));
    json_object_set_new(o, "bias", json_string("none"));
    json_object_set_new(o, "fan_in_fan_out", json_false());
    json_object_set_new(o, "inference_mode", json_true());
    json_object_set_new(o, "init_lora_weights",
                        c->init_lora_weights ? json_string(c->init_lora_weights) : json_true());
    json_object_set_new(o, "layer_replication", json_null());
    json_object_set_new(o, "layers_pattern", json_null());
    json_object_set_new(o, "layers_to_transform", json_null());
    json_object_set_new(o, "loftq_config", json_object());
    json_object_set_new(o, "lora_alpha", number(c->lora_alpha));
    json_object_set_new(o, "lora_dropout", json_real(c->lora_dropout));
    json_object_set_new(o, "megatron_config", json_null());
    json_object_set_new(o, "megatron_core", json_string("megatron.core"));
    json_t *mts = json_null();
    if (c->n_modules_to_save) {
        mts = json_array();
        for (size_t i = 0; i < c->n_modules_to_save; i++) json_array_append_new(mts, json_string(c->modules_to_save[i]));
    }
    json_object_set_new(o, "modules_to_save", mts);
    json_object_set_new(o, "peft_type", json_string("LORA"));
    json_object_set_new(o, "r", json_integer(c->r));
    json_object_set_new(o, "rank_pattern", json_object());
    json_object_set_new(o, "revision", json_null());
    json_object_set_new(o, "target_modules", targets);
    json_object_set_new(o, "task_type", json_string(c->task_type ? c->task_type : "CAUSAL_LM"));
    json_object_set_new(o, "use_dora", json_boolean(c->use_dora));
    json_object_set_new(o, "use_rslora", json_boolean(c->use_rslora));
    if (c->targets_from) { /* the continued adapter's own selection */
        static const char *const keys[] = {"target_modules", "layers_to_transform", "layers_pattern", "exclude_modules"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            json_t *v = json_object_get(c->targets_from, keys[i]);
            if (v) json_object_set_new(o, keys[i], json_deep_copy(v));
        }
    }
    return o;
}

json_t *ct_peft_prompt_config_json(const ct_prompt_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "auto_mapping", json_null());
    json_object_set_new(o, "base_model_name_or_path", str_or_null(c->base_model_name_or_path));
    json_object_set_new(o, "inference_mode", json_true());
    json_object_set_new(o, "num_attention_heads", json_integer(c->num_attention_heads));
    json_object_set_new(o, "num_layers", json_integer(c->num_layers));
    json_object_set_new(o, "num_transformer_submodules", json_integer(1));
    json_object_set_new(o, "num_virtual_tokens", json_integer(c->num_virtual_tokens));
    json_object_set_new(o, "peft_type", json_string("PROMPT_TUNING"));
    json_object_set_new(o, "prompt_tuning_init",
                        json_string(c->prompt_tuning_init ? c->prompt_tuning_init : "RANDOM"));
    json_object_set_new(o, "prompt_tuning_init_text", str_or_null(c->prompt_tuning_init_text));
    json_object_set_new(o, "revision", json_null());
    json_object_set_new(o, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(o, "token_dim", json_integer(c->token_dim));
    json_object_set_new(o, "tokenizer_kwargs", json_null());
    json_object_set_new(o, "tokenizer_name_or_path", str_or_null(c->tokenizer_name_or_path));
    return o;
}

static ct_status write_config(const char *dir, json_t *cfg, ct_err *err) {
    if (!cfg) return ct_err_set(err, CT_ERR_NOMEM, "adapter_config.json: out of memory");
    char *path = ct_path_join(dir, "adapter_config.json");
    ct_status st = !path ? ct_err_set(err, CT_ERR_NOMEM, "out of memory")
                         : ct_pyjson_write_file(path, cfg, 2, true, false, err);
    json_decref(cfg);
    free(path);
    return st;
}

ct_status ct_peft_save_lora(const char *dir, const ct_lora_config *cfg, const ct_lora_pair *pairs,
                            size_t n, ct_dtype dtype, ct_err *err) {
    if (cfg->r <= 0) return ct_err_set(err, CT_ERR_ARG, "LoRA adapter: r must be > 0 (got %d)", cfg->r);
    ct_status st = ct_mkdir_p(dir, err);
    if (st) return st;
    size_t per = cfg->use_dora ? 3 : 2; /* A, B (, magnitude) per pair */
    ct_st_item *items = calloc(per * n + cfg->n_saved + 1, sizeof *items);
    char *names = malloc((per * n + 1) * 128);
    if (!items || !names) {
        free(items);
        free(names);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && !st; i++) {
        const ct_lora_pair *p = &pairs[i];
        for (int k = 0; k < (int)per; k++) {
            char *nm = names + (per * i + (size_t)k) * 128;
            if (!ct_peft_lora_key(nm, 128, cfg->weight_prefix, p->layer, p->module, "ABM"[k])) {
                st = ct_err_set(err, CT_ERR_ARG, "LoRA adapter: unknown module \"%s\" (layer %d)",
                                p->module ? p->module : "(null)", p->layer);
                break;
            }
            if (k == 2) { /* DoRA magnitude [out] */
                const ct_tensor *m = &cfg->mags[i];
                if (m->ndim != 1 || m->shape[0] != p->B.shape[0]) {
                    st = ct_err_set(err, CT_ERR_SHAPE, "LoRA adapter: %s: expected [%lld]", nm, (long long)p->B.shape[0]);
                    break;
                }
                items[per * i + 2] = (ct_st_item){nm, *m, dtype};
                continue;
            }
            const ct_tensor *t = k ? &p->B : &p->A;
            if (t->ndim != 2 || (k == 0 && t->shape[0] != cfg->r) || (k == 1 && t->shape[1] != cfg->r)) {
                st = ct_err_set(err, CT_ERR_SHAPE, "LoRA adapter: %s: expected %s with r=%d", nm,
                                k ? "[out, r]" : "[r, in]", cfg->r);
                break;
            }
            items[per * i + (size_t)k] = (ct_st_item){nm, *t, dtype};
        }
    }
    for (size_t i = 0; i < cfg->n_saved && !st; i++) {
        items[per * n + i] = cfg->saved[i];
        items[per * n + i].dtype = dtype;
    }
    char *path = ct_path_join(dir, "adapter_model.safetensors");
    if (!st) st = path ? ct_st_write(path, items, per * n + cfg->n_saved, CT_ST_META_PT, err)
                       : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(path);
    free(items);
    free(names);
    if (st) return st;
    return write_config(dir, ct_peft_lora_config_json(cfg), err);
}

ct_status ct_peft_save_prompt(const char *dir, const ct_prompt_config *cfg, const float *emb,
                              ct_dtype dtype, ct_err *err) {
    if (cfg->num_virtual_tokens <= 0 || cfg->token_dim <= 0)
        return ct_err_set(err, CT_ERR_ARG, "prompt tuning: num_virtual_tokens and token_dim must be > 0");
    ct_status st = ct_mkdir_p(dir, err);
    if (st) return st;
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {cfg->num_virtual_tokens, cfg->token_dim},
                   .data = (void *)emb};
    ct_st_item it = {"prompt_embeddings", t, dtype};
    char *path = ct_path_join(dir, "adapter_model.safetensors");
    st = path ? ct_st_write(path, &it, 1, CT_ST_META_PT, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(path);
    if (st) return st;
    return write_config(dir, ct_peft_prompt_config_json(cfg), err);
}

/* ---- reader ---- */

/* Parses "base_model.model.<prefix>layers.<L>.<parent>.<module>.lora_<A|B>.weight", prefix "model."
 * or "model.language_model." (Qwen3_5ForConditionalGeneration), into *vl for the latter. */
static bool parse_lora_key(const char *name, int *layer, char *module, size_t msz, char *ab, bool *vl) {
    const char *pre = "base_model.model.model.layers.", *pre_vl = "base_model.model.model.language_model.layers.";
    size_t pl = strlen(pre);
    *vl = !strncmp(name, pre_vl, strlen(pre_vl));
    if (*vl) pl = strlen(pre_vl);
    else if (strncmp(name, pre, pl) != 0) return false;
    const char *s = name + pl;
    char *end;
    long l = strtol(s, &end, 10);
    if (end == s || *end != '.' || l < 0 || l > 100000) return false;
    s = end + 1;
    const char *dot = strchr(s, '.');
    if (!dot) return false;
    size_t parent_len = (size_t)(dot - s);
    const char *mod = dot + 1;
    const char *lora = strstr(mod, ".lora_");
    if (!lora || (size_t)(lora - mod) >= msz) return false;
    memcpy(module, mod, (size_t)(lora - mod));
    module[lora - mod] = 0;
    const char *parent = ct_peft_module_parent(module);
    if (!parent || strlen(parent) != parent_len || strncmp(parent, s, parent_len) != 0) return false;
    *layer = (int)l;
    if (!strcmp(lora, ".lora_magnitude_vector")) { /* DoRA: PEFT saves it without ".weight" */
        *ab = 'M';
        return true;
    }
    if ((lora[6] != 'A' && lora[6] != 'B') || strcmp(lora + 7, ".weight") != 0) return false;
    *ab = lora[6];
    return true;
}

static int cmp_lora(const void *a, const void *b) {
    const ct_peft_lora_tensors *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->module, y->module);
}

static float *to_f32(const ct_tensor *t) {
    size_t n = (size_t)ct_tensor_numel(t);
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (f) ct_tensor_to_f32(t, 0, n, f);
    return f;
}

/* init_lora_weights: true / false / "gaussian" (A, B as saved), "pissa" (-1) or
 * "pissa_niter_<n>" (n): PEFT re-runs the PiSSA decomposition of the base when it loads such an
 * adapter, so the base must become the residual. Non-zero for values ctune does not know
 * (olora, loftq, corda, eva, ...: each changes the base in its own way). */
static int parse_init(const json_t *cfg, bool *pissa, int *pissa_niter) {
    const json_t *v = json_object_get(cfg, "init_lora_weights");
    *pissa = false;
    *pissa_niter = -1;
    if (!v || json_is_boolean(v) || json_is_null(v)) return 0;
    if (!json_is_string(v)) return -1;
    const char *s = json_string_value(v);
    if (!strcmp(s, "gaussian")) return 0;
    if (!strcmp(s, "pissa")) return *pissa = true, 0;
    char *end;
    if (strncmp(s, "pissa_niter_", 12) || !s[12]) return -1;
    long n = strtol(s + 12, &end, 10);
    if (*end || n < 0 || n > 100000) return -1;
    *pissa = true;
    *pissa_niter = (int)n;
    return 0;
}

static const char *init_text(const json_t *cfg) {
    const json_t *v = json_object_get(cfg, "init_lora_weights");
    return v && json_is_string(v) ? json_string_value(v) : "(not a string or boolean)";
}

static ct_status load_lora(ct_peft_adapter *a, const ct_st *sb, const char *wpath, ct_err *err) {
    size_t nt = ct_st_count(sb);
    a->lora = calloc(nt ? nt : 1, sizeof *a->lora);
    if (!a->lora) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nt; i++) {
        const char *name = ct_st_name(sb, i);
        const ct_tensor *t = ct_st_get(sb, name);
        int layer;
        char module[32], ab;
        bool vl = false;
        if (!parse_lora_key(name, &layer, module, sizeof module, &ab, &vl)) {
            const char *pre = "base_model.model.";
            if (strncmp(name, pre, strlen(pre)) != 0 || strstr(name, "lora_") ||
                strlen(name + strlen(pre)) >= sizeof a->saved[0].name || !ct_dtype_is_float(t->dtype))
                return ct_err_set(err, CT_ERR_UNSUPPORTED,
                                  "%s: tensor %s is neither a LoRA A/B weight (or DoRA magnitude) of a "
                                  "decoder linear nor a modules_to_save weight (embedding LoRA is not "
                                  "supported)",
                                  wpath, name);
            if (!a->saved && !(a->saved = calloc(nt, sizeof *a->saved)))
                return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            ct_peft_saved_tensor *sv = &a->saved[a->n_saved];
            snprintf(sv->name, sizeof sv->name, "%s", name + strlen(pre));
            sv->t = *t;
            sv->t.dtype = CT_DTYPE_F32;
            if (!(sv->t.data = to_f32(t))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            a->n_saved++;
            continue;
        }
        if (t->ndim != (ab == 'M' ? 1 : 2) || !ct_dtype_is_float(t->dtype))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor %s: expected a %d-D float tensor", wpath, name,
                              ab == 'M' ? 1 : 2);
        if (ab == 'M' && !a->use_dora)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor %s is a DoRA magnitude but adapter_config.json has "
                              "use_dora false", wpath, name);
        if (a->n_lora && vl != a->language_model)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor %s mixes model.layers and model.language_model.layers keys",
                              wpath, name);
        a->language_model = vl;
        ct_peft_lora_tensors *p = NULL;
        for (size_t k = 0; k < a->n_lora; k++)
            if (a->lora[k].layer == layer && strcmp(a->lora[k].module, module) == 0) p = &a->lora[k];
        if (!p) {
            p = &a->lora[a->n_lora++];
            p->layer = layer;
            snprintf(p->module, sizeof p->module, "%s", module);
        }
        float **dst = ab == 'A' ? &p->A : ab == 'B' ? &p->B : &p->M;
        if (*dst) return ct_err_set(err, CT_ERR_FORMAT, "%s: duplicate tensor %s", wpath, name);
        if (ab == 'M') {
            p->n_mag = t->shape[0];
            if (!(*dst = to_f32(t))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            continue;
        }
        int64_t r = ab == 'A' ? t->shape[0] : t->shape[1];
        if (r != a->r)
            return ct_err_set(err, CT_ERR_SHAPE, "%s: tensor %s has rank %lld but adapter_config.json says r=%d",
                              wpath, name, (long long)r, a->r);
        if (ab == 'A') p->in = t->shape[1];
        else p->out = t->shape[0];
        p->r = r;
        *dst = to_f32(t);
        if (!*dst) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < a->n_lora; k++) {
        const ct_peft_lora_tensors *p = &a->lora[k];
        if (!p->A || !p->B)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: layer %d %s has %s but not lora_%c", wpath, p->layer,
                              p->module, p->A ? "lora_A" : p->B ? "lora_B" : "lora_magnitude_vector", p->A ? 'B' : 'A');
        if (a->use_dora && !p->M)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: layer %d %s has no lora_magnitude_vector (use_dora is true)",
                              wpath, p->layer, p->module);
        if (p->M && p->n_mag != p->out)
            return ct_err_set(err, CT_ERR_SHAPE, "%s: layer %d %s: lora_magnitude_vector has %lld values for %lld "
                              "outputs", wpath, p->layer, p->module, (long long)p->n_mag, (long long)p->out);
    }
    if (a->n_lora == 0 && a->n_saved == 0)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: no LoRA tensors", wpath);
    qsort(a->lora, a->n_lora, sizeof *a->lora, cmp_lora);
    return CT_OK;
}

ct_status ct_peft_load(const char *dir, ct_peft_adapter *a, ct_err *err) {
    memset(a, 0, sizeof *a);
    char *cpath = ct_path_join(dir, "adapter_config.json");
    char *wpath = ct_path_join(dir, "adapter_model.safetensors");
    ct_st *sb = NULL;
    ct_status st = (!cpath || !wpath) ? ct_err_set(err, CT_ERR_NOMEM, "out of memory") : CT_OK;
    if (!st && !ct_file_exists(cpath))
        st = ct_err_set(err, CT_ERR_IO, "%s: not found (is %s a PEFT adapter directory?)", cpath, dir);
    if (!st) st = ct_json_load_file(cpath, &a->config, err);
    if (!st && !json_is_object(a->config)) st = ct_err_set(err, CT_ERR_FORMAT, "%s: not a JSON object", cpath);
    const char *type = st ? NULL : ct_json_get_str(a->config, "peft_type");
    if (!st && !type) st = ct_err_set(err, CT_ERR_FORMAT, "%s: missing \"peft_type\"", cpath);
    if (!st) {
        a->base_model_name_or_path = ct_json_get_str(a->config, "base_model_name_or_path");
        if (strcmp(type, "LORA") == 0) a->type = CT_PEFT_LORA;
        else if (strcmp(type, "PROMPT_TUNING") == 0) a->type = CT_PEFT_PROMPT_TUNING;
        else st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: peft_type \"%s\" is not supported (LORA, PROMPT_TUNING)", cpath, type);
    }
    if (!st && !ct_file_exists(wpath)) {
        char *bin = ct_path_join(dir, "adapter_model.bin");
        bool has_bin = bin && ct_file_exists(bin);
        free(bin);
        st = ct_err_set(err, has_bin ? CT_ERR_UNSUPPORTED : CT_ERR_IO, "%s: not found%s", wpath,
                        has_bin ? " (only adapter_model.bin: re-save with safe_serialization=True)" : "");
    }
    if (!st) st = ct_st_open(wpath, &sb, err);
    if (!st && a->type == CT_PEFT_LORA) {
        int64_t r = 8;
        a->lora_alpha = 8;
        bool dora = false;
        json_t *rp = json_object_get(a->config, "rank_pattern"), *ap = json_object_get(a->config, "alpha_pattern");
        if (!ct_json_get_int(a->config, "r", &r) || r <= 0 || r > 1 << 20)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: \"r\" must be a positive integer", cpath);
        else if (!ct_json_get_double(a->config, "lora_alpha", &a->lora_alpha) ||
                 !ct_json_get_double(a->config, "lora_dropout", &a->lora_dropout) ||
                 !ct_json_get_bool(a->config, "use_rslora", &a->use_rslora) ||
                 !ct_json_get_bool(a->config, "use_dora", &dora))
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: lora_alpha/lora_dropout/use_rslora/use_dora has the wrong type", cpath);
        else if (!isfinite(a->lora_alpha) || a->lora_alpha <= 0 || !(a->lora_dropout >= 0) ||
                 a->lora_dropout >= 1)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: lora_alpha must be > 0 and lora_dropout in [0, 1)",
                            cpath);
        else if (parse_init(a->config, &a->pissa, &a->pissa_niter))
            st = ct_err_set(err, CT_ERR_UNSUPPORTED,
                            "%s: init_lora_weights %s is not supported (true, false, gaussian, pissa, pissa_niter_<n>)",
                            cpath, init_text(a->config));
        else if ((rp && json_object_size(rp)) || (ap && json_object_size(ap)))
            st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: rank_pattern/alpha_pattern are not supported", cpath);
        else {
            const char *bias = ct_json_get_str(a->config, "bias");
            if (bias && strcmp(bias, "none") != 0)
                st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: bias=\"%s\" is not supported (only \"none\")", cpath, bias);
        }
        a->r = (int)r;
        a->use_dora = dora;
        if (!st) st = load_lora(a, sb, wpath, err);
    } else if (!st) {
        const ct_tensor *e = ct_st_get(sb, "prompt_embeddings");
        int64_t nv = 0, td = 0;
        if (!ct_json_get_int(a->config, "num_virtual_tokens", &nv) || nv < 0 ||
            !ct_json_get_int(a->config, "token_dim", &td) || td < 0)
            st = ct_err_set(err, CT_ERR_FORMAT,
                            "%s: num_virtual_tokens/token_dim must be non-negative integers", cpath);
        else if (!e) st = ct_err_set(err, CT_ERR_FORMAT, "%s: missing tensor prompt_embeddings", wpath);
        else if (e->ndim != 2 || !ct_dtype_is_float(e->dtype))
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: prompt_embeddings must be a 2-D float tensor", wpath);
        else if ((nv && e->shape[0] != nv) || (td && e->shape[1] != td))
            st = ct_err_set(err, CT_ERR_SHAPE,
                            "%s: prompt_embeddings is [%lld, %lld] but adapter_config.json says [%lld, %lld]",
                            wpath, (long long)e->shape[0], (long long)e->shape[1], (long long)nv, (long long)td);
        else {
            a->num_virtual_tokens = e->shape[0];
            a->token_dim = e->shape[1];
            a->prompt_embeddings = to_f32(e);
            if (!a->prompt_embeddings) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        }
    }
    ct_st_close(sb);
    free(cpath);
    free(wpath);
    if (st) ct_peft_free(a);
    return st;
}

void ct_peft_free(ct_peft_adapter *a) {
    for (size_t i = 0; i < a->n_lora; i++) {
        free(a->lora[i].A);
        free(a->lora[i].B);
        free(a->lora[i].M);
    }
    free(a->lora);
    for (size_t i = 0; i < a->n_saved; i++) free(a->saved[i].t.data);
    free(a->saved);
    free(a->prompt_embeddings);
    json_decref(a->config);
    memset(a, 0, sizeof *a);
}

double ct_peft_lora_scaling(const ct_peft_adapter *a) {
    if (a->r <= 0) return 0;
    return a->use_rslora ? a->lora_alpha / sqrt((double)a->r) : a->lora_alpha / a->r;
}

const ct_peft_lora_tensors *ct_peft_find_lora(const ct_peft_adapter *a, int layer, const char *module) {
    for (size_t i = 0; i < a->n_lora; i++)
        if (a->lora[i].layer == layer && strcmp(a->lora[i].module, module) == 0) return &a->lora[i];
    return NULL;
}
