/* The decoder forward shared by qwen2 / qwen3 / llama (HF LlamaModel / Qwen2Model / Qwen3Model):
 *   x = embed(ids)
 *   per layer: h = x + o_proj(attn(rope(qk_norm(q/k/v_proj(rmsnorm(x))))))
 *              x = h + down(silu(gate(n)) * up(n)),  n = rmsnorm(h)
 *   hidden = rmsnorm(x); logits = lm_head(hidden)
 * Architecture differences are config flags (biases, q/k norm, head_dim, tied head). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

struct ct_kv_cache {
    size_t L, KV, cap, len;
    float *k, *v; /* [L, cap, Hkv*D] */
};

ct_status ct_kv_cache_init(ct_kv_cache **out, const ct_config *cfg, size_t capacity,
                           ct_err *err) {
    *out = NULL;
    ct_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    kv->L = (size_t)cfg->num_layers;
    kv->KV = (size_t)cfg->num_kv_heads * (size_t)cfg->head_dim;
    kv->cap = capacity;
    size_t n = kv->L * kv->cap * kv->KV;
    kv->k = malloc((n ? n : 1) * sizeof(float));
    kv->v = malloc((n ? n : 1) * sizeof(float));
    if (!kv->k || !kv->v) {
        ct_kv_cache_free(kv);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory for a KV cache of %zu tokens",
                          capacity);
    }
    *out = kv;
    return CT_OK;
}

void ct_kv_cache_free(ct_kv_cache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

void ct_kv_cache_reset(ct_kv_cache *kv) { kv->len = 0; }

void ct_kv_cache_truncate(ct_kv_cache *kv, size_t len) {
    if (len < kv->len) kv->len = len;
}

ct_status ct_kv_cache_grow(ct_kv_cache *kv, size_t capacity, ct_err *err) {
    if (capacity <= kv->cap) return CT_OK;
    size_t n = kv->L * capacity * kv->KV;
    float *k = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    if (!k || !v) {
        free(k);
        free(v);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory growing the KV cache to %zu tokens",
                          capacity);
    }
    for (size_t l = 0; l < kv->L; l++) { /* [L, cap, KV]: re-stride each layer's rows */
        memcpy(k + l * capacity * kv->KV, kv->k + l * kv->cap * kv->KV, kv->len * kv->KV * sizeof(float));
        memcpy(v + l * capacity * kv->KV, kv->v + l * kv->cap * kv->KV, kv->len * kv->KV * sizeof(float));
    }
    free(kv->k);
    free(kv->v);
    kv->k = k;
    kv->v = v;
    kv->cap = capacity;
    return CT_OK;
}
size_t ct_kv_cache_len(const ct_kv_cache *kv) { return kv->len; }
size_t ct_kv_cache_capacity(const ct_kv_cache *kv) { return kv->cap; }

/* Runs the layers over T tokens given by ids, or (ids == NULL) by their input embeddings
 * embeds[T, C]; hidden[T, C] receives the final-normed hidden states. */
static ct_status run_layers(const ct_model *m, ct_kv_cache *kv, const int32_t *ids,
                            const float *embeds, size_t T, float *hidden, ct_err *err) {
    const ct_config *c = &m->cfg;
    size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    size_t D = (size_t)c->head_dim, Hq = (size_t)c->num_heads, Hkv = (size_t)c->num_kv_heads;
    size_t Q = Hq * D, KV = Hkv * D, V = (size_t)c->vocab_size;
    size_t start = kv ? kv->len : 0;
    float eps = (float)c->rms_norm_eps;
    if (T == 0) return ct_err_set(err, CT_ERR_ARG, "forward: no tokens");
    if (kv && start + T > kv->cap)
        return ct_err_set(err, CT_ERR_ARG,
                          "forward: %zu + %zu tokens exceed the KV cache capacity %zu", start, T,
                          kv->cap);
    for (size_t t = 0; ids && t < T; t++)
        if (ids[t] < 0 || (size_t)ids[t] >= V)
            return ct_err_set(err, CT_ERR_ARG, "forward: token id %d out of range [0, %zu)",
                              ids[t], V);
    /* Scratch: x, xn [T,C]; q, att [T,Q]; k, v [T,KV]; g, u [T,I]; pos [T]. */
    size_t nf = T * (2 * C + 2 * Q + 2 * KV + 2 * I);
    float *buf = malloc(nf * sizeof(float));
    int32_t *pos = malloc(T * sizeof(int32_t));
    if (!buf || !pos) {
        free(buf);
        free(pos);
        return ct_err_set(err, CT_ERR_NOMEM, "forward: out of memory for %zu tokens", T);
    }
    float *x = buf, *xn = x + T * C, *q = xn + T * C, *att = q + T * Q, *k = att + T * Q;
    float *v = k + T * KV, *g = v + T * KV, *u = g + T * I;
    for (size_t t = 0; t < T; t++) pos[t] = (int32_t)(start + t);

    if (ids) ct_embedding_forward(x, ids, &m->w.embed, T, C);
    else memcpy(x, embeds, T * C * sizeof(float));
    for (size_t l = 0; l < (size_t)c->num_layers; l++) {
        const ct_layer_weights *w = &m->w.layers[l];
        ct_rmsnorm_forward(xn, NULL, x, &w->attn_norm, T, C, eps);
        ct_linear_forward(q, xn, &w->wq, &w->bq, T, C, Q);
        ct_linear_forward(k, xn, &w->wk, &w->bk, T, C, KV);
        ct_linear_forward(v, xn, &w->wv, &w->bv, T, C, KV);
        if (c->qk_norm) { /* Qwen3: RMSNorm over head_dim per head, before RoPE */
            ct_rmsnorm_forward(q, NULL, q, &w->q_norm, T * Hq, D, eps);
            ct_rmsnorm_forward(k, NULL, k, &w->k_norm, T * Hkv, D, eps);
        }
        ct_rope_forward(q, pos, T, Hq, D, c->rope_theta);
        ct_rope_forward(k, pos, T, Hkv, D, c->rope_theta);
        const float *ka = k, *va = v;
        size_t S = T;
        if (kv) {
            float *kl = kv->k + l * kv->cap * KV, *vl = kv->v + l * kv->cap * KV;
            memcpy(kl + start * KV, k, T * KV * sizeof(float));
            memcpy(vl + start * KV, v, T * KV * sizeof(float));
            ka = kl;
            va = vl;
            S = start + T;
        }
        ct_attention_forward(att, NULL, q, ka, va, NULL, NULL, T, S, Hq, Hkv, D);
        ct_linear_forward(xn, att, &w->wo, &w->bo, T, Q, C);
        ct_add_inplace(x, xn, T * C);
        ct_rmsnorm_forward(xn, NULL, x, &w->mlp_norm, T, C, eps);
        ct_linear_forward(g, xn, &w->w_gate, &w->b_gate, T, C, I);
        ct_linear_forward(u, xn, &w->w_up, &w->b_up, T, C, I);
        ct_swiglu_forward(g, g, u, T * I);
        ct_linear_forward(xn, g, &w->w_down, &w->b_down, T, I, C);
        ct_add_inplace(x, xn, T * C);
    }
    ct_rmsnorm_forward(hidden, NULL, x, &m->w.final_norm, T, C, eps);
    if (kv) kv->len = start + T;
    free(buf);
    free(pos);
    return CT_OK;
}

ct_status ct_model_forward(const ct_model *m, ct_kv_cache *kv, const int32_t *ids, size_t T,
                           float *hidden, float *logits, float *logits_last, ct_err *err) {
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    float *h = hidden ? hidden : malloc((T ? T : 1) * C * sizeof(float));
    if (!h) return ct_err_set(err, CT_ERR_NOMEM, "forward: out of memory");
    ct_status s = run_layers(m, kv, ids, NULL, T, h, err);
    if (!s && logits) ct_linear_forward(logits, h, &m->w.lm_head, NULL, T, C, V);
    if (!s && logits_last) {
        if (logits) memcpy(logits_last, logits + (T - 1) * V, V * sizeof(float));
        else ct_linear_forward(logits_last, h + (T - 1) * C, &m->w.lm_head, NULL, 1, C, V);
    }
    if (!hidden) free(h);
    return s;
}

ct_status ct_model_forward_embeds(const ct_model *m, ct_kv_cache *kv, const float *embeds,
                                  size_t T, float *hidden, float *logits_last, ct_err *err) {
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    float *h = hidden ? hidden : malloc((T ? T : 1) * C * sizeof(float));
    if (!h) return ct_err_set(err, CT_ERR_NOMEM, "forward: out of memory");
    ct_status s = run_layers(m, kv, NULL, embeds, T, h, err);
    if (!s && logits_last)
        ct_linear_forward(logits_last, h + (T - 1) * C, &m->w.lm_head, NULL, 1, C, V);
    if (!hidden) free(h);
    return s;
}

/* Positions per LM-head chunk in ct_model_nll: bounds the [chunk, V] logits buffer. */
#define NLL_CHUNK 32

ct_status ct_model_nll(const ct_model *m, const int32_t *ids, size_t T, double *nll_sum,
                       size_t *n_predicted, ct_err *err) {
    *nll_sum = 0.0;
    *n_predicted = 0;
    if (T < 2) return CT_OK;
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    float *h = malloc(T * C * sizeof(float));
    float *lg = malloc((size_t)NLL_CHUNK * V * sizeof(float));
    if (!h || !lg) {
        free(h);
        free(lg);
        return ct_err_set(err, CT_ERR_NOMEM, "nll: out of memory");
    }
    ct_status s = run_layers(m, NULL, ids, NULL, T, h, err);
    double total = 0.0;
    for (size_t t0 = 0; !s && t0 + 1 < T; t0 += NLL_CHUNK) {
        size_t n = T - 1 - t0 < NLL_CHUNK ? T - 1 - t0 : NLL_CHUNK;
        ct_linear_forward(lg, h + t0 * C, &m->w.lm_head, NULL, n, C, V);
        for (size_t i = 0; i < n; i++) {
            const float *row = lg + i * V;
            float mx = row[0];
            for (size_t j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
            double se = 0.0;
            for (size_t j = 0; j < V; j++) se += exp((double)(row[j] - mx));
            total += (double)mx + log(se) - (double)row[ids[t0 + i + 1]];
        }
    }
    free(h);
    free(lg);
    if (s) return s;
    if (!isfinite(total))
        return ct_err_set(err, CT_ERR_NUMERIC, "nll: loss is not finite");
    *nll_sum = total;
    *n_predicted = T - 1;
    return CT_OK;
}
