/* The HTTP side of `ctune serve` on libmicrohttpd (one thread per connection): routing, the API
 * key, the body limit, the OpenAI responses and server-sent-event streams. The model runs on the
 * engine's thread (engine.c); a connection thread only parses, waits and writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctune/serve.h"
#include "serve/serve.h"

void ct_serve_opts_default(ct_serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8000;
    o->parallel = 4;
    o->queue = 64;
    o->timeout_s = 600;
    o->read_timeout_s = 10;
    o->max_body = 4u << 20;
    o->max_connections = 256;
    o->default_max_tokens = 1024;
    o->enable_thinking = CT_THINK_NULL;
}

#ifndef CT_HAVE_MHD

struct ct_server {
    int unused;
};
ct_status ct_server_start(ct_runtime *rt, const ct_serve_opts *o, ct_server **out, ct_err *err) {
    (void)rt, (void)o;
    *out = NULL;
    return ct_err_set(err, CT_ERR_UNSUPPORTED, "serve: this ctune was built without libmicrohttpd "
                      "(install libmicrohttpd-dev, e.g. scripts/deps.sh, and rebuild)");
}
int ct_server_port(const ct_server *s) { (void)s; return 0; }
void ct_server_stop(ct_server *s, double grace_s) { (void)s, (void)grace_s; }
void ct_server_free(ct_server *s) { (void)s; }

#else

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

struct ct_server {
    ct_runtime *rt;
    ct_serve_opts o;
    char *host, *api_key, *runs_dir, *default_system, *json_schema;
    srv_models models;
    ct_adapter **owned; /* the extra adapters (models.v[1..]) */
    srv_ctx ctx;
    srv_engine *eng;
    struct MHD_Daemon *d;
    int port;
    volatile int stopping;
    int inflight; /* requests between their first byte and their response's last (atomic) */
};

typedef struct conn {
    ct_buf body;
    bool too_big;
    double t0;
} conn;

static unsigned long long next_id(void) {
    static unsigned long long counter;
    unsigned long long c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    return ((unsigned long long)time(NULL) << 20) ^ (c * 0x9E3779B97F4A7C15ull);
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *type, const char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, int status, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s) return reply(c, 500, "application/json", "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}", 87);
    enum MHD_Result r = reply(c, status, "application/json", s, strlen(s));
    free(s);
    return r;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, const srv_error *e) {
    char *s = srv_error_json(e);
    enum MHD_Result r = reply(c, e->http, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
    return r;
}

static enum MHD_Result fail(struct MHD_Connection *c, int http, const char *type, const char *code, const char *fmt,
                            const char *arg) {
    srv_error e;
    srv_fail(&e, http, type, code, NULL, fmt, arg);
    return reply_error(c, &e);
}

static const char *finish_name(srv_finish f, bool tools) {
    return f == SRV_FINISH_LENGTH ? "length" : tools ? "tool_calls" : "stop";
}

static json_t *usage_json(const srv_job *j) {
    size_t p = j->req.prompt.n, n = j->n_out;
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)p, "completion_tokens", (json_int_t)n,
                     "total_tokens", (json_int_t)(p + n));
}

/* A job that ended without an answer, as an error. */
static bool job_error(const srv_job *j, srv_error *e) {
    switch (j->finish) {
    case SRV_FINISH_TIMEOUT:
        return srv_fail(e, 504, "server_error", "timeout", NULL, "%s", j->err[0] ? j->err : "the request timed out");
    case SRV_FINISH_CANCELLED:
        return srv_fail(e, 503, "server_error", "cancelled", NULL, "the request was cancelled (server stopping)");
    case SRV_FINISH_ERROR:
        return srv_fail(e, 500, "server_error", NULL, NULL, "generation failed: %s", j->err);
    default:
        return true;
    }
}

/* The non-streamed response of a finished job. */
static json_t *response_json(const ct_server *s, const srv_job *j, const char *text, size_t len, unsigned long long id) {
    char sid[48];
    const char *model = s->models.v[j->req.model].name;
    if (j->req.kind == SRV_COMPLETION) {
        snprintf(sid, sizeof sid, "cmpl-%016llx", id);
        return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:o}", "id", sid, "object", "text_completion",
                         "created", (json_int_t)time(NULL), "model", model, "choices", "index", 0, "text",
                         srv_json_text(text, len), "logprobs", "finish_reason", finish_name(j->finish, false),
                         "usage", usage_json(j));
    }
    snprintf(sid, sizeof sid, "chatcmpl-%016llx", id);
    srv_answer a;
    srv_answer_parse(text, len, j->req.think_open, j->req.parse_tools, j->req.llama_tools, &a);
    json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content",
                            a.has_content || !a.n_calls ? srv_json_text(a.content.data ? a.content.data : "", a.content.len)
                                                        : json_null());
    if (msg && (a.reasoning.len || j->req.think_open))
        json_object_set_new(msg, "reasoning_content", srv_json_text(a.reasoning.data ? a.reasoning.data : "", a.reasoning.len));
    if (msg && a.n_calls) json_object_set_new(msg, "tool_calls", srv_tool_calls_json(a.calls, a.n_calls, sid + 9, false));
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:o}", "id", sid, "object", "chat.completion",
                          "created", (json_int_t)time(NULL), "model", model, "choices", "index", 0, "message", msg,
                          "logprobs", "finish_reason", finish_name(j->finish, a.n_calls > 0), "usage", usage_json(j));
    srv_answer_free(&a);
    return o;
}

/* ---- streaming ---- */
typedef struct stream {
    ct_server *s;
    srv_job *j;
    unsigned long long id;
    char sid[48];
    json_int_t created;
    ct_buf out;        /* SSE bytes not yet written */
    size_t out_pos;
    ct_buf text;       /* answer text so far */
    ct_chat_splitter sp;
    size_t n_calls;
    bool started, done;
} stream;

static void sse(stream *st, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s) return;
    ct_buf_puts(&st->out, "data: ");
    ct_buf_puts(&st->out, s);
    ct_buf_puts(&st->out, "\n\n");
    free(s);
}

static json_t *chunk(stream *st, json_t *delta, const char *finish) {
    const char *model = st->s->models.v[st->j->req.model].name;
    if (st->j->req.kind == SRV_COMPLETION) {
        json_t *t = json_object_get(delta, "content");
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:o}]}", "id", st->sid, "object",
                              "text_completion", "created", st->created, "model", model, "choices", "index", 0, "text",
                              t ? json_incref(t) : json_string(""), "logprobs", "finish_reason",
                              finish ? json_string(finish) : json_null());
        json_decref(delta);
        return o;
    }
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:o}]}", "id", st->sid, "object", "chat.completion.chunk",
                     "created", st->created, "model", model, "choices", "index", 0, "delta", delta, "logprobs",
                     "finish_reason", finish ? json_string(finish) : json_null());
}

static void emit_calls(stream *st, const srv_tool_call *calls, size_t n) {
    json_t *arr = srv_tool_calls_json(calls, n, st->sid + 9, true);
    for (size_t i = 0; arr && i < n; i++)
        json_object_set_new(json_array_get(arr, i), "index", json_integer((json_int_t)(st->n_calls + i)));
    st->n_calls += n;
    sse(st, chunk(st, json_pack("{s:o}", "tool_calls", arr), NULL));
}

static void on_span(ct_chat_span kind, const char *text, size_t len, void *user) {
    stream *st = user;
    if (!len) return;
    if (kind == CT_CHAT_SPAN_TOOL_CALL) {
        srv_tool_call call;
        if (st->j->req.parse_tools && srv_tool_call_parse(text, len, &call)) {
            emit_calls(st, &call, 1);
            free(call.name), free(call.arguments);
            return;
        }
        ct_buf b = {0};
        ct_buf_puts(&b, "<tool_call>\n");
        ct_buf_put(&b, text, len);
        ct_buf_puts(&b, "\n</tool_call>");
        if (!b.oom) sse(st, chunk(st, json_pack("{s:o}", "content", srv_json_text(b.data, b.len)), NULL));
        ct_buf_free(&b);
        return;
    }
    const char *key = kind == CT_CHAT_SPAN_THINK ? "reasoning_content" : "content";
    sse(st, chunk(st, json_pack("{s:o}", key, srv_json_text(text, len)), NULL));
}

/* Produces the next SSE bytes (blocks up to a second for tokens; a comment line keeps the
 * connection alive when none came). */
static void stream_more(stream *st) {
    srv_job *j = st->j;
    if (!st->started) {
        st->started = true;
        if (j->req.kind == SRV_CHAT) {
            sse(st, chunk(st, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL));
            return;
        }
    }
    size_t have = st->text.len;
    size_t n_out = 0;
    srv_finish f = srv_job_wait(st->s->eng, j, have, &st->text, 1.0, &n_out);
    bool final = f != SRV_FINISH_NONE;
    if (j->req.kind == SRV_COMPLETION) {
        if (st->text.len > have)
            sse(st, chunk(st, json_pack("{s:o}", "content", srv_json_text(st->text.data + have, st->text.len - have)), NULL));
    } else if (j->req.llama_tools) { /* a Llama 3.1 call is a whole-answer JSON: decided at the end */
        if (final) {
            srv_answer a;
            srv_answer_parse(st->text.data ? st->text.data : "", st->text.len, j->req.think_open, true, true, &a);
            if (a.reasoning.len) sse(st, chunk(st, json_pack("{s:o}", "reasoning_content", srv_json_text(a.reasoning.data, a.reasoning.len)), NULL));
            if (a.content.len) sse(st, chunk(st, json_pack("{s:o}", "content", srv_json_text(a.content.data, a.content.len)), NULL));
            if (a.n_calls) emit_calls(st, a.calls, a.n_calls);
            srv_answer_free(&a);
        }
    } else if (st->text.len > have || final) {
        ct_chat_splitter_feed(&st->sp, st->text.data ? st->text.data : "", st->text.len, final, on_span, st);
    }
    if (!final) {
        if (st->out.len == st->out_pos) ct_buf_puts(&st->out, ": waiting\n\n");
        return;
    }
    srv_error e;
    if (!job_error(j, &e)) {
        char *s = srv_error_json(&e);
        if (s) ct_buf_printf(&st->out, "data: %s\n\n", s);
        free(s);
    } else {
        sse(st, chunk(st, json_object(), finish_name(f, st->n_calls > 0)));
        if (j->req.include_usage) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", st->sid, "object",
                                  j->req.kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                                  st->created, "model", st->s->models.v[j->req.model].name, "choices", "usage",
                                  usage_json(j));
            sse(st, o);
        }
    }
    ct_buf_puts(&st->out, "data: [DONE]\n\n");
    st->done = true;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    while (st->out_pos == st->out.len) {
        if (st->done) return MHD_CONTENT_READER_END_OF_STREAM;
        st->out.len = st->out_pos = 0;
        stream_more(st);
        if (st->out.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out.len - st->out_pos;
    if (n > max) n = max;
    memcpy(buf, st->out.data + st->out_pos, n);
    st->out_pos += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream *st = cls;
    srv_job_cancel(st->s->eng, st->j); /* no-op when it finished; a client gone otherwise */
    srv_job_release(st->s->eng, st->j);
    ct_buf_free(&st->out);
    ct_buf_free(&st->text);
    free(st);
}

/* ---- completions ---- */
static enum MHD_Result completion(ct_server *s, struct MHD_Connection *c, srv_kind kind, conn *k) {
    srv_req r;
    srv_error e;
    if (!srv_req_parse(&s->ctx, kind, k->body.data ? k->body.data : "", k->body.len, &r, &e)) return reply_error(c, &e);
    srv_job *j = srv_job_new(&r);
    if (!j) {
        srv_req_free(&r);
        return fail(c, 500, "server_error", NULL, "%s", "out of memory");
    }
    j->ad = j->req.model == 0 ? ct_runtime_adapter(s->rt) : s->models.v[j->req.model].ad;
    j->deadline = srv_now() + s->o.timeout_s;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->client_fd = ci ? ci->connect_fd : -1;
    bool stopping;
    if (!srv_engine_submit(s->eng, j, &stopping)) {
        srv_job_release(s->eng, j);
        return stopping ? fail(c, 503, "server_error", "shutting_down", "%s", "the server is shutting down")
                        : fail(c, 503, "server_error", "server_busy", "%s", "the request queue is full; retry later");
    }
    /* generation has its own deadline; the read timeout is for clients that stall while sending */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
    unsigned long long id = next_id();
    if (j->req.stream) {
        stream *st = calloc(1, sizeof *st);
        struct MHD_Response *resp = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free) : NULL;
        if (!resp) {
            free(st);
            srv_job_cancel(s->eng, j);
            srv_job_release(s->eng, j);
            return fail(c, 500, "server_error", NULL, "%s", "out of memory");
        }
        st->s = s;
        st->j = j;
        st->id = id;
        st->created = (json_int_t)time(NULL);
        snprintf(st->sid, sizeof st->sid, "%s-%016llx", kind == SRV_CHAT ? "chatcmpl" : "cmpl", id);
        ct_chat_splitter_init(&st->sp);
        if (j->req.think_open) st->sp.state = CT_CHAT_SPAN_THINK;
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        enum MHD_Result ret = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    ct_buf text = {0};
    while (srv_job_wait(s->eng, j, text.len, &text, 1.0, NULL) == SRV_FINISH_NONE) {
    }
    enum MHD_Result ret;
    if (!job_error(j, &e)) ret = reply_error(c, &e);
    else if (text.oom) ret = fail(c, 500, "server_error", NULL, "%s", "out of memory");
    else ret = reply_json(c, 200, response_json(s, j, text.data ? text.data : "", text.len, id));
    ct_buf_free(&text);
    srv_job_release(s->eng, j);
    return ret;
}

static json_t *model_json(const ct_server *s, size_t i) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s?, s:I}", "id", s->models.v[i].name, "object", "model", "created",
                     (json_int_t)0, "owned_by", "ctune", "parent", i ? s->models.v[0].name : NULL, "max_model_len",
                     (json_int_t)s->ctx.max_model_len);
}

static bool authorized(const ct_server *s, struct MHD_Connection *c) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return h && !strncmp(h, "Bearer ", 7) && !strcmp(h + 7, s->api_key);
}

static enum MHD_Result route(ct_server *s, struct MHD_Connection *c, const char *url, const char *method, conn *k) {
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    bool api = !strncmp(url, "/v1/", 4) || !strncmp(url, "/api/", 5);
    if (api && !authorized(s, c))
        return fail(c, 401, "authentication_error", "invalid_api_key", "%s", "missing or wrong API key (Authorization: Bearer KEY)");
    if (k->too_big) {
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", s->o.max_body);
        return fail(c, 413, "invalid_request_error", "request_too_large", "the request body exceeds %s bytes", lim);
    }
    if (!strcmp(url, "/v1/chat/completions") || !strcmp(url, "/v1/completions")) {
        if (!post) return fail(c, 405, "invalid_request_error", "method_not_allowed", "%s only takes POST", url);
        return completion(s, c, !strcmp(url, "/v1/chat/completions") ? SRV_CHAT : SRV_COMPLETION, k);
    }
    if (!get && (!strcmp(url, "/") || !strcmp(url, "/health") || !strncmp(url, "/v1/models", 10) || !strncmp(url, "/api/runs", 9)))
        return fail(c, 405, "invalid_request_error", "method_not_allowed", "%s only takes GET", url);
    if (!strcmp(url, "/") && get) {
        size_t n;
        const char *html = srv_webui_html(&n);
        return reply(c, 200, "text/html; charset=utf-8", html, n);
    }
    if (!strcmp(url, "/health")) {
        int run, q;
        srv_engine_load(s->eng, &run, &q);
        return reply_json(c, s->stopping ? 503 : 200, json_pack("{s:s, s:i, s:i}", "status", s->stopping ? "stopping" : "ok",
                                                                 "running", run, "queued", q));
    }
    if (!strcmp(url, "/v1/models")) {
        json_t *data = json_array();
        for (size_t i = 0; i < s->models.n; i++) json_array_append_new(data, model_json(s, i));
        return reply_json(c, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
    }
    if (!strncmp(url, "/v1/models/", 11)) {
        int i = srv_models_find(&s->models, url + 11);
        if (i < 0) return fail(c, 404, "not_found_error", "model_not_found", "The model '%s' does not exist", url + 11);
        return reply_json(c, 200, model_json(s, (size_t)i));
    }
    if (!strncmp(url, "/api/runs", 9) && (url[9] == 0 || url[9] == '/')) {
        if (!s->runs_dir) return fail(c, 404, "not_found_error", NULL, "%s", "no training runs: start the server with --runs DIR");
        srv_error e;
        char *j = url[9] == 0 || url[10] == 0 ? srv_runs_list(s->runs_dir, &e) : srv_runs_log(s->runs_dir, url + 10, &e);
        if (!j) return reply_error(c, &e);
        enum MHD_Result r = reply(c, 200, "application/json", j, strlen(j));
        free(j);
        return r;
    }
    return fail(c, 404, "not_found_error", NULL, "no such endpoint: %s", url);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    ct_server *s = cls;
    conn *k = *con_cls;
    if (!k) {
        if (!(k = calloc(1, sizeof *k))) return MHD_NO;
        k->t0 = srv_now();
        *con_cls = k;
        __atomic_add_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
            k->too_big = true;
            return route(s, c, url, method, k); /* 413 (or 401) before reading the body */
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!k->too_big && k->body.len + *upload_size > s->o.max_body) {
            k->too_big = true;
            ct_buf_free(&k->body);
        }
        if (!k->too_big && ct_buf_put(&k->body, upload, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return route(s, c, url, method, k);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    ct_server *s = cls;
    conn *k = *con_cls;
    if (!k) return;
    if (s->o.log_requests) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        fprintf(stderr, "ctune serve: %u %.0f ms\n", ci ? ci->http_status : 0, 1e3 * (srv_now() - k->t0));
    }
    /* a kept-alive connection waits for its next request under the read timeout again */
    if (why == MHD_REQUEST_TERMINATED_COMPLETED_OK && s->o.read_timeout_s > 0)
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)(s->o.read_timeout_s + 0.999));
    ct_buf_free(&k->body);
    free(k);
    *con_cls = NULL;
    __atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

ct_status ct_server_start(ct_runtime *rt, const ct_serve_opts *o, ct_server **out, ct_err *err) {
    *out = NULL;
    const char *why = NULL;
    if (!ct_runtime_tokenizer(rt, &why)) return ct_err_set(err, CT_ERR_ARG, "serve: needs the tokenizer: %s", why);
    const ct_template *t;
    ct_status st = ct_runtime_template(rt, &t, err);
    if (st) return st;
    ct_server *s = calloc(1, sizeof *s);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    s->rt = rt;
    s->o = *o;
    s->host = dup_or_null(o->host ? o->host : "127.0.0.1");
    s->api_key = dup_or_null(o->api_key && *o->api_key ? o->api_key : NULL);
    s->runs_dir = dup_or_null(o->runs_dir);
    s->default_system = dup_or_null(o->default_system);
    s->o.default_system = s->default_system;
    s->json_schema = dup_or_null(o->json_schema);
    s->o.json_schema = s->json_schema;
    s->o.json_schema_name = NULL; /* only used below */
    if (o->json_schema) { /* the server-wide schema fails at start, naming its file */
        ct_json_constraint_opts jo = ct_json_constraint_opts_default();
        jo.schema = o->json_schema;
        jo.what = o->json_schema_name ? o->json_schema_name : "--json-schema";
        ct_json_constraint *jc = NULL;
        if ((st = ct_json_constraint_new(&jo, NULL, 1, &jc, err))) {
            ct_server_free(s);
            return st;
        }
        ct_json_constraint_free(jc);
    }
    s->models.v = calloc(1 + o->n_adapters, sizeof *s->models.v);
    s->owned = calloc(1 + o->n_adapters, sizeof *s->owned);
    if (!s->host || !s->models.v || !s->owned) {
        ct_server_free(s);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    const ct_model *m = ct_runtime_model(rt);
    s->models.v[0].name = strdup(o->model_name ? o->model_name : "default");
    s->models.n = 1;
    for (size_t i = 0; i < o->n_adapters; i++) {
        const ct_serve_adapter *a = &o->adapters[i];
        if (!a->name || !*a->name || srv_models_find(&s->models, a->name) >= 0) {
            ct_server_free(s);
            return ct_err_set(err, CT_ERR_ARG, "serve: adapter name '%s' is empty or used twice", a->name ? a->name : "");
        }
        if ((st = ct_adapter_load(a->dir, m, &s->owned[i], err))) {
            ct_err_prefix(err, "serve: adapter '%s'", a->name);
            ct_server_free(s);
            return st;
        }
        s->models.v[s->models.n].name = strdup(a->name);
        s->models.v[s->models.n++].ad = s->owned[i];
    }
    int64_t mpe = ct_model_config(m)->max_position_embeddings;
    s->ctx.rt = rt;
    s->ctx.o = &s->o;
    s->ctx.models = &s->models;
    s->ctx.max_model_len = o->max_model_len > 0 ? o->max_model_len : mpe > 0 ? mpe : 4096;
    s->ctx.gen_plain = o->gen;
    s->ctx.gen_plain.tok = ct_runtime_tokenizer(rt, NULL);
    s->ctx.gen_chat = s->ctx.gen_plain;
    if ((st = srv_schemas_new(s->ctx.gen_plain.tok, (int32_t)ct_model_config(m)->vocab_size, 16, &s->ctx.schemas,
                              err)) ||
        (st = ct_runtime_chat_stops(rt, &s->ctx.gen_chat, err)) ||
        (st = srv_engine_start(rt, o->parallel, o->queue, &s->eng, err))) {
        ct_server_free(s);
        return st;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, s->host, &sa.sin_addr) != 1) {
        ct_server_free(s);
        return ct_err_set(err, CT_ERR_ARG, "serve: --host '%s' is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)", o->host);
    }
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)(o->read_timeout_s > 0 ? o->read_timeout_s + 0.999 : 0),
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(o->max_connections > 0 ? o->max_connections : 256),
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    if (!s->d) {
        ct_server_free(s);
        return ct_err_set(err, CT_ERR_IO, "serve: cannot listen on %s:%d (port in use, or not allowed?)", o->host, o->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    *out = s;
    return CT_OK;
}

int ct_server_port(const ct_server *s) { return s->port; }

void ct_server_stop(ct_server *s, double grace_s) {
    if (!s) return;
    s->stopping = 1;
    srv_engine_stop(s->eng, grace_s);
    /* the finished (or cancelled) requests still have their last bytes to write: closing the
     * connections now would cut the streams before [DONE] */
    double until = srv_now() + 5.0;
    while (s->d && __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST) > 0 && srv_now() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (s->d) MHD_stop_daemon(s->d);
    s->d = NULL;
}

void ct_server_free(ct_server *s) {
    if (!s) return;
    ct_server_stop(s, 0);
    srv_engine_free(s->eng);
    srv_schemas_free(s->ctx.schemas);
    for (size_t i = 0; i < s->models.n; i++) free(s->models.v[i].name);
    for (size_t i = 0; s->owned && i < s->o.n_adapters; i++) ct_adapter_free(s->owned[i]);
    free(s->models.v);
    free(s->owned);
    free(s->host);
    free(s->api_key);
    free(s->json_schema);
    free(s->runs_dir);
    free(s->default_system);
    free(s);
}

#endif
