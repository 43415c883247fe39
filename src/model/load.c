/* HF model directory -> ct_model: config, mmap'd safetensors, every tensor checked against the
 * config (Hugging Face names: model.layers.N.self_attn.q_proj.weight, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "io/safetensors.h"
#include "model/model.h"

static bool is_float(ct_dtype dt) {
    return dt == CT_DTYPE_F32 || dt == CT_DTYPE_BF16 || dt == CT_DTYPE_F16 || dt == CT_DTYPE_F64;
}

/* Binds *out to tensor `name` with shape [d0] (d1 == 0) or [d0, d1]. Missing tensors are an
 * error when `required`, otherwise leave out->data NULL. */
static ct_status bind(const ct_st *st, const char *dir, const char *name, int64_t d0, int64_t d1,
                      bool required, ct_tensor *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    const ct_tensor *t = ct_st_get(st, name);
    if (!t) {
        if (!required) return CT_OK;
        return ct_err_set(err, CT_ERR_SHAPE, "%s: missing tensor '%s' (required by config.json)",
                          dir, name);
    }
    const char *file = ct_st_file_of(st, name);
    int ndim = d1 ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[128] = "", want[64];
        size_t n = 0;
        for (int i = 0; i < t->ndim && n < sizeof got - 24; i++)
            n += (size_t)snprintf(got + n, sizeof got - n, "%s%lld", i ? ", " : "",
                                  (long long)t->shape[i]);
        if (ndim == 2) snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
        else snprintf(want, sizeof want, "%lld", (long long)d0);
        return ct_err_set(err, CT_ERR_SHAPE,
                          "%s: tensor '%s' has shape [%s] but config.json implies [%s]", file,
                          name, got, want);
    }
    if (!is_float(t->dtype))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (need a float)",
                          file, name, ct_dtype_name(t->dtype));
    *out = *t;
    return CT_OK;
}

static ct_status bind_layer(const ct_st *st, const char *dir, const ct_config *c, int l,
                            ct_layer_weights *lw, ct_err *err) {
    int64_t C = c->hidden_size, I = c->intermediate_size, D = c->head_dim;
    int64_t Q = (int64_t)c->num_heads * D, KV = (int64_t)c->num_kv_heads * D;
    char n[160];
    ct_status s;
#define B(field, suffix, d0, d1, req)                                                 \
    do {                                                                              \
        snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix);                       \
        if ((s = bind(st, dir, n, d0, d1, req, &lw->field, err))) return s;           \
    } while (0)
    B(attn_norm, "input_layernorm.weight", C, 0, true);
    B(wq, "self_attn.q_proj.weight", Q, C, true);
    B(wk, "self_attn.k_proj.weight", KV, C, true);
    B(wv, "self_attn.v_proj.weight", KV, C, true);
    B(wo, "self_attn.o_proj.weight", C, Q, true);
    if (c->attention_bias) {
        B(bq, "self_attn.q_proj.bias", Q, 0, true);
        B(bk, "self_attn.k_proj.bias", KV, 0, true);
        B(bv, "self_attn.v_proj.bias", KV, 0, true);
    }
    if (c->o_bias) B(bo, "self_attn.o_proj.bias", C, 0, true);
    if (c->qk_norm) {
        B(q_norm, "self_attn.q_norm.weight", D, 0, true);
        B(k_norm, "self_attn.k_norm.weight", D, 0, true);
    }
    B(mlp_norm, "post_attention_layernorm.weight", C, 0, true);
    B(w_gate, "mlp.gate_proj.weight", I, C, true);
    B(w_up, "mlp.up_proj.weight", I, C, true);
    B(w_down, "mlp.down_proj.weight", C, I, true);
    if (c->mlp_bias) {
        B(b_gate, "mlp.gate_proj.bias", I, 0, true);
        B(b_up, "mlp.up_proj.bias", I, 0, true);
        B(b_down, "mlp.down_proj.bias", C, 0, true);
    }
#undef B
    return CT_OK;
}

ct_status ct_model_load(const char *dir, ct_model **out, ct_err *err) {
    *out = NULL;
    if (!ct_dir_exists(dir))
        return ct_err_set(err, CT_ERR_IO, "%s: model directory not found", dir);
    ct_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_status s = ct_config_load(dir, &m->cfg, err);
    ct_st *st = NULL;
    if (!s) s = ct_st_open_dir(dir, &st, err);
    m->storage = st;
    const ct_config *c = &m->cfg;
    if (!s) {
        int64_t V = c->vocab_size, C = c->hidden_size;
        s = bind(st, dir, "model.embed_tokens.weight", V, C, true, &m->w.embed, err);
        if (!s) s = bind(st, dir, "model.norm.weight", C, 0, true, &m->w.final_norm, err);
        if (!s && c->tie_word_embeddings) {
            m->w.lm_head = m->w.embed;
        } else if (!s) {
            s = bind(st, dir, "lm_head.weight", V, C, true, &m->w.lm_head, err);
            if (s && !ct_st_get(st, "lm_head.weight"))
                ct_err_set(err, CT_ERR_SHAPE,
                           "%s: missing tensor 'lm_head.weight' (tie_word_embeddings is false)",
                           dir);
        }
    }
    if (!s) {
        m->w.layers = calloc((size_t)c->num_layers, sizeof *m->w.layers);
        if (!m->w.layers) s = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    for (int l = 0; !s && l < c->num_layers; l++)
        s = bind_layer(st, dir, c, l, &m->w.layers[l], err);
    if (s) {
        ct_model_free(m);
        return s;
    }
    /* config.json may omit the dtype: report what the weights are stored in. */
    m->cfg.dtype = m->w.embed.dtype;
    *out = m;
    return CT_OK;
}

void ct_model_free(ct_model *m) {
    if (!m) return;
    ct_st_close(m->storage);
    free(m->w.layers);
    free(m->dir);
    free(m);
}

const ct_config *ct_model_config(const ct_model *m) { return &m->cfg; }
const ct_weights *ct_model_weights(const ct_model *m) { return &m->w; }

/* Calls fn on every distinct weight tensor (lm_head skipped when tied). */
static void each_weight(const ct_model *m, void (*fn)(const ct_tensor *, void *), void *u) {
    fn(&m->w.embed, u);
    fn(&m->w.final_norm, u);
    if (!m->cfg.tie_word_embeddings) fn(&m->w.lm_head, u);
    for (int l = 0; l < m->cfg.num_layers; l++) {
        const ct_layer_weights *w = &m->w.layers[l];
        const ct_tensor *all[] = {&w->attn_norm, &w->wq,     &w->wk,     &w->wv,     &w->wo,
                                  &w->bq,        &w->bk,     &w->bv,     &w->bo,     &w->q_norm,
                                  &w->k_norm,    &w->mlp_norm, &w->w_gate, &w->w_up, &w->w_down,
                                  &w->b_gate,    &w->b_up,   &w->b_down};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            if (all[i]->data) fn(all[i], u);
    }
}

static void add_numel(const ct_tensor *t, void *u) { *(int64_t *)u += ct_tensor_numel(t); }
static void add_bytes(const ct_tensor *t, void *u) { *(size_t *)u += ct_tensor_nbytes(t); }

int64_t ct_model_param_count(const ct_model *m) {
    int64_t n = 0;
    each_weight(m, add_numel, &n);
    return n;
}

size_t ct_model_weight_bytes(const ct_model *m) {
    size_t n = 0;
    each_weight(m, add_bytes, &n);
    return n;
}

size_t ct_model_memory_estimate(const ct_model *m, size_t ctx_len) {
    const ct_config *c = &m->cfg;
    size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    size_t Q = (size_t)c->num_heads * (size_t)c->head_dim;
    size_t KV = (size_t)c->num_kv_heads * (size_t)c->head_dim;
    size_t kv = 2 * (size_t)c->num_layers * ctx_len * KV * sizeof(float);
    /* prefill scratch of ct_model_forward: x, xn, q, k, v, att, gate, up per token */
    size_t act = ctx_len * (3 * C + 2 * Q + 2 * KV + 2 * I) * sizeof(float);
    size_t head = 32 * (size_t)c->vocab_size * sizeof(float);
    return ct_model_weight_bytes(m) + kv + act + head;
}
