/* PEFT adapter files: what `PeftModel.from_pretrained` reads and `save_pretrained` writes.
 *   adapter_config.json        json.dumps(config, indent=2, sort_keys=True), no trailing newline
 *   adapter_model.safetensors  metadata {"format": "pt"}
 * LoRA tensor keys: base_model.model.model.layers.<L>.<self_attn|mlp>.<module>.lora_<A|B>.weight
 * with lora_A [r, in] and lora_B [out, r] (adapter name "default" is not saved).
 * Prompt tuning: one tensor "prompt_embeddings" [num_virtual_tokens, token_dim].
 * The LoRA key set mirrors PEFT 0.10-0.13 (understood by every PEFT >= 0.10; newer PEFT fills
 * its newer keys with defaults). See docs/outputs.md. */
#ifndef CT_PEFT_PEFT_IO_H
#define CT_PEFT_PEFT_IO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/tensor.h"
#include "io/st_writer.h"

typedef struct ct_lora_config {
    const char *base_model_name_or_path; /* NULL writes null */
    int r;
    double lora_alpha;                   /* written as an integer when integral (PEFT's type) */
    double lora_dropout;
    const char *const *target_modules;   /* module names; written sorted and de-duplicated */
    size_t n_target_modules;
    bool use_rslora;
    const char *task_type;               /* NULL -> "CAUSAL_LM" */
    /* PEFT modules_to_save (LlamaFactory additional_target): module names written to the config
     * ("lm_head", "embed_tokens", "norm") and their full tensors, each named with its PEFT key
     * "base_model.model.<hf name>" (e.g. "base_model.model.lm_head.weight"). */
    const char *const *modules_to_save;
    size_t n_modules_to_save;
    const ct_st_item *saved;
    size_t n_saved;
    const char *weight_prefix;           /* the base's ct_config.weight_prefix (NULL: "model.") */
    /* DoRA (use_dora): mags[i] is the magnitude vector [out] of pairs[i], saved as
     * "base_model.model.<module>.lora_magnitude_vector" (PEFT's key, no ".weight"). */
    bool use_dora;
    const ct_tensor *mags;
    const char *init_lora_weights;       /* NULL: true; "pissa" / "pissa_niter_<n>" (PEFT's values) */
    /* Continuing an adapter: its adapter_config.json, whose target selection (target_modules,
     * layers_to_transform, layers_pattern, exclude_modules) is written unchanged. NULL: none. */
    const json_t *targets_from;
} ct_lora_config;

/* One adapted linear: layer index, module name (q_proj k_proj v_proj o_proj gate_proj
 * up_proj down_proj) and its A [r, in] / B [out, r] tensors (any float dtype in memory). */
typedef struct ct_lora_pair {
    int layer;
    const char *module;
    ct_tensor A, B;
} ct_lora_pair;

/* "self_attn" or "mlp" for a LoRA module name of the architecture table, NULL if unknown. */
const char *ct_peft_module_parent(const char *module);
/* Writes the PEFT key of a LoRA tensor into buf; ab is 'A', 'B' or 'M' (the DoRA magnitude
 * "...<module>.lora_magnitude_vector"). Returns false if unknown module. */
bool ct_peft_lora_key(char *buf, size_t n, const char *weight_prefix, int layer, const char *module, char ab);

/* adapter_config.json as a JSON object (caller decrefs) / as the exact file text. */
json_t *ct_peft_lora_config_json(const ct_lora_config *cfg);
/* Writes dir/adapter_model.safetensors (tensors stored as `dtype`, F32 is what PEFT keeps for
 * fp32-trained adapters) and then dir/adapter_config.json; creates dir. */
ct_status ct_peft_save_lora(const char *dir, const ct_lora_config *cfg, const ct_lora_pair *pairs,
                            size_t n, ct_dtype dtype, ct_err *err);

typedef struct ct_prompt_config {
    const char *base_model_name_or_path;
    int64_t num_virtual_tokens, token_dim;
    int num_layers, num_attention_heads;  /* from the model config, as PEFT records them */
    const char *prompt_tuning_init;       /* "RANDOM" (default) | "TEXT" | "SAMPLE_VOCAB" */
    const char *prompt_tuning_init_text;  /* NULL unless TEXT */
    const char *tokenizer_name_or_path;   /* NULL unless TEXT */
} ct_prompt_config;

json_t *ct_peft_prompt_config_json(const ct_prompt_config *cfg);
/* emb: f32 [num_virtual_tokens, token_dim]. */
ct_status ct_peft_save_prompt(const char *dir, const ct_prompt_config *cfg, const float *emb,
                              ct_dtype dtype, ct_err *err);

/* ---- Reader (for --adapter DIR) ---- */
typedef enum ct_peft_type { CT_PEFT_LORA = 0, CT_PEFT_PROMPT_TUNING } ct_peft_type;

typedef struct ct_peft_lora_tensors {
    int layer;
    char module[32];
    int64_t r, in, out;
    float *A; /* [r, in], f32 copy */
    float *B; /* [out, r] */
    float *M; /* [out] DoRA magnitude (use_dora), else NULL */
    int64_t n_mag;
} ct_peft_lora_tensors;

/* A full tensor saved by PEFT modules_to_save (e.g. lm_head, embed_tokens): key
 * "base_model.model.<HF parameter name>". */
typedef struct ct_peft_saved_tensor {
    char name[192];  /* HF parameter name, e.g. "lm_head.weight" */
    ct_tensor t;     /* f32 copy (owned) with the stored shape */
} ct_peft_saved_tensor;

typedef struct ct_peft_adapter {
    ct_peft_type type;
    json_t *config;                 /* the whole adapter_config.json */
    const char *base_model_name_or_path; /* into config, may be NULL */
    /* LoRA */
    int r;
    double lora_alpha, lora_dropout;
    bool use_rslora;
    bool use_dora;                  /* every adapted linear has a magnitude vector M */
    bool pissa;                     /* init_lora_weights "pissa" / "pissa_niter_<n>": the base must be
                                       replaced by the PiSSA residual first (as PEFT does on load) */
    int pissa_niter;                /* -1: exact SVD ("pissa"), else n */
    ct_peft_lora_tensors *lora;     /* sorted by (layer, module) */
    size_t n_lora;
    ct_peft_saved_tensor *saved;    /* modules_to_save tensors */
    bool language_model;            /* LoRA keys under model.language_model. (a vision-language base) */
    size_t n_saved;
    /* prompt tuning */
    int64_t num_virtual_tokens, token_dim;
    float *prompt_embeddings;       /* [num_virtual_tokens, token_dim] f32 */
} ct_peft_adapter;

ct_status ct_peft_load(const char *dir, ct_peft_adapter *out, ct_err *err);
void ct_peft_free(ct_peft_adapter *a);
/* alpha / r, or alpha / sqrt(r) with rsLoRA (PEFT's LoraLayer.update_layer). */
double ct_peft_lora_scaling(const ct_peft_adapter *a);
const ct_peft_lora_tensors *ct_peft_find_lora(const ct_peft_adapter *a, int layer, const char *module);

#endif
