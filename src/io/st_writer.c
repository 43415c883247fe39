#include "io/st_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"

const char *const CT_ST_META_PT[] = {"format", "pt", NULL};

/* Rank in the safetensors crate's Dtype enum (declared in increasing alignment order). */
static int dtype_rank(ct_dtype dt) {
    switch (dt) {
    case CT_DTYPE_BOOL: return 0;
    case CT_DTYPE_U8: return 1;
    case CT_DTYPE_I8: return 2;
    case CT_DTYPE_I16: return 5;
    case CT_DTYPE_F16: return 7;
    case CT_DTYPE_BF16: return 8;
    case CT_DTYPE_I32: return 9;
    case CT_DTYPE_F32: return 11;
    case CT_DTYPE_F64: return 12;
    case CT_DTYPE_I64: return 13;
    default: return -1;
    }
}

/* dtypes a safetensors file can hold as floats (the target of a conversion) */
static bool is_plain_float(ct_dtype dt) {
    return dt == CT_DTYPE_F32 || dt == CT_DTYPE_F16 || dt == CT_DTYPE_BF16 || dt == CT_DTYPE_F64;
}

size_t ct_st_item_nbytes(const ct_st_item *it) {
    return (size_t)ct_tensor_numel(&it->src) * ct_dtype_size(it->dtype);
}


/* serde_json string escaping: ", \, control chars; everything else (UTF-8) raw. */
static void json_string_raw(ct_buf *b, const char *s) {
    ct_buf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"': ct_buf_puts(b, "\\\""); break;
        case '\\': ct_buf_puts(b, "\\\\"); break;
        case '\n': ct_buf_puts(b, "\\n"); break;
        case '\r': ct_buf_puts(b, "\\r"); break;
        case '\t': ct_buf_puts(b, "\\t"); break;
        case '\b': ct_buf_puts(b, "\\b"); break;
        case '\f': ct_buf_puts(b, "\\f"); break;
        default:
            if (*c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *c);
                ct_buf_puts(b, esc);
            } else {
                ct_buf_put(b, (const char *)c, 1);
            }
        }
    }
    ct_buf_put(b, "\"", 1);
}

typedef struct plan {
    size_t *order; /* item indices in data order */
    char *header;  /* padded header */
    size_t header_len;
    uint64_t data_len;
} plan;

static int cmp_items(const void *a, const void *b, void *ctx) {
    const ct_st_item *items = ctx;
    const ct_st_item *x = &items[*(const size_t *)a], *y = &items[*(const size_t *)b];
    int rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}

static ct_status make_plan(const ct_st_item *items, size_t n, const char *const *meta, plan *pl,
                           ct_err *err) {
    memset(pl, 0, sizeof *pl);
    for (size_t i = 0; i < n; i++) {
        const ct_st_item *it = &items[i];
        if (!it->name || !*it->name || strcmp(it->name, "__metadata__") == 0)
            return ct_err_set(err, CT_ERR_ARG, "safetensors: invalid tensor name \"%s\"",
                              it->name ? it->name : "(null)");
        if (dtype_rank(it->dtype) < 0 || it->dtype >= CT_DTYPE_COUNT)
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "safetensors: tensor %s: unsupported dtype",
                              it->name);
        if (it->src.dtype != it->dtype && !(ct_dtype_is_float(it->src.dtype) && is_plain_float(it->dtype)))
            return ct_err_set(err, CT_ERR_ARG,
                              "safetensors: tensor %s: cannot convert %s to %s", it->name,
                              ct_dtype_name(it->src.dtype), ct_dtype_name(it->dtype));
        if (it->src.ndim < 0 || it->src.ndim > CT_MAX_DIMS)
            return ct_err_set(err, CT_ERR_ARG, "safetensors: tensor %s: bad ndim %d", it->name,
                              it->src.ndim);
        for (int d = 0; d < it->src.ndim; d++)
            if (it->src.shape[d] < 0)
                return ct_err_set(err, CT_ERR_ARG, "safetensors: tensor %s: negative dim",
                                  it->name);
        if (!it->src.data && ct_tensor_numel(&it->src) > 0)
            return ct_err_set(err, CT_ERR_ARG, "safetensors: tensor %s: no data", it->name);
    }
    pl->order = malloc((n ? n : 1) * sizeof *pl->order);
    if (!pl->order) return ct_err_set(err, CT_ERR_NOMEM, "safetensors: out of memory");
    for (size_t i = 0; i < n; i++) pl->order[i] = i;
    qsort_r(pl->order, n, sizeof *pl->order, cmp_items, (void *)items);
    for (size_t i = 1; i < n; i++)
        if (strcmp(items[pl->order[i]].name, items[pl->order[i - 1]].name) == 0) {
            ct_err_set(err, CT_ERR_ARG, "safetensors: duplicate tensor name %s",
                       items[pl->order[i]].name);
            free(pl->order);
            pl->order = NULL;
            return CT_ERR_ARG;
        }
    ct_buf b = {0};
    ct_buf_put(&b, "{", 1);
    bool first = true;
    if (meta) {
        ct_buf_puts(&b, "\"__metadata__\":{");
        for (size_t k = 0; meta[k] && meta[k + 1]; k += 2) {
            if (k) ct_buf_put(&b, ",", 1);
            json_string_raw(&b, meta[k]);
            ct_buf_put(&b, ":", 1);
            json_string_raw(&b, meta[k + 1]);
        }
        ct_buf_put(&b, "}", 1);
        first = false;
    }
    uint64_t off = 0;
    char num[64];
    for (size_t i = 0; i < n; i++) {
        const ct_st_item *it = &items[pl->order[i]];
        if (!first) ct_buf_put(&b, ",", 1);
        first = false;
        json_string_raw(&b, it->name);
        ct_buf_puts(&b, ":{\"dtype\":\"");
        ct_buf_puts(&b, ct_dtype_name(it->dtype));
        ct_buf_puts(&b, "\",\"shape\":[");
        for (int d = 0; d < it->src.ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)it->src.shape[d]);
            ct_buf_puts(&b, num);
        }
        uint64_t nb = ct_st_item_nbytes(it);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + nb));
        ct_buf_puts(&b, num);
        off += nb;
    }
    ct_buf_put(&b, "}", 1);
    while (b.len % 8) ct_buf_put(&b, " ", 1);
    if (b.oom) {
        free(b.data);
        free(pl->order);
        pl->order = NULL;
        return ct_err_set(err, CT_ERR_NOMEM, "safetensors: out of memory");
    }
    pl->header = b.data;
    pl->header_len = b.len;
    pl->data_len = off;
    return CT_OK;
}

static void plan_free(plan *pl) {
    free(pl->order);
    free(pl->header);
}

ct_status ct_st_file_size(const ct_st_item *items, size_t n, const char *const *meta,
                          uint64_t *size, ct_err *err) {
    plan pl;
    ct_status st = make_plan(items, n, meta, &pl, err);
    if (st) return st;
    *size = 8 + pl.header_len + pl.data_len;
    plan_free(&pl);
    return CT_OK;
}

/* Emits one item's bytes through `sink`, converting in chunks when dtypes differ. */
typedef ct_status (*sink_fn)(void *ctx, const void *data, size_t n, ct_err *err);

static ct_status emit_item(const ct_st_item *it, sink_fn sink, void *ctx, ct_err *err) {
    size_t numel = (size_t)ct_tensor_numel(&it->src);
    if (it->src.dtype == it->dtype) return sink(ctx, it->src.data, numel * ct_dtype_size(it->dtype), err);
    enum { CHUNK = 1 << 16 };
    float *f = malloc(CHUNK * sizeof(float));
    unsigned char *o = malloc(CHUNK * 8);
    ct_status st = CT_OK;
    if (!f || !o) st = ct_err_set(err, CT_ERR_NOMEM, "safetensors: out of memory");
    for (size_t i = 0; !st && i < numel; i += CHUNK) {
        size_t m = numel - i < CHUNK ? numel - i : CHUNK;
        if (it->src.dtype == CT_DTYPE_F32) memcpy(f, (const float *)it->src.data + i, m * 4);
        else ct_tensor_to_f32(&it->src, i, m, f);
        ct_f32_to_dtype(f, m, it->dtype, o);
        st = sink(ctx, o, m * ct_dtype_size(it->dtype), err);
    }
    free(f);
    free(o);
    return st;
}

static ct_status emit_all(const ct_st_item *items, const plan *pl, size_t n, sink_fn sink,
                          void *ctx, ct_err *err) {
    uint8_t len8[8];
    uint64_t hl = pl->header_len;
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hl >> (8 * i));
    ct_status st = sink(ctx, len8, 8, err);
    if (!st) st = sink(ctx, pl->header, pl->header_len, err);
    for (size_t i = 0; !st && i < n; i++) {
        st = emit_item(&items[pl->order[i]], sink, ctx, err);
        if (st) ct_err_prefix(err, "tensor %s", items[pl->order[i]].name);
    }
    return st;
}

static ct_status sink_file(void *ctx, const void *data, size_t n, ct_err *err) {
    return ct_atomic_write(ctx, data, n, err);
}

typedef struct membuf {
    uint8_t *p;
    size_t n;
} membuf;
static ct_status sink_mem(void *ctx, const void *data, size_t n, ct_err *err) {
    (void)err;
    membuf *m = ctx;
    if (n) memcpy(m->p + m->n, data, n);
    m->n += n;
    return CT_OK;
}

ct_status ct_st_write(const char *path, const ct_st_item *items, size_t n, const char *const *meta,
                      ct_err *err) {
    plan pl;
    ct_status st = make_plan(items, n, meta, &pl, err);
    if (st) return ct_err_prefix(err, "%s", path);
    ct_atomic_file af;
    st = ct_atomic_open(&af, path, err);
    if (!st) {
        st = emit_all(items, &pl, n, sink_file, &af, err);
        if (st) ct_atomic_abort(&af);
        else st = ct_atomic_commit(&af, err);
    }
    plan_free(&pl);
    return st;
}

ct_status ct_st_serialize(const ct_st_item *items, size_t n, const char *const *meta,
                          uint8_t **out, size_t *out_len, ct_err *err) {
    *out = NULL;
    plan pl;
    ct_status st = make_plan(items, n, meta, &pl, err);
    if (st) return st;
    size_t total = 8 + pl.header_len + (size_t)pl.data_len;
    membuf m = {malloc(total), 0};
    if (!m.p) {
        plan_free(&pl);
        return ct_err_set(err, CT_ERR_NOMEM, "safetensors: out of memory");
    }
    st = emit_all(items, &pl, n, sink_mem, &m, err);
    plan_free(&pl);
    if (st) {
        free(m.p);
        return st;
    }
    *out = m.p;
    *out_len = m.n;
    return CT_OK;
}
