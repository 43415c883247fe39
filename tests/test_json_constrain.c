/* Constrained decoding (src/eval/json_grammar.c, json_automaton.c, json_constrain.c): every
 * keyword, prefix acceptance / rejection, numbers, strings (UTF-8, escapes), whitespace policy,
 * think blocks, and token masks against a brute-force check over a real vocabulary. */
#include <jansson.h>
#include <stdlib.h>

#include "ctune/constrain.h"
#include "ctune/risk.h"
#include "ctune/tokenizer.h"
#include "eval/json_schema.h"
#include "harness.h"
#include "json_test_util.h"

static ct_json_constraint *mk(const char *schema, int max_ws, bool think) {
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    o.schema = schema;
    o.what = "t.json";
    o.max_ws = max_ws;
    o.think = think;
    ct_json_constraint *c = NULL;
    ct_err err = {0};
    if (ct_json_constraint_new(&o, NULL, 1, &c, &err)) ct_test_fail(__FILE__, __LINE__, "compile: %s", err.msg);
    return c;
}

/* 1: text is a prefix the automaton accepts; 2: also a complete value; 0: rejected. */
static int run_text(const char *schema, const char *text) {
    ct_json_constraint *c = mk(schema, 16, false);
    if (!c) return -1;
    int r = 0;
    if (ct_json_constraint_accept_bytes(c, text, strlen(text))) r = ct_json_constraint_complete(c) ? 2 : 1;
    ct_json_constraint_free(c);
    return r;
}

#define FULL(schema, text) CHECK_MSG(run_text(schema, text) == 2, "expected complete: %s against %s", text, schema)
#define PREFIX(schema, text) CHECK_MSG(run_text(schema, text) == 1, "expected prefix only: %s against %s", text, schema)
#define REJECT(schema, text) CHECK_MSG(run_text(schema, text) == 0, "expected rejection: %s against %s", text, schema)

TEST(jc_types) {
    FULL("{\"type\":\"null\"}", "null");
    REJECT("{\"type\":\"null\"}", "nul1");
    PREFIX("{\"type\":\"boolean\"}", "fa");
    FULL("{\"type\":\"boolean\"}", "true");
    REJECT("{\"type\":\"boolean\"}", "1");
    FULL("{\"type\":\"integer\"}", "-120");
    REJECT("{\"type\":\"integer\"}", "1.5");
    REJECT("{\"type\":\"integer\"}", "1e3");
    FULL("{\"type\":\"number\"}", "-1.5e+3");
    FULL("{\"type\":\"string\"}", "\"a\"");
    FULL("{\"type\":[\"string\",\"null\"]}", "null");
    FULL("{\"type\":[\"string\",\"null\"]}", "\"x\"");
    REJECT("{\"type\":[\"string\",\"null\"]}", "1");
    FULL("{\"type\":[\"integer\",\"number\"]}", "2.5");
    FULL("{}", "[1,{\"a\":null},\"s\",true]");
    FULL("true", "{\"k\":[]}");
}

TEST(jc_numbers) {
    const char *n = "{\"type\":\"number\"}";
    REJECT(n, "01");       /* leading zeros */
    REJECT(n, "-01");
    FULL(n, "0");
    FULL(n, "-0");
    REJECT(n, "+1");
    PREFIX(n, "1.");
    REJECT(n, "1.e5");
    REJECT(n, ".5");
    PREFIX(n, "1e");
    PREFIX(n, "1e-");
    FULL(n, "1E-12");
    REJECT(n, "1e123");   /* at most 2 exponent digits */
    FULL(n, "123456789012345678");
    REJECT(n, "1234567890123456789"); /* at most 18 digits */
    PREFIX(n, "-");
    const char *b = "{\"type\":\"integer\",\"minimum\":10,\"maximum\":120}";
    PREFIX(b, "1");        /* 10..19, 100..120 */
    FULL(b, "12");
    FULL(b, "120");
    REJECT(b, "121");
    REJECT(b, "13 ");      /* 13 then 130 > 120: "13" is complete but "130" is not */
    FULL(b, "13");
    REJECT(b, "130");
    PREFIX(b, "9");        /* 9 is below 10, but 90..99 are in range */
    FULL(b, "99");
    REJECT(b, "-");
    REJECT(b, "0");
    const char *e = "{\"type\":\"integer\",\"exclusiveMinimum\":-3,\"exclusiveMaximum\":3}";
    FULL(e, "-2");
    REJECT(e, "-3");
    REJECT(e, "3");
    const char *f = "{\"type\":\"number\",\"minimum\":0,\"maximum\":36}";
    FULL(f, "36");
    FULL(f, "35.99");
    REJECT(f, "36.5");
    PREFIX(f, "36.");      /* 36.0 is still fine */
    REJECT(f, "36.01");
    REJECT(f, "-1");
    FULL(f, "-0");
    REJECT(f, "1e1");      /* no exponent with bounds */
    REJECT(f, "37");
    const char *x = "{\"type\":\"number\",\"exclusiveMaximum\":1}";
    FULL(x, "0.999");
    REJECT(x, "1");        /* 1 is excluded; 1.x are above */
    REJECT(x, "1.0");
}

TEST(jc_strings) {
    const char *s = "{\"type\":\"string\"}";
    FULL(s, "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"");
    FULL(s, "\"\\u00e9\\uFFFF\"");
    REJECT(s, "\"\\x\"");
    REJECT(s, "\"\\uD800");  /* lone surrogate */
    REJECT(s, "\"\\ud9");
    REJECT(s, "\"\\u0000");  /* NUL */
    PREFIX(s, "\"\\u000");
    REJECT(s, "\"a\nb\"");   /* raw control character */
    FULL(s, "\"中文\"");
    PREFIX(s, "\"\xe4\xb8");  /* part of a character */
    REJECT(s, "\"\xe4\x41");  /* bad continuation */
    REJECT(s, "\"\xc0\xaf\""); /* overlong */
    REJECT(s, "\"\xed\xa0\x80\""); /* UTF-8 surrogate */
    REJECT(s, "\"\xf4\x90\x80\x80\""); /* above U+10FFFF */
    const char *l = "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}";
    REJECT(l, "\"a\"");
    FULL(l, "\"ab\"");
    FULL(l, "\"中文字\"");   /* code points, not bytes */
    REJECT(l, "\"abcd");
    FULL(l, "\"\\n\\u00e9\"");
}

TEST(jc_objects) {
    const char *o = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"ab\":{\"type\":\"string\"}},"
                    "\"required\":[\"ab\"],\"additionalProperties\":false}";
    FULL(o, "{\"ab\":\"x\"}");
    FULL(o, "{\"a\":1,\"ab\":\"x\"}");
    REJECT(o, "{}");                 /* ab is required */
    REJECT(o, "{\"a\":1}");
    REJECT(o, "{\"b");               /* unknown key */
    REJECT(o, "{\"a\":\"x\"");       /* wrong value type */
    REJECT(o, "{\"ab\":\"x\",\"ab\"");/* duplicate key */
    REJECT(o, "{\"a\":1,\"ab\":\"x\",");/* nothing left to write */
    const char *open = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}";
    FULL(open, "{\"a\":1,\"b\":\"any\"}");
    REJECT(open, "{\"a\":\"x\"");    /* a known key keeps its schema */
    REJECT(open, "{\"a\\u0062\"");   /* no escapes in keys */
    const char *ap = "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"boolean\"}}";
    FULL(ap, "{\"x\":true,\"y\":false}");
    REJECT(ap, "{\"x\":1");
    const char *mp = "{\"type\":\"object\",\"minProperties\":1,\"maxProperties\":2,\"properties\":{\"r\":{}},\"required\":[\"r\"]}";
    REJECT(mp, "{\"x\":1,\"y\"");    /* would leave no room for r */
    FULL(mp, "{\"x\":1,\"r\":2}");
    REJECT(mp, "{\"x\":1,\"r\":2,");
    FULL("{\"type\":\"object\",\"minProperties\":1}", "{\"k\":0}");
    REJECT("{\"type\":\"object\",\"minProperties\":1}", "{}");
}

TEST(jc_arrays_enum_const) {
    const char *a = "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}";
    REJECT(a, "[]");
    FULL(a, "[1]");
    FULL(a, "[1,2]");
    REJECT(a, "[1,2,");
    REJECT(a, "[\"x\"");
    const char *t = "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"number\"},{\"type\":\"string\"}],\"items\":false,\"minItems\":2}";
    FULL(t, "[1,\"a\"]");
    REJECT(t, "[1,2");
    REJECT(t, "[1,\"a\",");
    REJECT(t, "[1]");
    const char *e = "{\"enum\":[\"red\",\"reddish\",1,12,null,{\"a\":[1]}]}";
    FULL(e, "\"red\"");
    FULL(e, "\"reddish\"");
    PREFIX(e, "\"redd");
    REJECT(e, "\"blue\"");
    FULL(e, "1");
    FULL(e, "12");
    REJECT(e, "13");
    FULL(e, "{\"a\":[1]}");
    /* enum filtered by its sibling type */
    REJECT("{\"type\":\"string\",\"enum\":[\"a\",1]}", "1");
    FULL("{\"const\":\"x\"}", "\"x\"");
    REJECT("{\"const\":\"x\"}", "\"y\"");
}

TEST(jc_unique_literals) {
    const char *u = "{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"enum\":[\"a\",\"ab\",\"b\"]}}";
    FULL(u, "[\"a\",\"ab\",\"b\"]");
    REJECT(u, "[\"a\",\"a\"");
    PREFIX(u, "[\"a\",\"a");    /* "ab" is still free */
    REJECT(u, "[\"a\",\"ab\",\"b\",");
}

TEST(jc_ref_anyof) {
    const char *r = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                    "\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},\"required\":[\"v\",\"next\"],"
                    "\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}";
    FULL(r, "{\"v\":1,\"next\":{\"v\":2,\"next\":null}}");
    REJECT(r, "{\"v\":1,\"next\":{\"v\":\"x\"");
    REJECT(r, "{\"v\":1,\"next\":3");
    const char *any = "{\"anyOf\":[{\"type\":\"integer\",\"maximum\":5},{\"type\":\"string\",\"maxLength\":1}]}";
    FULL(any, "5");
    REJECT(any, "6");
    FULL(any, "\"z\"");
    REJECT(any, "\"zz");
    /* two alternatives alive at once, split late */
    const char *obj2 = "{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"integer\"}},\"additionalProperties\":false},"
                       "{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"string\"}},\"additionalProperties\":false}]}";
    FULL(obj2, "{\"k\":1}");
    /* anyOf that refers to itself without a value in between: no endless expansion */
    const char *self = "{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"type\":\"null\"}]}";
    FULL(self, "null");
    REJECT(self, "1");
    FULL(obj2, "{\"k\":\"s\"}");
    REJECT(obj2, "{\"k\":true");
}

TEST(jc_whitespace_and_think) {
    const char *o = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\"}}}";
    FULL(o, " {\n  \"a\" : [ 1 , 2 ]\n}");
    REJECT(o, "{\"a\":[1] } ");       /* no whitespace after the value */
    ct_json_constraint *c = mk(o, 2, false);
    REQUIRE(c);
    CHECK(ct_json_constraint_accept_bytes(c, "{  ", 3));
    CHECK(!ct_json_constraint_accept_bytes(c, " ", 1)); /* runs are capped at max_ws */
    ct_json_constraint_free(c);
    c = mk(o, 0, false);
    CHECK(!ct_json_constraint_accept_bytes(c, "{ ", 2));
    ct_json_constraint_free(c);
    c = mk(o, 16, true);
    const char *t = "<think>\nthe user wants {json} </thin</think>\n\n{\"a\":[]}";
    CHECK(ct_json_constraint_accept_bytes(c, t, strlen(t)));
    CHECK(ct_json_constraint_complete(c));
    ct_json_constraint_reset(c);
    CHECK(ct_json_constraint_accept_bytes(c, "{}", 2)); /* the think block is optional */
    ct_json_constraint_reset(c);
    CHECK(!ct_json_constraint_accept_bytes(c, " <think>", 8));
    ct_json_constraint_free(c);
    CHECK_EQ_INT(run_text(NULL, "{\"x\":[1,{}]}"), 2); /* json_object mode */
    CHECK_EQ_INT(run_text(NULL, "[1]"), 0);
}

/* The validator side of $ref / $defs / anyOf (the automaton compiles from the same schema). */
TEST(jc_validator_ref_anyof) {
    ct_json_schema s;
    ct_err err = {0};
    REQUIRE(ct_json_schema_load(&s, "{\"definitions\":{\"p\":{\"type\":\"integer\",\"minimum\":0}},"
                                    "\"type\":\"array\",\"items\":{\"anyOf\":[{\"$ref\":\"#/definitions/p\"},{\"type\":\"string\"}]}}",
                                "v.json", &err) == CT_OK);
    json_t *ok = json_loads("[1,\"a\",0]", 0, NULL), *bad = json_loads("[1,-2]", 0, NULL);
    CHECK(ct_json_schema_validate(&s, ok, &err) == CT_OK);
    CHECK(ct_json_schema_validate(&s, bad, &err) == CT_ERR_FORMAT && strstr(err.msg, "$[1]: matches none of the anyOf"));
    json_decref(ok);
    json_decref(bad);
    ct_json_schema_free(&s);
    /* JSON-pointer escapes; a self-referencing anyOf terminates */
    REQUIRE(ct_json_schema_load(&s, "{\"$defs\":{\"a/b~c\":{\"const\":1}},\"$ref\":\"#/$defs/a~1b~0c\"}", "v.json", &err) == CT_OK);
    json_t *one = json_integer(1), *two = json_integer(2);
    CHECK(ct_json_schema_validate(&s, one, &err) == CT_OK);
    CHECK(ct_json_schema_validate(&s, two, &err) != CT_OK);
    ct_json_schema_free(&s);
    REQUIRE(ct_json_schema_load(&s, "{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}", "v.json", &err) == CT_OK);
    CHECK(ct_json_schema_validate(&s, one, &err) != CT_OK);
    ct_json_schema_free(&s);
    json_decref(one);
    json_decref(two);
    CHECK(ct_json_schema_load(&s, "{\"$ref\":\"http://x/y\"}", "v.json", &err) == CT_ERR_FORMAT && strstr(err.msg, "only local"));
}

TEST(jc_schema_errors) {
    static const char *const bad[][2] = {
        {"{\"type\":\"string\",\"pattern\":\"a\"}", "pattern"},
        {"{\"type\":\"array\",\"uniqueItems\":true}", "uniqueItems"},
        {"{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", "never be satisfied"},
        {"{\"type\":\"integer\",\"minimum\":1.5,\"maximum\":1.7}", "never be satisfied"},
        {"{\"type\":\"string\",\"enum\":[1,2]}", "never be satisfied"},
        {"{\"type\":\"object\",\"required\":[\"x\"]}", "required key 'x'"},
        {"{\"$ref\":\"#/$defs/nope\"}", "$ref"},
        {"{\"anyOf\":[]}", "anyOf"},
        {"false", "false"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ct_json_constraint_opts o = ct_json_constraint_opts_default();
        o.schema = bad[i][0];
        o.what = "s.json";
        ct_json_constraint *c = NULL;
        ct_err err = {0};
        CHECK_MSG(ct_json_constraint_new(&o, NULL, 1, &c, &err) != CT_OK, "accepted %s", bad[i][0]);
        CHECK_MSG(strstr(err.msg, bad[i][1]) && strstr(err.msg, "s.json"), "%s: %s", bad[i][0], err.msg);
        ct_json_constraint_free(c);
    }
}

/* Everything the automaton calls complete is valid for the validator (one schema model). */
TEST(jc_complete_implies_valid) {
    const char *schema = ct_risk_answer_schema_json();
    ct_json_schema s;
    ct_err err = {0};
    REQUIRE(ct_json_schema_load(&s, schema, "risk", &err) == CT_OK);
    static const char *const texts[] = {
        "{\"product\":\"保理\",\"credit_limit\":100,\"rate_range\":[3.5,6],\"reasons\":[\"r\"],\"evidence\":{\"annual_revenue_wan\":1},"
        "\"risk_labels\":[],\"top_drivers\":[],\"needs_human_approval\":false}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int r = run_text(schema, texts[i]);
        json_t *v = json_loads(texts[i], 0, NULL);
        bool valid = v && ct_json_schema_validate(&s, v, &err) == CT_OK;
        CHECK_MSG((r == 2) == valid, "automaton %d, validator %d (%s): %s", r, valid, err.msg, texts[i]);
        json_decref(v);
    }
    ct_json_schema_free(&s);
}

/* Masks equal a brute-force check (each token's bytes stepped from scratch) along random walks
 * that pick allowed tokens; every walk that completes is valid for the validator. */
static void walk_check(const ct_tokenizer *tok, const char *schema, bool think, unsigned seed, int steps) {
    int32_t V = ct_tokenizer_vocab_size(tok);
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    o.schema = schema;
    o.think = think;
    o.max_ws = 2;
    ct_json_constraint *c = NULL, *b = NULL;
    ct_err err = {0};
    REQUIRE(ct_json_constraint_new(&o, tok, V, &c, &err) == CT_OK);
    REQUIRE(ct_json_constraint_new(&o, NULL, 1, &b, &err) == CT_OK);
    char **tb = calloc((size_t)V, sizeof *tb);
    size_t *tl = calloc((size_t)V, sizeof *tl);
    for (int32_t j = 0; j < V; j++)
        if (!ct_tokenizer_is_special(tok, j)) ct_tokenizer_token_bytes(tok, j, &tb[j], &tl[j], NULL);
    char text[8192];
    size_t n = 0;
    int32_t *allowed = malloc((size_t)V * sizeof *allowed);
    for (int step = 0; step < steps; step++) {
        const uint64_t *m = ct_json_constraint_mask(c);
        size_t na = 0;
        for (int32_t j = 0; j < V; j++) {
            bool in_mask = m[j / 64] >> (j % 64) & 1;
            bool brute = false;
            if (tb[j] && tl[j] && n + tl[j] < sizeof text) {
                ct_json_constraint_reset(b);
                memcpy(text + n, tb[j], tl[j]);
                brute = ct_json_constraint_accept_bytes(b, text, n + tl[j]);
            }
            CHECK_MSG(in_mask == brute, "schema %.40s step %d token %d (%s): mask %d, brute force %d", schema ? schema : "json_object",
                      step, j, tb[j] ? tb[j] : "", in_mask, brute);
            if (in_mask) allowed[na++] = j;
        }
        if (!na) break;
        seed = seed * 1103515245u + 12345u;
        int32_t id = allowed[(seed >> 8) % na];
        REQUIRE(ct_json_constraint_accept(c, id, &err) == CT_OK);
        memcpy(text + n, tb[id], tl[id]);
        n += tl[id];
        if (ct_json_constraint_complete(c)) break;
    }
    text[n] = 0;
    if (ct_json_constraint_complete(c) && schema) {
        ct_json_schema s;
        REQUIRE(ct_json_schema_load(&s, schema, "s", &err) == CT_OK);
        const char *j = strstr(text, "</think>");
        json_t *v = json_loads(j ? j + 8 : text, JSON_DECODE_ANY, NULL);
        CHECK_MSG(v && ct_json_schema_validate(&s, v, &err) == CT_OK, "complete but invalid: %s (%s)", text, err.msg);
        json_decref(v);
        ct_json_schema_free(&s);
    }
    for (int32_t j = 0; j < V; j++) free(tb[j]);
    free(tb);
    free(tl);
    free(allowed);
    ct_json_constraint_free(c);
    ct_json_constraint_free(b);
}

TEST(jc_masks_brute_force) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err) == CT_OK);
    static const char *const schemas[] = {
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":4},\"n\":{\"type\":\"integer\",\"minimum\":-5,\"maximum\":250}},"
        "\"required\":[\"name\",\"n\"],\"additionalProperties\":false}",
        "{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"number\",\"maximum\":3.5},{\"enum\":[\"the\",\"then\",null]}]},\"maxItems\":4}",
        NULL,
    };
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
        for (unsigned seed = 1; seed <= 3; seed++) walk_check(tok, schemas[i], seed == 3, seed * 7919u, 24);
    walk_check(tok, ct_risk_answer_schema_json(), false, 5, 40);
    walk_check(tok, "{\"type\":\"object\",\"minProperties\":2,\"additionalProperties\":{\"type\":\"integer\"}}", false, 11, 24);
    ct_tokenizer_free(tok);
}

/* A "model" that prefers to go on forever still ends with a complete value when the token budget
 * allows a completion (more in tests/test_json_budget.c). */
TEST(jc_budget_forces_completion) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err) == CT_OK);
    int32_t V = ct_tokenizer_vocab_size(tok) + 1, eos = V - 1; /* an id without text as eos */
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    o.schema = ct_risk_answer_schema_json();
    ct_json_constraint *c = NULL;
    REQUIRE(ct_json_constraint_new(&o, tok, V, &c, &err) == CT_OK);
    float *logits = malloc((size_t)V * sizeof *logits);
    for (int budget = 450; budget <= 450; budget += 150) {
        ct_json_constraint_reset(c);
        unsigned seed = (unsigned)budget;
        int used = 0;
        bool ended = false;
        for (int i = 0; i < budget && !ended; i++) {
            for (int32_t j = 0; j < V; j++) {
                seed = seed * 1103515245u + 12345u;
                logits[j] = (float)((seed >> 8) % 1000) / 100.0f;
            }
            logits[eos] = -100.0f; /* never wants to stop */
            used++;
            ended = !json_greedy_step(c, tok, logits, V, eos, budget - i, NULL, 0, NULL);
        }
        /* the value may take the whole budget (no room kept for the eos id) */
        CHECK_MSG(ct_json_constraint_complete(c), "budget %d: ended %d after %d tokens", budget, ended, used);
    }
    CHECK(ct_json_constraint_stats_get(c).forced > 0);
    free(logits);
    ct_json_constraint_free(c);
    ct_tokenizer_free(tok);
}

/* Additional-property names never repeat within an object (RFC 8259: names SHOULD be unique; a
 * repeated one would leave fewer properties after parsing than min/maxProperties counted). */
TEST(jc_extra_keys_unique) {
    const char *open = "{\"type\":\"object\"}";
    PREFIX(open, "{\"a\":1,\"a");
    REJECT(open, "{\"a\":1,\"a\"");          /* a second "a" */
    PREFIX(open, "{\"a\":1,\"ab\"");         /* a longer name is new */
    REJECT(open, "{\"\":1,\"\"");            /* the empty name too */
    FULL(open, "{\"\":1,\"a\":2,\"b\":{\"a\":3,\"b\":4}}"); /* names are per object */
    FULL(open, "{\"a\":{\"x\":1},\"x\":2}");
    REJECT(open, "{\"a\":{\"x\":1,\"x\"");
    REJECT(open, "{\"a\":{\"x\":1},\"b\":2,\"a\"");  /* still remembered after a nested object */
    REJECT(open, "{\"é\":1,\"é\"");          /* UTF-8 names */
    PREFIX(open, "{\"é\":1,\"ê\"");
    const char *decl = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"integer\"}}";
    REJECT(decl, "{\"b\":1,\"a\":2,\"b\"");
    PREFIX(decl, "{\"b\":1,\"a\":2,\"c\"");
    /* minProperties 3 with names: the shortest completion takes distinct names */
    ct_json_constraint *c = mk("{\"type\":\"object\",\"minProperties\":3,\"additionalProperties\":{\"type\":\"integer\"}}", 0,
                               false);
    REQUIRE(c);
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, "{\"\":0,", 6), 12);      /* "a":0,"b":0} */
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, "{\"\":0,\"", 7), 11);   /* a":0,"b":0} */
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, "{\"\":0,\"a", 8), 10);  /* ":0,"b":0} */
    ct_json_constraint_free(c);
}

/* Find the token whose bytes are exactly s. */
static int32_t token_of(const ct_tokenizer *tok, const char *s) {
    for (int32_t i = 0; i < ct_tokenizer_vocab_size(tok); i++) {
        char *b = NULL;
        size_t n = 0;
        if (ct_tokenizer_is_special(tok, i) || ct_tokenizer_token_bytes(tok, i, &b, &n, NULL)) continue;
        bool eq = b && n == strlen(s) && !memcmp(b, s, n);
        free(b);
        if (eq) return i;
    }
    return -1;
}

static bool allowed_after(ct_json_constraint *c, const char *prefix, int32_t id) {
    ct_json_constraint_reset(c);
    if (!ct_json_constraint_accept_bytes(c, prefix, strlen(prefix))) return false;
    const uint64_t *m = ct_json_constraint_mask(c);
    return m[id / 64] >> (id % 64) & 1;
}

/* The mask (cached per state) closes a key only when its name is new: after "a", closing a
 * second "a" is masked out while "ab" and, in another object that wrote "b", "a" are allowed. */
TEST(jc_extra_keys_mask) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err) == CT_OK);
    int32_t V = ct_tokenizer_vocab_size(tok), q = token_of(tok, "\""), b = token_of(tok, "b");
    REQUIRE(q >= 0 && b >= 0);
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    o.schema = "{\"type\":\"object\",\"maxProperties\":3}";
    ct_json_constraint *c = NULL;
    REQUIRE(ct_json_constraint_new(&o, tok, V, &c, &err) == CT_OK);
    for (int round = 0; round < 2; round++) { /* the second round answers from the cache */
        CHECK(!allowed_after(c, "{\"a\":1,\"a", q));
        CHECK(allowed_after(c, "{\"a\":1,\"a", b));
        CHECK(allowed_after(c, "{\"a\":1,\"ab", q));
        CHECK(allowed_after(c, "{\"b\":1,\"a", q));
        CHECK(!allowed_after(c, "{\"b\":1,\"a\":2,\"a", q));
        CHECK(!allowed_after(c, "{\"b\":1,\"a\":2,\"b", q));
    }
    CHECK(ct_json_constraint_stats_get(c).cache_hits >= 6);
    ct_json_constraint_free(c);
    ct_tokenizer_free(tok);
}

/* Random-logit generations that favour short, repeated names never write a name twice and
 * always end (budget) with a value that parses (duplicates refused) and validates. */
TEST(jc_extra_keys_random_walks) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err) == CT_OK);
    int32_t V = ct_tokenizer_vocab_size(tok) + 1, eos = V - 1;
    static const char *const favour[] = {"\"", "a", "b", ":", ",", "1", "{", "}"};
    int32_t fav[8];
    for (int i = 0; i < 8; i++) REQUIRE((fav[i] = token_of(tok, favour[i])) >= 0);
    static const char *const schemas[] = {
        "{\"type\":\"object\",\"additionalProperties\":true,\"minProperties\":3,\"maxProperties\":5}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"integer\"},"
        "\"minProperties\":4}",
        "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"},"
        "\"minProperties\":2},\"minProperties\":2,\"maxProperties\":3}",
        NULL,
    };
    float *logits = malloc((size_t)V * sizeof *logits);
    int completed = 0;
    for (size_t k = 0; k < sizeof schemas / sizeof schemas[0]; k++) {
        ct_json_constraint_opts o = ct_json_constraint_opts_default();
        o.schema = schemas[k];
        o.max_ws = 0;
        ct_json_constraint *c = NULL;
        REQUIRE(ct_json_constraint_new(&o, tok, V, &c, &err) == CT_OK);
        ct_json_schema s;
        if (schemas[k]) REQUIRE(ct_json_schema_load(&s, schemas[k], "s", &err) == CT_OK);
        for (unsigned seed = 1; seed <= 4; seed++) {
            ct_json_constraint_reset(c);
            unsigned r = seed * 2654435761u + (unsigned)k;
            char text[512];
            size_t n = 0;
            int budget = 60;
            bool ended = false;
            for (int i = 0; i < budget && !ended; i++) {
                for (int32_t j = 0; j < V; j++) {
                    r = r * 1103515245u + 12345u;
                    logits[j] = (float)((r >> 8) % 1000) / 1000.0f;
                }
                for (int f = 0; f < 8; f++) {
                    r = r * 1103515245u + 12345u;
                    logits[fav[f]] += 5.0f + (float)((r >> 8) % 100) / 10.0f;
                }
                ended = !json_greedy_step(c, tok, logits, V, eos, budget - i, text, sizeof text, &n);
            }
            text[n] = 0;
            CHECK_MSG(ct_json_constraint_complete(c), "schema %zu seed %u: incomplete %s", k, seed, text);
            if (!ct_json_constraint_complete(c)) continue;
            json_error_t je;
            json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
            CHECK_MSG(v, "schema %zu seed %u: %s: %s", k, seed, text, je.text);
            if (v && schemas[k])
                CHECK_MSG(ct_json_schema_validate(&s, v, &err) == CT_OK, "schema %zu: %s invalid: %s", k, text, err.msg);
            completed += v != NULL;
            json_decref(v);
        }
        if (schemas[k]) ct_json_schema_free(&s);
        ct_json_constraint_free(c);
    }
    CHECK_EQ_INT(completed, 16);
    free(logits);
    ct_tokenizer_free(tok);
}
