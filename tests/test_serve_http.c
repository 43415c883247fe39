/* `ctune serve` over loopback, in process (stories260k; a LoRA adapter written here): every
 * endpoint, streaming, greedy answers equal to ct_generate's (alone, batched, mixed adapters),
 * 4xx errors that leave the server serving (bad JSON, body over the limit, unknown model, API
 * key, wrong method, a slow client), a hung-up client cancelling its work, and 16 concurrent
 * clients (CT_SERVE_STRESS=1: 1,000 requests). */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "ctune/adapter.h"
#include "ctune/constrain.h"
#include "ctune/serve.h"
#include "eval/json_schema.h"
#include "harness.h"
#include "io/st_writer.h"

#ifdef CT_HAVE_MHD

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* One HTTP/1.0 exchange (the server closes after the response: no chunking). Returns the status
 * (-1: no response) and the body (malloc'd). */
static int http(int port, const char *method, const char *path, const char *body, const char *extra_headers,
                char **out) {
    *out = NULL;
    int fd = connect_to(port);
    if (fd < 0) return -1;
    size_t bl = body ? strlen(body) : 0;
    char head[1024];
    int hn = snprintf(head, sizeof head, "%s %s HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n",
                      method, path, extra_headers ? extra_headers : "", bl);
    if (write(fd, head, (size_t)hn) != hn || (bl && write(fd, body, bl) != (ssize_t)bl)) {
        close(fd);
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    for (ssize_t n; buf && (n = read(fd, buf + len, cap - len)) > 0;) {
        len += (size_t)n;
        if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    close(fd);
    if (!buf) return -1;
    buf[len] = 0;
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) status = -1;
    char *b = strstr(buf, "\r\n\r\n");
    *out = strdup(b ? b + 4 : "");
    free(buf);
    return status;
}

/* The error object's fields of a 4xx/5xx body (all four keys must be there). */
static bool is_error(const char *body, const char *param) {
    json_t *j = json_loads(body, 0, NULL);
    json_t *e = json_object_get(j, "error");
    bool ok = json_is_string(json_object_get(e, "message")) && json_is_string(json_object_get(e, "type")) &&
              json_object_get(e, "param") && json_object_get(e, "code");
    if (ok && param) ok = json_is_string(json_object_get(e, "param")) && !strcmp(json_string_value(json_object_get(e, "param")), param);
    json_decref(j);
    return ok;
}

/* The text of a non-streamed completion / chat answer (malloc'd), NULL when malformed. */
static char *answer_text(const char *body, bool chat, const char **finish) {
    json_t *j = json_loads(body, 0, NULL);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    json_t *t = chat ? json_object_get(json_object_get(c0, "message"), "content") : json_object_get(c0, "text");
    json_t *u = json_object_get(j, "usage");
    char *s = json_is_string(t) && json_is_integer(json_object_get(u, "total_tokens")) ? strdup(json_string_value(t)) : NULL;
    static const char *const names[] = {"stop", "length"};
    const char *f = json_string_value(json_object_get(c0, "finish_reason"));
    if (finish) *finish = NULL;
    for (int i = 0; f && finish && i < 2; i++)
        if (!strcmp(f, names[i])) *finish = names[i];
    json_decref(j);
    return s;
}

/* Concatenated deltas of an SSE stream; NULL unless it ends with [DONE] after a finish_reason. */
static char *stream_text(const char *body, bool chat, bool *usage_seen) {
    ct_buf b = {0};
    bool finished = false, done = false;
    *usage_seen = false;
    ct_buf_puts(&b, "");
    for (const char *p = body; p && *p;) {
        const char *e = strstr(p, "\n\n");
        if (!e) break;
        if (!strncmp(p, "data: [DONE]", 12)) done = true;
        else if (!strncmp(p, "data: ", 6)) {
            json_t *j = json_loadb(p + 6, (size_t)(e - p - 6), 0, NULL);
            json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
            json_t *t = chat ? json_object_get(json_object_get(c0, "delta"), "content") : json_object_get(c0, "text");
            if (json_is_string(t)) ct_buf_puts(&b, json_string_value(t));
            if (json_is_string(json_object_get(c0, "finish_reason"))) finished = true;
            if (json_object_get(j, "usage")) *usage_seen = true;
            if (!j) done = false, finished = false, p = NULL;
            json_decref(j);
            if (!p) break;
        }
        p = e + 2;
    }
    if (!(finished && done)) {
        ct_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Greedy reference: ct_generate of the prompt text with adapter ad, decoded. */
static char *reference(ct_runtime *rt, const ct_adapter *ad, const char *prompt, int max_new) {
    ct_ids ids = {0}, out = {0};
    ct_err err = {0};
    ct_gen_params p;
    char *text = NULL;
    size_t len = 0;
    if (ct_runtime_encode(rt, prompt, strlen(prompt), &ids, &err) || ct_runtime_gen_params(rt, false, &p, &err)) return NULL;
    p.do_sample = false;
    p.max_new_tokens = max_new;
    ct_gen_stop stop;
    if (!ct_generate(ct_runtime_ctx(rt), ct_runtime_model(rt), ad, ids.data, ids.n, &p, &out, &stop, &err)) {
        size_t n = out.n - (stop == CT_GEN_STOP_EOS);
        ct_tokenizer_decode(ct_runtime_tokenizer(rt, NULL), out.data, n, true, &text, &len, &err);
    }
    ct_ids_free(&ids);
    ct_ids_free(&out);
    return text;
}

/* Greedy reference with a JSON constraint (schema NULL: json_object; no think block, as the
 * server's /v1/completions): ct_generate with p.constraint. */
static char *reference_json(ct_runtime *rt, const char *prompt, int max_new, const char *schema) {
    ct_err err = {0};
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    o.schema = schema;
    ct_json_constraint *c = NULL;
    if (ct_json_constraint_new(&o, ct_runtime_tokenizer(rt, NULL), (int32_t)ct_model_config(ct_runtime_model(rt))->vocab_size,
                               &c, &err))
        return NULL;
    ct_ids ids = {0}, out = {0};
    ct_gen_params p;
    char *text = NULL;
    size_t len = 0;
    if (!ct_runtime_encode(rt, prompt, strlen(prompt), &ids, &err) && !ct_runtime_gen_params(rt, false, &p, &err)) {
        p.do_sample = false;
        p.max_new_tokens = max_new;
        p.constraint = c;
        ct_gen_stop stop;
        if (!ct_generate(ct_runtime_ctx(rt), ct_runtime_model(rt), NULL, ids.data, ids.n, &p, &out, &stop, &err)) {
            size_t n = out.n - (stop == CT_GEN_STOP_EOS);
            ct_tokenizer_decode(ct_runtime_tokenizer(rt, NULL), out.data, n, true, &text, &len, &err);
        }
    }
    ct_json_constraint_free(c);
    ct_ids_free(&ids);
    ct_ids_free(&out);
    return text;
}

/* A LoRA adapter (q_proj, v_proj, r 2) for stories260k with large B, so its answers differ. */
static bool write_adapter(const char *dir) {
    ct_err err = {0};
    if (ct_mkdir_p(dir, &err)) return false;
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\", \"v_proj\"], "
                      "\"bias\": \"none\", \"task_type\": \"CAUSAL_LM\", \"lora_dropout\": 0.0}";
    char *p = ct_path_join(dir, "adapter_config.json");
    bool ok = p && !ct_write_file_atomic(p, cfg, strlen(cfg), &err);
    free(p);
    enum { L = 5, C = 64, R = 2, QO = 64, VO = 32 };
    static float a[L][2][R * C], b[L][2][QO * R];
    ct_st_item items[L * 4];
    char names[L * 4][96];
    unsigned s = 12345;
    size_t n = 0;
    for (int l = 0; l < L; l++)
        for (int m = 0; m < 2; m++) {
            int out = m ? VO : QO;
            for (int i = 0; i < R * C; i++) s = s * 1103515245u + 12345u, a[l][m][i] = ((float)(s >> 16 & 0x7fff) / 32768.f - 0.5f);
            for (int i = 0; i < out * R; i++) s = s * 1103515245u + 12345u, b[l][m][i] = 2.f * ((float)(s >> 16 & 0x7fff) / 32768.f - 0.5f);
            const char *mod = m ? "v_proj" : "q_proj";
            snprintf(names[n], sizeof names[n], "base_model.model.model.layers.%d.self_attn.%s.lora_A.weight", l, mod);
            items[n] = ct_st_item_of(names[n], (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {R, C}, .data = a[l][m]});
            n++;
            snprintf(names[n], sizeof names[n], "base_model.model.model.layers.%d.self_attn.%s.lora_B.weight", l, mod);
            items[n] = ct_st_item_of(names[n], (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {out, R}, .data = b[l][m]});
            n++;
        }
    p = ct_path_join(dir, "adapter_model.safetensors");
    ok = ok && p && !ct_st_write(p, items, n, CT_ST_META_PT, &err);
    free(p);
    return ok;
}

typedef struct fixture_srv {
    ct_runtime *rt;
    ct_server *srv;
    ct_adapter *ad; /* the same adapter, for references */
    int port;
} fixture_srv;

static const char *server_schema; /* o.json_schema of the next start (serve_http_server_schema) */

static bool start_ex(fixture_srv *f, const char *api_key, size_t max_body, double read_timeout, int parallel, int queue,
                     double timeout) {
    memset(f, 0, sizeof *f);
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) return false;
    ct_err err = {0};
    ct_runtime_opts ro = ct_runtime_opts_default();
    ro.model_dir = dir;
    ro.template_name = "llama2";
    ro.threads = 2;
    CHECK_OK(ct_runtime_open(&ro, &f->rt, &err), &err);
    char *adir = ct_path_join(ct_test_tmpdir(), "lora");
    CHECK(adir && write_adapter(adir));
    CHECK_OK(ct_adapter_load(adir, ct_runtime_model(f->rt), &f->ad, &err), &err);
    ct_serve_opts o;
    ct_serve_opts_default(&o);
    o.port = 0;
    o.model_name = "stories";
    ct_serve_adapter ads[] = {{"lora", adir}};
    o.adapters = ads;
    o.n_adapters = 1;
    o.parallel = parallel;
    o.queue = queue;
    if (timeout > 0) o.timeout_s = timeout;
    o.api_key = api_key;
    if (max_body) o.max_body = max_body;
    if (read_timeout > 0) o.read_timeout_s = read_timeout;
    o.json_schema = server_schema;
    o.json_schema_name = "server.json";
    CHECK_OK(ct_runtime_gen_params(f->rt, false, &o.gen, &err), &err);
    o.gen.do_sample = false;
    CHECK_OK(ct_server_start(f->rt, &o, &f->srv, &err), &err);
    free(adir);
    if (!f->srv) return false;
    f->port = ct_server_port(f->srv);
    return f->port > 0;
}

static bool start(fixture_srv *f, const char *api_key, size_t max_body, double read_timeout) {
    return start_ex(f, api_key, max_body, read_timeout, 4, 64, 0);
}

static void stop(fixture_srv *f) {
    ct_server_free(f->srv);
    ct_adapter_free(f->ad);
    ct_runtime_free(f->rt);
}

static char *completion_body(const char *model, const char *prompt, int max_tokens, bool stream) {
    json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:b}", "model", model, "prompt", prompt, "max_tokens", max_tokens,
                          "temperature", 0, "stream", stream);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

TEST(serve_http_endpoints) {
    fixture_srv f;
    if (!ct_test_shared("models/stories260k")) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    REQUIRE(start(&f, NULL, 4096, 1.0));
    char *body = NULL;
    CHECK_EQ_INT(http(f.port, "GET", "/health", NULL, NULL, &body), 200);
    CHECK(body && strstr(body, "\"ok\""));
    free(body);
    CHECK_EQ_INT(http(f.port, "GET", "/v1/models", NULL, NULL, &body), 200);
    CHECK(body && strstr(body, "\"stories\"") && strstr(body, "\"lora\""));
    free(body);
    CHECK_EQ_INT(http(f.port, "GET", "/v1/models/lora", NULL, NULL, &body), 200);
    free(body);
    CHECK_EQ_INT(http(f.port, "GET", "/", NULL, NULL, &body), 200);
    CHECK(body && strstr(body, "<html") && strstr(body, "/v1/chat/completions"));
    free(body);
    /* greedy completions equal ct_generate, base and adapter, plain and streamed */
    const char *prompts[] = {"Once upon a time", "The little dog"};
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < 2; i++) {
            char *ref = reference(f.rt, m ? f.ad : NULL, prompts[i], 20);
            REQUIRE(ref);
            char *req = completion_body(m ? "lora" : "stories", prompts[i], 20, false);
            CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", req, NULL, &body), 200);
            char *got = body ? answer_text(body, false, NULL) : NULL;
            CHECK_MSG(got && !strcmp(got, ref), "model %d prompt %d: '%s' vs ct_generate '%s'", m, i, got ? got : "(bad)", ref);
            free(got), free(body), free(req);
            req = completion_body(m ? "lora" : "stories", prompts[i], 20, true);
            CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", req, NULL, &body), 200);
            bool usage;
            got = body ? stream_text(body, false, &usage) : NULL;
            CHECK_MSG(got && !strcmp(got, ref), "stream, model %d prompt %d: '%s' vs '%s'", m, i, got ? got : "(bad)", ref);
            free(got), free(body), free(req), free(ref);
        }
    char *base = reference(f.rt, NULL, prompts[0], 20), *lora = reference(f.rt, f.ad, prompts[0], 20);
    CHECK_MSG(base && lora && strcmp(base, lora), "the adapter should change the answer");
    free(base), free(lora);
    /* chat: non-streamed and streamed agree; usage chunk when asked; a stop string is cut off */
    const char *chat = "{\"model\":\"stories\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}],"
                       "\"max_tokens\":16,\"temperature\":0}";
    CHECK_EQ_INT(http(f.port, "POST", "/v1/chat/completions", chat, NULL, &body), 200);
    const char *finish = NULL;
    char *plain = body ? answer_text(body, true, &finish) : NULL;
    CHECK(plain && finish);
    CHECK(body && strstr(body, "\"chat.completion\"") && strstr(body, "\"prompt_tokens\""));
    free(body);
    const char *chat_s = "{\"model\":\"stories\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}],"
                         "\"max_tokens\":16,\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    CHECK_EQ_INT(http(f.port, "POST", "/v1/chat/completions", chat_s, NULL, &body), 200);
    bool usage = false;
    char *streamed = body ? stream_text(body, true, &usage) : NULL;
    CHECK_MSG(plain && streamed && !strcmp(plain, streamed), "stream '%s' vs plain '%s'", streamed ? streamed : "(bad)", plain ? plain : "");
    CHECK(usage);
    free(body);
    if (plain && strlen(plain) > 6) {
        char stopw[4] = {plain[3], plain[4], plain[5], 0};
        char req[512];
        snprintf(req, sizeof req, "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}],\"max_tokens\":16,"
                 "\"temperature\":0,\"stop\":\"%s\"}", stopw);
        if (!strchr(stopw, '"') && !strchr(stopw, '\\')) {
            CHECK_EQ_INT(http(f.port, "POST", "/v1/chat/completions", req, NULL, &body), 200);
            char *cut = body ? answer_text(body, true, &finish) : NULL;
            CHECK_MSG(cut && !strstr(cut, stopw) && !strncmp(cut, plain, strlen(cut)) && finish && !strcmp(finish, "stop"),
                      "stop '%s': '%s' (from '%s')", stopw, cut ? cut : "(bad)", plain);
            free(cut), free(body);
        }
    }
    free(plain), free(streamed);
    stop(&f);
}

TEST(serve_http_errors) {
    fixture_srv f;
    if (!ct_test_shared("models/stories260k")) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    REQUIRE(start(&f, "sekret", 4096, 1.0));
    const char *auth = "Authorization: Bearer sekret\r\n";
    char *body = NULL;
    const char *ok = "{\"prompt\":\"Once\",\"max_tokens\":3}";
    CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", ok, NULL, &body), 401);
    CHECK(body && is_error(body, NULL));
    free(body);
    CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", ok, "Authorization: Bearer wrong\r\n", &body), 401);
    free(body);
    CHECK_EQ_INT(http(f.port, "GET", "/health", NULL, NULL, &body), 200); /* /health needs no key */
    free(body);
    struct { const char *method, *path, *body; int status; const char *param; } cases[] = {
        {"POST", "/v1/chat/completions", "{\"messages\": [", 400, NULL},
        {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":\"many\"}", 400, "max_tokens"},
        {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1000000000}", 400, "max_tokens"},
        {"POST", "/v1/chat/completions", "{\"model\":\"ghost\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404, "model"},
        {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{}}}", 400, "response_format"},
        {"GET", "/v1/chat/completions", NULL, 405, NULL},
        {"POST", "/v1/models", "{}", 405, NULL},
        {"GET", "/v1/nothing", NULL, 404, NULL},
        {"GET", "/v1/models/ghost", NULL, 404, NULL},
        {"GET", "/api/runs", NULL, 404, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = http(f.port, cases[i].method, cases[i].path, cases[i].body, auth, &body);
        CHECK_MSG(st == cases[i].status, "case %zu: %s %s -> %d, expected %d (%s)", i, cases[i].method, cases[i].path, st,
                  cases[i].status, body ? body : "");
        CHECK_MSG(body && is_error(body, cases[i].param), "case %zu: not an error object: %s", i, body ? body : "(none)");
        free(body);
    }
    /* a body over the limit (4096 here): announced, and sent chunked */
    char *big = malloc(10000);
    memset(big, ' ', 9999);
    big[0] = '{', big[9998] = '}', big[9999] = 0;
    CHECK_EQ_INT(http(f.port, "POST", "/v1/chat/completions", big, auth, &body), 413);
    CHECK(body && is_error(body, NULL));
    free(body);
    int fd = connect_to(f.port);
    REQUIRE(fd >= 0);
    const char *h = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekret\r\nConnection: close\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n";
    CHECK(write(fd, h, strlen(h)) == (ssize_t)strlen(h));
    for (int i = 0; i < 3; i++) {
        char hdr[16];
        int n = snprintf(hdr, sizeof hdr, "%x\r\n", 3000);
        CHECK(write(fd, hdr, (size_t)n) == n && write(fd, big, 3000) == 3000 && write(fd, "\r\n", 2) == 2);
    }
    CHECK(write(fd, "0\r\n\r\n", 5) == 5);
    char resp[512] = {0};
    CHECK(read(fd, resp, sizeof resp - 1) > 0);
    CHECK_MSG(strstr(resp, " 413 ") != NULL, "chunked body over the limit: %.80s", resp);
    close(fd);
    free(big);
    /* a slow client (half a request line, then nothing) is dropped after the read timeout, and
     * the server answers others meanwhile */
    int slow = connect_to(f.port);
    REQUIRE(slow >= 0);
    CHECK(write(slow, "POST /v1/comp", 13) == 13);
    CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", ok, auth, &body), 200);
    free(body);
    char c;
    CHECK_MSG(read(slow, &c, 1) <= 0, "the slow client should be disconnected");
    close(slow);
    CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", ok, auth, &body), 200);
    char *text = body ? answer_text(body, false, NULL) : NULL;
    CHECK(text != NULL);
    free(text), free(body);
    stop(&f);
}

TEST(serve_http_cancel_and_shutdown) {
    fixture_srv f;
    if (!ct_test_shared("models/stories260k")) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    REQUIRE(start(&f, NULL, 0, 0));
    /* a client that hangs up cancels its request: the engine is idle again soon */
    int fd = connect_to(f.port);
    REQUIRE(fd >= 0);
    const char *b = "{\"prompt\":\"Once upon a time\",\"max_tokens\":480,\"stream\":true,\"temperature\":0}";
    char req[512];
    int n = snprintf(req, sizeof req, "POST /v1/completions HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s", strlen(b), b);
    CHECK(write(fd, req, (size_t)n) == n);
    char buf[256];
    CHECK(read(fd, buf, sizeof buf) > 0); /* the stream started */
    close(fd);
    bool idle = false;
    for (int i = 0; i < 100 && !idle; i++) {
        char *body = NULL;
        http(f.port, "GET", "/health", NULL, NULL, &body);
        idle = body && strstr(body, "\"running\":0");
        free(body);
        if (!idle) usleep(50000);
    }
    CHECK_MSG(idle, "the hung-up request kept running");
    stop(&f);
    /* one slot, no queue: a second request while one runs gets 503; a request past its
     * deadline (--timeout) gets 504 */
    REQUIRE(start_ex(&f, NULL, 0, 0, 1, 0, 0));
    fd = connect_to(f.port);
    REQUIRE(fd >= 0);
    CHECK(write(fd, req, (size_t)n) == n);
    CHECK(read(fd, buf, sizeof buf) > 0);
    char *body = NULL;
    const char *small = "{\"prompt\":\"Once\",\"max_tokens\":2}";
    CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", small, NULL, &body), 503);
    CHECK(body && strstr(body, "server_busy") && is_error(body, NULL));
    free(body);
    close(fd);
    bool served = false; /* the slot frees once the hung-up request is cancelled */
    for (int i = 0; i < 100 && !served; i++) {
        served = http(f.port, "POST", "/v1/completions", small, NULL, &body) == 200;
        free(body);
        if (!served) usleep(50000);
    }
    CHECK_MSG(served, "the slot never came free");
    stop(&f);
    REQUIRE(start_ex(&f, NULL, 0, 0, 1, 0, 0.01)); /* 10 ms: far less than 480 tokens take even on this tiny model */
    const char *longer = "{\"prompt\":\"Once upon a time\",\"max_tokens\":480,\"temperature\":0,\"stop\":\"@@@\"}";
    int st = http(f.port, "POST", "/v1/completions", longer, NULL, &body);
    bool eos = st == 200 && body && strstr(body, "\"finish_reason\":\"stop\""); /* ended before the deadline */
    CHECK_MSG(st == 504 || eos, "past the deadline: HTTP %d %s", st, body ? body : "");
    CHECK(st != 504 || (body && strstr(body, "\"timeout\"") && is_error(body, NULL)));
    free(body);
    stop(&f);
}

typedef struct worker_arg {
    int port, n, id;
    int bad;
    char *ref[2];
} worker_arg;

/* The content of a chat answer (plain or streamed) parses and validates against schema (NULL: any
 * JSON object). */
static bool content_valid(const char *content, const char *schema, char *why, size_t why_n) {
    json_t *inst = json_loads(content, JSON_DECODE_ANY, NULL);
    bool ok = inst && (schema || json_is_object(inst));
    if (!ok) snprintf(why, why_n, "not a JSON %s", schema ? "text" : "object");
    if (ok && schema) {
        ct_json_schema s;
        ct_err err = {0};
        ok = !ct_json_schema_load(&s, schema, "schema", &err) && !ct_json_schema_validate(&s, inst, &err);
        if (!ok) snprintf(why, why_n, "%.400s", err.msg);
        ct_json_schema_free(&s);
    }
    json_decref(inst);
    return ok;
}

typedef struct json_arg {
    int port, id, bad;
    const char *schema, *ref[2];
} json_arg;

/* Completions with response_format (json_schema for even ids, json_object for odd), some streamed,
 * all sent at once: each answer must equal ct_generate's under the same constraint. */
static void *json_client(void *p) {
    json_arg *w = p;
    bool obj = w->id % 2, stream = w->id % 3 == 1;
    char rf[1024], req[2048], *body = NULL;
    if (obj) snprintf(rf, sizeof rf, "{\"type\":\"json_object\"}");
    else snprintf(rf, sizeof rf, "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"r\",\"schema\":%s}}", w->schema);
    snprintf(req, sizeof req, "{\"prompt\":\"Once upon a time\",\"max_tokens\":160,\"temperature\":0,\"stream\":%s,"
             "\"response_format\":%s}", stream ? "true" : "false", rf);
    int st = http(w->port, "POST", "/v1/completions", req, NULL, &body);
    bool usage;
    char *got = st == 200 && body ? (stream ? stream_text(body, false, &usage) : answer_text(body, false, NULL)) : NULL;
    if (!got || strcmp(got, w->ref[obj])) {
        fprintf(stderr, "    json client %d: '%s' vs ct_generate '%s'\n", w->id, got ? got : body ? body : "(none)", w->ref[obj]);
        w->bad++;
    }
    free(got), free(body);
    return NULL;
}

TEST(serve_http_response_format) {
    fixture_srv f;
    if (!ct_test_shared("models/stories260k")) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    REQUIRE(start(&f, NULL, 1 << 16, 1.0));
    const char *schema = "{\"type\":\"object\",\"properties\":{\"risk\":{\"enum\":[\"low\",\"medium\",\"high\"]},"
                         "\"score\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10},\"tags\":{\"type\":\"array\","
                         "\"items\":{\"type\":\"string\",\"maxLength\":8},\"maxItems\":3}},\"required\":[\"risk\",\"score\"],"
                         "\"additionalProperties\":false}";
    /* json_object and json_schema, greedy and sampled, plain and streamed, base model and adapter:
     * every answer is valid */
    for (int k = 0; k < 2; k++)
        for (int v = 0; v < 4; v++) {
            bool stream = v & 1, sampled = v & 2;
            char rf[1024], req[2048], why[512] = "";
            if (k) snprintf(rf, sizeof rf, "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"risk\",\"strict\":true,\"schema\":%s}}", schema);
            else snprintf(rf, sizeof rf, "{\"type\":\"json_object\"}");
            snprintf(req, sizeof req, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Rate the risk\"}],"
                     "\"max_tokens\":%d,\"temperature\":%s,\"seed\":%d,\"stream\":%s,\"response_format\":%s}",
                     v == 3 ? "lora" : "stories", sampled ? 400 : 160, sampled ? "1.0" : "0", 7 + v, stream ? "true" : "false", rf);
            char *body = NULL;
            CHECK_EQ_INT(http(f.port, "POST", "/v1/chat/completions", req, NULL, &body), 200);
            bool usage;
            const char *finish = NULL;
            char *got = !body ? NULL : stream ? stream_text(body, true, &usage) : answer_text(body, true, &finish);
            CHECK_MSG(got && content_valid(got, k ? schema : NULL, why, sizeof why), "%s %d: '%s' (%s) %s",
                      k ? "json_schema" : "json_object", v, got ? got : "(bad)", why, got ? "" : body ? body : "");
            CHECK_MSG(stream || (finish && !strcmp(finish, "stop")), "case %d %d: finish %s", k, v, finish ? finish : "?");
            free(got), free(body);
        }
    /* requests running together share one constraint (each with its own automaton state): greedy
     * answers equal ct_generate's under the same constraint */
    char *jref[2] = {reference_json(f.rt, "Once upon a time", 160, schema), reference_json(f.rt, "Once upon a time", 160, NULL)};
    REQUIRE(jref[0] && jref[1]);
    json_arg ja[6];
    pthread_t jt[6];
    for (int i = 0; i < 6; i++) {
        ja[i] = (json_arg){.port = f.port, .id = i, .schema = schema, .ref = {jref[0], jref[1]}};
        pthread_create(&jt[i], NULL, json_client, &ja[i]);
    }
    int jbad = 0;
    for (int i = 0; i < 6; i++) pthread_join(jt[i], NULL), jbad += ja[i].bad;
    CHECK_MSG(jbad == 0, "%d of 6 concurrent constrained answers differ from ct_generate", jbad);
    free(jref[0]), free(jref[1]);
    /* a schema that cannot be compiled: 400 naming response_format, and the server keeps serving */
    const char *bad[] = {"{\"type\":\"string\",\"minLength\":3,\"maxLength\":1}", "{\"type\":\"string\",\"pattern\":\"^a\"}",
                         "{\"type\":\"object\",\"required\":[\"x\"],\"additionalProperties\":false}"};
    for (int i = 0; i < 3; i++) {
        char req[1024], *body = NULL;
        snprintf(req, sizeof req, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":"
                 "\"json_schema\",\"json_schema\":{\"name\":\"b\",\"schema\":%s}}}", bad[i]);
        CHECK_EQ_INT(http(f.port, "POST", "/v1/chat/completions", req, NULL, &body), 400);
        CHECK_MSG(body && is_error(body, "response_format"), "bad schema %d: %s", i, body ? body : "(none)");
        free(body);
    }
    char *body = NULL;
    CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":3}", NULL, &body), 200);
    free(body);
    stop(&f);
}

/* `ctune serve --json-schema FILE`: requests without a response_format of their own answer in
 * the schema (sampled, with max_tokens exactly the shortest value's length: always complete); a
 * request's own response_format wins (text: free, json_object: any object); max_tokens below the
 * shortest value is a 400 naming max_tokens; a bad schema fails the start, naming its file. */
TEST(serve_http_server_schema) {
    fixture_srv f;
    if (!ct_test_shared("models/stories260k")) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    const char *schema = "{\"type\":\"object\",\"properties\":{\"risk\":{\"enum\":[\"low\",\"medium\",\"high\"]},"
                         "\"why\":{\"type\":\"string\",\"minLength\":2},\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
                         "\"string\"},\"minItems\":1}},\"required\":[\"risk\",\"why\",\"tags\"],\"additionalProperties\":false}";
    server_schema = "{\"type\":\"string\",\"pattern\":\"^a\"}";
    ct_err err = {0};
    ct_runtime_opts ro = ct_runtime_opts_default();
    ro.model_dir = ct_test_shared("models/stories260k");
    ro.template_name = "llama2";
    ct_runtime *rt = NULL;
    CHECK_OK(ct_runtime_open(&ro, &rt, &err), &err);
    ct_serve_opts o;
    ct_serve_opts_default(&o);
    o.port = 0;
    o.json_schema = server_schema;
    o.json_schema_name = "server.json";
    ct_server *bad = NULL;
    CHECK(ct_server_start(rt, &o, &bad, &err) != CT_OK && !bad);
    CHECK_MSG(strstr(err.msg, "server.json") && strstr(err.msg, "pattern") && !strchr(err.msg, '\n'), "%s", err.msg);
    ct_runtime_free(rt);
    server_schema = schema;
    bool up = start(&f, NULL, 1 << 16, 1.0);
    server_schema = NULL;
    REQUIRE(up);
    ct_json_constraint_opts jo = ct_json_constraint_opts_default();
    jo.schema = schema;
    ct_json_constraint *jc = NULL;
    REQUIRE(ct_json_constraint_new(&jo, NULL, 1, &jc, &err) == CT_OK); /* no vocabulary: bytes */
    CHECK_EQ_INT(ct_json_constraint_min_tokens(jc, NULL, 0), (int64_t)strlen("{\"risk\":\"low\",\"why\":\"aa\",\"tags\":[\"\"]}"));
    ct_json_constraint_free(jc);
    REQUIRE(ct_json_constraint_new(&jo, ct_runtime_tokenizer(f.rt, NULL), ct_model_config(ct_runtime_model(f.rt))->vocab_size,
                                   &jc, &err) == CT_OK); /* the server's: tokens */
    int64_t min = ct_json_constraint_min_tokens(jc, NULL, 0);
    ct_json_constraint_free(jc);
    CHECK(min > 0);
    for (int seed = 0; seed < 6; seed++) {
        char req[1024], why[512] = "", *body = NULL;
        snprintf(req, sizeof req, "{\"messages\":[{\"role\":\"user\",\"content\":\"Rate the risk\"}],\"max_tokens\":%lld,"
                 "\"temperature\":1.0,\"seed\":%d,\"stream\":%s}", (long long)min + seed % 3, seed, seed % 2 ? "true" : "false");
        CHECK_EQ_INT(http(f.port, "POST", "/v1/chat/completions", req, NULL, &body), 200);
        bool usage;
        char *got = !body ? NULL : seed % 2 ? stream_text(body, true, &usage) : answer_text(body, true, NULL);
        CHECK_MSG(got && content_valid(got, schema, why, sizeof why), "seed %d: '%s' (%s) %s", seed, got ? got : "(bad)",
                  why, got ? "" : body ? body : "");
        free(got), free(body);
    }
    /* the request's own response_format wins */
    char *body = NULL, why[512] = "";
    CHECK_EQ_INT(http(f.port, "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                      "\"max_tokens\":8,\"response_format\":{\"type\":\"json_object\"}}", NULL, &body), 200);
    char *got = body ? answer_text(body, true, NULL) : NULL;
    CHECK_MSG(got && content_valid(got, NULL, why, sizeof why), "json_object: '%s' (%s)", got ? got : "", why);
    free(got), free(body);
    CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":6,\"response_format\":"
                      "{\"type\":\"text\"}}", NULL, &body), 200);
    got = body ? answer_text(body, false, NULL) : NULL;
    CHECK_MSG(got && got[0] != '{', "text: '%s'", got ? got : "");
    free(got), free(body);
    /* a budget the shortest value does not fit in */
    char req[512];
    snprintf(req, sizeof req, "{\"prompt\":\"Once\",\"max_tokens\":%lld}", (long long)min - 1);
    CHECK_EQ_INT(http(f.port, "POST", "/v1/completions", req, NULL, &body), 400);
    CHECK_MSG(body && is_error(body, "max_tokens") && strstr(body, "shortest"), "%s", body ? body : "(none)");
    free(body);
    stop(&f);
}

static void *client(void *p) {
    worker_arg *w = p;
    for (int i = 0; i < w->n; i++) {
        int m = (w->id + i) % 2;
        bool stream = (i % 3) == 1;
        char *req = completion_body(m ? "lora" : "stories", "Once upon a time", 12, stream);
        char *body = NULL;
        int st = http(w->port, "POST", "/v1/completions", req, NULL, &body);
        bool usage;
        char *got = st == 200 && body ? (stream ? stream_text(body, false, &usage) : answer_text(body, false, NULL)) : NULL;
        if (!got || strcmp(got, w->ref[m])) w->bad++;
        free(got), free(body), free(req);
    }
    return NULL;
}

TEST(serve_http_concurrent) {
    fixture_srv f;
    if (!ct_test_shared("models/stories260k")) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    REQUIRE(start(&f, NULL, 0, 0));
    const char *stress = getenv("CT_SERVE_STRESS");
    int per = stress && *stress && strcmp(stress, "0") ? 1000 / 16 + 1 : 3; /* 16 x 63 >= 1,000 */
    char *ref[2] = {reference(f.rt, NULL, "Once upon a time", 12), reference(f.rt, f.ad, "Once upon a time", 12)};
    REQUIRE(ref[0] && ref[1]);
    worker_arg w[16];
    pthread_t th[16];
    for (int i = 0; i < 16; i++) {
        w[i] = (worker_arg){.port = f.port, .n = per, .id = i, .ref = {ref[0], ref[1]}};
        pthread_create(&th[i], NULL, client, &w[i]);
    }
    int bad = 0;
    for (int i = 0; i < 16; i++) pthread_join(th[i], NULL), bad += w[i].bad;
    CHECK_MSG(bad == 0, "%d of %d concurrent answers were invalid or differ from ct_generate", bad, 16 * per);
    char *body = NULL;
    CHECK_EQ_INT(http(f.port, "GET", "/health", NULL, NULL, &body), 200);
    free(body);
    free(ref[0]), free(ref[1]);
    stop(&f);
}

#else

TEST(serve_http_endpoints) { ct_test_skip("built without libmicrohttpd (scripts/deps.sh installs libmicrohttpd-dev)"); }

#endif
