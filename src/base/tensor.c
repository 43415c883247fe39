#include "ctune/tensor.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "quant/ggml_blocks.h"
#include "quant/ggml_dequant.h"
#include "quant/quant.h"

static void f32_to_f32(const ct_tensor *t, size_t off, size_t n, float *out) {
    memcpy(out, (const float *)t->data + off, n * sizeof(float));
}

/* Exact widening (bf16 is the top half of an f32), vectorised. */
static void bf16_to_f32(const ct_tensor *t, size_t off, size_t n, float *out) {
    const uint16_t *in = (const uint16_t *)t->data + off;
    size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(in + i));
        _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
#elif defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(in + i));
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
    }
#endif
    for (; i < n; i++) out[i] = ct_bf16_to_f32(in[i]);
}

/* Exact widening; F16C's vcvtph2ps where the build has it (prefill of f16 models decodes every
 * weight through here). */
static void f16_to_f32(const ct_tensor *t, size_t off, size_t n, float *out) {
    const uint16_t *p = (const uint16_t *)t->data + off;
    size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + i))));
#elif defined(__F16C__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + i))));
#endif
    for (; i < n; i++) out[i] = ct_f16_to_f32(p[i]);
}

static void f64_to_f32(const ct_tensor *t, size_t off, size_t n, float *out) {
    const double *p = (const double *)t->data + off;
    for (size_t i = 0; i < n; i++) out[i] = (float)p[i];
}

static const ct_dtype_traits k_dtypes[CT_DTYPE_COUNT] = {
    [CT_DTYPE_F32] = {"F32", 1, 4, f32_to_f32},   [CT_DTYPE_F16] = {"F16", 1, 2, f16_to_f32},
    [CT_DTYPE_BF16] = {"BF16", 1, 2, bf16_to_f32}, [CT_DTYPE_F64] = {"F64", 1, 8, f64_to_f32},
    [CT_DTYPE_I64] = {"I64", 1, 8, NULL},         [CT_DTYPE_I32] = {"I32", 1, 4, NULL},
    [CT_DTYPE_I16] = {"I16", 1, 2, NULL},         [CT_DTYPE_I8] = {"I8", 1, 1, NULL},
    [CT_DTYPE_U8] = {"U8", 1, 1, NULL},           [CT_DTYPE_BOOL] = {"BOOL", 1, 1, NULL},
    [CT_DTYPE_NF4] = {"NF4", CT_Q4_BLOCK, CT_Q4_BLOCK / 2, ct_quant4_to_f32},
    [CT_DTYPE_FP4] = {"FP4", CT_Q4_BLOCK, CT_Q4_BLOCK / 2, ct_quant4_to_f32},
    [CT_DTYPE_INT8ROW] = {"INT8ROW", 1, 1, ct_quant8_to_f32},
    [CT_DTYPE_Q8_0] = {"Q8_0", CT_GGML_QK, CT_GGML_Q8_0_BYTES, ct_ggml_q8_0_to_f32},
    [CT_DTYPE_Q4_0] = {"Q4_0", CT_GGML_QK, CT_GGML_Q4_0_BYTES, ct_ggml_q4_0_to_f32},
    [CT_DTYPE_Q4_K] = {"Q4_K", 256, 144, ct_ggml_kquant_to_f32},
    [CT_DTYPE_Q5_K] = {"Q5_K", 256, 176, ct_ggml_kquant_to_f32},
    [CT_DTYPE_Q6_K] = {"Q6_K", 256, 210, ct_ggml_kquant_to_f32},
    [CT_DTYPE_IQ4_XS] = {"IQ4_XS", 256, 136, ct_ggml_kquant_to_f32},
    [CT_DTYPE_Q2_K] = {"Q2_K", 256, 84, ct_ggml_kquant_to_f32},
    [CT_DTYPE_Q3_K] = {"Q3_K", 256, 110, ct_ggml_kquant_to_f32},
};
/* The first dtype that is not a safetensors dtype (the quantized ones follow it). */
#define CT_DTYPE_FIRST_QUANT CT_DTYPE_NF4

const ct_dtype_traits *ct_dtype_info(ct_dtype dt) { return (unsigned)dt < CT_DTYPE_COUNT ? &k_dtypes[dt] : NULL; }

int ct_dtype_is_float(ct_dtype dt) { return (unsigned)dt < CT_DTYPE_COUNT && k_dtypes[dt].to_f32 != NULL; }

size_t ct_dtype_size(ct_dtype dt) {
    if ((unsigned)dt >= CT_DTYPE_COUNT || k_dtypes[dt].block_bytes % k_dtypes[dt].block) return 0;
    return k_dtypes[dt].block_bytes / k_dtypes[dt].block;
}

const char *ct_dtype_name(ct_dtype dt) { return (unsigned)dt < CT_DTYPE_COUNT ? k_dtypes[dt].name : "?"; }

int ct_dtype_from_name(const char *name, ct_dtype *out) {
    for (int i = 0; i < CT_DTYPE_FIRST_QUANT; i++)
        if (strcmp(name, k_dtypes[i].name) == 0) {
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
    const ct_dtype_traits *d = ct_dtype_info(t->dtype);
    if (!d) return 0;
    size_t n = (size_t)ct_tensor_numel(t);
    return (n * d->block_bytes + d->block - 1) / d->block;
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
    const ct_dtype_traits *d = ct_dtype_info(t->dtype);
    if (d && d->to_f32) d->to_f32(t, offset, n, out);
    else memset(out, 0, n * sizeof(float));
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
