/* One micro-batch of training or evaluation (see step.h). */
#include "train/step.h"

#include <math.h>

size_t ct_train_count_tokens(const ct_train_model *tm, const ct_lm_batch *b) {
    return ct_lm_count_targets(b, (size_t)tm->n_virtual);
}

ct_status ct_train_step(ct_ctx *ctx, ct_train_model *tm, const ct_lm_batch *b, double norm_tokens, bool backward,
                        double *loss, ct_err *err) {
    if (!(norm_tokens > 0)) norm_tokens = 1.0;
    ct_dec_hooks h = ct_train_model_hooks(tm);
    ct_dec_opts o = {.train = backward, .checkpointing = tm->checkpointing, .seed = tm->seed, .step = tm->rng_step};
    if (backward && tm->neftune_alpha > 0) { /* mag = alpha / sqrt(L * d), L the (padded) batch length */
        size_t pad = tm->neftune_pad > 1 ? tm->neftune_pad : 1, L = (b->T + pad - 1) / pad * pad;
        o.neftune_mag = (float)(tm->neftune_alpha / sqrt((double)L * (double)tm->model->cfg.hidden_size));
    }
    double sum = 0;
    ct_status st = ct_lm_loss(ctx, tm->model, &h, &o, &tm->acts, b, backward ? (float)(1.0 / norm_tokens) : 0.0f,
                              &tm->grads, tm->xent_chunk, &sum, NULL, err);
    *loss = sum / norm_tokens;
    if (!st && backward) tm->rng_step++;
    return st;
}
