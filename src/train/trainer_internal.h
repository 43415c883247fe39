/* Trainer state shared by src/train/trainer*.c (not a public header). */
#ifndef CT_TRAIN_TRAINER_INTERNAL_H
#define CT_TRAIN_TRAINER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/file.h"
#include "ctune/callback.h"
#include "ctune/config.h"
#include "ctune/tokenizer.h"
#include "ctune/train.h"
#include "model/model.h"
#include "io/st_writer.h"
#include "peft/method.h"
#include "train/badam.h"
#include "train/galore.h"
#include "train/optim.h"
#include "train/step.h"
#include "train/trainer_data.h"
#include "train/trainer_dist.h"
#include "train/trainer_state.h"

struct ct_peft_adapter;

/* LoRA settings in effect and the adapters around the run (src/train/trainer_peft.c). */
typedef struct ct_trainer_lora {
    double alpha, dropout;           /* from the config, or from the adapter training continues */
    bool rslora;
    char **mts;                      /* modules_to_save names */
    size_t n_mts;
    struct ct_peft_adapter *resume;  /* the adapter training continues (adapter_name_or_path), or NULL */
    struct ct_adapter **merged;      /* adapters merged into the base first (all but the last one, or all
                                        with create_new_adapter) */
    ct_model *views;                 /* views[i]: the base with merged[0..i] merged in */
    size_t n_merged;
} ct_trainer_lora;

typedef struct ct_trainer {
    const ct_train_config *cfg;
    ct_train_opts opts;
    ct_callbacks *user_cbs;  /* caller's callbacks (may be NULL) */
    ct_callbacks sinks;      /* built-in: trainer_log.jsonl, TensorBoard, loss plot */
    char *model_dir;
    ct_ctx *ctx;             /* threads (config `threads`), precision, scratch */
    ct_model *model;
    struct ct_adapter *adapter; /* eval_only + adapter_name_or_path (ctune/adapter.h) */
    ct_tokenizer *tok;
    ct_loader *loader;
    ct_loader_info info;
    ct_train_model tm;
    bool tm_ready;
    ct_trainer_lora lora;
    bool frozen_f32;         /* frozen weights were given f32 copies (ct_train_model_cache_frozen_f32) */
    ct_adamw opt;
    ct_scheduler sched;
    /* BAdam / LLaMA Pro / GaLore (trainer_methods.c) */
    int layer_ids[CT_MAX_LAYERS]; /* LLaMA Pro's expanded blocks, or BAdam's active block */
    size_t n_layer_ids;
    bool badam_on;
    ct_badam badam;
    ct_badam badam_start;    /* the schedule before step 1: what a checkpoint's is replayed from */
    bool galore_on;
    ct_galore galore;
    size_t B, GA;
    size_t n_micro;          /* micro-batches per epoch */
    int64_t steps_per_epoch, total_steps;
    /* position: the next step uses micro-batches [micro_pos, ...) of epoch `epoch` */
    int64_t step;
    int64_t epoch;
    size_t micro_pos;
    size_t *perm;
    int64_t perm_epoch;
    /* accumulators (saved in checkpoints so resumed logs are identical) */
    double log_loss_sum;
    int64_t log_count;
    double run_loss_sum;     /* this process's steps, for train_loss */
    int64_t run_steps;
    int64_t total_tokens;
    int64_t run_tokens;
    int64_t run_samples;
    double last_grad_norm;
    double last_eval_loss;
    int64_t last_eval_step;
    double t0;               /* monotonic start of this run */
    int64_t saved_step;      /* step of the newest checkpoint saved or resumed from; -1: none */
    char *last_ckpt;    /* newest checkpoint directory of this run (NULL: none yet) */
    char *resumed_from; /* the checkpoint this run resumed from (NULL: a fresh run) */
    ct_trainer_dist dist;    /* MPI data parallel: rank, ranks, ZeRO-1 shard (trainer_dist.h) */
    ct_dir_lock lock;        /* on output_dir/CT_TRAINER_LOCK while the run lasts (rank 0) */
    bool created_output_dir;
} ct_trainer;

/* The lock file of a training run in output_dir (ct_dir_lock_take). */
#define CT_TRAINER_LOCK ".ctune-train.lock"
/* The final outputs are built here and moved into output_dir once all are written. */
#define CT_TRAINER_FINAL_TMP ".final.tmp"

double ct_trainer_now(void);
void ct_trainer_msg(ct_trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fractional epoch after `step` optimizer steps. */
double ct_trainer_epoch_at(const ct_trainer *t, int64_t step);

/* trainer_methods.c: BAdam, LLaMA Pro and GaLore. Before ct_train_model_init: their part of
 * the method set-up; after the optimizer is initialised: their state and messages; per step:
 * the optimizer update (GaLore's or AdamW) and BAdam's block switch. */
ct_status ct_trainer_method_cfg(ct_trainer *t, ct_method_cfg *mc, ct_err *err);
ct_status ct_trainer_method_setup(ct_trainer *t, ct_err *err);
ct_status ct_trainer_optimizer_step(ct_trainer *t, double lr, float clip, ct_err *err);
void ct_trainer_method_free(ct_trainer *t);
/* Checkpoints (BAdam's schedule is trainer_state.json's "badam", src/train/trainer_state.h): the
 * items of CT_CKPT_BLOCKS (the non-active blocks that trained, in the model's dtype; the active
 * block is the registry); before the registry is restored from a checkpoint: the checked
 * schedule `b` made the run's, its block active and the other trained blocks reloaded. */
#define CT_CKPT_BLOCKS "badam_blocks.safetensors"
ct_status ct_trainer_method_blocks(ct_trainer *t, ct_st_item **items, char (**names)[192], size_t *n, ct_err *err);
ct_status ct_trainer_method_resume(ct_trainer *t, const char *dir, const ct_badam *b, ct_err *err);

/* trainer_save.c */
ct_status ct_trainer_save_checkpoint(ct_trainer *t, ct_err *err);
ct_status ct_trainer_load_checkpoint(ct_trainer *t, const char *dir, ct_err *err);
/* What a checkpoint's trainer_state.json must agree with to resume this run. */
void ct_trainer_layout_of(const ct_trainer *t, ct_trainer_layout *L);
/* The final outputs (adapter or HF model dir, tokenizer files), written into
 * output_dir/CT_TRAINER_FINAL_TMP and moved into output_dir when all are written (configs last):
 * a failure (disk full) or a kill while writing leaves none of them in output_dir. */
ct_status ct_trainer_save_final(ct_trainer *t, ct_err *err);
/* Removes a final-save temp dir left by a killed run. */
ct_status ct_trainer_final_cleanup(const char *output_dir, ct_err *err);
/* Keeps the lines of output_dir/trainer_log.jsonl with current_steps <= step. */
ct_status ct_trainer_trim_log(const char *output_dir, int64_t step, ct_err *err);
/* Writes the LoRA adapter in dir: init_true writes init_lora_weights true whatever the method
 * (PiSSA's saved-as-is copies); convert_from (PiSSA -> LoRA, PEFT's
 * path_initial_model_for_weight_conversion): A' = [A; A0], B' = [B, -B0], r and alpha doubled. */
ct_status ct_trainer_save_lora(ct_trainer *t, const char *dir, bool init_true, const struct ct_peft_adapter *convert_from,
                               ct_err *err);
/* Writes the prompt-tuning adapter (PEFT PROMPT_TUNING) in dir. */
ct_status ct_trainer_save_prompt(ct_trainer *t, const char *dir, ct_err *err);

/* trainer_peft.c: the LoRA-family keys of the config. */
/* Fills mc's DoRA / LoRA+ / PiSSA / adapter fields and t->lora; merges the adapters to merge and
 * loads the one to continue; *base: the model the method trains on (the base, or the view with
 * merged adapters). */
ct_status ct_trainer_peft_setup(ct_trainer *t, ct_method_cfg *mc, const ct_model **base, ct_err *err);
/* eval_only: adapter_name_or_path as LlamaFactory loads it for inference (all but the last merged,
 * the last one as t->adapter). */
ct_status ct_trainer_peft_eval_adapter(ct_trainer *t, ct_err *err);
/* At train begin of a fresh run: pissa_convert keeps the initial adapter in output_dir/pissa_init. */
ct_status ct_trainer_peft_begin(ct_trainer *t, ct_err *err);
/* After the final save: pissa_convert writes output_dir/pissa_backup and pissa_converted. */
ct_status ct_trainer_peft_end(ct_trainer *t, ct_err *err);
void ct_trainer_peft_free(ct_trainer *t);

#endif
