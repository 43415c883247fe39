/* EvalScope general_mcq benchmark files: a directory with {subset}_dev and {subset}_val files,
 * CSV (header row) or JSONL, columns id, question, A, B, ... (consecutive letters up to J, at
 * least two), answer (one of the letters). dev rows are the few-shot examples, val rows the
 * questions. Errors name path:line and the column. */
#ifndef CT_EVAL_MCQ_DATA_H
#define CT_EVAL_MCQ_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "ctune/config.h"
#include "ctune/err.h"

#define CT_MCQ_MAX_OPTS 10

typedef struct ct_mcq_item {
    char *id, *question;
    char *opts[CT_MCQ_MAX_OPTS];
    int n_opts;
    int answer; /* index into opts */
} ct_mcq_item;

typedef struct ct_mcq_subset {
    char *name;
    ct_mcq_item *dev, *val;
    size_t n_dev, n_val;
} ct_mcq_subset;

/* Reads the subsets of `dir` (subset_list: those; empty: every {name}_val.csv / .jsonl there,
 * sorted). A subset's _dev file is only needed when need_dev. */
ct_status ct_mcq_load_dir(const char *dir, const ct_strlist *subsets, int need_dev, ct_mcq_subset **out,
                          size_t *n_out, ct_err *err);
void ct_mcq_subsets_free(ct_mcq_subset *s, size_t n);



/* The option a generated answer names (general_mcq generation mode), EvalScope's parser:
 * src/eval/mcq_extract.c; zh: the Chinese templates' "答案：" marker, else "ANSWER:". -1: none. */
int ct_mcq_extract(const char *output, int n_opts, bool zh);

#endif
