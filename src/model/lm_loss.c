/* The language-model loss of token rows: training steps, evaluation and eval-loss all run it
 * (see decoder.h ct_lm_loss). Loss convention = HF causal LM: labels aligned with input_ids,
 * position t predicts labels[t+1] of its row, -100 ignored. */
#include <math.h>
#include <string.h>

#include "model/decoder.h"

size_t ct_lm_count_targets(const ct_lm_batch *b, size_t n_virt) {
    size_t n = 0;
    for (size_t r = 0; r < b->B; r++) {
        for (size_t t = 0; t + 1 < b->T; t++) n += b->labels[r * b->T + t + 1] >= 0;
        if (n_virt) n += b->labels[r * b->T] >= 0; /* the last virtual token predicts labels[0] */
    }
    return n;
}

/* The decoder rows of a batch: virtual tokens first, shifted targets and their weights. */
typedef struct lm_rows {
    ct_dec_rows rows;
    int32_t *ids, *pos, *seg, *tgt;
    float *wts;
} lm_rows;

static ct_status build_rows(lm_rows *r, ct_arena *ar, const ct_lm_batch *b, size_t P, size_t V, ct_err *err) {
    size_t B = b->B, T = b->T + P, N = B * T;
    memset(r, 0, sizeof *r);
    if (b->B == 0 || b->T == 0) return ct_err_set(err, CT_ERR_ARG, "empty batch (B=%zu, T=%zu)", b->B, b->T);
    if (P && b->segment_ids)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "prompt tuning with packed sequences (segment_ids) is not supported");
    r->ids = ct_arena_alloc(ar, N * sizeof(int32_t));
    r->pos = ct_arena_alloc(ar, N * sizeof(int32_t));
    r->tgt = ct_arena_alloc(ar, N * sizeof(int32_t));
    r->seg = b->segment_ids ? ct_arena_alloc(ar, N * sizeof(int32_t)) : NULL;
    r->wts = b->loss_weights ? ct_arena_alloc(ar, N * sizeof(float)) : NULL;
    if (!r->ids || !r->pos || !r->tgt || (b->segment_ids && !r->seg) || (b->loss_weights && !r->wts))
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory for a batch of %zu x %zu", B, T);
    for (size_t row = 0; row < B; row++)
        for (size_t t = 0; t < T; t++) {
            size_t i = row * T + t;
            if (t < P) {
                r->ids[i] = -1 - (int32_t)t;
            } else {
                int32_t id = b->input_ids[row * b->T + (t - P)];
                if (id < 0 || (size_t)id >= V)
                    return ct_err_set(err, CT_ERR_ARG, "input_ids[%zu][%zu] = %d outside vocab [0, %zu)", row, t - P, id,
                                      V);
                r->ids[i] = id;
            }
            /* PEFT prompt learning ignores position_ids: positions are 0..P+T-1 */
            r->pos[i] = (!P && b->position_ids) ? b->position_ids[row * b->T + t] : (int32_t)t;
            if (r->seg) r->seg[i] = b->segment_ids[row * b->T + t];
            int32_t lab = -100;
            float wt = 1.0f;
            if (t + 1 < T && t + 1 >= P) {
                lab = b->labels[row * b->T + (t + 1 - P)];
                if (b->loss_weights) wt = b->loss_weights[row * b->T + (t + 1 - P)];
            }
            if (lab >= 0 && (size_t)lab >= V)
                return ct_err_set(err, CT_ERR_ARG, "labels[%zu][%zu] = %d outside vocab [0, %zu)", row, t + 1 - P, lab, V);
            r->tgt[i] = lab < 0 ? -100 : lab;
            if (r->wts) r->wts[i] = wt;
        }
    r->rows = (ct_dec_rows){.B = B, .T = T, .ids = r->ids, .pos = r->pos, .seg = r->seg, .kv = NULL};
    return CT_OK;
}

ct_status ct_lm_loss(ct_ctx *ctx, const ct_model *m, const ct_dec_hooks *hooks, const ct_dec_opts *opts,
                     ct_arena *arena, const ct_lm_batch *b, float grad_scale, const ct_dec_grads *g,
                     size_t xent_chunk, double *loss_sum, size_t *n_tokens, ct_err *err) {
    *loss_sum = 0;
    if (n_tokens) *n_tokens = 0;
    bool backward = grad_scale != 0.0f;
    if (backward && !opts->train) return ct_err_set(err, CT_ERR_ARG, "loss: a backward needs a train pass");
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size, P = hooks ? hooks->n_virt : 0;
    size_t mk = ct_arena_mark(arena);
    lm_rows r;
    ct_status st = build_rows(&r, arena, b, P, V, err);
    ct_dec d = {0};
    if (!st) st = ct_dec_forward(&d, ctx, m, hooks, opts, arena, &r.rows, err);
    float *dh = NULL;
    if (!st && backward && !(dh = ct_arena_calloc(arena, d.N * C * sizeof(float))))
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory for the loss gradient");
    if (!st) {
        const ct_tensor *head = &d.w->g[CT_GT_LM_HEAD];
        *loss_sum = ct_xent_forward_backward(ctx, dh, backward ? g->g[CT_GT_LM_HEAD] : NULL, d.hidden, head, r.tgt,
                                             r.wts, d.N, C, V, grad_scale, xent_chunk, n_tokens);
        if (!isfinite(*loss_sum))
            st = ct_err_set(err, CT_ERR_NUMERIC, "loss is %g (non-finite) in the forward pass", *loss_sum);
    }
    if (!st && backward && (st = ct_dec_backward(&d, dh, g)))
        ct_err_set(err, st, "out of memory for the backward of %zu tokens", d.N);
    ct_dec_end(&d);
    ct_arena_release(arena, mk);
    return st;
}
