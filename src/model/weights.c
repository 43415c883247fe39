/* Weight views by table id and by HF name; shallow copies for adapters and training. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/model.h"

ct_tensor *ct_weights_at(ct_weights *w, const ct_tensor_spec *s, int layer) {
    if (!s->per_layer) return &w->g[s->id];
    return layer >= 0 && layer < w->n_layers ? &w->layers[layer].t[s->id] : NULL;
}

const ct_tensor *ct_weights_at_c(const ct_weights *w, const ct_tensor_spec *s, int layer) {
    return ct_weights_at((ct_weights *)w, s, layer);
}

ct_tensor *ct_weights_find(ct_weights *w, const ct_config *cfg, const char *name) {
    char full[192];
    for (int i = 0; i < CT_GT_COUNT; i++) {
        ct_spec_name(full, sizeof full, cfg, &ct_global_specs[i], -1);
        if (!strcmp(name, full)) return w->g[i].data ? &w->g[i] : NULL;
    }
    const char *prefix = cfg->weight_prefix[0] ? cfg->weight_prefix : "model.";
    size_t pn = strlen(prefix);
    int l, n = 0;
    if (strncmp(name, prefix, pn) || sscanf(name + pn, "layers.%d.%n", &l, &n) != 1 || n == 0 || l < 0 ||
        l >= w->n_layers)
        return NULL;
    for (int i = 0; i < CT_LT_COUNT; i++)
        if (!strcmp(name + pn + n, ct_layer_specs[i].hf) && ct_spec_present(&ct_layer_specs[i], cfg, l))
            return w->layers[l].t[i].data ? &w->layers[l].t[i] : NULL;
    return NULL;
}

ct_status ct_weights_alloc(ct_weights *w, int n_layers, ct_err *err) {
    memset(w, 0, sizeof *w);
    w->layers = calloc((size_t)(n_layers > 0 ? n_layers : 1), sizeof *w->layers);
    if (!w->layers) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    w->n_layers = n_layers;
    return CT_OK;
}

ct_status ct_weights_clone(ct_weights *dst, const ct_weights *src, ct_err *err) {
    ct_status st = ct_weights_alloc(dst, src->n_layers, err);
    if (st) return st;
    memcpy(dst->g, src->g, sizeof dst->g);
    memcpy(dst->layers, src->layers, (size_t)src->n_layers * sizeof *dst->layers);
    return CT_OK;
}

void ct_weights_free(ct_weights *w) {
    free(w->layers);
    memset(w, 0, sizeof *w);
}

ct_status ct_tensor_own_f32(ct_tensor *t, float ***owned, size_t *n_owned, ct_err *err) {
    size_t n = (size_t)ct_tensor_numel(t);
    float **o = realloc(*owned, (*n_owned + 1) * sizeof *o);
    float *f = malloc(n * sizeof(float));
    if (o) *owned = o;
    if (!o || !f) {
        free(f);
        return ct_err_set(err, CT_ERR_NOMEM, "cannot allocate %zu MiB for an f32 weight copy", (n * 4) >> 20);
    }
    size_t blk = 1 << 16;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += blk) ct_tensor_to_f32(t, i, n - i < blk ? n - i : blk, f + i);
    (*owned)[(*n_owned)++] = f;
    t->dtype = CT_DTYPE_F32;
    t->data = f;
    t->quant = NULL;
    return CT_OK;
}

bool ct_weights_tied(const ct_weights *w) { return w->g[CT_GT_LM_HEAD].data == w->g[CT_GT_EMBED].data; }

ct_model *ct_model_wrap(const ct_config *cfg, const ct_weights *w) {
    ct_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    m->w = *w;
    return m;
}

const ct_tensor *ct_model_tensor(const ct_model *m, const char *name) {
    return ct_weights_find((ct_weights *)&m->w, &m->cfg, name);
}

typedef struct items_ctx {
    ct_weights_items *wi;
    const ct_weights *w;
    const ct_config *cfg;
    ct_dtype dtype;
} items_ctx;

static int add_item(const ct_tensor_spec *s, int layer, void *user) {
    items_ctx *c = user;
    ct_weights_items *wi = c->wi;
    ct_spec_name(wi->names[wi->n], sizeof wi->names[0], c->cfg, s, layer);
    wi->items[wi->n] = (ct_st_item){wi->names[wi->n], *ct_weights_at_c(c->w, s, layer), c->dtype};
    wi->n++;
    return 0;
}

ct_status ct_weights_items_make(ct_weights_items *out, const ct_weights *w, const ct_config *cfg, ct_dtype dtype,
                                ct_err *err) {
    size_t cap = CT_GT_COUNT + (size_t)w->n_layers * CT_LT_COUNT;
    out->n = 0;
    out->items = calloc(cap, sizeof *out->items);
    out->names = calloc(cap, sizeof *out->names);
    if (!out->items || !out->names) {
        ct_weights_items_free(out);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    items_ctx c = {out, w, cfg, dtype};
    ct_specs_each(cfg, add_item, &c);
    return CT_OK;
}

ct_status ct_weights_items_add_unloaded(ct_weights_items *wi, const ct_model *m, ct_err *err) {
    const ct_st *st = m->storage;
    size_t n = st ? ct_st_count(st) : 0, extra = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = ct_st_name(st, i);
        bool have = false;
        for (size_t j = 0; j < wi->n && !have; j++) have = !strcmp(wi->items[j].name, name);
        if (have) continue;
        if (!extra++) {
            ct_st_item *it = realloc(wi->items, (wi->n + n) * sizeof *it);
            if (!it) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            wi->items = it;
        }
        const ct_tensor *t = ct_st_get(st, name);
        wi->items[wi->n++] = (ct_st_item){name, *t, t->dtype};
    }
    return CT_OK;
}

void ct_weights_items_free(ct_weights_items *wi) {
    free(wi->items);
    free(wi->names);
    memset(wi, 0, sizeof *wi);
}
