/* ctune — an OpenAI-compatible HTTP server over a runtime (`ctune serve`, LlamaFactory's
 * `llamafactory-cli api` equivalent): POST /v1/chat/completions, POST /v1/completions,
 * GET /v1/models, GET /health, a chat web page at / and a read-only training-runs view.
 * Requests are decoded together (continuous batching: every step runs one batched forward per
 * adapter over all running requests), behind a bounded queue; see docs/serve.md.
 *
 *   ct_serve_opts o;  ct_serve_opts_default(&o);
 *   o.port = 8000;
 *   ct_server *s;  ct_server_start(rt, &o, &s, &err);     // binds and starts serving
 *   ... wait for SIGTERM ...
 *   ct_server_stop(s, 30.0);  ct_server_free(s);            // graceful: running requests finish
 *
 * Built on libmicrohttpd; without it ct_server_start returns CT_ERR_UNSUPPORTED saying so. */
#ifndef CTUNE_SERVE_H
#define CTUNE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/data.h"
#include "ctune/err.h"
#include "ctune/generate.h"
#include "ctune/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_server ct_server;

typedef struct ct_serve_adapter {
    const char *name; /* the `model` a request names to use it */
    const char *dir;  /* PEFT adapter directory, loaded over the runtime's base model */
} ct_serve_adapter;

typedef struct ct_serve_opts {
    const char *host;           /* "127.0.0.1" (default); "0.0.0.0" to listen on every interface */
    int port;                   /* 8000; 0 = an ephemeral port (ct_server_port says which) */
    const char *api_key;        /* NULL: no auth; else the /v1/ and /api/ paths need "Authorization: Bearer KEY" */
    const char *model_name;     /* the runtime's own model (with its adapter, if any); NULL: the
                                   model directory's base name */
    const ct_serve_adapter *adapters; /* more adapters on the same base, chosen by `model` */
    size_t n_adapters;
    int parallel;               /* requests decoded together (4) */
    int queue;                  /* requests waiting beyond those (64); more get 503 */
    double timeout_s;           /* per request, from arrival to the last token (600) */
    double read_timeout_s;      /* a client idle this long while sending its request is dropped (10) */
    size_t max_body;            /* request body limit in bytes (4 MiB); larger: 413 */
    int max_connections;        /* open connections (256) */
    int64_t max_model_len;      /* prompt + completion tokens (0: the model's max_position_embeddings) */
    int64_t default_max_tokens; /* completion tokens when a chat request gives none (1024); /v1/completions
                                   defaults to 16 as OpenAI's does; both capped by what the context leaves */
    ct_gen_params gen;          /* sampling defaults (from ct_runtime_gen_params + an inference YAML);
                                   only the sampling fields and repetition_penalty are read */
    const char *default_system; /* system message of chats without one (LlamaFactory default_system) */
    ct_think enable_thinking;   /* default of chat_template_kwargs.enable_thinking */
    const char *runs_dir;       /* NULL: no training-runs view; else output directories under it */
    bool log_requests;          /* one line per request on stderr */
    const char *json_schema;    /* JSON Schema text every request without a response_format of its own
                                   is constrained to (NULL: none); requests with tools are left free */
    const char *json_schema_name; /* names it in messages (its file) */
} ct_serve_opts;

void ct_serve_opts_default(ct_serve_opts *o);

/* Loads the adapters, binds host:port and starts serving. rt (with a tokenizer and a chat
 * template) must outlive the server; it is used by the server's threads only. */
ct_status ct_server_start(ct_runtime *rt, const ct_serve_opts *o, ct_server **out, ct_err *err);
/* The port bound (the ephemeral one when o->port was 0). */
int ct_server_port(const ct_server *s);
/* Graceful stop: new requests get 503, queued and running ones finish for up to grace_s seconds
 * (then they are cancelled), then the listener closes. */
void ct_server_stop(ct_server *s, double grace_s);
void ct_server_free(ct_server *s);

#ifdef __cplusplus
}
#endif
#endif
