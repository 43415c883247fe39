/* Linear layers: the kernel table (src/ops/kernels.h), its CPU rows and the dispatch. */
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

/* ---- 16-bit weights, few tokens (decode, batched decode): the GEMV of gemv.c ---- */

/* In CT_PRECISION_BF16 up to this many tokens stay exact (the bf16 rows start above it). */
#define MATVEC_MAX_T 4

static void gemv16(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K, size_t N) {
    ct_tensor v = *W; /* the first N rows of K (the caller's view of W) */
    v.ndim = 2, v.shape[0] = (int64_t)N, v.shape[1] = (int64_t)K;
    const ct_tensor *vp = &v;
    ct_gemv_forward(c, ct_gemv_level_best(), &y, x, &vp, 1, T, K);
}

/* ---- ggml Q8_0 / Q4_0 weights, few tokens: the integer GEMV of gemv_quant.c ---- */

static void gemvq(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K, size_t N) {
    ct_tensor v = *W;
    v.ndim = 2, v.shape[0] = (int64_t)N, v.shape[1] = (int64_t)K;
    const ct_tensor *vp = &v;
    ct_gemvq_forward(c, ct_gemvq_level_best(), &y, x, &vp, 1, T, K);
}

/* ---- ggml K-quant weights (a GGUF file's Q4_K / Q5_K / Q6_K), few tokens: gemv_kquant.c ---- */

static void gemvk(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T, size_t K, size_t N) {
    ct_tensor v = *W;
    v.ndim = 2, v.shape[0] = (int64_t)N, v.shape[1] = (int64_t)K;
    const ct_tensor *vp = &v;
    ct_gemvk_forward(c, ct_gemv_level_best(), &y, x, &vp, 1, T, K);
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
    {"bf16-gemv", CT_DTYPE_BF16, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemv16, NULL, NULL, 1e-5},
    {"f16-gemv", CT_DTYPE_F16, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemv16, NULL, NULL, 1e-5},
    /* x rounded to int16 per block of 32 (gemv_quant.c): 2^-16 of each block's max |x| */
    {"q8_0-gemv", CT_DTYPE_Q8_0, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemvq, NULL, NULL, 1e-4},
    {"q4_0-gemv", CT_DTYPE_Q4_0, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemvq, NULL, NULL, 1e-4},
    /* x rounded to int8 per block of 256 (ggml's Q8_K): up to 1/254 of each block's max |x| */
    {"q4_k-gemv", CT_DTYPE_Q4_K, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemvk, NULL, NULL, 1e-2},
    {"q5_k-gemv", CT_DTYPE_Q5_K, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemvk, NULL, NULL, 1e-2},
    {"q6_k-gemv", CT_DTYPE_Q6_K, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemvk, NULL, NULL, 1e-2},
    {"iq4_xs-gemv", CT_DTYPE_IQ4_XS, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemvk, NULL, NULL, 1e-2},
    {"q2_k-gemv", CT_DTYPE_Q2_K, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemvk, NULL, NULL, 1e-2},
    {"q3_k-gemv", CT_DTYPE_Q3_K, CT_PREC_ALL, 1, CT_GEMV_MAX_T, NULL, gemvk, NULL, NULL, 1e-2},
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

void ct_linear_multi_forward(ct_ctx *c, float *const *ys, const float *x, const ct_tensor *const *Ws,
                             const ct_tensor *const *bs, size_t n, size_t T, size_t K) {
    if (T == 0 || n == 0) return;
    /* every matrix on gemv16, or every one on gemvq, or every one on gemvk */
    bool fused = true, quant = true, kquant = true;
    for (size_t i = 0; i < n && (fused || quant || kquant); i++) {
        const ct_linear_kernel *k = ct_linear_pick(c, Ws[i]->dtype, T, CT_LINEAR_FWD);
        fused &= k && k->forward == gemv16 && (size_t)Ws[i]->shape[1] == K;
        quant &= k && k->forward == gemvq && (size_t)Ws[i]->shape[1] == K;
        kquant &= k && k->forward == gemvk && (size_t)Ws[i]->shape[1] == K;
    }
    if (quant || kquant) {
        if (quant) ct_gemvq_forward(c, ct_gemvq_level_best(), ys, x, Ws, n, T, K);
        else ct_gemvk_forward(c, ct_gemv_level_best(), ys, x, Ws, n, T, K);
        for (size_t i = 0; bs && i < n; i++) add_bias(c, ys[i], bs[i], T, (size_t)Ws[i]->shape[0]);
        return;
    }
    if (!fused) {
        for (size_t i = 0; i < n; i++)
            ct_linear_forward(c, ys[i], x, Ws[i], bs ? bs[i] : NULL, T, K, (size_t)Ws[i]->shape[0]);
        return;
    }
    ct_gemv_forward(c, ct_gemv_level_best(), ys, x, Ws, n, T, K);
    for (size_t i = 0; bs && i < n; i++) add_bias(c, ys[i], bs[i], T, (size_t)Ws[i]->shape[0]);
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
