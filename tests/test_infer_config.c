/* Inference / export YAML (LlamaFactory's chat and export keys): defaults, what runtime,
 * sampling and export options they become, and one-line errors for every bad value. */
#include <stdlib.h>

#include "base/file.h"
#include "ctune/infer_config.h"
#include "harness.h"

static const char *write_tmp(const char *name, const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", ct_test_tmpdir(), name);
    ct_err err = {0};
    if (ct_write_file_atomic(path, text, strlen(text), &err)) ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
    return path;
}

TEST(infer_config_llamafactory_defaults) {
    ct_infer_config c;
    ct_infer_config_init(&c);
    CHECK(c.do_sample);
    CHECK_NEAR(c.temperature, 0.95, 0);
    CHECK_NEAR(c.top_p, 0.7, 0);
    CHECK_EQ_INT(c.top_k, 50);
    CHECK_EQ_INT(c.max_new_tokens, 1024);
    CHECK_EQ_INT(c.num_beams, 1);
    CHECK_NEAR(c.repetition_penalty, 1.0, 0);
    CHECK_EQ_INT(c.export_size, 5);
    CHECK_STREQ(c.export_device, "cpu");
    CHECK_STREQ(c.infer_backend, "huggingface");
    CHECK_STREQ(c.infer_dtype, "auto");
    CHECK_STREQ(c.finetuning_type, "lora");
    CHECK_EQ_INT(c.enable_thinking, 1);
    CHECK(!c.export_legacy_format && c.skip_special_tokens && c.double_quantization);
    ct_infer_config_free(&c);
}

TEST(infer_config_merge_yaml_to_options) {
    const char *p = write_tmp("merge.yaml",
                              "### model\nmodel_name_or_path: /m\nadapter_name_or_path: /a\ntemplate: qwen3_nothink\n"
                              "trust_remote_code: true\n\n### export\nexport_dir: /out\nexport_size: 2\n"
                              "export_device: cpu  # choices: [cpu, auto]\nexport_legacy_format: false\n"
                              "infer_dtype: bfloat16\ncutoff_len: 512\n");
    ct_infer_config c;
    ct_infer_config_init(&c);
    ct_err err = {0};
    CHECK_OK(ct_infer_config_load(&c, p, &err), &err);
    CHECK_OK(ct_infer_config_validate(&c, CT_INFER_EXPORT, &err), &err);
    ct_export_opts eo;
    ct_infer_config_export_opts(&c, &eo);
    CHECK_EQ_INT(eo.dtype, CT_DTYPE_BF16);
    CHECK_EQ_INT(eo.max_shard_bytes, 2000000000LL);
    ct_runtime_opts ro;
    ct_infer_config_runtime_opts(&c, &ro);
    CHECK_STREQ(ro.model_dir, "/m");
    CHECK_STREQ(ro.adapter_dir, "/a");
    CHECK_STREQ(ro.template_name, "qwen3_nothink");
    char *notes = ct_infer_config_notes(&c, CT_INFER_EXPORT);
    REQUIRE(notes);
    CHECK_MSG(!strcmp(notes, "accepted for LlamaFactory compatibility, no effect in ctune export: trust_remote_code, "
                             "cutoff_len"),
              "%s", notes);
    free(notes);
    /* auto keeps the stored dtype; float32 / float16 name theirs */
    CHECK_OK(ct_infer_config_set(&c, "infer_dtype", "auto", "t", &err), &err);
    ct_infer_config_export_opts(&c, &eo);
    CHECK_EQ_INT(eo.dtype, CT_DTYPE_COUNT);
    CHECK_OK(ct_infer_config_set(&c, "infer_dtype", "float16", "t", &err), &err);
    ct_infer_config_export_opts(&c, &eo);
    CHECK_EQ_INT(eo.dtype, CT_DTYPE_F16);
    ct_infer_config_free(&c);
}

TEST(infer_config_chat_sampling_as_llamafactory) {
    ct_infer_config c;
    ct_infer_config_init(&c);
    ct_err err = {0};
    char *argv[] = {"--model", "/m", "temperature=0.5", "--top_k", "7", "--max-new-tokens", "9", "seed=3",
                    "--system", "Be brief."};
    CHECK_OK(ct_infer_config_apply_args(&c, 10, argv, &err), &err);
    CHECK_STREQ(c.model_name_or_path, "/m");
    CHECK_STREQ(c.default_system, "Be brief.");
    ct_gen_params p;
    memset(&p, 0, sizeof p);
    ct_infer_config_gen_params(&c, &p);
    CHECK(p.do_sample);
    CHECK_NEAR(p.temperature, 0.5, 1e-7);
    CHECK_NEAR(p.top_p, 0.7, 1e-7);
    CHECK_EQ_INT(p.top_k, 7);
    CHECK_EQ_INT(p.max_new_tokens, 9);
    CHECK_EQ_INT(p.seed, 3);
    /* LlamaFactory's HF engine: temperature 0 or do_sample false = greedy */
    char *g1[] = {"temperature=0"};
    CHECK_OK(ct_infer_config_apply_args(&c, 1, g1, &err), &err);
    ct_infer_config_gen_params(&c, &p);
    CHECK(!p.do_sample);
    char *g2[] = {"temperature=0.9", "do_sample=false"};
    CHECK_OK(ct_infer_config_apply_args(&c, 2, g2, &err), &err);
    ct_infer_config_gen_params(&c, &p);
    CHECK(!p.do_sample);
    char *g3[] = {"--do_sample"}; /* a bare boolean */
    CHECK_OK(ct_infer_config_apply_args(&c, 1, g3, &err), &err);
    ct_infer_config_gen_params(&c, &p);
    CHECK(p.do_sample);
    CHECK_OK(ct_infer_config_validate(&c, CT_INFER_CHAT, &err), &err);
    /* infer_dtype bfloat16 computes the linears in bf16 and says so */
    CHECK_OK(ct_infer_config_set(&c, "infer_dtype", "bfloat16", "t", &err), &err);
    ct_runtime_opts ro;
    ct_infer_config_runtime_opts(&c, &ro);
    CHECK_EQ_INT(ro.precision, CT_PRECISION_BF16);
    char *notes = ct_infer_config_notes(&c, CT_INFER_CHAT);
    CHECK_MSG(notes && strstr(notes, "infer_dtype bfloat16"), "%s", notes ? notes : "(none)");
    free(notes);
    ct_infer_config_free(&c);
}

/* Every key with a wrong type or an out-of-range value: one line naming the file:line or key. */
TEST(infer_config_bad_values_one_line) {
    static const struct {
        const char *yaml;
        int use;          /* for validate */
        ct_status code;
        const char *want; /* substring of the message */
    } cases[] = {
        {"export_size: big\n", 1, CT_ERR_ARG, "c.yaml:2: key 'export_size': expected an integer"},
        {"export_size: 0\n", 1, CT_ERR_ARG, "export_size must be >= 1"},
        {"export_size: -3\n", 1, CT_ERR_ARG, "export_size must be >= 1"},
        {"export_device: gpu\n", 1, CT_ERR_ARG, "c.yaml:2: key 'export_device': 'gpu' is not one of cpu|auto"},
        {"export_legacy_format: maybe\n", 1, CT_ERR_ARG, "key 'export_legacy_format': expected true or false"},
        {"export_legacy_format: true\n", 1, CT_ERR_UNSUPPORTED, "safetensors only"},
        {"export_quantization_bit: 4\n", 1, CT_ERR_UNSUPPORTED, "GPTQ"},
        {"export_hub_model_id: me/x\n", 1, CT_ERR_UNSUPPORTED, "does not upload"},
        {"quantization_bit: 4\n", 1, CT_ERR_UNSUPPORTED, "without an adapter"},
        {"quantization_bit: 3\n", 0, CT_ERR_ARG, "key 'quantization_bit': 3 is not one of 4|8"},
        {"infer_dtype: int8\n", 0, CT_ERR_ARG, "key 'infer_dtype': 'int8' is not one of auto|float16|bfloat16|float32"},
        {"infer_backend: tgi\n", 0, CT_ERR_ARG, "key 'infer_backend'"},
        {"finetuning_type: oft\n", 0, CT_ERR_ARG, "key 'finetuning_type': 'oft'"},
        {"adapter_name_or_path: a\nfinetuning_type: freeze\n", 0, CT_ERR_ARG, "needs finetuning_type: lora"},
        {"adapter_name_or_path: a, b\n", 0, CT_ERR_UNSUPPORTED, "several adapters"},
        {"num_beams: 3\n", 0, CT_ERR_UNSUPPORTED, "num_beams: 3"},
        {"num_beams: x\n", 0, CT_ERR_ARG, "key 'num_beams': expected an integer"},
        {"temperature: hot\n", 0, CT_ERR_ARG, "key 'temperature': expected a number"},
        {"temperature: -0.5\n", 0, CT_ERR_ARG, "temperature must be >= 0"},
        {"top_p: 0\n", 0, CT_ERR_ARG, "top_p must be in (0, 1]"},
        {"top_p: 1.01\n", 0, CT_ERR_ARG, "top_p must be in (0, 1]"},
        {"top_k: -1\n", 0, CT_ERR_ARG, "top_k must be >= 0"},
        {"max_new_tokens: 0\n", 0, CT_ERR_ARG, "max_new_tokens must be in 1..1000000"},
        {"max_new_tokens: 1.5\n", 0, CT_ERR_ARG, "key 'max_new_tokens': expected an integer"},
        {"repetition_penalty: 0\n", 0, CT_ERR_ARG, "repetition_penalty must be > 0"},
        {"do_sample: sometimes\n", 0, CT_ERR_ARG, "key 'do_sample': expected true or false"},
        {"enable_thinking: perhaps\n", 0, CT_ERR_ARG, "key 'enable_thinking': expected true, false or null"},
        {"skip_special_tokens: false\n", 0, CT_ERR_UNSUPPORTED, "skip_special_tokens"},
        {"threads: -2\n", 0, CT_ERR_ARG, "threads"},
        {"temprature: 0\n", 0, CT_ERR_ARG, "c.yaml:2: unknown key 'temprature' (did you mean 'temperature'?)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "model_name_or_path: /m\n%sexport_dir: /o\n", cases[i].yaml);
        ct_infer_config c;
        ct_infer_config_init(&c);
        ct_err err = {0};
        ct_status st = ct_infer_config_load(&c, write_tmp("c.yaml", text), &err);
        if (!st) st = ct_infer_config_validate(&c, (ct_infer_use)cases[i].use, &err);
        CHECK_MSG(st == cases[i].code, "case %zu (%s): status %d, %s", i, cases[i].yaml, (int)st, err.msg);
        CHECK_MSG(strstr(err.msg, cases[i].want) && !strchr(err.msg, '\n'), "case %zu: %s", i, err.msg);
        ct_infer_config_free(&c);
    }
    ct_infer_config c;
    ct_infer_config_init(&c);
    ct_err err = {0};
    CHECK(ct_infer_config_validate(&c, CT_INFER_CHAT, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "model_name_or_path is required"), "%s", err.msg);
    CHECK_OK(ct_infer_config_set(&c, "model_name_or_path", "/m", "t", &err), &err);
    CHECK(ct_infer_config_validate(&c, CT_INFER_EXPORT, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "export_dir is required"), "%s", err.msg);
    ct_infer_config_free(&c);
}
