/* Batched generation (ct_generate_batch): prompts prefilled one by one, then up to CT_GEN_BATCH
 * sequences decoded together, one token each per ct_model_forward_batch step, each with its own
 * sampler state, stopping on its own. */
#include <stdlib.h>
#include <string.h>

#include "model/decoder.h"

typedef struct gen_seq {
    ct_kv_cache *kv;
    int32_t *hist;
    size_t nh, first;
    ct_rng rng;
    bool done;
} gen_seq;

/* Records id for sequence s; true when it ends the sequence (eos or stop string). */
static bool take(const ct_gen_params *p, gen_seq *q, int32_t id, ct_ids *out, ct_gen_stop *stop, ct_status *st,
                 ct_err *err) {
    q->hist[q->nh++] = id;
    if ((*st = ct_ids_push(out, id, err))) return true;
    for (int32_t e = 0; e < p->num_eos; e++)
        if (p->eos_ids[e] == id) {
            if (stop) *stop = CT_GEN_STOP_EOS;
            return true;
        }
    if (p->num_stop && ct_gen_hit_stop_string(p, out, q->first, st, err)) {
        if (stop) *stop = CT_GEN_STOP_STRING;
        return true;
    }
    return *st != CT_OK;
}

/* One group of n <= CT_GEN_BATCH prompts. */
static ct_status group(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *const *prompts,
                       const size_t *n_prompts, size_t n, const ct_gen_params *p, ct_ids *outs, ct_gen_stop *stops,
                       ct_err *err) {
    size_t V = (size_t)m->cfg.vocab_size, P = ct_adapter_hooks(ad) ? ct_adapter_hooks(ad)->n_virt : 0;
    size_t M = (size_t)p->max_new_tokens;
    gen_seq q[CT_GEN_BATCH];
    memset(q, 0, sizeof q);
    float *logits = malloc(n * V * sizeof(float)), *lb = malloc(n * V * sizeof(float));
    ct_status s = logits && lb ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "generate: out of memory");
    for (size_t i = 0; !s && i < n; i++) {
        if (stops) stops[i] = CT_GEN_STOP_LENGTH;
        q[i].first = outs[i].n;
        ct_rng_seed(&q[i].rng, p->seed);
        q[i].hist = malloc((n_prompts[i] + M) * sizeof(int32_t));
        if (!q[i].hist) s = ct_err_set(err, CT_ERR_NOMEM, "generate: out of memory");
        if (!s) s = ct_kv_cache_init(&q[i].kv, &m->cfg, P + n_prompts[i] + M, err);
        if (s) break;
        memcpy(q[i].hist, prompts[i], n_prompts[i] * sizeof(int32_t));
        q[i].nh = n_prompts[i];
        s = ct_model_forward(ctx, m, ad, q[i].kv, prompts[i], n_prompts[i], NULL, NULL, logits + i * V, err);
    }
    ct_kv_cache *kv[CT_GEN_BATCH];
    int32_t next[CT_GEN_BATCH];
    size_t act[CT_GEN_BATCH];
    for (size_t step = 0; !s && step < M; step++) {
        size_t na = 0;
        for (size_t i = 0; !s && i < n; i++) {
            if (q[i].done) continue;
            int32_t id = ct_gen_sample(logits + i * V, V, p, q[i].hist, q[i].nh, &q[i].rng);
            q[i].done = take(p, &q[i], id, &outs[i], stops ? &stops[i] : NULL, &s, err);
            if (!q[i].done && step + 1 < M) kv[na] = q[i].kv, next[na] = id, act[na++] = i;
        }
        if (s || na == 0) break;
        s = ct_model_forward_batch(ctx, m, ad, kv, na, next, 1, lb, err);
        for (size_t j = 0; !s && j < na; j++) memcpy(logits + act[j] * V, lb + j * V, V * sizeof(float));
    }
    for (size_t i = 0; i < n; i++) {
        ct_kv_cache_free(q[i].kv);
        free(q[i].hist);
    }
    free(logits);
    free(lb);
    return s;
}

ct_status ct_generate_batch(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *const *prompts,
                            const size_t *n_prompts, size_t n, const ct_gen_params *p, ct_ids *outs,
                            ct_gen_stop *stops, ct_err *err) {
    if (p->max_new_tokens < 0) return ct_err_set(err, CT_ERR_ARG, "generate: max_new_tokens < 0");
    if (p->on_token) return ct_err_set(err, CT_ERR_ARG, "generate batch: an on_token callback is not supported");
    if (p->num_stop && !p->tok) return ct_err_set(err, CT_ERR_ARG, "generate: stop strings need a tokenizer");
    for (size_t i = 0; i < n; i++) {
        if (stops) stops[i] = CT_GEN_STOP_LENGTH;
        if (n_prompts[i] == 0) return ct_err_set(err, CT_ERR_ARG, "generate: prompt %zu is empty", i);
    }
    if (p->max_new_tokens == 0) return CT_OK;
    if (p->constraint) { /* one constraint state, one sequence at a time (the same outputs) */
        for (size_t i = 0; i < n; i++) {
            ct_status s = ct_generate(ctx, m, ad, prompts[i], n_prompts[i], p, &outs[i], stops ? &stops[i] : NULL, err);
            if (s) return s;
        }
        return CT_OK;
    }
    for (size_t i0 = 0; i0 < n; i0 += CT_GEN_BATCH) {
        size_t g = n - i0 < CT_GEN_BATCH ? n - i0 : CT_GEN_BATCH;
        ct_status s = group(ctx, m, ad, prompts + i0, n_prompts + i0, g, p, outs + i0, stops ? stops + i0 : NULL, err);
        if (s) return s;
    }
    return CT_OK;
}
