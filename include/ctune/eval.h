/* ctune — the evaluation suite (`ctune eval`, docs/eval.md): EvalScope-style benchmarks on one or
 * more models side by side (the base model, the base with each adapter, other model directories
 * such as a merged export), written as EvalScope's output tree:
 *   <work_dir>/<timestamp>/predictions/<model>/<task>.jsonl   input, output, parsed answer
 *   <work_dir>/<timestamp>/reviews/<model>/<task>.jsonl       per-sample verdict and why
 *   <work_dir>/<timestamp>/reports/<model>/<task>.json        EvalScope's report layout
 * and a console table (model x task x metric).
 *
 *   ct_eval_opts o = ct_eval_opts_default();  o.config_path = "eval.yaml";
 *   char *run_dir;  ct_eval_run(&o, &run_dir, &err); */
#ifndef CTUNE_EVAL_H
#define CTUNE_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ctune/err.h"
#include "ctune/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_eval_opts {
    const char *config_path; /* the YAML TaskConfig (required) */
    int64_t limit;           /* > = 0: overrides the config's limit; -1: the config's */
    int threads;             /* > 0: overrides the config's threads */
    ct_batch_precision batch_precision; /* generation answers decoded together (eval_batch_size
                                           > 1): CT_BATCH_EXACT (default) or CT_BATCH_BF16DOT */
    const char *work_dir;    /* overrides the config's work_dir */
    const char *quant;       /* "q8_0" / "q4_0": overrides the config's quant (weights quantized on load) */
    const char *timestamp;   /* the run directory's name; NULL: the local time, YYYYMMDD_HHMMSS */
    FILE *console;           /* the table (NULL: none) */
    FILE *progress;          /* progress bar on a terminal, else one line per task (NULL: none) */
    /* Training (eval_tasks): when set, the run evaluates model + adapter only, named "eval"
     * (the config's model, adapters, models and eval_base are not used; model overrides it). */
    const char *model;
    const char *adapter;
    /* Training (full / freeze): model's weights as held in memory at this step, evaluated (named
     * "eval") instead of loading the directory; the tokenizer still comes from `model`. */
    const ct_model *loaded;
} ct_eval_opts;

ct_eval_opts ct_eval_opts_default(void);

/* Runs every dataset on every model; *run_dir (malloc'd, optional) names the output directory. */
ct_status ct_eval_run(const ct_eval_opts *o, char **run_dir, ct_err *err);

/* Per-metric differences between two run directories' reports (RUN2 - RUN1) printed to out;
 * a drop of a higher-is-better metric (or a rise of loss / ppl) is a regression, marked and
 * counted in *regressions. Reports present in only one run are listed as such. */
ct_status ct_eval_compare(const char *run1, const char *run2, FILE *out, int *regressions, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
