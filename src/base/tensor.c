#include "ctune/tensor.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[CT_DTYPE_COUNT] = {
    [CT_DTYPE_F32] = {"F32", 4}, [CT_DTYPE_F16] = {"F16", 2}, [CT_DTYPE_BF16] = {"BF16", 2},
    [CT_DTYPE_F64] = {"F64", 8}, [CT_DTYPE_I64] = {"I64", 8}, [CT_DTYPE_I32] = {"I32", 4},
    [CT_DTYPE_I16] = {"I16", 2}, [CT_DTYPE_I8] = {"I8", 1},   [CT_DTYPE_U8] = {"U8", 1},
    [CT_DTYPE_BOOL] = {"BOOL", 1},
};

size_t ct_dtype_size(ct_dtype dt) { return (unsigned)dt < CT_DTYPE_COUNT ? dtype_info[dt].size : 0; }

const char *ct_dtype_name(ct_dtype dt) {
    return (unsigned)dt < CT_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

int ct_dtype_from_name(const char *name, ct_dtype *out) {
    for (int i = 0; i < CT_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (ct_dtype)i;
            return 0;
        }
    return -1;
}

int64_t ct_tensor_numel(const ct_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t ct_tensor_nbytes(const ct_tensor *t) {
    return (size_t)ct_tensor_numel(t) * ct_dtype_size(t->dtype);
}

float ct_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: value = man * 2^-24 */
            float f = ldexpf((float)man, -24);
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ct_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;          /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00;         /* overflow -> inf (>= 65520) */
    if (a < 0x38800000u) {                              /* subnormal or zero in f16 */
        float af;
        memcpy(&af, &a, 4);
        float m = af * 16777216.0f;                     /* units of 2^-24 */
        uint32_t r = (uint32_t)nearbyintf(m);           /* default rounding: nearest-even */
        return sign | (uint16_t)r;
    }
    uint32_t exp = ((a >> 23) - 112) << 10, man = (a >> 13) & 0x3ff;
    uint32_t rest = a & 0x1fff, h = exp | man;
    if (rest > 0x1000 || (rest == 0x1000 && (man & 1))) h++;
    return sign | (uint16_t)h;
}

void ct_tensor_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out) {
    switch (t->dtype) {
    case CT_DTYPE_F32: memcpy(out, (const float *)t->data + offset, n * 4); break;
    case CT_DTYPE_BF16: {
        const uint16_t *p = (const uint16_t *)t->data + offset;
        for (size_t i = 0; i < n; i++) out[i] = ct_bf16_to_f32(p[i]);
        break;
    }
    case CT_DTYPE_F16: {
        const uint16_t *p = (const uint16_t *)t->data + offset;
        for (size_t i = 0; i < n; i++) out[i] = ct_f16_to_f32(p[i]);
        break;
    }
    case CT_DTYPE_F64: {
        const double *p = (const double *)t->data + offset;
        for (size_t i = 0; i < n; i++) out[i] = (float)p[i];
        break;
    }
    default: memset(out, 0, n * 4); break;
    }
}

void ct_f32_to_dtype(const float *src, size_t n, ct_dtype dt, void *dst) {
    switch (dt) {
    case CT_DTYPE_F32: memcpy(dst, src, n * 4); break;
    case CT_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = ct_f32_to_bf16(src[i]);
        break;
    case CT_DTYPE_F16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = ct_f32_to_f16(src[i]);
        break;
    case CT_DTYPE_F64:
        for (size_t i = 0; i < n; i++) ((double *)dst)[i] = src[i];
        break;
    default: break;
    }
}
