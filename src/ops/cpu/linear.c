/* Linear layers: the kernel table (src/ops/kernels.h), its CPU rows and the dispatch. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "ops/cpu/cpu.h"
#include "ops/kernels.h"

void ct_cpu_block_to_f32(float *out, const ct_tensor *W, size_t r0, size_t nr, size_t K, size_t k0,
                         size_t kw) {
    if (k0 == 0 && kw == K) {
        ct_tensor_to_f32(W, r0 * K, nr * K, out);
        return;
    }
    for (size_t r = 0; r < nr; r++) ct_tensor_to_f32(W, (r0 + r) * K + k0, kw, out + r * kw);
}

/* ---- f32 weights: one sgemm ---- */

static void f32_forward(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K,
                        size_t N) {
    ct_sgemm(c, false, true, T, N, K, 1.0f, x, K, (const float *)W->data, K, 0.0f, y, N);
}

static void f32_dx(ct_ctx *c, float *dx, const float *dy, const ct_tensor *W, size_t T, size_t K,
                   size_t N) {
    ct_sgemm(c, false, false, T, K, N, 1.0f, dy, N, (const float *)W->data, K, 1.0f, dx, K);
}

/* dW[N,K] += dy^T[N,T] · x[T,K] (every f32-precision row, whatever W's dtype). */
static void f32_dw(ct_ctx *c, float *dW, const float *dy, const float *x, size_t T, size_t K, size_t N) {
    ct_sgemm(c, true, false, N, K, T, 1.0f, dy, N, x, K, 1.0f, dW, K);
}

/* ---- bf16 weights, few tokens (decode): memory-bound matrix-vector products ---- */

/* Up to this many tokens a linear layer streams each weight row once and dots it with every
 * token: f32 FMA over 16 (AVX-512) or 8 (AVX2) lanes, summed per row. Exact widening. */
#define MATVEC_MAX_T 4

#if defined(__AVX512F__)
static inline __m512 load_bf16x16(const uint16_t *p) {
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

/* Single token, 4 rows at a time: 4 independent FMA chains and 4 weight streams in flight. */
static void matvec1_bf16_avx512(ct_ctx *c, float *y, const float *x, const uint16_t *W, size_t K,
                                size_t N) {
    size_t N4 = N / 4 * 4;
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c))
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

static void matvec_bf16(ct_ctx *c, float *y, const float *x, const ct_tensor *Wt, size_t T, size_t K,
                        size_t N) {
    const uint16_t *W = (const uint16_t *)Wt->data;
#if defined(__AVX512F__)
    if (T == 1) {
        matvec1_bf16_avx512(c, y, x, W, K, N);
        return;
    }
#endif
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c))
    for (size_t n = 0; n < N; n++) {
        const uint16_t *w = W + n * K;
        float acc[MATVEC_MAX_T];
        size_t k = 0;
#if defined(__AVX512F__)
        __m512 a[MATVEC_MAX_T];
        for (size_t t = 0; t < T; t++) a[t] = _mm512_setzero_ps();
        for (; k + 16 <= K; k += 16) {
            __m512 wf = load_bf16x16(w + k);
            for (size_t t = 0; t < T; t++) a[t] = _mm512_fmadd_ps(wf, _mm512_loadu_ps(x + t * K + k), a[t]);
        }
        for (size_t t = 0; t < T; t++) acc[t] = _mm512_reduce_add_ps(a[t]);
#elif defined(__AVX2__)
        __m256 a[MATVEC_MAX_T];
        for (size_t t = 0; t < T; t++) a[t] = _mm256_setzero_ps();
        for (; k + 8 <= K; k += 8) {
            __m256 wf = _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + k))), 16));
            for (size_t t = 0; t < T; t++) a[t] = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x + t * K + k), a[t]);
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

/* ---- any float dtype: decode blocks of W to f32, then sgemm ---- */

/* Rows of W decoded per block in the forward. */
#define WIDEN_BLOCK_ROWS 128
/* dx: each thread owns DX_BLOCK_COLS columns of dx and walks W's rows in blocks of DX_BLOCK_ROWS,
 * decoding W[rows, its columns] into its own buffer (every weight decoded once, no race on dx). */
#define DX_BLOCK_ROWS 256
#define DX_BLOCK_COLS 128

/* v[i] = bf16(v[i]) as an f32 value (nearest even), on the calling thread. */
static void round_block(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = ct_bf16_to_f32(ct_f32_to_bf16(v[i]));
}

/* dst[i] = bf16(src[i]) as an f32 value (nearest even): the bf16 operand of CT_PRECISION_BF16
 * in f32 storage. dst may be src. */
static void round_bf16_values(ct_ctx *c, float *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (n > CT_PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) dst[i] = ct_bf16_to_f32(ct_f32_to_bf16(src[i]));
}

/* An f32 activation operand, rounded to bf16 values into scratch of the caller's arena when bf16. */
static const float *operand(ct_ctx *c, const float *x, size_t n, bool bf16) {
    if (!bf16) return x;
    float *r = ct_scratch_f32(ct_ctx_arena(c), n);
    round_bf16_values(c, r, x, n);
    return r;
}

static void decode_forward(ct_ctx *c, float *y, const float *x0, const ct_tensor *W, size_t T, size_t K,
                           size_t N, bool bf16) {
    ct_cpu_blas_init();
    ct_arena *ar0 = ct_ctx_arena(c);
    size_t mk0 = ct_arena_mark(ar0);
    const float *x = operand(c, x0, T * K, bf16);
#pragma omp parallel num_threads(ct_ctx_threads(c))
    {
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        float *blk = ct_scratch_f32(ar, (size_t)WIDEN_BLOCK_ROWS * K);
#pragma omp for schedule(dynamic, 1)
        for (size_t n0 = 0; n0 < N; n0 += WIDEN_BLOCK_ROWS) {
            size_t nb = N - n0 < WIDEN_BLOCK_ROWS ? N - n0 : WIDEN_BLOCK_ROWS;
            ct_cpu_block_to_f32(blk, W, n0, nb, K, 0, K);
            if (bf16) round_block(blk, nb * K);
            ct_cpu_sgemm1(false, true, T, nb, K, 1.0f, x, K, blk, K, 0.0f, y + n0, N);
        }
        ct_arena_release(ar, mk);
    }
    ct_arena_release(ar0, mk0);
}

static void decode_dx(ct_ctx *c, float *dx, const float *dy0, const ct_tensor *W, size_t T, size_t K,
                      size_t N, bool bf16) {
    ct_cpu_blas_init();
    ct_arena *ar0 = ct_ctx_arena(c);
    size_t mk0 = ct_arena_mark(ar0);
    const float *dy = operand(c, dy0, T * N, bf16);
    size_t nkb = (K + DX_BLOCK_COLS - 1) / DX_BLOCK_COLS;
#pragma omp parallel num_threads(ct_ctx_threads(c)) if (T * N * K > (1u << 21))
    {
        ct_arena *ar = ct_ctx_arena(c);
        size_t mk = ct_arena_mark(ar);
        float *blk = ct_scratch_f32(ar, (size_t)DX_BLOCK_ROWS * DX_BLOCK_COLS);
#pragma omp for schedule(dynamic, 1)
        for (size_t kb = 0; kb < nkb; kb++) {
            size_t k0 = kb * DX_BLOCK_COLS, kw = K - k0 < DX_BLOCK_COLS ? K - k0 : DX_BLOCK_COLS;
            for (size_t n0 = 0; n0 < N; n0 += DX_BLOCK_ROWS) {
                size_t nb = N - n0 < DX_BLOCK_ROWS ? N - n0 : DX_BLOCK_ROWS;
                ct_cpu_block_to_f32(blk, W, n0, nb, K, k0, kw);
                if (bf16) round_block(blk, nb * kw);
                /* dx[:, k0:k0+kw] += dy[:, n0:n0+nb] · blk[nb, kw] */
                ct_sgemm(c, false, false, T, kw, nb, 1.0f, dy + n0, N, blk, kw, 1.0f, dx + k0, K);
            }
        }
        ct_arena_release(ar, mk);
    }
    ct_arena_release(ar0, mk0);
}

static void widen_forward(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K,
                          size_t N) {
    decode_forward(c, y, x, W, T, K, N, false);
}

static void widen_dx(ct_ctx *c, float *dx, const float *dy, const ct_tensor *W, size_t T, size_t K,
                     size_t N) {
    decode_dx(c, dx, dy, W, T, K, N, false);
}

/* ---- CT_PRECISION_BF16 on any CPU: bf16-rounded operands in f32 storage, sgemm ---- */

/* A product of two bf16 values is exact in f32, so these give the AVX512-BF16 row's products;
 * only the summation order (OpenBLAS's) differs. */
static void round_forward(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K,
                          size_t N) {
    decode_forward(c, y, x, W, T, K, N, true);
}

static void round_dx(ct_ctx *c, float *dx, const float *dy, const ct_tensor *W, size_t T, size_t K,
                     size_t N) {
    decode_dx(c, dx, dy, W, T, K, N, true);
}

static void round_dw(ct_ctx *c, float *dW, const float *dy0, const float *x0, size_t T, size_t K, size_t N) {
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    const float *dy = operand(c, dy0, T * N, true), *x = operand(c, x0, T * K, true);
    f32_dw(c, dW, dy, x, T, K, N);
    ct_arena_release(ar, mk);
}

/* ---- the table ---- */

static bool has_bf16(void) { return ct_cpu_has_bf16(); }

static const ct_linear_kernel k_linear[] = {
    /* CT_PRECISION_BF16 (torch.autocast): operands rounded to bf16 (2^-9 relative), f32 sums */
    {"bf16-avx512bf16", CT_DTYPE_ANY_FLOAT, 1u << CT_PRECISION_BF16, MATVEC_MAX_T + 1, SIZE_MAX, has_bf16,
     ct_cpu_linear_bf16, ct_cpu_linear_bf16_dx, ct_cpu_linear_bf16_dw, 2e-2},
    {"bf16-round-sgemm", CT_DTYPE_ANY_FLOAT, 1u << CT_PRECISION_BF16, MATVEC_MAX_T + 1, SIZE_MAX, NULL,
     round_forward, round_dx, round_dw, 2e-2},
    /* exact: f32 products of the weights as stored */
    {"f32-sgemm", CT_DTYPE_F32, CT_PREC_ALL, 1, SIZE_MAX, NULL, f32_forward, f32_dx, f32_dw, 1e-5},
    {"bf16-matvec", CT_DTYPE_BF16, CT_PREC_ALL, 1, MATVEC_MAX_T, NULL, matvec_bf16, NULL, NULL, 1e-5},
    {"decode-sgemm", CT_DTYPE_ANY_FLOAT, CT_PREC_ALL, 1, SIZE_MAX, NULL, widen_forward, widen_dx, f32_dw, 1e-5},
};

const ct_linear_kernel *ct_linear_kernels(size_t *n) {
    *n = sizeof k_linear / sizeof k_linear[0];
    return k_linear;
}

const ct_linear_kernel *ct_linear_pick(const ct_ctx *c, ct_dtype wtype, size_t T, ct_linear_op op) {
    unsigned prec = 1u << ct_ctx_precision(c);
    for (size_t i = 0; i < sizeof k_linear / sizeof k_linear[0]; i++) {
        const ct_linear_kernel *k = &k_linear[i];
        if ((k->wtype != wtype && !(k->wtype == CT_DTYPE_ANY_FLOAT && ct_dtype_is_float(wtype))) ||
            !(k->precisions & prec) || T < k->min_T || T > k->max_T || (k->available && !k->available()) ||
            !(op == CT_LINEAR_FWD ? k->forward != NULL
              : op == CT_LINEAR_DX ? k->backward_dx != NULL
                                   : k->backward_dw != NULL))
            continue;
        return k;
    }
    return NULL;
}

static void add_bias(ct_ctx *c, float *y, const ct_tensor *b, size_t T, size_t N) {
    if (!b || !b->data) return;
    ct_arena *ar = ct_ctx_arena(c);
    size_t mk = ct_arena_mark(ar);
    float *bias = ct_scratch_f32(ar, N);
    ct_tensor_to_f32(b, 0, N, bias);
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < N; n++) y[t * N + n] += bias[n];
    ct_arena_release(ar, mk);
}

void ct_linear_forward(ct_ctx *c, float *y, const float *x, const ct_tensor *W, const ct_tensor *b,
                       size_t T, size_t K, size_t N) {
    if (T == 0) return;
    ct_linear_pick(c, W->dtype, T, CT_LINEAR_FWD)->forward(c, y, x, W, T, K, N);
    add_bias(c, y, b, T, N);
}

void ct_linear_backward(ct_ctx *c, float *dx, float *dW, float *db, const float *dy, const float *x,
                        const ct_tensor *W, size_t T, size_t K, size_t N) {
    if (T == 0) return;
    if (dx) ct_linear_pick(c, W->dtype, T, CT_LINEAR_DX)->backward_dx(c, dx, dy, W, T, K, N);
    if (dW) ct_linear_pick(c, W->dtype, T, CT_LINEAR_DW)->backward_dw(c, dW, dy, x, T, K, N);
    if (db) {
#pragma omp parallel for schedule(static) num_threads(ct_ctx_threads(c)) if (T * N > CT_PAR_MIN_ELEMS)
        for (size_t n = 0; n < N; n++) {
            float s = 0.0f;
            for (size_t t = 0; t < T; t++) s += dy[t * N + n];
            db[n] += s;
        }
    }
}
