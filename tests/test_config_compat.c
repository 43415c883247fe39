/* LlamaFactory command-line styles (bare booleans, key=value), the harmless / guarded key split,
 * optim and save_strategy, eval_dataset rules and default_system rendering. */
#include <stdlib.h>

#include "base/file.h"
#include "ctune/config.h"
#include "ctune/data.h"
#include "harness.h"

static const char *write_tmp(const char *name, const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", ct_test_tmpdir(), name);
    ct_err err = {0};
    if (ct_write_file_atomic(path, text, strlen(text), &err)) ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
    return path;
}

/* One config loaded from text; returns the status, the message in err. */
static ct_status load_text(ct_train_config *c, const char *name, const char *text, ct_err *err) {
    ct_train_config_init(c);
    return ct_train_config_load(c, write_tmp(name, text), err);
}

TEST(config_cli_styles_of_llamafactory) {
    ct_train_config c;
    ct_err err = {0};
    ct_train_config_init(&c);
    char *argv[] = {"--plot_loss", "--do_train", "max_steps=3", "learning_rate=1e-5", "--packing", "false",
                    "--lora-target=[q_proj,v_proj]", "--enable_thinking", "--val-size", "0.1", "dataset=a,b",
                    "--neat_packing"};
    CHECK_OK(ct_train_config_apply_args(&c, (int)(sizeof argv / sizeof *argv), argv, &err), &err);
    CHECK(c.plot_loss);
    CHECK_EQ_INT(c.max_steps, 3);
    CHECK_NEAR(c.learning_rate, 1e-5, 1e-20);
    CHECK(!c.packing && c.packing_set);
    CHECK_EQ_INT(c.lora_target.n, 2);
    CHECK_STREQ(c.lora_target.v[1], "v_proj");
    CHECK_EQ_INT(c.enable_thinking, 1);
    CHECK_NEAR(c.val_size, 0.1, 1e-15);
    CHECK_EQ_INT(c.dataset.n, 2);
    CHECK(c.neat_packing); /* a bare flag as the last argument */
    CHECK_EQ_INT(c.ignored.n, 1);
    CHECK_STREQ(c.ignored.v[0], "do_train");
    /* a bare boolean followed by another style; a boolean value after it is taken */
    char *argv2[] = {"--plot_loss", "no", "--train_on_prompt", "cutoff_len=64"};
    CHECK_OK(ct_train_config_apply_args(&c, 4, argv2, &err), &err);
    CHECK(!c.plot_loss && c.train_on_prompt);
    CHECK_EQ_INT(c.cutoff_len, 64);
    /* errors name the argument */
    char *bad1[] = {"max_stesp=3"};
    CHECK(ct_train_config_apply_args(&c, 1, bad1, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "max_stesp=") && strstr(err.msg, "'max_steps'?"), "%s", err.msg);
    char *bad2[] = {"stray"};
    CHECK(ct_train_config_apply_args(&c, 1, bad2, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "'stray'") && strstr(err.msg, "key=value"), "%s", err.msg);
    char *bad3[] = {"--cutoff_len"};
    CHECK(ct_train_config_apply_args(&c, 1, bad3, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "--cutoff_len needs a value"), "%s", err.msg);
    char *bad4[] = {"learning_rate=fast"};
    CHECK(ct_train_config_apply_args(&c, 1, bad4, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "learning_rate=") && strstr(err.msg, "expected a number"), "%s", err.msg);
    char *bad5[] = {"--plot_loss=maybe"};
    CHECK(ct_train_config_apply_args(&c, 1, bad5, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "'plot_loss'") && strstr(err.msg, "true or false"), "%s", err.msg);
    char *bad6[] = {"=3"};
    CHECK(ct_train_config_apply_args(&c, 1, bad6, &err) == CT_ERR_ARG);
    char *bad7[] = {"--learning_rat", "1"};
    CHECK(ct_train_config_apply_args(&c, 2, bad7, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "'learning_rate'?"), "%s", err.msg);
    ct_train_config_free(&c);
}

/* The LlamaFactory example header keys are harmless: accepted, one summary line. */
TEST(config_harmless_keys_one_line) {
    ct_train_config c;
    ct_err err = {0};
    CHECK_OK(load_text(&c, "h.yaml",
                       "trust_remote_code: true\nflash_attn: auto\nddp_timeout: 180000000\n"
                       "preprocessing_num_workers: 16\ndataloader_num_workers: 4\nsave_only_model: false\n"
                       "overwrite_output_dir: true\nstreaming: false\ngradient_checkpointing_kwargs:\n"
                       "  use_reentrant: false\nreport_to: none\n",
                       &err),
             &err);
    char *line = ct_train_config_ignored_line(&c);
    REQUIRE(line);
    CHECK_MSG(strstr(line, "no effect in ctune: trust_remote_code, flash_attn, ddp_timeout, preprocessing_num_workers, "
                           "dataloader_num_workers, save_only_model, streaming, gradient_checkpointing_kwargs") != NULL,
              "%s", line);
    CHECK(!strchr(line, '\n'));
    free(line);
    CHECK(c.overwrite_output_dir);
    ct_train_config_free(&c);
    ct_train_config_init(&c);
    CHECK(ct_train_config_ignored_line(&c) == NULL);
    ct_train_config_free(&c);
}

/* Keys that would change training unimplemented are refused at their line, with the reason. */
TEST(config_guarded_keys_refused_with_reason) {
    static const struct {
        const char *yaml, *key;
    } cases[] = {
        {"streaming: true\n", "streaming"},
        {"rope_scaling: linear\n", "rope_scaling"},
        {"rope_scaling:\n  rope_type: linear\n  factor: 2.0\n", "rope_scaling"},
        {"lora_bias: true\n", "lora_bias"},
        {"ignore_pad_token_for_loss: false\n", "ignore_pad_token_for_loss"},
        {"load_best_model_at_end: true\n", "load_best_model_at_end"},
        {"do_predict: true\n", "do_predict"},
        {"label_smoothing_factor: 0.1\n", "label_smoothing_factor"},
        {"tool_format: glm4\n", "tool_format"},
        {"resize_vocab: yes\n", "resize_vocab"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ct_train_config c;
        ct_err err = {0};
        char text[256];
        snprintf(text, sizeof text, "model_name_or_path: m\n%s", cases[i].yaml);
        CHECK_MSG(load_text(&c, "g.yaml", text, &err) == CT_ERR_UNSUPPORTED, "%s accepted", cases[i].key);
        char want[64];
        snprintf(want, sizeof want, "key '%s'", cases[i].key);
        CHECK_MSG(strstr(err.msg, "g.yaml:") && strstr(err.msg, want) && strstr(err.msg, "not supported: "), "%s",
                  err.msg);
        CHECK_MSG(!strchr(err.msg, '\n'), "%s", err.msg);
        ct_train_config_free(&c);
    }
    /* the harmless value of each passes: false / null / 0 */
    ct_train_config c;
    ct_err err = {0};
    CHECK_OK(load_text(&c, "g0.yaml",
                       "streaming: false\nrope_scaling: null\nlora_bias: false\nignore_pad_token_for_loss: true\n"
                       "label_smoothing_factor: 0.0\nlogging_strategy: steps\n",
                       &err),
             &err);
    CHECK_EQ_INT(c.ignored.n, 6);
    /* a command-line override is refused the same way */
    char *argv[] = {"--streaming"};
    CHECK(ct_train_config_apply_args(&c, 1, argv, &err) == CT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "--streaming") && strstr(err.msg, "streamed datasets"), "%s", err.msg);
    ct_train_config_free(&c);
}

TEST(config_optim_adamw_family) {
    ct_train_config c;
    ct_err err = {0};
    char note[512];
    ct_train_config_init(&c);
    CHECK_STREQ(c.optim, "adamw_torch");
    CHECK(ct_train_config_optim_note(&c, note, sizeof note) == NULL);
    const char *exact[] = {"adamw_torch", "adamw_torch_fused", "adamw_hf", "paged_adamw_32bit"};
    for (size_t i = 0; i < 4; i++) {
        CHECK_OK(ct_train_config_set(&c, "optim", exact[i], "t", &err), &err);
        CHECK_MSG(ct_train_config_optim_note(&c, note, sizeof note) == NULL, "%s has a note", exact[i]);
    }
    CHECK_OK(ct_train_config_set(&c, "optim", "paged_adamw_8bit", "t", &err), &err);
    const char *n = ct_train_config_optim_note(&c, note, sizeof note);
    CHECK_MSG(n && strstr(n, "paged_adamw_8bit") && strstr(n, "32-bit AdamW") && strstr(n, "bitsandbytes") &&
                  !strchr(n, '\n'),
              "%s", n ? n : "(none)");
    ct_train_config_free(&c);
    CHECK(load_text(&c, "o.yaml", "seed: 1\noptim: adafactor\n", &err) == CT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "o.yaml:2") && strstr(err.msg, "'optim'") && strstr(err.msg, "'adafactor'"), "%s",
              err.msg);
    ct_train_config_free(&c);
    CHECK(load_text(&c, "o2.yaml", "optim: [a, b]\n", &err) == CT_ERR_UNSUPPORTED);
    ct_train_config_free(&c);
}

TEST(config_save_strategy_values) {
    ct_train_config c;
    ct_err err = {0};
    CHECK_OK(load_text(&c, "s.yaml", "save_strategy: epoch\n", &err), &err);
    CHECK_STREQ(c.save_strategy, "epoch");
    ct_train_config_free(&c);
    CHECK(load_text(&c, "s2.yaml", "save_strategy: best\n", &err) == CT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "s2.yaml:1") && strstr(err.msg, "metric_for_best_model"), "%s", err.msg);
    ct_train_config_free(&c);
    CHECK(load_text(&c, "s3.yaml", "save_strategy: sometimes\n", &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "s3.yaml:1") && strstr(err.msg, "no|steps|epoch"), "%s", err.msg);
    ct_train_config_free(&c);
}

TEST(config_eval_dataset_rules) {
    ct_train_config c;
    ct_err err = {0};
    CHECK_OK(load_text(&c, "e.yaml", "dataset: a\neval_dataset: b\nval_size: 0.1\n", &err), &err);
    CHECK(ct_train_config_validate(&c, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "val_size") && strstr(err.msg, "eval_dataset"), "%s", err.msg);
    ct_train_config_free(&c);
    CHECK_OK(load_text(&c, "e2.yaml", "eval_dataset: b\nval_size: 5\n", &err), &err);
    CHECK(ct_train_config_validate(&c, &err) == CT_ERR_ARG);
    ct_train_config_free(&c);
    CHECK_OK(load_text(&c, "e3.yaml", "val_size: 0.2\n", &err), &err);
    CHECK(ct_train_config_validate(&c, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "val_size needs dataset"), "%s", err.msg);
    ct_train_config_free(&c);
    CHECK_OK(load_text(&c, "e4.yaml", "eval_dataset: b\n", &err), &err); /* alone: fine (--eval-only) */
    CHECK_OK(ct_train_config_validate(&c, &err), &err);
    ct_train_config_free(&c);
}

TEST(config_nested_mappings) {
    ct_train_config c;
    ct_err err = {0};
    CHECK(load_text(&c, "n.yaml", "lr_scheduler_kwargs:\n  min_lr_rate: 0.1\n  num_cycles: 2\n", &err) ==
          CT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "n.yaml:3") && strstr(err.msg, "only min_lr_rate"), "%s", err.msg);
    ct_train_config_free(&c);
    CHECK(load_text(&c, "n2.yaml", "learning_rate:\n  a: 1\n", &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "'learning_rate'") && strstr(err.msg, "not a mapping"), "%s", err.msg);
    ct_train_config_free(&c);
    CHECK(load_text(&c, "n3.yaml", "lr_scheduler_kwargs: 3\n", &err) == CT_ERR_ARG);
    ct_train_config_free(&c);
    CHECK(load_text(&c, "n4.yaml", "weird_kwargs:\n  a: 1\n", &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "unknown key 'weird_kwargs'"), "%s", err.msg);
    ct_train_config_free(&c);
}

/* default_system: a conversation without a system message (or with an empty one) renders as
 * the same conversation with that system message; a given one is kept. */
TEST(config_default_system_renders_as_a_system_message) {
    const char *names[] = {"qwen", "qwen3", "llama3", "llama2", "chatml"};
    for (size_t t = 0; t < 5; t++) {
        const ct_template *tp = ct_template_get(names[t]);
        REQUIRE(tp);
        ct_err err = {0};
        ct_conv plain, sys, empty_sys, own;
        ct_conv_init(&plain), ct_conv_init(&sys), ct_conv_init(&empty_sys), ct_conv_init(&own);
        ct_conv_add(&sys, CT_ROLE_SYSTEM, "Be brief.", &err);
        ct_conv_add(&empty_sys, CT_ROLE_SYSTEM, "", &err);
        ct_conv_add(&own, CT_ROLE_SYSTEM, "Own.", &err);
        ct_conv *all[] = {&plain, &sys, &empty_sys, &own};
        for (int i = 0; i < 4; i++) {
            ct_conv_add(all[i], CT_ROLE_USER, "Hi", &err);
            ct_conv_add(all[i], CT_ROLE_ASSISTANT, "Hello.", &err);
        }
        ct_render_opts o = ct_render_opts_default();
        ct_render ref, r;
        ct_render_init(&ref), ct_render_init(&r);
        CHECK_OK(ct_template_render(tp, &sys, &o, &ref, &err), &err);
        o.default_system = "Be brief.";
        CHECK_OK(ct_template_render(tp, &plain, &o, &r, &err), &err);
        CHECK_MSG(!strcmp(r.text, ref.text), "%s: %s != %s", names[t], r.text, ref.text);
        CHECK_EQ_INT(r.n_segs, ref.n_segs);
        CHECK_OK(ct_template_render(tp, &empty_sys, &o, &r, &err), &err);
        CHECK_MSG(!strcmp(r.text, ref.text), "%s (empty system): %s", names[t], r.text);
        CHECK_OK(ct_template_render(tp, &own, &o, &r, &err), &err);
        CHECK_MSG(strstr(r.text, "Own.") && !strstr(r.text, "Be brief."), "%s: %s", names[t], r.text);
        CHECK_EQ_INT(plain.n_msgs, 2); /* the caller's conversation is untouched */
        ct_render_free(&ref), ct_render_free(&r);
        for (int i = 0; i < 4; i++) ct_conv_free(all[i]);
    }
}
