/* LlamaFactory semantics of the data layer: templates under LlamaFactory's names against
 * LlamaFactory's own template code (tests/fixtures/data/templates_lf.jsonl, made by
 * tests/gen/make_lf_template_fixtures.py: Template.encode_multiturn with a character tokenizer,
 * so each (prompt, answer) pair is the exact text and its labels), the sharegpt structure its
 * converter accepts, dataset_info.json column rules, row numbering, bad-row skipping and the
 * pre-training grouping. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "ctune/config.h"
#include "ctune/data.h"
#include "harness.h"

/* One fixture case: text equal to the pairs joined, and every byte trained exactly when it is in
 * a trained answer. */
static void check_lf_case(json_t *row, int lineno) {
    const char *tname = json_string_value(json_object_get(row, "template"));
    const ct_template *t = ct_template_get(tname);
    REQUIRE(t);
    ct_render_opts o = ct_render_opts_default();
    json_t *et = json_object_get(row, "enable_thinking");
    if (et) o.enable_thinking = json_is_null(et) ? CT_THINK_NULL : json_is_true(et) ? CT_THINK_TRUE : CT_THINK_FALSE;
    o.mask_history = json_is_true(json_object_get(row, "mask_history"));
    o.preserve_thinking = json_is_true(json_object_get(row, "preserve_thinking"));
    o.think_per_turn = !strcmp(tname, "qwen3") || !strcmp(tname, "qwen3_5");
    o.date_string = json_string_value(json_object_get(row, "date"));
    ct_err err = {0};
    ct_conv c;
    ct_render r;
    ct_render_init(&r);
    CHECK_OK(ct_conv_from_json(json_object_get(row, "row"), CT_FORMAT_SHAREGPT, NULL, "lf", &c, &err), &err);
    CHECK_OK(ct_conv_check(&c, "lf", &err), &err);
    ct_status st = ct_template_render(t, &c, &o, &r, &err);
    CHECK_MSG(st == CT_OK, "line %d (%s): %s", lineno, tname, err.msg);
    /* expected text and per-byte trained flags */
    json_t *pairs = json_object_get(row, "pairs"), *trained = json_object_get(row, "trained");
    size_t len = 0;
    for (size_t i = 0; i < json_array_size(pairs); i++)
        for (size_t k = 0; k < 2; k++) len += strlen(json_string_value(json_array_get(json_array_get(pairs, i), k)));
    char *exp = malloc(len + 1), *mask = malloc(len + 1);
    size_t off = 0;
    for (size_t i = 0; i < json_array_size(pairs); i++)
        for (size_t k = 0; k < 2; k++) {
            const char *s = json_string_value(json_array_get(json_array_get(pairs, i), k));
            size_t n = strlen(s);
            memcpy(exp + off, s, n);
            memset(mask + off, k == 1 && json_is_true(json_array_get(trained, i)) ? 'T' : '.', n);
            off += n;
        }
    exp[len] = mask[len] = 0;
    if (!st) {
        size_t k = 0;
        while (k < r.len && k < len && exp[k] == r.text[k]) k++;
        CHECK_MSG(r.len == len && k == len, "line %d (%s) differs at byte %zu: got \"%.60s\" expected \"%.60s\"",
                  lineno, tname, k, r.text + (k < r.len ? k : r.len), exp + k);
        char *got = calloc(r.len + 1, 1);
        for (size_t i = 0; i < r.n_segs; i++)
            memset(got + r.segs[i].off, r.segs[i].weight > 0 ? 'T' : '.', r.segs[i].len);
        if (r.len == len) {
            size_t d = 0;
            while (d < len && got[d] == mask[d]) d++;
            CHECK_MSG(d == len, "line %d (%s): labels differ at byte %zu (%s there, expected %s): \"%.50s\"", lineno,
                      tname, d, got[d] == 'T' ? "trained" : "masked", mask[d] == 'T' ? "trained" : "masked",
                      r.text + d);
        }
        free(got);
    }
    free(exp);
    free(mask);
    ct_render_free(&r);
    ct_conv_free(&c);
}

TEST(data_lf_templates_match_llamafactory) {
    const char *rel = "tests/fixtures/data/templates_lf.jsonl";
    FILE *f = fopen(ct_test_path(rel), "rb");
    REQUIRE(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, llama3 = 0, qwen3 = 0, qwen35 = 0, nothink = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *row = json_loadb(line, (size_t)n, 0, &je);
        REQUIRE(row);
        const char *t = json_string_value(json_object_get(row, "template"));
        llama3 += !strcmp(t, "llama3"), qwen3 += !strcmp(t, "qwen3"), nothink += !strcmp(t, "qwen3_nothink");
        qwen35 += !strcmp(t, "qwen3_5");
        check_lf_case(row, lineno);
        json_decref(row);
    }
    free(line);
    fclose(f);
    CHECK_EQ_INT(llama3, 7);
    CHECK_EQ_INT(qwen3, 13);
    CHECK_EQ_INT(qwen35, 7);
    CHECK_EQ_INT(nothink, 3);
}

/* ---- rows, files and dataset_info.json (tests/fixtures/lf_data: small files of the shapes of
 * LlamaFactory's data/ directory, written for these tests) ---- */

typedef struct rows {
    ct_conv convs[16];
    char where[16][512];
    size_t n;
} rows;

static ct_status keep_row(void *user, ct_conv *c, const char *where, ct_err *err) {
    (void)err;
    rows *r = user;
    if (r->n < 16) {
        snprintf(r->where[r->n], sizeof r->where[r->n], "%s", where);
        r->convs[r->n++] = *c;
        ct_conv_init(c);
    }
    return CT_OK;
}

static void rows_free(rows *r) {
    for (size_t i = 0; i < r->n; i++) ct_conv_free(&r->convs[i]);
    r->n = 0;
}

/* Reads a dataset_info.json entry of tests/fixtures/lf_data. */
static ct_status read_entry(const char *name, bool skip, int64_t max_rows, ct_bad_rows *bad, rows *out, ct_err *err) {
    ct_dataset_info info;
    ct_status st = ct_dataset_info_find(ct_test_path("tests/fixtures/lf_data"), name, &info, err);
    if (st) return st;
    ct_read_opts o = ct_read_opts_default();
    o.format = info.format;
    o.cols = &info.cols;
    o.skip_bad = skip;
    o.max_rows = max_rows;
    o.bad = bad;
    st = ct_read_dataset_file(info.path, &o, keep_row, out, err);
    ct_dataset_info_free(&info);
    return st;
}

/* glaive_toolcall_zh_demo rows 198 and 294 put an observation after a plain answer: LlamaFactory's
 * sharegpt converter only checks positions, so they load; a row it skips is skipped and named. */
TEST(data_lf_glaive_observation_after_answer) {
    ct_err err = {0};
    rows r = {0};
    ct_bad_rows bad = {0};
    CHECK_OK(read_entry("glaive_toolcall_zh_demo", true, -1, &bad, &r, &err), &err);
    REQUIRE(r.n == 2);
    CHECK_EQ_INT(bad.n, 1);
    CHECK_MSG(strstr(bad.first[0], "glaive_toolcall_zh_demo.json: row 3 (line 52)") &&
                  strstr(bad.first[0], "non-alternating turns"),
              "%s", bad.first[0]);
    const ct_conv *c = &r.convs[1];
    REQUIRE(c->n_msgs == 6);
    CHECK(c->msgs[1].role == CT_ROLE_ASSISTANT && c->msgs[1].n_tool_calls == 0);
    CHECK(c->msgs[2].role == CT_ROLE_TOOL);
    CHECK_MSG(strstr(r.where[1], "glaive_toolcall_zh_demo.json: row 2 (line 23)"), "%s", r.where[1]);
    /* every template that renders tools renders it */
    const char *names[] = {"qwen", "qwen3", "qwen3_nothink", "qwen3_5", "llama3", "llama3_1"};
    ct_render out;
    ct_render_init(&out);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        ct_render_opts o = ct_render_opts_default();
        CHECK_MSG(ct_template_render(ct_template_get(names[i]), c, &o, &out, &err) == CT_OK, "%s: %s", names[i],
                  err.msg);
    }
    ct_render_free(&out);
    rows_free(&r);
    /* on_bad_sample: fail stops at the skipped row with its place */
    CHECK(read_entry("glaive_toolcall_zh_demo", false, -1, NULL, &r, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "glaive_toolcall_zh_demo.json: row 3 (line 52): turn 0: non-alternating"), "%s", err.msg);
    rows_free(&r);
}

/* Malformed rows of a .json array: skipped and named with their row (from 1) and line; max_rows
 * counts them as rows, as LlamaFactory's max_samples selects rows before converting. */
TEST(data_lf_bad_rows_named_and_counted) {
    ct_err err = {0};
    rows r = {0};
    ct_bad_rows bad = {0};
    CHECK_OK(read_entry("bad_rows", true, -1, &bad, &r, &err), &err);
    CHECK_EQ_INT(r.n, 3);
    CHECK_EQ_INT(bad.n, 3);
    CHECK_MSG(strstr(bad.first[0], "bad_rows.json: row 2 (line 14): message 0: unknown role 'wizard'"), "%s",
              bad.first[0]);
    CHECK_MSG(strstr(bad.first[1], "bad_rows.json: row 4 (line 38): odd number of turns"), "%s", bad.first[1]);
    CHECK_MSG(strstr(bad.first[2], "bad_rows.json: row 5 (line 54): 'output' must be a string"), "%s", bad.first[2]);
    CHECK_MSG(strstr(r.where[2], "bad_rows.json: row 6 (line 58)"), "%s", r.where[2]);
    rows_free(&r);
    memset(&bad, 0, sizeof bad);
    CHECK_OK(read_entry("bad_rows", true, 2, &bad, &r, &err), &err);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(bad.n, 1);
    rows_free(&r);
    CHECK(read_entry("bad_rows", false, -1, NULL, &r, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "bad_rows.json: row 2 (line 14)"), "%s", err.msg);
    rows_free(&r);
    /* a long message is cut inside the slot, not inside a UTF-8 character */
    char msg[1000];
    memset(msg, 'a', sizeof msg);
    memcpy(msg + 314, "\xe4\xbd\xa0\xe5\xa5\xbd", 6); /* the cut at 316 falls inside the first character */
    msg[sizeof msg - 1] = 0;
    memset(&bad, 0, sizeof bad);
    ct_bad_rows_add(&bad, msg);
    size_t n = strlen(bad.first[0]);
    CHECK(n < sizeof bad.first[0] && !strcmp(bad.first[0] + n - 3, "..."));
    CHECK_EQ_INT(n, 317);
}

/* A JSON syntax error in the middle of a .json file names its line and column and what went
 * wrong (jansson's own text says "end of file expected"); JSON Lines in a .json file load. */
TEST(data_lf_json_file_errors_and_lines) {
    ct_err err = {0};
    rows r = {0};
    CHECK(read_entry("broken_json", true, -1, NULL, &r, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "broken.json:26:") && strstr(err.msg, "unexpected ','") &&
                  strstr(err.msg, "array closed at line 26") && strstr(err.msg, "stray ']'") &&
                  !strstr(err.msg, "end of file"),
              "%s", err.msg);
    rows_free(&r);
    CHECK_OK(read_entry("lines_json", false, -1, NULL, &r, &err), &err);
    REQUIRE(r.n == 2);
    CHECK_MSG(strstr(r.where[1], "lines.json: row 2"), "%s", r.where[1]);
    CHECK_STREQ(r.convs[1].msgs[0].content, "two");
    rows_free(&r);
    /* other file kinds LlamaFactory reads are refused by name */
    char *p = malloc(strlen(ct_test_tmpdir()) + 16);
    sprintf(p, "%s/d.parquet", ct_test_tmpdir());
    FILE *f = fopen(p, "wb");
    fclose(f);
    ct_read_opts o = ct_read_opts_default();
    CHECK(ct_read_dataset_file(p, &o, keep_row, &r, &err) == CT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "parquet files are not supported"), "%s", err.msg);
    free(p);
}

/* dataset_info.json as LlamaFactory reads it: `columns` that name only the prompt leave the other
 * alpaca columns unset (pre-training text), .txt rows are lines (empty ones included), and
 * multimodal / preference columns are refused by what they are. */
TEST(data_lf_registry_columns) {
    ct_err err = {0};
    rows r = {0};
    CHECK_OK(read_entry("c4_demo", false, -1, NULL, &r, &err), &err);
    REQUIRE(r.n == 3);
    CHECK(r.convs[0].n_msgs == 1 && r.convs[0].msgs[0].role == CT_ROLE_USER);
    CHECK_MSG(strstr(r.convs[2].msgs[0].content, "Spring cleaning"), "%s", r.convs[2].msgs[0].content);
    rows_free(&r);
    CHECK_OK(read_entry("wiki_demo", false, -1, NULL, &r, &err), &err);
    REQUIRE(r.n == 4);
    CHECK_STREQ(r.convs[1].msgs[0].content, "");
    CHECK_MSG(strstr(r.where[3], "wiki_demo.txt: row 4"), "%s", r.where[3]);
    rows_free(&r);
    const struct {
        const char *name, *msg;
    } refused[] = {{"mllm_demo", "not supported: multimodal data (column 'images')"},
                   {"dpo_en_demo", "not supported: preference data (ranking: true)"},
                   {"kto_en_demo", "not supported: preference data (column 'kto_tag')"}};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        CHECK(read_entry(refused[i].name, true, -1, NULL, &r, &err) == CT_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(err.msg, refused[i].msg) && strstr(err.msg, refused[i].name), "%s", err.msg);
    }
    /* the same columns in a plain file: the row is malformed (skipped) */
    const char *j = "{\"messages\": [{\"role\": \"user\", \"content\": \"<image>x\"}, {\"role\": \"assistant\", "
                    "\"content\": \"y\"}], \"images\": [\"1.jpg\"]}";
    ct_conv c;
    CHECK(ct_conv_from_text(j, strlen(j), CT_FORMAT_AUTO, NULL, "m.jsonl: row 1", &c, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "m.jsonl: row 1: not supported: multimodal data (column 'images')"), "%s", err.msg);
}

/* The structure LlamaFactory's converters accept: positions alternate user-side / answer, tool
 * results count as user side (consecutive ones as one), tool calls need no tools list. */
TEST(data_lf_conv_check_positions) {
    const struct {
        const char *json;
        const char *err; /* NULL: accepted */
    } cases[] = {
        {"[[\"user\",\"q\"],[\"assistant\",\"a\"],[\"tool\",\"r\"],[\"assistant\",\"b\"]]", NULL},
        {"[[\"tool\",\"r\"],[\"assistant\",\"a\"]]", NULL},
        {"[[\"system\",\"s\"],[\"user\",\"q\"],[\"assistant\",\"a\"],[\"tool\",\"r1\"],[\"tool\",\"r2\"],[\"assistant\",\"b\"]]", NULL},
        {"[[\"user\",\"q\"],[\"assistant\",\"a\"],[\"tool\",\"r\"],[\"user\",\"q2\"]]", "user follows tool"},
        {"[[\"user\",\"q\"],[\"tool\",\"r\"]]", "tool follows user"},
        {"[[\"assistant\",\"a\"]]", "assistant before any user message"},
        {"[[\"user\",\"q\"],[\"assistant\",\"a\"],[\"assistant\",\"b\"]]", "assistant follows assistant"},
        {"[[\"user\",\"q\"],[\"system\",\"s\"],[\"assistant\",\"a\"]]", "a system message must come first"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *msgs = json_loads(cases[i].json, 0, NULL), *row = json_object(), *list = json_array();
        size_t k;
        json_t *m;
        json_array_foreach(msgs, k, m) {
            json_t *o = json_object();
            json_object_set(o, "role", json_array_get(m, 0));
            json_object_set(o, "content", json_array_get(m, 1));
            json_array_append_new(list, o);
        }
        json_object_set_new(row, "messages", list);
        ct_err err = {0};
        ct_conv c;
        CHECK_OK(ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, "x: row 1", &c, &err), &err);
        ct_status st = ct_conv_check(&c, "x: row 1", &err);
        if (cases[i].err) CHECK_MSG(st == CT_ERR_FORMAT && strstr(err.msg, cases[i].err), "case %zu: %s", i, err.msg);
        else CHECK_MSG(st == CT_OK, "case %zu: %s", i, err.msg);
        ct_conv_free(&c);
        json_decref(row);
        json_decref(msgs);
    }
}

/* LlamaFactory's pretrain grouping: per batch of rows, texts concatenated and cut into blocks,
 * the batch's partial last block dropped, bos written over each block's first token. */
TEST(data_lf_group_texts) {
    ct_example_set in = {0}, out;
    ct_err err = {0};
    const size_t lens[3] = {5, 4, 6};
    int32_t next = 1;
    for (int s = 0; s < 3; s++) {
        int32_t ids[8];
        float w[8];
        for (size_t i = 0; i < lens[s]; i++) ids[i] = next++, w[i] = 1;
        ct_example e = {.input_ids = ids, .labels = ids, .weights = w, .n = lens[s], .source = s};
        CHECK_OK(ct_example_set_push(&in, &e, &err), &err);
    }
    size_t lost = 0;
    CHECK_OK(ct_group_texts(&in, 4, 2, -1, &out, &lost, &err), &err);
    REQUIRE(out.n == 3);
    CHECK_EQ_INT(lost, 3); /* 9 tokens of rows 1-2 -> 2 blocks + 1; 6 of row 3 -> 1 block + 2 */
    const int32_t want[3][4] = {{1, 2, 3, 4}, {5, 6, 7, 8}, {10, 11, 12, 13}};
    for (size_t b = 0; b < 3; b++) {
        ct_example e = ct_example_set_get(&out, b);
        REQUIRE(e.n == 4);
        CHECK(!memcmp(e.input_ids, want[b], sizeof want[b]));
    }
    CHECK(out.source[0] == 0 && out.source[1] == 0 && out.source[2] == 2);
    ct_example_set_free(&out);
    CHECK_OK(ct_group_texts(&in, 4, 1000, 99, &out, &lost, &err), &err);
    REQUIRE(out.n == 3);
    CHECK_EQ_INT(lost, 3);
    ct_example e = ct_example_set_get(&out, 2);
    CHECK(e.input_ids[0] == 99 && e.input_ids[1] == 10 && e.labels[0] == 99);
    ct_example_set_free(&out);
    ct_example_set_free(&in);
}

/* The whole build with the Qwen3 tokenizer: stage pt on c4_demo + wiki_demo (text + eos, grouped
 * into cutoff_len blocks; unpacked: one example per row, cut at cutoff_len), and the same data in
 * stage sft: every row skipped with its place (prompt-only rows are pre-training data). */
TEST(data_lf_pretrain_build) {
    const char *tokdir = ct_test_shared("tokenizers/qwen3");
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    if (!tokdir || ct_tokenizer_load(tokdir, &tok, &err)) {
        ct_test_skip("../shared/tokenizers/qwen3 absent");
        return;
    }
    const char *names[] = {"c4_demo", "wiki_demo"};
    ct_data_args a = {.dataset = names, .n_dataset = 2, .dataset_dir = ct_test_path("tests/fixtures/lf_data"),
                      .stage = "pt", .cutoff_len = 16, .max_samples = -1, .enable_thinking = CT_THINK_TRUE,
                      .mix_strategy = "concat", .on_bad_sample = "skip", .preprocessing_batch_size = 1000, .seed = 42};
    ct_dataset d;
    CHECK_OK(ct_dataset_build(&a, tok, NULL, &d, &err), &err);
    CHECK_EQ_INT(d.stats.read[0], 3);
    CHECK_EQ_INT(d.stats.read[1], 4);
    CHECK_MSG(strstr(d.stats.template_note, "stage pt"), "%s", d.stats.template_note);
    /* the concatenation of every row's ids + eos, cut into blocks of 16 */
    ct_ids all = {0};
    int32_t eos = ct_tokenizer_eos_id(tok);
    const char *texts[7] = {NULL};
    rows r = {0};
    CHECK_OK(read_entry("c4_demo", false, -1, NULL, &r, &err), &err);
    CHECK_OK(read_entry("wiki_demo", false, -1, NULL, &r, &err), &err);
    REQUIRE(r.n == 7);
    for (size_t i = 0; i < 7; i++) {
        texts[i] = r.convs[i].msgs[0].content;
        CHECK_OK(ct_tokenizer_encode(tok, texts[i], strlen(texts[i]), false, &all, &err), &err);
        ct_ids_push(&all, eos, &err);
    }
    CHECK_EQ_INT(d.train.n, all.n / 16);
    CHECK_EQ_INT(d.stats.group_dropped_tokens, all.n % 16);
    CHECK(d.train.n_tokens == d.train.n * 16 && !memcmp(d.train.ids, all.data, d.train.n_tokens * 4));
    for (size_t i = 0; i < d.train.n_tokens; i++) CHECK(d.train.labels[i] == d.train.ids[i]);
    ct_dataset_free(&d);
    /* packing off: a row per example, cut at cutoff_len; the empty wiki line is eos alone */
    a.packing = false, a.packing_set = true;
    CHECK_OK(ct_dataset_build(&a, tok, NULL, &d, &err), &err);
    CHECK_EQ_INT(d.train.n, 7);
    ct_example e = ct_example_set_get(&d.train, 4);
    CHECK(e.n == 1 && e.input_ids[0] == eos);
    CHECK(ct_example_set_get(&d.train, 0).n == 16);
    ct_dataset_free(&d);
    /* stage sft: no answers; every row skipped and the first ones named */
    a.stage = "sft";
    a.template_name = "qwen3_nothink";
    CHECK_OK(ct_dataset_build(&a, tok, NULL, &d, &err), &err);
    CHECK_EQ_INT(d.train.n, 0);
    CHECK_EQ_INT(d.stats.bad_rows.n, 7);
    CHECK_EQ_INT(d.stats.bad[0], 3);
    CHECK_EQ_INT(d.stats.dropped[CT_DROP_BAD], 7);
    char line[1200];
    CHECK_EQ_INT(ct_dataset_stats_bad_summary(&d.stats, line, sizeof line), 7);
    CHECK_MSG(strstr(line, "skipped 7 malformed rows") && strstr(line, "c4_demo.jsonl: row 1: the conversation must "
                                                                       "end with an answer") &&
                  strstr(line, "; ..."),
              "%s", line);
    ct_dataset_free(&d);
    a.on_bad_sample = "fail";
    CHECK(ct_dataset_build(&a, tok, NULL, &d, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "dataset 'c4_demo'") && strstr(err.msg, "c4_demo.jsonl: row 1"), "%s", err.msg);
    /* think_per_turn needs a template with think blocks */
    a.on_bad_sample = "skip", a.think_per_turn = true;
    CHECK(ct_dataset_build(&a, tok, NULL, &d, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "think_per_turn") && strstr(err.msg, "qwen3_nothink"), "%s", err.msg);
    /* tool_format: the template's own format only (LlamaFactory's override of it is not implemented) */
    a.think_per_turn = false, a.tool_format = "llama3";
    CHECK(ct_dataset_build(&a, tok, NULL, &d, &err) == CT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "tool_format: 'llama3' is not supported with template qwen3_nothink") &&
                  strstr(err.msg, "'qwen'"),
              "%s", err.msg);
    a.tool_format = "qwen";
    CHECK_OK(ct_dataset_build(&a, tok, NULL, &d, &err), &err);
    ct_dataset_free(&d);
    rows_free(&r);
    ct_ids_free(&all);
    ct_tokenizer_free(tok);
}

/* The data keys this part adds or changes: defaults, and bad values refused naming the file, the
 * line and the key (or the command-line flag). */
TEST(data_lf_config_keys) {
    ct_train_config c;
    ct_err err = {0};
    ct_train_config_init(&c);
    CHECK_STREQ(c.on_bad_sample, "skip");
    CHECK(!c.think_per_turn);
    CHECK_EQ_INT(c.preprocessing_batch_size, 1000);
    ct_data_args a;
    ct_train_config_data_args(&c, &a);
    CHECK_STREQ(a.on_bad_sample, "skip");
    CHECK_EQ_INT(a.preprocessing_batch_size, 1000);
    const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"dataset: x\nthink_per_turn: maybe\n", "keys.yaml:2: key 'think_per_turn': expected true or false, got 'maybe'"},
        {"preprocessing_batch_size: 0\n", "keys.yaml:1: key 'preprocessing_batch_size': must be >= 1, got 0"},
        {"preprocessing_batch_size: -3\n", "keys.yaml:1: key 'preprocessing_batch_size': must be >= 1, got -3"},
        {"preprocessing_batch_size: many\n", "keys.yaml:1: key 'preprocessing_batch_size': expected an integer"},
        {"on_bad_sample: ignore\n", "keys.yaml:1: key 'on_bad_sample': 'ignore' is not one of skip|fail"},
        {"on_bad_sample: true\n", "keys.yaml:1: key 'on_bad_sample': 'true' is not one of skip|fail"},
        {"tool_format: glm4\n", "keys.yaml:1: key 'tool_format': 'glm4' is not supported: ctune renders a template's "
                                 "own tool format only (qwen, qwen3_5, llama3; leave it unset for the template's)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/keys.yaml", ct_test_tmpdir());
        CHECK_OK(ct_write_file_atomic(path, bad[i].yaml, strlen(bad[i].yaml), &err), &err);
        ct_train_config_free(&c);
        ct_train_config_init(&c);
        CHECK_MSG(ct_train_config_load(&c, path, &err) != CT_OK && strstr(err.msg, bad[i].msg), "case %zu: %s", i,
                  err.msg);
    }
    /* a bare --think_per_turn is true (llamafactory-cli's style), so the value goes after '=' */
    char *args[] = {"--think_per_turn=sometimes"};
    CHECK(ct_train_config_apply_args(&c, 1, args, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "--think_per_turn: key 'think_per_turn'"), "%s", err.msg);
    char *args2[] = {"--preprocessing-batch-size=0"};
    CHECK(ct_train_config_apply_args(&c, 1, args2, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "preprocessing_batch_size': must be >= 1"), "%s", err.msg);
    /* a format some template renders passes the config (the data build checks it is the template's) */
    char *args3[] = {"tool_format=llama3", "--think_per_turn"};
    CHECK_OK(ct_train_config_apply_args(&c, 2, args3, &err), &err);
    CHECK_STREQ(c.tool_format, "llama3");
    CHECK(c.think_per_turn);
    ct_train_config_free(&c);
}
