/* ctune side of the decode benchmark (bench/decode.sh): on a model directory (the random
 * Qwen2.5-0.5B-shaped bench model, bf16 or its f16 copy), prefill tokens/s, single-sequence
 * decode tokens/s and GB/s of weights read, and batched decode: B sequences advanced together
 * (ct_model_forward_batch, one step = B tokens) in tokens/s, for each thread count; on bf16 weights
 * and AVX512-BF16 CPUs batched decode once more with CT_BATCH_BF16DOT (--batch-precision bf16).
 * TAG q8_0 / q4_0 quantizes the weights on load (ct_model_quantize, ggml's blocks; bench/decode_quant.sh).
 * The weights are then laid out in decode order (ct_model_pack_decode), as inference runtimes do.
 * Usage: decode_bench DIR TAG PREFILL DECODE BATCH THREADS...  ("@ ctune_TAG_..." lines) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ctune/model.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const ct_err *e) {
    fprintf(stderr, "decode_bench: %s\n", e->msg);
    return 1;
}

/* nb sequences with 4-token prompts, then nd steps of nb tokens: seconds of the steps (-1: error). */
static double batched(ct_ctx *ctx, const ct_model *m, ct_kv_cache **kv, int nb, int nd, const int32_t *ids,
                      float *logits, ct_err *err) {
    for (int s = 0; s < nb; s++) {
        ct_kv_cache_reset(kv[s]);
        if (ct_model_forward(ctx, m, NULL, kv[s], ids + 13 * s, 4, NULL, NULL, logits, err)) return -1;
    }
    int32_t *step = malloc((size_t)nb * sizeof *step);
    double t0 = now();
    for (int i = 0; i < nd; i++) {
        for (int s = 0; s < nb; s++) step[s] = ids[13 * s + 4 + i];
        if (ct_model_forward_batch(ctx, m, NULL, kv, (size_t)nb, step, 1, logits, err)) return free(step), -1;
    }
    double tb = now() - t0;
    free(step);
    return tb;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s DIR TAG PREFILL DECODE BATCH THREADS...\n", argv[0]);
        return 2;
    }
    const char *tag = argv[2];
    int np = atoi(argv[3]), nd = atoi(argv[4]), nb = atoi(argv[5]);
    ct_err err = {0};
    ct_model *m = NULL;
    if (ct_model_load(argv[1], &m, &err)) return fail(&err);
    ct_quant_opts q = {0};
    if (ct_quant_format_parse(tag, &q.format) && ct_model_quantize(m, &q, &err)) return fail(&err);
    if (ct_model_pack_decode(m, &err)) return fail(&err); /* as ct_runtime_open does */
    const ct_config *c = ct_model_config(m);
    size_t V = (size_t)c->vocab_size, wb = ct_model_weight_bytes(m);
    int32_t *ids = malloc((size_t)(np + nd + 64 * nb) * sizeof *ids);
    for (int i = 0; i < np + nd + 64 * nb; i++) ids[i] = (int32_t)(((size_t)i * 7919) % V);
    float *logits = malloc((size_t)nb * V * sizeof(float));
    ct_kv_cache **kv = calloc((size_t)nb, sizeof *kv);
    ct_ctx *ctx = NULL;
    if (ct_ctx_new(&ctx, 1, &err)) return fail(&err);
    for (int a = 6; a < argc; a++) {
        int th = atoi(argv[a]);
        ct_ctx_set_threads(ctx, th);
        for (int s = 0; s < nb; s++)
            if (ct_kv_cache_init(&kv[s], c, (size_t)(np + nd + 8), &err)) return fail(&err);
        /* warm-up (every weight page touched), then prefill: median of 3 */
        if (ct_model_forward(ctx, m, NULL, kv[0], ids, 1, NULL, NULL, logits, &err)) return fail(&err);
        double tp[3];
        for (int r = 0; r < 3; r++) {
            ct_kv_cache_reset(kv[0]);
            double t0 = now();
            if (ct_model_forward(ctx, m, NULL, kv[0], ids, (size_t)np, NULL, NULL, logits, &err)) return fail(&err);
            tp[r] = now() - t0;
        }
        double p = tp[0] < tp[1] ? (tp[1] < tp[2] ? tp[1] : tp[0] < tp[2] ? tp[2] : tp[0])
                                 : (tp[0] < tp[2] ? tp[0] : tp[1] < tp[2] ? tp[2] : tp[1]);
        double t0 = now();
        for (int i = 0; i < nd; i++)
            if (ct_model_forward(ctx, m, NULL, kv[0], ids + np + i, 1, NULL, NULL, logits, &err)) return fail(&err);
        double td = now() - t0;
        double tb = batched(ctx, m, kv, nb, nd, ids, logits, &err);
        if (tb < 0) return fail(&err);
        /* the opt-in bf16-dot batched GEMV (bf16 weights, AVX512-BF16 CPUs) on the same steps */
        double tdot = 0;
        if (ct_model_linear_dtype(m) == CT_DTYPE_BF16 && ct_cpu_has_bf16()) {
            ct_ctx_set_batch_precision(ctx, CT_BATCH_BF16DOT);
            tdot = batched(ctx, m, kv, nb, nd, ids, logits, &err);
            ct_ctx_set_batch_precision(ctx, CT_BATCH_EXACT);
            if (tdot < 0) return fail(&err);
        }
        printf("ctune %s threads %d: prefill %d tokens %.1f tok/s (median of 3) | decode %d tokens %.2f tok/s, "
               "%.1f GB/s of weights | batched decode %d seqs %.1f tok/s (%.2fx single)\n",
               tag, th, np, np / p, nd, nd / td, (double)wb * nd / td / 1e9, nb, nb * nd / tb,
               (nb * nd / tb) / (nd / td));
        printf("@ ctune_%s_prefill_%dt %.1f\n@ ctune_%s_decode_%dt %.2f\n@ ctune_%s_batch%d_%dt %.1f\n", tag, th,
               np / p, tag, th, nd / td, tag, nb, th, nb * nd / tb);
        if (tdot > 0) {
            printf("ctune %s threads %d: batched decode %d seqs, --batch-precision bf16: %.1f tok/s (%.2fx single)\n", tag,
                   th, nb, nb * nd / tdot, (nb * nd / tdot) / (nd / td));
            printf("@ ctune_%s_batch%ddot_%dt %.1f\n", tag, nb, th, nb * nd / tdot);
        }
        for (int s = 0; s < nb; s++) ct_kv_cache_free(kv[s]), kv[s] = NULL;
    }
    ct_ctx_free(ctx);
    ct_model_free(m);
    free(kv), free(ids), free(logits);
    return 0;
}
