/* 4-bit NF4 / FP4 blockwise quantization with bitsandbytes' CUDA semantics (see quant.h): code
 * tables, the quantizer decision trees, double quantization of the absmax and the decoders the
 * dtype table and the kernels use. */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

/* NF4: quantiles of N(0, 1) normalised to [-1, 1] (QLoRA); index order = value order. */
static const float k_nf4[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
/* FP4 (1 sign, 2 exponent, 1 mantissa bit): magnitudes 0, 0.0625, 8, 12, 4, 6, 2, 3 by the low 3
 * bits, divided by 12; bit 3 is the sign. */
static const float k_fp4[16] = {
    0.0f, 0.0625f / 12.0f, 8.0f / 12.0f, 1.0f, 4.0f / 12.0f, 6.0f / 12.0f, 2.0f / 12.0f, 3.0f / 12.0f,
    -0.0f, -0.0625f / 12.0f, -8.0f / 12.0f, -1.0f, -4.0f / 12.0f, -6.0f / 12.0f, -2.0f / 12.0f, -3.0f / 12.0f};

const float *ct_quant4_code(ct_dtype type) {
    return type == CT_DTYPE_NF4 ? k_nf4 : type == CT_DTYPE_FP4 ? k_fp4 : NULL;
}

/* dQuantizeNF4: a fixed binary tree over the midpoints of the NF4 table (as f32 literals); `>` so a
 * value on a pivot takes the lower code, NaN falls through to code 0. */
static uint8_t nf4_code(float x) {
    if (x > 0.03979014977812767f) {
        if (x > 0.3893125355243683f) {
            if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 15 : 14;
            return x > 0.5016634166240692f ? 13 : 12;
        }
        if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 11 : 10;
        return x > 0.1202552504837513f ? 9 : 8;
    }
    if (x > -0.33967943489551544f) {
        if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 7 : 6;
        return x > -0.23460740596055984f ? 5 : 4;
    }
    if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 3 : 2;
    return x > -0.8480964004993439f ? 1 : 0;
}

/* dQuantizeFP4: sign bit from x < 0, then a tree over |x| with bnb's pivots (note 0.583333f, not
 * 7/12: bnb's literal, kept). */
static uint8_t fp4_code(float x) {
    uint8_t sign = x < 0.0f ? 8 : 0;
    x = fabsf(x);
    if (x > 0.29166667f) {
        if (x > 0.583333f) return sign + (x > 0.8333333f ? 3 : 2);
        return sign + (x > 0.4166667f ? 5 : 4);
    }
    if (x > 0.0859375f) return sign + (x > 0.20833333f ? 7 : 6);
    return sign + (x > 0.00260417f ? 1 : 0);
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void ct_quant4_owner_free(ct_quant4_owner *o) {
    if (!o) return;
    free(o->packed);
    free(o->qabsmax);
    free(o->absmax);
    free(o->nested_absmax);
    free(o);
}

/* offset = mean(absmax): f32 of a sequential double sum / n (quant.h). */
static float mean_f32(const float *v, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return (float)(s / (double)n);
}

static ct_status nest_absmax(ct_quant4_owner *o, ct_err *err) {
    ct_quant4 *q = &o->st;
    int64_t nb = q->nblocks, nn = ceil_div(nb, CT_Q4_NESTED_BLOCK);
    o->qabsmax = malloc((size_t)nb);
    o->nested_absmax = malloc((size_t)nn * sizeof(float));
    float *centered = malloc((size_t)nb * sizeof(float));
    if (!o->qabsmax || !o->nested_absmax || !centered) {
        free(centered);
        return ct_err_set(err, CT_ERR_NOMEM, "quant4: out of memory nesting %lld block scales",
                          (long long)nb);
    }
    q->offset = mean_f32(o->absmax, nb);
    for (int64_t b = 0; b < nb; b++) centered[b] = o->absmax[b] - q->offset;
    ct_quant_dynamic_map(q->nested_code);
    q->nested_blocksize = CT_Q4_NESTED_BLOCK;
    ct_quant_blockwise8(centered, nb, CT_Q4_NESTED_BLOCK, q->nested_code, o->qabsmax, o->nested_absmax);
    free(centered);
    free(o->absmax);
    o->absmax = NULL;
    q->absmax = NULL;
    q->qabsmax = o->qabsmax;
    q->nested_absmax = o->nested_absmax;
    q->nested = true;
    return CT_OK;
}

ct_status ct_quant4_quantize(const ct_tensor *src, ct_dtype type, bool double_quant,
                             ct_quant4_owner **owner, ct_tensor *out, ct_err *err) {
    *owner = NULL;
    if (!ct_quant4_code(type))
        return ct_err_set(err, CT_ERR_ARG, "quant4: dtype %s is not NF4 or FP4", ct_dtype_name(type));
    if (src->dtype != CT_DTYPE_F32 && src->dtype != CT_DTYPE_F16 && src->dtype != CT_DTYPE_BF16 &&
        src->dtype != CT_DTYPE_F64)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "quant4: cannot quantize a %s tensor",
                          ct_dtype_name(src->dtype));
    int64_t n = ct_tensor_numel(src);
    if (n <= 0) return ct_err_set(err, CT_ERR_SHAPE, "quant4: empty tensor");
    ct_quant4_owner *o = calloc(1, sizeof *o);
    if (!o) return ct_err_set(err, CT_ERR_NOMEM, "quant4: out of memory");
    ct_quant4 *q = &o->st;
    memcpy(q->code, ct_quant4_code(type), sizeof q->code);
    q->blocksize = CT_Q4_BLOCK;
    q->orig_dtype = src->dtype;
    q->numel = n;
    q->nblocks = ceil_div(n, CT_Q4_BLOCK);
    o->packed = calloc((size_t)(n + 1) / 2, 1);
    o->absmax = malloc((size_t)q->nblocks * sizeof(float));
    float *buf = malloc(CT_Q4_BLOCK * sizeof(float));
    if (!o->packed || !o->absmax || !buf) {
        free(buf);
        ct_quant4_owner_free(o);
        return ct_err_set(err, CT_ERR_NOMEM, "quant4: out of memory for %lld elements", (long long)n);
    }
    uint8_t (*enc)(float) = type == CT_DTYPE_NF4 ? nf4_code : fp4_code;
    for (int64_t b = 0; b < q->nblocks; b++) {
        int64_t i0 = b * CT_Q4_BLOCK, m = n - i0 < CT_Q4_BLOCK ? n - i0 : CT_Q4_BLOCK;
        ct_tensor_to_f32(src, (size_t)i0, (size_t)m, buf);
        float am = 0.0f;
        for (int64_t i = 0; i < m; i++) am = fmaxf(am, fabsf(buf[i]));
        o->absmax[b] = am;
        float inv = am > 0.0f ? 1.0f / am : INFINITY;
        for (int64_t i = 0; i < m; i++) {
            uint8_t c = enc(am > 0.0f ? buf[i] * inv : NAN); /* GPU: 0 * (1/0) = NaN */
            int64_t e = i0 + i;
            o->packed[e >> 1] |= (uint8_t)((e & 1) ? c : c << 4);
        }
    }
    free(buf);
    q->absmax = o->absmax;
    if (double_quant) {
        ct_status s = nest_absmax(o, err);
        if (s != CT_OK) {
            ct_quant4_owner_free(o);
            return s;
        }
    }
    *out = *src;
    out->dtype = type;
    out->data = o->packed;
    out->quant = q;
    *owner = o;
    return CT_OK;
}

float ct_quant4_absmax(const ct_quant4 *q, int64_t b) {
    if (!q->nested) return q->absmax[b];
    return q->nested_code[q->qabsmax[b]] * q->nested_absmax[b / q->nested_blocksize] + q->offset;
}

#if defined(__AVX512F__)
/* 16 packed bytes -> 32 values code[nibble] * am, in element order (high nibble first): the
 * 16-entry code table is one register, looked up with a lane permute. */
static inline void decode32_avx512(float *out, const uint8_t *p, __m512 code, __m512 am) {
    __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
    __m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), code);
    __m512 lo = _mm512_permutexvar_ps(_mm512_and_si512(b, _mm512_set1_epi32(15)), code);
    const __m512i i0 = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i i1 = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_permutex2var_ps(hi, i0, lo), am));
    _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_permutex2var_ps(hi, i1, lo), am));
}
#endif

void ct_quant4_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out) {
    const ct_quant4 *q = t->quant;
    const uint8_t *p = t->data;
    size_t i = 0, bs = (size_t)q->blocksize;
    while (i < n) {
        size_t e = offset + i, b = e / bs, end = (b + 1) * bs - offset;
        if (end > n) end = n;
        float am = ct_quant4_absmax(q, (int64_t)b);
        if ((e & 1) && i < end) { /* odd start: low nibble first */
            out[i++] = q->code[p[e >> 1] & 15] * am;
            e++;
        }
#if defined(__AVX512F__)
        if (i + 32 <= end) {
            __m512 code = _mm512_loadu_ps(q->code), amv = _mm512_set1_ps(am);
            for (; i + 32 <= end; i += 32, e += 32) decode32_avx512(out + i, p + (e >> 1), code, amv);
        }
#endif
        for (; i + 1 < end; i += 2, e += 2) {
            uint8_t byte = p[e >> 1];
            out[i] = q->code[byte >> 4] * am;
            out[i + 1] = q->code[byte & 15] * am;
        }
        if (i < end) out[i++] = q->code[p[e >> 1] >> 4] * am; /* even element, high nibble */
    }
}

void ct_quant4_decode_rows(const ct_tensor *t, int64_t r0, int64_t nr, int64_t k0, int64_t kw,
                           float *out) {
    int64_t K = t->shape[t->ndim - 1];
    if (k0 == 0 && kw == K) {
        ct_quant4_to_f32(t, (size_t)(r0 * K), (size_t)(nr * K), out);
        return;
    }
    for (int64_t r = 0; r < nr; r++) ct_quant4_to_f32(t, (size_t)((r0 + r) * K + k0), (size_t)kw, out + r * kw);
}
