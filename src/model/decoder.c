/* The one decoder: layer forward (training and inference) and backward (see decoder.h); the
 * attention and MLP here, the Gated DeltaNet mixer in deltanet.c. */
#include <string.h>

#include "base/rng.h"
#include "model/decoder_int.h"

float *ct_dec_get(ct_dec *d, size_t n, ct_status *st) {
    float *p = ct_arena_alloc(d->arena, (n ? n : 1) * sizeof(float));
    if (!p) *st = CT_ERR_NOMEM;
    return p;
}
#define get ct_dec_get

static bool is_dn(const ct_dec *d, int l) { return d->cfg->layer_kind[l] == CT_LAYER_DELTANET; }

/* The buffers of a layer kind: attention (want_attn), DeltaNet (want_dn) or both (one acts set
 * reused by every layer: inference, checkpointing). */
static ct_status acts_alloc(ct_dec *d, ct_dec_acts *a, bool want_attn, bool want_dn) {
    const ct_config *c = d->cfg;
    size_t N = d->N, C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    size_t QD = (size_t)c->num_heads * (size_t)c->head_dim, KD = (size_t)c->num_kv_heads * (size_t)c->head_dim;
    bool keep = d->opts.train, qk = c->qk_norm, og = c->attn_output_gate;
    ct_status st = CT_OK;
    memset(a, 0, sizeof *a);
    a->xn1 = get(d, N * C, &st);
    a->h = get(d, N * C, &st);
    a->gate = get(d, N * I, &st);
    a->up = get(d, N * I, &st);
    if (want_attn) {
        a->q = get(d, N * QD, &st);
        a->k = get(d, N * KD, &st);
        a->v = get(d, N * KD, &st);
        a->att = get(d, N * QD, &st);
        if (og) {
            a->qg = get(d, N * 2 * QD, &st);
            a->ogate = get(d, N * QD, &st);
            a->att0 = keep ? get(d, N * QD, &st) : a->att;
        }
    }
    if (want_dn && !st) st = ct_dn_acts_alloc(d, &a->dn, keep);
    if (keep) {
        a->rstd1 = get(d, N, &st);
        a->rstd2 = get(d, N, &st);
        a->xn2 = get(d, N * C, &st);
        a->act = get(d, N * I, &st);
        if (qk && want_attn) {
            a->qraw = get(d, N * QD, &st);
            a->kraw = get(d, N * KD, &st);
            a->qrstd = get(d, N * (size_t)c->num_heads, &st);
            a->krstd = get(d, N * (size_t)c->num_kv_heads, &st);
        }
    } else { /* in place: q/k normed where they were projected, xn2 over xn1, act over gate */
        a->xn2 = a->xn1;
        a->act = a->gate;
        a->qraw = a->q;
        a->kraw = a->k;
    }
    return st;
}

/* ---- linear with LoRA ---- */

static const ct_lora_ref *lora_ref(const ct_dec *d, int l, int id) {
    if (!d->lora || !d->lora->ref) return NULL;
    const ct_lora_ref *r = &d->lora->ref[(size_t)l * CT_LT_COUNT + (size_t)id];
    return r->A ? r : NULL;
}

static ct_dropout lora_dropout(const ct_dec *d, int l, int id) {
    ct_dropout dr = {0.0f, d->opts.seed, 0};
    if (d->opts.train && d->lora->dropout > 0.0f) {
        dr.p = d->lora->dropout;
        /* the stream of (step, layer, module): identical when a layer is recomputed */
        dr.stream = ct_rng_mix((d->opts.step << 24) ^ ((uint64_t)l << 4) ^ (uint64_t)ct_spec_lora_index(id));
    }
    return dr;
}

void ct_dec_linear_fwd(ct_dec *d, int l, int wid, int bid, float *y, const float *x) {
    const ct_tensor *W = &d->w->layers[l].t[wid], *b = bid >= 0 ? &d->w->layers[l].t[bid] : NULL;
    size_t K = (size_t)W->shape[1], Nout = (size_t)W->shape[0];
    const ct_lora_ref *r = lora_ref(d, l, wid);
    if (r && r->mag) { /* DoRA: the whole adapted linear is one op */
        ct_dora_forward(d->ctx, y, x, W, b, r, lora_dropout(d, l, wid), d->N, K, Nout);
        return;
    }
    ct_linear_forward(d->ctx, y, x, W, b, d->N, K, Nout);
    if (r) ct_lora_forward(d->ctx, y, x, r, lora_dropout(d, l, wid), d->N, K, Nout);
}

/* Several linears of layer l on the same input x (q/k/v, gate/up): the base products in one
 * ct_linear_multi_forward (one parallel region at decode), then each matrix's LoRA; a DoRA
 * module is the whole adapted linear, so a set with one runs matrix by matrix. */
static void linear_multi_fwd(ct_dec *d, int l, size_t n, const int *wid, const int *bid, float *const *ys,
                             const float *x) {
    const ct_tensor *Ws[4] = {0}, *bs[4] = {0};
    for (size_t i = 0; i < n; i++) {
        const ct_lora_ref *r = lora_ref(d, l, wid[i]);
        if (r && r->mag) {
            for (size_t j = 0; j < n; j++) ct_dec_linear_fwd(d, l, wid[j], bid[j], ys[j], x);
            return;
        }
        Ws[i] = &d->w->layers[l].t[wid[i]];
        bs[i] = bid[i] >= 0 ? &d->w->layers[l].t[bid[i]] : NULL;
    }
    size_t K = (size_t)Ws[0]->shape[1];
    ct_linear_multi_forward(d->ctx, ys, x, Ws, bs, n, d->N, K);
    for (size_t i = 0; i < n; i++) {
        const ct_lora_ref *r = lora_ref(d, l, wid[i]);
        if (r) ct_lora_forward(d->ctx, ys[i], x, r, lora_dropout(d, l, wid[i]), d->N, K, (size_t)Ws[i]->shape[0]);
    }
}

void ct_dec_linear_bwd(ct_dec *d, const ct_dec_grads *g, int l, int wid, int bid, float *dx, const float *dy,
                       const float *x) {
    const ct_tensor *W = &d->w->layers[l].t[wid];
    size_t K = (size_t)W->shape[1], Nout = (size_t)W->shape[0];
    float **gl = g->layer ? g->layer[l] : NULL;
    const ct_lora_ref *r = lora_ref(d, l, wid);
    if (r && r->mag) { /* DoRA: W and its bias are frozen (LoRA methods train neither) */
        ct_dora_backward(d->ctx, dx, dy, x, W, r, lora_dropout(d, l, wid), d->N, K, Nout);
        return;
    }
    ct_linear_backward(d->ctx, dx, gl ? gl[wid] : NULL, gl && bid >= 0 ? gl[bid] : NULL, dy, x, W, d->N, K, Nout);
    if (r) ct_lora_backward(d->ctx, dx, dy, x, r, lora_dropout(d, l, wid), d->N, K, Nout);
}
#define linear_fwd ct_dec_linear_fwd
#define linear_bwd ct_dec_linear_bwd

bool ct_dec_next_segment(const ct_dec *d, size_t b, size_t *s0, size_t *s1) {
    size_t T = d->rows.T;
    if (*s1 >= T) return false;
    *s0 = *s1;
    const int32_t *seg = d->rows.seg ? d->rows.seg + b * T : NULL;
    size_t e = *s0 + 1;
    while (seg && e < T && seg[e] == seg[*s0]) e++;
    *s1 = seg ? e : T;
    return true;
}

/* ---- attention: within each row (training) or over each row's KV cache (inference) ---- */

static void attend(ct_dec *d, int l, ct_dec_acts *a, float *out_all) {
    const ct_config *c = d->cfg;
    size_t T = d->rows.T, Hq = (size_t)c->num_heads, Hkv = (size_t)c->num_kv_heads, D = (size_t)c->head_dim;
    size_t QD = Hq * D, KD = Hkv * D;
    for (size_t b = 0; b < d->rows.B; b++) {
        float *q = a->q + b * T * QD, *k = a->k + b * T * KD, *v = a->v + b * T * KD, *out = out_all + b * T * QD;
        if (d->rows.kv) {
            ct_kv_cache *kv = d->rows.kv[b];
            size_t s = kv->slot[l];
            float *kl = kv->k + s * kv->cap * KD, *vl = kv->v + s * kv->cap * KD;
            memcpy(kl + kv->len * KD, k, T * KD * sizeof(float));
            memcpy(vl + kv->len * KD, v, T * KD * sizeof(float));
            ct_attention_forward(d->ctx, out, q, kl, vl, NULL, NULL, T, kv->len + T, Hq, Hkv, D);
        } else {
            const int32_t *seg = d->rows.seg ? d->rows.seg + b * T : NULL;
            ct_attention_forward(d->ctx, out, q, k, v, seg, seg, T, T, Hq, Hkv, D);
        }
    }
}

/* Qwen3.5's q_proj output per head is [D query | D gate]: split into q (or qraw) and ogate, and
 * the reverse for the gradients. */
static void split_qg(float *q, float *gate, const float *qg, size_t N, size_t H, size_t D) {
    for (size_t i = 0; i < N * H; i++) {
        memcpy(q + i * D, qg + i * 2 * D, D * sizeof(float));
        memcpy(gate + i * D, qg + i * 2 * D + D, D * sizeof(float));
    }
}

static void join_qg(float *qg, const float *q, const float *gate, size_t N, size_t H, size_t D) {
    for (size_t i = 0; i < N * H; i++) {
        memcpy(qg + i * 2 * D, q + i * D, D * sizeof(float));
        memcpy(qg + i * 2 * D + D, gate + i * D, D * sizeof(float));
    }
}

/* h = o_proj(attention(xn1)). */
static void attn_forward(ct_dec *d, int l, ct_dec_acts *a) {
    const ct_config *c = d->cfg;
    const ct_tensor *W = d->w->layers[l].t;
    ct_ctx *ctx = d->ctx;
    size_t N = d->N, Hq = (size_t)c->num_heads, Hkv = (size_t)c->num_kv_heads, D = (size_t)c->head_dim;
    size_t R = (size_t)ct_rotary_dim(c);
    float eps = (float)c->rms_norm_eps;
    bool qk = c->qk_norm && W[CT_LT_Q_NORM].data, og = c->attn_output_gate;
    static const int wid[3] = {CT_LT_WQ, CT_LT_WK, CT_LT_WV}, bid[3] = {CT_LT_BQ, CT_LT_BK, CT_LT_BV};
    float *ys[3] = {og ? a->qg : qk ? a->qraw : a->q, qk ? a->kraw : a->k, a->v};
    linear_multi_fwd(d, l, 3, wid, bid, ys, a->xn1);
    if (og) split_qg(qk ? a->qraw : a->q, a->ogate, a->qg, N, Hq, D);
    if (qk) { /* Qwen3: RMSNorm over head_dim per head, before RoPE */
        ct_rmsnorm_forward(ctx, a->q, a->qrstd, a->qraw, &W[CT_LT_Q_NORM], d->norm_add, N * Hq, D, eps);
        ct_rmsnorm_forward(ctx, a->k, a->krstd, a->kraw, &W[CT_LT_K_NORM], d->norm_add, N * Hkv, D, eps);
    }
    ct_rope_forward(ctx, a->q, d->rows.pos, N, Hq, D, R, d->inv_freq, d->rope_scale);
    ct_rope_forward(ctx, a->k, d->rows.pos, N, Hkv, D, R, d->inv_freq, d->rope_scale);
    attend(d, l, a, og ? a->att0 : a->att);
    if (og) ct_sigmoid_gate_forward(ctx, a->att, a->att0, a->ogate, N * Hq * D);
    linear_fwd(d, l, CT_LT_WO, CT_LT_BO, a->h, a->att);
}

/* Layer l: xout = h + mlp(norm(h)), h = x + mixer(norm(x)). */
static void layer_forward(ct_dec *d, int l, ct_dec_acts *a, const float *x, float *xout) {
    const ct_config *c = d->cfg;
    const ct_tensor *W = d->w->layers[l].t;
    ct_ctx *ctx = d->ctx;
    size_t N = d->N, C = (size_t)c->hidden_size;
    float eps = (float)c->rms_norm_eps;
    ct_rmsnorm_forward(ctx, a->xn1, a->rstd1, x, &W[CT_LT_ATTN_NORM], d->norm_add, N, C, eps);
    if (is_dn(d, l)) ct_dn_forward(d, l, &a->dn, a->xn1, a->h);
    else attn_forward(d, l, a);
    ct_add_inplace(ctx, a->h, x, N * C);
    ct_rmsnorm_forward(ctx, a->xn2, a->rstd2, a->h, &W[CT_LT_MLP_NORM], d->norm_add, N, C, eps);
    static const int wid[2] = {CT_LT_GATE, CT_LT_UP}, bid[2] = {CT_LT_B_GATE, CT_LT_B_UP};
    float *ys[2] = {a->gate, a->up};
    linear_multi_fwd(d, l, 2, wid, bid, ys, a->xn2);
    ct_swiglu_forward(ctx, a->act, a->gate, a->up, N * (size_t)c->intermediate_size);
    linear_fwd(d, l, CT_LT_DOWN, CT_LT_B_DOWN, xout, a->act);
    ct_add_inplace(ctx, xout, a->h, N * C);
}

/* Scratch gradients of one layer's backward. */
typedef struct layer_grads {
    float *dact, *dgate, *dup, *dxn, *datt, *dq, *dk, *dv, *dqraw, *dkraw;
    float *datt0, *dogate, *dqg; /* the output gate */
} layer_grads;

/* dres: d(h) on entry; dxn += the attention's backward. */
static void attn_backward(ct_dec *d, const ct_dec_grads *gr, int l, const ct_dec_acts *a, const float *dres,
                          layer_grads *g) {
    const ct_config *c = d->cfg;
    const ct_tensor *W = d->w->layers[l].t;
    ct_ctx *ctx = d->ctx;
    float **gl = gr->layer ? gr->layer[l] : NULL;
    size_t N = d->N, Hq = (size_t)c->num_heads, Hkv = (size_t)c->num_kv_heads;
    size_t D = (size_t)c->head_dim, T = d->rows.T, R = (size_t)ct_rotary_dim(c);
    bool qk = c->qk_norm && W[CT_LT_Q_NORM].data, og = c->attn_output_gate;
    memset(g->datt, 0, N * Hq * D * sizeof(float));
    linear_bwd(d, gr, l, CT_LT_WO, CT_LT_BO, g->datt, dres, a->att);
    float *datt = g->datt;
    if (og) {
        memset(g->datt0, 0, N * Hq * D * sizeof(float));
        memset(g->dogate, 0, N * Hq * D * sizeof(float));
        ct_sigmoid_gate_backward(ctx, g->datt0, g->dogate, g->datt, a->att0, a->ogate, N * Hq * D);
        datt = g->datt0;
    }
    memset(g->dq, 0, N * Hq * D * sizeof(float));
    memset(g->dk, 0, N * Hkv * D * sizeof(float));
    memset(g->dv, 0, N * Hkv * D * sizeof(float));
    for (size_t b = 0; b < d->rows.B; b++)
        ct_attention_backward(ctx, g->dq + b * T * Hq * D, g->dk + b * T * Hkv * D, g->dv + b * T * Hkv * D,
                              datt + b * T * Hq * D, a->q + b * T * Hq * D, a->k + b * T * Hkv * D,
                              a->v + b * T * Hkv * D, d->rows.seg ? d->rows.seg + b * T : NULL, T, Hq, Hkv, D);
    ct_rope_backward(ctx, g->dq, d->rows.pos, N, Hq, D, R, d->inv_freq, d->rope_scale);
    ct_rope_backward(ctx, g->dk, d->rows.pos, N, Hkv, D, R, d->inv_freq, d->rope_scale);
    float *dq = g->dq, *dk = g->dk;
    if (qk) {
        memset(g->dqraw, 0, N * Hq * D * sizeof(float));
        memset(g->dkraw, 0, N * Hkv * D * sizeof(float));
        ct_rmsnorm_backward(ctx, g->dqraw, gl ? gl[CT_LT_Q_NORM] : NULL, g->dq, a->qraw, a->qrstd, &W[CT_LT_Q_NORM],
                            d->norm_add, N * Hq, D);
        ct_rmsnorm_backward(ctx, g->dkraw, gl ? gl[CT_LT_K_NORM] : NULL, g->dk, a->kraw, a->krstd, &W[CT_LT_K_NORM],
                            d->norm_add, N * Hkv, D);
        dq = g->dqraw;
        dk = g->dkraw;
    }
    if (og) {
        join_qg(g->dqg, dq, g->dogate, N, Hq, D);
        linear_bwd(d, gr, l, CT_LT_WQ, CT_LT_BQ, g->dxn, g->dqg, a->xn1);
    } else {
        linear_bwd(d, gr, l, CT_LT_WQ, CT_LT_BQ, g->dxn, dq, a->xn1);
    }
    linear_bwd(d, gr, l, CT_LT_WK, CT_LT_BK, g->dxn, dk, a->xn1);
    linear_bwd(d, gr, l, CT_LT_WV, CT_LT_BV, g->dxn, g->dv, a->xn1);
}

/* dres: on entry d(xout), on exit d(x). */
static ct_status layer_backward(ct_dec *d, const ct_dec_grads *gr, int l, const ct_dec_acts *a, const float *x,
                                float *dres, layer_grads *g) {
    const ct_config *c = d->cfg;
    const ct_tensor *W = d->w->layers[l].t;
    ct_ctx *ctx = d->ctx;
    float **gl = gr->layer ? gr->layer[l] : NULL;
    size_t N = d->N, C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    /* MLP */
    memset(g->dact, 0, N * I * sizeof(float));
    linear_bwd(d, gr, l, CT_LT_DOWN, CT_LT_B_DOWN, g->dact, dres, a->act);
    memset(g->dgate, 0, N * I * sizeof(float));
    memset(g->dup, 0, N * I * sizeof(float));
    ct_swiglu_backward(ctx, g->dgate, g->dup, g->dact, a->gate, a->up, N * I);
    memset(g->dxn, 0, N * C * sizeof(float));
    linear_bwd(d, gr, l, CT_LT_GATE, CT_LT_B_GATE, g->dxn, g->dgate, a->xn2);
    linear_bwd(d, gr, l, CT_LT_UP, CT_LT_B_UP, g->dxn, g->dup, a->xn2);
    ct_rmsnorm_backward(ctx, dres, gl ? gl[CT_LT_MLP_NORM] : NULL, g->dxn, a->h, a->rstd2, &W[CT_LT_MLP_NORM],
                        d->norm_add, N, C);
    /* the token mixer; dres is now d(h) */
    memset(g->dxn, 0, N * C * sizeof(float));
    if (is_dn(d, l)) {
        ct_status st = ct_dn_backward(d, gr, l, &a->dn, a->xn1, dres, g->dxn);
        if (st) return st;
    } else {
        attn_backward(d, gr, l, a, dres, g);
    }
    ct_rmsnorm_backward(ctx, dres, gl ? gl[CT_LT_ATTN_NORM] : NULL, g->dxn, x, a->rstd1, &W[CT_LT_ATTN_NORM],
                        d->norm_add, N, C);
    return CT_OK;
}

/* ---- the pass ---- */

/* NEFTune on the embedding output x[N, C]: x[i, c] += mag * (2u - 1), u = ct_rng_uniform(seed,
 * stream of the step, i * C + c), real tokens only (prompt-tuning rows are concatenated after
 * the embedding module in PEFT, so its hook never sees them). The noise is additive: the
 * backward is unchanged. */
#define NEFTUNE_STREAM 0x4e4546ull /* "NEF" */
static void neftune(ct_dec *d, float *x, size_t N, size_t C) {
    float mag = d->opts.neftune_mag;
    uint64_t seed = d->opts.seed, stream = ct_rng_mix((d->opts.step << 24) ^ NEFTUNE_STREAM);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(d->ctx)) if (N * C > 65536)
    for (size_t i = 0; i < N; i++) {
        if (d->rows.ids[i] < 0) continue;
        for (size_t c = 0; c < C; c++)
            x[i * C + c] += mag * (float)(2.0 * ct_rng_uniform(seed, stream, i * C + c) - 1.0);
    }
}

ct_status ct_dec_forward(ct_dec *d, ct_ctx *ctx, const ct_model *m, const ct_dec_hooks *hooks,
                         const ct_dec_opts *opts, ct_arena *arena, const ct_dec_rows *rows, ct_err *err) {
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    d->cfg = &m->cfg;
    size_t seq_len = 0; /* the highest position + 1 (dynamic NTK RoPE) */
    for (size_t i = 0; i < rows->B * rows->T; i++)
        if ((size_t)rows->pos[i] + 1 > seq_len) seq_len = (size_t)rows->pos[i] + 1;
    ct_rope_inv_freq(&m->cfg, seq_len, d->inv_freq);
    d->rope_scale = m->cfg.rope_type == CT_ROPE_YARN ? (float)m->cfg.rope_attention_scale : 1.0f;
    d->norm_add = m->cfg.norm_offset ? 1.0f : 0.0f;
    d->w = hooks && hooks->w ? hooks->w : &m->w;
    d->lora = hooks ? hooks->lora : NULL;
    d->virt = hooks ? hooks->virt : NULL;
    d->opts = *opts;
    d->arena = arena;
    d->mark = ct_arena_mark(arena);
    d->rows = *rows;
    d->N = rows->B * rows->T;
    const ct_config *c = d->cfg;
    size_t N = d->N, C = (size_t)c->hidden_size, L = (size_t)c->num_layers, V = (size_t)c->vocab_size;
    size_t n_virt = hooks ? hooks->n_virt : 0;
    if (N == 0) return ct_err_set(err, CT_ERR_ARG, "forward: no tokens");
    for (size_t i = 0; i < N; i++) {
        int32_t id = rows->ids[i];
        if (id >= 0 ? (size_t)id >= V : (size_t)(-1 - (int64_t)id) >= n_virt)
            return ct_err_set(err, CT_ERR_ARG, "forward: token id %d out of range [0, %zu)", id, V);
    }
    for (size_t b = 0; rows->kv && b < rows->B; b++)
        if (rows->kv[b]->len + rows->T > rows->kv[b]->cap)
            return ct_err_set(err, CT_ERR_ARG, "forward: %zu + %zu tokens exceed the KV cache capacity %zu",
                              rows->kv[b]->len, rows->T, rows->kv[b]->cap);
    bool train = opts->train, has_dn = c->n_deltanet > 0, has_attn = c->n_deltanet < c->num_layers;
    size_t nx = train ? L + 1 : 2, nacts = train && !opts->checkpointing ? (L ? L : 1) : 1;
    ct_status st = CT_OK;
    d->xs = ct_arena_alloc(arena, nx * sizeof(float *));
    d->acts = ct_arena_alloc(arena, nacts * sizeof(ct_dec_acts));
    if (!d->xs || !d->acts) st = CT_ERR_NOMEM;
    for (size_t i = 0; !st && i < nx; i++) d->xs[i] = get(d, N * C, &st);
    for (size_t i = 0; !st && i < nacts; i++) /* one set per layer holds that layer's kind only */
        st = nacts > 1 ? acts_alloc(d, &d->acts[i], !is_dn(d, (int)i), is_dn(d, (int)i))
                       : acts_alloc(d, &d->acts[i], has_attn, has_dn);
    if (!st) d->hidden = get(d, N * C, &st);
    if (!st) d->rstd = get(d, N, &st);
    if (st) {
        ct_dec_end(d);
        return ct_err_set(err, CT_ERR_NOMEM, "forward: out of memory for the activations of %zu tokens", N);
    }
    ct_embedding_forward(ctx, d->xs[0], rows->ids, &d->w->g[CT_GT_EMBED], d->virt, N, C);
    if (train && opts->neftune_mag > 0.0f) neftune(d, d->xs[0], N, C);
    for (size_t l = 0; l < L; l++) {
        float *x = train ? d->xs[l] : d->xs[l & 1], *xout = train ? d->xs[l + 1] : d->xs[(l + 1) & 1];
        layer_forward(d, (int)l, &d->acts[nacts > 1 ? l : 0], x, xout);
    }
    ct_rmsnorm_forward(ctx, d->hidden, d->rstd, train ? d->xs[L] : d->xs[L & 1], &d->w->g[CT_GT_FINAL_NORM],
                       d->norm_add, N, C, (float)c->rms_norm_eps);
    for (size_t b = 0; rows->kv && b < rows->B; b++) rows->kv[b]->len += rows->T;
    return CT_OK;
}

ct_status ct_dec_backward(ct_dec *d, const float *dhidden, const ct_dec_grads *g) {
    if (!d->opts.train) return CT_ERR_ARG; /* an inference pass kept no activations */
    const ct_config *c = d->cfg;
    ct_ctx *ctx = d->ctx;
    size_t N = d->N, C = (size_t)c->hidden_size, L = (size_t)c->num_layers, I = (size_t)c->intermediate_size;
    size_t QD = (size_t)c->num_heads * (size_t)c->head_dim, KD = (size_t)c->num_kv_heads * (size_t)c->head_dim;
    bool qk = c->qk_norm, og = c->attn_output_gate, attn = c->n_deltanet < c->num_layers;
    size_t mk = ct_arena_mark(d->arena);
    ct_status st = CT_OK;
    float *dres = get(d, N * C, &st);
    layer_grads lg = {
        .dact = get(d, N * I, &st), .dgate = get(d, N * I, &st), .dup = get(d, N * I, &st),
        .dxn = get(d, N * C, &st),
    };
    if (attn) {
        lg.datt = get(d, N * QD, &st), lg.dq = get(d, N * QD, &st);
        lg.dk = get(d, N * KD, &st), lg.dv = get(d, N * KD, &st);
        lg.dqraw = qk ? get(d, N * QD, &st) : NULL, lg.dkraw = qk ? get(d, N * KD, &st) : NULL;
        lg.datt0 = og ? get(d, N * QD, &st) : NULL, lg.dogate = og ? get(d, N * QD, &st) : NULL;
        lg.dqg = og ? get(d, 2 * N * QD, &st) : NULL;
    }
    if (st) {
        ct_arena_release(d->arena, mk);
        return st;
    }
    memset(dres, 0, N * C * sizeof(float));
    ct_rmsnorm_backward(ctx, dres, g->g[CT_GT_FINAL_NORM], dhidden, d->xs[L], d->rstd, &d->w->g[CT_GT_FINAL_NORM],
                        d->norm_add, N, C);
    bool ckpt = d->opts.checkpointing;
    for (size_t l = L; !st && l-- > 0;) {
        ct_dec_acts *a = &d->acts[ckpt ? 0 : l];
        if (ckpt) layer_forward(d, (int)l, a, d->xs[l], d->xs[l + 1]); /* recompute */
        st = layer_backward(d, g, (int)l, a, d->xs[l], dres, &lg);
    }
    if (!st) ct_embedding_backward(ctx, g->g[CT_GT_EMBED], g->virt, dres, d->rows.ids, N, C);
    ct_arena_release(d->arena, mk);
    return st;
}

void ct_dec_end(ct_dec *d) {
    if (d->arena) ct_arena_release(d->arena, d->mark);
    d->arena = NULL;
}
