/* Switching the trainable block of a train model (see block.h). */
#include "peft/block.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "peft/freeze.h"

static bool owned_by(const ct_train_model *tm, const void *data) {
    for (size_t i = 0; i < tm->n_owned; i++)
        if (tm->owned[i] == data) return true;
    return false;
}

/* Drops the pages of a checkpoint weight that now has a copy of its own from the resident
 * memory: the mmap'd original is not read again (a touch would fault it back from the file). */
static void release_pages(const ct_train_model *tm, const ct_tensor *t) {
    if (!tm->model->storage || !t->data) return;
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)t->data, b = a + ct_tensor_nbytes(t);
    uintptr_t a2 = (a + ps - 1) / ps * ps, b2 = b / ps * ps;
    if (b2 > a2) madvise((void *)a2, b2 - a2, MADV_DONTNEED);
}

/* Points *t at a new buffer owned by tm (f32, or t's dtype); its values are written next. */
static ct_status own_storage(ct_train_model *tm, ct_tensor *t, bool f32, ct_err *err) {
    ct_dtype dt = f32 ? CT_DTYPE_F32 : t->dtype;
    if (dt != CT_DTYPE_F32 && dt != CT_DTYPE_BF16 && dt != CT_DTYPE_F16)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "layer-wise training: weights stored as %s cannot be written back",
                          ct_dtype_name(dt));
    size_t n = (size_t)ct_tensor_numel(t);
    float **o = realloc(tm->owned, (tm->n_owned + 1) * sizeof *o);
    if (o) tm->owned = o;
    void *buf = o ? malloc((n ? n : 1) * ct_dtype_size(dt)) : NULL;
    if (!buf) return ct_err_set(err, CT_ERR_NOMEM, "cannot allocate %zu MiB for a trained weight", (n * ct_dtype_size(dt)) >> 20);
    tm->owned[tm->n_owned++] = buf;
    release_pages(tm, t);
    t->dtype = dt;
    t->data = buf;
    t->quant = NULL;
    return CT_OK;
}

ct_status ct_train_model_store(ct_train_model *tm, ct_tensor *t, const float *values, bool f32_copies, ct_err *err) {
    if (!owned_by(tm, t->data)) {
        ct_status st = own_storage(tm, t, f32_copies, err);
        if (st) return st;
    }
    size_t n = (size_t)ct_tensor_numel(t);
    if (t->dtype != CT_DTYPE_F32) {
        ct_f32_to_dtype(values, n, t->dtype, t->data);
        return CT_OK;
    }
    /* an f32 copy holds what the model's dtype can: BlockOptimizer's lp parameters */
    ct_dtype md = tm->model->cfg.dtype;
    float *dst = t->data;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float x = values[i];
        if (md == CT_DTYPE_BF16) x = ct_bf16_to_f32(ct_f32_to_bf16(x));
        else if (md == CT_DTYPE_F16) x = ct_f16_to_f32(ct_f32_to_f16(x));
        dst[i] = x;
    }
    return CT_OK;
}

ct_status ct_train_model_switch_layers(ct_train_model *tm, const int *ids, size_t n, bool f32_copies, ct_err *err) {
    if (tm->method != CT_METHOD_FREEZE || tm->lora_r || tm->prompt_param >= 0)
        return ct_err_set(err, CT_ERR_ARG, "layer-wise training needs a freeze-method train model");
    ct_params *ps = &tm->params;
    ct_status st = CT_OK;
    for (size_t i = 0; !st && i < ps->n; i++) {
        ct_param *p = &ps->p[i];
        if (!p->view) continue;
        *p->view = p->orig; /* back to the tensor's storage, then the master into it */
        st = ct_train_model_store(tm, p->view, p->data, f32_copies, err);
    }
    if (st) return st;
    for (int l = 0; l < tm->w.n_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) tm->grads.layer[l][id] = NULL;
    for (int g = 0; g < CT_GT_COUNT; g++) tm->grads.g[g] = NULL;
    ct_params_free(ps);
    /* glibc raises its mmap threshold after the first large free, so later registries come from
     * the heap: hand the freed block back to the system before allocating the next one */
    malloc_trim(0);
    ct_freeze_patterns fp;
    st = ct_freeze_patterns_layers(&fp, &tm->model->cfg, ids, n, "all", NULL, err);
    if (st) return st;
    st = ct_train_model_register(tm, &fp, err);
    ct_freeze_patterns_free(&fp);
    return st;
}
