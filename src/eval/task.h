/* The evaluation suite's task interface: what a benchmark module (mcq, qa, loss, think, risk, and
 * json, fc) implements to run under `ctune eval`, and the services the suite gives it.
 *
 * A task is a constant ct_eval_task: its dataset name ("general_mcq", as EvalScope's `datasets`
 * list names it) and a short alias ("mcq"), the key table of its `dataset_args.<name>` mapping
 * (filled into a zeroed struct of args_size bytes through src/base/cfgfile.c, so an unknown key
 * is an error naming file:line), and four functions:
 *
 *   load   checks the args and reads the benchmark files once (errors name file:line);
 *   count  the samples `run` will evaluate under a limit (sizes the progress bar);
 *   run    evaluates every sample on one model (env): for each sample it calls ct_eval_emit
 *          (a predictions/ line and a reviews/ line), ct_eval_add for each metric value and
 *          ct_eval_tick; it may run once per model on the same state;
 *   free   releases the state.
 *
 * The suite (src/eval/suite.c) turns the ct_eval_add values into EvalScope's report layout:
 * per metric, score = the mean over all samples, macro_score = the mean of the per-subset means;
 * the first metric a task adds is its main score. To add a task: write src/eval/<task>.c with a
 * `const ct_eval_task ct_eval_task_<x>` and list it in k_tasks (src/eval/env.c). */
#ifndef CT_EVAL_TASK_H
#define CT_EVAL_TASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cfgfile.h"
#include "ctune/data.h"
#include "ctune/err.h"
#include "ctune/generate.h"
#include "ctune/runtime.h"

typedef struct ct_eval_env ct_eval_env;
typedef struct ct_eval_subsets ct_eval_subsets;

typedef struct ct_eval_task {
    const char *name;  /* dataset name in configs, file names and reports */
    const char *alias; /* accepted in `datasets` too; NULL: none */
    const ct_cfg_key *keys;
    size_t n_keys;
    size_t args_size;
    /* `where` names the config ("eval.yaml") for messages about the args. */
    ct_status (*load)(const void *args, const char *where, void **state, ct_err *err);
    size_t (*count)(const void *state, int64_t limit);
    ct_status (*run)(void *state, ct_eval_env *env, ct_err *err);
    void (*free)(void *state);
} ct_eval_task;

const ct_eval_task *ct_eval_task_find(const char *name); /* by name or alias; NULL if none */
/* The names of every task, ", "-separated (for messages). */
const char *ct_eval_task_names(void);

/* ---- services for a running task ---- */
struct ct_eval_env {
    ct_runtime *rt;
    const char *model_name;
    ct_gen_params gen;     /* generation_config over the model's defaults (no stop ids added) */
    int64_t limit;         /* at most this many samples per subset; < 0: all */
    size_t batch;          /* eval_batch_size: generation tasks decode this many samples together */
    void *suite;           /* the suite's sinks (src/eval/suite.c) */
};

/* One sample's record: `prediction` goes to predictions/<model>/<task>.jsonl and `review` to
 * reviews/<model>/<task>.jsonl, each with "subset" added; both are consumed (decref'd). */
ct_status ct_eval_emit(ct_eval_env *e, const char *subset, json_t *prediction, json_t *review, ct_err *err);
/* One sample's value of a metric in a subset (averaged by the report). */
ct_status ct_eval_add(ct_eval_env *e, const char *metric, const char *subset, double value, ct_err *err);
/* A weighted contribution: the subset's score is sum(values) / sum(weights) (a token-weighted
 * loss adds a line's NLL sum with its token count). */
ct_status ct_eval_add_sum(ct_eval_env *e, const char *metric, const char *subset, double sum, double weight,
                          ct_err *err);
/* One sample done (progress bar). */
void ct_eval_tick(ct_eval_env *e);

/* Greedy / configured generation for a prompt of ids; the decoded text (special tokens skipped)
 * in *text (malloc'd). chat: the template's end-of-turn token stops too. */
ct_status ct_eval_generate_ids(ct_eval_env *e, const int32_t *ids, size_t n, bool chat, char **text, ct_err *err);
/* The conversation rendered with the model's chat template (generation prompt added,
 * enable_thinking as given), then generated as above. */
ct_status ct_eval_generate_chat(ct_eval_env *e, const ct_conv *conv, ct_think think, char **text, ct_err *err);
/* The ids ct_eval_generate_chat generates from (appended to *ids). */
ct_status ct_eval_encode_chat(ct_eval_env *e, const ct_conv *conv, ct_think think, ct_ids *ids, ct_err *err);

/* Batched answers (src/eval/gen_batch.c): samples 0 .. n-1 are asked for in order with
 * ct_eval_gen_text; on a sample outside the current window, fn gives the conversations (and
 * enable_thinking) of it and the next batch-1 samples, which are rendered and decoded together
 * (ct_runtime_generate_batch). The texts are those ct_eval_generate_chat gives one at a time.
 * fn's *conv only needs to live until fn is called again. */
typedef ct_status (*ct_eval_conv_fn)(void *user, size_t i, const ct_conv **conv, ct_think *think, ct_err *err);
typedef struct ct_eval_gen {
    ct_eval_env *env;
    ct_eval_conv_fn fn;
    void *user;
    size_t n, batch, lo, hi; /* texts[k - lo] for samples lo <= k < hi */
    char **texts;
    const char *items; /* ct_eval_gen_subset */
    size_t stride;
} ct_eval_gen;
void ct_eval_gen_init(ct_eval_gen *g, ct_eval_env *e, size_t n, size_t batch, ct_eval_conv_fn fn, void *user);
/* The cursor over subset i of s (each item's ct_eval_sample conv, enable_thinking false), for
 * the subset's samples under --limit, e->batch at a time. */
void ct_eval_gen_subset(ct_eval_gen *g, ct_eval_env *e, const struct ct_eval_subsets *s, size_t i);
/* Sample i's answer (malloc'd, the caller's). */
ct_status ct_eval_gen_text(ct_eval_gen *g, size_t i, char **text, ct_err *err);
void ct_eval_gen_free(ct_eval_gen *g);

/* A sample's prompt: its "messages" (OpenAI layout, "tools" included; must end with a user or
 * tool message), else `question` put in tpl ("{question}"; NULL: as is) as the user message,
 * after the row's "system" or `system` (NULL: none). *out is initialised even on error. */
ct_status ct_eval_prompt_conv(const json_t *row, const char *tpl, const char *question, const char *system,
                              const char *where, ct_conv *out, ct_err *err);

/* ---- shared file reading ---- */
/* Calls fn for every non-blank line of a JSONL file with the parsed object; errors name
 * "path:line". An empty file is an error. */
typedef ct_status (*ct_eval_row_fn)(void *user, json_t *row, const char *where, ct_err *err);
ct_status ct_eval_read_jsonl(const char *path, ct_eval_row_fn fn, void *user, ct_err *err);
/* ct_eval_read_jsonl of DIR/SUBSET.jsonl (EvalScope's local_path + subset_list layout). */
ct_status ct_eval_read_subset(const char *dir, const char *subset, ct_eval_row_fn fn, void *user, ct_err *err);
/* How many of a subset's n samples run under --limit (negative: all). */
static inline size_t ct_eval_take(size_t n, int64_t limit) { return limit >= 0 && (size_t)limit < n ? (size_t)limit : n; }

/* Subsets of one item type read from DIR/SUBSET.jsonl (src/eval/subsets.c). Every item starts
 * with a ct_eval_sample: the loader sets its id (the row's "id", else the item's index in the
 * subset) and where ("path:line") and frees all of it. The task sets item_size and item_free
 * (frees what the rest of an item owns, may be NULL), then loads: fn fills the item's conv and
 * the rest from a row that is a JSON object, and on error frees what it allocated. */
typedef struct ct_eval_sample {
    ct_conv conv; /* the prompt (ct_eval_prompt_conv) */
    char *id, *where;
} ct_eval_sample;
typedef ct_status (*ct_eval_item_fn)(void *user, void *item, json_t *row, const char *where, ct_err *err);
typedef struct ct_eval_subset {
    char *name;
    void *items;
    size_t n, cap;
} ct_eval_subset;
struct ct_eval_subsets {
    size_t item_size;
    void (*item_free)(void *item);
    ct_eval_subset *v;
    size_t n;
};
ct_status ct_eval_subsets_load(ct_eval_subsets *s, const char *dir, const ct_strlist *names, ct_eval_item_fn fn,
                               void *user, ct_err *err);
void ct_eval_subsets_free(ct_eval_subsets *s); /* the items, names and arrays; s stays reusable */
size_t ct_eval_subsets_count(const ct_eval_subsets *s, int64_t limit); /* samples under --limit */
/* The whole state of a task that is its args plus subsets (qa, general_fc): load reads
 * dir/names into a new state (fn gets the state as user), free and count fit ct_eval_task. */
typedef struct ct_eval_subsets_state {
    const void *args;
    ct_eval_subsets subsets;
} ct_eval_subsets_state;
ct_status ct_eval_subsets_state_load(const void *args, const char *dir, const ct_strlist *names, size_t item_size,
                                     void (*item_free)(void *), ct_eval_item_fn fn, void **out, ct_err *err);
void ct_eval_subsets_state_free(void *state);
size_t ct_eval_subsets_state_count(const void *state, int64_t limit);
static inline void *ct_eval_subset_item(const ct_eval_subsets *s, size_t subset, size_t j) {
    return (char *)s->v[subset].items + j * s->item_size;
}

extern const ct_eval_task ct_eval_task_mcq, ct_eval_task_qa, ct_eval_task_loss, ct_eval_task_think,
    ct_eval_task_risk, ct_eval_task_json, ct_eval_task_fc;

#endif
