/* Tokenizers loaded from GGUF metadata (src/tok/gguf_tok.c): a directory's tokenizer written by
 * ctune's exporter (tok/gguf_vocab.c) and loaded back must be the directory's tokenizer: ids of
 * ct_tokenizer_encode (with and without special tokens) and ct_tokenizer_encode_text on a varied
 * text set, decode with and without skip_special, the id ↔ token table, special ids, add_bos,
 * clean-up and the chat template. Qwen3 and stories260k from ../shared, Llama 3.1 from .cache
 * (scripts/fetch_llama3_1_tokenizer.sh), the Qwen3.5-structured fixture from tests/fixtures.
 * Also the refusals: other tokenizer models, unknown pre-tokenizers, missing keys, scores that do
 * not order the merges: one line naming the file and the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/tokenizer.h"
#include "harness.h"
#include "io/gguf.h"
#include "tok/gguf_vocab.h"
#include "tok/tok_internal.h"

static const char *k_texts[] = {
    "Hello world",
    "",
    " ",
    "   leading and trailing spaces   ",
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    "line one\nline two\n\n\nline five\r\nCRLF\ttab\t\ttabs",
    "digits 1 12 123 1234 12345678901234567890 3.14159 -42 1e10",
    "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xef\xbc\x81 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7\xe3\x81\x99", /* 你好，世界！ 日本語です */
    "emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 end",
    "combining e\xcc\x81 \xc3\xa9 caf\xc3\xa9 na\xc3\xafve \xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\x82\xe0\xa4\xa6\xe0\xa5\x80",
    "I'm you're he'LL WE'VE they'd it's",
    "code: def f(x):\n    return {\"a\": [1, 2]}  # comment\n",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>",
    "<|endoftext|>text after<|endoftext|>",
    "<s> bos inside </s> and <unk> too",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "a<s>b</s>c",
    "https://example.com/path?q=1&r=two#frag",
    "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85 \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", /* Arabic, Korean */
    "\x01\x02 control \x7f chars",
    "      \n\n      \t\n",
};

/* Writes DIR's tokenizer as GGUF metadata (padded to rows) to TMP/name.gguf. */
static const char *write_gguf(const char *dir, const char *name, int32_t rows, char *path, size_t cap) {
    ct_gguf_writer *w = NULL;
    ct_err err = {0};
    snprintf(path, cap, "%s/%s.gguf", ct_test_tmpdir(), name);
    ct_gguf_vocab_opts o = {.dir = dir, .vocab_size = rows, .fallback_eos = -1, .fallback_bos = -1};
    ct_status st = ct_gguf_writer_init(&w, &err);
    if (!st) st = ct_gguf_set_str(w, "general.architecture", "llama", &err);
    if (!st) st = ct_gguf_vocab_add(w, &o, NULL, &err);
    if (!st) st = ct_gguf_write(w, path, &err);
    ct_gguf_writer_free(w);
    if (st) ct_test_fail(__FILE__, __LINE__, "writing %s: %s", path, err.msg);
    return st ? NULL : path;
}

static bool ids_eq(const ct_ids *a, const ct_ids *b) {
    return a->n == b->n && (!a->n || !memcmp(a->data, b->data, a->n * sizeof *a->data));
}

static void check_decode(const ct_tokenizer *a, const ct_tokenizer *b, const int32_t *ids, size_t n, bool skip,
                         const char *what) {
    char *sa = NULL, *sb = NULL;
    size_t la = 0, lb = 0;
    ct_err ea = {0}, eb = {0};
    ct_status xa = ct_tokenizer_decode(a, ids, n, skip, &sa, &la, &ea);
    ct_status xb = ct_tokenizer_decode(b, ids, n, skip, &sb, &lb, &eb);
    CHECK_MSG(xa == xb && (xa || (la == lb && !memcmp(sa, sb, la))),
              "%s: decode(skip_special=%d) differs: dir \"%s\", gguf \"%s\"", what, skip, sa ? sa : ea.msg,
              sb ? sb : eb.msg);
    free(sa);
    free(sb);
}

/* Whether token id's special flag may differ: HF non-special added tokens that look like <|...|>
 * are CONTROL in a GGUF (llama.cpp's convert_hf_to_gguf does the same), so they load special. */
static bool special_may_differ(const ct_tokenizer *dir, const ct_tokenizer *gg, int32_t id) {
    const char *t = ct_tokenizer_id_to_token(dir, id);
    size_t n = t ? strlen(t) : 0;
    return !ct_tokenizer_is_special(dir, id) && ct_tokenizer_is_special(gg, id) && n >= 4 && !strncmp(t, "<|", 2) &&
           !strcmp(t + n - 2, "|>");
}

/* The whole comparison; returns the number of ids whose special flag differs (allowed kind). */
static int compare(const char *dir, const char *gguf) {
    ct_tokenizer *a = NULL, *b = NULL;
    ct_err err = {0};
    CHECK_OK(ct_tokenizer_load(dir, &a, &err), &err);
    CHECK_OK(ct_tokenizer_load(gguf, &b, &err), &err);
    int flips = 0;
    if (!a || !b) goto done;
    CHECK_EQ_INT(ct_tokenizer_vocab_size(b), ct_tokenizer_vocab_size(a));
    CHECK_EQ_INT(ct_tokenizer_bos_id(b), ct_tokenizer_bos_id(a));
    CHECK_EQ_INT(ct_tokenizer_eos_id(b), ct_tokenizer_eos_id(a));
    CHECK_EQ_INT(ct_tokenizer_pad_id(b), ct_tokenizer_pad_id(a));
    CHECK_EQ_INT(b->unk_id, a->unk_id);
    CHECK_EQ_INT(ct_tokenizer_add_bos(b), ct_tokenizer_add_bos(a));
    CHECK_EQ_INT(b->add_eos, a->add_eos);
    CHECK_EQ_INT(b->clean_up_spaces, a->clean_up_spaces);
    const char *ta = ct_tokenizer_chat_template(a), *tb = ct_tokenizer_chat_template(b);
    CHECK_MSG((!ta && !tb) || (ta && tb && !strcmp(ta, tb)), "chat templates differ (dir %s, gguf %s)",
              ta ? "set" : "none", tb ? "set" : "none");
    char *ra = NULL, *rb = NULL;
    CHECK_OK(ct_tokenizer_read_chat_template(dir, &ra, &err), &err);
    CHECK_OK(ct_tokenizer_read_chat_template(gguf, &rb, &err), &err);
    CHECK_MSG((!ra && !rb) || (ra && rb && !strcmp(ra, rb)), "ct_tokenizer_read_chat_template differs");
    free(ra);
    free(rb);
    int32_t n = ct_tokenizer_vocab_size(a);
    int bad_tok = 0, bad_special = 0;
    for (int32_t id = 0; id < n && id < ct_tokenizer_vocab_size(b); id++) {
        const char *x = ct_tokenizer_id_to_token(a, id), *y = ct_tokenizer_id_to_token(b, id);
        if ((!x) != (!y) || (x && strcmp(x, y))) {
            if (bad_tok++ < 3)
                ct_test_fail(__FILE__, __LINE__, "id %d: dir token \"%s\", gguf \"%s\"", id, x ? x : "(none)",
                             y ? y : "(none)");
        } else if (x && ct_tokenizer_token_to_id(b, x) != ct_tokenizer_token_to_id(a, x)) {
            if (bad_tok++ < 3)
                ct_test_fail(__FILE__, __LINE__, "token_to_id(\"%s\"): dir %d, gguf %d", x,
                             ct_tokenizer_token_to_id(a, x), ct_tokenizer_token_to_id(b, x));
        }
        if (ct_tokenizer_is_special(a, id) != ct_tokenizer_is_special(b, id)) {
            if (special_may_differ(a, b, id)) flips++;
            else if (bad_special++ < 3)
                ct_test_fail(__FILE__, __LINE__, "id %d \"%s\": special %d in dir, %d in gguf", id, x ? x : "",
                             ct_tokenizer_is_special(a, id), ct_tokenizer_is_special(b, id));
        }
    }
    CHECK_EQ_INT(bad_tok, 0);
    CHECK_EQ_INT(bad_special, 0);
    for (size_t i = 0; i < sizeof k_texts / sizeof k_texts[0]; i++) {
        const char *s = k_texts[i];
        for (int mode = 0; mode < 3; mode++) {
            ct_ids ia = {0}, ib = {0};
            ct_err e1 = {0}, e2 = {0};
            ct_status sa = mode == 2 ? ct_tokenizer_encode_text(a, s, strlen(s), &ia, &e1)
                                     : ct_tokenizer_encode(a, s, strlen(s), mode == 1, &ia, &e1);
            ct_status sb = mode == 2 ? ct_tokenizer_encode_text(b, s, strlen(s), &ib, &e2)
                                     : ct_tokenizer_encode(b, s, strlen(s), mode == 1, &ib, &e2);
            CHECK_MSG(!sa && !sb, "text %zu: encode failed: %s / %s", i, e1.msg, e2.msg);
            CHECK_MSG(ids_eq(&ia, &ib), "text %zu (\"%.40s\"), %s: dir %zu ids, gguf %zu ids (or different ids)", i, s,
                      mode == 2 ? "encode_text" : mode ? "encode(add_special)" : "encode", ia.n, ib.n);
            if (mode == 2) {
                bool flip = false;
                for (size_t k = 0; k < ia.n; k++) flip |= special_may_differ(a, b, ia.data[k]);
                check_decode(a, b, ia.data, ia.n, false, s);
                if (!flip) check_decode(a, b, ia.data, ia.n, true, s);
            }
            ct_ids_free(&ia);
            ct_ids_free(&ib);
        }
    }
    /* every id, in windows of 16 (byte fallback pieces, partial UTF-8, added tokens, holes) */
    int32_t win[16];
    for (int32_t s0 = 0; s0 < n; s0 += 16) {
        size_t k = 0;
        bool flip = false;
        for (int32_t id = s0; id < n && k < 16; id++) {
            win[k++] = id;
            flip |= special_may_differ(a, b, id);
        }
        char what[64];
        snprintf(what, sizeof what, "ids %d..%d", s0, s0 + (int)k - 1);
        check_decode(a, b, win, k, false, what);
        if (!flip) check_decode(a, b, win, k, true, what);
    }
done:
    ct_tokenizer_free(a);
    ct_tokenizer_free(b);
    return flips;
}

TEST(tok_gguf_qwen3_matches_dir) {
    const char *dir = ct_test_shared("tokenizers/qwen3");
    if (!dir) {
        ct_test_skip("../shared/tokenizers/qwen3 not present");
        return;
    }
    char path[512];
    if (!write_gguf(dir, "qwen3", 151936, path, sizeof path)) return; /* Qwen3's embedding rows */
    /* <|fim_prefix|> <|fim_middle|> <|fim_suffix|> <|fim_pad|> <|repo_name|> <|file_sep|>: special
     * false in tokenizer.json, CONTROL in the GGUF */
    CHECK_EQ_INT(compare(dir, path), 6);
    ct_tokenizer *t = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(path, &t, &err) == CT_OK);
    CHECK_EQ_INT(ct_tokenizer_vocab_size(t), 151669); /* the 267 "[PAD<i>]" rows are no tokens */
    CHECK_EQ_INT(ct_tokenizer_token_to_id(t, "[PAD151669]"), -1);
    CHECK_EQ_INT(ct_tokenizer_token_to_id(t, "<|im_start|>"), 151644);
    CHECK(!ct_tokenizer_is_special(t, ct_tokenizer_token_to_id(t, "<think>")));
    ct_tokenizer_free(t);
}

TEST(tok_gguf_stories260k_matches_dir) {
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k not present");
        return;
    }
    char path[512];
    if (!write_gguf(dir, "stories", 512, path, sizeof path)) return;
    CHECK_EQ_INT(compare(dir, path), 0);
    /* the rebuilt merges are tokenizer.json's, in order (transformers' SentencePieceExtractor) */
    ct_tokenizer *a = NULL, *b = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(dir, &a, &err) == CT_OK);
    REQUIRE(ct_tokenizer_load(path, &b, &err) == CT_OK);
    CHECK_EQ_INT(b->bpe.merges.n, a->bpe.merges.n);
    for (size_t r = 0; r < a->bpe.merges.n && r < b->bpe.merges.n; r++)
        CHECK_MSG(a->bpe.merge_id[r] == b->bpe.merge_id[r], "merge rank %zu makes %d, tokenizer.json's makes %d", r,
                  b->bpe.merge_id[r], a->bpe.merge_id[r]);
    CHECK(b->bpe.byte_fallback && b->bpe.fuse_unk && b->bpe.unk_id == 0);
    ct_tokenizer_free(a);
    ct_tokenizer_free(b);
}

TEST(tok_gguf_llama3_matches_dir) {
    const char *dir = ct_test_path(".cache/llama3_1-tokenizer");
    char f[1100];
    snprintf(f, sizeof f, "%s/tokenizer.json", dir);
    FILE *fp = fopen(f, "rb");
    if (!fp) {
        ct_test_skip(".cache/llama3_1-tokenizer absent (scripts/fetch_llama3_1_tokenizer.sh)");
        return;
    }
    fclose(fp);
    char d[1024], path[512];
    snprintf(d, sizeof d, "%s", dir);
    if (!write_gguf(d, "llama3", 128256 + 3, path, sizeof path)) return;
    CHECK_EQ_INT(compare(d, path), 0);
    ct_tokenizer *t = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(path, &t, &err) == CT_OK);
    CHECK(t->bpe.ignore_merges && t->clean_up_spaces && t->post.n_prefix == 1 && t->post.prefix[0] == 128000);
    ct_tokenizer_free(t);
}

TEST(tok_gguf_qwen3_5_fixture_matches_dir) {
    char path[512];
    const char *dir = ct_test_path("tests/fixtures/tok/qwen3_5-synth");
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
    if (!write_gguf(d, "qwen35", 248320, path, sizeof path)) return;
    CHECK_EQ_INT(compare(d, path), 6); /* the <|fim_*|>, <|repo_name|>, <|file_sep|> tokens, as Qwen3 */
}

/* ---- refusals ---- */

/* A hand-made tokenizer: tokens ▁ a b ab ba (+ "[PAD5]" unused), optionally merges / scores. */
static const char *write_small(const char *name, const char *model, const char *pre, bool with_tokens,
                               const float *scores, const char *merge, char *path, size_t cap) {
    static const char *toks[] = {"\xe2\x96\x81", "a", "b", "ab", "ba", "[PAD5]"};
    static const int32_t types[] = {1, 1, 1, 1, 1, 5};
    ct_gguf_writer *w = NULL;
    ct_err err = {0};
    snprintf(path, cap, "%s/%s.gguf", ct_test_tmpdir(), name);
    ct_status st = ct_gguf_writer_init(&w, &err);
    if (!st) st = ct_gguf_set_str(w, "general.architecture", "llama", &err);
    if (!st && model) st = ct_gguf_set_str(w, "tokenizer.ggml.model", model, &err);
    if (!st && pre) st = ct_gguf_set_str(w, "tokenizer.ggml.pre", pre, &err);
    if (!st && with_tokens) st = ct_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 6, &err);
    if (!st) st = ct_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, 6, &err);
    if (!st && scores) st = ct_gguf_set_arr_f32(w, "tokenizer.ggml.scores", scores, 6, &err);
    if (!st && merge) st = ct_gguf_set_arr_str(w, "tokenizer.ggml.merges", &merge, 1, &err);
    if (!st) st = ct_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false, &err);
    if (!st) st = ct_gguf_write(w, path, &err);
    ct_gguf_writer_free(w);
    if (st) ct_test_fail(__FILE__, __LINE__, "writing %s: %s", path, err.msg);
    return st ? NULL : path;
}

static void check_refused(const char *path, const char *key, const char *also, int line) {
    if (!path) return;
    ct_tokenizer *t = NULL;
    ct_err err = {0};
    ct_status st = ct_tokenizer_load(path, &t, &err);
    if (!st) {
        ct_test_fail(__FILE__, line, "%s loaded; expected an error naming %s", path, key);
        ct_tokenizer_free(t);
        return;
    }
    if (!strstr(err.msg, path) || !strstr(err.msg, key) || (also && !strstr(err.msg, also)) || strchr(err.msg, '\n'))
        ct_test_fail(__FILE__, line, "error \"%s\" should be one line naming %s, %s %s", err.msg, path, key,
                     also ? also : "");
}

/* ids of "aba" with a hand-made SentencePiece GGUF of these scores */
static void check_spm_order(const float *scores, int32_t mid, int32_t last, int line) {
    char p[512];
    ct_tokenizer *t = NULL;
    ct_err err = {0};
    const char *path = write_small("order", "llama", NULL, true, scores, NULL, p, sizeof p);
    if (!path) return;
    if (ct_tokenizer_load(path, &t, &err)) {
        ct_test_fail(__FILE__, line, "load: %s", err.msg);
        return;
    }
    ct_ids ids = {0};
    CHECK_OK(ct_tokenizer_encode_text(t, "aba", 3, &ids, &err), &err);
    CHECK_MSG(ids.n == 3 && ids.data[0] == 0 && ids.data[1] == mid && ids.data[2] == last,
              "line %d: \"aba\" gives %zu ids [%d %d ...], expected [0 %d %d]", line, ids.n, ids.n ? ids.data[0] : -1,
              ids.n > 1 ? ids.data[1] : -1, mid, last);
    ct_ids_free(&ids);
    ct_tokenizer_free(t);
}

TEST(tok_gguf_spm_scores_order_the_merges) {
    const float ab_first[] = {-5, -5, -5, 0, -1, -5}, ba_first[] = {-5, -5, -5, -1, 0, -5};
    check_spm_order(ab_first, 3, 1, __LINE__); /* ▁ ab a */
    check_spm_order(ba_first, 1, 4, __LINE__); /* ▁ a ba */
}

TEST(tok_gguf_refusals_name_file_and_key) {
    char p[512];
    const float scores[] = {-5, -5, -5, 0, -1, -5}, flat[] = {-1000, -1000, -1000, -1000, -1000, -1000};
    check_refused(write_small("bert", "bert", NULL, true, NULL, NULL, p, sizeof p), "tokenizer.ggml.model", "\"bert\"",
                  __LINE__);
    check_refused(write_small("t5", "t5", NULL, true, scores, NULL, p, sizeof p), "tokenizer.ggml.model", "\"t5\"",
                  __LINE__);
    check_refused(write_small("nomodel", NULL, NULL, true, NULL, NULL, p, sizeof p), "tokenizer.ggml.model", "missing",
                  __LINE__);
    check_refused(write_small("pre", "gpt2", "deepseek-llm", true, NULL, "a b", p, sizeof p), "tokenizer.ggml.pre",
                  "\"deepseek-llm\"", __LINE__);
    check_refused(write_small("nopre", "gpt2", NULL, true, NULL, "a b", p, sizeof p), "tokenizer.ggml.pre", "missing",
                  __LINE__);
    check_refused(write_small("notok", "llama", NULL, false, scores, NULL, p, sizeof p), "tokenizer.ggml.tokens",
                  "missing", __LINE__);
    check_refused(write_small("notok2", "gpt2", "qwen2", false, NULL, "a b", p, sizeof p), "tokenizer.ggml.tokens",
                  "missing", __LINE__);
    check_refused(write_small("nomerges", "gpt2", "qwen2", true, NULL, NULL, p, sizeof p), "tokenizer.ggml.merges",
                  "missing", __LINE__);
    check_refused(write_small("badmerge", "gpt2", "qwen2", true, NULL, "a c", p, sizeof p), "tokenizer.ggml.merges[0]",
                  "\"c\"", __LINE__);
    check_refused(write_small("noscores", "llama", NULL, true, NULL, NULL, p, sizeof p), "tokenizer.ggml.scores",
                  "missing", __LINE__);
    /* convert_hf_to_gguf's -1000 for every token: "ab" and "ba" tie */
    check_refused(write_small("flat", "llama", NULL, true, flat, NULL, p, sizeof p), "tokenizer.ggml.scores",
                  "do not order the merges", __LINE__);
    /* a gpt2 tokenizer loads; the chat template of a GGUF without one: none, no error */
    const char *ok = write_small("small", "gpt2", "qwen2", true, NULL, "a b", p, sizeof p);
    ct_tokenizer *t = NULL;
    ct_err err = {0};
    if (ok) CHECK_OK(ct_tokenizer_load(ok, &t, &err), &err);
    CHECK(!t || (ct_tokenizer_vocab_size(t) == 5 && ct_tokenizer_bos_id(t) == -1 && !ct_tokenizer_chat_template(t)));
    ct_tokenizer_free(t);
    char *tmpl = (char *)"x";
    if (ok) CHECK_OK(ct_tokenizer_read_chat_template(ok, &tmpl, &err), &err);
    CHECK(tmpl == NULL);
}
