/* Metrics sinks: trainer_log.jsonl, all_results.json, tfevents (golden bytes), SVG plot,
 * progress formatting, SIGINT helper, callback registry. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "ctune/callback.h"
#include "harness.h"
#include "io/crc32c.h"
#include "train/log.h"
#include "train/plot.h"
#include "train/progress.h"
#include "train/tfevents.h"

static char *slurp(const char *path, size_t *len) {
    char *buf = NULL;
    ct_err err;
    if (ct_read_file(path, &buf, len, &err) != CT_OK) return NULL;
    return buf;
}

TEST(infra_timedelta_like_python) {
    char b[64];
    ct_format_timedelta(0, b, sizeof b);
    CHECK_STREQ(b, "0:00:00");
    ct_format_timedelta(65.9, b, sizeof b);
    CHECK_STREQ(b, "0:01:05");
    ct_format_timedelta(86400 + 7384, b, sizeof b);
    CHECK_STREQ(b, "1 day, 2:03:04");
    ct_format_timedelta(3 * 86400, b, sizeof b);
    CHECK_STREQ(b, "3 days, 0:00:00");
}

TEST(infra_trainer_log_lines) {
    ct_err err = {0};
    const char *dir = ct_test_tmpdir();
    ct_callbacks reg = {0};
    ct_callback cb;
    CHECK_OK(ct_callback_jsonl_log(&cb, dir, &err), &err);
    CHECK_OK(ct_callbacks_add(&reg, &cb, &err), &err);
    ct_train_event ev;
    ct_train_event_init(&ev);
    ev.step = 10, ev.total_steps = 40, ev.loss = 1.2345, ev.grad_norm = 0.5, ev.learning_rate = 5e-05,
    ev.epoch = 0.25, ev.elapsed_s = 65.5, ev.total_tokens = 1000;
    CHECK_OK(ct_callbacks_dispatch(&reg, CT_EVENT_LOG, &ev, &err), &err);
    ct_train_event_init(&ev);
    ev.step = 20, ev.total_steps = 40, ev.eval_loss = 0.75, ev.epoch = 0.5, ev.elapsed_s = 130;
    CHECK_OK(ct_callbacks_dispatch(&reg, CT_EVENT_EVALUATE, &ev, &err), &err);
    ct_callbacks_free(&reg);
    char *p = ct_path_join(dir, "trainer_log.jsonl");
    char *text = slurp(p, NULL);
    CHECK_STREQ(text,
                "{\"current_steps\": 10, \"total_steps\": 40, \"loss\": 1.2345, \"grad_norm\": 0.5, "
                "\"lr\": 5e-05, \"epoch\": 0.25, \"percentage\": 25.0, \"elapsed_time\": \"0:01:05\", "
                "\"remaining_time\": \"0:03:16\", \"throughput\": 15.27, \"total_tokens\": 1000}\n"
                "{\"current_steps\": 20, \"total_steps\": 40, \"eval_loss\": 0.75, \"epoch\": 0.5, "
                "\"percentage\": 50.0, \"elapsed_time\": \"0:02:10\", \"remaining_time\": \"0:02:10\"}\n");
    free(text);

    /* the plot reads it back */
    CHECK_OK(ct_plot_from_log(dir, &err), &err);
    char *svgp = ct_path_join(dir, "training_loss.svg");
    char *svg = slurp(svgp, NULL);
    REQUIRE(svg);
    CHECK(strncmp(svg, "<svg ", 5) == 0 && strstr(svg, "</svg>"));
    CHECK(strstr(svg, "eval loss") && strstr(svg, "smoothed") && strstr(svg, "<circle"));
    free(svg);
    free(svgp);
    free(p);
}

TEST(infra_all_results_json) {
    ct_err err = {0};
    ct_all_results r;
    ct_all_results_init(&r);
    r.train_loss = 0.5, r.train_runtime = 12.25, r.epoch = 3.0, r.peak_memory_mb = 100;
    const char *dir = ct_test_tmpdir();
    CHECK_OK(ct_write_all_results(dir, &r, &err), &err);
    char *p = ct_path_join(dir, "all_results.json");
    char *t = slurp(p, NULL);
    CHECK_STREQ(t, "{\n    \"epoch\": 3.0,\n    \"peak_memory_mb\": 100.0,\n    \"train_loss\": 0.5,\n"
                   "    \"train_runtime\": 12.25\n}");
    free(t);
    free(p);
    CHECK(ct_peak_rss_mb() > 0);
}

TEST(infra_plot_smooth_matches_llamafactory) {
    double x[4] = {4, 2, 2, 0}, s[4];
    ct_plot_smooth(x, 4, s);
    double w = 1.8 * (1 / (1 + exp(-0.05 * 4)) - 0.5);
    double last = 4;
    for (int i = 0; i < 4; i++) {
        last = last * w + (1 - w) * x[i];
        CHECK_NEAR(s[i], last, 1e-15);
    }
    CHECK_NEAR(s[0], 4, 0);
    /* a constant curve and an empty one still make a valid SVG */
    double st[2] = {1, 1}, l[2] = {2, 2};
    char *svg = ct_plot_loss_svg(st, l, 2, NULL, NULL, 0, "a<b");
    CHECK(svg && strstr(svg, "a&lt;b") && strstr(svg, "</svg>"));
    free(svg);
    svg = ct_plot_loss_svg(NULL, NULL, 0, NULL, NULL, 0, NULL);
    CHECK(svg && strstr(svg, "</svg>"));
    free(svg);
}

/* Same events as tests/gen/tfevents_golden.py EVENTS. */
TEST(infra_tfevents_golden_bytes) {
    ct_err err = {0};
    const char *dir = ct_test_tmpdir();
    char *ld = ct_path_join(dir, "tb");
    ct_tfevents *w;
    CHECK_OK(ct_tfevents_open(&w, ld, 1700000000.5, "golden", &err), &err);
    REQUIRE(w);
    CHECK_OK(ct_tfevents_scalar(w, "train/loss", 0, 3.5f, 1700000001.25, &err), &err);
    CHECK_OK(ct_tfevents_scalar(w, "train/loss", 1, 2.25f, 1700000002.0, &err), &err);
    CHECK_OK(ct_tfevents_scalar(w, "train/learning_rate", 1, 1e-4f, 1700000002.0, &err), &err);
    CHECK_OK(ct_tfevents_scalar(w, "eval/loss", 10, 1.875f, 1700000003.75, &err), &err);
    CHECK_OK(ct_tfevents_scalar(w, "train/grad_norm", 300, 0.3333333f, 1700000004.0, &err), &err);
    char *path = strdup(ct_tfevents_path(w));
    ct_tfevents_close(w);
    char expect_prefix[256];
    snprintf(expect_prefix, sizeof expect_prefix, "%s/events.out.tfevents.1700000000.golden.%ld.0", ld, (long)getpid());
    CHECK_STREQ(path, expect_prefix);
    size_t n = 0, gn = 0;
    char *got = slurp(path, &n);
    char *gold = slurp(ct_test_path("tests/fixtures/infra/golden.tfevents"), &gn);
    REQUIRE(got && gold);
    CHECK_EQ_INT(n, gn);
    CHECK(n == gn && memcmp(got, gold, n) == 0);

    /* Decode our own file: framing CRCs and the protobuf fields. */
    const uint8_t *p = (const uint8_t *)got;
    size_t off = 0;
    int records = 0;
    while (off + 16 <= n) {
        uint64_t len = 0;
        for (int i = 0; i < 8; i++) len |= (uint64_t)p[off + i] << (8 * i);
        uint32_t c1 = 0, c2 = 0;
        for (int i = 0; i < 4; i++) c1 |= (uint32_t)p[off + 8 + i] << (8 * i);
        REQUIRE(off + 16 + len <= n);
        for (int i = 0; i < 4; i++) c2 |= (uint32_t)p[off + 12 + len + i] << (8 * i);
        CHECK_EQ_INT(c1, ct_crc32c_mask(ct_crc32c(p + off, 8)));
        CHECK_EQ_INT(c2, ct_crc32c_mask(ct_crc32c(p + off + 12, len)));
        const uint8_t *ev = p + off + 12;
        CHECK_EQ_INT(ev[0], 0x09); /* field 1, fixed64 */
        double wt;
        memcpy(&wt, ev + 1, 8);
        CHECK(wt >= 1700000000.5 && wt <= 1700000004.0);
        if (records == 0) CHECK(ev[9] == 0x1a && ev[10] == 13 && memcmp(ev + 11, "brain.Event:2", 13) == 0);
        if (records == 5) {
            /* step 300 = varint ac 02, then summary */
            CHECK(ev[9] == 0x10 && ev[10] == 0xac && ev[11] == 0x02 && ev[12] == 0x2a);
            float v;
            memcpy(&v, ev + len - 4, 4);
            CHECK(v == 0.3333333f && ev[len - 5] == 0x15);
        }
        off += 16 + len;
        records++;
    }
    CHECK_EQ_INT(records, 6);
    CHECK_EQ_INT(off, n);
    free(got);
    free(gold);
    free(path);
    free(ld);
}

TEST(infra_progress_format) {
    ct_train_event ev;
    ct_train_event_init(&ev);
    ev.step = 42, ev.total_steps = 100, ev.loss = 1.23456, ev.learning_rate = 1e-4, ev.elapsed_s = 65,
    ev.tokens_per_s = 1234.4, ev.epoch = 0.42, ev.grad_norm = 0.87;
    char b[512];
    ct_progress_format_bar(b, sizeof b, &ev, 100);
    CHECK_STREQ(b, " 42% |###############                     | 42/100 [01:05<01:29] loss 1.2346 lr 1.00e-04 1234 tok/s");
    CHECK(strlen(b) < 100);
    ct_progress_format_bar(b, sizeof b, &ev, 40); /* narrow terminal: no bar, truncated */
    CHECK(strlen(b) < 40 && strncmp(b, " 42% 42/100", 11) == 0);
    ct_progress_format_line(b, sizeof b, &ev);
    CHECK_STREQ(b, "step 42/100 (42.0%) loss 1.2346 grad_norm 0.87 lr 1.00e-04 epoch 0.42 1234 tok/s elapsed 0:01:05 eta 0:01:29");
    /* non-tty: plain lines only on log events */
    char *path = ct_path_join(ct_test_tmpdir(), "progress.txt");
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    ct_progress p;
    ct_progress_init(&p, f, -1);
    CHECK(!p.tty);
    ct_progress_step(&p, &ev);
    ct_progress_log(&p, &ev);
    ct_progress_end(&p);
    fclose(f);
    char *t = slurp(path, NULL);
    CHECK(t && strchr(t, '\r') == NULL && strncmp(t, "step 42/100", 11) == 0);
    free(t);
    free(path);
}

TEST(infra_sigint_first_flags_second_exits) {
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", 1);
        if (fd >= 0) dup2(fd, 2); /* keep the handler's message out of the test log */
        ct_sigint_install();
        if (ct_sigint_requested()) _exit(10);
        raise(SIGINT);
        if (!ct_sigint_requested()) _exit(11);
        raise(SIGINT); /* must not return */
        _exit(12);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 130);
}

typedef struct rec {
    int begins, logs, ends;
    int64_t last_step;
} rec;
static ct_status r_begin(void *u, ct_train_event *ev, ct_err *err) {
    (void)ev, (void)err;
    ((rec *)u)->begins++;
    return CT_OK;
}
static ct_status r_log(void *u, ct_train_event *ev, ct_err *err) {
    (void)err;
    ((rec *)u)->logs++;
    ((rec *)u)->last_step = ev->step;
    if (ev->step >= 3) ev->should_stop = true;
    return CT_OK;
}
static ct_status r_fail(void *u, ct_train_event *ev, ct_err *err) {
    (void)u, (void)ev;
    return ct_err_set(err, CT_ERR_IO, "disk on fire");
}

TEST(infra_callbacks_dispatch_order_stop_and_errors) {
    ct_err err = {0};
    rec a = {0}, b = {0};
    ct_callback ca = {.name = "a", .user = &a, .on_train_begin = r_begin, .on_log = r_log};
    ct_callback cbb = {.name = "b", .user = &b, .on_log = r_log, .on_train_end = r_fail};
    ct_callbacks reg = {0};
    CHECK_OK(ct_callbacks_add(&reg, &ca, &err), &err);
    CHECK_OK(ct_callbacks_add(&reg, &cbb, &err), &err);
    ct_train_event ev;
    ct_train_event_init(&ev);
    CHECK_OK(ct_callbacks_dispatch(&reg, CT_EVENT_TRAIN_BEGIN, &ev, &err), &err);
    for (ev.step = 1; !ev.should_stop; ev.step++) CHECK_OK(ct_callbacks_dispatch(&reg, CT_EVENT_LOG, &ev, &err), &err);
    CHECK(a.begins == 1 && b.begins == 0 && a.logs == 3 && b.logs == 3 && a.last_step == 3);
    CHECK(ct_callbacks_dispatch(&reg, CT_EVENT_TRAIN_END, &ev, &err) == CT_ERR_IO);
    CHECK_STREQ(err.msg, "callback b: disk on fire");
    ct_callbacks_free(&reg);
}

TEST(infra_tensorboard_callback_writes_tags) {
    ct_err err = {0};
    char *ld = ct_path_join(ct_test_tmpdir(), "tbcb");
    ct_callback cb;
    CHECK_OK(ct_callback_tensorboard(&cb, ld, &err), &err);
    ct_train_event ev;
    ct_train_event_init(&ev);
    ev.step = 5, ev.loss = 2.0, ev.learning_rate = 1e-3;
    CHECK_OK(cb.on_log(cb.user, &ev, &err), &err);
    ev.eval_loss = 1.5;
    CHECK_OK(cb.on_evaluate(cb.user, &ev, &err), &err);
    char *path = strdup(ct_tfevents_path(cb.user));
    cb.free_user(cb.user);
    size_t n = 0;
    char *t = slurp(path, &n);
    REQUIRE(t);
    CHECK(memmem(t, n, "train/loss", 10) && memmem(t, n, "train/learning_rate", 19) && memmem(t, n, "eval/loss", 9));
    CHECK(!memmem(t, n, "train/grad_norm", 15)); /* NAN metrics are skipped */
    free(t);
    free(path);
    free(ld);
}
