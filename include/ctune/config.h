/* ctune — training configuration: LlamaFactory's YAML keys (model, data, method, training,
 * logging) with LlamaFactory / HF TrainingArguments defaults.
 *
 *   ct_train_config cfg;
 *   ct_train_config_init(&cfg);                       // defaults
 *   ct_train_config_load(&cfg, "train.yaml", &err);   // YAML: errors name file:line and key
 *   ct_train_config_set(&cfg, "learning_rate", "1e-4", "--learning_rate", &err); // overrides
 *   ct_train_config_validate(&cfg, &err);             // choices and ranges
 *   ...
 *   ct_train_config_free(&cfg);
 *
 * Unknown keys are errors that suggest the closest known key. Keys LlamaFactory accepts that
 * change nothing ctune computes (ddp_timeout, preprocessing_num_workers, flash_attn, ...) are
 * accepted and listed in `ignored` (one summary line: ct_train_config_ignored_line); keys that
 * would change training without being implemented are refused with the reason (streaming: true,
 * rope_scaling, lora_bias, ...; docs/compat.md "Commands and config"). */
#ifndef CTUNE_CONFIG_H
#define CTUNE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_strlist {
    char **v;
    size_t n;
} ct_strlist;

typedef struct ct_train_config {
    /* ---- model */
    char *model_name_or_path;
    char *adapter_name_or_path;  /* comma list in LlamaFactory; kept as one string */
    char *stage;                 /* "sft" | "pt" */
    /* ---- data */
    char *template_name;         /* key `template`; NULL = detect from tokenizer_config.json */
    ct_strlist dataset;          /* `dataset: a,b` or a YAML list */
    ct_strlist eval_dataset;
    char *dataset_dir;           /* "data" */
    int64_t cutoff_len;          /* 2048 */
    int64_t max_samples;         /* -1 = all (per dataset, as LlamaFactory) */
    double val_size;             /* 0; < 1 fraction, >= 1 count */
    bool packing;                /* default false for sft, true for pt (packing_set says if given) */
    bool packing_set;
    bool neat_packing;
    bool train_on_prompt;
    bool mask_history;
    int enable_thinking;         /* 1 true (default), 0 false, -1 null */
    bool preserve_thinking;
    char *mix_strategy;          /* concat | interleave_under | interleave_over */
    ct_strlist interleave_probs; /* numbers as strings; see ct_train_config_probs */
    char *default_system;        /* system prompt of conversations without one (LlamaFactory's) */
    char *on_bad_sample;         /* "skip" (default: skip and name malformed rows) | "fail" */
    bool think_per_turn;         /* qwen3 / qwen3_5: LlamaFactory's think block on every turn */
    char *tool_format;           /* NULL, or the template's own tool format (others refused) */
    int64_t preprocessing_batch_size; /* 1000: stage pt packing groups this many rows at a time */
    char *tokenized_path;        /* cache directory; NULL = output_dir/.cache */
    bool overwrite_cache;
    /* ---- method */
    char *finetuning_type;       /* full | freeze | lora | prompt ("lora") */
    int64_t freeze_trainable_layers;  /* 2; positive = last N, negative = first N */
    ct_strlist freeze_trainable_modules; /* ["all"] */
    ct_strlist freeze_extra_modules;
    int64_t lora_rank;           /* 8 */
    double lora_alpha;           /* -1 = unset → 2 * lora_rank (LlamaFactory) */
    double lora_dropout;         /* 0 */
    ct_strlist lora_target;      /* ["all"] */
    ct_strlist additional_target;
    bool use_rslora;
    bool use_dora;               /* DoRA (PEFT use_dora): magnitude vector per adapted linear */
    double loraplus_lr_ratio;    /* LoRA+: lr of lora_B and 1-D params = learning_rate * ratio; 0 = off */
    double loraplus_lr_embedding; /* LoRA+: lr of lora_embedding_B (1e-6; ctune has no embedding LoRA) */
    bool pissa_init;             /* PiSSA init of A, B from the SVD of W; W keeps the residual */
    int64_t pissa_iter;          /* 16: randomized SVD with that many subspace iterations; -1: exact */
    bool pissa_convert;          /* also save the adapter converted to plain LoRA (pissa_converted/) */
    bool create_new_adapter;     /* adapter_name_or_path: merge every adapter, train a new one */
    double neftune_noise_alpha;  /* NEFTune: uniform noise alpha/sqrt(L*d) on input embeddings; 0 = off */
    int64_t num_virtual_tokens;  /* 20 */
    char *prompt_tuning_init;    /* random | vocab | text */
    char *prompt_tuning_init_text;
    /* layer-wise / low-rank full fine-tuning (LlamaFactory BAdam, LLaMA Pro, GaLore keys;
     * docs/training.md "BAdam, LLaMA Pro, GaLore") */
    bool use_badam;              /* one block (decoder layer) trainable at a time */
    char *badam_mode;            /* layer | ratio (refused) */
    int64_t badam_start_block;   /* -1 = unset (null) */
    char *badam_switch_mode;     /* ascending | descending | random | fixed */
    int64_t badam_switch_interval; /* 50 */
    double badam_update_ratio;   /* 0.05 (ratio mode only) */
    char *badam_mask_mode;       /* adjacent | scatter (ratio mode only) */
    int64_t badam_verbose;       /* 0 | 1 | 2 */
    bool use_llama_pro;          /* train only the expanded blocks (freeze / lora) */
    bool use_galore;
    ct_strlist galore_target;    /* ["all"] */
    int64_t galore_rank;         /* 16 */
    int64_t galore_update_interval; /* 200 */
    double galore_scale;         /* 2.0 */
    char *galore_proj_type;      /* std | reverse_std | right | left | full */
    bool galore_layerwise;
    /* ---- training */
    double learning_rate;        /* 5e-5 */
    double num_train_epochs;     /* 3.0 */
    int64_t max_steps;           /* -1 */
    int64_t per_device_train_batch_size; /* 8 */
    int64_t per_device_eval_batch_size;  /* 8 */
    int64_t gradient_accumulation_steps; /* 1 */
    char *lr_scheduler_type;     /* linear | cosine | constant | constant_with_warmup | cosine_with_min_lr */
    double min_lr_rate;          /* cosine_with_min_lr (lr_scheduler_kwargs.min_lr_rate), 0 */
    double warmup_ratio;         /* 0 */
    int64_t warmup_steps;        /* 0 */
    double weight_decay;         /* 0 */
    double adam_beta1, adam_beta2, adam_epsilon; /* 0.9, 0.999, 1e-8 */
    char *optim;                 /* "adamw_torch"; AdamW variants (8-bit ones run 32-bit AdamW, see
                                    ct_train_config_optim_note); other optimizers are refused */
    double max_grad_norm;        /* 1.0 */
    int64_t seed;                /* 42 */
    bool gradient_checkpointing; /* false (disable_gradient_checkpointing: true forces false) */
    bool bf16;                   /* torch.autocast(bfloat16) compute (CT_PRECISION_BF16) */
    bool pure_bf16;              /* bf16 compute and trainable weights kept bf16-valued */
    bool fp16;                   /* no f16 compute on CPUs: runs as bf16 (said at start) */
    /* ---- quantization (QLoRA, bitsandbytes semantics; LoRA only) */
    int64_t quantization_bit;    /* 0 (null) = none | 4 | 8 */
    char *quantization_method;   /* "bnb" (others are refused by name) */
    char *quantization_type;     /* nf4 | fp4 (4-bit) */
    bool double_quantization;    /* true: absmax quantized again (blocks of 256, 8-bit) */
    /* ---- logging / output */
    int64_t logging_steps;       /* 500 (HF) */
    int64_t eval_steps;          /* -1 = logging_steps */
    char *eval_strategy;         /* "no" | "steps" | "epoch" */
    char *eval_tasks;            /* ctune: a `ctune eval` config run on the adapter at each evaluation */
    char *save_strategy;         /* "steps" | "epoch" (every epoch end) | "no" */
    int64_t save_steps;          /* 500 */
    int64_t save_total_limit;    /* -1 = keep all */
    char *output_dir;            /* required for train */
    bool overwrite_output_dir;
    char *resume_from_checkpoint;
    bool plot_loss;
    ct_strlist report_to;        /* none | all | tensorboard | wandb | mlflow | swanlab (docs/outputs.md) */
    char *run_name;              /* W&B display name / MLflow run name (default: output_dir, as HF) */
    /* LlamaFactory's SwanLab keys: use_swanlab = report_to swanlab; the others shape the printed
     * `swanlab convert` command (api key and Lark secrets are never written anywhere) */
    bool use_swanlab;
    char *swanlab_project, *swanlab_workspace, *swanlab_run_name, *swanlab_mode, *swanlab_api_key,
        *swanlab_logdir, *swanlab_lark_webhook_url, *swanlab_lark_secret;
    int64_t threads;             /* 0 = all cores */
    /* data parallel (docs/distributed.md): 1 = AdamW moments sharded over the MPI ranks (ZeRO-1) */
    int64_t zero_stage;
    char *deepspeed;             /* a DeepSpeed JSON config: its zero_optimization.stage read as intent */
    /* ---- bookkeeping */
    ct_strlist ignored;          /* accepted LlamaFactory keys that change nothing ctune computes */
    ct_strlist set_keys;         /* keys given by the YAML or overrides, in order */
} ct_train_config;

void ct_train_config_init(ct_train_config *c);
void ct_train_config_free(ct_train_config *c);
/* Loads a YAML mapping of keys on top of the current values. Errors: "PATH:LINE: key 'K': ..." */
ct_status ct_train_config_load(ct_train_config *c, const char *path, ct_err *err);
/* Sets one key from its text form (typed: ints, floats, YAML 1.1 booleans, null, comma lists).
 * `where` names the origin in messages ("train.yaml:12", "--learning_rate"). */
ct_status ct_train_config_set(ct_train_config *c, const char *key, const char *value, const char *where,
                              ct_err *err);
/* Applies overrides from argv[0..argc) in LlamaFactory's command-line styles: "--key value",
 * "--key=value", a bare boolean "--plot_loss" (= true) and "key=value" (every argument must be
 * one of them; '-' reads as '_' in keys). */
ct_status ct_train_config_apply_args(ct_train_config *c, int argc, char **argv, ct_err *err);
/* Checks choices and ranges (finetuning_type, lr_scheduler_type, mix_strategy, ...). */
ct_status ct_train_config_validate(const ct_train_config *c, ct_err *err);
bool ct_train_config_is_set(const ct_train_config *c, const char *key);
/* True for any key ct_train_config_set accepts (a field, an alias or a LlamaFactory key that is
 * harmless or guarded). */
bool ct_train_config_knows(const char *key);
/* "accepted for LlamaFactory compatibility, no effect in ctune: k1, k2" (malloc'd), or NULL when
 * no such key was given. */
char *ct_train_config_ignored_line(const ct_train_config *c);
/* One line saying what runs when `optim` names a variant ctune does not implement exactly (the
 * low-bit AdamW states), written into buf; NULL when the optimizer is AdamW as named. */
const char *ct_train_config_optim_note(const ct_train_config *c, char *buf, size_t n);
/* Known key closest to `key` by edit distance (NULL if none within 4 edits). */
const char *ct_train_config_suggest(const char *key);
/* interleave_probs as doubles (malloc'd, *n entries; NULL when unset). */
ct_status ct_train_config_probs(const ct_train_config *c, double **out, size_t *n, ct_err *err);
/* The data arguments of c (include/ctune/data.h) for ct_dataset_build. A view: its strings and
 * lists point into c (nothing to free), valid while c is neither changed nor freed. */
struct ct_data_args;
void ct_train_config_data_args(const ct_train_config *c, struct ct_data_args *out);
/* Effective LoRA alpha (lora_alpha, or 2 * lora_rank when unset). */
double ct_train_config_lora_alpha(const ct_train_config *c);
/* Writes every key with its value as YAML (malloc'd, NUL-terminated). */
char *ct_train_config_dump(const ct_train_config *c);
/* Every key with its typed value as one JSON object (malloc'd text; NULL when out of memory):
 * strings or null, integers, numbers, booleans, lists as arrays of strings (null when empty).
 * The hyperparameters the experiment trackers record (src/train/tracker.h). */
char *ct_train_config_dump_json(const ct_train_config *c);

#ifdef __cplusplus
}
#endif
#endif
