/* Risk-assistant evaluator: scores model outputs against the rules (ct_risk_decide) for the
 * profile stored in each eval record's "meta", validating answers with the committed schema.
 * Metric definitions: docs/risk-dataset.md, "Evaluation". */
#include "risk/eval.h"

#include <ctype.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/str.h"
#include "ctune/risk.h"
#include "eval/json_schema.h"
#include "risk/json_writer.h"
#include "risk/synth.h"

const char *ct_risk_strip_think(const char *s, size_t *len) {
    while (*s && isspace((unsigned char)*s)) s++;
    if (!strncmp(s, "<think>", 7)) {
        const char *e = strstr(s, "</think>");
        if (!e) return NULL;
        s = e + 8;
        while (*s && isspace((unsigned char)*s)) s++;
    }
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    *len = n;
    return s;
}

bool ct_risk_is_refusal_text(const char *s, size_t len) {
    if (memmem(s, len, CT_RISK_REFUSAL_MARKER_ZH, strlen(CT_RISK_REFUSAL_MARKER_ZH))) return true;
    size_t m = strlen(CT_RISK_REFUSAL_MARKER_EN);
    for (size_t i = 0; i + m <= len; i++)
        if (!strncasecmp(s + i, CT_RISK_REFUSAL_MARKER_EN, m)) return true;
    return false;
}

/* The schema is parsed once per process (it is a constant). */
static const ct_json_schema *answer_schema(void) {
    static ct_json_schema schema;
    static int state; /* 0 not loaded, 1 ok, -1 failed */
    if (state == 0) {
        ct_err err;
        state = ct_json_schema_load(&schema, ct_risk_answer_schema_json(), "answer.schema.json", &err) ? -1 : 1;
    }
    return state == 1 ? &schema : NULL;
}

static bool near(double a, double b, double tol) { return fabs(a - b) <= tol + 1e-9; }

void ct_risk_score_output(const ct_risk_profile *p, bool refusal_sample, const char *output, ct_risk_score *s) {
    memset(s, 0, sizeof *s);
    s->is_refusal_sample = refusal_sample;
    if (!output) return;
    size_t len;
    const char *t = ct_risk_strip_think(output, &len);
    if (!t) return; /* unterminated <think>: nothing usable */
    json_t *obj = json_loadb(t, len, JSON_DECODE_ANY, NULL);
    bool is_obj = json_is_object(obj);
    s->refused = !is_obj && ct_risk_is_refusal_text(t, len);
    if (refusal_sample) {
        s->refusal_ok = s->refused;
        json_decref(obj);
        return;
    }
    const ct_json_schema *schema = answer_schema();
    ct_err err;
    s->json_valid = is_obj && schema && ct_json_schema_validate(schema, obj, &err) == CT_OK;
    if (!s->json_valid) {
        json_decref(obj);
        return;
    }
    ct_risk_decision d;
    ct_risk_decide(p, &d);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(obj, "risk_labels"), i, v) {
        int l = ct_risk_label_from_name(json_string_value(v));
        if (l >= 0) s->labels |= 1u << l;
    }
    s->label_exact = s->labels == d.labels;
    s->product_ok = ct_risk_product_from_name(json_string_value(json_object_get(obj, "product"))) == (int)d.product;
    s->approval_ok = json_is_true(json_object_get(obj, "needs_human_approval")) == d.needs_human_approval;
    double lim = json_number_value(json_object_get(obj, "credit_limit")), exp = (double)d.credit_limit_yuan;
    s->limit_ok = exp == 0 ? lim == 0 : fabs(lim - exp) <= 0.1 * exp + 1e-6;
    json_t *rr = json_object_get(obj, "rate_range");
    if (d.product == CT_RISK_PRODUCT_NONE) s->rate_ok = json_is_null(rr);
    else
        s->rate_ok = json_is_array(rr) && near(json_number_value(json_array_get(rr, 0)), d.rate_lo_bps / 100.0, 0.01) &&
                     near(json_number_value(json_array_get(rr, 1)), d.rate_hi_bps / 100.0, 0.01);
    json_t *dr = json_object_get(obj, "top_drivers");
    s->drivers_ok = true;
    for (int k = 0; k < 3; k++)
        s->drivers_ok = s->drivers_ok &&
                        ct_risk_factor_from_key(json_string_value(json_object_get(json_array_get(dr, (size_t)k), "factor"))) ==
                            d.drivers[k];
    json_decref(obj);
}

void ct_risk_eval_report_init(ct_risk_eval_report *r) { memset(r, 0, sizeof *r); }

void ct_risk_eval_add_score(ct_risk_eval_report *r, const ct_risk_profile *p, const ct_risk_score *s) {
    r->n++;
    if (s->is_refusal_sample) {
        r->n_refusal++;
        r->refusal_ok += s->refusal_ok;
        return;
    }
    r->n_answer++;
    ct_risk_decision d;
    ct_risk_decide(p, &d);
    r->json_valid += s->json_valid;
    r->label_exact += s->label_exact;
    r->product_ok += s->product_ok;
    r->approval_ok += s->approval_ok;
    r->limit_ok += s->limit_ok;
    r->rate_ok += s->rate_ok;
    r->drivers_ok += s->drivers_ok;
    r->over_refusal += s->refused;
    for (int l = 0; l < CT_RISK_LABEL_COUNT; l++) {
        bool e = d.labels & (1u << l), g = s->labels & (1u << l);
        r->tp[l] += e && g;
        r->fp[l] += !e && g;
        r->fn[l] += e && !g;
    }
}

/* Reads meta.kind and meta.profile of one record. */
static ct_status record_meta(const json_t *rec, ct_risk_profile *p, bool *refusal, ct_err *err) {
    json_t *meta = json_object_get(rec, "meta");
    if (!json_is_object(meta))
        return ct_err_set(err, CT_ERR_FORMAT, "record has no \"meta\" object (generate eval data without --no-meta)");
    const char *kind = json_string_value(json_object_get(meta, "kind"));
    if (!kind || (strcmp(kind, "answer") && strcmp(kind, "refusal")))
        return ct_err_set(err, CT_ERR_FORMAT, "meta.kind must be \"answer\" or \"refusal\"");
    *refusal = !strcmp(kind, "refusal");
    return ct_risk_profile_from_json(json_object_get(meta, "profile"), p, err);
}

ct_status ct_risk_eval_add(ct_risk_eval_report *r, const char *record_json, const char *output, ct_err *err) {
    json_t *rec;
    json_error_t je;
    if (!(rec = json_loads(record_json, 0, &je)))
        return ct_err_set(err, CT_ERR_FORMAT, "eval record: invalid JSON at column %d: %s", je.column, je.text);
    ct_risk_profile p;
    bool refusal;
    ct_status st = record_meta(rec, &p, &refusal, err);
    json_decref(rec);
    if (st) return st;
    ct_risk_score s;
    ct_risk_score_output(&p, refusal, output, &s);
    ct_risk_eval_add_score(r, &p, &s);
    return CT_OK;
}

/* "id:<id>", or "#<index>" when id is NULL (malloc'd; NULL when out of memory). */
static char *pred_key(const char *id, size_t index) {
    size_t n = id ? strlen(id) + 4 : 32;
    char *k = malloc(n);
    if (k && id) snprintf(k, n, "id:%s", id);
    else if (k) snprintf(k, n, "#%zu", index);
    return k;
}

typedef struct pred_ctx {
    const char *path;
    json_t *by_key; /* "id:<id>" or "#<index>" -> output string */
} pred_ctx;

static ct_status pred_line(void *vctx, char *line, size_t lineno, ct_err *err) {
    pred_ctx *c = vctx;
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: not a JSON object", c->path, lineno);
    }
    char *key = NULL; /* allocated: two long ids must not share a truncated key */
    const char *id = json_string_value(json_object_get(o, "id"));
    json_t *idx = json_object_get(o, "index");
    json_t *out = json_object_get(o, "output");
    ct_status st = CT_OK;
    if (id) key = pred_key(id, 0);
    else if (json_is_integer(idx) && json_integer_value(idx) >= 0) key = pred_key(NULL, (size_t)json_integer_value(idx));
    else st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: needs \"id\" (string) or \"index\" (integer >= 0)", c->path, lineno);
    if (!st && !key) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st && !json_is_string(out)) st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: \"output\" must be a string", c->path, lineno);
    if (!st && json_object_get(c->by_key, key))
        st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: duplicate prediction for %s", c->path, lineno, key);
    if (!st) json_object_set(c->by_key, key, out);
    free(key);
    json_decref(o);
    return st;
}

typedef struct data_ctx {
    const char *path;
    json_t *preds; /* pred_line's map; each matched prediction is removed */
    ct_risk_eval_report *r;
} data_ctx;

/* One eval record: scores its prediction, matched by the record's id, else by its 0-based line
 * index (a missing prediction scores as an empty answer). */
static ct_status data_line(void *vctx, char *line, size_t lineno, ct_err *err) {
    data_ctx *c = vctx;
    json_error_t je;
    json_t *rec = json_loads(line, 0, &je);
    if (!rec) return ct_err_set(err, CT_ERR_FORMAT, "%s:%zu:%d: invalid JSON: %s", c->path, lineno, je.column, je.text);
    ct_risk_profile p;
    bool refusal;
    ct_status st = record_meta(rec, &p, &refusal, err);
    if (st) {
        ct_err_prefix(err, "%s:%zu", c->path, lineno);
        json_decref(rec);
        return st;
    }
    const char *id = json_string_value(json_object_get(rec, "id"));
    json_t *out = NULL;
    char *key = id ? pred_key(id, 0) : NULL;
    if (key) out = json_object_get(c->preds, key);
    if (!out) {
        free(key);
        if ((key = pred_key(NULL, lineno - 1))) out = json_object_get(c->preds, key);
    }
    if (!key) {
        json_decref(rec);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    char *text = out ? strdup(json_string_value(out)) : NULL;
    if (out) json_object_del(c->preds, key);
    else c->r->n_missing++;
    free(key);
    ct_risk_score sc;
    ct_risk_score_output(&p, refusal, text, &sc);
    ct_risk_eval_add_score(c->r, &p, &sc);
    free(text);
    json_decref(rec);
    return CT_OK;
}

ct_status ct_risk_eval_files(const char *data_path, const char *pred_path, ct_risk_eval_report *r, ct_err *err) {
    char *pbuf = NULL, *dbuf = NULL;
    size_t n;
    ct_status st = ct_read_file(pred_path, &pbuf, &n, err);
    if (!st) st = ct_read_file(data_path, &dbuf, &n, err);
    json_t *preds = json_object();
    if (!st && !preds) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    pred_ctx pc = {pred_path, preds};
    if (!st) st = ct_each_line(pbuf, pred_line, &pc, err);
    data_ctx dc = {data_path, preds, r};
    if (!st) st = ct_each_line(dbuf, data_line, &dc, err);
    /* an empty eval file would print all-zero metrics as if the model got everything wrong */
    if (!st && r->n == 0) st = ct_err_set(err, CT_ERR_FORMAT, "%s: no eval records", data_path);
    if (!st && json_object_size(preds) > 0) {
        const char *k = json_object_iter_key(json_object_iter(preds));
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: %zu prediction(s) match no eval record (first: %s)", pred_path,
                        json_object_size(preds), k);
    }
    json_decref(preds);
    free(pbuf);
    free(dbuf);
    return st;
}

static double ratio(size_t a, size_t b) { return b ? (double)a / (double)b : 0.0; }

void ct_risk_eval_metrics_compute(const ct_risk_eval_report *r, ct_risk_eval_metrics *m) {
    memset(m, 0, sizeof *m);
    size_t tp = 0, fp = 0, fn = 0;
    for (int l = 0; l < CT_RISK_LABEL_COUNT; l++) tp += r->tp[l], fp += r->fp[l], fn += r->fn[l];
    m->json_valid_rate = ratio(r->json_valid, r->n_answer);
    m->label_exact_match = ratio(r->label_exact, r->n_answer);
    /* Empty prediction and empty truth everywhere = perfect agreement. */
    m->label_precision = tp + fp ? ratio(tp, tp + fp) : (fn ? 0.0 : 1.0);
    m->label_recall = tp + fn ? ratio(tp, tp + fn) : (fp ? 0.0 : 1.0);
    m->label_micro_f1 = 2 * tp + fp + fn ? ratio(2 * tp, 2 * tp + fp + fn) : (r->n_answer ? 1.0 : 0.0);
    m->product_accuracy = ratio(r->product_ok, r->n_answer);
    m->approval_accuracy = ratio(r->approval_ok, r->n_answer);
    m->credit_limit_within_10pct = ratio(r->limit_ok, r->n_answer);
    m->rate_range_accuracy = ratio(r->rate_ok, r->n_answer);
    m->top_drivers_match = ratio(r->drivers_ok, r->n_answer);
    m->refusal_accuracy = ratio(r->refusal_ok, r->n_refusal);
    m->over_refusal_rate = ratio(r->over_refusal, r->n_answer);
}

/* Metric table shared by the JSON report and the HTML page. */
typedef struct metric_row {
    const char *key, *label;
    size_t offset;
} metric_row;
#define ROW(k, l) {#k, l, offsetof(ct_risk_eval_metrics, k)}
static const metric_row ROWS[] = {
    ROW(json_valid_rate, "JSON-valid rate"),
    ROW(label_exact_match, "risk labels: exact set match"),
    ROW(label_micro_f1, "risk labels: micro F1"),
    ROW(label_precision, "risk labels: precision"),
    ROW(label_recall, "risk labels: recall"),
    ROW(product_accuracy, "product accuracy"),
    ROW(approval_accuracy, "needs_human_approval accuracy"),
    ROW(credit_limit_within_10pct, "credit limit within ±10%"),
    ROW(rate_range_accuracy, "rate range accuracy"),
    ROW(top_drivers_match, "top-3 drivers match"),
    ROW(refusal_accuracy, "refusal accuracy (sensitive)"),
    ROW(over_refusal_rate, "over-refusal rate (lower is better)"),
};
#define NROWS (sizeof ROWS / sizeof ROWS[0])

static double row_value(const ct_risk_eval_metrics *m, size_t i) { return *(const double *)((const char *)m + ROWS[i].offset); }

static const struct {
    const char *key;
    size_t offset;
} COUNTS[] = {
    {"n", offsetof(ct_risk_eval_report, n)},
    {"n_answer", offsetof(ct_risk_eval_report, n_answer)},
    {"n_refusal", offsetof(ct_risk_eval_report, n_refusal)},
    {"n_missing", offsetof(ct_risk_eval_report, n_missing)},
    {"json_valid", offsetof(ct_risk_eval_report, json_valid)},
    {"label_exact", offsetof(ct_risk_eval_report, label_exact)},
    {"product_ok", offsetof(ct_risk_eval_report, product_ok)},
    {"approval_ok", offsetof(ct_risk_eval_report, approval_ok)},
    {"limit_ok", offsetof(ct_risk_eval_report, limit_ok)},
    {"rate_ok", offsetof(ct_risk_eval_report, rate_ok)},
    {"drivers_ok", offsetof(ct_risk_eval_report, drivers_ok)},
    {"refusal_ok", offsetof(ct_risk_eval_report, refusal_ok)},
    {"over_refusal", offsetof(ct_risk_eval_report, over_refusal)},
};
#define NCOUNTS (sizeof COUNTS / sizeof COUNTS[0])

char *ct_risk_eval_report_json(const ct_risk_eval_report *r) {
    ct_risk_eval_metrics m;
    ct_risk_eval_metrics_compute(r, &m);
    ct_rjw w;
    ct_rjw_init(&w);
    ct_rjw_obj(&w);
    ct_rjw_key(&w, "metrics");
    ct_rjw_obj(&w);
    for (size_t i = 0; i < NROWS; i++) {
        ct_rjw_key(&w, ROWS[i].key);
        ct_rjw_fixed(&w, llround(row_value(&m, i) * 10000), 4);
    }
    ct_rjw_end(&w);
    ct_rjw_key(&w, "counts");
    ct_rjw_obj(&w);
    for (size_t i = 0; i < NCOUNTS; i++) {
        ct_rjw_key(&w, COUNTS[i].key);
        ct_rjw_int(&w, (int64_t) * (const size_t *)((const char *)r + COUNTS[i].offset));
    }
    ct_rjw_end(&w);
    ct_rjw_key(&w, "labels");
    ct_rjw_obj(&w);
    for (int l = 0; l < CT_RISK_LABEL_COUNT; l++) {
        ct_rjw_key(&w, ct_risk_label_name(l));
        ct_rjw_obj(&w);
        ct_rjw_key(&w, "tp");
        ct_rjw_int(&w, (int64_t)r->tp[l]);
        ct_rjw_key(&w, "fp");
        ct_rjw_int(&w, (int64_t)r->fp[l]);
        ct_rjw_key(&w, "fn");
        ct_rjw_int(&w, (int64_t)r->fn[l]);
        ct_rjw_end(&w);
    }
    ct_rjw_end(&w);
    ct_rjw_end(&w);
    ct_rjw_raw(&w, "\n", 1);
    return ct_rjw_take(&w);
}

static ct_status get_count(const json_t *o, const char *key, size_t *out, ct_err *err) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ct_err_set(err, CT_ERR_FORMAT, "eval report: \"%s\" missing or not a non-negative integer", key);
    *out = (size_t)json_integer_value(v);
    return CT_OK;
}

ct_status ct_risk_eval_report_parse(const char *text, ct_risk_eval_report *r, ct_err *err) {
    ct_risk_eval_report_init(r);
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o) return ct_err_set(err, CT_ERR_FORMAT, "eval report: invalid JSON at line %d: %s", je.line, je.text);
    json_t *counts = json_object_get(o, "counts"), *labels = json_object_get(o, "labels");
    ct_status st = CT_OK;
    for (size_t i = 0; !st && i < NCOUNTS; i++)
        st = get_count(counts, COUNTS[i].key, (size_t *)((char *)r + COUNTS[i].offset), err);
    for (int l = 0; !st && l < CT_RISK_LABEL_COUNT; l++) {
        json_t *lo = json_object_get(labels, ct_risk_label_name(l));
        st = get_count(lo, "tp", &r->tp[l], err);
        if (!st) st = get_count(lo, "fp", &r->fp[l], err);
        if (!st) st = get_count(lo, "fn", &r->fn[l], err);
    }
    json_decref(o);
    return st;
}

static void html_escape(ct_rjw *w, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': ct_rjw_rawz(w, "&lt;"); break;
        case '>': ct_rjw_rawz(w, "&gt;"); break;
        case '&': ct_rjw_rawz(w, "&amp;"); break;
        case '"': ct_rjw_rawz(w, "&quot;"); break;
        default: ct_rjw_raw(w, s, 1);
        }
    }
}

char *ct_risk_eval_report_html(const ct_risk_eval_report *const *reports, const char *const *names, int n) {
    ct_rjw w;
    ct_rjw_init(&w);
    ct_rjw_rawz(&w,
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ctune risk eval</title>\n"
                "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,th:first-child{text-align:left}"
                ".up{color:#070}.down{color:#b00}</style></head><body>\n"
                "<h1>Risk assistant evaluation</h1>\n<table>\n<tr><th>metric</th>");
    ct_risk_eval_metrics *m = calloc((size_t)(n > 0 ? n : 1), sizeof *m);
    if (!m) {
        ct_rjw_free(&w);
        return NULL;
    }
    for (int j = 0; j < n; j++) {
        ct_rjw_rawz(&w, "<th>");
        html_escape(&w, names && names[j] ? names[j] : "report");
        ct_rjw_rawz(&w, "</th>");
        ct_risk_eval_metrics_compute(reports[j], &m[j]);
    }
    if (n == 2) ct_rjw_rawz(&w, "<th>delta</th>");
    ct_rjw_rawz(&w, "</tr>\n");
    char b[32];
    for (size_t i = 0; i < NROWS; i++) {
        ct_rjw_rawz(&w, "<tr><td>");
        html_escape(&w, ROWS[i].label);
        ct_rjw_rawz(&w, "</td>");
        for (int j = 0; j < n; j++)
            ct_rjw_printf(&w, "<td>%s</td>", ct_fixed_fmt(b, llround(row_value(&m[j], i) * 10000), 4));
        if (n == 2) {
            int64_t dlt = llround(row_value(&m[1], i) * 10000) - llround(row_value(&m[0], i) * 10000);
            bool better = (i == NROWS - 1) ? dlt < 0 : dlt > 0; /* over-refusal: lower is better */
            ct_rjw_printf(&w, "<td class=\"%s\">%s%s</td>", dlt == 0 ? "" : better ? "up" : "down", dlt > 0 ? "+" : "",
                          ct_fixed_fmt(b, dlt, 4));
        }
        ct_rjw_rawz(&w, "</tr>\n");
    }
    ct_rjw_rawz(&w, "<tr><td>samples (answer / refusal / missing)</td>");
    for (int j = 0; j < n; j++)
        ct_rjw_printf(&w, "<td>%zu / %zu / %zu</td>", reports[j]->n_answer, reports[j]->n_refusal, reports[j]->n_missing);
    if (n == 2) ct_rjw_rawz(&w, "<td></td>");
    ct_rjw_rawz(&w, "</tr>\n</table>\n<p>Metrics are defined in docs/risk-dataset.md.</p>\n</body></html>\n");
    free(m);
    return ct_rjw_take(&w);
}

/* ---- prompts and references ---- */

/* Index of the target message in an OpenAI-format record: the first assistant message without
 * tool_calls. -1 if none. */
static int openai_target(const json_t *msgs) {
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *tc = json_object_get(m, "tool_calls");
        if (role && !strcmp(role, "assistant") && !(json_is_array(tc) && json_array_size(tc) > 0)) return (int)i;
    }
    return -1;
}

ct_status ct_risk_eval_prompt(const char *record_json, char **prompt_json, ct_err *err) {
    *prompt_json = NULL;
    json_error_t je;
    json_t *rec = json_loads(record_json, 0, &je);
    if (!rec) return ct_err_set(err, CT_ERR_FORMAT, "eval record: invalid JSON at column %d: %s", je.column, je.text);
    json_t *msgs = json_object_get(rec, "messages");
    ct_status st = CT_OK;
    int t = json_is_array(msgs) ? openai_target(msgs) : -1;
    if (!json_is_array(msgs))
        st = ct_err_set(err, CT_ERR_UNSUPPORTED, "eval record has no \"messages\": prompts need OpenAI-format records (--format openai)");
    else if (t < 0) st = ct_err_set(err, CT_ERR_FORMAT, "eval record has no assistant answer");
    if (!st) {
        json_t *out = json_object(), *pm = json_array();
        json_t *id = json_object_get(rec, "id");
        if (id) json_object_set(out, "id", id);
        for (int i = 0; i < t; i++) json_array_append(pm, json_array_get(msgs, (size_t)i));
        json_object_set_new(out, "messages", pm);
        json_t *tools = json_object_get(rec, "tools");
        if (tools) json_object_set(out, "tools", tools);
        json_object_set_new(out, "add_generation_prompt", json_true());
        *prompt_json = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        if (!*prompt_json) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    json_decref(rec);
    return st;
}

static char *with_think(const char *reasoning, const char *content) {
    ct_rjw w;
    ct_rjw_init(&w);
    if (reasoning) ct_rjw_printf(&w, "<think>\n%s\n</think>\n\n", reasoning);
    ct_rjw_rawz(&w, content ? content : "");
    return ct_rjw_take(&w);
}

ct_status ct_risk_eval_reference(const char *record_json, char **output, ct_err *err) {
    *output = NULL;
    json_error_t je;
    json_t *rec = json_loads(record_json, 0, &je);
    if (!rec) return ct_err_set(err, CT_ERR_FORMAT, "eval record: invalid JSON at column %d: %s", je.column, je.text);
    json_t *msgs = json_object_get(rec, "messages"), *conv = json_object_get(rec, "conversations");
    ct_status st = CT_OK;
    if (json_is_array(msgs)) {
        int t = openai_target(msgs);
        json_t *m = t >= 0 ? json_array_get(msgs, (size_t)t) : NULL;
        if (m) *output = with_think(json_string_value(json_object_get(m, "reasoning_content")),
                                    json_string_value(json_object_get(m, "content")));
        else st = ct_err_set(err, CT_ERR_FORMAT, "eval record has no assistant answer");
    } else if (json_is_array(conv)) {
        size_t i;
        json_t *m;
        json_array_foreach(conv, i, m) {
            const char *from = json_string_value(json_object_get(m, "from"));
            if (from && !strcmp(from, "gpt")) {
                *output = with_think(NULL, json_string_value(json_object_get(m, "value")));
                break;
            }
        }
        if (!*output) st = ct_err_set(err, CT_ERR_FORMAT, "eval record has no \"gpt\" turn");
    } else if (json_object_get(rec, "output")) {
        json_t *h = json_object_get(rec, "history");
        const char *o = json_array_size(h) ? json_string_value(json_array_get(json_array_get(h, 0), 1))
                                           : json_string_value(json_object_get(rec, "output"));
        *output = with_think(NULL, o);
    } else {
        st = ct_err_set(err, CT_ERR_FORMAT, "eval record is neither openai, sharegpt nor alpaca");
    }
    if (!st && !*output) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    json_decref(rec);
    return st;
}

ct_status ct_risk_eval_reference_pred(const char *record_json, char **line, ct_err *err) {
    *line = NULL;
    char *out;
    ct_status st = ct_risk_eval_reference(record_json, &out, err);
    if (st) return st;
    json_t *o = json_loads(record_json, 0, NULL);
    ct_rjw w;
    ct_rjw_init(&w);
    ct_rjw_obj(&w);
    const char *id = json_string_value(json_object_get(o, "id"));
    if (id) {
        ct_rjw_key(&w, "id");
        ct_rjw_str(&w, id);
    }
    ct_rjw_key(&w, "output");
    ct_rjw_str(&w, out);
    ct_rjw_end(&w);
    json_decref(o);
    free(out);
    *line = ct_rjw_take(&w);
    return *line ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
}
