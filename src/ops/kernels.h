/* The linear kernel table. ct_linear_forward / ct_linear_backward take, for each of the three
 * products (forward, input gradient dx, weight gradient dW), the FIRST row that serves the
 * weight's dtype, the token count T and the context's precision (and whose CPU check passes) and
 * has that product, so a new weight format (4-bit NF4/FP4 or int8 blocks, a GPU) is one more row,
 * not another `if`. The kernel test (tests/test_ops_kernels.c) runs every row directly (CPU
 * checks aside) against the exact f32 reference on random shapes, within the row's tolerance.
 *
 * CT_PRECISION_BF16 (torch.autocast(bfloat16) for linear layers), T > 4 tokens, any float
 * weight dtype: x (forward), dy (dx) and dy, x (dW) are rounded to bf16 (nearest even), W is
 * rounded to bf16 (f32 weights) or decoded block by block and rounded (f16, quantized formats;
 * never a whole 16-bit copy of W), products are exact in f32 and summed in f32. Row
 * bf16-avx512bf16 runs that with vdpbf16ps; row bf16-round-sgemm, on every CPU, rounds the
 * operands to bf16 values in f32 storage and runs sgemm: the same products, another summation
 * order (it gives autocast's numbers, not its speed: it is slower than the f32 rows). The
 * outputs stay f32: torch's autocast linear returns y and dx in bf16, and the bf16 weight copy's
 * gradient is rounded to bf16 before it is added to the f32 .grad; we skip those three
 * roundings. T <= 4 (decode) stays exact in both modes. */
#ifndef CT_OPS_KERNELS_H
#define CT_OPS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h"

/* y[T,N] = x[T,K] W[N,K]^T (no bias). */
typedef void (*ct_linear_fwd_fn)(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T,
                                 size_t K, size_t N);
/* dx[T,K] += dy[T,N] W[N,K]. */
typedef void (*ct_linear_dx_fn)(ct_ctx *c, float *dx, const float *dy, const ct_tensor *W, size_t T,
                                size_t K, size_t N);
/* dW[N,K] += dy[T,N]^T x[T,K] (f32 buffer, whatever W's dtype). */
typedef void (*ct_linear_dw_fn)(ct_ctx *c, float *dW, const float *dy, const float *x, size_t T,
                                size_t K, size_t N);

/* The three products of a linear layer, for ct_linear_pick. */
typedef enum ct_linear_op { CT_LINEAR_FWD, CT_LINEAR_DX, CT_LINEAR_DW } ct_linear_op;

#define CT_DTYPE_ANY_FLOAT CT_DTYPE_COUNT /* a row for every dtype with a to_f32 decoder */
#define CT_PREC_ALL ((1u << CT_PRECISION_F32) | (1u << CT_PRECISION_BF16))

typedef struct ct_linear_kernel {
    const char *name;
    ct_dtype wtype;            /* the weight dtype it serves, or CT_DTYPE_ANY_FLOAT */
    unsigned precisions;       /* bit 1 << p for each ct_precision it serves */
    size_t min_T, max_T;       /* token counts it serves */
    bool (*available)(void);   /* CPU feature check; NULL: always */
    ct_linear_fwd_fn forward;  /* NULL: this row has no forward (the next matching row serves) */
    ct_linear_dx_fn backward_dx; /* NULL: likewise for the input gradient */
    ct_linear_dw_fn backward_dw; /* NULL: likewise for the weight gradient */
    double tol;                /* max |err| / max |ref| against the exact f32 reference */
} ct_linear_kernel;

/* The table, in the order the dispatcher tries it. */
const ct_linear_kernel *ct_linear_kernels(size_t *n);
/* The row that computes product `op` for a weight of dtype wtype and T tokens in c's precision
 * (NULL: none, e.g. an integer dtype). */
const ct_linear_kernel *ct_linear_pick(const ct_ctx *c, ct_dtype wtype, size_t T, ct_linear_op op);

/* ---- decode GEMV (src/ops/cpu/gemv.c): 16-bit weights, few tokens ----
 * y[T, N] = x[T, K] W[N, K]^T for bf16 / f16 W and T <= CT_GEMV_MAX_T: every weight streamed
 * once per call for all T tokens, widened exactly in registers, f32 sums. The linear table's
 * rows bf16-gemv / f16-gemv and ct_linear_multi_forward run it at the best level the CPU has;
 * the kernel test runs every level the CPU supports against a double reference. */
#define CT_GEMV_MAX_T 8
typedef enum ct_gemv_level { CT_GEMV_SCALAR, CT_GEMV_AVX2, CT_GEMV_AVX512, CT_GEMV_LEVELS } ct_gemv_level;
bool ct_gemv_level_available(ct_gemv_level lv);
ct_gemv_level ct_gemv_level_best(void);
const char *ct_gemv_level_name(ct_gemv_level lv);
/* The pre-arranged copy of x a level reads for dtype dt (ct_gemv_xp_floats floats; 0: none). */
size_t ct_gemv_xp_floats(ct_gemv_level lv, ct_dtype dt, size_t T, size_t K);
void ct_gemv_prepare(ct_gemv_level lv, ct_dtype dt, float *xp, const float *x, size_t T, size_t K);
/* Rows [n0, n1) of y (row stride ldy) on the calling thread; xp from ct_gemv_prepare. */
void ct_gemv_rows(ct_gemv_level lv, float *y, size_t ldy, const float *x, const float *xp, const ct_tensor *W,
                  size_t T, size_t K, size_t n0, size_t n1);
/* ys[i][T, N_i] = x W_i^T for n matrices sharing x (N_i = Ws[i]->shape[0], K columns each), in
 * one parallel region: the rows of all matrices, concatenated, are split into one equal static
 * range per thread. */
void ct_gemv_forward(ct_ctx *c, ct_gemv_level lv, float *const *ys, const float *x, const ct_tensor *const *Ws,
                     size_t n, size_t T, size_t K);
/* The opt-in reduced-precision batched GEMV (src/ops/cpu/gemv_bf16dot.c): bf16 W only, x rounded
 * to bf16 (nearest even) by ct_gemv_bf16dot_prepare into xb[T][ct_gemv_bf16dot_ld(K)] (rows
 * zero-padded), vdpbf16ps products summed in f32. ct_gemv_forward takes it when
 * ct_ctx_gemv_bf16dot(c) and T >= 2 and every W is bf16. Rows only where available(). */
bool ct_gemv_bf16dot_available(void);
size_t ct_gemv_bf16dot_ld(size_t K);
void ct_gemv_bf16dot_prepare(uint16_t *xb, const float *x, size_t T, size_t K);
void ct_gemv_bf16dot_rows(float *y, size_t ldy, const uint16_t *xb, const ct_tensor *W, size_t T, size_t K,
                          size_t n0, size_t n1);

/* ---- decode GEMV for ggml Q8_0 / Q4_0 weights (src/ops/cpu/gemv_quant.c) ----
 * The same contract as above for W of dtype CT_DTYPE_Q8_0 / CT_DTYPE_Q4_0 (K a multiple of 32):
 * x is quantized per token to ggml's Q8_0 activation blocks (32 int8 codes, f16 scale) once per
 * call, integer block dot products, f32 sums over blocks (the numerics are stated in
 * gemv_quant.c). Levels and their CPU checks are gemv.c's. */
typedef struct ct_gemvq_x {
    int8_t *q;     /* [T, ldq] codes in block order (ldq = K) */
    float *d;      /* [T, K / 32] block scales (f16 values; NaN for a block holding a NaN or an infinity) */
    int32_t *bias; /* [T, K / 32] -8 * the sum of each block's 32 codes (Q4_0's code offset) */
    size_t T, K, ldq;
} ct_gemvq_x;
bool ct_gemvq_level_available(ct_gemv_level lv);
ct_gemv_level ct_gemvq_level_best(void);
/* Whether the AVX-512 level of the integer GEMVs (this one and the K-quant one below) may use
 * AVX-512 VNNI (vpdpbusd / vpdpwssd; default true): false makes them use vpmaddubsw / vpmaddwd
 * (the same bits) so that tests run both on a VNNI CPU. Returns whether VNNI is now in use. */
bool ct_gemv_int8_vnni(bool allow);
/* Bytes of `mem` ct_gemvq_prepare needs at level lv (16-byte aligned); xq points into it. */
size_t ct_gemvq_x_bytes(ct_gemv_level lv, size_t T, size_t K);
void ct_gemvq_prepare(ct_gemv_level lv, ct_gemvq_x *xq, void *mem, const float *x, size_t T, size_t K);
/* Rows [n0, n1) of y (row stride ldy) on the calling thread; xq prepared for the same level. */
void ct_gemvq_rows(ct_gemv_level lv, float *y, size_t ldy, const ct_gemvq_x *xq, const ct_tensor *W, size_t n0,
                   size_t n1);
/* ys[i][T, N_i] = x W_i^T for n Q8_0 / Q4_0 matrices sharing x, as ct_gemv_forward. */
void ct_gemvq_forward(ct_ctx *c, ct_gemv_level lv, float *const *ys, const float *x, const ct_tensor *const *Ws,
                      size_t n, size_t T, size_t K);

/* ---- decode GEMV for ggml K-quant weights (src/ops/cpu/gemv_kquant.c) ----
 * The same contract for W of dtype CT_DTYPE_Q4_K / Q5_K / Q6_K (rows of super-blocks of 256 as
 * in a GGUF file, K a multiple of 256): x is quantized per token to ggml's Q8_K activation blocks
 * (256 int8 codes, f32 scale, 16 int16 sums of 16 codes) once per call, integer block dot
 * products, f32 sums over blocks in a fixed order (the numerics are stated in gemv_kquant.c).
 * Levels and their CPU checks are gemv.c's; matrices of one call may mix the three dtypes. */
typedef struct ct_gemvk_x {
    int8_t *q;       /* [T, ldq] codes in block order (ldq = K) */
    float *d;        /* [T, K / 256] block scales (NaN for a block holding a NaN or an infinity) */
    int16_t *bsums;  /* [T, K / 256, 16] sums of codes 16 i .. 16 i + 15 of each block */
    size_t T, K, ldq;
} ct_gemvk_x;
/* Whether dt is one of the K-quant dtypes this GEMV takes; bytes per block of 256 (0: not one). */
bool ct_gemvk_supported(ct_dtype dt);
size_t ct_gemvk_block_bytes(ct_dtype dt);
/* Levels: ct_gemv_level_available / _best; VNNI: ct_gemv_int8_vnni (above). */
/* Bytes of `mem` ct_gemvk_prepare needs (16-byte aligned); xq points into it. */
size_t ct_gemvk_x_bytes(ct_gemv_level lv, size_t T, size_t K);
void ct_gemvk_prepare(ct_gemv_level lv, ct_gemvk_x *xq, void *mem, const float *x, size_t T, size_t K);
/* Rows [n0, n1) of y (row stride ldy) on the calling thread; xq prepared for the same level. */
void ct_gemvk_rows(ct_gemv_level lv, float *y, size_t ldy, const ct_gemvk_x *xq, const ct_tensor *W, size_t n0,
                   size_t n1);
/* ys[i][T, N_i] = x W_i^T for n K-quant matrices sharing x, as ct_gemv_forward. */
void ct_gemvk_forward(ct_ctx *c, ct_gemv_level lv, float *const *ys, const float *x, const ct_tensor *const *Ws,
                      size_t n, size_t T, size_t K);

#endif
