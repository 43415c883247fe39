/* Dense factorizations through LAPACK (OpenBLAS ships it; its BLAS runs single-threaded, see
 * gemm.c): thin SVD and the Q of a QR decomposition, f64, on column-major copies of row-major
 * matrices, which is what torch.linalg.svd / torch.linalg.qr hand to LAPACK on a CPU. */
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

bool ct_svd_f64(ct_ctx *c, const double *A, size_t m, size_t n, double *U, double *S, double *Vt) {
    (void)c;
    ct_cpu_blas_init();
    if (m == 0 || n == 0 || m > (size_t)1 << 30 || n > (size_t)1 << 30) return false;
    int M = (int)m, N = (int)n, K = (int)(m < n ? m : n), info = 0, lwork = -1;
    size_t k = (size_t)K;
    double *a = malloc(m * n * sizeof *a), *u = malloc(m * k * sizeof *u), *vt = malloc(k * n * sizeof *vt);
    int *iwork = malloc(8 * k * sizeof *iwork);
    double q = 0, *work = NULL;
    bool ok = a && u && vt && iwork;
    if (ok) {
        to_colmajor(a, A, m, n);
        dgesdd_("S", &M, &N, a, &M, S, u, &M, vt, &K, &q, &lwork, iwork, &info); /* workspace query */
        lwork = (int)q;
        ok = info == 0 && (work = malloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work));
    }
    if (ok) {
        dgesdd_("S", &M, &N, a, &M, S, u, &M, vt, &K, work, &lwork, iwork, &info);
        ok = info == 0;
    }
    if (ok) {
        to_rowmajor(U, u, m, k);
        to_rowmajor(Vt, vt, k, n);
    }
    free(a), free(u), free(vt), free(iwork), free(work);
    return ok;
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
