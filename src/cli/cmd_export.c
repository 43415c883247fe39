/* `ctune export`: merges a PEFT LoRA adapter into its base, or re-exports a model alone, and
 * writes a Hugging Face model directory (ct_adapter_export_ex, ct_model_export). Options as
 * flags, or LlamaFactory's merge YAML (llamafactory-cli export; ctune/infer_config.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "ctune/adapter.h"
#include "ctune/infer_config.h"

static const char *usage_text =
    "usage: ctune export --model BASE [--adapter DIR] --out DIR [--dtype bf16|f16|f32] [--export-size GB]\n"
    "       ctune export --format gguf --model BASE [--adapter DIR [--gguf-lora]] --out DIR\n"
    "                    [--dtype f32|f16|bf16|q8_0|q4_0]\n"
    "       ctune export MERGE.yaml [--force] [overrides]\n"
    "  merges the LoRA adapter (W + scaling * B A, computed in f32) into the base model and\n"
    "  writes a Hugging Face model directory: config.json, model.safetensors (sharded above\n"
    "  --export-size GB, default 5), generation_config.json and the tokenizer files. Without\n"
    "  --adapter the model is re-exported as it is (another dtype, another shard size).\n"
    "  The directory appears atomically.\n"
    "  --dtype        stored dtype of the weights (default: the base model's; gguf: f16)\n"
    "  --format       hf (default) or gguf: DIR/model.gguf for llama.cpp / Ollama and DIR/Modelfile;\n"
    "                 with --adapter the LoRA is merged, with --gguf-lora it is written unmerged as\n"
    "                 DIR/adapter.gguf (a llama.cpp LoRA) beside the base's DIR/model.gguf (docs/export.md)\n"
    "  --force        replace files in an existing --out directory\n"
    "  --threads N    compute threads (default: all cores)\n"
    "  MERGE.yaml: LlamaFactory's export keys (model_name_or_path, adapter_name_or_path, export_dir,\n"
    "  export_size, infer_dtype, export_device, export_legacy_format, template, ...);\n"
    "  overrides: --key value, --flag, key=value (docs/inference.md)\n"
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

/* Opens the runtime and writes out_dir; prints one summary line. */
static int do_export(const ct_runtime_opts *ro, const char *out, const ct_export_opts *eo, bool force) {
    if (ct_dir_exists(out) && !force)
        return ct_cli_errorf("export: %s already exists (use --force to replace its files)", out);
    ct_runtime *rt = NULL;
    if (!ct_cli_runtime_open(ro, &rt)) return 1;
    ct_err err = {0};
    const ct_adapter *ad = ct_runtime_adapter(rt);
    const ct_model *m = ct_runtime_model(rt);
    ct_status st = ad ? ct_adapter_export_ex(ct_runtime_ctx(rt), ad, ro->model_dir, ro->adapter_dir, out, eo, &err)
                      : ct_model_export(m, ro->model_dir, out, eo, &err);
    int rc = 1;
    if (st) {
        rc = ct_cli_error(&err);
    } else {
        ct_dtype dt = eo->dtype == CT_DTYPE_COUNT ? ct_model_config(m)->dtype : eo->dtype;
        if (ad)
            printf("merged %zu tensor(s) of %s (scaling %g) into %s; wrote %s (%s, %lld parameters)\n",
                   ct_adapter_num_replaced(ad), ro->adapter_dir, ct_adapter_lora_scaling(ad), ro->model_dir, out,
                   ct_dtype_name(dt), (long long)ct_model_param_count(m));
        else
            printf("re-exported %s without an adapter; wrote %s (%s, %lld parameters)\n", ro->model_dir, out,
                   ct_dtype_name(dt), (long long)ct_model_param_count(m));
        rc = 0;
    }
    ct_runtime_free(rt);
    return rc;
}

/* --format gguf: model.gguf (+ adapter.gguf with lora) and Modelfile in out. */
static int do_export_gguf(const ct_runtime_opts *ro, const char *out, const ct_gguf_export_opts *go, bool lora,
                          bool force) {
    if (ct_dir_exists(out) && !force)
        return ct_cli_errorf("export: %s already exists (use --force to replace its files)", out);
    if (lora && !ro->adapter_dir) return ct_cli_errorf("export: --gguf-lora needs --adapter DIR");
    ct_runtime *rt = NULL;
    if (!ct_cli_runtime_open(ro, &rt)) return 1;
    ct_err err = {0};
    const ct_adapter *ad = ct_runtime_adapter(rt);
    const ct_model *m = ct_runtime_model(rt);
    ct_status st = !ad    ? ct_model_export_gguf(m, ro->model_dir, out, go, &err)
                   : lora ? ct_adapter_export_gguf_lora(ad, ro->model_dir, ro->adapter_dir, out, go, &err)
                          : ct_adapter_export_gguf(ct_runtime_ctx(rt), ad, ro->model_dir, ro->adapter_dir, out, go, &err);
    int rc = st ? ct_cli_error(&err) : 0;
    if (!st)
        printf("wrote %s/model.gguf%s (%s, %lld parameters%s) and %s/Modelfile\n", out, lora ? " + adapter.gguf" : "",
               ct_gguf_dtype_name(go->dtype), (long long)ct_model_param_count(m),
               ad && !lora ? ", LoRA merged" : "", out);
    ct_runtime_free(rt);
    return rc;
}

/* `ctune export merge.yaml [--force] [overrides]` (llamafactory-cli export). */
static int export_yaml(int argc, char **argv) {
    ct_infer_config c;
    ct_infer_config_init(&c);
    int rc = 1, nrest = 0;
    bool force = false;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) goto out;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--force")) force = true;
        else rest[nrest++] = argv[i];
    }
    if (!ct_cli_infer_yaml(&c, argv[1], nrest, rest, CT_INFER_EXPORT, "export")) {
        rc = 1;
        goto out;
    }
    ct_runtime_opts ro;
    ct_export_opts eo;
    ct_infer_config_runtime_opts(&c, &ro);
    ro.precision = CT_PRECISION_F32; /* the merge is computed in f32 whatever the stored dtype */
    ct_infer_config_export_opts(&c, &eo);
    ct_gguf_export_opts go;
    if (ct_infer_config_gguf_opts(&c, &go)) rc = do_export_gguf(&ro, c.export_dir, &go, c.export_gguf_lora, force);
    else rc = do_export(&ro, c.export_dir, &eo, force);
out:
    ct_infer_config_free(&c);
    free(rest);
    return rc;
}

CT_CLI_COMMAND(export, "export", "merge a LoRA adapter into its base model, or re-export a model (HF format)") {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
    if (argc > 1 && argv[1][0] != '-' && !ct_cli_is_override(argv[1])) return export_yaml(argc, argv);
    ct_args a;
    static const char *const flags[] = {"help", "force", "gguf-lora", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    ct_runtime_opts ro;
    const char *out = ct_args_get(&a, "out"), *dts = ct_args_get(&a, "dtype"), *fmt = ct_args_get(&a, "format");
    bool gguf_lora = ct_args_flag(&a, "gguf-lora");
    bool force = ct_args_flag(&a, "force");
    ct_export_opts eo = {.dtype = CT_DTYPE_COUNT};
    long long gb = 5;
    if (!ct_cli_runtime_opts(&a, false, &ro) || !ct_args_int(&a, "export-size", &gb) ||
        ct_args_check_unknown(&a, "export"))
        goto done;
    if (!ro.model_dir || !out) {
        rc = ct_cli_errorf("export: --model DIR and --out DIR are required (--adapter DIR to merge a LoRA)");
        goto done;
    }
    if (fmt && strcmp(fmt, "hf") && strcmp(fmt, "gguf")) {
        rc = ct_cli_errorf("export: --format must be hf or gguf, got '%s'", fmt);
        goto done;
    }
    if (fmt && !strcmp(fmt, "gguf")) {
        ct_gguf_export_opts go = {.dtype = CT_GGUF_DTYPE_F16};
        if (dts && ct_gguf_dtype_parse(dts, &go.dtype)) {
            rc = ct_cli_errorf("export: --dtype for gguf must be f32, f16, bf16, q8_0 or q4_0, got '%s'", dts);
            goto done;
        }
        if (ct_args_get(&a, "export-size")) {
            rc = ct_cli_errorf("export: --export-size shards safetensors; a GGUF is one file (drop it)");
            goto done;
        }
        rc = do_export_gguf(&ro, out, &go, gguf_lora, force);
        goto done;
    }
    if (gguf_lora) {
        rc = ct_cli_errorf("export: --gguf-lora needs --format gguf");
        goto done;
    }
    if (dts && !parse_dtype(dts, &eo.dtype)) {
        rc = ct_cli_errorf("export: --dtype must be bf16, f16 or f32, got '%s'", dts);
        goto done;
    }
    if (gb < 1 || gb > 1000000) {
        rc = ct_cli_errorf("export: --export-size must be a whole number of GB >= 1, got %lld", gb);
        goto done;
    }
    eo.max_shard_bytes = (uint64_t)gb * 1000000000ull;
    if (!ro.adapter_dir && ro.quant.bits) {
        rc = ct_cli_errorf("export: --quantization-bit without --adapter: exporting a quantized model is not supported");
        goto done;
    }
    rc = do_export(&ro, out, &eo, force);
done:
    ct_args_free(&a);
    return rc;
}
