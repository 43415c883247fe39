/* report_to: mlflow — an MLflow file store, laid out as MLflow's FileStore writes it
 * (mlflow/store/tracking/file_store.py), so `mlflow ui --backend-store-uri <root>` (or any
 * MLflow client pointed at file:<root>) reads the run:
 *
 *   <root>/.trash/
 *   <root>/<experiment_id>/meta.yaml     artifact_location, creation_time, experiment_id,
 *                                         last_update_time, lifecycle_stage, name
 *   <root>/<experiment_id>/<run_id>/meta.yaml
 *                                         artifact_uri, end_time, entry_point_name,
 *                                         experiment_id, lifecycle_stage, run_id, run_name,
 *                                         run_uuid, source_name, source_type (4 LOCAL),
 *                                         source_version, start_time, status (1 RUNNING,
 *                                         3 FINISHED, 4 FAILED, 5 KILLED), tags: [], user_id
 *   .../<run_id>/params/<key>              str(value), no newline
 *   .../<run_id>/metrics/<key>             one "<timestamp_ms> <value> <step>" line per value
 *   .../<run_id>/tags/<key>                mlflow.runName, mlflow.user, mlflow.source.name,
 *                                         mlflow.source.type, + MLFLOW_TAGS
 *   .../<run_id>/artifacts/
 * (yaml.safe_dump of the dicts: keys sorted, block style.) Experiment 0 "Default" is created
 * with the store, as FileStore's constructor does.
 *
 * What is logged is HF's MLflowCallback: params = the hyperparameters (values longer than
 * MLflow's 6000-character limit are left out, as HF drops them); metrics at step = optimizer
 * step: loss, grad_norm, learning_rate, epoch per logging step; eval_loss, epoch per
 * evaluation; train_runtime, train_samples_per_second, train_steps_per_second, train_loss,
 * epoch at the end. The run ends FINISHED, KILLED when stopped early (Ctrl-C), FAILED when
 * training failed. */
#ifndef CT_TRAIN_MLFLOW_STORE_H
#define CT_TRAIN_MLFLOW_STORE_H

#include <jansson.h>

#include "ctune/callback.h"
#include "ctune/config.h"
#include "ctune/err.h"
#include "train/tracker.h"

typedef struct ct_mlflow_opts {
    const char *root;             /* the store directory */
    const char *experiment_name;  /* NULL: experiment 0 ("Default") */
    const char *experiment_id;    /* id given to a new named experiment (NULL: 18 random digits) */
    const char *run_id;           /* continue this existing run (MLFLOW_RUN_ID) */
    const char *new_run_id;       /* id of a new run (NULL: uuid4().hex) */
    const char *run_name, *user, *source_name;
    const json_t *tags;           /* extra run tags {key: value} (MLFLOW_TAGS; borrowed) */
    const json_t *params;         /* the hyperparameters (borrowed) */
    ct_tracker_clock clock;       /* NULL: ct_tracker_now */
    void *clock_user;
    char *owned_root;
    json_t *owned_tags;
} ct_mlflow_opts;

/* Options as HF's MLflowCallback and MLflow read them: MLFLOW_TRACKING_URI (a file: URI or a
 * plain path; anything else — http(s), databricks, a database — is refused: ctune writes file
 * stores only), else MLFLOW_TRACKING_DIR, else ./mlruns; MLFLOW_EXPERIMENT_NAME; MLFLOW_RUN_ID;
 * MLFLOW_TAGS (a JSON object); run name = the config's run_name, else output_dir (HF). */
ct_status ct_mlflow_opts_from_env(ct_mlflow_opts *o, const ct_train_config *c, ct_err *err);
void ct_mlflow_opts_clear(ct_mlflow_opts *o);

/* Creates (or reopens) the run and logs params and tags. The callback's user is the run. */
ct_status ct_callback_mlflow(ct_callback *cb, const ct_mlflow_opts *o, ct_err *err);
const char *ct_mlflow_run_id(const void *run);
const char *ct_mlflow_run_dir(const void *run);
const char *ct_mlflow_root(const void *run); /* the store, absolute */
/* Params of a continued run (MLFLOW_RUN_ID) whose value changed and was kept as first logged
 * (MLflow params are immutable), comma-separated; NULL when none. */
const char *ct_mlflow_kept_params(const void *run);

#endif
