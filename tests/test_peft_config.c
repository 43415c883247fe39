/* The LoRA-family keys (use_dora, loraplus_lr_ratio, loraplus_lr_embedding, pissa_init,
 * pissa_iter, pissa_convert, create_new_adapter, neftune_noise_alpha): LlamaFactory's defaults,
 * one-line errors naming file:line and key for a wrong type or range, and LlamaFactory's rules
 * between keys. */
#include <stdlib.h>

#include "base/file.h"
#include "ctune/config.h"
#include "harness.h"

static const char *write_yaml(const char *name, const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", ct_test_tmpdir(), name);
    ct_err err = {0};
    if (ct_write_file_atomic(path, text, strlen(text), &err)) ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
    return path;
}

TEST(peft_config_defaults_follow_llamafactory) {
    ct_train_config c;
    ct_train_config_init(&c);
    CHECK(!c.use_dora && !c.pissa_init && !c.pissa_convert && !c.create_new_adapter);
    CHECK_NEAR(c.loraplus_lr_ratio, 0, 0); /* None: off */
    CHECK_NEAR(c.loraplus_lr_embedding, 1e-6, 1e-20);
    CHECK_EQ_INT(c.pissa_iter, 16);
    CHECK_NEAR(c.neftune_noise_alpha, 0, 0);
    ct_train_config_free(&c);
}

TEST(peft_config_loads_keys) {
    const char *p = write_yaml("ok.yaml", "use_dora: true\nloraplus_lr_ratio: 16.0\nloraplus_lr_embedding: 1.0e-6\n"
                                          "pissa_init: true\npissa_iter: -1\npissa_convert: true\n"
                                          "neftune_noise_alpha: 5\ncreate_new_adapter: false\n");
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    CHECK_OK(ct_train_config_load(&c, p, &err), &err);
    CHECK(c.use_dora && c.pissa_init && c.pissa_convert && !c.create_new_adapter);
    CHECK_NEAR(c.loraplus_lr_ratio, 16, 0);
    CHECK_EQ_INT(c.pissa_iter, -1);
    CHECK_NEAR(c.neftune_noise_alpha, 5, 0);
    /* use_dora with pissa_convert is refused (the conversion would drop the magnitudes) */
    CHECK(ct_train_config_validate(&c, &err) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "pissa_convert") && strstr(err.msg, "magnitude"));
    CHECK_OK(ct_train_config_set(&c, "use_dora", "false", "--use_dora", &err), &err);
    CHECK_OK(ct_train_config_validate(&c, &err), &err);
    /* null resets loraplus_lr_ratio to off */
    CHECK_OK(ct_train_config_set(&c, "loraplus_lr_ratio", "null", "--loraplus_lr_ratio", &err), &err);
    CHECK_NEAR(c.loraplus_lr_ratio, 0, 0);
    ct_train_config_free(&c);
}

/* One key per file, at line 2: the error names file:2 and the key, in one line. */
static void bad(const char *line, const char *key, const char *what) {
    char text[256];
    snprintf(text, sizeof text, "stage: sft\n%s\n", line);
    const char *p = write_yaml("bad.yaml", text);
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    CHECK_MSG(ct_train_config_load(&c, p, &err) != CT_OK, "'%s' accepted", line);
    char where[4200];
    snprintf(where, sizeof where, "%s:2:", p);
    CHECK_MSG(strstr(err.msg, where) && strstr(err.msg, key) && strstr(err.msg, what) && !strchr(err.msg, '\n'),
              "'%s': %s", line, err.msg);
    ct_train_config_free(&c);
}

TEST(peft_config_bad_values_name_file_line_and_key) {
    bad("use_dora: maybe", "'use_dora'", "expected true or false");
    bad("loraplus_lr_ratio: fast", "'loraplus_lr_ratio'", "expected a number");
    bad("loraplus_lr_ratio: 0", "'loraplus_lr_ratio'", "must be > 0");
    bad("loraplus_lr_ratio: -16", "'loraplus_lr_ratio'", "must be > 0");
    bad("loraplus_lr_embedding: -1e-6", "'loraplus_lr_embedding'", "must be >= 0");
    bad("loraplus_lr_embedding: [1, 2]", "'loraplus_lr_embedding'", "expected a number");
    bad("pissa_init: 2", "'pissa_init'", "expected true or false");
    bad("pissa_iter: 1.5", "'pissa_iter'", "expected an integer");
    bad("pissa_iter: -2", "'pissa_iter'", "must be -1");
    bad("pissa_convert: sometimes", "'pissa_convert'", "expected true or false");
    bad("create_new_adapter: new", "'create_new_adapter'", "expected true or false");
    bad("neftune_noise_alpha: loud", "'neftune_noise_alpha'", "expected a number");
    bad("neftune_noise_alpha: -5", "'neftune_noise_alpha'", "must be >= 0");
    /* overrides name the flag */
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    CHECK(ct_train_config_set(&c, "pissa_iter", "-3", "--pissa_iter", &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "--pissa_iter: key 'pissa_iter'") != NULL);
    ct_train_config_free(&c);
}

/* LlamaFactory's rules (FinetuningArguments.__post_init__, _verify_model_args) and ctune's
 * refusals of combinations it would otherwise ignore. */
static void rule(const char *yaml, const char *want) {
    const char *p = write_yaml("rule.yaml", yaml);
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    CHECK_OK(ct_train_config_load(&c, p, &err), &err);
    CHECK_MSG(ct_train_config_validate(&c, &err) != CT_OK && strstr(err.msg, want), "%s -> %s", yaml, err.msg);
    ct_train_config_free(&c);
}

TEST(peft_config_rules_between_keys) {
    rule("finetuning_type: full\nuse_dora: true\n", "use_dora is only valid for finetuning_type lora");
    rule("finetuning_type: freeze\nloraplus_lr_ratio: 16\n", "loraplus_lr_ratio is only valid for finetuning_type lora");
    rule("finetuning_type: full\npissa_init: true\n", "pissa_init is only valid");
    rule("finetuning_type: prompt\nuse_rslora: true\n", "use_rslora is only valid");
    rule("quantization_bit: 4\npissa_init: true\n", "quantized model");
    rule("quantization_bit: 4\nadapter_name_or_path: a,b\n", "a single adapter");
    rule("quantization_bit: 8\nadapter_name_or_path: a\ncreate_new_adapter: true\n", "create_new_adapter");
    rule("pissa_convert: true\nadditional_target: lm_head\n", "additional_target modules would be lost");
    rule("pissa_init: true\nadapter_name_or_path: a\n", "nothing to initialize");
}
