#include "io/pbuf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ct_pbuf_free(ct_pbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static bool reserve(ct_pbuf *b, size_t extra) {
    if (b->oom) return false;
    if (b->n + extra <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void ct_pb_raw(ct_pbuf *b, const void *data, size_t n) {
    if (!n || !reserve(b, n)) return;
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

static size_t varint_put(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

void ct_pb_varint(ct_pbuf *b, uint64_t v) {
    if (!reserve(b, 10)) return;
    b->n += varint_put(b->p + b->n, v);
}

void ct_pb_key(ct_pbuf *b, uint32_t field, int wire) { ct_pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

void ct_pb_uint(ct_pbuf *b, uint32_t field, uint64_t v) {
    if (!v) return;
    ct_pb_key(b, field, CT_PB_VARINT);
    ct_pb_varint(b, v);
}

void ct_pb_int(ct_pbuf *b, uint32_t field, int64_t v) { ct_pb_uint(b, field, (uint64_t)v); }

void ct_pb_bool(ct_pbuf *b, uint32_t field, bool v) { ct_pb_uint(b, field, v ? 1 : 0); }

void ct_pb_double(ct_pbuf *b, uint32_t field, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    if (!u) return; /* +0.0 is the default; -0.0 has a bit set and is written */
    ct_pb_key(b, field, CT_PB_I64);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(u >> (8 * i));
    ct_pb_raw(b, le, 8);
}

void ct_pb_bytes(ct_pbuf *b, uint32_t field, const void *data, size_t n) {
    ct_pb_key(b, field, CT_PB_LEN);
    ct_pb_varint(b, n);
    ct_pb_raw(b, data, n);
}

void ct_pb_string_always(ct_pbuf *b, uint32_t field, const char *s) {
    ct_pb_bytes(b, field, s ? s : "", s ? strlen(s) : 0);
}

void ct_pb_string(ct_pbuf *b, uint32_t field, const char *s) {
    if (s && *s) ct_pb_string_always(b, field, s);
}

size_t ct_pb_begin(ct_pbuf *b, uint32_t field) {
    ct_pb_key(b, field, CT_PB_LEN);
    return b->n;
}

void ct_pb_end(ct_pbuf *b, size_t mark) {
    if (b->oom) return;
    size_t len = b->n - mark, vl = varint_len(len);
    if (!reserve(b, vl)) return;
    memmove(b->p + mark + vl, b->p + mark, len);
    varint_put(b->p + mark, len);
    b->n += vl;
}

void ct_pb_timestamp(ct_pbuf *b, uint32_t field, double unix_s) {
    double s = floor(unix_s);
    int64_t nanos = (int64_t)llround((unix_s - s) * 1e9);
    if (nanos >= 1000000000) s += 1, nanos -= 1000000000;
    size_t m = ct_pb_begin(b, field);
    ct_pb_int(b, 1, (int64_t)s);
    ct_pb_int(b, 2, nanos);
    ct_pb_end(b, m);
}
