/* `ctune eval`: the EvalScope TaskConfig (plus ctune's keys for adapters and side-by-side
 * models), every task on every model, the output tree and the console table (ctune/eval.h,
 * docs/eval.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cfgfile.h"
#include "base/file.h"
#include "ctune/eval.h"
#include "eval/report_html.h"
#include "eval/task.h"

#define MAX_TASKS 8

typedef struct suite_cfg {
    char *model;
    ct_strlist datasets, adapters, models;
    char *work_dir, *template_name, *quant;
    int64_t limit, eval_batch_size, threads;
    bool eval_base;
    int64_t max_tokens, top_k, seed;
    bool do_sample;
    double temperature, top_p, repetition_penalty;
} suite_cfg;

#define F(x) offsetof(suite_cfg, x)
static const ct_cfg_key k_keys[] = {
    {"model", CT_CFG_STR, F(model), NULL, NULL},
    {"datasets", CT_CFG_LIST, F(datasets), NULL, NULL},
    {"work_dir", CT_CFG_STR, F(work_dir), "outputs", NULL},
    {"limit", CT_CFG_INT, F(limit), "-1", NULL},
    {"eval_batch_size", CT_CFG_INT, F(eval_batch_size), "1", NULL},
    {"adapters", CT_CFG_LIST, F(adapters), NULL, NULL},
    {"models", CT_CFG_LIST, F(models), NULL, NULL},
    {"eval_base", CT_CFG_BOOL, F(eval_base), "true", NULL},
    {"template", CT_CFG_STR, F(template_name), NULL, NULL},
    {"threads", CT_CFG_INT, F(threads), "0", NULL},
    {"quant", CT_CFG_STR, F(quant), NULL, "q8_0|q4_0"}, /* ctune: ggml blocks on load (docs/eval.md) */
    {"generation_config.max_tokens", CT_CFG_INT, F(max_tokens), "256", NULL},
    {"generation_config.max_new_tokens", CT_CFG_INT, F(max_tokens), NULL, NULL},
    {"generation_config.do_sample", CT_CFG_BOOL, F(do_sample), "false", NULL},
    {"generation_config.temperature", CT_CFG_DBL, F(temperature), "1.0", NULL},
    {"generation_config.top_p", CT_CFG_DBL, F(top_p), "1.0", NULL},
    {"generation_config.top_k", CT_CFG_INT, F(top_k), "0", NULL},
    {"generation_config.seed", CT_CFG_INT, F(seed), "42", NULL},
    {"generation_config.repetition_penalty", CT_CFG_DBL, F(repetition_penalty), "1.0", NULL},
};
#undef F
#define N_KEYS (sizeof k_keys / sizeof *k_keys)

typedef struct loaded {
    const ct_eval_task *task[MAX_TASKS];
    void *args[MAX_TASKS];
    size_t n;
} loaded;

typedef struct parse_ctx {
    suite_cfg *c;
    loaded *l;
} parse_ctx;

/* The args struct of a task (created with its defaults on first use). */
static void *task_args(loaded *l, const ct_eval_task *t, ct_err *err) {
    for (size_t i = 0; i < l->n; i++)
        if (l->task[i] == t) return l->args[i];
    if (l->n == MAX_TASKS) return NULL;
    void *a = calloc(1, t->args_size ? t->args_size : 1);
    if (!a) {
        ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ct_cfg_defaults(a, t->keys, t->n_keys);
    l->task[l->n] = t;
    l->args[l->n++] = a;
    return a;
}

static ct_status set_key(void *user, const char *key, const char *value, const char *where, ct_err *err) {
    parse_ctx *p = user;
    if (!strncmp(key, "dataset_args.", 13)) {
        const char *tn = key + 13, *dot = strchr(tn, '.');
        if (!dot) return ct_err_set(err, CT_ERR_FORMAT, "%s: dataset_args.%s: expected a mapping of the task's keys", where, tn);
        char name[64];
        size_t nl = (size_t)(dot - tn);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, tn, nl);
        name[nl] = 0;
        const ct_eval_task *t = ct_eval_task_find(name);
        if (!t) return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args: unknown task '%s' (tasks: %s)", where, name, ct_eval_task_names());
        const ct_cfg_key *k = ct_cfg_find(t->keys, t->n_keys, dot + 1);
        if (!k) return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s' for task %s", where, key, t->name);
        void *a = task_args(p->l, t, err);
        if (!a) return CT_ERR_NOMEM;
        return ct_cfg_set_typed(a, k, value, where, err);
    }
    const ct_cfg_key *k = ct_cfg_find(k_keys, N_KEYS, key);
    if (!k) return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s'", where, key);
    return ct_cfg_set_typed(p->c, k, value, where, err);
}

/* ---- scores: per metric, per subset, sums and weights in insertion order ---- */
typedef struct score_cell {
    char *metric, *subset;
    double sum, num;
} score_cell;

typedef struct suite_run {
    ct_atomic_file pred, rev;
    score_cell *cells;
    size_t n_cells, cap_cells;
    size_t done, total;
    FILE *progress;
    const char *label;
} suite_run;

ct_status ct_eval_add_sum(ct_eval_env *e, const char *metric, const char *subset, double sum, double weight,
                          ct_err *err) {
    suite_run *r = e->suite;
    for (size_t i = 0; i < r->n_cells; i++)
        if (!strcmp(r->cells[i].metric, metric) && !strcmp(r->cells[i].subset, subset)) {
            r->cells[i].sum += sum;
            r->cells[i].num += weight;
            return CT_OK;
        }
    if (r->n_cells == r->cap_cells) {
        size_t nc = r->cap_cells ? r->cap_cells * 2 : 32;
        score_cell *p = realloc(r->cells, nc * sizeof *p);
        if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        r->cells = p;
        r->cap_cells = nc;
    }
    score_cell *c = &r->cells[r->n_cells];
    if (!(c->metric = strdup(metric)) || !(c->subset = strdup(subset))) {
        free(c->metric);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    c->sum = sum;
    c->num = weight;
    r->n_cells++;
    return CT_OK;
}

ct_status ct_eval_add(ct_eval_env *e, const char *metric, const char *subset, double value, ct_err *err) {
    return ct_eval_add_sum(e, metric, subset, value, 1.0, err);
}

static ct_status write_line(ct_atomic_file *f, json_t *o, const char *subset, ct_err *err) {
    json_object_set_new(o, "subset", json_string(subset));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_atomic_write(f, s, strlen(s), err);
    if (!st) st = ct_atomic_write(f, "\n", 1, err);
    free(s);
    return st;
}

ct_status ct_eval_emit(ct_eval_env *e, const char *subset, json_t *prediction, json_t *review, ct_err *err) {
    suite_run *r = e->suite;
    if (!prediction || !review) {
        json_decref(prediction);
        json_decref(review);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_status st = write_line(&r->pred, prediction, subset, err);
    if (st) {
        json_decref(review);
        return st;
    }
    return write_line(&r->rev, review, subset, err);
}

void ct_eval_tick(ct_eval_env *e) {
    suite_run *r = e->suite;
    r->done++;
    if (!r->progress || !isatty(fileno(r->progress))) return;
    int w = 30, filled = r->total ? (int)(w * r->done / r->total) : w;
    fprintf(r->progress, "\r%-40.40s |%.*s%*s| %zu/%zu", r->label, filled, "##############################",
            w - filled, "", r->done, r->total);
    if (r->done == r->total) fputc('\n', r->progress);
    fflush(r->progress);
}

/* ---- reports (EvalScope's layout) ---- */
static json_t *report_json(const suite_run *r, const char *model, const char *dataset) {
    json_t *metrics = json_array();
    double main_score = 0.0;
    for (size_t i = 0; i < r->n_cells; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++) first &= strcmp(r->cells[j].metric, r->cells[i].metric) != 0;
        if (!first) continue;
        const char *m = r->cells[i].metric;
        double sum = 0.0, num = 0.0, macro = 0.0;
        size_t n_sub = 0;
        json_t *subsets = json_array();
        for (size_t j = i; j < r->n_cells; j++) {
            if (strcmp(r->cells[j].metric, m)) continue;
            const score_cell *c = &r->cells[j];
            double sc = c->num > 0 ? c->sum / c->num : 0.0;
            sum += c->sum;
            num += c->num;
            macro += sc;
            n_sub++;
            json_array_append_new(subsets, json_pack("{s:s, s:f, s:I}", "name", c->subset, "score", sc, "num",
                                                     (json_int_t)c->num));
        }
        /* ppl is a per-subset value (exp of the subset's loss): its overall score is the macro mean */
        double score = !strcmp(m, "ppl") ? macro / (double)n_sub : num > 0 ? sum / num : 0.0;
        macro = n_sub ? macro / (double)n_sub : 0.0;
        if (json_array_size(metrics) == 0) main_score = score;
        json_t *cat = json_pack("{s:[s], s:I, s:f, s:f, s:o}", "name", "default", "num", (json_int_t)num, "score", score,
                                "macro_score", macro, "subsets", subsets);
        json_array_append_new(metrics, json_pack("{s:s, s:I, s:f, s:f, s:[o]}", "name", m, "num", (json_int_t)num,
                                                 "score", score, "macro_score", macro, "categories", cat));
    }
    char name[512];
    snprintf(name, sizeof name, "%s@%s", model, dataset);
    return json_pack("{s:s, s:s, s:s, s:s, s:f, s:o, s:s}", "name", name, "dataset_name", dataset, "dataset_pretty_name",
                     dataset, "model_name", model, "score", main_score, "metrics", metrics, "analysis", "N/A");
}

static void run_reset(suite_run *r) {
    for (size_t i = 0; i < r->n_cells; i++) {
        free(r->cells[i].metric);
        free(r->cells[i].subset);
    }
    r->n_cells = 0;
    r->done = 0;
}

/* ---- the console table ---- */
typedef struct row {
    char *model, *task, *metric;
    double score;
    size_t num;
} row;

typedef struct table {
    row *v;
    size_t n, cap;
} table;

static void table_add(table *t, const char *model, const char *task, const suite_run *r, json_t *rep) {
    (void)r;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(rep, "metrics"), i, m) {
        if (t->n == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 32;
            row *p = realloc(t->v, nc * sizeof *p);
            if (!p) return;
            t->v = p;
            t->cap = nc;
        }
        t->v[t->n++] = (row){strdup(model), strdup(task), strdup(json_string_value(json_object_get(m, "name"))),
                             json_real_value(json_object_get(m, "score")),
                             (size_t)json_integer_value(json_object_get(m, "num"))};
    }
}

static void table_print(const table *t, FILE *f) {
    if (!f) return;
    fprintf(f, "%-28s %-14s %-28s %12s %8s\n", "model", "task", "metric", "score", "num");
    for (size_t i = 0; i < t->n; i++)
        fprintf(f, "%-28s %-14s %-28s %12.4f %8zu\n", t->v[i].model ? t->v[i].model : "?", t->v[i].task ? t->v[i].task : "?",
                t->v[i].metric ? t->v[i].metric : "?", t->v[i].score, t->v[i].num);
}

static void table_free(table *t) {
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].model);
        free(t->v[i].task);
        free(t->v[i].metric);
    }
    free(t->v);
}

/* ---- the run ---- */
static const char *base_name(const char *dir, char *buf, size_t n) {
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    size_t s = l;
    while (s > 0 && dir[s - 1] != '/') s--;
    snprintf(buf, n, "%.*s", (int)(l - s), dir + s);
    return buf;
}

static ct_status ensure_dir(const char *a, const char *b, const char *c, ct_err *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s/%s", a, b, c);
    return ct_mkdir_p(p, err);
}

typedef struct model_spec {
    const char *dir, *adapter;
    char name[256];
    const ct_model *mem; /* ct_eval_opts.loaded: evaluated as held, dir gives the tokenizer */
} model_spec;

/* A runtime over the spec's directories, or over its in-memory model (*tok: the tokenizer loaded
 * for it, NULL when the directory has none; the caller frees it after the runtime). */
static ct_status open_runtime(const ct_runtime_opts *ro, const model_spec *ms, ct_runtime **rt, ct_tokenizer **tok,
                              ct_err *err) {
    *tok = NULL;
    if (!ms->mem) return ct_runtime_open(ro, rt, err);
    ct_err e2 = {0};
    if (ct_tokenizer_load(ms->dir, tok, &e2)) *tok = NULL; /* only the tasks that need text fail */
    return ct_runtime_borrow(ms->mem, NULL, *tok, ro, rt, err);
}

static ct_status run_model(const suite_cfg *c, const ct_eval_opts *o, const model_spec *ms, loaded *l, void **states,
                           const char *run_dir, table *tab, ct_err *err) {
    ct_runtime_opts ro = ct_runtime_opts_default();
    ro.model_dir = ms->dir;
    ro.adapter_dir = ms->adapter;
    ro.template_name = c->template_name;
    ro.threads = (int)c->threads;
    if (c->quant) ct_quant_format_parse(c->quant, &ro.quant.format); /* checked by ct_eval_run */
    ro.batch_precision = o->batch_precision;
    ct_runtime *rt = NULL;
    ct_tokenizer *tok = NULL;
    ct_status st = open_runtime(&ro, ms, &rt, &tok, err);
    if (st) {
        ct_tokenizer_free(tok);
        return ct_err_prefix(err, "model %s", ms->name);
    }
    ct_eval_env env = {.rt = rt, .model_name = ms->name, .limit = c->limit, .batch = (size_t)c->eval_batch_size};
    if ((st = ct_runtime_gen_params(rt, false, &env.gen, err))) {
        ct_runtime_free(rt);
        ct_tokenizer_free(tok);
        return st;
    }
    env.gen.max_new_tokens = (int32_t)c->max_tokens;
    env.gen.do_sample = c->do_sample;
    env.gen.temperature = (float)c->temperature;
    env.gen.top_p = (float)c->top_p;
    env.gen.top_k = (int32_t)c->top_k;
    env.gen.seed = (uint64_t)c->seed;
    env.gen.repetition_penalty = (float)c->repetition_penalty;
    suite_run r = {.progress = o->progress};
    env.suite = &r;
    char label[512];
    for (size_t i = 0; i < c->datasets.n && !st; i++) {
        const ct_eval_task *t = ct_eval_task_find(c->datasets.v[i]);
        size_t k = 0;
        while (l->task[k] != t) k++;
        char path[4096];
        run_reset(&r);
        r.total = t->count(states[k], c->limit);
        snprintf(label, sizeof label, "%s %s", ms->name, t->name);
        r.label = label;
        if ((st = ensure_dir(run_dir, "predictions", ms->name, err)) || (st = ensure_dir(run_dir, "reviews", ms->name, err)) ||
            (st = ensure_dir(run_dir, "reports", ms->name, err)))
            break;
        snprintf(path, sizeof path, "%s/predictions/%s/%s.jsonl", run_dir, ms->name, t->name);
        if ((st = ct_atomic_open(&r.pred, path, err))) break;
        snprintf(path, sizeof path, "%s/reviews/%s/%s.jsonl", run_dir, ms->name, t->name);
        if ((st = ct_atomic_open(&r.rev, path, err))) {
            ct_atomic_abort(&r.pred);
            break;
        }
        st = t->run(states[k], &env, err);
        if (st) {
            ct_err_prefix(err, "%s on %s", t->name, ms->name);
            ct_atomic_abort(&r.pred);
            ct_atomic_abort(&r.rev);
            break;
        }
        if ((st = ct_atomic_commit(&r.pred, err))) {
            ct_atomic_abort(&r.rev);
            break;
        }
        if ((st = ct_atomic_commit(&r.rev, err))) break;
        json_t *rep = report_json(&r, ms->name, t->name);
        char *s = rep ? json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
        snprintf(path, sizeof path, "%s/reports/%s/%s.json", run_dir, ms->name, t->name);
        st = s ? ct_write_file_atomic(path, s, strlen(s), err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        if (!st) table_add(tab, ms->name, t->name, &r, rep);
        if (!st && o->progress && !isatty(fileno(o->progress)))
            fprintf(o->progress, "%s: %zu samples, score %.4f\n", label, r.done,
                    json_real_value(json_object_get(rep, "score")));
        free(s);
        json_decref(rep);
    }
    run_reset(&r);
    free(r.cells);
    ct_runtime_free(rt);
    ct_tokenizer_free(tok);
    return st;
}

ct_eval_opts ct_eval_opts_default(void) { return (ct_eval_opts){.limit = -1}; }

ct_status ct_eval_run(const ct_eval_opts *o, char **run_dir_out, ct_err *err) {
    suite_cfg c = {0};
    loaded l = {0};
    void *states[MAX_TASKS] = {0};
    table tab = {0};
    char *run_dir = NULL;
    ct_cfg_defaults(&c, k_keys, N_KEYS);
    parse_ctx pc = {&c, &l};
    ct_status st = ct_cfg_load_yaml_nested(o->config_path, 2, set_key, &pc, err);
    if (!st && o->limit >= 0) c.limit = o->limit;
    if (!st && o->threads > 0) c.threads = o->threads;
    if (!st && o->quant) {
        free(c.quant);
        c.quant = strdup(o->quant);
    }
    ct_quant_format qf;
    if (!st && c.quant && !ct_quant_format_parse(c.quant, &qf))
        st = ct_err_set(err, CT_ERR_ARG, "%s: quant: expected q8_0 or q4_0, got '%s'", o->config_path, c.quant);
    if (!st && c.quant && o->loaded) /* the model in memory (eval_tasks) is evaluated as it is */
        st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: quant: the model being trained is evaluated as it is (remove quant)",
                        o->config_path);
    if (!st && (o->adapter || o->loaded)) {
        c.eval_base = false;
        c.adapters.n = c.models.n = 0;
    }
    const char *model = o->model ? o->model : c.model;
    if (!st && !model) st = ct_err_set(err, CT_ERR_ARG, "%s: 'model' is required (the base model directory)", o->config_path);
    if (!st && c.datasets.n == 0) st = ct_err_set(err, CT_ERR_ARG, "%s: 'datasets' is required (%s)", o->config_path, ct_eval_task_names());
    if (!st && c.eval_batch_size < 1) st = ct_err_set(err, CT_ERR_ARG, "%s: eval_batch_size must be >= 1", o->config_path);
    if (!st && c.max_tokens < 1) st = ct_err_set(err, CT_ERR_ARG, "%s: generation_config.max_tokens must be >= 1", o->config_path);
    if (!st && !c.eval_base && c.adapters.n == 0 && c.models.n == 0 && !o->adapter && !o->loaded)
        st = ct_err_set(err, CT_ERR_ARG, "%s: eval_base is false and there are no adapters or models to evaluate", o->config_path);
    /* every dataset known, once; its args (defaults when the config has none), loaded */
    for (size_t i = 0; !st && i < c.datasets.n; i++) {
        const ct_eval_task *t = ct_eval_task_find(c.datasets.v[i]);
        if (!t) {
            st = ct_err_set(err, CT_ERR_ARG, "%s: datasets: unknown dataset '%s' (known: %s)", o->config_path,
                            c.datasets.v[i], ct_eval_task_names());
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (ct_eval_task_find(c.datasets.v[j]) == t)
                st = ct_err_set(err, CT_ERR_ARG, "%s: datasets: '%s' is listed twice", o->config_path, t->name);
        if (!st && !task_args(&l, t, err)) st = err->code ? err->code : CT_ERR_ARG;
    }
    for (size_t k = 0; !st && k < l.n; k++) {
        bool used = false;
        for (size_t i = 0; i < c.datasets.n; i++) used |= ct_eval_task_find(c.datasets.v[i]) == l.task[k];
        if (!used) {
            st = ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.%s is given but '%s' is not in datasets", o->config_path,
                            l.task[k]->name, l.task[k]->name);
            break;
        }
        st = l.task[k]->load(l.args[k], o->config_path, &states[k], err);
    }
    model_spec specs[64];
    size_t n_specs = 0;
    if (!st) {
        char b[128], a[128];
        if (c.eval_base) {
            specs[n_specs] = (model_spec){model, NULL, {0}, NULL};
            base_name(model, specs[n_specs++].name, sizeof specs[0].name);
        }
        for (size_t i = 0; i < c.adapters.n && n_specs < 64; i++) {
            specs[n_specs] = (model_spec){model, c.adapters.v[i], {0}, NULL};
            snprintf(specs[n_specs++].name, sizeof specs[0].name, "%s+%s", base_name(model, b, sizeof b),
                     base_name(c.adapters.v[i], a, sizeof a));
        }
        if ((o->adapter || o->loaded) && n_specs < 64) { /* the only model (eval_base false, no adapters) */
            specs[n_specs] = (model_spec){model, o->adapter, {0}, o->loaded};
            snprintf(specs[n_specs].name, sizeof specs[0].name, "eval");
            n_specs++;
        }
        for (size_t i = 0; i < c.models.n && n_specs < 64; i++) {
            specs[n_specs] = (model_spec){c.models.v[i], NULL, {0}, NULL};
            base_name(c.models.v[i], specs[n_specs++].name, sizeof specs[0].name);
        }
        for (size_t i = 0; i < n_specs && !st; i++)
            for (size_t j = 0; j < i; j++)
                if (!strcmp(specs[i].name, specs[j].name))
                    st = ct_err_set(err, CT_ERR_ARG, "%s: two models are both named '%s' (their directories' names)",
                                    o->config_path, specs[i].name);
    }
    if (!st) {
        char ts[32];
        if (!o->timestamp) {
            time_t now = time(NULL);
            struct tm tmv;
            localtime_r(&now, &tmv);
            strftime(ts, sizeof ts, "%Y%m%d_%H%M%S", &tmv);
        }
        const char *wd = o->work_dir ? o->work_dir : c.work_dir;
        size_t n = strlen(wd) + 64;
        if (!(run_dir = malloc(n))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else {
            snprintf(run_dir, n, "%s/%s", wd, o->timestamp ? o->timestamp : ts);
            st = ct_mkdir_p(run_dir, err);
        }
    }
    for (size_t i = 0; i < n_specs && !st; i++) st = run_model(&c, o, &specs[i], &l, states, run_dir, &tab, err);
    if (!st) table_print(&tab, o->console);
    if (!st) {
        const char *mn[64], *tn[MAX_TASKS];
        size_t nt = 0;
        for (size_t i = 0; i < n_specs; i++) mn[i] = specs[i].name;
        for (size_t i = 0; i < c.datasets.n && nt < MAX_TASKS; i++) tn[nt++] = ct_eval_task_find(c.datasets.v[i])->name;
        st = ct_eval_report_html(run_dir, mn, n_specs, tn, nt, err);
    }
    table_free(&tab);
    for (size_t k = 0; k < l.n; k++) {
        if (states[k]) l.task[k]->free(states[k]);
        ct_cfg_free_fields(l.args[k], l.task[k]->keys, l.task[k]->n_keys);
        free(l.args[k]);
    }
    ct_cfg_free_fields(&c, k_keys, N_KEYS);
    if (!st && run_dir_out) *run_dir_out = run_dir;
    else free(run_dir);
    return st;
}
