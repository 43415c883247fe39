#include "train/mlflow_store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/file.h"
#include "io/pyjson.h"

#define MAX_PARAM_LEN 6000 /* mlflow.utils.validation.MAX_PARAM_VAL_LENGTH */

enum { RUNNING = 1, FINISHED = 3, FAILED = 4, KILLED = 5 };

typedef struct ml_run {
    char *root, *exp_id, *run_id, *run_name, *user, *run_dir, *artifact_uri;
    long long start_ms;
    double t0, elapsed;
    ct_tracker_clock clock;
    void *clock_user;
    bool ended;
    ct_buf kept;        /* params of a continued run whose new value was not written */
} ml_run;

/* ---- small helpers ---- */

static long long ms_of(double unix_s) { return llround(unix_s * 1000.0); }

/* os.path.abspath: absolute, "." and ".." folded, no symlink resolution. */
static char *abspath(const char *p) {
    ct_buf b = {0};
    if (p[0] != '/') {
        char *cwd = getcwd(NULL, 0); /* allocated to size: no PATH_MAX buffer */
        if (!cwd) return NULL;
        ct_buf_puts(&b, cwd);
        free(cwd);
    }
    ct_buf_puts(&b, "/");
    ct_buf_puts(&b, p);
    if (b.oom) {
        ct_buf_free(&b);
        return NULL;
    }
    char *out = malloc(b.len + 2), *o = out, *save = NULL;
    if (!out) {
        ct_buf_free(&b);
        return NULL;
    }
    *o = 0;
    for (char *seg = strtok_r(b.data, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (!strcmp(seg, ".")) continue;
        if (!strcmp(seg, "..")) {
            char *s = strrchr(out, '/');
            if (s) *s = 0;
            o = out + strlen(out);
            continue;
        }
        o += sprintf(o, "/%s", seg);
    }
    if (!*out) strcpy(out, "/");
    ct_buf_free(&b);
    return out;
}

/* pathlib's as_uri: "file://" + the path with every byte but [A-Za-z0-9_.~/-] as %XX. */
static void put_file_uri(ct_buf *b, const char *abs) {
    ct_buf_puts(b, "file://");
    for (const unsigned char *p = (const unsigned char *)abs; *p; p++) {
        if (isalnum(*p) || strchr("_.-~/", *p)) ct_buf_put(b, (const char *)p, 1);
        else ct_buf_printf(b, "%%%02X", *p);
    }
}

/* PyYAML's implicit resolvers (yaml/resolver.py, YAML 1.1): a plain scalar matching one of these
 * reads back as a bool, int, float, null, timestamp, merge key or value, not a string. */
static const char *const RESOLVERS[] = {
    "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    "^([-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+][0-9]+)?|\\.[0-9][0-9_]*([eE][-+][0-9]+)?"
    "|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$",
    "^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
    "^(<<|=|~|null|Null|NULL)$",
    "^([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+).*)$",
};

static bool yaml_ambiguous(const char *s) {
    for (size_t i = 0; i < sizeof RESOLVERS / sizeof RESOLVERS[0]; i++) {
        regex_t re;
        if (regcomp(&re, RESOLVERS[i], REG_EXTENDED | REG_NOSUB)) return true; /* cannot tell: quote */
        bool m = regexec(&re, s, 0, NULL, 0) == 0;
        regfree(&re);
        if (m) return true;
    }
    return false;
}

/* A string as yaml.safe_dump writes it: plain when that reads back as the same string,
 * 'single-quoted' when printable, "double-quoted" with escapes otherwise. */
static void yaml_str(ct_buf *b, const char *s) {
    bool printable = true, plain = *s && !yaml_ambiguous(s) && !strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) &&
                                  s[strlen(s) - 1] != ' ' && s[strlen(s) - 1] != ':';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) printable = false;
        if ((*p == ':' && (p[1] == ' ' || !p[1])) || (*p == ' ' && p[1] == '#') || *p >= 0x80) plain = false;
    }
    if (plain && printable) {
        ct_buf_puts(b, s);
    } else if (printable) {
        ct_buf_put(b, "'", 1);
        for (const char *p = s; *p; p++) ct_buf_puts(b, *p == '\'' ? "''" : (char[]){*p, 0});
        ct_buf_put(b, "'", 1);
    } else {
        json_t *j = json_string(s);
        char *q = j ? ct_pyjson_dumps(j, -1, false) : NULL;
        if (q) ct_buf_puts(b, q);
        else b->oom = true;
        free(q);
        json_decref(j);
    }
}

/* fopen(mode) + write + close, as FileStore's write_to / append_to (no fsync). */
static ct_status write_plain(const char *path, const char *mode, const char *text, ct_err *err) {
    FILE *fp = fopen(path, mode);
    size_t n = strlen(text);
    bool ok = fp && fwrite(text, 1, n, fp) == n;
    if (fp && fclose(fp)) ok = false;
    return ok ? CT_OK : ct_err_set(err, CT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
}

static ct_status write_at(const char *dir, const char *name, const char *text, size_t n, ct_err *err) {
    char *p = ct_path_join(dir, name);
    if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_write_file_atomic(p, text, n, err);
    free(p);
    return st;
}

static ct_status write_buf(const char *dir, const char *name, ct_buf *b, ct_err *err) {
    ct_status st = b->oom ? ct_err_set(err, CT_ERR_NOMEM, "out of memory") : write_at(dir, name, b->data, b->len, err);
    ct_buf_free(b);
    return st;
}

/* Top-level scalars of a meta.yaml (libyaml): *out = {key: text}. */
static ct_status read_meta(const char *path, json_t **out, ct_err *err) {
    *out = NULL;
    char *text = NULL; /* ct_read_file: a regular file, and a read error is not a short file */
    size_t len = 0;
    ct_status st = ct_read_file(path, &text, &len, err);
    if (st) return st;
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: invalid YAML: %s", path, p.problem ? p.problem : "parse error");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        json_t *m = json_object();
        if (root && root->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = yaml_document_get_node(&doc, pr->key), *v = yaml_document_get_node(&doc, pr->value);
                if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE)
                    json_object_set_new(m, (const char *)k->data.scalar.value,
                                        json_stringn((const char *)v->data.scalar.value, v->data.scalar.length));
            }
        *out = m;
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    free(text);
    return st;
}

/* ---- experiments ---- */

static ct_status write_experiment(const char *root, const char *id, const char *name, long long now_ms, ct_err *err) {
    char *dir = ct_path_join(root, id);
    if (!dir) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_mkdir_p(dir, err);
    ct_buf b = {0};
    ct_buf_puts(&b, "artifact_location: ");
    char *loc = ct_path_join(root, id);
    put_file_uri(&b, loc ? loc : "");
    free(loc);
    ct_buf_printf(&b, "\ncreation_time: %lld\nexperiment_id: ", now_ms);
    yaml_str(&b, id);
    ct_buf_printf(&b, "\nlast_update_time: %lld\nlifecycle_stage: active\nname: ", now_ms);
    yaml_str(&b, name);
    ct_buf_puts(&b, "\n");
    if (!st) st = write_buf(dir, "meta.yaml", &b, err);
    else ct_buf_free(&b);
    free(dir);
    return st;
}

/* The active experiment called `name` in root: its id (malloc'd) or NULL. */
static char *find_experiment(const char *root, const char *name) {
    DIR *d = opendir(root);
    if (!d) return NULL;
    char *found = NULL;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "models")) continue;
        char *dir = ct_path_join(root, e->d_name), *meta = dir ? ct_path_join(dir, "meta.yaml") : NULL;
        json_t *m = NULL;
        ct_err ignore = {0};
        if (meta && ct_file_exists(meta) && !read_meta(meta, &m, &ignore)) {
            const char *n = json_string_value(json_object_get(m, "name"));
            const char *stage = json_string_value(json_object_get(m, "lifecycle_stage"));
            if (n && !strcmp(n, name) && (!stage || !strcmp(stage, "active"))) found = strdup(e->d_name);
        }
        json_decref(m);
        free(meta);
        free(dir);
    }
    closedir(d);
    return found;
}

/* ---- the run ---- */

static ct_status write_run_meta(ml_run *r, int status, bool creating, long long end_ms, ct_err *err) {
    ct_buf b = {0};
    ct_buf_printf(&b, "artifact_uri: %s\n", r->artifact_uri);
    if (creating) ct_buf_puts(&b, "deleted_time: null\n");
    if (end_ms >= 0) ct_buf_printf(&b, "end_time: %lld\n", end_ms);
    else ct_buf_puts(&b, "end_time: null\n");
    ct_buf_puts(&b, "entry_point_name: ''\nexperiment_id: ");
    yaml_str(&b, r->exp_id);
    ct_buf_puts(&b, "\nlifecycle_stage: active\nrun_id: ");
    yaml_str(&b, r->run_id);
    ct_buf_puts(&b, "\nrun_name: ");
    yaml_str(&b, r->run_name);
    ct_buf_puts(&b, "\nrun_uuid: ");
    yaml_str(&b, r->run_id);
    ct_buf_printf(&b, "\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: %lld\nstatus: %d\n"
                      "tags: []\nuser_id: ", r->start_ms, status);
    yaml_str(&b, r->user);
    ct_buf_puts(&b, "\n");
    return write_buf(r->run_dir, "meta.yaml", &b, err);
}

/* MLflow's name rule for params, metrics and tags: [/\w.\- :], no "..", not absolute. */
static bool valid_name(const char *k) {
    if (!*k || k[0] == '/' || strstr(k, "..")) return false;
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        if (!(isalnum(*p) || *p >= 0x80 || strchr("_/.- :", *p))) return false;
    return true;
}

static ct_status put_file(ml_run *r, const char *sub, const char *key, const char *text, ct_err *err) {
    char *dir = ct_path_join(r->run_dir, sub), *path = dir ? ct_path_join(dir, key) : NULL;
    ct_status st = path ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st && strchr(key, '/')) { /* "model/num_parameters" lives in a subdirectory */
        char *parent = strdup(path);
        if (parent) *strrchr(parent, '/') = 0, st = ct_mkdir_p(parent, err);
        free(parent);
    }
    /* a plain write, as FileStore's write_to (no fsync: a run logs a hundred of these) */
    if (!st) st = write_plain(path, "wb", text, err);
    free(path);
    free(dir);
    return st;
}

/* log_param. MLflow params are immutable (FileStore._validate_new_param_value raises on a new
 * value): in a continued run (MLFLOW_RUN_ID) a changed one keeps its first value and is listed
 * in r->kept, which the caller reports. */
static ct_status log_param(ml_run *r, const char *key, const char *value, ct_err *err) {
    char *dir = ct_path_join(r->run_dir, "params"), *path = dir ? ct_path_join(dir, key) : NULL;
    char *old = NULL;
    size_t n = 0;
    ct_status st = path ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    bool keep = false;
    if (!st && ct_file_exists(path) && !(st = ct_read_file(path, &old, &n, err)) && strcmp(old, value)) {
        ct_buf_printf(&r->kept, "%s%s", r->kept.len ? ", " : "", key);
        keep = true;
    }
    free(old);
    free(path);
    free(dir);
    return st || keep ? st : put_file(r, "params", key, value, err);
}

static ct_status log_metric(ml_run *r, const char *key, double v, int64_t step, ct_err *err) {
    if (isnan(v)) return CT_OK;
    char num[64];
    ct_pyjson_float(v, num, sizeof num);
    char *dir = ct_path_join(r->run_dir, "metrics"), *path = dir ? ct_path_join(dir, key) : NULL;
    char line[128];
    snprintf(line, sizeof line, "%lld %s %lld\n", ms_of(r->t0 + r->elapsed), num, (long long)step);
    ct_status st = path ? write_plain(path, "a", line, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(path);
    free(dir);
    return st;
}

static ct_status ml_on_log(void *u, ct_train_event *ev, ct_err *err) {
    ml_run *r = u;
    r->elapsed = ev->elapsed_s;
    struct { const char *k; double v; } m[] = {{"loss", ev->loss}, {"grad_norm", ev->grad_norm},
                                               {"learning_rate", ev->learning_rate}, {"epoch", ev->epoch}};
    ct_status st = CT_OK;
    for (size_t i = 0; i < sizeof m / sizeof m[0] && !st; i++) st = log_metric(r, m[i].k, m[i].v, ev->step, err);
    return st;
}

static ct_status ml_on_evaluate(void *u, ct_train_event *ev, ct_err *err) {
    ml_run *r = u;
    r->elapsed = ev->elapsed_s;
    ct_status st = log_metric(r, "eval_loss", ev->eval_loss, ev->step, err);
    return st ? st : isnan(ev->eval_loss) ? CT_OK : log_metric(r, "epoch", ev->epoch, ev->step, err);
}

static ct_status end_run(ml_run *r, int status, ct_err *err) {
    r->ended = true;
    return write_run_meta(r, status, false, ms_of(r->t0 + r->elapsed), err);
}

static ct_status ml_on_train_end(void *u, ct_train_event *ev, ct_err *err) {
    ml_run *r = u;
    if (r->ended) return CT_OK;
    r->elapsed = ev->elapsed_s;
    bool done = ev->step >= ev->total_steps;
    ct_status st = CT_OK;
    if (done) {
        struct { const char *k; double v; } m[] = {{"train_runtime", ev->elapsed_s},
                                                   {"train_samples_per_second", ev->samples_per_s},
                                                   {"train_steps_per_second", ev->steps_per_s},
                                                   {"train_loss", ev->loss},
                                                   {"epoch", ev->epoch}};
        for (size_t i = 0; i < sizeof m / sizeof m[0] && !st; i++) st = log_metric(r, m[i].k, m[i].v, ev->step, err);
    }
    ct_status st2 = end_run(r, done ? FINISHED : KILLED, err);
    return st ? st : st2;
}

static void ml_free(void *u) {
    ml_run *r = u;
    if (!r) return;
    if (r->run_dir && !r->ended) {
        ct_err e = {0};
        double now = r->clock(r->clock_user) - r->t0;
        if (now > r->elapsed) r->elapsed = now;
        end_run(r, FAILED, &e);
    }
    free(r->root);
    free(r->exp_id);
    free(r->run_id);
    free(r->run_name);
    free(r->user);
    free(r->run_dir);
    free(r->artifact_uri);
    ct_buf_free(&r->kept);
    free(r);
}

const char *ct_mlflow_run_id(const void *run) { return ((const ml_run *)run)->run_id; }
const char *ct_mlflow_run_dir(const void *run) { return ((const ml_run *)run)->run_dir; }
const char *ct_mlflow_root(const void *run) { return ((const ml_run *)run)->root; }
const char *ct_mlflow_kept_params(const void *run) {
    const ml_run *r = run;
    return r->kept.len ? r->kept.data : NULL;
}

/* ---- options ---- */

ct_status ct_mlflow_opts_from_env(ct_mlflow_opts *o, const ct_train_config *c, ct_err *err) {
    memset(o, 0, sizeof *o);
    const char *uri = ct_tracker_env("MLFLOW_TRACKING_URI");
    const char *root = "mlruns";
    if (uri) {
        const char *colon = strchr(uri, ':'), *slash = strchr(uri, '/');
        if (!strncmp(uri, "file:", 5)) {
            root = uri + 5;
            if (!strncmp(root, "//", 2)) root += 2; /* file:///abs → /abs; file://localhost/abs too */
            if (strncmp(root, "/", 1) && strchr(root, '/') && uri[5] == '/') root = strchr(root, '/');
        } else if (colon && (!slash || colon < slash)) {
            return ct_err_set(err, CT_ERR_UNSUPPORTED,
                              "MLFLOW_TRACKING_URI=%s: report_to mlflow writes an MLflow file store only (a file: URI "
                              "or a directory); unset it or point it at a directory", uri);
        } else {
            root = uri;
        }
    } else if (ct_tracker_env("MLFLOW_TRACKING_DIR")) {
        root = ct_tracker_env("MLFLOW_TRACKING_DIR");
    }
    if (!(o->owned_root = strdup(root))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (uri && root != uri) { /* a file: URI's path is percent-encoded (local_file_uri_to_path unquotes) */
        char *w = o->owned_root;
        for (const char *p = o->owned_root; *p; p++) {
            unsigned x;
            if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]) && sscanf(p + 1, "%2x", &x) == 1)
                *w++ = (char)x, p += 2;
            else *w++ = *p;
        }
        *w = 0;
    }
    o->root = o->owned_root;
    o->experiment_name = ct_tracker_env("MLFLOW_EXPERIMENT_NAME");
    o->run_id = ct_tracker_env("MLFLOW_RUN_ID");
    o->run_name = c->run_name ? c->run_name : c->output_dir;
    const char *tags = ct_tracker_env("MLFLOW_TAGS");
    if (tags) {
        json_error_t je;
        o->owned_tags = json_loads(tags, 0, &je);
        if (!json_is_object(o->owned_tags)) {
            ct_mlflow_opts_clear(o);
            return ct_err_set(err, CT_ERR_ARG, "MLFLOW_TAGS: expected a JSON object of tags, got '%s'", tags);
        }
        o->tags = o->owned_tags;
    }
    return CT_OK;
}

void ct_mlflow_opts_clear(ct_mlflow_opts *o) {
    free(o->owned_root);
    json_decref(o->owned_tags);
    memset(o, 0, sizeof *o);
}

/* ---- opening ---- */

static ct_status find_run(ml_run *r, const char *id, ct_err *err) {
    DIR *d = opendir(r->root);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *exp = ct_path_join(r->root, e->d_name), *dir = exp ? ct_path_join(exp, id) : NULL;
        char *meta = dir ? ct_path_join(dir, "meta.yaml") : NULL;
        free(exp);
        json_t *m = NULL;
        if (meta && ct_file_exists(meta)) {
            ct_status st = read_meta(meta, &m, err);
            free(meta);
            if (st) {
                free(dir);
                closedir(d);
                return st;
            }
            const char *name = json_string_value(json_object_get(m, "run_name"));
            const char *start = json_string_value(json_object_get(m, "start_time"));
            const char *user = json_string_value(json_object_get(m, "user_id"));
            const char *art = json_string_value(json_object_get(m, "artifact_uri"));
            r->exp_id = strdup(e->d_name);
            r->run_id = strdup(id);
            r->run_dir = dir;
            r->run_name = strdup(name ? name : "");
            if (user) free(r->user), r->user = strdup(user);
            r->artifact_uri = strdup(art ? art : "");
            r->start_ms = start ? atoll(start) : r->start_ms;
            json_decref(m);
            closedir(d);
            return CT_OK;
        }
        free(meta);
        free(dir);
    }
    if (d) closedir(d);
    return ct_err_set(err, CT_ERR_ARG, "MLFLOW_RUN_ID=%s: no such run in the MLflow store %s", id, r->root);
}

static ct_status create_run(ml_run *r, const ct_mlflow_opts *o, ct_err *err) {
    char id[33];
    if (o->new_run_id) snprintf(id, sizeof id, "%s", o->new_run_id);
    else ct_tracker_random(id, 32, "0123456789abcdef");
    char *exp = ct_path_join(r->root, r->exp_id);
    r->run_id = strdup(id);
    r->run_dir = exp ? ct_path_join(exp, id) : NULL;
    ct_buf b = {0};
    put_file_uri(&b, exp ? exp : "");
    ct_buf_printf(&b, "/%s/artifacts", id);
    r->artifact_uri = b.oom ? NULL : b.data;
    free(exp);
    if (!r->run_id || !r->run_dir || !r->artifact_uri) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    r->run_name = strdup(o->run_name ? o->run_name : id);
    ct_status st = ct_mkdir_p(r->run_dir, err);
    static const char *const subs[] = {"metrics", "params", "artifacts", "tags"};
    for (size_t i = 0; i < 4 && !st; i++) {
        char *s = ct_path_join(r->run_dir, subs[i]);
        st = s ? ct_mkdir_p(s, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(s);
    }
    return st ? st : write_run_meta(r, RUNNING, true, -1, err);
}

/* readlink("/proc/self/exe") into a buffer that grows until the path fits (malloc'd; NULL when
 * unreadable). */
static char *self_exe(void) {
    for (size_t cap = 256; cap <= ((size_t)1 << 20); cap *= 2) {
        char *b = malloc(cap);
        if (!b) return NULL;
        ssize_t n = readlink("/proc/self/exe", b, cap);
        if (n >= 0 && (size_t)n < cap) {
            b[n] = 0;
            return b;
        }
        free(b);
        if (n < 0) return NULL;
    }
    return NULL;
}

static ct_status log_params_and_tags(ml_run *r, const ct_mlflow_opts *o, ct_err *err) {
    ct_status st = CT_OK;
    if (o->params) {
        size_t n = json_object_size(o->params), i = 0;
        const char **keys = calloc(n + 1, sizeof *keys);
        if (!keys) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)o->params, k, v) keys[i++] = k;
        for (i = 0; i < n && !st; i++) {
            char *s = ct_py_str(json_object_get(o->params, keys[i]));
            if (!s) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            else if (strlen(s) <= MAX_PARAM_LEN && valid_name(keys[i])) st = log_param(r, keys[i], s, err);
            free(s);
        }
        free(keys);
    }
    char *exe = self_exe(); /* mlflow.source.name: the whole path, however long */
    const char *src = o->source_name ? o->source_name : exe ? exe : "";
    if (!st) st = put_file(r, "tags", "mlflow.runName", r->run_name, err);
    if (!st) st = put_file(r, "tags", "mlflow.source.name", src, err);
    if (!st) st = put_file(r, "tags", "mlflow.source.type", "LOCAL", err);
    if (!st) st = put_file(r, "tags", "mlflow.user", r->user, err);
    free(exe);
    const char *k;
    json_t *v;
    if (o->tags) json_object_foreach((json_t *)o->tags, k, v) {
        char *s = st ? NULL : ct_py_str(v);
        if (!st && s && valid_name(k)) st = put_file(r, "tags", k, s, err);
        free(s);
    }
    return st;
}

ct_status ct_callback_mlflow(ct_callback *cb, const ct_mlflow_opts *o, ct_err *err) {
    memset(cb, 0, sizeof *cb);
    ml_run *r = calloc(1, sizeof *r);
    if (!r) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    r->clock = o->clock ? o->clock : ct_tracker_now;
    r->clock_user = o->clock_user;
    r->t0 = r->clock(r->clock_user);
    r->start_ms = ms_of(r->t0);
    r->root = abspath(o->root);
    r->user = strdup(o->user ? o->user : ct_tracker_user());
    ct_status st = !r->root || !r->user ? ct_err_set(err, CT_ERR_NOMEM, "out of memory") : CT_OK;
    char *trash = r->root ? ct_path_join(r->root, ".trash") : NULL;
    bool fresh = r->root && !ct_dir_exists(r->root);
    if (!st) st = ct_mkdir_p(trash, err);
    free(trash);
    char *zero = r->root ? ct_path_join(r->root, "0") : NULL;
    if (!st && (fresh || (!o->experiment_name && !ct_dir_exists(zero))))
        st = write_experiment(r->root, "0", "Default", r->start_ms, err);
    free(zero);
    if (!st && o->run_id) {
        st = find_run(r, o->run_id, err);
        if (!st) st = write_run_meta(r, RUNNING, false, -1, err);
    } else if (!st) {
        if (o->experiment_name && !(r->exp_id = find_experiment(r->root, o->experiment_name))) {
            char id[24];
            if (o->experiment_id) snprintf(id, sizeof id, "%s", o->experiment_id);
            else ct_tracker_random(id, 1, "123456789"), ct_tracker_random(id + 1, 17, "0123456789");
            if (!(r->exp_id = strdup(id))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            else st = write_experiment(r->root, id, o->experiment_name, r->start_ms, err);
        } else if (!o->experiment_name) {
            r->exp_id = strdup("0");
        }
        if (!st) st = r->exp_id ? create_run(r, o, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    if (!st) st = log_params_and_tags(r, o, err);
    if (st) {
        r->ended = !r->run_dir || !r->run_id;
        ml_free(r);
        return ct_err_prefix(err, "report_to mlflow");
    }
    cb->name = "mlflow";
    cb->user = r;
    cb->on_log = ml_on_log;
    cb->on_evaluate = ml_on_evaluate;
    cb->on_train_end = ml_on_train_end;
    cb->free_user = ml_free;
    return CT_OK;
}
