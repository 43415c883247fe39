/* One micro-batch of training or evaluation (see step.h). */
#include "train/step.h"

size_t ct_train_count_tokens(const ct_train_model *tm, const ct_lm_batch *b) {
    return ct_lm_count_targets(b, (size_t)tm->n_virtual);
}

ct_status ct_train_step(ct_ctx *ctx, ct_train_model *tm, const ct_lm_batch *b, double norm_tokens, bool backward,
                        double *loss, ct_err *err) {
    if (!(norm_tokens > 0)) norm_tokens = 1.0;
    ct_dec_hooks h = ct_train_model_hooks(tm);
    ct_dec_opts o = {.train = backward, .checkpointing = tm->checkpointing, .seed = tm->seed, .step = tm->rng_step};
    double sum = 0;
    ct_status st = ct_lm_loss(ctx, tm->model, &h, &o, &tm->acts, b, backward ? (float)(1.0 / norm_tokens) : 0.0f,
                              &tm->grads, tm->xent_chunk, &sum, NULL, err);
    *loss = sum / norm_tokens;
    if (!st && backward) tm->rng_step++;
    return st;
}
