/* ctune — text generation: greedy or sampled decoding with a KV cache.
 * Logits processing follows HF `generate` order: repetition penalty -> temperature -> top-k ->
 * top-p, then argmax (do_sample false) or a draw from the softmax (own deterministic PRNG, so a
 * seed reproduces a run exactly; the draws differ from PyTorch's). */
#ifndef CTUNE_GENERATE_H
#define CTUNE_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/constrain.h"
#include "ctune/err.h"
#include "ctune/model.h"
#include "ctune/rng.h"
#include "ctune/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called after each generated token (EOS included); return false to stop generating. */
typedef bool (*ct_gen_token_fn)(int32_t id, void *user);

typedef enum ct_gen_stop {
    CT_GEN_STOP_LENGTH = 0, /* max_new_tokens reached */
    CT_GEN_STOP_EOS,        /* an eos id was generated (it is the last output id) */
    CT_GEN_STOP_STRING,     /* a stop string appeared in the decoded output */
    CT_GEN_STOP_CALLBACK,   /* on_token returned false */
} ct_gen_stop;

#define CT_GEN_MAX_EOS 16

typedef struct ct_gen_params {
    int32_t max_new_tokens;   /* default 256 */
    bool do_sample;           /* false: greedy (argmax after the repetition penalty) */
    float temperature;        /* > 0; sampling only */
    int32_t top_k;            /* 0: off; sampling only */
    float top_p;              /* 1: off; sampling only */
    float repetition_penalty; /* 1: off; HF: logit/p if > 0 else logit*p, for every id in
                                 prompt + output so far; applied in greedy mode too */
    uint64_t seed;
    int32_t eos_ids[CT_GEN_MAX_EOS]; /* stop ids (default: the model's eos ids) */
    int32_t num_eos;
    const char *const *stop_strings; /* stop when one occurs in the decoded output */
    size_t num_stop;
    const ct_tokenizer *tok;  /* required for stop_strings */
    ct_json_constraint *constraint; /* optional: JSON-Schema-constrained output (reset at the start
                                       of each generation; tokens it forbids get -inf logits) */
    ct_gen_token_fn on_token; /* optional streaming callback */
    void *user;
} ct_gen_params;

/* Defaults from the model's generation_config.json (HF GenerationConfig defaults otherwise):
 * do_sample, temperature, top_k, top_p, repetition_penalty, eos ids; max_new_tokens 256, seed 0. */
void ct_gen_params_init(ct_gen_params *p, const ct_config *cfg);

/* Generates up to p->max_new_tokens ids after `prompt` (n_prompt >= 1) with the model and the
 * optional adapter (a prompt-tuning adapter's virtual tokens come first), appending them to *out
 * (the stopping EOS id included, as HF does). *stop (optional) says why generation ended. */
ct_status ct_generate(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *prompt,
                      size_t n_prompt, const ct_gen_params *p, ct_ids *out, ct_gen_stop *stop, ct_err *err);

/* Generation that continues a KV cache (multi-turn chat). The cache is empty, or holds the
 * adapter's virtual tokens (if any) followed by ids[0 .. k) for some k < n_ids; the rest of ids
 * is run first, then up to p->max_new_tokens ids are generated into *out. The cache grows as
 * needed. On return it holds the virtual tokens, all of ids and every output id except the last
 * (whose keys were never computed). The repetition penalty sees all of ids plus the output. */
ct_status ct_generate_cached(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, ct_kv_cache *kv,
                             const int32_t *ids, size_t n_ids, const ct_gen_params *p, ct_ids *out,
                             ct_gen_stop *stop, ct_err *err);

/* Sequences one batched decode step advances together: the step reads every weight once for all
 * of them (ct_model_forward_batch; the decode GEMV serves up to 8 tokens). */
#define CT_GEN_BATCH 8

/* ct_generate for n prompts (prompts[i], n_prompts[i] >= 1 ids) with the same parameters: each
 * prompt is prefilled on its own, then up to CT_GEN_BATCH unfinished sequences are decoded
 * together, one token each per step (larger n runs in groups). outs[i] and stops[i] (optional)
 * receive what ct_generate would give for prompt i alone: every sequence samples with its own
 * generator seeded by p->seed, and a batched step computes each sequence's logits exactly as a
 * single decode step does. p->on_token is not supported (CT_ERR_ARG): it could not say which
 * sequence a token belongs to. With p->constraint (one automaton state) the prompts are decoded
 * one after another through ct_generate. */
ct_status ct_generate_batch(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *const *prompts,
                            const size_t *n_prompts, size_t n, const ct_gen_params *p, ct_ids *outs,
                            ct_gen_stop *stops, ct_err *err);

/* ---- Sampling pieces (used by ct_generate; exposed for tests and other decoders). ---- */

/* Picks the next id from logits[V] (modified in place) given the ids so far (prompt + output,
 * for the repetition penalty). rng is used only when p->do_sample. Returns -1 when V == 0. */
int32_t ct_gen_sample(float *logits, size_t V, const ct_gen_params *p, const int32_t *history,
                      size_t n_history, ct_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
