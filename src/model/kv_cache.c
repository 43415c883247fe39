/* KV cache of one sequence: post-RoPE keys and values of every layer, [L, cap, Hkv*D] f32. */
#include <stdlib.h>
#include <string.h>

#include "model/decoder.h"

ct_status ct_kv_cache_init(ct_kv_cache **out, const ct_config *cfg, size_t capacity, ct_err *err) {
    *out = NULL;
    ct_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    kv->L = (size_t)cfg->num_layers;
    kv->KV = (size_t)cfg->num_kv_heads * (size_t)cfg->head_dim;
    kv->cap = capacity;
    size_t n = kv->L * kv->cap * kv->KV;
    kv->k = malloc((n ? n : 1) * sizeof(float));
    kv->v = malloc((n ? n : 1) * sizeof(float));
    if (!kv->k || !kv->v) {
        ct_kv_cache_free(kv);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory for a KV cache of %zu tokens", capacity);
    }
    *out = kv;
    return CT_OK;
}

void ct_kv_cache_free(ct_kv_cache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

void ct_kv_cache_reset(ct_kv_cache *kv) { kv->len = 0; }

void ct_kv_cache_truncate(ct_kv_cache *kv, size_t len) {
    if (len < kv->len) kv->len = len;
}

ct_status ct_kv_cache_grow(ct_kv_cache *kv, size_t capacity, ct_err *err) {
    if (capacity <= kv->cap) return CT_OK;
    size_t n = kv->L * capacity * kv->KV;
    float *k = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    if (!k || !v) {
        free(k);
        free(v);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory growing the KV cache to %zu tokens", capacity);
    }
    for (size_t l = 0; l < kv->L; l++) { /* [L, cap, KV]: re-stride each layer's rows */
        memcpy(k + l * capacity * kv->KV, kv->k + l * kv->cap * kv->KV, kv->len * kv->KV * sizeof(float));
        memcpy(v + l * capacity * kv->KV, kv->v + l * kv->cap * kv->KV, kv->len * kv->KV * sizeof(float));
    }
    free(kv->k);
    free(kv->v);
    kv->k = k;
    kv->v = v;
    kv->cap = capacity;
    return CT_OK;
}

size_t ct_kv_cache_len(const ct_kv_cache *kv) { return kv->len; }
size_t ct_kv_cache_capacity(const ct_kv_cache *kv) { return kv->cap; }
