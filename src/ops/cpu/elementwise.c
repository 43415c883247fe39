/* Element-wise kernels: SwiGLU, residual add, embedding gather / scatter, dropout, finiteness. */
#include <string.h>

#include "base/rng.h"
#include "ops/cpu/cpu.h"

void ct_swiglu_forward(ct_ctx *c, float *out, const float *gate, const float *up, size_t n) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void ct_swiglu_backward(ct_ctx *c, float *dg, float *du, const float *dout, const float *g,
                        const float *u, size_t n) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        float sg = 1.0f / (1.0f + expf(-g[i]));
        float silu = g[i] * sg;
        if (du) du[i] += dout[i] * silu;
        if (dg) dg[i] += dout[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
    }
}

void ct_add_inplace(ct_ctx *c, float *out, const float *a, size_t n) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) out[i] += a[i];
}

void ct_embedding_forward(ct_ctx *c, float *out, const int32_t *ids, const ct_tensor *E,
                          const float *virt, size_t T, size_t C) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * C > CT_PAR_MIN_ELEMS)
    for (size_t t = 0; t < T; t++) {
        if (ids[t] < 0)
            memcpy(out + t * C, virt + (size_t)(-1 - ids[t]) * C, C * sizeof(float));
        else
            ct_tensor_to_f32(E, (size_t)ids[t] * C, C, out + t * C);
    }
}

void ct_embedding_backward(ct_ctx *c, float *dE, float *dvirt, const float *dout, const int32_t *ids,
                           size_t T, size_t C) {
    if (!dE && !dvirt) return;
    /* rows may repeat, so parallelise over columns instead of tokens */
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * C > CT_PAR_MIN_ELEMS)
    for (size_t j = 0; j < C; j++)
        for (size_t t = 0; t < T; t++) {
            if (ids[t] < 0) {
                if (dvirt) dvirt[(size_t)(-1 - ids[t]) * C + j] += dout[t * C + j];
            } else if (dE) {
                dE[(size_t)ids[t] * C + j] += dout[t * C + j];
            }
        }
}

void ct_dropout_forward(ct_ctx *c, float *out, const float *x, ct_dropout drop, size_t n) {
    float keep = 1.0f / (1.0f - drop.p);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++)
        out[i] = ct_rng_uniform(drop.seed, drop.stream, i) < (double)drop.p ? 0.0f : x[i] * keep;
}

bool ct_all_finite(ct_ctx *c, const float *x, size_t n) {
    int ok = 1;
#pragma omp parallel for schedule(static) reduction(&& : ok) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) ok = ok && isfinite(x[i]);
    return ok;
}
