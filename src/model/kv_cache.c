/* The inference state of one sequence: post-RoPE keys and values of the attention layers
 * ([n_attn, cap, Hkv*D] f32) and, for Gated DeltaNet layers (Qwen3.5), the conv state (the last
 * K-1 conv inputs, [n_dn, K-1, conv channels]) and the recurrent state ([n_dn, Hv, Dk, Dv]). */
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"
#include "model/decoder.h"

static void zero_states(ct_kv_cache *kv) {
    if (kv->conv) memset(kv->conv, 0, kv->n_dn * kv->conv_floats * sizeof(float));
    if (kv->ssm) memset(kv->ssm, 0, kv->n_dn * kv->ssm_floats * sizeof(float));
}

ct_status ct_kv_cache_init(ct_kv_cache **out, const ct_config *cfg, size_t capacity, ct_err *err) {
    *out = NULL;
    ct_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    kv->L = (size_t)cfg->num_layers;
    kv->KV = (size_t)cfg->num_kv_heads * (size_t)cfg->head_dim;
    kv->cap = capacity;
    kv->slot = malloc((kv->L ? kv->L : 1) * sizeof *kv->slot);
    for (size_t l = 0; kv->slot && l < kv->L; l++) /* a layer's index among the layers of its kind */
        kv->slot[l] = cfg->layer_kind[l] == CT_LAYER_DELTANET ? kv->n_dn++ : kv->n_attn++;
    if (kv->n_dn) {
        kv->conv_floats = (size_t)(cfg->lin_conv - 1) *
                          (2 * (size_t)cfg->lin_k_heads * (size_t)cfg->lin_k_dim +
                           (size_t)cfg->lin_v_heads * (size_t)cfg->lin_v_dim);
        kv->ssm_floats = (size_t)cfg->lin_v_heads * (size_t)cfg->lin_k_dim * (size_t)cfg->lin_v_dim;
        size_t nc = kv->n_dn * kv->conv_floats;
        kv->conv = malloc((nc ? nc : 1) * sizeof(float));
        kv->ssm = malloc(kv->n_dn * kv->ssm_floats * sizeof(float));
    }
    size_t n = kv->n_attn * kv->cap * kv->KV;
    kv->k = malloc((n ? n : 1) * sizeof(float));
    kv->v = malloc((n ? n : 1) * sizeof(float));
    if (!kv->slot || !kv->k || !kv->v || (kv->n_dn && (!kv->conv || !kv->ssm))) {
        ct_kv_cache_free(kv);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory for a KV cache of %zu tokens", capacity);
    }
    zero_states(kv);
    *out = kv;
    return CT_OK;
}

void ct_kv_cache_free(ct_kv_cache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->conv);
    free(kv->ssm);
    free(kv->slot);
    free(kv);
}

void ct_kv_cache_reset(ct_kv_cache *kv) {
    kv->len = 0;
    zero_states(kv);
}

void ct_kv_cache_truncate(ct_kv_cache *kv, size_t len) {
    if (len >= kv->len) return;
    /* a recurrent state cannot be rewound: a hybrid model's cache starts over */
    if (kv->n_dn) ct_kv_cache_reset(kv);
    else kv->len = len;
}

ct_status ct_kv_cache_grow(ct_kv_cache *kv, size_t capacity, ct_err *err) {
    if (capacity <= kv->cap) return CT_OK;
    size_t n = kv->n_attn * capacity * kv->KV;
    float *k = malloc((n ? n : 1) * sizeof(float)), *v = malloc((n ? n : 1) * sizeof(float));
    if (!k || !v) {
        free(k);
        free(v);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory growing the KV cache to %zu tokens", capacity);
    }
    for (size_t l = 0; l < kv->n_attn; l++) { /* [n_attn, cap, KV]: re-stride each layer's rows */
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

ct_status ct_kv_cache_copy(ct_kv_cache *dst, const ct_kv_cache *src, size_t extra, ct_err *err) {
    if (dst->L != src->L || dst->KV != src->KV || dst->n_attn != src->n_attn || dst->n_dn != src->n_dn ||
        dst->conv_floats != src->conv_floats || dst->ssm_floats != src->ssm_floats)
        return ct_err_set(err, CT_ERR_ARG, "KV cache copy: the caches are of different models");
    dst->len = 0; /* nothing of dst's own to keep while growing */
    ct_status st = ct_kv_cache_grow(dst, src->len + extra, err);
    if (st) return st;
    for (size_t l = 0; l < src->n_attn; l++) {
        memcpy(dst->k + l * dst->cap * dst->KV, src->k + l * src->cap * src->KV, src->len * src->KV * sizeof(float));
        memcpy(dst->v + l * dst->cap * dst->KV, src->v + l * src->cap * src->KV, src->len * src->KV * sizeof(float));
    }
    if (src->n_dn) {
        memcpy(dst->conv, src->conv, src->n_dn * src->conv_floats * sizeof(float));
        memcpy(dst->ssm, src->ssm, src->n_dn * src->ssm_floats * sizeof(float));
    }
    dst->len = src->len;
    return CT_OK;
}

size_t ct_kv_cache_len(const ct_kv_cache *kv) { return kv->len; }
size_t ct_kv_cache_capacity(const ct_kv_cache *kv) { return kv->cap; }
