/* LoRA on a linear layer (PEFT LoraLayer) and DoRA (PEFT DoraLinearLayer): forward, backward and
 * merge (see ops.h). */
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

/* ---- DoRA (PEFT DoraLinearLayer / DoraLinearVariant) ---- */

#define DORA_ROWS 32 /* weight rows decoded and normed per task */

void ct_dora_weight_norm(ct_ctx *c, float *norm, const ct_tensor *W, const ct_lora_ref *lo, size_t out, size_t in) {
    size_t nb = (out + DORA_ROWS - 1) / DORA_ROWS, r = (size_t)lo->r;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (out * in > CT_PAR_MIN_ELEMS)
    for (size_t b = 0; b < nb; b++) {
        size_t j0 = b * DORA_ROWS, nr = out - j0 < DORA_ROWS ? out - j0 : DORA_ROWS;
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        float *w = ct_scratch_f32(ar, nr * in); /* W[j0:j0+nr] + scaling * B[j0:j0+nr] A */
        ct_cpu_block_to_f32(w, W, j0, nr, in, 0, in);
        ct_sgemm(c, false, false, nr, in, r, lo->scaling, lo->B + j0 * r, r, lo->A, in, 1.0f, w, in);
        for (size_t j = 0; j < nr; j++) {
            double ss = 0.0;
            for (size_t i = 0; i < in; i++) ss += (double)w[j * in + i] * w[j * in + i];
            norm[j0 + j] = (float)sqrt(ss);
        }
        ct_arena_release(ar, mk);
    }
}

/* g[j] = m[j] / wnorm[j]: PEFT's mag_norm_scale. */
static float *dora_scale(ct_arena *ar, const ct_lora_ref *lo, size_t out) {
    float *g = ct_scratch_f32(ar, out);
    for (size_t j = 0; j < out; j++) g[j] = lo->mag[j] / lo->wnorm[j];
    return g;
}

void ct_dora_forward(ct_ctx *c, float *y, const float *x, const ct_tensor *W, const ct_tensor *b,
                     const ct_lora_ref *lo, ct_dropout drop, size_t N, size_t in, size_t out) {
    if (!lo->wnorm_fixed) ct_dora_weight_norm(c, lo->wnorm, W, lo, out, in);
    size_t r = (size_t)lo->r;
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *g = dora_scale(ar, lo, out), *bias = ct_scratch_f32(ar, out);
    if (b && b->data) ct_tensor_to_f32(b, 0, out, bias);
    else memset(bias, 0, out * sizeof(float));
    const float *xd = dropped(c, ar, x, drop, N * in);
    float *u = ct_scratch_f32(ar, N * r), *lo_out = ct_scratch_f32(ar, N * out);
    ct_sgemm(c, false, true, N, r, in, 1.0f, xd, in, lo->A, in, 0.0f, u, r);
    ct_sgemm(c, false, true, N, out, r, lo->scaling, u, r, lo->B, r, 0.0f, lo_out, out); /* s (xd A^T) B^T */
    ct_linear_forward(c, y, x, W, NULL, N, in, out);                                      /* x W^T */
    /* the base result the DoRA term scales: x W^T itself, or xd W^T under dropout */
    const float *base = y;
    if (drop.p > 0.0f) {
        float *z = ct_scratch_f32(ar, N * out);
        ct_linear_forward(c, z, xd, W, NULL, N, in, out);
        base = z;
    }
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (N * out > CT_PAR_MIN_ELEMS)
    for (size_t t = 0; t < N; t++)
        for (size_t j = 0; j < out; j++) {
            size_t k = t * out + j;
            y[k] = (y[k] + bias[j]) + ((g[j] - 1.0f) * base[k] + g[j] * lo_out[k]);
        }
    ct_arena_release(ar, mk);
}

void ct_dora_backward(ct_ctx *c, float *dx, const float *dy, const float *x, const ct_tensor *W,
                      const ct_lora_ref *lo, ct_dropout drop, size_t N, size_t in, size_t out) {
    size_t r = (size_t)lo->r;
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *g = dora_scale(ar, lo, out);
    const float *xd = dropped(c, ar, x, drop, N * in);
    float *u = ct_scratch_f32(ar, N * r), *du = ct_scratch_f32(ar, N * r), *dyg = ct_scratch_f32(ar, N * out);
    ct_sgemm(c, false, true, N, r, in, 1.0f, xd, in, lo->A, in, 0.0f, u, r);
    if (lo->dmag) { /* dm[j] += sum_t dy[t,j] * (xd (W + s B A)^T)[t,j] / wnorm[j] */
        float *z = ct_scratch_f32(ar, N * out);
        ct_linear_forward(c, z, xd, W, NULL, N, in, out);
        ct_sgemm(c, false, true, N, out, r, lo->scaling, u, r, lo->B, r, 1.0f, z, out);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (N * out > CT_PAR_MIN_ELEMS)
        for (size_t j = 0; j < out; j++) {
            double acc = 0.0;
            for (size_t t = 0; t < N; t++) acc += (double)dy[t * out + j] * z[t * out + j];
            lo->dmag[j] += (float)(acc / lo->wnorm[j]);
        }
    }
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (N * out > CT_PAR_MIN_ELEMS)
    for (size_t t = 0; t < N; t++)
        for (size_t j = 0; j < out; j++) dyg[t * out + j] = g[j] * dy[t * out + j];
    if (lo->dB) /* dB[out,r] += s dyg^T u */
        ct_sgemm(c, true, false, out, r, N, lo->scaling, dyg, out, u, r, 1.0f, lo->dB, r);
    ct_sgemm(c, false, false, N, r, out, lo->scaling, dyg, out, lo->B, r, 0.0f, du, r); /* du = s dyg B */
    if (lo->dA) ct_sgemm(c, true, false, r, in, N, 1.0f, du, r, xd, in, 1.0f, lo->dA, in);
    if (dx) {
        if (drop.p <= 0.0f) { /* the base and the (g - 1) term share x: dx += (g dy) W + du A */
            ct_linear_backward(c, dx, NULL, NULL, dyg, NULL, W, N, in, out);
            ct_sgemm(c, false, false, N, in, r, 1.0f, du, r, lo->A, in, 1.0f, dx, in);
        } else { /* dx += dy W + drop'(((g - 1) dy) W + du A) */
            ct_linear_backward(c, dx, NULL, NULL, dy, NULL, W, N, in, out);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (N * out > CT_PAR_MIN_ELEMS)
            for (size_t t = 0; t < N; t++)
                for (size_t j = 0; j < out; j++) dyg[t * out + j] = (g[j] - 1.0f) * dy[t * out + j];
            float *dxd = ct_scratch_f32(ar, N * in);
            memset(dxd, 0, N * in * sizeof(float));
            ct_linear_backward(c, dxd, NULL, NULL, dyg, NULL, W, N, in, out);
            ct_sgemm(c, false, false, N, in, r, 1.0f, du, r, lo->A, in, 1.0f, dxd, in);
            float keep = 1.0f / (1.0f - drop.p);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (N * in > CT_PAR_MIN_ELEMS)
            for (size_t i = 0; i < N * in; i++)
                if (ct_rng_uniform(drop.seed, drop.stream, i) >= (double)drop.p) dx[i] += dxd[i] * keep;
        }
    }
    ct_arena_release(ar, mk);
}

void ct_dora_merge(ct_ctx *c, float *W, const ct_lora_ref *lo, size_t out, size_t in) {
    ct_lora_merge(c, W, lo, out, in); /* W + s B A */
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (out * in > CT_PAR_MIN_ELEMS)
    for (size_t j = 0; j < out; j++) {
        double ss = 0.0;
        for (size_t i = 0; i < in; i++) ss += (double)W[j * in + i] * W[j * in + i];
        float f = lo->mag[j] / (float)sqrt(ss);
        for (size_t i = 0; i < in; i++) W[j * in + i] *= f;
    }
}
