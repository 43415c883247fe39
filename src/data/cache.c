/* Tokenized dataset cache. Layout (little-endian):
 *   "CTDC" | u32 version | u64 key
 *   u64 n_sources | per source: u64 read, u64 kept, u64 bad
 *   u64 dropped[CT_DROP_COUNT] | u64 n_truncated | u64 group_dropped_tokens
 *   u64 bad rows | CT_BAD_ROWS_KEEP x char[320] their first messages (NUL-padded)
 *   2 x example set: u64 n, u64 n_tokens, u64 offsets[n+1], i32 source[n], i32 ids[n_tokens],
 *                    i32 labels[n_tokens], f32 weights[n_tokens]
 *   u64 FNV-1a checksum of everything before it. */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/data.h"
#include "data/tojson.h"

static int put64(ct_buf *b, uint64_t v) { return ct_buf_put(b, (const char *)&v, 8); }

static int put_set(ct_buf *b, const ct_example_set *s) {
    int rc = put64(b, s->n) | put64(b, s->n_tokens);
    for (size_t i = 0; i <= s->n; i++) rc |= put64(b, s->n ? s->offsets[i] : 0);
    if (s->n) rc |= ct_buf_put(b, (const char *)s->source, s->n * 4);
    if (s->n_tokens) {
        rc |= ct_buf_put(b, (const char *)s->ids, s->n_tokens * 4);
        rc |= ct_buf_put(b, (const char *)s->labels, s->n_tokens * 4);
        rc |= ct_buf_put(b, (const char *)s->weights, s->n_tokens * 4);
    }
    return rc;
}

ct_status ct_cache_write(const char *path, uint64_t key, const ct_dataset *d, ct_err *err) {
    ct_buf b = {0};
    uint32_t ver = CT_CACHE_VERSION;
    int rc = ct_buf_put(&b, "CTDC", 4) | ct_buf_put(&b, (const char *)&ver, 4) | put64(&b, key);
    rc |= put64(&b, d->stats.n_sources);
    for (size_t i = 0; i < d->stats.n_sources; i++)
        rc |= put64(&b, d->stats.read[i]) | put64(&b, d->stats.kept[i]) | put64(&b, d->stats.bad ? d->stats.bad[i] : 0);
    for (size_t i = 0; i < CT_DROP_COUNT; i++) rc |= put64(&b, d->stats.dropped[i]);
    rc |= put64(&b, d->stats.n_truncated) | put64(&b, d->stats.group_dropped_tokens);
    rc |= put64(&b, d->stats.bad_rows.n) | ct_buf_put(&b, (const char *)d->stats.bad_rows.first, sizeof d->stats.bad_rows.first);
    rc |= put_set(&b, &d->train) | put_set(&b, &d->val);
    if (!rc) rc = put64(&b, ct_hash_bytes(0, b.data, b.len));
    if (rc) {
        ct_buf_free(&b);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory writing %s", path);
    }
    ct_status st = ct_write_file_atomic(path, b.data, b.len, err);
    ct_buf_free(&b);
    return st;
}

typedef struct rd {
    const unsigned char *p;
    size_t n, off;
    bool bad;
} rd;

static uint64_t get64(rd *r) {
    uint64_t v = 0;
    if (r->off + 8 > r->n) {
        r->bad = true;
        return 0;
    }
    memcpy(&v, r->p + r->off, 8);
    r->off += 8;
    return v;
}

static void *get_arr(rd *r, size_t count, size_t size) {
    if (count > (r->n - r->off) / (size ? size : 1)) {
        r->bad = true;
        return NULL;
    }
    void *a = malloc(count * size + 1);
    if (!a) {
        r->bad = true;
        return NULL;
    }
    memcpy(a, r->p + r->off, count * size);
    r->off += count * size;
    return a;
}

/* A set is usable only if example i = [offsets[i], offsets[i+1]) lies inside the token arrays
 * and names a known source (a corrupt offset would otherwise read out of bounds later). */
static void get_set(rd *r, ct_example_set *s, size_t n_sources) {
    memset(s, 0, sizeof *s);
    size_t n = get64(r), nt = get64(r);
    if (r->bad || n > r->n || nt > r->n) {
        r->bad = true;
        return;
    }
    s->offsets = get_arr(r, n + 1, 8);
    s->source = get_arr(r, n, 4);
    s->ids = get_arr(r, nt, 4);
    s->labels = get_arr(r, nt, 4);
    s->weights = get_arr(r, nt, 4);
    s->n = s->cap = n;
    s->n_tokens = s->cap_tokens = nt;
    if (r->bad) return;
    if (s->offsets[0] != 0 || s->offsets[n] != nt) r->bad = true;
    for (size_t i = 0; i < n && !r->bad; i++)
        if (s->offsets[i] > s->offsets[i + 1] || s->source[i] < 0 || (size_t)s->source[i] >= n_sources) r->bad = true;
}

ct_status ct_cache_read(const char *path, uint64_t key, ct_dataset *d, bool *hit, ct_err *err) {
    memset(d, 0, sizeof *d);
    *hit = false;
    ct_mmap m = {0};
    ct_status st = ct_mmap_open(&m, path, err);
    if (st) return st;
    rd r = {m.data, m.size, 0, false};
    if (m.size < 24 || memcmp(m.data, "CTDC", 4)) {
        ct_mmap_close(&m);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: not a ctune dataset cache (bad magic); delete it", path);
    }
    uint32_t ver;
    memcpy(&ver, r.p + 4, 4);
    uint64_t k;
    memcpy(&k, r.p + 8, 8);
    if (ver != CT_CACHE_VERSION || k != key) { /* stale: a miss, rebuilt and overwritten */
        ct_mmap_close(&m);
        return CT_OK;
    }
    uint64_t sum;
    memcpy(&sum, r.p + m.size - 8, 8);
    if (ct_hash_bytes(0, m.data, m.size - 8) != sum) {
        ct_mmap_close(&m);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: checksum mismatch (corrupt cache); delete it or set overwrite_cache",
                          path);
    }
    r.n = m.size - 8;
    r.off = 16;
    size_t ns = get64(&r);
    if (ns > 4096) r.bad = true;
    if (!r.bad) {
        d->stats.n_sources = ns;
        d->stats.source_names = calloc(ns ? ns : 1, sizeof(char *));
        d->stats.read = calloc(ns ? ns : 1, sizeof(size_t));
        d->stats.kept = calloc(ns ? ns : 1, sizeof(size_t));
        d->stats.bad = calloc(ns ? ns : 1, sizeof(size_t));
        if (!d->stats.source_names || !d->stats.read || !d->stats.kept || !d->stats.bad) r.bad = true;
        for (size_t i = 0; i < ns && !r.bad; i++)
            d->stats.read[i] = get64(&r), d->stats.kept[i] = get64(&r), d->stats.bad[i] = get64(&r);
        for (size_t i = 0; i < CT_DROP_COUNT; i++) d->stats.dropped[i] = get64(&r);
        d->stats.n_truncated = get64(&r);
        d->stats.group_dropped_tokens = get64(&r);
        d->stats.bad_rows.n = get64(&r);
        char *first = get_arr(&r, 1, sizeof d->stats.bad_rows.first);
        if (first) {
            memcpy(d->stats.bad_rows.first, first, sizeof d->stats.bad_rows.first);
            for (size_t i = 0; i < CT_BAD_ROWS_KEEP; i++) d->stats.bad_rows.first[i][sizeof d->stats.bad_rows.first[i] - 1] = 0;
            free(first);
        }
        get_set(&r, &d->train, ns);
        get_set(&r, &d->val, ns);
    }
    ct_mmap_close(&m);
    if (r.bad || r.off != r.n) {
        ct_dataset_free(d);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: truncated or malformed cache; delete it", path);
    }
    *hit = true;
    return CT_OK;
}
