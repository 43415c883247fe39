/* Training loop tests on the real stories260k model (../shared; skipped when absent):
 * LoRA memorisation + greedy reproduction, bitwise resume, accumulation == big batch,
 * NaN stop, outputs of every method, output_dir policy. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/data.h"
#include "ctune/generate.h"
#include "ctune/train.h"
#include "harness.h"
#include "peft/peft_io.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "ctune/adapter.h"

static const char *stories(void) {
    const char *m = ct_test_shared("models/stories260k");
    if (!m) ct_test_skip("../shared/models/stories260k not found");
    return m;
}

/* Base config: LoRA r8 on all linears, template empty, the 6-line memo set, no saves/logging. */
static void base_cfg(ct_train_config *c, const char *model, const char *out) {
    ct_train_config_init(c);
    const char *kv[][2] = {
        {"model_name_or_path", model}, {"stage", "sft"}, {"template", "empty"}, {"dataset", "memo.jsonl"},
        {"dataset_dir", "tests/fixtures/trainer"}, {"cutoff_len", "64"}, {"finetuning_type", "lora"},
        {"lora_rank", "8"}, {"learning_rate", "0.01"}, {"num_train_epochs", "3"},
        {"per_device_train_batch_size", "2"}, {"lr_scheduler_type", "cosine"}, {"warmup_steps", "1"},
        {"logging_steps", "1"}, {"save_steps", "0"}, {"output_dir", out}, {"threads", "1"},
        {"tokenized_path", ""},
    };
    ct_err err = {0};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (ct_train_config_set(c, kv[i][0], kv[i][1], "test", &err)) ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
}

static void set(ct_train_config *c, const char *k, const char *v) {
    ct_err err = {0};
    if (ct_train_config_set(c, k, v, "test", &err)) ct_test_fail(__FILE__, __LINE__, "%s: %s", k, err.msg);
}

/* Memorisation: the 6 lines, 30 epochs of one batch of 6, constant lr, a log every 5 steps. */
static void memo_cfg(ct_train_config *c, const char *model, const char *out) {
    base_cfg(c, model, out);
    set(c, "num_train_epochs", "30");
    set(c, "per_device_train_batch_size", "6");
    set(c, "lr_scheduler_type", "constant");
    set(c, "logging_steps", "5");
}

static char *tmp_sub(const char *name) { return ct_path_join(ct_test_tmpdir(), name); }

/* "loss" values of trainer_log.jsonl as text (Python repr: equal text == equal bits). */
typedef struct loglines {
    char loss[64][40];
    char gnorm[64][40];
    long step[64];
    size_t n;
} loglines;

static void read_log(const char *dir, loglines *L) {
    memset(L, 0, sizeof *L);
    char *p = ct_path_join(dir, "trainer_log.jsonl"), *buf = NULL;
    size_t len = 0;
    if (ct_read_file(p, &buf, &len, NULL)) {
        ct_test_fail(__FILE__, __LINE__, "cannot read %s", p);
        free(p);
        return;
    }
    for (char *line = strtok(buf, "\n"); line && L->n < 64; line = strtok(NULL, "\n")) {
        char *l = strstr(line, "\"loss\": "), *g = strstr(line, "\"grad_norm\": "), *s = strstr(line, "\"current_steps\": ");
        if (!l || !s) continue;
        L->step[L->n] = strtol(s + 17, NULL, 10);
        sscanf(l + 8, "%39[^,}]", L->loss[L->n]);
        if (g) sscanf(g + 13, "%39[^,}]", L->gnorm[L->n]);
        L->n++;
    }
    free(buf);
    free(p);
}

/* A callback that records the last logged loss and can stop at a given step. */
typedef struct rec {
    double last_loss;
    int64_t stop_at;
    int n_logs, n_saves, n_begin, n_end;
} rec;
static ct_status rec_log(void *u, ct_train_event *ev, ct_err *err) {
    (void)err;
    rec *r = u;
    r->last_loss = ev->loss;
    r->n_logs++;
    return CT_OK;
}
static ct_status rec_step(void *u, ct_train_event *ev, ct_err *err) {
    (void)err;
    rec *r = u;
    if (r->stop_at && ev->step == r->stop_at) ev->should_stop = true;
    return CT_OK;
}
static ct_status rec_save(void *u, ct_train_event *ev, ct_err *err) {
    (void)ev, (void)err;
    ((rec *)u)->n_saves++;
    return CT_OK;
}
static ct_status rec_begin(void *u, ct_train_event *ev, ct_err *err) {
    (void)ev, (void)err;
    ((rec *)u)->n_begin++;
    return CT_OK;
}
static ct_status rec_end(void *u, ct_train_event *ev, ct_err *err) {
    (void)ev, (void)err;
    ((rec *)u)->n_end++;
    return CT_OK;
}
static void rec_callbacks(ct_callbacks *cbs, rec *r) {
    memset(cbs, 0, sizeof *cbs);
    ct_callback cb;
    memset(&cb, 0, sizeof cb);
    cb.name = "rec";
    cb.user = r;
    cb.on_log = rec_log;
    cb.on_step_end = rec_step;
    cb.on_save = rec_save;
    cb.on_train_begin = rec_begin;
    cb.on_train_end = rec_end;
    ct_callbacks_add(cbs, &cb, NULL);
}

TEST(trainer_lora_memorises_and_generates) {
    const char *model = stories();
    if (!model) return;
    char *out = tmp_sub("memo");
    ct_train_config c;
    memo_cfg(&c, model, out);
    rec r = {0};
    ct_callbacks cbs;
    rec_callbacks(&cbs, &r);
    ct_train_result res;
    ct_err err = {0};
    ct_status st = ct_train_run(&c, &cbs, &res, &err);
    CHECK_MSG(st == CT_OK, "train: %s", err.msg);
    CHECK_EQ_INT(res.global_step, 30);
    CHECK_EQ_INT(r.n_begin, 1);
    CHECK_EQ_INT(r.n_end, 1);
    CHECK_EQ_INT(r.n_logs, 6);
    CHECK_MSG(r.last_loss < 0.05, "final logged train loss %g, expected < 0.05", r.last_loss);
    CHECK(!res.interrupted);
    /* the adapter loads with the PEFT reader: 5 layers x 7 modules, r 8, alpha 16 */
    ct_peft_adapter ad;
    st = ct_peft_load(out, &ad, &err);
    CHECK_MSG(st == CT_OK, "peft load: %s", err.msg);
    if (!st) {
        CHECK_EQ_INT(ad.type, CT_PEFT_LORA);
        CHECK_EQ_INT(ad.r, 8);
        CHECK_EQ_INT(ad.n_lora, 35);
        CHECK_NEAR(ad.lora_alpha, 16.0, 0);
        ct_peft_free(&ad);
    }
    const char *files[] = {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "all_results.json",
                           "trainer_log.jsonl"};
    for (size_t i = 0; i < 5; i++) {
        char *p = ct_path_join(out, files[i]);
        CHECK_MSG(ct_file_exists(p), "missing %s", p);
        free(p);
    }
    /* greedy generation with the adapter reproduces a trained answer */
    ct_model *m = NULL;
    ct_tokenizer *tok = NULL;
    ct_adapter *aa = NULL;
    REQUIRE(ct_model_load(model, &m, &err) == CT_OK);
    REQUIRE(ct_tokenizer_load(model, &tok, &err) == CT_OK);
    st = ct_adapter_load(out, m, &aa, &err);
    CHECK_MSG(st == CT_OK, "load adapter: %s", err.msg);
    const char *q = "Who found the key?", *ans = "Lily found the key under the tree.";
    ct_ids ids = {0}, gen = {0};
    ct_tokenizer_encode(tok, q, strlen(q), false, &ids, &err);
    ct_gen_params p;
    ct_gen_params_init(&p, ct_model_config(m));
    p.do_sample = false;
    p.max_new_tokens = 20;
    st = ct_generate(ct_test_ctx(), m, aa, ids.data, ids.n, &p, &gen, NULL, &err);
    CHECK_MSG(st == CT_OK, "generate: %s", err.msg);
    char *text = NULL;
    size_t tl = 0;
    ct_tokenizer_decode(tok, gen.data, gen.n, true, &text, &tl, &err);
    CHECK_MSG(text && !strncmp(text, ans, strlen(ans)), "generated '%s', expected it to start with '%s'",
              text ? text : "(null)", ans);
    free(text);
    ct_ids_free(&ids);
    ct_ids_free(&gen);
    ct_adapter_free(aa);
    ct_tokenizer_free(tok);
    ct_model_free(m);
    ct_callbacks_free(&cbs);
    ct_train_config_free(&c);
    free(out);
    ct_train_result_clear(&res);
}

/* LoRA with additional_target (PEFT modules_to_save): the trained final norm is saved as
 * "base_model.model.model.norm.weight", listed in adapter_config.json, and replaces the base's
 * norm when the adapter is loaded for inference. */
TEST(trainer_lora_additional_target_saved) {
    const char *model = stories();
    if (!model) return;
    char *out = tmp_sub("mts");
    ct_train_config c;
    base_cfg(&c, model, out);
    set(&c, "max_steps", "3");
    set(&c, "additional_target", "norm");
    ct_train_result res;
    ct_err err = {0};
    ct_status st = ct_train_run(&c, NULL, &res, &err);
    CHECK_MSG(st == CT_OK, "train: %s", err.msg);
    ct_peft_adapter ad;
    st = ct_peft_load(out, &ad, &err);
    CHECK_MSG(st == CT_OK, "peft load: %s", err.msg);
    if (!st) {
        CHECK_EQ_INT(ad.n_lora, 35);
        CHECK_EQ_INT(ad.n_saved, 1);
        if (ad.n_saved == 1) CHECK_STREQ(ad.saved[0].name, "model.norm.weight");
        ct_peft_free(&ad);
    }
    char *cfgp = ct_path_join(out, "adapter_config.json"), *text = NULL;
    size_t n = 0;
    CHECK_OK(ct_read_file(cfgp, &text, &n, &err), &err);
    CHECK_MSG(text && strstr(text, "\"modules_to_save\": [\n    \"norm\"\n  ]"), "config: %s", text ? text : "");
    free(text);
    free(cfgp);
    ct_model *m = NULL;
    ct_adapter *aa = NULL;
    REQUIRE(ct_model_load(model, &m, &err) == CT_OK);
    st = ct_adapter_load(out, m, &aa, &err);
    CHECK_MSG(st == CT_OK, "load adapter: %s", err.msg);
    if (!st) {
        CHECK_EQ_INT(ct_adapter_num_replaced(aa), 36); /* 35 LoRA-adapted weights + the norm */
        float a0, b0;
        ct_tensor_to_f32(ct_adapter_tensor(aa, "model.norm.weight"), 0, 1, &a0);
        ct_tensor_to_f32(ct_model_tensor(m, "model.norm.weight"), 0, 1, &b0);
        CHECK_MSG(a0 != b0, "the trained norm did not replace the base's (%g)", a0);
        ct_adapter_free(aa);
    }
    ct_model_free(m);
    ct_train_config_free(&c);
    free(out);
    ct_train_result_clear(&res);
}

/* Resume: a run interrupted at step 4 (callback should_stop -> checkpoint) and resumed with
 * `resume_from_checkpoint: true` logs exactly the losses and grad norms of an uninterrupted run,
 * bit for bit (LoRA dropout on, so the dropout RNG position is restored too). A second resume
 * from the uninterrupted run's checkpoint-6 into a fresh directory agrees as well. */
TEST(trainer_resume_is_bitwise_identical) {
    const char *model = stories();
    if (!model) return;
    char *a = tmp_sub("full_run"), *b = tmp_sub("resumed"), *d = tmp_sub("from_ckpt");
    /* the interrupted run's output_dir is over 1 KiB long: no path is cut anywhere */
    for (int i = 0; i < 5; i++) {
        char part[201];
        memset(part, 'a' + i, 200);
        part[200] = 0;
        char *longer = ct_path_join(b, part);
        free(b);
        b = longer;
    }
    ct_train_config c;
    ct_err err = {0};
    ct_train_result res;
    base_cfg(&c, model, a);
    set(&c, "lora_dropout", "0.1");
    set(&c, "save_steps", "3");
    set(&c, "num_train_epochs", "3"); /* 6 rows / 2 = 3 steps per epoch, 9 steps */
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "run A: %s", err.msg);
    CHECK_EQ_INT(res.global_step, 9);
    ct_train_config_free(&c);

    base_cfg(&c, model, b);
    set(&c, "lora_dropout", "0.1");
    set(&c, "save_steps", "3");
    rec r = {0};
    r.stop_at = 4;
    ct_callbacks cbs;
    rec_callbacks(&cbs, &r);
    ct_train_result_clear(&res);
    CHECK_MSG(ct_train_run(&c, &cbs, &res, &err) == CT_OK, "run B: %s", err.msg);
    CHECK(res.interrupted);
    CHECK_EQ_INT(res.global_step, 4);
    char *ck4 = ct_path_join(b, "checkpoint-4");
    CHECK_MSG(res.last_checkpoint && !strcmp(res.last_checkpoint, ck4), "last checkpoint %s", res.last_checkpoint);
    free(ck4);
    CHECK_EQ_INT(r.n_saves, 2); /* checkpoint-3 and the stop checkpoint-4 */
    /* no final outputs for an interrupted run */
    char *adp = ct_path_join(b, "adapter_model.safetensors");
    CHECK(!ct_file_exists(adp));
    free(adp);
    /* without resume/overwrite the directory is refused */
    ct_train_result r2;
    ct_status st = ct_train_run(&c, NULL, &r2, &err);
    CHECK(st == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "overwrite_output_dir") && strstr(err.msg, "resume_from_checkpoint"), "msg: %s", err.msg);
    set(&c, "resume_from_checkpoint", "true");
    ct_train_result_clear(&res);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "resume B: %s", err.msg);
    CHECK_EQ_INT(res.global_step, 9);
    CHECK(!res.interrupted);
    ct_train_config_free(&c);
    ct_callbacks_free(&cbs);

    char *ck = ct_path_join(a, "checkpoint-6");
    base_cfg(&c, model, d);
    set(&c, "lora_dropout", "0.1");
    set(&c, "resume_from_checkpoint", ck);
    ct_train_result_clear(&res);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "resume D: %s", err.msg);
    ct_train_config_free(&c);

    loglines LA, LB, LD;
    read_log(a, &LA);
    read_log(b, &LB);
    read_log(d, &LD);
    CHECK_EQ_INT(LA.n, 9);
    CHECK_EQ_INT(LB.n, 9);
    CHECK_EQ_INT(LD.n, 3);
    for (size_t i = 0; i < LA.n && i < LB.n; i++) {
        CHECK_EQ_INT(LB.step[i], (long)i + 1);
        CHECK_MSG(!strcmp(LA.loss[i], LB.loss[i]) && !strcmp(LA.gnorm[i], LB.gnorm[i]),
                  "step %zu: loss %s vs resumed %s, grad_norm %s vs %s", i + 1, LA.loss[i], LB.loss[i], LA.gnorm[i],
                  LB.gnorm[i]);
    }
    for (size_t i = 0; i < LD.n && i + 6 < LA.n; i++)
        CHECK_MSG(LD.step[i] == (long)(i + 7) && !strcmp(LA.loss[i + 6], LD.loss[i]), "step %ld: %s vs %s", LD.step[i],
                  LA.loss[i + 6], LD.loss[i]);
    /* the final adapters are bitwise identical too */
    char *fa = ct_path_join(a, "adapter_model.safetensors"), *fb = ct_path_join(b, "adapter_model.safetensors");
    char *ba = NULL, *bb = NULL;
    size_t na = 0, nb = 0;
    CHECK(ct_read_file(fa, &ba, &na, NULL) == CT_OK && ct_read_file(fb, &bb, &nb, NULL) == CT_OK);
    CHECK(ba && bb && na == nb && !memcmp(ba, bb, na));
    free(ba), free(bb), free(fa), free(fb), free(ck);
    free(a), free(b), free(d);
    ct_train_result_clear(&r2);
    ct_train_result_clear(&res);
}

/* gradient_accumulation_steps 4 x batch 1 == batch 4 x 1 (same rows per step, loss normalised by
 * the trained tokens of the whole step): equal losses and grad norms to float rounding. */
TEST(trainer_grad_accumulation_equals_big_batch) {
    const char *model = stories();
    if (!model) return;
    char *a = tmp_sub("ga_big"), *b = tmp_sub("ga_acc");
    ct_train_config c;
    ct_err err = {0};
    ct_train_result res;
    base_cfg(&c, model, a);
    set(&c, "max_samples", "4");
    set(&c, "per_device_train_batch_size", "4");
    set(&c, "num_train_epochs", "3");
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "big: %s", err.msg);
    CHECK_EQ_INT(res.global_step, 3);
    ct_train_config_free(&c);
    base_cfg(&c, model, b);
    set(&c, "max_samples", "4");
    set(&c, "per_device_train_batch_size", "1");
    set(&c, "gradient_accumulation_steps", "4");
    set(&c, "num_train_epochs", "3");
    ct_train_result_clear(&res);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "acc: %s", err.msg);
    CHECK_EQ_INT(res.global_step, 3);
    ct_train_config_free(&c);
    loglines LA, LB;
    read_log(a, &LA);
    read_log(b, &LB);
    CHECK_EQ_INT(LA.n, 3);
    CHECK_EQ_INT(LB.n, 3);
    for (size_t i = 0; i < LA.n && i < LB.n; i++) {
        double la = atof(LA.loss[i]), lb = atof(LB.loss[i]), ga = atof(LA.gnorm[i]), gb = atof(LB.gnorm[i]);
        CHECK_MSG(fabs(la - lb) <= 1e-5 * fabs(la), "step %zu loss %s vs %s", i + 1, LA.loss[i], LB.loss[i]);
        CHECK_MSG(fabs(ga - gb) <= 1e-4 * fabs(ga), "step %zu grad_norm %s vs %s", i + 1, LA.gnorm[i], LB.gnorm[i]);
    }
    free(a), free(b);
    ct_train_result_clear(&res);
}

TEST(trainer_nan_stops_naming_the_step) {
    const char *model = stories();
    if (!model) return;
    char *out = tmp_sub("nan");
    ct_train_config c;
    base_cfg(&c, model, out);
    set(&c, "learning_rate", "1e30");
    set(&c, "lr_scheduler_type", "constant");
    set(&c, "max_grad_norm", "0");
    set(&c, "save_steps", "1");
    ct_err err = {0};
    ct_train_result res;
    ct_status st = ct_train_run(&c, NULL, &res, &err);
    CHECK_EQ_INT(st, CT_ERR_NUMERIC);
    CHECK_MSG(strstr(err.msg, "step 2 of 9") && strstr(err.msg, "checkpoint-1"), "message: %s", err.msg);
    /* the last good checkpoint is intact */
    char *ck = ct_path_join(out, "checkpoint-1");
    CHECK_MSG(ct_ckpt_verify(ck, &err) == CT_OK, "checkpoint-1: %s", err.msg);
    free(ck);
    ct_train_config_free(&c);
    free(out);
    ct_train_result_clear(&res);
}

TEST(trainer_full_and_prompt_outputs_load) {
    const char *model = stories();
    if (!model) return;
    char *full = tmp_sub("full"), *prompt = tmp_sub("prompt"), *frz = tmp_sub("freeze");
    ct_train_config c;
    ct_err err = {0};
    ct_train_result res;
    base_cfg(&c, model, full);
    set(&c, "finetuning_type", "full");
    set(&c, "learning_rate", "1e-3");
    set(&c, "num_train_epochs", "1");
    set(&c, "val_size", "2");
    set(&c, "plot_loss", "true");
    set(&c, "report_to", "tensorboard");
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "full: %s", err.msg);
    CHECK_EQ_INT(res.global_step, 2); /* 4 train rows / 2 */
    CHECK_MSG(isfinite(res.eval_loss) && res.eval_loss > 0, "eval_loss %g", res.eval_loss);
    CHECK_EQ_INT(res.trainable_params, res.total_params);
    ct_train_config_free(&c);
    ct_model *m = NULL;
    CHECK_MSG(ct_model_load(full, &m, &err) == CT_OK, "load full output: %s", err.msg);
    if (m) {
        /* the saved weights differ from the base (they were trained) */
        ct_model *base = NULL;
        REQUIRE(ct_model_load(model, &base, &err) == CT_OK);
        const ct_tensor *w1 = ct_model_tensor(m, "model.layers.0.self_attn.q_proj.weight");
        const ct_tensor *w0 = ct_model_tensor(base, "model.layers.0.self_attn.q_proj.weight");
        CHECK(w1->dtype == w0->dtype && memcmp(w1->data, w0->data, ct_tensor_nbytes(w0)) != 0);
        ct_model_free(base);
        ct_model_free(m);
    }
    const char *want[] = {"config.json", "tokenizer.json", "training_loss.svg", "all_results.json"};
    for (size_t i = 0; i < 4; i++) {
        char *p = ct_path_join(full, want[i]);
        CHECK_MSG(ct_file_exists(p), "missing %s", p);
        free(p);
    }
    char *ar = ct_path_join(full, "all_results.json"), *buf = NULL;
    size_t n = 0;
    CHECK(ct_read_file(ar, &buf, &n, NULL) == CT_OK && buf && strstr(buf, "\"eval_loss\"") && strstr(buf, "\"train_loss\""));
    free(buf), free(ar);

    base_cfg(&c, model, prompt);
    set(&c, "finetuning_type", "prompt");
    set(&c, "num_virtual_tokens", "4");
    set(&c, "num_train_epochs", "1");
    ct_train_result_clear(&res);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "prompt: %s", err.msg);
    ct_train_config_free(&c);
    ct_peft_adapter ad;
    CHECK_MSG(ct_peft_load(prompt, &ad, &err) == CT_OK, "prompt adapter: %s", err.msg);
    if (!err.code) {
        CHECK_EQ_INT(ad.type, CT_PEFT_PROMPT_TUNING);
        CHECK_EQ_INT(ad.num_virtual_tokens, 4);
        CHECK_EQ_INT(ad.token_dim, 64);
        ct_peft_free(&ad);
    }

    base_cfg(&c, model, frz);
    set(&c, "finetuning_type", "freeze");
    set(&c, "freeze_trainable_layers", "1");
    set(&c, "num_train_epochs", "1");
    ct_train_result_clear(&res);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "freeze: %s", err.msg);
    CHECK(res.trainable_params > 0 && res.trainable_params < res.total_params);
    ct_train_config_free(&c);
    m = NULL;
    CHECK_MSG(ct_model_load(frz, &m, &err) == CT_OK, "load freeze output: %s", err.msg);
    ct_model_free(m);
    free(full), free(prompt), free(frz);
    ct_train_result_clear(&res);
}

TEST(trainer_rejects_bad_setups) {
    const char *model = stories();
    if (!model) return;
    char *out = tmp_sub("bad");
    ct_train_config c;
    ct_err err = {0};
    ct_train_result res;
    base_cfg(&c, model, out);
    set(&c, "model_name_or_path", "/nonexistent/model");
    CHECK(ct_train_run(&c, NULL, &res, &err) != CT_OK);
    CHECK_MSG(strstr(err.msg, "/nonexistent/model") != NULL, "msg: %s", err.msg);
    ct_train_config_free(&c);
    base_cfg(&c, model, out);
    set(&c, "dataset", "no_such_dataset");
    ct_train_result_clear(&res);
    CHECK(ct_train_run(&c, NULL, &res, &err) != CT_OK);
    CHECK_MSG(strstr(err.msg, "no_such_dataset") != NULL, "msg: %s", err.msg);
    ct_train_config_free(&c);
    base_cfg(&c, model, out);
    set(&c, "resume_from_checkpoint", "true");
    ct_train_result_clear(&res);
    CHECK(ct_train_run(&c, NULL, &res, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "no valid checkpoint") != NULL, "msg: %s", err.msg);
    ct_train_config_free(&c);
    /* a pre-quantized (bnb-4bit) base trains LoRA only */
    base_cfg(&c, "tests/fixtures/tiny-llama-bnb-4bit", out);
    set(&c, "finetuning_type", "full");
    ct_train_result_clear(&res);
    CHECK(ct_train_run(&c, NULL, &res, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "quantized") && strstr(err.msg, "lora"), "msg: %s", err.msg);
    ct_train_config_free(&c);
    free(out);
    ct_train_result_clear(&res);
}

/* bf16: true (torch.autocast(bfloat16) linears) follows the exact f32 run within 1 % of the loss
 * at every one of 50 steps, for LoRA and full fine-tuning (measured: 0.26 % and 0.41 % worst);
 * pure_bf16 keeps the trained weights bf16-valued. */
static void run_precision(const char *model, const char *method, const char *bf16, const char *pure, const char *dir,
                          loglines *L) {
    ct_train_config c;
    ct_err err = {0};
    ct_train_result res;
    base_cfg(&c, model, dir);
    set(&c, "finetuning_type", method);
    set(&c, "max_steps", "50");
    if (!strcmp(pure, "false")) { /* a learning regime (50 risk answers), not memorisation, whose
                                     near-zero losses make relative differences meaningless */
        set(&c, "dataset", "risk_alpaca");
        set(&c, "dataset_dir", "examples");
        set(&c, "cutoff_len", "128");
        set(&c, "learning_rate", !strcmp(method, "full") ? "5e-4" : "2e-3");
    }
    set(&c, "bf16", bf16);
    set(&c, "pure_bf16", pure);
    CHECK_MSG(ct_train_run(&c, NULL, &res, &err) == CT_OK, "%s bf16=%s pure=%s: %s", method, bf16, pure, err.msg);
    CHECK_EQ_INT(res.global_step, 50);
    ct_train_config_free(&c);
    read_log(dir, L);
    ct_train_result_clear(&res);
}

TEST(trainer_bf16_follows_f32) {
    const char *model = stories();
    if (!model) return;
    const char *methods[] = {"lora", "full"};
    for (size_t mi = 0; mi < 2; mi++) {
        char name[64];
        snprintf(name, sizeof name, "prec_%s_f32", methods[mi]);
        char *a = tmp_sub(name);
        snprintf(name, sizeof name, "prec_%s_bf16", methods[mi]);
        char *b = tmp_sub(name);
        loglines LA, LB;
        run_precision(model, methods[mi], "false", "false", a, &LA);
        run_precision(model, methods[mi], "true", "false", b, &LB);
        CHECK_EQ_INT(LA.n, 50);
        CHECK_EQ_INT(LB.n, 50);
        double worst = 0;
        for (size_t i = 0; i < LA.n && i < LB.n; i++) {
            double la = atof(LA.loss[i]), lb = atof(LB.loss[i]);
            worst = fmax(worst, fabs(la - lb) / fabs(la));
        }
        CHECK_MSG(worst <= 0.01, "%s: bf16 loss differs from f32 by %.3g relative", methods[mi], worst);
        CHECK_MSG(worst > 0, "%s: bf16 gave the f32 losses bit for bit (bf16 kernels not used?)", methods[mi]);
        free(a), free(b);
    }
    /* pure_bf16 LoRA: the saved adapter's values are bf16 numbers */
    char *p = tmp_sub("prec_pure");
    loglines LP;
    run_precision(model, "lora", "false", "true", p, &LP);
    ct_peft_adapter ad;
    ct_err err = {0};
    CHECK_MSG(ct_peft_load(p, &ad, &err) == CT_OK, "%s", err.msg);
    size_t not_bf16 = 0, nonzero = 0;
    for (size_t i = 0; i < ad.n_lora; i++) {
        const ct_peft_lora_tensors *l = &ad.lora[i];
        for (int64_t j = 0; j < l->r * l->in; j++) not_bf16 += ct_bf16_to_f32(ct_f32_to_bf16(l->A[j])) != l->A[j];
        for (int64_t j = 0; j < l->r * l->out; j++) {
            not_bf16 += ct_bf16_to_f32(ct_f32_to_bf16(l->B[j])) != l->B[j];
            nonzero += l->B[j] != 0;
        }
    }
    CHECK_MSG(not_bf16 == 0 && nonzero > 0, "pure_bf16: %zu values not bf16 (%zu nonzero B)", not_bf16, nonzero);
    ct_peft_free(&ad);
    free(p);
}

/* QLoRA (quantization_bit 4: NF4 + double quantization of the base's linear layers) memorises the
 * lines as LoRA does; the adapter is a plain PEFT LoRA adapter. */
TEST(trainer_qlora_memorises) {
    const char *model = stories();
    if (!model) return;
    const char *bits[] = {"4", "8"};
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "qlora%s", bits[i]);
        char *out = tmp_sub(name);
        ct_train_config c;
        memo_cfg(&c, model, out);
        set(&c, "quantization_bit", bits[i]);
        rec r = {0};
        ct_callbacks cbs;
        rec_callbacks(&cbs, &r);
        ct_train_result res;
        ct_err err = {0};
        CHECK_MSG(ct_train_run(&c, &cbs, &res, &err) == CT_OK, "qlora %s: %s", bits[i], err.msg);
        ct_train_result_clear(&res);
        CHECK_EQ_INT(res.global_step, 30);
        CHECK_MSG(r.last_loss < 0.05, "qlora %s: final logged train loss %g, expected < 0.05", bits[i], r.last_loss);
        ct_peft_adapter ad;
        CHECK_MSG(ct_peft_load(out, &ad, &err) == CT_OK, "%s", err.msg);
        CHECK_EQ_INT(ad.n_lora, 35);
        ct_peft_free(&ad);
        ct_callbacks_free(&cbs);
        ct_train_config_free(&c);
        free(out);
    }
}
