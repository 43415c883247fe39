/* ctune — PEFT adapters at inference time, without writing a merged model.
 *
 * LoRA (PEFT `LoraModel`): every adapted linear gets an in-memory merged copy
 *     W' = W + scaling * B A      (f32; scaling = lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA)
 * computed once at load and kept in f32, so a bf16/f16 base is not rounded after the merge (the
 * result equals PEFT's unmerged `base(x) + lora_B(lora_A(x)) * scaling` up to f32 rounding).
 * Untouched weights stay the base's mmap'd views; the memory cost is 4 bytes per parameter of
 * the adapted linears. modules_to_save tensors (lm_head, embed_tokens, norm) replace the base's.
 * Which modules must carry an adapter follows PEFT `check_target_module_exists`: target_modules
 * as a list (suffix match on "model.layers.N.self_attn.q_proj"; layers_to_transform and
 * layers_pattern apply), as a regex string (full match), "all-linear", or null (PEFT's default
 * for llama/qwen2/qwen3: q_proj, v_proj); exclude_modules honoured.
 *
 * Prompt tuning (PEFT PROMPT_TUNING): the num_virtual_tokens embeddings are run first, at
 * positions 0..P-1, and the real tokens continue at P.. (what PeftModelForCausalLM does when it
 * concatenates the prompt embeddings in front of inputs_embeds). */
#ifndef CTUNE_ADAPTER_H
#define CTUNE_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/generate.h"
#include "ctune/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_adapter ct_adapter;

typedef enum ct_adapter_kind { CT_ADAPTER_LORA = 0, CT_ADAPTER_PROMPT } ct_adapter_kind;

/* Loads the PEFT adapter in DIR (adapter_config.json + adapter_model.safetensors) and applies
 * it to `base` (which must outlive the adapter). Errors name the adapter file and the tensor:
 * shape mismatch with the base weight, a layer the base does not have, a tensor for a module
 * the config does not target, a targeted module without tensors, a prompt token_dim that is
 * not the base's hidden size, unsupported features (DoRA, rank/alpha patterns, bias != none). */
ct_status ct_adapter_load(const char *dir, const ct_model *base, ct_adapter **out, ct_err *err);
void ct_adapter_free(ct_adapter *ad);

ct_adapter_kind ct_adapter_type(const ct_adapter *ad);
/* The model to run: the base with the merged LoRA / modules_to_save weights (for prompt
 * tuning, the base's weights). Valid until ct_adapter_free. */
const ct_model *ct_adapter_model(const ct_adapter *ad);
/* Prompt tuning: number of virtual tokens P and their embeddings [P, C] (0 / NULL for LoRA). */
size_t ct_adapter_num_virtual(const ct_adapter *ad);
const float *ct_adapter_virtual_embeds(const ct_adapter *ad);
/* Number of base weight tensors replaced (merged LoRA linears + modules_to_save). */
size_t ct_adapter_num_replaced(const ct_adapter *ad);
/* LoRA scaling actually used (0 for prompt tuning). */
double ct_adapter_lora_scaling(const ct_adapter *ad);

/* ---- Running a base model with an optional adapter (ad may be NULL: the plain base). ---- */

/* The model to run: ad ? ct_adapter_model(ad) : base. */
const ct_model *ct_adapted_model(const ct_model *base, const ct_adapter *ad);
/* Puts the adapter's virtual tokens into an EMPTY cache (no-op without prompt tuning) and
 * returns their count in *n_prefix (the n_prefix of ct_generate_cached). */
ct_status ct_adapted_prefill(const ct_model *base, const ct_adapter *ad, ct_kv_cache *kv,
                             size_t *n_prefix, ct_err *err);
/* ct_generate with the adapter applied. */
ct_status ct_adapted_generate(const ct_model *base, const ct_adapter *ad, const int32_t *prompt,
                              size_t n_prompt, const ct_gen_params *p, ct_ids *out,
                              ct_gen_stop *stop, ct_err *err);
/* ct_model_nll with the adapter applied. With prompt tuning the first real token is predicted
 * too (from the last virtual token, as PEFT's loss does with labels = input_ids), so
 * *n_predicted is T instead of T - 1. */
ct_status ct_adapted_nll(const ct_model *base, const ct_adapter *ad, const int32_t *ids,
                         size_t T, double *nll_sum, size_t *n_predicted, ct_err *err);

/* ---- Export ---- */

/* Writes the merged model (LoRA merged into the base, modules_to_save applied) as a Hugging Face
 * model directory out_dir: config.json of base_dir with the dtype keys updated, safetensors in
 * `dtype` (BF16 / F16 / F32; CT_DTYPE_COUNT = the base's stored dtype), sharded like
 * transformers when above 5 GB, generation_config.json and tokenizer files copied from
 * base_dir (tokenizer files from adapter_dir win when present). Atomic (see io/hf_export.h).
 * A tied base whose embed_tokens or lm_head was replaced by modules_to_save is written untied
 * (tie_word_embeddings false + lm_head.weight), as PEFT keeps the two apart. Prompt-tuning
 * adapters cannot be merged (CT_ERR_UNSUPPORTED). */
ct_status ct_adapter_export(const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                            const char *out_dir, ct_dtype dtype, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
