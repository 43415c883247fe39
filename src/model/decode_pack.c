/* Weights laid out in the order a decode step reads them (ct_model_pack_decode).
 *
 * A decode step streams every weight once; on one core the hardware prefetcher keeps that
 * stream at the bandwidth limit while it runs front to back through memory, and each jump to
 * another place costs a restart. Checkpoints are not stored in that order: safetensors files
 * sort their tensors by name (layers.0, layers.1, layers.10, ...; down_proj before gate_proj
 * before q_proj), and quantization on load gives every matrix its own allocation. Decoding the
 * random Qwen2.5-0.5B-shaped bench model's GEMVs in a name-sorted file's order read 25 GB/s
 * against 27 in file order (docs/perf.md, "Fourth pass").
 *
 * So inference runtimes copy the weights once, after quantization, into one 2 MiB-page buffer:
 * per layer the mixer's tensors (norms, q/k/v/o or the DeltaNet projections, in the table's
 * order) then the MLP's, then the final norm and the LM head, then an untied embedding. The
 * values are the same bytes; a tied head stays the embedding's view. The mmap'd originals'
 * pages are dropped from memory and ggml blocks made on load are freed. Weights bound to a
 * bitsandbytes state (t->quant) stay where they are. */
#include <stdlib.h>
#include <string.h>

#include "base/bigalloc.h"
#include "model/model.h"

static bool is_mlp(int id) {
    return id == CT_LT_MLP_NORM || id == CT_LT_GATE || id == CT_LT_UP || id == CT_LT_DOWN || id == CT_LT_B_GATE ||
           id == CT_LT_B_UP || id == CT_LT_B_DOWN;
}

typedef struct plist {
    ct_tensor **t;
    size_t n, cap;
} plist;

static bool push(plist *p, ct_tensor *t) {
    if (!t->data || t->quant || !t->ndim) return true;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        ct_tensor **v = realloc(p->t, cap * sizeof *v);
        if (!v) return false;
        p->t = v, p->cap = cap;
    }
    p->t[p->n++] = t;
    return true;
}

#define PACK_ALIGN 64

ct_status ct_model_pack_decode(ct_model *m, ct_err *err) {
    if (m->packed) return CT_OK;
    ct_weights *w = &m->w;
    plist p = {0};
    bool ok = true;
    for (int l = 0; l < w->n_layers; l++)
        for (int mlp = 0; mlp < 2; mlp++)
            for (int id = 0; id < CT_LT_COUNT; id++)
                if (is_mlp(id) == (bool)mlp) ok &= push(&p, &w->layers[l].t[id]);
    ok &= push(&p, &w->g[CT_GT_FINAL_NORM]);
    ok &= push(&p, &w->g[CT_GT_LM_HEAD]);
    ok &= push(&p, &w->g[CT_GT_EMBED]);
    size_t *off = ok ? malloc((p.n + 1) * sizeof *off) : NULL;
    if (!off) {
        free(p.t);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    /* a view sharing an earlier one's data (the tied head and embedding) shares its copy */
    size_t total = 0;
    bool *first = malloc((p.n + 1) * sizeof *first);
    for (size_t i = 0; first && i < p.n; i++) {
        first[i] = true;
        for (size_t j = 0; j < i && first[i]; j++)
            if (p.t[j]->data == p.t[i]->data && ct_tensor_nbytes(p.t[j]) == ct_tensor_nbytes(p.t[i]))
                first[i] = false, off[i] = off[j];
        if (!first[i]) continue;
        off[i] = (total + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN;
        total = off[i] + ct_tensor_nbytes(p.t[i]);
    }
    if (first && !total) { /* nothing to move */
        free(first), free(off), free(p.t);
        return CT_OK;
    }
    char *buf = first ? ct_big_alloc(total) : NULL;
    if (!buf) {
        free(first), free(off), free(p.t);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory: %zu bytes for the decode layout of the weights", total);
    }
    /* each original released right after its copy: the process holds at most one tensor twice */
    for (size_t i = 0; i < p.n; i++) {
        if (!first[i]) continue;
        memcpy(buf + off[i], p.t[i]->data, ct_tensor_nbytes(p.t[i]));
        if (!ct_model_quant_release(m, p.t[i]->data)) ct_model_release_pages(m, p.t[i]);
    }
    for (size_t i = 0; i < p.n; i++) p.t[i]->data = buf + off[i];
    m->packed = buf;
    free(first), free(off), free(p.t);
    return CT_OK;
}
