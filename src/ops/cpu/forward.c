/* CPU forward kernels (reference-grade; see src/ops/ops.h for semantics). */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/cpu/cpu.h"

void openblas_set_num_threads(int);

static int g_threads = 0;
static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;

/* See "Threading model" in ops.h. */
static void blas_single_thread(void) { openblas_set_num_threads(1); }
void ct_cpu_blas_init(void) { pthread_once(&g_blas_once, blas_single_thread); }

void ct_ops_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    g_threads = n;
    omp_set_num_threads(n);
    ct_cpu_blas_init();
}

int ct_ops_get_threads(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

/* Below this many multiply-adds a GEMM runs on the calling thread (fork/join costs more). */
#define SGEMM_SPLIT_MIN_WORK (1u << 21)
/* Blocks per thread: more than one so a core slowed by another process is balanced out by the
 * dynamic schedule; at least SGEMM_SPLIT_MIN_COLS wide so OpenBLAS packing stays amortised. */
#define SGEMM_SPLIT_PER_THREAD 2
#define SGEMM_LONG_K 8192
#define SGEMM_SPLIT_MIN_COLS 64

static void sgemm1(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void ct_sgemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
              size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    ct_cpu_blas_init();
    if (M == 0 || N == 0) return;
    size_t nt = (size_t)ct_ops_get_threads();
    bool split_n = N >= M; /* split the longer side of C */
    size_t dim = split_n ? N : M;
    /* every block re-packs the shared operand (op(A) when splitting N): with a long K (the LM
     * head's dx, K = vocab) one block per thread (measured 168 vs 200 ms at 64x896x151936) */
    size_t per = K > SGEMM_LONG_K ? 1 : SGEMM_SPLIT_PER_THREAD;
    size_t bs = (dim + nt * per - 1) / (nt * per);
    bs = (bs + 15) / 16 * 16;
    if (bs < SGEMM_SPLIT_MIN_COLS) bs = SGEMM_SPLIT_MIN_COLS;
    size_t nb = (dim + bs - 1) / bs;
    if (nt <= 1 || nb < 2 || omp_in_parallel() || (double)M * N * K < SGEMM_SPLIT_MIN_WORK) {
        sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)nt)
    for (size_t b = 0; b < nb; b++) {
        size_t o = b * bs, w = dim - o < bs ? dim - o : bs;
        if (split_n) /* columns o..o+w of C: columns of op(B) */
            sgemm1(ta, tb, M, w, K, alpha, A, lda, tb ? B + o * ldb : B + o, ldb, beta, C + o, ldc);
        else /* rows o..o+w of C: rows of op(A) */
            sgemm1(ta, tb, w, N, K, alpha, ta ? A + o : A + o * lda, lda, B, ldb, beta, C + o * ldc,
                   ldc);
    }
}

void ct_sgemm_nt(float *C, const float *A, const float *B, size_t M, size_t N, size_t K) {
    ct_sgemm(false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
}

/* Rows of W widened to f32 per block so sgemm can run on bf16/f16 weights. */
#define LINEAR_BLOCK_ROWS 128
/* Up to this many tokens a linear layer is a memory-bound matrix-vector product: each weight row
 * is streamed once and dotted with every token (decode). */
#define LINEAR_MATVEC_MAX_T 4

void ct_cpu_bf16_to_f32(float *out, const uint16_t *in, size_t n) {
    size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(in + i));
        _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
#elif defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(in + i));
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
    }
#endif
    for (; i < n; i++) out[i] = ct_bf16_to_f32(in[i]);
}

void ct_cpu_block_to_f32(float *out, const ct_tensor *W, size_t r0, size_t nr, size_t K, size_t k0,
                         size_t kw) {
    if (k0 == 0 && kw == K) {
        if (W->dtype == CT_DTYPE_BF16)
            ct_cpu_bf16_to_f32(out, (const uint16_t *)W->data + r0 * K, nr * K);
        else
            ct_tensor_to_f32(W, r0 * K, nr * K, out);
        return;
    }
    for (size_t r = 0; r < nr; r++) {
        size_t off = (r0 + r) * K + k0;
        if (W->dtype == CT_DTYPE_BF16)
            ct_cpu_bf16_to_f32(out + r * kw, (const uint16_t *)W->data + off, kw);
        else
            ct_tensor_to_f32(W, off, kw, out + r * kw);
    }
}

/* y[t, n] = dot(W[n, :], x[t, :]) for t < T <= LINEAR_MATVEC_MAX_T, bf16 W read directly:
 * f32 FMA over 16 (AVX-512) or 8 (AVX2) lanes, summed per row. Exact widening, f32 sums. */
#if defined(__AVX512F__)
static inline __m512 load_bf16x16(const uint16_t *p) {
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

/* Single token, 4 rows at a time: 4 independent FMA chains and 4 weight streams in flight. */
static void matvec1_bf16_avx512(float *y, const float *x, const uint16_t *W, size_t K, size_t N) {
    size_t N4 = N / 4 * 4;
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N4; n += 4) {
        const uint16_t *w0 = W + n * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t k = 0;
        for (; k + 16 <= K; k += 16) {
            __m512 xv = _mm512_loadu_ps(x + k);
            a0 = _mm512_fmadd_ps(load_bf16x16(w0 + k), xv, a0);
            a1 = _mm512_fmadd_ps(load_bf16x16(w1 + k), xv, a1);
            a2 = _mm512_fmadd_ps(load_bf16x16(w2 + k), xv, a2);
            a3 = _mm512_fmadd_ps(load_bf16x16(w3 + k), xv, a3);
        }
        float s0 = _mm512_reduce_add_ps(a0), s1 = _mm512_reduce_add_ps(a1);
        float s2 = _mm512_reduce_add_ps(a2), s3 = _mm512_reduce_add_ps(a3);
        for (; k < K; k++) {
            s0 += ct_bf16_to_f32(w0[k]) * x[k];
            s1 += ct_bf16_to_f32(w1[k]) * x[k];
            s2 += ct_bf16_to_f32(w2[k]) * x[k];
            s3 += ct_bf16_to_f32(w3[k]) * x[k];
        }
        y[n] = s0, y[n + 1] = s1, y[n + 2] = s2, y[n + 3] = s3;
    }
    for (size_t n = N4; n < N; n++) {
        float s = 0.0f;
        for (size_t k = 0; k < K; k++) s += ct_bf16_to_f32(W[n * K + k]) * x[k];
        y[n] = s;
    }
}
#endif

static void matvec_bf16(float *y, const float *x, const uint16_t *W, size_t T, size_t K, size_t N) {
#if defined(__AVX512F__)
    if (T == 1) {
        matvec1_bf16_avx512(y, x, W, K, N);
        return;
    }
#endif
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N; n++) {
        const uint16_t *w = W + n * K;
        float acc[LINEAR_MATVEC_MAX_T];
        size_t k = 0;
#if defined(__AVX512F__)
        __m512 a[LINEAR_MATVEC_MAX_T];
        for (size_t t = 0; t < T; t++) a[t] = _mm512_setzero_ps();
        for (; k + 16 <= K; k += 16) {
            __m512 wf = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + k))), 16));
            for (size_t t = 0; t < T; t++)
                a[t] = _mm512_fmadd_ps(wf, _mm512_loadu_ps(x + t * K + k), a[t]);
        }
        for (size_t t = 0; t < T; t++) acc[t] = _mm512_reduce_add_ps(a[t]);
#elif defined(__AVX2__)
        __m256 a[LINEAR_MATVEC_MAX_T];
        for (size_t t = 0; t < T; t++) a[t] = _mm256_setzero_ps();
        for (; k + 8 <= K; k += 8) {
            __m256 wf = _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + k))), 16));
            for (size_t t = 0; t < T; t++)
                a[t] = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x + t * K + k), a[t]);
        }
        for (size_t t = 0; t < T; t++) {
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(a[t]), _mm256_extractf128_ps(a[t], 1));
            s = _mm_hadd_ps(s, s);
            s = _mm_hadd_ps(s, s);
            acc[t] = _mm_cvtss_f32(s);
        }
#else
        for (size_t t = 0; t < T; t++) acc[t] = 0.0f;
#endif
        for (; k < K; k++) {
            float wk = ct_bf16_to_f32(w[k]);
            for (size_t t = 0; t < T; t++) acc[t] += wk * x[t * K + k];
        }
        for (size_t t = 0; t < T; t++) y[t * N + n] = acc[t];
    }
}

void ct_linear_forward(float *y, const float *x, const ct_tensor *W, const ct_tensor *b, size_t T,
                       size_t K, size_t N) {
    if (W->dtype == CT_DTYPE_F32) {
        ct_sgemm_nt(y, x, (const float *)W->data, T, N, K);
    } else if (T <= LINEAR_MATVEC_MAX_T && W->dtype == CT_DTYPE_BF16) {
        matvec_bf16(y, x, (const uint16_t *)W->data, T, K, N);
    } else if (W->dtype == CT_DTYPE_BF16 && ct_cpu_linear_bf16(y, x, (const uint16_t *)W->data, T, K, N)) {
        /* opt-in bf16 compute (ops.h ct_ops_set_bf16_compute) */
    } else {
        /* Prefill (and f16/f64 weights): each thread widens blocks of LINEAR_BLOCK_ROWS rows to
         * f32 in its own buffer and runs a single-threaded sgemm on them. */
        ct_cpu_blas_init();
#pragma omp parallel
        {
            float *blk = malloc((size_t)LINEAR_BLOCK_ROWS * K * sizeof(float));
#pragma omp for schedule(dynamic, 1)
            for (size_t n0 = 0; n0 < N; n0 += LINEAR_BLOCK_ROWS) {
                size_t nb = N - n0 < LINEAR_BLOCK_ROWS ? N - n0 : LINEAR_BLOCK_ROWS;
                ct_cpu_block_to_f32(blk, W, n0, nb, K, 0, K);
                sgemm1(false, true, T, nb, K, 1.0f, x, K, blk, K, 0.0f, y + n0, N);
            }
            free(blk);
        }
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
    ct_cpu_rope_rotate(x, pos, T, H, D, theta, 1.0f);
}

void ct_cpu_rope_rotate(float *x, const int32_t *pos, size_t T, size_t H, size_t D, double theta,
                        float sign) {
    size_t half = D / 2;
#pragma omp parallel for schedule(static) if (T * H * D > 65536)
    for (size_t t = 0; t < T; t++) {
        for (size_t i = 0; i < half; i++) {
            /* HF computes inv_freq in f32 and the angle as f32 pos * inv_freq. */
            float inv = (float)(1.0 / pow(theta, (double)(2 * i) / (double)D));
            float ang = (float)pos[t] * inv;
            float c = cosf(ang), s = sign * sinf(ang);
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
                float inv = ct_cpu_attn_row(sc, qt, k, Hkv, kh, D, last, scale, seg_q ? seg_k : NULL,
                                            seg_q ? seg_q[t] : 0);
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
