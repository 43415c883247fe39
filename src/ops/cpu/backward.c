/* CPU backward kernels (see src/ops/ops_grad.h for semantics; all accumulate into grads). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/cpu/cpu.h"
#include "ops/ops_grad.h"

/* dx for bf16/f16 weights: each OpenMP thread owns a block of DX_BLOCK_COLS columns of dx and
 * walks W's rows in blocks of DX_BLOCK_ROWS, widening W[rows, its columns] into its own
 * buffer (every weight converted once, no shared scratch, no race on dx). */
#define DX_BLOCK_ROWS 256
#define DX_BLOCK_COLS 128

void ct_matmul_dx_f32(float *dx, const float *dy, const float *A, size_t T, size_t K, size_t N) {
    ct_sgemm(false, false, T, K, N, 1.0f, dy, N, A, K, 1.0f, dx, K);
}

void ct_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                        const ct_tensor *W, size_t T, size_t K, size_t N) {
    if (dx) {
        if (W->dtype == CT_DTYPE_F32) {
            ct_matmul_dx_f32(dx, dy, (const float *)W->data, T, K, N);
        } else if (W->dtype == CT_DTYPE_BF16 && T > 4 &&
                   ct_cpu_linear_bf16_dx(dx, dy, (const uint16_t *)W->data, T, K, N)) {
            /* opt-in bf16 compute (ops.h ct_ops_set_bf16_compute): dy rounded to bf16 */
        } else {
            ct_cpu_blas_init();
            size_t nkb = (K + DX_BLOCK_COLS - 1) / DX_BLOCK_COLS;
#pragma omp parallel if (T * N * K > (1u << 21))
            {
                float *blk = malloc((size_t)DX_BLOCK_ROWS * DX_BLOCK_COLS * sizeof(float));
#pragma omp for schedule(dynamic, 1)
                for (size_t kb = 0; kb < nkb; kb++) {
                    size_t k0 = kb * DX_BLOCK_COLS, kw = K - k0 < DX_BLOCK_COLS ? K - k0 : DX_BLOCK_COLS;
                    for (size_t n0 = 0; n0 < N; n0 += DX_BLOCK_ROWS) {
                        size_t nb = N - n0 < DX_BLOCK_ROWS ? N - n0 : DX_BLOCK_ROWS;
                        ct_cpu_block_to_f32(blk, W, n0, nb, K, k0, kw);
                        /* dx[:, k0:k0+kw] += dy[:, n0:n0+nb] · blk[nb, kw] */
                        ct_sgemm(false, false, T, kw, nb, 1.0f, dy + n0, N, blk, kw, 1.0f, dx + k0, K);
                    }
                }
                free(blk);
            }
        }
    }
    if (dW) /* dW[N,K] += dy^T[N,T] · x[T,K] */
        ct_sgemm(true, false, N, K, T, 1.0f, dy, N, x, K, 1.0f, dW, K);
    if (db) {
#pragma omp parallel for schedule(static) if (T * N > 65536)
        for (size_t n = 0; n < N; n++) {
            float s = 0.0f;
            for (size_t t = 0; t < T; t++) s += dy[t * N + n];
            db[n] += s;
        }
    }
}

void ct_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                         const float *rstd, const ct_tensor *w, size_t T, size_t C) {
    float *wf = malloc(C * sizeof(float));
    ct_tensor_to_f32(w, 0, C, wf);
    int nth = (T * C > 65536) ? omp_get_max_threads() : 1;
    float *dwl = dw ? calloc((size_t)nth * C, sizeof(float)) : NULL;
#pragma omp parallel num_threads(nth)
    {
        float *mydw = dwl ? dwl + (size_t)omp_get_thread_num() * C : NULL;
#pragma omp for schedule(static)
        for (size_t t = 0; t < T; t++) {
            const float *xt = x + t * C, *dyt = dy + t * C;
            float r = rstd[t];
            double dot = 0.0; /* sum_c w*dy*x */
            for (size_t c = 0; c < C; c++) dot += (double)wf[c] * dyt[c] * xt[c];
            float k = (float)(dot / (double)C) * r * r * r;
            if (dx) {
                float *dxt = dx + t * C;
                for (size_t c = 0; c < C; c++) dxt[c] += r * wf[c] * dyt[c] - k * xt[c];
            }
            if (mydw)
                for (size_t c = 0; c < C; c++) mydw[c] += dyt[c] * xt[c] * r;
        }
    }
    if (dw)
        for (int i = 0; i < nth; i++)
            for (size_t c = 0; c < C; c++) dw[c] += dwl[(size_t)i * C + c];
    free(dwl);
    free(wf);
}

void ct_rope_backward(float *dx, const int32_t *pos, size_t T, size_t H, size_t D, double theta) {
    /* The rotation is orthogonal: its transpose is the rotation by the negated angle. */
    ct_cpu_rope_rotate(dx, pos, T, H, D, theta, -1.0f);
}

void ct_attention_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                 const float *k, const float *v, const int32_t *seg, size_t T,
                                 size_t Hq, size_t Hkv, size_t D) {
    size_t group = Hq / Hkv;
    float scale = 1.0f / sqrtf((float)D);
    /* Per query head dk/dv scratch [Hq][T][D] so heads run in parallel without races; the
     * group's heads are summed into their kv head afterwards. */
    float *sdk = calloc(Hq * T * D, sizeof(float));
    float *sdv = calloc(Hq * T * D, sizeof(float));
#pragma omp parallel
    {
        float *p = malloc(T * sizeof(float));
        float *dp = malloc(T * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (size_t h = 0; h < Hq; h++) {
            size_t kh = h / group;
            float *hdk = sdk + h * T * D, *hdv = sdv + h * T * D;
            for (size_t t = 0; t < T; t++) {
                const float *qt = q + (t * Hq + h) * D;
                const float *dot = dout + (t * Hq + h) * D;
                float inv = ct_cpu_attn_row(p, qt, k, Hkv, kh, D, t, scale, seg, seg ? seg[t] : 0);
                float pd = 0.0f; /* sum_j p_j dp_j */
                for (size_t j = 0; j <= t; j++) {
                    p[j] *= inv;
                    if (p[j] == 0.0f) {
                        dp[j] = 0.0f;
                        continue;
                    }
                    const float *vj = v + (j * Hkv + kh) * D;
                    float s = 0.0f;
                    for (size_t d = 0; d < D; d++) s += dot[d] * vj[d];
                    dp[j] = s;
                    pd += p[j] * s;
                }
                float *dqt = dq + (t * Hq + h) * D;
                for (size_t j = 0; j <= t; j++) {
                    if (p[j] == 0.0f) continue;
                    float ds = p[j] * (dp[j] - pd) * scale;
                    const float *kj = k + (j * Hkv + kh) * D;
                    float *dkj = hdk + j * D, *dvj = hdv + j * D;
                    for (size_t d = 0; d < D; d++) {
                        dqt[d] += ds * kj[d];
                        dkj[d] += ds * qt[d];
                        dvj[d] += p[j] * dot[d];
                    }
                }
            }
        }
        free(p);
        free(dp);
    }
#pragma omp parallel for schedule(static) if (T * Hkv * D > 65536)
    for (size_t t = 0; t < T; t++)
        for (size_t kh = 0; kh < Hkv; kh++)
            for (size_t g = 0; g < group; g++) {
                size_t h = kh * group + g;
                float *dkt = dk + (t * Hkv + kh) * D, *dvt = dv + (t * Hkv + kh) * D;
                const float *a = sdk + (h * T + t) * D, *b = sdv + (h * T + t) * D;
                for (size_t d = 0; d < D; d++) {
                    dkt[d] += a[d];
                    dvt[d] += b[d];
                }
            }
    free(sdk);
    free(sdv);
}

/* Softmax of one row of scaled scores p[0..S) for query t in place: keys j <= t of the same
 * segment are visible, the others get probability 0. */
static void causal_softmax_row(float *p, size_t S, size_t t, const int32_t *seg) {
    float mx = -INFINITY;
    for (size_t j = 0; j <= t; j++)
        if (!seg || seg[j] == seg[t]) mx = p[j] > mx ? p[j] : mx;
    float sum = 0.0f;
    for (size_t j = 0; j < S; j++) {
        p[j] = (j <= t && (!seg || seg[j] == seg[t])) ? expf(p[j] - mx) : 0.0f;
        sum += p[j];
    }
    float inv = 1.0f / sum;
    for (size_t j = 0; j < S; j++) p[j] *= inv;
}

/* Blocked version: per query head (heads in parallel over the OpenMP threads, one
 * single-threaded sgemm per product), the score / probability matrices of a block of
 * ATT_QBLOCK query rows are recomputed with sgemm (causal + segment mask applied to P).
 * dk/dv of a kv head are summed from its group's per-head scratch afterwards in head order,
 * so the result does not depend on the thread count. */
#define ATT_QBLOCK 256
void ct_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const int32_t *seg, size_t T,
                           size_t Hq, size_t Hkv, size_t D) {
    if (T < 32) {
        ct_attention_backward_naive(dq, dk, dv, dout, q, k, v, seg, T, Hq, Hkv, D);
        return;
    }
    ct_cpu_blas_init();
    size_t group = Hq / Hkv, ldq = Hq * D, ldk = Hkv * D;
    float scale = 1.0f / sqrtf((float)D);
    size_t qb = T < ATT_QBLOCK ? T : ATT_QBLOCK;
    float *sdk = calloc(Hq * T * D, sizeof(float)), *sdv = calloc(Hq * T * D, sizeof(float));
#pragma omp parallel
    {
        float *P = malloc(qb * T * sizeof(float)), *dP = malloc(qb * T * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (size_t h = 0; h < Hq; h++) {
            size_t kh = h / group;
            const float *qh = q + h * D, *kh_ = k + kh * D, *vh = v + kh * D, *doh = dout + h * D;
            float *dqh = dq + h * D, *hdk = sdk + h * T * D, *hdv = sdv + h * T * D;
            for (size_t t0 = 0; t0 < T; t0 += qb) {
                size_t nb = T - t0 < qb ? T - t0 : qb, S = t0 + nb; /* keys 0..S-1 are visible */
                /* P = Q_blk K^T * scale; dP = dO_blk V^T */
                ct_sgemm(false, true, nb, S, D, scale, qh + t0 * ldq, ldq, kh_, ldk, 0.0f, P, S);
                ct_sgemm(false, true, nb, S, D, 1.0f, doh + t0 * ldq, ldq, vh, ldk, 0.0f, dP, S);
                for (size_t i = 0; i < nb; i++) {
                    float *p = P + i * S, *dp = dP + i * S, pd = 0.0f;
                    causal_softmax_row(p, S, t0 + i, seg);
                    for (size_t j = 0; j < S; j++) pd += p[j] * dp[j];
                    /* dP becomes dS = P * (dP - sum(P dP)) * scale */
                    for (size_t j = 0; j < S; j++) dp[j] = p[j] * (dp[j] - pd) * scale;
                }
                /* dQ_blk += dS K;  dK_h += dS^T Q_blk;  dV_h += P^T dO_blk */
                ct_sgemm(false, false, nb, D, S, 1.0f, dP, S, kh_, ldk, 1.0f, dqh + t0 * ldq, ldq);
                ct_sgemm(true, false, S, D, nb, 1.0f, dP, S, qh + t0 * ldq, ldq, 1.0f, hdk, D);
                ct_sgemm(true, false, S, D, nb, 1.0f, P, S, doh + t0 * ldq, ldq, 1.0f, hdv, D);
            }
        }
        free(P);
        free(dP);
    }
#pragma omp parallel for schedule(static) if (T * Hkv * D > 65536)
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < Hq; h++) {
            float *dkt = dk + t * ldk + (h / group) * D, *dvt = dv + t * ldk + (h / group) * D;
            const float *a = sdk + (h * T + t) * D, *b = sdv + (h * T + t) * D;
            for (size_t d = 0; d < D; d++) {
                dkt[d] += a[d];
                dvt[d] += b[d];
            }
        }
    free(sdk);
    free(sdv);
}

void ct_attention_forward_blocked(float *out, const float *q, const float *k, const float *v,
                                  const int32_t *seg, size_t T, size_t Hq, size_t Hkv, size_t D) {
    if (T < 32) {
        ct_attention_forward(out, NULL, q, k, v, seg, seg, T, T, Hq, Hkv, D);
        return;
    }
    ct_cpu_blas_init();
    size_t group = Hq / Hkv, ldq = Hq * D, ldk = Hkv * D;
    float scale = 1.0f / sqrtf((float)D);
    size_t qb = T < ATT_QBLOCK ? T : ATT_QBLOCK, nblk = (T + qb - 1) / qb;
#pragma omp parallel
    {
        float *P = malloc(qb * T * sizeof(float));
        /* (head, query block) items are independent: each writes its own rows x head columns */
#pragma omp for schedule(dynamic, 1)
        for (size_t it = 0; it < Hq * nblk; it++) {
            size_t h = it / nblk, t0 = (it % nblk) * qb, kh = h / group;
            size_t nb = T - t0 < qb ? T - t0 : qb, S = t0 + nb;
            ct_sgemm(false, true, nb, S, D, scale, q + t0 * ldq + h * D, ldq, k + kh * D, ldk, 0.0f, P, S);
            for (size_t i = 0; i < nb; i++) causal_softmax_row(P + i * S, S, t0 + i, seg);
            ct_sgemm(false, false, nb, D, S, 1.0f, P, S, v + kh * D, ldk, 0.0f, out + t0 * ldq + h * D, ldq);
        }
        free(P);
    }
}

void ct_swiglu_backward(float *dg, float *du, const float *dout, const float *g, const float *u,
                        size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float sg = 1.0f / (1.0f + expf(-g[i]));
        float silu = g[i] * sg;
        if (du) du[i] += dout[i] * silu;
        if (dg) dg[i] += dout[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
    }
}

void ct_embedding_backward(float *dE, const float *dout, const int32_t *ids, size_t T, size_t C) {
    /* Rows may repeat, so parallelise over columns instead of tokens. */
#pragma omp parallel for schedule(static) if (T * C > 65536)
    for (size_t c = 0; c < C; c++)
        for (size_t t = 0; t < T; t++) dE[(size_t)ids[t] * C + c] += dout[t * C + c];
}

double ct_lm_head_xent(float *dh, float *dW, const float *h, const ct_tensor *W,
                       const int32_t *labels, const float *weight, size_t T, size_t C, size_t V,
                       float grad_scale, size_t chunk, size_t *n_tokens) {
    if (chunk == 0) chunk = 64;
    size_t *idx = malloc((T ? T : 1) * sizeof(size_t));
    size_t n = 0;
    for (size_t t = 0; t < T; t++)
        if (labels[t] >= 0 && (size_t)labels[t] < V) idx[n++] = t;
    if (n_tokens) *n_tokens = n;
    size_t cmax = n < chunk ? n : chunk;
    float *hc = malloc((cmax ? cmax : 1) * C * sizeof(float));
    float *dhc = malloc((cmax ? cmax : 1) * C * sizeof(float));
    float *logits = malloc((cmax ? cmax : 1) * V * sizeof(float));
    double total = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
        size_t nc = n - i0 < chunk ? n - i0 : chunk;
        for (size_t i = 0; i < nc; i++) memcpy(hc + i * C, h + idx[i0 + i] * C, C * sizeof(float));
        ct_linear_forward(logits, hc, W, NULL, nc, C, V);
        double chunk_loss = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : chunk_loss)
        for (size_t i = 0; i < nc; i++) {
            size_t t = idx[i0 + i];
            float *lg = logits + i * V;
            float mx = -INFINITY;
            for (size_t j = 0; j < V; j++) mx = lg[j] > mx ? lg[j] : mx;
            /* f32 exponentials (as torch's f32 log_softmax), summed in blocks in double */
            double se = 0.0;
            for (size_t j0 = 0; j0 < V; j0 += 1024) {
                size_t j1 = j0 + 1024 < V ? j0 + 1024 : V;
                float part = 0.0f;
                for (size_t j = j0; j < j1; j++) part += expf(lg[j] - mx);
                se += part;
            }
            double lse = (double)mx + log(se);
            double wt = weight ? (double)weight[t] : 1.0;
            chunk_loss += wt * (lse - (double)lg[labels[t]]);
            if (grad_scale != 0.0f) {
                /* d(loss_t)/d(logit_j) = softmax_j - [j == label] */
                float gs = (float)(wt * grad_scale);
                float lsef = (float)lse, off = mx - lsef; /* exp(l - lse) = exp((l - mx) + off) */
                for (size_t j = 0; j < V; j++) lg[j] = expf((lg[j] - mx) + off) * gs;
                lg[labels[t]] -= gs;
            }
        }
        total += chunk_loss;
        if (grad_scale != 0.0f) {
            memset(dhc, 0, nc * C * sizeof(float));
            ct_linear_backward(dh ? dhc : NULL, dW, NULL, logits, hc, W, nc, C, V);
            if (dh)
                for (size_t i = 0; i < nc; i++) {
                    float *dst = dh + idx[i0 + i] * C;
                    const float *src = dhc + i * C;
                    for (size_t c = 0; c < C; c++) dst[c] += src[c];
                }
        }
    }
    free(idx);
    free(hc);
    free(dhc);
    free(logits);
    return total;
}

int ct_all_finite(const float *x, size_t n) {
    int ok = 1;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (n > 65536)
    for (size_t i = 0; i < n; i++) ok = ok && isfinite(x[i]);
    return ok;
}
