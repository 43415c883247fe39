/* Dataset readers (alpaca, sharegpt, openai, tokens, text), dataset_info.json, bad rows, mixing,
 * val split, packing, batches and the tokenized cache (pre-tokenized data: no tokenizer needed). */
#include <stdlib.h>
#include <sys/stat.h>

#include "base/file.h"
#include "ctune/config.h"
#include "ctune/data.h"
#include "harness.h"

typedef struct collected {
    ct_conv convs[16];
    char where[16][256];
    size_t n;
} collected;

static ct_status collect(void *user, ct_conv *c, const char *where, ct_err *err) {
    (void)err;
    collected *col = user;
    if (col->n < 16) {
        col->convs[col->n] = *c;
        snprintf(col->where[col->n], 256, "%s", where);
        col->n++;
        ct_conv_init(c);
    }
    return CT_OK;
}

static void collected_free(collected *c) {
    for (size_t i = 0; i < c->n; i++) ct_conv_free(&c->convs[i]);
    c->n = 0;
}

static ct_status read_rows(const char *path, ct_format fmt, const ct_columns *cols, bool skip, ct_bad_rows *bad,
                           ct_conv_fn fn, void *user, ct_err *err) {
    ct_read_opts o = ct_read_opts_default();
    o.format = fmt;
    o.cols = cols;
    o.skip_bad = skip;
    o.bad = bad;
    return ct_read_dataset_file(path, &o, fn, user, err);
}

TEST(data_reader_alpaca_like_llamafactory) {
    collected col = {0};
    ct_err err = {0};
    CHECK_OK(read_rows(ct_test_path("tests/fixtures/data/alpaca.json"), CT_FORMAT_ALPACA, NULL, false, NULL,
                                  collect, &col, &err), &err);
    REQUIRE(col.n == 3);
    ct_conv *c = &col.convs[0];
    REQUIRE(c->n_msgs == 3);
    CHECK(c->msgs[0].role == CT_ROLE_SYSTEM);
    CHECK_STREQ(c->msgs[1].content, "Translate to French\nGood morning");
    CHECK_STREQ(c->msgs[2].content, "Bonjour");
    CHECK_STREQ(col.convs[1].msgs[0].content, "Say hi"); /* empty input: no "\n" */
    c = &col.convs[2];
    REQUIRE(c->n_msgs == 6);
    CHECK_STREQ(c->msgs[0].content, "Tell a story");
    CHECK_STREQ(c->msgs[3].content, "A dragon came.");
    CHECK_STREQ(c->msgs[4].content, "Continue\nand then?");
    collected_free(&col);
}

TEST(data_reader_sharegpt_tools_and_function_calls) {
    collected col = {0};
    ct_err err = {0};
    CHECK_OK(read_rows(ct_test_path("tests/fixtures/data/sharegpt.jsonl"), CT_FORMAT_SHAREGPT, NULL, false,
                                  NULL, collect, &col, &err), &err);
    REQUIRE(col.n == 3);
    CHECK_MSG(strstr(col.where[2], "sharegpt.jsonl: row 4") != NULL, "%s", col.where[2]); /* blank line 3 skipped */
    ct_conv *c = &col.convs[0];
    REQUIRE(c->n_msgs == 5);
    CHECK(c->msgs[0].role == CT_ROLE_SYSTEM);
    CHECK(c->msgs[2].role == CT_ROLE_ASSISTANT);
    REQUIRE(c->msgs[2].n_tool_calls == 1);
    CHECK_STREQ(c->msgs[2].tool_calls[0].name, "get_weather");
    CHECK_STREQ(c->msgs[2].tool_calls[0].arguments, "{\"city\": \"Rome\"}");
    CHECK(c->msgs[3].role == CT_ROLE_TOOL);
    REQUIRE(c->n_tools == 1);
    /* bare function specs are wrapped like LlamaFactory's qwen tool formatter */
    CHECK(strncmp(c->tools[0], "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"", 52) == 0);
    CHECK_STREQ(col.convs[1].msgs[0].content, "Math tutor.");
    collected_free(&col);
    /* bad shapes */
    ct_conv cv;
    const char *odd = "{\"conversations\":[{\"from\":\"human\",\"value\":\"a\"}]}";
    CHECK(ct_conv_from_text(odd, strlen(odd), CT_FORMAT_SHAREGPT, NULL, "f:7", &cv, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "f:7") && strstr(err.msg, "odd number"), "%s", err.msg);
    const char *alt = "{\"conversations\":[{\"from\":\"gpt\",\"value\":\"a\"},{\"from\":\"human\",\"value\":\"b\"}]}";
    CHECK(ct_conv_from_text(alt, strlen(alt), CT_FORMAT_SHAREGPT, NULL, "f:8", &cv, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "non-alternating"), "%s", err.msg);
    const char *role = "{\"conversations\":[{\"from\":\"bot\",\"value\":\"a\"}]}";
    CHECK(ct_conv_from_text(role, strlen(role), CT_FORMAT_SHAREGPT, NULL, "f:9", &cv, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "unknown role 'bot'"), "%s", err.msg);
    const char *miss = "{\"instruction\":\"x\"}";
    CHECK(ct_conv_from_text(miss, strlen(miss), CT_FORMAT_ALPACA, NULL, "f:10", &cv, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "missing column 'output'"), "%s", err.msg);
}

TEST(data_reader_openai_think_and_registry) {
    ct_err err = {0};
    ct_dataset_info info;
    const char *dir = ct_test_path("tests/fixtures/data");
    CHECK_OK(ct_dataset_info_find(dir, "demo_openai", &info, &err), &err);
    collected col = {0};
    CHECK_OK(read_rows(info.path, info.format, &info.cols, false, NULL, collect, &col, &err), &err);
    REQUIRE(col.n == 2);
    CHECK_STREQ(col.convs[0].msgs[2].reasoning, "R");
    ct_conv *c = &col.convs[1];
    REQUIRE(c->n_msgs == 4);
    CHECK_STREQ(c->msgs[1].content, "");
    REQUIRE(c->msgs[1].n_tool_calls == 1);
    CHECK(c->msgs[1].tool_calls[0].args_is_string);
    CHECK(c->msgs[2].role == CT_ROLE_TOOL);
    CHECK_NEAR(c->msgs[3].weight, 0.5, 0);
    collected_free(&col);
    ct_dataset_info_free(&info);
    CHECK(ct_dataset_info_find(dir, "remote", &info, &err) == CT_ERR_UNSUPPORTED);
    CHECK(ct_dataset_info_find(dir, "demo_alpaka", &info, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "did you mean 'demo_alpaca'"), "%s", err.msg);
    /* think split as Qwen3's template does */
    char *r = NULL, *rest = NULL;
    CHECK(ct_split_think("<think>\nabc\n</think>\n\nanswer", &r, &rest));
    CHECK_STREQ(r, "abc");
    CHECK_STREQ(rest, "answer");
    free(r);
    free(rest);
    CHECK(!ct_split_think("no think", &r, &rest));
}

TEST(data_reader_bad_lines_fail_or_skip) {
    ct_err err = {0};
    collected col = {0};
    const char *p = ct_test_path("tests/fixtures/data/bad.jsonl");
    CHECK(read_rows(p, CT_FORMAT_AUTO, NULL, false, NULL, collect, &col, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "bad.jsonl: row 2"), "%s", err.msg);
    collected_free(&col);
    ct_bad_rows bad = {0};
    CHECK_OK(read_rows(p, CT_FORMAT_AUTO, NULL, true, &bad, collect, &col, &err), &err);
    CHECK_EQ_INT(col.n, 2);
    CHECK_EQ_INT(bad.n, 3);
    CHECK_MSG(strstr(bad.first[0], "bad.jsonl: row 2: invalid JSON"), "%s", bad.first[0]);
    CHECK_MSG(strstr(bad.first[1], "bad.jsonl: row 3: message 0: unknown role 'wizard'"), "%s", bad.first[1]);
    CHECK_MSG(strstr(bad.first[2], "bad.jsonl: row 4: message 1 (user): non-alternating turns"), "%s", bad.first[2]);
    CHECK_STREQ(col.convs[1].msgs[0].content, "ok2");
    collected_free(&col);
}

TEST(data_mix_order_strategies) {
    ct_err err = {0};
    size_t counts[2] = {3, 5};
    int32_t *src;
    size_t *idx, n;
    CHECK_OK(ct_mix_order(counts, 2, CT_MIX_CONCAT, NULL, 1, &src, &idx, &n, &err), &err);
    CHECK_EQ_INT(n, 8);
    CHECK_EQ_INT(src[3], 1);
    CHECK_EQ_INT(idx[3], 0);
    free(src), free(idx);
    CHECK_OK(ct_mix_order(counts, 2, CT_MIX_INTERLEAVE_UNDER, NULL, 1, &src, &idx, &n, &err), &err);
    CHECK_EQ_INT(n, 5); /* a0 b0 a1 b1 a2: stops when dataset 0 is exhausted */
    CHECK_EQ_INT(src[4], 0);
    free(src), free(idx);
    CHECK_OK(ct_mix_order(counts, 2, CT_MIX_INTERLEAVE_OVER, NULL, 1, &src, &idx, &n, &err), &err);
    CHECK_EQ_INT(n, 10); /* until b is exhausted once; a restarts */
    CHECK_EQ_INT(src[6], 0);
    CHECK_EQ_INT(idx[6], 0);
    free(src), free(idx);
    double probs[2] = {0.9, 0.1};
    size_t big[2] = {1000, 1000};
    CHECK_OK(ct_mix_order(big, 2, CT_MIX_INTERLEAVE_UNDER, probs, 7, &src, &idx, &n, &err), &err);
    size_t a = 0;
    for (size_t i = 0; i < n; i++) a += src[i] == 0;
    CHECK_EQ_INT(a, 1000); /* dataset 0 is drawn most and exhausts first */
    CHECK(n > 1000 && n < 1250);
    int32_t *src2;
    size_t *idx2, n2;
    CHECK_OK(ct_mix_order(big, 2, CT_MIX_INTERLEAVE_UNDER, probs, 7, &src2, &idx2, &n2, &err), &err);
    CHECK(n2 == n && !memcmp(src, src2, n * sizeof *src)); /* seeded */
    free(src), free(idx), free(src2), free(idx2);
}

static void tok_config(ct_train_config *c, const char *datasets) {
    ct_err err = {0};
    ct_train_config_init(c);
    ct_train_config_set(c, "dataset", datasets, NULL, &err);
    ct_train_config_set(c, "dataset_dir", ct_test_path("tests/fixtures/data"), NULL, &err);
    ct_train_config_set(c, "template", "qwen", NULL, &err);
    ct_train_config_set(c, "cutoff_len", "64", NULL, &err);
}

/* ct_dataset_build on the data arguments of c (tok NULL: the tok_* fixtures are pre-tokenized). */
static ct_status build(const ct_train_config *c, const char *cache, ct_dataset *d, ct_err *err) {
    ct_data_args a;
    ct_train_config_data_args(c, &a);
    return ct_dataset_build(&a, NULL, cache, d, err);
}

TEST(data_build_split_pack_batch_cache) {
    ct_train_config cfg;
    ct_err err = {0};
    tok_config(&cfg, "tok_a,tok_b");
    ct_train_config_set(&cfg, "val_size", "0.1", NULL, &err);
    ct_dataset d;
    const char *cache = ct_test_tmpdir();
    CHECK_OK(build(&cfg, cache, &d, &err), &err);
    CHECK_EQ_INT(d.stats.read[0], 30);
    CHECK_EQ_INT(d.stats.read[1], 10); /* num_samples: 10 */
    CHECK_EQ_INT(d.val.n, 4);          /* ceil(0.1 * 40) */
    CHECK_EQ_INT(d.train.n, 36);
    CHECK(!d.stats.from_cache);
    /* packing: every sequence fits, every example appears once */
    ct_pack_plan plan;
    CHECK_OK(ct_pack(&d.train, 64, &plan, &err), &err);
    CHECK(plan.n_seqs < d.train.n);
    size_t *seen = calloc(d.train.n, sizeof *seen);
    for (size_t s = 0; s < plan.n_seqs; s++) {
        size_t len = 0;
        for (size_t m = plan.seq_off[s]; m < plan.seq_off[s + 1]; m++) {
            size_t e = plan.members[m];
            seen[e]++;
            len += d.train.offsets[e + 1] - d.train.offsets[e];
        }
        CHECK(len <= 64);
    }
    for (size_t i = 0; i < d.train.n; i++) CHECK_EQ_INT(seen[i], 1);
    free(seen);
    /* packed batch vs unpacked rows: same tokens, targets and positions per sample */
    size_t row = 0;
    ct_batch pb;
    CHECK_OK(ct_batch_make(&d.train, &plan, &row, 1, 64, 0, &pb, &err), &err);
    size_t t = 0, trained = 0;
    for (size_t m = plan.seq_off[0]; m < plan.seq_off[1]; m++) {
        size_t e = plan.members[m];
        ct_batch ub;
        CHECK_OK(ct_batch_make(&d.train, NULL, &e, 1, 0, 0, &ub, &err), &err);
        for (size_t k = 0; k < ub.T; k++, t++) {
            CHECK_EQ_INT(pb.input_ids[t], ub.input_ids[k]);
            CHECK_EQ_INT(pb.labels[t], ub.labels[k]);
            CHECK_EQ_INT(pb.position_ids[t], (int32_t)k);
            CHECK_EQ_INT(pb.segment_ids[t], (int32_t)(m - plan.seq_off[0] + 1));
        }
        CHECK_EQ_INT(ub.labels[0], CT_IGNORE_INDEX);
        trained += ub.n_trained;
        ct_batch_free(&ub);
    }
    CHECK_EQ_INT(pb.n_trained, trained);
    for (; t < 64; t++) CHECK(pb.segment_ids[t] == 0 && pb.labels[t] == CT_IGNORE_INDEX);
    ct_batch_free(&pb);
    ct_pack_plan_free(&plan);
    /* second build: from the cache, identical */
    ct_dataset d2;
    CHECK_OK(build(&cfg, cache, &d2, &err), &err);
    CHECK(d2.stats.from_cache);
    CHECK_EQ_INT(d2.train.n, d.train.n);
    CHECK_EQ_INT(d2.train.n_tokens, d.train.n_tokens);
    CHECK(!memcmp(d2.train.ids, d.train.ids, d.train.n_tokens * 4));
    CHECK(!memcmp(d2.val.labels, d.val.labels, d.val.n_tokens * 4));
    ct_dataset_free(&d2);
    /* data arguments written by hand (no config) with the same values: same key, same cache file */
    const char *names[] = {"tok_a", "tok_b"};
    ct_data_args a = {.dataset = names, .n_dataset = 2, .dataset_dir = ct_test_path("tests/fixtures/data"),
                      .template_name = "qwen", .stage = "sft", .cutoff_len = 64, .max_samples = -1,
                      .val_size = 0.1, .enable_thinking = CT_THINK_TRUE, .mix_strategy = "concat",
                      .on_bad_sample = "skip", .preprocessing_batch_size = 1000, .seed = 42};
    CHECK_OK(ct_dataset_build(&a, NULL, cache, &d2, &err), &err);
    CHECK(d2.stats.from_cache);
    CHECK_EQ_INT(d2.train.n, d.train.n);
    CHECK_STREQ(d2.stats.template_note, "template qwen (from config)");
    ct_dataset_free(&d2);
    a.overwrite_cache = true; /* re-encodes: the same examples */
    CHECK_OK(ct_dataset_build(&a, NULL, cache, &d2, &err), &err);
    CHECK(!d2.stats.from_cache);
    CHECK_EQ_INT(d2.train.n_tokens, d.train.n_tokens);
    CHECK(!memcmp(d2.train.ids, d.train.ids, d.train.n_tokens * 4));
    ct_dataset_free(&d2);
    /* a config change misses the cache */
    ct_train_config_set(&cfg, "cutoff_len", "16", NULL, &err);
    CHECK_OK(build(&cfg, cache, &d2, &err), &err);
    CHECK(!d2.stats.from_cache);
    CHECK(d2.stats.n_truncated > 0);
    for (size_t i = 0; i < d2.train.n; i++) CHECK(d2.train.offsets[i + 1] - d2.train.offsets[i] <= 16);
    ct_dataset_free(&d2);
    /* a corrupted cache file is an error naming it */
    ct_train_config_set(&cfg, "cutoff_len", "64", NULL, &err);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "for f in %s/*.ctdc; do printf 'X' | dd of=$f bs=1 seek=100 conv=notrunc 2>/dev/null; done", cache);
    CHECK(system(cmd) == 0);
    CHECK(build(&cfg, cache, &d2, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "checksum"), "%s", err.msg);
    ct_dataset_free(&d);
    ct_train_config_free(&cfg);
}

TEST(data_infer_seqlen_matches_llamafactory) {
    size_t s, t;
    ct_infer_seqlen(100, 20, 64, &s, &t); /* short target: source truncated */
    CHECK_EQ_INT(t, 20);
    CHECK_EQ_INT(s, 44);
    ct_infer_seqlen(10, 100, 64, &s, &t); /* short source: target gets the rest */
    CHECK_EQ_INT(s, 10);
    CHECK_EQ_INT(t, 54);
    ct_infer_seqlen(100, 300, 64, &s, &t); /* both long: proportional */
    CHECK_EQ_INT(t, 48);
    CHECK_EQ_INT(s, 16);
    ct_infer_seqlen(5, 5, 64, &s, &t);
    CHECK(s == 5 && t == 5);
}
