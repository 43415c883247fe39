/* The `loss` task: mean next-token NLL and perplexity of the model on held-out JSONL files (each
 * file a subset: a fine-tune's eval split, a general-text set to measure forgetting), the same
 * lines and numbers as `ctune eval-loss` (ct_eval_loss_line). docs/eval.md, "loss". */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "eval/loss.h"
#include "eval/task.h"

ct_status ct_eval_loss_line(ct_runtime *rt, const json_t *row, const char *where, bool decode, ct_ids *ids,
                            double *nll, size_t *n_pred, ct_err *err) {
    int32_t V = ct_model_config(ct_runtime_model(rt))->vocab_size;
    ids->n = 0;
    json_t *ij = json_object_get(row, "input_ids");
    const char *text = json_is_object(row) ? ct_json_get_str(row, "text") : NULL;
    if (json_is_array(ij)) {
        size_t i;
        json_t *x;
        json_array_foreach(ij, i, x) {
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= V)
                return ct_err_set(err, CT_ERR_FORMAT, "%s: input_ids[%zu] is not a token id in [0, %d)", where, i, V);
            if (ct_ids_push(ids, (int32_t)json_integer_value(x), err)) return CT_ERR_NOMEM;
        }
    } else if (text) {
        const char *no_tok = NULL;
        if (!ct_runtime_tokenizer(rt, &no_tok))
            return ct_err_set(err, CT_ERR_ARG, "%s: \"text\" needs the tokenizer: %s", where, no_tok);
        if (ct_runtime_encode(rt, text, strlen(text), ids, err)) return ct_err_prefix(err, "%s", where);
    } else {
        return ct_err_set(err, CT_ERR_FORMAT, "%s: expected an object with \"input_ids\" or \"text\"", where);
    }
    if ((decode ? ct_runtime_nll_decode : ct_runtime_nll)(rt, ids->data, ids->n, nll, n_pred, err))
        return ct_err_prefix(err, "%s", where);
    return CT_OK;
}

typedef struct loss_args {
    ct_strlist local_path; /* JSONL files; each is a subset named after its file */
} loss_args;

static const ct_cfg_key k_keys[] = {
    {"local_path", CT_CFG_LIST, offsetof(loss_args, local_path), NULL, NULL},
};

typedef struct loss_line {
    json_t *row;
    char *where;
} loss_line;

typedef struct loss_subset {
    char *name;
    loss_line *v;
    size_t n, cap;
} loss_subset;

typedef struct loss_state {
    loss_subset *subsets;
    size_t n_subsets;
} loss_state;

static ct_status loss_row(void *user, json_t *row, const char *where, ct_err *err) {
    loss_subset *s = user;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        loss_line *p = realloc(s->v, nc * sizeof *p);
        if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        s->v = p;
        s->cap = nc;
    }
    if (!(s->v[s->n].where = strdup(where))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    s->v[s->n++].row = json_incref(row);
    return CT_OK;
}

static void loss_free(void *p) {
    loss_state *s = p;
    if (!s) return;
    for (size_t i = 0; i < s->n_subsets; i++) {
        for (size_t j = 0; j < s->subsets[i].n; j++) {
            json_decref(s->subsets[i].v[j].row);
            free(s->subsets[i].v[j].where);
        }
        free(s->subsets[i].v);
        free(s->subsets[i].name);
    }
    free(s->subsets);
    free(s);
}

static ct_status loss_load(const void *args, const char *where, void **out, ct_err *err) {
    const loss_args *a = args;
    if (!a->local_path.n) return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.loss.local_path is required (JSONL files)", where);
    loss_state *s = calloc(1, sizeof *s);
    if (!s || !(s->subsets = calloc(a->local_path.n, sizeof *s->subsets))) {
        free(s);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_status st = CT_OK;
    for (size_t i = 0; i < a->local_path.n && !st; i++) {
        const char *path = a->local_path.v[i], *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t bl = strlen(base);
        if (bl > 6 && !strcmp(base + bl - 6, ".jsonl")) bl -= 6;
        s->n_subsets = i + 1;
        if (!(s->subsets[i].name = strndup(base, bl))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else st = ct_eval_read_jsonl(path, loss_row, &s->subsets[i], err);
    }
    if (st) {
        loss_free(s);
        return st;
    }
    *out = s;
    return CT_OK;
}

static size_t loss_count(const void *p, int64_t limit) {
    const loss_state *s = p;
    size_t n = 0;
    for (size_t i = 0; i < s->n_subsets; i++) n += ct_eval_take(s->subsets[i].n, limit);
    return n;
}

static ct_status loss_run(void *p, ct_eval_env *env, ct_err *err) {
    loss_state *s = p;
    ct_ids ids = {0};
    ct_status st = CT_OK;
    for (size_t i = 0; i < s->n_subsets && !st; i++) {
        loss_subset *sub = &s->subsets[i];
        double total = 0.0;
        size_t count = 0, n = ct_eval_take(sub->n, env->limit);
        for (size_t j = 0; j < n && !st; j++) {
            double nll = 0.0;
            size_t np = 0;
            if ((st = ct_eval_loss_line(env->rt, sub->v[j].row, sub->v[j].where, false, &ids, &nll, &np, err))) break;
            total += nll;
            count += np;
            /* token-weighted: the subset's loss is the mean NLL over all its predicted tokens */
            if (np) st = ct_eval_add_sum(env, "loss", sub->name, nll, (double)np, err);
            json_t *pred = json_pack("{s:s, s:f, s:I}", "input", sub->v[j].where, "nll", nll, "tokens", (json_int_t)np);
            json_t *rev = json_pack("{s:s, s:f, s:s}", "input", sub->v[j].where, "mean_nll", np ? nll / (double)np : 0.0,
                                    "why", np ? "mean NLL of the line's predicted tokens" : "fewer than two tokens");
            if (!st) st = ct_eval_emit(env, sub->name, pred, rev, err);
            else {
                json_decref(pred);
                json_decref(rev);
            }
            ct_eval_tick(env);
        }
        if (!st && count == 0)
            st = ct_err_set(err, CT_ERR_FORMAT, "loss subset '%s': no line has two or more tokens", sub->name);
        /* perplexity of the subset: exp(its token-weighted loss) */
        if (!st) st = ct_eval_add_sum(env, "ppl", sub->name, exp(total / (double)count), 1.0, err);
    }
    ct_ids_free(&ids);
    return st;
}

const ct_eval_task ct_eval_task_loss = {
    .name = "loss",
    .alias = NULL,
    .keys = k_keys,
    .n_keys = sizeof k_keys / sizeof *k_keys,
    .args_size = sizeof(loss_args),
    .load = loss_load,
    .count = loss_count,
    .run = loss_run,
    .free = loss_free,
};
