/* Named model sizes (include/ctune/estimate.h ct_size_config): the architecture fields of each
 * published model's config.json, for estimates without the weights at hand. Values from the
 * Hugging Face repos' config.json (Qwen/Qwen2.5-*, Qwen/Qwen3-*, meta-llama/Llama-3.x-*); all bf16,
 * rms_norm_eps 1e-6 (Llama's 1e-5 changes no estimate),
 * no sliding window. Qwen2 models have q/k/v biases (Qwen2Attention), Qwen3 q_norm / k_norm and
 * head_dim 128. */
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <strings.h>

#include "ctune/estimate.h"
#include "io/gguf_read.h"
#include "model/arch.h"

typedef struct size_row {
    const char *name;
    ct_arch arch;
    int32_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab;
    bool tied;
    double rope_theta;
    int32_t lin_v_heads; /* Qwen3.5: Gated DeltaNet value heads (16 key heads of 128, every 4th layer attention) */
} size_row;

static const size_row k_sizes[] = {
    /* name            arch           hidden  inter  layers heads kv  hd   vocab   tied  theta  Hv */
    {"qwen2.5-0.5b", CT_ARCH_QWEN2, 896, 4864, 24, 14, 2, 64, 151936, true, 1e6, 0},
    {"qwen2.5-1.5b", CT_ARCH_QWEN2, 1536, 8960, 28, 12, 2, 128, 151936, true, 1e6, 0},
    {"qwen2.5-3b", CT_ARCH_QWEN2, 2048, 11008, 36, 16, 2, 128, 151936, true, 1e6, 0},
    {"qwen2.5-7b", CT_ARCH_QWEN2, 3584, 18944, 28, 28, 4, 128, 152064, false, 1e6, 0},
    {"qwen2.5-14b", CT_ARCH_QWEN2, 5120, 13824, 48, 40, 8, 128, 152064, false, 1e6, 0},
    {"qwen2.5-32b", CT_ARCH_QWEN2, 5120, 27648, 64, 40, 8, 128, 152064, false, 1e6, 0},
    {"qwen2.5-72b", CT_ARCH_QWEN2, 8192, 29568, 80, 64, 8, 128, 152064, false, 1e6, 0},
    {"qwen3-0.6b", CT_ARCH_QWEN3, 1024, 3072, 28, 16, 8, 128, 151936, true, 1e6, 0},
    {"qwen3-1.7b", CT_ARCH_QWEN3, 2048, 6144, 28, 16, 8, 128, 151936, true, 1e6, 0},
    {"qwen3-4b", CT_ARCH_QWEN3, 2560, 9728, 36, 32, 8, 128, 151936, true, 1e6, 0},
    {"qwen3-8b", CT_ARCH_QWEN3, 4096, 12288, 36, 32, 8, 128, 151936, false, 1e6, 0},
    {"qwen3-14b", CT_ARCH_QWEN3, 5120, 17408, 40, 40, 8, 128, 151936, false, 1e6, 0},
    {"qwen3-32b", CT_ARCH_QWEN3, 5120, 25600, 64, 64, 8, 128, 151936, false, 1e6, 0},
    /* Llama 3.x (meta-llama/Llama-3.2-1B, -3B, Llama-3.1-8B config.json; rope_scaling llama3
     * does not change the memory model) */
    {"llama-3.2-1b", CT_ARCH_LLAMA, 2048, 8192, 16, 32, 8, 64, 128256, true, 5e5, 0},
    {"llama-3.2-3b", CT_ARCH_LLAMA, 3072, 8192, 28, 24, 8, 128, 128256, true, 5e5, 0},
    {"llama-3.1-8b", CT_ARCH_LLAMA, 4096, 14336, 32, 32, 8, 128, 128256, false, 5e5, 0},
    /* Qwen3.5 (Qwen/Qwen3.5-0.8B, -4B text_config; -9B = Qwen3_5TextConfig's defaults): Gated
     * DeltaNet layers with 16 key heads of 128 and the value heads below, conv kernel 4; partial
     * rotary 0.25 */
    {"qwen3.5-0.8b", CT_ARCH_QWEN3_5, 1024, 3584, 24, 8, 2, 256, 248320, true, 1e7, 16},
    {"qwen3.5-4b", CT_ARCH_QWEN3_5, 2560, 9216, 32, 16, 4, 256, 248320, true, 1e7, 32},
    {"qwen3.5-9b", CT_ARCH_QWEN3_5, 4096, 12288, 32, 16, 4, 256, 248320, false, 1e7, 32},
};
#define N_SIZES (sizeof k_sizes / sizeof k_sizes[0])

const char *ct_size_name(size_t i) { return i < N_SIZES ? k_sizes[i].name : NULL; }

ct_status ct_size_config(const char *name, ct_config *cfg, ct_err *err) {
    memset(cfg, 0, sizeof *cfg);
    const size_row *r = NULL;
    for (size_t i = 0; name && i < N_SIZES && !r; i++)
        if (!strcasecmp(name, k_sizes[i].name)) r = &k_sizes[i];
    if (!r) {
        char list[512];
        size_t n = 0;
        for (size_t i = 0; i < N_SIZES && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", k_sizes[i].name);
        return ct_err_set(err, CT_ERR_ARG, "size '%s' is unknown (known: %s)", name ? name : "", list);
    }
    const ct_arch_info *ai = ct_arch_get(r->arch);
    cfg->arch = r->arch;
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", ai->model_type);
    cfg->hidden_size = r->hidden;
    cfg->intermediate_size = r->intermediate;
    cfg->num_layers = r->layers;
    cfg->num_heads = r->heads;
    cfg->num_kv_heads = r->kv_heads;
    cfg->head_dim = r->head_dim;
    cfg->vocab_size = r->vocab;
    cfg->max_position_embeddings = ai->max_position;
    cfg->rms_norm_eps = 1e-6;
    cfg->rope_theta = r->rope_theta;
    cfg->tie_word_embeddings = r->tied;
    cfg->attention_bias = ai->qkv_bias == CT_BIAS_ALWAYS;
    cfg->o_bias = ai->o_bias == CT_BIAS_ALWAYS;
    cfg->mlp_bias = ai->mlp_bias == CT_BIAS_ALWAYS;
    cfg->qk_norm = ai->qk_norm;
    cfg->dtype = CT_DTYPE_BF16;
    cfg->bos_token_id = cfg->pad_token_id = -1;
    cfg->rotary_dim = ai->hybrid ? r->head_dim / 4 : r->head_dim;
    cfg->attn_output_gate = cfg->norm_offset = ai->hybrid;
    if (ai->hybrid) {
        for (int l = 0; l < r->layers; l++) cfg->layer_kind[l] = (l + 1) % 4 ? CT_LAYER_DELTANET : CT_LAYER_ATTENTION;
        cfg->n_deltanet = r->layers - r->layers / 4;
        cfg->lin_k_heads = 16, cfg->lin_k_dim = cfg->lin_v_dim = 128, cfg->lin_conv = 4;
        cfg->lin_v_heads = r->lin_v_heads;
        snprintf(cfg->weight_prefix, sizeof cfg->weight_prefix, "model.language_model.");
    }
    return CT_OK;
}

ct_status ct_estimate_config(const char *model, ct_config *cfg, ct_err *err) {
    struct stat sb;
    if (model && !stat(model, &sb))
        return S_ISDIR(sb.st_mode)     ? ct_config_load(model, cfg, err)
               : ct_gguf_is_file(model) ? ct_config_load_gguf(model, cfg, err)
                                        : ct_config_load_file(model, cfg, err);
    /* a size name, or the last component of a hub id without its variant suffix */
    const char *base = model ? strrchr(model, '/') : NULL;
    base = base ? base + 1 : model;
    char name[64];
    snprintf(name, sizeof name, "%s", base ? base : "");
    static const char *const suffixes[] = {"-instruct", "-base", "-chat"};
    for (size_t k = 0; k < sizeof suffixes / sizeof suffixes[0]; k++) {
        char *p = strcasestr(name, suffixes[k]);
        if (p) *p = 0;
    }
    for (size_t i = 0; i < N_SIZES; i++)
        if (!strcasecmp(name, k_sizes[i].name)) return ct_size_config(name, cfg, err);
    if (model && strchr(model, '/'))
        return ct_err_set(err, CT_ERR_IO, "%s: no such model directory or config file, and not a known size", model);
    return ct_size_config(model, cfg, err);
}
