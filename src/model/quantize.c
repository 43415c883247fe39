/* Quantized linear weights of a model: bitsandbytes checkpoints bound at load, or quantization
 * on load (ct_model_quantize, what LlamaFactory calls on-the-fly quantization). The codes and
 * scales live in src/quant; this file decides which weights are quantized and owns their memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/model.h"
#include "quant/bnb_load.h"
#include "quant/quant.h"

/* Owned blocks are tagged so one list holds both kinds. */
typedef struct owned {
    int bits;
    void *owner; /* ct_quant4_owner or ct_quant8_owner */
} owned;

static ct_status keep(ct_model *m, int bits, void *owner, ct_err *err) {
    owned *o = malloc(sizeof *o);
    void **v = o ? realloc(m->quant_owned, (m->n_quant_owned + 1) * sizeof *v) : NULL;
    if (!v) {
        free(o);
        if (bits == 8) ct_quant8_owner_free(owner);
        else ct_quant4_owner_free(owner);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    o->bits = bits, o->owner = owner;
    m->quant_owned = v;
    m->quant_owned[m->n_quant_owned++] = o;
    return CT_OK;
}

void ct_model_quant_free(ct_model *m) {
    for (size_t i = 0; i < m->n_quant_owned; i++) {
        owned *o = m->quant_owned[i];
        if (o->bits == 8) ct_quant8_owner_free(o->owner);
        else ct_quant4_owner_free(o->owner);
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

/* Drops the pages of a weight that was just quantized from the process's resident memory: the
 * mmap'd 16-bit original is not read again (a later touch would fault it back from the file). */
static void release_pages(const ct_model *m, const ct_tensor *t) {
    if (!m->storage || !t->data) return;
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)t->data, b = a + ct_tensor_nbytes(t);
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
    release_pages(w->m, t);
    *t = q;
    return CT_OK;
}

ct_status ct_model_quantize(ct_model *m, const ct_quant_opts *q, ct_err *err) {
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
    return d == CT_DTYPE_NF4 || d == CT_DTYPE_FP4 || d == CT_DTYPE_INT8ROW;
}
