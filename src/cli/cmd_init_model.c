/* `ctune init-model`: a small randomly initialised model directory (ct_init_model). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ctune/model.h"

static const char *usage_text =
    "usage: ctune init-model --arch qwen3 --hidden-size H --layers L --heads N --kv-heads K\n"
    "                        --intermediate-size I [--head-dim D] --tokenizer DIR --out DIR\n"
    "                        [--seed S] [--dtype bf16|f32] [--vocab-size V] [--untied]\n"
    "                        [--max-position-embeddings P] [--rope-theta T] [--initializer-range R]\n"
    "                        [--force] [--linear-key-heads N --linear-value-heads N --linear-head-dim D]\n"
    "Writes config.json, model.safetensors, generation_config.json and the tokenizer files.\n"
    "An --out directory that is not empty is refused unless --force (replace its model files).\n"
    "Weights: N(0, initializer_range) for linear and embedding, 1 for norms, 0 for biases (seeded).\n"
    "qwen3_5_text: the Gated DeltaNet's heads default to --heads of --head-dim each.\n";

CT_CLI_COMMAND(init_model, "init-model", "create a small randomly initialised model (qwen3 | qwen2 | llama)") {
    ct_args a;
    static const char *const flags[] = {"help", "untied", "force", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    ct_init_model_opts o;
    ct_init_model_opts_default(&o);
    long long hs = 0, ly = 0, hd = 0, kv = 0, is = 0, dim = 0, seed = 0, vs = 0, mp = 0, lk = 0, lv = 0, ld = 0;
    double theta = 0, irange = 0;
    if (!ct_args_int(&a, "hidden-size", &hs) || !ct_args_int(&a, "layers", &ly) || !ct_args_int(&a, "heads", &hd) ||
        !ct_args_int(&a, "kv-heads", &kv) || !ct_args_int(&a, "intermediate-size", &is) ||
        !ct_args_int(&a, "head-dim", &dim) || !ct_args_int(&a, "seed", &seed) || !ct_args_int(&a, "vocab-size", &vs) ||
        !ct_args_int(&a, "max-position-embeddings", &mp) || !ct_args_double(&a, "rope-theta", &theta) ||
        !ct_args_double(&a, "initializer-range", &irange) || !ct_args_int(&a, "linear-key-heads", &lk) ||
        !ct_args_int(&a, "linear-value-heads", &lv) || !ct_args_int(&a, "linear-head-dim", &ld))
        goto out;
    if (ct_args_get(&a, "arch")) o.arch = ct_args_get(&a, "arch");
    if (ct_args_get(&a, "dtype")) o.dtype = ct_args_get(&a, "dtype");
    o.tokenizer_dir = ct_args_get(&a, "tokenizer");
    o.out_dir = ct_args_get(&a, "out");
    o.tie_word_embeddings = !ct_args_flag(&a, "untied");
    o.overwrite = ct_args_flag(&a, "force");
    if (ct_args_check_unknown(&a, "init-model")) goto out;
    /* a value given must be valid: 0, negative, nan or inf is an error, never the default */
    static const char *const positive_int[] = {"hidden-size", "layers", "heads", "kv-heads", "intermediate-size",
                                               "head-dim", "vocab-size", "max-position-embeddings",
                                               "linear-key-heads", "linear-value-heads", "linear-head-dim", NULL};
    const long long *ival[] = {&hs, &ly, &hd, &kv, &is, &dim, &vs, &mp, &lk, &lv, &ld};
    for (int i = 0; positive_int[i]; i++)
        if (ct_args_get(&a, positive_int[i]) && *ival[i] <= 0) {
            rc = ct_cli_errorf("init-model: --%s must be positive (got %lld)", positive_int[i], *ival[i]);
            goto out;
        }
    static const char *const positive_real[] = {"rope-theta", "initializer-range", NULL};
    const double *dval[] = {&theta, &irange};
    for (int i = 0; positive_real[i]; i++)
        if (ct_args_get(&a, positive_real[i]) && !(isfinite(*dval[i]) && *dval[i] > 0)) {
            rc = ct_cli_errorf("init-model: --%s must be a positive number (got %g)", positive_real[i], *dval[i]);
            goto out;
        }
    if (ct_args_get(&a, "seed") && seed < 0) {
        rc = ct_cli_errorf("init-model: --seed must be >= 0 (got %lld)", seed);
        goto out;
    }
    if (!hs || !ly || !hd || !is || !o.tokenizer_dir || !o.out_dir) {
        fputs(usage_text, stderr);
        rc = ct_cli_errorf("init-model: --hidden-size, --layers, --heads, --intermediate-size, --tokenizer and --out are required");
        goto out;
    }
    if (hs > 65536 || ly > 512 || hd > 1024 || kv > 1024 || is > 1 << 20 || dim > 4096 || vs > 1 << 24 ||
        mp > INT32_MAX || lk > 1024 || lv > 1024 || ld > 4096) {
        rc = ct_cli_errorf("init-model: a size is out of range (hidden-size <= 65536, layers <= 512, heads, kv-heads "
                           "and linear heads <= 1024, intermediate-size <= 1048576, head-dim and linear-head-dim <= "
                           "4096, vocab-size <= 16777216)");
        goto out;
    }
    o.hidden_size = (int32_t)hs;
    o.num_layers = (int32_t)ly;
    o.num_heads = (int32_t)hd;
    o.num_kv_heads = (int32_t)kv;
    o.intermediate_size = (int32_t)is;
    o.head_dim = (int32_t)dim;
    o.linear_key_heads = (int32_t)lk;
    o.linear_value_heads = (int32_t)lv;
    o.linear_head_dim = (int32_t)ld;
    o.vocab_size = (int32_t)vs;
    o.max_position_embeddings = (int32_t)mp;
    o.rope_theta = theta;
    o.initializer_range = irange;
    o.seed = (uint64_t)seed;
    ct_err err = {0};
    if (ct_init_model(&o, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    printf("initialised a random %s model in %s (seed %llu)\n", o.arch, o.out_dir, (unsigned long long)seed);
    rc = 0;
out:
    ct_args_free(&a);
    return rc;
}
