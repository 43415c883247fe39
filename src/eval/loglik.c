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
    ct_kv_cache **pool; /* batched scoring: one cache per row, a copy of the shared prefix */
    size_t n_pool;
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
    for (size_t i = 0; i < L->n_pool; i++) ct_kv_cache_free(L->pool[i]);
    free(L->pool);
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

/* Brings the cache to hold exactly ids[0 .. n) and, when `last`, L->last to the logits after
 * ids[n-1] (then the last context token always runs, so that its logits exist). */
static ct_status set_cache(ct_loglik *L, const int32_t *ids, size_t n, bool last, ct_err *err) {
    size_t keep = 0;
    if (L->reuse && L->n_cached) {
        while (keep < L->n_cached && keep < n - last && L->cached[keep] == ids[keep]) keep++;
        ct_kv_cache_truncate(L->kv, L->base + keep);
        if (ct_kv_cache_len(L->kv) != L->base + keep) { /* a recurrent state cannot rewind */
            ct_kv_cache_reset(L->kv);
            keep = 0;
        }
    } else {
        ct_kv_cache_reset(L->kv);
    }
    if (keep == 0 && ct_kv_cache_len(L->kv) == 0) L->base = SIZE_MAX; /* learnt after the first pass */
    ct_status st = keep < n ? forward(L, ids + keep, n - keep, NULL, last ? L->last : NULL, err) : CT_OK;
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

static ct_status set_context(ct_loglik *L, const int32_t *ids, size_t n, ct_err *err) {
    return set_cache(L, ids, n, true, err);
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

/* Batched scoring: a row is question q's context after the shared prefix, then option o's
 * tokens but its last (row o = 0 always: its position after the context scores every
 * one-token option; other options only when longer than one token). */
typedef struct ll_row {
    size_t q, o, len, sel; /* sel: the row's first selected logits (k of them for a k-token option) */
} ll_row;

static ct_status score_sequential(ct_loglik *L, const ct_loglik_req *r, size_t n, ct_err *err) {
    ct_status st = CT_OK;
    for (size_t i = 0; i < n && !st; i++)
        st = ct_loglik_score(L, r[i].ctx_ids, r[i].n_ctx, r[i].conts, r[i].n_conts, r[i].n_opts, r[i].ll, r[i].greedy,
                             err);
    return st;
}

/* pool[0 .. R): copies of the cache's prefix with room for T more positions. */
static ct_status fill_pool(ct_loglik *L, size_t R, size_t T, ct_err *err) {
    if (R > L->n_pool) {
        ct_kv_cache **p = realloc(L->pool, R * sizeof *p);
        if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        L->pool = p;
        for (; L->n_pool < R; L->n_pool++) {
            ct_status st = ct_kv_cache_init(&L->pool[L->n_pool], ct_model_config(L->m), ct_kv_cache_len(L->kv) + T, err);
            if (st) return st;
        }
    }
    for (size_t i = 0; i < R; i++) {
        ct_status st = ct_kv_cache_copy(L->pool[i], L->kv, T, err);
        if (st) return st;
    }
    return CT_OK;
}

/* One forward of the rows; ll and greedy from each row's real positions. */
static ct_status score_rows(ct_loglik *L, const ct_loglik_req *r, size_t p, const ll_row *rows, size_t R, size_t T,
                            size_t S, ct_err *err) {
    int32_t *ids = malloc(R * T * sizeof *ids);
    size_t *sel = malloc(S * sizeof *sel);
    float *logits = malloc(S * L->V * sizeof *logits);
    ct_status st = ids && sel && logits ? fill_pool(L, R, T, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t j = 0; !st && j < R; j++) {
        const ct_loglik_req *q = &r[rows[j].q];
        size_t c = q->n_ctx - p, k = q->n_conts[rows[j].o];
        int32_t *row = ids + j * T;
        memcpy(row, q->ctx_ids + p, c * sizeof *row);
        memcpy(row + c, q->conts[rows[j].o], (k - 1) * sizeof *row);
        for (size_t t = rows[j].len; t < T; t++) row[t] = row[rows[j].len - 1]; /* padding after every real id */
        for (size_t t = 0; t < k; t++) sel[rows[j].sel + t] = j * T + c - 1 + t;
    }
    if (!st) st = ct_model_forward_batch_rows(L->ctx, L->m, L->ad, L->pool, R, ids, T, sel, S, logits, err);
    L->run += R * T;
    for (size_t j = 0; !st && j < R; j++) {
        const ct_loglik_req *q = &r[rows[j].q];
        /* option 0's row also scores the question's one-token options */
        for (size_t o = 0; o < q->n_opts; o++) {
            size_t k = q->n_conts[o];
            if (o != rows[j].o && !(rows[j].o == 0 && k == 1)) continue;
            bool all_max = true, is_max;
            double s = 0.0;
            for (size_t t = 0; t < k; t++) {
                s += log_prob(logits + (rows[j].sel + t) * L->V, L->V, q->conts[o][t], &is_max);
                all_max &= is_max;
            }
            q->ll[o] = s;
            if (q->greedy) q->greedy[o] = all_max;
        }
    }
    free(ids);
    free(sel);
    free(logits);
    return st;
}

ct_status ct_loglik_score_batch(ct_loglik *L, const ct_loglik_req *r, size_t n, ct_err *err) {
    size_t p = SIZE_MAX, R = 0, T = 0, S = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].n_ctx == 0) return ct_err_set(err, CT_ERR_ARG, "log-likelihood: empty context");
        for (size_t o = 0; o < r[i].n_opts; o++)
            if (r[i].n_conts[o] == 0) return ct_err_set(err, CT_ERR_ARG, "log-likelihood: empty continuation");
        /* the prefix every context shares, short of each context's last id (its logits are needed) */
        size_t k = 0, lim = r[i].n_ctx - 1 < p ? r[i].n_ctx - 1 : p;
        while (k < lim && (i == 0 || r[i].ctx_ids[k] == r[0].ctx_ids[k])) k++;
        p = k;
        R += 1;
        for (size_t o = 1; o < r[i].n_opts; o++) R += r[i].n_conts[o] > 1;
    }
    if (n < 2 || !L->reuse || p == 0 || p == SIZE_MAX) return score_sequential(L, r, n, err);
    ll_row *rows = malloc(R * sizeof *rows);
    if (!rows) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < r[i].n_opts; o++) {
            if (o > 0 && r[i].n_conts[o] == 1) continue;
            rows[j] = (ll_row){.q = i, .o = o, .len = r[i].n_ctx - p + r[i].n_conts[o] - 1, .sel = S};
            if (rows[j].len > T) T = rows[j].len;
            S += r[i].n_conts[o];
            j++;
        }
    ct_status st = set_cache(L, r[0].ctx_ids, p, false, err);
    if (!st) st = score_rows(L, r, p, rows, R, T, S, err);
    free(rows);
    return st;
}
