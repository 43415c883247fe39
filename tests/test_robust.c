/* Robustness regressions: every crash, hang, leak or silently accepted bad input found by the
 * fuzzers in fuzz/ (docs/robustness.md) is kept here as its minimized input, plus fault
 * injection for the writers (full disk through /dev/full, short writes). */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/data.h"
#include "ctune/model.h"
#include "ctune/risk.h"
#include "harness.h"
#include "io/safetensors.h"

/* Parses one row; returns its status and leaves the message in *err. */
static ct_status row_status(const char *json, ct_format fmt, ct_err *err) {
    ct_conv c;
    memset(err, 0, sizeof *err);
    ct_status st = ct_conv_from_text(json, strlen(json), fmt, NULL, "rows.jsonl:7", &c, err);
    ct_conv_free(&c);
    return st;
}

/* fuzz_conv: pre-tokenized labels were cast to int32 (4294967196 became -100, masked) and
 * negative labels other than -100 were accepted and silently treated as masked. */
TEST(robust_tokens_labels_range) {
    ct_err err;
    CHECK_EQ_INT(row_status("{\"input_ids\": [1, 2], \"labels\": [-100, 2]}", CT_FORMAT_AUTO, &err), CT_OK);
    CHECK_EQ_INT(row_status("{\"input_ids\": [1, 2], \"labels\": [-100, 4294967196]}", CT_FORMAT_AUTO, &err),
                 CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "rows.jsonl:7") && strstr(err.msg, "labels[1]"));
    CHECK_EQ_INT(row_status("{\"input_ids\": [1, 2], \"labels\": [-5, 2]}", CT_FORMAT_TOKENS, &err), CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "labels[0]"));
    CHECK_EQ_INT(row_status("{\"input_ids\": [1, 2], \"labels\": [1, 2.5]}", CT_FORMAT_TOKENS, &err), CT_ERR_FORMAT);
}

/* fuzz_conv: an unknown role containing a newline made a two-line error message; every
 * ct_err message is now one line (control characters escaped). */
TEST(robust_error_messages_are_one_line) {
    ct_err err;
    CHECK_EQ_INT(row_status("{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}, "
                            "{\"role\": \"as\\nsistant\\t\\u0001\", \"content\": \"A\"}]}",
                            CT_FORMAT_AUTO, &err),
                 CT_ERR_FORMAT);
    CHECK(!strchr(err.msg, '\n') && !strchr(err.msg, '\t') && !strchr(err.msg, 1));
    CHECK_MSG(strstr(err.msg, "as\\nsistant\\t\\x01"), "message: %s", err.msg);
    ct_err_set(&err, CT_ERR_FORMAT, "%s", "a\nb");
    ct_err_prefix(&err, "x\r");
    CHECK_STREQ(err.msg, "x\\r: a\\nb");
    /* a message at the size limit stays NUL-terminated when escaping grows it */
    char big[CT_ERR_MSG_MAX + 8];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ct_err_set(&err, CT_ERR_FORMAT, "%s", big);
    CHECK(strlen(err.msg) < CT_ERR_MSG_MAX && !strchr(err.msg, '\n'));
}

/* ---- tokenized cache ---- */
typedef struct cbuf {
    unsigned char b[2048];
    size_t n;
} cbuf;
static void c64(cbuf *c, uint64_t v) { memcpy(c->b + c->n, &v, 8), c->n += 8; }
static void c32(cbuf *c, uint32_t v) { memcpy(c->b + c->n, &v, 4), c->n += 4; }

/* One source; train = one example [off0, off1) of 2 tokens with source `src`; empty val. */
static const char *write_cache(const char *name, uint64_t off0, uint64_t off1, int32_t src) {
    cbuf c = {.n = 0};
    memcpy(c.b, "CTDC", 4), c.n = 4;
    c32(&c, CT_CACHE_VERSION), c64(&c, 77);
    c64(&c, 1), c64(&c, 3), c64(&c, 1), c64(&c, 0);     /* 1 source: read 3, kept 1, bad 0 */
    for (int i = 0; i < CT_DROP_COUNT; i++) c64(&c, 0);
    c64(&c, 0), c64(&c, 0), c64(&c, 0);                   /* truncated, group-dropped tokens, bad rows */
    memset(c.b + c.n, 0, sizeof(((ct_bad_rows *)0)->first)), c.n += sizeof(((ct_bad_rows *)0)->first);
    c64(&c, 1), c64(&c, 2), c64(&c, off0), c64(&c, off1), c32(&c, (uint32_t)src);
    c32(&c, 5), c32(&c, 6), c32(&c, (uint32_t)-100), c32(&c, 6);
    float w[2] = {0, 1};
    memcpy(c.b + c.n, w, 8), c.n += 8;
    c64(&c, 0), c64(&c, 0), c64(&c, 0);
    c64(&c, ct_hash_bytes(0, c.b, c.n));
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", ct_test_tmpdir(), name);
    ct_err err = {0};
    CHECK_OK(ct_write_file_atomic(path, c.b, c.n, &err), &err);
    return path;
}

/* fuzz_cache: offsets were only checked at the end (offsets[n] == n_tokens), so a corrupt
 * cache with offsets [5, 2] or an unknown source index was a hit and later read out of bounds. */
TEST(robust_cache_offsets_and_sources) {
    ct_dataset d;
    bool hit = false;
    ct_err err = {0};
    CHECK_OK(ct_cache_read(write_cache("ok.bin", 0, 2, 0), 77, &d, &hit, &err), &err);
    CHECK(hit && d.train.n == 1 && d.train.n_tokens == 2 && d.val.n == 0);
    if (hit) ct_dataset_free(&d);
    const struct {
        uint64_t a, b;
        int32_t src;
    } bad[] = {{5, 2, 0}, {1, 2, 0}, {0, 2, 1}, {0, 2, -1}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.bin", i);
        ct_status st = ct_cache_read(write_cache(name, bad[i].a, bad[i].b, bad[i].src), 77, &d, &hit, &err);
        CHECK_EQ_INT(st, CT_ERR_FORMAT);
        CHECK(!hit && strstr(err.msg, name) && strstr(err.msg, "malformed"));
    }
}

/* dataset_info.json: num_samples of the wrong type was silently ignored (all rows used). */
TEST(robust_dataset_info_num_samples) {
    const char *dir = ct_test_tmpdir();
    char *p = ct_path_join(dir, "dataset_info.json");
    const char *json = "{\"a\": {\"file_name\": \"x.jsonl\", \"num_samples\": \"10\"},"
                       " \"b\": {\"file_name\": \"x.jsonl\", \"num_samples\": -3},"
                       " \"c\": {\"file_name\": \"x.jsonl\", \"num_samples\": null},"
                       " \"d\": {\"file_name\": \"x.jsonl\", \"num_samples\": 4}}";
    ct_err err = {0};
    CHECK_OK(ct_write_file_atomic(p, json, strlen(json), &err), &err);
    free(p);
    p = ct_path_join(dir, "x.jsonl");
    CHECK_OK(ct_write_file_atomic(p, "{\"text\": \"t\"}\n", 14, &err), &err);
    free(p);
    ct_dataset_info info;
    CHECK_EQ_INT(ct_dataset_info_find(dir, "a", &info, &err), CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "dataset_info.json") && strstr(err.msg, "'a'") && strstr(err.msg, "num_samples"));
    CHECK_EQ_INT(ct_dataset_info_find(dir, "b", &info, &err), CT_ERR_FORMAT);
    CHECK_OK(ct_dataset_info_find(dir, "c", &info, &err), &err);
    CHECK_EQ_INT(info.num_samples, -1);
    ct_dataset_info_free(&info);
    CHECK_OK(ct_dataset_info_find(dir, "d", &info, &err), &err);
    CHECK_EQ_INT(info.num_samples, 4);
    ct_dataset_info_free(&info);
}

/* ct_json_get_int cast any real to int64_t before checking it was integral: 1e300 (e.g.
 * "hidden_size": 1e300) was undefined behaviour (UBSan float-cast-overflow). */
TEST(robust_json_int_from_huge_real) {
    json_t *o = json_pack("{sf sf sf sf}", "a", 1e300, "b", -1e19, "c", 4096.0, "d", 2.5);
    int64_t v = 7;
    CHECK(!ct_json_get_int(o, "a", &v) && v == 7);
    CHECK(!ct_json_get_int(o, "b", &v) && v == 7);
    CHECK(ct_json_get_int(o, "c", &v) && v == 4096);
    CHECK(!ct_json_get_int(o, "d", &v));
    json_decref(o);
}

/* config.json with rms_norm_eps <= 0 or rope_theta <= 0 loaded fine and gave NaN losses
 * ("loss is not finite" blamed on the data file). */
TEST(robust_config_eps_theta) {
    const char *dir = ct_test_tmpdir();
    char *p = ct_path_join(dir, "config.json");
    static const char *const bad[] = {"\"rms_norm_eps\": -1", "\"rms_norm_eps\": 0", "\"rope_theta\": -10000",
                                      "\"rope_theta\": 0"};
    for (size_t i = 0; i < 4; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"model_type\": \"llama\", \"hidden_size\": 32, \"intermediate_size\": 64, "
                 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 128, %s}", bad[i]);
        ct_err err = {0};
        CHECK_OK(ct_write_file_atomic(p, json, strlen(json), &err), &err);
        ct_config cfg;
        CHECK_EQ_INT(ct_config_load(dir, &cfg, &err), CT_ERR_FORMAT);
        CHECK_MSG(strstr(err.msg, "config.json") && strstr(err.msg, i < 2 ? "rms_norm_eps" : "rope_theta"),
                  "%s: %s", bad[i], err.msg);
    }
    free(p);
}

/* ct_risk_eval_files on an empty eval file reported all-zero metrics as a valid result. */
TEST(robust_risk_eval_empty_data) {
    const char *dir = ct_test_tmpdir();
    char *d = ct_path_join(dir, "eval.jsonl"), *p = ct_path_join(dir, "pred.jsonl");
    ct_err err = {0};
    CHECK_OK(ct_write_file_atomic(d, "\n  \n", 4, &err), &err);
    CHECK_OK(ct_write_file_atomic(p, "", 0, &err), &err);
    ct_risk_eval_report r;
    ct_risk_eval_report_init(&r);
    CHECK_EQ_INT(ct_risk_eval_files(d, p, &r, &err), CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "eval.jsonl") && strstr(err.msg, "no eval records"));
    free(d);
    free(p);
}

/* fuzz_tokenizer_json: a TemplateProcessing special token id outside the vocab loaded fine
 * and encode(add_special) emitted it (later an out-of-range embedding row). */
TEST(robust_tokenizer_post_processor_id_in_vocab) {
    const char *dir = ct_test_tmpdir();
    char *p = ct_path_join(dir, "tokenizer.json");
    const char *json =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": []},"
        " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<X>\"}},"
        " {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<X>\": {\"id\": \"<X>\", \"ids\": [9]}}}}";
    ct_err err = {0};
    CHECK_OK(ct_write_file_atomic(p, json, strlen(json), &err), &err);
    free(p);
    ct_tokenizer *tok = NULL;
    CHECK_EQ_INT(ct_tokenizer_load(dir, &tok, &err), CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "tokenizer.json") && strstr(err.msg, "special_tokens[\"<X>\"].ids[0]") &&
                  strstr(err.msg, "not in the vocab"),
              "message: %s", err.msg);
    CHECK(tok == NULL);
}

/* fuzz_safetensors: a file with no tensors ("{}" header) called qsort(NULL, 0, ...) (UBSan:
 * null pointer passed as argument declared nonnull). It is a valid, empty file. */
TEST(robust_safetensors_no_tensors) {
    char *p = ct_path_join(ct_test_tmpdir(), "empty.safetensors");
    ct_err err = {0};
    CHECK_OK(ct_write_file_atomic(p, "\x02\0\0\0\0\0\0\0{}", 10, &err), &err);
    ct_st *st = NULL;
    CHECK_OK(ct_st_open(p, &st, &err), &err);
    if (st) {
        CHECK_EQ_INT(ct_st_count(st), 0);
        CHECK(ct_st_get(st, "x") == NULL);
        ct_st_close(st);
    }
    free(p);
}

/* fuzz_tokenizer_json: a word of characters outside a vocab without unk_token encodes to no
 * ids (as HF drops them); caching that empty result did pointer arithmetic on NULL (UBSan). */
TEST(robust_tokenizer_word_without_ids) {
    const char *dir = ct_test_tmpdir();
    char *p = ct_path_join(dir, "tokenizer.json");
    const char *json = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \" \": 1}, \"merges\": []},"
                       " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+|\\\\p{L}+\"},"
                       " \"behavior\": \"Isolated\", \"invert\": false}}";
    ct_err err = {0};
    CHECK_OK(ct_write_file_atomic(p, json, strlen(json), &err), &err);
    free(p);
    ct_tokenizer *tok = NULL;
    CHECK_OK(ct_tokenizer_load(dir, &tok, &err), &err);
    REQUIRE(tok);
    for (int round = 0; round < 2; round++) { /* second round hits the word cache */
        ct_ids ids = {0};
        CHECK_OK(ct_tokenizer_encode(tok, "xyz", 3, false, &ids, &err), &err);
        CHECK_EQ_INT(ids.n, 0);
        CHECK_OK(ct_tokenizer_encode(tok, "xyz a", 5, false, &ids, &err), &err);
        CHECK_EQ_INT(ids.n, 2);
        ct_ids_free(&ids);
    }
    ct_tokenizer_free(tok);
}
