/* Risk evaluator: perfect outputs score 1, garbage 0, hand-made partial outputs give the
 * hand-computed numbers; report JSON round trip; HTML; file matching errors. */
#include <jansson.h>
#include <stdlib.h>

#include "base/file.h"
#include "ctune/risk.h"
#include "risk/eval.h"
#include "harness.h"

static ct_risk_profile profile(void) {
    ct_risk_profile p = {0};
    p.revenue_wan = 14730, p.revenue_trend_x10 = -310, p.receivables_x100 = 114, p.overdue_x10 = 16;
    p.payment_terms_days = 90, p.top_customer_pct = 54, p.collateral_x100 = 20, p.collateral_wan = 320;
    p.years_in_business = 21, p.requested_wan = 1600;
    return p;
}

static char *answer(const ct_risk_profile *p) {
    ct_risk_decision d;
    ct_risk_decide(p, &d);
    return ct_risk_answer_json(p, &d, false);
}

/* Replaces the first `from` in s by `to` (new string). */
static char *subst(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    if (!at) return strdup(s);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *r = malloc(n);
    snprintf(r, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return r;
}

TEST(risk_eval_score_output) {
    ct_risk_profile p = profile();
    char *a = answer(&p);
    ct_risk_score s;
    ct_risk_score_output(&p, false, a, &s);
    CHECK(s.json_valid && s.label_exact && s.product_ok && s.approval_ok && s.limit_ok && s.rate_ok && s.drivers_ok);
    CHECK(!s.refused);
    /* A leading think block and whitespace are accepted. */
    char buf[8192];
    snprintf(buf, sizeof buf, "  <think>\n规则核对……\n</think>\n\n%s\n", a);
    ct_risk_score_output(&p, false, buf, &s);
    CHECK(s.json_valid && s.label_exact);
    /* Unterminated think, code fences, prose: invalid. */
    snprintf(buf, sizeof buf, "<think>\n%s", a);
    ct_risk_score_output(&p, false, buf, &s);
    CHECK(!s.json_valid);
    snprintf(buf, sizeof buf, "```json\n%s\n```", a);
    ct_risk_score_output(&p, false, buf, &s);
    CHECK(!s.json_valid);
    ct_risk_score_output(&p, false, NULL, &s);
    CHECK(!s.json_valid && !s.label_exact);
    /* Credit limit tolerance: expected 8,900,000; +9 % passes, +11 % fails. */
    char *t = subst(a, "8900000", "9701000");
    ct_risk_score_output(&p, false, t, &s);
    CHECK(s.json_valid && s.limit_ok);
    free(t);
    t = subst(a, "8900000", "9879000");
    ct_risk_score_output(&p, false, t, &s);
    CHECK(s.json_valid && !s.limit_ok && s.label_exact);
    free(t);
    /* Wrong product, flipped approval. */
    t = subst(a, "应收账款质押融资", "保理");
    char *t2 = subst(t, "\"needs_human_approval\":true", "\"needs_human_approval\":false");
    ct_risk_score_output(&p, false, t2, &s);
    CHECK(s.json_valid && !s.product_ok && !s.approval_ok && s.label_exact);
    free(t), free(t2);
    /* A refusal on an answer sample counts as over-refusal; on a refusal sample as correct. */
    ct_risk_score_output(&p, false, "这个问题涉及内部评级信息，请联系风险团队。", &s);
    CHECK(s.refused && !s.json_valid);
    ct_risk_score_output(&p, true, "This involves internal ratings. Please contact the Risk Team.", &s);
    CHECK(s.refusal_ok);
    ct_risk_score_output(&p, true, a, &s); /* answering a sensitive request is wrong */
    CHECK(!s.refusal_ok);
    free(a);
}

TEST(risk_eval_micro_f1_by_hand) {
    /* Truth for profile(): {单一客户依赖, 营收下滑, 抵押不足}. Prediction 1 drops 抵押不足 and
     * adds 逾期 (tp 2, fp 1, fn 1); prediction 2 is exact (tp 3); prediction 3 is garbage (fn 3).
     * micro P = 5/6, R = 5/9, F1 = 2*5/(2*5+1+4) = 10/15. */
    ct_risk_profile p = profile();
    char *a = answer(&p);
    char *t = subst(a, "[\"单一客户依赖\",\"营收下滑\",\"抵押不足\"]", "[\"逾期\",\"单一客户依赖\",\"营收下滑\"]");
    CHECK(strcmp(t, a) != 0);
    ct_risk_eval_report r;
    ct_risk_eval_report_init(&r);
    const char *outs[3] = {t, a, "not json"};
    for (int i = 0; i < 3; i++) {
        ct_risk_score s;
        ct_risk_score_output(&p, false, outs[i], &s);
        ct_risk_eval_add_score(&r, &p, &s);
    }
    ct_risk_eval_metrics m;
    ct_risk_eval_metrics_compute(&r, &m);
    CHECK_NEAR(m.label_precision, 5.0 / 6.0, 1e-12);
    CHECK_NEAR(m.label_recall, 5.0 / 9.0, 1e-12);
    CHECK_NEAR(m.label_micro_f1, 10.0 / 15.0, 1e-12);
    CHECK_NEAR(m.label_exact_match, 1.0 / 3.0, 1e-12);
    CHECK_NEAR(m.json_valid_rate, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(m.product_accuracy, 2.0 / 3.0, 1e-12);
    CHECK_EQ_INT(r.fp[0], 1);
    CHECK_EQ_INT(r.fn[4], 2);
    free(a), free(t);
}

/* Writes n eval samples and predictions built by `make_output` to temp files. */
static void write_files(const char *dir, int n, int mode, char **data_path, char **pred_path) {
    ct_risk_synth_opts o;
    ct_risk_synth_opts_init(&o);
    o.seed = 77;
    ct_err err = {0};
    *data_path = ct_path_join(dir, "eval.jsonl");
    *pred_path = ct_path_join(dir, "pred.jsonl");
    CHECK_OK(ct_risk_synth_write(&o, (uint64_t)n, *data_path, &err), &err);
    FILE *f = fopen(*pred_path, "w");
    for (int i = 0; i < n; i++) {
        char *line, *pred;
        CHECK_OK(ct_risk_synth_sample(&o, (uint64_t)i, &line, &err), &err);
        CHECK_OK(ct_risk_eval_reference_pred(line, &pred, &err), &err);
        if (mode == 0) fprintf(f, "%s\n", pred);
        else if (mode == 1) fprintf(f, "{\"index\":%d,\"output\":\"garbage %d\"}\n", i, i);
        else if (mode == 2 && i % 2 == 0) fprintf(f, "%s\n", pred); /* half missing */
        free(line), free(pred);
    }
    fclose(f);
}

TEST(risk_eval_files_perfect_and_garbage) {
    const char *dir = ct_test_tmpdir();
    char *dp, *pp;
    ct_err err = {0};
    ct_risk_eval_report r;
    ct_risk_eval_metrics m;

    write_files(dir, 80, 0, &dp, &pp);
    ct_risk_eval_report_init(&r);
    CHECK_OK(ct_risk_eval_files(dp, pp, &r, &err), &err);
    ct_risk_eval_metrics_compute(&r, &m);
    CHECK_EQ_INT(r.n, 80);
    CHECK(r.n_refusal > 0 && r.n_answer > 0);
    CHECK_NEAR(m.json_valid_rate, 1.0, 0);
    CHECK_NEAR(m.label_exact_match, 1.0, 0);
    CHECK_NEAR(m.label_micro_f1, 1.0, 0);
    CHECK_NEAR(m.product_accuracy, 1.0, 0);
    CHECK_NEAR(m.approval_accuracy, 1.0, 0);
    CHECK_NEAR(m.credit_limit_within_10pct, 1.0, 0);
    CHECK_NEAR(m.rate_range_accuracy, 1.0, 0);
    CHECK_NEAR(m.top_drivers_match, 1.0, 0);
    CHECK_NEAR(m.refusal_accuracy, 1.0, 0);
    CHECK_NEAR(m.over_refusal_rate, 0.0, 0);

    /* Report JSON round trip and HTML. */
    char *j = ct_risk_eval_report_json(&r);
    ct_risk_eval_report back;
    CHECK_OK(ct_risk_eval_report_parse(j, &back, &err), &err);
    CHECK(memcmp(&back, &r, sizeof r) == 0);
    CHECK(strstr(j, "\"json_valid_rate\":1.0000") != NULL);
    free(j);

    free(dp), free(pp);
    write_files(dir, 80, 1, &dp, &pp);
    ct_risk_eval_report g;
    ct_risk_eval_report_init(&g);
    CHECK_OK(ct_risk_eval_files(dp, pp, &g, &err), &err);
    ct_risk_eval_metrics_compute(&g, &m);
    CHECK_NEAR(m.json_valid_rate, 0.0, 0);
    CHECK_NEAR(m.label_micro_f1, 0.0, 0);
    CHECK_NEAR(m.refusal_accuracy, 0.0, 0);
    CHECK_EQ_INT(g.n_missing, 0);

    const ct_risk_eval_report *rs[2] = {&g, &r};
    const char *names[2] = {"before", "after<1>"};
    char *h = ct_risk_eval_report_html(rs, names, 2);
    CHECK(h && strstr(h, "<table>") && strstr(h, "<th>before</th>") && strstr(h, "after&lt;1&gt;"));
    CHECK(h && strstr(h, "+1.0000"));
    free(h);

    free(dp), free(pp);
    write_files(dir, 40, 2, &dp, &pp);
    ct_risk_eval_report_init(&g);
    CHECK_OK(ct_risk_eval_files(dp, pp, &g, &err), &err);
    CHECK_EQ_INT(g.n_missing, 20);
    free(dp), free(pp);
}

TEST(risk_eval_files_errors) {
    const char *dir = ct_test_tmpdir();
    char *dp, *pp;
    ct_err err = {0};
    ct_risk_eval_report r;
    write_files(dir, 5, 0, &dp, &pp);
    CHECK_OK(ct_write_file_atomic(pp, "{\"id\":\"nope\",\"output\":\"x\"}\n", 27, &err), &err);
    ct_risk_eval_report_init(&r);
    CHECK(ct_risk_eval_files(dp, pp, &r, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "match no eval record") && strstr(err.msg, "nope"), "%s", err.msg);
    const char *dup = "{\"index\":0,\"output\":\"a\"}\n{\"index\":0,\"output\":\"b\"}\n";
    CHECK_OK(ct_write_file_atomic(pp, dup, strlen(dup), &err), &err);
    CHECK(ct_risk_eval_files(dp, pp, &r, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, ":2: duplicate"), "%s", err.msg);
    CHECK_OK(ct_write_file_atomic(pp, "{\"index\":0}\n", 12, &err), &err);
    CHECK(ct_risk_eval_files(dp, pp, &r, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "\"output\" must be a string"), "%s", err.msg);
    CHECK_OK(ct_write_file_atomic(dp, "{\"messages\":[]}\n", 16, &err), &err);
    CHECK_OK(ct_write_file_atomic(pp, "", 0, &err), &err);
    CHECK(ct_risk_eval_files(dp, pp, &r, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "eval.jsonl:1") && strstr(err.msg, "meta"), "%s", err.msg);
    CHECK(ct_risk_eval_files("/nonexistent/e.jsonl", pp, &r, &err) != CT_OK);
    CHECK(ct_risk_eval_report_parse("{\"counts\":{}}", &r, &err) == CT_ERR_FORMAT);
    free(dp), free(pp);
}

TEST(risk_eval_prompt_and_reference) {
    ct_risk_synth_opts o;
    ct_risk_synth_opts_init(&o);
    o.seed = 20240602;
    ct_err err = {0};
    int seen_tools = 0;
    for (uint64_t i = 0; i < 60; i++) {
        char *line, *prompt, *ref;
        CHECK_OK(ct_risk_synth_sample(&o, i, &line, &err), &err);
        CHECK_OK(ct_risk_eval_prompt(line, &prompt, &err), &err);
        CHECK_OK(ct_risk_eval_reference(line, &ref, &err), &err);
        json_t *p = json_loads(prompt, 0, NULL);
        REQUIRE(p);
        CHECK(json_is_true(json_object_get(p, "add_generation_prompt")));
        json_t *msgs = json_object_get(p, "messages");
        json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
        const char *role = json_string_value(json_object_get(last, "role"));
        CHECK(!strcmp(role, "user") || !strcmp(role, "tool")); /* the answer turn itself is cut */
        if (!strcmp(role, "tool")) {
            seen_tools++;
            CHECK(json_object_get(p, "tools"));
        }
        json_decref(p);
        free(line), free(prompt), free(ref);
    }
    CHECK(seen_tools > 0);
    o.format = CT_RISK_FORMAT_SHAREGPT;
    char *line, *prompt = NULL, *ref;
    CHECK_OK(ct_risk_synth_sample(&o, 0, &line, &err), &err);
    CHECK(ct_risk_eval_prompt(line, &prompt, &err) == CT_ERR_UNSUPPORTED);
    CHECK_OK(ct_risk_eval_reference(line, &ref, &err), &err);
    free(line), free(ref);
    size_t n;
    CHECK(ct_risk_strip_think("<think>x</think>  {}  ", &n) && n == 2);
    CHECK(ct_risk_strip_think("<think>x", &n) == NULL);
    CHECK(ct_risk_is_refusal_text("please contact the RISK TEAM", 28));
}
