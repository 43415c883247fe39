/* The BAdam / LLaMA Pro / GaLore keys: LlamaFactory's defaults, a one-line error naming the file,
 * line and key for every wrong type or out-of-range value, and the combinations that are refused
 * (LlamaFactory's own refusals, what BAdam cannot run, what ctune does not implement). */
#include <stdlib.h>

#include "base/file.h"
#include "ctune/config.h"
#include "harness.h"

static const char *write_yaml(const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/methods.yaml", ct_test_tmpdir());
    ct_err err = {0};
    if (ct_write_file_atomic(path, text, strlen(text), &err)) ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
    return path;
}

TEST(methods_config_defaults_follow_llamafactory) {
    ct_train_config c;
    ct_train_config_init(&c);
    CHECK(!c.use_badam && !c.use_galore && !c.use_llama_pro && !c.galore_layerwise);
    CHECK_STREQ(c.badam_mode, "layer");
    CHECK_EQ_INT(c.badam_start_block, -1);
    CHECK_STREQ(c.badam_switch_mode, "ascending");
    CHECK_EQ_INT(c.badam_switch_interval, 50);
    CHECK_NEAR(c.badam_update_ratio, 0.05, 0);
    CHECK_STREQ(c.badam_mask_mode, "adjacent");
    CHECK_EQ_INT(c.badam_verbose, 0);
    CHECK_EQ_INT(c.galore_target.n, 1);
    CHECK_STREQ(c.galore_target.v[0], "all");
    CHECK_EQ_INT(c.galore_rank, 16);
    CHECK_EQ_INT(c.galore_update_interval, 200);
    CHECK_NEAR(c.galore_scale, 2.0, 0);
    CHECK_STREQ(c.galore_proj_type, "std");
    ct_err err = {0};
    CHECK_OK(ct_train_config_validate(&c, &err), &err);
    ct_train_config_free(&c);
}

/* Each YAML line (set on line 2, after a valid first line) must fail naming "methods.yaml:2" and
 * its key, plus a fragment of the reason. */
TEST(methods_config_bad_values_name_file_line_and_key) {
    static const struct {
        const char *line, *key, *why;
    } cases[] = {
        {"use_badam: maybe", "use_badam", "true or false"},
        {"badam_mode: columns", "badam_mode", "layer|ratio"},
        {"badam_start_block: first", "badam_start_block", "integer"},
        {"badam_start_block: -2", "badam_start_block", ">= 0"},
        {"badam_start_block: -7", "badam_start_block", ">= 0"},
        {"badam_switch_mode: sideways", "badam_switch_mode", "ascending|descending|random|fixed"},
        {"badam_switch_interval: often", "badam_switch_interval", "integer"},
        {"badam_switch_interval: 0", "badam_switch_interval", ">= 1"},
        {"badam_switch_interval: -1", "badam_switch_interval", "badam_switch_mode: fixed"},
        {"badam_update_ratio: lots", "badam_update_ratio", "number"},
        {"badam_update_ratio: 0", "badam_update_ratio", "(1e-6, 1]"},
        {"badam_update_ratio: 1.5", "badam_update_ratio", "(1e-6, 1]"},
        {"badam_mask_mode: random", "badam_mask_mode", "adjacent|scatter"},
        {"badam_verbose: loud", "badam_verbose", "integer"},
        {"badam_verbose: 3", "badam_verbose", "0, 1 or 2"},
        {"use_llama_pro: please", "use_llama_pro", "true or false"},
        {"use_galore: sure", "use_galore", "true or false"},
        {"galore_rank: big", "galore_rank", "integer"},
        {"galore_rank: 0", "galore_rank", "[1, 65536]"},
        {"galore_update_interval: 1.5", "galore_update_interval", "integer"},
        {"galore_update_interval: 0", "galore_update_interval", ">= 1"},
        {"galore_scale: large", "galore_scale", "number"},
        {"galore_scale: 0", "galore_scale", "> 0"},
        {"galore_scale: -2", "galore_scale", "> 0"},
        {"galore_proj_type: diagonal", "galore_proj_type", "std|reverse_std|right|left|full"},
        {"galore_layerwise: 2", "galore_layerwise", "true or false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "finetuning_type: full\n%s\n", cases[i].line);
        const char *p = write_yaml(text);
        ct_train_config c;
        ct_train_config_init(&c);
        ct_err err = {0};
        ct_status st = ct_train_config_load(&c, p, &err);
        char where[4200], key[128];
        snprintf(where, sizeof where, "%s:2", p);
        snprintf(key, sizeof key, "'%s'", cases[i].key);
        CHECK_MSG(st != CT_OK && strstr(err.msg, where) && strstr(err.msg, key) && strstr(err.msg, cases[i].why) &&
                      !strchr(err.msg, '\n'),
                  "'%s': got %s '%s'", cases[i].line, st ? "error" : "OK", err.msg);
        ct_train_config_free(&c);
    }
    /* the command line names the flag */
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    char *argv[] = {"--galore-rank", "-4"};
    CHECK(ct_train_config_apply_args(&c, 2, argv, &err) == CT_ERR_ARG && strstr(err.msg, "--galore_rank") &&
          strstr(err.msg, "'galore_rank'"));
    ct_train_config_free(&c);
}

TEST(methods_config_refused_combinations) {
    static const struct {
        const char *yaml, *why;
    } cases[] = {
        {"finetuning_type: lora\nuse_badam: true\n", "cannot use LoRA with GaLore or BAdam"},
        {"finetuning_type: lora\nuse_galore: true\n", "cannot use LoRA with GaLore or BAdam"},
        {"finetuning_type: full\nuse_galore: true\nuse_badam: true\n", "cannot use GaLore and BAdam together"},
        {"finetuning_type: full\nuse_llama_pro: true\n", "only valid for finetuning_type freeze or lora"},
        {"finetuning_type: prompt\nuse_llama_pro: true\n", "only valid for finetuning_type freeze or lora"},
        {"finetuning_type: freeze\nuse_llama_pro: true\nfreeze_trainable_layers: -2\n", "number of expanded blocks"},
        {"finetuning_type: freeze\nuse_badam: true\n", "use_badam: needs finetuning_type full"},
        {"finetuning_type: full\nuse_badam: true\nbadam_mode: ratio\n", "badam_mode: ratio"},
        {"finetuning_type: full\nuse_badam: true\nbadam_switch_mode: fixed\n", "needs badam_start_block"},
        {"finetuning_type: full\nuse_badam: true\nbadam_switch_mode: random\nbadam_start_block: 1\n",
         "badam_start_block with badam_switch_mode random"},
        {"finetuning_type: prompt\nuse_galore: true\n", "use_galore: needs finetuning_type full or freeze"},
        {"finetuning_type: full\nuse_galore: true\ngalore_layerwise: true\ngradient_accumulation_steps: 4\n",
         "galore_layerwise"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_yaml(cases[i].yaml);
        ct_train_config c;
        ct_train_config_init(&c);
        ct_err err = {0};
        CHECK_OK(ct_train_config_load(&c, p, &err), &err);
        ct_status st = ct_train_config_validate(&c, &err);
        CHECK_MSG(st != CT_OK && strstr(err.msg, cases[i].why) && !strchr(err.msg, '\n'), "case %zu: %s '%s'", i,
                  st ? "error" : "OK", err.msg);
        ct_train_config_free(&c);
    }
    /* and what is accepted: the three LlamaFactory examples' method keys */
    static const char *ok[] = {
        "finetuning_type: full\nuse_badam: true\nbadam_mode: layer\nbadam_switch_mode: ascending\n"
        "badam_switch_interval: 50\nbadam_verbose: 2\n",
        "finetuning_type: full\nuse_galore: true\ngalore_layerwise: true\ngalore_target: all\ngalore_rank: 128\n"
        "galore_scale: 2.0\npure_bf16: true\n",
        "finetuning_type: freeze\nfreeze_trainable_layers: 8\nfreeze_trainable_modules: all\nuse_llama_pro: true\n",
        "finetuning_type: lora\nuse_llama_pro: true\nfreeze_trainable_layers: 8\n",
        "finetuning_type: full\nuse_badam: true\nbadam_switch_mode: fixed\nbadam_start_block: 3\n",
        "finetuning_type: freeze\nuse_galore: true\ngalore_target: q_proj,lm_head\ngalore_proj_type: full\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *p = write_yaml(ok[i]);
        ct_train_config c;
        ct_train_config_init(&c);
        ct_err err = {0};
        CHECK_OK(ct_train_config_load(&c, p, &err), &err);
        CHECK_OK(ct_train_config_validate(&c, &err), &err);
        ct_train_config_free(&c);
    }
}
