/* Tokenizer golden tests: ids and decoded text must equal those of the JS reference port of HF
 * tokenizers (tests/gen/node/make_tok_fixtures.mjs) for a committed corpus, on the Qwen3
 * byte-level BPE and the stories260k SentencePiece-style BPE (byte fallback). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/file.h"
#include "ctune/tokenizer.h"
#include "harness.h"

static ct_tokenizer *load_shared(const char *rel) {
    const char *dir = ct_test_shared(rel);
    if (!dir) {
        char why[256];
        snprintf(why, sizeof why, "../shared/%s not present", rel);
        ct_test_skip(why);
        return NULL;
    }
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    CHECK_OK(ct_tokenizer_load(dir, &tok, &err), &err);
    return tok;
}

static bool ids_equal(const ct_ids *a, const json_t *b) {
    if (!json_is_array(b) || a->n != json_array_size(b)) return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->data[i] != json_integer_value(json_array_get(b, i))) return false;
    return true;
}

static void print_ids(const char *what, const ct_ids *ids) {
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < ids->n && i < 40; i++) fprintf(stderr, " %d", ids->data[i]);
    fprintf(stderr, "\n");
}

/* Runs the corpus; returns the number of texts checked. */
static size_t run_corpus(const ct_tokenizer *tok, const char *fixture, bool check_nfc_roundtrip) {
    char *buf = NULL;
    size_t len = 0;
    ct_err err = {0};
    if (ct_read_file(ct_test_path(fixture), &buf, &len, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return 0;
    }
    size_t n = 0, bad = 0;
    char *line = buf;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        json_error_t je;
        json_t *j = json_loadb(line, ll, JSON_ALLOW_NUL, &je);
        line = nl ? nl + 1 : NULL;
        if (!j) {
            CHECK_MSG(0, "%s: bad fixture line: %s", fixture, je.text);
            break;
        }
        n++;
        const json_t *jt = json_object_get(j, "text");
        const char *text = json_string_value(jt);
        size_t tl = json_string_length(jt);
        ct_ids ids = {0}, ids_sp = {0};
        CHECK_OK(ct_tokenizer_encode(tok, text, tl, false, &ids, &err), &err);
        CHECK_OK(ct_tokenizer_encode(tok, text, tl, true, &ids_sp, &err), &err);
        bool ok = ids_equal(&ids, json_object_get(j, "ids")) &&
                  ids_equal(&ids_sp, json_object_get(j, "ids_special"));
        char *dec = NULL;
        size_t dl = 0;
        CHECK_OK(ct_tokenizer_decode(tok, ids.data, ids.n, false, &dec, &dl, &err), &err);
        const json_t *jd = json_object_get(j, "decoded");
        bool dec_ok = dec && dl == json_string_length(jd) && !memcmp(dec, json_string_value(jd), dl);
        bool nfc_ok = true;
        if (check_nfc_roundtrip && dec) {
            utf8proc_uint8_t *nfc = NULL;
            utf8proc_ssize_t nn = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)tl,
                                               &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            nfc_ok = nn >= 0 && (size_t)nn == dl && !memcmp(nfc, dec, dl);
            free(nfc);
        }
        if (!ok || !dec_ok || !nfc_ok) {
            if (bad++ < 8) {
                char *shown = json_dumps(jt, JSON_ENCODE_ANY);
                ct_test_fail(__FILE__, __LINE__, "%s: text %s: ids %s, decode %s, nfc round trip %s",
                             fixture, shown, ok ? "ok" : "DIFFER", dec_ok ? "ok" : "DIFFERS",
                             nfc_ok ? "ok" : "DIFFERS");
                print_ids("got     ", &ids);
                char *want = json_dumps(json_object_get(j, "ids"), 0);
                fprintf(stderr, "    expected: %s\n    decoded: \"%s\"\n", want, dec ? dec : "");
                free(want);
                free(shown);
            }
        }
        free(dec);
        ct_ids_free(&ids);
        ct_ids_free(&ids_sp);
        json_decref(j);
    }
    free(buf);
    CHECK_MSG(bad == 0, "%s: %zu of %zu texts differ from the reference", fixture, bad, n);
    return n;
}

TEST(tok_qwen3_corpus_matches_reference) {
    ct_tokenizer *tok = load_shared("tokenizers/qwen3");
    if (!tok) return;
    size_t n = run_corpus(tok, "tests/fixtures/tok/qwen3_corpus.jsonl", true);
    CHECK_MSG(n >= 200, "corpus has %zu texts, want >= 200", n);
    ct_tokenizer_free(tok);
}

/* A tokenizer.json shaped like Qwen3.5's (NFC; Split with the Qwen3.5 regex, whose letter runs take
 * combining marks \p{M}; byte-level BPE; added tokens from 248044) with a small learned vocabulary
 * (tests/gen/node/make_qwen3_5_tok_fixtures.mjs): the real one is not on the npm registry. Six of
 * the texts tokenize differently under the Qwen3 regex, so this pins the \p{M} handling. */
TEST(tok_qwen3_5_structure_matches_reference) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    CHECK_OK(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err), &err);
    if (!tok) return;
    size_t n = run_corpus(tok, "tests/fixtures/tok/qwen3_5-synth_corpus.jsonl", true);
    CHECK_MSG(n >= 25, "corpus has %zu texts, want >= 25", n);
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "<|endoftext|>"), 248044);
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "<|im_start|>"), 248045);
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "<think>"), 248068);
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "</think>"), 248069);
    CHECK_EQ_INT(ct_tokenizer_eos_id(tok), 248046);
    CHECK_EQ_INT(ct_tokenizer_pad_id(tok), 248044);
    CHECK(ct_tokenizer_is_special(tok, 248046) && !ct_tokenizer_is_special(tok, 248068));
    CHECK(!ct_tokenizer_add_bos(tok));
    ct_tokenizer_free(tok);
}

TEST(tok_stories260k_corpus_matches_reference) {
    ct_tokenizer *tok = load_shared("models/stories260k");
    if (!tok) return;
    size_t n = run_corpus(tok, "tests/fixtures/tok/stories260k_corpus.jsonl", false);
    CHECK_MSG(n >= 200, "corpus has %zu texts, want >= 200", n);
    ct_tokenizer_free(tok);
}
