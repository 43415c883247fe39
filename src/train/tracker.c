#include "train/tracker.h"

#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/json.h"
#include "io/pyjson.h"
#include "train/mlflow_store.h"
#include "train/wandb_run.h"

double ct_tracker_now(void *unused) {
    (void)unused;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

const char *ct_tracker_env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *ct_tracker_user(void) {
    static const char *const vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"}; /* getpass.getuser() */
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (ct_tracker_env(vars[i])) return ct_tracker_env(vars[i]);
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name ? pw->pw_name : "unknown";
}

static bool list_has(const ct_strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return true;
    return false;
}

bool ct_report_to_has(const ct_strlist *r, const char *name) {
    if (list_has(r, name)) return true;
    if (list_has(r, "all") && (!strcmp(name, "tensorboard") || !strcmp(name, "wandb") || !strcmp(name, "mlflow")))
        return true;
    return !strcmp(name, "wandb") && list_has(r, "swanlab");
}

ct_status ct_tracker_hparams(const ct_train_config *c, const char *model_dir, int64_t n_params, json_t **out,
                             ct_err *err) {
    *out = NULL;
    json_t *all = NULL;
    char *cfg_path = model_dir ? ct_path_join(model_dir, "config.json") : NULL;
    if (cfg_path && ct_file_exists(cfg_path)) {
        ct_status st = ct_json_load_file(cfg_path, &all, err);
        if (!st && !json_is_object(all)) st = ct_err_set(err, CT_ERR_FORMAT, "%s: not a JSON object", cfg_path);
        if (st) {
            json_decref(all);
            free(cfg_path);
            return st;
        }
    }
    free(cfg_path);
    if (!all && !(all = json_object())) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    char *text = ct_train_config_dump_json(c);
    json_t *args = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    /* secrets never go into a tracker */
    static const char *const secret[] = {"swanlab_api_key", "swanlab_lark_webhook_url", "swanlab_lark_secret"};
    for (size_t i = 0; args && i < sizeof secret / sizeof secret[0]; i++) json_object_del(args, secret[i]);
    if (!args || json_object_update(all, args) ||
        (n_params >= 0 && json_object_set_new(all, "model/num_parameters", json_integer(n_params)))) {
        json_decref(args);
        json_decref(all);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    json_decref(args);
    *out = all;
    return CT_OK;
}

/* ---- Python str() / repr() of JSON values ---- */

/* repr(str): single quotes unless the text holds ' and no "; escapes \\, the quote, \n \r \t,
 * other control characters as \xNN (printable non-ASCII stays as it is, as Python 3 prints it). */
static void py_repr_str(ct_buf *b, const char *s) {
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    ct_buf_put(b, &q, 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)q) ct_buf_printf(b, "\\%c", *p);
        else if (*p == '\n') ct_buf_puts(b, "\\n");
        else if (*p == '\r') ct_buf_puts(b, "\\r");
        else if (*p == '\t') ct_buf_puts(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f) ct_buf_printf(b, "\\x%02x", *p);
        else ct_buf_put(b, (const char *)p, 1);
    }
    ct_buf_put(b, &q, 1);
}

static void py_repr(ct_buf *b, const json_t *v, bool top) {
    char num[64];
    switch (json_typeof(v)) {
    case JSON_NULL: ct_buf_puts(b, "None"); break;
    case JSON_TRUE: ct_buf_puts(b, "True"); break;
    case JSON_FALSE: ct_buf_puts(b, "False"); break;
    case JSON_INTEGER: ct_buf_printf(b, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL:
        ct_pyjson_float(json_real_value(v), num, sizeof num);
        /* Python spells the non-finite floats nan / inf in str() and repr() */
        ct_buf_puts(b, !strcmp(num, "NaN") ? "nan" : !strcmp(num, "Infinity") ? "inf" : !strcmp(num, "-Infinity") ? "-inf" : num);
        break;
    case JSON_STRING:
        if (top) ct_buf_puts(b, json_string_value(v));
        else py_repr_str(b, json_string_value(v));
        break;
    case JSON_ARRAY:
        ct_buf_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) ct_buf_puts(b, ", ");
            py_repr(b, json_array_get(v, i), false);
        }
        ct_buf_put(b, "]", 1);
        break;
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        bool first = true;
        ct_buf_put(b, "{", 1);
        json_object_foreach((json_t *)v, k, x) {
            if (!first) ct_buf_puts(b, ", ");
            first = false;
            py_repr_str(b, k);
            ct_buf_puts(b, ": ");
            py_repr(b, x, false);
        }
        ct_buf_put(b, "}", 1);
        break;
    }
    }
}

char *ct_py_str(const json_t *v) {
    ct_buf b = {0};
    py_repr(&b, v, true);
    if (b.oom || !b.data) {
        ct_buf_free(&b);
        return b.oom ? NULL : strdup("");
    }
    return b.data;
}

void ct_tracker_random(char *out, size_t n, const char *alphabet) {
    size_t na = strlen(alphabet);
    unsigned char raw[256];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, raw, n < sizeof raw ? n : sizeof raw);
        got = r > 0 ? (size_t)r : 0;
        close(fd);
    }
    uint64_t x = (uint64_t)(ct_tracker_now(NULL) * 1e6) ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull; /* fallback: an LCG */
        unsigned r = i < got ? raw[i] : (unsigned)(x >> 33);
        out[i] = alphabet[r % na];
    }
    out[n] = 0;
}

/* ---- report_to → sinks ---- */

static void say(void (*msg)(void *, const char *), void *u, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(void (*msg)(void *, const char *), void *u, const char *fmt, ...) {
    if (!msg) return;
    ct_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    ct_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    msg(u, b.oom || !b.data ? "(out of memory)" : b.data);
    ct_buf_free(&b);
}

/* s as one shell word (ct_buf_shell_word), in a string the caller frees; NULL when out of memory. */
static char *shq(const char *s) {
    ct_buf b = {0};
    if (ct_buf_shell_word(&b, s)) {
        ct_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static ct_status add_wandb(ct_callbacks *sinks, const ct_train_config *c, const json_t *hp, bool swan,
                           void (*msg)(void *, const char *), void *mu, ct_err *err) {
    ct_wandb_opts o;
    bool on;
    char *note = NULL;
    ct_status st = ct_wandb_opts_from_env(&o, c, &on, &note, err);
    if (!st && !on) say(msg, mu, "report_to %s: %s: no W&B run is written", swan ? "swanlab" : "wandb", note);
    else if (!st && note) say(msg, mu, "report_to wandb: %s", note);
    free(note);
    if (st || !on) {
        ct_wandb_opts_clear(&o);
        return st;
    }
    o.config = hp;
    /* for SwanLab alone, the W&B run carries SwanLab's names: the importer takes project and
     * experiment name from the run record */
    if (swan && !list_has(&c->report_to, "wandb") && !list_has(&c->report_to, "all")) {
        if (!ct_tracker_env("WANDB_PROJECT")) o.project = c->swanlab_project ? c->swanlab_project : "llamafactory";
        if (c->swanlab_run_name) o.name = c->swanlab_run_name;
    }
    ct_callback cb;
    st = ct_callback_wandb(&cb, &o, err);
    if (!st) {
        const char *dir = ct_wandb_run_dir(cb.user);
        if (swan) {
            ct_buf opt = {0};
            if (c->swanlab_project) ct_buf_puts(&opt, " -p "), ct_buf_shell_word(&opt, c->swanlab_project);
            if (c->swanlab_workspace) ct_buf_puts(&opt, " -w "), ct_buf_shell_word(&opt, c->swanlab_workspace);
            if (c->swanlab_mode && !strcmp(c->swanlab_mode, "local")) ct_buf_puts(&opt, " --mode local");
            if (c->swanlab_logdir) ct_buf_puts(&opt, " -l "), ct_buf_shell_word(&opt, c->swanlab_logdir);
            char *wd = shq(o.wandb_dir), *rd = shq(dir);
            say(msg, mu, "report_to swanlab: ctune does not write SwanLab's own log format; import this W&B run "
                         "with: swanlab convert -t wandb-local%s --wb-dir %s --wb-run-dir %s%s%s", opt.data ? opt.data : "",
                wd ? wd : "?", rd ? rd : "?",
                c->swanlab_api_key ? " (after `swanlab login`: swanlab_api_key is not stored)" : "",
                c->swanlab_lark_webhook_url ? " (swanlab_lark_*: no Lark notification is sent)" : "");
            free(wd);
            free(rd);
            ct_buf_free(&opt);
        }
        char *q = shq(dir);
        say(msg, mu, "report_to wandb: offline run %s (upload with: wandb sync %s)", dir, q ? q : "?");
        free(q);
        st = ct_callbacks_add(sinks, &cb, err);
        if (st) cb.free_user(cb.user);
    }
    ct_wandb_opts_clear(&o);
    return st;
}

static ct_status add_mlflow(ct_callbacks *sinks, const ct_train_config *c, const json_t *hp,
                            void (*msg)(void *, const char *), void *mu, ct_err *err) {
    ct_mlflow_opts o;
    ct_status st = ct_mlflow_opts_from_env(&o, c, err);
    if (st) return st;
    json_t *params = json_copy((json_t *)hp); /* MLflowCallback logs no model/num_parameters */
    if (!params) {
        ct_mlflow_opts_clear(&o);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    json_object_del(params, "model/num_parameters");
    o.params = params;
    ct_callback cb;
    st = ct_callback_mlflow(&cb, &o, err);
    json_decref(params);
    if (!st) {
        char *q = shq(ct_mlflow_root(cb.user));
        say(msg, mu, "report_to mlflow: run %s in %s (view with: mlflow ui --backend-store-uri %s)",
            ct_mlflow_run_id(cb.user), ct_mlflow_run_dir(cb.user), q ? q : "?");
        free(q);
        if (ct_mlflow_kept_params(cb.user))
            say(msg, mu, "report_to mlflow: continuing run %s: changed params keep their first value (MLflow params "
                         "cannot change): %s", ct_mlflow_run_id(cb.user), ct_mlflow_kept_params(cb.user));
        st = ct_callbacks_add(sinks, &cb, err);
        if (st) cb.free_user(cb.user);
    }
    ct_mlflow_opts_clear(&o);
    return st;
}

bool ct_trackers_wanted(const ct_train_config *c) {
    return c->use_swanlab || ct_report_to_has(&c->report_to, "wandb") || ct_report_to_has(&c->report_to, "mlflow");
}

ct_status ct_trackers_add(ct_callbacks *sinks, const ct_train_config *c, const json_t *hp,
                          void (*msg)(void *, const char *), void *mu, ct_err *err) {
    ct_status st = CT_OK;
    bool swan = false;
    for (size_t i = 0; i < c->report_to.n; i++) swan |= !strcmp(c->report_to.v[i], "swanlab");
    swan |= c->use_swanlab;
    if (ct_report_to_has(&c->report_to, "wandb") || swan) st = add_wandb(sinks, c, hp, swan, msg, mu, err);
    if (!st && ct_report_to_has(&c->report_to, "mlflow")) st = add_mlflow(sinks, c, hp, msg, mu, err);
    return st;
}
