/* GGUF reader (see gguf_read.h). */
#include "io/gguf_read.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "quant/ggml_dequant.h"

typedef struct gkv {
    const char *key; /* into the mapping, klen bytes */
    size_t klen;
    ct_gguf_type type;
    const uint8_t *val; /* arrays: at the item type */
} gkv;

struct ct_gguf {
    char *path;
    ct_mmap map;
    gkv *kv;
    uint64_t n_kv;
    ct_gguf_tensor *t;
    uint64_t n_t;
};

const char *ct_ggml_type_label(uint32_t type, char buf[16]) {
    const char *n = ct_ggml_type_name(type);
    if (n) return n;
    snprintf(buf, 16, "type %u", type);
    return buf;
}

bool ct_ggml_type_known(uint32_t type) {
    return type == CT_GGML_F32 || type == CT_GGML_F16 || type == CT_GGML_BF16 || type == CT_GGML_Q8_0 ||
           type == CT_GGML_Q4_0;
}

static const char *k_vtype[13] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
                                  "u64", "i64", "f64"};
static const int k_vsize[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

typedef struct cur {
    const uint8_t *p, *end;
    bool bad;
} cur;

static uint64_t rd(cur *c, int n) {
    if (c->bad || c->end - c->p < n) {
        c->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return v;
}

/* A string: its bytes stay in the mapping. */
static const char *rd_str(cur *c, size_t *len) {
    uint64_t n = rd(c, 8);
    if (c->bad || (uint64_t)(c->end - c->p) < n) {
        c->bad = true;
        return NULL;
    }
    const char *s = (const char *)c->p;
    c->p += n;
    *len = (size_t)n;
    return s;
}

static void skip_val(cur *c, uint32_t type, int depth) {
    size_t len;
    if (type == CT_GGUF_STRING) {
        rd_str(c, &len);
    } else if (type == CT_GGUF_ARRAY) {
        uint32_t it = (uint32_t)rd(c, 4);
        uint64_t n = rd(c, 8);
        if (depth > 2 || it > CT_GGUF_F64) c->bad = true;
        else if (k_vsize[it]) {
            if (n > (uint64_t)(c->end - c->p) / (uint64_t)k_vsize[it]) c->bad = true;
            else c->p += n * (uint64_t)k_vsize[it];
        } else {
            for (uint64_t j = 0; j < n && !c->bad; j++) skip_val(c, it, depth + 1);
        }
    } else if (type <= CT_GGUF_F64 && k_vsize[type]) {
        rd(c, k_vsize[type]);
    } else {
        c->bad = true;
    }
}

bool ct_gguf_is_file(const char *path) {
    struct stat sb;
    if (!path || stat(path, &sb) || !S_ISREG(sb.st_mode)) return false;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char m[4] = {0};
    bool ok = fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    fclose(f);
    return ok;
}

static const gkv *find(const ct_gguf *g, const char *key);

static int cmp_off(const void *a, const void *b) {
    const ct_gguf_tensor *x = *(const ct_gguf_tensor *const *)a, *y = *(const ct_gguf_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static ct_status parse(ct_gguf *g, ct_err *err) {
    const char *path = g->path;
    cur c = {g->map.data, (const uint8_t *)g->map.data + g->map.size, false};
    if (g->map.size < 24 || memcmp(g->map.data, "GGUF", 4))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: not a GGUF file (no GGUF magic)", path);
    c.p += 4;
    uint32_t version = (uint32_t)rd(&c, 4);
    if (version != 2 && version != 3)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: GGUF version %u (versions 2 and 3 are read)", path, version);
    uint64_t n_t = rd(&c, 8), n_kv = rd(&c, 8);
    /* every key takes at least 12 bytes and every tensor info 24: counts beyond the file are lies */
    if (n_kv > g->map.size / 12 || n_t > g->map.size / 24)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: GGUF header claims %" PRIu64 " keys and %" PRIu64
                          " tensors, more than the file holds", path, n_kv, n_t);
    g->kv = calloc(n_kv + 1, sizeof *g->kv);
    g->t = calloc(n_t + 1, sizeof *g->t);
    if (!g->kv || !g->t) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n_kv; i++) {
        gkv *kv = &g->kv[i];
        kv->key = rd_str(&c, &kv->klen);
        kv->type = (ct_gguf_type)rd(&c, 4);
        kv->val = c.p;
        if (!c.bad) skip_val(&c, kv->type, 0);
        if (c.bad)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: GGUF metadata entry %" PRIu64 "%s%.*s%s is truncated or of an "
                              "unknown type", path, i, kv->key ? " ('" : "", kv->key ? (int)(kv->klen > 200 ? 200 : kv->klen) : 0,
                              kv->key ? kv->key : "", kv->key ? "')" : "");
        for (uint64_t j = 0; j < i; j++)
            if (g->kv[j].klen == kv->klen && !memcmp(g->kv[j].key, kv->key, kv->klen))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: GGUF key '%.*s' appears twice", path, (int)kv->klen,
                                  kv->key);
        g->n_kv = i + 1;
    }
    uint64_t align = 32;
    uint32_t a32;
    if (find(g, "general.alignment")) {
        if (!ct_gguf_get_u32(g, "general.alignment", &a32, err)) return CT_ERR_FORMAT;
        align = a32;
    }
    if (align == 0 || (align & (align - 1)))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: general.alignment %" PRIu64 " is not a power of two", path, align);
    for (uint64_t i = 0; i < n_t; i++) {
        ct_gguf_tensor *t = &g->t[i];
        size_t len;
        const char *name = rd_str(&c, &len);
        uint32_t nd = (uint32_t)rd(&c, 4);
        if (c.bad) return ct_err_set(err, CT_ERR_FORMAT, "%s: GGUF tensor info %" PRIu64 " is truncated", path, i);
        if (!(t->name = strndup(name, len))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        g->n_t = i + 1;
        if (nd < 1 || nd > 4)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s' has %u dims (1..4 allowed)", path, t->name, nd);
        t->ndim = (int)nd;
        uint64_t ne[4], numel = 1;
        for (uint32_t d = 0; d < nd; d++) {
            ne[d] = rd(&c, 8);
            if (c.bad) return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor info of '%s' is truncated", path, t->name);
            if (ne[d] == 0 || ne[d] > ((uint64_t)1 << 40) || numel > ((uint64_t)1 << 46) / ne[d])
                return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s' has an invalid dim %" PRIu64, path, t->name,
                                  ne[d]);
            numel *= ne[d];
            t->shape[nd - 1 - d] = (int64_t)ne[d];
        }
        t->type = (uint32_t)rd(&c, 4);
        uint64_t off = rd(&c, 8);
        if (c.bad) return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor info of '%s' is truncated", path, t->name);
        if (off % align)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': offset %" PRIu64 " is not aligned to %" PRIu64,
                              path, t->name, off, align);
        size_t blck, bytes; /* types ctune cannot decode stay unsized (nbytes 0) */
        ct_ggml_dequant_block(t->type, &blck, &bytes);
        if (bytes) {
            char tl[16];
            if (ne[0] % blck)
                return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': rows of %" PRIu64 " elements are not whole %s "
                                  "blocks of %zu", path, t->name, ne[0], ct_ggml_type_label(t->type, tl), blck);
            t->nbytes = (size_t)(numel / blck * bytes);
        }
        t->data = (const void *)(uintptr_t)off; /* made a pointer below */
        for (uint64_t j = 0; j < i; j++)
            if (!strcmp(g->t[j].name, t->name))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s' appears twice", path, t->name);
    }
    size_t start = (size_t)(c.p - (const uint8_t *)g->map.data);
    start = (start + align - 1) / align * align;
    ct_gguf_tensor **order = malloc((n_t + 1) * sizeof *order);
    if (!order) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n_t; i++) {
        ct_gguf_tensor *t = &g->t[i];
        uint64_t off = (uint64_t)(uintptr_t)t->data;
        if (start > g->map.size || off > g->map.size - start || t->nbytes > g->map.size - start - off) {
            free(order);
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tensor '%s': data (offset %" PRIu64 ", %zu bytes) runs past the "
                              "end of the file (%zu bytes; truncated download?)", path, t->name, off, t->nbytes,
                              g->map.size);
        }
        t->data = (const uint8_t *)g->map.data + start + off;
        order[i] = t;
    }
    qsort(order, n_t, sizeof *order, cmp_off);
    ct_status st = CT_OK;
    for (uint64_t i = 1; i < n_t && !st; i++)
        if (order[i - 1]->nbytes && (const uint8_t *)order[i - 1]->data + order[i - 1]->nbytes > (const uint8_t *)order[i]->data)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", path, order[i - 1]->name,
                            order[i]->name);
    free(order);
    return st;
}

ct_status ct_gguf_open(const char *path, ct_gguf **out, ct_err *err) {
    *out = NULL;
    ct_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_status st = ct_mmap_open(&g->map, path, err);
    if (!st) st = parse(g, err);
    if (st) ct_gguf_close(g);
    else *out = g;
    return st;
}

void ct_gguf_close(ct_gguf *g) {
    if (!g) return;
    for (uint64_t i = 0; g->t && i < g->n_t; i++) free((char *)g->t[i].name);
    free(g->t);
    free(g->kv);
    ct_mmap_close(&g->map);
    free(g->path);
    free(g);
}

const char *ct_gguf_path(const ct_gguf *g) { return g->path; }

static const gkv *find(const ct_gguf *g, const char *key) {
    size_t n = strlen(key);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].klen == n && !memcmp(g->kv[i].key, key, n)) return &g->kv[i];
    return NULL;
}

bool ct_gguf_has(const ct_gguf *g, const char *key) { return find(g, key) != NULL; }

static bool wrong(const ct_gguf *g, const char *key, const char *want, const gkv *kv, ct_err *err) {
    ct_err_set(err, CT_ERR_FORMAT, "%s: GGUF key %s: expected %s, found %s", g->path, key, want,
               kv->type <= CT_GGUF_F64 ? k_vtype[kv->type] : "?");
    return false;
}

/* An integer value as (negative, magnitude). */
static bool get_int(const ct_gguf *g, const char *key, bool *neg, uint64_t *mag, ct_err *err) {
    const gkv *kv = find(g, key);
    if (!kv) return false;
    cur c = {kv->val, kv->val + 8, false};
    int64_t s;
    switch (kv->type) {
    case CT_GGUF_U8: *neg = false, *mag = rd(&c, 1); return true;
    case CT_GGUF_U16: *neg = false, *mag = rd(&c, 2); return true;
    case CT_GGUF_U32: *neg = false, *mag = rd(&c, 4); return true;
    case CT_GGUF_U64: *neg = false, *mag = rd(&c, 8); return true;
    case CT_GGUF_I8: s = (int8_t)rd(&c, 1); break;
    case CT_GGUF_I16: s = (int16_t)rd(&c, 2); break;
    case CT_GGUF_I32: s = (int32_t)rd(&c, 4); break;
    case CT_GGUF_I64: s = (int64_t)rd(&c, 8); break;
    default: return wrong(g, key, "an integer", kv, err);
    }
    *neg = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return true;
}

bool ct_gguf_get_u32(const ct_gguf *g, const char *key, uint32_t *v, ct_err *err) {
    bool neg;
    uint64_t m;
    if (!get_int(g, key, &neg, &m, err)) return false;
    if (neg || m > UINT32_MAX) {
        ct_err_set(err, CT_ERR_FORMAT, "%s: GGUF key %s: %s%" PRIu64 " is out of range", g->path, key, neg ? "-" : "", m);
        return false;
    }
    *v = (uint32_t)m;
    return true;
}

bool ct_gguf_get_i64(const ct_gguf *g, const char *key, int64_t *v, ct_err *err) {
    bool neg;
    uint64_t m;
    if (!get_int(g, key, &neg, &m, err)) return false;
    if (m > (uint64_t)INT64_MAX) {
        ct_err_set(err, CT_ERR_FORMAT, "%s: GGUF key %s: value out of range", g->path, key);
        return false;
    }
    *v = neg ? -(int64_t)m : (int64_t)m;
    return true;
}

bool ct_gguf_get_f64(const ct_gguf *g, const char *key, double *v, ct_err *err) {
    const gkv *kv = find(g, key);
    if (!kv) return false;
    if (kv->type == CT_GGUF_F32) {
        float f;
        memcpy(&f, kv->val, 4);
        *v = f;
    } else if (kv->type == CT_GGUF_F64) {
        memcpy(v, kv->val, 8);
    } else {
        return wrong(g, key, "a float", kv, err);
    }
    return true;
}

bool ct_gguf_get_f32(const ct_gguf *g, const char *key, float *v, ct_err *err) {
    double d;
    if (!ct_gguf_get_f64(g, key, &d, err)) return false;
    *v = (float)d;
    return true;
}

bool ct_gguf_get_bool(const ct_gguf *g, const char *key, bool *v, ct_err *err) {
    const gkv *kv = find(g, key);
    if (!kv) return false;
    if (kv->type != CT_GGUF_BOOL) return wrong(g, key, "a bool", kv, err);
    *v = kv->val[0] != 0;
    return true;
}

bool ct_gguf_get_str(const ct_gguf *g, const char *key, const char **s, size_t *len, ct_err *err) {
    const gkv *kv = find(g, key);
    if (!kv) return false;
    if (kv->type != CT_GGUF_STRING) return wrong(g, key, "a string", kv, err);
    cur c = {kv->val, (const uint8_t *)g->map.data + g->map.size, false};
    *s = rd_str(&c, len);
    return true;
}

bool ct_gguf_get_arr(const ct_gguf *g, const char *key, ct_gguf_arr *a, ct_err *err) {
    const gkv *kv = find(g, key);
    if (!kv) return false;
    if (kv->type != CT_GGUF_ARRAY) return wrong(g, key, "an array", kv, err);
    cur c = {kv->val, (const uint8_t *)g->map.data + g->map.size, false};
    a->type = (ct_gguf_type)rd(&c, 4);
    a->n = rd(&c, 8);
    a->data = c.p;
    a->end = c.end;
    return true;
}

int64_t ct_gguf_arr_int(const ct_gguf_arr *a, uint64_t i) {
    if (a->type > CT_GGUF_F64 || !k_vsize[a->type] || i >= a->n) return 0;
    cur c = {a->data + i * (uint64_t)k_vsize[a->type], a->end, false};
    switch (a->type) {
    case CT_GGUF_I8: return (int8_t)rd(&c, 1);
    case CT_GGUF_I16: return (int16_t)rd(&c, 2);
    case CT_GGUF_I32: return (int32_t)rd(&c, 4);
    case CT_GGUF_I64: return (int64_t)rd(&c, 8);
    case CT_GGUF_U8: case CT_GGUF_BOOL: return (int64_t)rd(&c, 1);
    case CT_GGUF_U16: return (int64_t)rd(&c, 2);
    case CT_GGUF_U32: return (int64_t)rd(&c, 4);
    case CT_GGUF_U64: return (int64_t)rd(&c, 8);
    default: return 0;
    }
}

double ct_gguf_arr_float(const ct_gguf_arr *a, uint64_t i) {
    if (i >= a->n) return 0;
    if (a->type == CT_GGUF_F32) {
        float f;
        memcpy(&f, a->data + 4 * i, 4);
        return f;
    }
    if (a->type == CT_GGUF_F64) {
        double d;
        memcpy(&d, a->data + 8 * i, 8);
        return d;
    }
    return (double)ct_gguf_arr_int(a, i);
}

const char *ct_gguf_arr_next_str(const ct_gguf_arr *a, const uint8_t **p, size_t *len) {
    cur c = {*p, a->end, false};
    const char *s = rd_str(&c, len);
    if (c.bad) return *len = 0, NULL;
    *p = c.p;
    return s;
}

size_t ct_gguf_n_tensors(const ct_gguf *g) { return (size_t)g->n_t; }
const ct_gguf_tensor *ct_gguf_tensor_at(const ct_gguf *g, size_t i) { return i < g->n_t ? &g->t[i] : NULL; }

const ct_gguf_tensor *ct_gguf_tensor_find(const ct_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_t; i++)
        if (!strcmp(g->t[i].name, name)) return &g->t[i];
    return NULL;
}
