/* Tokenizer API tests: stories260k prompt ids from llama2.c's run.c (reference.json), config
 * fields, decode details (skip_special, lossy UTF-8), streaming decode, batch encode, added-token
 * flags on a synthetic tokenizer, and clear errors for malformed tokenizer.json files. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/tokenizer.h"
#include "harness.h"

static ct_tokenizer *load_dir(const char *dir) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    CHECK_OK(ct_tokenizer_load(dir, &tok, &err), &err);
    return tok;
}

static ct_tokenizer *load_shared(const char *rel) {
    const char *dir = ct_test_shared(rel);
    if (!dir) {
        char why[256];
        snprintf(why, sizeof why, "../shared/%s not present", rel);
        ct_test_skip(why);
        return NULL;
    }
    return load_dir(dir);
}

static void check_ids(const ct_tokenizer *tok, const char *text, bool special, const int32_t *want,
                      size_t n, int line) {
    ct_ids ids = {0};
    ct_err err = {0};
    if (ct_tokenizer_encode(tok, text, strlen(text), special, &ids, &err)) {
        ct_test_fail(__FILE__, line, "encode(\"%s\") failed: %s", text, err.msg);
        return;
    }
    bool ok = ids.n == n;
    for (size_t i = 0; ok && i < n; i++) ok = ids.data[i] == want[i];
    if (!ok) {
        char got[512] = "";
        for (size_t i = 0; i < ids.n && strlen(got) < 480; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d", ids.data[i]);
        ct_test_fail(__FILE__, line, "encode(\"%s\") = [%s ], differs from the expected %zu ids", text,
                     got, n);
    }
    ct_ids_free(&ids);
}
#define CHECK_IDS(tok, text, special, ...)                                                   \
    do {                                                                                     \
        const int32_t _w[] = {__VA_ARGS__};                                                  \
        check_ids(tok, text, special, _w, sizeof _w / sizeof _w[0], __LINE__);               \
    } while (0)

static char *decode(const ct_tokenizer *tok, const int32_t *ids, size_t n, bool skip) {
    char *s = NULL;
    size_t len;
    ct_err err = {0};
    CHECK_OK(ct_tokenizer_decode(tok, ids, n, skip, &s, &len, &err), &err);
    return s;
}

TEST(tok_stories260k_reference_prompts) {
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k not present");
        return;
    }
    ct_tokenizer *tok = load_dir(dir);
    REQUIRE(tok);
    CHECK_IDS(tok, "Once upon a time", true, 1, 403, 407, 261, 378);
    json_t *ref = NULL;
    ct_err err = {0};
    char *path = ct_path_join(dir, "reference.json");
    CHECK_OK(ct_json_load_file(path, &ref, &err), &err);
    free(path);
    json_t *cases = json_object_get(ref, "cases");
    CHECK(json_array_size(cases) >= 8);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *prompt = json_string_value(json_object_get(c, "prompt"));
        json_t *want = json_object_get(c, "prompt_ids");
        ct_ids ids = {0};
        CHECK_OK(ct_tokenizer_encode(tok, prompt, strlen(prompt), true, &ids, &err), &err);
        bool ok = ids.n == json_array_size(want);
        for (size_t k = 0; ok && k < ids.n; k++) ok = ids.data[k] == json_integer_value(json_array_get(want, k));
        CHECK_MSG(ok, "reference.json case %zu (\"%s\"): prompt ids differ from run.c", i, prompt);
        /* generated ids decode to the reference text (prompt + continuation, BOS skipped) */
        json_t *gen = json_object_get(c, "generated_ids");
        ct_ids all = {0};
        for (size_t k = 0; k < ids.n; k++) ct_ids_push(&all, ids.data[k], &err);
        for (size_t k = 0; k < json_array_size(gen); k++)
            ct_ids_push(&all, (int32_t)json_integer_value(json_array_get(gen, k)), &err);
        char *text = decode(tok, all.data, all.n, true);
        const char *want_text = json_string_value(json_object_get(c, "text"));
        CHECK_MSG(text && want_text && !strcmp(text, want_text),
                  "case %zu: decode(prompt+generated) != reference text", i);
        free(text);
        ct_ids_free(&all);
        ct_ids_free(&ids);
    }
    json_decref(ref);
    /* config */
    CHECK_EQ_INT(ct_tokenizer_bos_id(tok), 1);
    CHECK_EQ_INT(ct_tokenizer_eos_id(tok), 2);
    CHECK_EQ_INT(ct_tokenizer_pad_id(tok), -1);
    CHECK(ct_tokenizer_add_bos(tok));
    CHECK_EQ_INT(ct_tokenizer_vocab_size(tok), 512);
    CHECK_EQ_INT(ct_tokenizer_model_max_length(tok), 512);
    CHECK_STREQ(ct_tokenizer_id_to_token(tok, 3), "<0x00>");
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "<unk>"), 0);
    /* byte fallback: a CJK character is not in the 512 vocab → its 3 UTF-8 bytes */
    CHECK_IDS(tok, "你", false, 410 /* ▁ */, 3 + 0xE4, 3 + 0xBD, 3 + 0xA0);
    /* ByteFallback decoder: an invalid byte run gives one U+FFFD per byte (HF) */
    const int32_t partial[] = {3 + 0xE4, 3 + 0xBD};
    char *s = decode(tok, partial, 2, false);
    CHECK_STREQ(s, "\xEF\xBF\xBD\xEF\xBF\xBD");
    free(s);
    ct_tokenizer_free(tok);
}

TEST(tok_qwen3_config_and_decode) {
    ct_tokenizer *tok = load_shared("tokenizers/qwen3");
    if (!tok) return;
    CHECK_IDS(tok, "Hello world", false, 9707, 1879);
    CHECK_IDS(tok, "Hello world", true, 9707, 1879); /* ByteLevel post-processor adds nothing */
    CHECK_EQ_INT(ct_tokenizer_bos_id(tok), -1);
    CHECK_EQ_INT(ct_tokenizer_eos_id(tok), 151645);
    CHECK_EQ_INT(ct_tokenizer_pad_id(tok), 151643);
    CHECK(!ct_tokenizer_add_bos(tok));
    CHECK_EQ_INT(ct_tokenizer_vocab_size(tok), 151669);
    CHECK_EQ_INT(ct_tokenizer_model_max_length(tok), 131072);
    const char *tpl = ct_tokenizer_chat_template(tok);
    CHECK(tpl && strstr(tpl, "<|im_start|>"));
    CHECK(ct_tokenizer_is_special(tok, 151644));
    CHECK(!ct_tokenizer_is_special(tok, 151667)); /* <think> is added but not special */
    CHECK(!ct_tokenizer_is_special(tok, 9707));
    CHECK_STREQ(ct_tokenizer_id_to_token(tok, 1879), "\xC4\xA0world"); /* "Ġworld" */
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "<|im_end|>"), 151645);
    CHECK(ct_tokenizer_id_to_token(tok, 200000) == NULL);

    const int32_t chat[] = {151644, 872, 198, 9707, 151645, 151667};
    char *s = decode(tok, chat, 6, false);
    CHECK_STREQ(s, "<|im_start|>user\nHello<|im_end|><think>");
    free(s);
    s = decode(tok, chat, 6, true); /* special dropped; <think> (not special) kept */
    CHECK_STREQ(s, "user\nHello<think>");
    free(s);
    const int32_t unknown[] = {9707, -5, 999999, 1879};
    s = decode(tok, unknown, 4, false); /* HF drops ids it does not know */
    CHECK_STREQ(s, "Hello world");
    free(s);

    /* U+20000 (CJK ext. B) is split into several byte-level tokens: its first token alone is
     * an incomplete UTF-8 sequence */
    ct_ids ids = {0};
    ct_err err = {0};
    CHECK_OK(ct_tokenizer_encode(tok, "\xF0\xA0\x80\x80", 4, false, &ids, &err), &err);
    CHECK_EQ_INT(ids.n, 3);
    s = decode(tok, ids.data, 1, false);
    CHECK_STREQ(s, "\xEF\xBF\xBD"); /* incomplete UTF-8 → one U+FFFD (from_utf8_lossy) */
    free(s);

    /* streaming decode: emits nothing until the emoji completes, and the pieces concatenate
     * to the full decode */
    const char *text = "Hi \xF0\xA0\x80\x80 😀 你好, world! <|im_end|>";
    ct_ids all = {0};
    CHECK_OK(ct_tokenizer_encode(tok, text, strlen(text), false, &all, &err), &err);
    ct_detok d;
    ct_detok_init(&d, false);
    char joined[256] = "";
    int nulls = 0;
    for (size_t i = 0; i < all.n; i++) {
        char *piece;
        size_t pl;
        CHECK_OK(ct_detok_step(&d, tok, all.data[i], &piece, &pl, &err), &err);
        if (!piece) nulls++;
        else strncat(joined, piece, sizeof joined - strlen(joined) - 1);
        free(piece);
    }
    char *rest;
    size_t rl;
    CHECK_OK(ct_detok_flush(&d, tok, &rest, &rl, &err), &err);
    if (rest) strncat(joined, rest, sizeof joined - strlen(joined) - 1);
    free(rest);
    ct_detok_free(&d);
    CHECK_STREQ(joined, text);
    CHECK(nulls >= 1);

    /* batch encode (2 threads) equals one-by-one */
    const char *texts[] = {"Hello world", "你好，世界", "<|im_start|>user\nhi<|im_end|>", "", "DON'T"};
    ct_ids outs[5] = {{0}};
    CHECK_OK(ct_tokenizer_encode_batch(tok, texts, NULL, 5, false, outs, 2, &err), &err);
    for (int i = 0; i < 5; i++) {
        ct_ids one = {0};
        CHECK_OK(ct_tokenizer_encode(tok, texts[i], strlen(texts[i]), false, &one, &err), &err);
        CHECK_MSG(one.n == outs[i].n && (!one.n || !memcmp(one.data, outs[i].data, one.n * 4)),
                  "batch text %d differs", i);
        ct_ids_free(&one);
        ct_ids_free(&outs[i]);
    }
    /* invalid UTF-8 input is an error naming the byte */
    ct_ids bad = {0};
    CHECK(ct_tokenizer_encode(tok, "ok\xff", 3, false, &bad, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "UTF-8") && strstr(err.msg, "byte 2"));
    ct_ids_free(&bad);
    ct_ids_free(&ids);
    ct_ids_free(&all);
    ct_tokenizer_free(tok);
}

/* ---- synthetic tokenizers written to a temp dir ---- */
static const char *write_tok(const char *sub, const char *json, const char *config) {
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", ct_test_tmpdir(), sub);
    ct_err err = {0};
    CHECK_OK(ct_mkdir_p(dir, &err), &err);
    char *p = ct_path_join(dir, "tokenizer.json");
    CHECK_OK(ct_write_file_atomic(p, json, strlen(json), &err), &err);
    free(p);
    if (config) {
        p = ct_path_join(dir, "tokenizer_config.json");
        CHECK_OK(ct_write_file_atomic(p, config, strlen(config), &err), &err);
        free(p);
    }
    return dir;
}

/* Char-level vocab a..e, space, merges "a b" → "ab", "ab c" → "abc". */
#define MINI_MODEL                                                                              \
    "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"d\": 3, \"e\": 4, " \
    "\" \": 5, \"ab\": 6, \"abc\": 7, \"<unk>\": 8}, \"merges\": [\"a b\", [\"ab\", \"c\"]], "     \
    "\"unk_token\": \"<unk>\", \"fuse_unk\": true}"

TEST(tok_synthetic_added_tokens_and_unk) {
    const char *json =
        "{\"version\": \"1.0\", " MINI_MODEL ", \"added_tokens\": ["
        "{\"id\": 9, \"content\": \"<X>\", \"special\": true, \"normalized\": false, \"lstrip\": true, \"rstrip\": true},"
        "{\"id\": 10, \"content\": \"dd\", \"special\": false, \"normalized\": false, \"single_word\": true},"
        "{\"id\": 11, \"content\": \"<XY>\", \"special\": true, \"normalized\": false}],"
        "\"normalizer\": null, \"pre_tokenizer\": null, \"decoder\": null, \"post_processor\": null}";
    const char *cfg = "{\"bos_token\": {\"content\": \"<XY>\"}, \"eos_token\": \"<X>\", "
                      "\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, "
                      "{\"name\": \"default\", \"template\": \"D\"}], \"add_bos_token\": true}";
    ct_tokenizer *tok = load_dir(write_tok("mini", json, cfg));
    REQUIRE(tok);
    CHECK_IDS(tok, "abc", false, 7);
    CHECK_IDS(tok, "abcab", false, 7, 6);
    CHECK_IDS(tok, "xyz a", false, 8, 5, 0); /* unknown chars fused into one <unk> */
    CHECK_IDS(tok, "a <X> b", false, 0, 9, 1); /* lstrip/rstrip swallow the spaces */
    CHECK_IDS(tok, "<XY>", false, 11);          /* longest match wins over <X> */
    CHECK_IDS(tok, "dd", false, 10);
    CHECK_IDS(tok, "a dd e", false, 0, 5, 10, 5, 4);
    CHECK_IDS(tok, "add", false, 0, 3, 3); /* single_word: glued to 'a' → not matched */
    CHECK_EQ_INT(ct_tokenizer_bos_id(tok), 11);
    CHECK_EQ_INT(ct_tokenizer_eos_id(tok), 9);
    CHECK_STREQ(ct_tokenizer_chat_template(tok), "D");
    const int32_t ids[] = {7, 5, 9, 0};
    char *s = decode(tok, ids, 4, false); /* no decoder: HF joins tokens with spaces */
    CHECK_STREQ(s, "abc   <X> a");
    free(s);
    ct_tokenizer_free(tok);
}

/* chat_template.jinja beside tokenizer_config.json wins over its chat_template (transformers
 * >= 4.47 writes and reads the template there), for a loaded tokenizer and for the file-only
 * reader; without tokenizer_config.json it is still found. */
TEST(tok_chat_template_jinja_sidecar_wins) {
    const char *json = "{\"version\": \"1.0\", " MINI_MODEL ", \"added_tokens\": [], \"normalizer\": null, "
                       "\"pre_tokenizer\": null, \"decoder\": null, \"post_processor\": null}";
    ct_err err = {0};
    const char *dir = write_tok("sidecar", json, "{\"chat_template\": \"inline\"}");
    char *p = ct_path_join(dir, "chat_template.jinja");
    CHECK_OK(ct_write_file_atomic(p, "side\n", 5, &err), &err);
    ct_tokenizer *tok = load_dir(dir);
    REQUIRE(tok);
    CHECK_STREQ(ct_tokenizer_chat_template(tok), "side\n");
    ct_tokenizer_free(tok);
    char *src = NULL;
    CHECK_OK(ct_tokenizer_read_chat_template(dir, &src, &err), &err);
    CHECK_STREQ(src, "side\n");
    free(src);
    char *cfg = ct_path_join(dir, "tokenizer_config.json");
    CHECK(remove(cfg) == 0);
    tok = load_dir(dir);
    REQUIRE(tok);
    CHECK_STREQ(ct_tokenizer_chat_template(tok), "side\n");
    ct_tokenizer_free(tok);
    CHECK(remove(p) == 0); /* neither file: no template */
    tok = load_dir(dir);
    REQUIRE(tok);
    CHECK(ct_tokenizer_chat_template(tok) == NULL);
    ct_tokenizer_free(tok);
    free(cfg);
    free(p);
}

/* transformers writes model_max_length = int(1e30) when a model sets none (VERY_LARGE_INTEGER;
 * Llama 3's tokenizer_config.json has it): beyond int64, it loads as "no limit". */
TEST(tok_config_model_max_length_1e30) {
    const char *json = "{\"version\": \"1.0\", " MINI_MODEL ", \"added_tokens\": [], \"normalizer\": null, "
                       "\"pre_tokenizer\": null, \"decoder\": null, \"post_processor\": null}";
    const char *dir = write_tok("big_mml", json,
                                "{\"model_max_length\": 1000000000000000019884624838656, \"chat_template\": \"T\"}");
    ct_tokenizer *tok = load_dir(dir);
    REQUIRE(tok);
    CHECK(ct_tokenizer_model_max_length(tok) == INT64_MAX);
    ct_tokenizer_free(tok);
    ct_err err = {0};
    char *src = NULL;
    CHECK_OK(ct_tokenizer_read_chat_template(dir, &src, &err), &err);
    CHECK_STREQ(src, "T");
    free(src);
}

TEST(tok_synthetic_metaspace_and_post) {
    const char *json =
        "{" MINI_MODEL ", \"added_tokens\": [{\"id\": 9, \"content\": \"<s>\", \"special\": true, \"normalized\": false}],"
        "\"normalizer\": null,"
        "\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \" \", \"prepend_scheme\": \"always\", \"split\": true},"
        "\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"},"
        "  {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}},"
        "   {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}],"
        "   \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [9], \"tokens\": [\"<s>\"]}}}]},"
        "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}}";
    ct_tokenizer *tok = load_dir(write_tok("meta", json, NULL));
    REQUIRE(tok);
    /* Metaspace with replacement ' ' prepends one and splits before each ' ' */
    CHECK_IDS(tok, "ab c", false, 5, 6, 5, 2);
    CHECK_IDS(tok, "ab c", true, 9, 5, 6, 5, 2, 9);
    CHECK_EQ_INT(ct_tokenizer_bos_id(tok), -1); /* no tokenizer_config.json */
    const int32_t ids[] = {5, 6, 5, 2};
    char *s = decode(tok, ids, 4, false);
    CHECK_STREQ(s, "ab c");
    free(s);
    ct_tokenizer_free(tok);
}

static void check_load_error(const char *sub, const char *json, ct_status want_code,
                             const char *want_substr, int line) {
    const char *dir = write_tok(sub, json, NULL);
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    ct_status st = ct_tokenizer_load(dir, &tok, &err);
    if (st != want_code || !strstr(err.msg, want_substr) || !strstr(err.msg, "tokenizer.json"))
        ct_test_fail(__FILE__, line, "%s: got status %d \"%s\", want %d with \"%s\"", sub, st, err.msg,
                     want_code, want_substr);
    CHECK(tok == NULL);
}
#define CHECK_LOAD_ERROR(sub, json, code, substr) check_load_error(sub, json, code, substr, __LINE__)

TEST(tok_malformed_tokenizer_json_errors) {
    CHECK_LOAD_ERROR("badjson", "{\"model\": {", CT_ERR_FORMAT, "invalid JSON");
    CHECK_LOAD_ERROR("nomodel", "{\"version\": \"1.0\"}", CT_ERR_FORMAT, "model");
    CHECK_LOAD_ERROR("unigram", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", CT_ERR_UNSUPPORTED,
                     "model.type: unsupported model 'Unigram'");
    CHECK_LOAD_ERROR("novocab", "{\"model\": {\"type\": \"BPE\", \"merges\": []}}", CT_ERR_FORMAT,
                     "model.vocab");
    CHECK_LOAD_ERROR("badmerge1",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b c\"]}}",
                     CT_ERR_FORMAT, "model.merges[0]");
    CHECK_LOAD_ERROR("badmerge2",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
                     CT_ERR_FORMAT, "model.merges[0]: token \"ab\" is not in the vocab");
    CHECK_LOAD_ERROR("badmerge3",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [42]}}",
                     CT_ERR_FORMAT, "model.merges[0]");
    CHECK_LOAD_ERROR("badid", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}",
                     CT_ERR_FORMAT, "model.vocab[\"a\"]");
    CHECK_LOAD_ERROR("badunk",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"unk_token\": \"<unk>\"}}",
                     CT_ERR_FORMAT, "model.unk_token");
    CHECK_LOAD_ERROR("badnorm",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                     " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"BertNormalizer\"}]}}",
                     CT_ERR_UNSUPPORTED, "normalizer.normalizers[1].type: unsupported normalizer 'BertNormalizer'");
    CHECK_LOAD_ERROR("badpretok",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                     " \"pre_tokenizer\": {\"type\": \"Whitespace\"}}",
                     CT_ERR_UNSUPPORTED, "pre_tokenizer.type: unsupported pre_tokenizer 'Whitespace'");
    CHECK_LOAD_ERROR("badregex",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                     " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}",
                     CT_ERR_FORMAT, "pre_tokenizer.pattern.Regex: bad regex");
    CHECK_LOAD_ERROR("baddecoder",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                     " \"decoder\": {\"type\": \"WordPiece\"}}",
                     CT_ERR_UNSUPPORTED, "decoder.type: unsupported decoder 'WordPiece'");
    CHECK_LOAD_ERROR("badpost",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                     " \"post_processor\": {\"type\": \"Frobnicate\"}}",
                     CT_ERR_UNSUPPORTED, "post_processor.type: unsupported post_processor 'Frobnicate'");
    CHECK_LOAD_ERROR("badadded",
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                     " \"added_tokens\": [{\"content\": \"<x>\"}]}",
                     CT_ERR_FORMAT, "added_tokens[0]");
    /* a missing directory names the file */
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    CHECK(ct_tokenizer_load("/nonexistent/dir", &tok, &err) == CT_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/dir/tokenizer.json"));
}
