/* Forward benchmark: writes a RANDOM bf16 model with Qwen2.5-0.5B's shape (hidden 896, 24 layers,
 * 14 heads, 2 kv heads, intermediate 4864, vocab 151936, tied head, q/k/v bias) as a Hugging
 * Face directory (config.json + model.safetensors, ~1 GB) under /tmp, loads it through
 * ct_model_load (mmap) and measures prefill tokens/s, decode tokens/s and decode GB/s of weights
 * read, for each thread count given; then decode with a random LoRA adapter (r=16 on all seven
 * linears, written once to DIR/lora) run unmerged (the default: the training path) and merged
 * into f32 copies (ct_adapter_merge; NO_LORA=1 skips these rows).
 * Usage: forward_bench DIR PREFILL DECODE THREADS... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "ctune/adapter.h"
#include "ctune/model.h"
#include "peft/peft_io.h"

enum { C = 896, L = 24, HQ = 14, HKV = 2, D = 64, I = 4864, V = 151936 };

enum { REPS = 3 };

static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct spec {
    char name[96];
    int64_t d0, d1;
} spec;

static size_t add(spec *s, size_t n, const char *name, int64_t d0, int64_t d1) {
    snprintf(s[n].name, sizeof s[n].name, "%s", name);
    s[n].d0 = d0;
    s[n].d1 = d1;
    return n + 1;
}

static int write_model(const char *dir) {
    static spec s[16 * L + 8];
    size_t n = 0;
    char nm[96];
    n = add(s, n, "model.embed_tokens.weight", V, C);
    n = add(s, n, "model.norm.weight", C, 0);
    for (int l = 0; l < L; l++) {
#define A(sfx, a, b) (snprintf(nm, sizeof nm, "model.layers.%d.%s", l, sfx), n = add(s, n, nm, a, b))
        A("input_layernorm.weight", C, 0);
        A("post_attention_layernorm.weight", C, 0);
        A("self_attn.q_proj.weight", HQ * D, C);
        A("self_attn.q_proj.bias", HQ * D, 0);
        A("self_attn.k_proj.weight", HKV * D, C);
        A("self_attn.k_proj.bias", HKV * D, 0);
        A("self_attn.v_proj.weight", HKV * D, C);
        A("self_attn.v_proj.bias", HKV * D, 0);
        A("self_attn.o_proj.weight", C, HQ * D);
        A("mlp.gate_proj.weight", I, C);
        A("mlp.up_proj.weight", I, C);
        A("mlp.down_proj.weight", C, I);
#undef A
    }
    size_t hcap = 1 << 20, hl = 0, off = 0;
    char *h = malloc(hcap);
    hl += (size_t)snprintf(h + hl, hcap - hl, "{");
    for (size_t i = 0; i < n; i++) {
        size_t bytes = (size_t)s[i].d0 * (size_t)(s[i].d1 ? s[i].d1 : 1) * 2;
        if (s[i].d1)
            hl += (size_t)snprintf(h + hl, hcap - hl,
                                   "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld,%lld],"
                                   "\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", s[i].name, (long long)s[i].d0,
                                   (long long)s[i].d1, off, off + bytes);
        else
            hl += (size_t)snprintf(h + hl, hcap - hl,
                                   "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld],"
                                   "\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", s[i].name, (long long)s[i].d0, off, off + bytes);
        off += bytes;
    }
    hl += (size_t)snprintf(h + hl, hcap - hl, "}");
    while (hl % 8) h[hl++] = ' ';
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t hl64 = hl;
    fwrite(&hl64, 8, 1, f);
    fwrite(h, 1, hl, f);
    /* random bf16 weights: uniform in +-0.05 (norm weights near 1 would not change the cost) */
    uint64_t x = 88172645463325252ull;
    size_t chunk = 1 << 20;
    uint16_t *buf = malloc(chunk * 2);
    for (size_t done = 0; done < off / 2;) {
        size_t m = off / 2 - done < chunk ? off / 2 - done : chunk;
        for (size_t i = 0; i < m; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            float v = ((float)(x >> 40) / (float)(1 << 24) - 0.5f) * 0.1f;
            buf[i] = ct_f32_to_bf16(v);
        }
        fwrite(buf, 2, m, f);
        done += m;
    }
    free(buf);
    free(h);
    fclose(f);
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    fprintf(f,
            "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":%d,"
            "\"intermediate_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
            "\"num_key_value_heads\":%d,\"vocab_size\":%d,\"max_position_embeddings\":32768,"
            "\"rms_norm_eps\":1e-6,\"rope_theta\":1000000.0,\"tie_word_embeddings\":true,"
            "\"hidden_act\":\"silu\",\"torch_dtype\":\"bfloat16\",\"use_sliding_window\":false}\n",
            C, I, L, HQ, HKV, V);
    fclose(f);
    return 0;
}

/* A random PEFT LoRA adapter (r 16, alpha 32, all seven linears of every layer) in dir. */
static int write_lora(const char *dir) {
    static const char *mods[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    const int64_t in[7] = {C, C, C, HQ * D, C, C, I}, out[7] = {HQ * D, HKV * D, HKV * D, C, I, I, C};
    enum { R = 16 };
    ct_lora_pair *pairs = calloc(7 * L, sizeof *pairs);
    float **bufs = calloc(14 * L, sizeof *bufs);
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int l = 0; l < L; l++)
        for (int m = 0; m < 7; m++) {
            ct_lora_pair *p = &pairs[l * 7 + m];
            float *a = bufs[2 * (l * 7 + m)] = malloc((size_t)(R * in[m]) * 4);
            float *b = bufs[2 * (l * 7 + m) + 1] = malloc((size_t)(out[m] * R) * 4);
            for (int64_t i = 0; i < R * in[m]; i++) x ^= x << 13, x ^= x >> 7, x ^= x << 17, a[i] = ((float)(x >> 40) / 16777216.0f - 0.5f) * 0.05f;
            for (int64_t i = 0; i < out[m] * R; i++) x ^= x << 13, x ^= x >> 7, x ^= x << 17, b[i] = ((float)(x >> 40) / 16777216.0f - 0.5f) * 0.05f;
            p->layer = l;
            p->module = mods[m];
            p->A = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {R, in[m]}, .data = a};
            p->B = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {out[m], R}, .data = b};
        }
    ct_lora_config lc = {.r = R, .lora_alpha = 32, .target_modules = mods, .n_target_modules = 7};
    ct_err err = {0};
    int rc = ct_peft_save_lora(dir, &lc, pairs, 7 * L, CT_DTYPE_F32, &err) ? -1 : 0;
    if (rc) fprintf(stderr, "%s\n", err.msg);
    for (int i = 0; i < 14 * L; i++) free(bufs[i]);
    free(bufs);
    free(pairs);
    return rc;
}

/* Decode tokens/s over nd tokens after a 1-token prefill, with adapter ad (NULL: base). */
static double decode_tps(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *ids, int nd,
                         float *logits) {
    ct_err err = {0};
    ct_kv_cache *kv = NULL;
    ct_kv_cache_init(&kv, ct_model_config(m), (size_t)nd + 1, &err);
    ct_model_forward(ctx, m, ad, kv, ids, 1, NULL, NULL, logits, &err);
    double t0 = now();
    for (int i = 0; i < nd; i++) ct_model_forward(ctx, m, ad, kv, ids + 1 + i, 1, NULL, NULL, logits, &err);
    double t = now() - t0;
    ct_kv_cache_free(kv);
    return nd / t;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s DIR PREFILL_TOKENS DECODE_TOKENS THREADS...\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int np = atoi(argv[2]), nd = atoi(argv[3]);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/model.safetensors", dir);
    ct_err err = {0};
    if (!ct_file_exists(cfg)) {
        ct_mkdir_p(dir, &err);
        double t0 = now();
        if (write_model(dir)) {
            fprintf(stderr, "cannot write %s\n", dir);
            return 1;
        }
        fprintf(stderr, "wrote random Qwen2.5-0.5B-shaped bf16 model to %s in %.1f s\n", dir,
                now() - t0);
    }
    ct_model *m = NULL;
    if (ct_model_load(dir, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const ct_config *c = ct_model_config(m);
    size_t wb = ct_model_weight_bytes(m);
    printf("model: %lld params, %.1f MB bf16 weights\n", (long long)ct_model_param_count(m),
           (double)wb / 1e6);
    int32_t *ids = malloc((size_t)(np + nd) * sizeof *ids);
    for (int i = 0; i < np + nd; i++) ids[i] = (i * 7919) % c->vocab_size;
    float *logits = malloc((size_t)c->vocab_size * sizeof(float));
    ct_ctx *ctx = NULL;
    if (ct_ctx_new(&ctx, 0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (int a = 4; a < argc; a++) {
        int th = atoi(argv[a]);
        ct_ctx_set_threads(ctx, th);
        ct_kv_cache *kv = NULL;
        ct_kv_cache_init(&kv, c, (size_t)(np + nd), &err);
        /* warm-up: touch every weight page once */
        ct_model_forward(ctx, m, NULL, kv, ids, 1, NULL, NULL, logits, &err);
        /* prefill: median of REPS runs (the machine is shared; see docs/perf.md "Method") */
        double tps[REPS];
        for (int r = 0; r < REPS; r++) {
            ct_kv_cache_reset(kv);
            double t0 = now();
            if (ct_model_forward(ctx, m, NULL, kv, ids, (size_t)np, NULL, NULL, logits, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            tps[r] = now() - t0;
        }
        double tp = median(tps, REPS);
        double t0 = now();
        for (int i = 0; i < nd; i++) ct_model_forward(ctx, m, NULL, kv, ids + np + i, 1, NULL, NULL, logits, &err);
        double td = now() - t0;
        /* decode reads every weight once per token (the tied embedding serves as lm_head) */
        printf("threads %d: prefill %d tokens %.1f tok/s (median of %d) | decode %d tokens %.2f tok/s, "
               "%.1f ms/token, %.2f GB/s of weights\n",
               th, np, np / tp, REPS, nd, nd / td, 1e3 * td / nd, (double)wb * nd / td / 1e9);
        printf("@ fwd_ctune_prefill_%dt %.1f\n@ fwd_ctune_decode_%dt %.2f\n", th, np / tp, th, nd / td);
        ct_kv_cache_free(kv);
    }
    /* opt-in bf16 compute (CT_PRECISION_BF16): prefill only (decode is unchanged) */
    if (ct_ctx_set_precision(ctx, CT_PRECISION_BF16)) {
        for (int a = 4; a < argc; a++) {
            int th = atoi(argv[a]);
            ct_ctx_set_threads(ctx, th);
            ct_kv_cache *kv = NULL;
            ct_kv_cache_init(&kv, c, (size_t)(np + nd), &err);
            double tps[REPS];
            for (int r = 0; r < REPS; r++) {
                ct_kv_cache_reset(kv);
                double t0 = now();
                ct_model_forward(ctx, m, NULL, kv, ids, (size_t)np, NULL, NULL, logits, &err);
                tps[r] = now() - t0;
            }
            double tp = median(tps, REPS);
            printf("threads %d, bf16 compute: prefill %d tokens %.1f tok/s (median of %d)\n", th, np, np / tp, REPS);
            printf("@ fwd_bf16c_prefill_%dt %.1f\n", th, np / tp);
            ct_kv_cache_free(kv);
        }
        ct_ctx_set_precision(ctx, CT_PRECISION_F32);
    } else {
        printf("bf16 compute: unavailable\n");
    }
    /* LoRA at decode: unmerged (default) vs merged f32 copies; base in the same loop for the ratio */
    char lora[512];
    snprintf(lora, sizeof lora, "%s/lora", dir);
    snprintf(cfg, sizeof cfg, "%s/adapter_model.safetensors", lora);
    ct_adapter *un = NULL, *mg = NULL;
    if (getenv("NO_LORA")) {
        /* the caller only wants the base rows */
    } else if ((ct_file_exists(cfg) || !write_lora(lora)) && !ct_adapter_load(lora, m, &un, &err) &&
        !ct_adapter_load(lora, m, &mg, &err) && !ct_adapter_merge(mg, ctx, &err)) {
        for (int a = 4; a < argc; a++) {
            int th = atoi(argv[a]);
            ct_ctx_set_threads(ctx, th);
            double b[REPS], u[REPS], g[REPS];
            for (int r = 0; r < REPS; r++) { /* interleaved so all three see the same load */
                b[r] = decode_tps(ctx, m, NULL, ids, nd, logits);
                u[r] = decode_tps(ctx, m, un, ids, nd, logits);
                g[r] = decode_tps(ctx, m, mg, ids, nd, logits);
            }
            double mb = median(b, REPS), mu = median(u, REPS), mgd = median(g, REPS);
            printf("threads %d, LoRA r=16 all linears: decode base %.2f | unmerged %.2f (%.2fx) | merged f32 %.2f "
                   "(%.2fx) tok/s (medians of %d)\n",
                   th, mb, mu, mu / mb, mgd, mgd / mb, REPS);
            printf("@ fwd_lora_base_decode_%dt %.2f\n@ fwd_lora_unmerged_decode_%dt %.2f\n@ fwd_lora_merged_decode_%dt "
                   "%.2f\n",
                   th, mb, th, mu, th, mgd);
        }
    } else {
        fprintf(stderr, "LoRA decode rows skipped: %s\n", err.msg);
    }
    ct_adapter_free(un);
    ct_adapter_free(mg);
    free(ids);
    free(logits);
    ct_ctx_free(ctx);
    ct_model_free(m);
    return 0;
}
