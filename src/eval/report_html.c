/* report.html of an eval run (report_html.h): read back from the run's reports/ and reviews/ /
 * predictions/ files, so the page shows exactly what the files say. */
#include "eval/report_html.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/json.h"
#include "base/str.h"

#define MAX_FAILED 50 /* failed samples listed per model and task */

static const char *const k_colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948", "#9c755f"};

static char *path3(const char *run, const char *kind, const char *model, const char *task, const char *ext) {
    size_t n = strlen(run) + strlen(kind) + strlen(model) + strlen(task) + strlen(ext) + 8;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s/%s/%s%s", run, kind, model, task, ext);
    return p;
}

/* reports[m * n_tasks + t]: the parsed report or NULL when the file is absent. */
static json_t *load_report(const char *run, const char *model, const char *task) {
    char *p = path3(run, "reports", model, task, ".json");
    json_t *r = NULL;
    ct_err e = {0};
    if (p && ct_file_exists(p)) ct_json_load_file(p, &r, &e);
    free(p);
    return r;
}

static const json_t *find_metric(const json_t *rep, const char *name) {
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(rep, "metrics"), i, m) if (!strcmp(json_string_value(json_object_get(m, "name")), name)) return m;
    return NULL;
}

static const json_t *subsets_of(const json_t *metric) {
    return json_object_get(json_array_get(json_object_get(metric, "categories"), 0), "subsets");
}

/* The metric names of a task over every model, in first-seen order. */
static json_t *metric_names(json_t **reps, size_t n_models, size_t n_tasks, size_t t) {
    json_t *names = json_array();
    for (size_t m = 0; m < n_models; m++) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(reps[m * n_tasks + t], "metrics"), i, x) {
            const char *nm = json_string_value(json_object_get(x, "name"));
            bool seen = false;
            for (size_t k = 0; k < json_array_size(names) && !seen; k++)
                seen = !strcmp(json_string_value(json_array_get(names, k)), nm);
            if (nm && !seen) json_array_append_new(names, json_string(nm));
        }
    }
    return names;
}

static void bar_chart(ct_buf *b, const char *task, const char *metric, json_t **reps, const char *const *models,
                      size_t n_models, size_t n_tasks, size_t t) {
    double v[64], top = 1.0;
    bool has[64];
    size_t n = n_models < 64 ? n_models : 64;
    for (size_t m = 0; m < n; m++) {
        const json_t *x = find_metric(reps[m * n_tasks + t], metric);
        has[m] = x != NULL;
        v[m] = x ? json_number_value(json_object_get(x, "score")) : 0.0;
        if (has[m] && isfinite(v[m]) && v[m] > top) top = v[m];
    }
    const double bw = 56, gap = 24, H = 170, base = 140, left = 10;
    double W = left * 2 + (double)n * (bw + gap);
    if (W < 220) W = 220;
    ct_buf_puts(b, "<figure class=\"chart\"><figcaption>");
    ct_buf_xml_escape(b, metric);
    ct_buf_printf(b, "</figcaption><svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                     "viewBox=\"0 0 %.0f %.0f\" data-task=\"", W, H + 30, W, H + 30);
    ct_buf_xml_escape(b, task);
    ct_buf_puts(b, "\" data-metric=\"");
    ct_buf_xml_escape(b, metric);
    ct_buf_printf(b, "\"><line x1=\"0\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#888\"/>", base, W, base);
    for (size_t m = 0; m < n; m++) {
        double x = left + (double)m * (bw + gap), h = has[m] && isfinite(v[m]) && v[m] > 0 ? (base - 20) * v[m] / top : 0;
        ct_buf_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\" fill=\"%s\"><title>", x,
                      base - h, bw, h, k_colors[m % 8]);
        ct_buf_xml_escape(b, models[m]);
        ct_buf_printf(b, has[m] ? ": %.4f</title></rect>" : ": no score</title></rect>", v[m]);
        ct_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">", x + bw / 2, base - h - 4);
        if (has[m]) ct_buf_printf(b, "%.4g", v[m]);
        else ct_buf_puts(b, "n/a");
        ct_buf_printf(b, "</text><text class=\"model\" x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">",
                      x + bw / 2, base + 16);
        ct_buf_xml_escape(b, models[m]);
        ct_buf_puts(b, "</text>");
    }
    ct_buf_puts(b, "</svg></figure>\n");
}

static void subset_table(ct_buf *b, const json_t *names, json_t **reps, const char *const *models, size_t n_models,
                         size_t n_tasks, size_t t) {
    ct_buf_puts(b, "<table class=\"subsets\"><thead><tr><th>metric</th><th>subset</th>");
    for (size_t m = 0; m < n_models; m++) {
        ct_buf_puts(b, "<th class=\"model\">");
        ct_buf_xml_escape(b, models[m]);
        ct_buf_puts(b, "</th>");
    }
    ct_buf_puts(b, "</tr></thead><tbody>\n");
    size_t k;
    json_t *nm;
    json_array_foreach(names, k, nm) {
        const char *metric = json_string_value(nm);
        /* subset names in first-seen order, then the overall score */
        json_t *subs = json_array();
        for (size_t m = 0; m < n_models; m++) {
            size_t i;
            json_t *s;
            json_array_foreach(subsets_of(find_metric(reps[m * n_tasks + t], metric)), i, s) {
                const char *sn = json_string_value(json_object_get(s, "name"));
                bool seen = false;
                for (size_t j = 0; j < json_array_size(subs) && !seen; j++) seen = !strcmp(json_string_value(json_array_get(subs, j)), sn);
                if (sn && !seen) json_array_append_new(subs, json_string(sn));
            }
        }
        for (size_t j = 0; j <= json_array_size(subs); j++) {
            const char *sn = j < json_array_size(subs) ? json_string_value(json_array_get(subs, j)) : NULL;
            ct_buf_puts(b, sn ? "<tr><td>" : "<tr class=\"overall\"><td>");
            ct_buf_xml_escape(b, metric);
            ct_buf_puts(b, "</td><td>");
            ct_buf_xml_escape(b, sn ? sn : "(all)");
            ct_buf_puts(b, "</td>");
            for (size_t m = 0; m < n_models; m++) {
                const json_t *x = find_metric(reps[m * n_tasks + t], metric), *cell = NULL;
                if (sn) {
                    size_t i;
                    json_t *s;
                    json_array_foreach(subsets_of(x), i, s) if (!strcmp(json_string_value(json_object_get(s, "name")), sn)) cell = s;
                } else
                    cell = x;
                if (cell)
                    ct_buf_printf(b, "<td>%.4f <small>(%lld)</small></td>", json_number_value(json_object_get(cell, "score")),
                                  (long long)json_integer_value(json_object_get(cell, "num")));
                else
                    ct_buf_puts(b, "<td>-</td>");
            }
            ct_buf_puts(b, "</tr>\n");
        }
        json_decref(subs);
    }
    ct_buf_puts(b, "</tbody></table>\n");
}

typedef struct lines {
    json_t *v; /* array of the parsed lines */
} lines;

static ct_status line_cb(void *u, char *line, size_t lineno, ct_err *err) {
    (void)lineno;
    (void)err;
    json_t *o = json_loads(line, 0, NULL);
    json_array_append_new(((lines *)u)->v, o ? o : json_object());
    return CT_OK;
}

static json_t *read_lines(const char *run, const char *kind, const char *model, const char *task) {
    json_t *v = json_array();
    char *p = path3(run, kind, model, task, ".jsonl"), *buf = NULL;
    size_t n = 0;
    ct_err e = {0};
    if (p && ct_file_exists(p) && !ct_read_file(p, &buf, &n, &e)) {
        lines l = {v};
        ct_each_line(buf, line_cb, &l, &e);
    }
    free(buf);
    free(p);
    return v;
}

/* A review says the sample failed: passed / correct / a think-mode flag false. */
static bool failed(const json_t *rev) {
    static const char *const flags[] = {"passed", "correct", "think_compliant", "no_think_compliant"};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (json_is_false(json_object_get(rev, flags[i]))) return true;
    return false;
}

static void put_value(ct_buf *b, const json_t *v) {
    if (json_is_string(v)) {
        ct_buf_xml_escape(b, json_string_value(v));
        return;
    }
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    ct_buf_xml_escape(b, s ? s : "");
    free(s);
}

static void failed_samples(ct_buf *b, const char *run, const char *task, const char *model) {
    json_t *pred = read_lines(run, "predictions", model, task), *rev = read_lines(run, "reviews", model, task);
    size_t n_failed = 0;
    for (size_t i = 0; i < json_array_size(rev); i++) n_failed += failed(json_array_get(rev, i));
    ct_buf_puts(b, "<details class=\"failed\"><summary>");
    ct_buf_xml_escape(b, model);
    ct_buf_printf(b, ": %zu failed of %zu%s</summary>", n_failed, json_array_size(rev),
                  n_failed > MAX_FAILED ? " (the first 50 shown)" : "");
    if (n_failed) {
        ct_buf_puts(b, "<table class=\"failed\"><thead><tr><th>id</th><th>subset</th><th>model output</th>"
                       "<th>reference</th><th>why</th></tr></thead><tbody>\n");
        size_t shown = 0;
        for (size_t i = 0; i < json_array_size(rev) && shown < MAX_FAILED; i++) {
            const json_t *r = json_array_get(rev, i), *p = json_array_get(pred, i);
            if (!failed(r)) continue;
            shown++;
            const json_t *out = json_object_get(p, "output");
            if (!out) out = json_object_get(p, json_is_false(json_object_get(r, "think_compliant")) ? "output_thinking"
                                                                                                  : "output_no_thinking");
            if (!out) out = json_object_get(p, "answer");
            ct_buf_puts(b, "<tr><td>");
            put_value(b, json_object_get(r, "id"));
            ct_buf_puts(b, "</td><td>");
            put_value(b, json_object_get(r, "subset"));
            ct_buf_puts(b, "</td><td class=\"output\"><pre>");
            put_value(b, out);
            ct_buf_puts(b, "</pre></td><td class=\"reference\"><pre>");
            put_value(b, json_object_get(r, "target"));
            ct_buf_puts(b, "</pre></td><td>");
            put_value(b, json_object_get(r, "why"));
            ct_buf_puts(b, "</td></tr>\n");
        }
        ct_buf_puts(b, "</tbody></table>");
    }
    ct_buf_puts(b, "</details>\n");
    json_decref(pred);
    json_decref(rev);
}

static const char k_style[] =
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222}h2{border-bottom:1px solid #ccc;padding-bottom:4px}"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}figure.chart{margin:0;border:1px solid #eee;padding:6px}"
    "figcaption{font-weight:600;font-size:13px}table{border-collapse:collapse;margin:8px 0;font-size:13px}"
    "td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}tr.overall{font-weight:600}"
    "pre{white-space:pre-wrap;max-width:40em;margin:0}.legend span{display:inline-block;margin-right:14px}"
    ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}";

/* A little script: clicking a model in the legend dims the other models' bars. */
static const char k_script[] =
    "document.querySelectorAll('.legend span').forEach(function(s,i){s.style.cursor='pointer';"
    "s.addEventListener('click',function(){document.querySelectorAll('svg.bars').forEach(function(g){"
    "g.querySelectorAll('rect.bar').forEach(function(r,j){r.style.opacity=(r.style.opacity==='0.2'||j===i)?'1':'0.2';});});});});";

ct_status ct_eval_report_html(const char *run_dir, const char *const *models, size_t n_models, const char *const *tasks,
                              size_t n_tasks, ct_err *err) {
    json_t **reps = calloc(n_models * n_tasks + 1, sizeof *reps);
    if (!reps) return ct_err_set(err, CT_ERR_NOMEM, "report.html: out of memory");
    for (size_t m = 0; m < n_models; m++)
        for (size_t t = 0; t < n_tasks; t++) reps[m * n_tasks + t] = load_report(run_dir, models[m], tasks[t]);
    ct_buf b = {0};
    ct_buf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ctune eval report</title>"
                      "<style>%s</style></head><body>\n<h1>ctune eval report</h1>\n<p>run: <code>", k_style);
    ct_buf_xml_escape(&b, run_dir);
    ct_buf_puts(&b, "</code></p>\n<p class=\"legend\">");
    for (size_t m = 0; m < n_models; m++) {
        ct_buf_printf(&b, "<span class=\"model\"><i style=\"background:%s\"></i>", k_colors[m % 8]);
        ct_buf_xml_escape(&b, models[m]);
        ct_buf_puts(&b, "</span>");
    }
    ct_buf_puts(&b, "</p>\n");
    for (size_t t = 0; t < n_tasks; t++) {
        json_t *names = metric_names(reps, n_models, n_tasks, t);
        ct_buf_puts(&b, "<section class=\"task\" id=\"task-");
        ct_buf_xml_escape(&b, tasks[t]);
        ct_buf_puts(&b, "\"><h2>");
        ct_buf_xml_escape(&b, tasks[t]);
        ct_buf_puts(&b, "</h2>\n<div class=\"charts\">\n");
        size_t k;
        json_t *nm;
        json_array_foreach(names, k, nm) bar_chart(&b, tasks[t], json_string_value(nm), reps, models, n_models, n_tasks, t);
        ct_buf_puts(&b, "</div>\n<h3>per subset</h3>\n");
        subset_table(&b, names, reps, models, n_models, n_tasks, t);
        ct_buf_puts(&b, "<h3>failed samples</h3>\n");
        for (size_t m = 0; m < n_models; m++) failed_samples(&b, run_dir, tasks[t], models[m]);
        ct_buf_puts(&b, "</section>\n");
        json_decref(names);
    }
    ct_buf_printf(&b, "<script>%s</script>\n</body></html>\n", k_script);
    for (size_t i = 0; i < n_models * n_tasks; i++) json_decref(reps[i]);
    free(reps);
    ct_status st;
    if (b.oom) st = ct_err_set(err, CT_ERR_NOMEM, "report.html: out of memory");
    else {
        size_t n = strlen(run_dir) + 16;
        char *p = malloc(n);
        if (!p) st = ct_err_set(err, CT_ERR_NOMEM, "report.html: out of memory");
        else {
            snprintf(p, n, "%s/report.html", run_dir);
            st = ct_write_file_atomic(p, b.data, b.len, err);
            free(p);
        }
    }
    ct_buf_free(&b);
    return st;
}
