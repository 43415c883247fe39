/* Quantized weights of a model: bitsandbytes checkpoints bound at load, or quantization on load
 * (ct_model_quantize: bitsandbytes, what LlamaFactory calls on-the-fly quantization, or ggml's
 * Q8_0 / Q4_0 blocks for fast decode). The codes and scales live in src/quant; this file decides
 * which weights are quantized and owns their memory. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/bigalloc.h"
#include "model/model.h"
#include "quant/bnb_load.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"

/* Owned blocks are tagged so one list holds every kind. */
typedef struct owned {
    int bits;    /* 4, 8: bitsandbytes owners; 0: a malloc'd array of ggml blocks */
    void *owner; /* ct_quant4_owner, ct_quant8_owner or the blocks */
} owned;

static void owner_free(int bits, void *owner) {
    if (bits == 8) ct_quant8_owner_free(owner);
    else if (bits == 4) ct_quant4_owner_free(owner);
    else free(owner);
}

static ct_status keep(ct_model *m, int bits, void *owner, ct_err *err) {
    owned *o = malloc(sizeof *o);
    void **v = o ? realloc(m->quant_owned, (m->n_quant_owned + 1) * sizeof *v) : NULL;
    if (!v) {
        free(o);
        owner_free(bits, owner);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    o->bits = bits, o->owner = owner;
    m->quant_owned = v;
    m->quant_owned[m->n_quant_owned++] = o;
    return CT_OK;
}

bool ct_model_quant_release(ct_model *m, const void *data) {
    for (size_t i = 0; i < m->n_quant_owned; i++) {
        owned *o = m->quant_owned[i];
        if (o->bits || o->owner != data) continue;
        owner_free(o->bits, o->owner);
        free(o);
        m->quant_owned[i] = m->quant_owned[--m->n_quant_owned];
        return true;
    }
    return false;
}

void ct_model_quant_free(ct_model *m) {
    for (size_t i = 0; i < m->n_quant_owned; i++) {
        owned *o = m->quant_owned[i];
        owner_free(o->bits, o->owner);
        free(o);
    }
    free(m->quant_owned);
    m->quant_owned = NULL;
    m->n_quant_owned = 0;
}

ct_status ct_model_bind_bnb(ct_model *m, const void *st, const char *name, const int64_t want[2], ct_tensor *out,
                            bool *bound, ct_err *err) {
    *bound = false;
    if (!ct_bnb4_present(st, name)) return CT_OK;
    ct_quant4_owner *owner = NULL;
    ct_status s = ct_bnb4_bind(st, name, want, out, &owner, err);
    if (!s) s = keep(m, 4, owner, err);
    if (!s) *bound = true;
    return s;
}

void ct_model_release_pages(const ct_model *m, const ct_tensor *t) { ct_model_release_bytes(m, t->data, ct_tensor_nbytes(t)); }

void ct_model_release_bytes(const ct_model *m, const void *p, size_t n) {
    if ((!m->storage && !m->gguf) || !p) return;
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p, b = a + n;
    uintptr_t a2 = (a + ps - 1) / ps * ps, b2 = b / ps * ps;
    if (b2 > a2) madvise((void *)a2, b2 - a2, MADV_DONTNEED);
}

typedef struct qwalk {
    ct_model *m;
    const ct_quant_opts *q;
    ct_err *err;
} qwalk;

static int quantize_one(const ct_tensor_spec *s, int layer, void *user) {
    qwalk *w = user;
    if (!s->per_layer || ct_spec_lora_index(s->id) < 0) return CT_OK; /* linear projections only */
    ct_tensor *t = ct_weights_at(&w->m->w, s, layer);
    if (!t || !t->data) return CT_OK;
    ct_tensor q;
    ct_status st;
    if (w->q->bits == 8) {
        ct_quant8_owner *o = NULL;
        st = ct_quant8_quantize(t, &o, &q, w->err);
        if (!st) st = keep(w->m, 8, o, w->err);
    } else {
        ct_quant4_owner *o = NULL;
        st = ct_quant4_quantize(t, w->q->fp4 ? CT_DTYPE_FP4 : CT_DTYPE_NF4, w->q->double_quant, &o, &q, w->err);
        if (!st) st = keep(w->m, 4, o, w->err);
    }
    if (st) {
        char name[192];
        ct_spec_name(name, sizeof name, &w->m->cfg, s, layer);
        return ct_err_prefix(w->err, "quantizing %s", name);
    }
    ct_model_release_pages(w->m, t);
    *t = q;
    return CT_OK;
}

/* ---- ggml Q8_0 / Q4_0 for inference ---- */

ct_status ct_model_own(ct_model *m, void *p, ct_err *err) { return keep(m, 0, p, err); }

ct_status ct_model_adopt_ggml(ct_model *m, ct_tensor *t, ct_dtype dt, uint8_t *blocks, ct_err *err) {
    if (!ct_ggml_pack8(blocks, (size_t)t->shape[0], (size_t)t->shape[1], dt == CT_DTYPE_Q8_0)) {
        free(blocks);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_status st = ct_model_own(m, blocks, err);
    if (st) return st;
    ct_model_release_pages(m, t);
    t->dtype = dt, t->data = blocks, t->quant = NULL;
    return CT_OK;
}

/* *t (2-D, rows a multiple of 32 long) as ggml blocks of dtype dt, rows quantized in parallel. */
static ct_status ggml_quantize(ct_model *m, ct_tensor *t, ct_dtype dt, ct_err *err) {
    size_t rows = (size_t)t->shape[0], K = (size_t)t->shape[1];
    size_t row_bytes = K / CT_GGML_QK * ct_ggml_block_bytes(dt == CT_DTYPE_Q8_0);
    uint8_t *q = ct_big_alloc(rows * row_bytes);
    if (!q) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    int bad = 0;
#pragma omp parallel reduction(| : bad)
    {
        float *f = malloc(K * sizeof(float));
        bad |= !f;
#pragma omp for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            if (!f) continue;
            ct_tensor_to_f32(t, r * K, K, f);
            bool ok = dt == CT_DTYPE_Q8_0 ? ct_ggml_quantize_q8_0(f, K, q + r * row_bytes)
                                          : ct_ggml_quantize_q4_0(f, K, q + r * row_bytes);
            bad |= ok ? 0 : 2;
        }
        free(f);
    }
    if (bad) {
        free(q);
        return bad & 1 ? ct_err_set(err, CT_ERR_NOMEM, "out of memory")
                       : ct_err_set(err, CT_ERR_NUMERIC, "NaN or infinite weight");
    }
    return ct_model_adopt_ggml(m, t, dt, q, err);
}

typedef struct gwalk {
    ct_model *m;
    ct_dtype dt;
    ct_err *err;
} gwalk;

static int ggml_one(const ct_tensor_spec *s, int layer, void *user) {
    gwalk *w = user;
    bool global = !s->per_layer;
    if (global ? s->id != CT_GT_EMBED && s->id != CT_GT_LM_HEAD : ct_spec_lora_index(s->id) < 0) return CT_OK;
    ct_tensor *t = ct_weights_at(&w->m->w, s, layer);
    /* 2-D weights only; rows not a multiple of 32 long stay as stored; a tied head is done with
     * the embedding */
    if (!t || !t->data || t->ndim != 2 || t->shape[1] % CT_GGML_QK || !ct_dtype_is_float(t->dtype) ||
        t->dtype == w->dt)
        return CT_OK;
    bool tied = s->id == CT_GT_EMBED && !s->per_layer && ct_weights_tied(&w->m->w);
    ct_status st = ggml_quantize(w->m, t, w->dt, w->err);
    if (st) {
        char name[192];
        ct_spec_name(name, sizeof name, &w->m->cfg, s, layer);
        return ct_err_prefix(w->err, "quantizing %s", name);
    }
    if (tied) w->m->w.g[CT_GT_LM_HEAD] = *t;
    return CT_OK;
}

bool ct_quant_format_parse(const char *name, ct_quant_format *out) {
    if (!strcmp(name, "q8_0")) *out = CT_QUANT_Q8_0;
    else if (!strcmp(name, "q4_0")) *out = CT_QUANT_Q4_0;
    else return false;
    return true;
}

ct_status ct_model_quantize(ct_model *m, const ct_quant_opts *q, ct_err *err) {
    if (q && q->format != CT_QUANT_BNB) {
        if (q->format != CT_QUANT_Q8_0 && q->format != CT_QUANT_Q4_0)
            return ct_err_set(err, CT_ERR_ARG, "quantization format %d is not q8_0 or q4_0", (int)q->format);
        if (ct_model_is_quantized(m))
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "q8_0 / q4_0: the model is already quantized (%s)",
                              ct_dtype_name(ct_model_linear_dtype(m)));
        gwalk w = {m, q->format == CT_QUANT_Q8_0 ? CT_DTYPE_Q8_0 : CT_DTYPE_Q4_0, err};
        return (ct_status)ct_specs_each(&m->cfg, ggml_one, &w);
    }
    if (!q || !q->bits || ct_model_is_quantized(m)) return CT_OK; /* nothing asked, or already quantized */
    if (q->bits != 4 && q->bits != 8)
        return ct_err_set(err, CT_ERR_ARG, "quantization_bit: %d is not 4 or 8 (bitsandbytes)", q->bits);
    qwalk w = {m, q, err};
    return (ct_status)ct_specs_each(&m->cfg, quantize_one, &w);
}

ct_dtype ct_model_linear_dtype(const ct_model *m) {
    const ct_tensor_spec *s = ct_spec_by_lora("gate_proj"); /* every layer has an MLP */
    return m->w.n_layers > 0 && s ? m->w.layers[0].t[s->id].dtype : m->cfg.dtype;
}

bool ct_model_is_quantized(const ct_model *m) {
    ct_dtype d = ct_model_linear_dtype(m);
    return d == CT_DTYPE_NF4 || d == CT_DTYPE_FP4 || d == CT_DTYPE_INT8ROW || d == CT_DTYPE_Q8_0 || d == CT_DTYPE_Q4_0 ||
           d == CT_DTYPE_Q4_K || d == CT_DTYPE_Q5_K || d == CT_DTYPE_Q6_K || d == CT_DTYPE_IQ4_XS ||
           d == CT_DTYPE_Q2_K || d == CT_DTYPE_Q3_K;
}
