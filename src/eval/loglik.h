/* Log-likelihood of continuations after a context, as lm-eval's `loglikelihood` requests score
 * them: ll = sum over the continuation's tokens of log p(token | context, previous tokens), f64
 * log-softmax of the f32 logits. With prefix reuse the KV cache keeps the last context: the next
 * context runs only from the first token where it differs (a shared few-shot prefix is computed
 * once per subset), and every option of a question shares its context's pass (a one-token
 * continuation needs no pass of its own). Without reuse every (context, option) pair runs from
 * an empty cache, as a plain implementation does. Both agree to f32 rounding (~1e-7 here): a pass
 * over fewer queries may take the other attention algorithm, which sums in another order. */
#ifndef CT_EVAL_LOGLIK_H
#define CT_EVAL_LOGLIK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/adapter.h"
#include "ctune/ctx.h"
#include "ctune/err.h"
#include "ctune/model.h"

typedef struct ct_loglik ct_loglik;

ct_status ct_loglik_init(ct_loglik **out, ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, bool reuse,
                         ct_err *err);
void ct_loglik_free(ct_loglik *L);

/* ll[i] = log-likelihood of conts[i][0 .. n_conts[i]) after ctx_ids[0 .. n_ctx) (n_ctx >= 1,
 * every n_conts[i] >= 1); greedy[i] (optional) = every continuation token is the argmax. */
ct_status ct_loglik_score(ct_loglik *L, const int32_t *ctx_ids, size_t n_ctx, const int32_t *const *conts,
                          const size_t *n_conts, size_t n_opts, double *ll, bool *greedy, ct_err *err);

/* One question of a batch: ll[i] (and greedy[i], optional) as ct_loglik_score gives them. */
typedef struct ct_loglik_req {
    const int32_t *ctx_ids;
    size_t n_ctx;
    const int32_t *const *conts;
    const size_t *n_conts;
    size_t n_opts;
    double *ll;
    bool *greedy;
} ct_loglik_req;

/* Scores n questions together (ct_model_forward_batch_rows): the prefix all their contexts share
 * stays in the cache (computed once while the next group shares it) and every row continues a
 * copy of it (copied, not recomputed), right-padded to the longest row (the padding follows
 * every position read, so it changes no log-likelihood). Attention-only models: one forward of
 * one row per question (its context after the prefix; the last position scores every option's
 * first token), then one of the options longer than one token (each continuing a copy of its
 * question's cache cut back to the context). Models with recurrent layers (a state cannot be cut
 * back): one forward of a row per question and option longer than one token (context after the
 * prefix, then the option's ids but the last; option 0's row always). Equal to ct_loglik_score
 * to f32 rounding (~1e-6: the GEMMs and attention sum in another order). One at a time instead
 * when n < 2, without reuse, or when the contexts share no prefix. */
ct_status ct_loglik_score_batch(ct_loglik *L, const ct_loglik_req *reqs, size_t n, ct_err *err);

/* Positions run through the model so far (the cost the reuse saves). */
size_t ct_loglik_tokens_run(const ct_loglik *L);

#endif
