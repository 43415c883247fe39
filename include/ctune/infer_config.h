/* ctune — inference and export config: the YAML files `llamafactory-cli chat` and
 * `llamafactory-cli export` take (LlamaFactory's examples/inference/ and
 * examples/merge_lora/ YAMLs), with LlamaFactory's key names and defaults
 * (ModelArguments, the export arguments, GeneratingArguments, DataArguments' template,
 * default_system and enable_thinking).
 *
 *   ct_infer_config c;
 *   ct_infer_config_init(&c);
 *   ct_infer_config_load(&c, "merge.yaml", &err);          // errors: "merge.yaml:7: key 'export_size': ..."
 *   ct_infer_config_apply_args(&c, argc, argv, &err);      // --key value, --flag, key=value
 *   ct_infer_config_validate(&c, CT_INFER_EXPORT, &err);
 *   ...
 *   ct_infer_config_free(&c);
 *
 * Keys of a training config and LlamaFactory's harmless keys (trust_remote_code, ...) are
 * accepted and listed in `ignored` (nothing is trained here); keys that would change the result
 * without being implemented (num_beams > 1, export_quantization_bit, export_legacy_format: true,
 * several adapters, ...) are refused by ct_infer_config_validate with the reason. */
#ifndef CTUNE_INFER_CONFIG_H
#define CTUNE_INFER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/config.h"
#include "ctune/err.h"
#include "ctune/generate.h"
#include "ctune/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_infer_config {
    /* ---- model */
    char *model_name_or_path;   /* required */
    char *adapter_name_or_path; /* one PEFT adapter (LoRA, or ctune's prompt tuning) */
    char *finetuning_type;      /* "lora"; an adapter needs lora (LlamaFactory's rule) */
    char *template_name;        /* key `template`; NULL = detected from the tokenizer */
    char *default_system;       /* system prompt of the chat (LlamaFactory default_system) */
    int enable_thinking;        /* 1 (default), 0, -1 null */
    char *infer_backend;        /* huggingface | vllm | sglang | ktransformers: ctune's engine runs */
    char *infer_dtype;          /* auto | float16 | bfloat16 | float32 */
    int64_t quantization_bit;   /* 0 = none | 4 | 8 (bitsandbytes on load; QLoRA adapters) */
    char *quantization_method;  /* bnb | gguf (ctune: ggml Q8_0 / Q4_0 for inference, bit 8 / 4) */
    char *quantization_type;    /* nf4 | fp4 */
    bool double_quantization;   /* true */
    /* ---- generation (GeneratingArguments defaults, not generation_config.json's) */
    bool do_sample;             /* true */
    double temperature;         /* 0.95; 0 = greedy */
    double top_p;               /* 0.7 */
    int64_t top_k;              /* 50 */
    int64_t num_beams;          /* 1 (beam search is refused) */
    int64_t max_length;         /* 1024 (only with max_new_tokens <= 0, which is refused) */
    int64_t max_new_tokens;     /* 1024 */
    double repetition_penalty;  /* 1.0 */
    double length_penalty;      /* 1.0 (beam search only) */
    bool skip_special_tokens;   /* true (false is refused) */
    int64_t seed;               /* 0: sampling seed (ctune's; LlamaFactory has none here) */
    /* ---- export */
    char *export_dir;           /* required for export */
    int64_t export_size;        /* 5: GB (10^9 bytes) per safetensors shard */
    char *export_device;        /* cpu | auto (ctune exports on the CPU either way) */
    bool export_legacy_format;  /* false (.bin pickles are refused) */
    int64_t export_quantization_bit; /* 0 = none (GPTQ export is refused) */
    char *export_quantization_dataset;
    int64_t export_quantization_nsamples, export_quantization_maxlen;
    char *export_hub_model_id;  /* refused: ctune does not upload */
    char *export_format;        /* ctune: hf (default) | gguf (llama.cpp / Ollama, docs/export.md) */
    char *export_quantization;  /* ctune, gguf only: f32 | f16 (default) | bf16 | q8_0 | q4_0 */
    bool export_gguf_lora;      /* ctune, gguf only: write the LoRA unmerged as adapter.gguf */
    int64_t threads;            /* 0 = all cores */
    /* ---- bookkeeping */
    ct_strlist ignored;         /* accepted keys without effect here (training keys, harmless keys) */
    ct_strlist set_keys;        /* keys given, in order */
} ct_infer_config;

typedef enum ct_infer_use { CT_INFER_CHAT = 0, CT_INFER_EXPORT } ct_infer_use;

void ct_infer_config_init(ct_infer_config *c);
void ct_infer_config_free(ct_infer_config *c);
ct_status ct_infer_config_load(ct_infer_config *c, const char *path, ct_err *err);
/* One key from text. Aliases of the ctune flags: model, adapter, system. */
ct_status ct_infer_config_set(ct_infer_config *c, const char *key, const char *value, const char *where,
                              ct_err *err);
/* Overrides in LlamaFactory's command-line styles (see ct_train_config_apply_args). */
ct_status ct_infer_config_apply_args(ct_infer_config *c, int argc, char **argv, ct_err *err);
bool ct_infer_config_is_set(const ct_infer_config *c, const char *key);
/* Required keys, ranges and what is refused, for chat or export. */
ct_status ct_infer_config_validate(const ct_infer_config *c, ct_infer_use use, ct_err *err);
/* Lines worth saying at start (malloc'd, '\n'-separated; NULL when none): the ignored keys on
 * one line, infer_backend / infer_dtype / export_device when ctune runs something else, and
 * what default_system and template do in an export. */
char *ct_infer_config_notes(const ct_infer_config *c, ct_infer_use use);

/* Runtime options: model, adapter, template, threads, quantization, precision (infer_dtype
 * bfloat16 / float16 → CT_PRECISION_BF16). The strings point into c. */
void ct_infer_config_runtime_opts(const ct_infer_config *c, ct_runtime_opts *o);
/* Sets p's sampling keys as LlamaFactory's HF engine does: do_sample false or temperature 0 =
 * greedy; otherwise temperature, top_p, top_k; repetition_penalty, max_new_tokens and seed
 * always (eos ids and callbacks are left as they are). */
void ct_infer_config_gen_params(const ct_infer_config *c, ct_gen_params *p);
/* Export options: infer_dtype (auto = the model's stored dtype) and export_size. */
void ct_infer_config_export_opts(const ct_infer_config *c, ct_export_opts *o);
/* GGUF options (export_quantization, default f16); true when export_format is gguf. */
bool ct_infer_config_gguf_opts(const ct_infer_config *c, ct_gguf_export_opts *o);

#ifdef __cplusplus
}
#endif
#endif
