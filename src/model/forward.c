/* Inference entry points over the one decoder (include/ctune/model.h): forward with a KV cache
 * (prefill, decode, batched decode) and the next-token NLL (batched, or token by token through the
 * decode path), each with an optional adapter. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/decoder.h"

/* Rows of B sequences: `ids` [B*T] after each cache's length (or from 0 without caches), with
 * a prompt-tuning adapter's n_virt virtual tokens in front when `prefix`. */
static ct_status run(ct_ctx *ctx, const ct_model *m, const ct_dec_hooks *hk, ct_kv_cache *const *kv, size_t B,
                     const int32_t *ids, size_t T, bool prefix, ct_dec *d, ct_err *err) {
    size_t P = prefix ? hk->n_virt : 0, TT = T + P, N = B * TT;
    ct_arena *ar = ct_ctx_arena(ctx);
    int32_t *rid = ct_arena_alloc(ar, N * sizeof(int32_t)), *pos = ct_arena_alloc(ar, N * sizeof(int32_t));
    if (!rid || !pos) return ct_err_set(err, CT_ERR_NOMEM, "forward: out of memory");
    for (size_t b = 0; b < B; b++) {
        size_t start = kv ? kv[b]->len : 0;
        for (size_t t = 0; t < TT; t++) {
            rid[b * TT + t] = t < P ? -1 - (int32_t)t : ids[b * T + t - P];
            pos[b * TT + t] = (int32_t)(start + t);
        }
    }
    ct_dec_rows rows = {.B = B, .T = TT, .ids = rid, .pos = pos, .seg = NULL, .kv = kv};
    ct_dec_opts o = {0};
    return ct_dec_forward(d, ctx, m, hk, &o, ar, &rows, err);
}

ct_status ct_model_forward(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, ct_kv_cache *kv,
                           const int32_t *ids, size_t T, float *hidden, float *logits, float *logits_last,
                           ct_err *err) {
    const ct_dec_hooks *hk = ct_adapter_hooks(ad);
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    if (T == 0) return ct_err_set(err, CT_ERR_ARG, "forward: no tokens");
    bool prefix = hk && hk->n_virt && (!kv || kv->len == 0);
    ct_status st = CT_OK;
    if (prefix && kv) st = ct_kv_cache_grow(kv, hk->n_virt + T, err);
    ct_arena *ar = ct_ctx_arena(ctx);
    size_t mk = ct_arena_mark(ar);
    ct_dec d = {0};
    if (!st) st = run(ctx, m, hk, kv ? &kv : NULL, 1, ids, T, prefix, &d, err);
    if (!st) {
        const float *h = d.hidden + (d.N - T) * C; /* the ids' rows, after any virtual tokens */
        const ct_tensor *head = &d.w->g[CT_GT_LM_HEAD];
        if (hidden) memcpy(hidden, h, T * C * sizeof(float));
        if (logits) ct_linear_forward(ctx, logits, h, head, NULL, T, C, V);
        if (logits_last) {
            if (logits) memcpy(logits_last, logits + (T - 1) * V, V * sizeof(float));
            else ct_linear_forward(ctx, logits_last, h + (T - 1) * C, head, NULL, 1, C, V);
        }
    }
    ct_dec_end(&d);
    ct_arena_release(ar, mk);
    return st;
}

/* B sequences advance by T ids each; the LM head runs on the n_sel flat rows sel[] (b*T + t).
 * decode: a decode step of 2+ sequences takes the batch precision (ct_ctx_set_batch_precision). */
static ct_status forward_batch(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, ct_kv_cache *const *kv, size_t B,
                               const int32_t *ids, size_t T, const size_t *sel, size_t n_sel, float *logits,
                               bool decode, ct_err *err) {
    const ct_dec_hooks *hk = ct_adapter_hooks(ad);
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    if (B == 0 || T == 0) return ct_err_set(err, CT_ERR_ARG, "forward: no tokens");
    for (size_t b = 0; b < B; b++)
        if (hk && hk->n_virt && kv[b]->len == 0)
            return ct_err_set(err, CT_ERR_ARG, "forward: batched sequence %zu has an empty cache (prefill it first)", b);
    for (size_t i = 0; i < n_sel; i++)
        if (sel[i] >= B * T) return ct_err_set(err, CT_ERR_ARG, "forward: row %zu is not among the %zu rows", sel[i], B * T);
    ct_arena *ar = ct_ctx_arena(ctx);
    size_t mk = ct_arena_mark(ar);
    ct_dec d = {0};
    ct_ctx_batch_step(ctx, decode && B >= 2 && T == 1);
    ct_status st = run(ctx, m, hk, kv, B, ids, T, false, &d, err);
    if (!st && logits && n_sel) {
        float *h = ct_arena_alloc(ar, n_sel * C * sizeof(float));
        if (!h) st = ct_err_set(err, CT_ERR_NOMEM, "forward: out of memory");
        for (size_t i = 0; !st && i < n_sel; i++) memcpy(h + i * C, d.hidden + sel[i] * C, C * sizeof(float));
        if (!st) ct_linear_forward(ctx, logits, h, &d.w->g[CT_GT_LM_HEAD], NULL, n_sel, C, V);
    }
    ct_ctx_batch_step(ctx, false);
    ct_dec_end(&d);
    ct_arena_release(ar, mk);
    return st;
}

ct_status ct_model_forward_batch(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, ct_kv_cache *const *kv,
                                 size_t B, const int32_t *ids, size_t T, float *logits_last, ct_err *err) {
    size_t *sel = B && T ? malloc(B * sizeof *sel) : NULL;
    if (B && T && !sel) return ct_err_set(err, CT_ERR_NOMEM, "forward: out of memory");
    for (size_t b = 0; sel && b < B; b++) sel[b] = b * T + T - 1;
    ct_status st = forward_batch(ctx, m, ad, kv, B, ids, T, sel, logits_last ? B : 0, logits_last, true, err);
    free(sel);
    return st;
}

ct_status ct_model_forward_batch_rows(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, ct_kv_cache *const *kv,
                                      size_t B, const int32_t *ids, size_t T, const size_t *rows, size_t n_rows,
                                      float *logits, ct_err *err) {
    return forward_batch(ctx, m, ad, kv, B, ids, T, rows, n_rows, logits, false, err);
}

/* Tokens per LM-head chunk of the NLL (the [chunk, V] logits buffer). */
#define NLL_CHUNK 32

ct_status ct_model_nll(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *ids, size_t T,
                       double *nll_sum, size_t *n_predicted, ct_err *err) {
    const ct_dec_hooks *hk = ct_adapter_hooks(ad);
    *nll_sum = 0.0;
    *n_predicted = 0;
    if (T < (hk && hk->n_virt ? 1u : 2u)) return CT_OK;
    ct_lm_batch b = {.B = 1, .T = T, .input_ids = ids, .labels = ids};
    ct_dec_opts o = {0};
    size_t n = 0;
    ct_status st = ct_lm_loss(ctx, m, hk, &o, ct_ctx_arena(ctx), &b, 0.0f, NULL, NLL_CHUNK, nll_sum, &n, err);
    if (st == CT_ERR_NUMERIC) return ct_err_set(err, st, "nll: loss is not finite");
    if (st) return ct_err_prefix(err, "nll");
    *n_predicted = n;
    return CT_OK;
}

ct_status ct_model_nll_decode(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *ids, size_t T,
                              double *nll_sum, size_t *n_predicted, ct_err *err) {
    const ct_dec_hooks *hk = ct_adapter_hooks(ad);
    *nll_sum = 0.0;
    *n_predicted = 0;
    if (hk && hk->n_virt)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "nll (decode): a prompt-tuning adapter is not supported token by token");
    if (T < 2) return CT_OK;
    size_t V = (size_t)m->cfg.vocab_size;
    ct_kv_cache *kv = NULL;
    float *l = malloc(V * sizeof(float));
    if (!l) return ct_err_set(err, CT_ERR_NOMEM, "nll (decode): out of memory");
    ct_status st = ct_kv_cache_init(&kv, &m->cfg, T, err);
    double sum = 0.0;
    for (size_t t = 0; !st && t + 1 < T; t++) {
        if ((st = ct_model_forward(ctx, m, ad, kv, ids + t, 1, NULL, NULL, l, err))) break;
        double nll = -ct_logits_logprob(l, V, ids[t + 1], NULL);
        if (!isfinite(nll)) st = ct_err_set(err, CT_ERR_NUMERIC, "nll (decode): loss is not finite at token %zu", t + 1);
        sum += nll;
    }
    ct_kv_cache_free(kv);
    free(l);
    if (st) return st;
    *nll_sum = sum;
    *n_predicted = T - 1;
    return CT_OK;
}
