/* Gated DeltaNet (Qwen3.5 linear attention), see ops.h: the small ops around the delta rule
 * (SiLU, sigmoid gate, causal depthwise conv1d, L2 norm, gated RMSNorm, decay / beta gates)
 * and the delta rule's forward, chunked (the UT/WY form of transformers'
 * torch_chunk_gated_delta_rule) and per token (torch_recurrent_gated_delta_rule). The chunked
 * backward is in deltanet_bwd.c. */
#include <math.h>
#include <string.h>

#include "ops/cpu/cpu.h"

/* Vectors per block of the gated RMSNorm's dw partial sums, channels per block of the conv's
 * dw: fixed sizes, so the reductions do not depend on the thread count. */
#define DN_NORM_BLOCK 64
#define DN_CONV_BLOCK 64

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* ---- element-wise ---- */

void ct_silu_forward(ct_ctx *c, float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

void ct_silu_backward(ct_ctx *c, float *dx, const float *dy, const float *x, size_t n) {
    if (!dx) return;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        float s = sigmoidf(x[i]);
        dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

void ct_sigmoid_gate_forward(ct_ctx *c, float *y, const float *x, const float *g, size_t n) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf(g[i]);
}

void ct_sigmoid_gate_backward(ct_ctx *c, float *dx, float *dg, const float *dy, const float *x, const float *g,
                              size_t n) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        float s = sigmoidf(g[i]);
        if (dx) dx[i] += dy[i] * s;
        if (dg) dg[i] += dy[i] * x[i] * s * (1.0f - s);
    }
}

/* ---- causal depthwise conv1d ---- */

/* wT[K, CH] = w[CH, K]^T in f32, from the calling thread's arena a. */
static float *conv_weight_t(ct_arena *a, const ct_tensor *w, size_t CH, size_t K) {
    float *wf = ct_scratch_f32(a, CH * K), *wT = ct_scratch_f32(a, CH * K);
    ct_tensor_to_f32(w, 0, CH * K, wf);
    for (size_t ch = 0; ch < CH; ch++)
        for (size_t j = 0; j < K; j++) wT[j * CH + ch] = wf[ch * K + j];
    return wT;
}

void ct_conv1d_causal_forward(ct_ctx *c, float *y, const float *x, const float *prev, const ct_tensor *w,
                              size_t T, size_t CH, size_t K) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    const float *wT = conv_weight_t(ar, w, CH, K);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * CH * K > CT_PAR_MIN_ELEMS)
    for (size_t t = 0; t < T; t++) {
        float *yt = y + t * CH;
        memset(yt, 0, CH * sizeof(float));
        for (size_t j = 0; j < K; j++) {
            /* input row t + j - (K-1): of x, of prev, or a zero of the padding */
            size_t back = K - 1 - j;
            const float *src = t >= back ? x + (t - back) * CH : prev ? prev + (K - 1 - (back - t)) * CH : NULL;
            if (!src) continue;
            const float *wj = wT + j * CH;
            for (size_t ch = 0; ch < CH; ch++) yt[ch] += wj[ch] * src[ch];
        }
    }
    ct_arena_release(ar, mk);
}

void ct_conv1d_causal_backward(ct_ctx *c, float *dx, float *dw, const float *dy, const float *x,
                               const ct_tensor *w, size_t T, size_t CH, size_t K) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    const float *wT = dx ? conv_weight_t(ar, w, CH, K) : NULL;
    int nth = T * CH * K > CT_PAR_MIN_ELEMS ? ct_ctx_threads(c) : 1;
    size_t nblk = (CH + DN_CONV_BLOCK - 1) / DN_CONV_BLOCK;
#pragma omp parallel num_threads(nth)
    {
        /* dx[s, ch] += sum_j w[ch, j] dy[s + (K-1) - j, ch] */
        if (dx) {
#pragma omp for schedule(static)
            for (size_t s = 0; s < T; s++) {
                float *dxs = dx + s * CH;
                for (size_t j = 0; j < K; j++) {
                    size_t t = s + (K - 1) - j;
                    if (t >= T) continue;
                    const float *wj = wT + j * CH, *dyt = dy + t * CH;
                    for (size_t ch = 0; ch < CH; ch++) dxs[ch] += wj[ch] * dyt[ch];
                }
            }
        }
        /* dw[ch, j] += sum_t dy[t, ch] x[t + j - (K-1), ch]: one channel block per item */
        if (dw) {
            ct_arena *ta = ct_ctx_arena(c);
            size_t tmk = ct_arena_mark(ta);
            float *acc = ct_scratch_f32(ta, K * DN_CONV_BLOCK);
#pragma omp for schedule(static)
            for (size_t b = 0; b < nblk; b++) {
                size_t c0 = b * DN_CONV_BLOCK, nc = CH - c0 < DN_CONV_BLOCK ? CH - c0 : DN_CONV_BLOCK;
                memset(acc, 0, K * DN_CONV_BLOCK * sizeof(float));
                for (size_t t = 0; t < T; t++) {
                    const float *dyt = dy + t * CH + c0;
                    for (size_t j = 0; j < K; j++) {
                        size_t back = K - 1 - j;
                        if (t < back) continue;
                        const float *xs = x + (t - back) * CH + c0;
                        float *aj = acc + j * DN_CONV_BLOCK;
                        for (size_t i = 0; i < nc; i++) aj[i] += dyt[i] * xs[i];
                    }
                }
                for (size_t i = 0; i < nc; i++)
                    for (size_t j = 0; j < K; j++) dw[(c0 + i) * K + j] += acc[j * DN_CONV_BLOCK + i];
            }
            ct_arena_release(ta, tmk);
        }
    }
    ct_arena_release(ar, mk);
}

/* ---- L2 norm, gated RMSNorm ---- */

void ct_l2norm_forward(ct_ctx *c, float *y, float *inv, const float *x, size_t rows, size_t per_row,
                       size_t D, size_t ld, float eps) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (rows * per_row * D > CT_PAR_MIN_ELEMS)
    for (size_t r = 0; r < rows; r++)
        for (size_t p = 0; p < per_row; p++) {
            size_t off = r * ld + p * D;
            const float *xi = x + off;
            float *yi = y + off;
            double ss = 0.0;
            for (size_t d = 0; d < D; d++) ss += (double)xi[d] * xi[d];
            float s = 1.0f / sqrtf((float)ss + eps);
            if (inv) inv[r * per_row + p] = s;
            for (size_t d = 0; d < D; d++) yi[d] = xi[d] * s;
        }
}

void ct_l2norm_backward(ct_ctx *c, float *dx, const float *dy, const float *x, const float *inv,
                        size_t rows, size_t per_row, size_t D, size_t ld) {
    if (!dx) return;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (rows * per_row * D > CT_PAR_MIN_ELEMS)
    for (size_t r = 0; r < rows; r++)
        for (size_t p = 0; p < per_row; p++) {
            size_t off = r * ld + p * D;
            const float *xi = x + off, *dyi = dy + off;
            float *dxi = dx + off;
            float s = inv[r * per_row + p];
            double dot = 0.0;
            for (size_t d = 0; d < D; d++) dot += (double)xi[d] * dyi[d];
            float k = (float)dot * s * s * s;
            for (size_t d = 0; d < D; d++) dxi[d] += s * dyi[d] - k * xi[d];
        }
}

void ct_rmsnorm_gated_forward(ct_ctx *c, float *y, float *rstd, const float *x, const float *z,
                              const ct_tensor *w, size_t n, size_t D, float eps) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *wf = ct_scratch_f32(ar, D);
    ct_tensor_to_f32(w, 0, D, wf);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n * D > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * D, *zi = z + i * D;
        float *yi = y + i * D;
        double ss = 0.0;
        for (size_t d = 0; d < D; d++) ss += (double)xi[d] * xi[d];
        float r = 1.0f / sqrtf((float)(ss / (double)D) + eps);
        if (rstd) rstd[i] = r;
        for (size_t d = 0; d < D; d++) yi[d] = wf[d] * (xi[d] * r) * (zi[d] * sigmoidf(zi[d]));
    }
    ct_arena_release(ar, mk);
}

/* With xn = x r and s = silu(z): dxn = dy w s, dx = r dxn - r^3/D (x.dxn) x,
 * dz = dy w xn silu'(z), dw = sum dy xn s (per fixed block of vectors, then in block order). */
void ct_rmsnorm_gated_backward(ct_ctx *c, float *dx, float *dz, float *dw, const float *dy, const float *x,
                               const float *z, const float *rstd, const ct_tensor *w, size_t n, size_t D) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *wf = ct_scratch_f32(ar, D);
    ct_tensor_to_f32(w, 0, D, wf);
    size_t nblk = (n + DN_NORM_BLOCK - 1) / DN_NORM_BLOCK;
    float *part = dw ? ct_scratch_f32(ar, nblk * D) : NULL;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n * D > CT_PAR_MIN_ELEMS)
    for (size_t b = 0; b < nblk; b++) {
        float *pw = part ? part + b * D : NULL;
        if (pw) memset(pw, 0, D * sizeof(float));
        size_t i1 = (b + 1) * DN_NORM_BLOCK < n ? (b + 1) * DN_NORM_BLOCK : n;
        for (size_t i = b * DN_NORM_BLOCK; i < i1; i++) {
            const float *xi = x + i * D, *zi = z + i * D, *dyi = dy + i * D;
            float r = rstd[i];
            double dot = 0.0; /* x . dxn */
            for (size_t d = 0; d < D; d++) dot += (double)xi[d] * dyi[d] * wf[d] * (zi[d] * sigmoidf(zi[d]));
            float k = (float)(dot / (double)D) * r * r * r;
            for (size_t d = 0; d < D; d++) {
                float sg = sigmoidf(zi[d]), s = zi[d] * sg, xn = xi[d] * r;
                if (dx) dx[i * D + d] += r * (dyi[d] * wf[d] * s) - k * xi[d];
                if (dz) dz[i * D + d] += dyi[d] * wf[d] * xn * sg * (1.0f + zi[d] * (1.0f - sg));
                if (pw) pw[d] += dyi[d] * xn * s;
            }
        }
    }
    if (dw)
        for (size_t b = 0; b < nblk; b++)
            for (size_t d = 0; d < D; d++) dw[d] += part[b * D + d];
    ct_arena_release(ar, mk);
}

/* ---- decay and beta gates ---- */

/* torch.nn.functional.softplus (beta 1, threshold 20) and its derivative. */
static inline float softplusf(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
static inline float softplus_grad(float x) { return x > 20.0f ? 1.0f : sigmoidf(x); }

/* The per-head gate parameters in f32 scratch of ar: -exp(A_log) and dt_bias. */
static void gate_params(ct_arena *ar, const ct_tensor *A_log, const ct_tensor *dt_bias, size_t H, float **negA,
                        float **dt) {
    *negA = ct_scratch_f32(ar, H);
    *dt = ct_scratch_f32(ar, H);
    ct_tensor_to_f32(A_log, 0, H, *negA);
    ct_tensor_to_f32(dt_bias, 0, H, *dt);
    for (size_t h = 0; h < H; h++) (*negA)[h] = -expf((*negA)[h]);
}

void ct_deltanet_gates_forward(ct_ctx *c, float *g, float *beta, const float *a, const float *b,
                               const ct_tensor *A_log, const ct_tensor *dt_bias, size_t T, size_t H) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *negA, *dt;
    gate_params(ar, A_log, dt_bias, H, &negA, &dt);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * H > CT_PAR_MIN_ELEMS)
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < H; h++) {
            size_t i = t * H + h;
            if (g) g[i] = negA[h] * softplusf(a[i] + dt[h]);
            if (beta) beta[i] = sigmoidf(b[i]);
        }
    ct_arena_release(ar, mk);
}

/* One thread per head h: da, db of its column and the head's dA_log / ddt_bias sums over t. */
void ct_deltanet_gates_backward(ct_ctx *c, float *da, float *db, float *dA_log, float *ddt_bias,
                                const float *dg, const float *dbeta, const float *a, const float *b,
                                const ct_tensor *A_log, const ct_tensor *dt_bias, size_t T, size_t H) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *negA, *dt;
    gate_params(ar, A_log, dt_bias, H, &negA, &dt);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * H > CT_PAR_MIN_ELEMS)
    for (size_t h = 0; h < H; h++) {
        double sA = 0.0, sdt = 0.0;
        for (size_t t = 0; t < T; t++) {
            size_t i = t * H + h;
            if (dg) {
                float x = a[i] + dt[h];
                /* g = -exp(A_log) softplus(x): dg/dA_log = g, dg/dx = -exp(A_log) softplus'(x) */
                float dx = dg[i] * negA[h] * softplus_grad(x);
                if (da) da[i] += dx;
                sdt += dx;
                sA += (double)dg[i] * (negA[h] * softplusf(x));
            }
            if (dbeta && db) {
                float s = sigmoidf(b[i]);
                db[i] += dbeta[i] * s * (1.0f - s);
            }
        }
        if (dA_log) dA_log[h] += (float)sA;
        if (ddt_bias) ddt_bias[h] += (float)sdt;
    }
    ct_arena_release(ar, mk);
}

/* ---- the gated delta rule: per token ---- */

void ct_deltanet_recurrent_forward(ct_ctx *c, float *out, float *state, const float *q, const float *k,
                                   size_t ld_qk, const float *v, size_t ld_v, const float *g,
                                   const float *beta, size_t T, size_t Hk, size_t Hv, size_t Dk, size_t Dv) {
    size_t group = Hv / Hk, ldo = Hv * Dv, SS = Dk * Dv;
    float scale = 1.0f / sqrtf((float)Dk);
#pragma omp parallel num_threads(ct_ctx_threads(c))
    {
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        float *Sl = state ? NULL : ct_scratch_f32(ar, SS), *delta = ct_scratch_f32(ar, Dv);
#pragma omp for schedule(static)
        for (size_t h = 0; h < Hv; h++) {
            size_t kh = h / group;
            float *S = state ? state + h * SS : Sl;
            if (!state) memset(S, 0, SS * sizeof(float));
            for (size_t t = 0; t < T; t++) {
                const float *qt = q + t * ld_qk + kh * Dk, *kt = k + t * ld_qk + kh * Dk;
                const float *vt = v + t * ld_v + h * Dv;
                float decay = expf(g[t * Hv + h]), bt = beta[t * Hv + h];
                float *ot = out + t * ldo + h * Dv;
                for (size_t i = 0; i < SS; i++) S[i] *= decay;
                /* delta = beta (v - S^T k) */
                memset(delta, 0, Dv * sizeof(float));
                for (size_t d = 0; d < Dk; d++)
                    for (size_t e = 0; e < Dv; e++) delta[e] += S[d * Dv + e] * kt[d];
                for (size_t e = 0; e < Dv; e++) delta[e] = (vt[e] - delta[e]) * bt;
                memset(ot, 0, Dv * sizeof(float));
                for (size_t d = 0; d < Dk; d++) {
                    float *Sd = S + d * Dv, qd = qt[d] * scale;
                    for (size_t e = 0; e < Dv; e++) {
                        Sd[e] += kt[d] * delta[e];
                        ot[e] += Sd[e] * qd;
                    }
                }
            }
        }
        ct_arena_release(ar, mk);
    }
}

/* ---- the gated delta rule: chunked ---- */

void ct_dn_chunk_alloc(ct_dn_chunk *ck, ct_arena *a, size_t Dk, size_t Dv) {
    size_t C = CT_DELTANET_CHUNK;
    ck->n = 0;
    ck->Dk = Dk;
    ck->Dv = Dv;
    ck->G = ct_scratch(a, C * sizeof(double));
    ck->E = ct_scratch_f32(a, C);
    ck->Gam = ct_scratch_f32(a, C * C);
    ck->A = ct_scratch_f32(a, C * C);
    ck->P = ct_scratch_f32(a, C * C);
    ck->Q = ct_scratch_f32(a, C * Dk);
    ck->K = ct_scratch_f32(a, C * Dk);
    ck->KB = ct_scratch_f32(a, C * Dk);
    ck->W = ct_scratch_f32(a, C * Dk);
    ck->U = ct_scratch_f32(a, C * Dv);
    ck->Vn = ct_scratch_f32(a, C * Dv);
}

/* (I + A) X = B in place (X = B on entry) for A [n, n] strictly lower: forward substitution. */
static void solve_unit_lower(const float *A, size_t n, float *X, size_t d) {
    for (size_t i = 1; i < n; i++) {
        float *xi = X + i * d;
        for (size_t j = 0; j < i; j++) {
            float a = A[i * n + j];
            const float *xj = X + j * d;
            for (size_t e = 0; e < d; e++) xi[e] -= a * xj[e];
        }
    }
}

void ct_dn_chunk_compute(ct_dn_chunk *ck, size_t n, const float *q, const float *k, size_t ld_qk,
                         const float *v, size_t ld_v, const float *g, const float *beta, size_t Hv,
                         const float *S0) {
    size_t Dk = ck->Dk, Dv = ck->Dv;
    float scale = 1.0f / sqrtf((float)Dk);
    ck->n = n;
    double G = 0.0;
    for (size_t i = 0; i < n; i++) {
        G += g[i * Hv];
        ck->G[i] = G;
        ck->E[i] = (float)exp(G);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) ck->Gam[i * n + j] = j <= i ? (float)exp(ck->G[i] - ck->G[j]) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float *qi = q + i * ld_qk, *ki = k + i * ld_qk, *vi = v + i * ld_v;
        float b = beta[i * Hv], e = ck->E[i];
        for (size_t d = 0; d < Dk; d++) {
            ck->Q[i * Dk + d] = qi[d] * scale;
            ck->K[i * Dk + d] = ki[d];
            ck->KB[i * Dk + d] = b * ki[d];
            ck->W[i * Dk + d] = e * ck->KB[i * Dk + d];
        }
        for (size_t d = 0; d < Dv; d++) ck->U[i * Dv + d] = b * vi[d];
    }
    ct_cpu_sgemm1(false, true, n, n, Dk, 1.0f, ck->KB, Dk, ck->K, Dk, 0.0f, ck->A, n);
    ct_cpu_sgemm1(false, true, n, n, Dk, 1.0f, ck->Q, Dk, ck->K, Dk, 0.0f, ck->P, n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            float gm = ck->Gam[i * n + j];
            ck->A[i * n + j] = j < i ? ck->A[i * n + j] * gm : 0.0f;
            ck->P[i * n + j] = j <= i ? ck->P[i * n + j] * gm : 0.0f;
        }
    solve_unit_lower(ck->A, n, ck->U, Dv);
    solve_unit_lower(ck->A, n, ck->W, Dk);
    memcpy(ck->Vn, ck->U, n * Dv * sizeof(float));
    ct_cpu_sgemm1(false, false, n, Dv, Dk, -1.0f, ck->W, Dk, S0, Dv, 1.0f, ck->Vn, Dv);
}

size_t ct_deltanet_saved_floats(size_t T, size_t Hv, size_t Dk, size_t Dv) {
    return (T + CT_DELTANET_CHUNK - 1) / CT_DELTANET_CHUNK * Hv * Dk * Dv;
}

/* One token of one head from its state S [Dk, Dv] (a decode step), the recurrence rearranged so
 * that S is read twice and written once (the chunk form's products pass over it five times, and S
 * is most of a decode step's DeltaNet traffic: Dk * Dv floats per head and layer):
 *   sk = S^T k, sq = S^T q (one pass), delta = beta (v - decay sk),
 *   o = scale (decay sq + (k . q) delta)  (= scale S'^T q), then S' = decay S + k delta^T. */
static void step_head(float *S, float *o, const float *q, const float *k, const float *v, float g, float beta,
                      size_t Dk, size_t Dv, float *sk, float *sq) {
    float scale = 1.0f / sqrtf((float)Dk), decay = (float)exp((double)g), kq = 0.0f;
    memset(sk, 0, Dv * sizeof(float));
    memset(sq, 0, Dv * sizeof(float));
    for (size_t d = 0; d < Dk; d++) {
        const float *Sd = S + d * Dv;
        float kd = k[d], qd = q[d];
        kq += kd * qd;
#pragma omp simd
        for (size_t e = 0; e < Dv; e++) {
            sk[e] += Sd[e] * kd;
            sq[e] += Sd[e] * qd;
        }
    }
    for (size_t e = 0; e < Dv; e++) {
        float delta = (v[e] - decay * sk[e]) * beta;
        o[e] = scale * (decay * sq[e] + kq * delta);
        sk[e] = delta;
    }
    for (size_t d = 0; d < Dk; d++) {
        float *Sd = S + d * Dv, kd = k[d];
#pragma omp simd
        for (size_t e = 0; e < Dv; e++) Sd[e] = decay * Sd[e] + kd * sk[e];
    }
}

/* Per value head (in parallel), chunk after chunk: O = (E Q) S0 + P Vn, then
 * S = E_last S0 + (K exp(G_last - G))^T Vn. saved[chunk, head] holds S0. A single token on a
 * carried state (decode) takes step_head instead. */
void ct_deltanet_forward(ct_ctx *c, float *out, float *state, float *saved, const float *q, const float *k,
                         size_t ld_qk, const float *v, size_t ld_v, const float *g, const float *beta,
                         size_t T, size_t Hk, size_t Hv, size_t Dk, size_t Dv) {
    if (T == 0) return;
    if (T == 1 && state && !saved) {
        size_t group = Hv / Hk, SS = Dk * Dv;
#pragma omp parallel num_threads(ct_ctx_threads(c)) if (Hv * SS > CT_PAR_MIN_ELEMS)
        {
            ct_arena *ar = ct_ctx_arena(c);
            size_t mk = ct_arena_mark(ar);
            float *sk = ct_scratch_f32(ar, Dv), *sq = ct_scratch_f32(ar, Dv);
#pragma omp for schedule(static)
            for (size_t h = 0; h < Hv; h++)
                step_head(state + h * SS, out + h * Dv, q + h / group * Dk, k + h / group * Dk, v + h * Dv, g[h],
                          beta[h], Dk, Dv, sk, sq);
            ct_arena_release(ar, mk);
        }
        return;
    }
    ct_cpu_blas_init();
    size_t C = CT_DELTANET_CHUNK, nch = (T + C - 1) / C, group = Hv / Hk, ldo = Hv * Dv, SS = Dk * Dv;
#pragma omp parallel num_threads(ct_ctx_threads(c))
    {
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        ct_dn_chunk ck;
        ct_dn_chunk_alloc(&ck, ar, Dk, Dv);
        float *Sl = state ? NULL : ct_scratch_f32(ar, SS);
#pragma omp for schedule(dynamic, 1)
        for (size_t h = 0; h < Hv; h++) {
            size_t kh = h / group;
            float *S = state ? state + h * SS : Sl;
            if (!state) memset(S, 0, SS * sizeof(float));
            for (size_t ci = 0; ci < nch; ci++) {
                size_t t0 = ci * C, n = T - t0 < C ? T - t0 : C, last = n - 1;
                if (saved) memcpy(saved + (ci * Hv + h) * SS, S, SS * sizeof(float));
                ct_dn_chunk_compute(&ck, n, q + t0 * ld_qk + kh * Dk, k + t0 * ld_qk + kh * Dk, ld_qk,
                                    v + t0 * ld_v + h * Dv, ld_v, g + t0 * Hv + h, beta + t0 * Hv + h, Hv, S);
                float *o = out + t0 * ldo + h * Dv;
                for (size_t i = 0; i < n; i++)
                    for (size_t d = 0; d < Dk; d++) ck.Q[i * Dk + d] *= ck.E[i];
                ct_cpu_sgemm1(false, false, n, Dv, Dk, 1.0f, ck.Q, Dk, S, Dv, 0.0f, o, ldo);
                ct_cpu_sgemm1(false, false, n, Dv, n, 1.0f, ck.P, n, ck.Vn, Dv, 1.0f, o, ldo);
                for (size_t j = 0; j < n; j++)
                    for (size_t d = 0; d < Dk; d++) ck.K[j * Dk + d] *= ck.Gam[last * n + j];
                for (size_t i = 0; i < SS; i++) S[i] *= ck.E[last];
                ct_cpu_sgemm1(true, false, Dk, Dv, n, 1.0f, ck.K, Dk, ck.Vn, Dv, 1.0f, S, Dv);
            }
        }
        ct_arena_release(ar, mk);
    }
}
