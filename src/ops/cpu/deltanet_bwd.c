/* Backward of the chunked gated delta rule (ct_deltanet_forward, see ops.h): the hand-derived
 * reverse of the UT/WY chunk form, chunk by chunk from the last, carrying dS, the gradient of
 * the state at the chunk's end. Per value head and chunk, with S0 the saved state at the chunk
 * start, G the in-chunk cumulative log decay, E = exp(G), Gam_ij = exp(G_i - G_j) (j <= i) and
 * f_j = Gam_{last,j} (ct_dn_chunk holds the rest):
 *   O   = (E Q) S0 + P Vn,            P  = (Q K^T) * Gam
 *   S_C = E_last S0 + (f K)^T Vn,     Vn = U - W S0
 *   U   = M^-1 (beta v),  W = M^-1 (E beta K),  M = I + A,  A = strict_lower((beta K K^T) * Gam)
 * Every path into G is collected as dG (double), and dg is its reverse cumulative sum. */
#include <math.h>
#include <string.h>

#include "ops/cpu/cpu.h"

/* Per-thread gradient scratch for one chunk (see chunk_backward). */
typedef struct dn_grads {
    double *dG;                       /* [C] */
    float *dQ, *dK, *dKB, *dY, *tmp;  /* [C, Dk] */
    float *dVn;                       /* [C, Dv]: dVn, then dU, then d(beta v) */
    float *dM;                        /* [C, C]: dP, then dA */
    float *dS, *dSn;                  /* [Dk, Dv]: gradient of S_C (in) and of S0 (out) */
} dn_grads;

static void grads_alloc(dn_grads *gr, ct_arena *a, size_t Dk, size_t Dv) {
    size_t C = CT_DELTANET_CHUNK;
    gr->dG = ct_scratch(a, C * sizeof(double));
    gr->dQ = ct_scratch_f32(a, C * Dk);
    gr->dK = ct_scratch_f32(a, C * Dk);
    gr->dKB = ct_scratch_f32(a, C * Dk);
    gr->dY = ct_scratch_f32(a, C * Dk);
    gr->tmp = ct_scratch_f32(a, C * Dk);
    gr->dVn = ct_scratch_f32(a, C * Dv);
    gr->dM = ct_scratch_f32(a, C * C);
    gr->dS = ct_scratch_f32(a, Dk * Dv);
    gr->dSn = ct_scratch_f32(a, Dk * Dv);
}

/* (I + A)^T X = B in place for A [n, n] strictly lower: back substitution. */
static void solve_unit_upper_t(const float *A, size_t n, float *X, size_t d) {
    for (size_t i = n; i-- > 0;) {
        float *xi = X + i * d;
        for (size_t j = i + 1; j < n; j++) {
            float a = A[j * n + i];
            const float *xj = X + j * d;
            for (size_t e = 0; e < d; e++) xi[e] -= a * xj[e];
        }
    }
}

/* dM (a [n, n] gradient of a masked product M = (X Y^T) * Gam, the mask: j <= i with diag,
 * j < i without) in place becomes dM * Gam, the gradient of X Y^T; the path through Gam
 * (dM_ij M_ij into G_i, minus that into G_j) is added to dG. */
static void masked_grad(float *dM, const float *M, const float *Gam, size_t n, bool diag, double *dG) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            size_t ij = i * n + j;
            if (j > i || (j == i && !diag)) {
                dM[ij] = 0.0f;
                continue;
            }
            double t = (double)dM[ij] * M[ij];
            dG[i] += t;
            dG[j] -= t;
            dM[ij] *= Gam[ij];
        }
}

static float dotf(const float *a, const float *b, size_t n) {
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The reverse of one chunk (ck computed from S0): gr->dS (gradient of the chunk's end state) in,
 * gr->dSn (of S0) out; dO = dout rows (stride ldo); results into the head's rows of dq, dk, dv,
 * dg, dbeta (+=; v, beta for the beta paths). */
static void chunk_backward(const ct_dn_chunk *ck, dn_grads *gr, const float *S0, const float *dO, size_t ldo,
                           const float *v, size_t ld_v, const float *beta, size_t Hv, float *dq, float *dk,
                           size_t ld_qk, float *dv, float *dg, float *dbeta) {
    size_t n = ck->n, Dk = ck->Dk, Dv = ck->Dv, last = n - 1, SS = Dk * Dv;
    const float *Gam = ck->Gam, *E = ck->E;
    double *dG = gr->dG;
    memset(dG, 0, n * sizeof(double));

    /* S_C = E_last S0 + Kd^T Vn with Kd = f K (built in dKB, free until the A path) */
    float *Kd = gr->dKB;
    for (size_t j = 0; j < n; j++)
        for (size_t d = 0; d < Dk; d++) Kd[j * Dk + d] = ck->K[j * Dk + d] * Gam[last * n + j];
    ct_cpu_sgemm1(false, false, n, Dv, Dk, 1.0f, Kd, Dk, gr->dS, Dv, 0.0f, gr->dVn, Dv);
    ct_cpu_sgemm1(false, true, n, Dk, Dv, 1.0f, ck->Vn, Dv, gr->dS, Dv, 0.0f, gr->tmp, Dk); /* dKd */
    for (size_t j = 0; j < n; j++) {
        float f = Gam[last * n + j];
        for (size_t d = 0; d < Dk; d++) gr->dK[j * Dk + d] = f * gr->tmp[j * Dk + d];
        double s = dotf(Kd + j * Dk, gr->tmp + j * Dk, Dk);
        dG[last] += s;
        dG[j] -= s;
    }
    double sd = 0.0;
    for (size_t i = 0; i < SS; i++) {
        sd += (double)S0[i] * gr->dS[i];
        gr->dSn[i] = E[last] * gr->dS[i];
    }
    dG[last] += E[last] * sd;

    /* O = (E Q) S0 + P Vn */
    ct_cpu_sgemm1(true, false, n, Dv, n, 1.0f, ck->P, n, dO, ldo, 1.0f, gr->dVn, Dv);
    ct_cpu_sgemm1(false, true, n, n, Dv, 1.0f, dO, ldo, ck->Vn, Dv, 0.0f, gr->dM, n);
    masked_grad(gr->dM, ck->P, Gam, n, true, dG);
    ct_cpu_sgemm1(false, false, n, Dk, n, 1.0f, gr->dM, n, ck->K, Dk, 0.0f, gr->dQ, Dk);
    ct_cpu_sgemm1(true, false, n, Dk, n, 1.0f, gr->dM, n, ck->Q, Dk, 1.0f, gr->dK, Dk);
    ct_cpu_sgemm1(false, true, n, Dk, Dv, 1.0f, dO, ldo, S0, Dv, 0.0f, gr->tmp, Dk); /* d(E Q) */
    for (size_t i = 0; i < n; i++) {
        float *t = gr->tmp + i * Dk;
        const float *Qi = ck->Q + i * Dk;
        dG[i] += (double)E[i] * dotf(Qi, t, Dk);
        for (size_t d = 0; d < Dk; d++) {
            gr->dQ[i * Dk + d] += E[i] * t[d];
            t[d] = E[i] * Qi[d]; /* tmp becomes E Q */
        }
    }
    ct_cpu_sgemm1(true, false, Dk, Dv, n, 1.0f, gr->tmp, Dk, dO, ldo, 1.0f, gr->dSn, Dv);

    /* Vn = U - W S0, then U = M^-1 (beta v), W = M^-1 Y with Y = E KB */
    ct_cpu_sgemm1(false, true, n, Dk, Dv, -1.0f, gr->dVn, Dv, S0, Dv, 0.0f, gr->dY, Dk);
    ct_cpu_sgemm1(true, false, Dk, Dv, n, -1.0f, ck->W, Dk, gr->dVn, Dv, 1.0f, gr->dSn, Dv);
    solve_unit_upper_t(ck->A, n, gr->dVn, Dv);
    solve_unit_upper_t(ck->A, n, gr->dY, Dk);
    /* dM = -d(beta v) U^T - dY W^T, through M = I + A */
    ct_cpu_sgemm1(false, true, n, n, Dv, -1.0f, gr->dVn, Dv, ck->U, Dv, 0.0f, gr->dM, n);
    ct_cpu_sgemm1(false, true, n, n, Dk, -1.0f, gr->dY, Dk, ck->W, Dk, 1.0f, gr->dM, n);
    masked_grad(gr->dM, ck->A, Gam, n, false, dG);
    ct_cpu_sgemm1(false, false, n, Dk, n, 1.0f, gr->dM, n, ck->K, Dk, 0.0f, gr->dKB, Dk);
    ct_cpu_sgemm1(true, false, n, Dk, n, 1.0f, gr->dM, n, ck->KB, Dk, 1.0f, gr->dK, Dk);

    /* Y = E KB, KB = beta K, beta v; then out to the caller's rows */
    float scale = 1.0f / sqrtf((float)Dk);
    double rev = 0.0; /* dg_i = sum_{m >= i} dG_m */
    for (size_t i = n; i-- > 0;) {
        const float *dYi = gr->dY + i * Dk, *Ki = ck->K + i * Dk, *dU = gr->dVn + i * Dv;
        const float *vi = v + i * ld_v;
        float *dKBi = gr->dKB + i * Dk, *dKi = gr->dK + i * Dk, b = beta[i * Hv];
        dG[i] += (double)E[i] * dotf(ck->KB + i * Dk, dYi, Dk);
        for (size_t d = 0; d < Dk; d++) dKBi[d] += E[i] * dYi[d];
        for (size_t d = 0; d < Dk; d++) dKi[d] += b * dKBi[d];
        rev += dG[i];
        if (dg) dg[i * Hv] += (float)rev;
        if (dbeta) dbeta[i * Hv] += dotf(Ki, dKBi, Dk) + dotf(vi, dU, Dv);
        if (dv)
            for (size_t e = 0; e < Dv; e++) dv[i * ld_v + e] += b * dU[e];
        if (dq)
            for (size_t d = 0; d < Dk; d++) dq[i * ld_qk + d] += scale * gr->dQ[i * Dk + d];
        if (dk)
            for (size_t d = 0; d < Dk; d++) dk[i * ld_qk + d] += dKi[d];
    }
    float *sw = gr->dS;
    gr->dS = gr->dSn;
    gr->dSn = sw;
}

/* One thread per k head: its value heads in order, each over its chunks in reverse, so dq/dk
 * rows of the head sum their value heads in a fixed order. */
void ct_deltanet_backward(ct_ctx *c, float *dq, float *dk, size_t ld_qk, float *dv, size_t ld_v, float *dg,
                          float *dbeta, const float *dout, const float *saved, const float *q, const float *k,
                          const float *v, const float *g, const float *beta, size_t T, size_t Hk, size_t Hv,
                          size_t Dk, size_t Dv) {
    if (T == 0 || (!dq && !dk && !dv && !dg && !dbeta)) return;
    ct_cpu_blas_init();
    size_t C = CT_DELTANET_CHUNK, nch = (T + C - 1) / C, group = Hv / Hk, ldo = Hv * Dv, SS = Dk * Dv;
#pragma omp parallel num_threads(ct_ctx_threads(c))
    {
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        ct_dn_chunk ck;
        dn_grads gr;
        ct_dn_chunk_alloc(&ck, ar, Dk, Dv);
        grads_alloc(&gr, ar, Dk, Dv);
#pragma omp for schedule(dynamic, 1)
        for (size_t kh = 0; kh < Hk; kh++)
            for (size_t h = kh * group; h < (kh + 1) * group; h++) {
                memset(gr.dS, 0, SS * sizeof(float)); /* the loss does not read the final state */
                for (size_t ci = nch; ci-- > 0;) {
                    size_t t0 = ci * C, n = T - t0 < C ? T - t0 : C;
                    size_t oqk = t0 * ld_qk + kh * Dk, ov = t0 * ld_v + h * Dv, og = t0 * Hv + h;
                    const float *S0 = saved + (ci * Hv + h) * SS;
                    ct_dn_chunk_compute(&ck, n, q + oqk, k + oqk, ld_qk, v + ov, ld_v, g + og, beta + og, Hv, S0);
                    chunk_backward(&ck, &gr, S0, dout + t0 * ldo + h * Dv, ldo, v + ov, ld_v, beta + og, Hv,
                                   dq ? dq + oqk : NULL, dk ? dk + oqk : NULL, ld_qk, dv ? dv + ov : NULL,
                                   dg ? dg + og : NULL, dbeta ? dbeta + og : NULL);
                }
            }
        ct_arena_release(ar, mk);
    }
}
