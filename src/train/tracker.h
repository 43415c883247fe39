/* Experiment trackers behind `report_to` (docs/outputs.md, docs/compat.md "## report_to"):
 *   tensorboard  events file in output_dir                 (src/train/tfevents.c)
 *   wandb        a W&B offline run directory, uploadable with `wandb sync` (src/train/wandb_run.c)
 *   mlflow       an MLflow file store (mlruns/), readable by `mlflow ui`  (src/train/mlflow_store.c)
 *   swanlab      the W&B offline run, with a note: SwanLab imports it (`swanlab convert -t
 *                wandb-local`); ctune does not write SwanLab's own backup format. LlamaFactory's
 *                use_swanlab: true is the same; swanlab_project / swanlab_run_name name the W&B
 *                run (when W&B itself is not asked for), swanlab_workspace / _mode / _logdir go
 *                into the printed command; swanlab_api_key and the Lark keys are never written
 *   all          tensorboard + wandb + mlflow;  none  nothing
 * What each records mirrors HF transformers' WandbCallback / MLflowCallback over the trainer's
 * events: the run's hyperparameters ({**model config.json, **training config}), the training log
 * (loss, grad_norm, learning_rate, epoch) at every logging step, eval_loss at every evaluation,
 * and the final train_runtime / train_samples_per_second / train_steps_per_second / train_loss.
 * This file holds what the trackers share: the report_to list, the hyperparameter object, Python
 * str() of values (MLflow params), the wall clock and random ids. */
#ifndef CT_TRAIN_TRACKER_H
#define CT_TRAIN_TRACKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/callback.h"
#include "ctune/config.h"
#include "ctune/err.h"

/* Wall clock for the trackers' timestamps: Unix seconds. Tests pass a fixed one. */
typedef double (*ct_tracker_clock)(void *user);
double ct_tracker_now(void *unused);

/* Whether report_to asks for `name` (tensorboard | wandb | mlflow; "all" means all three;
 * "swanlab" also asks for "wandb", whose run SwanLab imports). */
bool ct_report_to_has(const ct_strlist *report_to, const char *name);

/* {**<model_dir>/config.json, **training config} (HF's combined_dict; training keys win), plus
 * "model/num_parameters" when n_params >= 0 (WandbCallback adds it). model_dir NULL or without
 * config.json: the training config alone. */
ct_status ct_tracker_hparams(const ct_train_config *c, const char *model_dir, int64_t n_params, json_t **out,
                             ct_err *err);

/* Python str(v) (malloc'd): strings as they are, None/True/False, ints, floats as repr, lists
 * and dicts as Python prints them (['a', 'b'], {'k': 1.0}). What MLflow's file store writes for
 * a param logged with that value. */
char *ct_py_str(const json_t *v);

/* n random characters of `alphabet` (from /dev/urandom, else the clock and pid), NUL-terminated
 * (out holds n + 1). */
void ct_tracker_random(char *out, size_t n, const char *alphabet);

/* Environment variable, or NULL when unset or empty. */
const char *ct_tracker_env(const char *name);
/* The user name as Python's getpass.getuser() finds it (LOGNAME, USER, LNAME, USERNAME, passwd). */
const char *ct_tracker_user(void);

/* Whether report_to (or LlamaFactory's use_swanlab) asks for wandb, mlflow or swanlab. */
bool ct_trackers_wanted(const ct_train_config *c);

/* Adds the sinks report_to asks for besides TensorBoard (wandb, mlflow; swanlab as above) to
 * `sinks`, saying where each writes through msg (may be NULL). hparams is borrowed. */
ct_status ct_trackers_add(ct_callbacks *sinks, const ct_train_config *c, const json_t *hparams,
                          void (*msg)(void *user, const char *text), void *msg_user, ct_err *err);

#endif
