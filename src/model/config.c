/* config.json / generation_config.json -> ct_config, with the defaults of the HF config classes
 * (LlamaConfig, Qwen2Config, Qwen3Config: the family rows of src/model/arch.c) for absent keys. */
#include <jansson.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/model.h"
#include "io/gguf_read.h"
#include "model/arch.h"
#include "model/model.h"

static ct_status get_i32(const char *path, json_t *root, const char *key, int32_t *out,
                         bool required, ct_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing \"%s\"", path, key);
        return CT_OK;
    }
    int64_t x = 0;
    if (!ct_json_get_int(root, key, &x) || x < 0 || x > INT32_MAX)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"%s\" must be a non-negative integer", path,
                          key);
    *out = (int32_t)x;
    return CT_OK;
}

static ct_status get_f64(const char *path, json_t *root, const char *key, double *out,
                         ct_err *err) {
    if (!ct_json_get_double(root, key, out))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"%s\" must be a number", path, key);
    return CT_OK;
}

static ct_status get_bool(const char *path, json_t *root, const char *key, bool *out,
                          ct_err *err) {
    if (!ct_json_get_bool(root, key, out))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"%s\" must be true or false", path, key);
    return CT_OK;
}

/* eos_token_id: an integer or a list of integers. */
static ct_status get_eos(const char *path, json_t *root, ct_config *cfg, ct_err *err) {
    json_t *v = json_object_get(root, "eos_token_id");
    if (!v || json_is_null(v)) return CT_OK;
    cfg->num_eos = 0;
    if (json_is_integer(v)) {
        cfg->eos_token_ids[cfg->num_eos++] = (int32_t)json_integer_value(v);
        return CT_OK;
    }
    if (!json_is_array(v))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"eos_token_id\" must be an id or a list",
                          path);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (!json_is_integer(x))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: \"eos_token_id\"[%zu] is not an id", path,
                              i);
        if (cfg->num_eos < CT_MAX_EOS)
            cfg->eos_token_ids[cfg->num_eos++] = (int32_t)json_integer_value(x);
    }
    return CT_OK;
}

/* The numeric keys a rope type needs (all required, as transformers' validation requires them). */
static ct_status rope_keys(const char *path, const char *key, json_t *rs, const char *const *names, double *const *dst,
                           int n, ct_err *err) {
    for (int i = 0; i < n; i++) {
        json_t *v = json_object_get(rs, names[i]);
        if (!json_is_number(v) || !(json_number_value(v) > 0))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.%s must be a positive number", path, key, names[i]);
        *dst[i] = json_number_value(v);
    }
    return CT_OK;
}

/* An optional positive number; *out keeps its default when the key is absent or null. */
static ct_status opt_positive(const char *path, const char *key, json_t *rs, const char *name, double *out, ct_err *err) {
    json_t *v = json_object_get(rs, name);
    if (!v || json_is_null(v)) return CT_OK;
    if (!json_is_number(v) || !(json_number_value(v) > 0))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.%s must be a positive number", path, key, name);
    *out = json_number_value(v);
    return CT_OK;
}

/* YaRN (transformers' _compute_yarn_parameters): factor and original_max_position_embeddings
 * required; beta_fast 32, beta_slow 1, truncate true; attention_factor, else from mscale /
 * mscale_all_dim, else 0.1 ln(factor) + 1. */
static double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0; }

static ct_status get_yarn(const char *path, const char *key, json_t *rs, ct_config *cfg, ct_err *err) {
    static const char *const names[2] = {"factor", "original_max_position_embeddings"};
    double *const dst[2] = {&cfg->rope_factor, &cfg->rope_original_max_pos};
    ct_status s = rope_keys(path, key, rs, names, dst, 2, err);
    double att = 0, mscale = 0, mscale_all = 0;
    cfg->rope_beta_fast = 32, cfg->rope_beta_slow = 1;
    if (!s) s = opt_positive(path, key, rs, "beta_fast", &cfg->rope_beta_fast, err);
    if (!s) s = opt_positive(path, key, rs, "beta_slow", &cfg->rope_beta_slow, err);
    if (!s) s = opt_positive(path, key, rs, "attention_factor", &att, err);
    if (!s) s = opt_positive(path, key, rs, "mscale", &mscale, err);
    if (!s) s = opt_positive(path, key, rs, "mscale_all_dim", &mscale_all, err);
    if (s) return s;
    json_t *tr = json_object_get(rs, "truncate");
    if (tr && !json_is_null(tr) && !json_is_boolean(tr))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.truncate must be true or false", path, key);
    cfg->rope_truncate = !tr || json_is_null(tr) || json_is_true(tr);
    if (att > 0) cfg->rope_attention_scale = att;
    else if (mscale > 0 && mscale_all > 0)
        cfg->rope_attention_scale = yarn_mscale(cfg->rope_factor, mscale) / yarn_mscale(cfg->rope_factor, mscale_all);
    else cfg->rope_attention_scale = yarn_mscale(cfg->rope_factor, 1.0);
    cfg->rope_type = CT_ROPE_YARN;
    return CT_OK;
}

/* rope_scaling / rope_parameters: plain ("default") RoPE and Llama 3's "llama3" scaling. */
static ct_status check_rope(const char *path, json_t *root, const char *key, double *theta, ct_config *cfg,
                            ct_err *err) {
    json_t *rs = json_object_get(root, key);
    if (!rs || json_is_null(rs)) return CT_OK;
    if (!json_is_object(rs))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"%s\" must be an object or null", path, key);
    const char *type = ct_json_get_str(rs, "rope_type");
    if (!type) type = ct_json_get_str(rs, "type");
    if (type && !strcmp(type, "llama3")) {
        static const char *const names[4] = {"factor", "low_freq_factor", "high_freq_factor",
                                             "original_max_position_embeddings"};
        double *const dst[4] = {&cfg->rope_factor, &cfg->rope_low_freq_factor, &cfg->rope_high_freq_factor,
                                &cfg->rope_original_max_pos};
        ct_status s = rope_keys(path, key, rs, names, dst, 4, err);
        if (s) return s;
        if (!(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.high_freq_factor must exceed low_freq_factor", path, key);
        cfg->rope_type = CT_ROPE_LLAMA3;
    } else if (type && (!strcmp(type, "linear") || !strcmp(type, "dynamic"))) {
        static const char *const names[1] = {"factor"};
        double *const dst[1] = {&cfg->rope_factor};
        ct_status s = rope_keys(path, key, rs, names, dst, 1, err);
        if (s) return s;
        cfg->rope_type = !strcmp(type, "linear") ? CT_ROPE_LINEAR : CT_ROPE_DYNAMIC;
    } else if (type && !strcmp(type, "yarn")) {
        ct_status s = get_yarn(path, key, rs, cfg, err);
        if (s) return s;
    } else if (type && strcmp(type, "default") != 0) {
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "%s: %s type '%s' is not supported (default, linear, dynamic, llama3 and yarn RoPE)", path,
                          key, type);
    }
    if (!type && strcmp(key, "rope_scaling") == 0)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "%s: rope_scaling without a type is not supported", path);
    if (theta && json_object_get(rs, "rope_theta")) return get_f64(path, rs, "rope_theta", theta, err);
    return CT_OK;
}

static ct_status parse_body(const char *path, json_t *root, const ct_arch_info *ai, ct_config *cfg, ct_err *err);

/* Qwen3_5ForConditionalGeneration (model_type qwen3_5): the text model is text_config, its
 * tensors live under model.language_model.; the vision tower (model.visual.*) is not loaded. */
static bool is_qwen3_5_vl(const char *mt, const char *arch0) {
    return mt ? !strcmp(mt, "qwen3_5") : arch0 && !strcmp(arch0, "Qwen3_5ForConditionalGeneration");
}

ct_status ct_config_parse_json(const char *path, json_t *root, ct_config *cfg, ct_err *err) {
    if (!json_is_object(root))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: not a JSON object", path);
    const char *mt = ct_json_get_str(root, "model_type");
    const char *arch0 = NULL;
    json_t *archs = json_object_get(root, "architectures");
    if (json_is_array(archs) && json_array_size(archs) > 0)
        arch0 = json_string_value(json_array_get(archs, 0));
    snprintf(cfg->weight_prefix, sizeof cfg->weight_prefix, "model.");
    if (is_qwen3_5_vl(mt, arch0)) {
        json_t *text = json_object_get(root, "text_config");
        if (!json_is_object(text))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: model_type qwen3_5 needs a \"text_config\" object", path);
        size_t tn = strlen(path) + 16;
        char *tpath = malloc(tn);
        if (!tpath) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        snprintf(tpath, tn, "%s: text_config", path);
        ct_status s = parse_body(tpath, text, ct_arch_get(CT_ARCH_QWEN3_5), cfg, err);
        free(tpath);
        if (s) return s;
        snprintf(cfg->model_type, sizeof cfg->model_type, "qwen3_5");
        snprintf(cfg->weight_prefix, sizeof cfg->weight_prefix, "model.language_model.");
        cfg->vision_tower = json_object_get(root, "vision_config") != NULL;
        /* the composite's own keys win where transformers reads them from the top level */
        if ((s = get_bool(path, root, "tie_word_embeddings", &cfg->tie_word_embeddings, err))) return s;
        if (!cfg->num_eos && (s = get_eos(path, root, cfg, err))) return s;
        return CT_OK;
    }
    const ct_arch_info *ai = mt ? ct_arch_by_type(mt) : ct_arch_by_class(arch0);
    if (!ai && mt)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (%s)", path, mt,
                          ct_arch_list());
    if (!ai) return ct_err_set(err, CT_ERR_FORMAT, "%s: no \"model_type\" or known \"architectures\"", path);
    return parse_body(path, root, ai, cfg, err);
}

/* layer_types (transformers 5; legacy "attention" / "mamba" remapped as transformers does), else
 * Qwen3.5's full_attention_interval schedule (every 4th layer attention), else all attention. */
static ct_status parse_layer_types(const char *path, json_t *root, const ct_arch_info *ai, ct_config *cfg,
                                   ct_err *err) {
    json_t *lt = json_object_get(root, "layer_types");
    int L = cfg->num_layers;
    if (lt && !json_is_null(lt)) {
        if (!json_is_array(lt) || json_array_size(lt) != (size_t)L)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: \"layer_types\" must be a list of num_hidden_layers (%d) names",
                              path, L);
        for (int l = 0; l < L; l++) {
            const char *t = json_string_value(json_array_get(lt, (size_t)l));
            if (t && (!strcmp(t, "full_attention") || !strcmp(t, "attention"))) cfg->layer_kind[l] = CT_LAYER_ATTENTION;
            else if (t && ai->hybrid && (!strcmp(t, "linear_attention") || !strcmp(t, "mamba")))
                cfg->layer_kind[l] = CT_LAYER_DELTANET;
            else
                return ct_err_set(err, t ? CT_ERR_UNSUPPORTED : CT_ERR_FORMAT,
                                  "%s: layer_types[%d] '%s' is not supported for model_type %s (%s)", path, l,
                                  t ? t : "(not a string)", ai->model_type,
                                  ai->hybrid ? "full_attention, linear_attention" : "full_attention");
        }
    } else if (ai->hybrid) {
        int32_t every = 4;
        ct_status s = get_i32(path, root, "full_attention_interval", &every, false, err);
        if (s) return s;
        if (every <= 0) return ct_err_set(err, CT_ERR_FORMAT, "%s: \"full_attention_interval\" must be positive", path);
        for (int l = 0; l < L; l++) cfg->layer_kind[l] = (l + 1) % every ? CT_LAYER_DELTANET : CT_LAYER_ATTENTION;
    }
    cfg->n_deltanet = 0;
    for (int l = 0; l < L; l++) cfg->n_deltanet += cfg->layer_kind[l] == CT_LAYER_DELTANET;
    if (!cfg->n_deltanet) return CT_OK;
    /* Qwen3_5TextConfig defaults */
    cfg->lin_k_heads = 16, cfg->lin_v_heads = 32, cfg->lin_k_dim = 128, cfg->lin_v_dim = 128, cfg->lin_conv = 4;
    ct_status s;
    if ((s = get_i32(path, root, "linear_num_key_heads", &cfg->lin_k_heads, false, err)) ||
        (s = get_i32(path, root, "linear_num_value_heads", &cfg->lin_v_heads, false, err)) ||
        (s = get_i32(path, root, "linear_key_head_dim", &cfg->lin_k_dim, false, err)) ||
        (s = get_i32(path, root, "linear_value_head_dim", &cfg->lin_v_dim, false, err)) ||
        (s = get_i32(path, root, "linear_conv_kernel_dim", &cfg->lin_conv, false, err)))
        return s;
    if (cfg->lin_k_heads <= 0 || cfg->lin_v_heads <= 0 || cfg->lin_k_dim <= 0 || cfg->lin_v_dim <= 0 ||
        cfg->lin_conv <= 0 || cfg->lin_conv > 64)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: linear_* sizes must be positive (linear_conv_kernel_dim at most 64)",
                          path);
    if (cfg->lin_v_heads % cfg->lin_k_heads)
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: linear_num_value_heads %d is not a multiple of linear_num_key_heads %d", path,
                          cfg->lin_v_heads, cfg->lin_k_heads);
    return CT_OK;
}

/* partial_rotary_factor: top level (transformers 4) or in rope_parameters (5); Qwen3.5 defaults
 * to 0.25. RoPE turns the first int(head_dim * factor) dims of every head. */
static ct_status parse_rotary(const char *path, json_t *root, const ct_arch_info *ai, ct_config *cfg, ct_err *err) {
    double f = ai->hybrid ? 0.25 : 1.0;
    json_t *rp = json_object_get(root, "rope_parameters");
    ct_status s = get_f64(path, root, "partial_rotary_factor", &f, err);
    if (!s && json_is_object(rp)) s = get_f64(path, rp, "partial_rotary_factor", &f, err);
    if (s) return s;
    cfg->rotary_dim = (int32_t)(cfg->head_dim * f);
    if (!(f > 0 && f <= 1) || cfg->rotary_dim < 2 || cfg->rotary_dim % 2)
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: partial_rotary_factor %g gives %d rotary dims of head_dim %d (need an even number > 0)",
                          path, f, cfg->rotary_dim, cfg->head_dim);
    if (!ai->hybrid) return CT_OK;
    /* mrope_section (Qwen3_5TextConfig default [11, 11, 10]): up to 4 non-negative sizes */
    static const int32_t def[4] = {11, 11, 10, 0};
    memcpy(cfg->mrope_section, def, sizeof def);
    json_t *ms = json_is_object(rp) ? json_object_get(rp, "mrope_section") : NULL;
    if (!ms || json_is_null(ms)) return CT_OK;
    if (!json_is_array(ms) || !json_array_size(ms) || json_array_size(ms) > 4)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: rope_parameters.mrope_section must be a list of 1 to 4 sizes", path);
    memset(cfg->mrope_section, 0, sizeof cfg->mrope_section);
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *v = json_array_get(ms, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 4096)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: rope_parameters.mrope_section[%zu] must be an integer in [0, 4096]",
                              path, i);
        cfg->mrope_section[i] = (int32_t)json_integer_value(v);
    }
    return CT_OK;
}

static ct_status parse_body(const char *path, json_t *root, const ct_arch_info *ai, ct_config *cfg, ct_err *err) {
    cfg->arch = ai->arch;
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", ct_arch_name(cfg->arch));

    const char *act = ct_json_get_str(root, "hidden_act");
    if (!act) act = ct_json_get_str(root, "hidden_activation");
    if (act && strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "%s: hidden_act '%s' is not supported (only silu)", path, act);
    bool sw = false;
    ct_status s;
    if ((s = get_bool(path, root, "use_sliding_window", &sw, err))) return s;
    if (sw)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "%s: use_sliding_window true is not supported", path);

    /* Defaults of the HF config classes. */
    cfg->max_position_embeddings = ai->max_position;
    cfg->rms_norm_eps = 1e-6;
    cfg->rope_theta = 10000.0;
    cfg->bos_token_id = -1;
    cfg->pad_token_id = -1;
    cfg->num_eos = 0;
    if ((s = get_i32(path, root, "hidden_size", &cfg->hidden_size, true, err)) ||
        (s = get_i32(path, root, "intermediate_size", &cfg->intermediate_size, true, err)) ||
        (s = get_i32(path, root, "num_hidden_layers", &cfg->num_layers, true, err)) ||
        (s = get_i32(path, root, "num_attention_heads", &cfg->num_heads, true, err)) ||
        (s = get_i32(path, root, "vocab_size", &cfg->vocab_size, true, err)))
        return s;
    cfg->num_kv_heads = cfg->num_heads;
    if ((s = get_i32(path, root, "num_key_value_heads", &cfg->num_kv_heads, false, err)) ||
        (s = get_i32(path, root, "max_position_embeddings", &cfg->max_position_embeddings,
                     false, err)))
        return s;
    if (cfg->hidden_size <= 0 || cfg->num_heads <= 0 || cfg->num_kv_heads <= 0 ||
        cfg->num_layers <= 0 || cfg->vocab_size <= 0 || cfg->intermediate_size <= 0)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: sizes must be positive", path);
    if (cfg->num_layers > CT_MAX_LAYERS)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: num_hidden_layers %d exceeds %d", path, cfg->num_layers,
                          CT_MAX_LAYERS);
    if (cfg->num_heads % cfg->num_kv_heads)
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                          path, cfg->num_heads, cfg->num_kv_heads);
    cfg->head_dim = ai->head_dim ? ai->head_dim : cfg->hidden_size / cfg->num_heads;
    if ((s = get_i32(path, root, "head_dim", &cfg->head_dim, false, err))) return s;
    if (cfg->head_dim <= 0 || cfg->head_dim % 2 || cfg->head_dim > CT_MAX_HEAD_DIM)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: head_dim %d must be positive, even and at most %d", path,
                          cfg->head_dim, CT_MAX_HEAD_DIM);
    if ((s = get_f64(path, root, "rms_norm_eps", &cfg->rms_norm_eps, err)) ||
        (s = get_f64(path, root, "rope_theta", &cfg->rope_theta, err)) ||
        (s = check_rope(path, root, "rope_scaling", NULL, cfg, err)) ||
        (s = check_rope(path, root, "rope_parameters", &cfg->rope_theta, cfg, err)) ||
        (s = parse_rotary(path, root, ai, cfg, err)) || (s = parse_layer_types(path, root, ai, cfg, err)))
        return s;
    /* eps <= 0 makes RMSNorm divide by zero (NaN logits), theta <= 0 makes NaN rotations */
    if (!(cfg->rms_norm_eps > 0) || !isfinite(cfg->rms_norm_eps))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: rms_norm_eps %g must be positive", path, cfg->rms_norm_eps);
    if (!(cfg->rope_theta > 0) || !isfinite(cfg->rope_theta))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: rope_theta %g must be positive", path, cfg->rope_theta);
    cfg->tie_word_embeddings = false;
    bool attn_bias = false, mlp_bias = false;
    if ((s = get_bool(path, root, "tie_word_embeddings", &cfg->tie_word_embeddings, err)) ||
        (s = get_bool(path, root, "attention_bias", &attn_bias, err)) ||
        (s = get_bool(path, root, "mlp_bias", &mlp_bias, err)))
        return s;
    cfg->attention_bias = ai->qkv_bias == CT_BIAS_ALWAYS || (ai->qkv_bias == CT_BIAS_CONFIG && attn_bias);
    cfg->o_bias = ai->o_bias == CT_BIAS_ALWAYS || (ai->o_bias == CT_BIAS_CONFIG && attn_bias);
    cfg->mlp_bias = ai->mlp_bias == CT_BIAS_ALWAYS || (ai->mlp_bias == CT_BIAS_CONFIG && mlp_bias);
    cfg->qk_norm = ai->qk_norm;
    cfg->attn_output_gate = ai->hybrid;
    cfg->norm_offset = ai->hybrid;
    if (ai->hybrid && (s = get_bool(path, root, "attn_output_gate", &cfg->attn_output_gate, err))) return s;

    const char *dt = ct_json_get_str(root, "torch_dtype");
    if (!dt) dt = ct_json_get_str(root, "dtype");
    cfg->dtype = CT_DTYPE_F32;
    if (dt && !strcmp(dt, "bfloat16")) cfg->dtype = CT_DTYPE_BF16;
    else if (dt && !strcmp(dt, "float16")) cfg->dtype = CT_DTYPE_F16;
    else if (dt && strcmp(dt, "float32") != 0)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: dtype '%s' is not supported", path, dt);
    if ((s = get_i32(path, root, "bos_token_id", &cfg->bos_token_id, false, err)) ||
        (s = get_i32(path, root, "pad_token_id", &cfg->pad_token_id, false, err)) ||
        (s = get_eos(path, root, cfg, err)))
        return s;
    cfg->gen_do_sample = false;
    cfg->gen_temperature = 1.0f;
    cfg->gen_top_k = 50;
    cfg->gen_top_p = 1.0f;
    cfg->gen_repetition_penalty = 1.0f;
    return CT_OK;
}

static ct_status parse_generation_config(const char *path, json_t *root, ct_config *cfg,
                                         ct_err *err) {
    if (!json_is_object(root))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: not a JSON object", path);
    ct_status s;
    double t = cfg->gen_temperature, p = cfg->gen_top_p, r = cfg->gen_repetition_penalty;
    if ((s = get_eos(path, root, cfg, err)) ||
        (s = get_bool(path, root, "do_sample", &cfg->gen_do_sample, err)) ||
        (s = get_f64(path, root, "temperature", &t, err)) ||
        (s = get_f64(path, root, "top_p", &p, err)) ||
        (s = get_f64(path, root, "repetition_penalty", &r, err)) ||
        (s = get_i32(path, root, "top_k", &cfg->gen_top_k, false, err)))
        return s;
    cfg->gen_temperature = (float)t;
    cfg->gen_top_p = (float)p;
    cfg->gen_repetition_penalty = (float)r;
    if (json_object_get(root, "bos_token_id") &&
        (s = get_i32(path, root, "bos_token_id", &cfg->bos_token_id, false, err)))
        return s;
    return CT_OK;
}

ct_status ct_config_load_file(const char *path, ct_config *cfg, ct_err *err) {
    memset(cfg, 0, sizeof *cfg);
    json_t *root = NULL;
    ct_status s;
    if (!ct_file_exists(path)) s = ct_err_set(err, CT_ERR_IO, "%s: file not found", path);
    else if (!(s = ct_json_load_file(path, &root, err))) s = ct_config_parse_json(path, root, cfg, err);
    json_decref(root);
    return s;
}

ct_status ct_config_load(const char *dir, ct_config *cfg, ct_err *err) {
    memset(cfg, 0, sizeof *cfg);
    if (ct_gguf_is_file(dir))
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "%s is a GGUF file: this needs a Hugging Face model directory (GGUF files are read for "
                          "inference: generate, chat, eval, serve)", dir);
    char *path = ct_path_join(dir, "config.json");
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    json_t *root = NULL;
    ct_status s;
    if (!ct_file_exists(path))
        s = ct_err_set(err, CT_ERR_IO, "%s: missing (not a Hugging Face model directory?)", path);
    else if (!(s = ct_json_load_file(path, &root, err)))
        s = ct_config_parse_json(path, root, cfg, err);
    json_decref(root);
    free(path);
    if (s) return s;
    path = ct_path_join(dir, "generation_config.json");
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    root = NULL;
    if (ct_file_exists(path) && !(s = ct_json_load_file(path, &root, err)))
        s = parse_generation_config(path, root, cfg, err);
    json_decref(root);
    free(path);
    return s;
}

void ct_rope_inv_freq(const ct_config *cfg, size_t seq_len, float *out) {
    int D = ct_rotary_dim(cfg);
    double base = cfg->rope_theta, maxpos = (double)cfg->max_position_embeddings;
    if (cfg->rope_type == CT_ROPE_DYNAMIC && maxpos > 0 && (double)seq_len > maxpos) /* NTK: Python floats */
        base *= pow(cfg->rope_factor * (double)seq_len / maxpos - (cfg->rope_factor - 1.0), (double)D / (double)(D - 2));
    for (int i = 0; i < D / 2; i++) out[i] = (float)(1.0 / pow(base, (double)(2 * i) / (double)D));
    if (cfg->rope_type == CT_ROPE_YARN) {
        /* f32 tensors as transformers builds them, Python-float scalars for the correction range */
        double dim = D, lnb = 2.0 * log(cfg->rope_theta);
        double lo = dim * log(cfg->rope_original_max_pos / (cfg->rope_beta_fast * 2.0 * M_PI)) / lnb;
        double hi = dim * log(cfg->rope_original_max_pos / (cfg->rope_beta_slow * 2.0 * M_PI)) / lnb;
        if (cfg->rope_truncate) lo = floor(lo), hi = ceil(hi);
        if (lo < 0) lo = 0;
        if (hi > dim - 1) hi = dim - 1;
        if (lo == hi) hi += 0.001;
        for (int i = 0; i < D / 2; i++) {
            float pos_freq = (float)pow(cfg->rope_theta, (double)(2 * i) / dim);
            float extra = 1.0f / pos_freq, inter = 1.0f / ((float)cfg->rope_factor * pos_freq);
            float ramp = ((float)i - (float)lo) / (float)(hi - lo);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            float ef = 1.0f - ramp;
            out[i] = inter * (1.0f - ef) + extra * ef;
        }
        return;
    }
    if (cfg->rope_type == CT_ROPE_LINEAR || cfg->rope_type == CT_ROPE_FACTORS) {
        for (int i = 0; i < D / 2; i++)
            out[i] /= cfg->rope_type == CT_ROPE_LINEAR ? (float)cfg->rope_factor : cfg->rope_freq_factors[i];
        return;
    }
    if (cfg->rope_type != CT_ROPE_LLAMA3) return;
    /* transformers' _compute_llama3_parameters: f32 tensor ops with Python-float scalars */
    float factor = (float)cfg->rope_factor, lo = (float)cfg->rope_low_freq_factor;
    float old = (float)cfg->rope_original_max_pos;
    float lo_wavelen = (float)(cfg->rope_original_max_pos / cfg->rope_low_freq_factor);
    float hi_wavelen = (float)(cfg->rope_original_max_pos / cfg->rope_high_freq_factor);
    float span = (float)(cfg->rope_high_freq_factor - cfg->rope_low_freq_factor);
    for (int i = 0; i < D / 2; i++) {
        float inv = out[i], wavelen = (float)(2.0 * M_PI) / inv;
        float scaled = wavelen > lo_wavelen ? inv / factor : inv;
        if (!(wavelen < hi_wavelen) && !(wavelen > lo_wavelen)) { /* medium: smooth mix */
            float smooth = (old / wavelen - lo) / span;
            scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
        }
        out[i] = scaled;
    }
}
