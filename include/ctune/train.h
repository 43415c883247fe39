/* ctune — the training loop: `ctune train CONFIG.yaml` as a library call.
 *
 *   ct_train_config cfg;  ct_train_config_init(&cfg);  ct_train_config_load(&cfg, path, &err);
 *   ct_train_result res;
 *   ct_train_run(&cfg, &my_callbacks, &res, &err);     // callbacks may be NULL
 *   ct_train_result_clear(&res);
 *
 * What one run does (docs/training.md): load the model + tokenizer (model_name_or_path), the
 * datasets (train + val_size split or eval_dataset), set up the method (full | freeze | lora |
 * prompt), then per optimizer step: gradient_accumulation_steps micro-batches of
 * per_device_train_batch_size rows (padded to the longest row, or packed), loss normalised by the
 * trained tokens of the whole step, clip by max_grad_norm, AdamW, scheduler with warmup.
 * The row order of epoch e is a seeded permutation that depends only on (seed, e).
 * Outputs in output_dir: the adapter (PEFT) or the HF model, checkpoints, trainer_log.jsonl,
 * TensorBoard events, training_loss.svg, all_results.json. Resuming from a checkpoint continues
 * the same run: the losses after resuming are bitwise those of an uninterrupted run. A run holds
 * an exclusive lock on output_dir (a second run into it fails with CT_ERR_BUSY naming the pid). */
#ifndef CTUNE_TRAIN_H
#define CTUNE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/callback.h"
#include "ctune/config.h"
#include "ctune/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_train_result {
    int64_t global_step, total_steps;
    double epoch;
    double train_loss;       /* mean of the step losses of this run (HF train_loss) */
    double eval_loss;        /* last evaluation (NAN if none) */
    double runtime_s;
    double samples_per_s, steps_per_s, tokens_per_s;
    int64_t total_tokens;    /* input tokens seen (including resumed ones) */
    int64_t trainable_params, total_params;
    bool interrupted;        /* stopped early (Ctrl-C / SIGTERM or a callback's should_stop): a checkpoint of
                                the last step is saved (none when it stopped before its first step) */
    char *last_checkpoint;   /* newest checkpoint directory (NULL when none was saved); owned by the result */
} ct_train_result;

/* Frees what a ct_train_run filled in (safe on a result of a failed run, and twice). */
void ct_train_result_clear(ct_train_result *res);

/* Extra options for library users and tests. */
typedef struct ct_train_opts {
    /* Informational messages (dataset stats, method, resume). NULL: dropped. */
    void (*message)(void *user, const char *msg);
    void *message_user;
    /* Poll the Ctrl-C / SIGTERM flag (src/train/progress.h ct_sigint_*): the CLI installs the handler. */
    bool handle_sigint;
    /* Evaluate only: load the model (+ adapter_name_or_path, a LoRA merged in memory) and the
     * validation split (eval_dataset or val_size), compute res->eval_loss, write nothing. */
    bool eval_only;
} ct_train_opts;

ct_status ct_train_run(const ct_train_config *cfg, ct_callbacks *callbacks, ct_train_result *res,
                       ct_err *err);
ct_status ct_train_run_ex(const ct_train_config *cfg, ct_callbacks *callbacks,
                          const ct_train_opts *opts, ct_train_result *res, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
