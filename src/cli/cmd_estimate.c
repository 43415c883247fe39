/* `ctune estimate`: memory breakdown, peak and expected speed of a fine-tuning run before it
 * starts (ct_estimate_train, include/ctune/estimate.h), or a matrix of peaks over the named sizes. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "ctune/estimate.h"

static const char *usage_text =
    "usage: ctune estimate (--model DIR | --config FILE | --size NAME | TRAIN.yaml) [options]\n"
    "       ctune estimate --table [--cutoff-len T] [--batch B] [options]\n"
    "Memory breakdown, peak and expected tokens/s of a fine-tuning run (`ctune train` refuses a run\n"
    "whose peak exceeds the available memory unless --force).\n"
    "  --method M               full | freeze | lora | qlora8 | qlora4 | prompt | badam (default lora;\n"
    "                           badam: full fine-tuning one decoder layer at a time, use_badam)\n"
    "  --galore-rank R          full / freeze with GaLore (use_galore) on every decoder linear, rank R\n"
    "  --cutoff-len T           tokens per row (default 2048)\n"
    "  --batch B                rows per micro-batch (default 1)\n"
    "  --gradient-checkpointing recompute each layer's forward in the backward\n"
    "  --precision f32|bf16     compute: exact f32 (default; frozen 16-bit weights get f32 copies)\n"
    "                           or bf16 (YAML: bf16 / pure_bf16 / fp16); weights as the model stores them\n"
    "  --lora-rank R            LoRA rank (default 8; targets: every linear layer)\n"
    "  --freeze-layers N        freeze: trainable layers (default 2: the last two)\n"
    "  --virtual-tokens N       prompt tuning: virtual tokens (default 20)\n"
    "  --threads N              threads (default: all cores)\n"
    "  --no-calibrate           skip the ~0.3 s kernel timing (no tokens/s)\n"
    "  --json                   one JSON object\n"
    "  --table                  peak GiB of every named size x method (full freeze lora qlora8 qlora4 badam)\n"
    "A TRAIN.yaml (LlamaFactory) gives model_name_or_path, finetuning_type, cutoff_len,\n"
    "per_device_train_batch_size, gradient_checkpointing, bf16, lora_rank, lora_target, quantization_bit,\n"
    "use_badam, use_llama_pro, use_galore (galore_rank, galore_target, galore_proj_type);\n"
    "options given here override it. Sizes: qwen2.5-{0.5b,1.5b,3b,7b,14b,32b,72b},\n"
    "qwen3-{0.6b,1.7b,4b,8b,14b,32b}, llama-3.2-{1b,3b}, llama-3.1-8b.\n";

#define GIB 1073741824.0
#define MIB 1048576.0

static void row(const char *what, size_t bytes, const char *note) {
    printf("  %-22s %10.1f MiB  %s\n", what, (double)bytes / MIB, note);
}

static void print_text(const char *model, const ct_config *c, const ct_estimate_opts *o, const ct_estimate *e) {
    char note[128];
    printf("model     %s: %s, %.2f M parameters, %s\n", model, ct_arch_name(c->arch), (double)e->params / 1e6,
           c->dtype == CT_DTYPE_F32 ? "f32" : c->dtype == CT_DTYPE_F16 ? "f16" : "bf16");
    printf("run       %s", ct_est_method_name(o->method));
    if (o->method == CT_EST_LORA || o->method == CT_EST_QLORA4 || o->method == CT_EST_QLORA8)
        printf(" (rank %d)", o->lora_rank);
    printf(", %s compute, cutoff_len %zu, batch %zu, gradient checkpointing %s; %lld trainable (%.3f %%)\n",
           o->bf16 ? "bf16" : "f32", o->cutoff_len, o->batch, o->checkpointing ? "on" : "off", (long long)e->trainable,
           100.0 * (double)e->trainable / (double)e->params);
    row("weights", e->weights, "as stored (mmap)");
    if (o->method == CT_EST_BADAM)
        row("weight copies", e->frozen_f32, "f32 cache of frozen weights / trained blocks' values");
    else
        row("frozen f32 copies", e->frozen_f32, "the trainer's f32 cache of frozen weights");
    row("trainable f32", e->masters, "");
    row("gradients", e->grads, "");
    row("AdamW moments", e->adam, o->galore ? "m and v (GaLore targets: projected, + projectors)" : "m and v");
    snprintf(note, sizeof note, "%s", o->checkpointing ? "layer inputs + one layer recomputed" : "every layer's saved tensors");
    row("activations", e->activations, note);
    row("LM head chunk", e->lm_head, "f32 logits of one chunk of tokens (64; 512 in bf16)");
    row("kernel scratch", e->scratch, "per-thread attention / decode buffers");
    row("runtime overhead", e->overhead, "binary, libraries, BLAS/OpenMP, tokenizer");
    size_t avail = ct_mem_available();
    printf("peak      %.2f GiB", (double)e->peak / GIB);
    if (avail) printf(" (%.1f GiB available%s)", (double)avail / GIB, e->peak > avail ? ": DOES NOT FIT" : "");
    printf("\ninference %.2f GiB at %zu tokens (KV cache %.1f MiB)\n", (double)e->inference / GIB, o->cutoff_len,
           (double)e->kv_cache / MIB);
    if (e->tokens_per_s > 0)
        printf("speed     ~%.0f tokens/s (%.1f GFLOP/s calibrated, %.2f GFLOP per token)\n", e->tokens_per_s, e->gflops,
               e->flops_per_token / 1e9);
}

static void print_json(const char *model, const ct_estimate_opts *o, const ct_estimate *e) {
    json_t *j = json_object();
    json_object_set_new(j, "model", json_string(model));
    json_object_set_new(j, "method", json_string(ct_est_method_name(o->method)));
    json_object_set_new(j, "cutoff_len", json_integer((json_int_t)o->cutoff_len));
    json_object_set_new(j, "batch", json_integer((json_int_t)o->batch));
    json_object_set_new(j, "gradient_checkpointing", json_boolean(o->checkpointing));
    json_object_set_new(j, "params", json_integer(e->params));
    json_object_set_new(j, "trainable", json_integer(e->trainable));
    const struct { const char *k; size_t v; } parts[] = {
        {"weights", e->weights}, {"frozen_f32", e->frozen_f32}, {"masters", e->masters}, {"grads", e->grads},
        {"adam", e->adam}, {"activations", e->activations}, {"lm_head", e->lm_head}, {"scratch", e->scratch},
        {"overhead", e->overhead}, {"peak", e->peak}, {"kv_cache", e->kv_cache}, {"inference", e->inference},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        json_object_set_new(j, parts[i].k, json_integer((json_int_t)parts[i].v));
    json_object_set_new(j, "peak_gib", json_real((double)e->peak / GIB));
    json_object_set_new(j, "mem_available", json_integer((json_int_t)ct_mem_available()));
    json_object_set_new(j, "flops_per_token", json_real(e->flops_per_token));
    json_object_set_new(j, "gflops", json_real(e->gflops));
    json_object_set_new(j, "tokens_per_s", json_real(e->tokens_per_s));
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(j);
}

static int print_table(const ct_estimate_opts *base, bool json) {
    static const ct_est_method cols[] = {CT_EST_FULL, CT_EST_FREEZE, CT_EST_LORA, CT_EST_QLORA8, CT_EST_QLORA4,
                                         CT_EST_BADAM};
    enum { NC = sizeof cols / sizeof cols[0] };
    json_t *j = json ? json_object() : NULL;
    if (!json) {
        printf("peak GiB, cutoff_len %zu, batch %zu%s\n%-14s", base->cutoff_len, base->batch,
               base->checkpointing ? ", gradient checkpointing" : "", "model");
        for (int k = 0; k < NC; k++) printf("%9s", ct_est_method_name(cols[k]));
        printf("\n");
    }
    for (size_t i = 0; ct_size_name(i); i++) {
        ct_config c;
        ct_err err = {0};
        ct_size_config(ct_size_name(i), &c, &err);
        json_t *r = json ? json_object() : NULL;
        if (!json) printf("%-14s", ct_size_name(i));
        for (int k = 0; k < NC; k++) {
            ct_estimate_opts o = *base;
            o.method = cols[k];
            ct_estimate e;
            if (ct_estimate_train(&c, &o, &e, &err)) {
                json_decref(j);
                json_decref(r);
                return ct_cli_error(&err);
            }
            if (json) json_object_set_new(r, ct_est_method_name(cols[k]), json_real((double)e.peak / GIB));
            else printf("%9.1f", (double)e.peak / GIB);
        }
        if (json) json_object_set_new(j, ct_size_name(i), r);
        else printf("\n");
    }
    if (json) {
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(j);
    }
    return 0;
}

CT_CLI_COMMAND(estimate, "estimate", "memory and speed estimate of a fine-tuning run (or a size x method table)") {
    ct_args a;
    static const char *const flags[] = {"help", "gradient-checkpointing", "no-calibrate", "json", "table", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    ct_estimate_opts o;
    ct_estimate_opts_default(&o);
    ct_config c;
    ct_err err = {0};
    ct_train_config tc;
    ct_train_config_init(&tc);
    const char *yaml = ct_args_positional(&a, 0), *model = NULL;
    long long T = 0, B = 0, rank = 0, fl = 0, nv = 0, grank = 0;
    int threads = 0;
    bool has_fl = ct_args_get(&a, "freeze-layers") != NULL;
    if (!ct_args_int(&a, "cutoff-len", &T) || !ct_args_int(&a, "batch", &B) || !ct_args_int(&a, "lora-rank", &rank) ||
        !ct_args_int(&a, "freeze-layers", &fl) || !ct_args_int(&a, "virtual-tokens", &nv) ||
        !ct_args_int(&a, "galore-rank", &grank) ||
        !ct_cli_threads(&a, &threads))
        goto out;
    const char *method = ct_args_get(&a, "method"), *dir = ct_args_get(&a, "model"), *file = ct_args_get(&a, "config");
    const char *size = ct_args_get(&a, "size");
    bool table = ct_args_flag(&a, "table"), json = ct_args_flag(&a, "json");
    bool ckpt = ct_args_flag(&a, "gradient-checkpointing");
    const char *prec = ct_args_get(&a, "precision");
    bool calibrate = !ct_args_flag(&a, "no-calibrate");
    if (ct_args_check_unknown(&a, "estimate")) goto out;
    if ((dir != NULL) + (file != NULL) + (size != NULL) + (yaml != NULL) + table != 1) {
        fputs(usage_text, stderr);
        rc = ct_cli_errorf("estimate: give exactly one of --model DIR, --config FILE, --size NAME, TRAIN.yaml, --table");
        goto out;
    }
    if (T < 0 || B < 0 || rank < 0 || nv < 0 || grank < 0 || grank > 65536 ||
        (prec && strcmp(prec, "f32") && strcmp(prec, "bf16"))) {
        rc = ct_cli_errorf("estimate: --cutoff-len, --batch, --lora-rank, --virtual-tokens, --galore-rank must be "
                           "positive; --precision is f32 or bf16");
        goto out;
    }
    if (yaml) { /* the YAML first, the options over it */
        if (ct_train_config_load(&tc, yaml, &err) ||
            ct_estimate_opts_from_train(&tc, &o, &err)) {
            rc = ct_cli_error(&err);
            goto out;
        }
        if (!(model = tc.model_name_or_path)) {
            rc = ct_cli_errorf("estimate: %s: model_name_or_path is required", yaml);
            goto out;
        }
    }
    if (method && !ct_est_method_parse(method, &o.method)) {
        rc = ct_cli_errorf("estimate: --method '%s' is not one of full, freeze, lora, qlora8, qlora4, prompt, badam",
                           method);
        goto out;
    }
    if (grank) {
        o.galore = true;
        o.galore_rank = (int)grank;
    }
    if (o.galore && o.method != CT_EST_FULL && o.method != CT_EST_FREEZE) {
        rc = ct_cli_errorf("estimate: GaLore needs --method full or freeze (got %s)", ct_est_method_name(o.method));
        goto out;
    }
    if (T) o.cutoff_len = (size_t)T;
    if (B) o.batch = (size_t)B;
    if (ckpt) o.checkpointing = true;
    if (rank) o.lora_rank = (int)rank;
    if (has_fl) o.freeze_trainable_layers = (int)fl;
    if (nv) o.num_virtual_tokens = (int)nv;
    if (threads) o.threads = threads;
    if (prec) o.bf16 = !strcmp(prec, "bf16");
    if (table) {
        rc = print_table(&o, json);
        goto out;
    }
    if (!model) model = dir ? dir : file ? file : size;
    if (size ? ct_size_config(size, &c, &err) : ct_estimate_config(model, &c, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    ct_estimate e;
    if (ct_estimate_train(&c, &o, &e, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    if (calibrate) ct_estimate_set_speed(&e, ct_estimate_calibrate(o.threads, 0));
    if (json) print_json(model, &o, &e);
    else print_text(model, &c, &o, &e);
    rc = 0;
out:
    ct_train_config_free(&tc);
    ct_args_free(&a);
    return rc;
}
