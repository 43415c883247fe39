#include "train/wandb_run.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "io/pyjson.h"
#include "io/wandb_log.h"
#include "train/progress.h"
#include "train/wandb_record.h"

#define STEP_METRIC "train/global_step"

typedef struct wb_run {
    ct_wandb_log *log;
    char *dir, *files;
    int64_t num;        /* Record.num of the last record written */
    int64_t step;       /* wandb's _step of the next history row */
    double t0;          /* wall time of the start */
    double elapsed;     /* elapsed_s of the last event */
    ct_tracker_clock clock;
    void *clock_user;
    json_t *summary;    /* flat key -> latest value (+ "_wandb": {"runtime"}) */
    json_t *config;     /* a copy of the hyperparameters, for files/config.yaml */
    json_t *seen;       /* metric names already announced (glob matches) */
    ct_buf output;      /* files/output.log */
    bool exited;
} wb_run;

/* ---- options ---- */

static bool env_true(const char *name) {
    const char *v = ct_tracker_env(name);
    if (!v) return false;
    static const char *const t[] = {"1", "ON", "YES", "TRUE", "on", "yes", "true", "On", "Yes", "True"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(v, t[i])) return true;
    return false;
}

ct_status ct_wandb_opts_from_env(ct_wandb_opts *o, const ct_train_config *c, bool *enabled, char **note,
                                 ct_err *err) {
    memset(o, 0, sizeof *o);
    *enabled = true;
    *note = NULL;
    const char *mode = ct_tracker_env("WANDB_MODE");
    if (env_true("WANDB_DISABLED") || (mode && !strcmp(mode, "disabled"))) {
        *enabled = false;
        *note = strdup(mode && !strcmp(mode, "disabled") ? "WANDB_MODE=disabled" : "WANDB_DISABLED is set");
        return CT_OK;
    }
    if (mode && strcmp(mode, "offline") && strcmp(mode, "dryrun")) {
        char buf[256];
        snprintf(buf, sizeof buf, "WANDB_MODE=%s: ctune writes W&B runs offline only; upload them with wandb sync", mode);
        *note = strdup(buf);
    }
    const char *id = ct_tracker_env("WANDB_RUN_ID");
    for (const char *p = id; p && *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_'))
            return ct_err_set(err, CT_ERR_ARG, "WANDB_RUN_ID '%s': a run id takes letters, digits, '-' and '_' only", id);
    const char *root = ct_tracker_env("WANDB_DIR");
    o->owned_dir = ct_path_join(root ? root : ".", "wandb");
    o->wandb_dir = o->owned_dir;
    o->run_id = id;
    o->project = ct_tracker_env("WANDB_PROJECT");
    if (!o->project) o->project = "huggingface";
    o->entity = ct_tracker_env("WANDB_ENTITY");
    o->name = c->run_name ? c->run_name : ct_tracker_env("WANDB_NAME") ? ct_tracker_env("WANDB_NAME") : c->output_dir;
    o->notes = ct_tracker_env("WANDB_NOTES");
    o->tags = ct_tracker_env("WANDB_TAGS");
    o->group = ct_tracker_env("WANDB_RUN_GROUP");
    o->job_type = ct_tracker_env("WANDB_JOB_TYPE");
    if (!o->wandb_dir) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

void ct_wandb_opts_clear(ct_wandb_opts *o) {
    free(o->owned_dir);
    memset(o, 0, sizeof *o);
}

/* ---- values ---- */


static char *value_json(const json_t *v) { return ct_pyjson_dumps(v, -1, false); }

static double wall(const wb_run *w) { return w->t0 + w->elapsed; }

static ct_status emit(wb_run *w, ct_pbuf *b, ct_err *err) {
    ct_status st = b->oom ? ct_err_set(err, CT_ERR_NOMEM, "out of memory")
                          : ct_wandb_log_write(w->log, b->p, b->n, err);
    ct_pbuf_free(b);
    return st;
}

/* Items of a JSON object, keys sorted (wandb's order inside a record is a map walk; any order
 * replays the same). Strings in *vals are malloc'd. */
typedef struct itemset {
    ct_wb_item *it;
    char **vals;
    size_t n;
} itemset;

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static bool itemset_from(itemset *s, const json_t *obj) {
    memset(s, 0, sizeof *s);
    size_t n = json_object_size(obj);
    const char **keys = calloc(n + 1, sizeof *keys);
    s->it = calloc(n + 1, sizeof *s->it);
    s->vals = calloc(n + 1, sizeof *s->vals);
    if (!keys || !s->it || !s->vals) {
        free(keys);
        return false;
    }
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_str);
    bool ok = true;
    for (i = 0; i < n; i++) {
        s->vals[i] = value_json(json_object_get(obj, keys[i]));
        s->it[i] = (ct_wb_item){keys[i], NULL, s->vals[i]};
        ok &= s->vals[i] != NULL;
    }
    s->n = n;
    free(keys);
    return ok;
}

static void itemset_free(itemset *s) {
    for (size_t i = 0; i < s->n; i++) free(s->vals[i]);
    free(s->vals);
    free(s->it);
}

/* Summary {_wandb.runtime, _runtime} in whole seconds (the handler's updateRunTiming). */
static ct_status run_timing(wb_run *w, ct_err *err) {
    char rt[32];
    long long secs = (long long)w->elapsed;
    snprintf(rt, sizeof rt, "%lld", secs);
    ct_wb_item it[2] = {{"_wandb", "runtime", rt}, {"_runtime", NULL, rt}};
    json_t *wd = json_object_get(w->summary, "_wandb");
    if (!wd) json_object_set_new(w->summary, "_wandb", wd = json_object());
    json_object_set_new(wd, "runtime", json_integer(secs));
    json_object_set_new(w->summary, "_runtime", json_integer(secs));
    ct_pbuf b = {0};
    ct_wb_summary(&b, ++w->num, it, 2);
    return emit(w, &b, err);
}

static ct_status output_line(wb_run *w, const char *line, ct_err *err) {
    char *l = malloc(strlen(line) + 2);
    if (!l) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    sprintf(l, "%s\n", line);
    ct_buf_puts(&w->output, l);
    ct_pbuf b = {0};
    ct_wb_output_raw(&b, ++w->num, true, wall(w), l);
    free(l);
    return emit(w, &b, err);
}

/* One wandb.log(row) without a step, as the handler flushes it. `row` is consumed. */
static ct_status log_row(wb_run *w, json_t *row, ct_err *err) {
    ct_status st = CT_OK;
    const char *k;
    json_t *v;
    /* glob "*" matches every new name: the handler announces it once */
    const char **fresh = calloc(json_object_size(row) + 1, sizeof *fresh);
    size_t nf = 0;
    if (!fresh) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    json_object_foreach(row, k, v) if (fresh && strcmp(k, STEP_METRIC) && !json_object_get(w->seen, k)) fresh[nf++] = k;
    if (fresh) qsort(fresh, nf, sizeof *fresh, cmp_str);
    for (size_t i = 0; i < nf && !st; i++) {
        ct_wb_metric m = {.name = fresh[i], .step_metric = STEP_METRIC, .step_sync = true, .expanded = true};
        ct_pbuf b = {0};
        ct_wb_metric_record(&b, ++w->num, &m);
        st = emit(w, &b, err);
        json_object_set_new(w->seen, fresh[i], json_true());
    }
    free(fresh);
    json_object_set_new(row, "_runtime", json_real(w->elapsed));
    json_object_set_new(row, "_step", json_integer(w->step));
    json_object_set_new(row, "_timestamp", json_real(wall(w)));
    if (!st) st = run_timing(w, err);
    itemset s;
    if (!st && !itemset_from(&s, row)) {
        itemset_free(&s);
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    } else if (!st) {
        ct_pbuf b = {0};
        ct_wb_summary(&b, ++w->num, s.it, s.n);
        st = emit(w, &b, err);
        if (!st) {
            ct_wb_history(&b, ++w->num, s.it, s.n, w->step);
            st = emit(w, &b, err);
        }
        itemset_free(&s);
    }
    json_object_update(w->summary, row);
    json_decref(row);
    w->step++;
    return st;
}

static void put_num(json_t *row, const char *key, double x) {
    if (!isnan(x)) json_object_set_new(row, key, json_real(x));
}

static ct_status wb_on_log(void *u, ct_train_event *ev, ct_err *err) {
    wb_run *w = u;
    w->elapsed = ev->elapsed_s;
    json_t *row = json_object();
    if (!row) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    put_num(row, "train/loss", ev->loss);
    put_num(row, "train/grad_norm", ev->grad_norm);
    put_num(row, "train/learning_rate", ev->learning_rate);
    put_num(row, "train/epoch", ev->epoch);
    json_object_set_new(row, STEP_METRIC, json_integer(ev->step));
    ct_status st = log_row(w, row, err);
    char line[512];
    ct_progress_format_line(line, sizeof line, ev);
    return st ? st : output_line(w, line, err);
}

static ct_status wb_on_evaluate(void *u, ct_train_event *ev, ct_err *err) {
    wb_run *w = u;
    if (isnan(ev->eval_loss)) return CT_OK;
    w->elapsed = ev->elapsed_s;
    json_t *row = json_object();
    if (!row) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    put_num(row, "eval/loss", ev->eval_loss);
    put_num(row, "train/epoch", ev->epoch);
    json_object_set_new(row, STEP_METRIC, json_integer(ev->step));
    ct_status st = log_row(w, row, err);
    char line[128];
    snprintf(line, sizeof line, "step %lld/%lld eval_loss %.4f", (long long)ev->step, (long long)ev->total_steps,
             ev->eval_loss);
    return st ? st : output_line(w, line, err);
}

/* ---- files/ ---- */

/* A YAML scalar as yaml.v3 writes one: plain when it cannot be read as anything else. */
static void yaml_scalar(ct_buf *b, const json_t *v) {
    char num[64];
    switch (json_typeof(v)) {
    case JSON_NULL: ct_buf_puts(b, "null"); return;
    case JSON_TRUE: ct_buf_puts(b, "true"); return;
    case JSON_FALSE: ct_buf_puts(b, "false"); return;
    case JSON_INTEGER: ct_buf_printf(b, "%lld", (long long)json_integer_value(v)); return;
    case JSON_REAL: {
        double x = json_real_value(v);
        if (isnan(x)) ct_buf_puts(b, ".nan");
        else if (isinf(x)) ct_buf_puts(b, x > 0 ? ".inf" : "-.inf");
        else ct_pyjson_float(x, num, sizeof num), ct_buf_puts(b, num);
        return;
    }
    default: break;
    }
    const char *s = json_string_value(v);
    bool plain = *s && (isalpha((unsigned char)*s) || *s == '_' || *s == '/');
    for (const char *p = s; plain && *p; p++) plain = isalnum((unsigned char)*p) || strchr("_./-", *p);
    static const char *const words[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"};
    for (size_t i = 0; plain && i < sizeof words / sizeof words[0]; i++) plain = strcasecmp(s, words[i]) != 0;
    if (plain) {
        ct_buf_puts(b, s);
        return;
    }
    char *q = value_json(v); /* a JSON string is a valid YAML double-quoted scalar */
    if (q) ct_buf_puts(b, q);
    free(q);
}

static void yaml_value(ct_buf *b, const json_t *v, int indent) {
    if (json_is_array(v) && json_array_size(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            ct_buf_printf(b, "\n%*s- ", indent, "");
            const json_t *x = json_array_get(v, i);
            if (json_is_object(x) || json_is_array(x)) yaml_value(b, x, indent + 2);
            else yaml_scalar(b, x);
        }
    } else if (json_is_object(v) && json_object_size(v)) {
        itemset s;
        if (!itemset_from(&s, v)) b->oom = true;
        for (size_t i = 0; i < s.n; i++) {
            ct_buf_printf(b, "\n%*s%s:", indent, "", s.it[i].key);
            const json_t *x = json_object_get(v, s.it[i].key);
            if (!json_is_object(x) && !json_is_array(x)) ct_buf_puts(b, " ");
            else if (!json_array_size(x) && !json_object_size(x)) ct_buf_puts(b, " ");
            yaml_value(b, x, indent + 4);
        }
        itemset_free(&s);
    } else if (json_is_array(v)) {
        ct_buf_puts(b, "[]");
    } else if (json_is_object(v)) {
        ct_buf_puts(b, "{}");
    } else {
        yaml_scalar(b, v);
    }
}

static ct_status write_text(const char *dir, const char *name, const char *text, size_t n, ct_err *err) {
    char *p = ct_path_join(dir, name);
    if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_write_file_atomic(p, text ? text : "", text ? n : 0, err);
    free(p);
    return st;
}

/* config.yaml: every key as {value: v}, 4-space indents (wandb-core's RunConfig.Serialize). */
static ct_status write_config_yaml(wb_run *w, ct_err *err) {
    json_t *wrapped = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(w->config, k, v) json_object_set_new(wrapped, k, json_pack("{s:O}", "value", v));
    ct_buf b = {0};
    yaml_value(&b, wrapped, 0);
    json_decref(wrapped);
    ct_buf_puts(&b, "\n");
    ct_status st = b.oom ? ct_err_set(err, CT_ERR_NOMEM, "out of memory")
                         : write_text(w->files, "config.yaml", b.data + 1, b.len - 1, err);
    ct_buf_free(&b);
    return st;
}

static ct_status write_json(wb_run *w, const char *name, const json_t *v, int indent, ct_err *err) {
    char *s = ct_pyjson_dumps(v, indent, true);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = write_text(w->files, name, s, strlen(s), err);
    free(s);
    return st;
}

static ct_status write_metadata(wb_run *w, const ct_wandb_opts *o, ct_err *err) {
    char host[256] = "", osname[512] = "", when[64];
    struct utsname u;
    if (!o->os && !uname(&u)) snprintf(osname, sizeof osname, "%s-%s-%s", u.sysname, u.release, u.machine);
    if (!o->host && gethostname(host, sizeof host)) host[0] = 0;
    host[sizeof host - 1] = 0;
    /* allocated by libc at whatever length the paths have ("" when unknown) */
    char *exe = o->executable ? NULL : realpath("/proc/self/exe", NULL);
    char *cwd = o->root ? NULL : getcwd(NULL, 0);
    time_t secs = (time_t)floor(w->t0);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + k, sizeof when - k, ".%06dZ", (int)((w->t0 - floor(w->t0)) * 1e6));
    const char *user = o->username ? o->username : ct_tracker_user();
    long cpus = o->cpu_count ? o->cpu_count : sysconf(_SC_NPROCESSORS_ONLN);
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "os", o->os ? o->os : osname, "startedAt",
                          when, "program", "ctune", "host", o->host ? o->host : host, "username", user, "executable",
                          o->executable ? o->executable : exe ? exe : "", "root", o->root ? o->root : cwd ? cwd : "",
                          "cpu_count", (json_int_t)cpus, "cpu_count_logical", (json_int_t)cpus);
    free(exe);
    free(cwd);
    if (!m) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = write_json(w, "wandb-metadata.json", m, 4, err);
    json_decref(m);
    return st;
}

/* Exit record and the files `wandb sync` regenerates from the log anyway (so the directory
 * reads right before it is synced). */
static ct_status finish(wb_run *w, int32_t code, ct_err *err) {
    w->exited = true;
    ct_status st = run_timing(w, err);
    if (!st) {
        ct_pbuf b = {0};
        ct_wb_exit(&b, ++w->num, code, (int32_t)w->elapsed);
        st = emit(w, &b, err);
    }
    if (!st) st = write_config_yaml(w, err);
    if (!st) st = write_json(w, "wandb-summary.json", w->summary, -1, err);
    if (!st) st = write_text(w->files, "output.log", w->output.data, w->output.len, err);
    return st;
}

static ct_status wb_on_train_end(void *u, ct_train_event *ev, ct_err *err) {
    wb_run *w = u;
    if (w->exited) return CT_OK;
    w->elapsed = ev->elapsed_s;
    bool done = ev->step >= ev->total_steps;
    ct_status st = CT_OK;
    if (done) {
        /* WandbCallback.on_log: these go to run.summary[k] one by one, the rest is logged */
        struct { const char *k; double v; } s[] = {{"train_runtime", ev->elapsed_s},
                                                   {"train_samples_per_second", ev->samples_per_s},
                                                   {"train_steps_per_second", ev->steps_per_s},
                                                   {"train_loss", ev->loss}};
        for (size_t i = 0; i < sizeof s / sizeof s[0] && !st; i++) {
            if (isnan(s[i].v)) continue;
            json_t *x = json_real(s[i].v);
            char *vj = value_json(x);
            if (!vj) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            else {
                ct_wb_item it = {s[i].k, NULL, vj};
                ct_pbuf b = {0};
                ct_wb_summary(&b, ++w->num, &it, 1);
                st = emit(w, &b, err);
                json_object_set(w->summary, s[i].k, x);
            }
            free(vj);
            json_decref(x);
        }
        json_t *row = json_object();
        put_num(row, "train/epoch", ev->epoch);
        json_object_set_new(row, STEP_METRIC, json_integer(ev->step));
        if (!st) st = log_row(w, row, err);
        else json_decref(row);
    }
    ct_status st2 = finish(w, done ? 0 : 130, err);
    return st ? st : st2;
}

static void wb_free(void *u) {
    wb_run *w = u;
    if (!w) return;
    if (w->log && !w->exited) {
        ct_err e = {0};
        double now = w->clock(w->clock_user) - w->t0;
        if (now > w->elapsed) w->elapsed = now;
        finish(w, 1, &e); /* training failed: the run is marked failed, as wandb does on an exception */
    }
    ct_wandb_log_close(w->log);
    json_decref(w->summary);
    json_decref(w->config);
    json_decref(w->seen);
    ct_buf_free(&w->output);
    free(w->dir);
    free(w->files);
    free(w);
}

const char *ct_wandb_run_dir(const void *run) { return ((const wb_run *)run)->dir; }

/* ---- opening ---- */

static int split_tags(const char *tags, char ***out) {
    *out = NULL;
    int n = 0;
    char *copy = tags ? strdup(tags) : NULL, *save = NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ') t[--l] = 0;
        if (!l) continue;
        char **v = realloc(*out, (size_t)(n + 1) * sizeof *v);
        if (!v) break;
        *out = v;
        v[n++] = strdup(t);
    }
    free(copy);
    return n;
}

static ct_status open_records(wb_run *w, const ct_wandb_opts *o, const char *run_id, ct_err *err) {
    char host[256] = "";
    if (!o->host && gethostname(host, sizeof host)) host[0] = 0;
    host[sizeof host - 1] = 0;
    char **tags;
    int nt = split_tags(o->tags, &tags);
    ct_wb_run r = {.run_id = run_id, .entity = o->entity, .project = o->project, .group = o->group,
                   .job_type = o->job_type, .display_name = o->name, .notes = o->notes,
                   .host = o->host ? o->host : host, .tags = (const char *const *)tags, .n_tags = (size_t)nt,
                   .start_time = w->t0};
    ct_pbuf b = {0};
    ct_wb_header(&b, ++w->num, "ctune");
    ct_status st = emit(w, &b, err);
    if (!st) ct_wb_run_record(&b, ++w->num, &r), st = emit(w, &b, err);
    for (int i = 0; i < nt; i++) free(tags[i]);
    free(tags);
    if (!st) {
        itemset s;
        if (!itemset_from(&s, w->config)) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else ct_wb_config(&b, ++w->num, s.it, s.n), st = emit(w, &b, err);
        itemset_free(&s);
    }
    ct_wb_metric gs = {.name = STEP_METRIC, .defined = true};
    ct_wb_metric all = {.glob_name = "*", .step_metric = STEP_METRIC, .step_sync = true, .defined = true};
    if (!st) ct_wb_metric_record(&b, ++w->num, &gs), st = emit(w, &b, err);
    if (!st) ct_wb_metric_record(&b, ++w->num, &all), st = emit(w, &b, err);
    if (!st) st = write_metadata(w, o, err);
    if (!st) ct_wb_files(&b, ++w->num, "wandb-metadata.json"), st = emit(w, &b, err);
    return st;
}

ct_status ct_callback_wandb(ct_callback *cb, const ct_wandb_opts *o, ct_err *err) {
    memset(cb, 0, sizeof *cb);
    wb_run *w = calloc(1, sizeof *w);
    if (!w) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    w->clock = o->clock ? o->clock : ct_tracker_now;
    w->clock_user = o->clock_user;
    w->t0 = w->clock(w->clock_user);
    w->summary = json_object();
    w->seen = json_object();
    w->config = o->config ? json_deep_copy(o->config) : json_object();
    char id[16];
    if (o->run_id) snprintf(id, sizeof id, "%s", o->run_id);
    else ct_tracker_random(id, 8, "0123456789abcdefghijklmnopqrstuvwxyz");
    if (o->run_id && strlen(o->run_id) >= sizeof id) {
        wb_free(w);
        return ct_err_set(err, CT_ERR_ARG, "W&B run id '%s' is too long (at most %zu characters)", o->run_id, sizeof id - 1);
    }
    char name[128], stamp[32];
    time_t secs = (time_t)floor(w->t0);
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
    snprintf(name, sizeof name, "offline-run-%s-%s", stamp, id);
    w->dir = ct_path_join(o->wandb_dir, name);
    w->files = w->dir ? ct_path_join(w->dir, "files") : NULL;
    ct_status st = !w->summary || !w->seen || !w->config || !w->files ? ct_err_set(err, CT_ERR_NOMEM, "out of memory")
                                                                       : ct_mkdir_p(w->files, err);
    if (!st) {
        snprintf(name, sizeof name, "run-%s.wandb", id);
        char *path = ct_path_join(w->dir, name);
        st = path ? ct_wandb_log_open(&w->log, path, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(path);
    }
    if (!st) st = open_records(w, o, id, err);
    if (st) {
        w->exited = true; /* nothing to finish */
        wb_free(w);
        return ct_err_prefix(err, "report_to wandb");
    }
    char *latest = ct_path_join(o->wandb_dir, "latest-run");
    if (latest) {
        unlink(latest); /* wandb keeps latest-run pointing at the newest run; best effort */
        if (symlink(strrchr(w->dir, '/') + 1, latest)) (void)errno;
    }
    free(latest);
    cb->name = "wandb";
    cb->user = w;
    cb->on_log = wb_on_log;
    cb->on_evaluate = wb_on_evaluate;
    cb->on_train_end = wb_on_train_end;
    cb->free_user = wb_free;
    return CT_OK;
}
