/* ggml Q8_0 / Q4_0 blocks (see ggml_blocks.h for the exact rules followed). */
#include "quant/ggml_blocks.h"

#include <math.h>
#include <string.h>

#include "ctune/tensor.h"

static void put_f16(uint8_t *p, float v) {
    uint16_t h = ct_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

static float get_f16(const uint8_t *p) { return ct_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

static bool block_finite(const float *x) {
    for (int j = 0; j < CT_GGML_QK; j++)
        if (!isfinite(x[j])) return false;
    return true;
}

bool ct_ggml_quantize_q8_0(const float *x, size_t n, uint8_t *out) {
    for (size_t b = 0; b < n / CT_GGML_QK; b++, x += CT_GGML_QK, out += CT_GGML_Q8_0_BYTES) {
        if (!block_finite(x)) return false;
        float amax = 0.0f;
        for (int j = 0; j < CT_GGML_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_f16(out, d);
        for (int j = 0; j < CT_GGML_QK; j++) out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
    return true;
}

bool ct_ggml_quantize_q4_0(const float *x, size_t n, uint8_t *out) {
    for (size_t b = 0; b < n / CT_GGML_QK; b++, x += CT_GGML_QK, out += CT_GGML_Q4_0_BYTES) {
        if (!block_finite(x)) return false;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < CT_GGML_QK; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_f16(out, d);
        for (int j = 0; j < CT_GGML_QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[CT_GGML_QK / 2 + j] * id;
            int8_t t0 = (int8_t)(x0 + 8.5f), t1 = (int8_t)(x1 + 8.5f);
            uint8_t q0 = (uint8_t)(t0 < 15 ? t0 : 15), q1 = (uint8_t)(t1 < 15 ? t1 : 15);
            out[2 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
    return true;
}

void ct_ggml_dequantize_q8_0(const uint8_t *blocks, size_t n, float *out) {
    for (size_t b = 0; b < n / CT_GGML_QK; b++, blocks += CT_GGML_Q8_0_BYTES, out += CT_GGML_QK) {
        const float d = get_f16(blocks);
        for (int j = 0; j < CT_GGML_QK; j++) out[j] = (float)(int8_t)blocks[2 + j] * d;
    }
}

void ct_ggml_dequantize_q4_0(const uint8_t *blocks, size_t n, float *out) {
    for (size_t b = 0; b < n / CT_GGML_QK; b++, blocks += CT_GGML_Q4_0_BYTES, out += CT_GGML_QK) {
        const float d = get_f16(blocks);
        for (int j = 0; j < CT_GGML_QK / 2; j++) {
            out[j] = (float)((blocks[2 + j] & 0x0f) - 8) * d;
            out[CT_GGML_QK / 2 + j] = (float)((blocks[2 + j] >> 4) - 8) * d;
        }
    }
}

typedef void (*dequant_fn)(const uint8_t *blocks, size_t n, float *out);

static void blocks_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out, size_t bytes, dequant_fn f) {
    const uint8_t *base = (const uint8_t *)t->data;
    while (n > 0) {
        size_t b = offset / CT_GGML_QK, j = offset % CT_GGML_QK;
        if (j == 0 && n >= CT_GGML_QK) { /* whole blocks straight into out */
            size_t nb = n / CT_GGML_QK;
            f(base + b * bytes, nb * CT_GGML_QK, out);
            offset += nb * CT_GGML_QK, out += nb * CT_GGML_QK, n -= nb * CT_GGML_QK;
            continue;
        }
        float blk[CT_GGML_QK];
        f(base + b * bytes, CT_GGML_QK, blk);
        size_t m = CT_GGML_QK - j < n ? CT_GGML_QK - j : n;
        memcpy(out, blk + j, m * sizeof(float));
        offset += m, out += m, n -= m;
    }
}

void ct_ggml_q8_0_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out) {
    blocks_to_f32(t, offset, n, out, CT_GGML_Q8_0_BYTES, ct_ggml_dequantize_q8_0);
}

void ct_ggml_q4_0_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out) {
    blocks_to_f32(t, offset, n, out, CT_GGML_Q4_0_BYTES, ct_ggml_dequantize_q4_0);
}
