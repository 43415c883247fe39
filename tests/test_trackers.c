/* report_to: wandb / mlflow (src/train/wandb_run.c, mlflow_store.c) against goldens read back by
 * an independent Python reader (tests/gen/tracker_readers.py, tests/gen/make_tracker_fixtures.py):
 * the scenarios of tests/fixtures/trackers/scenarios.json are replayed through the sinks with a
 * fixed clock; the .wandb log must equal the committed sample byte for byte, and every file of
 * the W&B run and of the MLflow store must equal expected.json (text, or size + CRC-32 for big
 * files). With CT_TRACKERS_WRITE=DIR the outputs are written to DIR/<scenario> instead (what the
 * generator reads). Plus the encoders' building blocks and the environment rules. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/config.h"
#include "harness.h"
#include "io/crc32.h"
#include "io/pbuf.h"
#include "io/wandb_log.h"
#include "train/mlflow_store.h"
#include "train/tracker.h"
#include "train/wandb_run.h"

static char *slurp(const char *path, size_t *len) {
    char *buf = NULL;
    ct_err err;
    if (ct_read_file(path, &buf, len, &err) != CT_OK) return NULL;
    return buf;
}

/* ---- building blocks ---- */

TEST(trackers_crc32_is_zlibs) {
    CHECK_EQ_INT(ct_crc32("123456789", 9), 0xcbf43926u); /* the CRC-32/ISO-HDLC check value */
    CHECK_EQ_INT(ct_crc32_update(ct_crc32("1234", 4), "56789", 5), 0xcbf43926u);
    uint8_t one = 1;
    CHECK_EQ_INT(ct_crc32(&one, 1), 0xa505df1bu); /* zlib.crc32(b"\x01"), W&B's FULL seed */
}

TEST(trackers_pbuf_wire_format) {
    ct_pbuf b = {0};
    ct_pb_uint(&b, 1, 150);          /* 08 96 01 (protobuf.dev's example) */
    ct_pb_int(&b, 2, -1);            /* 10 ff ff ff ff ff ff ff ff ff 01 */
    ct_pb_uint(&b, 3, 0);            /* default: left out */
    ct_pb_string(&b, 4, "testing");  /* 22 07 74 65 73 74 69 6e 67 */
    size_t m = ct_pb_begin(&b, 16);  /* 82 01 03 08 b9 60 */
    ct_pb_uint(&b, 1, 12345);
    ct_pb_end(&b, m);
    ct_pb_double(&b, 5, 1.0);        /* 29 00 00 00 00 00 00 f0 3f */
    static const uint8_t want[] = {0x08, 0x96, 0x01, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0x01, 0x22, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g', 0x82, 0x01, 0x03, 0x08,
                                   0xb9, 0x60, 0x29, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
    REQUIRE(!b.oom);
    CHECK_EQ_INT(b.n, sizeof want);
    CHECK(b.n == sizeof want && !memcmp(b.p, want, b.n));
    /* a 200-byte body needs a 2-byte length: the body moves up by one */
    ct_pbuf c = {0};
    m = ct_pb_begin(&c, 1);
    for (int i = 0; i < 200; i++) ct_pb_raw(&c, "x", 1);
    ct_pb_end(&c, m);
    CHECK(c.n == 203 && c.p[0] == 0x0a && c.p[1] == 0xc8 && c.p[2] == 0x01 && c.p[3] == 'x' && c.p[202] == 'x');
    ct_pbuf_free(&b);
    ct_pbuf_free(&c);
}

TEST(trackers_wandb_log_framing) {
    uint8_t h[CT_WANDB_LOG_HEADER];
    ct_wandb_log_header(h);
    CHECK(!memcmp(h, ":W&B\xe1\xbe\x00", 7));
    uint8_t out[64];
    /* FULL chunk: crc32(b"\x01abc") = zlib.crc32(b"abc", zlib.crc32(b"\x01")) */
    size_t n = ct_wandb_log_frame(out, sizeof out, 7, "abc", 3);
    CHECK_EQ_INT(n, 10);
    uint32_t crc = (uint32_t)out[0] | (uint32_t)out[1] << 8 | (uint32_t)out[2] << 16 | (uint32_t)out[3] << 24;
    CHECK_EQ_INT(crc, ct_crc32("\x01" "abc", 4));
    CHECK(out[4] == 3 && out[5] == 0 && out[6] == 1 && !memcmp(out + 7, "abc", 3));
    /* 3 bytes left in the block: zero padding, then the chunk at the next block */
    n = ct_wandb_log_frame(out, sizeof out, CT_WANDB_LOG_BLOCK - 3, "abc", 3);
    CHECK(n == 13 && !memcmp(out, "\0\0\0", 3) && out[9] == 1);
    /* a record larger than a block: FIRST + MIDDLE + LAST, each within its block */
    size_t big = 70000;
    char *data = malloc(big);
    uint8_t *f = malloc(ct_wandb_log_framed_size(7, big));
    REQUIRE(data && f);
    for (size_t i = 0; i < big; i++) data[i] = (char)('a' + i % 26);
    n = ct_wandb_log_frame(f, ct_wandb_log_framed_size(7, big), 7, data, big);
    size_t first = CT_WANDB_LOG_BLOCK - 7 - 7, mid = CT_WANDB_LOG_BLOCK - 7, last = big - first - mid;
    CHECK_EQ_INT(n, big + 21);
    CHECK(f[6] == 2 && f[7 + first + 6] == 3 && f[7 + first + 7 + mid + 6] == 4);
    CHECK_EQ_INT(f[7 + first + 7 + mid + 4] | f[7 + first + 7 + mid + 5] << 8, last);
    free(data);
    free(f);
}

TEST(trackers_python_str_of_values) {
    /* expected strings printed by CPython 3 for str(json.loads(...)) */
    static const char *const cases[][2] = {
        {"\"plain text\"", "plain text"},
        {"null", "None"},
        {"true", "True"},
        {"1e-06", "1e-06"},
        {"1000000.0", "1000000.0"},
        {"-1.0", "-1.0"},
        {"12345678901234567890.0", "1.2345678901234567e+19"},
        {"[\"q_proj\", \"v_proj\"]", "['q_proj', 'v_proj']"},
        {"[1, 2.5, null, false]", "[1, 2.5, None, False]"},
        {"{\"rope_type\": \"llama3\", \"factor\": 8.0}", "{'rope_type': 'llama3', 'factor': 8.0}"},
        {"[\"it's\"]", "[\"it's\"]"},
        {"[\"a'b\\\"c\"]", "['a\\'b\"c']"},
        {"[\"line\\nbreak\\t\\\\\"]", "['line\\nbreak\\t\\\\']"},
        {"[\"\\u98ce\\u63a7\"]", "['风控']"},
        {"[[]]", "[[]]"},
        {"{}", "{}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_loads(cases[i][0], JSON_DECODE_ANY, NULL);
        REQUIRE(v);
        char *s = ct_py_str(v);
        CHECK_MSG(s && !strcmp(s, cases[i][1]), "str(%s) = %s, expected %s", cases[i][0], s ? s : "(null)", cases[i][1]);
        free(s);
        json_decref(v);
    }
}

TEST(trackers_report_to_choices) {
    ct_strlist l = {0};
    char *v[2] = {"all", NULL};
    l.v = v, l.n = 1;
    CHECK(ct_report_to_has(&l, "tensorboard") && ct_report_to_has(&l, "wandb") && ct_report_to_has(&l, "mlflow"));
    v[0] = "swanlab";
    CHECK(ct_report_to_has(&l, "wandb") && !ct_report_to_has(&l, "mlflow") && !ct_report_to_has(&l, "tensorboard"));
    v[0] = "none";
    CHECK(!ct_report_to_has(&l, "wandb") && !ct_report_to_has(&l, "tensorboard"));
}

/* ---- the golden scenarios ---- */

typedef struct fixed_clock {
    double t;
} fixed_clock;
static double clock_fn(void *u) { return ((fixed_clock *)u)->t; }

/* {"$repeat": s, "$times": n} -> s * n (keeps the spec small); recursive over the config. */
static json_t *expand(const json_t *v) {
    if (json_is_object(v) && json_object_get(v, "$repeat")) {
        const char *s = json_string_value(json_object_get(v, "$repeat"));
        json_int_t n = json_integer_value(json_object_get(v, "$times"));
        size_t l = strlen(s);
        char *buf = malloc(l * (size_t)n + 1);
        for (json_int_t i = 0; i < n; i++) memcpy(buf + l * (size_t)i, s, l);
        buf[l * (size_t)n] = 0;
        json_t *r = json_string(buf);
        free(buf);
        return r;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) json_object_set_new(o, k, expand(x));
        return o;
    }
    return json_deep_copy(v);
}

static double num(const json_t *ev, const char *k) {
    const json_t *v = json_object_get(ev, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void run_scenario(const json_t *spec, const json_t *sc, const char *out) {
    ct_err err = {0};
    fixed_clock clk = {num(spec, "start")};
    json_t *config = expand(json_object_get(sc, "config"));
    const json_t *w = json_object_get(spec, "wandb"), *m = json_object_get(spec, "mlflow");
    const json_t *sm = json_object_get(sc, "mlflow");
    char *wdir = ct_path_join(out, "wandb"), *root = ct_path_join(out, "mlruns");
    ct_wandb_opts wo = {.wandb_dir = wdir, .run_id = str(w, "run_id"), .project = str(w, "project"),
                        .entity = str(w, "entity"), .name = str(w, "name"), .notes = str(w, "notes"),
                        .group = str(w, "group"), .job_type = str(w, "job_type"), .tags = str(w, "tags"),
                        .host = str(w, "host"), .username = str(w, "username"), .os = str(w, "os"),
                        .executable = str(w, "executable"), .root = str(w, "root"),
                        .cpu_count = (int)num(w, "cpu_count"), .config = config, .clock = clock_fn, .clock_user = &clk};
    json_t *params = json_deep_copy(config);
    json_object_del(params, "model/num_parameters");
    ct_mlflow_opts mo = {.root = root, .experiment_name = str(sm, "experiment_name"),
                         .experiment_id = str(sm, "experiment_id"), .new_run_id = str(sm, "new_run_id"),
                         .run_name = str(sm, "run_name"), .user = str(m, "user"), .source_name = str(m, "source_name"),
                         .tags = json_object_get(sm, "tags"), .params = params, .clock = clock_fn, .clock_user = &clk};
    ct_callbacks reg = {0};
    ct_callback cb;
    CHECK_OK(ct_callback_wandb(&cb, &wo, &err), &err);
    CHECK_OK(ct_callbacks_add(&reg, &cb, &err), &err);
    CHECK_OK(ct_callback_mlflow(&cb, &mo, &err), &err);
    CHECK_OK(ct_callbacks_add(&reg, &cb, &err), &err);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(sc, "events"), i, e) {
        ct_train_event ev;
        ct_train_event_init(&ev);
        ev.step = (int64_t)num(e, "step");
        ev.total_steps = (int64_t)num(e, "total_steps");
        ev.epoch = num(e, "epoch");
        ev.loss = num(e, "loss");
        ev.grad_norm = num(e, "grad_norm");
        ev.learning_rate = num(e, "learning_rate");
        ev.eval_loss = num(e, "eval_loss");
        ev.elapsed_s = num(e, "elapsed_s");
        ev.tokens_per_s = num(e, "tokens_per_s");
        ev.samples_per_s = num(e, "samples_per_s");
        ev.steps_per_s = num(e, "steps_per_s");
        const char *kind = str(e, "kind");
        ct_event_kind k = !strcmp(kind, "log") ? CT_EVENT_LOG : !strcmp(kind, "eval") ? CT_EVENT_EVALUATE : CT_EVENT_TRAIN_END;
        CHECK_OK(ct_callbacks_dispatch(&reg, k, &ev, &err), &err);
    }
    ct_callbacks_free(&reg); /* a scenario without "end" finishes here, as a failed run */
    json_decref(params);
    json_decref(config);
    free(wdir);
    free(root);
}

/* The one offline-run-* directory under out/wandb (malloc'd). */
static char *find_run_dir(const char *out) {
    char *wdir = ct_path_join(out, "wandb"), *found = NULL;
    DIR *d = opendir(wdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, "offline-run-", 12)) found = ct_path_join(wdir, e->d_name);
    if (d) closedir(d);
    free(wdir);
    return found;
}

/* text with every occurrence of `from` replaced by `to` (malloc'd) */
static char *replace_all(const char *text, const char *from, const char *to) {
    size_t lf = strlen(from), lt = strlen(to), n = 0;
    for (const char *p = strstr(text, from); p; p = strstr(p + lf, from)) n++;
    char *out = malloc(strlen(text) + n * lt + 1), *o = out;
    for (const char *p = text;;) {
        const char *q = strstr(p, from);
        if (!q) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, lt);
        o += lt;
        p = q + lf;
    }
    return out;
}

/* Compares one produced file with its expected.json entry: {"text"} or {"size", "crc32"}. */
static void check_file(const char *path, const json_t *want, const char *root) {
    size_t n = 0;
    char *got = slurp(path, &n);
    CHECK_MSG(got != NULL, "%s: missing", path);
    if (!got) return;
    if (json_object_get(want, "text")) {
        char *g = root ? replace_all(got, root, "<ROOT>") : strdup(got);
        CHECK_MSG(!strcmp(g, str(want, "text")), "%s differs from expected.json:\n--- got\n%s\n--- expected\n%s", path, g,
                  str(want, "text"));
        free(g);
    } else {
        CHECK_MSG(n == (size_t)num(want, "size") && ct_crc32(got, n) == (uint32_t)num(want, "crc32"),
                  "%s: %zu bytes crc32 %08x, expected %.0f bytes crc32 %08x", path, n, ct_crc32(got, n),
                  num(want, "size"), (uint32_t)num(want, "crc32"));
    }
    free(got);
}

static size_t count_files(const char *dir) {
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = ct_path_join(dir, e->d_name);
        struct stat st;
        if (!lstat(p, &st)) n += S_ISDIR(st.st_mode) ? count_files(p) : 1;
        free(p);
    }
    if (d) closedir(d);
    return n;
}

static void check_scenario(const json_t *sc, const json_t *want, const char *out) {
    const char *name = str(sc, "name");
    char *run = find_run_dir(out);
    REQUIRE(run);
    /* the log, byte for byte against the committed sample */
    const char *log = str(json_object_get(want, "wandb"), "log");
    char sample[256];
    snprintf(sample, sizeof sample, "tests/fixtures/trackers/%s.wandb", name);
    char *lp = ct_path_join(run, log);
    size_t gn = 0, wn = 0;
    char *got = slurp(lp, &gn), *gold = slurp(ct_test_path(sample), &wn);
    CHECK_MSG(got && gold && gn == wn && !memcmp(got, gold, gn), "%s: %s (%zu bytes) differs from %s (%zu bytes)", name,
              lp, gn, sample, wn);
    free(got);
    free(gold);
    free(lp);
    char *files = ct_path_join(run, "files");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(want, "wandb"), "files"), k, v) {
        char *p = ct_path_join(files, k);
        check_file(p, v, NULL);
        free(p);
    }
    CHECK_EQ_INT(count_files(files), json_object_size(json_object_get(json_object_get(want, "wandb"), "files")));
    char *latest = ct_path_join(out, "wandb/latest-run");
    char target[256] = "";
    ssize_t tl = readlink(latest, target, sizeof target - 1);
    target[tl > 0 ? tl : 0] = 0;
    CHECK_MSG(tl > 0 && !strcmp(target, strrchr(run, '/') + 1), "latest-run -> %s", target);
    free(latest);
    free(files);
    free(run);
    /* the MLflow store: the same files, the same contents (absolute root as <ROOT>) */
    char *root = ct_path_join(out, "mlruns");
    const json_t *mf = json_object_get(json_object_get(want, "mlflow"), "files");
    json_object_foreach((json_t *)mf, k, v) {
        char *p = ct_path_join(root, k);
        check_file(p, v, root);
        free(p);
    }
    CHECK_EQ_INT(count_files(root), json_object_size(mf));
    free(root);
}

TEST(trackers_golden_wandb_and_mlflow) {
    json_t *spec = NULL, *expected = NULL;
    ct_err err = {0};
    CHECK_OK(ct_json_load_file(ct_test_path("tests/fixtures/trackers/scenarios.json"), &spec, &err), &err);
    const char *write_dir = getenv("CT_TRACKERS_WRITE");
    if (!write_dir)
        CHECK_OK(ct_json_load_file(ct_test_path("tests/fixtures/trackers/expected.json"), &expected, &err), &err);
    REQUIRE(spec && (write_dir || expected));
    size_t i;
    json_t *sc;
    json_array_foreach(json_object_get(spec, "scenarios"), i, sc) {
        char *out = ct_path_join(write_dir ? write_dir : ct_test_tmpdir(), str(sc, "name"));
        REQUIRE(out && !ct_mkdir_p(out, &err));
        run_scenario(spec, sc, out);
        if (!write_dir) check_scenario(sc, json_object_get(expected, str(sc, "name")), out);
        free(out);
    }
    json_decref(spec);
    json_decref(expected);
}

/* ---- configuration and environment rules ---- */

TEST(trackers_config_keys_and_errors) {
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    CHECK_OK(ct_train_config_set(&c, "report_to", "wandb,mlflow", "t.yaml:3", &err), &err);
    CHECK(c.report_to.n == 2 && !strcmp(c.report_to.v[1], "mlflow"));
    CHECK(ct_train_config_set(&c, "report_to", "wandb,comet_ml", "t.yaml:4", &err) == CT_ERR_ARG);
    CHECK_STREQ(err.msg, "t.yaml:4: key 'report_to': 'comet_ml' is not one of none|all|tensorboard|wandb|mlflow|swanlab");
    CHECK(ct_train_config_set(&c, "swanlab_mode", "offline", "t.yaml:6", &err) == CT_ERR_ARG);
    CHECK_STREQ(err.msg, "t.yaml:6: key 'swanlab_mode': 'offline' is not one of cloud|local");
    CHECK(ct_train_config_set(&c, "use_swanlab", "2", "t.yaml:7", &err) == CT_ERR_ARG);
    CHECK_STREQ(err.msg, "t.yaml:7: key 'use_swanlab': expected true or false, got '2'");
    CHECK_STREQ(c.swanlab_project, "llamafactory"); /* LlamaFactory's default */
    CHECK_OK(ct_train_config_set(&c, "run_name", "my run", "t.yaml:5", &err), &err);
    CHECK_STREQ(c.run_name, "my run");
    char *j = ct_train_config_dump_json(&c);
    json_t *o = j ? json_loads(j, 0, NULL) : NULL;
    CHECK(o && !strcmp(json_string_value(json_object_get(o, "run_name")), "my run"));
    CHECK(o && json_array_size(json_object_get(o, "report_to")) == 2 && json_is_null(json_object_get(o, "template")));
    CHECK(o && json_real_value(json_object_get(o, "learning_rate")) == 5e-5 && json_is_false(json_object_get(o, "bf16")));
    json_decref(o);
    free(j);
    /* hyperparameters for the trackers never carry the SwanLab secrets */
    CHECK_OK(ct_train_config_set(&c, "swanlab_api_key", "SECRET", "t", &err), &err);
    json_t *hp = NULL;
    CHECK_OK(ct_tracker_hparams(&c, NULL, 42, &hp, &err), &err);
    CHECK(hp && !json_object_get(hp, "swanlab_api_key") && !json_object_get(hp, "swanlab_lark_secret"));
    CHECK(hp && json_integer_value(json_object_get(hp, "model/num_parameters")) == 42);
    json_decref(hp);
    ct_train_config_free(&c);
}

static void clear_env(void) {
    static const char *const vars[] = {"WANDB_DIR", "WANDB_MODE", "WANDB_DISABLED", "WANDB_PROJECT", "WANDB_NAME",
                                       "WANDB_RUN_ID", "WANDB_ENTITY", "WANDB_TAGS", "MLFLOW_TRACKING_URI",
                                       "MLFLOW_TRACKING_DIR", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TAGS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

TEST(trackers_environment_rules) {
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    CHECK_OK(ct_train_config_set(&c, "output_dir", "out/run1", "t", &err), &err);
    clear_env();
    ct_wandb_opts w;
    bool on;
    char *note = NULL;
    CHECK_OK(ct_wandb_opts_from_env(&w, &c, &on, &note, &err), &err);
    CHECK(on && !note);
    CHECK_STREQ(w.wandb_dir, "./wandb");
    CHECK_STREQ(w.project, "huggingface"); /* HF's default project */
    CHECK_STREQ(w.name, "out/run1");       /* HF's default run_name is output_dir */
    ct_wandb_opts_clear(&w);
    setenv("WANDB_DIR", "/data/runs", 1);
    setenv("WANDB_NAME", "from-env", 1);
    setenv("WANDB_MODE", "online", 1);
    CHECK_OK(ct_wandb_opts_from_env(&w, &c, &on, &note, &err), &err);
    CHECK_STREQ(w.wandb_dir, "/data/runs/wandb");
    CHECK_STREQ(w.name, "from-env");
    CHECK(on && note && strstr(note, "WANDB_MODE=online: ctune writes W&B runs offline only"));
    free(note);
    ct_wandb_opts_clear(&w);
    CHECK_OK(ct_train_config_set(&c, "run_name", "from-config", "t", &err), &err);
    setenv("WANDB_MODE", "disabled", 1);
    CHECK_OK(ct_wandb_opts_from_env(&w, &c, &on, &note, &err), &err);
    CHECK(!on && note && !strcmp(note, "WANDB_MODE=disabled"));
    free(note);
    ct_wandb_opts_clear(&w);
    unsetenv("WANDB_MODE");
    setenv("WANDB_DISABLED", "true", 1);
    CHECK_OK(ct_wandb_opts_from_env(&w, &c, &on, &note, &err), &err);
    CHECK(!on);
    free(note);
    ct_wandb_opts_clear(&w);
    unsetenv("WANDB_DISABLED");
    CHECK_OK(ct_wandb_opts_from_env(&w, &c, &on, &note, &err), &err);
    CHECK_STREQ(w.name, "from-config"); /* run_name beats WANDB_NAME */
    ct_wandb_opts_clear(&w);
    setenv("WANDB_RUN_ID", "a/b", 1);
    CHECK(ct_wandb_opts_from_env(&w, &c, &on, &note, &err) == CT_ERR_ARG);
    CHECK_STREQ(err.msg, "WANDB_RUN_ID 'a/b': a run id takes letters, digits, '-' and '_' only");
    ct_wandb_opts_clear(&w);

    ct_mlflow_opts m;
    CHECK_OK(ct_mlflow_opts_from_env(&m, &c, &err), &err);
    CHECK_STREQ(m.root, "mlruns");
    CHECK_STREQ(m.run_name, "from-config");
    ct_mlflow_opts_clear(&m);
    static const char *const uris[][2] = {{"file:///abs/store", "/abs/store"}, {"file:rel/store", "rel/store"},
                                          {"file://localhost/abs", "/abs"}, {"plain/dir", "plain/dir"},
                                          {"/abs/dir", "/abs/dir"}, {"file:///my%20runs/ml", "/my runs/ml"}};
    for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
        setenv("MLFLOW_TRACKING_URI", uris[i][0], 1);
        CHECK_OK(ct_mlflow_opts_from_env(&m, &c, &err), &err);
        CHECK_MSG(m.root && !strcmp(m.root, uris[i][1]), "%s -> %s", uris[i][0], m.root ? m.root : "(null)");
        ct_mlflow_opts_clear(&m);
    }
    setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com", 1);
    CHECK(ct_mlflow_opts_from_env(&m, &c, &err) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "MLFLOW_TRACKING_URI=https://mlflow.example.com: report_to mlflow writes an MLflow file store only"));
    setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db", 1);
    CHECK(ct_mlflow_opts_from_env(&m, &c, &err) == CT_ERR_UNSUPPORTED);
    unsetenv("MLFLOW_TRACKING_URI");
    setenv("MLFLOW_TAGS", "[1, 2]", 1);
    CHECK(ct_mlflow_opts_from_env(&m, &c, &err) == CT_ERR_ARG);
    CHECK_STREQ(err.msg, "MLFLOW_TAGS: expected a JSON object of tags, got '[1, 2]'");
    clear_env();
    ct_train_config_free(&c);
}
