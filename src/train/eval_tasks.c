/* eval_tasks (docs/eval.md, "During training"): at each evaluation the `ctune eval` config runs
 * (include/ctune/eval.h) on the model as it is at this step, into <output_dir>/eval/step-N/
 * (EvalScope tree, report.html): LoRA and prompt tuning write the adapter being trained to
 * eval/step-N/adapter and evaluate base + that adapter; full and freeze fine-tuning (BAdam, GaLore,
 * LLaMA Pro included) evaluate the weights the trainer holds, in memory (no model is written);
 * every report's metrics come back as "task/metric" scores for the on_evaluate sinks
 * (trainer_log.jsonl "eval_<task>/<metric>", TensorBoard "eval/<task>/<metric>"). */
#include "train/eval_tasks.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/eval.h"
#include "model/model.h"

void ct_eval_scores_free(ct_eval_scores *s) {
    for (size_t i = 0; i < s->n; i++) free(s->names[i]);
    free(s->names);
    free(s->values);
    memset(s, 0, sizeof *s);
}

static ct_status push(ct_eval_scores *s, const char *task, const char *metric, double v, ct_err *err) {
    char **n = realloc(s->names, (s->n + 1) * sizeof *n);
    if (n) s->names = n;
    double *x = realloc(s->values, (s->n + 1) * sizeof *x);
    if (x) s->values = x;
    size_t len = strlen(task) + strlen(metric) + 2;
    char *name = n && x ? malloc(len) : NULL;
    if (!name) return ct_err_set(err, CT_ERR_NOMEM, "eval_tasks: out of memory");
    snprintf(name, len, "%s/%s", task, metric);
    s->names[s->n] = name;
    s->values[s->n++] = v;
    return CT_OK;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every reports/eval/<task>.json of a run, tasks in name order, metrics in report order. */
static ct_status read_reports(const char *run, ct_eval_scores *out, ct_err *err) {
    size_t n = strlen(run) + 32;
    char *dir = malloc(n);
    if (!dir) return ct_err_set(err, CT_ERR_NOMEM, "eval_tasks: out of memory");
    snprintf(dir, n, "%s/reports/eval", run);
    DIR *d = opendir(dir);
    if (!d) {
        ct_status st = ct_err_set(err, CT_ERR_IO, "eval_tasks: no reports in %s", dir);
        free(dir);
        return st;
    }
    char **files = NULL;
    size_t nf = 0;
    ct_status st = CT_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
        char **f = realloc(files, (nf + 1) * sizeof *f);
        if (!f || !(f[nf] = strdup(e->d_name))) st = ct_err_set(err, CT_ERR_NOMEM, "eval_tasks: out of memory");
        if (f) files = f;
        if (!st) nf++;
    }
    closedir(d);
    if (files) qsort(files, nf, sizeof *files, by_name);
    for (size_t i = 0; i < nf && !st; i++) {
        size_t pn = strlen(dir) + strlen(files[i]) + 2;
        char *p = malloc(pn);
        json_t *rep = NULL;
        if (!p) st = ct_err_set(err, CT_ERR_NOMEM, "eval_tasks: out of memory");
        else {
            snprintf(p, pn, "%s/%s", dir, files[i]);
            st = ct_json_load_file(p, &rep, err);
            free(p);
        }
        const char *task = json_string_value(json_object_get(rep, "dataset_name"));
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(rep, "metrics"), k, m) {
            if (st || !task) break;
            const char *name = json_string_value(json_object_get(m, "name"));
            if (name) st = push(out, task, name, json_number_value(json_object_get(m, "score")), err);
        }
        json_decref(rep);
    }
    for (size_t i = 0; i < nf; i++) free(files[i]);
    free(files);
    free(dir);
    return st;
}

/* The model the trainer holds now: its decoder's weight views (trained masters, frozen weights
 * as loaded) around the base's config. */
static ct_status held_model(ct_trainer *t, ct_model **out, ct_err *err) {
    ct_weights w;
    ct_status st = ct_weights_clone(&w, &t->tm.w, err);
    if (st) return st;
    *out = ct_model_wrap(ct_model_config(t->model), &w);
    if (*out) return CT_OK;
    ct_weights_free(&w);
    return ct_err_set(err, CT_ERR_NOMEM, "eval_tasks: out of memory");
}

ct_status ct_trainer_eval_tasks(ct_trainer *t, ct_eval_scores *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    const ct_train_config *c = t->cfg;
    bool adapter_method = t->tm.method == CT_METHOD_LORA || t->tm.method == CT_METHOD_PROMPT;
    size_t n = strlen(c->output_dir) + 64;
    char *work = malloc(n), *adapter = malloc(n + 32), ts[40];
    ct_status st = work && adapter ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "eval_tasks: out of memory");
    if (!st) {
        snprintf(work, n, "%s/eval", c->output_dir);
        snprintf(ts, sizeof ts, "step-%" PRId64, t->step);
        snprintf(adapter, n + 32, "%s/%s/adapter", work, ts);
        st = ct_mkdir_p(adapter_method ? adapter : work, err);
    }
    if (!st && t->tm.method == CT_METHOD_LORA) st = ct_trainer_save_lora(t, adapter, false, NULL, err);
    if (!st && t->tm.method == CT_METHOD_PROMPT) st = ct_trainer_save_prompt(t, adapter, err);
    ct_model *held = NULL;
    if (!st && !adapter_method) st = held_model(t, &held, err);
    char *run = NULL;
    if (!st) {
        ct_eval_opts o = ct_eval_opts_default();
        o.config_path = c->eval_tasks;
        o.work_dir = work;
        o.timestamp = ts;
        o.model = t->model_dir;
        o.adapter = adapter_method ? adapter : NULL;
        o.loaded = held;
        st = ct_eval_run(&o, &run, err);
    }
    ct_model_free(held);
    if (!st) st = read_reports(run, out, err);
    if (st) {
        ct_eval_scores_free(out);
        ct_err_prefix(err, "eval_tasks (%s) at step %" PRId64, c->eval_tasks, t->step);
    }
    free(run);
    free(work);
    free(adapter);
    return st;
}
