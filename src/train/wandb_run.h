/* report_to: wandb — a W&B offline run directory, the one `wandb sync` uploads:
 *
 *   <wandb_dir>/offline-run-<YYYYMMDD_HHMMSS local>-<run_id>/
 *     run-<run_id>.wandb         the transaction log (io/wandb_log.h framing, wandb_record.h)
 *     files/config.yaml          the config as wandb-core writes it ({key: {value: v}})
 *     files/wandb-summary.json   the final summary
 *     files/wandb-metadata.json  host, program, OS, start time (uploaded through a Files record)
 *     files/output.log           one line per logging / eval step (also sent as OutputRaw records)
 *   <wandb_dir>/latest-run -> offline-run-...
 *
 * `wandb sync` replays the log straight into wandb's sender (core/internal/runsync: no handler
 * runs), so the log holds what wandb's handler would have written for HF's WandbCallback:
 *   Header, Run, Config (the hyperparameters), Metric "train/global_step" and glob "*" with
 *   step_metric train/global_step (WandbCallback's define_metric calls), a Files record for
 *   wandb-metadata.json; then per logged row (on_log: train/loss, train/grad_norm,
 *   train/learning_rate, train/epoch; on_evaluate: eval/loss, train/epoch; both with
 *   train/global_step = optimizer step, HF's rewrite_logs names) the handler's sequence:
 *   Metric records for names seen the first time (glob matches), Summary {_wandb.runtime,
 *   _runtime} (int seconds), Summary of the row's values, History {row + _runtime, _step,
 *   _timestamp; step = _step} with _step counting rows from 0; at the end Summary records for
 *   train_runtime, train_samples_per_second, train_steps_per_second, train_loss, a last row
 *   {train/epoch, train/global_step}, Summary {_wandb.runtime, _runtime}, Exit {exit_code,
 *   runtime}. Exit code: 0 finished, 130 stopped early (Ctrl-C / should_stop, checkpoint saved),
 *   1 when training failed. Times: _runtime = the event's elapsed_s, _timestamp = start + it. */
#ifndef CT_TRAIN_WANDB_RUN_H
#define CT_TRAIN_WANDB_RUN_H

#include <jansson.h>
#include <stdbool.h>

#include "ctune/callback.h"
#include "ctune/config.h"
#include "ctune/err.h"
#include "train/tracker.h"

typedef struct ct_wandb_opts {
    const char *wandb_dir;        /* runs go in <wandb_dir>/offline-run-... */
    const char *run_id;           /* NULL: 8 random [0-9a-z] (wandb's generate_id) */
    const char *project, *entity, *name, *notes, *group, *job_type;
    const char *tags;             /* comma-separated */
    /* wandb-metadata.json (NULL / 0: this machine) */
    const char *host, *username, *os, *executable, *root;
    int cpu_count;
    const json_t *config;         /* the hyperparameters (borrowed) */
    ct_tracker_clock clock;       /* NULL: ct_tracker_now */
    void *clock_user;
    char *owned_dir;              /* wandb_dir as ct_wandb_opts_from_env allocated it */
} ct_wandb_opts;

/* Options as wandb + HF's WandbCallback read them: WANDB_DIR (the run goes in $WANDB_DIR/wandb,
 * default ./wandb), WANDB_PROJECT (default "huggingface", as HF), WANDB_ENTITY, WANDB_RUN_ID,
 * WANDB_NOTES, WANDB_TAGS, WANDB_RUN_GROUP, WANDB_JOB_TYPE; the run name is the config's
 * run_name, else WANDB_NAME, else output_dir (HF's default run_name). WANDB_MODE=disabled or
 * WANDB_DISABLED=true: *enabled = false. *note (malloc'd, may be NULL) says what was decided
 * when the user should know (e.g. WANDB_MODE=online: ctune writes offline). */
ct_status ct_wandb_opts_from_env(ct_wandb_opts *o, const ct_train_config *c, bool *enabled, char **note,
                                 ct_err *err);
void ct_wandb_opts_clear(ct_wandb_opts *o);

/* Creates the run directory and writes the opening records. The callback's user is the run. */
ct_status ct_callback_wandb(ct_callback *cb, const ct_wandb_opts *o, ct_err *err);
const char *ct_wandb_run_dir(const void *run);

#endif
