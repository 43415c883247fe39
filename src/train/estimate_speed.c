/* The speed half of the estimator (include/ctune/estimate.h): the achieved f32 GEMM rate of this
 * machine, timed on training-like shapes. */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "ctune/estimate.h"
#include "ops/ops.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Buffers straight from mmap: a malloc'd block this large, once freed, would raise glibc's dynamic
 * mmap threshold and change how the training run that follows (ctune train's pre-flight) keeps
 * its memory. */
static float *map_f32(size_t n) {
    void *p = mmap(NULL, n * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap_f32(float *p, size_t n) {
    if (p) munmap(p, n * sizeof(float));
}

double ct_estimate_calibrate(int threads, double seconds) {
    if (!(seconds > 0)) seconds = 0.3;
    ct_ctx *ctx = NULL;
    if (ct_ctx_new(&ctx, threads, NULL)) return 0;
    /* rows x in -> out: a 256-token micro-batch through attention-sized and MLP-sized linears */
    enum { M = 256, K = 1024, N1 = 1024, N2 = 2816 };
    float *x = map_f32((size_t)M * K), *w = map_f32((size_t)N2 * K), *y = map_f32((size_t)M * N2);
    double rate = 0;
    if (x && w && y) {
        for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)(i % 17) * 0.01f;
        for (size_t i = 0; i < (size_t)N2 * K; i++) w[i] = (float)(i % 13) * 0.01f;
        ct_sgemm(ctx, false, true, M, N1, K, 1.0f, x, K, w, K, 0.0f, y, N1); /* warm-up (threads, caches) */
        /* the best of repeated pairs: other processes on the cores only ever slow a pair down */
        double flops = 2.0 * M * (double)(N1 + N2) * K, t0 = now_s(), t = t0;
        while (t - t0 < seconds) {
            double a = now_s();
            ct_sgemm(ctx, false, true, M, N1, K, 1.0f, x, K, w, K, 0.0f, y, N1);
            ct_sgemm(ctx, false, true, M, N2, K, 1.0f, x, K, w, K, 0.0f, y, N2);
            t = now_s();
            if (t > a && flops / (t - a) / 1e9 > rate) rate = flops / (t - a) / 1e9;
        }
    }
    unmap_f32(x, (size_t)M * K);
    unmap_f32(w, (size_t)N2 * K);
    unmap_f32(y, (size_t)M * N2);
    ct_ctx_free(ctx);
    return rate;
}
