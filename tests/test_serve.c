/* `ctune serve` pieces without HTTP: the answer parser (reasoning, Qwen <tool_call>, Llama 3.1
 * JSON calls) and the OpenAI request parser (types, ranges, refused keys, context length). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "serve/serve.h"

TEST(serve_answer_think_and_tools) {
    srv_answer a;
    const char *t = "<think>\nplan it\n</think>\n\nHere.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                    "{\"city\": \"Paris\"}}\n</tool_call>";
    srv_answer_parse(t, strlen(t), false, true, false, &a);
    CHECK_STREQ(a.reasoning.data, "plan it");
    CHECK_STREQ(a.content.data, "Here.");
    REQUIRE(a.n_calls == 1);
    CHECK_STREQ(a.calls[0].name, "get_weather");
    CHECK_STREQ(a.calls[0].arguments, "{\"city\":\"Paris\"}");
    srv_answer_free(&a);
    /* tools not requested: the call text stays content */
    srv_answer_parse(t, strlen(t), false, false, false, &a);
    CHECK_EQ_INT(a.n_calls, 0);
    CHECK(strstr(a.content.data, "<tool_call>") && strstr(a.content.data, "get_weather"));
    srv_answer_free(&a);
    /* a body that is not a call is kept as written */
    const char *bad = "<tool_call>not json</tool_call>";
    srv_answer_parse(bad, strlen(bad), false, true, false, &a);
    CHECK_EQ_INT(a.n_calls, 0);
    CHECK(strstr(a.content.data, "not json") != NULL);
    srv_answer_free(&a);
    /* the prompt opened the think block */
    const char *open = "reasoning here</think>answer";
    srv_answer_parse(open, strlen(open), true, false, false, &a);
    CHECK_STREQ(a.reasoning.data, "reasoning here");
    CHECK_STREQ(a.content.data, "answer");
    srv_answer_free(&a);
    /* only calls: no content */
    const char *only = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
    srv_answer_parse(only, strlen(only), false, true, false, &a);
    CHECK(a.n_calls == 1 && !a.has_content);
    srv_answer_free(&a);
}

TEST(serve_answer_llama_json_call) {
    srv_answer a;
    const char *t = " {\"name\": \"lookup\", \"parameters\": {\"q\": \"x\", \"n\": 2}} ";
    srv_answer_parse(t, strlen(t), false, true, true, &a);
    REQUIRE(a.n_calls == 1);
    CHECK_STREQ(a.calls[0].name, "lookup");
    CHECK_STREQ(a.calls[0].arguments, "{\"q\":\"x\",\"n\":2}");
    CHECK(!a.has_content);
    srv_answer_free(&a);
    const char *plain = "{\"answer\": 1}"; /* JSON without a name is an answer, not a call */
    srv_answer_parse(plain, strlen(plain), false, true, true, &a);
    CHECK_EQ_INT(a.n_calls, 0);
    CHECK_STREQ(a.content.data, plain);
    srv_answer_free(&a);
}

TEST(serve_json_text_invalid_utf8) {
    json_t *j = srv_json_text("a\xff" "b\xe2\x82", 5);
    REQUIRE(j);
    CHECK_STREQ(json_string_value(j), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD");
    json_decref(j);
    srv_error e;
    srv_fail(&e, 400, "invalid_request_error", "x", "temperature", "bad %d", 1);
    char *s = srv_error_json(&e);
    CHECK_STREQ(s, "{\"error\":{\"message\":\"bad 1\",\"type\":\"invalid_request_error\",\"param\":\"temperature\",\"code\":\"x\"}}");
    free(s);
}

typedef struct req_case {
    srv_kind kind;
    const char *body;
    int http;
    const char *param; /* expected param, NULL: don't care */
} req_case;

TEST(serve_request_parse) {
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    ct_err err = {0};
    ct_runtime_opts ro = ct_runtime_opts_default();
    ro.model_dir = dir;
    ro.template_name = "llama2";
    ro.threads = 1;
    ct_runtime *rt = NULL;
    CHECK_OK(ct_runtime_open(&ro, &rt, &err), &err);
    REQUIRE(rt);
    ct_serve_opts o;
    ct_serve_opts_default(&o);
    srv_model mv[2] = {{"base", NULL}, {"other", NULL}};
    srv_models models = {mv, 2};
    srv_ctx c = {.rt = rt, .o = &o, .models = &models, .max_model_len = 512};
    CHECK_OK(ct_runtime_gen_params(rt, false, &c.gen_plain, &err), &err);
    c.gen_chat = c.gen_plain;
    CHECK_OK(ct_runtime_chat_stops(rt, &c.gen_chat, &err), &err);
    CHECK_OK(srv_schemas_new(ct_runtime_tokenizer(rt, NULL), (int32_t)ct_model_config(ct_runtime_model(rt))->vocab_size, 2,
                             &c.schemas, &err), &err);
    srv_req r;
    srv_error e;
    const char *ok = "{\"model\":\"other\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"temperature\":0,"
                     "\"max_tokens\":7,\"stop\":[\"a\",\"bc\"],\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                     "\"seed\":5,\"top_k\":3,\"user\":\"ignored\"}";
    REQUIRE(srv_req_parse(&c, SRV_CHAT, ok, strlen(ok), &r, &e));
    CHECK_EQ_INT(r.model, 1);
    CHECK(r.stream && r.include_usage && !r.gen.do_sample);
    CHECK_EQ_INT(r.gen.max_new_tokens, 7);
    CHECK_EQ_INT(r.gen.seed, 5);
    CHECK_EQ_INT(r.gen.top_k, 3);
    CHECK_EQ_INT(r.n_stop, 2);
    CHECK(r.prompt.n > 3);
    srv_req_free(&r);
    /* "developer" is the system role; text-part lists are text */
    const char *dev = "{\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"user\","
                      "\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}]}";
    const char *sys = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}]}";
    srv_req r2;
    REQUIRE(srv_req_parse(&c, SRV_CHAT, dev, strlen(dev), &r, &e));
    REQUIRE(srv_req_parse(&c, SRV_CHAT, sys, strlen(sys), &r2, &e));
    CHECK(r.prompt.n == r2.prompt.n && !memcmp(r.prompt.data, r2.prompt.data, r.prompt.n * sizeof(int32_t)));
    srv_req_free(&r);
    srv_req_free(&r2);
    const char *comp = "{\"prompt\":\"Once upon\",\"temperature\":0.5}";
    REQUIRE(srv_req_parse(&c, SRV_COMPLETION, comp, strlen(comp), &r, &e));
    CHECK(r.gen.do_sample && r.gen.temperature == 0.5f);
    CHECK_EQ_INT(r.gen.max_new_tokens, 16); /* OpenAI's completions default */
    srv_req_free(&r);
    static const req_case bad[] = {
        {SRV_CHAT, "{not json", 400, ""},
        {SRV_CHAT, "[1,2]", 400, ""},
        {SRV_CHAT, "{\"messages\":\"hi\"}", 400, "messages"},
        {SRV_CHAT, "{\"messages\":[]}", 400, "messages"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400, "messages"},
        {SRV_CHAT, "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404, "model"},
        {SRV_CHAT, "{\"model\":3,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400, "model"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", 400, "temperature"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":7}", 400, "temperature"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0}", 400, "top_p"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", 400, "max_tokens"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", 400, "max_tokens"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":100000000}", 400, "max_tokens"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":100000}", 400, "max_completion_tokens"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}", 400, "stream"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"\"]}", 400, "stop"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", 400, "n"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true}", 400, "logprobs"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"presence_penalty\":0.5}", 400, "presence_penalty"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"xml\"}}", 400, "response_format"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\"}}}", 400, "response_format"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}}}}", 400, "response_format"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"type\":\"string\",\"pattern\":\"a+\"}}}}", 400, "response_format"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\",\"tools\":[]}", 400, "tool_choice"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":{\"foo\":1}}", 400, "chat_template_kwargs"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":{\"enable_thinking\":\"yes\"}}", 400, "chat_template_kwargs"},
        {SRV_COMPLETION, "{\"prompt\":5}", 400, "prompt"},
        {SRV_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", 400, "prompt"},
        {SRV_COMPLETION, "{\"prompt\":[1,99999]}", 400, "prompt"},
        {SRV_COMPLETION, "{\"prompt\":\"x\",\"echo\":true}", 400, "echo"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool parsed = srv_req_parse(&c, bad[i].kind, bad[i].body, strlen(bad[i].body), &r, &e);
        CHECK_MSG(!parsed, "case %zu (%s) accepted", i, bad[i].body);
        if (parsed) {
            srv_req_free(&r);
            continue;
        }
        CHECK_MSG(e.http == bad[i].http, "case %zu (%s): HTTP %d, expected %d (%s)", i, bad[i].body, e.http, bad[i].http, e.msg);
        CHECK_MSG(!bad[i].param || !strcmp(e.param, bad[i].param), "case %zu (%s): param '%s', expected '%s'", i,
                  bad[i].body, e.param, bad[i].param);
        CHECK_MSG(e.msg[0] && e.type, "case %zu: no message", i);
    }
    /* response_format: a schema is compiled once and shared by the requests that send the same text;
     * json_object is its own entry; entries nobody holds are evicted when the cache (2 here) is full */
    unsigned long long before = srv_schemas_compiled(c.schemas);
    const char *js = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\","
                     "\"json_schema\":{\"name\":\"r\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                     "\"required\":[\"a\"]}}}}";
    const char *jo = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"}}";
    srv_req r3;
    REQUIRE(srv_req_parse(&c, SRV_CHAT, js, strlen(js), &r, &e));
    REQUIRE(srv_req_parse(&c, SRV_CHAT, js, strlen(js), &r2, &e));
    REQUIRE(srv_req_parse(&c, SRV_CHAT, jo, strlen(jo), &r3, &e));
    CHECK_MSG(r.schema && r.schema == r2.schema && r3.schema && r3.schema != r.schema, "%p %p %p", (void *)r.schema, (void *)r2.schema, (void *)r3.schema);
    CHECK(srv_schemas_compiled(c.schemas) == before + 2);
    srv_req_free(&r);
    srv_req_free(&r2);
    srv_req_free(&r3);
    REQUIRE(srv_req_parse(&c, SRV_CHAT, js, strlen(js), &r, &e));
    CHECK(srv_schemas_compiled(c.schemas) == before + 2); /* still cached */
    srv_req_free(&r);
    srv_schemas_free(c.schemas);
    ct_runtime_free(rt);
}
