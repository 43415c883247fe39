/* HF model directory writer (full/freeze results, merged LoRA): what
 * `AutoModelForCausalLM.from_pretrained(dir)` loads.
 *   config.json               json.dumps(indent=2, sort_keys=True) + "\n" (transformers' to_json_file);
 *                             "torch_dtype" (and "dtype" if present) set to the stored dtype
 *   model.safetensors         when the weights fit in max_shard_bytes, else
 *   model-0000i-of-0000n.safetensors + model.safetensors.index.json
 *                             {"metadata": {"total_size": bytes}, "weight_map": {name: file}};
 *                             shards filled greedily in the given tensor order (a tensor larger
 *                             than the limit gets its own shard), like huggingface_hub's
 *                             split_torch_state_dict_into_shards
 *   generation_config.json, tokenizer files   copied from src dirs when present
 * Directory atomicity: a new directory is built as "<dir>.tmp.<pid>" and renamed into place
 * (ct_dir_fresh / ct_dir_publish of base/file.h),
 * so an interrupted export leaves nothing at <dir>. Exporting into an existing directory
 * (e.g. output_dir with checkpoints) builds the files in "<dir>/.export.tmp.<pid>/" and then
 * renames them in one by one: weights and index first, config.json last. */
#ifndef CT_IO_HF_EXPORT_H
#define CT_IO_HF_EXPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "io/st_writer.h"

#define CT_HF_DEFAULT_MAX_SHARD ((uint64_t)5000000000ull) /* "5GB" as HF counts it (10^9) */

typedef struct ct_hf_export_opts {
    const char *out_dir;
    const json_t *config;          /* config.json content (copied; dtype keys updated) */
    ct_dtype dtype;                /* stored dtype for float tensors (BF16 / F16 / F32) */
    uint64_t max_shard_bytes;      /* 0 -> CT_HF_DEFAULT_MAX_SHARD */
    const char *tokenizer_dir;     /* copy tokenizer files from here (NULL: none) */
    const char *generation_config_dir; /* copy generation_config.json from here (NULL: none) */
} ct_hf_export_opts;

/* Tensor names are HF parameter names ("model.layers.0.self_attn.q_proj.weight"). Each
 * item's `dtype` field is ignored for float tensors and replaced by opts->dtype. */
ct_status ct_hf_export(const ct_hf_export_opts *opts, const ct_st_item *tensors, size_t n, ct_err *err);

/* Files copied by ct_hf_export when present (NULL-terminated). */
extern const char *const CT_HF_TOKENIZER_FILES[];
/* Copies the tokenizer files that exist in src_dir into dst_dir (atomic per file). */
ct_status ct_hf_copy_tokenizer(const char *src_dir, const char *dst_dir, ct_err *err);

#endif
