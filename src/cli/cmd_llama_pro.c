/* `ctune llama-pro`: LLaMA Pro block expansion, LlamaFactory's scripts/llama_pro.py with the same
 * option names (ct_llama_pro_expand). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ctune/model.h"

static const char *usage_text =
    "usage: ctune llama-pro --model_name_or_path DIR --output_dir DIR --num_expand N [--shard_size 5GB]\n"
    "       (also --model, --out, --num-expand, --shard-size)\n"
    "LLaMA Pro block expansion as LlamaFactory's scripts/llama_pro.py: after every L / N layers a copy\n"
    "of the last one is inserted with o_proj and down_proj zeroed (the new block starts as the\n"
    "identity). Then fine-tune the expanded model with:\n"
    "  finetuning_type: freeze\n  freeze_trainable_layers: N\n  use_llama_pro: true\n";

static const char *either(ct_args *a, const char *k1, const char *k2, const char *k3) {
    const char *v = ct_args_get(a, k1), *w = ct_args_get(a, k2), *x = k3 ? ct_args_get(a, k3) : NULL;
    return v ? v : w ? w : x;
}

/* huggingface_hub's size strings: "5GB" (10^9), "5GiB" (2^30), "500MB", "2KiB", or bytes. */
static bool parse_size(const char *s, unsigned long long *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return false;
    while (isspace((unsigned char)*end)) end++;
    static const struct { const char *unit; double mul; } units[] = {
        {"", 1}, {"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"KiB", 1024.0}, {"MiB", 1048576.0},
        {"GiB", 1073741824.0}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].unit)) {
            *out = (unsigned long long)(v * units[i].mul);
            return *out > 0;
        }
    return false;
}

CT_CLI_COMMAND(llama_pro, "llama-pro", "expand a model with LLaMA Pro blocks (LlamaFactory scripts/llama_pro.py)") {
    ct_args a;
    static const char *const flags[] = {"help", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    ct_llama_pro_opts o = {0};
    o.model_dir = either(&a, "model_name_or_path", "model-name-or-path", "model");
    o.out_dir = either(&a, "output_dir", "output-dir", "out");
    const char *ne = either(&a, "num_expand", "num-expand", NULL);
    const char *sh = either(&a, "shard_size", "shard-size", NULL);
    const char *sf = either(&a, "save_safetensors", "save-safetensors", NULL);
    if (ct_args_check_unknown(&a, "llama-pro")) goto out;
    if (!o.model_dir || !o.out_dir || !ne) {
        fputs(usage_text, stderr);
        rc = ct_cli_errorf("llama-pro: --model_name_or_path, --output_dir and --num_expand are required");
        goto out;
    }
    char *end;
    long n = strtol(ne, &end, 10);
    if (*end || end == ne || n < 1 || n > 256) {
        rc = ct_cli_errorf("llama-pro: --num_expand: expected a block count in [1, 256], got '%s'", ne);
        goto out;
    }
    o.num_expand = (int32_t)n;
    unsigned long long bytes = 0;
    if (sh && !parse_size(sh, &bytes)) {
        rc = ct_cli_errorf("llama-pro: --shard_size: expected a size such as 5GB, 500MB or 2GiB, got '%s'", sh);
        goto out;
    }
    o.max_shard_bytes = bytes;
    if (sf && strcmp(sf, "true") && strcmp(sf, "True")) {
        rc = ct_cli_errorf("llama-pro: --save_safetensors %s: ctune writes safetensors only", sf);
        goto out;
    }
    ct_err err = {0};
    if (ct_llama_pro_expand(&o, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    printf("Expanded %s by %d blocks into %s.\n- Fine-tune this model with:\nmodel_name_or_path: %s\n"
           "finetuning_type: freeze\nfreeze_trainable_layers: %d\nuse_llama_pro: true\n",
           o.model_dir, o.num_expand, o.out_dir, o.out_dir, o.num_expand);
    rc = 0;
out:
    ct_args_free(&a);
    return rc;
}
