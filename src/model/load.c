/* HF model directory -> ct_model: config, mmap'd safetensors, every tensor of the architecture
 * table checked against the config (HF names: model.layers.N.self_attn.q_proj.weight, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/estimate.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "quant/bnb_load.h"

typedef struct bind_ctx {
    const ct_st *st;
    const char *dir;
    ct_model *m;
    ct_err *err;
} bind_ctx;

/* Binds the view of (spec, layer) to its tensor in the files, checking shape and dtype. */
static int bind(const ct_tensor_spec *s, int layer, void *user) {
    bind_ctx *b = user;
    const ct_config *c = &b->m->cfg;
    char name[192];
    ct_spec_name(name, sizeof name, c, s, layer);
    ct_tensor *out = ct_weights_at(&b->m->w, s, layer);
    memset(out, 0, sizeof *out);
    int64_t want[3];
    int ndim = ct_spec_shape(s, c, want);
    bool bound = false;
    ct_status qs = ndim == 2 ? ct_model_bind_bnb(b->m, b->st, name, want, out, &bound, b->err) : CT_OK;
    if (qs || bound) return qs;
    const ct_tensor *t = ct_st_get(b->st, name);
    if (!t) {
        if (s->presence == CT_PRESENT_UNTIED)
            return ct_err_set(b->err, CT_ERR_SHAPE, "%s: missing tensor '%s' (tie_word_embeddings is false)", b->dir,
                              name);
        return ct_err_set(b->err, CT_ERR_SHAPE, "%s: missing tensor '%s' (required by config.json)", b->dir, name);
    }
    const char *file = ct_st_file_of(b->st, name);
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == want[i];
    if (!same) {
        char got[128] = "", ws[96] = "";
        size_t n = 0, k = 0;
        for (int i = 0; i < t->ndim && n < sizeof got - 24; i++)
            n += (size_t)snprintf(got + n, sizeof got - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        for (int i = 0; i < ndim; i++)
            k += (size_t)snprintf(ws + k, sizeof ws - k, "%s%lld", i ? ", " : "", (long long)want[i]);
        return ct_err_set(b->err, CT_ERR_SHAPE, "%s: tensor '%s' has shape [%s] but config.json implies [%s]", file,
                          name, got, ws);
    }
    if (!ct_dtype_is_float(t->dtype))
        return ct_err_set(b->err, CT_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (need a float)", file, name,
                          ct_dtype_name(t->dtype));
    *out = *t;
    return CT_OK;
}

/* config.json's quantization_config: bitsandbytes 4-bit checkpoints load (their weights bind in
 * bind()); other methods and 8-bit checkpoints are refused by name. */
static ct_status check_quantization_config(const char *dir, ct_err *err) {
    ct_bnb_config q;
    ct_status s = ct_bnb_config_load(dir, &q, err);
    if (s) return ct_err_prefix(err, "%s", dir);
    if (q.present && !q.load_in_4bit)
        s = ct_err_set(err, CT_ERR_UNSUPPORTED,
                       "%s/config.json: quantization_config: only 4-bit bitsandbytes checkpoints load (load_in_4bit); "
                       "quantize an unquantized model on load instead (quantization_bit: 8)", dir);
    ct_bnb_config_free(&q);
    return s;
}

ct_status ct_model_load(const char *dir, ct_model **out, ct_err *err) {
    *out = NULL;
    if (!ct_dir_exists(dir)) return ct_err_set(err, CT_ERR_IO, "%s: model directory not found", dir);
    ct_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_status s = ct_config_load(dir, &m->cfg, err);
    if (!s) s = check_quantization_config(dir, err);
    ct_st *st = NULL;
    if (!s) s = ct_st_open_dir(dir, &st, err);
    m->storage = st;
    if (!s) s = ct_weights_alloc(&m->w, m->cfg.num_layers, err);
    if (!s) {
        bind_ctx b = {st, dir, m, err};
        s = (ct_status)ct_specs_each(&m->cfg, bind, &b);
    }
    if (s) {
        ct_model_free(m);
        return s;
    }
    if (m->cfg.tie_word_embeddings) m->w.g[CT_GT_LM_HEAD] = m->w.g[CT_GT_EMBED];
    /* config.json may omit the dtype: report what the weights are stored in. */
    m->cfg.dtype = m->w.g[CT_GT_EMBED].dtype;
    *out = m;
    return CT_OK;
}

void ct_model_free(ct_model *m) {
    if (!m) return;
    ct_model_quant_free(m);
    ct_st_close(m->storage);
    ct_weights_free(&m->w);
    free(m->dir);
    free(m);
}

const ct_config *ct_model_config(const ct_model *m) { return &m->cfg; }

typedef struct sizes {
    const ct_weights *w;
    int64_t numel;
    size_t bytes;
} sizes;

static int add_size(const ct_tensor_spec *s, int layer, void *user) {
    sizes *z = user;
    const ct_tensor *t = ct_weights_at_c(z->w, s, layer);
    z->numel += ct_tensor_numel(t);
    z->bytes += ct_tensor_nbytes(t);
    return 0;
}

int64_t ct_model_param_count(const ct_model *m) {
    sizes z = {&m->w, 0, 0};
    ct_specs_each(&m->cfg, add_size, &z);
    return z.numel;
}

size_t ct_model_weight_bytes(const ct_model *m) {
    sizes z = {&m->w, 0, 0};
    ct_specs_each(&m->cfg, add_size, &z);
    return z.bytes;
}

size_t ct_model_memory_estimate(const ct_model *m, size_t ctx_len) {
    return ct_model_weight_bytes(m) + ct_estimate_inference(&m->cfg, ctx_len, NULL); /* src/train/estimate.c */
}
