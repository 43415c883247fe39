/* Tokenized dataset cache (ct_cache_read). The harness recomputes the trailing FNV-1a
 * checksum so the fuzzer gets past it (a wrong checksum is tested by the unit tests), and
 * passes the file's own key. A hit must describe a consistent dataset: offsets ascending within
 * the token arrays, sources within n_sources; every example is read back. */
#include "ctune/data.h"
#include "fuzz_util.h"

static volatile int64_t sink;

static void walk(const ct_example_set *s, size_t n_sources) {
    if (s->n && !s->offsets) abort();
    for (size_t i = 0; i < s->n; i++) {
        if (s->offsets[i] > s->offsets[i + 1] || s->offsets[i + 1] > s->n_tokens) abort();
        if (s->source[i] < 0 || (size_t)s->source[i] >= (n_sources ? n_sources : 1)) abort();
        ct_example e = ct_example_set_get(s, i);
        int64_t x = 0;
        for (size_t t = 0; t < e.n; t++) {
            uint32_t w;
            memcpy(&w, &e.weights[t], 4);
            x += (int64_t)e.input_ids[t] + e.labels[t] + w;
        }
        sink = x;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    uint8_t *buf = malloc(n + 1);
    memcpy(buf, d, n);
    uint64_t key = 0;
    if (n >= 24) {
        memcpy(&key, buf + 8, 8);
        uint64_t sum = ct_hash_bytes(0, buf, n - 8);
        memcpy(buf + n - 8, &sum, 8);
    }
    const char *path = fz_path(0, "cache.bin");
    fz_write(path, buf, n);
    free(buf);
    ct_dataset ds;
    bool hit = false;
    ct_err err = {0};
    ct_status st = ct_cache_read(path, key, &ds, &hit, &err);
    fz_check_err(st, &err);
    if (st == CT_OK && hit) {
        walk(&ds.train, ds.stats.n_sources);
        walk(&ds.val, ds.stats.n_sources);
        ct_dataset_free(&ds);
    }
    return 0;
}
