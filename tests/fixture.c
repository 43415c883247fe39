/* CTFX fixture reader (see fixture.h). */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

int fx_load(fixture *fx, const char *path) {
    ct_err err = {0};
    size_t len = 0;
    memset(fx, 0, sizeof *fx);
    if (ct_read_file(path, &fx->buf, &len, &err)) return -1;
    if (len < 12 || memcmp(fx->buf, "CTFX", 4) != 0) return -1;
    uint32_t ver, cnt;
    memcpy(&ver, fx->buf + 4, 4);
    memcpy(&cnt, fx->buf + 8, 4);
    if (ver != 1) return -1;
    fx->a = calloc(cnt, sizeof(fx_array));
    fx->aligned = malloc(len);
    size_t off = 12, doff = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        fx_array *a = &fx->a[i];
        uint32_t nl, nd;
        memcpy(&nl, fx->buf + off, 4);
        off += 4;
        if (nl >= sizeof a->name) return -1;
        memcpy(a->name, fx->buf + off, nl);
        off += nl;
        memcpy(&nd, fx->buf + off, 4);
        off += 4;
        a->ndim = (int)nd;
        a->n = 1;
        for (uint32_t d = 0; d < nd; d++) {
            memcpy(&a->dims[d], fx->buf + off, 8);
            off += 8;
            a->n *= a->dims[d];
        }
        if (off + a->n * 8 > len) return -1;
        memcpy(fx->aligned + doff, fx->buf + off, a->n * 8);
        a->data = fx->aligned + doff;
        doff += a->n;
        off += a->n * 8;
    }
    fx->n = cnt;
    return 0;
}

void fx_free(fixture *fx) {
    free(fx->buf);
    free(fx->aligned);
    free(fx->a);
}

const fx_array *fx_get(const fixture *fx, const char *name) {
    for (size_t i = 0; i < fx->n; i++)
        if (strcmp(fx->a[i].name, name) == 0) return &fx->a[i];
    return NULL;
}

/* Builds an F32 ct_model from the fixture's "w.<hf name>" arrays. */
ct_tensor fx_tensor(const fixture *fx, const char *hf) {
    char key[256];
    snprintf(key, sizeof key, "w.%s", hf);
    const fx_array *a = fx_get(fx, key);
    ct_tensor t = {.dtype = CT_DTYPE_F32};
    if (!a) return t;
    float *d = malloc(a->n * sizeof(float));
    for (size_t i = 0; i < a->n; i++) d[i] = (float)a->data[i];
    t.ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) t.shape[i] = (int64_t)a->dims[i];
    t.data = d;
    return t;
}

void fx_model(const fixture *fx, ct_model *m) {
    const double *c = fx_get(fx, "config")->data;
    memset(m, 0, sizeof *m);
    ct_config *k = &m->cfg;
    k->hidden_size = (int)c[0];
    k->num_heads = (int)c[1];
    k->num_kv_heads = (int)c[2];
    k->head_dim = (int)c[3];
    k->intermediate_size = (int)c[4];
    k->num_layers = (int)c[5];
    k->vocab_size = (int)c[6];
    k->rope_theta = c[7];
    k->rms_norm_eps = c[8];
    k->tie_word_embeddings = c[9] != 0;
    k->qk_norm = c[10] != 0;
    k->attention_bias = c[11] != 0;
    k->arch = k->qk_norm ? CT_ARCH_QWEN3 : CT_ARCH_QWEN2;
    k->dtype = CT_DTYPE_F32;
    m->w.g[CT_GT_EMBED] = fx_tensor(fx, "model.embed_tokens.weight");
    m->w.g[CT_GT_FINAL_NORM] = fx_tensor(fx, "model.norm.weight");
    m->w.g[CT_GT_LM_HEAD] = k->tie_word_embeddings ? m->w.g[CT_GT_EMBED] : fx_tensor(fx, "lm_head.weight");
    m->w.layers = calloc((size_t)k->num_layers, sizeof(ct_layer_weights));
    m->w.n_layers = k->num_layers;
    char name[256];
    for (int l = 0; l < k->num_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", l, ct_layer_specs[id].hf);
            m->w.layers[l].t[id] = fx_tensor(fx, name);
        }
}

void fx_model_free(ct_model *m) {
    if (!ct_weights_tied(&m->w)) free(m->w.g[CT_GT_LM_HEAD].data);
    free(m->w.g[CT_GT_EMBED].data);
    free(m->w.g[CT_GT_FINAL_NORM].data);
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) free(m->w.layers[l].t[id].data);
    free(m->w.layers);
}


int32_t *fx_ints(const fixture *fx, const char *name) {
    const fx_array *a = fx_get(fx, name);
    int32_t *v = malloc(a->n * sizeof(int32_t));
    for (size_t i = 0; i < a->n; i++) v[i] = (int32_t)a->data[i];
    return v;
}

void fx_batch_init(const fixture *fx, fx_batch *fb) {
    const double *c = fx_get(fx, "config")->data;
    fb->ids = fx_ints(fx, "batch.input_ids");
    fb->lab = fx_ints(fx, "batch.labels");
    fb->pos = fx_ints(fx, "batch.position_ids");
    fb->seg = fx_ints(fx, "batch.segment_ids");
    ct_lm_batch b = {.B = (size_t)c[14], .T = (size_t)c[15], .input_ids = fb->ids, .labels = fb->lab,
                  .position_ids = fb->pos, .segment_ids = fb->seg};
    fb->b = b;
}

void fx_batch_free(fx_batch *fb) {
    free(fb->ids);
    free(fb->lab);
    free(fb->pos);
    free(fb->seg);
}
