/* `ctune bench-serve`: percentiles as numpy computes them (linear interpolation), URLs refused,
 * and a run against an in-process server (stories260k): every request succeeds, token counts
 * match the server's usage, the timings are ordered, the JSON report has every field. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/bench_serve.h"
#include "ctune/runtime.h"
#include "ctune/serve.h"
#include "harness.h"

TEST(bench_serve_percentiles_and_options) {
    /* numpy.percentile([1, 2, 3, 4, 10], [50, 90, 99]) = 3, 7.6, 9.76 */
    const double v[] = {1, 2, 3, 4, 10};
    CHECK_NEAR(ct_bench_percentile(v, 5, 50), 3.0, 1e-12);
    CHECK_NEAR(ct_bench_percentile(v, 5, 90), 7.6, 1e-12);
    CHECK_NEAR(ct_bench_percentile(v, 5, 99), 9.76, 1e-12);
    CHECK_NEAR(ct_bench_percentile(v, 5, 0), 1.0, 1e-12);
    CHECK_NEAR(ct_bench_percentile(v, 5, 100), 10.0, 1e-12);
    CHECK_NEAR(ct_bench_percentile(v, 1, 90), 1.0, 1e-12);
    CHECK_NEAR(ct_bench_percentile(v, 0, 90), 0.0, 1e-12);
    ct_bench_serve_opts o = ct_bench_serve_opts_default();
    ct_bench_serve_result r;
    ct_err err = {0};
    const char *bad[] = {"https://127.0.0.1:1", "http://", "http://h:8x0", "127.0.0.1:8000"};
    for (int i = 0; i < 4; i++) {
        o.url = bad[i];
        CHECK_MSG(ct_bench_serve_run(&o, &r, &err) == CT_ERR_ARG && strstr(err.msg, "--url"), "url %s: %s", bad[i], err.msg);
    }
    o = ct_bench_serve_opts_default();
    o.concurrency = 0;
    CHECK(ct_bench_serve_run(&o, &r, &err) == CT_ERR_ARG);
    /* nothing listens: every request fails with the reason, no crash */
    o = ct_bench_serve_opts_default();
    o.url = "http://127.0.0.1:1";
    o.requests = 3;
    CHECK_OK(ct_bench_serve_run(&o, &r, &err), &err);
    CHECK(r.failed == 3 && r.succeeded == 0 && strstr(r.first_error, "connect"));
}

#ifdef CT_HAVE_MHD
TEST(bench_serve_live) {
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    ct_err err = {0};
    ct_runtime_opts ro = ct_runtime_opts_default();
    ro.model_dir = dir;
    ro.template_name = "llama2";
    ro.threads = 2;
    ct_runtime *rt = NULL;
    CHECK_OK(ct_runtime_open(&ro, &rt, &err), &err);
    REQUIRE(rt);
    ct_serve_opts so;
    ct_serve_opts_default(&so);
    so.port = 0;
    so.model_name = "stories";
    so.parallel = 3;
    CHECK_OK(ct_runtime_gen_params(rt, false, &so.gen, &err), &err);
    ct_server *srv = NULL;
    CHECK_OK(ct_server_start(rt, &so, &srv, &err), &err);
    REQUIRE(srv);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", ct_server_port(srv));
    const char *prompts[] = {"Tell me a story", "Once upon a time there was a cat"};
    ct_bench_serve_opts o = ct_bench_serve_opts_default();
    o.url = url;
    o.model = "stories";
    o.prompts = prompts;
    o.n_prompts = 2;
    o.concurrency = 3;
    o.requests = 7;
    o.max_tokens = 12;
    ct_bench_serve_result r;
    CHECK_OK(ct_bench_serve_run(&o, &r, &err), &err);
    CHECK_MSG(r.succeeded == 7 && r.failed == 0, "succeeded %d, failed %d (%s)", r.succeeded, r.failed, r.first_error);
    CHECK(r.output_tokens > 7 && r.output_tokens <= 7 * 12 && r.input_tokens > 7 * 5);
    CHECK(r.ttft.n == 7 && r.latency.n == 7 && r.output_len.n == 7 && r.itl.n > 0);
    CHECK(r.ttft.min > 0 && r.ttft.max <= r.latency.max && r.latency.min >= r.ttft.min);
    const ct_bench_stat *st[] = {&r.ttft, &r.tpot, &r.itl, &r.latency, &r.input_len, &r.output_len};
    for (int i = 0; i < 6; i++)
        CHECK_MSG(st[i]->min <= st[i]->p50 && st[i]->p50 <= st[i]->p90 && st[i]->p90 <= st[i]->p99 &&
                      st[i]->p99 <= st[i]->max && st[i]->mean >= st[i]->min && st[i]->mean <= st[i]->max,
                  "stat %d out of order", i);
    CHECK(r.wall_s > 0 && r.req_per_s > 0 && r.output_tok_per_s > 0);
    CHECK_NEAR(r.req_per_s * r.wall_s, 7.0, 1e-9);
    char *text = ct_bench_serve_json(&o, &r);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    REQUIRE(j);
    json_t *sum = json_object_get(j, "summary"), *m = json_object_get(j, "metrics"), *cfg = json_object_get(j, "config");
    CHECK(json_integer_value(json_object_get(sum, "succeeded")) == 7 && json_is_null(json_object_get(sum, "first_error")));
    CHECK(json_integer_value(json_object_get(cfg, "concurrency")) == 3 && !strcmp(json_string_value(json_object_get(cfg, "model")), "stories"));
    const char *keys[] = {"requests_per_s", "output_tokens_per_s", "total_tokens_per_s", "wall_s"};
    for (int i = 0; i < 4; i++) CHECK_MSG(json_number_value(json_object_get(sum, keys[i])) > 0, "summary.%s", keys[i]);
    const char *mk[] = {"ttft_s", "tpot_s", "itl_s", "latency_s", "input_tokens", "output_tokens"};
    const char *fk[] = {"n", "mean", "p50", "p90", "p99", "min", "max"};
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 7; k++)
            CHECK_MSG(json_is_number(json_object_get(json_object_get(m, mk[i]), fk[k])), "metrics.%s.%s", mk[i], fk[k]);
    json_decref(j);
    free(text);
    /* an unknown model: every request fails with the server's message */
    o.model = "ghost";
    o.requests = 2;
    CHECK_OK(ct_bench_serve_run(&o, &r, &err), &err);
    CHECK_MSG(r.failed == 2 && strstr(r.first_error, "HTTP 404"), "%s", r.first_error);
    ct_server_free(srv);
    ct_runtime_free(rt);
}
#endif
