#include "train/tfevents.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/file.h"
#include "ctune/callback.h"
#include "io/crc32c.h"

struct ct_tfevents {
    FILE *fp;
    char *path;
};

typedef struct pb {
    uint8_t *p;
    size_t n, cap;
    bool overflow;
} pb;

static void pb_byte(pb *b, uint8_t c) {
    if (b->n < b->cap) b->p[b->n] = c;
    else b->overflow = true;
    b->n++;
}
static void pb_bytes(pb *b, const void *d, size_t n) {
    for (size_t i = 0; i < n; i++) pb_byte(b, ((const uint8_t *)d)[i]);
}
static void pb_varint(pb *b, uint64_t v) {
    while (v >= 0x80) {
        pb_byte(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    pb_byte(b, (uint8_t)v);
}
static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}
static void pb_le(pb *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) pb_byte(b, (uint8_t)(v >> (8 * i)));
}
static void pb_double(pb *b, int field, double x) {
    uint64_t u;
    memcpy(&u, &x, 8);
    pb_byte(b, (uint8_t)(field << 3 | 1));
    pb_le(b, u, 8);
}

static double now_s(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

size_t ct_tfevents_encode_version_event(uint8_t *buf, size_t cap, double wall_time) {
    pb b = {buf, 0, cap, false};
    static const char ver[] = "brain.Event:2";
    pb_double(&b, 1, wall_time);
    pb_byte(&b, 3 << 3 | 2);
    pb_varint(&b, sizeof ver - 1);
    pb_bytes(&b, ver, sizeof ver - 1);
    return b.overflow ? 0 : b.n;
}

size_t ct_tfevents_encode_scalar_event(uint8_t *buf, size_t cap, double wall_time, int64_t step,
                                       const char *tag, float value) {
    pb b = {buf, 0, cap, false};
    size_t tl = strlen(tag);
    size_t value_len = 1 + varint_len(tl) + tl + 1 + 4;     /* tag + simple_value */
    size_t summary_len = 1 + varint_len(value_len) + value_len;
    pb_double(&b, 1, wall_time);
    if (step != 0) {
        pb_byte(&b, 2 << 3 | 0);
        pb_varint(&b, (uint64_t)step);
    }
    pb_byte(&b, 5 << 3 | 2);
    pb_varint(&b, summary_len);
    pb_byte(&b, 1 << 3 | 2); /* Summary.value */
    pb_varint(&b, value_len);
    pb_byte(&b, 1 << 3 | 2); /* Value.tag */
    pb_varint(&b, tl);
    pb_bytes(&b, tag, tl);
    uint32_t u;
    memcpy(&u, &value, 4);
    pb_byte(&b, 2 << 3 | 5); /* Value.simple_value, fixed32 */
    pb_le(&b, u, 4);
    return b.overflow ? 0 : b.n;
}

size_t ct_tfevents_frame(uint8_t *out, size_t cap, const uint8_t *data, size_t n) {
    if (cap < n + 16) return 0;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    uint32_t c1 = ct_crc32c_mask(ct_crc32c(len, 8)), c2 = ct_crc32c_mask(ct_crc32c(data, n));
    memcpy(out, len, 8);
    for (int i = 0; i < 4; i++) out[8 + i] = (uint8_t)(c1 >> (8 * i));
    memmove(out + 12, data, n);
    for (int i = 0; i < 4; i++) out[12 + n + i] = (uint8_t)(c2 >> (8 * i));
    return n + 16;
}

static ct_status write_record(ct_tfevents *w, const uint8_t *data, size_t n, ct_err *err) {
    uint8_t *rec = malloc(n + 16);
    if (!rec) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t m = ct_tfevents_frame(rec, n + 16, data, n);
    ct_status st = CT_OK;
    if (fwrite(rec, 1, m, w->fp) != m || fflush(w->fp) != 0)
        st = ct_err_set(err, CT_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    free(rec);
    return st;
}

ct_status ct_tfevents_open(ct_tfevents **out, const char *log_dir, double wall_time, const char *host,
                           ct_err *err) {
    *out = NULL;
    if (wall_time <= 0) wall_time = now_s();
    char hn[256] = "localhost";
    if (!host) {
        if (gethostname(hn, sizeof hn) != 0) snprintf(hn, sizeof hn, "localhost");
        hn[sizeof hn - 1] = 0;
        host = hn;
    }
    ct_status st = ct_mkdir_p(log_dir, err);
    if (st) return st;
    ct_tfevents *w = calloc(1, sizeof *w);
    if (!w) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    char name[512];
    snprintf(name, sizeof name, "events.out.tfevents.%010lld.%s.%ld.0", (long long)wall_time, host, (long)getpid());
    w->path = ct_path_join(log_dir, name);
    if (!w->path) {
        free(w);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    w->fp = fopen(w->path, "wb");
    if (!w->fp) {
        st = ct_err_set(err, CT_ERR_IO, "%s: cannot create: %s", w->path, strerror(errno));
        free(w->path);
        free(w);
        return st;
    }
    uint8_t ev[64];
    size_t n = ct_tfevents_encode_version_event(ev, sizeof ev, wall_time);
    st = write_record(w, ev, n, err);
    if (st) {
        ct_tfevents_close(w);
        return st;
    }
    *out = w;
    return CT_OK;
}

ct_status ct_tfevents_scalar(ct_tfevents *w, const char *tag, int64_t step, float value, double wall_time,
                             ct_err *err) {
    if (wall_time <= 0) wall_time = now_s();
    size_t cap = strlen(tag) + 64;
    uint8_t *ev = malloc(cap);
    if (!ev) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t n = ct_tfevents_encode_scalar_event(ev, cap, wall_time, step, tag, value);
    ct_status st = n ? write_record(w, ev, n, err) : ct_err_set(err, CT_ERR_ARG, "tfevents: tag too long");
    free(ev);
    return st;
}

const char *ct_tfevents_path(const ct_tfevents *w) { return w->path; }

void ct_tfevents_close(ct_tfevents *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    free(w->path);
    free(w);
}

/* ---- as a callback: HF's TensorBoardCallback tags (train/loss, eval/loss, ...) ---- */
static ct_status tb_log(void *u, ct_train_event *ev, ct_err *err) {
    ct_tfevents *w = u;
    struct { const char *tag; double v; } s[] = {{"train/loss", ev->loss},
                                                 {"train/grad_norm", ev->grad_norm},
                                                 {"train/learning_rate", ev->learning_rate},
                                                 {"train/epoch", ev->epoch},
                                                 {"train/tokens_per_second", ev->tokens_per_s}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        if (isnan(s[i].v)) continue;
        ct_status st = ct_tfevents_scalar(w, s[i].tag, ev->step, (float)s[i].v, 0, err);
        if (st) return st;
    }
    return CT_OK;
}
static ct_status tb_eval(void *u, ct_train_event *ev, ct_err *err) {
    for (size_t i = 0; i < ev->n_eval_metrics; i++) { /* eval_tasks: "eval/<task>/<metric>" */
        char tag[300];
        snprintf(tag, sizeof tag, "eval/%s", ev->eval_metric_names[i]);
        ct_status st = ct_tfevents_scalar(u, tag, ev->step, (float)ev->eval_metric_values[i], 0, err);
        if (st) return st;
    }
    if (isnan(ev->eval_loss)) return CT_OK;
    return ct_tfevents_scalar(u, "eval/loss", ev->step, (float)ev->eval_loss, 0, err);
}
static void tb_free(void *u) { ct_tfevents_close(u); }

ct_status ct_callback_tensorboard(ct_callback *cb, const char *log_dir, ct_err *err) {
    memset(cb, 0, sizeof *cb);
    ct_tfevents *w;
    ct_status st = ct_tfevents_open(&w, log_dir, 0, NULL, err);
    if (st) return st;
    cb->name = "tensorboard";
    cb->user = w;
    cb->on_log = tb_log;
    cb->on_evaluate = tb_eval;
    cb->free_user = tb_free;
    return CT_OK;
}
