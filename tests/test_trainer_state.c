/* trainer_state.json is range-checked key by key on resume (src/train/trainer_state.h), also
 * end to end through a resume, and the file mechanisms the trainer's crash safety rests on: the
 * output_dir lock, directory removal by rename-then-delete, publish and its recovery, moving the
 * final outputs in. The kill and signal tests of whole runs are tests/cli/train_faults.sh. */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/train.h"
#include "harness.h"
#include "io/crc32c.h"
#include "train/checkpoint.h"
#include "train/trainer_state.h"

/* The facts of tests/fixtures/trainer/memo.jsonl at batch 2 x 2 accumulation: 6 rows, 3
 * micro-batches and 2 steps per epoch. */
static ct_trainer_layout memo_layout(void) {
    ct_trainer_layout L = {.total_steps = 40, .steps_per_epoch = 2, .n_micro = 3, .GA = 2, .rows = 6, .seed = 42,
                           .finetuning_type = "lora", .trainable_params = 46240, .max_tokens_per_step = 256};
    return L;
}

/* A valid state after `step` steps of memo_layout (what the trainer writes). */
static ct_trainer_state memo_state(int64_t step) {
    ct_trainer_state s;
    memset(&s, 0, sizeof s);
    s.global_step = step;
    s.max_steps = 40;
    s.epoch = (double)step / 2.0;
    s.steps_per_epoch = 2;
    s.data_epoch = step ? (step - 1) / 2 : 0;
    s.data_micro_pos = step ? ((step - 1) % 2 + 1) * 2 > 3 ? 3 : ((step - 1) % 2 + 1) * 2 : 0;
    s.data_rows = 6;
    s.seed = 42;
    s.optimizer_step = step;
    s.dropout_rng_step = (uint64_t)(s.data_epoch * 3 + s.data_micro_pos);
    s.log_loss_sum = step ? 0.75 : 0;
    s.log_count = step ? 1 : 0;
    s.last_grad_norm = step ? 1.5 : NAN;
    s.num_input_tokens_seen = 86 * step;
    snprintf(s.finetuning_type, sizeof s.finetuning_type, "lora");
    s.trainable_params = 46240;
    s.learning_rate = 0.01;
    snprintf(s.lr_scheduler_type, sizeof s.lr_scheduler_type, "cosine");
    s.eval_loss = NAN;
    return s;
}

TEST(trainer_state_round_trip) {
    ct_trainer_layout L = memo_layout();
    int64_t steps[] = {0, 1, 2, 3, 39, 40};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        ct_trainer_state s = memo_state(steps[i]), back;
        if (steps[i] == 3) s.eval_loss = 0.5;
        json_t *j = ct_trainer_state_json(&s);
        REQUIRE(j);
        ct_err err = {0};
        CHECK_MSG(ct_trainer_state_parse(j, "trainer_state.json", &L, &back, &err) == CT_OK, "step %lld: %s",
                  (long long)steps[i], err.msg);
        CHECK_EQ_INT(back.global_step, s.global_step);
        CHECK_EQ_INT(back.data_epoch, s.data_epoch);
        CHECK_EQ_INT(back.data_micro_pos, s.data_micro_pos);
        CHECK_EQ_INT(back.dropout_rng_step, s.dropout_rng_step);
        CHECK(!memcmp(&back.log_loss_sum, &s.log_loss_sum, sizeof s.log_loss_sum));
        CHECK(!memcmp(&back.last_grad_norm, &s.last_grad_norm, sizeof s.last_grad_norm));
        CHECK(steps[i] == 3 ? back.eval_loss == 0.5 : isnan(back.eval_loss));
        json_decref(j);
    }
}

/* Each case edits one key of a valid step-5 state; the error must name that key. */
TEST(trainer_state_rejects_out_of_range) {
    static const struct {
        const char *key, *json, *want;
    } cases[] = {
        {"data_epoch", "-1", "data_epoch"},
        {"data_epoch", "7", "data_epoch"},
        {"data_micro_pos", "-1", "data_micro_pos"},
        {"data_micro_pos", "4", "data_micro_pos"},
        {"data_micro_pos", "1.5", "data_micro_pos"},
        {"optimizer_step", "-1", "optimizer_step"},
        {"optimizer_step", "6", "optimizer_step"},
        {"global_step", "-1", "global_step"},
        {"global_step", "41", "global_step"},
        {"global_step", "1e300", "global_step"},
        {"global_step", "\"5\"", "global_step"},
        {"max_steps", "0", "max_steps"},
        {"epoch", "-0.5", "epoch"},
        {"log_loss_sum", "\"7ff8000000000000\"", "log_loss_sum"}, /* NaN */
        {"log_loss_sum", "\"fff0000000000000\"", "log_loss_sum"}, /* -inf */
        {"log_loss_sum", "\"bff0000000000000\"", "log_loss_sum"}, /* -1.0 */
        {"log_loss_sum", "\"-1\"", "log_loss_sum"},
        {"log_loss_sum", "\"0x3ff0000000000000\"", "log_loss_sum"},
        {"log_count", "-1", "log_count"},
        {"log_count", "6", "log_count"},
        {"last_grad_norm", "\"7ff0000000000000\"", "last_grad_norm"}, /* +inf */
        {"last_grad_norm", "\"7ff8000000000000\"", "last_grad_norm"}, /* NaN after step 0 */
        {"dropout_rng_step", "\"ffffffffffffffff\"", "dropout_rng_step"},
        {"dropout_rng_step", "\"-000000000000001\"", "dropout_rng_step"},
        {"dropout_rng_step", "7", "dropout_rng_step"},
        {"num_input_tokens_seen", "-5", "num_input_tokens_seen"},
        {"num_input_tokens_seen", "1281", "num_input_tokens_seen"}, /* > 5 steps x 256 */
        {"learning_rate", "-0.01", "learning_rate"},
        {"eval_loss", "-1", "eval_loss"},
        {"eval_loss", "\"x\"", "eval_loss"},
        {"data_rows", "7", "data layout"},
        {"steps_per_epoch", "3", "data layout"},
        {"seed", "43", "seed"},
        {"trainable_params", "1", "trainable_params"},
        {"finetuning_type", "\"full\"", "finetuning_type"},
        {"format", "\"other\"", "format"},
        {"version", "2", "version"},
        {"surprise", "1", "surprise"},
    };
    ct_trainer_layout L = memo_layout();
    ct_trainer_state s = memo_state(5), out;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = ct_trainer_state_json(&s);
        json_error_t je;
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &je);
        REQUIRE(j && v);
        json_object_set_new(j, cases[i].key, v);
        ct_err err = {0};
        ct_status st = ct_trainer_state_parse(j, "ck/trainer_state.json", &L, &out, &err);
        CHECK_MSG(st != CT_OK, "%s = %s accepted", cases[i].key, cases[i].json);
        CHECK_MSG(st == CT_OK || (strstr(err.msg, cases[i].want) && strstr(err.msg, "ck/trainer_state.json") &&
                                  !strchr(err.msg, '\n')),
                  "%s = %s: message does not name it: %s", cases[i].key, cases[i].json, err.msg);
        json_decref(j);
    }
    /* every key is required */
    json_t *full = ct_trainer_state_json(&s);
    const char *key;
    json_t *v;
    json_object_foreach(full, key, v) {
        json_t *j = json_deep_copy(full);
        json_object_del(j, key);
        ct_err err = {0};
        CHECK_MSG(ct_trainer_state_parse(j, "ts.json", &L, &out, &err) != CT_OK && strstr(err.msg, key),
                  "without %s: %s", key, err.msg);
        json_decref(j);
    }
    json_decref(full);
    ct_err err = {0};
    json_t *arr = json_array();
    CHECK(ct_trainer_state_parse(arr, "ts.json", &L, &out, &err) == CT_ERR_FORMAT);
    json_decref(arr);
}

/* ---- BAdam's schedule ("badam") ---- */

/* memo_layout as a use_badam run: 8 blocks, random order, a switch every 2 steps. */
static ct_badam badam_start(ct_badam_order order, int64_t every, int start) {
    ct_badam b;
    ct_err err = {0};
    CHECK_MSG(ct_badam_init(&b, 8, order, every, start, 42, &err) == CT_OK, "%s", err.msg);
    return b;
}

/* The state the trainer writes after `step` steps: the schedule stepped as the trainer does. */
static ct_trainer_state badam_state(const ct_badam *b0, int64_t step) {
    ct_trainer_state s = memo_state(step);
    snprintf(s.finetuning_type, sizeof s.finetuning_type, "full");
    s.has_badam = true;
    s.badam = *b0;
    int64_t last = 0;
    for (int64_t k = 1; k <= step; k++)
        if (ct_badam_step_done(&s.badam)) last = k;
    s.optimizer_step = step - last;
    return s;
}

TEST(badam_advance_equals_stepping) {
    const ct_badam_order orders[] = {CT_BADAM_ASCENDING, CT_BADAM_DESCENDING, CT_BADAM_RANDOM, CT_BADAM_FIXED};
    for (size_t o = 0; o < 4; o++)
        for (int64_t every = 1; every <= 5; every++)
            for (int64_t from = 0; from <= 7; from += 7)
                for (int64_t steps = 0; steps <= 60; steps++) {
                    ct_badam b0 = badam_start(orders[o], every, orders[o] == CT_BADAM_RANDOM ? -1 : 3), a, s;
                    int64_t la, ls = from, k;
                    for (k = 0; k < from; k++) ct_badam_step_done(&b0);
                    a = s = b0;
                    ct_badam_advance(&a, steps, &la);
                    for (k = 1; k <= steps; k++)
                        if (ct_badam_step_done(&s)) ls = from + k;
                    CHECK_MSG(a.step == s.step && a.active == s.active && a.next == s.next && a.n_perms == s.n_perms &&
                                  a.n_left == s.n_left && !memcmp(a.perm, s.perm, sizeof a.perm) &&
                                  !memcmp(a.visited, s.visited, sizeof a.visited) && la == ls,
                              "order %zu every %lld: %lld steps from %lld differ", o, (long long)every,
                              (long long)steps, (long long)from);
                }
}

TEST(trainer_state_badam_round_trip_and_checks) {
    ct_badam b0 = badam_start(CT_BADAM_RANDOM, 2, -1);
    ct_trainer_layout L = memo_layout(), plain = memo_layout();
    L.finetuning_type = plain.finetuning_type = "full";
    L.badam = &b0;
    int64_t steps[] = {0, 1, 2, 3, 4, 5, 39, 40};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        ct_trainer_state s = badam_state(&b0, steps[i]), back;
        json_t *j = ct_trainer_state_json(&s);
        REQUIRE(j);
        ct_err err = {0};
        CHECK_MSG(ct_trainer_state_parse(j, "ts.json", &L, &back, &err) == CT_OK, "step %lld: %s", (long long)steps[i],
                  err.msg);
        CHECK(back.has_badam && back.badam.active == s.badam.active && back.badam.next == s.badam.next &&
              back.badam.n_left == s.badam.n_left && !memcmp(back.badam.visited, s.badam.visited, sizeof s.badam.visited));
        CHECK_EQ_INT(back.optimizer_step, s.optimizer_step);
        /* a run without use_badam refuses it by name */
        CHECK(ct_trainer_state_parse(j, "ts.json", &plain, &back, &err) == CT_ERR_ARG && strstr(err.msg, "use_badam"));
        json_decref(j);
    }
    /* a use_badam run refuses a checkpoint without the schedule */
    ct_trainer_state s = badam_state(&b0, 5), out;
    s.has_badam = false;
    s.optimizer_step = 5;
    json_t *j = ct_trainer_state_json(&s);
    ct_err err = {0};
    CHECK(ct_trainer_state_parse(j, "ts.json", &L, &out, &err) == CT_ERR_ARG && strstr(err.msg, "badam is missing"));
    json_decref(j);

    /* each case edits one key of a valid step-5 state (active block 0-based, visited ascending) */
    static const struct {
        const char *key, *json, *want;
    } cases[] = {
        {"active", "-1", "badam.active"},       {"active", "8", "badam.active"},
        {"active", "\"2\"", "badam.active"},  {"next", "99", "badam.next"},
        {"step", "4", "badam.step"},            {"step", "1.5", "badam.step"},
        {"permutations", "7", "badam.permutations"},
        {"permutation_left", "[]", "badam.permutation_left"},
        {"permutation_left", "[8]", "badam.permutation_left"},
        {"permutation_left", "[0,1,2,3,4,5,6,7,0]", "badam.permutation_left"},
        {"permutation_left", "{}", "badam.permutation_left"},
        {"visited", "[]", "badam.visited"},     {"visited", "[7, 1]", "badam.visited"},
        {"visited", "[1, 1]", "badam.visited"}, {"visited", "[-1]", "badam.visited"},
        {"switch_mode", "\"ascending\"", "badam_switch_mode"},
        {"switch_mode", "3", "badam.switch_mode"},
        {"blocks", "9", "badam.blocks"},        {"surprise", "1", "badam.surprise"},
    };
    s = badam_state(&b0, 5);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        j = ct_trainer_state_json(&s);
        json_error_t je;
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &je);
        REQUIRE(j && v);
        json_object_set_new(json_object_get(j, "badam"), cases[i].key, v);
        CHECK_MSG(ct_trainer_state_parse(j, "ck/trainer_state.json", &L, &out, &err) != CT_OK, "%s = %s accepted",
                  cases[i].key, cases[i].json);
        CHECK_MSG(strstr(err.msg, cases[i].want) && strstr(err.msg, "ck/trainer_state.json") && !strchr(err.msg, '\n'),
                  "%s = %s: message does not name it: %s", cases[i].key, cases[i].json, err.msg);
        json_decref(j);
    }
    /* the value the schedule does not reach: another active block, the steps since the switch */
    for (int a = 0; a < 8; a++) {
        if (a == s.badam.active) continue;
        j = ct_trainer_state_json(&s);
        json_object_set_new(json_object_get(j, "badam"), "active", json_integer(a));
        CHECK(ct_trainer_state_parse(j, "ts.json", &L, &out, &err) == CT_ERR_FORMAT && strstr(err.msg, "badam.active"));
        json_decref(j);
    }
    j = ct_trainer_state_json(&s);
    json_object_set_new(j, "optimizer_step", json_integer(5));
    CHECK(ct_trainer_state_parse(j, "ts.json", &L, &out, &err) == CT_ERR_FORMAT && strstr(err.msg, "optimizer_step"));
    json_decref(j);
    /* a changed schedule (interval, start block, seed) cannot resume */
    ct_badam other = badam_start(CT_BADAM_RANDOM, 3, -1);
    L.badam = &other;
    j = ct_trainer_state_json(&s);
    CHECK(ct_trainer_state_parse(j, "ts.json", &L, &out, &err) != CT_OK && strstr(err.msg, "badam."));
    json_decref(j);
    /* every key of the object is required */
    L.badam = &b0;
    json_t *full = ct_trainer_state_json(&s);
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(full, "badam"), key, v) {
        json_t *c = json_deep_copy(full);
        json_object_del(json_object_get(c, "badam"), key);
        CHECK_MSG(ct_trainer_state_parse(c, "ts.json", &L, &out, &err) != CT_OK && strstr(err.msg, key),
                  "without badam.%s: %s", key, err.msg);
        json_decref(c);
    }
    json_object_set_new(full, "badam", json_integer(1));
    CHECK(ct_trainer_state_parse(full, "ts.json", &L, &out, &err) == CT_ERR_FORMAT && strstr(err.msg, "badam"));
    json_decref(full);
}

/* ---- file mechanisms ---- */

TEST(trainer_dir_lock_is_exclusive_and_released) {
    const char *dir = ct_test_tmpdir();
    ct_dir_lock a, b;
    ct_err err = {0};
    REQUIRE(ct_dir_lock_take(&a, dir, ".lock", &err) == CT_OK);
    /* a child process (flock locks belong to the open file, so a second open in this process
     * would conflict too; a child is what a second run is) */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ct_err e2 = {0};
        ct_dir_lock c;
        ct_status st = ct_dir_lock_take(&c, dir, ".lock", &e2);
        char want[64];
        snprintf(want, sizeof want, "pid %ld", (long)getppid());
        _exit(st == CT_ERR_BUSY && c.holder == (long)getppid() && strstr(e2.msg, want) ? 0 : 1);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "a second process got the lock or no pid in the message");
    ct_dir_lock_release(&a);
    char *p = ct_path_join(dir, ".lock");
    CHECK(!ct_file_exists(p)); /* the holder unlinks it */
    CHECK_OK(ct_dir_lock_take(&b, dir, ".lock", &err), &err);
    ct_dir_lock_release(&b);
    /* a holder killed with SIGKILL leaves the file but not the lock */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ct_err e2 = {0};
        ct_dir_lock c;
        if (ct_dir_lock_take(&c, dir, ".lock", &e2)) _exit(1);
        raise(SIGKILL);
    }
    waitpid(pid, &ws, 0);
    CHECK(WIFSIGNALED(ws) && ct_file_exists(p));
    CHECK_OK(ct_dir_lock_take(&b, dir, ".lock", &err), &err);
    ct_dir_lock_release(&b);
    free(p);
}

static void put(const char *dir, const char *name, const char *text) {
    char *p = ct_path_join(dir, name);
    ct_err err = {0};
    CHECK_OK(ct_write_file_atomic(p, text, strlen(text), &err), &err);
    free(p);
}

static char *slurp(const char *dir, const char *name) {
    char *p = ct_path_join(dir, name), *buf = NULL;
    ct_read_file(p, &buf, NULL, NULL);
    free(p);
    return buf;
}

TEST(trainer_dir_remove_publish_and_move) {
    const char *root = ct_test_tmpdir();
    ct_err err = {0};
    char *d = ct_path_join(root, "checkpoint-3"), *tmp = ct_path_join(root, "checkpoint-3.tmp");
    char *trash = ct_path_join(root, "checkpoint-3.trash"), *old = ct_path_join(root, "checkpoint-3.old");
    /* publish over an existing directory: the new one replaces it whole */
    CHECK_OK(ct_dir_fresh(d, &err), &err);
    put(d, "a", "old");
    CHECK_OK(ct_dir_fresh(tmp, &err), &err);
    put(tmp, "a", "new");
    CHECK_OK(ct_dir_publish(tmp, d, &err), &err);
    char *a = slurp(d, "a");
    CHECK_STREQ(a, "new");
    free(a);
    CHECK(!ct_dir_exists(tmp) && !ct_dir_exists(old));
    /* recovery of the fallback's window: only "<path>.old" exists */
    CHECK(rename(d, old) == 0);
    CHECK_OK(ct_dir_publish_recover(d, &err), &err);
    CHECK(ct_dir_exists(d) && !ct_dir_exists(old));
    CHECK_OK(ct_dir_fresh(old, &err), &err); /* next to the published one: removed */
    CHECK_OK(ct_dir_publish_recover(d, &err), &err);
    CHECK(ct_dir_exists(d) && !ct_dir_exists(old));
    /* removal renames first; a killed removal leaves only the trash, which cleanup deletes */
    CHECK_OK(ct_dir_remove(d, &err), &err);
    CHECK(!ct_dir_exists(d) && !ct_dir_exists(trash));
    CHECK_OK(ct_dir_remove(d, &err), &err); /* missing: fine */
    CHECK_OK(ct_dir_fresh(trash, &err), &err);
    CHECK_OK(ct_dir_fresh(tmp, &err), &err);
    CHECK_OK(ct_ckpt_cleanup(root, &err), &err);
    CHECK(!ct_dir_exists(trash) && !ct_dir_exists(tmp));
    /* move-into: `last` names go last, the temp dir is removed */
    char *mv = ct_path_join(root, "mv"), *dst = ct_path_join(root, "dst");
    CHECK_OK(ct_dir_fresh(mv, &err), &err);
    CHECK_OK(ct_dir_fresh(dst, &err), &err);
    put(mv, "config.json", "{}");
    put(mv, "weights", "w");
    put(dst, "weights", "stale");
    static const char *const last[] = {"config.json", NULL};
    CHECK_OK(ct_dir_move_into(mv, dst, last, &err), &err);
    char *w = slurp(dst, "weights"), *c = slurp(dst, "config.json");
    CHECK_STREQ(w, "w");
    CHECK_STREQ(c, "{}");
    CHECK(!ct_dir_exists(mv));
    free(w), free(c), free(mv), free(dst);
    free(d), free(tmp), free(trash), free(old);
}

/* ---- the trainer refuses a tampered state on resume (the manifest re-sealed, as a user who
 * edits the file and fixes the checksum would; a plain edit fails the CRC-32C first) ---- */

static void reseal(const char *ck, const char *name) {
    char *mp = ct_path_join(ck, CT_CKPT_MANIFEST), *fp = ct_path_join(ck, name);
    json_t *m = NULL;
    ct_err err = {0};
    uint32_t crc = 0;
    uint64_t size = 0;
    CHECK_OK(ct_json_load_file(mp, &m, &err), &err);
    CHECK_OK(ct_crc32c_file(fp, &crc, &size, &err), &err);
    char hex[16];
    snprintf(hex, sizeof hex, "%08x", crc);
    json_t *files = json_object_get(m, "files");
    json_object_set_new(files, name, json_pack("{s:I, s:s}", "bytes", (json_int_t)size, "crc32c", hex));
    char *s = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
    CHECK_OK(ct_write_file_atomic(mp, s, strlen(s), &err), &err);
    free(s);
    json_decref(m);
    free(mp);
    free(fp);
}

TEST(trainer_resume_rejects_tampered_state) {
    const char *model = ct_test_shared("models/stories260k");
    if (!model) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    char *out = ct_path_join(ct_test_tmpdir(), "run"), *ck = ct_path_join(out, "checkpoint-4");
    char *sp = ct_path_join(ck, CT_CKPT_STATE);
    const char *kv[][2] = {
        {"model_name_or_path", model}, {"stage", "sft"}, {"template", "empty"}, {"dataset", "memo.jsonl"},
        {"dataset_dir", "tests/fixtures/trainer"}, {"cutoff_len", "64"}, {"finetuning_type", "lora"},
        {"lora_rank", "8"}, {"per_device_train_batch_size", "2"},
        {"gradient_accumulation_steps", "2"}, {"logging_steps", "1"}, {"save_steps", "2"}, {"output_dir", out},
        {"threads", "1"}, {"tokenized_path", ""}, {"max_steps", "4"},
    };
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    ct_train_result res;
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) CHECK_OK(ct_train_config_set(&c, kv[i][0], kv[i][1], "test", &err), &err);
    CHECK_OK(ct_train_run(&c, NULL, &res, &err), &err);
    CHECK_OK(ct_train_config_set(&c, "max_steps", "6", "test", &err), &err);
    CHECK_OK(ct_train_config_set(&c, "resume_from_checkpoint", "true", "test", &err), &err);
    char *orig = NULL;
    REQUIRE(ct_read_file(sp, &orig, NULL, &err) == CT_OK);
    static const struct {
        const char *key, *json;
    } cases[] = {{"data_epoch", "-1"}, {"log_loss_sum", "\"7ff8000000000000\""}, {"optimizer_step", "-1"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t je;
        json_t *s = json_loads(orig, 0, &je);
        REQUIRE(s);
        json_object_set_new(s, cases[i].key, json_loads(cases[i].json, JSON_DECODE_ANY, &je));
        char *txt = json_dumps(s, JSON_INDENT(2) | JSON_SORT_KEYS);
        CHECK_OK(ct_write_file_atomic(sp, txt, strlen(txt), &err), &err);
        free(txt);
        json_decref(s);
        reseal(ck, CT_CKPT_STATE);
        ct_train_result_clear(&res);
        ct_status st = ct_train_run(&c, NULL, &res, &err);
        CHECK_MSG(st == CT_ERR_FORMAT && strstr(err.msg, "checkpoint-4/trainer_state.json: ") &&
                      strstr(err.msg, cases[i].key),
                  "%s = %s: status %d, %s", cases[i].key, cases[i].json, (int)st, err.msg);
    }
    /* the untouched state resumes */
    CHECK_OK(ct_write_file_atomic(sp, orig, strlen(orig), &err), &err);
    reseal(ck, CT_CKPT_STATE);
    ct_train_result_clear(&res);
    CHECK_OK(ct_train_run(&c, NULL, &res, &err), &err);
    CHECK_EQ_INT(res.global_step, 6);
    free(orig);
    ct_train_config_free(&c);
    free(sp), free(ck), free(out);
    ct_train_result_clear(&res);
}
