/* HF model directory -> ct_model: config, mmap'd safetensors, every tensor of the architecture
 * table checked against the config (HF names: model.layers.N.self_attn.q_proj.weight, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/estimate.h"
#include "io/gguf_read.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "quant/bnb_load.h"

typedef struct bind_ctx {
    const ct_st *st;
    const char *dir;
    ct_model *m;
    bool *used;         /* [ct_st_count] tensors bound (with their bitsandbytes companions) */
    ct_err *err;
} bind_ctx;

/* Index of the first checkpoint tensor >= name (ct_st names are sorted). */
static size_t st_lower_bound(const ct_st *st, const char *name) {
    size_t lo = 0, hi = ct_st_count(st);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ct_st_name(st, mid), name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Marks `name` used and, for a 4-bit weight, every "name.*" companion (absmax, quant_map,
 * quant_state...): names sharing a prefix are contiguous in sorted order. */
static void mark_used(bind_ctx *b, const char *name, bool companions) {
    size_t n = ct_st_count(b->st), len = strlen(name);
    for (size_t i = st_lower_bound(b->st, name); i < n; i++) {
        const char *x = ct_st_name(b->st, i);
        if (!strcmp(x, name)) b->used[i] = true;
        else if (companions && !strncmp(x, name, len) && x[len] == '.') b->used[i] = true;
        else break;
    }
}

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
    if (!qs && bound) mark_used(b, name, true);
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
    mark_used(b, name, false);
    return CT_OK;
}

/* Checkpoint tensors transformers also leaves unused when loading this causal LM: the vision
 * tower and multi-token-prediction head of a Qwen3.5 checkpoint (Qwen3_5ForCausalLM's
 * _keys_to_ignore_on_load_unexpected), old checkpoints' RoPE buffers, and lm_head.weight next to
 * tied embeddings (the tied head is the embedding). */
static bool unused_is_expected(const ct_config *c, const char *name) {
    static const char rope[] = ".rotary_emb.inv_freq";
    size_t n = strlen(name), r = sizeof rope - 1;
    if (c->arch == CT_ARCH_QWEN3_5 && (!strncmp(name, "mtp.", 4) || !strncmp(name, "model.visual.", 13))) return true;
    if (n > r && !strcmp(name + n - r, rope)) return true;
    return c->tie_word_embeddings && !strcmp(name, "lm_head.weight");
}

/* A checkpoint holding tensors the config does not use (config.json with fewer
 * num_hidden_layers than the weights) loaded silently without them: an error naming them. */
static ct_status check_unused(const ct_model *m, const ct_st *st, const bool *used, const char *dir, ct_err *err) {
    const ct_config *c = &m->cfg;
    const char *prefix = c->weight_prefix[0] ? c->weight_prefix : "model.";
    size_t pn = strlen(prefix), n_unused = 0, listed = 0;
    long max_layer = -1;
    char names[384] = "";
    for (size_t i = 0; i < ct_st_count(st); i++) {
        const char *x = ct_st_name(st, i);
        if (used[i] || unused_is_expected(c, x)) continue;
        n_unused++;
        long l;
        int k = 0;
        if (!strncmp(x, prefix, pn) && sscanf(x + pn, "layers.%ld.%n", &l, &k) == 1 && k > 0 && l > max_layer)
            max_layer = l;
        if (listed < sizeof names - 64) {
            listed += (size_t)snprintf(names + listed, sizeof names - listed, "%s'%s'", n_unused > 1 ? ", " : "", x);
            if (listed >= sizeof names - 64) listed += (size_t)snprintf(names + listed, sizeof names - listed, ", ...");
        }
    }
    if (!n_unused) return CT_OK;
    if (max_layer >= c->num_layers)
        return ct_err_set(err, CT_ERR_SHAPE,
                          "%s: config.json has num_hidden_layers %d but the weights hold layers up to %ld: %zu tensor(s) "
                          "would be dropped (%s)",
                          dir, c->num_layers, max_layer, n_unused, names);
    return ct_err_set(err, CT_ERR_SHAPE, "%s: %zu tensor(s) in the weights are not used by config.json (%s)", dir,
                      n_unused, names);
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
    if (ct_gguf_is_file(dir)) return ct_model_load_gguf(dir, out, err);
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
        bind_ctx b = {st, dir, m, calloc(ct_st_count(st) + 1, sizeof(bool)), err};
        if (!b.used) s = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        if (!s) s = (ct_status)ct_specs_each(&m->cfg, bind, &b);
        if (!s) s = check_unused(m, st, b.used, dir, err);
        free(b.used);
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
    free(m->packed);
    ct_st_close(m->storage);
    ct_gguf_close(m->gguf);
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
