/* The json and fc task metrics (src/eval/metric_json.c, metric_fc.c): parsing, schema validity,
 * per-field accuracy, EvalScope general_fc aggregation and one test per BFCL AST-checker rule,
 * with hand-computed expectations. */
#include <jansson.h>
#include <stdlib.h>

#include "eval/metric_fc.h"
#include "eval/metric_json.h"
#include "harness.h"

static json_t *J(const char *text) {
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v) ct_test_fail(__FILE__, __LINE__, "bad test JSON: %s", text);
    return v;
}

static double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

TEST(metric_json_sample_and_aggregate) {
    ct_json_schema s;
    ct_err err = {0};
    REQUIRE(ct_json_schema_load(&s, "{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"integer\"}}}",
                                "s", &err) == CT_OK);
    json_t *ref = J("{\"a\":1,\"b\":{\"c\":\"x\",\"d\":[1,2]}}");
    static const char *const outs[] = {
        "<think>\nhmm\n</think>\n\n```json\n{\"a\":1.0,\"b\":{\"c\":\"x\",\"d\":[1,2]}}\n```", /* all right (1 == 1.0) */
        "{\"a\":1,\"b\":{\"c\":\"y\"}}",                                                         /* 1 of 3 fields */
        "{\"a\":\"1\"}",                                                                         /* schema-invalid */
        "I think the answer is {a: 1}",                                                          /* not JSON */
    };
    json_t *v[4];
    for (int i = 0; i < 4; i++) REQUIRE(ct_metric_json_score(outs[i], &s, ref, &v[i], &err) == CT_OK);
    CHECK(json_is_true(json_object_get(v[0], "passed")));
    CHECK_EQ_INT(json_integer_value(json_object_get(v[0], "fields_total")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(v[1], "fields_correct")), 1);
    CHECK(json_is_false(json_object_get(json_object_get(v[1], "fields"), "b.c")));
    CHECK(strstr(json_string_value(json_object_get(v[1], "why")), "b.c") != NULL);
    CHECK(json_is_false(json_object_get(v[2], "schema_valid")));
    CHECK(strstr(json_string_value(json_object_get(v[2], "why")), "$.a") != NULL);
    CHECK(json_is_false(json_object_get(v[3], "parsed")));
    CHECK(json_is_false(json_object_get(v[3], "passed")));
    json_t *m = ct_metric_json_aggregate(v, 4);
    CHECK_NEAR(num(m, "parse_rate"), 0.75, 1e-12);
    CHECK_NEAR(num(m, "schema_valid_rate"), 0.5, 1e-12);
    /* fields: 3 + 1 + 0 (a is "1" vs 1) + 0 correct of 3 each */
    CHECK_NEAR(num(m, "field_accuracy"), 4.0 / 12.0, 1e-12);
    CHECK_NEAR(num(m, "field_accuracy_macro"), (1.0 + 1.0 / 3) / 4, 1e-12);
    CHECK_NEAR(num(m, "exact_match"), 0.25, 1e-12);
    CHECK_NEAR(num(m, "pass_rate"), 0.25, 1e-12);
    CHECK_NEAR(num(json_object_get(m, "per_field"), "a"), 0.5, 1e-12);
    json_decref(m);
    for (int i = 0; i < 4; i++) json_decref(v[i]);
    json_t *x;
    REQUIRE(ct_metric_json_score("[1]", NULL, NULL, &x, &err) == CT_OK); /* no schema, no reference */
    CHECK(json_is_true(json_object_get(x, "passed")) && json_is_null(json_object_get(x, "schema_valid")));
    json_decref(x);
    json_t *arr = J("[1]");
    CHECK(ct_metric_json_score("{}", NULL, arr, &x, &err) == CT_ERR_ARG && !x); /* a reference must be an object */
    json_decref(arr);
    json_decref(ref);
    ct_json_schema_free(&s);
}

TEST(metric_fc_parse) {
    json_t *calls;
    char why[256];
    CHECK_EQ_INT(ct_fc_parse_calls("<think>x <tool_call>no</tool_call></think>\n\nhello", &calls, why, sizeof why), 0);
    json_decref(calls);
    const char *two = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>\n"
                      "<tool_call>\n{\"name\": \"g\", \"arguments\": \"{\\\"y\\\": \\\"s\\\"}\"}\n</tool_call>";
    CHECK_EQ_INT(ct_fc_parse_calls(two, &calls, why, sizeof why), 2);
    CHECK_EQ_INT(json_array_size(calls), 2);
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(json_array_get(calls, 1), "arguments"), "y")), "s");
    CHECK_STREQ(why, "");
    json_decref(calls);
    CHECK_EQ_INT(ct_fc_parse_calls("<tool_call>{\"name\": 3}</tool_call><tool_call>{\"name\":\"f\"}", &calls, why, sizeof why), 2);
    CHECK_EQ_INT(json_array_size(calls), 0);
    CHECK(strstr(why, "tool call 1: no \"name\"") != NULL);
    json_decref(calls);
}

/* One BFCL rule per case: {tool, call, expected, pass?, why fragment}. */
TEST(metric_fc_ast_rules) {
    const char *tool = "{\"name\":\"book\",\"parameters\":{\"type\":\"object\",\"required\":[\"city\",\"n\"],\"properties\":{"
                       "\"city\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"},\"price\":{\"type\":\"number\"},"
                       "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"opts\":{\"type\":\"object\"},"
                       "\"rooms\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},\"late\":{\"type\":\"boolean\"}}}}";
    const char *exp = "{\"book\":{\"city\":[\"New York, NY\",\"NYC\"],\"n\":[2],\"price\":[100.0,\"\"],\"tags\":[[\"a\",\"b\"],\"\"],"
                      "\"opts\":[{\"view\":[\"sea\"],\"floor\":[1,\"\"]},\"\"],\"rooms\":[[{\"beds\":[2]}],\"\"],\"late\":[true,\"\"]}}";
    static const char *const cases[][3] = {
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"new york ny\",\"n\":2}}", "1", "standardised string"},
        {"{\"name\":\"hotel\",\"arguments\":{\"city\":\"NYC\",\"n\":2}}", "0", "wrong function name"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\"}}", "0", "missing required parameter 'n'"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"pets\":1}}", "0", "unexpected parameter 'pets'"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2.0}}", "0", "parameter 'n': wrong type"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"price\":100}}", "1", "int accepted for float"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"price\":\"100\"}}", "0", "parameter 'price': wrong type"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"Boston\",\"n\":2}}", "0", "parameter 'city': value not among"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":3}}", "0", "parameter 'n': value not among"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"tags\":[\"A\",\"b\"]}}", "1", "list standardised"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"tags\":[\"b\",\"a\"]}}", "0", "parameter 'tags': value not among"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"tags\":[\"a\",1]}}", "0", "parameter 'tags': value not among"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"opts\":{\"view\":\"Sea\"}}}", "1", "dict, optional key"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"opts\":{\"view\":\"sea\",\"x\":1}}}", "0", "unexpected dict key 'x'"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"opts\":{\"floor\":1}}}", "0", "missing dict key 'view'"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"rooms\":[{\"beds\":2}]}}", "1", "list of dicts"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"rooms\":[{\"beds\":2},{\"beds\":2}]}}", "0", "no expected list of dicts"},
        {"{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"late\":1}}", "0", "parameter 'late': wrong type"},
    };
    json_t *f = J(tool), *e = J(exp);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *c = J(cases[i][0]);
        char why[256] = "";
        bool ok = ct_fc_check_call(f, c, e, why, sizeof why);
        CHECK_MSG(ok == (cases[i][1][0] == '1'), "case %zu (%s): got %d (%s)", i, cases[i][2], ok, why);
        if (!ok) CHECK_MSG(strstr(why, cases[i][2]) != NULL, "case %zu: why '%s' lacks '%s'", i, why, cases[i][2]);
        json_decref(c);
    }
    /* an expected parameter left out must allow "" */
    json_t *e2 = J("{\"book\":{\"city\":[\"NYC\"],\"n\":[2],\"late\":[true]}}"), *c = J("{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2}}");
    char why[256] = "";
    CHECK(!ct_fc_check_call(f, c, e2, why, sizeof why) && strstr(why, "'late' left out but not optional"));
    json_decref(c);
    json_decref(e2);
    /* nested item types: as in BFCL, a list whose items have the wrong type still has the expected
     * values' type (a list: a "variable"), so it fails on its value */
    e2 = J("{\"book\":{\"city\":[\"NYC\"],\"n\":[2],\"tags\":[[\"a\",\"b\"]]}}");
    c = J("{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":2,\"tags\":[\"a\",1]}}");
    CHECK(!ct_fc_check_call(f, c, e2, why, sizeof why) && strstr(why, "parameter 'tags': value not among"));
    json_decref(c);
    json_decref(e2);
    /* a variable: the expected values are strings for an integer parameter */
    e2 = J("{\"book\":{\"city\":[\"NYC\"],\"n\":[\"num_guests\"]}}");
    c = J("{\"name\":\"book\",\"arguments\":{\"city\":\"NYC\",\"n\":\"num_guests\"}}");
    CHECK(ct_fc_check_call(f, c, e2, why, sizeof why));
    json_decref(c);
    json_decref(e2);
    json_decref(f);
    json_decref(e);
}

TEST(metric_fc_parallel_and_irrelevance) {
    json_t *tools = J("[{\"type\":\"function\",\"function\":{\"name\":\"w\",\"parameters\":{\"type\":\"object\",\"properties\":{"
                      "\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]");
    json_t *exp = J("[{\"w\":{\"city\":[\"Paris\"]}},{\"w\":{\"city\":[\"Rome\"]}}]");
    json_t *any_order = J("[{\"name\":\"w\",\"arguments\":{\"city\":\"rome\"}},{\"name\":\"w\",\"arguments\":{\"city\":\"paris\"}}]");
    json_t *one = J("[{\"name\":\"w\",\"arguments\":{\"city\":\"paris\"}}]");
    json_t *same = J("[{\"name\":\"w\",\"arguments\":{\"city\":\"paris\"}},{\"name\":\"w\",\"arguments\":{\"city\":\"paris\"}}]");
    char why[256] = "";
    CHECK(ct_fc_check_calls(tools, any_order, exp, why, sizeof why));
    CHECK(!ct_fc_check_calls(tools, one, exp, why, sizeof why) && strstr(why, "wrong number of calls"));
    CHECK(!ct_fc_check_calls(tools, same, exp, why, sizeof why) && strstr(why, "expected call 2 (w) matches no call"));
    json_decref(any_order);
    json_decref(one);
    json_decref(same);

    /* Four samples through the scorer: EvalScope's aggregate by hand. */
    json_t *s_call = json_object(), *s_none = json_object();
    json_object_set(s_call, "tools", tools);
    json_object_set_new(s_call, "should_call_tool", json_true());
    json_object_set(s_call, "expected_calls", exp);
    json_object_set(s_none, "tools", tools);
    json_object_set_new(s_none, "should_call_tool", json_false());
    const char *good = "<tool_call>{\"name\":\"w\",\"arguments\":{\"city\":\"Paris\"}}</tool_call>"
                       "<tool_call>{\"name\":\"w\",\"arguments\":{\"city\":\"Rome\"}}</tool_call>";
    const char *bad_args = "<tool_call>{\"name\":\"w\",\"arguments\":{\"town\":\"Paris\"}}</tool_call>";
    json_t *v[4];
    ct_err err = {0};
    REQUIRE(ct_metric_fc_score(s_call, good, &v[0], &err) == CT_OK);     /* tp, valid, ast ok */
    REQUIRE(ct_metric_fc_score(s_call, bad_args, &v[1], &err) == CT_OK); /* tp, invalid */
    REQUIRE(ct_metric_fc_score(s_none, good, &v[2], &err) == CT_OK);     /* fp (irrelevance fail) */
    REQUIRE(ct_metric_fc_score(s_none, "It is sunny.", &v[3], &err) == CT_OK); /* tn */
    CHECK(json_is_true(json_object_get(v[0], "passed")) && json_is_true(json_object_get(v[0], "ast_valid")));
    CHECK(json_is_false(json_object_get(v[1], "schema_valid")));
    CHECK(strstr(json_string_value(json_object_get(v[1], "why")), "missing required key 'city'") != NULL);
    CHECK(json_is_false(json_object_get(v[1], "ast_valid")));
    CHECK(json_is_false(json_object_get(v[2], "passed")) && json_is_false(json_object_get(v[2], "ast_valid")));
    CHECK(json_is_true(json_object_get(v[3], "passed")) && json_is_true(json_object_get(v[3], "ast_valid")));
    json_t *m = ct_metric_fc_aggregate(v, 4);
    /* tp 2, fp 1, fn 0: precision 2/3, recall 1, f1 0.8; schema accuracy: 2 successful of 3 calls */
    CHECK_NEAR(num(m, "precision"), 2.0 / 3, 1e-12);
    CHECK_NEAR(num(m, "recall"), 1.0, 1e-12);
    CHECK_NEAR(num(m, "tool_call_f1"), 0.8, 1e-12);
    CHECK_NEAR(num(m, "schema_accuracy"), 2.0 / 3, 1e-12);
    CHECK_EQ_INT(json_integer_value(json_object_get(m, "count_finish_reason_tool_call")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(m, "count_successful_tool_call")), 2);
    CHECK_NEAR(num(m, "ast_accuracy"), 2.0 / 4, 1e-12);
    CHECK_NEAR(num(m, "irrelevance_accuracy"), 0.5, 1e-12);
    CHECK_NEAR(num(m, "pass_rate"), 0.5, 1e-12);
    json_decref(m);
    for (int i = 0; i < 4; i++) json_decref(v[i]);
    /* malformed samples and unsupported tool schemas are errors, not verdicts */
    json_t *x = NULL;
    CHECK(ct_metric_fc_score(s_none, "", &x, &err) == CT_OK);
    json_decref(x);
    json_object_set_new(s_none, "tools", J("{}"));
    CHECK(ct_metric_fc_score(s_none, "", &x, &err) == CT_ERR_FORMAT && strstr(err.msg, "'tools'"));
    json_object_set_new(s_call, "tools", J("[{\"name\":\"w\",\"parameters\":{\"type\":\"object\",\"patternProperties\":{}}}]"));
    CHECK(ct_metric_fc_score(s_call, good, &x, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "tool 'w'"));
    json_decref(s_call);
    json_decref(s_none);
    json_decref(tools);
    json_decref(exp);
}
