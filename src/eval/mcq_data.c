/* Reading EvalScope general_mcq files (mcq_data.h). */
#include "eval/mcq_data.h"

#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "eval/csv.h"
#include "eval/task.h"
#include "tok/tok_internal.h" /* ct_utf8_validate */

typedef struct items {
    ct_mcq_item *v;
    size_t n, cap;
    const char *path;
    /* CSV: column of each field (-1 unused): 0 id, 1 question, 2 answer, 3.. options */
    int col[64];
    size_t n_cols;
    bool header_done;
} items;

static void item_free(ct_mcq_item *it) {
    free(it->id);
    free(it->question);
    for (int i = 0; i < it->n_opts; i++) free(it->opts[i]);
}

/* Fills an item from named values (get(name) -> text or NULL); errors name `where`. */
typedef const char *(*get_fn)(void *src, const char *name);

static ct_status make_item(void *src, get_fn get, const char *where, size_t index, ct_mcq_item *it, ct_err *err) {
    memset(it, 0, sizeof *it);
    const char *q = get(src, "question"), *ans = get(src, "answer"), *id = get(src, "id");
    if (!q) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing column 'question'", where);
    if (!ans) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing column 'answer'", where);
    char letter[2] = {0};
    for (int i = 0; i < CT_MCQ_MAX_OPTS; i++) {
        letter[0] = (char)('A' + i);
        const char *o = get(src, letter);
        if (!o) break;
        if (!(it->opts[i] = strdup(o))) goto oom;
        it->n_opts = i + 1;
    }
    if (it->n_opts < 2) {
        item_free(it);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: expected option columns A, B, ... (at least two)", where);
    }
    while (*ans == ' ') ans++;
    size_t al = strlen(ans);
    while (al && (ans[al - 1] == ' ' || ans[al - 1] == '\r')) al--;
    if (al != 1 || ans[0] < 'A' || ans[0] >= 'A' + it->n_opts) {
        item_free(it);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: answer '%s' is not one of the option letters A..%c", where, ans,
                          'A' + it->n_opts - 1);
    }
    it->answer = ans[0] - 'A';
    char idbuf[32];
    if (!id || !*id) {
        snprintf(idbuf, sizeof idbuf, "%zu", index);
        id = idbuf;
    }
    if (!(it->id = strdup(id)) || !(it->question = strdup(q))) goto oom;
    return CT_OK;
oom:
    item_free(it);
    return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
}

static ct_status push_item(items *s, ct_mcq_item *it, ct_err *err) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        ct_mcq_item *p = realloc(s->v, nc * sizeof *p);
        if (!p) {
            item_free(it);
            return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        }
        s->v = p;
        s->cap = nc;
    }
    s->v[s->n++] = *it;
    return CT_OK;
}

/* ---- JSONL ---- */
typedef struct jsrc {
    json_t *row;
    char num[64];
} jsrc;

static const char *json_get(void *src, const char *name) {
    jsrc *j = src;
    json_t *v = json_object_get(j->row, name);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(j->num, sizeof j->num, "%lld", (long long)json_integer_value(v));
        return j->num;
    }
    if (json_is_real(v)) {
        snprintf(j->num, sizeof j->num, "%.17g", json_real_value(v));
        return j->num;
    }
    return NULL;
}

static ct_status json_row(void *user, json_t *row, const char *where, ct_err *err) {
    items *s = user;
    if (!json_is_object(row)) return ct_err_set(err, CT_ERR_FORMAT, "%s: expected a JSON object", where);
    jsrc j = {.row = row};
    ct_mcq_item it;
    ct_status st = make_item(&j, json_get, where, s->n, &it, err);
    return st ? st : push_item(s, &it, err);
}

/* ---- CSV ---- */
typedef struct csrc {
    const items *s;
    const ct_csv_row *row;
} csrc;

static const char *csv_get(void *src, const char *name) {
    csrc *c = src;
    for (size_t i = 0; i < c->s->n_cols && i < c->row->n; i++) {
        int k = c->s->col[i];
        const char *want = k == 0 ? "id" : k == 1 ? "question" : k == 2 ? "answer" : NULL;
        char letter[2] = {(char)('A' + k - 3), 0};
        if (k >= 3) want = letter;
        if (k >= 0 && !strcmp(want, name)) return c->row->f[i];
    }
    return NULL;
}

static ct_status csv_row(void *user, const ct_csv_row *row, ct_err *err) {
    items *s = user;
    if (!s->header_done) {
        s->n_cols = row->n < 64 ? row->n : 64;
        for (size_t i = 0; i < s->n_cols; i++) {
            const char *h = row->f[i];
            s->col[i] = !strcmp(h, "id") ? 0 : !strcmp(h, "question") ? 1 : !strcmp(h, "answer") ? 2 : -1;
            if (h[0] >= 'A' && h[0] < 'A' + CT_MCQ_MAX_OPTS && !h[1]) s->col[i] = 3 + (h[0] - 'A');
        }
        s->header_done = true;
        return CT_OK;
    }
    char where[4096];
    snprintf(where, sizeof where, "%s:%zu", s->path, row->line);
    if (row->n != s->n_cols)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: %zu fields, the header has %zu", where, row->n, s->n_cols);
    csrc c = {s, row};
    ct_mcq_item it;
    ct_status st = make_item(&c, csv_get, where, s->n, &it, err);
    return st ? st : push_item(s, &it, err);
}

static bool is_file(const char *p) {
    struct stat sb;
    return !stat(p, &sb) && S_ISREG(sb.st_mode);
}

/* dir/<subset>_<split>.jsonl or .csv; *found false when neither exists. */
static ct_status load_split(const char *dir, const char *subset, const char *split, bool *found,
                            ct_mcq_item **out, size_t *n_out, ct_err *err) {
    char path[4096];
    items s = {0};
    ct_status st = CT_OK;
    *found = false;
    snprintf(path, sizeof path, "%s/%s_%s.jsonl", dir, subset, split);
    if (is_file(path)) {
        *found = true;
        s.path = path;
        st = ct_eval_read_jsonl(path, json_row, &s, err);
    } else {
        snprintf(path, sizeof path, "%s/%s_%s.csv", dir, subset, split);
        if (!is_file(path)) return CT_OK;
        *found = true;
        s.path = path;
        char *text = NULL;
        size_t len = 0;
        if (!(st = ct_read_file(path, &text, &len, err))) {
            /* the rows go into JSON lines and prompts: text must be UTF-8 (JSONL is, once parsed) */
            size_t bad = ct_utf8_validate(text, len);
            if (bad < len) {
                size_t line = 1;
                for (size_t i = 0; i < bad; i++) line += text[i] == '\n';
                st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: not valid UTF-8", path, line);
            } else {
                st = ct_csv_parse(text, len, path, csv_row, &s, err);
            }
        }
        free(text);
        if (!st && s.n == 0) st = ct_err_set(err, CT_ERR_FORMAT, "%s: no rows", path);
    }
    if (st) {
        for (size_t i = 0; i < s.n; i++) item_free(&s.v[i]);
        free(s.v);
        return st;
    }
    *out = s.v;
    *n_out = s.n;
    return CT_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every {name}_val.jsonl / _val.csv in dir, sorted, deduplicated. */
static ct_status discover(const char *dir, ct_strlist *out, ct_err *err) {
    DIR *d = opendir(dir);
    if (!d) return ct_err_set(err, CT_ERR_IO, "%s: cannot open the benchmark directory", dir);
    struct dirent *e;
    ct_status st = CT_OK;
    while ((e = readdir(d)) && !st) {
        const char *n = e->d_name;
        size_t l = strlen(n);
        size_t cut = l > 10 && !strcmp(n + l - 10, "_val.jsonl") ? l - 10 : l > 8 && !strcmp(n + l - 8, "_val.csv") ? l - 8 : 0;
        if (!cut) continue;
        char name[256];
        if (cut >= sizeof name) continue;
        memcpy(name, n, cut);
        name[cut] = 0;
        if (!ct_strlist_has(out, name) && ct_strlist_add(out, name, cut))
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    closedir(d);
    if (!st && out->n == 0) st = ct_err_set(err, CT_ERR_FORMAT, "%s: no {subset}_val.jsonl or {subset}_val.csv files", dir);
    if (!st) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return st;
}

ct_status ct_mcq_load_dir(const char *dir, const ct_strlist *subsets, int need_dev, ct_mcq_subset **out,
                          size_t *n_out, ct_err *err) {
    ct_strlist found = {0};
    const ct_strlist *names = subsets;
    ct_status st = CT_OK;
    if (!subsets || subsets->n == 0) {
        if ((st = discover(dir, &found, err))) {
            ct_strlist_free(&found);
            return st;
        }
        names = &found;
    }
    ct_mcq_subset *v = calloc(names->n, sizeof *v);
    if (!v) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; !st && i < names->n; i++, n++) {
        ct_mcq_subset *s = &v[i];
        if (!(s->name = strdup(names->v[i]))) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        bool got;
        if ((st = load_split(dir, s->name, "val", &got, &s->val, &s->n_val, err))) break;
        if (!got) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: subset '%s' has no %s_val.jsonl or %s_val.csv", dir, s->name,
                            s->name, s->name);
            break;
        }
        if ((st = load_split(dir, s->name, "dev", &got, &s->dev, &s->n_dev, err))) break;
        if (!got && need_dev) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: subset '%s' has no %s_dev.jsonl or %s_dev.csv for the few-shot examples",
                            dir, s->name, s->name, s->name);
            break;
        }
    }
    /* on an error the failing subset (index n) is partly filled; names may be &found */
    size_t filled = n + (v && n < names->n ? 1 : 0);
    ct_strlist_free(&found);
    if (st) {
        ct_mcq_subsets_free(v, filled);
        return st;
    }
    *out = v;
    *n_out = n;
    return CT_OK;
}

void ct_mcq_subsets_free(ct_mcq_subset *s, size_t n) {
    if (!s) return;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < s[i].n_dev; j++) item_free(&s[i].dev[j]);
        for (size_t j = 0; j < s[i].n_val; j++) item_free(&s[i].val[j]);
        free(s[i].dev);
        free(s[i].val);
        free(s[i].name);
    }
    free(s);
}
