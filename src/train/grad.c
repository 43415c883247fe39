/* Whole-model training forward + backward (see grad.h). One decoder for qwen2 / qwen3 / llama,
 * mirroring HF modeling_{llama,qwen2,qwen3}: pre-norm blocks, q/k/v (+bias), q_norm/k_norm
 * (qwen3, before RoPE), RoPE (rotate_half), causal GQA attention (packed: within a segment),
 * o_proj, SwiGLU MLP, final norm, LM head fused with cross-entropy (chunked). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/ops_grad.h"
#include "peft/lora.h"
#include "train/grad.h"
#include "base/rng.h"

/* Saved activations of one layer ([N = B*T tokens] rows). */
typedef struct layer_acts {
    float *xn1, *rstd1;        /* [N,C], [N] attention RMSNorm output / rstd */
    float *qraw, *qrstd;       /* qk_norm only: [N,Hq*D] projection before q_norm, [N*Hq] */
    float *kraw, *krstd;       /* [N,Hkv*D], [N*Hkv] */
    float *q, *k, *v;          /* [N,Hq*D], [N,Hkv*D] x2: after norm + RoPE (v: projection) */
    float *att;                /* [N,Hq*D] attention output (o_proj input) */
    float *h;                  /* [N,C] residual after attention */
    float *xn2, *rstd2;        /* [N,C], [N] */
    float *gate, *up, *act;    /* [N,I] */
} layer_acts;

typedef struct step_ctx {
    ct_train_model *tm;
    const ct_model *m;
    size_t B, T, N, C, Hq, Hkv, D, I, V;
    float eps;
    int32_t *ids;  /* [N] token ids; -1-p for prompt virtual token p */
    int32_t *pos;  /* [N] */
    int32_t *seg;  /* [N] or NULL */
    int32_t *tgt;  /* [N] shifted labels (target of token t) */
    float *wts;    /* [N] weight of tgt, or NULL */
    bool train;    /* dropout on */
} step_ctx;

/* Step workspace: one grow-only block kept in tm between steps, so the ~GB of activations is
 * not mmap'd, page-faulted and unmapped again on every micro-batch. Buffers are carved in order
 * during a step; when a step needed more than the block holds, the extra buffers are malloc'd
 * and the block is enlarged to the step's total at the next reset. */
typedef struct ct_train_ws {
    char *base;
    size_t cap, used, want;
    void **extra;
    size_t n_extra, cap_extra;
} ct_train_ws;

static void ws_reset(ct_train_model *tm) {
    ct_train_ws *w = tm->ws;
    if (!w) w = tm->ws = calloc(1, sizeof(ct_train_ws));
    for (size_t i = 0; i < w->n_extra; i++) free(w->extra[i]);
    w->n_extra = 0;
#ifdef __SANITIZE_ADDRESS__
    w->want = 0; /* under ASan every buffer is its own allocation, so overflows are caught */
#endif
    if (w->want > w->cap) {
        free(w->base);
        w->base = aligned_alloc(64, w->want);
        w->cap = w->base ? w->want : 0;
    }
    w->used = 0;
    w->want = 0;
}

static float *ws_get(ct_train_model *tm, size_t n, bool zero) {
    ct_train_ws *w = tm->ws;
    size_t bytes = (((n ? n : 1) * sizeof(float)) + 63) & ~(size_t)63;
    w->want += bytes;
    float *p;
    if (w->used + bytes <= w->cap) {
        p = (float *)(w->base + w->used);
        w->used += bytes;
    } else {
        p = aligned_alloc(64, bytes);
        if (w->n_extra == w->cap_extra) {
            w->cap_extra = w->cap_extra ? 2 * w->cap_extra : 64;
            w->extra = realloc(w->extra, w->cap_extra * sizeof(void *));
        }
        w->extra[w->n_extra++] = p;
    }
    if (zero) memset(p, 0, n * sizeof(float));
    return p;
}

void ct_train_ws_free(ct_train_model *tm) {
    ct_train_ws *w = tm->ws;
    if (!w) return;
    for (size_t i = 0; i < w->n_extra; i++) free(w->extra[i]);
    free(w->extra);
    free(w->base);
    free(w);
    tm->ws = NULL;
}

static void acts_alloc(layer_acts *a, const step_ctx *c, bool qk) {
    size_t N = c->N, C = c->C, QD = c->Hq * c->D, KD = c->Hkv * c->D, I = c->I;
    a->xn1 = ws_get(c->tm, N * C, false);
    a->rstd1 = ws_get(c->tm, N, false);
    a->qraw = qk ? ws_get(c->tm, N * QD, false) : NULL;
    a->qrstd = qk ? ws_get(c->tm, N * c->Hq, false) : NULL;
    a->kraw = qk ? ws_get(c->tm, N * KD, false) : NULL;
    a->krstd = qk ? ws_get(c->tm, N * c->Hkv, false) : NULL;
    a->q = ws_get(c->tm, N * QD, false);
    a->k = ws_get(c->tm, N * KD, false);
    a->v = ws_get(c->tm, N * KD, false);
    a->att = ws_get(c->tm, N * QD, false);
    a->h = ws_get(c->tm, N * C, false);
    a->xn2 = ws_get(c->tm, N * C, false);
    a->rstd2 = ws_get(c->tm, N, false);
    a->gate = ws_get(c->tm, N * I, false);
    a->up = ws_get(c->tm, N * I, false);
    a->act = ws_get(c->tm, N * I, false);
}


/* Dropout stream of (micro-step, layer, module): identical when a layer is recomputed. */
static uint64_t lora_stream(const step_ctx *c, int l, int i) {
    return ct_rng_mix((c->tm->rng_step << 24) ^ ((uint64_t)l << 4) ^ (uint64_t)i);
}

/* y = x W^T + b (+ LoRA of module `mod` when present). */
static void linear_fwd(const step_ctx *c, int l, int mod, float *y, const float *x,
                       const ct_tensor *W, const ct_tensor *b) {
    size_t K = (size_t)W->shape[1], Nout = (size_t)W->shape[0];
    ct_linear_forward(y, x, W, b, c->N, K, Nout);
    const ct_lora_state *lo = &c->tm->lora;
    if (lo->r && mod >= 0 && !c->tm->lora_merged) {
        int ia = lo->idx_a[l * CT_LORA_MODULES + mod];
        if (ia >= 0) {
            const ct_param *A = &c->tm->params.p[ia], *B = &c->tm->params.p[lo->idx_b[l * CT_LORA_MODULES + mod]];
            ct_lora_forward(y, x, A->data, B->data, c->N, K, Nout, lo->r, lo->scaling,
                            c->train ? lo->dropout : 0.0f, c->tm->seed, lora_stream(c, l, mod));
        }
    }
}

static void linear_bwd(const step_ctx *c, int l, int tid, int btid, int mod, float *dx,
                       const float *dy, const float *x, const ct_tensor *W) {
    size_t K = (size_t)W->shape[1], Nout = (size_t)W->shape[0];
    float *gW = c->tm->g_layer[l][tid], *gb = btid >= 0 ? c->tm->g_layer[l][btid] : NULL;
    ct_linear_backward(dx, gW, gb, dy, x, W, c->N, K, Nout);
    const ct_lora_state *lo = &c->tm->lora;
    if (lo->r && mod >= 0) {
        int ia = lo->idx_a[l * CT_LORA_MODULES + mod];
        if (ia >= 0) {
            const ct_param *A = &c->tm->params.p[ia], *B = &c->tm->params.p[lo->idx_b[l * CT_LORA_MODULES + mod]];
            ct_lora_backward(dx, A->grad, B->grad, dy, x, A->data, B->data, c->N, K, Nout, lo->r,
                             lo->scaling, c->train ? lo->dropout : 0.0f, c->tm->seed, lora_stream(c, l, mod));
        }
    }
}

/* Layer l: xout = h + mlp(norm(h)), h = x + attn(norm(x)). */
static void layer_forward(const step_ctx *c, int l, layer_acts *a, const float *x, float *xout) {
    ct_layer_weights *w = &c->m->w.layers[l];
    size_t N = c->N, C = c->C, Hq = c->Hq, Hkv = c->Hkv, D = c->D, T = c->T;
    bool qk = c->m->cfg.qk_norm && w->q_norm.data;
    ct_rmsnorm_forward(a->xn1, a->rstd1, x, &w->attn_norm, N, C, c->eps);
    linear_fwd(c, l, 0, qk ? a->qraw : a->q, a->xn1, &w->wq, &w->bq);
    linear_fwd(c, l, 1, qk ? a->kraw : a->k, a->xn1, &w->wk, &w->bk);
    linear_fwd(c, l, 2, a->v, a->xn1, &w->wv, &w->bv);
    if (qk) {
        ct_rmsnorm_forward(a->q, a->qrstd, a->qraw, &w->q_norm, N * Hq, D, c->eps);
        ct_rmsnorm_forward(a->k, a->krstd, a->kraw, &w->k_norm, N * Hkv, D, c->eps);
    }
    ct_rope_forward(a->q, c->pos, N, Hq, D, c->m->cfg.rope_theta);
    ct_rope_forward(a->k, c->pos, N, Hkv, D, c->m->cfg.rope_theta);
    for (size_t b = 0; b < c->B; b++) {
        const int32_t *sg = c->seg ? c->seg + b * T : NULL;
        ct_attention_forward_blocked(a->att + b * T * Hq * D, a->q + b * T * Hq * D,
                                     a->k + b * T * Hkv * D, a->v + b * T * Hkv * D, sg, T, Hq, Hkv, D);
    }
    linear_fwd(c, l, 3, a->h, a->att, &w->wo, &w->bo);
    ct_add_inplace(a->h, x, N * C);
    ct_rmsnorm_forward(a->xn2, a->rstd2, a->h, &w->mlp_norm, N, C, c->eps);
    linear_fwd(c, l, 4, a->gate, a->xn2, &w->w_gate, &w->b_gate);
    linear_fwd(c, l, 5, a->up, a->xn2, &w->w_up, &w->b_up);
    ct_swiglu_forward(a->act, a->gate, a->up, N * c->I);
    linear_fwd(c, l, 6, xout, a->act, &w->w_down, &w->b_down);
    ct_add_inplace(xout, a->h, N * C);
}

/* Scratch gradient buffers for one layer's backward. */
typedef struct layer_grads {
    float *dact, *dgate, *dup, *dxn, *datt, *dq, *dk, *dv, *dqraw, *dkraw;
} layer_grads;

/* dres: on entry d(xout), on exit d(x). */
static void layer_backward(const step_ctx *c, int l, const layer_acts *a, const float *x,
                           float *dres, layer_grads *g) {
    ct_layer_weights *w = &c->m->w.layers[l];
    float **gl = c->tm->g_layer[l];
    size_t N = c->N, C = c->C, Hq = c->Hq, Hkv = c->Hkv, D = c->D, T = c->T, I = c->I;
    bool qk = c->m->cfg.qk_norm && w->q_norm.data;
    /* MLP */
    memset(g->dact, 0, N * I * sizeof(float));
    linear_bwd(c, l, CT_LT_DOWN, CT_LT_B_DOWN, 6, g->dact, dres, a->act, &w->w_down);
    memset(g->dgate, 0, N * I * sizeof(float));
    memset(g->dup, 0, N * I * sizeof(float));
    ct_swiglu_backward(g->dgate, g->dup, g->dact, a->gate, a->up, N * I);
    memset(g->dxn, 0, N * C * sizeof(float));
    linear_bwd(c, l, CT_LT_GATE, CT_LT_B_GATE, 4, g->dxn, g->dgate, a->xn2, &w->w_gate);
    linear_bwd(c, l, CT_LT_UP, CT_LT_B_UP, 5, g->dxn, g->dup, a->xn2, &w->w_up);
    ct_rmsnorm_backward(dres, gl[CT_LT_MLP_NORM], g->dxn, a->h, a->rstd2, &w->mlp_norm, N, C);
    /* attention; dres is now d(h) */
    memset(g->datt, 0, N * Hq * D * sizeof(float));
    linear_bwd(c, l, CT_LT_WO, CT_LT_BO, 3, g->datt, dres, a->att, &w->wo);
    memset(g->dq, 0, N * Hq * D * sizeof(float));
    memset(g->dk, 0, N * Hkv * D * sizeof(float));
    memset(g->dv, 0, N * Hkv * D * sizeof(float));
    for (size_t b = 0; b < c->B; b++)
        ct_attention_backward(g->dq + b * T * Hq * D, g->dk + b * T * Hkv * D, g->dv + b * T * Hkv * D,
                              g->datt + b * T * Hq * D, a->q + b * T * Hq * D, a->k + b * T * Hkv * D,
                              a->v + b * T * Hkv * D, c->seg ? c->seg + b * T : NULL, T, Hq, Hkv, D);
    ct_rope_backward(g->dq, c->pos, N, Hq, D, c->m->cfg.rope_theta);
    ct_rope_backward(g->dk, c->pos, N, Hkv, D, c->m->cfg.rope_theta);
    float *dq = g->dq, *dk = g->dk;
    if (qk) {
        memset(g->dqraw, 0, N * Hq * D * sizeof(float));
        memset(g->dkraw, 0, N * Hkv * D * sizeof(float));
        ct_rmsnorm_backward(g->dqraw, gl[CT_LT_Q_NORM], g->dq, a->qraw, a->qrstd, &w->q_norm, N * Hq, D);
        ct_rmsnorm_backward(g->dkraw, gl[CT_LT_K_NORM], g->dk, a->kraw, a->krstd, &w->k_norm, N * Hkv, D);
        dq = g->dqraw;
        dk = g->dkraw;
    }
    memset(g->dxn, 0, N * C * sizeof(float));
    linear_bwd(c, l, CT_LT_WQ, CT_LT_BQ, 0, g->dxn, dq, a->xn1, &w->wq);
    linear_bwd(c, l, CT_LT_WK, CT_LT_BK, 1, g->dxn, dk, a->xn1, &w->wk);
    linear_bwd(c, l, CT_LT_WV, CT_LT_BV, 2, g->dxn, g->dv, a->xn1, &w->wv);
    ct_rmsnorm_backward(dres, gl[CT_LT_ATTN_NORM], g->dxn, x, a->rstd1, &w->attn_norm, N, C);
}

size_t ct_train_batch_count_tokens(const ct_train_batch *b) {
    size_t n = 0;
    for (size_t r = 0; r < b->B; r++)
        for (size_t t = 0; t + 1 < b->T; t++)
            if (b->labels[r * b->T + t + 1] >= 0) n++;
    return n;
}

size_t ct_train_count_tokens(const ct_train_model *tm, const ct_train_batch *b) {
    size_t n = ct_train_batch_count_tokens(b);
    if (tm->n_virtual > 0)
        for (size_t r = 0; r < b->B; r++) n += b->labels[r * b->T] >= 0;
    return n;
}

/* Builds the flattened inputs (prompt tuning prepends virtual tokens). */
static ct_status ctx_init(step_ctx *c, ct_train_model *tm, const ct_train_batch *b, bool train, ct_err *err) {
    const ct_model *m = tm->model;
    memset(c, 0, sizeof *c);
    c->tm = tm;
    c->m = m;
    c->train = train;
    size_t P = (size_t)tm->n_virtual;
    c->B = b->B;
    c->T = b->T + P;
    c->N = c->B * c->T;
    c->C = (size_t)m->cfg.hidden_size;
    c->Hq = (size_t)m->cfg.num_heads;
    c->Hkv = (size_t)m->cfg.num_kv_heads;
    c->D = (size_t)m->cfg.head_dim;
    c->I = (size_t)m->cfg.intermediate_size;
    c->V = (size_t)m->cfg.vocab_size;
    c->eps = (float)m->cfg.rms_norm_eps;
    if (b->B == 0 || b->T == 0) return ct_err_set(err, CT_ERR_ARG, "empty batch (B=%zu, T=%zu)", b->B, b->T);
    if (P && b->segment_ids)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "prompt tuning with packed sequences (segment_ids) is not supported");
    c->ids = malloc(c->N * sizeof(int32_t));
    c->pos = malloc(c->N * sizeof(int32_t));
    c->tgt = malloc(c->N * sizeof(int32_t));
    c->seg = b->segment_ids ? malloc(c->N * sizeof(int32_t)) : NULL;
    c->wts = b->loss_weights ? malloc(c->N * sizeof(float)) : NULL;
    for (size_t r = 0; r < c->B; r++) {
        for (size_t t = 0; t < c->T; t++) {
            size_t i = r * c->T + t;
            if (t < P) {
                c->ids[i] = -1 - (int32_t)t;
            } else {
                int32_t id = b->input_ids[r * b->T + (t - P)];
                if (id < 0 || (size_t)id >= c->V)
                    return ct_err_set(err, CT_ERR_ARG, "input_ids[%zu][%zu] = %d outside vocab [0, %zu)", r,
                                      t - P, id, c->V);
                c->ids[i] = id;
            }
            /* PEFT prompt learning ignores position_ids: positions are 0..P+T-1 */
            c->pos[i] = (!P && b->position_ids) ? b->position_ids[r * b->T + t] : (int32_t)t;
            if (c->seg) c->seg[i] = b->segment_ids[r * b->T + t];
            int32_t lab = -100;
            float wt = 1.0f;
            if (t + 1 < c->T && t + 1 >= P) {
                lab = b->labels[r * b->T + (t + 1 - P)];
                if (b->loss_weights) wt = b->loss_weights[r * b->T + (t + 1 - P)];
            }
            if (lab >= 0 && (size_t)lab >= c->V)
                return ct_err_set(err, CT_ERR_ARG, "labels[%zu][%zu] = %d outside vocab [0, %zu)", r, t + 1 - P,
                                  lab, c->V);
            c->tgt[i] = lab < 0 ? -100 : lab;
            if (c->wts) c->wts[i] = wt;
        }
    }
    return CT_OK;
}

static void ctx_free(step_ctx *c) {
    free(c->ids);
    free(c->pos);
    free(c->tgt);
    free(c->seg);
    free(c->wts);
}

ct_status ct_train_step(ct_train_model *tm, const ct_train_batch *b, double norm_tokens, bool backward,
                        double *loss, ct_err *err) {
    if (backward && tm->lora_merged)
        return ct_err_set(err, CT_ERR_ARG, "LoRA is merged into the weights: call ct_train_model_unmerge_lora before training");
    step_ctx c;
    ct_status st = ctx_init(&c, tm, b, backward, err);
    if (st) {
        ctx_free(&c);
        return st;
    }
    if (!(norm_tokens > 0)) norm_tokens = 1.0;
    const ct_model *m = tm->model;
    size_t N = c.N, C = c.C, L = (size_t)m->cfg.num_layers;
    bool qk = m->cfg.qk_norm;
    bool keep_all = backward && !tm->checkpointing;
    ws_reset(tm);

    /* xs[l]: input of layer l (xs[L]: output of the last layer) */
    float **xs = calloc(L + 1, sizeof(float *));
    for (size_t l = 0; l <= L; l++) xs[l] = ws_get(tm, N * C, false);
    size_t nacts = keep_all ? (L ? L : 1) : 1;
    layer_acts *acts = calloc(nacts, sizeof(layer_acts));
    for (size_t i = 0; i < nacts; i++) acts_alloc(&acts[i], &c, qk);

    /* embeddings (+ prompt rows) */
    const float *P = tm->prompt_param >= 0 ? tm->params.p[tm->prompt_param].data : NULL;
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (size_t i = 0; i < N; i++) {
        if (c.ids[i] < 0)
            memcpy(xs[0] + i * C, P + (size_t)(-1 - c.ids[i]) * C, C * sizeof(float));
        else
            ct_tensor_to_f32(&m->w.embed, (size_t)c.ids[i] * C, C, xs[0] + i * C);
    }
    for (size_t l = 0; l < L; l++) layer_forward(&c, (int)l, &acts[keep_all ? l : 0], xs[l], xs[l + 1]);
    float *xf = ws_get(tm, N * C, false), *rstdf = ws_get(tm, N, false), *dxf = ws_get(tm, N * C, true);
    ct_rmsnorm_forward(xf, rstdf, xs[L], &m->w.final_norm, N, C, c.eps);
    float scale = backward ? (float)(1.0 / norm_tokens) : 0.0f;
    double lsum = ct_lm_head_xent(dxf, backward ? tm->g_lm_head : NULL, xf, &m->w.lm_head, c.tgt, c.wts, N,
                                  C, c.V, scale, tm->xent_chunk, NULL);
    *loss = lsum / norm_tokens;
    if (!isfinite(lsum)) st = ct_err_set(err, CT_ERR_NUMERIC, "loss is %g (non-finite) in the forward pass", lsum);

    if (!st && backward) {
        float *dres = ws_get(tm, N * C, true);
        ct_rmsnorm_backward(dres, tm->g_final_norm, dxf, xs[L], rstdf, &m->w.final_norm, N, C);
        layer_grads g;
        size_t QD = c.Hq * c.D, KD = c.Hkv * c.D;
        g.dact = ws_get(tm, N * c.I, false);
        g.dgate = ws_get(tm, N * c.I, false);
        g.dup = ws_get(tm, N * c.I, false);
        g.dxn = ws_get(tm, N * C, false);
        g.datt = ws_get(tm, N * QD, false);
        g.dq = ws_get(tm, N * QD, false);
        g.dk = ws_get(tm, N * KD, false);
        g.dv = ws_get(tm, N * KD, false);
        g.dqraw = qk ? ws_get(tm, N * QD, false) : NULL;
        g.dkraw = qk ? ws_get(tm, N * KD, false) : NULL;
        for (size_t l = L; l-- > 0;) {
            layer_acts *a = &acts[keep_all ? l : 0];
            if (!keep_all) layer_forward(&c, (int)l, a, xs[l], xs[l + 1]); /* recompute (checkpointing) */
            layer_backward(&c, (int)l, a, xs[l], dres, &g);
        }
        /* embedding / prompt gradients */
        float *gP = tm->prompt_param >= 0 ? tm->params.p[tm->prompt_param].grad : NULL;
        if (tm->g_embed || gP) {
#pragma omp parallel for schedule(static) if (N * C > 65536)
            for (size_t cc = 0; cc < C; cc++)
                for (size_t i = 0; i < N; i++) {
                    if (c.ids[i] < 0) {
                        if (gP) gP[(size_t)(-1 - c.ids[i]) * C + cc] += dres[i * C + cc];
                    } else if (tm->g_embed) {
                        tm->g_embed[(size_t)c.ids[i] * C + cc] += dres[i * C + cc];
                    }
                }
        }
        tm->rng_step++;
    }
    free(acts);
    free(xs);
    ctx_free(&c);
    return st;
}
