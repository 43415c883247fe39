/* eval_tasks: `ctune eval` tasks run on the adapter during training (eval_tasks.c). */
#ifndef CT_TRAIN_EVAL_TASKS_H
#define CT_TRAIN_EVAL_TASKS_H

#include "train/trainer_internal.h"

typedef struct ct_eval_scores {
    char **names; /* "task/metric" */
    double *values;
    size_t n;
} ct_eval_scores;

/* Saves the adapter at the current step, runs cfg->eval_tasks on base + adapter into
 * <output_dir>/eval/step-N/ and returns every report metric's score. LoRA only. */
ct_status ct_trainer_eval_tasks(ct_trainer *t, ct_eval_scores *out, ct_err *err);
void ct_eval_scores_free(ct_eval_scores *s);

#endif
