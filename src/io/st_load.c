#include "io/st_load.h"

#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER 100000000ull

static int cmp_off(const void *a, const void *b) {
    const ct_stbuf_entry *x = a, *y = b;
    const char *px = x->t.data, *py = y->t.data;
    return px < py ? -1 : px > py;
}

ct_status ct_stbuf_parse(ct_stbuf *sb, const void *data, size_t len, const char *what, ct_err *err) {
    const uint8_t *p = data;
    sb->e = NULL;
    sb->n = 0;
    sb->meta = NULL;
    if (len < 8) return ct_err_set(err, CT_ERR_FORMAT, "%s: file too small for a safetensors header", what);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)p[i] << (8 * i);
    if (hl > ST_MAX_HEADER || hl > len - 8)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: invalid safetensors header length %llu", what,
                          (unsigned long long)hl);
    json_error_t je;
    json_t *h = json_loadb((const char *)p + 8, (size_t)hl, 0, &je);
    if (!h || !json_is_object(h)) {
        json_decref(h);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: safetensors header is not a JSON object: %s",
                          what, h ? "wrong type" : je.text);
    }
    const uint8_t *base = p + 8 + hl;
    size_t blen = len - 8 - (size_t)hl;
    size_t n = json_object_size(h);
    sb->e = calloc(n ? n : 1, sizeof *sb->e);
    if (!sb->e) {
        json_decref(h);
        return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", what);
    }
    const char *key;
    json_t *v;
    ct_status st = CT_OK;
    json_object_foreach(h, key, v) {
        if (st) break;
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: __metadata__ is not an object", what);
                break;
            }
            sb->meta = json_incref(v);
            continue;
        }
        ct_stbuf_entry *e = &sb->e[sb->n];
        const char *dts = json_string_value(json_object_get(v, "dtype"));
        json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
        if (!dts || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2 ||
            json_array_size(shape) > CT_MAX_DIMS) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: tensor %s: bad header entry", what, key);
            break;
        }
        if (ct_dtype_from_name(dts, &e->t.dtype) != 0) {
            st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: tensor %s: unsupported dtype %s", what, key, dts);
            break;
        }
        e->t.ndim = (int)json_array_size(shape);
        uint64_t numel = 1;
        for (int d = 0; d < e->t.ndim; d++) {
            json_t *dv = json_array_get(shape, (size_t)d);
            if (!json_is_integer(dv) || json_integer_value(dv) < 0) {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: tensor %s: bad shape", what, key);
                break;
            }
            e->t.shape[d] = json_integer_value(dv);
            if (e->t.shape[d] && numel > UINT64_MAX / (uint64_t)e->t.shape[d]) {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: tensor %s: shape overflows", what, key);
                break;
            }
            numel *= (uint64_t)e->t.shape[d];
        }
        if (st) break;
        json_t *b0 = json_array_get(offs, 0), *b1 = json_array_get(offs, 1);
        if (!json_is_integer(b0) || !json_is_integer(b1) || json_integer_value(b0) < 0 ||
            json_integer_value(b1) < json_integer_value(b0) ||
            (uint64_t)json_integer_value(b1) > blen) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: tensor %s: data_offsets out of range", what, key);
            break;
        }
        uint64_t b = (uint64_t)json_integer_value(b0), en = (uint64_t)json_integer_value(b1);
        if (numel > UINT64_MAX / 8 || en - b != numel * ct_dtype_size(e->t.dtype)) {
            st = ct_err_set(err, CT_ERR_FORMAT,
                            "%s: tensor %s: %llu bytes for shape of %llu %s elements", what, key,
                            (unsigned long long)(en - b), (unsigned long long)numel, dts);
            break;
        }
        e->name = strdup(key);
        if (!e->name) {
            st = ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", what);
            break;
        }
        e->t.data = (void *)(base + b);
        e->nbytes = (size_t)(en - b);
        sb->n++;
    }
    if (!st) {
        /* Entries sorted by offset must tile [0, blen) exactly (the crate's validate()). */
        qsort(sb->e, sb->n, sizeof *sb->e, cmp_off);
        uint64_t pos = 0;
        for (size_t i = 0; i < sb->n && !st; i++) {
            uint64_t b = (uint64_t)((const uint8_t *)sb->e[i].t.data - base);
            if (b != pos)
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: tensor %s: data_offsets leave a gap or overlap",
                                what, sb->e[i].name);
            pos = b + sb->e[i].nbytes;
        }
        if (!st && pos != blen)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: tensor data does not cover the file (%llu of %zu bytes)",
                            what, (unsigned long long)pos, blen);
    }
    json_decref(h);
    if (st) {
        for (size_t i = 0; i < sb->n; i++) free(sb->e[i].name);
        free(sb->e);
        json_decref(sb->meta);
        sb->e = NULL;
        sb->n = 0;
        sb->meta = NULL;
    }
    return st;
}

ct_status ct_stbuf_open(ct_stbuf *sb, const char *path, ct_err *err) {
    memset(sb, 0, sizeof *sb);
    sb->path = strdup(path);
    ct_status st = ct_mmap_open(&sb->map, path, err);
    if (st) {
        free(sb->path);
        sb->path = NULL;
        return st;
    }
    st = ct_stbuf_parse(sb, sb->map.data, sb->map.size, path, err);
    if (st) ct_stbuf_close(sb);
    return st;
}

void ct_stbuf_close(ct_stbuf *sb) {
    for (size_t i = 0; i < sb->n; i++) free(sb->e[i].name);
    free(sb->e);
    json_decref(sb->meta);
    ct_mmap_close(&sb->map);
    free(sb->path);
    memset(sb, 0, sizeof *sb);
}

const ct_stbuf_entry *ct_stbuf_find(const ct_stbuf *sb, const char *name) {
    for (size_t i = 0; i < sb->n; i++)
        if (strcmp(sb->e[i].name, name) == 0) return &sb->e[i];
    return NULL;
}
