/* Causal GQA attention, forward and backward (see ops.h): a per-row algorithm for short
 * sequences and decode, and a blocked one (sgemm per head and 256-query block) for long ones. */
#include <math.h>
#include <string.h>

#include "ops/cpu/cpu.h"

/* Query rows per block of the blocked algorithms; below ATT_BLOCKED_MIN_T rows the per-row one. */
#define ATT_QBLOCK 256
#define ATT_BLOCKED_MIN_T 32

void ct_attention_forward_rows(ct_ctx *c, float *out, const float *q, const float *k, const float *v,
                               const int32_t *seg_q, const int32_t *seg_k, size_t T, size_t S,
                               size_t Hq, size_t Hkv, size_t D) {
    size_t group = Hq / Hkv, off = S - T;
    float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel num_threads(ct_ctx_threads(c))
    {
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        float *sc = ct_scratch_f32(ar, S);
#pragma omp for collapse(2) schedule(dynamic, 4)
        for (size_t h = 0; h < Hq; h++) {
            for (size_t t = 0; t < T; t++) {
                size_t kh = h / group, last = t + off;
                const float *qt = q + (t * Hq + h) * D;
                float inv = ct_cpu_attn_row(sc, qt, k, Hkv, kh, D, last, scale, seg_q ? seg_k : NULL,
                                            seg_q ? seg_q[t] : 0);
                float *ot = out + (t * Hq + h) * D;
                memset(ot, 0, D * sizeof(float));
                for (size_t j = 0; j <= last; j++) {
                    float p = sc[j] * inv;
                    if (p == 0.0f) continue;
                    ct_cpu_axpy(ot, p, v + (j * Hkv + kh) * D, D);
                }
            }
        }
        ct_arena_release(ar, mk);
    }
}

/* Softmax in place of one row of scaled scores p[0..S) for the query at key index t: keys
 * j <= t of its segment are visible (seg_k NULL: all), the others get probability 0. */
static void causal_softmax_row(float *p, size_t S, size_t t, const int32_t *seg_k, int32_t seg_t) {
    float mx = -INFINITY;
    for (size_t j = 0; j <= t; j++)
        if (!seg_k || seg_k[j] == seg_t) mx = p[j] > mx ? p[j] : mx;
    float sum = 0.0f;
    for (size_t j = 0; j < S; j++) {
        p[j] = (j <= t && (!seg_k || seg_k[j] == seg_t)) ? expf(p[j] - mx) : 0.0f;
        sum += p[j];
    }
    float inv = 1.0f / sum;
    for (size_t j = 0; j < S; j++) p[j] *= inv;
}

/* (head, query block) items are independent: each writes its own rows x head columns. */
static void attention_forward_blocked(ct_ctx *c, float *out, const float *q, const float *k,
                                      const float *v, const int32_t *seg_q, const int32_t *seg_k,
                                      size_t T, size_t S, size_t Hq, size_t Hkv, size_t D) {
    ct_cpu_blas_init();
    size_t group = Hq / Hkv, ldq = Hq * D, ldk = Hkv * D, off = S - T;
    float scale = 1.0f / sqrtf((float)D);
    size_t qb = T < ATT_QBLOCK ? T : ATT_QBLOCK, nblk = (T + qb - 1) / qb;
#pragma omp parallel num_threads(ct_ctx_threads(c))
    {
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        float *P = ct_scratch_f32(ar, qb * S);
#pragma omp for schedule(dynamic, 1)
        for (size_t it = 0; it < Hq * nblk; it++) {
            size_t h = it / nblk, t0 = (it % nblk) * qb, kh = h / group;
            size_t nb = T - t0 < qb ? T - t0 : qb, Sv = off + t0 + nb; /* keys 0..Sv-1 visible */
            ct_cpu_sgemm1(false, true, nb, Sv, D, scale, q + t0 * ldq + h * D, ldq, k + kh * D, ldk, 0.0f, P, Sv);
            for (size_t i = 0; i < nb; i++)
                causal_softmax_row(P + i * Sv, Sv, off + t0 + i, seg_q ? seg_k : NULL, seg_q ? seg_q[t0 + i] : 0);
            ct_cpu_sgemm1(false, false, nb, D, Sv, 1.0f, P, Sv, v + kh * D, ldk, 0.0f, out + t0 * ldq + h * D, ldq);
        }
        ct_arena_release(ar, mk);
    }
}

void ct_attention_forward(ct_ctx *c, float *out, const float *q, const float *k, const float *v,
                          const int32_t *seg_q, const int32_t *seg_k, size_t T, size_t S, size_t Hq,
                          size_t Hkv, size_t D) {
    if (T < ATT_BLOCKED_MIN_T)
        ct_attention_forward_rows(c, out, q, k, v, seg_q, seg_k, T, S, Hq, Hkv, D);
    else
        attention_forward_blocked(c, out, q, k, v, seg_q, seg_k, T, S, Hq, Hkv, D);
}

/* The backward of one query head h: dq's head columns, and the head's own dk / dv scratch
 * hdk / hdv [T, D]; s0 / s1 are the calling thread's scratch. */
typedef struct bwd_args {
    float *dq;
    const float *dout, *q, *k, *v;
    const int32_t *seg;
    size_t T, Hq, Hkv, D;
} bwd_args;
typedef void (*head_bwd_fn)(const bwd_args *a, size_t h, float *s0, float *s1, float *hdk, float *hdv);

/* Heads run in parallel, each into per-head dk/dv scratch [Hq][T][D] (no races); the group's
 * heads are then summed into their kv head in head order, so the result does not depend on
 * the thread count. */
static void backward_heads(ct_ctx *c, float *dk, float *dv, const bwd_args *a, size_t scratch_n, head_bwd_fn fn) {
    size_t T = a->T, Hq = a->Hq, D = a->D, group = Hq / a->Hkv, ldk = a->Hkv * D;
    ct_arena *ar0 = ct_ctx_arena(c);
    size_t mk0 = ct_arena_mark(ar0);
    float *sdk = ct_scratch_f32(ar0, Hq * T * D), *sdv = ct_scratch_f32(ar0, Hq * T * D);
    memset(sdk, 0, Hq * T * D * sizeof(float));
    memset(sdv, 0, Hq * T * D * sizeof(float));
#pragma omp parallel num_threads(ct_ctx_threads(c))
    {
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        float *s0 = ct_scratch_f32(ar, scratch_n), *s1 = ct_scratch_f32(ar, scratch_n);
#pragma omp for schedule(dynamic, 1)
        for (size_t h = 0; h < Hq; h++) fn(a, h, s0, s1, sdk + h * T * D, sdv + h * T * D);
        ct_arena_release(ar, mk);
    }
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * a->Hkv * D > CT_PAR_MIN_ELEMS)
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < Hq; h++) {
            float *dkt = dk + t * ldk + (h / group) * D, *dvt = dv + t * ldk + (h / group) * D;
            const float *x = sdk + (h * T + t) * D, *y = sdv + (h * T + t) * D;
            for (size_t d = 0; d < D; d++) {
                dkt[d] += x[d];
                dvt[d] += y[d];
            }
        }
    ct_arena_release(ar0, mk0);
}

/* Per row: the probabilities are recomputed exactly as ct_attention_forward_rows computes them. */
static void head_rows(const bwd_args *a, size_t h, float *p, float *dp, float *hdk, float *hdv) {
    size_t Hq = a->Hq, Hkv = a->Hkv, D = a->D, kh = h / (Hq / Hkv);
    float scale = 1.0f / sqrtf((float)D);
    for (size_t t = 0; t < a->T; t++) {
        const float *qt = a->q + (t * Hq + h) * D;
        const float *dot = a->dout + (t * Hq + h) * D;
        float inv = ct_cpu_attn_row(p, qt, a->k, Hkv, kh, D, t, scale, a->seg, a->seg ? a->seg[t] : 0);
        float pd = 0.0f; /* sum_j p_j dp_j */
        for (size_t j = 0; j <= t; j++) {
            p[j] *= inv;
            if (p[j] == 0.0f) {
                dp[j] = 0.0f;
                continue;
            }
            float s = ct_cpu_dot(dot, a->v + (j * Hkv + kh) * D, D);
            dp[j] = s;
            pd += p[j] * s;
        }
        float *dqt = a->dq + (t * Hq + h) * D;
        for (size_t j = 0; j <= t; j++) {
            if (p[j] == 0.0f) continue;
            float ds = p[j] * (dp[j] - pd) * scale;
            const float *kj = a->k + (j * Hkv + kh) * D;
            float *dkj = hdk + j * D, *dvj = hdv + j * D;
            for (size_t d = 0; d < D; d++) {
                dqt[d] += ds * kj[d];
                dkj[d] += ds * qt[d];
                dvj[d] += p[j] * dot[d];
            }
        }
    }
}

/* Blocked: the score / probability matrices of a block of ATT_QBLOCK query rows are recomputed
 * with sgemm (causal + segment mask applied to P), one single-threaded sgemm per product. */
static void head_blocked(const bwd_args *a, size_t h, float *P, float *dP, float *hdk, float *hdv) {
    size_t T = a->T, D = a->D, ldq = a->Hq * D, ldk = a->Hkv * D, kh = h / (a->Hq / a->Hkv);
    size_t qb = T < ATT_QBLOCK ? T : ATT_QBLOCK;
    float scale = 1.0f / sqrtf((float)D);
    const float *qh = a->q + h * D, *kh_ = a->k + kh * D, *vh = a->v + kh * D, *doh = a->dout + h * D;
    float *dqh = a->dq + h * D;
    for (size_t t0 = 0; t0 < T; t0 += qb) {
        size_t nb = T - t0 < qb ? T - t0 : qb, S = t0 + nb; /* keys 0..S-1 are visible */
        /* P = Q_blk K^T * scale; dP = dO_blk V^T */
        ct_cpu_sgemm1(false, true, nb, S, D, scale, qh + t0 * ldq, ldq, kh_, ldk, 0.0f, P, S);
        ct_cpu_sgemm1(false, true, nb, S, D, 1.0f, doh + t0 * ldq, ldq, vh, ldk, 0.0f, dP, S);
        for (size_t i = 0; i < nb; i++) {
            float *p = P + i * S, *dp = dP + i * S, pd = 0.0f;
            causal_softmax_row(p, S, t0 + i, a->seg, a->seg ? a->seg[t0 + i] : 0);
            for (size_t j = 0; j < S; j++) pd += p[j] * dp[j];
            /* dP becomes dS = P * (dP - sum(P dP)) * scale */
            for (size_t j = 0; j < S; j++) dp[j] = p[j] * (dp[j] - pd) * scale;
        }
        /* dQ_blk += dS K;  dK_h += dS^T Q_blk;  dV_h += P^T dO_blk */
        ct_cpu_sgemm1(false, false, nb, D, S, 1.0f, dP, S, kh_, ldk, 1.0f, dqh + t0 * ldq, ldq);
        ct_cpu_sgemm1(true, false, S, D, nb, 1.0f, dP, S, qh + t0 * ldq, ldq, 1.0f, hdk, D);
        ct_cpu_sgemm1(true, false, S, D, nb, 1.0f, P, S, doh + t0 * ldq, ldq, 1.0f, hdv, D);
    }
}

void ct_attention_backward_rows(ct_ctx *c, float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const int32_t *seg,
                                size_t T, size_t Hq, size_t Hkv, size_t D) {
    bwd_args a = {dq, dout, q, k, v, seg, T, Hq, Hkv, D};
    backward_heads(c, dk, dv, &a, T, head_rows);
}

void ct_attention_backward(ct_ctx *c, float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const int32_t *seg, size_t T, size_t Hq,
                           size_t Hkv, size_t D) {
    if (T < ATT_BLOCKED_MIN_T) {
        ct_attention_backward_rows(c, dq, dk, dv, dout, q, k, v, seg, T, Hq, Hkv, D);
        return;
    }
    ct_cpu_blas_init();
    bwd_args a = {dq, dout, q, k, v, seg, T, Hq, Hkv, D};
    backward_heads(c, dk, dv, &a, (T < ATT_QBLOCK ? T : ATT_QBLOCK) * T, head_blocked);
}
