/* Quantized decode GEMV microbenchmark (src/ops/cpu/gemv_quant.c through the linear table): a
 * Qwen2.5-0.5B layer's matrices (q, k, v, o, gate, up, down; K = 896 or 4864) in Q8_0 and Q4_0,
 * one thread, T tokens per call; "hot": one layer's weights again and again (in the caches: the
 * kernel's compute), "cold": LAYERS distinct layers in turn (beyond the caches: the decode case).
 * Prints microseconds per layer and GB/s of weights read. ct_ggml_pack8 is a weak symbol: linked
 * against a libctune without it (the row-by-row layout, before the 8-row packing), the weights
 * stay plain, so the same source times the old and the new kernel (bench/gemvq.sh).
 * Usage: gemvq_bench LABEL (env T: tokens per call, default 1; LAYERS, default 24) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ctune/ctx.h"
#include "ops/ops.h"
#include "quant/ggml_blocks.h"

extern bool ct_ggml_pack8(uint8_t *data, size_t N, size_t K, bool q8) __attribute__((weak));

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t g_s = 0x9e3779b97f4a7c15ull;
static float urand(void) {
    g_s = g_s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

enum { NMAT = 7 };
static const size_t g_N[NMAT] = {896, 128, 128, 896, 4864, 4864, 896}, g_K[NMAT] = {896, 896, 896, 896, 896, 896, 4864};

static ct_tensor qmat(ct_dtype dt, size_t N, size_t K) {
    bool q8 = dt == CT_DTYPE_Q8_0;
    size_t bb = q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES;
    uint8_t *q = malloc(N * K / CT_GGML_QK * bb);
    float *f = malloc(K * sizeof(float));
    if (!q || !f) exit(1);
    for (size_t n = 0; n < N; n++) {
        for (size_t k = 0; k < K; k++) f[k] = 0.05f * urand();
        if (q8) ct_ggml_quantize_q8_0(f, K, q + n * K / CT_GGML_QK * bb);
        else ct_ggml_quantize_q4_0(f, K, q + n * K / CT_GGML_QK * bb);
    }
    free(f);
    if (ct_ggml_pack8 && !ct_ggml_pack8(q, N, K, q8)) exit(1);
    return (ct_tensor){.dtype = dt, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}, .data = q};
}

int main(int argc, char **argv) {
    const char *label = argc > 1 ? argv[1] : "?";
    size_t T = getenv("T") ? (size_t)atoi(getenv("T")) : 1, L = getenv("LAYERS") ? (size_t)atoi(getenv("LAYERS")) : 24;
    ct_err err = {0};
    ct_ctx *c = NULL;
    if (ct_ctx_new(&c, 1, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    float *x = malloc(T * 4864 * sizeof(float)), *y = malloc(T * 4864 * sizeof(float));
    for (size_t i = 0; i < T * 4864; i++) x[i] = urand();
    static const ct_dtype dts[2] = {CT_DTYPE_Q8_0, CT_DTYPE_Q4_0};
    for (int d = 0; d < 2; d++) {
        ct_tensor *W = malloc(L * NMAT * sizeof *W);
        double bytes = 0;
        for (size_t l = 0; l < L; l++)
            for (int i = 0; i < NMAT; i++) {
                W[l * NMAT + i] = qmat(dts[d], g_N[i], g_K[i]);
                if (l == 0) bytes += (double)ct_tensor_nbytes(&W[i]);
            }
        for (int cold = 0; cold < 2; cold++) {
            size_t nl = cold ? L : 1, reps = cold ? 5 : 200;
            double best = 1e30;
            for (int r = 0; r < 5; r++) {
                double t0 = now();
                for (size_t k = 0; k < reps; k++)
                    for (size_t l = 0; l < nl; l++)
                        for (int i = 0; i < NMAT; i++)
                            ct_linear_forward(c, y, x, &W[l * NMAT + i], NULL, T, g_K[i], g_N[i]);
                double dt = (now() - t0) / (double)(reps * nl);
                best = dt < best ? dt : best;
            }
            printf("%-8s %s T=%zu %-4s %8.1f us/layer %6.2f GB/s\n", label, ct_dtype_name(dts[d]), T,
                   cold ? "cold" : "hot", best * 1e6, bytes / best * 1e-9);
        }
        for (size_t i = 0; i < L * NMAT; i++) free(W[i].data);
        free(W);
    }
    free(x), free(y);
    ct_ctx_free(c);
    return 0;
}
