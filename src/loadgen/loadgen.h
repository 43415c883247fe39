/* Internals of `ctune bench-serve` (ctune/bench_serve.h): one streaming chat completion over a
 * plain socket with its timings (sse_client.c); the runner, statistics and report (bench_serve.c). */
#ifndef CT_LOADGEN_LOADGEN_H
#define CT_LOADGEN_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

typedef struct lg_url {
    char host[256];
    char port[8];
    char path[512]; /* PREFIX/v1/chat/completions */
} lg_url;

/* http://HOST[:PORT][/PREFIX] (no https: the tool talks to local servers). */
ct_status lg_url_parse(const char *url, lg_url *u, ct_err *err);

typedef struct lg_sample {
    bool ok;
    char err[256];
    double ttft, latency; /* seconds from sending the request */
    double *gaps;         /* seconds between consecutive chunks with text */
    size_t n_gaps, cap_gaps;
    int64_t in_tok, out_tok; /* from the usage chunk (-1: none came) */
} lg_sample;

/* POSTs body (a chat completion with "stream": true) to u and reads the SSE stream to [DONE],
 * filling s (s->ok false with s->err on any failure). timeout_s bounds the whole request. */
void lg_stream_chat(const lg_url *u, const char *api_key, const char *body, double timeout_s, lg_sample *s);
void lg_sample_free(lg_sample *s);

double lg_now(void); /* monotonic seconds */

#endif
