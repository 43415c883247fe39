/* The `general_qa` task (alias qa): EvalScope general_qa files ({subset}.jsonl in local_path with
 * query / question + response / answer, optional system, or messages + response), answered with
 * the model's chat template and scored by exact match, BLEU-1..4 and ROUGE-1/2/L P/R/F
 * (text_metrics.h); the main score is Rouge-L-R, as EvalScope's. docs/eval.md, "qa". */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "eval/task.h"
#include "eval/text_metrics.h"

typedef struct qa_args {
    char *local_path;
    ct_strlist subset_list;
    char *prompt_template; /* {question} */
    char *system_prompt;
    int64_t few_shot_num;
} qa_args;

#define F(x) offsetof(qa_args, x)
static const ct_cfg_key k_keys[] = {
    {"local_path", CT_CFG_STR, F(local_path), NULL, NULL},
    {"subset_list", CT_CFG_LIST, F(subset_list), "default", NULL},
    {"prompt_template", CT_CFG_STR, F(prompt_template), "请回答问题\n{question}", NULL},
    {"system_prompt", CT_CFG_STR, F(system_prompt), NULL, NULL},
    {"few_shot_num", CT_CFG_INT, F(few_shot_num), "0", "0"},
};
#undef F

typedef struct qa_item {
    ct_eval_sample h;
    char *target;
} qa_item;

static const char *str_any(const json_t *row, const char *a, const char *b) {
    const char *s = ct_json_get_str(row, a);
    return s ? s : ct_json_get_str(row, b);
}

static void item_free(void *p) { free(((qa_item *)p)->target); }

static ct_status qa_row(void *user, void *item, json_t *row, const char *where, ct_err *err) {
    const qa_args *a = ((ct_eval_subsets_state *)user)->args;
    qa_item *it = item;
    const char *q = str_any(row, "question", "query");
    const char *ans = str_any(row, "answer", "response");
    const json_t *msgs = json_object_get(row, "messages");
    if (!ans) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing \"response\" (or \"answer\")", where);
    if (!q && !json_is_array(msgs))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: expected \"query\" (or \"question\") or \"messages\"", where);
    ct_status st = ct_eval_prompt_conv(row, a->prompt_template, q, a->system_prompt, where, &it->h.conv, err);
    if (!st && !(it->target = strdup(ans))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return st;
}

static ct_status qa_load(const void *args, const char *where, void **out, ct_err *err) {
    const qa_args *a = args;
    if (!a->local_path) return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.general_qa.local_path is required", where);
    return ct_eval_subsets_state_load(a, a->local_path, &a->subset_list, sizeof(qa_item), item_free, qa_row, out, err);
}

static ct_status qa_run(void *p, ct_eval_env *env, ct_err *err) {
    ct_eval_subsets_state *s = p;
    ct_status st = CT_OK;
    for (size_t i = 0; i < s->subsets.n && !st; i++) {
        ct_eval_subset *sub = &s->subsets.v[i];
        size_t n = ct_eval_take(sub->n, env->limit);
        ct_eval_gen g;
        ct_eval_gen_subset(&g, env, &s->subsets, i);
        for (size_t j = 0; j < n && !st; j++) {
            qa_item *it = (qa_item *)sub->items + j;
            char *text = NULL;
            if ((st = ct_eval_gen_text(&g, j, &text, err))) break;
            ct_text_scores sc;
            if ((st = ct_text_score(text, it->target, &sc, err))) {
                free(text);
                break;
            }
            json_t *scores = json_object();
            st = ct_eval_add(env, "Rouge-L-R", sub->name, sc.rouge[2][1], err);
            for (int m = 0; m < CT_TEXT_N_METRICS && !st; m++) {
                double v = ct_text_metric_value(&sc, m);
                json_object_set_new(scores, ct_text_metric_name(m), json_real(v));
                if (m != 11) st = ct_eval_add(env, ct_text_metric_name(m), sub->name, v, err);
            }
            const ct_message *last = &it->h.conv.msgs[it->h.conv.n_msgs - 1];
            json_t *pred = json_pack("{s:s, s:s, s:s}", "id", it->h.id, "input", last->content, "output", text);
            json_t *rev = json_pack("{s:s, s:s, s:b, s:o, s:s}", "id", it->h.id, "target", it->target, "passed",
                                    sc.exact_match > 0, "scores", scores, "why",
                                    sc.exact_match ? "exact match" : "scored by overlap with the reference");
            free(text);
            if (!st) st = ct_eval_emit(env, sub->name, pred, rev, err);
            else {
                json_decref(pred);
                json_decref(rev);
            }
            ct_eval_tick(env);
        }
        ct_eval_gen_free(&g);
    }
    return st;
}

const ct_eval_task ct_eval_task_qa = {
    .name = "general_qa",
    .alias = "qa",
    .keys = k_keys,
    .n_keys = sizeof k_keys / sizeof *k_keys,
    .args_size = sizeof(qa_args),
    .load = qa_load,
    .count = ct_eval_subsets_state_count,
    .run = qa_run,
    .free = ct_eval_subsets_state_free,
};
