/* LoRA forward/backward/init (see lora.h). */
#include "peft/lora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "base/rng.h"

/* Returns x itself, or a malloc'd dropped copy (caller frees when != x). */
static const float *lora_drop(const float *x, size_t N, size_t in, float p, uint64_t seed,
                              uint64_t stream) {
    if (p <= 0.0f) return x;
    float *xd = malloc(N * in * sizeof(float));
    float keep = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (N * in > 65536)
    for (size_t i = 0; i < N * in; i++)
        xd[i] = ct_rng_uniform(seed, stream, i) < (double)p ? 0.0f : x[i] * keep;
    return xd;
}

void ct_lora_forward(float *y, const float *x, const float *A, const float *B, size_t N,
                     size_t in, size_t out, int r, float scaling, float dropout, uint64_t seed,
                     uint64_t stream) {
    const float *xd = lora_drop(x, N, in, dropout, seed, stream);
    float *u = malloc(N * (size_t)r * sizeof(float)); /* u[N,r] = xd A^T */
    ct_sgemm(false, true, (int)N, r, (int)in, 1.0f, xd, (int)in, A,
                (int)in, 0.0f, u, r);
    ct_sgemm(false, true, (int)N, (int)out, r, scaling, u, r, B, r,
                1.0f, y, (int)out);
    free(u);
    if (xd != x) free((void *)xd);
}

void ct_lora_backward(float *dx, float *dA, float *dB, const float *dy, const float *x,
                      const float *A, const float *B, size_t N, size_t in, size_t out, int r,
                      float scaling, float dropout, uint64_t seed, uint64_t stream) {
    const float *xd = lora_drop(x, N, in, dropout, seed, stream);
    size_t nr = N * (size_t)r;
    float *u = malloc(nr * sizeof(float)), *du = malloc(nr * sizeof(float));
    if (dB) { /* dB[out,r] += scaling * dy^T u */
        ct_sgemm(false, true, (int)N, r, (int)in, 1.0f, xd,
                    (int)in, A, (int)in, 0.0f, u, r);
        ct_sgemm(true, false, (int)out, r, (int)N, scaling, dy,
                    (int)out, u, r, 1.0f, dB, r);
    }
    /* du[N,r] = scaling * dy B */
    ct_sgemm(false, false, (int)N, r, (int)out, scaling, dy,
                (int)out, B, r, 0.0f, du, r);
    if (dA) /* dA[r,in] += du^T xd */
        ct_sgemm(true, false, r, (int)in, (int)N, 1.0f, du, r, xd,
                    (int)in, 1.0f, dA, (int)in);
    if (dx) {
        if (dropout <= 0.0f) {
            ct_sgemm(false, false, (int)N, (int)in, r, 1.0f, du,
                        r, A, (int)in, 1.0f, dx, (int)in);
        } else {
            float *dxd = malloc(N * in * sizeof(float));
            ct_sgemm(false, false, (int)N, (int)in, r, 1.0f, du,
                        r, A, (int)in, 0.0f, dxd, (int)in);
            float keep = 1.0f / (1.0f - dropout);
#pragma omp parallel for schedule(static) if (N * in > 65536)
            for (size_t i = 0; i < N * in; i++)
                if (ct_rng_uniform(seed, stream, i) >= (double)dropout) dx[i] += dxd[i] * keep;
            free(dxd);
        }
    }
    free(u);
    free(du);
    if (xd != x) free((void *)xd);
}

void ct_lora_init_a(float *A, int r, size_t in, uint64_t seed, uint64_t stream) {
    double bound = 1.0 / sqrt((double)in);
    for (size_t i = 0; i < (size_t)r * in; i++)
        A[i] = (float)((2.0 * ct_rng_uniform(seed, stream, i) - 1.0) * bound);
}

float ct_lora_scaling(double alpha, int r, int rslora) {
    return (float)(rslora ? alpha / sqrt((double)r) : alpha / (double)r);
}
