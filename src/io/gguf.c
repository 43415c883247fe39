/* GGUF v3 writer (format in gguf.h). */
#include "io/gguf.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"
#include "quant/ggml_blocks.h"

typedef struct gguf_tensor {
    char *name;
    int ndim;
    int64_t shape[4];
    ct_ggml_type type;
    size_t nbytes;
    uint64_t offset;
    ct_gguf_fill_fn fill;
    void *user;
} gguf_tensor;

struct ct_gguf_writer {
    ct_buf kv;          /* serialized key/value pairs */
    uint64_t n_kv;
    char **keys;        /* for the duplicate check */
    gguf_tensor *t;
    size_t n_t, cap_t;
    uint64_t data_size; /* bytes of the data section so far (each tensor padded) */
};

size_t ct_ggml_row_bytes(ct_ggml_type t, int64_t n) {
    if (n <= 0) return 0;
    switch (t) {
    case CT_GGML_F32: return (size_t)n * 4;
    case CT_GGML_F16:
    case CT_GGML_BF16: return (size_t)n * 2;
    case CT_GGML_Q8_0: return n % CT_GGML_QK ? 0 : (size_t)n / CT_GGML_QK * CT_GGML_Q8_0_BYTES;
    case CT_GGML_Q4_0: return n % CT_GGML_QK ? 0 : (size_t)n / CT_GGML_QK * CT_GGML_Q4_0_BYTES;
    default: return 0; /* not written */
    }
}

static const char *const k_type_names[] = {
    [0] = "F32",      [1] = "F16",     [2] = "Q4_0",    [3] = "Q4_1",    [6] = "Q5_0",     [7] = "Q5_1",
    [8] = "Q8_0",     [9] = "Q8_1",    [10] = "Q2_K",   [11] = "Q3_K",   [12] = "Q4_K",    [13] = "Q5_K",
    [14] = "Q6_K",    [15] = "Q8_K",   [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S",
    [20] = "IQ4_NL",  [21] = "IQ3_S",  [22] = "IQ2_S",  [23] = "IQ4_XS", [24] = "I8",      [25] = "I16",
    [26] = "I32",     [27] = "I64",    [28] = "F64",    [29] = "IQ1_M",  [30] = "BF16",    [34] = "TQ1_0",
    [35] = "TQ2_0",   [39] = "MXFP4",
};

const char *ct_ggml_type_name(uint32_t t) {
    return t < sizeof k_type_names / sizeof k_type_names[0] ? k_type_names[t] : NULL;
}

ct_status ct_gguf_writer_init(ct_gguf_writer **out, ct_err *err) {
    *out = calloc(1, sizeof **out);
    return *out ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
}

void ct_gguf_writer_free(ct_gguf_writer *w) {
    if (!w) return;
    ct_buf_free(&w->kv);
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w);
}

static void put_u32(ct_buf *b, uint32_t v) {
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ct_buf_put(b, (const char *)p, 4);
}

static void put_u64(ct_buf *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(ct_buf *b, const char *s) {
    size_t n = strlen(s);
    put_u64(b, n);
    ct_buf_put(b, s, n);
}

/* Starts a key: the duplicate check, the key string and the value type. */
static ct_status begin_kv(ct_gguf_writer *w, const char *key, ct_gguf_type type, ct_err *err) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return ct_err_set(err, CT_ERR_ARG, "gguf: metadata key %s set twice", key);
    char **k = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *k);
    if (!k) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    w->keys = k;
    if (!(k[w->n_kv] = strdup(key))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    w->n_kv++;
    put_str(&w->kv, key);
    put_u32(&w->kv, (uint32_t)type);
    return CT_OK;
}

static ct_status end_kv(ct_gguf_writer *w, ct_err *err) {
    return w->kv.oom ? ct_err_set(err, CT_ERR_NOMEM, "out of memory") : CT_OK;
}

ct_status ct_gguf_set_u32(ct_gguf_writer *w, const char *key, uint32_t v, ct_err *err) {
    ct_status st = begin_kv(w, key, CT_GGUF_U32, err);
    if (st) return st;
    put_u32(&w->kv, v);
    return end_kv(w, err);
}

ct_status ct_gguf_set_i32(ct_gguf_writer *w, const char *key, int32_t v, ct_err *err) {
    ct_status st = begin_kv(w, key, CT_GGUF_I32, err);
    if (st) return st;
    put_u32(&w->kv, (uint32_t)v);
    return end_kv(w, err);
}

ct_status ct_gguf_set_f32(ct_gguf_writer *w, const char *key, float v, ct_err *err) {
    ct_status st = begin_kv(w, key, CT_GGUF_F32, err);
    if (st) return st;
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(&w->kv, u);
    return end_kv(w, err);
}

ct_status ct_gguf_set_bool(ct_gguf_writer *w, const char *key, bool v, ct_err *err) {
    ct_status st = begin_kv(w, key, CT_GGUF_BOOL, err);
    if (st) return st;
    char c = v ? 1 : 0;
    ct_buf_put(&w->kv, &c, 1);
    return end_kv(w, err);
}

ct_status ct_gguf_set_str(ct_gguf_writer *w, const char *key, const char *v, ct_err *err) {
    ct_status st = begin_kv(w, key, CT_GGUF_STRING, err);
    if (st) return st;
    put_str(&w->kv, v);
    return end_kv(w, err);
}

static ct_status begin_arr(ct_gguf_writer *w, const char *key, ct_gguf_type item, size_t n, ct_err *err) {
    ct_status st = begin_kv(w, key, CT_GGUF_ARRAY, err);
    if (st) return st;
    put_u32(&w->kv, (uint32_t)item);
    put_u64(&w->kv, n);
    return CT_OK;
}

ct_status ct_gguf_set_arr_str(ct_gguf_writer *w, const char *key, const char *const *v, size_t n, ct_err *err) {
    ct_status st = begin_arr(w, key, CT_GGUF_STRING, n, err);
    for (size_t i = 0; !st && i < n; i++) put_str(&w->kv, v[i]);
    return st ? st : end_kv(w, err);
}

ct_status ct_gguf_set_arr_i32(ct_gguf_writer *w, const char *key, const int32_t *v, size_t n, ct_err *err) {
    ct_status st = begin_arr(w, key, CT_GGUF_I32, n, err);
    for (size_t i = 0; !st && i < n; i++) put_u32(&w->kv, (uint32_t)v[i]);
    return st ? st : end_kv(w, err);
}

ct_status ct_gguf_set_arr_f32(ct_gguf_writer *w, const char *key, const float *v, size_t n, ct_err *err) {
    ct_status st = begin_arr(w, key, CT_GGUF_F32, n, err);
    for (size_t i = 0; !st && i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_u32(&w->kv, u);
    }
    return st ? st : end_kv(w, err);
}

static uint64_t pad_to(uint64_t x) { return (x + CT_GGUF_ALIGNMENT - 1) / CT_GGUF_ALIGNMENT * CT_GGUF_ALIGNMENT; }

ct_status ct_gguf_add_tensor(ct_gguf_writer *w, const char *name, int ndim, const int64_t *shape, ct_ggml_type type,
                             ct_gguf_fill_fn fill, void *user, ct_err *err) {
    if (ndim < 1 || ndim > 4) return ct_err_set(err, CT_ERR_ARG, "gguf: tensor %s has %d dims (1..4)", name, ndim);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return ct_err_set(err, CT_ERR_ARG, "gguf: tensor %s added twice", name);
    size_t row = ct_ggml_row_bytes(type, shape[ndim - 1]), nbytes = row;
    if (!row)
        return ct_err_set(err, CT_ERR_SHAPE, "gguf: tensor %s: a row of %lld elements cannot be stored as %s", name,
                          (long long)shape[ndim - 1], ct_ggml_type_name(type));
    for (int d = 0; d < ndim - 1; d++) {
        if (shape[d] <= 0) return ct_err_set(err, CT_ERR_SHAPE, "gguf: tensor %s has an empty dimension", name);
        nbytes *= (size_t)shape[d];
    }
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        gguf_tensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        w->t = t;
        w->cap_t = cap;
    }
    gguf_tensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->type = type;
    t->nbytes = nbytes;
    t->offset = w->data_size;
    t->fill = fill;
    t->user = user;
    w->data_size += pad_to(nbytes);
    w->n_t++;
    return CT_OK;
}

size_t ct_gguf_tensor_count(const ct_gguf_writer *w) { return w->n_t; }

ct_status ct_gguf_write(ct_gguf_writer *w, const char *path, ct_err *err) {
    ct_buf h = {0};
    ct_buf_put(&h, "GGUF", 4);
    put_u32(&h, CT_GGUF_VERSION);
    put_u64(&h, w->n_t);
    put_u64(&h, w->n_kv);
    ct_buf_put(&h, w->kv.data ? w->kv.data : "", w->kv.len);
    for (size_t i = 0; i < w->n_t; i++) {
        const gguf_tensor *t = &w->t[i];
        put_str(&h, t->name);
        put_u32(&h, (uint32_t)t->ndim);
        for (int d = t->ndim - 1; d >= 0; d--) put_u64(&h, (uint64_t)t->shape[d]);
        put_u32(&h, (uint32_t)t->type);
        put_u64(&h, t->offset);
    }
    static const char zeros[CT_GGUF_ALIGNMENT] = {0};
    ct_buf_put(&h, zeros, pad_to(h.len) - h.len);
    if (h.oom) {
        ct_buf_free(&h);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    size_t maxb = 0;
    for (size_t i = 0; i < w->n_t; i++)
        if (w->t[i].nbytes > maxb) maxb = w->t[i].nbytes;
    void *buf = maxb ? malloc(maxb) : NULL;
    if (maxb && !buf) {
        ct_buf_free(&h);
        return ct_err_set(err, CT_ERR_NOMEM, "gguf: out of memory for a %zu-byte tensor", maxb);
    }
    ct_atomic_file af = {0};
    ct_status st = ct_atomic_open(&af, path, err);
    if (!st) st = ct_atomic_write(&af, h.data, h.len, err);
    for (size_t i = 0; !st && i < w->n_t; i++) {
        const gguf_tensor *t = &w->t[i];
        st = t->fill(t->user, buf, t->nbytes, err);
        if (st) {
            ct_err_prefix(err, "%s: tensor %s", path, t->name);
            break;
        }
        st = ct_atomic_write(&af, buf, t->nbytes, err);
        if (!st && pad_to(t->nbytes) > t->nbytes) st = ct_atomic_write(&af, zeros, pad_to(t->nbytes) - t->nbytes, err);
    }
    if (!st) st = ct_atomic_commit(&af, err);
    else if (af.fp) ct_atomic_abort(&af);
    free(buf);
    ct_buf_free(&h);
    return st;
}
