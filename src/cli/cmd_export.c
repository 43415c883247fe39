/* `ctune export --model BASE --adapter DIR --out DIR [--dtype bf16|f16|f32]`: merges a PEFT LoRA
 * adapter into its base and writes a Hugging Face model directory (see ct_adapter_export). */
#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "ctune/adapter.h"

static const char *usage_text =
    "usage: ctune export --model BASE --adapter DIR --out DIR [--dtype bf16|f16|f32]\n"
    "  merges the LoRA adapter (W + scaling * B A, computed in f32) into the base model and\n"
    "  writes a Hugging Face model directory: config.json, model.safetensors (sharded above\n"
    "  5 GB), generation_config.json and the tokenizer files. The directory appears atomically.\n"
    "  --dtype        stored dtype of the weights (default: the base model's)\n"
    "  --force        replace files in an existing --out directory\n"
    "  --threads N    compute threads (default: all cores)\n"
    "  QLoRA adapters: --model the original 16-bit base gives W + BA (LlamaFactory's way);\n"
    "  --quantization-bit 4|8 (and --quantization-type / --double-quantization as in training)\n"
    "  merges into dequant(quantized W) + BA instead: the weights the adapter saw in training.\n"
    "  A pre-quantized (bnb-4bit) --model is dequantized the same way.\n";

static bool parse_dtype(const char *s, ct_dtype *out) {
    if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) *out = CT_DTYPE_BF16;
    else if (!strcmp(s, "f16") || !strcmp(s, "float16") || !strcmp(s, "fp16")) *out = CT_DTYPE_F16;
    else if (!strcmp(s, "f32") || !strcmp(s, "float32") || !strcmp(s, "fp32")) *out = CT_DTYPE_F32;
    else return false;
    return true;
}

CT_CLI_COMMAND(export, "export", "merge a LoRA adapter into its base model (HF format)") {
    ct_args a;
    static const char *const flags[] = {"help", "force", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    ct_runtime *rt = NULL;
    ct_runtime_opts ro;
    const char *out = ct_args_get(&a, "out"), *dts = ct_args_get(&a, "dtype");
    bool force = ct_args_flag(&a, "force");
    ct_dtype dt = CT_DTYPE_COUNT;
    if (!ct_cli_runtime_opts(&a, false, &ro) || ct_args_check_unknown(&a, "export")) goto done;
    if (!ro.model_dir || !ro.adapter_dir || !out) {
        rc = ct_cli_errorf("export: --model BASE, --adapter DIR and --out DIR are required");
        goto done;
    }
    if (dts && !parse_dtype(dts, &dt)) {
        rc = ct_cli_errorf("export: --dtype must be bf16, f16 or f32, got '%s'", dts);
        goto done;
    }
    if (ct_dir_exists(out) && !force) {
        rc = ct_cli_errorf("export: %s already exists (use --force to replace its files)", out);
        goto done;
    }
    if (!ct_cli_runtime_open(&ro, &rt)) goto done;
    const ct_adapter *ad = ct_runtime_adapter(rt);
    ct_err err = {0};
    if (ct_adapter_export(ct_runtime_ctx(rt), ad, ro.model_dir, ro.adapter_dir, out, dt, &err)) {
        rc = ct_cli_error(&err);
        goto done;
    }
    const ct_config *c = ct_model_config(ct_runtime_model(rt));
    if (dt == CT_DTYPE_COUNT) dt = c->dtype;
    printf("merged %zu tensor(s) of %s (scaling %g) into %s; wrote %s (%s, %lld parameters)\n",
           ct_adapter_num_replaced(ad), ro.adapter_dir, ct_adapter_lora_scaling(ad), ro.model_dir, out, ct_dtype_name(dt),
           (long long)ct_model_param_count(ct_runtime_model(rt)));
    rc = 0;
done:
    ct_runtime_free(rt);
    ct_args_free(&a);
    return rc;
}
