/* CPU forward kernels (reference-grade; see src/ops/ops.h for semantics). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

void openblas_set_num_threads(int);

static int g_threads = 0;

void ct_ops_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    g_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int ct_ops_get_threads(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

/* Rows of W converted to f32 per block so sgemm can run on bf16/f16 weights. */
#define LINEAR_BLOCK_ROWS 256

void ct_linear_forward(float *y, const float *x, const ct_tensor *W, const ct_tensor *b, size_t T,
                       size_t K, size_t N) {
    if (W->dtype == CT_DTYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)N, (int)K, 1.0f, x,
                    (int)K, (const float *)W->data, (int)K, 0.0f, y, (int)N);
    } else if (T <= 4) {
        /* Decode: memory-bound matrix-vector product, convert on the fly. */
#pragma omp parallel
        {
            float *row = malloc(K * sizeof(float));
#pragma omp for schedule(static)
            for (size_t n = 0; n < N; n++) {
                ct_tensor_to_f32(W, n * K, K, row);
                for (size_t t = 0; t < T; t++) {
                    const float *xt = x + t * K;
                    float acc = 0.0f;
                    for (size_t k = 0; k < K; k++) acc += row[k] * xt[k];
                    y[t * N + n] = acc;
                }
            }
            free(row);
        }
    } else {
        float *blk = malloc((size_t)LINEAR_BLOCK_ROWS * K * sizeof(float));
        for (size_t n0 = 0; n0 < N; n0 += LINEAR_BLOCK_ROWS) {
            size_t nb = N - n0 < LINEAR_BLOCK_ROWS ? N - n0 : LINEAR_BLOCK_ROWS;
#pragma omp parallel for schedule(static)
            for (size_t r = 0; r < nb; r++) ct_tensor_to_f32(W, (n0 + r) * K, K, blk + r * K);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)nb, (int)K, 1.0f, x,
                        (int)K, blk, (int)K, 0.0f, y + n0, (int)N);
        }
        free(blk);
    }
    if (b && b->data) {
        float *bias = malloc(N * sizeof(float));
        ct_tensor_to_f32(b, 0, N, bias);
        for (size_t t = 0; t < T; t++)
            for (size_t n = 0; n < N; n++) y[t * N + n] += bias[n];
        free(bias);
    }
}

void ct_rmsnorm_forward(float *y, float *rstd, const float *x, const ct_tensor *w, size_t T,
                        size_t C, float eps) {
    float *wf = malloc(C * sizeof(float));
    ct_tensor_to_f32(w, 0, C, wf);
#pragma omp parallel for schedule(static) if (T * C > 65536)
    for (size_t t = 0; t < T; t++) {
        const float *xt = x + t * C;
        float *yt = y + t * C;
        double ss = 0.0;
        for (size_t c = 0; c < C; c++) ss += (double)xt[c] * xt[c];
        float r = 1.0f / sqrtf((float)(ss / (double)C) + eps);
        if (rstd) rstd[t] = r;
        for (size_t c = 0; c < C; c++) yt[c] = xt[c] * r * wf[c];
    }
    free(wf);
}

void ct_rope_forward(float *x, const int32_t *pos, size_t T, size_t H, size_t D, double theta) {
    size_t half = D / 2;
#pragma omp parallel for schedule(static) if (T * H * D > 65536)
    for (size_t t = 0; t < T; t++) {
        for (size_t i = 0; i < half; i++) {
            /* HF computes inv_freq in f32 and the angle as f32 pos * inv_freq. */
            float inv = (float)(1.0 / pow(theta, (double)(2 * i) / (double)D));
            float ang = (float)pos[t] * inv;
            float c = cosf(ang), s = sinf(ang);
            for (size_t h = 0; h < H; h++) {
                float *xh = x + (t * H + h) * D;
                float a = xh[i], b = xh[i + half];
                xh[i] = a * c - b * s;
                xh[i + half] = b * c + a * s;
            }
        }
    }
}

void ct_attention_forward(float *out, float *probs, const float *q, const float *k,
                          const float *v, const int32_t *seg_q, const int32_t *seg_k, size_t T,
                          size_t S, size_t Hq, size_t Hkv, size_t D) {
    size_t group = Hq / Hkv, off = S - T;
    float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel
    {
        float *sc = malloc(S * sizeof(float));
#pragma omp for collapse(2) schedule(dynamic, 4)
        for (size_t h = 0; h < Hq; h++) {
            for (size_t t = 0; t < T; t++) {
                size_t kh = h / group, last = t + off;
                const float *qt = q + (t * Hq + h) * D;
                float mx = -INFINITY;
                for (size_t j = 0; j <= last; j++) {
                    if (seg_q && seg_q[t] != seg_k[j]) {
                        sc[j] = -INFINITY;
                        continue;
                    }
                    const float *kj = k + (j * Hkv + kh) * D;
                    float s = 0.0f;
                    for (size_t d = 0; d < D; d++) s += qt[d] * kj[d];
                    sc[j] = s * scale;
                    if (sc[j] > mx) mx = sc[j];
                }
                float sum = 0.0f;
                for (size_t j = 0; j <= last; j++) {
                    sc[j] = sc[j] == -INFINITY ? 0.0f : expf(sc[j] - mx);
                    sum += sc[j];
                }
                float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
                float *ot = out + (t * Hq + h) * D;
                memset(ot, 0, D * sizeof(float));
                for (size_t j = 0; j <= last; j++) {
                    float p = sc[j] * inv;
                    if (probs) probs[(h * T + t) * S + j] = p;
                    if (p == 0.0f) continue;
                    const float *vj = v + (j * Hkv + kh) * D;
                    for (size_t d = 0; d < D; d++) ot[d] += p * vj[d];
                }
                if (probs)
                    for (size_t j = last + 1; j < S; j++) probs[(h * T + t) * S + j] = 0.0f;
            }
        }
        free(sc);
    }
}

void ct_swiglu_forward(float *out, const float *gate, const float *up, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void ct_embedding_forward(float *out, const int32_t *ids, const ct_tensor *E, size_t T, size_t C) {
    for (size_t t = 0; t < T; t++) ct_tensor_to_f32(E, (size_t)ids[t] * C, C, out + t * C);
}

void ct_add_inplace(float *out, const float *a, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] += a[i];
}
