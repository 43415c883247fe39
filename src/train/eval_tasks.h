/* eval_tasks: `ctune eval` tasks run on the model being trained (eval_tasks.c). */
#ifndef CT_TRAIN_EVAL_TASKS_H
#define CT_TRAIN_EVAL_TASKS_H

#include "train/trainer_internal.h"

typedef struct ct_eval_scores {
    char **names; /* "task/metric" */
    double *values;
    size_t n;
} ct_eval_scores;

/* Runs cfg->eval_tasks on the model at the current step (LoRA / prompt tuning: base + the
 * adapter saved in <output_dir>/eval/step-N/adapter; full / freeze: the weights held in memory)
 * into <output_dir>/eval/step-N/ and returns every report metric's score. */
ct_status ct_trainer_eval_tasks(ct_trainer *t, ct_eval_scores *out, ct_err *err);
void ct_eval_scores_free(ct_eval_scores *s);

#endif
