/* Continuation log-likelihoods with KV-cache prefix reuse (loglik.h). */
#include "eval/loglik.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

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
        double s = ct_logits_logprob(L->last, L->V, conts[o][0], &is_max);
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
                s += ct_logits_logprob(L->rows + (t - 1) * L->V, L->V, conts[o][t], &is_max);
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

/* Batched scoring (ct_loglik_score_batch). */

static ct_status score_sequential(ct_loglik *L, const ct_loglik_req *r, size_t n, ct_err *err) {
    ct_status st = CT_OK;
    for (size_t i = 0; i < n && !st; i++)
        st = ct_loglik_score(L, r[i].ctx_ids, r[i].n_ctx, r[i].conts, r[i].n_conts, r[i].n_opts, r[i].ll, r[i].greedy,
                             err);
    return st;
}

/* The ids, selected rows and their logits of one batched forward. */
typedef struct ll_pass {
    size_t R, T, S;
    int32_t *ids;  /* [R, T] */
    size_t *sel;   /* [S] */
    float *logits; /* [S, V] */
} ll_pass;

static ct_status pass_alloc(ll_pass *P, size_t R, size_t T, size_t S, size_t V, ct_err *err) {
    P->R = R;
    P->T = T;
    P->S = 0;
    P->ids = malloc(R * T * sizeof *P->ids);
    P->sel = malloc(S * sizeof *P->sel);
    P->logits = malloc(S * V * sizeof *P->logits);
    return P->ids && P->sel && P->logits ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
}

static void pass_free(ll_pass *P) {
    free(P->ids);
    free(P->sel);
    free(P->logits);
}

/* Row j: a[0 .. na) then b[0 .. nb), right-padded with its last id (after every real id, so
 * that no real position sees the padding); positions from..(na + nb) - 1 selected. */
static void pass_row(ll_pass *P, size_t j, const int32_t *a, size_t na, const int32_t *b, size_t nb, size_t from) {
    int32_t *row = P->ids + j * P->T;
    memcpy(row, a, na * sizeof *row);
    if (nb) memcpy(row + na, b, nb * sizeof *row);
    for (size_t t = na + nb; t < P->T; t++) row[t] = row[na + nb - 1];
    for (size_t t = from; t < na + nb; t++) P->sel[P->S++] = j * P->T + t;
}

/* Runs the pass on pool[first .. first + R), row j continuing a copy of src[j]. */
static ct_status pass_run(ct_loglik *L, ll_pass *P, size_t first, ct_kv_cache *const *src, ct_err *err) {
    size_t need = first + P->R;
    if (need > L->n_pool) {
        ct_kv_cache **p = realloc(L->pool, need * sizeof *p);
        if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        L->pool = p;
        for (; L->n_pool < need; L->n_pool++) {
            L->pool[L->n_pool] = NULL;
            ct_status st = ct_kv_cache_init(&L->pool[L->n_pool], ct_model_config(L->m), ct_kv_cache_len(L->kv) + P->T, err);
            if (st) return st;
        }
    }
    for (size_t j = 0; j < P->R; j++) {
        ct_status st = ct_kv_cache_copy(L->pool[first + j], src[j], P->T, err);
        if (st) return st;
    }
    L->run += P->R * P->T;
    return ct_model_forward_batch_rows(L->ctx, L->m, L->ad, L->pool + first, P->R, P->ids, P->T, P->sel, P->S,
                                       P->logits, err);
}

/* Adds log p(id) at selected row s to option o of q. */
static void add_token(const ct_loglik *L, const ll_pass *P, size_t s, const ct_loglik_req *q, size_t o, int32_t id) {
    bool is_max;
    q->ll[o] += ct_logits_logprob(P->logits + s * L->V, L->V, id, &is_max);
    if (q->greedy) q->greedy[o] &= is_max;
}

/* Attention-only models, two passes: (1) each question's context after the prefix p (one row per
 * question; its last position scores every option's first token); (2) each option longer than one
 * token, its ids but the last, continuing a copy of its question's cache cut back to the context
 * (the cut drops the padding too). */
static ct_status score_two_pass(ct_loglik *L, const ct_loglik_req *r, size_t n, size_t p, ct_err *err) {
    ll_pass A = {0}, B = {0};
    size_t T = 0, R2 = 0, T2 = 0, S2 = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].n_ctx - p > T) T = r[i].n_ctx - p;
        for (size_t o = 0; o < r[i].n_opts; o++)
            if (r[i].n_conts[o] > 1) {
                R2++;
                S2 += r[i].n_conts[o] - 1;
                if (r[i].n_conts[o] - 1 > T2) T2 = r[i].n_conts[o] - 1;
            }
    }
    ct_kv_cache **src = malloc((n > R2 ? n : R2) * sizeof *src);
    ct_status st = src ? pass_alloc(&A, n, T, n, L->V, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        pass_row(&A, i, r[i].ctx_ids + p, r[i].n_ctx - p, NULL, 0, r[i].n_ctx - p - 1);
        src[i] = L->kv;
    }
    if (!st) st = pass_run(L, &A, 0, src, err);
    for (size_t i = 0; !st && i < n; i++)
        for (size_t o = 0; o < r[i].n_opts; o++) add_token(L, &A, i, &r[i], o, r[i].conts[o][0]);
    if (!st && R2) {
        st = pass_alloc(&B, R2, T2, S2, L->V, err);
        size_t j = 0;
        for (size_t i = 0; !st && i < n; i++) {
            ct_kv_cache_truncate(L->pool[i], ct_kv_cache_len(L->kv) + r[i].n_ctx - p);
            for (size_t o = 0; o < r[i].n_opts; o++)
                if (r[i].n_conts[o] > 1) {
                    pass_row(&B, j, r[i].conts[o], r[i].n_conts[o] - 1, NULL, 0, 0);
                    src[j++] = L->pool[i];
                }
        }
        if (!st) st = pass_run(L, &B, n, src, err);
        size_t s = 0;
        for (size_t i = 0; !st && i < n; i++)
            for (size_t o = 0; o < r[i].n_opts; o++)
                for (size_t t = 1; t < r[i].n_conts[o]; t++) add_token(L, &B, s++, &r[i], o, r[i].conts[o][t]);
    }
    pass_free(&A);
    pass_free(&B);
    free(src);
    return st;
}

/* Models with recurrent layers (a state cannot be cut back): one pass, a row per question and
 * option longer than one token (option 0's row always; its position after the context scores the
 * one-token options), each the context after the prefix then the option's ids but the last. */
static ct_status score_one_pass(ct_loglik *L, const ct_loglik_req *r, size_t n, size_t p, ct_err *err) {
    size_t R = 0, T = 0, S = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < r[i].n_opts; o++)
            if (o == 0 || r[i].n_conts[o] > 1) {
                R++;
                S += r[i].n_conts[o];
                if (r[i].n_ctx - p + r[i].n_conts[o] - 1 > T) T = r[i].n_ctx - p + r[i].n_conts[o] - 1;
            }
    ll_pass A = {0};
    ct_kv_cache **src = malloc(R * sizeof *src);
    ct_status st = src ? pass_alloc(&A, R, T, S, L->V, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t j = 0;
    for (size_t i = 0; !st && i < n; i++)
        for (size_t o = 0; o < r[i].n_opts; o++)
            if (o == 0 || r[i].n_conts[o] > 1) {
                size_t c = r[i].n_ctx - p;
                pass_row(&A, j, r[i].ctx_ids + p, c, r[i].conts[o], r[i].n_conts[o] - 1, c - 1);
                src[j++] = L->kv;
            }
    if (!st) st = pass_run(L, &A, 0, src, err);
    size_t s = 0;
    for (size_t i = 0; !st && i < n; i++) {
        size_t first = s; /* option 0's row: the logits after the context */
        for (size_t o = 0; o < r[i].n_opts; o++) {
            size_t k = r[i].n_conts[o];
            if (o > 0 && k == 1) {
                add_token(L, &A, first, &r[i], o, r[i].conts[o][0]);
                continue;
            }
            for (size_t t = 0; t < k; t++) add_token(L, &A, s++, &r[i], o, r[i].conts[o][t]);
        }
    }
    pass_free(&A);
    free(src);
    return st;
}

ct_status ct_loglik_score_batch(ct_loglik *L, const ct_loglik_req *r, size_t n, ct_err *err) {
    size_t p = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (r[i].n_ctx == 0) return ct_err_set(err, CT_ERR_ARG, "log-likelihood: empty context");
        for (size_t o = 0; o < r[i].n_opts; o++) {
            if (r[i].n_conts[o] == 0) return ct_err_set(err, CT_ERR_ARG, "log-likelihood: empty continuation");
            r[i].ll[o] = 0.0;
            if (r[i].greedy) r[i].greedy[o] = true;
        }
        /* the prefix every context shares, short of each context's last id (its logits are needed) */
        size_t k = 0, lim = r[i].n_ctx - 1 < p ? r[i].n_ctx - 1 : p;
        while (k < lim && (i == 0 || r[i].ctx_ids[k] == r[0].ctx_ids[k])) k++;
        p = k;
    }
    if (n < 2 || !L->reuse || p == 0 || p == SIZE_MAX) return score_sequential(L, r, n, err);
    ct_status st = set_cache(L, r[0].ctx_ids, p, false, err);
    if (st) return st;
    return ct_model_config(L->m)->n_deltanet ? score_one_pass(L, r, n, p, err) : score_two_pass(L, r, n, p, err);
}
