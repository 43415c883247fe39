/* Continuous batching over the shared model. One worker thread owns the runtime's model and
 * context. Each step: cancelled / timed-out / hung-up requests are finished; queued requests are
 * admitted up to `parallel` and prefilled (ct_model_forward into their own KV cache); then every
 * running request advances by one token, one ct_model_forward_batch per adapter in use (the
 * weights are read once for all of them). Sampling is ct_gen_sample with each request's own
 * parameters and PRNG, after a response_format request's logits are masked by its (shared,
 * cached) JSON constraint set to the request's own automaton state; text is decoded
 * incrementally (ct_detok) and stop strings are cut off. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctune/model.h"
#include "serve/serve.h"

struct srv_engine {
    ct_runtime *rt;
    const ct_model *m;
    const ct_tokenizer *tok;
    size_t V;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    pthread_t th;
    bool started, stopping, quit;
    srv_job *qhead, *qtail;
    int n_queued, max_queue;
    srv_job **active;
    int n_active, parallel;
    float *logits;      /* [parallel, V] */
    ct_kv_cache **kvs;  /* [parallel] */
    int32_t *ids;       /* [parallel] */
    srv_job **group;    /* [parallel] */
};

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

srv_job *srv_job_new(srv_req *req) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->req = *req;
    memset(req, 0, sizeof *req);
    j->client_fd = -1;
    j->refs = 1;
    pthread_cond_init(&j->cv, NULL);
    return j;
}

static void job_free_private(srv_job *j) {
    ct_kv_cache_free(j->kv);
    j->kv = NULL;
    ct_ids_free(&j->out);
    ct_detok_free(&j->dt);
    free(j->hist);
    j->hist = NULL;
    free(j->cstate);
    j->cstate = NULL;
}

static void job_destroy(srv_job *j) {
    job_free_private(j);
    ct_buf_free(&j->text);
    srv_req_free(&j->req);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void srv_job_release(srv_engine *g, srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&g->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&g->mu);
    if (last) job_destroy(j);
}

static void abs_deadline(struct timespec *ts, double timeout_s) {
    clock_gettime(CLOCK_REALTIME, ts);
    double t = (double)ts->tv_sec + 1e-9 * (double)ts->tv_nsec + timeout_s;
    ts->tv_sec = (time_t)t;
    ts->tv_nsec = (long)((t - (double)ts->tv_sec) * 1e9);
}

srv_finish srv_job_wait(srv_engine *g, srv_job *j, size_t have, ct_buf *b, double timeout_s, size_t *n_out) {
    struct timespec ts;
    abs_deadline(&ts, timeout_s);
    pthread_mutex_lock(&g->mu);
    while (j->finish == SRV_FINISH_NONE && j->text_ready <= have)
        if (pthread_cond_timedwait(&j->cv, &g->mu, &ts) == ETIMEDOUT) break;
    if (j->text_ready > have) ct_buf_put(b, j->text.data + have, j->text_ready - have);
    srv_finish f = j->finish;
    if (n_out) *n_out = j->n_out;
    pthread_mutex_unlock(&g->mu);
    return f;
}

void srv_job_cancel(srv_engine *g, srv_job *j) {
    pthread_mutex_lock(&g->mu);
    j->cancel = true;
    pthread_cond_signal(&g->work);
    pthread_mutex_unlock(&g->mu);
}

void srv_engine_load(srv_engine *g, int *running, int *queued) {
    pthread_mutex_lock(&g->mu);
    *running = g->n_active;
    *queued = g->n_queued;
    pthread_mutex_unlock(&g->mu);
}

bool srv_engine_submit(srv_engine *g, srv_job *j, bool *stopping) {
    pthread_mutex_lock(&g->mu);
    *stopping = g->stopping;
    /* free slots first, then up to max_queue waiting */
    bool ok = !g->stopping && g->n_active + g->n_queued < g->parallel + g->max_queue;
    if (ok) {
        j->refs++;
        j->link = NULL;
        if (g->qtail) g->qtail->link = j;
        else g->qhead = j;
        g->qtail = j;
        g->n_queued++;
        pthread_cond_signal(&g->work);
    }
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* Under the lock: ends a job (the engine's reference is dropped by the caller). */
static void finish_locked(srv_job *j, srv_finish f, const char *msg) {
    if (j->finish != SRV_FINISH_NONE) return;
    j->finish = f;
    if (msg) {
        size_t n = strlen(msg) < sizeof j->err - 1 ? strlen(msg) : sizeof j->err - 1;
        memcpy(j->err, msg, n);
        j->err[n] = 0;
    }
    j->text_ready = j->text.len;
    pthread_cond_broadcast(&j->cv);
}

static bool hung_up(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Under the lock: why a job must end now, or NONE. */
static srv_finish must_end(const srv_engine *g, const srv_job *j, double now) {
    if (j->cancel || g->quit || hung_up(j->client_fd)) return SRV_FINISH_CANCELLED;
    if (now > j->deadline) return SRV_FINISH_TIMEOUT;
    return SRV_FINISH_NONE;
}

/* Longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t stop_hold(const srv_req *r, const char *s, size_t n) {
    size_t best = 0;
    for (size_t i = 0; i < r->n_stop; i++) {
        size_t L = strlen(r->stops[i]);
        for (size_t k = L - 1 < n ? L - 1 : n; k > best; k--)
            if (!memcmp(s + n - k, r->stops[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

/* Worker: takes the sampled id of job j (outside the lock), publishes the text (under it). */
static void take_token(srv_engine *g, srv_job *j, int32_t id) {
    ct_err err = {0};
    bool eos = false;
    for (int32_t e = 0; e < j->req.gen.num_eos; e++) eos |= j->req.gen.eos_ids[e] == id;
    char *piece = NULL;
    size_t plen = 0;
    ct_status st = ct_ids_push(&j->out, id, &err);
    if (!st) j->hist[j->n_hist++] = id;
    bool last = eos || (int32_t)j->out.n >= j->req.gen.max_new_tokens;
    if (!st && !eos) st = ct_detok_step(&j->dt, g->tok, id, &piece, &plen, &err);
    if (!st && last && !piece) st = ct_detok_flush(&j->dt, g->tok, &piece, &plen, &err);
    pthread_mutex_lock(&g->mu);
    j->n_out = j->out.n;
    size_t old = j->text.len;
    if (piece && ct_buf_put(&j->text, piece, plen)) st = ct_err_set(&err, CT_ERR_NOMEM, "out of memory");
    free(piece);
    if (st) {
        finish_locked(j, SRV_FINISH_ERROR, err.msg);
    } else {
        /* a stop string may start up to its length - 1 bytes before the new piece */
        size_t from = old > j->n_stop_max ? old - j->n_stop_max : 0;
        const char *hit = NULL;
        for (size_t i = 0; i < j->req.n_stop; i++) {
            const char *p = memmem(j->text.data + from, j->text.len - from, j->req.stops[i], strlen(j->req.stops[i]));
            if (p && (!hit || p < hit)) hit = p;
        }
        if (hit) {
            j->text.len = (size_t)(hit - j->text.data);
            j->text.data[j->text.len] = 0;
            finish_locked(j, SRV_FINISH_STOP, NULL);
        } else if (eos) {
            finish_locked(j, SRV_FINISH_STOP, NULL);
        } else if (last) {
            finish_locked(j, SRV_FINISH_LENGTH, NULL);
        } else {
            size_t ready = j->text.len - stop_hold(&j->req, j->text.data ? j->text.data : "", j->text.len);
            if (ready > j->text_ready) {
                j->text_ready = ready;
                pthread_cond_broadcast(&j->cv);
            }
        }
    }
    pthread_mutex_unlock(&g->mu);
    j->next = id;
}

/* Worker: masks the logits of a job with a response_format to what keeps its output a valid
 * prefix (its own automaton state set on the shared constraint first), samples, and advances the
 * state over the sampled id. */
static ct_status sample(srv_engine *g, srv_job *j, float *logits, int32_t *id, ct_err *err) {
    ct_json_constraint *c = j->req.schema ? srv_schema_constraint(j->req.schema) : NULL;
    const ct_gen_params *p = &j->req.gen;
    ct_status st = CT_OK;
    if (c) {
        if (!j->cstate) { /* the first token: the start state, inside the think block the prompt opened */
            ct_json_constraint_reset(c);
            if (j->req.think_open && !ct_json_constraint_accept_bytes(c, "<think>", 7))
                return ct_err_set(err, CT_ERR_FORMAT, "response_format: the think block cannot open here");
        } else if (!ct_json_constraint_set_state(c, j->cstate, j->cstate_len)) {
            return ct_err_set(err, CT_ERR_ARG, "response_format: bad automaton state");
        }
        int64_t left = (int64_t)p->max_new_tokens - (int64_t)j->out.n;
        if ((st = ct_json_constraint_apply(c, logits, g->V, p->eos_ids, (size_t)p->num_eos, left, err))) return st;
    }
    *id = ct_gen_sample(logits, g->V, p, j->hist, j->n_hist, &j->rng);
    if (!c) return CT_OK;
    bool eos = false;
    for (int32_t e = 0; e < p->num_eos; e++) eos |= p->eos_ids[e] == *id;
    if (!eos && (st = ct_json_constraint_accept(c, *id, err))) return st;
    size_t len = 0;
    const void *state = ct_json_constraint_state(c, &len);
    if (len > j->cstate_len || !j->cstate) {
        uint8_t *b = realloc(j->cstate, len);
        if (!b) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        j->cstate = b;
    }
    memcpy(j->cstate, state, len);
    j->cstate_len = len;
    return CT_OK;
}

/* Worker: the sampled token of job j, or its end with err's message. */
static void sample_and_take(srv_engine *g, srv_job *j, float *logits) {
    ct_err err = {0};
    int32_t id = 0;
    if (sample(g, j, logits, &id, &err)) {
        pthread_mutex_lock(&g->mu);
        finish_locked(j, SRV_FINISH_ERROR, err.msg);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    take_token(g, j, id);
}

/* Worker: the prompt of a newly admitted job, and its first token. */
static void prefill(srv_engine *g, srv_job *j, float *logits) {
    ct_err err = {0};
    const ct_config *cfg = ct_model_config(g->m);
    size_t n = j->req.prompt.n, max_new = (size_t)j->req.gen.max_new_tokens;
    size_t virt = j->ad ? ct_adapter_num_virtual(j->ad) : 0;
    size_t cap = virt + n + (max_new < 256 ? max_new : 256);
    ct_status st = ct_kv_cache_init(&j->kv, cfg, cap, &err);
    j->hist = st ? NULL : malloc((n + max_new) * sizeof(int32_t));
    if (!st && !j->hist) st = ct_err_set(&err, CT_ERR_NOMEM, "out of memory");
    if (!st) {
        memcpy(j->hist, j->req.prompt.data, n * sizeof(int32_t));
        j->n_hist = n;
        ct_rng_seed(&j->rng, j->req.gen.seed);
        ct_detok_init(&j->dt, true);
        for (size_t i = 0; i < j->req.n_stop; i++)
            if (strlen(j->req.stops[i]) > j->n_stop_max) j->n_stop_max = strlen(j->req.stops[i]);
        st = ct_model_forward(ct_runtime_ctx(g->rt), g->m, j->ad, j->kv, j->req.prompt.data, n, NULL, NULL, logits, &err);
    }
    if (st) {
        pthread_mutex_lock(&g->mu);
        finish_locked(j, SRV_FINISH_ERROR, err.msg);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    sample_and_take(g, j, logits);
}

/* Worker: one token for every running job of adapter `ad` (the jobs in g->group[0..B)). */
static void decode_group(srv_engine *g, int B) {
    ct_err err = {0};
    ct_status st = CT_OK;
    for (int b = 0; b < B && !st; b++) {
        srv_job *j = g->group[b];
        size_t len = ct_kv_cache_len(j->kv), cap = ct_kv_cache_capacity(j->kv);
        if (len + 1 > cap) st = ct_kv_cache_grow(j->kv, 2 * cap, &err);
        g->kvs[b] = j->kv;
        g->ids[b] = j->next;
    }
    if (!st)
        st = ct_model_forward_batch(ct_runtime_ctx(g->rt), g->m, g->group[0]->ad, g->kvs, (size_t)B, g->ids, 1,
                                    g->logits, &err);
    for (int b = 0; b < B; b++) {
        srv_job *j = g->group[b];
        if (st) {
            pthread_mutex_lock(&g->mu);
            finish_locked(j, SRV_FINISH_ERROR, err.msg);
            pthread_mutex_unlock(&g->mu);
            continue;
        }
        float *row = g->logits + (size_t)b * g->V;
        sample_and_take(g, j, row);
    }
}

static void *worker(void *arg) {
    srv_engine *g = arg;
    srv_job **fresh = calloc((size_t)g->parallel, sizeof *fresh);
    pthread_mutex_lock(&g->mu);
    for (;;) {
        double now = srv_now();
        /* end what must end: running jobs, then queued ones; the engine's reference is dropped
         * (jobs nobody else holds are destroyed once the lock is released) */
        srv_job *dead = NULL;
        int k = 0;
        for (int i = 0; i < g->n_active; i++) {
            srv_job *j = g->active[i];
            srv_finish f = j->finish ? j->finish : must_end(g, j, now);
            if (!f) {
                g->active[k++] = j;
                continue;
            }
            finish_locked(j, f, f == SRV_FINISH_TIMEOUT ? "the request timed out" : NULL);
            job_free_private(j);
            if (--j->refs == 0) j->link = dead, dead = j;
        }
        g->n_active = k;
        g->qtail = NULL;
        for (srv_job **pp = &g->qhead; *pp;) {
            srv_job *j = *pp;
            srv_finish f = must_end(g, j, now);
            if (!f) {
                g->qtail = j;
                pp = &j->link;
                continue;
            }
            *pp = j->link;
            g->n_queued--;
            finish_locked(j, f, f == SRV_FINISH_TIMEOUT ? "the request timed out while queued" : NULL);
            if (--j->refs == 0) j->link = dead, dead = j;
        }
        if (dead) {
            pthread_mutex_unlock(&g->mu);
            while (dead) {
                srv_job *next = dead->link;
                job_destroy(dead);
                dead = next;
            }
            pthread_mutex_lock(&g->mu);
            continue; /* the state may have changed meanwhile */
        }
        if (!g->n_active && !g->qhead) pthread_cond_broadcast(&g->idle);
        if (g->quit && !g->n_active && !g->qhead) break;
        /* admit */
        int n_fresh = 0;
        while (g->n_active < g->parallel && g->qhead && fresh) {
            srv_job *j = g->qhead;
            g->qhead = j->link;
            if (!g->qhead) g->qtail = NULL;
            g->n_queued--;
            g->active[g->n_active++] = j;
            fresh[n_fresh++] = j;
        }
        if (!g->n_active) {
            struct timespec ts;
            abs_deadline(&ts, 0.25); /* wake up to time out queued jobs */
            pthread_cond_timedwait(&g->work, &g->mu, &ts);
            continue;
        }
        int n_run = g->n_active;
        pthread_mutex_unlock(&g->mu);
        for (int i = 0; i < n_fresh; i++) prefill(g, fresh[i], g->logits);
        /* one batched decode per adapter over the jobs that were already running */
        bool *done = calloc((size_t)n_run, sizeof *done);
        for (int i = 0; done && i < n_run; i++) {
            srv_job *j = g->active[i];
            bool is_fresh = false;
            for (int f = 0; f < n_fresh; f++) is_fresh |= fresh[f] == j;
            if (done[i] || is_fresh || j->finish) continue;
            int B = 0;
            for (int t = i; t < n_run; t++) {
                srv_job *u = g->active[t];
                bool uf = false;
                for (int f = 0; f < n_fresh; f++) uf |= fresh[f] == u;
                if (!done[t] && !uf && !u->finish && u->ad == j->ad) g->group[B++] = u, done[t] = true;
            }
            decode_group(g, B);
        }
        free(done);
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    free(fresh);
    return NULL;
}

ct_status srv_engine_start(ct_runtime *rt, int parallel, int queue, srv_engine **out, ct_err *err) {
    *out = NULL;
    srv_engine *g = calloc(1, sizeof *g);
    if (!g) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    g->rt = rt;
    g->m = ct_runtime_model(rt);
    g->tok = ct_runtime_tokenizer(rt, NULL);
    g->V = (size_t)ct_model_config(g->m)->vocab_size;
    g->parallel = parallel < 1 ? 1 : parallel;
    g->max_queue = queue < 0 ? 0 : queue;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->work, NULL);
    pthread_cond_init(&g->idle, NULL);
    size_t P = (size_t)g->parallel;
    g->logits = malloc(P * g->V * sizeof(float));
    g->active = calloc(P, sizeof *g->active);
    g->kvs = calloc(P, sizeof *g->kvs);
    g->ids = calloc(P, sizeof *g->ids);
    g->group = calloc(P, sizeof *g->group);
    if (!g->logits || !g->active || !g->kvs || !g->ids || !g->group) {
        srv_engine_free(g);
        return ct_err_set(err, CT_ERR_NOMEM, "serve: out of memory for %d parallel requests", g->parallel);
    }
    if (pthread_create(&g->th, NULL, worker, g)) {
        srv_engine_free(g);
        return ct_err_set(err, CT_ERR_IO, "serve: cannot start the decode thread");
    }
    g->started = true;
    *out = g;
    return CT_OK;
}

void srv_engine_stop(srv_engine *g, double grace_s) {
    if (!g || !g->started) return;
    struct timespec ts;
    abs_deadline(&ts, grace_s > 0 ? grace_s : 0);
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    while (g->n_active || g->qhead)
        if (pthread_cond_timedwait(&g->idle, &g->mu, &ts) == ETIMEDOUT) break;
    g->quit = true; /* what is left is cancelled */
    pthread_cond_signal(&g->work);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->th, NULL);
    g->started = false;
}

void srv_engine_free(srv_engine *g) {
    if (!g) return;
    srv_engine_stop(g, 0);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->work);
    pthread_cond_destroy(&g->idle);
    free(g->logits);
    free(g->active);
    free(g->kvs);
    free(g->ids);
    free(g->group);
    free(g);
}
