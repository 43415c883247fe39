#include "train/log.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/file.h"
#include "io/pyjson.h"

void ct_format_timedelta(double seconds, char *buf, size_t n) {
    if (!(seconds >= 0) || seconds > 9e15) seconds = 0;
    long long s = (long long)seconds;
    long long days = s / 86400, rem = s % 86400;
    int h = (int)(rem / 3600), m = (int)(rem % 3600 / 60), sec = (int)(rem % 60);
    if (days) snprintf(buf, n, "%lld day%s, %d:%02d:%02d", days, days == 1 ? "" : "s", h, m, sec);
    else snprintf(buf, n, "%d:%02d:%02d", h, m, sec);
}

static double round2(double x) { return round(x * 100.0) / 100.0; }

json_t *ct_log_line_json(const ct_train_event *ev) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "current_steps", json_integer(ev->step));
    json_object_set_new(o, "total_steps", json_integer(ev->total_steps));
    if (!isnan(ev->loss)) json_object_set_new(o, "loss", json_real(ev->loss));
    if (!isnan(ev->grad_norm)) json_object_set_new(o, "grad_norm", json_real(ev->grad_norm));
    if (!isnan(ev->eval_loss)) json_object_set_new(o, "eval_loss", json_real(ev->eval_loss));
    for (size_t i = 0; i < ev->n_eval_metrics; i++) { /* eval_tasks: "eval_<task>/<metric>" */
        char k[300];
        snprintf(k, sizeof k, "eval_%s", ev->eval_metric_names[i]);
        json_object_set_new(o, k, json_real(ev->eval_metric_values[i]));
    }
    if (!isnan(ev->learning_rate)) json_object_set_new(o, "lr", json_real(ev->learning_rate));
    if (!isnan(ev->epoch)) json_object_set_new(o, "epoch", json_real(ev->epoch));
    double pct = ev->total_steps ? round2((double)ev->step / (double)ev->total_steps * 100.0) : 100.0;
    json_object_set_new(o, "percentage", pct == floor(pct) && ev->total_steps == 0 ? json_integer(100) : json_real(pct));
    char el[64], re[64];
    double per = ev->step ? ev->elapsed_s / (double)ev->step : 0;
    ct_format_timedelta(ev->elapsed_s, el, sizeof el);
    ct_format_timedelta((double)(ev->total_steps - ev->step) * per, re, sizeof re);
    json_object_set_new(o, "elapsed_time", json_string(el));
    json_object_set_new(o, "remaining_time", json_string(re));
    if (ev->total_tokens) {
        double thr = ev->elapsed_s > 0 ? ev->total_tokens / ev->elapsed_s : 0;
        json_object_set_new(o, "throughput", json_real(round2(thr)));
        json_object_set_new(o, "total_tokens", json_integer(ev->total_tokens));
    }
    return o;
}

ct_status ct_jsonl_log_open(ct_jsonl_log *lg, const char *output_dir, bool truncate, ct_err *err) {
    memset(lg, 0, sizeof *lg);
    ct_status st = ct_mkdir_p(output_dir, err);
    if (st) return st;
    lg->path = ct_path_join(output_dir, CT_TRAINER_LOG);
    if (!lg->path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    lg->fp = fopen(lg->path, truncate ? "w" : "a");
    if (!lg->fp) {
        st = ct_err_set(err, CT_ERR_IO, "%s: cannot open: %s", lg->path, strerror(errno));
        free(lg->path);
        lg->path = NULL;
    }
    return st;
}

ct_status ct_jsonl_log_write(ct_jsonl_log *lg, const ct_train_event *ev, ct_err *err) {
    json_t *o = ct_log_line_json(ev);
    char *s = o ? ct_pyjson_dumps(o, -1, false) : NULL;
    json_decref(o);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = CT_OK;
    if (fprintf(lg->fp, "%s\n", s) < 0 || fflush(lg->fp) != 0)
        st = ct_err_set(err, CT_ERR_IO, "%s: write failed: %s", lg->path, strerror(errno));
    free(s);
    return st;
}

void ct_jsonl_log_close(ct_jsonl_log *lg) {
    if (lg->fp) fclose(lg->fp);
    free(lg->path);
    memset(lg, 0, sizeof *lg);
}

void ct_all_results_init(ct_all_results *r) {
    r->epoch = r->train_loss = r->eval_loss = r->train_runtime = r->train_samples_per_second =
        r->train_steps_per_second = r->train_tokens_per_second = r->peak_memory_mb = NAN;
}

ct_status ct_write_all_results(const char *output_dir, const ct_all_results *r, ct_err *err) {
    json_t *o = json_object();
    if (!o) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
#define PUT(k) if (!isnan(r->k)) json_object_set_new(o, #k, json_real(r->k))
    PUT(epoch); PUT(train_loss); PUT(eval_loss); PUT(train_runtime); PUT(train_samples_per_second);
    PUT(train_steps_per_second); PUT(train_tokens_per_second); PUT(peak_memory_mb);
#undef PUT
    char *p = ct_path_join(output_dir, "all_results.json");
    ct_status st = !p ? ct_err_set(err, CT_ERR_NOMEM, "out of memory") : ct_mkdir_p(output_dir, err);
    if (!st) st = ct_pyjson_write_file(p, o, 4, true, false, err);
    json_decref(o);
    free(p);
    return st;
}

double ct_peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return NAN;
    return (double)ru.ru_maxrss / 1024.0; /* KB on Linux */
}

/* ---- as a callback ---- */
static ct_status log_on_log(void *u, ct_train_event *ev, ct_err *err) { return ct_jsonl_log_write(u, ev, err); }
static void log_free(void *u) {
    ct_jsonl_log_close(u);
    free(u);
}

ct_status ct_callback_jsonl_log(ct_callback *cb, const char *output_dir, ct_err *err) {
    memset(cb, 0, sizeof *cb);
    ct_jsonl_log *lg = malloc(sizeof *lg);
    if (!lg) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_jsonl_log_open(lg, output_dir, false, err);
    if (st) {
        free(lg);
        return st;
    }
    cb->name = "trainer_log.jsonl";
    cb->user = lg;
    cb->on_log = log_on_log;
    cb->on_evaluate = log_on_log;
    cb->free_user = log_free;
    return CT_OK;
}
