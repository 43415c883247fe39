/* Dense factorizations through LAPACK (OpenBLAS ships it; its BLAS runs single-threaded, see
 * gemm.c): thin SVD and the Q of a QR decomposition, f64, on column-major copies of row-major
 * matrices, which is what torch.linalg.svd / torch.linalg.qr hand to LAPACK on a CPU; and the
 * sign-fixed leading singular vectors GaLore projects with (ct_svd_basis). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cpu/cpu.h"

/* Fortran LAPACK entry points exported by libopenblas. */
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
             int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work,
             const int *lwork, int *info);

/* cm[j*m + i] = rm[i*n + j] (row-major [m,n] to column-major) and back. */
static void to_colmajor(double *cm, const double *rm, size_t m, size_t n) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) cm[j * m + i] = rm[i * n + j];
}
static void to_rowmajor(double *rm, const double *cm, size_t m, size_t n) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) rm[i * n + j] = cm[j * m + i];
}

/* Thin SVD of the column-major [M, N] matrix a (destroyed): S [K], u column-major [M, K], vt
 * column-major [K, N], K = min(M, N); the workspace query, then dgesdd. 0, -1 when memory runs
 * out, or LAPACK's info. */
static int gesdd(double *a, int M, int N, double *S, double *u, double *vt) {
    int K = M < N ? M : N, info = 0, lwork = -1;
    int *iwork = malloc(8 * (size_t)K * sizeof *iwork);
    double q = 0, *work = NULL;
    if (!iwork) return -1;
    dgesdd_("S", &M, &N, a, &M, S, u, &M, vt, &K, &q, &lwork, iwork, &info); /* workspace query */
    if (!info) {
        lwork = q < 2147483647.0 ? (int)q + 1 : -1;
        work = lwork > 0 ? malloc((size_t)lwork * sizeof *work) : NULL;
        if (!work) info = -1;
    }
    if (!info) dgesdd_("S", &M, &N, a, &M, S, u, &M, vt, &K, work, &lwork, iwork, &info);
    free(iwork);
    free(work);
    return info;
}

bool ct_svd_f64(ct_ctx *c, const double *A, size_t m, size_t n, double *U, double *S, double *Vt) {
    (void)c;
    ct_cpu_blas_init();
    if (m == 0 || n == 0 || m > (size_t)1 << 30 || n > (size_t)1 << 30) return false;
    size_t k = m < n ? m : n;
    double *a = malloc(m * n * sizeof *a), *u = malloc(m * k * sizeof *u), *vt = malloc(k * n * sizeof *vt);
    bool ok = a && u && vt;
    if (ok) {
        to_colmajor(a, A, m, n);
        ok = gesdd(a, (int)m, (int)n, S, u, vt) == 0;
    }
    if (ok) {
        to_rowmajor(U, u, m, k);
        to_rowmajor(Vt, vt, k, n);
    }
    free(a), free(u), free(vt);
    return ok;
}

/* Flips v[0], v[stride], ... (len values) so that its largest |value| is positive (the first
 * one on ties). */
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
     * [n, k]: row-major Vh [k, n]) and V'^T = U^T (column-major [k, m]: row-major U [m, k]),
     * so no transposed copy is needed */
    double *a = malloc(m * n * sizeof(double)), *s = malloc(k * sizeof(double));
    double *vh = malloc(k * n * sizeof(double)), *u = malloc(m * k * sizeof(double));
    if (!a || !s || !vh || !u) {
        free(a), free(s), free(vh), free(u);
        return ct_err_set(err, CT_ERR_NOMEM, "svd: out of memory for %zu x %zu", m, n);
    }
    for (size_t i = 0; i < m * n; i++) a[i] = A[i];
    int info = gesdd(a, (int)n, (int)m, s, vh, u);
    ct_status st = CT_OK;
    if (info < 0) st = ct_err_set(err, CT_ERR_NOMEM, "svd: no LAPACK workspace for %zu x %zu", m, n);
    else if (info) st = ct_err_set(err, CT_ERR_NUMERIC, "svd: LAPACK dgesdd failed (info %d) on a %zu x %zu matrix", info, m, n);
    for (size_t j = 0; !st && j < r; j++) {
        if (Vh) {
            fix_sign(vh + j * n, n, 1);
            for (size_t i = 0; i < n; i++) Vh[j * n + i] = (float)vh[j * n + i];
        }
        if (U) {
            fix_sign(u + j, m, k);
            for (size_t i = 0; i < m; i++) U[i * r + j] = (float)u[i * k + j];
        }
    }
    free(a), free(s), free(vh), free(u);
    return st;
}

bool ct_qr_q_f64(ct_ctx *c, double *A, size_t m, size_t n) {
    (void)c;
    ct_cpu_blas_init();
    if (n == 0 || m < n || m > (size_t)1 << 30) return false;
    int M = (int)m, N = (int)n, info = 0, lwork = -1;
    double *a = malloc(m * n * sizeof *a), *tau = malloc(n * sizeof *tau), q = 0, *work = NULL;
    bool ok = a && tau;
    if (ok) {
        to_colmajor(a, A, m, n);
        dgeqrf_(&M, &N, a, &M, tau, &q, &lwork, &info);
        double q2 = 0;
        dorgqr_(&M, &N, &N, a, &M, tau, &q2, &lwork, &info);
        lwork = (int)(q > q2 ? q : q2);
        ok = info == 0 && (work = malloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work));
    }
    if (ok) {
        dgeqrf_(&M, &N, a, &M, tau, work, &lwork, &info);
        if (info == 0) dorgqr_(&M, &N, &N, a, &M, tau, work, &lwork, &info);
        ok = info == 0;
    }
    if (ok) to_rowmajor(A, a, m, n);
    free(a), free(tau), free(work);
    return ok;
}
