/* The `risk` task: the bundled risk assistant (include/ctune/risk.h, docs/risk-dataset.md) as one
 * task of the suite. Each record of an eval file from `ctune data synth risk` (with "meta") is
 * answered with the model's chat template (its tools included) and scored by the existing
 * evaluator (ct_risk_eval_add): the report carries its metrics (JSON validity against the answer
 * schema, label exact match, micro P/R/F1 and per-label F1, product, approval, credit limit,
 * rate range, top-3 drivers, refusals, over-refusals), each with its own denominator as num. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "ctune/risk.h"
#include "eval/task.h"

typedef struct risk_args {
    char *local_path; /* an eval JSONL file (examples/risk/risk_eval.jsonl) */
} risk_args;

static const ct_cfg_key k_keys[] = {
    {"local_path", CT_CFG_STR, offsetof(risk_args, local_path), NULL, NULL},
};

typedef struct risk_rec {
    char *json, *id, *where;
    ct_conv prompt;
} risk_rec;

typedef struct risk_state {
    risk_rec *v;
    size_t n, cap;
} risk_state;

static ct_status risk_row(void *user, json_t *row, const char *where, ct_err *err) {
    risk_state *s = user;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        risk_rec *p = realloc(s->v, nc * sizeof *p);
        if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        s->v = p;
        s->cap = nc;
    }
    risk_rec *r = &s->v[s->n];
    memset(r, 0, sizeof *r);
    ct_conv_init(&r->prompt);
    char *pj = NULL;
    const char *id = ct_json_get_str(row, "id");
    ct_status st = CT_OK;
    if (!(r->json = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER)) || !(r->where = strdup(where)) ||
        !(r->id = strdup(id ? id : where)))
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    /* the record must be scorable (its meta) and have a prompt */
    ct_risk_eval_report probe;
    ct_risk_eval_report_init(&probe);
    if (!st) st = ct_risk_eval_add(&probe, r->json, NULL, err);
    if (!st) st = ct_risk_eval_prompt(r->json, &pj, err);
    if (!st) st = ct_conv_from_text(pj, strlen(pj), CT_FORMAT_OPENAI, NULL, where, &r->prompt, err);
    free(pj);
    if (st) {
        ct_conv_free(&r->prompt);
        free(r->json);
        free(r->id);
        free(r->where);
        return err->msg[0] && strstr(err->msg, where) ? st : ct_err_prefix(err, "%s", where);
    }
    s->n++;
    return CT_OK;
}

static void risk_free(void *p) {
    risk_state *s = p;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        ct_conv_free(&s->v[i].prompt);
        free(s->v[i].json);
        free(s->v[i].id);
        free(s->v[i].where);
    }
    free(s->v);
    free(s);
}

static ct_status risk_load(const void *args, const char *where, void **out, ct_err *err) {
    const risk_args *a = args;
    if (!a->local_path) return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.risk.local_path is required", where);
    risk_state *s = calloc(1, sizeof *s);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_eval_read_jsonl(a->local_path, risk_row, s, err);
    if (st) {
        risk_free(s);
        return st;
    }
    *out = s;
    return CT_OK;
}

static size_t risk_count(const void *p, int64_t limit) {
    const risk_state *s = p;
    return limit >= 0 && (size_t)limit < s->n ? (size_t)limit : s->n;
}

static ct_status add(ct_eval_env *e, const char *name, double value, size_t den, ct_err *err) {
    return den ? ct_eval_add_sum(e, name, "default", value * (double)den, (double)den, err) : CT_OK;
}

static ct_status conv_of(void *user, size_t i, const ct_conv **conv, ct_think *think, ct_err *err) {
    (void)err;
    *conv = &((risk_state *)user)->v[i].prompt;
    *think = CT_THINK_FALSE;
    return CT_OK;
}

static ct_status risk_run(void *p, ct_eval_env *env, ct_err *err) {
    risk_state *s = p;
    ct_risk_eval_report r;
    ct_risk_eval_report_init(&r);
    ct_status st = CT_OK;
    size_t n = risk_count(s, env->limit);
    ct_eval_gen g;
    ct_eval_gen_init(&g, env, n, env->batch, conv_of, s);
    for (size_t i = 0; i < n && !st; i++) {
        risk_rec *rec = &s->v[i];
        char *text = NULL;
        if ((st = ct_eval_gen_text(&g, i, &text, err))) break;
        ct_risk_eval_report before = r;
        if ((st = ct_risk_eval_add(&r, rec->json, text, err))) {
            free(text);
            ct_err_prefix(err, "%s", rec->where);
            break;
        }
        bool refusal_sample = r.n_refusal > before.n_refusal;
        bool valid = r.json_valid > before.json_valid, labels = r.label_exact > before.label_exact;
        bool ok = refusal_sample ? r.refusal_ok > before.refusal_ok : valid && labels && r.product_ok > before.product_ok &&
                                                                           r.approval_ok > before.approval_ok;
        json_t *pred = json_pack("{s:s, s:s}", "id", rec->id, "output", text ? text : "");
        json_t *rev = json_pack("{s:s, s:b, s:b, s:b, s:b, s:s}", "id", rec->id, "refusal_sample", refusal_sample,
                                "json_valid", valid, "labels_exact", labels, "correct", ok, "why",
                                refusal_sample ? (ok ? "refused / handed over as required" : "did not refuse")
                                : !valid       ? "not a JSON answer valid against the schema"
                                : ok           ? "labels, product and approval as the rules give"
                                               : "labels, product or approval differ from the rules");
        free(text);
        st = ct_eval_emit(env, "default", pred, rev, err);
        ct_eval_tick(env);
    }
    ct_eval_gen_free(&g);
    if (st) return st;
    ct_risk_eval_metrics m;
    ct_risk_eval_metrics_compute(&r, &m);
    size_t na = r.n_answer;
    /* the first metric is the main score */
    if (!st) st = add(env, "label_micro_f1", m.label_micro_f1, na, err);
    if (!st) st = add(env, "json_valid_rate", m.json_valid_rate, na, err);
    if (!st) st = add(env, "label_exact_match", m.label_exact_match, na, err);
    if (!st) st = add(env, "label_precision", m.label_precision, na, err);
    if (!st) st = add(env, "label_recall", m.label_recall, na, err);
    if (!st) st = add(env, "product_accuracy", m.product_accuracy, na, err);
    if (!st) st = add(env, "approval_accuracy", m.approval_accuracy, na, err);
    if (!st) st = add(env, "credit_limit_within_10pct", m.credit_limit_within_10pct, na, err);
    if (!st) st = add(env, "rate_range_accuracy", m.rate_range_accuracy, na, err);
    if (!st) st = add(env, "top_drivers_match", m.top_drivers_match, na, err);
    if (!st) st = add(env, "refusal_accuracy", m.refusal_accuracy, r.n_refusal, err);
    if (!st) st = add(env, "over_refusal_rate", m.over_refusal_rate, na, err);
    for (int l = 0; l < CT_RISK_LABEL_COUNT && !st; l++) {
        size_t tp = r.tp[l], fp = r.fp[l], fn = r.fn[l];
        double f1 = tp ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0.0;
        char name[96];
        snprintf(name, sizeof name, "label_f1/%s", ct_risk_label_name(l));
        st = add(env, name, f1, na, err);
    }
    return st;
}

const ct_eval_task ct_eval_task_risk = {
    .name = "risk",
    .alias = NULL,
    .keys = k_keys,
    .n_keys = sizeof k_keys / sizeof *k_keys,
    .args_size = sizeof(risk_args),
    .load = risk_load,
    .count = risk_count,
    .run = risk_run,
    .free = risk_free,
};
