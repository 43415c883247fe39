/* ctune — a load generator for OpenAI-compatible servers (`ctune bench-serve`), after EvalScope's
 * perf tool: `concurrency` clients (threads, plain sockets, HTTP/1.1) send `requests` streaming
 * chat completions in total, prompts taken round-robin; per request it measures
 *
 *   TTFT     time from sending the request to the first chunk with text (content or reasoning)
 *   ITL      the gaps between consecutive chunks with text (all of them, pooled over requests)
 *   TPOT     (latency - TTFT) / (output tokens - 1), output tokens from the server's `usage`
 *   latency  time from sending the request to the end of the stream ([DONE])
 *
 * and over the run: requests/s and output tokens/s (over the wall time from the first request
 * sent to the last answer), each distribution as mean / p50 / p90 / p99 (linear interpolation
 * between order statistics, numpy's default). See docs/serve.md, "Load generator".
 *
 *   ct_bench_serve_opts o = ct_bench_serve_opts_default();
 *   o.url = "http://127.0.0.1:8000";
 *   ct_bench_serve_result r;  ct_bench_serve_run(&o, &r, &err);
 *   char *json = ct_bench_serve_json(&o, &r);  ct_bench_serve_print(&r, stdout); */
#ifndef CTUNE_BENCH_SERVE_H
#define CTUNE_BENCH_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctune/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_bench_serve_opts {
    const char *url;          /* http://HOST:PORT[/PREFIX]; requests go to PREFIX/v1/chat/completions */
    const char *model;        /* the request's `model` (NULL: not sent, the server's default) */
    const char *api_key;      /* NULL: no Authorization header */
    const char *const *prompts; /* user messages, used round-robin; NULL: a built-in set */
    size_t n_prompts;
    int concurrency;          /* clients sending at once (4) */
    int requests;             /* requests in total (32) */
    int max_tokens;           /* the request's max_tokens (128) */
    double temperature;       /* 0 */
    double timeout_s;         /* per request (600) */
} ct_bench_serve_opts;

ct_bench_serve_opts ct_bench_serve_opts_default(void);

typedef struct ct_bench_stat {
    size_t n;
    double mean, p50, p90, p99, min, max;
} ct_bench_stat;

typedef struct ct_bench_serve_result {
    int requests, succeeded, failed;
    double wall_s;
    double req_per_s, output_tok_per_s, total_tok_per_s; /* succeeded requests / their tokens over wall_s */
    int64_t input_tokens, output_tokens;                 /* sums over succeeded requests (from usage) */
    ct_bench_stat ttft, tpot, itl, latency;              /* seconds */
    ct_bench_stat input_len, output_len;                 /* tokens per request */
    char first_error[512];                               /* "" or why the first failed request failed */
} ct_bench_serve_result;

/* Runs the load. Fails (CT_ERR_ARG) on bad options or a URL it cannot use; requests that fail
 * (connection refused, HTTP errors, a stream without [DONE], timeouts) are counted in r->failed
 * with the first reason in r->first_error, and the statistics are over the succeeded ones. */
ct_status ct_bench_serve_run(const ct_bench_serve_opts *o, ct_bench_serve_result *r, ct_err *err);
/* The run as JSON text (malloc'd; NULL on OOM): {"config", "summary", "metrics": {"ttft_s", "tpot_s",
 * "itl_s", "latency_s", "input_tokens", "output_tokens": {"n", "mean", "p50", "p90", "p99", "min", "max"}}}. */
char *ct_bench_serve_json(const ct_bench_serve_opts *o, const ct_bench_serve_result *r);
/* The summary and the percentile table, human-readable. */
void ct_bench_serve_print(const ct_bench_serve_result *r, FILE *fp);
/* Percentile q (0..100) of v[0..n) sorted ascending (linear interpolation); 0 when n == 0. */
double ct_bench_percentile(const double *sorted, size_t n, double q);

#ifdef __cplusplus
}
#endif
#endif
