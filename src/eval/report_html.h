/* report.html of an eval run: one self-contained page (no network: inline CSS, SVG and a few
 * lines of JS) with, per task, a bar chart per metric comparing the models side by side, a table
 * of every metric per subset and model, and each model's failed samples (a review with passed /
 * correct / a think-mode flag false; the first 50) with the model output next to the reference.
 * Built from the run's reports/, predictions/ and reviews/ files. docs/eval.md, "report.html". */
#ifndef CT_EVAL_REPORT_HTML_H
#define CT_EVAL_REPORT_HTML_H

#include <stddef.h>

#include "ctune/err.h"

/* Writes run_dir/report.html atomically; a report missing for a model and task shows as "-". */
ct_status ct_eval_report_html(const char *run_dir, const char *const *models, size_t n_models, const char *const *tasks,
                              size_t n_tasks, ct_err *err);

#endif
