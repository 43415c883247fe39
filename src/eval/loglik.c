/* Continuation log-likelihoods with KV-cache prefix reuse (loglik.h). */
#include "eval/loglik.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ct_loglik {
    ct_ctx *ctx;
    const ct_model *m;
    const ct_adapter *ad;
    bool reuse;
    ct_kv_cache *kv;
    int32_t *cached; /* the ids the cache holds after its virtual tokens */
    size_t n_cached, cap_cached;
    size_t base;     /* cache positions before the ids (a prompt-tuning adapter's virtual tokens) */
    float *last;     /* [V] logits after the context */
    float *rows;     /* [k, V] logits of a continuation's positions */
    size_t cap_rows;
    size_t V, run;
};

ct_status ct_loglik_init(ct_loglik **out, ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, bool reuse,
                         ct_err *err) {
    ct_loglik *L = calloc(1, sizeof *L);
    if (!L) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    L->ctx = ctx;
    L->m = m;
    L->ad = ad;
    L->reuse = reuse;
    L->V = (size_t)ct_model_config(m)->vocab_size;
    L->last = malloc(L->V * sizeof *L->last);
    ct_status st = L->last ? ct_kv_cache_init(&L->kv, ct_model_config(m), 256, err)
                           : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (st) {
        ct_loglik_free(L);
        return st;
    }
    *out = L;
    return CT_OK;
}

void ct_loglik_free(ct_loglik *L) {
    if (!L) return;
    ct_kv_cache_free(L->kv);
    free(L->cached);
    free(L->last);
    free(L->rows);
    free(L);
}

size_t ct_loglik_tokens_run(const ct_loglik *L) { return L->run; }

/* log softmax(logits)[id] in f64; *is_max: id is the first argmax. */
static double log_prob(const float *logits, size_t V, int32_t id, bool *is_max) {
    float mx = logits[0];
    size_t am = 0;
    for (size_t v = 1; v < V; v++)
        if (logits[v] > mx) {
            mx = logits[v];
            am = v;
        }
    double s = 0.0;
    for (size_t v = 0; v < V; v++) s += exp((double)logits[v] - (double)mx);
    *is_max = am == (size_t)id;
    return (double)logits[id] - (double)mx - log(s);
}

static ct_status ensure_room(ct_loglik *L, size_t positions, ct_err *err) {
    if (positions <= ct_kv_cache_capacity(L->kv)) return CT_OK;
    size_t c = ct_kv_cache_capacity(L->kv);
    while (c < positions) c *= 2;
    return ct_kv_cache_grow(L->kv, c, err);
}

static ct_status forward(ct_loglik *L, const int32_t *ids, size_t T, float *logits, float *last, ct_err *err) {
    ct_status st = ensure_room(L, ct_kv_cache_len(L->kv) + T + 64, err);
    if (!st) st = ct_model_forward(L->ctx, L->m, L->ad, L->kv, ids, T, NULL, logits, last, err);
    L->run += T;
    return st;
}

/* Brings the cache to hold exactly ids[0 .. n) and L->last to the logits after ids[n-1]
 * (the last context token always runs, so that its logits exist). */
static ct_status set_context(ct_loglik *L, const int32_t *ids, size_t n, ct_err *err) {
    size_t keep = 0;
    if (L->reuse && L->n_cached) {
        while (keep < L->n_cached && keep < n - 1 && L->cached[keep] == ids[keep]) keep++;
        ct_kv_cache_truncate(L->kv, L->base + keep);
        if (ct_kv_cache_len(L->kv) != L->base + keep) { /* a recurrent state cannot rewind */
            ct_kv_cache_reset(L->kv);
            keep = 0;
        }
    } else {
        ct_kv_cache_reset(L->kv);
    }
    if (keep == 0 && ct_kv_cache_len(L->kv) == 0) L->base = SIZE_MAX; /* learnt after the first pass */
    ct_status st = forward(L, ids + keep, n - keep, NULL, L->last, err);
    if (st) return st;
    if (L->base == SIZE_MAX) L->base = ct_kv_cache_len(L->kv) - n;
    if (n > L->cap_cached) {
        int32_t *p = realloc(L->cached, n * sizeof *p);
        if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        L->cached = p;
        L->cap_cached = n;
    }
    memcpy(L->cached, ids, n * sizeof *ids);
    L->n_cached = n;
    return CT_OK;
}

ct_status ct_loglik_score(ct_loglik *L, const int32_t *ctx_ids, size_t n_ctx, const int32_t *const *conts,
                          const size_t *n_conts, size_t n_opts, double *ll, bool *greedy, ct_err *err) {
    if (n_ctx == 0) return ct_err_set(err, CT_ERR_ARG, "log-likelihood: empty context");
    ct_status st = CT_OK;
    for (size_t o = 0; o < n_opts && !st; o++) {
        size_t k = n_conts[o];
        if (k == 0) return ct_err_set(err, CT_ERR_ARG, "log-likelihood: empty continuation");
        /* with reuse the context runs once per question; without, once per option */
        if ((o == 0 || !L->reuse) && (st = set_context(L, ctx_ids, n_ctx, err))) break;
        bool all_max = true, is_max;
        double s = log_prob(L->last, L->V, conts[o][0], &is_max);
        all_max &= is_max;
        if (k > 1) {
            if ((k - 1) * L->V > L->cap_rows) {
                float *r = realloc(L->rows, (k - 1) * L->V * sizeof *r);
                if (!r) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                L->rows = r;
                L->cap_rows = (k - 1) * L->V;
            }
            if ((st = forward(L, conts[o], k - 1, L->rows, NULL, err))) break;
            for (size_t t = 1; t < k; t++) {
                s += log_prob(L->rows + (t - 1) * L->V, L->V, conts[o][t], &is_max);
                all_max &= is_max;
            }
            /* back to the context for the next option (n_cached ids are cached after truncation) */
            ct_kv_cache_truncate(L->kv, L->base + L->n_cached);
            if (ct_kv_cache_len(L->kv) != L->base + L->n_cached) {
                L->n_cached = 0;
                if (o + 1 < n_opts && (st = set_context(L, ctx_ids, n_ctx, err))) break;
            }
        }
        ll[o] = s;
        if (greedy) greedy[o] = all_max;
    }
    return st;
}
