/* PiSSA initialisation (see pissa.h). */
#include "peft/pissa.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "ops/ops.h"

uint64_t ct_pissa_stream(int layer, int module) { return ct_rng_mix(((uint64_t)layer << 8) ^ (uint64_t)module); }

/* f[i] = (float)d[i] and back. */
static void d2f(float *f, const double *d, size_t n) {
    for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
}
static void f2d(double *d, const float *f, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = f[i];
}

/* torch.svd_lowrank(W, q, niter) for W [m, n] with n > q (torch/_lowrank.py _svd_lowrank, the
 * branch that approximates W^T's range): U [m, q], S [q], Vt [q, n]. Wf: W in f32. */
static bool svd_lowrank(ct_ctx *c, const float *Wf, size_t m, size_t n, size_t q, int niter, uint64_t stream,
                        double *U, double *S, double *Vt) {
    size_t big = m > n ? m : n;
    float *R = malloc(m * q * sizeof *R), *Xf = malloc(big * q * sizeof *Xf), *Qf = malloc(big * q * sizeof *Qf);
    double *Xd = malloc(big * q * sizeof *Xd), *Q = malloc(n * q * sizeof *Q), *Vh = malloc(q * q * sizeof *Vh);
    bool ok = R && Xf && Qf && Xd && Q && Vh;
    if (ok) { /* get_approximate_basis(W^T, q, niter): R = randn(m, q); Q = qr(W^T R).Q */
        for (size_t i = 0; i < m * q; i++) R[i] = (float)ct_rng_normal(CT_PISSA_SEED, stream, i);
        ct_sgemm(c, true, false, n, q, m, 1.0f, Wf, n, R, q, 0.0f, Xf, q);
        f2d(Q, Xf, n * q);
        ok = ct_qr_q_f64(c, Q, n, q);
    }
    for (int it = 0; ok && it < niter; it++) { /* Q = qr(W Q).Q; Q = qr(W^T Q).Q */
        d2f(Qf, Q, n * q);
        ct_sgemm(c, false, false, m, q, n, 1.0f, Wf, n, Qf, q, 0.0f, Xf, q);
        f2d(Xd, Xf, m * q);
        ok = ct_qr_q_f64(c, Xd, m, q);
        if (!ok) break;
        d2f(Qf, Xd, m * q);
        ct_sgemm(c, true, false, n, q, m, 1.0f, Wf, n, Qf, q, 0.0f, Xf, q);
        f2d(Q, Xf, n * q);
        ok = ct_qr_q_f64(c, Q, n, q);
    }
    if (ok) { /* B_t = W Q [m, q];  U, S, Vh = svd(B_t);  V = Q Vh^T, so Vt = Vh Q^T */
        d2f(Qf, Q, n * q);
        ct_sgemm(c, false, false, m, q, n, 1.0f, Wf, n, Qf, q, 0.0f, Xf, q);
        f2d(Xd, Xf, m * q);
        ok = ct_svd_f64(c, Xd, m, q, U, S, Vh);
    }
    if (ok)
        for (size_t a = 0; a < q; a++)
            for (size_t i = 0; i < n; i++) {
                double s = 0;
                for (size_t b = 0; b < q; b++) s += Vh[a * q + b] * Q[i * q + b];
                Vt[a * n + i] = s;
            }
    free(R), free(Xf), free(Qf), free(Xd), free(Q), free(Vh);
    return ok;
}

/* Exact thin SVD, first q triplets. */
static bool svd_exact(ct_ctx *c, const float *Wf, size_t m, size_t n, size_t q, double *U, double *S, double *Vt) {
    size_t k = m < n ? m : n;
    double *Wd = malloc(m * n * sizeof *Wd), *u = malloc(m * k * sizeof *u), *s = malloc(k * sizeof *s),
           *vt = malloc(k * n * sizeof *vt);
    bool ok = Wd && u && s && vt;
    if (ok) {
        f2d(Wd, Wf, m * n);
        ok = ct_svd_f64(c, Wd, m, n, u, s, vt);
    }
    if (ok) {
        for (size_t i = 0; i < m; i++) memcpy(U + i * q, u + i * k, q * sizeof *U);
        memcpy(S, s, q * sizeof *S);
        memcpy(Vt, vt, q * n * sizeof *Vt);
    }
    free(Wd), free(u), free(s), free(vt);
    return ok;
}

ct_status ct_pissa_init(ct_ctx *c, const ct_tensor *W, int r, float scaling, int niter, uint64_t stream, float *A,
                        float *B, float *Wres, const char *what, ct_err *err) {
    if (W->ndim != 2 || (W->dtype != CT_DTYPE_F32 && W->dtype != CT_DTYPE_BF16 && W->dtype != CT_DTYPE_F16))
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "%s: PiSSA needs a float32, bfloat16 or float16 weight (got %s; PEFT refuses quantized "
                          "weights too)", what, ct_dtype_name(W->dtype));
    size_t m = (size_t)W->shape[0], n = (size_t)W->shape[1], q = (size_t)r;
    if (r <= 0 || q >= n || q > m)
        return ct_err_set(err, CT_ERR_ARG, "%s: PiSSA rank %d must be below the input size %zu and at most the output "
                          "size %zu (leave this module out of lora_target)", what, r, n, m);
    ct_tensor_to_f32(W, 0, m * n, Wres); /* W in f32, then the residual in place */
    double *U = malloc(m * q * sizeof *U), *S = malloc(q * sizeof *S), *Vt = malloc(q * n * sizeof *Vt);
    bool ok = U && S && Vt;
    if (ok) ok = niter < 0 ? svd_exact(c, Wres, m, n, q, U, S, Vt) : svd_lowrank(c, Wres, m, n, q, niter, stream, U, S, Vt);
    if (ok) {
        for (size_t a = 0; a < q; a++) {
            double sq = sqrt(S[a] / scaling);
            for (size_t i = 0; i < n; i++) A[a * n + i] = (float)(sq * Vt[a * n + i]);
            for (size_t j = 0; j < m; j++) B[j * q + a] = (float)(U[j * q + a] * sq);
        }
        ct_sgemm(c, false, false, m, n, q, -scaling, B, q, A, n, 1.0f, Wres, n); /* W - scaling B A */
        if (W->dtype == CT_DTYPE_BF16)
            for (size_t i = 0; i < m * n; i++) Wres[i] = ct_bf16_to_f32(ct_f32_to_bf16(Wres[i]));
        else if (W->dtype == CT_DTYPE_F16)
            for (size_t i = 0; i < m * n; i++) Wres[i] = ct_f16_to_f32(ct_f32_to_f16(Wres[i]));
    }
    free(U), free(S), free(Vt);
    if (!ok) return ct_err_set(err, CT_ERR_NUMERIC, "%s: PiSSA: the SVD did not converge (or out of memory)", what);
    return CT_OK;
}
