/* safetensors reader (see safetensors.h). */
#include "io/safetensors.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"

typedef struct st_entry {
    char *name;
    ct_tensor t;
    size_t file;  /* index into ct_st.paths */
    size_t begin; /* byte range in the data buffer, used for the overlap/hole check */
    size_t end;
} st_entry;

struct ct_st {
    size_t nfiles;
    char **paths;
    ct_mmap *maps;
    st_entry *e; /* sorted by name after open */
    size_t n, cap;
    void **copies; /* aligned copies of tensors stored at unaligned offsets */
    size_t ncopies;
    json_t *metadata;
};

static ct_status push_entry(ct_st *st, st_entry *e, ct_err *err) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        st_entry *ne = realloc(st->e, cap * sizeof *ne);
        if (!ne) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        st->e = ne;
        st->cap = cap;
    }
    st->e[st->n++] = *e;
    return CT_OK;
}

static int cmp_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

/* Parses one entry's {"dtype","shape","data_offsets"} into e. */
static ct_status parse_entry(const char *path, const char *name, json_t *v, size_t data_size,
                             st_entry *e, ct_err *err) {
    if (!json_is_object(v))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': header entry is not an object",
                          path, name);
    const char *dt = ct_json_get_str(v, "dtype");
    if (!dt)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", path, name);
    if (ct_dtype_from_name(dt, &e->t.dtype) != 0)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype '%s'", path,
                          name, dt);
    json_t *shape = json_object_get(v, "shape");
    if (!json_is_array(shape))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': missing or bad \"shape\"", path,
                          name);
    if (json_array_size(shape) > CT_MAX_DIMS)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dims (max %d)", path,
                          name, json_array_size(shape), CT_MAX_DIMS);
    e->t.ndim = (int)json_array_size(shape);
    /* numel * size computed with overflow checks: a lying shape must not wrap around. */
    size_t nbytes = ct_dtype_size(e->t.dtype);
    for (int i = 0; i < e->t.ndim; i++) {
        json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a size",
                              path, name, i);
        e->t.shape[i] = json_integer_value(d);
        if (e->t.shape[i] && nbytes > SIZE_MAX / (size_t)e->t.shape[i])
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': shape too large", path, name);
        nbytes *= (size_t)e->t.shape[i];
    }
    json_t *off = json_object_get(v, "data_offsets");
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        !json_is_integer(json_array_get(off, 0)) || !json_is_integer(json_array_get(off, 1)))
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: tensor '%s': \"data_offsets\" must be [begin, end]", path, name);
    json_int_t b = json_integer_value(json_array_get(off, 0));
    json_int_t en = json_integer_value(json_array_get(off, 1));
    if (b < 0 || en < b)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': bad data_offsets [%lld, %lld]",
                          path, name, (long long)b, (long long)en);
    if ((uint64_t)en > data_size)
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%lld, %lld] outside the data buffer "
                          "(%zu bytes; file truncated?)",
                          path, name, (long long)b, (long long)en, data_size);
    if ((size_t)(en - b) != nbytes)
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: tensor '%s': shape and dtype %s need %zu bytes but data_offsets "
                          "span %lld",
                          path, name, dt, nbytes, (long long)(en - b));
    e->begin = (size_t)b;
    e->end = (size_t)en;
    return CT_OK;
}

/* Parses and validates file `path`, appending its entries to st (file index fi). */
static ct_status load_file(ct_st *st, size_t fi, ct_err *err) {
    const char *path = st->paths[fi];
    ct_mmap *m = &st->maps[fi];
    ct_status s = ct_mmap_open(m, path, err);
    if (s) return s;
    if (m->size < 8)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: too small for a safetensors file (%zu bytes)",
                          path, m->size);
    const unsigned char *p = m->data;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > CT_ST_MAX_HEADER)
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: header length %llu exceeds the 100 MB limit (not a safetensors "
                          "file?)",
                          path, (unsigned long long)hlen);
    if (hlen > m->size - 8)
        return ct_err_set(err, CT_ERR_FORMAT,
                          "%s: header length %llu is larger than the file (%zu bytes; truncated?)",
                          path, (unsigned long long)hlen, m->size);
    if (hlen < 2 || p[8] != '{')
        return ct_err_set(err, CT_ERR_FORMAT, "%s: header does not start with '{'", path);
    json_error_t je;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: bad JSON header at byte %d: %s", path,
                          je.position, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    const unsigned char *data = p + 8 + hlen;
    size_t data_size = m->size - 8 - (size_t)hlen;
    size_t first = st->n;
    const char *name;
    json_t *v;
    s = CT_OK;
    json_object_foreach(root, name, v) {
        if (!strcmp(name, "__metadata__")) {
            const char *k;
            json_t *mv;
            if (!json_is_object(v)) {
                s = ct_err_set(err, CT_ERR_FORMAT, "%s: __metadata__ is not an object", path);
                break;
            }
            json_object_foreach(v, k, mv) {
                if (!json_is_string(mv)) {
                    s = ct_err_set(err, CT_ERR_FORMAT, "%s: __metadata__.%s is not a string",
                                   path, k);
                    break;
                }
            }
            if (s) break;
            if (!st->metadata) st->metadata = json_incref(v);
            continue;
        }
        st_entry e = {0};
        if ((s = parse_entry(path, name, v, data_size, &e, err))) break;
        e.file = fi;
        e.name = strdup(name);
        if (!e.name) {
            s = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        size_t align = ct_dtype_size(e.t.dtype);
        const unsigned char *src = data + e.begin;
        if (((uintptr_t)src % align) != 0 && e.end > e.begin) {
            void *cp = aligned_alloc(64, (e.end - e.begin + 63) / 64 * 64);
            void **nc = realloc(st->copies, (st->ncopies + 1) * sizeof *nc);
            if (!cp || !nc) {
                free(cp);
                if (nc) st->copies = nc;
                free(e.name);
                s = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(cp, src, e.end - e.begin);
            st->copies = nc;
            st->copies[st->ncopies++] = cp;
            e.t.data = cp;
        } else {
            e.t.data = (void *)src;
        }
        if ((s = push_entry(st, &e, err))) {
            free(e.name);
            break;
        }
    }
    json_decref(root);
    if (s) return s;
    /* The data buffer must be covered exactly: sorted by offset, each tensor starts where the
     * previous one ended and the last one ends at the end of the file. */
    size_t cnt = st->n - first;
    st_entry **by = malloc((cnt ? cnt : 1) * sizeof *by);
    if (!by) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++) by[i] = &st->e[first + i];
    qsort(by, cnt, sizeof *by, cmp_begin);
    size_t pos = 0;
    for (size_t i = 0; i < cnt && !s; i++) {
        if (by[i]->begin < pos)
            s = ct_err_set(err, CT_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s'", path,
                           by[i]->name, by[i]->begin, by[i]->end, by[i - 1]->name);
        else if (by[i]->begin > pos)
            s = ct_err_set(err, CT_ERR_FORMAT,
                           "%s: tensor '%s': hole in the data buffer before offset %zu", path,
                           by[i]->name, by[i]->begin);
        pos = by[i]->end;
    }
    if (!s && pos != data_size)
        s = ct_err_set(err, CT_ERR_FORMAT,
                       "%s: data buffer has %zu bytes but tensors cover %zu (trailing bytes or "
                       "lying header)",
                       path, data_size, pos);
    free(by);
    return s;
}

static ct_st *st_new(size_t nfiles) {
    ct_st *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->paths = calloc(nfiles, sizeof *st->paths);
    st->maps = calloc(nfiles, sizeof *st->maps);
    if (!st->paths || !st->maps) {
        free(st->paths);
        free(st->maps);
        free(st);
        return NULL;
    }
    st->nfiles = nfiles;
    return st;
}

/* Sorts by name and rejects a name present twice (possible across shards). */
static ct_status finish(ct_st *st, ct_err *err) {
    if (st->n > 1) qsort(st->e, st->n, sizeof *st->e, cmp_name); /* e is NULL for a file with no tensors */
    for (size_t i = 1; i < st->n; i++)
        if (!strcmp(st->e[i].name, st->e[i - 1].name))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s' also appears in %s",
                              st->paths[st->e[i].file], st->e[i].name,
                              st->paths[st->e[i - 1].file]);
    return CT_OK;
}

ct_status ct_st_open(const char *path, ct_st **out, ct_err *err) {
    *out = NULL;
    ct_st *st = st_new(1);
    if (!st || !(st->paths[0] = strdup(path))) {
        ct_st_close(st);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_status s = load_file(st, 0, err);
    if (!s) s = finish(st, err);
    if (s) {
        ct_st_close(st);
        return s;
    }
    *out = st;
    return CT_OK;
}

ct_status ct_st_open_dir(const char *dir, ct_st **out, ct_err *err) {
    *out = NULL;
    char *index = ct_path_join(dir, "model.safetensors.index.json");
    if (!index) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!ct_file_exists(index)) {
        char *single = ct_path_join(dir, "model.safetensors");
        free(index);
        if (!single) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        if (!ct_file_exists(single)) {
            ct_err_set(err, CT_ERR_IO,
                       "%s: no model.safetensors or model.safetensors.index.json in the "
                       "model directory",
                       dir);
            free(single);
            return CT_ERR_IO;
        }
        ct_status s = ct_st_open(single, out, err);
        free(single);
        return s;
    }
    json_t *root = NULL;
    ct_status s = ct_json_load_file(index, &root, err);
    if (s) {
        free(index);
        return s;
    }
    json_t *wm = json_object_get(root, "weight_map");
    ct_st *st = NULL;
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        s = ct_err_set(err, CT_ERR_FORMAT, "%s: missing or empty \"weight_map\"", index);
        goto done;
    }
    /* Distinct shard names, in first-seen order. */
    const char *name;
    json_t *v;
    const char **shards = calloc(json_object_size(wm), sizeof *shards);
    size_t ns = 0;
    if (!shards) {
        s = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        goto done;
    }
    json_object_foreach(wm, name, v) {
        if (!json_is_string(v)) {
            s = ct_err_set(err, CT_ERR_FORMAT, "%s: weight_map['%s'] is not a file name", index,
                           name);
            break;
        }
        const char *f = json_string_value(v);
        if (strchr(f, '/') || !strcmp(f, "..")) {
            s = ct_err_set(err, CT_ERR_FORMAT, "%s: weight_map['%s']: shard '%s' is not a plain "
                           "file name", index, name, f);
            break;
        }
        size_t k = 0;
        while (k < ns && strcmp(shards[k], f)) k++;
        if (k == ns) shards[ns++] = f;
    }
    if (!s) {
        st = st_new(ns);
        if (!st) s = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; !s && i < ns; i++) {
        if (!(st->paths[i] = ct_path_join(dir, shards[i]))) {
            s = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        s = load_file(st, i, err);
    }
    free(shards);
    if (!s) s = finish(st, err);
    /* Every weight_map entry must be in the shard it names. */
    if (!s) json_object_foreach(wm, name, v) {
        const char *in = ct_st_file_of(st, name);
        const char *f = json_string_value(v);
        size_t fl = strlen(f), il = in ? strlen(in) : 0;
        if (!in || il < fl || strcmp(in + il - fl, f)) {
            s = ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s' is listed in %s but not in %s",
                           index, name, f, in ? in : "any shard");
            break;
        }
    }
done:
    json_decref(root);
    free(index);
    if (s) {
        ct_st_close(st);
        return s;
    }
    *out = st;
    return CT_OK;
}

void ct_st_close(ct_st *st) {
    if (!st) return;
    for (size_t i = 0; i < st->nfiles; i++) {
        ct_mmap_close(&st->maps[i]);
        free(st->paths[i]);
    }
    for (size_t i = 0; i < st->n; i++) free(st->e[i].name);
    for (size_t i = 0; i < st->ncopies; i++) free(st->copies[i]);
    json_decref(st->metadata);
    free(st->copies);
    free(st->e);
    free(st->paths);
    free(st->maps);
    free(st);
}

static const st_entry *find(const ct_st *st, const char *name) {
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(st->e[mid].name, name);
        if (c == 0) return &st->e[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const ct_tensor *ct_st_get(const ct_st *st, const char *name) {
    const st_entry *e = find(st, name);
    return e ? &e->t : NULL;
}

const char *ct_st_file_of(const ct_st *st, const char *name) {
    const st_entry *e = find(st, name);
    return e ? st->paths[e->file] : NULL;
}

size_t ct_st_count(const ct_st *st) { return st->n; }
const char *ct_st_name(const ct_st *st, size_t i) { return i < st->n ? st->e[i].name : NULL; }

const char *ct_st_metadata(const ct_st *st, const char *key) {
    return st->metadata ? ct_json_get_str(st->metadata, key) : NULL;
}
