/* `ctune bench-serve` (ctune/bench_serve.h): `concurrency` threads take request numbers from a
 * shared counter until `requests` are sent, each a streaming chat completion (sse_client.c); then
 * the per-request timings become distributions (mean, p50 / p90 / p99, min, max) and run-wide
 * throughput. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/bench_serve.h"
#include "loadgen/loadgen.h"

static const char *const BUILTIN_PROMPTS[] = {
    "Tell me a short story about a dog.",
    "Explain what a hash table is in two sentences.",
    "Write a haiku about the sea.",
    "List three uses of a paper clip.",
    "What is the capital of France, and why is it famous?",
    "Summarise the plot of a fairy tale you know.",
    "Give me a recipe for pancakes.",
    "Why is the sky blue?",
};

ct_bench_serve_opts ct_bench_serve_opts_default(void) {
    return (ct_bench_serve_opts){.url = "http://127.0.0.1:8000", .concurrency = 4, .requests = 32, .max_tokens = 128,
                                 .temperature = 0, .timeout_s = 600};
}

double ct_bench_percentile(const double *v, size_t n, double q) {
    if (!n) return 0;
    double pos = q / 100.0 * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static ct_bench_stat stat_of(double *v, size_t n) {
    ct_bench_stat s = {.n = n};
    if (!n) return s;
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += v[i];
    s.mean = sum / (double)n;
    s.p50 = ct_bench_percentile(v, n, 50);
    s.p90 = ct_bench_percentile(v, n, 90);
    s.p99 = ct_bench_percentile(v, n, 99);
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

typedef struct run {
    const ct_bench_serve_opts *o;
    lg_url url;
    char **bodies; /* one per prompt */
    size_t n_bodies;
    lg_sample *samples;
    int next; /* atomic */
} run;

static void *client(void *p) {
    run *r = p;
    for (;;) {
        int i = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
        if (i >= r->o->requests) break;
        lg_stream_chat(&r->url, r->o->api_key, r->bodies[(size_t)i % r->n_bodies], r->o->timeout_s, &r->samples[i]);
    }
    return NULL;
}

static char *request_body(const ct_bench_serve_opts *o, const char *prompt) {
    json_t *j = json_pack("{s:[{s:s, s:s}], s:b, s:{s:b}, s:i, s:f}", "messages", "role", "user", "content", prompt,
                          "stream", 1, "stream_options", "include_usage", 1, "max_tokens", o->max_tokens,
                          "temperature", o->temperature);
    if (j && o->model) json_object_set_new(j, "model", json_string(o->model));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

ct_status ct_bench_serve_run(const ct_bench_serve_opts *o, ct_bench_serve_result *res, ct_err *err) {
    memset(res, 0, sizeof *res);
    if (o->concurrency < 1 || o->concurrency > 4096)
        return ct_err_set(err, CT_ERR_ARG, "bench-serve: concurrency must be 1..4096, got %d", o->concurrency);
    if (o->requests < 1) return ct_err_set(err, CT_ERR_ARG, "bench-serve: requests must be >= 1, got %d", o->requests);
    if (o->max_tokens < 1) return ct_err_set(err, CT_ERR_ARG, "bench-serve: max_tokens must be >= 1, got %d", o->max_tokens);
    if (!(o->timeout_s > 0)) return ct_err_set(err, CT_ERR_ARG, "bench-serve: the timeout must be > 0 seconds");
    if (o->prompts && !o->n_prompts) return ct_err_set(err, CT_ERR_ARG, "bench-serve: the prompt list is empty");
    run r = {.o = o};
    ct_status st = lg_url_parse(o->url, &r.url, err);
    if (st) return ct_err_prefix(err, "bench-serve");
    const char *const *prompts = o->prompts ? o->prompts : BUILTIN_PROMPTS;
    size_t np = o->prompts ? o->n_prompts : sizeof BUILTIN_PROMPTS / sizeof BUILTIN_PROMPTS[0];
    r.n_bodies = np < (size_t)o->requests ? np : (size_t)o->requests;
    r.bodies = calloc(r.n_bodies, sizeof *r.bodies);
    r.samples = calloc((size_t)o->requests, sizeof *r.samples);
    int nt = o->concurrency < o->requests ? o->concurrency : o->requests;
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    double *v = NULL;
    if (!r.bodies || !r.samples || !th) {
        st = ct_err_set(err, CT_ERR_NOMEM, "bench-serve: out of memory");
        goto out;
    }
    for (size_t i = 0; i < r.n_bodies; i++)
        if (!(r.bodies[i] = request_body(o, prompts[i]))) {
            st = ct_err_set(err, CT_ERR_NOMEM, "bench-serve: out of memory");
            goto out;
        }
    double t0 = lg_now();
    int started = 0;
    for (; started < nt; started++)
        if (pthread_create(&th[started], NULL, client, &r)) break;
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    if (!started) {
        st = ct_err_set(err, CT_ERR_IO, "bench-serve: cannot start a client thread");
        goto out;
    }
    res->wall_s = lg_now() - t0;
    res->requests = o->requests;
    size_t n_gaps = 0;
    for (int i = 0; i < o->requests; i++) {
        lg_sample *s = &r.samples[i];
        if (!s->ok) {
            res->failed++;
            if (!res->first_error[0]) snprintf(res->first_error, sizeof res->first_error, "%s", s->err);
            continue;
        }
        res->succeeded++;
        res->input_tokens += s->in_tok;
        res->output_tokens += s->out_tok;
        n_gaps += s->n_gaps;
    }
    v = malloc((n_gaps + (size_t)o->requests + 1) * sizeof *v);
    if (!v) {
        st = ct_err_set(err, CT_ERR_NOMEM, "bench-serve: out of memory");
        goto out;
    }
    /* each distribution over the succeeded requests (TPOT over those with two tokens or more) */
    for (int k = 0; k < 6; k++) {
        size_t n = 0;
        for (int i = 0; i < o->requests; i++) {
            lg_sample *s = &r.samples[i];
            if (!s->ok) continue;
            if (k == 0) v[n++] = s->ttft;
            else if (k == 1 && s->out_tok > 1) v[n++] = (s->latency - s->ttft) / (double)(s->out_tok - 1);
            else if (k == 2) memcpy(v + n, s->gaps, s->n_gaps * sizeof *v), n += s->n_gaps;
            else if (k == 3) v[n++] = s->latency;
            else if (k == 4) v[n++] = (double)s->in_tok;
            else if (k == 5) v[n++] = (double)s->out_tok;
        }
        ct_bench_stat *dst[] = {&res->ttft, &res->tpot, &res->itl, &res->latency, &res->input_len, &res->output_len};
        *dst[k] = stat_of(v, n);
    }
    if (res->wall_s > 0) {
        res->req_per_s = res->succeeded / res->wall_s;
        res->output_tok_per_s = (double)res->output_tokens / res->wall_s;
        res->total_tok_per_s = (double)(res->input_tokens + res->output_tokens) / res->wall_s;
    }
out:
    for (size_t i = 0; r.bodies && i < r.n_bodies; i++) free(r.bodies[i]);
    for (int i = 0; r.samples && i < o->requests; i++) lg_sample_free(&r.samples[i]);
    free(r.bodies);
    free(r.samples);
    free(th);
    free(v);
    return st;
}

static json_t *stat_json(const ct_bench_stat *s) {
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)s->n, "mean", s->mean, "p50", s->p50, "p90",
                     s->p90, "p99", s->p99, "min", s->min, "max", s->max);
}

char *ct_bench_serve_json(const ct_bench_serve_opts *o, const ct_bench_serve_result *r) {
    json_t *j = json_pack(
        "{s:{s:s, s:s?, s:i, s:i, s:i, s:f, s:f, s:I},"
        " s:{s:i, s:i, s:i, s:s?, s:f, s:f, s:f, s:f, s:I, s:I},"
        " s:{s:o, s:o, s:o, s:o, s:o, s:o}}",
        "config", "url", o->url, "model", o->model, "concurrency", o->concurrency, "requests", o->requests,
        "max_tokens", o->max_tokens, "temperature", o->temperature, "timeout_s", o->timeout_s, "prompts",
        (json_int_t)(o->prompts ? o->n_prompts : sizeof BUILTIN_PROMPTS / sizeof BUILTIN_PROMPTS[0]),
        "summary", "requests", r->requests, "succeeded", r->succeeded, "failed", r->failed, "first_error",
        r->first_error[0] ? r->first_error : NULL, "wall_s", r->wall_s, "requests_per_s", r->req_per_s,
        "output_tokens_per_s", r->output_tok_per_s, "total_tokens_per_s", r->total_tok_per_s, "input_tokens",
        (json_int_t)r->input_tokens, "output_tokens", (json_int_t)r->output_tokens,
        "metrics", "ttft_s", stat_json(&r->ttft), "tpot_s", stat_json(&r->tpot), "itl_s", stat_json(&r->itl),
        "latency_s", stat_json(&r->latency), "input_tokens", stat_json(&r->input_len), "output_tokens",
        stat_json(&r->output_len));
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    return s;
}

void ct_bench_serve_print(const ct_bench_serve_result *r, FILE *fp) {
    fprintf(fp, "requests %d (succeeded %d, failed %d) in %.3f s\n", r->requests, r->succeeded, r->failed, r->wall_s);
    if (r->first_error[0]) fprintf(fp, "first failure: %s\n", r->first_error);
    fprintf(fp, "throughput: %.3f requests/s, %.2f output tokens/s, %.2f total tokens/s\n", r->req_per_s,
            r->output_tok_per_s, r->total_tok_per_s);
    fprintf(fp, "tokens: %lld in, %lld out\n", (long long)r->input_tokens, (long long)r->output_tokens);
    if (!r->succeeded) return;
    fputc('\n', fp);
    fprintf(fp, "%-16s %10s %10s %10s %10s %10s %10s\n", "metric", "mean", "p50", "p90", "p99", "min", "max");
    const char *names[] = {"TTFT (ms)", "TPOT (ms)", "ITL (ms)", "latency (ms)", "input tokens", "output tokens"};
    const ct_bench_stat *st[] = {&r->ttft, &r->tpot, &r->itl, &r->latency, &r->input_len, &r->output_len};
    for (int i = 0; i < 6; i++) {
        double k = i < 4 ? 1e3 : 1;
        fprintf(fp, "%-16s %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", names[i], k * st[i]->mean, k * st[i]->p50,
                k * st[i]->p90, k * st[i]->p99, k * st[i]->min, k * st[i]->max);
    }
}
