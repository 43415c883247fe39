/* Training-step benchmark on a random bf16 Qwen2.5-0.5B-shaped model (hidden 896, 24 layers,
 * 14 heads, 2 kv heads, intermediate 4864, vocab 151936, tied) at sequence length T; SHAPE=7b a
 * Qwen2.5-7B-shaped one, SHAPE=qwen3.5-0.8b a Qwen3.5-0.8B-shaped one (ctune's qwen3.5-0.8b size:
 * 18 Gated DeltaNet + 6 gated attention layers of 24, vocab 248320), whose run also times the
 * chunked delta rule alone (forward + backward at T, all DeltaNet layers) to report its share
 * of the step.
 *   train_bench lora|full [T] [layers]   one warm-up step then STEPS (3) timed steps at T: median
 *   train_bench sgemm                      measured sgemm peak (GFLOP/s)
 * Prints one JSON line (mode, tokens/s, step seconds, model GFLOP, GFLOP/s, peak RSS MiB) and
 * "@ KEY VALUE" lines for bench/summary.sh. Env: THREADS (default all cores), STEPS, CKPT=1
 * (gradient checkpointing), NOCACHE=1 (no f32 copy of frozen weights), XENT_CHUNK, BF16=1
 * (opt-in bf16 compute on the bf16 frozen weights; LoRA). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ctune/estimate.h"
#include "model/arch.h"
#include "model/model.h"
#include "ops/ops.h"
#include "peft/method.h"
#include "train/optim.h"
#include "train/step.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static ct_tensor rnd_bf16(int64_t a, int64_t b, float scale, float offset) {
    size_t n = (size_t)a * (size_t)(b ? b : 1);
    uint16_t *d = malloc(n * 2);
    uint64_t s0 = g_state;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint64_t z = s0 + i * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        float u = (float)(z >> 40) / 16777216.0f * 2.0f - 1.0f;
        d[i] = ct_f32_to_bf16(offset + scale * u);
    }
    g_state += n * 0x9e3779b97f4a7c15ull + 1;
    ct_tensor t = {.dtype = CT_DTYPE_BF16, .ndim = b ? 2 : 1, .shape = {a, b}, .data = d};
    return t;
}

/* Quantizes layer l's linear weights in place and frees their bf16 originals (an in-memory
 * model: ct_model_quantize's owners keep the codes, the model has no files). */
static void quantize_layer(ct_model *m, int l, const ct_quant_opts *q) {
    ct_layer_weights saved = m->w.layers[l];
    ct_weights all = m->w;
    m->w.layers = &m->w.layers[l], m->w.n_layers = 1;
    m->cfg.num_layers = 1;
    ct_err err = {0};
    if (ct_model_quantize(m, q, &err)) {
        fprintf(stderr, "quantize: %s\n", err.msg);
        exit(1);
    }
    for (int id = 0; id < CT_LT_COUNT; id++)
        if (m->w.layers[0].t[id].data != saved.t[id].data) free(saved.t[id].data);
    m->w = all;
    m->cfg.num_layers = all.n_layers;
}

/* Random bf16 weights for every tensor of the table under m->cfg (norm offsets near 0, the
 * DeltaNet's gated norm near 1, A_log and dt_bias of the init's range). */
static int draw_one(const ct_tensor_spec *s, int layer, void *user) {
    ct_model *m = user;
    int64_t sh[3];
    int nd = ct_spec_shape(s, &m->cfg, sh);
    ct_tensor *t = ct_weights_at(&m->w, s, layer);
    bool norm = s->init == CT_INIT_NORM || s->init == CT_INIT_ONES;
    float scale = s->init == CT_INIT_A_LOG ? 1.0f : norm ? 0.1f : 0.02f;
    float off = s->init == CT_INIT_ONES || s->init == CT_INIT_DT_BIAS || (norm && !m->cfg.norm_offset) ? 1.0f : 0.0f;
    *t = rnd_bf16(sh[0] * (nd == 3 ? sh[1] * sh[2] : 1), nd == 2 ? sh[1] : 0, scale, off);
    t->ndim = nd;
    for (int i = 0; i < nd; i++) t->shape[i] = sh[i];
    return 0;
}

/* Seconds of the chunked delta rule's forward + backward over T tokens of one layer. */
static double time_delta_rule(ct_ctx *ctx, const ct_config *c, int T) {
    size_t Hk = (size_t)c->lin_k_heads, Hv = (size_t)c->lin_v_heads, Dk = (size_t)c->lin_k_dim, Dv = (size_t)c->lin_v_dim;
    size_t ld = 2 * Hk * Dk + Hv * Dv, n = (size_t)T * ld;
    float *qkv = malloc(n * 4), *d = calloc(n, 4), *g = malloc((size_t)T * Hv * 4), *beta = malloc((size_t)T * Hv * 4);
    float *out = malloc((size_t)T * Hv * Dv * 4), *dout = malloc((size_t)T * Hv * Dv * 4);
    float *dg = calloc((size_t)T * Hv, 4), *db = calloc((size_t)T * Hv, 4);
    float *saved = malloc(ct_deltanet_saved_floats((size_t)T, Hv, Dk, Dv) * 4);
    for (size_t i = 0; i < n; i++) qkv[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t t = 0; t < (size_t)T; t++) { /* unit q, k rows */
        for (size_t h = 0; h < 2 * Hk; h++) {
            float *v = qkv + t * ld + h * Dk, ss = 0;
            for (size_t i = 0; i < Dk; i++) ss += v[i] * v[i];
            for (size_t i = 0; i < Dk; i++) v[i] /= sqrtf(ss);
        }
    }
    for (size_t i = 0; i < (size_t)T * Hv; i++) g[i] = -0.05f * (float)(1 + i % 7), beta[i] = 0.5f;
    for (size_t i = 0; i < (size_t)T * Hv * Dv; i++) dout[i] = 1e-3f * (float)(i % 13);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        ct_deltanet_forward(ctx, out, NULL, saved, qkv, qkv + Hk * Dk, ld, qkv + 2 * Hk * Dk, ld, g, beta, (size_t)T, Hk,
                            Hv, Dk, Dv);
        ct_deltanet_backward(ctx, d, d + Hk * Dk, ld, d + 2 * Hk * Dk, ld, dg, db, dout, saved, qkv, qkv + Hk * Dk,
                             qkv + 2 * Hk * Dk, g, beta, (size_t)T, Hk, Hv, Dk, Dv);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    free(qkv), free(d), free(g), free(beta), free(out), free(dout), free(dg), free(db), free(saved);
    return best;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "lora";
    int T = argc > 2 ? atoi(argv[2]) : 512;
    int L = argc > 3 ? atoi(argv[3]) : 24;
    ct_ctx *ctx = NULL;
    if (ct_ctx_new(&ctx, getenv("THREADS") ? atoi(getenv("THREADS")) : 0, NULL)) return 1;
    if (strcmp(mode, "sgemm") == 0) {
        /* sgemm peak through ct_sgemm (the library's only GEMM path): best of 3 at n^3 */
        int n = 2048;
        float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
        for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
        ct_sgemm(ctx, false, true, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double best = 0;
        for (int r = 0; r < 3; r++) {
            double t0 = now();
            ct_sgemm(ctx, false, true, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double g = 2.0 * n * n * (double)n / (now() - t0) / 1e9;
            best = g > best ? g : best;
        }
        printf("{\"mode\": \"sgemm\", \"n\": %d, \"threads\": %d, \"openblas_core\": \"%s\", \"gflops\": %.1f}\n", n,
               ct_ctx_threads(ctx), openblas_get_corename(), best);
        printf("@ sgemm_%s %.1f\n", ct_ctx_threads(ctx) == 1 ? "1t" : "all", best);
        return 0;
    }
    /* SHAPE=7b: Qwen2.5-7B (hidden 3584, 28 heads, 4 kv heads, intermediate 18944, vocab 152064,
     * untied head; layers from argv) */
    bool big = getenv("SHAPE") && !strcmp(getenv("SHAPE"), "7b");
    bool q35 = getenv("SHAPE") && !strcmp(getenv("SHAPE"), "qwen3.5-0.8b");
    int C = big ? 3584 : 896, Hq = big ? 28 : 14, Hkv = big ? 4 : 2, D = big ? 128 : 64, FF = big ? 18944 : 4864;
    int V = big ? 152064 : 151936;
    /* qlora: the linear layers in NF4 with double quantization (bitsandbytes), each quantized as
     * soon as it is drawn so the 16-bit weights never exist all at once */
    bool qlora = strcmp(mode, "qlora") == 0;
    ct_quant_opts qo = {.bits = 4, .double_quant = true};
    ct_model m;
    memset(&m, 0, sizeof m);
    ct_config *k = &m.cfg;
    ct_tensor *g = m.w.g;
    k->arch = CT_ARCH_QWEN2;
    k->hidden_size = C;
    k->intermediate_size = FF;
    k->num_layers = L;
    k->num_heads = Hq;
    k->num_kv_heads = Hkv;
    k->head_dim = D;
    k->vocab_size = V;
    k->rms_norm_eps = 1e-6;
    k->rope_theta = 1e6;
    k->tie_word_embeddings = !big;
    k->attention_bias = true;
    k->dtype = CT_DTYPE_BF16;
    float ws = 0.02f;
    m.w.layers = calloc((size_t)L, sizeof(ct_layer_weights));
    m.w.n_layers = L;
    if (q35) { /* the table-driven draw of every Qwen3.5 tensor, first L layers of the 0.8B schedule */
        ct_err e0 = {0};
        if (ct_size_config("qwen3.5-0.8b", k, &e0)) return 1;
        k->num_layers = L;
        k->n_deltanet = 0;
        for (int l = 0; l < L; l++) k->n_deltanet += k->layer_kind[l] == CT_LAYER_DELTANET;
        ct_specs_each(k, draw_one, &m);
        g[CT_GT_LM_HEAD] = g[CT_GT_EMBED];
        C = k->hidden_size, Hq = k->num_heads, Hkv = k->num_kv_heads, D = k->head_dim, FF = k->intermediate_size;
        V = k->vocab_size;
    }
    if (!q35) {
        g[CT_GT_EMBED] = rnd_bf16(V, C, ws, 0);
        g[CT_GT_LM_HEAD] = big ? rnd_bf16(V, C, ws, 0) : g[CT_GT_EMBED];
        g[CT_GT_FINAL_NORM] = rnd_bf16(C, 0, 0.1f, 1.0f);
    }
    for (int l = 0; !q35 && l < L; l++) {
        ct_tensor *w = m.w.layers[l].t;
        w[CT_LT_ATTN_NORM] = rnd_bf16(C, 0, 0.1f, 1.0f);
        w[CT_LT_MLP_NORM] = rnd_bf16(C, 0, 0.1f, 1.0f);
        w[CT_LT_WQ] = rnd_bf16(Hq * D, C, ws, 0);
        w[CT_LT_WK] = rnd_bf16(Hkv * D, C, ws, 0);
        w[CT_LT_WV] = rnd_bf16(Hkv * D, C, ws, 0);
        w[CT_LT_WO] = rnd_bf16(C, Hq * D, ws, 0);
        w[CT_LT_BQ] = rnd_bf16(Hq * D, 0, ws, 0);
        w[CT_LT_BK] = rnd_bf16(Hkv * D, 0, ws, 0);
        w[CT_LT_BV] = rnd_bf16(Hkv * D, 0, ws, 0);
        w[CT_LT_GATE] = rnd_bf16(FF, C, ws, 0);
        w[CT_LT_UP] = rnd_bf16(FF, C, ws, 0);
        w[CT_LT_DOWN] = rnd_bf16(C, FF, ws, 0);
        if (qlora) quantize_layer(&m, l, &qo);
    }

    ct_method_cfg mc = {.method = strcmp(mode, "full") == 0 ? CT_METHOD_FULL : CT_METHOD_LORA,
                        .lora_rank = 16, .lora_alpha = 32, .lora_target = "all", .seed = 1};
    ct_train_model tm;
    ct_err err = {0};
    if (ct_train_model_init(&tm, &m, &mc, &err)) {
        fprintf(stderr, "init: %s\n", err.msg);
        return 1;
    }
    tm.checkpointing = getenv("CKPT") != NULL;
    /* BF16=1: opt-in bf16 compute (CT_PRECISION_BF16) on the bf16 frozen weights, so no f32
     * copy of them (the bf16 kernels would only round the copy back to bf16 while packing) */
    bool bf16 = getenv("BF16") && atoi(getenv("BF16")) && ct_ctx_set_precision(ctx, CT_PRECISION_BF16);
    if (getenv("BF16") && atoi(getenv("BF16")) && !bf16) {
        printf("bf16 compute: unavailable\n");
        return 0;
    }
    bool cache = getenv("NOCACHE") == NULL && !bf16 && !big; /* the trainer caches below 8 GiB of f32 */
    if (cache && ct_train_model_cache_frozen_f32(&tm, &err)) {
        fprintf(stderr, "cache: %s\n", err.msg);
        return 1;
    }
    if (getenv("XENT_CHUNK")) tm.xent_chunk = (size_t)atol(getenv("XENT_CHUNK"));
    ct_adamw opt;
    ct_adamw_init(&opt, 0.9, 0.999, 1e-8, 0.0);
    int32_t *ids = malloc((size_t)T * 4);
    for (int t = 0; t < T; t++) ids[t] = (int32_t)((t * 7919u + 13u) % (unsigned)V);
    /* one warm-up step at full length (steady-state workspace), then STEPS timed steps: median */
    int steps = getenv("STEPS") ? atoi(getenv("STEPS")) : 3;
    if (steps < 1) steps = 1;
    double loss = 0, *ts = calloc((size_t)steps, sizeof(double));
    for (int rep = 0; rep <= steps; rep++) {
        ct_lm_batch b = {.B = 1, .T = (size_t)T, .input_ids = ids, .labels = ids};
        double t0 = now();
        ct_params_zero_grad(&tm.params);
        if (ct_train_step(ctx, &tm, &b, (double)ct_lm_count_targets(&b, 0), true, &loss, &err)) {
            fprintf(stderr, "step: %s\n", err.msg);
            return 1;
        }
        float clip = 1.0f;
        ct_clip_grad_norm(ctx, &tm.params, 1.0, &clip);
        ct_adamw_step(ctx, &opt, &tm.params, 1e-5, clip);
        if (rep) ts[rep - 1] = now() - t0;
    }
    for (int i = 1; i < steps; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && ts[j] < ts[j - 1]; j--) {
            double x = ts[j];
            ts[j] = ts[j - 1];
            ts[j - 1] = x;
        }
    double t_step = steps % 2 ? ts[steps / 2] : 0.5 * (ts[steps / 2 - 1] + ts[steps / 2]);
    free(ts);
    /* model FLOPs: forward = 2*T*(linear params + lm head) + causal attention; LoRA step =
     * forward + input-grad backward (2x), full = 3x forward. */
    double lin = (double)L * ((double)C * (Hq * D) * 2 + (double)C * (Hkv * D) * 2 + 3.0 * C * FF);
    double fwd = 2.0 * T * (lin + (double)V * C) + 2.0 * (double)L * Hq * D * (double)T * T;
    double flops = fwd * (mc.method == CT_METHOD_FULL ? 3.0 : 2.0);
    if (q35) { /* the estimator's model of the hybrid (DeltaNet projections and delta rule included) */
        ct_estimate_opts eo;
        ct_estimate_opts_default(&eo);
        eo.method = mc.method == CT_METHOD_FULL ? CT_EST_FULL : CT_EST_LORA;
        eo.cutoff_len = (size_t)T;
        ct_estimate est;
        if (!ct_estimate_train(k, &eo, &est, &err)) flops = est.flops_per_token * T;
    }
    printf("{\"mode\": \"ctune_%s%s\", \"T\": %d, \"layers\": %d, \"threads\": %d, \"checkpointing\": %s, \"f32_cache\": %s, \"bf16_kernel\": \"%s\", "
           "\"loss\": %.4f, \"step_s\": %.3f, \"tokens_per_s\": %.1f, \"gflop\": %.1f, \"gflops\": %.1f, "
           "\"peak_rss_mib\": %.0f}\n",
           mode, bf16 ? "_bf16" : "", T, L, ct_ctx_threads(ctx), tm.checkpointing ? "true" : "false", cache ? "true" : "false",
           !bf16 ? "none" : ct_cpu_has_bf16() ? "avx512bf16" : "round-sgemm", loss, t_step, T / t_step,
           flops / 1e9, flops / t_step / 1e9, peak_rss_mib());
    const char *tag = bf16 ? "_bf16" : "";
    if (q35) { /* the Qwen3.5 rows, and the delta rule's share of the step */
        double dn = time_delta_rule(ctx, k, T) * k->n_deltanet;
        printf("{\"mode\": \"delta_rule\", \"layers\": %d, \"seconds\": %.3f, \"share_of_step\": %.3f}\n",
               k->n_deltanet, dn, dn / t_step);
        printf("@ train_q35_%s%s_tok_s %.1f\n@ train_q35_%s%s_rss_mib %.0f\n@ train_q35_%s%s_delta_rule_share %.3f\n",
               mode, tag, T / t_step, mode, tag, peak_rss_mib(), mode, tag, dn / t_step);
        ct_train_model_free(&tm);
        ct_ctx_free(ctx);
        return 0;
    }
    printf("@ train_ctune_%s%s_tok_s %.1f\n@ train_ctune_%s%s_gflops %.1f\n@ train_ctune_%s%s_rss_mib %.0f\n", mode,
           tag, T / t_step, mode, tag, flops / t_step / 1e9, mode, tag, peak_rss_mib());
    ct_train_model_free(&tm);
    ct_ctx_free(ctx);
    return 0;
}
