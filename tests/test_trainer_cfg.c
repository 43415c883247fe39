/* Trainer behaviour of LlamaFactory keys on the real stories260k model (../shared; skipped when
 * absent): save_strategy epoch / no, eval_dataset alone with eval_only, default_system in the
 * trained data, the optim note. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/train.h"
#include "harness.h"

static const char *stories(void) {
    const char *m = ct_test_shared("models/stories260k");
    if (!m) ct_test_skip("../shared/models/stories260k not found");
    return m;
}

static void set(ct_train_config *c, const char *k, const char *v) {
    ct_err err = {0};
    if (ct_train_config_set(c, k, v, "test", &err)) ct_test_fail(__FILE__, __LINE__, "%s: %s", k, err.msg);
}

/* LoRA on the 6-line memo set, batch 2: 3 steps per epoch. */
static void cfg_init(ct_train_config *c, const char *model, const char *out) {
    ct_train_config_init(c);
    const char *kv[][2] = {
        {"model_name_or_path", model}, {"template", "empty"}, {"dataset", "memo.jsonl"},
        {"dataset_dir", "tests/fixtures/trainer"}, {"cutoff_len", "64"}, {"learning_rate", "0.01"},
        {"num_train_epochs", "3"}, {"per_device_train_batch_size", "2"}, {"logging_steps", "1"},
        {"output_dir", out}, {"threads", "1"}, {"tokenized_path", ""},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) set(c, kv[i][0], kv[i][1]);
}

/* "checkpoint-3,checkpoint-6" for the checkpoint dirs present among 1..12. */
static void checkpoints(const char *out, char *buf, size_t n) {
    buf[0] = 0;
    for (int s = 1; s <= 12; s++) {
        char name[64];
        snprintf(name, sizeof name, "checkpoint-%d", s);
        char *p = ct_path_join(out, name);
        if (ct_dir_exists(p)) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? "," : "", name);
        free(p);
    }
}

TEST(trainer_save_strategy_epoch_and_no) {
    const char *model = stories();
    if (!model) return;
    struct {
        const char *strategy, *save_steps, *max_steps, *want;
    } cases[] = {
        {"epoch", "1", "-1", "checkpoint-3,checkpoint-6,checkpoint-9"}, /* save_steps does not apply */
        {"epoch", "500", "7", "checkpoint-3,checkpoint-6,checkpoint-7"}, /* the last step ends an epoch too */
        {"no", "1", "-1", ""},
        {"steps", "4", "-1", "checkpoint-4,checkpoint-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32], got[256];
        snprintf(name, sizeof name, "save%zu", i);
        char *out = ct_path_join(ct_test_tmpdir(), name);
        ct_train_config c;
        cfg_init(&c, model, out);
        set(&c, "save_strategy", cases[i].strategy);
        set(&c, "save_steps", cases[i].save_steps);
        set(&c, "max_steps", cases[i].max_steps);
        ct_train_result res;
        ct_err err = {0};
        CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "%s: %s", cases[i].strategy, err.msg);
        ct_train_result_clear(&res);
        checkpoints(out, got, sizeof got);
        CHECK_MSG(!strcmp(got, cases[i].want), "save_strategy %s: [%s], expected [%s]", cases[i].strategy, got,
                  cases[i].want);
        char *adp = ct_path_join(out, "adapter_model.safetensors"); /* the final model is always written */
        CHECK(ct_file_exists(adp));
        free(adp);
        ct_train_config_free(&c);
        free(out);
    }
}

typedef struct msgs {
    char text[4096];
} msgs;

static void on_msg(void *user, const char *m) {
    msgs *s = user;
    snprintf(s->text + strlen(s->text), sizeof s->text - strlen(s->text), "%s\n", m);
}

/* eval_dataset alone (no dataset) evaluates with eval_only, and gives the loss the same split has
 * next to a training dataset; without eval_only the missing dataset is named. */
TEST(trainer_eval_dataset_alone_eval_only) {
    const char *model = stories();
    if (!model) return;
    char *out = ct_path_join(ct_test_tmpdir(), "ev");
    ct_train_config c;
    ct_err err = {0};
    ct_train_result r1, r2;
    ct_train_opts o = {.eval_only = true};
    cfg_init(&c, model, out);
    set(&c, "eval_dataset", "memo.jsonl");
    CHECK_MSG(ct_train_run_ex(&c, NULL, &o, &r1, &err) == CT_OK, "with dataset: %s", err.msg);
    set(&c, "dataset", "null");
    CHECK_MSG(ct_train_run_ex(&c, NULL, &o, &r2, &err) == CT_OK, "eval_dataset alone: %s", err.msg);
    CHECK(isfinite(r1.eval_loss) && r1.eval_loss > 0);
    CHECK_MSG(r1.eval_loss == r2.eval_loss, "%.9g != %.9g", r1.eval_loss, r2.eval_loss);
    ct_train_result_clear(&r2);
    CHECK(ct_train_run(&c, NULL, &r2, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "dataset is required") && strstr(err.msg, "--eval-only"), "%s", err.msg);
    ct_train_config_free(&c);
    free(out);
    ct_train_result_clear(&r1);
    ct_train_result_clear(&r2);
}

/* default_system changes the trained data (the eval loss of the same rows changes) and equals
 * the loss of rows that carry that system prompt themselves; the 8-bit optim note is said. */
TEST(trainer_default_system_and_optim_note) {
    const char *model = stories();
    if (!model) return;
    char *dir = ct_path_join(ct_test_tmpdir(), "data");
    ct_err err = {0};
    REQUIRE(ct_mkdir_p(dir, &err) == CT_OK);
    char *plain = ct_path_join(dir, "plain.jsonl"), *sys = ct_path_join(dir, "sys.jsonl");
    const char *p = "{\"instruction\": \"What color was the bird?\", \"output\": \"Blue.\"}\n"
                    "{\"instruction\": \"Who ran?\", \"output\": \"The dog.\"}\n";
    const char *s = "{\"system\": \"You tell stories.\", \"instruction\": \"What color was the bird?\", \"output\": \"Blue.\"}\n"
                    "{\"system\": \"You tell stories.\", \"instruction\": \"Who ran?\", \"output\": \"The dog.\"}\n";
    REQUIRE(ct_write_file_atomic(plain, p, strlen(p), &err) == CT_OK);
    REQUIRE(ct_write_file_atomic(sys, s, strlen(s), &err) == CT_OK);
    double loss[3];
    const char *evals[] = {"plain.jsonl", "plain.jsonl", "sys.jsonl"};
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "ds%d", i);
        char *out = ct_path_join(ct_test_tmpdir(), name);
        ct_train_config c;
        cfg_init(&c, model, out);
        set(&c, "template", "chatml");
        set(&c, "dataset_dir", dir);
        set(&c, "dataset", "null");
        set(&c, "eval_dataset", evals[i]);
        if (i == 1) set(&c, "default_system", "You tell stories.");
        ct_train_opts o = {.eval_only = true};
        ct_train_result r;
        CHECK_MSG(ct_train_run_ex(&c, NULL, &o, &r, &err) == CT_OK, "%d: %s", i, err.msg);
        ct_train_result_clear(&r);
        loss[i] = r.eval_loss;
        ct_train_config_free(&c);
        free(out);
    }
    CHECK_MSG(loss[0] != loss[1], "default_system changed nothing (%.9g)", loss[0]);
    CHECK_MSG(loss[1] == loss[2], "default_system %.9g != explicit system %.9g", loss[1], loss[2]);
    /* the optim note goes through the message callback, one line */
    char *out = ct_path_join(ct_test_tmpdir(), "optim");
    ct_train_config c;
    cfg_init(&c, model, out);
    set(&c, "optim", "paged_adamw_8bit");
    set(&c, "max_steps", "1");
    msgs m = {{0}};
    ct_train_opts o = {.message = on_msg, .message_user = &m};
    ct_train_result r;
    CHECK_MSG(ct_train_run_ex(&c, NULL, &o, &r, &err) == CT_OK, "%s", err.msg);
    CHECK_MSG(strstr(m.text, "optim 'paged_adamw_8bit': runs 32-bit AdamW"), "%s", m.text);
    ct_train_config_free(&c);
    free(out);
    free(plain);
    free(sys);
    free(dir);
    ct_train_result_clear(&r);
}
