/* Finite-difference helpers of the op gradient tests (test_grad_ops.c, test_grad_deltanet.c):
 * a fixed-seed random source, double <-> float vectors, and fd_check, which compares an
 * analytic float gradient with central differences of a double-precision reference loss. */
#ifndef CT_TESTS_FD_H
#define CT_TESTS_FD_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ctune/tensor.h"
#include "harness.h"

static uint64_t g_rng = 88172645463325252ull;
static double urand(void) { /* xorshift64 in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}
static double *drand_vec(size_t n, double s) {
    double *v = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) v[i] = urand() * s;
    return v;
}
static float *to_f(const double *d, size_t n) {
    float *f = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
    return f;
}
static ct_tensor f32_tensor(float *data, int64_t a, int64_t b) {
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = b ? 2 : 1, .shape = {a, b}, .data = data};
    return t;
}

/* Compares analytic grad g (float) with central differences of loss(p) over p[0..n). */
typedef double (*loss_fn)(void *ctx);
static double fd_check(const char *what, double *p, size_t n, const float *g, loss_fn f, void *ctx,
                       double tol) {
    double maxabs = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++) maxabs = fmax(maxabs, fabs(g[i]));
    for (size_t i = 0; i < n; i++) {
        double h = 1e-5 * fmax(1.0, fabs(p[i])), old = p[i];
        p[i] = old + h;
        double lp = f(ctx);
        p[i] = old - h;
        double lm = f(ctx);
        p[i] = old;
        double fd = (lp - lm) / (2 * h);
        maxerr = fmax(maxerr, fabs(fd - g[i]));
    }
    double rel = maxerr / fmax(maxabs, 1e-12);
    CHECK_MSG(rel < tol, "%s: max |fd - grad| = %.3g (rel %.3g, max |grad| %.3g)", what, maxerr, rel,
              maxabs);
    return rel;
}

#endif
