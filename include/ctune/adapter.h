/* ctune — PEFT adapters at inference time, without writing a merged model.
 *
 * LoRA (PEFT `LoraModel`): every adapted linear runs unmerged, as PEFT does and as training
 * does, through the decoder's one linear-with-LoRA path:
 *     y = x W^T + b + scaling * (x A^T) B^T   (scaling = lora_alpha / r, or / sqrt(r) with rsLoRA)
 * so the base stays untouched and one base model can serve several adapters at once. On request
 * (ct_adapter_merge) the adapted linears get f32 merged copies W' = W + scaling * B A instead.
 * modules_to_save tensors (lm_head, embed_tokens, norm) replace the base's.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_adapter ct_adapter;

typedef enum ct_adapter_kind { CT_ADAPTER_LORA = 0, CT_ADAPTER_PROMPT } ct_adapter_kind;

/* Loads the PEFT adapter in DIR (adapter_config.json + adapter_model.safetensors) for `base`
 * (which must outlive the adapter; it is not modified). Run it by passing it to
 * ct_model_forward / ct_model_nll / ct_generate (ctune/model.h, ctune/generate.h). Errors name the adapter file and the tensor:
 * shape mismatch with the base weight, a layer the base does not have, a tensor for a module
 * the config does not target, a targeted module without tensors, a prompt token_dim that is
 * not the base's hidden size, unsupported features (rank/alpha patterns, bias != none, init_lora_weights
 * other than true / false / gaussian / pissa*). DoRA adapters (use_dora) run PEFT's magnitude
 * scaling; PiSSA adapters (init_lora_weights "pissa*") first turn the adapted weights into the
 * SVD residual, as PEFT does on load (src/peft/pissa.h). */
ct_status ct_adapter_load(const char *dir, const ct_model *base, ct_adapter **out, ct_err *err);
void ct_adapter_free(ct_adapter *ad);

ct_adapter_kind ct_adapter_type(const ct_adapter *ad);
/* Prompt tuning: number of virtual tokens P and their embeddings [P, C] (0 / NULL for LoRA). */
size_t ct_adapter_num_virtual(const ct_adapter *ad);
const float *ct_adapter_virtual_embeds(const ct_adapter *ad);
/* Number of base weight tensors the adapter changes (adapted linears + modules_to_save). */
size_t ct_adapter_num_replaced(const ct_adapter *ad);
/* LoRA scaling actually used (0 for prompt tuning). */
double ct_adapter_lora_scaling(const ct_adapter *ad);
/* The weight the adapted model reads under HF name `name`: a modules_to_save replacement, a
 * merged copy (after ct_adapter_merge), or the base's view; NULL when the model has none. */
const ct_tensor *ct_adapter_tensor(const ct_adapter *ad, const char *name);

/* Merges the LoRA into f32 copies of the adapted linears (4 bytes per adapted parameter): the
 * same numbers up to f32 rounding, no LoRA products per token. No-op for prompt tuning or when
 * merged already. */
ct_status ct_adapter_merge(ct_adapter *ad, ct_ctx *ctx, ct_err *err);
bool ct_adapter_is_merged(const ct_adapter *ad);

/* ---- Export ---- */

/* Writes the merged model (LoRA merged into the base, modules_to_save applied) as a Hugging Face
 * model directory out_dir: config.json of base_dir with the dtype keys updated, safetensors in
 * `dtype` (BF16 / F16 / F32; CT_DTYPE_COUNT = the base's stored dtype), sharded like
 * transformers when above 5 GB, generation_config.json and tokenizer files copied from
 * base_dir (tokenizer files from adapter_dir win when present). Atomic (see io/hf_export.h).
 * A tied base whose embed_tokens or lm_head was replaced by modules_to_save is written untied
 * (tie_word_embeddings false + lm_head.weight), as PEFT keeps the two apart. Prompt-tuning
 * adapters cannot be merged (CT_ERR_UNSUPPORTED). */
ct_status ct_adapter_export(ct_ctx *ctx, const ct_adapter *ad, const char *base_dir,
                            const char *adapter_dir, const char *out_dir, ct_dtype dtype, ct_err *err);
/* ct_adapter_export with a shard size (ct_export_opts; o->dtype as `dtype` above). */
ct_status ct_adapter_export_ex(ct_ctx *ctx, const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                               const char *out_dir, const ct_export_opts *o, ct_err *err);

/* GGUF for llama.cpp / Ollama (docs/export.md). Merged: out_dir/model.gguf holds the base with
 * the LoRA merged in (modules_to_save applied) and out_dir/Modelfile. */
ct_status ct_adapter_export_gguf(ct_ctx *ctx, const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                                 const char *out_dir, const ct_gguf_export_opts *o, ct_err *err);
/* Unmerged: out_dir/adapter.gguf (a llama.cpp LoRA: general.type adapter, adapter.lora.alpha with
 * rsLoRA's alpha rewritten so that llama.cpp's alpha / r equals PEFT's alpha / sqrt(r)),
 * out_dir/model.gguf (the base) and out_dir/Modelfile (FROM + ADAPTER). Refused: prompt tuning,
 * DoRA, PiSSA, modules_to_save. */
ct_status ct_adapter_export_gguf_lora(const ct_adapter *ad, const char *base_dir, const char *adapter_dir,
                                      const char *out_dir, const ct_gguf_export_opts *o, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
