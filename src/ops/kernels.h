/* The linear kernel table. ct_linear_forward / ct_linear_backward take the FIRST row that serves
 * the weight's dtype, the token count T and the context's precision (and whose CPU check
 * passes), so a new weight format (bf16 with AVX512-BF16, later 4-bit NF4/FP4 or int8 blocks, a
 * GPU) is one more row, not another `if`. The kernel test (tests/test_ops_kernels.c) runs every
 * row against the exact f32 reference on random shapes, within the row's tolerance. */
#ifndef CT_OPS_KERNELS_H
#define CT_OPS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/ops.h"

/* y[T,N] = x[T,K] W[N,K]^T (no bias). */
typedef void (*ct_linear_fwd_fn)(ct_ctx *c, float *y, const float *x, const ct_tensor *W, size_t T,
                                 size_t K, size_t N);
/* dx[T,K] += dy[T,N] W[N,K]. */
typedef void (*ct_linear_dx_fn)(ct_ctx *c, float *dx, const float *dy, const ct_tensor *W, size_t T,
                                size_t K, size_t N);

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
    double tol;                /* max |err| / max |ref| against the exact f32 reference */
} ct_linear_kernel;

/* The table, in the order the dispatcher tries it. */
const ct_linear_kernel *ct_linear_kernels(size_t *n);
/* The row ct_linear_forward (backward false) or ct_linear_backward's dx (true) uses. */
const ct_linear_kernel *ct_linear_pick(const ct_ctx *c, ct_dtype wtype, size_t T, bool backward);

#endif
