/* Internals of `ctune serve` (ctune/serve.h): the OpenAI request parser (request.c), the answer
 * parser and JSON writers (reply.c), the batching engine (engine.c), the HTTP layer (http.c),
 * the training-runs view (runs.c) and the embedded web page (webui.c). */
#ifndef CT_SERVE_SERVE_H
#define CT_SERVE_SERVE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "ctune/chat.h"
#include "ctune/constrain.h"
#include "ctune/serve.h"

/* ---- errors as OpenAI sends them: {"error": {"message", "type", "param", "code"}} ---- */
typedef struct srv_error {
    int http;           /* 400, 401, 404, 405, 413, 500, 503, 504 */
    const char *type;   /* invalid_request_error, authentication_error, not_found_error, server_error */
    const char *code;   /* NULL or e.g. "model_not_found", "context_length_exceeded" */
    char param[64];     /* "" or the offending request key */
    char msg[512];
} srv_error;

/* Sets e and returns false (for `return srv_fail(...)`). */
bool srv_fail(srv_error *e, int http, const char *type, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The error object as JSON text (malloc'd). */
char *srv_error_json(const srv_error *e);

/* ---- the models served: the runtime's own (index 0) and the extra adapters ---- */
typedef struct srv_model {
    char *name;
    const ct_adapter *ad; /* NULL: the runtime's adapter (index 0) */
} srv_model;

typedef struct srv_models {
    srv_model *v;
    size_t n;
} srv_models;

/* Index of `name`, or -1. */
int srv_models_find(const srv_models *m, const char *name);

/* ---- response_format: compiled schema constraints shared across requests (schemas.c) ---- */
typedef struct srv_schemas srv_schemas;
typedef struct srv_schema srv_schema;

/* A cache of up to max compiled constraints over tok's vocabulary (tok NULL: response_format is
 * refused). */
ct_status srv_schemas_new(const ct_tokenizer *tok, int32_t vocab_size, size_t max, srv_schemas **out, ct_err *err);
void srv_schemas_free(srv_schemas *c);
/* A reference to the constraint of schema text (NULL: json_object mode) with or without an
 * optional think block first, compiled on first use. false: e says why (400 naming
 * response_format for a schema that cannot be compiled). */
bool srv_schemas_get(srv_schemas *c, const char *text, bool think, srv_schema **out, srv_error *e);
void srv_schema_release(srv_schema *s);
/* The shared constraint: used by the engine's worker thread only, each request setting its own
 * state (ct_json_constraint_set_state) first. */
ct_json_constraint *srv_schema_constraint(const srv_schema *s);
/* Constraints compiled so far (cache misses). */
unsigned long long srv_schemas_compiled(srv_schemas *c);

/* ---- a parsed request ---- */
typedef enum srv_kind { SRV_CHAT = 0, SRV_COMPLETION } srv_kind;

typedef struct srv_req {
    srv_kind kind;
    bool stream, include_usage;
    int model;            /* index into srv_models */
    ct_ids prompt;
    ct_gen_params gen;    /* sampling + max_new_tokens + eos ids (stop strings are below) */
    char **stops;         /* stop strings (excluded from the answer, as OpenAI does) */
    size_t n_stop;
    bool parse_tools;     /* tools given and tool_choice not "none": tool calls are parsed */
    bool llama_tools;     /* the template's tool calls are Llama 3.1 JSON ({"name", "parameters"}) */
    bool think_open;      /* the prompt ends inside a <think> block (the answer starts reasoning) */
    bool think_off;       /* enable_thinking is false for this chat */
    srv_schema *schema;   /* response_format json_object / json_schema (a reference), or NULL */
} srv_req;

/* What the request parser needs from the server. */
typedef struct srv_ctx {
    ct_runtime *rt;
    const ct_serve_opts *o;
    const srv_models *models;
    int64_t max_model_len;
    ct_gen_params gen_chat, gen_plain; /* defaults: with / without the template's end-of-turn stop */
    srv_schemas *schemas;              /* response_format constraints */
} srv_ctx;

/* Parses a /v1/chat/completions (kind SRV_CHAT) or /v1/completions body into r (srv_req_free
 * after). false: e says why (400 / 404 / 413 ...). */
bool srv_req_parse(const srv_ctx *c, srv_kind kind, const char *body, size_t len, srv_req *r, srv_error *e);
void srv_req_free(srv_req *r);

/* ---- the answer: text split into content, reasoning and tool calls ---- */
typedef struct srv_tool_call {
    char *name;
    char *arguments; /* JSON text */
} srv_tool_call;

typedef struct srv_answer {
    ct_buf content, reasoning;
    srv_tool_call *calls;
    size_t n_calls;
    bool has_content; /* text arrived (content "" vs null when only tool calls) */
} srv_answer;

/* Splits a whole answer text: <think> blocks into reasoning (think_open: the text starts inside
 * one), <tool_call> JSON bodies (parse_tools) into calls, and with llama_tools a content that is
 * one Llama 3.1 JSON call ({"name", "parameters"}) into a call. A body that is not a JSON call
 * stays in the content as the model wrote it. */
void srv_answer_parse(const char *text, size_t len, bool think_open, bool parse_tools, bool llama_tools,
                      srv_answer *a);
void srv_answer_free(srv_answer *a);
/* Parses a tool-call JSON body ({"name", "arguments" | "parameters"}) into *call. */
bool srv_tool_call_parse(const char *body, size_t len, srv_tool_call *call);

/* JSON building helpers (each returns a new reference; NULL on OOM). */
json_t *srv_json_text(const char *s, size_t n); /* a JSON string, invalid UTF-8 replaced by U+FFFD */
json_t *srv_tool_calls_json(const srv_tool_call *calls, size_t n, const char *id_prefix, bool with_index);

/* ---- the engine: continuous batching over the shared model ---- */
typedef enum srv_finish {
    SRV_FINISH_NONE = 0,
    SRV_FINISH_STOP,      /* eos or a stop string */
    SRV_FINISH_LENGTH,    /* max_tokens or the context */
    SRV_FINISH_CANCELLED, /* client gone or server stopping */
    SRV_FINISH_TIMEOUT,
    SRV_FINISH_ERROR,
} srv_finish;

typedef struct srv_engine srv_engine;

typedef struct srv_job {
    /* input (set before submit, read-only after) */
    srv_req req;
    const ct_adapter *ad;
    double deadline;       /* monotonic seconds */
    int client_fd;         /* polled for a hang-up (-1: none) */
    /* shared with the engine, under the engine's mutex */
    pthread_cond_t cv;
    ct_buf text;           /* decoded answer so far (a stop string cut off) */
    size_t text_ready;     /* bytes of text that can be streamed (no partial stop string held) */
    size_t n_out;          /* tokens generated */
    srv_finish finish;
    char err[256];
    bool cancel;
    int refs;
    /* engine-private */
    ct_kv_cache *kv;
    ct_ids out;
    ct_detok dt;
    int32_t *hist;
    size_t n_hist, n_stop_max;
    ct_rng rng;
    int32_t next;          /* token to run next step */
    uint8_t *cstate;       /* the request's automaton state (response_format) */
    size_t cstate_len;
    struct srv_job *link;
} srv_job;

ct_status srv_engine_start(ct_runtime *rt, int parallel, int queue, srv_engine **out, ct_err *err);
/* Queues j (the engine takes a reference). false: the queue is full or the engine stops. */
bool srv_engine_submit(srv_engine *g, srv_job *j, bool *stopping);
/* A new job with one reference (the caller's); NULL on OOM. req is moved into it. */
srv_job *srv_job_new(srv_req *req);
void srv_job_release(srv_engine *g, srv_job *j);
/* Waits (up to timeout_s) until the job has more than `have` streamable bytes or finished. Copies
 * the new bytes into b; returns the job's finish state at that moment. */
srv_finish srv_job_wait(srv_engine *g, srv_job *j, size_t have, ct_buf *b, double timeout_s, size_t *n_out);
void srv_job_cancel(srv_engine *g, srv_job *j);
/* Counters for /health: running, queued. */
void srv_engine_load(srv_engine *g, int *running, int *queued);
/* Stops taking jobs; waits up to grace_s for the running and queued ones, cancels the rest, joins. */
void srv_engine_stop(srv_engine *g, double grace_s);
void srv_engine_free(srv_engine *g);

double srv_now(void); /* monotonic seconds */

/* ---- the training-runs view (GET /api/runs, /api/runs/NAME/log) ---- */
/* JSON text (malloc'd) of the runs under dir: [{"name", "has_log", "mtime"}], newest first. */
char *srv_runs_list(const char *dir, srv_error *e);
/* JSON text (malloc'd): {"name", "log": [rows of trainer_log.jsonl], "eval": {...}|null}. The
 * name must be a run directory directly under dir (no path separators). */
char *srv_runs_log(const char *dir, const char *name, srv_error *e);

/* ---- the web page ---- */
const char *srv_webui_html(size_t *len);

#endif
