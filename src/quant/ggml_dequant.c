/* ggml block types to f32 (see ggml_dequant.h). Each decoder takes one block's bytes and writes
 * its elements; the comments give the block layout (byte offsets) and the value of an element.
 * The integer codes are formed as ints and converted to float where ggml converts them, and the
 * products are taken in ggml's order, so results are ggml's bit for bit. A product that is then
 * added to or subtracted from is its own statement, so that a compiler which contracts within an
 * expression (clang's default -ffp-contract=on with -march having FMA) cannot fuse the two: ggml's
 * generic build rounds the product first. */
#include "quant/ggml_dequant.h"

#include <string.h>

#include "ctune/tensor.h"
#include "quant/ggml_blocks.h"

#define QK_SMALL 32
#define QK_SUPER 256

/* An f16 field widened as ggml does: exactly, except that a signalling NaN comes back quiet (ggml's
 * conversion goes through f32 arithmetic or F16C, both of which set the quiet bit). */
static float f16_at(const uint8_t *p) {
    const uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    float f = ct_f16_to_f32(h);
    if ((h & 0x7c00) == 0x7c00 && (h & 0x03ff)) {
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        u |= 0x00400000u;
        memcpy(&f, &u, sizeof f);
    }
    return f;
}

static uint32_t u32_at(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Q4_1, 20 bytes: d @0, m @2, nibbles @4 (byte j: element j low, element j + 16 high).
 * x = code * d + m. */
static void block_q4_1(const uint8_t *b, float *y) {
    const float d = f16_at(b), m = f16_at(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < QK_SMALL / 2; j++) {
        const int lo = qs[j] & 0x0f, hi = qs[j] >> 4;
        const float plo = (float)lo * d, phi = (float)hi * d; /* own statements: never an FMA */
        y[j] = plo + m;
        y[j + QK_SMALL / 2] = phi + m;
    }
}

/* Q5_0, 22 bytes: d @0, a 32-bit little-endian word of fifth bits @2 (bit e for element e),
 * nibbles @6 as Q4_1's. x = (code - 16) * d. */
static void block_q5_0(const uint8_t *b, float *y) {
    const float d = f16_at(b);
    const uint32_t high = u32_at(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < QK_SMALL / 2; j++) {
        const int k = j + QK_SMALL / 2;
        const int lo = (int)((qs[j] & 0x0f) | (((high >> j) & 1u) << 4)) - 16;
        const int hi = (int)((qs[j] >> 4) | (((high >> k) & 1u) << 4)) - 16;
        y[j] = (float)lo * d;
        y[k] = (float)hi * d;
    }
}

/* Q5_1, 24 bytes: d @0, m @2, fifth bits @4, nibbles @8. x = code * d + m. */
static void block_q5_1(const uint8_t *b, float *y) {
    const float d = f16_at(b), m = f16_at(b + 2);
    const uint32_t high = u32_at(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < QK_SMALL / 2; j++) {
        const int k = j + QK_SMALL / 2;
        const int lo = (int)((qs[j] & 0x0f) | (((high >> j) & 1u) << 4));
        const int hi = (int)((qs[j] >> 4) | (((high >> k) & 1u) << 4));
        const float plo = (float)lo * d, phi = (float)hi * d;
        y[j] = plo + m;
        y[k] = phi + m;
    }
}

/* Q2_K, 84 bytes: 16 scale bytes @0 (sub-block s of 16 elements: scale = low nibble, min = high
 * nibble), 2-bit codes @16, d @80, dmin @82. Element e = 128 h + 32 p + r (h half, p bit pair,
 * r < 32) has code (qs[32 h + r] >> 2p) & 3 and sub-block s = 8 h + 2 p + r / 16.
 * x = (d * scale) * code - (dmin * min). */
static void block_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *qs = b + 16;
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    for (int h = 0; h < 2; h++)
        for (int p = 0; p < 4; p++)
            for (int half = 0; half < 2; half++) {
                const uint8_t s = sc[8 * h + 2 * p + half];
                const float dl = d * (float)(s & 0x0f), ml = dmin * (float)(s >> 4);
                const uint8_t *q = qs + 32 * h + 16 * half;
                float *o = y + 128 * h + 32 * p + 16 * half;
                for (int r = 0; r < 16; r++) {
                    const float v = dl * (float)((q[r] >> (2 * p)) & 3);
                    o[r] = v - ml;
                }
            }
}

/* Q3_K, 110 bytes: high-bit mask @0 (32 bytes), 2-bit codes @32 (64), 12 bytes of 6-bit scales
 * @96, d @108. Scale s (16 of them, s < 16) = low 4 bits: s < 8 ? byte s & 15 : byte s - 8 >> 4,
 * high 2 bits: (byte 8 + s % 4 >> 2 (s / 4)) & 3; minus 32. Element e = 128 h + 32 p + 16 g + r
 * (r < 16): low bits (qs[32 h + 16 g + r] >> 2p) & 3, minus 4 unless bit 4 h + p of
 * hmask[16 g + r] is set; scale s = 8 h + 2 p + g. x = (d * (scale - 32)) * code. */
static void block_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *qs = b + 32, *sb = b + 96;
    const float d = f16_at(b + 108);
    int scale[16];
    for (int s = 0; s < 16; s++) {
        const int low = s < 8 ? (sb[s] & 0x0f) : (sb[s - 8] >> 4);
        const int top = (sb[8 + s % 4] >> (2 * (s / 4))) & 3;
        scale[s] = (low | (top << 4)) - 32;
    }
    for (int h = 0; h < 2; h++)
        for (int p = 0; p < 4; p++) {
            const uint8_t bit = (uint8_t)(1u << (4 * h + p));
            for (int g = 0; g < 2; g++) {
                const float dl = d * (float)scale[8 * h + 2 * p + g];
                const uint8_t *q = qs + 32 * h + 16 * g, *m = hm + 16 * g;
                float *o = y + 128 * h + 32 * p + 16 * g;
                for (int r = 0; r < 16; r++) {
                    const int code = ((q[r] >> (2 * p)) & 3) - ((m[r] & bit) ? 0 : 4);
                    o[r] = dl * (float)code;
                }
            }
        }
}

/* The 6-bit scale and min of sub-block j (< 8) of Q4_K / Q5_K's 12 scale bytes: j < 4: scale =
 * byte j & 63, min = byte j + 4 & 63; else the low 4 bits from byte j + 4 (scale low nibble,
 * min high nibble) and the top 2 bits from the top 2 bits of byte j - 4 (scale) / byte j (min). */
static void k4_scale_min(const uint8_t *s, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q4_K, 144 bytes: d @0, dmin @2, scales @4 (12), nibbles @16 (128). Element e = 64 c + 32 t + r
 * (r < 32): nibble t (0 low, 1 high) of qs[32 c + r], sub-block j = 2 c + t.
 * x = (d * scale) * code - (dmin * min). */
static void block_q4_k(const uint8_t *b, float *y) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *sb = b + 4, *qs = b + 16;
    for (int c = 0; c < 4; c++)
        for (int t = 0; t < 2; t++) {
            int sc, mn;
            k4_scale_min(sb, 2 * c + t, &sc, &mn);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            const uint8_t *q = qs + 32 * c;
            float *o = y + 64 * c + 32 * t;
            for (int r = 0; r < 32; r++) {
                const float v = d1 * (float)((q[r] >> (4 * t)) & 0x0f);
                o[r] = v - m1;
            }
        }
}

/* Q5_K, 176 bytes: d @0, dmin @2, scales @4 (12), fifth bits @16 (32), nibbles @48 (128). As Q4_K,
 * plus 16 when bit 2 c + t of qh[r] is set. */
static void block_q5_k(const uint8_t *b, float *y) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *sb = b + 4, *qh = b + 16, *qs = b + 48;
    for (int c = 0; c < 4; c++)
        for (int t = 0; t < 2; t++) {
            int sc, mn;
            k4_scale_min(sb, 2 * c + t, &sc, &mn);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            const uint8_t bit = (uint8_t)(1u << (2 * c + t));
            const uint8_t *q = qs + 32 * c;
            float *o = y + 64 * c + 32 * t;
            for (int r = 0; r < 32; r++) {
                const int code = ((q[r] >> (4 * t)) & 0x0f) + ((qh[r] & bit) ? 16 : 0);
                const float v = d1 * (float)code;
                o[r] = v - m1;
            }
        }
}

/* Q6_K, 210 bytes: low nibbles @0 (128), high 2-bit pairs @128 (64), 16 int8 scales @192, d @208.
 * Element e = 128 h + 32 k + r (r < 32): low 4 bits = nibble k / 2 of ql[64 h + 32 (k % 2) + r],
 * high 2 bits = (qh[32 h + r] >> 2k) & 3, minus 32; scale index 8 h + 2 k + r / 16.
 * x = (d * scale) * code. */
static void block_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = f16_at(b + 208);
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int r = 0; r < 32; r++) {
                const int low = (ql[64 * h + 32 * (k % 2) + r] >> (4 * (k / 2))) & 0x0f;
                const int top = (qh[32 * h + r] >> (2 * k)) & 3;
                const int code = (low | (top << 4)) - 32;
                y[128 * h + 32 * k + r] = d * (float)sc[8 * h + 2 * k + r / 16] * (float)code;
            }
}

/* IQ4_NL / IQ4_XS's 16 non-uniform levels (ggml's kvalues_iq4nl), indexed by a 4-bit code. */
static const int8_t k_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* 16 bytes of codes, scale d: element r (< 16) the low nibble of q[r], r + 16 its high nibble. */
static void iq4_32(const uint8_t *q, float d, float *y) {
    for (int r = 0; r < 16; r++) {
        y[r] = d * (float)k_iq4nl[q[r] & 0x0f];
        y[r + 16] = d * (float)k_iq4nl[q[r] >> 4];
    }
}

/* IQ4_NL, 18 bytes: f16 d @0, codes @2 (16). x = d * level(code). */
static void block_iq4_nl(const uint8_t *b, float *y) { iq4_32(b + 2, f16_at(b), y); }

/* IQ4_XS, 136 bytes: f16 d @0, u16 scales_h @2, scales_l @4 (4), codes @8 (128). Sub-block j of 32:
 * 6-bit scale ls = nibble j % 2 of scales_l[j / 2] | bits 2j, 2j + 1 of scales_h << 4;
 * x = (d * (ls - 32)) * level(code). */
static void block_iq4_xs(const uint8_t *b, float *y) {
    const float d = f16_at(b);
    const unsigned sh = (unsigned)(b[2] | (b[3] << 8));
    for (int j = 0; j < 8; j++) {
        const int ls = ((b[4 + j / 2] >> (4 * (j % 2))) & 0x0f) | (int)(((sh >> (2 * j)) & 3) << 4);
        iq4_32(b + 8 + 16 * j, d * (float)(ls - 32), y + 32 * j);
    }
}

static void block_q4_0(const uint8_t *b, float *y) { ct_ggml_dequantize_q4_0(b, CT_GGML_QK, y); }
static void block_q8_0(const uint8_t *b, float *y) { ct_ggml_dequantize_q8_0(b, CT_GGML_QK, y); }
static void elem_f32(const uint8_t *b, float *y) { memcpy(y, b, sizeof *y); }
static void elem_f16(const uint8_t *b, float *y) { *y = f16_at(b); }
static void elem_bf16(const uint8_t *b, float *y) { *y = ct_bf16_to_f32((uint16_t)(b[0] | (b[1] << 8))); }

typedef struct dq_type {
    uint32_t type;
    size_t elems, bytes;
    void (*block)(const uint8_t *b, float *y);
} dq_type;

static const dq_type k_types[] = {
    {CT_GGML_F32, 1, 4, elem_f32},
    {CT_GGML_F16, 1, 2, elem_f16},
    {CT_GGML_BF16, 1, 2, elem_bf16},
    {CT_GGML_Q4_0, QK_SMALL, CT_GGML_Q4_0_BYTES, block_q4_0},
    {CT_GGML_Q8_0, QK_SMALL, CT_GGML_Q8_0_BYTES, block_q8_0},
    {CT_GGML_Q4_1, QK_SMALL, 20, block_q4_1},
    {CT_GGML_Q5_0, QK_SMALL, 22, block_q5_0},
    {CT_GGML_Q5_1, QK_SMALL, 24, block_q5_1},
    {CT_GGML_Q2_K, QK_SUPER, 84, block_q2_k},
    {CT_GGML_Q3_K, QK_SUPER, 110, block_q3_k},
    {CT_GGML_Q4_K, QK_SUPER, 144, block_q4_k},
    {CT_GGML_Q5_K, QK_SUPER, 176, block_q5_k},
    {CT_GGML_Q6_K, QK_SUPER, 210, block_q6_k},
    {CT_GGML_IQ4_NL, QK_SMALL, 18, block_iq4_nl},
    {CT_GGML_IQ4_XS, QK_SUPER, 136, block_iq4_xs},
};

static const dq_type *find_type(uint32_t type) {
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].type == type) return &k_types[i];
    return NULL;
}

bool ct_ggml_dequant_supported(uint32_t type) { return find_type(type) != NULL; }

void ct_ggml_dequant_block(uint32_t type, size_t *elems, size_t *bytes) {
    const dq_type *t = find_type(type);
    if (elems) *elems = t ? t->elems : 0;
    if (bytes) *bytes = t ? t->bytes : 0;
}

void ct_ggml_dequantize_row(uint32_t type, const void *blocks, size_t n, float *out) {
    const dq_type *t = find_type(type);
    if (!t || n % t->elems) return;
    const uint8_t *b = blocks;
    if (type == CT_GGML_F32) {
        memcpy(out, b, n * sizeof *out);
        return;
    }
    for (size_t i = 0; i < n / t->elems; i++) t->block(b + i * t->bytes, out + i * t->elems);
}

uint32_t ct_ggml_kquant_type(int dtype) {
    switch (dtype) {
    case CT_DTYPE_Q4_K: return CT_GGML_Q4_K;
    case CT_DTYPE_Q5_K: return CT_GGML_Q5_K;
    case CT_DTYPE_Q6_K: return CT_GGML_Q6_K;
    case CT_DTYPE_IQ4_XS: return CT_GGML_IQ4_XS;
    case CT_DTYPE_Q2_K: return CT_GGML_Q2_K;
    case CT_DTYPE_Q3_K: return CT_GGML_Q3_K;
    default: return 0;
    }
}

void ct_ggml_kquant_to_f32(const struct ct_tensor *t, size_t offset, size_t n, float *out) {
    uint32_t type = ct_ggml_kquant_type(t->dtype);
    size_t elems, bytes;
    ct_ggml_dequant_block(type, &elems, &bytes);
    const uint8_t *base = (const uint8_t *)t->data;
    while (n > 0) {
        size_t b = offset / elems, j = offset % elems, m = elems - j < n ? elems - j : n;
        if (j == 0 && m == elems) {
            ct_ggml_dequantize_row(type, base + b * bytes, elems, out);
        } else {
            float v[256];
            ct_ggml_dequantize_row(type, base + b * bytes, elems, v);
            memcpy(out, v + j, m * sizeof(float));
        }
        offset += m, out += m, n -= m;
    }
}

bool ct_ggml_q8_0_exact(uint32_t type) { return type == CT_GGML_Q5_0 || type == CT_GGML_IQ4_NL; }

void ct_ggml_to_q8_0(uint32_t type, const void *blocks, size_t n, void *out) {
    const uint8_t *b = blocks;
    uint8_t *o = out;
    size_t bytes = type == CT_GGML_Q5_0 ? 22 : 18;
    if (!ct_ggml_q8_0_exact(type)) return;
    for (size_t i = 0; i < n / QK_SMALL; i++, b += bytes, o += CT_GGML_Q8_0_BYTES) {
        memcpy(o, b, 2); /* the same f16 scale */
        for (int j = 0; j < QK_SMALL / 2; j++) {
            const int k = j + QK_SMALL / 2;
            if (type == CT_GGML_Q5_0) { /* codes c - 16 */
                const uint32_t high = u32_at(b + 2);
                const uint8_t *qs = b + 6;
                o[2 + j] = (uint8_t)(int8_t)((int)((qs[j] & 0x0f) | (((high >> j) & 1u) << 4)) - 16);
                o[2 + k] = (uint8_t)(int8_t)((int)((qs[j] >> 4) | (((high >> k) & 1u) << 4)) - 16);
            } else { /* IQ4_NL: the levels themselves */
                o[2 + j] = (uint8_t)k_iq4nl[b[2 + j] & 0x0f];
                o[2 + k] = (uint8_t)k_iq4nl[b[2 + j] >> 4];
            }
        }
    }
}
