/* Finite-difference checks of the Gated DeltaNet kernels (ops.h, "Gated DeltaNet"): each op has
 * a double-precision reference forward here, written from the HF math (modeling_qwen3_5.py);
 * the test loss is L = sum(y * R) for a fixed random R, so dL/dy = R is fed to the float
 * backward and every gradient is compared with central differences of the reference. */
#include <stdlib.h>

#include "harness.h"
#include "ops/ops.h"
#include "test_fd.h"

#define TCTX ct_test_ctx()

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- silu, sigmoid gate ---- */
typedef struct { double *x, *g, *R; size_t n; } ew_ctx;
static double silu_loss(void *c_) {
    ew_ctx *c = c_;
    double L = 0;
    for (size_t i = 0; i < c->n; i++) L += c->x[i] * sigm(c->x[i]) * c->R[i];
    return L;
}
static double gate_loss(void *c_) {
    ew_ctx *c = c_;
    double L = 0;
    for (size_t i = 0; i < c->n; i++) L += c->x[i] * sigm(c->g[i]) * c->R[i];
    return L;
}
TEST(grad_deltanet_silu_gate_fd) {
    size_t n = 23;
    ew_ctx c = {drand_vec(n, 4), drand_vec(n, 4), drand_vec(n, 1), n};
    float *x = to_f(c.x, n), *g = to_f(c.g, n), *R = to_f(c.R, n), *y = malloc(n * 4);
    float *dx = calloc(n, 4), *dg = calloc(n, 4);
    ct_silu_forward(TCTX, y, x, n);
    for (size_t i = 0; i < n; i++) CHECK_NEAR(y[i], c.x[i] * sigm(c.x[i]), 1e-6);
    ct_silu_backward(TCTX, dx, R, x, n);
    fd_check("silu dx", c.x, n, dx, silu_loss, &c, 1e-5);
    memset(dx, 0, n * 4);
    ct_sigmoid_gate_forward(TCTX, y, x, g, n);
    for (size_t i = 0; i < n; i++) CHECK_NEAR(y[i], c.x[i] * sigm(c.g[i]), 1e-6);
    ct_sigmoid_gate_backward(TCTX, dx, dg, R, x, g, n);
    fd_check("sigmoid_gate dx", c.x, n, dx, gate_loss, &c, 1e-5);
    fd_check("sigmoid_gate dg", c.g, n, dg, gate_loss, &c, 1e-5);
    memcpy(y, x, n * 4); /* in place */
    ct_sigmoid_gate_forward(TCTX, y, y, g, n);
    for (size_t i = 0; i < n; i++) CHECK_NEAR(y[i], c.x[i] * sigm(c.g[i]), 1e-6);
    free(c.x); free(c.g); free(c.R); free(x); free(g); free(R); free(y); free(dx); free(dg);
}

/* ---- causal depthwise conv1d ---- */
typedef struct { double *x, *w, *R; size_t T, CH, K; } cv_ctx;
static double conv_loss(void *c_) {
    cv_ctx *c = c_;
    double L = 0;
    for (size_t t = 0; t < c->T; t++)
        for (size_t ch = 0; ch < c->CH; ch++) {
            double y = 0;
            for (size_t j = 0; j < c->K; j++)
                if (t + j >= c->K - 1) y += c->w[ch * c->K + j] * c->x[(t + j - (c->K - 1)) * c->CH + ch];
            L += y * c->R[t * c->CH + ch];
        }
    return L;
}
TEST(grad_deltanet_conv1d_fd) {
    size_t T = 9, CH = 5, K = 4;
    cv_ctx c = {drand_vec(T * CH, 1), drand_vec(CH * K, 1), drand_vec(T * CH, 1), T, CH, K};
    float *x = to_f(c.x, T * CH), *w = to_f(c.w, CH * K), *R = to_f(c.R, T * CH), *y = malloc(T * CH * 4);
    float *dx = calloc(T * CH, 4), *dw = calloc(CH * K, 4);
    ct_tensor wt = f32_tensor(w, CH, K);
    ct_conv1d_causal_forward(TCTX, y, x, NULL, &wt, T, CH, K);
    double L = 0;
    for (size_t i = 0; i < T * CH; i++) L += (double)y[i] * c.R[i];
    CHECK_NEAR(L, conv_loss(&c), 1e-5);
    ct_conv1d_causal_backward(TCTX, dx, dw, R, x, &wt, T, CH, K);
    fd_check("conv1d dx", c.x, T * CH, dx, conv_loss, &c, 1e-5);
    fd_check("conv1d dw", c.w, CH * K, dw, conv_loss, &c, 1e-5);

    /* with a conv state: the last K-1 rows of prev|x each call == one call over all rows
     * (the first 3 rows, then 1 row at a time: decode), and bf16 weights read as their values */
    uint16_t *wb = malloc(CH * K * 2);
    for (size_t i = 0; i < CH * K; i++) wb[i] = ct_f32_to_bf16(w[i]), w[i] = ct_bf16_to_f32(wb[i]);
    ct_tensor wbt = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)CH, (int64_t)K}, .data = wb};
    ct_conv1d_causal_forward(TCTX, y, x, NULL, &wt, T, CH, K);
    float *y2 = malloc(T * CH * 4), *buf = calloc((T + K) * CH, 4); /* zeros | x rows so far */
    for (size_t t0 = 0, n = 3; t0 < T; t0 += n, n = 1) {
        memcpy(buf + (K - 1 + t0) * CH, x + t0 * CH, n * CH * 4);
        ct_conv1d_causal_forward(TCTX, y2 + t0 * CH, x + t0 * CH, buf + t0 * CH, &wbt, n, CH, K);
    }
    for (size_t i = 0; i < T * CH; i++) CHECK_NEAR(y2[i], y[i], 1e-6);
    free(wb); free(y2); free(buf);
    free(c.x); free(c.w); free(c.R); free(x); free(w); free(R); free(y); free(dx); free(dw);
}

/* ---- L2 norm (rows of per_row vectors at row stride ld, with gaps) ---- */
typedef struct { double *x, *R; size_t rows, per, D, ld; double eps; } l2_ctx;
static double l2_loss(void *c_) {
    l2_ctx *c = c_;
    double L = 0;
    for (size_t r = 0; r < c->rows; r++)
        for (size_t p = 0; p < c->per; p++) {
            const double *x = c->x + r * c->ld + p * c->D, *R = c->R + r * c->ld + p * c->D;
            double ss = 0;
            for (size_t d = 0; d < c->D; d++) ss += x[d] * x[d];
            for (size_t d = 0; d < c->D; d++) L += x[d] / sqrt(ss + c->eps) * R[d];
        }
    return L;
}
TEST(grad_deltanet_l2norm_fd) {
    size_t rows = 3, per = 2, D = 5, ld = 13, N = rows * ld;
    l2_ctx c = {drand_vec(N, 1), drand_vec(N, 1), rows, per, D, ld, 1e-6};
    float *x = to_f(c.x, N), *R = to_f(c.R, N), *y = calloc(N, 4), *inv = malloc(rows * per * 4);
    float *dx = calloc(N, 4);
    ct_l2norm_forward(TCTX, y, inv, x, rows, per, D, ld, 1e-6f);
    double L = 0;
    for (size_t i = 0; i < N; i++) L += (double)y[i] * c.R[i];
    CHECK_NEAR(L, l2_loss(&c), 1e-5);
    for (size_t r = 0; r < rows; r++) CHECK(y[r * ld + per * D] == 0.0f); /* gap untouched */
    ct_l2norm_backward(TCTX, dx, R, x, inv, rows, per, D, ld);
    fd_check("l2norm dx", c.x, N, dx, l2_loss, &c, 1e-4); /* gaps: 0 on both sides */
    ct_l2norm_forward(TCTX, x, NULL, x, rows, per, D, ld, 1e-6f); /* in place: same values */
    for (size_t r = 0; r < rows; r++) CHECK(memcmp(x + r * ld, y + r * ld, per * D * 4) == 0);
    free(c.x); free(c.R); free(x); free(R); free(y); free(inv); free(dx);
}

/* ---- gated RMSNorm ---- */
typedef struct { double *x, *z, *w, *R; size_t n, D; double eps; } rg_ctx;
static double rg_loss(void *c_) {
    rg_ctx *c = c_;
    double L = 0;
    for (size_t i = 0; i < c->n; i++) {
        const double *x = c->x + i * c->D, *z = c->z + i * c->D;
        double ss = 0;
        for (size_t d = 0; d < c->D; d++) ss += x[d] * x[d];
        double r = 1.0 / sqrt(ss / c->D + c->eps);
        for (size_t d = 0; d < c->D; d++) L += c->w[d] * x[d] * r * z[d] * sigm(z[d]) * c->R[i * c->D + d];
    }
    return L;
}
TEST(grad_deltanet_rmsnorm_gated_fd) {
    size_t n = 70, D = 8; /* two blocks of the dw partial sums */
    rg_ctx c = {drand_vec(n * D, 2), drand_vec(n * D, 3), drand_vec(D, 1), drand_vec(n * D, 1), n, D, 1e-6};
    float *x = to_f(c.x, n * D), *z = to_f(c.z, n * D), *w = to_f(c.w, D), *R = to_f(c.R, n * D);
    float *y = malloc(n * D * 4), *rstd = malloc(n * 4);
    float *dx = calloc(n * D, 4), *dz = calloc(n * D, 4), *dw = calloc(D, 4);
    ct_tensor wt = f32_tensor(w, D, 0);
    ct_rmsnorm_gated_forward(TCTX, y, rstd, x, z, &wt, n, D, 1e-6f);
    double L = 0;
    for (size_t i = 0; i < n * D; i++) L += (double)y[i] * c.R[i];
    CHECK_NEAR(L, rg_loss(&c), 1e-4);
    ct_rmsnorm_gated_backward(TCTX, dx, dz, dw, R, x, z, rstd, &wt, n, D);
    fd_check("rmsnorm_gated dx", c.x, n * D, dx, rg_loss, &c, 1e-4);
    fd_check("rmsnorm_gated dz", c.z, n * D, dz, rg_loss, &c, 1e-4);
    fd_check("rmsnorm_gated dw", c.w, D, dw, rg_loss, &c, 1e-4);
    free(c.x); free(c.z); free(c.w); free(c.R); free(x); free(z); free(w); free(R); free(y); free(rstd);
    free(dx); free(dz); free(dw);
}

/* ---- decay / beta gates ---- */
typedef struct { double *a, *b, *Al, *dt, *R1, *R2; size_t T, H; } gt_ctx;
static double gt_loss(void *c_) {
    gt_ctx *c = c_;
    double L = 0;
    for (size_t t = 0; t < c->T; t++)
        for (size_t h = 0; h < c->H; h++) {
            size_t i = t * c->H + h;
            double x = c->a[i] + c->dt[h], sp = x > 20 ? x : log1p(exp(x));
            L += -exp(c->Al[h]) * sp * c->R1[i] + sigm(c->b[i]) * c->R2[i];
        }
    return L;
}
TEST(grad_deltanet_gates_fd) {
    size_t T = 6, H = 3, n = T * H;
    gt_ctx c = {drand_vec(n, 4), drand_vec(n, 4), drand_vec(H, 1.5), drand_vec(H, 1), drand_vec(n, 1),
                drand_vec(n, 1), T, H};
    c.a[4] = 24.0 - c.dt[1]; /* torch softplus's linear branch (above threshold 20) */
    float *a = to_f(c.a, n), *b = to_f(c.b, n), *Al = to_f(c.Al, H), *dt = to_f(c.dt, H);
    float *R1 = to_f(c.R1, n), *R2 = to_f(c.R2, n), *g = malloc(n * 4), *beta = malloc(n * 4);
    float *da = calloc(n, 4), *db = calloc(n, 4), *dAl = calloc(H, 4), *ddt = calloc(H, 4);
    ct_tensor Alt = f32_tensor(Al, H, 0), dtt = f32_tensor(dt, H, 0);
    ct_deltanet_gates_forward(TCTX, g, beta, a, b, &Alt, &dtt, T, H);
    double L = 0;
    for (size_t i = 0; i < n; i++) L += (double)g[i] * c.R1[i] + (double)beta[i] * c.R2[i];
    CHECK_NEAR(L, gt_loss(&c), 1e-4);
    for (size_t i = 0; i < n; i++) CHECK(g[i] < 0.0f && beta[i] > 0.0f && beta[i] < 1.0f);
    ct_deltanet_gates_backward(TCTX, da, db, dAl, ddt, R1, R2, a, b, &Alt, &dtt, T, H);
    fd_check("gates da", c.a, n, da, gt_loss, &c, 1e-5);
    fd_check("gates db", c.b, n, db, gt_loss, &c, 1e-5);
    fd_check("gates dA_log", c.Al, H, dAl, gt_loss, &c, 1e-5);
    fd_check("gates ddt_bias", c.dt, H, ddt, gt_loss, &c, 1e-5);
    free(c.a); free(c.b); free(c.Al); free(c.dt); free(c.R1); free(c.R2);
    free(a); free(b); free(Al); free(dt); free(R1); free(R2); free(g); free(beta);
    free(da); free(db); free(dAl); free(ddt);
}

/* ---- the gated delta rule (chunked forward + backward vs a double per-token recurrence) ---- */
typedef struct { double *q, *k, *v, *g, *beta, *R; size_t T, Hk, Hv, Dk, Dv; } dn_ctx;
static double dn_loss(void *c_) {
    dn_ctx *c = c_;
    size_t Dk = c->Dk, Dv = c->Dv, ldqk = c->Hk * Dk, ldv = c->Hv * Dv;
    double *S = malloc(Dk * Dv * sizeof(double)), *delta = malloc(Dv * sizeof(double)), L = 0;
    for (size_t h = 0; h < c->Hv; h++) {
        size_t kh = h / (c->Hv / c->Hk);
        memset(S, 0, Dk * Dv * sizeof(double));
        for (size_t t = 0; t < c->T; t++) {
            const double *q = c->q + t * ldqk + kh * Dk, *k = c->k + t * ldqk + kh * Dk;
            const double *v = c->v + t * ldv + h * Dv, *R = c->R + t * ldv + h * Dv;
            double decay = exp(c->g[t * c->Hv + h]), b = c->beta[t * c->Hv + h];
            for (size_t i = 0; i < Dk * Dv; i++) S[i] *= decay;
            for (size_t e = 0; e < Dv; e++) {
                double m = 0;
                for (size_t d = 0; d < Dk; d++) m += S[d * Dv + e] * k[d];
                delta[e] = b * (v[e] - m);
            }
            for (size_t d = 0; d < Dk; d++)
                for (size_t e = 0; e < Dv; e++) S[d * Dv + e] += k[d] * delta[e];
            for (size_t e = 0; e < Dv; e++) {
                double o = 0;
                for (size_t d = 0; d < Dk; d++) o += S[d * Dv + e] * q[d];
                L += o / sqrt((double)Dk) * R[e];
            }
        }
    }
    free(S);
    free(delta);
    return L;
}
/* Realistic inputs: unit q/k vectors, beta = sigmoid(U(-3,3)) and
 * g = -exp(U(-1,1)) softplus(U(-3,1)) times a per-head scale: fast-forgetting heads and slow
 * ones, whose state (and its gradient) crosses chunk boundaries. */
static const double dn_head_scale[4] = {1.0, 0.02, 0.2, 0.005};
static void dn_inputs(dn_ctx *c) {
    size_t nqk = c->T * c->Hk * c->Dk, nv = c->T * c->Hv * c->Dv, ng = c->T * c->Hv;
    c->q = drand_vec(nqk, 1);
    c->k = drand_vec(nqk, 1);
    c->v = drand_vec(nv, 1);
    c->R = drand_vec(nv, 1);
    c->g = malloc(ng * sizeof(double));
    c->beta = malloc(ng * sizeof(double));
    for (size_t i = 0; i < ng; i++) {
        c->g[i] = -exp(urand()) * log1p(exp(2 * urand() - 1)) * dn_head_scale[i % c->Hv % 4];
        c->beta[i] = sigm(3 * urand());
    }
    for (size_t i = 0; i < nqk; i += c->Dk) {
        double sq = 0, sk = 0;
        for (size_t d = 0; d < c->Dk; d++) sq += c->q[i + d] * c->q[i + d], sk += c->k[i + d] * c->k[i + d];
        for (size_t d = 0; d < c->Dk; d++) c->q[i + d] /= sqrt(sq), c->k[i + d] /= sqrt(sk);
    }
}
static void dn_case(size_t T) {
    dn_ctx c = {.T = T, .Hk = 2, .Hv = 4, .Dk = 8, .Dv = 6};
    dn_inputs(&c);
    size_t nqk = T * c.Hk * c.Dk, nv = T * c.Hv * c.Dv, ng = T * c.Hv;
    float *q = to_f(c.q, nqk), *k = to_f(c.k, nqk), *v = to_f(c.v, nv), *g = to_f(c.g, ng);
    float *beta = to_f(c.beta, ng), *R = to_f(c.R, nv), *out = malloc(nv * 4);
    float *saved = malloc(ct_deltanet_saved_floats(T, c.Hv, c.Dk, c.Dv) * 4);
    float *dq = calloc(nqk, 4), *dk = calloc(nqk, 4), *dv = calloc(nv, 4), *dg = calloc(ng, 4);
    float *dbeta = calloc(ng, 4);
    size_t ldqk = c.Hk * c.Dk, ldv = c.Hv * c.Dv;
    ct_deltanet_forward(TCTX, out, NULL, saved, q, k, ldqk, v, ldv, g, beta, T, c.Hk, c.Hv, c.Dk, c.Dv);
    double L = 0;
    for (size_t i = 0; i < nv; i++) L += (double)out[i] * c.R[i];
    double Lref = dn_loss(&c);
    CHECK_MSG(fabs(L - Lref) <= 1e-5 * fmax(1.0, fabs(Lref)), "deltanet T=%zu loss %.9g vs %.9g", T, L, Lref);
    ct_deltanet_backward(TCTX, dq, dk, ldqk, dv, ldv, dg, dbeta, R, saved, q, k, v, g, beta, T, c.Hk, c.Hv,
                         c.Dk, c.Dv);
    char buf[64];
    const char *nm[5] = {"dq", "dk", "dv", "dg", "dbeta"};
    double *p[5] = {c.q, c.k, c.v, c.g, c.beta};
    float *gr[5] = {dq, dk, dv, dg, dbeta};
    size_t n[5] = {nqk, nqk, nv, ng, ng};
    for (int i = 0; i < 5; i++) {
        snprintf(buf, sizeof buf, "deltanet T=%zu %s", T, nm[i]);
        fd_check(buf, p[i], n[i], gr[i], dn_loss, &c, 1e-4);
    }
    free(c.q); free(c.k); free(c.v); free(c.g); free(c.beta); free(c.R);
    free(q); free(k); free(v); free(g); free(beta); free(R); free(out); free(saved);
    free(dq); free(dk); free(dv); free(dg); free(dbeta);
}
TEST(grad_deltanet_fd) {
    dn_case(130); /* chunks of 64, 64 and 2, GQA (2 value heads per k head) */
    dn_case(1);   /* one token */
}
