/* Finite-difference checks of every backward kernel of src/ops/ops.h (the Gated DeltaNet ones:
 * test_grad_deltanet.c).
 * Each op has a double-precision reference forward here; the scalar test loss is
 * L = sum(y * R) for a fixed random R, so dL/dy = R is fed to the float backward, and every
 * input/weight gradient is compared with central differences of the double reference. */
#include <stdlib.h>

#include "harness.h"
#include "ops/ops.h"
#include "test_fd.h"

#define TCTX ct_test_ctx()

/* ---- linear ---- */
typedef struct { double *x, *W, *b, *R; size_t T, K, N; } lin_ctx;
static double lin_loss(void *c_) {
    lin_ctx *c = c_;
    double L = 0;
    for (size_t t = 0; t < c->T; t++)
        for (size_t n = 0; n < c->N; n++) {
            double y = c->b[n];
            for (size_t k = 0; k < c->K; k++) y += c->x[t * c->K + k] * c->W[n * c->K + k];
            L += y * c->R[t * c->N + n];
        }
    return L;
}
TEST(grad_linear_fd) {
    size_t T = 5, K = 7, N = 6;
    lin_ctx c = {drand_vec(T * K, 1), drand_vec(N * K, 1), drand_vec(N, 1), drand_vec(T * N, 1), T, K, N};
    float *x = to_f(c.x, T * K), *W = to_f(c.W, N * K), *R = to_f(c.R, T * N);
    float *dx = calloc(T * K, 4), *dW = calloc(N * K, 4), *db = calloc(N, 4);
    ct_tensor Wt = f32_tensor(W, N, K);
    ct_linear_backward(TCTX, dx, dW, db, R, x, &Wt, T, K, N);
    fd_check("linear dx", c.x, T * K, dx, lin_loss, &c, 1e-5);
    fd_check("linear dW", c.W, N * K, dW, lin_loss, &c, 1e-5);
    fd_check("linear db", c.b, N, db, lin_loss, &c, 1e-5);
    /* bf16 weights: dx uses the bf16 values, compare with f32 weights rounded to bf16. */
    uint16_t *Wb = malloc(N * K * 2);
    float *Wr = malloc(N * K * 4);
    for (size_t i = 0; i < N * K; i++) {
        Wb[i] = ct_f32_to_bf16(W[i]);
        Wr[i] = ct_bf16_to_f32(Wb[i]);
    }
    ct_tensor Wbt = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {N, K}, .data = Wb};
    ct_tensor Wrt = f32_tensor(Wr, N, K);
    float *dx1 = calloc(T * K, 4), *dx2 = calloc(T * K, 4);
    ct_linear_backward(TCTX, dx1, NULL, NULL, R, x, &Wbt, T, K, N);
    ct_linear_backward(TCTX, dx2, NULL, NULL, R, x, &Wrt, T, K, N);
    for (size_t i = 0; i < T * K; i++) CHECK_NEAR(dx1[i], dx2[i], 1e-5);
    /* accumulation: a second call doubles the gradient */
    float db1[6];
    memcpy(db1, db, sizeof db1);
    ct_linear_backward(TCTX, NULL, NULL, db, R, x, &Wt, T, K, N);
    for (size_t i = 0; i < N; i++) CHECK_NEAR(db[i], 2 * db1[i], 1e-6);
    free(Wb); free(Wr); free(dx1); free(dx2);
    free(c.x); free(c.W); free(c.b); free(c.R); free(x); free(W); free(R); free(dx); free(dW); free(db);
}

/* ---- rmsnorm ---- */
typedef struct { double *x, *w, *R; size_t T, C; double eps; int w_add; } rms_ctx;
static double rms_loss(void *c_) {
    rms_ctx *c = c_;
    double L = 0;
    for (size_t t = 0; t < c->T; t++) {
        double ss = 0;
        for (size_t i = 0; i < c->C; i++) ss += c->x[t * c->C + i] * c->x[t * c->C + i];
        double r = 1.0 / sqrt(ss / c->C + c->eps);
        for (size_t i = 0; i < c->C; i++) L += c->x[t * c->C + i] * r * (c->w_add + c->w[i]) * c->R[t * c->C + i];
    }
    return L;
}
TEST(grad_rmsnorm_fd) {
    size_t T = 4, C = 9;
    for (int k = 0; k < 2; k++) { /* plain, and Qwen3.5's 1 + w */
        rms_ctx c = {drand_vec(T * C, 2), drand_vec(C, 1), drand_vec(T * C, 1), T, C, 1e-6, k};
        float *x = to_f(c.x, T * C), *w = to_f(c.w, C), *R = to_f(c.R, T * C);
        float *y = malloc(T * C * 4), *rstd = malloc(T * 4), *dx = calloc(T * C, 4), *dw = calloc(C, 4);
        ct_tensor wt = f32_tensor(w, C, 0);
        ct_rmsnorm_forward(TCTX, y, rstd, x, &wt, (float)k, T, C, 1e-6f);
        double L = 0;
        for (size_t i = 0; i < T * C; i++) L += (double)y[i] * c.R[i];
        CHECK_NEAR(L, rms_loss(&c), 1e-4);
        ct_rmsnorm_backward(TCTX, dx, dw, R, x, rstd, &wt, (float)k, T, C);
        fd_check("rmsnorm dx", c.x, T * C, dx, rms_loss, &c, 1e-4);
        fd_check("rmsnorm dw", c.w, C, dw, rms_loss, &c, 1e-4);
        free(c.x); free(c.w); free(c.R); free(x); free(w); free(R); free(y); free(rstd); free(dx); free(dw);
    }
}

/* ---- rope ---- */
typedef struct { double *x, *R; const int32_t *pos; size_t T, H, D, Rd; double theta, scale; } rope_ctx;
static double rope_loss(void *c_) {
    rope_ctx *c = c_;
    double L = 0;
    size_t half = c->Rd / 2;
    for (size_t t = 0; t < c->T; t++) /* the dims past Rd pass unchanged */
        for (size_t h = 0; h < c->H; h++)
            for (size_t i = c->Rd; i < c->D; i++) L += c->x[(t * c->H + h) * c->D + i] * c->R[(t * c->H + h) * c->D + i];
    for (size_t t = 0; t < c->T; t++)
        for (size_t h = 0; h < c->H; h++)
            for (size_t i = 0; i < half; i++) {
                double inv = (float)(1.0 / pow(c->theta, (double)(2 * i) / (double)c->Rd));
                double ang = (float)((float)c->pos[t] * (float)inv);
                const double *xh = c->x + (t * c->H + h) * c->D;
                const double *rh = c->R + (t * c->H + h) * c->D;
                double a = xh[i], b = xh[i + half];
                double cs = cos(ang) * c->scale, sn = sin(ang) * c->scale;
                L += (a * cs - b * sn) * rh[i] + (b * cs + a * sn) * rh[i + half];
            }
    return L;
}
TEST(grad_rope_fd) {
    size_t T = 3, H = 2, D = 8;
    int32_t pos[3] = {0, 5, 17};
    float inv[4];
    for (int i = 0; i < 4; i++) inv[i] = (float)(1.0 / pow(1e4, 2.0 * i / 8.0));
    for (int k = 0; k < 3; k++) { /* plain, YaRN's attention factor on cos / sin, partial rotary (4 of 8) */
        double scale = k == 1 ? 1.1386294361119891 : 1.0;
        size_t Rd = k == 2 ? 4 : D;
        for (size_t i = 0; i < Rd / 2; i++) inv[i] = (float)(1.0 / pow(1e4, 2.0 * (double)i / (double)Rd));
        rope_ctx c = {drand_vec(T * H * D, 1), drand_vec(T * H * D, 1), pos, T, H, D, Rd, 10000.0, scale};
        float *dx = to_f(c.R, T * H * D), *y = to_f(c.x, T * H * D);
        ct_rope_backward(TCTX, dx, pos, T, H, D, Rd, inv, (float)scale);
        ct_rope_forward(TCTX, y, pos, T, H, D, Rd, inv, (float)scale);
        double L = 0;
        for (size_t i = 0; i < T * H * D; i++) L += (double)y[i] * c.R[i];
        CHECK_NEAR(L, rope_loss(&c), 1e-4);
        fd_check("rope dx", c.x, T * H * D, dx, rope_loss, &c, 1e-5);
        free(c.x); free(c.R); free(dx); free(y);
    }
}

/* ---- attention (GQA, causal, packed segments) ---- */
typedef struct { double *q, *k, *v, *R; const int32_t *seg; size_t T, Hq, Hkv, D; } att_ctx;
static double att_loss(void *c_) {
    att_ctx *c = c_;
    size_t T = c->T, Hq = c->Hq, Hkv = c->Hkv, D = c->D, g = Hq / Hkv;
    double L = 0, *s = malloc(T * sizeof(double));
    for (size_t h = 0; h < Hq; h++)
        for (size_t t = 0; t < T; t++) {
            size_t kh = h / g;
            double mx = -1e300, sum = 0;
            for (size_t j = 0; j <= t; j++) {
                if (c->seg && c->seg[j] != c->seg[t]) continue;
                double d = 0;
                for (size_t e = 0; e < D; e++) d += c->q[(t * Hq + h) * D + e] * c->k[(j * Hkv + kh) * D + e];
                s[j] = d / sqrt((double)D);
                mx = fmax(mx, s[j]);
            }
            for (size_t j = 0; j <= t; j++) {
                if (c->seg && c->seg[j] != c->seg[t]) continue;
                s[j] = exp(s[j] - mx);
                sum += s[j];
            }
            for (size_t j = 0; j <= t; j++) {
                if (c->seg && c->seg[j] != c->seg[t]) continue;
                for (size_t e = 0; e < D; e++)
                    L += s[j] / sum * c->v[(j * Hkv + kh) * D + e] * c->R[(t * Hq + h) * D + e];
            }
        }
    free(s);
    return L;
}
static void att_case(const int32_t *seg, const char *name) {
    size_t T = 6, Hq = 4, Hkv = 2, D = 4;
    att_ctx c = {drand_vec(T * Hq * D, 1), drand_vec(T * Hkv * D, 1), drand_vec(T * Hkv * D, 1),
                 drand_vec(T * Hq * D, 1), seg, T, Hq, Hkv, D};
    float *q = to_f(c.q, T * Hq * D), *k = to_f(c.k, T * Hkv * D), *v = to_f(c.v, T * Hkv * D);
    float *R = to_f(c.R, T * Hq * D);
    float *dq = calloc(T * Hq * D, 4), *dk = calloc(T * Hkv * D, 4), *dv = calloc(T * Hkv * D, 4);
    ct_attention_backward(TCTX, dq, dk, dv, R, q, k, v, seg, T, Hq, Hkv, D);
    /* the forward kernel agrees with the double reference */
    float *out = malloc(T * Hq * D * 4);
    ct_attention_forward(TCTX, out, q, k, v, seg, seg, T, T, Hq, Hkv, D);
    double L = 0;
    for (size_t i = 0; i < T * Hq * D; i++) L += (double)out[i] * c.R[i];
    CHECK_NEAR(L, att_loss(&c), 1e-4);
    char buf[64];
    snprintf(buf, sizeof buf, "%s dq", name);
    fd_check(buf, c.q, T * Hq * D, dq, att_loss, &c, 1e-4);
    snprintf(buf, sizeof buf, "%s dk", name);
    fd_check(buf, c.k, T * Hkv * D, dk, att_loss, &c, 1e-4);
    snprintf(buf, sizeof buf, "%s dv", name);
    fd_check(buf, c.v, T * Hkv * D, dv, att_loss, &c, 1e-4);
    free(c.q); free(c.k); free(c.v); free(c.R); free(q); free(k); free(v); free(R);
    free(dq); free(dk); free(dv); free(out);
}
TEST(grad_attention_fd) {
    att_case(NULL, "attention causal");
    int32_t seg[6] = {0, 0, 0, 1, 1, 2};
    att_case(seg, "attention packed");
}

/* ---- swiglu ---- */
typedef struct { double *g, *u, *R; size_t n; } sw_ctx;
static double sw_loss(void *c_) {
    sw_ctx *c = c_;
    double L = 0;
    for (size_t i = 0; i < c->n; i++) L += c->g[i] / (1 + exp(-c->g[i])) * c->u[i] * c->R[i];
    return L;
}
TEST(grad_swiglu_fd) {
    size_t n = 20;
    sw_ctx c = {drand_vec(n, 4), drand_vec(n, 2), drand_vec(n, 1), n};
    float *g = to_f(c.g, n), *u = to_f(c.u, n), *R = to_f(c.R, n);
    float *dg = calloc(n, 4), *du = calloc(n, 4);
    ct_swiglu_backward(TCTX, dg, du, R, g, u, n);
    fd_check("swiglu dgate", c.g, n, dg, sw_loss, &c, 1e-5);
    fd_check("swiglu dup", c.u, n, du, sw_loss, &c, 1e-5);
    free(c.g); free(c.u); free(c.R); free(g); free(u); free(R); free(dg); free(du);
}

/* ---- embedding ---- */
TEST(grad_embedding_scatter) {
    size_t C = 3, T = 4;
    int32_t ids[4] = {1, 3, 1, 0};
    float dout[12], dE[15] = {0};
    for (int i = 0; i < 12; i++) dout[i] = (float)(i + 1);
    ct_embedding_backward(TCTX, dE, NULL, dout, ids, T, C);
    for (size_t c = 0; c < C; c++) {
        CHECK_NEAR(dE[0 * C + c], dout[3 * C + c], 0);
        CHECK_NEAR(dE[1 * C + c], dout[0 * C + c] + dout[2 * C + c], 0);
        CHECK_NEAR(dE[2 * C + c], 0, 0);
        CHECK_NEAR(dE[3 * C + c], dout[1 * C + c], 0);
        CHECK_NEAR(dE[4 * C + c], 0, 0);
    }
}

/* ---- fused LM head + cross-entropy ---- */
typedef struct { double *h, *W; const int32_t *lab; const float *wt; size_t T, C, V; } xe_ctx;
static double xe_loss(void *c_) {
    xe_ctx *c = c_;
    double L = 0, *lg = malloc(c->V * sizeof(double));
    for (size_t t = 0; t < c->T; t++) {
        if (c->lab[t] < 0) continue;
        double mx = -1e300, se = 0;
        for (size_t v = 0; v < c->V; v++) {
            lg[v] = 0;
            for (size_t i = 0; i < c->C; i++) lg[v] += c->h[t * c->C + i] * c->W[v * c->C + i];
            mx = fmax(mx, lg[v]);
        }
        for (size_t v = 0; v < c->V; v++) se += exp(lg[v] - mx);
        L += (c->wt ? c->wt[t] : 1.0) * (mx + log(se) - lg[c->lab[t]]);
    }
    free(lg);
    return L;
}
TEST(grad_lm_head_xent_fd) {
    size_t T = 7, C = 5, V = 11;
    int32_t lab[7] = {3, -100, 0, 10, -100, 4, 4};
    float wt[7] = {1.0f, 1.0f, 0.5f, 2.0f, 1.0f, 1.0f, 0.25f};
    xe_ctx c = {drand_vec(T * C, 1), drand_vec(V * C, 1), lab, wt, T, C, V};
    float *h = to_f(c.h, T * C), *W = to_f(c.W, V * C);
    ct_tensor Wt = f32_tensor(W, V, C);
    for (size_t chunk = 1; chunk <= 8; chunk += 3) { /* chunking never changes the result */
        float *dh = calloc(T * C, 4), *dW = calloc(V * C, 4);
        size_t nt = 0;
        double L = ct_xent_forward_backward(TCTX, dh, dW, h, &Wt, lab, wt, T, C, V, 1.0f, chunk, &nt);
        CHECK_EQ_INT(nt, 5);
        CHECK_NEAR(L, xe_loss(&c), 1e-5 * fabs(L));
        fd_check("xent dh", c.h, T * C, dh, xe_loss, &c, 1e-5);
        fd_check("xent dW", c.W, V * C, dW, xe_loss, &c, 1e-5);
        for (size_t i = C; i < 2 * C; i++) CHECK(dh[i] == 0.0f); /* ignored token */
        free(dh);
        free(dW);
    }
    /* loss only: grad_scale 0 touches nothing */
    float dh0 = 123.0f;
    double L0 = ct_xent_forward_backward(TCTX, &dh0, NULL, h, &Wt, lab, NULL, T, C, V, 0.0f, 4, NULL);
    CHECK(dh0 == 123.0f);
    CHECK(L0 > 0);
    free(c.h); free(c.W); free(h); free(W);
}

TEST(grad_all_finite) {
    float a[4] = {1, 2, 3, 4};
    CHECK(ct_all_finite(TCTX, a, 4));
    a[2] = NAN;
    CHECK(!ct_all_finite(TCTX, a, 4));
    a[2] = INFINITY;
    CHECK(!ct_all_finite(TCTX, a, 4));
}

/* ---- LoRA linear with dropout (mask from the counter RNG, recomputed in the backward) ---- */
#include "base/rng.h"
typedef struct { double *x, *A, *B, *R; size_t N, in, out; int r; double s, p; } lo_ctx;
static double lo_loss(void *c_) {
    lo_ctx *c = c_;
    double L = 0;
    for (size_t t = 0; t < c->N; t++)
        for (size_t o = 0; o < c->out; o++) {
            double y = 0;
            for (int k = 0; k < c->r; k++) {
                double u = 0;
                for (size_t i = 0; i < c->in; i++) {
                    size_t e = t * c->in + i;
                    double xd = ct_rng_uniform(7, 99, e) < c->p ? 0.0 : c->x[e] / (1.0 - c->p);
                    u += xd * c->A[(size_t)k * c->in + i];
                }
                y += c->s * c->B[o * (size_t)c->r + (size_t)k] * u;
            }
            L += y * c->R[t * c->out + o];
        }
    return L;
}
TEST(grad_lora_dropout_fd) {
    size_t N = 4, in = 6, out = 5;
    int r = 3;
    lo_ctx c = {drand_vec(N * in, 1), drand_vec((size_t)r * in, 1), drand_vec(out * (size_t)r, 1),
                drand_vec(N * out, 1), N, in, out, r, 1.5, 0.3};
    float *x = to_f(c.x, N * in), *A = to_f(c.A, (size_t)r * in), *B = to_f(c.B, out * (size_t)r);
    float *R = to_f(c.R, N * out);
    float *dx = calloc(N * in, 4), *dA = calloc((size_t)r * in, 4), *dB = calloc(out * (size_t)r, 4);
    float *y = calloc(N * out, 4);
    ct_lora_ref lo = {.A = A, .B = B, .dA = dA, .dB = dB, .r = r, .scaling = 1.5f};
    ct_dropout drop = {0.3f, 7, 99};
    ct_lora_forward(TCTX, y, x, &lo, drop, N, in, out);
    double L = 0;
    for (size_t i = 0; i < N * out; i++) L += (double)y[i] * c.R[i];
    CHECK_NEAR(L, lo_loss(&c), 1e-4);
    ct_lora_backward(TCTX, dx, R, x, &lo, drop, N, in, out);
    fd_check("lora dropout dx", c.x, N * in, dx, lo_loss, &c, 1e-5);
    fd_check("lora dropout dA", c.A, (size_t)r * in, dA, lo_loss, &c, 1e-5);
    fd_check("lora dropout dB", c.B, out * (size_t)r, dB, lo_loss, &c, 1e-5);
    size_t zeros = 0;
    for (size_t i = 0; i < N * in; i++) zeros += dx[i] == 0.0f;
    CHECK(zeros > 0 && zeros < N * in); /* some inputs dropped, not all */
    free(c.x); free(c.A); free(c.B); free(c.R); free(x); free(A); free(B); free(R);
    free(dx); free(dA); free(dB); free(y);
}

TEST(grad_linear_bf16_blocks) {
    /* N > GRAD_BLOCK_ROWS: the bf16 path converts W in several row blocks */
    size_t T = 5, K = 7, N = 600;
    double *xd = drand_vec(T * K, 1), *Wd = drand_vec(N * K, 1), *Rd = drand_vec(T * N, 1);
    float *x = to_f(xd, T * K), *R = to_f(Rd, T * N), *Wr = malloc(N * K * 4);
    uint16_t *Wb = malloc(N * K * 2);
    for (size_t i = 0; i < N * K; i++) {
        Wb[i] = ct_f32_to_bf16((float)Wd[i]);
        Wr[i] = ct_bf16_to_f32(Wb[i]);
    }
    ct_tensor Wbt = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {N, K}, .data = Wb};
    float *dx1 = calloc(T * K, 4), *dx2 = calloc(T * K, 4);
    ct_linear_backward(TCTX, dx1, NULL, NULL, R, x, &Wbt, T, K, N);
    for (size_t t = 0; t < T; t++)
        for (size_t k = 0; k < K; k++) {
            double s = 0;
            for (size_t n = 0; n < N; n++) s += (double)R[t * N + n] * Wr[n * K + k];
            dx2[t * K + k] = (float)s;
        }
    for (size_t i = 0; i < T * K; i++) CHECK_NEAR(dx1[i], dx2[i], 1e-4);
    free(xd); free(Wd); free(Rd); free(x); free(R); free(Wr); free(Wb); free(dx1); free(dx2);
}

TEST(grad_attention_blocked_matches_naive) {
    /* T > the query block (256) and >= 32 so the sgemm path runs, with packed segments */
    size_t T = 300, Hq = 4, Hkv = 2, D = 8;
    double *qd = drand_vec(T * Hq * D, 1), *kd = drand_vec(T * Hkv * D, 1), *vd = drand_vec(T * Hkv * D, 1);
    double *rd = drand_vec(T * Hq * D, 1);
    float *q = to_f(qd, T * Hq * D), *k = to_f(kd, T * Hkv * D), *v = to_f(vd, T * Hkv * D), *R = to_f(rd, T * Hq * D);
    int32_t *seg = malloc(T * sizeof(int32_t));
    for (int withseg = 0; withseg < 2; withseg++) {
        for (size_t t = 0; t < T; t++) seg[t] = (int32_t)(t / 70);
        const int32_t *sg = withseg ? seg : NULL;
        float *a[3], *b[3];
        size_t n[3] = {T * Hq * D, T * Hkv * D, T * Hkv * D};
        for (int i = 0; i < 3; i++) a[i] = calloc(n[i], 4), b[i] = calloc(n[i], 4);
        /* blocked forward == reference forward */
        float *o1 = malloc(n[0] * 4), *o2 = malloc(n[0] * 4);
        ct_attention_forward(TCTX, o1, q, k, v, sg, sg, T, T, Hq, Hkv, D);
        ct_attention_forward_rows(TCTX, o2, q, k, v, sg, sg, T, T, Hq, Hkv, D);
        double fmx = 0, fd = 0;
        for (size_t j = 0; j < n[0]; j++) fmx = fmax(fmx, fabs(o2[j])), fd = fmax(fd, fabs(o1[j] - o2[j]));
        CHECK_MSG(fd <= 1e-5 * fmx, "blocked attention forward differs: %.3g of %.3g", fd, fmx);
        free(o1);
        free(o2);
        ct_attention_backward(TCTX, a[0], a[1], a[2], R, q, k, v, sg, T, Hq, Hkv, D);
        ct_attention_backward_rows(TCTX, b[0], b[1], b[2], R, q, k, v, sg, T, Hq, Hkv, D);
        for (int i = 0; i < 3; i++) {
            double mx = 0, d = 0;
            for (size_t j = 0; j < n[i]; j++) mx = fmax(mx, fabs(b[i][j])), d = fmax(d, fabs(a[i][j] - b[i][j]));
            CHECK_MSG(d <= 1e-5 * mx, "blocked attention grad %d differs: %.3g of %.3g (segments %d)", i, d, mx, withseg);
            free(a[i]);
            free(b[i]);
        }
    }
    free(qd); free(kd); free(vd); free(rd); free(q); free(k); free(v); free(R); free(seg);
}
