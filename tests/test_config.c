/* YAML config: LlamaFactory keys and defaults, typed values, lists, errors with file:line. */
#include <stdlib.h>

#include "base/file.h"
#include "ctune/config.h"
#include "harness.h"

static const char *write_tmp(const char *name, const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", ct_test_tmpdir(), name);
    ct_err err = {0};
    if (ct_write_file_atomic(path, text, strlen(text), &err)) ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
    return path;
}

TEST(config_defaults_follow_llamafactory) {
    ct_train_config c;
    ct_train_config_init(&c);
    CHECK_STREQ(c.stage, "sft");
    CHECK_EQ_INT(c.cutoff_len, 2048);
    CHECK_STREQ(c.finetuning_type, "lora");
    CHECK_EQ_INT(c.lora_rank, 8);
    CHECK_NEAR(ct_train_config_lora_alpha(&c), 16.0, 0);
    CHECK_EQ_INT(c.lora_target.n, 1);
    CHECK_STREQ(c.lora_target.v[0], "all");
    CHECK_NEAR(c.learning_rate, 5e-5, 1e-20);
    CHECK_NEAR(c.num_train_epochs, 3.0, 0);
    CHECK_EQ_INT(c.per_device_train_batch_size, 8);
    CHECK_STREQ(c.lr_scheduler_type, "linear");
    CHECK_NEAR(c.adam_beta2, 0.999, 0);
    CHECK_NEAR(c.adam_epsilon, 1e-8, 0);
    CHECK_NEAR(c.max_grad_norm, 1.0, 0);
    CHECK_EQ_INT(c.seed, 42);
    CHECK_EQ_INT(c.enable_thinking, 1);
    CHECK_EQ_INT(c.max_samples, -1);
    CHECK(!c.packing && !c.packing_set);
    CHECK_STREQ(c.mix_strategy, "concat");
    ct_train_config_free(&c);
}

TEST(config_loads_llamafactory_yaml) {
    const char *p = write_tmp("sft.yaml",
                              "### model\nmodel_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\ntrust_remote_code: true\n\n"
                              "### method\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 16\n"
                              "lora_target: q_proj,v_proj\n\n### dataset\ndataset: identity,alpaca_en_demo\n"
                              "template: qwen\ncutoff_len: 1024\nmax_samples: 1000\noverwrite_cache: true\n"
                              "preprocessing_num_workers: 16\nenable_thinking: null\n\n### train\n"
                              "per_device_train_batch_size: 1\ngradient_accumulation_steps: 8\nlearning_rate: 1.0e-4\n"
                              "num_train_epochs: 3.0\nlr_scheduler_type: cosine\nwarmup_ratio: 0.1\nbf16: true\n"
                              "ddp_timeout: 180000000\nlr_scheduler_kwargs:\n  min_lr_rate: 0.1\n"
                              "additional_target:\n  - embed_tokens\n  - lm_head\nreport_to: none\n");
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    CHECK_OK(ct_train_config_load(&c, p, &err), &err);
    CHECK_STREQ(c.model_name_or_path, "Qwen/Qwen2.5-0.5B-Instruct");
    CHECK_EQ_INT(c.lora_rank, 16);
    CHECK_EQ_INT(c.lora_target.n, 2);
    CHECK_STREQ(c.lora_target.v[1], "v_proj");
    CHECK_EQ_INT(c.dataset.n, 2);
    CHECK_STREQ(c.dataset.v[0], "identity");
    CHECK_STREQ(c.template_name, "qwen");
    CHECK_EQ_INT(c.cutoff_len, 1024);
    CHECK_EQ_INT(c.enable_thinking, -1);
    CHECK_NEAR(c.learning_rate, 1e-4, 1e-18);
    CHECK_NEAR(c.min_lr_rate, 0.1, 1e-15);
    CHECK(c.bf16);
    CHECK_EQ_INT(c.additional_target.n, 2);
    CHECK_STREQ(c.additional_target.v[1], "lm_head");
    CHECK(c.ignored.n >= 4); /* trust_remote_code, do_train, preprocessing_num_workers, ddp_timeout */
    CHECK(ct_train_config_is_set(&c, "warmup_ratio"));
    CHECK(!ct_train_config_is_set(&c, "seed"));
    CHECK_OK(ct_train_config_validate(&c, &err), &err);
    /* CLI overrides, typed */
    char *argv[] = {"--learning_rate", "2e-5", "--packing=true", "--lora-target", "all", "--val_size", "0.1"};
    CHECK_OK(ct_train_config_apply_args(&c, 7, argv, &err), &err);
    CHECK_NEAR(c.learning_rate, 2e-5, 1e-20);
    CHECK(c.packing && c.packing_set);
    CHECK_EQ_INT(c.lora_target.n, 1);
    CHECK_NEAR(c.val_size, 0.1, 1e-15);
    char *bad[] = {"--lora_rank", "eight"};
    CHECK(ct_train_config_apply_args(&c, 2, bad, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "--lora_rank") && strstr(err.msg, "integer"), "%s", err.msg);
    char *dump = ct_train_config_dump(&c);
    REQUIRE(dump);
    CHECK(strstr(dump, "learning_rate: 2.0000000000000002e-05\n") || strstr(dump, "learning_rate: 2e-05\n"));
    free(dump);
    ct_train_config_free(&c);
}

TEST(config_errors_name_file_line_and_key) {
    ct_train_config c;
    ct_err err = {0};
    ct_train_config_init(&c);
    const char *p = write_tmp("typo.yaml", "model_name_or_path: x\nlerning_rate: 1e-4\n");
    CHECK(ct_train_config_load(&c, p, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "typo.yaml:2") && strstr(err.msg, "'lerning_rate'") && strstr(err.msg, "learning_rate'?"),
              "%s", err.msg);
    p = write_tmp("type.yaml", "cutoff_len: 1024\nnum_train_epochs: many\n");
    CHECK(ct_train_config_load(&c, p, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "type.yaml:2") && strstr(err.msg, "num_train_epochs"), "%s", err.msg);
    p = write_tmp("choice.yaml", "finetuning_type: lorra\n");
    CHECK(ct_train_config_load(&c, p, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "choice.yaml:1") && strstr(err.msg, "full|freeze|lora|prompt"), "%s", err.msg);
    p = write_tmp("syntax.yaml", "a: [1, 2\nb: 3\n");
    CHECK(ct_train_config_load(&c, p, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "syntax.yaml:") != NULL, "%s", err.msg);
    CHECK(ct_train_config_load(&c, "/nonexistent.yaml", &err) == CT_ERR_IO);
    ct_train_config_free(&c);
    ct_train_config_init(&c);
    ct_train_config_set(&c, "dataset", "a,b", NULL, &err);
    ct_train_config_set(&c, "interleave_probs", "0.5", NULL, &err);
    CHECK(ct_train_config_validate(&c, &err) == CT_ERR_ARG);
    ct_train_config_free(&c);
}

/* QLoRA and precision keys (LlamaFactory ModelArguments / FinetuningArguments): defaults nf4 +
 * double quantization + bnb; 3 bits, another method or a full fine-tune of a quantized model are
 * refused naming the key (and the line). */
TEST(config_quantization_keys) {
    ct_train_config c;
    ct_err err = {0};
    ct_train_config_init(&c);
    CHECK_EQ_INT(c.quantization_bit, 0);
    CHECK_STREQ(c.quantization_type, "nf4");
    CHECK_STREQ(c.quantization_method, "bnb");
    CHECK(c.double_quantization && !c.bf16 && !c.pure_bf16);
    const char *p = write_tmp("q.yaml", "quantization_bit: 4\nquantization_type: fp4\ndouble_quantization: false\n"
                                        "pure_bf16: true\n");
    CHECK_OK(ct_train_config_load(&c, p, &err), &err);
    CHECK_EQ_INT(c.quantization_bit, 4);
    CHECK_STREQ(c.quantization_type, "fp4");
    CHECK(!c.double_quantization && c.pure_bf16);
    CHECK_OK(ct_train_config_validate(&c, &err), &err);
    CHECK_EQ_INT(c.ignored.n, 0);
    CHECK_OK(ct_train_config_set(&c, "quantization_bit", "null", NULL, &err), &err);
    CHECK_EQ_INT(c.quantization_bit, 0);
    p = write_tmp("q3.yaml", "model_name_or_path: x\nquantization_bit: 3\n");
    CHECK(ct_train_config_load(&c, p, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "q3.yaml:2") && strstr(err.msg, "'quantization_bit'") && strstr(err.msg, "4|8"), "%s",
              err.msg);
    p = write_tmp("qm.yaml", "quantization_method: gptq\n");
    CHECK(ct_train_config_load(&c, p, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "qm.yaml:1") && strstr(err.msg, "'gptq'"), "%s", err.msg);
    p = write_tmp("qt.yaml", "quantization_type: int4\n");
    CHECK(ct_train_config_load(&c, p, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "'quantization_type'") && strstr(err.msg, "nf4|fp4"), "%s", err.msg);
    CHECK_OK(ct_train_config_set(&c, "quantization_bit", "8", NULL, &err), &err);
    CHECK_OK(ct_train_config_set(&c, "finetuning_type", "full", NULL, &err), &err);
    CHECK(ct_train_config_validate(&c, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "quantization_bit") && strstr(err.msg, "lora"), "%s", err.msg);
    ct_train_config_free(&c);
}
