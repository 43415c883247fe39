/* The subset loader shared by the tasks that read EvalScope's local_path/{subset}.jsonl layout
 * (qa, json, general_fc): one growable array of the task's own item type per subset, filled by
 * the task's row function, with --limit counting (task.h, ct_eval_subsets). */
#include <stdlib.h>
#include <string.h>

#include "eval/task.h"

typedef struct load_ctx {
    ct_eval_subsets *s;
    ct_eval_item_fn fn;
    void *user;
} load_ctx;

static ct_status subset_row(void *p, json_t *row, const char *where, ct_err *err) {
    load_ctx *c = p;
    ct_eval_subset *sub = &c->s->v[c->s->n - 1];
    size_t sz = c->s->item_size;
    if (!json_is_object(row)) return ct_err_set(err, CT_ERR_FORMAT, "%s: expected a JSON object", where);
    if (sub->n == sub->cap) {
        size_t nc = sub->cap ? sub->cap * 2 : 32;
        char *q = realloc(sub->items, nc * sz);
        if (!q) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        sub->items = q;
        sub->cap = nc;
    }
    void *it = (char *)sub->items + sub->n * sz;
    memset(it, 0, sz);
    ct_status st = c->fn(c->user, it, sub->n, row, where, err);
    if (!st) sub->n++;
    return st;
}

ct_status ct_eval_subsets_load(ct_eval_subsets *s, const char *dir, const ct_strlist *names, ct_eval_item_fn fn,
                               void *user, ct_err *err) {
    s->v = calloc(names->n ? names->n : 1, sizeof *s->v);
    s->n = 0;
    if (!s->v) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    load_ctx c = {s, fn, user};
    ct_status st = CT_OK;
    for (size_t i = 0; i < names->n && !st; i++) {
        s->n = i + 1;
        if (!(s->v[i].name = strdup(names->v[i]))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else st = ct_eval_read_subset(dir, names->v[i], subset_row, &c, err);
    }
    return st;
}

void ct_eval_subsets_free(ct_eval_subsets *s) {
    if (!s->v) return;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; s->item_free && j < s->v[i].n; j++) s->item_free(ct_eval_subset_item(s, i, j));
        free(s->v[i].items);
        free(s->v[i].name);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

size_t ct_eval_subsets_count(const ct_eval_subsets *s, int64_t limit) {
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) n += ct_eval_take(s->v[i].n, limit);
    return n;
}
