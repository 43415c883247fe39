/* RMSNorm and RoPE (see ops.h). */
#include <omp.h>
#include <string.h>

#include "ops/cpu/cpu.h"

/* The norm's scale in f32: w, or 1 + w (HF's f32 `1.0 + weight.float()`). */
static float *norm_scale(ct_arena *ar, const ct_tensor *w, float w_add, size_t C) {
    float *wf = ct_scratch_f32(ar, C);
    ct_tensor_to_f32(w, 0, C, wf);
    if (w_add != 0.0f)
        for (size_t i = 0; i < C; i++) wf[i] = w_add + wf[i];
    return wf;
}

void ct_rmsnorm_forward(ct_ctx *c, float *y, float *rstd, const float *x, const ct_tensor *w, float w_add, size_t T,
                        size_t C, float eps) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *wf = norm_scale(ar, w, w_add, C);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * C > CT_PAR_MIN_ELEMS)
    for (size_t t = 0; t < T; t++) {
        const float *xt = x + t * C;
        float *yt = y + t * C;
        double ss = 0.0;
        for (size_t i = 0; i < C; i++) ss += (double)xt[i] * xt[i];
        float r = 1.0f / sqrtf((float)(ss / (double)C) + eps);
        if (rstd) rstd[t] = r;
        for (size_t i = 0; i < C; i++) yt[i] = xt[i] * r * wf[i];
    }
    ct_arena_release(ar, mk);
}

void ct_rmsnorm_backward(ct_ctx *c, float *dx, float *dw, const float *dy, const float *x,
                         const float *rstd, const ct_tensor *w, float w_add, size_t T, size_t C) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *wf = norm_scale(ar, w, w_add, C);
    /* dw: one partial sum per thread, added in thread order afterwards */
    int nth = T * C > CT_PAR_MIN_ELEMS ? ct_ctx_threads(c) : 1;
    float *dwl = dw ? ct_scratch_f32(ar, (size_t)nth * C) : NULL;
    if (dwl) memset(dwl, 0, (size_t)nth * C * sizeof(float));
#pragma omp parallel num_threads(nth)
    {
        float *mydw = dwl ? dwl + (size_t)omp_get_thread_num() * C : NULL;
#pragma omp for schedule(static)
        for (size_t t = 0; t < T; t++) {
            const float *xt = x + t * C, *dyt = dy + t * C;
            float r = rstd[t];
            double dot = 0.0; /* sum_c w*dy*x */
            for (size_t i = 0; i < C; i++) dot += (double)wf[i] * dyt[i] * xt[i];
            float k = (float)(dot / (double)C) * r * r * r;
            if (dx) {
                float *dxt = dx + t * C;
                for (size_t i = 0; i < C; i++) dxt[i] += r * wf[i] * dyt[i] - k * xt[i];
            }
            if (mydw)
                for (size_t i = 0; i < C; i++) mydw[i] += dyt[i] * xt[i] * r;
        }
    }
    if (dw)
        for (int i = 0; i < nth; i++)
            for (size_t j = 0; j < C; j++) dw[j] += dwl[(size_t)i * C + j];
    ct_arena_release(ar, mk);
}

/* In-place rotation of the first R dims of every head of x[T, H, D] (HF rotate_half, f32 angle
 * pos * inv_freq as HF computes it) by +angle (sign 1: the forward) or -angle (sign -1: the
 * backward, the transpose). */
static void rope_rotate(ct_ctx *c, float *x, const int32_t *pos, size_t T, size_t H, size_t D, size_t R,
                        const float *inv_freq, float scale, float sign) {
    size_t half = R / 2;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * H * D > CT_PAR_MIN_ELEMS)
    for (size_t t = 0; t < T; t++) {
        for (size_t i = 0; i < half; i++) {
            float ang = (float)pos[t] * inv_freq[i];
            float cs = cosf(ang) * scale, sn = sign * (sinf(ang) * scale);
            for (size_t h = 0; h < H; h++) {
                float *xh = x + (t * H + h) * D;
                float a = xh[i], b = xh[i + half];
                xh[i] = a * cs - b * sn;
                xh[i + half] = b * cs + a * sn;
            }
        }
    }
}

void ct_rope_forward(ct_ctx *c, float *x, const int32_t *pos, size_t T, size_t H, size_t D, size_t R,
                     const float *inv_freq, float scale) {
    rope_rotate(c, x, pos, T, H, D, R, inv_freq, scale, 1.0f);
}

void ct_rope_backward(ct_ctx *c, float *dx, const int32_t *pos, size_t T, size_t H, size_t D, size_t R,
                      const float *inv_freq, float scale) {
    rope_rotate(c, dx, pos, T, H, D, R, inv_freq, scale, -1.0f);
}
