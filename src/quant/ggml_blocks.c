/* ggml Q8_0 / Q4_0 blocks (see ggml_blocks.h for the exact rules followed). */
#include "quant/ggml_blocks.h"

#include <math.h>
#include <stdlib.h>
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

/* Where the bytes of row r's block b start in packed data: the scale (2 bytes) and the first
 * 4-byte chunk of codes; the codes' chunks follow 32 bytes apart (packed) or 4 (plain). */
typedef struct blk_loc {
    size_t scale, codes, stride;
} blk_loc;

static blk_loc locate(size_t N, size_t K, bool q8, size_t r, size_t b) {
    size_t bb = ct_ggml_block_bytes(q8), nb = K / CT_GGML_QK, n8 = N / 8 * 8;
    if (r >= n8) {
        size_t at = (r * nb + b) * bb;
        return (blk_loc){at, at + 2, 4};
    }
    size_t at = ((r / 8) * nb + b) * 8 * bb;
    return (blk_loc){at + 2 * (r % 8), at + 16 + 4 * (r % 8), 32};
}

void ct_ggml_block_at(const uint8_t *data, size_t N, size_t K, bool q8, size_t r, size_t b, uint8_t *out) {
    blk_loc l = locate(N, K, q8, r, b);
    size_t chunks = ct_ggml_block_bytes(q8) / 4;
    memcpy(out, data + l.scale, 2);
    for (size_t c = 0; c < chunks; c++) memcpy(out + 2 + 4 * c, data + l.codes + c * l.stride, 4);
}

bool ct_ggml_pack8(uint8_t *data, size_t N, size_t K, bool q8) {
    size_t bb = ct_ggml_block_bytes(q8), nb = K / CT_GGML_QK, gbytes = 8 * nb * bb;
    if (N < 8) return true;
    uint8_t *tmp = malloc(gbytes);
    if (!tmp) return false;
    for (size_t g = 0; g < N / 8; g++) {
        uint8_t *grp = data + g * gbytes;
        memcpy(tmp, grp, gbytes); /* 8 plain rows */
        for (size_t r = 0; r < 8; r++)
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *src = tmp + (r * nb + b) * bb;
                blk_loc l = locate(N, K, q8, g * 8 + r, b);
                memcpy(data + l.scale, src, 2);
                for (size_t c = 0; c < (bb - 2) / 4; c++) memcpy(data + l.codes + c * l.stride, src + 2 + 4 * c, 4);
            }
    }
    free(tmp);
    return true;
}

typedef void (*dequant_fn)(const uint8_t *blocks, size_t n, float *out);

/* Elements [offset, offset + n) of t, block by block (each a plain copy of its packed bytes). */
static void blocks_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out, bool q8, dequant_fn f) {
    const uint8_t *base = (const uint8_t *)t->data;
    size_t N = t->ndim == 2 ? (size_t)t->shape[0] : 1, K = N ? (size_t)ct_tensor_numel(t) / N : 0;
    while (n > 0) {
        size_t r = offset / K, b = offset % K / CT_GGML_QK, j = offset % CT_GGML_QK;
        uint8_t blk[CT_GGML_Q8_0_BYTES];
        ct_ggml_block_at(base, N, K, q8, r, b, blk);
        size_t m = CT_GGML_QK - j < n ? CT_GGML_QK - j : n;
        if (j == 0 && m == CT_GGML_QK) {
            f(blk, CT_GGML_QK, out);
        } else {
            float v[CT_GGML_QK];
            f(blk, CT_GGML_QK, v);
            memcpy(out, v + j, m * sizeof(float));
        }
        offset += m, out += m, n -= m;
    }
}

void ct_ggml_q8_0_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out) {
    blocks_to_f32(t, offset, n, out, true, ct_ggml_dequantize_q8_0);
}

void ct_ggml_q4_0_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out) {
    blocks_to_f32(t, offset, n, out, false, ct_ggml_dequantize_q4_0);
}
