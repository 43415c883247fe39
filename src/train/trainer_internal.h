/* Trainer state shared by src/train/trainer*.c (not a public header). */
#ifndef CT_TRAIN_TRAINER_INTERNAL_H
#define CT_TRAIN_TRAINER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctune/callback.h"
#include "ctune/config.h"
#include "ctune/tokenizer.h"
#include "ctune/train.h"
#include "io/st_writer.h"
#include "peft/method.h"
#include "train/badam.h"
#include "train/galore.h"
#include "train/optim.h"
#include "train/step.h"
#include "train/trainer_data.h"

#define CT_TRAINER_STATE_VERSION 1

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
    bool frozen_f32;         /* frozen weights were given f32 copies (ct_train_model_cache_frozen_f32) */
    ct_adamw opt;
    ct_scheduler sched;
    /* BAdam / LLaMA Pro / GaLore (trainer_methods.c) */
    int layer_ids[CT_MAX_LAYERS]; /* LLaMA Pro's expanded blocks, or BAdam's active block */
    size_t n_layer_ids;
    bool badam_on;
    ct_badam badam;
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
    char last_ckpt[1024];
    char resumed_from[1024];
} ct_trainer;

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
/* Checkpoints: BAdam's schedule as trainer_state.json's "badam" object (NULL without BAdam);
 * the items of CT_CKPT_BLOCKS (the non-active blocks that trained, in the model's dtype; the
 * active block is the registry); before the registry is restored from a checkpoint: its block
 * made active and the other trained blocks reloaded. */
#define CT_CKPT_BLOCKS "badam_blocks.safetensors"
json_t *ct_trainer_method_state(const ct_trainer *t);
ct_status ct_trainer_method_blocks(ct_trainer *t, ct_st_item **items, char (**names)[192], size_t *n, ct_err *err);
ct_status ct_trainer_method_resume(ct_trainer *t, const char *dir, const json_t *state, ct_err *err);

/* trainer_save.c */
ct_status ct_trainer_save_checkpoint(ct_trainer *t, ct_err *err);
ct_status ct_trainer_load_checkpoint(ct_trainer *t, const char *dir, ct_err *err);
ct_status ct_trainer_save_final(ct_trainer *t, ct_err *err);
/* Keeps the lines of output_dir/trainer_log.jsonl with current_steps <= step. */
ct_status ct_trainer_trim_log(const char *output_dir, int64_t step, ct_err *err);

#endif
