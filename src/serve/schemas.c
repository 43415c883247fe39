/* response_format for `ctune serve`: compiled JSON-Schema constraints shared across requests.
 * A constraint holds the vocabulary's sorted token bytes and a mask per automaton state seen, so
 * requests with the same schema text (and the same think-block option) reuse one: the request
 * parser takes a reference (compiling on first use), the engine's single worker thread keeps
 * each request's own automaton state and sets it before every apply / accept. Entries nobody
 * holds are evicted least-recently-used when the cache is full; when every entry is in use a
 * request gets a private constraint, freed with it. */
#include <stdlib.h>
#include <string.h>

#include "ctune/runtime.h"
#include "serve/serve.h"

struct srv_schema {
    srv_schemas *owner;
    char *text; /* NULL: json_object mode */
    bool think;
    ct_json_constraint *c;
    int refs;
    bool cached;
    unsigned long long used; /* last use, for eviction */
};

struct srv_schemas {
    const ct_tokenizer *tok;
    int32_t V;
    pthread_mutex_t mu;
    srv_schema **v;
    size_t n, max;
    unsigned long long clock;
    unsigned long long compiled; /* constraints built (for tests / logs) */
};

static void schema_free(srv_schema *s) {
    if (!s) return;
    ct_json_constraint_free(s->c);
    free(s->text);
    free(s);
}

ct_status srv_schemas_new(const ct_tokenizer *tok, int32_t vocab_size, size_t max, srv_schemas **out, ct_err *err) {
    *out = NULL;
    srv_schemas *c = calloc(1, sizeof *c);
    if (c) c->v = calloc(max ? max : 1, sizeof *c->v);
    if (!c || !c->v) {
        free(c);
        return ct_err_set(err, CT_ERR_NOMEM, "serve: out of memory");
    }
    c->tok = tok;
    c->V = vocab_size;
    c->max = max ? max : 1;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return CT_OK;
}

void srv_schemas_free(srv_schemas *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) schema_free(c->v[i]);
    free(c->v);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

unsigned long long srv_schemas_compiled(srv_schemas *c) {
    pthread_mutex_lock(&c->mu);
    unsigned long long n = c->compiled;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static bool same(const srv_schema *s, const char *text, bool think) {
    if (s->think != think) return false;
    if (!s->text || !text) return !s->text && !text;
    return !strcmp(s->text, text);
}

bool srv_schemas_get(srv_schemas *c, const char *text, bool think, srv_schema **out, srv_error *e) {
    *out = NULL;
    if (!c || !c->tok)
        return srv_fail(e, 400, "invalid_request_error", "unsupported", "response_format",
                        "response_format needs the model's tokenizer, which this server has not loaded");
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++)
        if (same(c->v[i], text, think)) {
            c->v[i]->refs++;
            c->v[i]->used = ++c->clock;
            *out = c->v[i];
            pthread_mutex_unlock(&c->mu);
            return true;
        }
    /* compiled under the lock: the same schema arriving twice is compiled once */
    srv_schema *s = calloc(1, sizeof *s);
    if (!s || (text && !(s->text = strdup(text)))) {
        pthread_mutex_unlock(&c->mu);
        schema_free(s);
        return srv_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    }
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    o.schema = text;
    o.what = "response_format.json_schema.schema";
    o.think = think;
    ct_err err = {0};
    if (ct_json_constraint_new(&o, c->tok, c->V, &s->c, &err)) {
        pthread_mutex_unlock(&c->mu);
        schema_free(s);
        int http = err.code == CT_ERR_NOMEM ? 500 : 400;
        return srv_fail(e, http, http == 400 ? "invalid_request_error" : "server_error", NULL, "response_format", "%s",
                        err.msg);
    }
    c->compiled++;
    s->owner = c;
    s->think = think;
    s->refs = 1;
    s->used = ++c->clock;
    if (c->n == c->max) { /* evict the least recently used entry nobody holds */
        size_t at = c->n;
        for (size_t i = 0; i < c->n; i++)
            if (!c->v[i]->refs && (at == c->n || c->v[i]->used < c->v[at]->used)) at = i;
        if (at < c->n) {
            schema_free(c->v[at]);
            c->v[at] = c->v[--c->n];
        }
    }
    if (c->n < c->max) {
        s->cached = true;
        c->v[c->n++] = s;
    }
    pthread_mutex_unlock(&c->mu);
    *out = s;
    return true;
}

void srv_schema_release(srv_schema *s) {
    if (!s) return;
    srv_schemas *c = s->owner;
    pthread_mutex_lock(&c->mu);
    bool drop = --s->refs == 0 && !s->cached;
    pthread_mutex_unlock(&c->mu);
    if (drop) schema_free(s);
}

ct_json_constraint *srv_schema_constraint(const srv_schema *s) { return s->c; }
