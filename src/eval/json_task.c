/* The `json` task: answers that must be JSON. Files: {subset}.jsonl in local_path, lines with
 * "messages" (or "query" / "question", optional "system"), an optional "schema" (a JSON Schema
 * object; else the dataset's `schema` file, if any) and an optional "reference" object. Answered
 * with the model's chat template, optionally under JSON-Schema-constrained decoding
 * (`constrained: true`, include/ctune/constrain.h), and scored by metric_json.h: pass_rate (the
 * main score), parse_rate, schema_valid_rate, field_accuracy (micro), field_accuracy_macro,
 * exact_match. docs/eval.md, "json". */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/constrain.h"
#include "ctune/model.h"
#include "eval/metric_json.h"
#include "eval/task.h"

typedef struct json_args {
    char *local_path;
    ct_strlist subset_list;
    char *schema; /* a schema file for every sample without its own */
    char *prompt_template;
    char *system_prompt;
    bool constrained;
} json_args;

#define F(x) offsetof(json_args, x)
static const ct_cfg_key k_keys[] = {
    {"local_path", CT_CFG_STR, F(local_path), NULL, NULL},
    {"subset_list", CT_CFG_LIST, F(subset_list), "default", NULL},
    {"schema", CT_CFG_STR, F(schema), NULL, NULL},
    {"prompt_template", CT_CFG_STR, F(prompt_template), "{question}", NULL},
    {"system_prompt", CT_CFG_STR, F(system_prompt), NULL, NULL},
    {"constrained", CT_CFG_BOOL, F(constrained), "false", NULL},
};
#undef F

typedef struct json_item {
    ct_eval_sample h;
    char *schema_text; /* the sample's own schema (NULL: the dataset's) */
    ct_json_schema schema;
    bool has_schema;
    json_t *reference;
} json_item;

typedef struct json_state {
    const json_args *a;
    char *schema_text; /* the dataset's schema file */
    ct_json_schema schema;
    bool has_schema;
    ct_eval_subsets subsets; /* of json_item */
} json_state;

static void item_free(void *p) {
    json_item *it = p;
    free(it->schema_text);
    if (it->has_schema) ct_json_schema_free(&it->schema);
    json_decref(it->reference);
}

static ct_status json_row(void *user, void *item, json_t *row, const char *where, ct_err *err) {
    json_state *s = user;
    json_item *it = item;
    const json_t *schema = json_object_get(row, "schema"), *ref = json_object_get(row, "reference");
    if (schema && !json_is_object(schema) && !json_is_boolean(schema))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"schema\" must be a JSON Schema (an object)", where);
    if (ref && !json_is_object(ref) && !json_is_null(ref))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"reference\" must be an object", where);
    const char *q = ct_json_get_str(row, "query");
    if (!q) q = ct_json_get_str(row, "question");
    ct_status st = ct_eval_prompt_conv(row, s->a->prompt_template, q, s->a->system_prompt, where, &it->h.conv, err);
    if (!st && schema) {
        if (!(it->schema_text = json_dumps(schema, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)))
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else if (!(st = ct_json_schema_load(&it->schema, it->schema_text, where, err)))
            it->has_schema = true;
    }
    if (!st && json_is_object(ref)) it->reference = json_incref((json_t *)ref);
    if (st) item_free(it);
    return st;
}

static void json_task_free(void *p) {
    json_state *s = p;
    if (!s) return;
    ct_eval_subsets_free(&s->subsets);
    if (s->has_schema) ct_json_schema_free(&s->schema);
    free(s->schema_text);
    free(s);
}

static ct_status json_load(const void *args, const char *where, void **out, ct_err *err) {
    const json_args *a = args;
    if (!a->local_path) return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.json.local_path is required", where);
    json_state *s = calloc(1, sizeof *s);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    s->a = a;
    s->subsets.item_size = sizeof(json_item);
    s->subsets.item_free = item_free;
    ct_status st = CT_OK;
    if (a->schema) {
        st = ct_read_file(a->schema, &s->schema_text, NULL, err);
        if (!st && !(st = ct_json_schema_load(&s->schema, s->schema_text, a->schema, err))) s->has_schema = true;
    }
    if (!st) st = ct_eval_subsets_load(&s->subsets, a->local_path, &a->subset_list, json_row, s, err);
    if (st) {
        json_task_free(s);
        return st;
    }
    *out = s;
    return CT_OK;
}

static size_t json_count(const void *p, int64_t limit) {
    return ct_eval_subsets_count(&((const json_state *)p)->subsets, limit);
}

/* The constraint of a schema text (NULL: json_object mode), built for this model's tokenizer. */
static ct_status make_constraint(ct_eval_env *env, const char *schema, const char *what, ct_json_constraint **out,
                                 ct_err *err) {
    const char *why = NULL;
    const ct_tokenizer *tok = ct_runtime_tokenizer(env->rt, &why);
    if (!tok) return ct_err_set(err, CT_ERR_ARG, "json: constrained decoding needs the tokenizer: %s", why);
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    o.schema = schema;
    o.what = what;
    return ct_json_constraint_new(&o, tok, ct_model_config(ct_runtime_model(env->rt))->vocab_size, out, err);
}

/* One sample's metric values, each with its own denominator (so the subset score is the micro
 * rate ct_metric_json_aggregate gives). */
static ct_status add_verdict(ct_eval_env *env, const char *subset, const json_t *v, ct_err *err) {
    ct_status st = ct_eval_add(env, "pass_rate", subset, json_is_true(json_object_get(v, "passed")), err);
    if (!st) st = ct_eval_add(env, "parse_rate", subset, json_is_true(json_object_get(v, "parsed")), err);
    const json_t *sv = json_object_get(v, "schema_valid");
    if (!st && json_is_boolean(sv)) st = ct_eval_add(env, "schema_valid_rate", subset, json_is_true(sv), err);
    double t = (double)json_integer_value(json_object_get(v, "fields_total"));
    double c = (double)json_integer_value(json_object_get(v, "fields_correct"));
    if (!st && t > 0) st = ct_eval_add_sum(env, "field_accuracy", subset, c, t, err);
    if (!st && t > 0) st = ct_eval_add(env, "field_accuracy_macro", subset, c / t, err);
    if (!st && t > 0) st = ct_eval_add(env, "exact_match", subset, c == t, err);
    return st;
}

static ct_status json_run(void *p, ct_eval_env *env, ct_err *err) {
    json_state *s = p;
    ct_json_constraint *shared = NULL; /* for samples without their own schema */
    ct_status st = CT_OK;
    if (s->a->constrained) st = make_constraint(env, s->schema_text, s->a->schema, &shared, err);
    for (size_t i = 0; i < s->subsets.n && !st; i++) {
        ct_eval_subset *sub = &s->subsets.v[i];
        size_t n = ct_eval_take(sub->n, env->limit);
        /* unconstrained answers decode eval_batch_size at a time; constrained ones one by one (a
         * constraint is one automaton state, and a sample may bring its own schema) */
        ct_eval_gen g;
        ct_eval_gen_subset(&g, env, &s->subsets, i);
        for (size_t j = 0; j < n && !st; j++) {
            json_item *it = (json_item *)sub->items + j;
            char *text = NULL;
            if (s->a->constrained) {
                ct_eval_env ge = *env;
                ct_json_constraint *own = NULL;
                if (it->schema_text) st = make_constraint(env, it->schema_text, it->h.where, &own, err);
                ge.gen.constraint = own ? own : shared;
                if (!st) st = ct_eval_generate_chat(&ge, &it->h.conv, CT_THINK_FALSE, &text, err);
                ct_json_constraint_free(own);
            } else {
                st = ct_eval_gen_text(&g, j, &text, err);
            }
            if (st) break;
            const ct_json_schema *schema = it->has_schema ? &it->schema : s->has_schema ? &s->schema : NULL;
            json_t *verdict = NULL;
            st = ct_metric_json_score(text, schema, it->reference, &verdict, err);
            if (!st) st = add_verdict(env, sub->name, verdict, err);
            const ct_message *last = &it->h.conv.msgs[it->h.conv.n_msgs - 1];
            json_t *pred = json_pack("{s:s, s:s, s:s, s:b}", "id", it->h.id, "input", last->content, "output", text,
                                     "constrained", s->a->constrained);
            json_t *rev = json_pack("{s:s, s:O?, s:b, s:s?, s:o}", "id", it->h.id, "target", it->reference, "passed",
                                    json_is_true(json_object_get(verdict, "passed")), "why",
                                    json_string_value(json_object_get(verdict, "why")), "verdict", verdict);
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
    ct_json_constraint_free(shared);
    return st;
}

const ct_eval_task ct_eval_task_json = {
    .name = "json",
    .alias = NULL,
    .keys = k_keys,
    .n_keys = sizeof k_keys / sizeof *k_keys,
    .args_size = sizeof(json_args),
    .load = json_load,
    .count = json_count,
    .run = json_run,
    .free = json_task_free,
};
