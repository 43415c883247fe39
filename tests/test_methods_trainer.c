/* BAdam, GaLore and LLaMA Pro through ct_train_run on the real stories260k model (../shared;
 * skipped when absent): a stopped-and-resumed run equals the uninterrupted one bit for bit (BAdam's
 * block, schedule and earlier blocks' weights, GaLore's projectors restored from the checkpoint);
 * layers BAdam never activated and the embeddings leave the run as they came; LLaMA Pro's
 * expanded model trains its new blocks only and its LoRA adapter loads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/adapter.h"
#include "ctune/train.h"
#include "harness.h"
#include "model/model.h"

static const char *stories(void) {
    const char *m = ct_test_shared("models/stories260k");
    if (!m) ct_test_skip("../shared/models/stories260k not found");
    return m;
}

static void set(ct_train_config *c, const char *k, const char *v) {
    ct_err err = {0};
    if (ct_train_config_set(c, k, v, "test", &err)) ct_test_fail(__FILE__, __LINE__, "%s: %s", k, err.msg);
}

static void cfg_init(ct_train_config *c, const char *model, const char *out) {
    ct_train_config_init(c);
    const char *kv[][2] = {
        {"model_name_or_path", model}, {"template", "empty"}, {"dataset", "memo.jsonl"},
        {"dataset_dir", "tests/fixtures/trainer"}, {"cutoff_len", "64"}, {"finetuning_type", "full"},
        {"learning_rate", "0.005"}, {"per_device_train_batch_size", "2"}, {"logging_steps", "1"},
        {"save_steps", "0"}, {"output_dir", out}, {"threads", "1"}, {"tokenized_path", ""},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) set(c, kv[i][0], kv[i][1]);
}

static char *slurp(const char *dir, const char *name, size_t *n) {
    char *p = ct_path_join(dir, name), *buf = NULL;
    *n = 0;
    if (ct_read_file(p, &buf, n, NULL)) buf = NULL;
    free(p);
    return buf;
}

/* Lines of trainer_log.jsonl after the first `skip`, without the elapsed/remaining times. */
static bool same_log_tail(const char *a, const char *b, int skip_b) {
    size_t na, nb;
    char *la = slurp(a, "trainer_log.jsonl", &na), *lb = slurp(b, "trainer_log.jsonl", &nb);
    bool same = la && lb;
    char *sa = NULL, *sb = NULL;
    char *x = same ? strtok_r(la, "\n", &sa) : NULL, *y = same ? strtok_r(lb, "\n", &sb) : NULL;
    for (int i = 0; x && i < skip_b; i++) x = strtok_r(NULL, "\n", &sa);
    for (; same && x && y; x = strtok_r(NULL, "\n", &sa), y = strtok_r(NULL, "\n", &sb)) {
        char *ex = strstr(x, "\"elapsed_time\""), *ey = strstr(y, "\"elapsed_time\"");
        size_t kx = ex ? (size_t)(ex - x) : strlen(x), ky = ey ? (size_t)(ey - y) : strlen(y);
        same = kx == ky && !memcmp(x, y, kx);
        if (!same) fprintf(stderr, "    %.*s\n    %.*s\n", (int)kx, x, (int)ky, y);
    }
    same = same && !x && !y;
    free(la), free(lb);
    return same;
}

static bool same_file(const char *a, const char *b, const char *name) {
    size_t na, nb;
    char *x = slurp(a, name, &na), *y = slurp(b, name, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

/* Runs cfg to completion in `a`; then in `b` to checkpoint `stop` and resumes it; compares.
 * Returns `a` (malloc'd). */
static char *resume_equals_uninterrupted(const char *model, void (*extra)(ct_train_config *), const char *what) {
    char *a = ct_path_join(ct_test_tmpdir(), what), *b = NULL, *ck = NULL;
    char bn[256];
    snprintf(bn, sizeof bn, "%s-resumed", what);
    b = ct_path_join(ct_test_tmpdir(), bn);
    ct_train_config c;
    ct_err err = {0};
    ct_train_result res;
    cfg_init(&c, model, a);
    extra(&c);
    set(&c, "max_steps", "10");
    set(&c, "save_steps", "4");
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "%s: %s", what, err.msg);
    ct_train_config_free(&c);
    ck = ct_path_join(a, "checkpoint-4");
    cfg_init(&c, model, b);
    extra(&c);
    set(&c, "max_steps", "10");
    set(&c, "resume_from_checkpoint", ck);
    ct_train_result_clear(&res);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "%s resumed: %s", what, err.msg);
    ct_train_config_free(&c);
    CHECK_MSG(same_log_tail(a, b, 4), "%s: the resumed run's log differs", what);
    CHECK_MSG(same_file(a, b, "model.safetensors"), "%s: the resumed run's model differs", what);
    free(b), free(ck);
    ct_train_result_clear(&res);
    return a;
}

static void badam_random(ct_train_config *c) {
    set(c, "use_badam", "true");
    set(c, "badam_switch_mode", "random");
    set(c, "badam_switch_interval", "2");
}

static void galore_cfg(ct_train_config *c) {
    set(c, "use_galore", "true");
    set(c, "galore_rank", "4");
    set(c, "galore_update_interval", "3");
    set(c, "galore_target", "q_proj,mlp");
}

/* A BAdam checkpoint resumed with another schedule (or none) is refused by name. */
static void badam_resume_refused(const char *model, const char *ck, const char *key, const char *value,
                                 const char *want) {
    char *out = ct_path_join(ct_test_tmpdir(), "badam-refused");
    ct_train_config c;
    ct_err err = {0};
    ct_train_result res;
    cfg_init(&c, model, out);
    badam_random(&c);
    set(&c, key, value);
    set(&c, "max_steps", "10");
    set(&c, "overwrite_output_dir", "true");
    set(&c, "resume_from_checkpoint", ck);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) != CT_OK && strstr(err.msg, want), "%s: %s: %s", key, value, err.msg);
    ct_train_config_free(&c);
    free(out);
    ct_train_result_clear(&res);
}

TEST(badam_trainer_resume_is_bitwise_identical) {
    const char *model = stories();
    if (!model) return;
    char *a = resume_equals_uninterrupted(model, badam_random, "badam"), *ck = ct_path_join(a, "checkpoint-4");
    badam_resume_refused(model, ck, "use_badam", "false", "use_badam");
    badam_resume_refused(model, ck, "badam_switch_interval", "3", "badam.");
    badam_resume_refused(model, ck, "badam_switch_mode", "ascending", "badam_switch_mode");
    badam_resume_refused(model, ck, "seed", "7", "seed");
    free(a), free(ck);
}

TEST(galore_trainer_resume_is_bitwise_identical) {
    const char *model = stories();
    if (model) free(resume_equals_uninterrupted(model, galore_cfg, "galore"));
}

TEST(badam_trainer_leaves_inactive_layers_as_they_were) {
    const char *model = stories();
    if (!model) return;
    char *out = ct_path_join(ct_test_tmpdir(), "badam-asc");
    ct_train_config c;
    ct_err err = {0};
    ct_train_result res;
    cfg_init(&c, model, out);
    set(&c, "use_badam", "true");
    set(&c, "badam_switch_interval", "4"); /* block 0 for steps 1-3, block 1 for 4-6 */
    set(&c, "max_steps", "6");
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "%s", err.msg);
    CHECK(res.trainable_params > 0 && res.trainable_params * 4 < res.total_params); /* one layer's worth */
    ct_train_config_free(&c);
    ct_model *base = NULL, *m = NULL;
    REQUIRE(ct_model_load(model, &base, &err) == CT_OK);
    REQUIRE(ct_model_load(out, &m, &err) == CT_OK);
    for (int l = -1; l < base->cfg.num_layers; l++)
        for (int id = 0; id < (l < 0 ? CT_GT_COUNT : CT_LT_COUNT); id++) {
            const ct_tensor_spec *s = l < 0 ? &ct_global_specs[id] : &ct_layer_specs[id];
            const ct_tensor *t0 = ct_weights_at_c(&base->w, s, l), *t1 = ct_weights_at_c(&m->w, s, l);
            if (!t0->data) continue;
            bool same = t0->dtype == t1->dtype && !memcmp(t0->data, t1->data, ct_tensor_nbytes(t0));
            bool trained = l == 0 || l == 1;
            CHECK_MSG(same != trained, "layer %d %s: %s", l, s->hf, trained ? "did not train" : "changed");
        }
    ct_model_free(base);
    ct_model_free(m);
    free(out);
    ct_train_result_clear(&res);
}

TEST(llama_pro_trainer_expanded_blocks_only) {
    const char *model = stories();
    if (!model) return;
    char *pro = ct_path_join(ct_test_tmpdir(), "stories-pro"), *out = ct_path_join(ct_test_tmpdir(), "pro-freeze");
    char *lo = ct_path_join(ct_test_tmpdir(), "pro-lora");
    ct_err err = {0};
    ct_llama_pro_opts o = {.model_dir = model, .out_dir = pro, .num_expand = 5};
    REQUIRE(ct_llama_pro_expand(&o, &err) == CT_OK);
    ct_train_config c;
    ct_train_result res;
    cfg_init(&c, pro, out);
    set(&c, "finetuning_type", "freeze");
    set(&c, "freeze_trainable_layers", "5");
    set(&c, "use_llama_pro", "true");
    set(&c, "max_steps", "3");
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "%s", err.msg);
    ct_train_config_free(&c);
    ct_model *base = NULL, *m = NULL;
    REQUIRE(ct_model_load(pro, &base, &err) == CT_OK);
    REQUIRE(ct_model_load(out, &m, &err) == CT_OK);
    CHECK_EQ_INT(m->cfg.num_layers, 10);
    for (int l = 0; l < 10; l++) {
        const ct_tensor *t0 = &base->w.layers[l].t[CT_LT_DOWN], *t1 = &m->w.layers[l].t[CT_LT_DOWN];
        bool same = !memcmp(t0->data, t1->data, ct_tensor_nbytes(t0));
        CHECK_MSG(same == (l % 2 == 0), "layer %d: %s", l, same ? "did not train" : "changed"); /* expanded: 1 3 5 7 9 */
    }
    ct_model_free(m);
    cfg_init(&c, pro, lo);
    set(&c, "finetuning_type", "lora");
    set(&c, "freeze_trainable_layers", "5");
    set(&c, "use_llama_pro", "true");
    set(&c, "max_steps", "2");
    ct_train_result_clear(&res);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "%s", err.msg);
    ct_train_config_free(&c);
    size_t n;
    char *ac = slurp(lo, "adapter_config.json", &n);
    CHECK_MSG(ac && strstr(ac, "\"model.layers.9.mlp.down_proj\"") && !strstr(ac, "\"model.layers.8.") &&
                  !strstr(ac, "\"q_proj\""),
              "target_modules: %s", ac ? ac : "(none)");
    free(ac);
    ct_adapter *ad = NULL;
    CHECK_MSG(ct_adapter_load(lo, base, &ad, &err) == CT_OK, "the LLaMA Pro LoRA adapter does not load: %s", err.msg);
    ct_adapter_free(ad);
    ct_model_free(base);
    free(pro), free(out), free(lo);
    ct_train_result_clear(&res);
}
