/* The subset loader shared by the tasks that read EvalScope's local_path/{subset}.jsonl layout
 * (qa, json, general_fc): one growable array of the task's own item type per subset, each item
 * headed by its ct_eval_sample, filled by the task's row function, with --limit counting, and the
 * whole task state of the tasks that need nothing more (task.h, ct_eval_subsets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "eval/task.h"

typedef struct load_ctx {
    ct_eval_subsets *s;
    ct_eval_item_fn fn;
    void *user;
} load_ctx;

static void sample_free(ct_eval_sample *h) {
    ct_conv_free(&h->conv);
    free(h->id);
    free(h->where);
}

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
    ct_eval_sample *h = it;
    char idbuf[32];
    const char *id = ct_json_get_str(row, "id");
    if (!id) snprintf(idbuf, sizeof idbuf, "%zu", sub->n);
    ct_status st = (h->id = strdup(id ? id : idbuf)) && (h->where = strdup(where))
                       ? c->fn(c->user, it, row, where, err)
                       : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (st) sample_free(h);
    else sub->n++;
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
        for (size_t j = 0; j < s->v[i].n; j++) {
            void *it = ct_eval_subset_item(s, i, j);
            if (s->item_free) s->item_free(it);
            sample_free(it);
        }
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

ct_status ct_eval_subsets_state_load(const void *args, const char *dir, const ct_strlist *names, size_t item_size,
                                     void (*item_free)(void *), ct_eval_item_fn fn, void **out, ct_err *err) {
    ct_eval_subsets_state *s = calloc(1, sizeof *s);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    s->args = args;
    s->subsets.item_size = item_size;
    s->subsets.item_free = item_free;
    ct_status st = ct_eval_subsets_load(&s->subsets, dir, names, fn, s, err);
    if (st) ct_eval_subsets_state_free(s);
    else *out = s;
    return st;
}

void ct_eval_subsets_state_free(void *state) {
    ct_eval_subsets_state *s = state;
    if (!s) return;
    ct_eval_subsets_free(&s->subsets);
    free(s);
}

size_t ct_eval_subsets_state_count(const void *state, int64_t limit) {
    return ct_eval_subsets_count(&((const ct_eval_subsets_state *)state)->subsets, limit);
}
