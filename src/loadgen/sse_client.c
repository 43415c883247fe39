/* One streaming chat completion over a plain TCP socket (HTTP/1.1, "Connection: close"), read
 * as it arrives: the chunked transfer coding is undone incrementally, the body is cut into
 * server-sent events ("data: {...}\n\n" ... "data: [DONE]"), and the arrival time of every
 * event with text is recorded (TTFT, the gaps between chunks). */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "loadgen/loadgen.h"

double lg_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

ct_status lg_url_parse(const char *url, lg_url *u, ct_err *err) {
    memset(u, 0, sizeof *u);
    if (!url || strncmp(url, "http://", 7))
        return ct_err_set(err, CT_ERR_ARG, "--url '%s': expected http://HOST[:PORT][/PREFIX] (https is not supported)",
                          url ? url : "");
    const char *h = url + 7, *slash = strchr(h, '/'), *end = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(end - h));
    size_t hl = (size_t)((colon ? colon : end) - h);
    if (!hl || hl >= sizeof u->host) return ct_err_set(err, CT_ERR_ARG, "--url '%s': no host", url);
    memcpy(u->host, h, hl);
    if (colon) {
        size_t pl = (size_t)(end - colon - 1);
        if (!pl || pl >= sizeof u->port || strspn(colon + 1, "0123456789") < pl)
            return ct_err_set(err, CT_ERR_ARG, "--url '%s': the port must be a number", url);
        memcpy(u->port, colon + 1, pl);
    } else {
        strcpy(u->port, "80");
    }
    size_t plen = slash ? strlen(slash) : 0;
    while (plen && slash[plen - 1] == '/') plen--;
    /* a prefix ending in /v1 (as OpenAI clients' base URLs do) is the API root itself */
    if (plen >= 3 && !memcmp(slash + plen - 3, "/v1", 3)) plen -= 3;
    if (plen + sizeof "/v1/chat/completions" > sizeof u->path) return ct_err_set(err, CT_ERR_ARG, "--url '%s': too long", url);
    if (plen) memcpy(u->path, slash, plen);
    strcpy(u->path + plen, "/v1/chat/completions");
    return CT_OK;
}

void lg_sample_free(lg_sample *s) {
    free(s->gaps);
    s->gaps = NULL;
    s->n_gaps = s->cap_gaps = 0;
}

static void fail(lg_sample *s, const char *fmt, const char *arg) {
    if (!s->ok && s->err[0]) return; /* keep the first reason */
    s->ok = false;
    snprintf(s->err, sizeof s->err, fmt, arg);
}

static int dial(const lg_url *u, double timeout_s, lg_sample *s) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc) {
        fail(s, "cannot resolve the host: %s", gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) fail(s, "cannot connect: %s", strerror(errno));
    return fd;
}

/* The reader: raw bytes in, de-chunked body out, events cut from the body. */
typedef struct reader {
    ct_buf raw, body;
    size_t raw_at, body_at;   /* consumed up to */
    bool headers, chunked, body_end, done;
    int status;
    long long chunk_left;     /* bytes of the current chunk still to copy; -1: a size line is next */
    bool crlf_next;           /* the CRLF after a chunk's data is next */
    double last_text;
    bool seen_text;
    int64_t n_text;           /* chunks with text (the token count when no usage comes) */
} reader;

static bool parse_headers(reader *r, lg_sample *s) {
    const char *e = r->raw.data ? strstr(r->raw.data, "\r\n\r\n") : NULL;
    if (!e) return true;
    if (sscanf(r->raw.data, "HTTP/1.%*d %d", &r->status) != 1) {
        fail(s, "not an HTTP response: %.60s", r->raw.data);
        return false;
    }
    for (const char *p = strstr(r->raw.data, "\r\n"); p && p < e; p = strstr(p + 2, "\r\n"))
        if (!strncasecmp(p + 2, "transfer-encoding:", 18) && strstr(p + 20, "chunked") &&
            strstr(p + 20, "chunked") < strstr(p + 2, "\r\n"))
            r->chunked = true;
    r->headers = true;
    r->raw_at = (size_t)(e + 4 - r->raw.data);
    r->chunk_left = -1;
    return true;
}

/* Moves what raw holds past raw_at into body (undoing the chunked coding). */
static bool dechunk(reader *r, lg_sample *s) {
    while (r->raw_at < r->raw.len && !r->body_end) {
        const char *p = r->raw.data + r->raw_at;
        size_t avail = r->raw.len - r->raw_at;
        if (!r->chunked) {
            ct_buf_put(&r->body, p, avail);
            r->raw_at += avail;
        } else if (r->crlf_next) {
            if (avail < 2) break;
            r->raw_at += 2;
            r->crlf_next = false;
        } else if (r->chunk_left < 0) {
            const char *nl = memchr(p, '\n', avail);
            if (!nl) break;
            char *end = NULL;
            long long n = strtoll(p, &end, 16);
            if (end == p || n < 0) {
                fail(s, "bad chunk size line: %.20s", p);
                return false;
            }
            r->raw_at += (size_t)(nl + 1 - p);
            if (n == 0) r->body_end = true;
            else r->chunk_left = n;
        } else {
            size_t take = avail < (size_t)r->chunk_left ? avail : (size_t)r->chunk_left;
            ct_buf_put(&r->body, p, take);
            r->raw_at += take;
            r->chunk_left -= (long long)take;
            if (!r->chunk_left) r->chunk_left = -1, r->crlf_next = true;
        }
    }
    if (r->body.oom) fail(s, "%s", "out of memory");
    return !r->body.oom;
}

/* One event's "data:" payload. */
static bool on_data(reader *r, const char *d, size_t n, double t, double t0, lg_sample *s) {
    if (n == 6 && !memcmp(d, "[DONE]", 6)) {
        r->done = true;
        return true;
    }
    json_t *j = json_loadb(d, n, 0, NULL);
    if (!j) {
        fail(s, "an event is not JSON: %.80s", d);
        return false;
    }
    const char *emsg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (emsg) {
        fail(s, "the stream ended with an error: %s", emsg);
        json_decref(j);
        return false;
    }
    json_t *delta = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
    const char *c = json_string_value(json_object_get(delta, "content")),
               *rc = json_string_value(json_object_get(delta, "reasoning_content"));
    if ((c && *c) || (rc && *rc) || json_array_size(json_object_get(delta, "tool_calls"))) {
        if (!r->seen_text) {
            s->ttft = t - t0;
        } else {
            if (s->n_gaps == s->cap_gaps) {
                size_t cap = s->cap_gaps ? 2 * s->cap_gaps : 64;
                double *g = realloc(s->gaps, cap * sizeof *g);
                if (!g) {
                    json_decref(j);
                    fail(s, "%s", "out of memory");
                    return false;
                }
                s->gaps = g, s->cap_gaps = cap;
            }
            s->gaps[s->n_gaps++] = t - r->last_text;
        }
        r->seen_text = true;
        r->last_text = t;
        r->n_text++;
    }
    json_t *u = json_object_get(j, "usage");
    if (json_is_integer(json_object_get(u, "completion_tokens"))) {
        s->out_tok = json_integer_value(json_object_get(u, "completion_tokens"));
        s->in_tok = json_integer_value(json_object_get(u, "prompt_tokens"));
    }
    json_decref(j);
    return true;
}

static bool events(reader *r, double t, double t0, lg_sample *s) {
    for (;;) {
        const char *b = r->body.data ? r->body.data + r->body_at : NULL;
        const char *e = b ? strstr(b, "\n\n") : NULL;
        if (!e) return true;
        for (const char *l = b; l < e;) {
            const char *nl = memchr(l, '\n', (size_t)(e - l));
            const char *le = nl ? nl : e;
            size_t n = (size_t)(le - l);
            if (n && l[n - 1] == '\r') n--;
            if (n >= 5 && !memcmp(l, "data:", 5)) {
                const char *d = l + 5 + (n > 5 && l[5] == ' ');
                if (!on_data(r, d, n - (size_t)(d - l), t, t0, s)) return false;
            }
            l = le + 1;
        }
        r->body_at = (size_t)(e + 2 - r->body.data);
    }
}

void lg_stream_chat(const lg_url *u, const char *api_key, const char *body, double timeout_s, lg_sample *s) {
    memset(s, 0, sizeof *s);
    s->in_tok = s->out_tok = -1;
    double t0 = lg_now(), deadline = t0 + timeout_s;
    int fd = dial(u, timeout_s, s);
    if (fd < 0) return;
    ct_buf req = {0};
    ct_buf_printf(&req, "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                  "Accept: text/event-stream\r\nConnection: close\r\n", u->path, u->host, u->port);
    if (api_key) ct_buf_printf(&req, "Authorization: Bearer %s\r\n", api_key);
    ct_buf_printf(&req, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    reader r = {0};
    bool ok = !req.oom;
    if (!ok) fail(s, "%s", "out of memory");
    for (size_t sent = 0; ok && sent < req.len;) {
        ssize_t w = send(fd, req.data + sent, req.len - sent, MSG_NOSIGNAL);
        if (w <= 0) {
            fail(s, "cannot send the request: %s", strerror(errno));
            ok = false;
        } else {
            sent += (size_t)w;
        }
    }
    char tmp[16384];
    while (ok && !r.done && !r.body_end) {
        double left = deadline - lg_now();
        if (left <= 0) {
            fail(s, "%s", "the request timed out");
            ok = false;
            break;
        }
        struct timeval tv = {(time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6) + 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        double t = lg_now();
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue; /* the deadline check decides */
        if (n < 0) {
            fail(s, "receive failed: %s", strerror(errno));
            ok = false;
            break;
        }
        if (n == 0) break; /* closed */
        if (ct_buf_put(&r.raw, tmp, (size_t)n)) {
            fail(s, "%s", "out of memory");
            ok = false;
            break;
        }
        if (!r.headers && !parse_headers(&r, s)) ok = false;
        if (ok && r.headers) ok = dechunk(&r, s);
        if (ok && r.headers && r.status == 200) ok = events(&r, t, t0, s);
    }
    double t_end = lg_now();
    close(fd);
    if (ok && !r.headers) fail(s, "%s", "the connection closed before a response came"), ok = false;
    if (ok && r.status != 200) {
        json_t *j = r.body.data ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
        const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        char what[200];
        snprintf(what, sizeof what, "HTTP %d: %.180s", r.status, m ? m : r.body.data ? r.body.data : "");
        fail(s, "%s", what);
        json_decref(j);
        ok = false;
    }
    if (ok && !r.done) fail(s, "%s", "the stream ended without data: [DONE]"), ok = false;
    if (ok) {
        s->ok = true;
        s->latency = t_end - t0;
        if (s->out_tok < 0) s->out_tok = r.n_text;
        if (s->in_tok < 0) s->in_tok = 0;
        if (!r.seen_text) s->ttft = s->latency; /* an empty answer: the first token is its end */
    }
    ct_buf_free(&req);
    ct_buf_free(&r.raw);
    ct_buf_free(&r.body);
}
