/* Cross-entropy fused with the LM head, chunked (see ops.h ct_xent_forward_backward). */
#include <string.h>

#include "ops/cpu/cpu.h"

double ct_xent_forward_backward(ct_ctx *c, float *dh, float *dW, const float *h, const ct_tensor *W,
                                const int32_t *labels, const float *weight, size_t T, size_t C,
                                size_t V, float grad_scale, size_t chunk, size_t *n_tokens) {
    if (chunk == 0) chunk = ct_ctx_precision(c) == CT_PRECISION_BF16 ? CT_XENT_CHUNK_BF16 : CT_XENT_CHUNK;
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    size_t *idx = ct_scratch(ar, (T ? T : 1) * sizeof(size_t));
    size_t n = 0;
    for (size_t t = 0; t < T; t++)
        if (labels[t] >= 0 && (size_t)labels[t] < V) idx[n++] = t;
    if (n_tokens) *n_tokens = n;
    size_t cmax = n < chunk ? n : chunk;
    float *hc = ct_scratch_f32(ar, cmax * C), *dhc = ct_scratch_f32(ar, cmax * C);
    float *logits = ct_scratch_f32(ar, cmax * V);
    double *row_loss = ct_scratch(ar, (cmax ? cmax : 1) * sizeof(double));
    double total = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
        size_t nc = n - i0 < chunk ? n - i0 : chunk;
        for (size_t i = 0; i < nc; i++) memcpy(hc + i * C, h + idx[i0 + i] * C, C * sizeof(float));
        ct_linear_forward(c, logits, hc, W, NULL, nc, C, V);
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c))
        for (size_t i = 0; i < nc; i++) {
            size_t t = idx[i0 + i];
            float *lg = logits + i * V;
            float mx = -INFINITY;
            for (size_t j = 0; j < V; j++) mx = lg[j] > mx ? lg[j] : mx;
            /* f32 exponentials (as torch's f32 log_softmax), summed in blocks in double */
            double se = 0.0;
            for (size_t j0 = 0; j0 < V; j0 += 1024) {
                size_t j1 = j0 + 1024 < V ? j0 + 1024 : V;
                float part = 0.0f;
                for (size_t j = j0; j < j1; j++) part += expf(lg[j] - mx);
                se += part;
            }
            double lse = (double)mx + log(se);
            double wt = weight ? (double)weight[t] : 1.0;
            row_loss[i] = wt * (lse - (double)lg[labels[t]]);
            if (grad_scale != 0.0f) {
                /* d(loss_t)/d(logit_j) = softmax_j - [j == label] */
                float gs = (float)(wt * grad_scale);
                float lsef = (float)lse, off = mx - lsef; /* exp(l - lse) = exp((l - mx) + off) */
                for (size_t j = 0; j < V; j++) lg[j] = expf((lg[j] - mx) + off) * gs;
                lg[labels[t]] -= gs;
            }
        }
        for (size_t i = 0; i < nc; i++) total += row_loss[i]; /* in token order: thread-count free */
        if (grad_scale != 0.0f) {
            memset(dhc, 0, nc * C * sizeof(float));
            ct_linear_backward(c, dh ? dhc : NULL, dW, NULL, logits, hc, W, nc, C, V);
            if (dh)
                for (size_t i = 0; i < nc; i++) {
                    float *dst = dh + idx[i0 + i] * C;
                    const float *src = dhc + i * C;
                    for (size_t j = 0; j < C; j++) dst[j] += src[j];
                }
        }
    }
    ct_arena_release(ar, mk);
    return total;
}
