/* The chunked gated delta rule (ct_deltanet_forward) against the per-token recurrence
 * (transformers' torch_recurrent_gated_delta_rule, ct_deltanet_recurrent_forward): short, exact
 * multiple and multi-chunk lengths, GQA, strong decays; a sequence run at once vs in pieces
 * carrying the recurrent state (prefill + decode); and bit-identical results of every Gated
 * DeltaNet kernel on 1 and 2 threads. Gradients: test_grad_deltanet.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/ops.h"

#define TCTX ct_test_ctx()

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *rvec(size_t n, float s) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand() * s;
    return v;
}

/* Inputs of one sequence: q/k rows [T, Hk*Dk] of unit vectors, v [T, Hv*Dv], beta =
 * sigmoid(U(-3,3)), g = -exp(U(-1,1)) softplus(U(-3,1)) (< 0) times gscale and a per-head scale
 * (fast- and slow-forgetting heads). */
static const float head_scale[4] = {1.0f, 0.02f, 0.2f, 0.005f};
typedef struct dn_in {
    size_t T, Hk, Hv, Dk, Dv;
    float *q, *k, *v, *g, *beta;
} dn_in;
static dn_in dn_make(size_t T, size_t Hk, size_t Hv, size_t Dk, size_t Dv, float gscale) {
    dn_in in = {T, Hk, Hv, Dk, Dv, rvec(T * Hk * Dk, 1), rvec(T * Hk * Dk, 1), rvec(T * Hv * Dv, 1),
                malloc(T * Hv * 4), malloc(T * Hv * 4)};
    for (size_t i = 0; i < T * Hv; i++) {
        in.g[i] = gscale * head_scale[i % Hv % 4] * -expf(frand()) * log1pf(expf(2 * frand() - 1));
        in.beta[i] = 1.0f / (1.0f + expf(-3 * frand()));
    }
    ct_l2norm_forward(TCTX, in.q, NULL, in.q, T, Hk, Dk, Hk * Dk, 1e-6f);
    ct_l2norm_forward(TCTX, in.k, NULL, in.k, T, Hk, Dk, Hk * Dk, 1e-6f);
    return in;
}
static void dn_free(dn_in *in) {
    free(in->q); free(in->k); free(in->v); free(in->g); free(in->beta);
}
/* Tokens t0.. of in, chunked (rec 0) or per token (rec 1), into out rows t0.. */
static void dn_run(const dn_in *in, int rec, float *out, float *state, size_t t0, size_t n) {
    size_t ldqk = in->Hk * in->Dk, ldv = in->Hv * in->Dv;
    const float *q = in->q + t0 * ldqk, *k = in->k + t0 * ldqk, *v = in->v + t0 * ldv;
    const float *g = in->g + t0 * in->Hv, *b = in->beta + t0 * in->Hv;
    float *o = out + t0 * ldv;
    if (rec)
        ct_deltanet_recurrent_forward(TCTX, o, state, q, k, ldqk, v, ldv, g, b, n, in->Hk, in->Hv, in->Dk, in->Dv);
    else
        ct_deltanet_forward(TCTX, o, state, NULL, q, k, ldqk, v, ldv, g, b, n, in->Hk, in->Hv, in->Dk, in->Dv);
}
/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n) {
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        mx = fmax(mx, fabs(b[i]));
        d = fmax(d, fabs((double)a[i] - b[i]));
    }
    return d / fmax(mx, 1e-30);
}

TEST(deltanet_chunked_matches_recurrent) {
    static const struct { size_t T, Hk, Hv, Dk, Dv; float gs; } cs[] = {
        {1, 2, 4, 8, 6, 1},    {7, 2, 4, 8, 6, 1},   {64, 2, 4, 8, 6, 1}, {130, 2, 4, 8, 6, 1},
        {150, 1, 2, 32, 16, 1}, /* wider heads */
        {130, 2, 4, 8, 6, 20},  /* strong decay: exp(G) underflows inside a chunk */
        {100, 2, 2, 8, 6, 0.01f}, /* almost no decay */
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        dn_in in = dn_make(cs[ci].T, cs[ci].Hk, cs[ci].Hv, cs[ci].Dk, cs[ci].Dv, cs[ci].gs);
        size_t no = in.T * in.Hv * in.Dv, ns = in.Hv * in.Dk * in.Dv;
        float *o1 = malloc(no * 4), *o2 = malloc(no * 4), *s1 = rvec(ns, 0.5f), *s2 = malloc(ns * 4);
        memcpy(s2, s1, ns * 4);
        dn_run(&in, 0, o1, NULL, 0, in.T);
        dn_run(&in, 1, o2, NULL, 0, in.T);
        double e = rel_err(o1, o2, no);
        CHECK_MSG(e < 1e-5, "deltanet T=%zu Dk=%zu g*%g: chunked vs recurrent rel err %.3g", in.T, in.Dk,
                  (double)cs[ci].gs, e);
        /* from a nonzero state, with the final state */
        dn_run(&in, 0, o1, s1, 0, in.T);
        dn_run(&in, 1, o2, s2, 0, in.T);
        double eo = rel_err(o1, o2, no), es = rel_err(s1, s2, ns);
        CHECK_MSG(eo < 1e-5 && es < 1e-5, "deltanet T=%zu with state: out rel err %.3g, state %.3g", in.T, eo, es);
        free(o1); free(o2); free(s1); free(s2);
        dn_free(&in);
    }
}

TEST(deltanet_state_carry) {
    /* prefill 70 tokens, then 57, then 3 decode steps == 130 at once (and == the recurrence) */
    dn_in in = dn_make(130, 2, 4, 8, 6, 1);
    size_t no = in.T * in.Hv * in.Dv, ns = in.Hv * in.Dk * in.Dv;
    float *s0 = rvec(ns, 0.5f), *sa = malloc(ns * 4), *sb = malloc(ns * 4), *sr = malloc(ns * 4);
    float *oa = malloc(no * 4), *ob = malloc(no * 4), *orr = malloc(no * 4);
    memcpy(sa, s0, ns * 4);
    memcpy(sb, s0, ns * 4);
    memcpy(sr, s0, ns * 4);
    dn_run(&in, 0, oa, sa, 0, in.T);
    dn_run(&in, 0, ob, sb, 0, 70);
    dn_run(&in, 0, ob, sb, 70, 57);
    for (size_t t = 127; t < 130; t++) dn_run(&in, 0, ob, sb, t, 1);
    dn_run(&in, 1, orr, sr, 0, in.T);
    double eo = rel_err(ob, oa, no), es = rel_err(sb, sa, ns);
    CHECK_MSG(eo < 1e-5 && es < 1e-5, "split run vs one run: out rel err %.3g, state %.3g", eo, es);
    eo = rel_err(oa, orr, no), es = rel_err(sa, sr, ns);
    CHECK_MSG(eo < 1e-5 && es < 1e-5, "one run vs recurrence: out rel err %.3g, state %.3g", eo, es);
    /* saved: the state at every chunk start (the first is the initial state) */
    float *saved = malloc(ct_deltanet_saved_floats(in.T, in.Hv, in.Dk, in.Dv) * 4);
    CHECK_EQ_INT(ct_deltanet_saved_floats(in.T, in.Hv, in.Dk, in.Dv), 3 * ns);
    memcpy(sa, s0, ns * 4);
    ct_deltanet_forward(TCTX, oa, sa, saved, in.q, in.k, in.Hk * in.Dk, in.v, in.Hv * in.Dv, in.g, in.beta,
                        in.T, in.Hk, in.Hv, in.Dk, in.Dv);
    CHECK(memcmp(saved, s0, ns * 4) == 0);
    memcpy(sb, s0, ns * 4);
    dn_run(&in, 0, ob, sb, 0, 64);
    CHECK(memcmp(saved + ns, sb, ns * 4) == 0);
    free(s0); free(sa); free(sb); free(sr); free(oa); free(ob); free(orr); free(saved);
    dn_free(&in);
}

/* The delta rule forward / backward and the parallel paths of the small ops (sizes above the
 * fork threshold), on 1 and 2 threads: bitwise equal. */
TEST(deltanet_threads_identical) {
    dn_in in = dn_make(130, 2, 4, 16, 12, 1);
    size_t T = in.T, nqk = T * in.Hk * in.Dk, nv = T * in.Hv * in.Dv, ng = T * in.Hv;
    size_t ns = ct_deltanet_saved_floats(T, in.Hv, in.Dk, in.Dv), ldqk = in.Hk * in.Dk, ldv = in.Hv * in.Dv;
    float *dout = rvec(nv, 1);
    size_t CT = 64, CH = 600, K = 4, nrg = 1100, D = 64, GT = 2100, GH = 32;
    float *cx = rvec(CT * CH, 1), *cw = rvec(CH * K, 1), *cdy = rvec(CT * CH, 1);
    float *rx = rvec(nrg * D, 1), *rz = rvec(nrg * D, 2), *rw = rvec(D, 1), *rdy = rvec(nrg * D, 1);
    float *ga = rvec(GT * GH, 3), *gb = rvec(GT * GH, 3), *gal = rvec(GH, 1), *gdt = rvec(GH, 1);
    float *gdg = rvec(GT * GH, 1), *gdb = rvec(GT * GH, 1);
    ct_tensor cwt = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {(int64_t)CH, (int64_t)K}, .data = cw};
    ct_tensor rwt = {.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {(int64_t)D}, .data = rw};
    ct_tensor galt = {.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {(int64_t)GH}, .data = gal};
    ct_tensor gdtt = {.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {(int64_t)GH}, .data = gdt};
    enum { N_OUT = 16 };
    size_t sz[N_OUT] = {nv, ns, nqk, nqk, nv, ng, ng, CT * CH, CT * CH, CH * K, nrg * D, nrg, nrg * D, nrg * D, D,
                        4 * GT * GH + 2 * GH};
    float *r[2][N_OUT];
    int saved_threads = ct_ctx_threads(TCTX);
    for (int th = 0; th < 2; th++) {
        ct_ctx_set_threads(TCTX, th + 1);
        float **o = r[th];
        for (int i = 0; i < N_OUT; i++) o[i] = calloc(sz[i], 4);
        ct_deltanet_forward(TCTX, o[0], NULL, o[1], in.q, in.k, ldqk, in.v, ldv, in.g, in.beta, T, in.Hk, in.Hv,
                            in.Dk, in.Dv);
        ct_deltanet_backward(TCTX, o[2], o[3], ldqk, o[4], ldv, o[5], o[6], dout, o[1], in.q, in.k, in.v, in.g,
                             in.beta, T, in.Hk, in.Hv, in.Dk, in.Dv);
        ct_conv1d_causal_forward(TCTX, o[7], cx, NULL, &cwt, CT, CH, K);
        ct_conv1d_causal_backward(TCTX, o[8], o[9], cdy, cx, &cwt, CT, CH, K);
        ct_rmsnorm_gated_forward(TCTX, o[10], o[11], rx, rz, &rwt, nrg, D, 1e-6f);
        ct_rmsnorm_gated_backward(TCTX, o[12], o[13], o[14], rdy, rx, rz, o[11], &rwt, nrg, D);
        float *gg = o[15], *gbeta = gg + GT * GH, *gda = gbeta + GT * GH, *gdbb = gda + GT * GH;
        ct_deltanet_gates_forward(TCTX, gg, gbeta, ga, gb, &galt, &gdtt, GT, GH);
        ct_deltanet_gates_backward(TCTX, gda, gdbb, gdbb + GT * GH, gdbb + GT * GH + GH, gdg, gdb, ga, gb, &galt,
                                   &gdtt, GT, GH);
    }
    ct_ctx_set_threads(TCTX, saved_threads);
    for (int i = 0; i < N_OUT; i++) {
        CHECK_MSG(memcmp(r[0][i], r[1][i], sz[i] * 4) == 0, "output %d differs between 1 and 2 threads", i);
        free(r[0][i]);
        free(r[1][i]);
    }
    free(dout); free(cx); free(cw); free(cdy); free(rx); free(rz); free(rw); free(rdy);
    free(ga); free(gb); free(gal); free(gdt); free(gdg); free(gdb);
    dn_free(&in);
}
