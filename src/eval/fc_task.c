/* The `general_fc` task (alias fc): EvalScope general_fc files ({subset}.jsonl in local_path,
 * lines with "messages", "tools" (OpenAI function specs), "should_call_tool" and, for BFCL's AST
 * checks, optional "expected_calls"). The tools are rendered through the model's chat template
 * (its tools section), the answer is parsed for <tool_call> blocks and scored by metric_fc.h:
 * tool_call_f1 (the main score, as EvalScope's), precision, recall, schema_accuracy,
 * ast_accuracy, irrelevance_accuracy, pass_rate. docs/eval.md, "general_fc". */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "eval/metric_fc.h"
#include "eval/task.h"

typedef struct fc_args {
    char *local_path;
    ct_strlist subset_list;
} fc_args;

#define F(x) offsetof(fc_args, x)
static const ct_cfg_key k_keys[] = {
    {"local_path", CT_CFG_STR, F(local_path), NULL, NULL},
    {"subset_list", CT_CFG_LIST, F(subset_list), "default", NULL},
};
#undef F

typedef struct fc_item {
    ct_eval_sample h;
    json_t *row;
} fc_item;

static void item_free(void *p) { json_decref(((fc_item *)p)->row); }

static ct_status fc_row(void *user, void *item, json_t *row, const char *where, ct_err *err) {
    (void)user;
    fc_item *it = item;
    if (!json_is_array(json_object_get(row, "messages")))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: missing \"messages\" (a list)", where);
    if (!json_is_array(json_object_get(row, "tools")) || !json_array_size(json_object_get(row, "tools")))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: missing \"tools\" (a non-empty list of function specs)", where);
    if (!json_is_boolean(json_object_get(row, "should_call_tool")))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: missing \"should_call_tool\" (true or false)", where);
    const json_t *exp = json_object_get(row, "expected_calls");
    if (!exp) exp = json_object_get(row, "ground_truth");
    if (exp && !json_is_array(exp))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"expected_calls\" must be a list of {name: {param: [values]}}", where);
    ct_status st = ct_eval_prompt_conv(row, NULL, NULL, NULL, where, &it->h.conv, err);
    if (!st) it->row = json_incref(row);
    return st;
}

static ct_status fc_load(const void *args, const char *where, void **out, ct_err *err) {
    const fc_args *a = args;
    if (!a->local_path) return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.general_fc.local_path is required", where);
    return ct_eval_subsets_state_load(a, a->local_path, &a->subset_list, sizeof(fc_item), item_free, fc_row, out, err);
}

/* A subset's aggregate as report values, each weighted by its own denominator (so the score over
 * subsets is the micro rate; tool_call_f1 over subsets is their sample-weighted mean). */
static ct_status add_aggregate(ct_eval_env *env, const char *subset, json_t *const *v, size_t n, ct_err *err) {
    size_t called = 0, should = 0, ast = 0, irr = 0;
    for (size_t i = 0; i < n; i++) {
        called += json_is_true(json_object_get(v[i], "called"));
        should += json_is_true(json_object_get(v[i], "should_call_tool"));
        ast += json_is_boolean(json_object_get(v[i], "ast_valid"));
        irr += !json_is_true(json_object_get(v[i], "should_call_tool"));
    }
    json_t *m = ct_metric_fc_aggregate(v, n);
    if (!m) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    static const char *const names[] = {"tool_call_f1", "precision",    "recall",  "schema_accuracy",
                                        "ast_accuracy", "irrelevance_accuracy", "pass_rate"};
    size_t dens[] = {n, called, should, called, ast, irr, n};
    ct_status st = CT_OK;
    for (size_t k = 0; k < sizeof names / sizeof *names && !st; k++) {
        const json_t *x = json_object_get(m, names[k]);
        /* a metric without samples it applies to is left out of the subset, never counted as 0 */
        if (dens[k] && json_is_number(x))
            st = ct_eval_add_sum(env, names[k], subset, json_number_value(x) * (double)dens[k], (double)dens[k], err);
    }
    json_decref(m);
    return st;
}

static ct_status fc_run(void *p, ct_eval_env *env, ct_err *err) {
    ct_eval_subsets_state *s = p;
    ct_status st = CT_OK;
    for (size_t i = 0; i < s->subsets.n && !st; i++) {
        ct_eval_subset *sub = &s->subsets.v[i];
        size_t n = ct_eval_take(sub->n, env->limit), done = 0;
        json_t **verdicts = calloc(n ? n : 1, sizeof *verdicts);
        if (!verdicts) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        ct_eval_gen g;
        ct_eval_gen_subset(&g, env, &s->subsets, i);
        for (size_t j = 0; j < n && !st; j++) {
            fc_item *it = (fc_item *)sub->items + j;
            char *text = NULL;
            if ((st = ct_eval_gen_text(&g, j, &text, err))) break;
            json_t *verdict = NULL;
            if ((st = ct_metric_fc_score(it->row, text, &verdict, err))) {
                ct_err_prefix(err, "%s", it->h.where);
                free(text);
                break;
            }
            verdicts[done++] = verdict;
            const json_t *exp = json_object_get(it->row, "expected_calls");
            if (!exp) exp = json_object_get(it->row, "ground_truth");
            const ct_message *last = &it->h.conv.msgs[it->h.conv.n_msgs - 1];
            json_t *pred = json_pack("{s:s, s:s, s:s, s:O}", "id", it->h.id, "input", last->content, "output", text,
                                     "calls", json_object_get(verdict, "calls"));
            json_t *rev = json_pack("{s:s, s:O?, s:O, s:b, s:s?, s:O}", "id", it->h.id, "target", exp, "should_call_tool",
                                    json_object_get(it->row, "should_call_tool"), "passed",
                                    json_is_true(json_object_get(verdict, "passed")) &&
                                        !json_is_false(json_object_get(verdict, "ast_valid")),
                                    "why", json_string_value(json_object_get(verdict, "why")), "verdict", verdict);
            free(text);
            st = ct_eval_emit(env, sub->name, pred, rev, err);
            ct_eval_tick(env);
        }
        ct_eval_gen_free(&g);
        if (!st) st = add_aggregate(env, sub->name, verdicts, done, err);
        for (size_t j = 0; j < done; j++) json_decref(verdicts[j]);
        free(verdicts);
    }
    return st;
}

const ct_eval_task ct_eval_task_fc = {
    .name = "general_fc",
    .alias = "fc",
    .keys = k_keys,
    .n_keys = sizeof k_keys / sizeof *k_keys,
    .args_size = sizeof(fc_args),
    .load = fc_load,
    .count = ct_eval_subsets_state_count,
    .run = fc_run,
    .free = ct_eval_subsets_state_free,
};
