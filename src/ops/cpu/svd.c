/* Leading singular vectors through LAPACK dgesdd (see ops.h ct_svd_basis). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cpu/cpu.h"

/* The Fortran interface OpenBLAS exports (gfortran passes the length of each character argument
 * after the others). */
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
                    const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork,
                    int *info, size_t jobz_len);

/* Flips row (or column, with stride) j of length len so that its largest |value| is positive. */
static void fix_sign(double *v, size_t len, size_t stride) {
    size_t best = 0;
    double bm = -1;
    for (size_t i = 0; i < len; i++) {
        double a = fabs(v[i * stride]);
        if (a > bm) bm = a, best = i;
    }
    if (v[best * stride] < 0)
        for (size_t i = 0; i < len; i++) v[i * stride] = -v[i * stride];
}

ct_status ct_svd_basis(const float *A, size_t m, size_t n, size_t r, float *U, float *Vh, ct_err *err) {
    size_t k = m < n ? m : n;
    if (!m || !n || r < 1 || r > k || m > INT_MAX || n > INT_MAX || m * n > (size_t)INT_MAX)
        return ct_err_set(err, CT_ERR_ARG, "svd: bad sizes %zu x %zu, rank %zu", m, n, r);
    for (size_t i = 0; i < m * n; i++)
        if (!isfinite(A[i])) return ct_err_set(err, CT_ERR_NUMERIC, "svd: the %zu x %zu matrix is not finite", m, n);
    ct_cpu_blas_init();
    /* row-major A [m, n] is column-major A^T [n, m] = U' S V'^T with U' = V (column-major
     * [n, k]: row-major Vh [k, n]) and V'^T = U^T (column-major [k, m]: row-major U [m, k]) */
    int M = (int)n, N = (int)m, K = (int)k, info = 0, lwork = -1;
    double *a = malloc(m * n * sizeof(double)), *s = malloc(k * sizeof(double));
    double *vh = malloc(k * n * sizeof(double)), *u = malloc(m * k * sizeof(double)), wq = 0, *work = NULL;
    int *iwork = malloc(8 * k * sizeof(int));
    ct_status st = CT_OK;
    if (!a || !s || !vh || !u || !iwork) st = ct_err_set(err, CT_ERR_NOMEM, "svd: out of memory for %zu x %zu", m, n);
    if (!st) {
        for (size_t i = 0; i < m * n; i++) a[i] = A[i];
        dgesdd_("S", &M, &N, a, &M, s, vh, &M, u, &K, &wq, &lwork, iwork, &info, 1);
        lwork = info == 0 && wq < (double)INT_MAX ? (int)wq + 1 : -1;
        if (lwork < 1 || !(work = malloc((size_t)lwork * sizeof(double))))
            st = ct_err_set(err, CT_ERR_NOMEM, "svd: no LAPACK workspace for %zu x %zu", m, n);
    }
    if (!st) {
        dgesdd_("S", &M, &N, a, &M, s, vh, &M, u, &K, work, &lwork, iwork, &info, 1);
        if (info) st = ct_err_set(err, CT_ERR_NUMERIC, "svd: LAPACK dgesdd failed (info %d) on a %zu x %zu matrix", info, m, n);
    }
    if (!st) {
        for (size_t j = 0; j < r; j++) {
            if (Vh) {
                fix_sign(vh + j * n, n, 1);
                for (size_t i = 0; i < n; i++) Vh[j * n + i] = (float)vh[j * n + i];
            }
            if (U) {
                fix_sign(u + j, m, k);
                for (size_t i = 0; i < m; i++) U[i * r + j] = (float)u[i * k + j];
            }
        }
    }
    free(a);
    free(s);
    free(vh);
    free(u);
    free(iwork);
    free(work);
    return st;
}
