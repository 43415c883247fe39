/* Decode GEMV benchmark and the memory-bandwidth probe of the decode section (bench/decode.sh).
 * Probe: a vectorised sum over a 1 GiB buffer (the read bandwidth decode can hope for), on 1 and
 * 2 threads. GEMV: the decode GEMV (src/ops/cpu/gemv.c) at every dispatch level the CPU supports
 * on a Qwen2.5-0.5B layer's matrices plus its LM head (bf16, ~0.5 GB of weights per pass, beyond
 * the caches), T tokens at once, reported as GB/s of weights read.
 * Usage: gemv_bench THREADS... (env T: tokens per pass, default 1) */
#include <immintrin.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GB/s of a vectorised read of n bytes at th threads (best of 5): AVX-512 loads, or AVX2 ones on
 * a CPU without AVX-512. */
__attribute__((target("avx2"))) static double probe_avx2(const char *buf, size_t n, int th) {
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        __m256 tot = _mm256_setzero_ps();
#pragma omp parallel num_threads(th)
        {
            __m256 a = _mm256_setzero_ps(), b = a;
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 256) {
                const float *p = (const float *)(const void *)(buf + i);
                for (int j = 0; j < 64; j += 16) {
                    a = _mm256_add_ps(a, _mm256_loadu_ps(p + j));
                    b = _mm256_add_ps(b, _mm256_loadu_ps(p + j + 8));
                }
            }
#pragma omp critical
            tot = _mm256_add_ps(tot, _mm256_add_ps(a, b));
        }
        double t = now() - t0;
        float o[8];
        _mm256_storeu_ps(o, tot);
        sink += o[0];
        if (n / t / 1e9 > best) best = n / t / 1e9;
    }
    (void)sink;
    return best;
}

__attribute__((target("avx512f"))) static double probe512(const char *buf, size_t n, int th) {
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        float tot = 0;
#pragma omp parallel num_threads(th) reduction(+ : tot)
        {
            __m512 a = _mm512_setzero_ps(), b = a;
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 256) {
                const float *p = (const float *)(const void *)(buf + i);
                a = _mm512_add_ps(a, _mm512_add_ps(_mm512_loadu_ps(p), _mm512_loadu_ps(p + 16)));
                b = _mm512_add_ps(b, _mm512_add_ps(_mm512_loadu_ps(p + 32), _mm512_loadu_ps(p + 48)));
            }
            tot += _mm512_reduce_add_ps(_mm512_add_ps(a, b));
        }
        double t = now() - t0;
        sink += tot;
        if (n / t / 1e9 > best) best = n / t / 1e9;
    }
    (void)sink;
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s THREADS...\n", argv[0]);
        return 2;
    }
    size_t T = getenv("T") ? (size_t)atoi(getenv("T")) : 1;
    enum { C = 896, I = 4864, V = 151936, L = 4 };
    /* L layers of q,k,v,o,gate,up,down + the head: every pass reads past the L3 */
    size_t shp[8][2] = {{C, C}, {128, C}, {128, C}, {C, C}, {I, C}, {I, C}, {C, I}, {V, C}};
    size_t total = 0;
    for (int i = 0; i < 7; i++) total += L * shp[i][0] * shp[i][1];
    total += shp[7][0] * shp[7][1];
    uint16_t *w = aligned_alloc(64, (total * 2 + 63) / 64 * 64);
    for (size_t i = 0; i < total; i++) w[i] = (uint16_t)(0x3c00 + (i * 2654435761u >> 20) % 512);
    ct_tensor Ws[7 * L + 1];
    size_t off = 0;
    for (int i = 0; i < 7 * L + 1; i++) {
        size_t *s = shp[i < 7 * L ? i % 7 : 7];
        Ws[i] = (ct_tensor){.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)s[0], (int64_t)s[1]}, .data = w + off};
        off += s[0] * s[1];
    }
    float *x = malloc(T * I * sizeof(float)), *y = malloc(T * V * sizeof(float));
    for (size_t i = 0; i < T * I; i++) x[i] = (float)(i % 7) * 0.1f;
    size_t nb = (size_t)1 << 30;
    char *buf = aligned_alloc(64, nb);
    memset(buf, 1, nb);
    ct_ctx *c = NULL;
    ct_err err = {0};
    if (ct_ctx_new(&c, 1, &err)) return 1;
    for (int a = 1; a < argc; a++) {
        int th = atoi(argv[a]);
        bool z = __builtin_cpu_supports("avx512f");
        double bw = z ? probe512(buf, nb, th) : probe_avx2(buf, nb, th);
        printf("threads %d: read bandwidth probe (1 GiB, %s loads) %.1f GB/s\n", th, z ? "AVX-512" : "AVX2", bw);
        printf("@ bw_probe_%dt %.1f\n", th, bw);
        ct_ctx_set_threads(c, th);
        for (int lv = CT_GEMV_LEVELS - 1; lv >= 0; lv--) {
            if (!ct_gemv_level_available((ct_gemv_level)lv)) continue;
            double best = 1e30;
            for (int r = 0; r < 5; r++) {
                double t0 = now();
                for (int i = 0; i < 7 * L + 1; i++) {
                    size_t K = (size_t)Ws[i].shape[1];
                    const ct_tensor *wp = &Ws[i];
                    ct_gemv_forward(c, (ct_gemv_level)lv, &y, x, &wp, 1, T, K);
                }
                double t = now() - t0;
                if (t < best) best = t;
            }
            double gbs = (double)total * 2 / best / 1e9;
            printf("threads %d: gemv %s bf16 T=%zu: %.1f GB/s of weights (%.0f %% of the probe)\n", th,
                   ct_gemv_level_name((ct_gemv_level)lv), T, gbs, 100 * gbs / bw);
            printf("@ gemv_%s_%dt %.1f\n", ct_gemv_level_name((ct_gemv_level)lv), th, gbs);
        }
    }
    ct_ctx_free(c);
    free(buf), free(w), free(x), free(y);
    return 0;
}
