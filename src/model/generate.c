/* Autoregressive generation: prefill the prompt into a KV cache, then sample / decode one token
 * at a time until max_new_tokens, an eos id, a stop string or the callback says stop. */
#include <stdlib.h>
#include <string.h>

#include "ctune/generate.h"
#include "model/decoder.h"

void ct_gen_params_init(ct_gen_params *p, const ct_config *cfg) {
    memset(p, 0, sizeof *p);
    p->max_new_tokens = 256;
    p->do_sample = cfg->gen_do_sample;
    p->temperature = cfg->gen_temperature;
    p->top_k = cfg->gen_top_k;
    p->top_p = cfg->gen_top_p;
    p->repetition_penalty = cfg->gen_repetition_penalty;
    for (int i = 0; i < cfg->num_eos && i < CT_GEN_MAX_EOS; i++)
        p->eos_ids[p->num_eos++] = cfg->eos_token_ids[i];
}

bool ct_gen_hit_stop_string(const ct_gen_params *p, const ct_ids *out, size_t first, ct_status *st, ct_err *err) {
    char *text = NULL;
    size_t len = 0;
    *st = ct_tokenizer_decode(p->tok, out->data + first, out->n - first, false, &text, &len, err);
    if (*st) return false;
    bool hit = false;
    for (size_t i = 0; i < p->num_stop && !hit; i++)
        if (p->stop_strings[i][0] && memmem(text, len, p->stop_strings[i],
                                            strlen(p->stop_strings[i])))
            hit = true;
    free(text);
    return hit;
}

ct_status ct_generate_cached(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, ct_kv_cache *kv,
                             const int32_t *ids, size_t n_ids, const ct_gen_params *p, ct_ids *out,
                             ct_gen_stop *stop, ct_err *err) {
    if (stop) *stop = CT_GEN_STOP_LENGTH;
    size_t cached = ct_kv_cache_len(kv);
    /* a prompt-tuning adapter's virtual tokens open the cache (ct_model_forward puts them there) */
    size_t P = ct_adapter_hooks(ad) ? ct_adapter_hooks(ad)->n_virt : 0;
    if (n_ids == 0 || (cached && (cached < P || cached - P >= n_ids)))
        return ct_err_set(err, CT_ERR_ARG,
                          "generate: the KV cache holds %zu positions but %zu virtual + %zu ids "
                          "leave nothing new to run",
                          cached, P, n_ids);
    if (p->max_new_tokens < 0) return ct_err_set(err, CT_ERR_ARG, "generate: max_new_tokens < 0");
    if (p->num_stop && !p->tok)
        return ct_err_set(err, CT_ERR_ARG, "generate: stop strings need a tokenizer");
    if (p->max_new_tokens == 0) return CT_OK;
    if (p->constraint) { /* a budget the shortest value cannot fit in would end with cut JSON */
        int64_t need = ct_json_constraint_min_tokens(p->constraint, NULL, 0);
        if (need > p->max_new_tokens)
            return ct_err_set(err, CT_ERR_ARG,
                              "generate: max_new_tokens %d is below the %lld tokens the shortest JSON value the "
                              "schema allows can take; raise it",
                              p->max_new_tokens, (long long)need);
    }
    size_t V = (size_t)m->cfg.vocab_size, first = out->n;
    size_t done_ids = cached ? cached - P : 0;
    size_t need = P + n_ids + (size_t)p->max_new_tokens;
    ct_status s = ct_kv_cache_grow(kv, need, err);
    if (s) return s;
    float *logits = malloc(V * sizeof(float));
    int32_t *hist = malloc((n_ids + (size_t)p->max_new_tokens) * sizeof(int32_t));
    if (!logits || !hist) {
        s = ct_err_set(err, CT_ERR_NOMEM, "generate: out of memory");
        goto done;
    }
    memcpy(hist, ids, n_ids * sizeof(int32_t));
    size_t nh = n_ids;
    ct_rng rng;
    ct_rng_seed(&rng, p->seed);
    if ((s = ct_model_forward(ctx, m, ad, kv, ids + done_ids, n_ids - done_ids, NULL, NULL, logits, err)))
        goto done;
    if (p->constraint) ct_json_constraint_reset(p->constraint);
    for (int32_t i = 0; i < p->max_new_tokens; i++) {
        if (p->constraint &&
            (s = ct_json_constraint_apply(p->constraint, logits, V, p->eos_ids, (size_t)p->num_eos,
                                          (int64_t)(p->max_new_tokens - i), err)))
            goto done;
        int32_t id = ct_gen_sample(logits, V, p, hist, nh, &rng);
        hist[nh++] = id;
        if ((s = ct_ids_push(out, id, err))) goto done;
        bool eos = false;
        for (int32_t e = 0; e < p->num_eos; e++) eos |= p->eos_ids[e] == id;
        if (p->constraint && !eos && (s = ct_json_constraint_accept(p->constraint, id, err))) goto done;
        bool go_on = !p->on_token || p->on_token(id, p->user);
        if (eos) {
            if (stop) *stop = CT_GEN_STOP_EOS;
            break;
        }
        if (p->num_stop) {
            bool hit = ct_gen_hit_stop_string(p, out, first, &s, err);
            if (s) goto done;
            if (hit) {
                if (stop) *stop = CT_GEN_STOP_STRING;
                break;
            }
        }
        if (!go_on) {
            if (stop) *stop = CT_GEN_STOP_CALLBACK;
            break;
        }
        if (i + 1 == p->max_new_tokens) break;
        if ((s = ct_model_forward(ctx, m, ad, kv, &id, 1, NULL, NULL, logits, err))) goto done;
    }
done:
    free(logits);
    free(hist);
    return s;
}

ct_status ct_generate(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *prompt,
                      size_t n_prompt, const ct_gen_params *p, ct_ids *out, ct_gen_stop *stop, ct_err *err) {
    if (stop) *stop = CT_GEN_STOP_LENGTH;
    if (n_prompt == 0) return ct_err_set(err, CT_ERR_ARG, "generate: empty prompt");
    if (p->max_new_tokens < 0) return ct_err_set(err, CT_ERR_ARG, "generate: max_new_tokens < 0");
    if (p->max_new_tokens == 0) return CT_OK;
    ct_kv_cache *kv = NULL;
    size_t P = ct_adapter_hooks(ad) ? ct_adapter_hooks(ad)->n_virt : 0;
    ct_status s = ct_kv_cache_init(&kv, &m->cfg, P + n_prompt + (size_t)p->max_new_tokens, err);
    if (s) return s;
    s = ct_generate_cached(ctx, m, ad, kv, prompt, n_prompt, p, out, stop, err);
    ct_kv_cache_free(kv);
    return s;
}
