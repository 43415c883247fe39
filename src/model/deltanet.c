/* The Gated DeltaNet token mixer of Qwen3.5's linear-attention layers (transformers'
 * Qwen3_5GatedDeltaNet), on the ops in src/ops/ops.h:
 *   mixed = in_proj_qkv(x); conv = causal depthwise conv1d(mixed) (its state: the last K-1 inputs)
 *   q, k, v = split(silu(conv)); q, k L2-normalised per head
 *   g = -exp(A_log) softplus(in_proj_a(x) + dt_bias); beta = sigmoid(in_proj_b(x))
 *   core = gated delta rule(q, k, v, g, beta) (recurrent state [Hv, Dk, Dv] per sequence)
 *   out = out_proj(rmsnorm(core) * norm.weight * silu(in_proj_z(x)))   (per value head)
 * Packed training rows run every segment from a zero conv history and a zero state (as
 * flash-linear-attention does with cu_seqlens); inference rows continue their cache's states. */
#include <string.h>

#include "model/decoder_int.h"

typedef struct dn_dims {
    size_t Hk, Hv, Dk, Dv, K, KD, VD, CD;
} dn_dims;

static dn_dims dims_of(const ct_config *c) {
    dn_dims z = {(size_t)c->lin_k_heads, (size_t)c->lin_v_heads, (size_t)c->lin_k_dim, (size_t)c->lin_v_dim,
                 (size_t)c->lin_conv, 0, 0, 0};
    z.KD = z.Hk * z.Dk;
    z.VD = z.Hv * z.Dv;
    z.CD = 2 * z.KD + z.VD;
    return z;
}

/* The conv weight [CD, 1, K] as the [CD, K] view the op reads. */
static ct_tensor conv_view(const ct_dec *d, int l) {
    ct_tensor w = d->w->layers[l].t[CT_LT_LIN_CONV];
    w.ndim = 2;
    w.shape[1] = w.shape[2];
    w.shape[2] = 0;
    return w;
}

static size_t saved_total(const ct_dec *d, const dn_dims *z) {
    size_t n = 0, s0, s1;
    for (size_t b = 0; b < d->rows.B; b++)
        for (s1 = 0; ct_dec_next_segment(d, b, &s0, &s1);) n += ct_deltanet_saved_floats(s1 - s0, z->Hv, z->Dk, z->Dv);
    return n;
}

ct_status ct_dn_acts_alloc(ct_dec *d, ct_dn_acts *a, bool keep) {
    dn_dims z = dims_of(d->cfg);
    size_t N = d->N;
    ct_status st = CT_OK;
    memset(a, 0, sizeof *a);
    a->mixed = ct_dec_get(d, N * z.CD, &st);
    a->conv = ct_dec_get(d, N * z.CD, &st);
    a->qkv = keep ? ct_dec_get(d, N * z.CD, &st) : a->mixed; /* inference: mixed is dead after the conv */
    a->l2inv = ct_dec_get(d, N * 2 * z.Hk, &st);
    a->z = ct_dec_get(d, N * z.VD, &st);
    a->a = ct_dec_get(d, N * z.Hv, &st);
    a->b = ct_dec_get(d, N * z.Hv, &st);
    a->g = ct_dec_get(d, N * z.Hv, &st);
    a->beta = ct_dec_get(d, N * z.Hv, &st);
    a->core = ct_dec_get(d, N * z.VD, &st);
    a->nrstd = ct_dec_get(d, N * z.Hv, &st);
    a->o = ct_dec_get(d, N * z.VD, &st);
    if (keep) a->saved = ct_dec_get(d, saved_total(d, &z), &st);
    if (d->cfg->lin_v_tiled && z.Hv > z.Hk) a->qkt = ct_dec_get(d, N * 2 * z.Hv * z.Dk, &st);
    return st;
}

/* The conv state after T more inputs x[T, CD]: the last K-1 rows of [prev; x]. */
static void conv_state_update(float *prev, const float *x, size_t T, size_t K, size_t CD) {
    size_t keep = K - 1;
    if (!keep) return;
    if (T >= keep) {
        memcpy(prev, x + (T - keep) * CD, keep * CD * sizeof(float));
    } else {
        memmove(prev, prev + T * CD, (keep - T) * CD * sizeof(float));
        memcpy(prev + (keep - T) * CD, x, T * CD * sizeof(float));
    }
}

void ct_dn_forward(ct_dec *d, int l, ct_dn_acts *a, const float *xn, float *out) {
    const ct_config *c = d->cfg;
    const ct_tensor *W = d->w->layers[l].t;
    ct_ctx *ctx = d->ctx;
    dn_dims z = dims_of(c);
    size_t N = d->N, T = d->rows.T;
    ct_dec_linear_fwd(d, l, CT_LT_LIN_QKV, -1, a->mixed, xn);
    ct_dec_linear_fwd(d, l, CT_LT_LIN_Z, -1, a->z, xn);
    ct_dec_linear_fwd(d, l, CT_LT_LIN_B, -1, a->b, xn);
    ct_dec_linear_fwd(d, l, CT_LT_LIN_A, -1, a->a, xn);
    ct_tensor cw = conv_view(d, l);
    size_t s0, s1;
    for (size_t b = 0; b < d->rows.B; b++) {
        ct_kv_cache *kv = d->rows.kv ? d->rows.kv[b] : NULL;
        float *prev = kv ? kv->conv + kv->slot[l] * kv->conv_floats : NULL;
        for (s1 = 0; ct_dec_next_segment(d, b, &s0, &s1);) {
            size_t o = (b * T + s0) * z.CD;
            ct_conv1d_causal_forward(ctx, a->conv + o, a->mixed + o, prev, &cw, s1 - s0, z.CD, z.K);
            if (prev) conv_state_update(prev, a->mixed + o, s1 - s0, z.K, z.CD);
        }
    }
    ct_silu_forward(ctx, a->qkv, a->conv, N * z.CD);
    /* q and k: 2*Hk vectors of Dk at the start of every row */
    ct_l2norm_forward(ctx, a->qkv, a->l2inv, a->qkv, N, 2 * z.Hk, z.Dk, z.CD, 1e-6f);
    ct_deltanet_gates_forward(ctx, a->g, a->beta, a->a, a->b, &W[CT_LT_LIN_ALOG], &W[CT_LT_LIN_DT], N, z.Hv);
    /* tiled value heads: q and k repeated per value head (head h gets key head h % Hk), so the
     * op's grouped mapping (h / 1) reads the right one */
    const float *qk = a->qkv;
    size_t ldqk = z.CD, Hk = z.Hk;
    if (a->qkt) {
        ldqk = 2 * z.Hv * z.Dk, Hk = z.Hv;
        for (size_t n = 0; n < N; n++)
            for (size_t h = 0; h < 2 * z.Hv; h++) {
                size_t src = h < z.Hv ? h % z.Hk : z.Hk + (h - z.Hv) % z.Hk;
                memcpy(a->qkt + n * ldqk + h * z.Dk, a->qkv + n * z.CD + src * z.Dk, z.Dk * sizeof(float));
            }
        qk = a->qkt;
    }
    float *saved = a->saved;
    for (size_t b = 0; b < d->rows.B; b++) {
        ct_kv_cache *kv = d->rows.kv ? d->rows.kv[b] : NULL;
        float *state = kv ? kv->ssm + kv->slot[l] * kv->ssm_floats : NULL;
        for (s1 = 0; ct_dec_next_segment(d, b, &s0, &s1);) {
            size_t t0 = b * T + s0, n = s1 - s0;
            const float *q = qk + t0 * ldqk, *v = a->qkv + t0 * z.CD + 2 * z.KD;
            ct_deltanet_forward(ctx, a->core + t0 * z.VD, state, saved, q, q + Hk * z.Dk, ldqk, v, z.CD,
                                a->g + t0 * z.Hv, a->beta + t0 * z.Hv, n, Hk, z.Hv, z.Dk, z.Dv);
            if (saved) saved += ct_deltanet_saved_floats(n, z.Hv, z.Dk, z.Dv);
        }
    }
    ct_rmsnorm_gated_forward(ctx, a->o, a->nrstd, a->core, a->z, &W[CT_LT_LIN_NORM], N * z.Hv, z.Dv,
                             (float)c->rms_norm_eps);
    ct_dec_linear_fwd(d, l, CT_LT_LIN_OUT, -1, out, a->o);
}

ct_status ct_dn_backward(ct_dec *d, const ct_dec_grads *gr, int l, const ct_dn_acts *a, const float *xn,
                         const float *dout, float *dxn) {
    const ct_config *c = d->cfg;
    const ct_tensor *W = d->w->layers[l].t;
    ct_ctx *ctx = d->ctx;
    float **gl = gr->layer ? gr->layer[l] : NULL;
    dn_dims z = dims_of(c);
    if (a->qkt) return CT_ERR_UNSUPPORTED; /* tiled value heads come from GGUF files, never trained (ct_model_need_hf) */
    size_t N = d->N, T = d->rows.T;
    size_t mk = ct_arena_mark(d->arena);
    ct_status st = CT_OK;
    float *dO = ct_dec_get(d, N * z.VD, &st), *dcore = ct_dec_get(d, N * z.VD, &st);
    float *dz = ct_dec_get(d, N * z.VD, &st), *dqkv = ct_dec_get(d, N * z.CD, &st);
    float *act = ct_dec_get(d, N * z.CD, &st), *dact = ct_dec_get(d, N * z.CD, &st);
    float *dgb = ct_dec_get(d, 4 * N * z.Hv, &st);
    if (st) {
        ct_arena_release(d->arena, mk);
        return st;
    }
    float *dg = dgb, *dbeta = dgb + N * z.Hv, *da = dgb + 2 * N * z.Hv, *db = dgb + 3 * N * z.Hv;
    memset(dO, 0, N * z.VD * sizeof(float));
    ct_dec_linear_bwd(d, gr, l, CT_LT_LIN_OUT, -1, dO, dout, a->o);
    memset(dcore, 0, N * z.VD * sizeof(float));
    memset(dz, 0, N * z.VD * sizeof(float));
    ct_rmsnorm_gated_backward(ctx, dcore, dz, gl ? gl[CT_LT_LIN_NORM] : NULL, dO, a->core, a->z, a->nrstd,
                              &W[CT_LT_LIN_NORM], N * z.Hv, z.Dv);
    memset(dqkv, 0, N * z.CD * sizeof(float));
    memset(dgb, 0, 4 * N * z.Hv * sizeof(float));
    const float *saved = a->saved;
    size_t s0, s1;
    for (size_t b = 0; b < d->rows.B; b++)
        for (s1 = 0; ct_dec_next_segment(d, b, &s0, &s1);) {
            size_t t0 = b * T + s0, n = s1 - s0;
            const float *q = a->qkv + t0 * z.CD;
            float *dq = dqkv + t0 * z.CD;
            ct_deltanet_backward(ctx, dq, dq + z.KD, z.CD, dq + 2 * z.KD, z.CD, dg + t0 * z.Hv, dbeta + t0 * z.Hv,
                                 dcore + t0 * z.VD, saved, q, q + z.KD, q + 2 * z.KD, a->g + t0 * z.Hv,
                                 a->beta + t0 * z.Hv, n, z.Hk, z.Hv, z.Dk, z.Dv);
            saved += ct_deltanet_saved_floats(n, z.Hv, z.Dk, z.Dv);
        }
    ct_deltanet_gates_backward(ctx, da, db, gl ? gl[CT_LT_LIN_ALOG] : NULL, gl ? gl[CT_LT_LIN_DT] : NULL, dg, dbeta,
                               a->a, a->b, &W[CT_LT_LIN_ALOG], &W[CT_LT_LIN_DT], N, z.Hv);
    /* through the L2 norms (q, k) and the SiLU; v's gradient passes the norm unchanged */
    ct_silu_forward(ctx, act, a->conv, N * z.CD);
    memset(dact, 0, N * z.CD * sizeof(float));
    ct_l2norm_backward(ctx, dact, dqkv, act, a->l2inv, N, 2 * z.Hk, z.Dk, z.CD);
    for (size_t t = 0; t < N; t++)
        memcpy(dact + t * z.CD + 2 * z.KD, dqkv + t * z.CD + 2 * z.KD, z.VD * sizeof(float));
    memset(dqkv, 0, N * z.CD * sizeof(float)); /* now d(conv) */
    ct_silu_backward(ctx, dqkv, dact, a->conv, N * z.CD);
    memset(dact, 0, N * z.CD * sizeof(float)); /* now d(mixed) */
    ct_tensor cw = conv_view(d, l);
    for (size_t b = 0; b < d->rows.B; b++)
        for (s1 = 0; ct_dec_next_segment(d, b, &s0, &s1);) {
            size_t o = (b * T + s0) * z.CD;
            ct_conv1d_causal_backward(ctx, dact + o, gl ? gl[CT_LT_LIN_CONV] : NULL, dqkv + o, a->mixed + o, &cw,
                                      s1 - s0, z.CD, z.K);
        }
    ct_dec_linear_bwd(d, gr, l, CT_LT_LIN_QKV, -1, dxn, dact, xn);
    ct_dec_linear_bwd(d, gr, l, CT_LT_LIN_Z, -1, dxn, dz, xn);
    ct_dec_linear_bwd(d, gr, l, CT_LT_LIN_B, -1, dxn, db, xn);
    ct_dec_linear_bwd(d, gr, l, CT_LT_LIN_A, -1, dxn, da, xn);
    ct_arena_release(d->arena, mk);
    return CT_OK;
}
