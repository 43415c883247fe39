/* Batched answers for the generation tasks (task.h, ct_eval_gen): the prompts of up to
 * eval_batch_size consecutive samples are rendered with the chat template and decoded together
 * by ct_generate_batch (each sequence's logits as a lone decode computes them, so the answers
 * are those of one-at-a-time generation); the task then scores them in sample order. */
#include <stdlib.h>
#include <string.h>

#include "eval/task.h"

void ct_eval_gen_init(ct_eval_gen *g, ct_eval_env *e, size_t n, size_t batch, ct_eval_conv_fn fn, void *user) {
    memset(g, 0, sizeof *g);
    g->env = e;
    g->n = n;
    g->batch = batch ? batch : 1;
    g->fn = fn;
    g->user = user;
}

static ct_status item_conv(void *user, size_t i, const ct_conv **conv, ct_think *think, ct_err *err) {
    const ct_eval_gen *g = user;
    (void)err;
    *conv = &((const ct_eval_sample *)(const void *)(g->items + i * g->stride))->conv;
    *think = CT_THINK_FALSE;
    return CT_OK;
}

void ct_eval_gen_subset(ct_eval_gen *g, ct_eval_env *e, const ct_eval_subsets *s, size_t i) {
    ct_eval_gen_init(g, e, ct_eval_take(s->v[i].n, e->limit), e->batch, item_conv, g);
    g->items = s->v[i].items;
    g->stride = s->item_size;
}

static void drop(ct_eval_gen *g) {
    for (size_t k = g->lo; k < g->hi; k++) free(g->texts[k - g->lo]);
    free(g->texts);
    g->texts = NULL;
    g->lo = g->hi = 0;
}

void ct_eval_gen_free(ct_eval_gen *g) { drop(g); }

/* Generates the answers of samples [lo, hi) into g->texts. */
static ct_status fill(ct_eval_gen *g, size_t lo, size_t hi, ct_err *err) {
    ct_eval_env *e = g->env;
    size_t m = hi - lo;
    const char *why = NULL;
    const ct_tokenizer *tok = ct_runtime_tokenizer(e->rt, &why);
    if (!tok) return ct_err_set(err, CT_ERR_ARG, "generation needs the tokenizer: %s", why);
    ct_ids *ids = calloc(m, sizeof *ids), *outs = calloc(m, sizeof *outs);
    const int32_t **pp = calloc(m, sizeof *pp);
    size_t *pn = calloc(m, sizeof *pn);
    g->texts = calloc(m, sizeof *g->texts);
    ct_status st = ids && outs && pp && pn && g->texts ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    g->lo = lo;
    g->hi = st ? lo : hi;
    for (size_t k = 0; k < m && !st; k++) {
        const ct_conv *conv = NULL;
        ct_think think = CT_THINK_FALSE;
        if ((st = g->fn(g->user, lo + k, &conv, &think, err))) break;
        st = ct_eval_encode_chat(e, conv, think, &ids[k], err);
        pp[k] = ids[k].data;
        pn[k] = ids[k].n;
    }
    ct_gen_params p = e->gen;
    if (!st) st = ct_runtime_chat_stops(e->rt, &p, err);
    if (!st && m == 1) st = ct_runtime_generate(e->rt, pp[0], pn[0], &p, &outs[0], NULL, err);
    else if (!st) st = ct_runtime_generate_batch(e->rt, pp, pn, m, &p, outs, NULL, err);
    for (size_t k = 0; k < m && !st; k++) {
        size_t len = 0;
        st = ct_tokenizer_decode(tok, outs[k].data, outs[k].n, true, &g->texts[k], &len, err);
    }
    for (size_t k = 0; ids && outs && k < m; k++) {
        ct_ids_free(&ids[k]);
        ct_ids_free(&outs[k]);
    }
    free(ids);
    free(outs);
    free(pp);
    free(pn);
    if (st) drop(g);
    return st;
}

ct_status ct_eval_gen_text(ct_eval_gen *g, size_t i, char **text, ct_err *err) {
    *text = NULL;
    if (i >= g->n) return ct_err_set(err, CT_ERR_ARG, "eval: sample %zu of %zu", i, g->n);
    if (i < g->lo || i >= g->hi) {
        drop(g);
        size_t hi = g->n - i < g->batch ? g->n : i + g->batch;
        ct_status st = fill(g, i, hi, err);
        if (st) return st;
    }
    *text = g->texts[i - g->lo];
    g->texts[i - g->lo] = NULL;
    return CT_OK;
}
