/* LoRA merge for inference (see trainer_adapter.h). */
#include "train/trainer_adapter.h"

#include <stdlib.h>
#include <string.h>

#include "io/peft_io.h"
#include "train/grad.h"

struct ct_applied_adapter {
    ct_model *m;
    size_t n;
    ct_tensor **views; /* replaced views */
    ct_tensor *orig;   /* their original values */
};

static int module_tensor(const char *module) {
    for (int i = 0; i < CT_LORA_MODULES; i++)
        if (!strcmp(module, ct_lora_module_name(i))) return ct_lora_module_tensor(i);
    return -1;
}

void ct_adapter_unapply(ct_applied_adapter *a) {
    if (!a) return;
    for (size_t i = a->n; i-- > 0;) {
        free(a->views[i]->data);
        *a->views[i] = a->orig[i];
    }
    free(a->views);
    free(a->orig);
    free(a);
}

ct_status ct_adapter_apply(ct_model *m, const char *dir, ct_applied_adapter **out, ct_err *err) {
    *out = NULL;
    ct_peft_adapter ad;
    ct_status st = ct_peft_load(dir, &ad, err);
    if (st) return st;
    if (ad.type != CT_PEFT_LORA) {
        ct_peft_free(&ad);
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: only LoRA adapters can be applied here (prompt tuning changes the inputs)", dir);
    }
    ct_applied_adapter *a = calloc(1, sizeof *a);
    a->m = m;
    a->views = calloc(ad.n_lora + 1, sizeof *a->views);
    a->orig = calloc(ad.n_lora + 1, sizeof *a->orig);
    if (!a->views || !a->orig) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    float scaling = (float)ct_peft_lora_scaling(&ad);
    for (size_t k = 0; k < ad.n_lora && !st; k++) {
        const ct_peft_lora_tensors *lt = &ad.lora[k];
        int id = module_tensor(lt->module);
        if (lt->layer < 0 || lt->layer >= m->cfg.num_layers || id < 0) {
            st = ct_err_set(err, CT_ERR_SHAPE, "%s: LoRA tensor for layer %d module %s does not fit this model", dir,
                            lt->layer, lt->module);
            break;
        }
        ct_tensor *W = ct_layer_tensor(&m->w.layers[lt->layer], id);
        if (W->ndim != 2 || W->shape[0] != lt->out || W->shape[1] != lt->in) {
            st = ct_err_set(err, CT_ERR_SHAPE, "%s: layer %d %s: adapter is [%lld x %lld], weight is [%lld x %lld]", dir,
                            lt->layer, lt->module, (long long)lt->out, (long long)lt->in, (long long)W->shape[0],
                            (long long)W->shape[1]);
            break;
        }
        size_t O = (size_t)lt->out, I = (size_t)lt->in, R = (size_t)lt->r;
        float *f = malloc(O * I * sizeof(float));
        if (!f) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory merging layer %d %s", lt->layer, lt->module);
            break;
        }
        ct_tensor_to_f32(W, 0, O * I, f);
#pragma omp parallel for schedule(static)
        for (size_t o = 0; o < O; o++)
            for (size_t r = 0; r < R; r++) {
                float b = scaling * lt->B[o * R + r];
                const float *ar = lt->A + r * I;
                float *fo = f + o * I;
                for (size_t i = 0; i < I; i++) fo[i] += b * ar[i];
            }
        a->views[a->n] = W;
        a->orig[a->n] = *W;
        a->n++;
        W->dtype = CT_DTYPE_F32;
        W->data = f;
    }
    ct_peft_free(&ad);
    if (st) {
        ct_adapter_unapply(a);
        return st;
    }
    *out = a;
    return CT_OK;
}
