/* The architecture table (see arch.h). */
#include "model/arch.h"

#include <stdio.h>
#include <string.h>

#define CT_X_LAYER_SPEC(id, hf, d0, d1, mix, pres, ini, lora, decay, gguf)                                      \
    {CT_LT_##id, true, hf, {CT_DIM_##d0, CT_DIM_##d1}, CT_MIXER_##mix, CT_PRESENT_##pres, CT_INIT_##ini, lora, decay, \
     gguf},
#define CT_X_GLOBAL_SPEC(id, hf, d0, d1, mix, pres, ini, lora, decay, gguf)                                      \
    {CT_GT_##id, false, hf, {CT_DIM_##d0, CT_DIM_##d1}, CT_MIXER_##mix, CT_PRESENT_##pres, CT_INIT_##ini, lora,  \
     decay, gguf},

const ct_tensor_spec ct_layer_specs[CT_LT_COUNT] = {CT_LAYER_TENSORS(CT_X_LAYER_SPEC)};
const ct_tensor_spec ct_global_specs[CT_GT_COUNT] = {CT_GLOBAL_TENSORS(CT_X_GLOBAL_SPEC)};

bool ct_spec_present(const ct_tensor_spec *s, const ct_config *cfg, int layer) {
    if (s->per_layer && s->mixer != CT_MIXER_ANY) {
        bool deltanet = layer >= 0 && layer < CT_MAX_LAYERS && cfg->layer_kind[layer] == CT_LAYER_DELTANET;
        if (deltanet != (s->mixer == CT_MIXER_DELTANET)) return false;
    }
    switch (s->presence) {
    case CT_PRESENT_ALWAYS: return true;
    case CT_PRESENT_QKV_BIAS: return cfg->attention_bias;
    case CT_PRESENT_O_BIAS: return cfg->o_bias;
    case CT_PRESENT_MLP_BIAS: return cfg->mlp_bias;
    case CT_PRESENT_QK_NORM: return cfg->qk_norm;
    case CT_PRESENT_UNTIED: return !cfg->tie_word_embeddings;
    }
    return false;
}

static int64_t dim_value(ct_dim d, const ct_config *c) {
    switch (d) {
    case CT_DIM_NONE: return 0;
    case CT_DIM_C: return c->hidden_size;
    case CT_DIM_I: return c->intermediate_size;
    case CT_DIM_QP: return (int64_t)c->num_heads * c->head_dim * (c->attn_output_gate ? 2 : 1);
    case CT_DIM_Q: return (int64_t)c->num_heads * c->head_dim;
    case CT_DIM_KV: return (int64_t)c->num_kv_heads * c->head_dim;
    case CT_DIM_HD: return c->head_dim;
    case CT_DIM_V: return c->vocab_size;
    case CT_DIM_LQKV: return 2 * (int64_t)c->lin_k_heads * c->lin_k_dim + (int64_t)c->lin_v_heads * c->lin_v_dim;
    case CT_DIM_LV: return (int64_t)c->lin_v_heads * c->lin_v_dim;
    case CT_DIM_LH: return c->lin_v_heads;
    case CT_DIM_LDV: return c->lin_v_dim;
    case CT_DIM_CONVK: return c->lin_conv;
    }
    return 0;
}

int ct_spec_shape(const ct_tensor_spec *s, const ct_config *cfg, int64_t shape[3]) {
    shape[0] = dim_value(s->dim[0], cfg);
    shape[1] = dim_value(s->dim[1], cfg);
    shape[2] = 0;
    if (s->dim[1] == CT_DIM_CONVK) { /* nn.Conv1d(groups=channels).weight: [channels, 1, kernel] */
        shape[2] = shape[1];
        shape[1] = 1;
        return 3;
    }
    return s->dim[1] == CT_DIM_NONE ? 1 : 2;
}

void ct_spec_name(char *buf, size_t n, const ct_config *cfg, const ct_tensor_spec *s, int layer) {
    const char *prefix = cfg->weight_prefix[0] ? cfg->weight_prefix : "model.";
    if (s->per_layer) snprintf(buf, n, "%slayers.%d.%s", prefix, layer, s->hf);
    else if (!strncmp(s->hf, "model.", 6)) snprintf(buf, n, "%s%s", prefix, s->hf + 6);
    else snprintf(buf, n, "%s", s->hf);
}

const char *ct_spec_parent(const ct_tensor_spec *s, char *buf, size_t n) {
    const char *dot = strchr(s->hf, '.');
    if (!s->per_layer || !dot || !strchr(dot + 1, '.')) return NULL; /* "input_layernorm.weight" */
    snprintf(buf, n, "%.*s", (int)(dot - s->hf), s->hf);
    return buf;
}

void ct_spec_module(char *buf, size_t n, const ct_config *cfg, const ct_tensor_spec *s, int layer) {
    /* the HF name without its final ".weight" / ".bias" component */
    char name[192];
    ct_spec_name(name, sizeof name, cfg, s, layer);
    char *dot = strrchr(name, '.');
    if (dot) *dot = 0;
    snprintf(buf, n, "%s", name);
}

int ct_spec_lora_index(int id) {
    if (id < 0 || id >= CT_LT_COUNT || !ct_layer_specs[id].lora) return -1;
    int k = 0;
    for (int j = 0; j < id; j++) k += ct_layer_specs[j].lora != NULL;
    return k;
}

const ct_tensor_spec *ct_spec_by_lora(const char *module) {
    for (int i = 0; i < CT_LT_COUNT; i++)
        if (ct_layer_specs[i].lora && !strcmp(ct_layer_specs[i].lora, module)) return &ct_layer_specs[i];
    return NULL;
}

int ct_specs_each(const ct_config *cfg, int (*fn)(const ct_tensor_spec *s, int layer, void *user), void *user) {
    int rc;
    if ((rc = fn(&ct_global_specs[CT_GT_EMBED], -1, user))) return rc;
    for (int l = 0; l < cfg->num_layers; l++)
        for (int i = 0; i < CT_LT_COUNT; i++)
            if (ct_spec_present(&ct_layer_specs[i], cfg, l) && (rc = fn(&ct_layer_specs[i], l, user))) return rc;
    if ((rc = fn(&ct_global_specs[CT_GT_FINAL_NORM], -1, user))) return rc;
    if (ct_spec_present(&ct_global_specs[CT_GT_LM_HEAD], cfg, -1) && (rc = fn(&ct_global_specs[CT_GT_LM_HEAD], -1, user)))
        return rc;
    return 0;
}

/* ---- families ---- */

static const ct_arch_info k_arch[] = {
    /* LlamaConfig: attention_bias on q/k/v/o, mlp_bias on the MLP */
    {CT_ARCH_LLAMA, "llama", "LlamaForCausalLM", 2048, 0, CT_BIAS_CONFIG, CT_BIAS_CONFIG, CT_BIAS_CONFIG, false, false,
     false},
    /* Qwen2Attention: q/k/v always biased, o_proj never; MLP unbiased */
    {CT_ARCH_QWEN2, "qwen2", "Qwen2ForCausalLM", 32768, 0, CT_BIAS_ALWAYS, CT_BIAS_NEVER, CT_BIAS_NEVER, false, false,
     true},
    /* Qwen3Attention: attention_bias on q/k/v/o, q_norm / k_norm; head_dim defaults to 128 */
    {CT_ARCH_QWEN3, "qwen3", "Qwen3ForCausalLM", 32768, 128, CT_BIAS_CONFIG, CT_BIAS_CONFIG, CT_BIAS_NEVER, true, false,
     true},
    /* Qwen3_5TextConfig: Gated DeltaNet layers between gated attention layers (q/k norm, attention_bias
     * on q/k/v/o), head_dim 256; Qwen3_5ForConditionalGeneration's text_config (model_type qwen3_5)
     * is read by parse_config */
    {CT_ARCH_QWEN3_5, "qwen3_5_text", "Qwen3_5ForCausalLM", 32768, 256, CT_BIAS_CONFIG, CT_BIAS_CONFIG, CT_BIAS_NEVER,
     true, true, false},
};
#define N_ARCH (sizeof k_arch / sizeof k_arch[0])

const ct_arch_info *ct_arch_by_type(const char *model_type) {
    for (size_t i = 0; model_type && i < N_ARCH; i++)
        if (!strcmp(k_arch[i].model_type, model_type)) return &k_arch[i];
    return NULL;
}

const ct_arch_info *ct_arch_by_class(const char *hf_class) {
    for (size_t i = 0; hf_class && i < N_ARCH; i++)
        if (!strcmp(k_arch[i].hf_class, hf_class)) return &k_arch[i];
    return NULL;
}

const ct_arch_info *ct_arch_get(ct_arch arch) {
    for (size_t i = 0; i < N_ARCH; i++)
        if (k_arch[i].arch == arch) return &k_arch[i];
    return NULL;
}

const char *ct_arch_name(ct_arch arch) {
    const ct_arch_info *a = ct_arch_get(arch);
    return a ? a->model_type : "?";
}

const char *ct_arch_list(void) {
    static char buf[256];
    if (!buf[0]) {
        size_t n = 0;
        for (size_t i = 0; i < N_ARCH && n < sizeof buf; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", k_arch[i].model_type);
    }
    return buf;
}
