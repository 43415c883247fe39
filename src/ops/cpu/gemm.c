/* ct_sgemm: the one GEMM entry point (see ops.h), OpenBLAS single-threaded under OpenMP. */
#include <cblas.h>
#include <omp.h>
#include <pthread.h>

#include "ops/cpu/cpu.h"

void openblas_set_num_threads(int);

static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }
void ct_cpu_blas_init(void) { pthread_once(&g_blas_once, blas_single_thread); }

/* Below this many multiply-adds a GEMM runs on the calling thread (fork/join costs more). */
#define SGEMM_SPLIT_MIN_WORK (1u << 21)
/* Blocks per thread: more than one so a core slowed by another process is balanced out by the
 * dynamic schedule; at least SGEMM_SPLIT_MIN_COLS wide so OpenBLAS packing stays amortised. */
#define SGEMM_SPLIT_PER_THREAD 2
#define SGEMM_LONG_K 8192
#define SGEMM_SPLIT_MIN_COLS 64

void ct_cpu_sgemm1(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void ct_sgemm(ct_ctx *c, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
              size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    ct_cpu_blas_init();
    if (M == 0 || N == 0) return;
    size_t nt = (size_t)ct_ctx_threads(c);
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
        ct_cpu_sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)nt)
    for (size_t b = 0; b < nb; b++) {
        size_t o = b * bs, w = dim - o < bs ? dim - o : bs;
        if (split_n) /* columns o..o+w of C: columns of op(B) */
            ct_cpu_sgemm1(ta, tb, M, w, K, alpha, A, lda, tb ? B + o * ldb : B + o, ldb, beta, C + o, ldc);
        else /* rows o..o+w of C: rows of op(A) */
            ct_cpu_sgemm1(ta, tb, w, N, K, alpha, ta ? A + o : A + o * lda, lda, B, ldb, beta, C + o * ldc,
                          ldc);
    }
}
