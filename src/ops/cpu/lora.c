/* LoRA on a linear layer (PEFT LoraLayer): forward, backward and merge (see ops.h). */
#include <string.h>

#include "base/rng.h"
#include "ops/cpu/cpu.h"

/* x itself, or (dropout on) the dropped copy in the caller's arena. */
static const float *dropped(ct_ctx *c, ct_arena *ar, const float *x, ct_dropout drop, size_t n) {
    if (drop.p <= 0.0f) return x;
    float *xd = ct_scratch_f32(ar, n);
    ct_dropout_forward(c, xd, x, drop, n);
    return xd;
}

void ct_lora_forward(ct_ctx *c, float *y, const float *x, const ct_lora_ref *lo, ct_dropout drop,
                     size_t N, size_t in, size_t out) {
    size_t r = (size_t)lo->r;
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    const float *xd = dropped(c, ar, x, drop, N * in);
    float *u = ct_scratch_f32(ar, N * r); /* u[N,r] = xd A^T */
    ct_sgemm(c, false, true, N, r, in, 1.0f, xd, in, lo->A, in, 0.0f, u, r);
    ct_sgemm(c, false, true, N, out, r, lo->scaling, u, r, lo->B, r, 1.0f, y, out);
    ct_arena_release(ar, mk);
}

void ct_lora_backward(ct_ctx *c, float *dx, const float *dy, const float *x, const ct_lora_ref *lo,
                      ct_dropout drop, size_t N, size_t in, size_t out) {
    size_t r = (size_t)lo->r;
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    const float *xd = dropped(c, ar, x, drop, N * in);
    float *u = ct_scratch_f32(ar, N * r), *du = ct_scratch_f32(ar, N * r);
    if (lo->dB) { /* dB[out,r] += scaling * dy^T u */
        ct_sgemm(c, false, true, N, r, in, 1.0f, xd, in, lo->A, in, 0.0f, u, r);
        ct_sgemm(c, true, false, out, r, N, lo->scaling, dy, out, u, r, 1.0f, lo->dB, r);
    }
    /* du[N,r] = scaling * dy B */
    ct_sgemm(c, false, false, N, r, out, lo->scaling, dy, out, lo->B, r, 0.0f, du, r);
    if (lo->dA) /* dA[r,in] += du^T xd */
        ct_sgemm(c, true, false, r, in, N, 1.0f, du, r, xd, in, 1.0f, lo->dA, in);
    if (dx) {
        if (drop.p <= 0.0f) {
            ct_sgemm(c, false, false, N, in, r, 1.0f, du, r, lo->A, in, 1.0f, dx, in);
        } else { /* through the same mask: dx += drop'(du A) */
            float *dxd = ct_scratch_f32(ar, N * in);
            ct_sgemm(c, false, false, N, in, r, 1.0f, du, r, lo->A, in, 0.0f, dxd, in);
            float keep = 1.0f / (1.0f - drop.p);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (N * in > CT_PAR_MIN_ELEMS)
            for (size_t i = 0; i < N * in; i++)
                if (ct_rng_uniform(drop.seed, drop.stream, i) >= (double)drop.p) dx[i] += dxd[i] * keep;
        }
    }
    ct_arena_release(ar, mk);
}

void ct_lora_merge(ct_ctx *c, float *W, const ct_lora_ref *lo, size_t out, size_t in) {
    /* W[out,in] += scaling * B[out,r] A[r,in] */
    ct_sgemm(c, false, false, out, in, (size_t)lo->r, lo->scaling, lo->B, (size_t)lo->r, lo->A, in, 1.0f, W, in);
}
