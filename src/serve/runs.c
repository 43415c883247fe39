/* The read-only training-runs view: the output directories under `--runs DIR` (the directory
 * itself when it is one run) with their trainer_log.jsonl rows (LlamaFactory's log format, what
 * LlamaBoard plots) and evaluation results (all_results.json / eval_results.json). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "data/tojson.h"
#include "serve/serve.h"

static char *join(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
    return s;
}

static bool has_log(const char *dir, const char *name, double *mtime) {
    char *p = join(dir, name, "trainer_log.jsonl");
    struct stat st;
    bool ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
    if (ok) *mtime = (double)st.st_mtime;
    free(p);
    return ok;
}

static char *dump(json_t *o, srv_error *e) {
    char *s = o ? ct_tojson_dup(o) : NULL; /* reals as Python writes them (2.1, not 2.1000000000000001) */
    json_decref(o);
    if (!s) srv_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    return s;
}

char *srv_runs_list(const char *dir, srv_error *e) {
    DIR *d = opendir(dir);
    if (!d) {
        srv_fail(e, 500, "server_error", NULL, NULL, "cannot read the runs directory %s", dir);
        return NULL;
    }
    json_t *arr = json_array();
    double mt;
    if (has_log(dir, ".", &mt)) json_array_append_new(arr, json_pack("{s:s, s:f}", "name", ".", "mtime", mt));
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && has_log(dir, de->d_name, &mt))
            json_array_append_new(arr, json_pack("{s:s, s:f}", "name", de->d_name, "mtime", mt));
    closedir(d);
    return dump(json_pack("{s:o}", "runs", arr), e);
}

/* Rows of trainer_log.jsonl; a line that is not JSON (a half-written last line) is skipped. */
static json_t *read_log(const char *path) {
    char *buf = NULL;
    size_t len = 0;
    json_t *rows = json_array();
    if (!rows || ct_read_file(path, &buf, &len, NULL)) return rows;
    for (char *p = buf, *end = buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_t *row = n ? json_loadb(p, n, 0, NULL) : NULL;
        if (json_is_object(row)) json_array_append_new(rows, row);
        else json_decref(row);
        p += n + 1;
    }
    free(buf);
    return rows;
}

char *srv_runs_log(const char *dir, const char *name, srv_error *e) {
    if (!*name || strchr(name, '/') || strchr(name, '\\') || (name[0] == '.' && strcmp(name, "."))) {
        srv_fail(e, 404, "not_found_error", NULL, "run", "no such run");
        return NULL;
    }
    double mt;
    if (!has_log(dir, name, &mt)) {
        srv_fail(e, 404, "not_found_error", NULL, "run", "no such run (no trainer_log.jsonl)");
        return NULL;
    }
    char *log = join(dir, name, "trainer_log.jsonl");
    json_t *o = log ? json_pack("{s:s, s:o, s:n}", "name", name, "log", read_log(log), "eval") : NULL;
    free(log);
    static const char *const results[] = {"all_results.json", "eval_results.json"};
    for (int i = 0; o && i < 2; i++) {
        char *p = join(dir, name, results[i]);
        json_t *r = p ? json_load_file(p, 0, NULL) : NULL;
        free(p);
        if (json_is_object(r)) {
            json_object_set_new(o, "eval", r);
            break;
        }
        json_decref(r);
    }
    return dump(o, e);
}
