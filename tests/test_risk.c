/* Risk dataset: rules (thresholds, worked examples), generator (determinism, every sample parses,
 * answers follow the rules, tools/refusals/think consistent), JSON writer, schema validator. */
#include <jansson.h>
#include <stdlib.h>

#include "base/file.h"
#include "ctune/risk.h"
#include "eval/json_schema.h"
#include "risk/json_writer.h"
#include "risk/synth.h"
#include "harness.h"

/* A profile with every factor comfortably inside its threshold. */
static ct_risk_profile clean_profile(void) {
    ct_risk_profile p = {0};
    snprintf(p.company, sizeof p.company, "测试公司");
    p.revenue_wan = 10000;
    p.revenue_trend_x10 = 50;
    p.receivables_x100 = 110;
    p.overdue_x10 = 20;
    p.payment_terms_days = 60;
    p.top_customer_pct = 30;
    p.collateral_x100 = 80;
    p.years_in_business = 10;
    p.requested_wan = 1000;
    p.collateral_wan = 800;
    return p;
}

TEST(risk_rules_thresholds_are_strict) {
    ct_risk_decision d;
    /* Each factor exactly at its threshold raises nothing; one unit past it raises its label. */
    ct_risk_profile p = clean_profile();
    p.overdue_x10 = 50;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 0);
    p.overdue_x10 = 51;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 1u << CT_RISK_LABEL_OVERDUE);
    p = clean_profile();
    p.payment_terms_days = 90;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 0);
    p.payment_terms_days = 91;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 1u << CT_RISK_LABEL_LONG_TERMS);
    p = clean_profile();
    p.top_customer_pct = 50;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 0);
    p.top_customer_pct = 51;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 1u << CT_RISK_LABEL_SINGLE_CUSTOMER);
    p = clean_profile();
    p.revenue_trend_x10 = -100;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 0);
    p.revenue_trend_x10 = -101;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 1u << CT_RISK_LABEL_REVENUE_DECLINE);
    p = clean_profile();
    p.collateral_x100 = 50;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 0);
    p.collateral_x100 = 49;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 1u << CT_RISK_LABEL_LOW_COLLATERAL);
    p = clean_profile();
    p.years_in_business = 3;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 0);
    p.years_in_business = 2;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 1u << CT_RISK_LABEL_YOUNG);
    p = clean_profile();
    p.receivables_x100 = 100;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 0);
    p.receivables_x100 = 99;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, 1u << CT_RISK_LABEL_LOW_RECEIVABLES);
}

TEST(risk_rules_worked_examples) {
    ct_risk_decision d;
    /* docs/risk-dataset.md example: 3 labels, receivables pledge. */
    ct_risk_profile p = {0};
    p.revenue_wan = 14730, p.revenue_trend_x10 = -310, p.receivables_x100 = 114, p.overdue_x10 = 16;
    p.payment_terms_days = 90, p.top_customer_pct = 54, p.collateral_x100 = 20, p.collateral_wan = 320;
    p.years_in_business = 21, p.requested_wan = 1600;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.labels, (1u << CT_RISK_LABEL_SINGLE_CUSTOMER) | (1u << CT_RISK_LABEL_REVENUE_DECLINE) |
                               (1u << CT_RISK_LABEL_LOW_COLLATERAL));
    CHECK_EQ_INT(d.product, CT_RISK_PRODUCT_RECEIVABLE_PLEDGE);
    CHECK_EQ_INT(d.cap_revenue_wan, 4419);  /* 14730 * 30% */
    CHECK_EQ_INT(d.cap_product_wan, 1276);  /* 1600 * 1.14 * 70% = 1276.8 */
    CHECK_EQ_INT(d.haircut_wan, 893);       /* 1276 * 70% */
    CHECK_EQ_INT(d.credit_limit_yuan, 8900000);
    CHECK_EQ_INT(d.rate_lo_bps, 475);
    CHECK_EQ_INT(d.rate_hi_bps, 625);
    CHECK(d.needs_human_approval); /* 3 labels */
    CHECK_EQ_INT(d.drivers[0], CT_RISK_LABEL_REVENUE_DECLINE);  /* severity 2100 */
    CHECK_EQ_INT(d.drivers[1], CT_RISK_LABEL_LOW_COLLATERAL);   /* 600 */
    CHECK_EQ_INT(d.drivers[2], CT_RISK_LABEL_SINGLE_CUSTOMER);  /* 160 */
    CHECK(d.driver_negative[0] && d.driver_negative[1] && d.driver_negative[2]);

    /* Clean profile with high receivables coverage and low overdue: factoring, no labels. */
    p = clean_profile();
    p.receivables_x100 = 150, p.overdue_x10 = 30;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.product, CT_RISK_PRODUCT_FACTORING);
    CHECK_EQ_INT(d.credit_limit_yuan, 10000000); /* min(1000, 3000, 1200) = 1000 万 */
    CHECK_EQ_INT(d.rate_lo_bps, 360);
    CHECK(!d.needs_human_approval);
    /* Positive drivers: the strongest are the most negative severities. */
    CHECK(!d.driver_negative[0]);
    CHECK_EQ_INT(d.drivers[0], CT_RISK_LABEL_YOUNG); /* (3-10)*1000/3 = -2333 */

    /* Overdue above 10 % declines regardless. */
    p = clean_profile();
    p.overdue_x10 = 101;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.product, CT_RISK_PRODUCT_NONE);
    CHECK_EQ_INT(d.credit_limit_yuan, 0);
    CHECK_EQ_INT(d.rate_lo_bps, 0);
    CHECK(d.needs_human_approval);
    /* Four labels decline. */
    p = clean_profile();
    p.overdue_x10 = 60, p.payment_terms_days = 120, p.top_customer_pct = 60, p.years_in_business = 1;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.n_labels, 4);
    CHECK_EQ_INT(d.product, CT_RISK_PRODUCT_NONE);
    /* A limit below 50 万 declines too (product_before_floor keeps the would-be product). */
    p = clean_profile();
    p.requested_wan = 100, p.receivables_x100 = 60, p.revenue_trend_x10 = 10, p.revenue_wan = 200;
    ct_risk_decide(&p, &d); /* order financing cap = 200 * 20% = 40 万 */
    CHECK_EQ_INT(d.product_before_floor, CT_RISK_PRODUCT_ORDER);
    CHECK_EQ_INT(d.product, CT_RISK_PRODUCT_NONE);
    /* A large clean limit needs approval (> 2000 万). */
    p = clean_profile();
    p.revenue_wan = 60000, p.requested_wan = 5000, p.receivables_x100 = 300, p.overdue_x10 = 10;
    ct_risk_decide(&p, &d);
    CHECK_EQ_INT(d.credit_limit_yuan, 50000000);
    CHECK(d.needs_human_approval);
}

TEST(risk_json_writer) {
    char b[32];
    CHECK_STREQ(ct_fixed_fmt(b, -125, 1), "-12.5");
    CHECK_STREQ(ct_fixed_fmt(b, 5, 2), "0.05");
    CHECK_STREQ(ct_fixed_fmt(b, -5, 2), "-0.05");
    CHECK_STREQ(ct_fixed_fmt(b, 0, 1), "0.0");
    CHECK_STREQ(ct_fixed_fmt(b, 100, 2), "1.00");
    CHECK_STREQ(ct_int_grouped(b, 1234567), "1,234,567");
    CHECK_STREQ(ct_int_grouped(b, 999), "999");
    ct_rjw w;
    ct_rjw_init(&w);
    ct_rjw_obj(&w);
    ct_rjw_key(&w, "a\"b");
    ct_rjw_str(&w, "x\n\t\x01中");
    ct_rjw_key(&w, "l");
    ct_rjw_arr(&w);
    ct_rjw_fixed(&w, 475, 2);
    ct_rjw_null(&w);
    ct_rjw_obj(&w);
    ct_rjw_end(&w);
    ct_rjw_end(&w);
    ct_rjw_end(&w);
    char *s = ct_rjw_take(&w);
    CHECK_STREQ(s, "{\"a\\\"b\":\"x\\n\\t\\u0001中\",\"l\":[4.75,null,{}]}");
    free(s);
}

/* Finds the target assistant message (first without tool_calls) of an openai record. */
static json_t *target_msg(json_t *rec) {
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(rec, "messages"), i, m) {
        if (!strcmp(json_string_value(json_object_get(m, "role")), "assistant") &&
            !json_object_get(m, "tool_calls"))
            return m;
    }
    return NULL;
}

static json_t *synth(const ct_risk_synth_opts *o, uint64_t i) {
    char *line = NULL;
    ct_err err = {0};
    if (ct_risk_synth_sample(o, i, &line, &err)) {
        ct_test_fail(__FILE__, __LINE__, "synth %llu: %s", (unsigned long long)i, err.msg);
        return NULL;
    }
    json_error_t je;
    json_t *rec = json_loads(line, 0, &je);
    if (!rec) ct_test_fail(__FILE__, __LINE__, "sample %llu does not parse: %s", (unsigned long long)i, je.text);
    free(line);
    return rec;
}

TEST(risk_synth_deterministic) {
    ct_risk_synth_opts o;
    ct_risk_synth_opts_init(&o);
    o.seed = 123;
    ct_err err = {0};
    for (uint64_t i = 0; i < 30; i++) {
        char *a = NULL, *b = NULL;
        CHECK_OK(ct_risk_synth_sample(&o, i, &a, &err), &err);
        CHECK_OK(ct_risk_synth_sample(&o, i, &b, &err), &err);
        CHECK(a && b && !strcmp(a, b));
        free(b);
        o.seed = 124;
        CHECK_OK(ct_risk_synth_sample(&o, i, &b, &err), &err);
        CHECK_MSG(a && b && strcmp(a, b) != 0, "seed 123 and 124 give the same sample %llu", (unsigned long long)i);
        o.seed = 123;
        free(a), free(b);
    }
    /* The same index has the same profile in every format. */
    for (uint64_t i = 0; i < 20; i++) {
        json_t *recs[3];
        for (int f = 0; f < 3; f++) {
            o.format = (ct_risk_format)f;
            recs[f] = synth(&o, i);
        }
        json_t *p0 = json_object_get(json_object_get(recs[0], "meta"), "profile");
        for (int f = 1; f < 3; f++)
            CHECK(json_equal(p0, json_object_get(json_object_get(recs[f], "meta"), "profile")));
        for (int f = 0; f < 3; f++) json_decref(recs[f]);
    }
}

/* An independent statement of the label rules on the JSON profile (doubles, as written). */
static unsigned oracle_labels(json_t *pr) {
    unsigned l = 0;
    if (json_number_value(json_object_get(pr, "overdue_rate_pct")) > 5.0) l |= 1;
    if (json_number_value(json_object_get(pr, "payment_terms_days")) > 90) l |= 2;
    if (json_number_value(json_object_get(pr, "top_customer_pct")) > 50) l |= 4;
    if (json_number_value(json_object_get(pr, "revenue_trend_pct")) < -10.0) l |= 8;
    if (json_number_value(json_object_get(pr, "collateral_coverage")) < 0.5) l |= 16;
    if (json_number_value(json_object_get(pr, "years_in_business")) < 3) l |= 32;
    if (json_number_value(json_object_get(pr, "receivables_coverage")) < 1.0) l |= 64;
    return l;
}

TEST(risk_synth_openai_samples_follow_rules) {
    ct_risk_synth_opts o;
    ct_risk_synth_opts_init(&o);
    o.seed = 99;
    ct_json_schema schema;
    ct_err err = {0};
    REQUIRE(ct_json_schema_load(&schema, ct_risk_answer_schema_json(), "schema", &err) == CT_OK);
    int n = 300, n_think = 0, n_en = 0, n_tools = 0, n_refusal = 0, n_multi = 0, n_labels_seen[8] = {0};
    for (int i = 0; i < n; i++) {
        json_t *rec = synth(&o, (uint64_t)i);
        if (!rec) continue;
        json_t *meta = json_object_get(rec, "meta"), *pr = json_object_get(meta, "profile");
        ct_risk_profile p;
        CHECK_OK(ct_risk_profile_from_json(pr, &p, &err), &err);
        json_t *t = target_msg(rec);
        REQUIRE(t);
        const char *content = json_string_value(json_object_get(t, "content"));
        bool think = json_object_get(t, "reasoning_content") != NULL;
        CHECK(think == json_is_true(json_object_get(meta, "think")));
        n_think += think;
        n_en += !strcmp(json_string_value(json_object_get(meta, "lang")), "en");
        if (!strcmp(json_string_value(json_object_get(meta, "kind")), "refusal")) {
            n_refusal++;
            CHECK(content[0] != '{');
            CHECK(strstr(content, "风险团队") || strstr(content, "risk team"));
            json_decref(rec);
            continue;
        }
        json_t *ans = json_loads(content, 0, NULL);
        CHECK_MSG(ans && ct_json_schema_validate(&schema, ans, &err) == CT_OK, "sample %d: %s", i, err.msg);
        /* Labels in the answer equal the independent oracle's, in the fixed order. */
        unsigned got = 0;
        size_t k, prev = 0;
        json_t *v;
        json_array_foreach(json_object_get(ans, "risk_labels"), k, v) {
            int l = ct_risk_label_from_name(json_string_value(v));
            CHECK(l >= 0 && (k == 0 || (size_t)l > prev));
            prev = (size_t)l;
            got |= 1u << l;
        }
        CHECK_MSG(got == oracle_labels(pr), "sample %d: labels %u, oracle %u", i, got, oracle_labels(pr));
        n_labels_seen[json_array_size(json_object_get(ans, "risk_labels"))]++;
        /* The whole answer text equals the rules' answer for the meta profile. */
        ct_risk_decision d;
        ct_risk_decide(&p, &d);
        char *expect = ct_risk_answer_json(&p, &d, !strcmp(json_string_value(json_object_get(meta, "lang")), "en"));
        CHECK_STREQ(content, expect);
        free(expect);
        /* Tool samples: schemas present; results consistent with the profile. */
        if (json_is_true(json_object_get(meta, "tools"))) {
            n_tools++;
            CHECK_EQ_INT(json_array_size(json_object_get(rec, "tools")), 2);
            size_t j;
            json_t *m;
            int calls = 0, results = 0;
            json_array_foreach(json_object_get(rec, "messages"), j, m) {
                const char *role = json_string_value(json_object_get(m, "role"));
                if (json_object_get(m, "tool_calls")) {
                    calls++;
                    json_t *args = json_object_get(json_object_get(json_array_get(json_object_get(m, "tool_calls"), 0), "function"), "arguments");
                    CHECK(json_is_object(args));
                    CHECK_STREQ(json_string_value(json_object_get(args, "company_name")), p.company);
                }
                if (!strcmp(role, "tool")) {
                    results++;
                    json_t *r = json_loads(json_string_value(json_object_get(m, "content")), 0, NULL);
                    REQUIRE(r);
                    json_t *x;
                    if ((x = json_object_get(r, "overdue_rate_pct")))
                        CHECK(json_equal(x, json_object_get(pr, "overdue_rate_pct")));
                    if ((x = json_object_get(r, "receivables_coverage")))
                        CHECK(json_equal(x, json_object_get(pr, "receivables_coverage")));
                    if ((x = json_object_get(r, "avg_payment_terms_days")))
                        CHECK(json_equal(x, json_object_get(pr, "payment_terms_days")));
                    json_decref(r);
                }
            }
            CHECK(calls >= 1 && calls == results);
        } else {
            CHECK(!json_object_get(rec, "tools"));
        }
        n_multi += json_is_true(json_object_get(meta, "multi_turn"));
        json_decref(ans);
        json_decref(rec);
    }
    ct_json_schema_free(&schema);
    /* Ratios near their defaults (binomial, n = 300: these bounds are > 4 sigma wide). */
    CHECK_MSG(n_think > 110 && n_think < 190, "think %d/300", n_think);
    CHECK_MSG(n_en > 20 && n_en < 80, "english %d/300", n_en);
    CHECK_MSG(n_refusal > 10 && n_refusal < 55, "refusal %d/300", n_refusal);
    CHECK_MSG(n_tools > 45 && n_tools < 110, "tools %d/300", n_tools);
    CHECK_MSG(n_multi > 15 && n_multi < 75, "multi-turn %d/300", n_multi);
    for (int l = 0; l <= 3; l++) CHECK_MSG(n_labels_seen[l] > 5, "only %d answers with %d labels", n_labels_seen[l], l);
}

TEST(risk_synth_think_ratio_and_formats) {
    ct_risk_synth_opts o;
    ct_risk_synth_opts_init(&o);
    o.seed = 5;
    for (int f = 0; f < 3; f++) {
        o.format = (ct_risk_format)f;
        for (int r = 0; r < 2; r++) {
            o.think_ppm = r ? 1000000 : 0;
            for (uint64_t i = 0; i < 40; i++) {
                char *line = NULL;
                ct_err err = {0};
                CHECK_OK(ct_risk_synth_sample(&o, i, &line, &err), &err);
                bool has = line && (strstr(line, "<think>") || strstr(line, "reasoning_content"));
                CHECK_MSG(has == (r == 1), "format %d think_ppm %u sample %llu", f, o.think_ppm, (unsigned long long)i);
                json_t *rec = line ? json_loads(line, 0, NULL) : NULL;
                CHECK(rec);
                if (f == CT_RISK_FORMAT_ALPACA) {
                    CHECK(json_is_string(json_object_get(rec, "instruction")) && json_is_string(json_object_get(rec, "output")));
                    CHECK(!json_object_get(rec, "tools")); /* alpaca cannot carry tools */
                } else if (f == CT_RISK_FORMAT_SHAREGPT) {
                    json_t *conv = json_object_get(rec, "conversations");
                    /* LlamaFactory's sharegpt rule: human/observation at even, gpt/function_call at odd. */
                    size_t j;
                    json_t *m;
                    json_array_foreach(conv, j, m) {
                        const char *from = json_string_value(json_object_get(m, "from"));
                        bool odd_slot = !strcmp(from, "human") || !strcmp(from, "observation");
                        CHECK_MSG(odd_slot == (j % 2 == 0), "sample %llu turn %zu from %s", (unsigned long long)i, j, from);
                        if (!strcmp(from, "function_call")) {
                            json_t *fc = json_loads(json_string_value(json_object_get(m, "value")), 0, NULL);
                            CHECK(fc && json_is_string(json_object_get(fc, "name")) && json_is_object(json_object_get(fc, "arguments")));
                            json_decref(fc);
                            json_t *tools = json_loads(json_string_value(json_object_get(rec, "tools")), 0, NULL);
                            CHECK(json_is_array(tools) && json_array_size(tools) == 2);
                            json_decref(tools);
                        }
                    }
                    CHECK(json_array_size(conv) % 2 == 0);
                }
                json_decref(rec);
                free(line);
            }
        }
    }
    ct_err err = {0};
    uint32_t ppm;
    CHECK(ct_risk_ratio_ppm(1.5, &ppm, &err) == CT_ERR_ARG);
    CHECK(ct_risk_ratio_ppm(NAN, &ppm, &err) == CT_ERR_ARG);
    CHECK_OK(ct_risk_ratio_ppm(0.25, &ppm, &err), &err);
    CHECK_EQ_INT(ppm, 250000);
    CHECK_EQ_INT(ct_risk_format_from_name("jsonl"), -1);
}

TEST(risk_profile_json_roundtrip) {
    ct_risk_synth_opts o;
    ct_risk_synth_opts_init(&o);
    for (uint64_t i = 0; i < 50; i++) {
        json_t *rec = synth(&o, i);
        if (!rec) continue;
        json_t *pr = json_object_get(json_object_get(rec, "meta"), "profile");
        ct_risk_profile p;
        ct_err err = {0};
        CHECK_OK(ct_risk_profile_from_json(pr, &p, &err), &err);
        ct_rjw w;
        ct_rjw_init(&w);
        ct_risk_profile_write(&w, &p);
        char *s = ct_rjw_take(&w), *ref = json_dumps(pr, JSON_COMPACT);
        json_t *back = json_loads(s, 0, NULL);
        CHECK(json_equal(back, pr));
        json_decref(back);
        free(s), free(ref);
        json_decref(rec);
    }
    ct_risk_profile p;
    ct_err err = {0};
    json_t *bad = json_loads("{\"annual_revenue_wan\": \"lots\"}", 0, NULL);
    CHECK(ct_risk_profile_from_json(bad, &p, &err) == CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "annual_revenue_wan") != NULL);
    json_decref(bad);
}

static const char *GOOD =
    "{\"product\":\"保理\",\"credit_limit\":10000000,\"rate_range\":[3.60,5.10],\"reasons\":[\"ok\"],"
    "\"evidence\":{\"annual_revenue_wan\":10000},\"risk_labels\":[\"逾期\"],\"top_drivers\":["
    "{\"factor\":\"overdue_rate_pct\",\"value\":6.0,\"impact\":\"negative\"},"
    "{\"factor\":\"years_in_business\",\"value\":10,\"impact\":\"positive\"},"
    "{\"factor\":\"top_customer_pct\",\"value\":30,\"impact\":\"positive\"}],\"needs_human_approval\":false}";

static ct_status validate_text(const ct_json_schema *s, const char *text, ct_err *err) {
    json_t *v = json_loads(text, 0, NULL);
    if (!v) return ct_err_set(err, CT_ERR_FORMAT, "test input does not parse");
    ct_status st = ct_json_schema_validate(s, v, err);
    json_decref(v);
    return st;
}

/* Replaces the first occurrence of `from` in GOOD by `to`. */
static char *mutate(const char *from, const char *to) {
    const char *at = strstr(GOOD, from);
    if (!at) return NULL;
    size_t n = strlen(GOOD) - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
    return s;
}

TEST(risk_schema_validates_and_rejects) {
    ct_json_schema s;
    ct_err err = {0};
    REQUIRE(ct_json_schema_load(&s, ct_risk_answer_schema_json(), "schema", &err) == CT_OK);
    CHECK_OK(validate_text(&s, GOOD, &err), &err);
    struct {
        const char *from, *to, *expect_in_msg;
    } bad[] = {
        {"\"product\":\"保理\",", "", "missing required key 'product'"},
        {"\"credit_limit\":10000000", "\"credit_limit\":\"10000000\"", "$.credit_limit"},
        {"\"credit_limit\":10000000", "\"credit_limit\":1.5", "$.credit_limit"},
        {"\"credit_limit\":10000000", "\"credit_limit\":-1", "below minimum"},
        {"[\"逾期\"]", "[\"高风险\"]", "$.risk_labels[0]"},
        {"[\"逾期\"]", "[\"逾期\",\"逾期\"]", "not unique"},
        {"\"product\":\"保理\"", "\"product\":\"贷款\"", "$.product"},
        {"[3.60,5.10]", "[3.60]", "too few items"},
        {"[3.60,5.10]", "[3.60,5.10,6]", "too many items"},
        {"[3.60,5.10]", "\"3.6-5.1\"", "$.rate_range"},
        {"\"impact\":\"negative\"", "\"impact\":\"bad\"", "$.top_drivers[0].impact"},
        {"{\"factor\":\"top_customer_pct\",\"value\":30,\"impact\":\"positive\"}", "", NULL},
        {"\"needs_human_approval\":false", "\"needs_human_approval\":\"no\"", "$.needs_human_approval"},
        {"\"reasons\":[\"ok\"]", "\"reasons\":[]", "too few items"},
        {"\"reasons\":[\"ok\"]", "\"reasons\":[\"ok\"],\"extra\":1", "unknown key 'extra'"},
        {"{\"annual_revenue_wan\":10000}", "{\"secret\":1}", "unknown key 'secret'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = mutate(bad[i].from, bad[i].to);
        if (!t) {
            ct_test_fail(__FILE__, __LINE__, "mutation %zu does not apply", i);
            continue;
        }
        if (i == 11) { /* removing the third driver leaves a trailing comma: fix it up */
            char *c = strstr(t, "},]");
            if (c) memmove(c + 1, c + 2, strlen(c + 2) + 1);
        }
        ct_status st = validate_text(&s, t, &err);
        CHECK_MSG(st != CT_OK, "mutation %zu accepted: %s", i, t);
        if (st != CT_OK && bad[i].expect_in_msg)
            CHECK_MSG(strstr(err.msg, bad[i].expect_in_msg), "mutation %zu: message '%s' lacks '%s'", i, err.msg,
                      bad[i].expect_in_msg);
        free(t);
    }
    /* null rate_range is allowed (不推荐); 10000000.0 is an integer in JSON Schema's sense. */
    char *t = mutate("[3.60,5.10]", "null");
    CHECK_OK(validate_text(&s, t, &err), &err);
    free(t);
    t = mutate("10000000", "10000000.0");
    CHECK_OK(validate_text(&s, t, &err), &err);
    free(t);
    ct_json_schema_free(&s);
    /* Keywords outside the implemented subset are refused, not ignored. */
    CHECK(ct_json_schema_load(&s, "{\"type\":\"string\",\"pattern\":\"^a\"}", "x.json", &err) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "pattern") != NULL);
    CHECK(ct_json_schema_load(&s, "{\"type\":\"strin\"}", "x.json", &err) == CT_ERR_FORMAT);
    CHECK(ct_json_schema_load(&s, "{", "x.json", &err) == CT_ERR_FORMAT);
}

TEST(risk_schema_file_matches_library) {
    char *buf = NULL;
    size_t n = 0;
    ct_err err = {0};
    CHECK_OK(ct_read_file(ct_test_path("examples/risk/answer.schema.json"), &buf, &n, &err), &err);
    CHECK_MSG(buf && !strcmp(buf, ct_risk_answer_schema_json()),
              "examples/risk/answer.schema.json differs from ct_risk_answer_schema_json(); run examples/risk/generate.sh");
    free(buf);
}
