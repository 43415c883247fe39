/* LLM.int8 row-wise int8 weights (bitsandbytes Int8Params / int8_vectorwise_quant, no outlier
 * threshold; semantics in quant.h): CB int8 [rows, cols] with one f32 absmax (SCB) per row. */
#include <math.h>
#include <stdlib.h>

#include "quant/quant.h"

void ct_quant8_owner_free(ct_quant8_owner *o) {
    if (!o) return;
    free(o->cb);
    free(o->scb);
    free(o);
}

ct_status ct_quant8_quantize(const ct_tensor *src, ct_quant8_owner **owner, ct_tensor *out,
                             ct_err *err) {
    *owner = NULL;
    if (src->dtype != CT_DTYPE_F32 && src->dtype != CT_DTYPE_F16 && src->dtype != CT_DTYPE_BF16 &&
        src->dtype != CT_DTYPE_F64)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "quant8: cannot quantize a %s tensor",
                          ct_dtype_name(src->dtype));
    if (src->ndim != 2 || src->shape[0] <= 0 || src->shape[1] <= 0)
        return ct_err_set(err, CT_ERR_SHAPE, "quant8: row-wise int8 needs a non-empty 2-D tensor (got %d dims)",
                          src->ndim);
    int64_t R = src->shape[0], C = src->shape[1];
    ct_quant8_owner *o = calloc(1, sizeof *o);
    float *row = malloc((size_t)C * sizeof(float));
    if (o) {
        o->cb = malloc((size_t)(R * C));
        o->scb = malloc((size_t)R * sizeof(float));
    }
    if (!o || !row || !o->cb || !o->scb) {
        free(row);
        ct_quant8_owner_free(o);
        return ct_err_set(err, CT_ERR_NOMEM, "quant8: out of memory for %lld x %lld", (long long)R,
                          (long long)C);
    }
    for (int64_t r = 0; r < R; r++) {
        ct_tensor_to_f32(src, (size_t)(r * C), (size_t)C, row);
        float am = 0.0f;
        for (int64_t c = 0; c < C; c++) { /* Int8Params quantizes the f16 copy of the weight */
            row[c] = ct_f16_to_f32(ct_f32_to_f16(row[c]));
            am = fmaxf(am, fabsf(row[c]));
        }
        o->scb[r] = am;
        float scale = am > 0.0f ? 127.0f / am : 0.0f; /* zero row: CB 0 (GPU: NaN -> 0) */
        for (int64_t c = 0; c < C; c++) o->cb[r * C + c] = (int8_t)nearbyintf(row[c] * scale);
    }
    free(row);
    o->st = (ct_quant8){.scb = o->scb, .rows = R, .cols = C, .orig_dtype = src->dtype};
    *out = *src;
    out->dtype = CT_DTYPE_INT8ROW;
    out->data = o->cb;
    out->quant = &o->st;
    *owner = o;
    return CT_OK;
}

/* CB * SCB * (1/127 as bnb's f32 constant), each product rounded to f32. */
void ct_quant8_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out) {
    const ct_quant8 *q = t->quant;
    const int8_t *cb = t->data;
    for (size_t i = 0; i < n; i++) {
        size_t e = offset + i;
        float v = (float)cb[e] * q->scb[e / (size_t)q->cols];
        out[i] = v * 7.874015718698502e-3f;
    }
}
