/* ctune — dtypes and tensor views.
 * A ct_tensor is a non-owning view: dtype, shape (C order, PyTorch convention) and a data pointer
 * (often into an mmap'd safetensors file). Weights stay in their stored dtype; kernels convert.
 * What a dtype is lives in one table (ct_dtype_info): its storage block (elements and bytes per
 * block: 1 element for plain dtypes, e.g. 64 4-bit codes + a scale for block-quantized ones) and
 * its decoder to f32. A quantized tensor points at its block scales through `quant`; kernels that
 * have no special path for a dtype decode blocks of it with the table's to_f32. */
#ifndef CTUNE_TENSOR_H
#define CTUNE_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_dtype {
    CT_DTYPE_F32 = 0,
    CT_DTYPE_F16,
    CT_DTYPE_BF16,
    CT_DTYPE_F64,
    CT_DTYPE_I64,
    CT_DTYPE_I32,
    CT_DTYPE_I16,
    CT_DTYPE_I8,
    CT_DTYPE_U8,
    CT_DTYPE_BOOL,
    /* Quantized weights (not safetensors dtypes: ct_dtype_from_name never returns them); the
     * state behind `quant` is described in src/quant/quant.h. */
    CT_DTYPE_NF4,     /* bitsandbytes NF4: 2 codes per byte (first in the high nibble), absmax per 64 */
    CT_DTYPE_FP4,     /* bitsandbytes FP4: same layout, FP4 code table */
    CT_DTYPE_INT8ROW, /* LLM.int8 row-wise: int8 per element, one f32 scale per row */
    /* ggml's block formats (GGUF types 8 and 2; src/quant/ggml_blocks.h): scales inline in the
     * blocks, `quant` NULL; a row's length must be a multiple of 32 */
    CT_DTYPE_Q8_0,    /* blocks of 32: f16 scale d + 32 int8 (34 bytes), x = q * d */
    CT_DTYPE_Q4_0,    /* blocks of 32: f16 scale d + 16 bytes of 4-bit codes (18 bytes), x = (q - 8) * d */
    /* ggml's K-quants (GGUF types 12, 13, 14; src/quant/ggml_dequant.h), as stored in a GGUF file:
     * rows of whole super-blocks of 256, block after block (not packed); `quant` NULL */
    CT_DTYPE_Q4_K,    /* 144 bytes: f16 d, f16 dmin, 8 6-bit scales and mins, 256 4-bit codes */
    CT_DTYPE_Q5_K,    /* 176 bytes: Q4_K plus a 5th bit per code */
    CT_DTYPE_Q6_K,    /* 210 bytes: 256 6-bit codes, 16 int8 scales, f16 d */
    CT_DTYPE_IQ4_XS,  /* GGUF type 23, 136 bytes: f16 d, 8 6-bit scales, 256 4-bit codes into 16 levels */
    CT_DTYPE_Q2_K,    /* GGUF type 10, 84 bytes: 16 4-bit scales and mins, 256 2-bit codes, f16 d, dmin */
    CT_DTYPE_Q3_K,    /* GGUF type 11, 110 bytes: 256 high bits, 256 2-bit codes, 16 6-bit scales, f16 d */
    CT_DTYPE_COUNT
} ct_dtype;

#define CT_MAX_DIMS 8

typedef struct ct_tensor {
    ct_dtype dtype;
    int ndim;
    int64_t shape[CT_MAX_DIMS];
    void *data; /* NULL: tensor absent (e.g. optional bias) */
    const void *quant; /* quantized dtypes: block scales / quantization state in the layout its
                          ct_dtype_traits expects; NULL for plain dtypes */
} ct_tensor;

typedef struct ct_dtype_traits {
    const char *name;      /* safetensors spelling: "BF16", "F32", ... */
    uint32_t block;        /* elements per storage block (1 for plain dtypes) */
    uint32_t block_bytes;  /* bytes per block */
    /* out[i] = element offset + i as f32 for i < n (any offset and n: block-quantized decoders
     * handle partial blocks; whole blocks are the fast path); NULL for dtypes that are not
     * numbers a weight can hold (ints, bool). */
    void (*to_f32)(const ct_tensor *t, size_t offset, size_t n, float *out);
} ct_dtype_traits;

/* The dtype table; NULL for values outside the enum. */
const ct_dtype_traits *ct_dtype_info(ct_dtype dt);
/* True when weights may have this dtype (it has a to_f32 decoder). */
int ct_dtype_is_float(ct_dtype dt);

size_t ct_dtype_size(ct_dtype dt); /* bytes per element of a plain dtype (block_bytes / block;
                                      0 for the 4-bit dtypes and Q8_0) */
const char *ct_dtype_name(ct_dtype dt);           /* safetensors spelling: "BF16", "F32", ... */
int ct_dtype_from_name(const char *name, ct_dtype *out); /* 0 on success, -1 unknown */
int64_t ct_tensor_numel(const ct_tensor *t);
/* Bytes of `data`: ceil(numel * block_bytes / block) (4-bit: (numel + 1) / 2; Q8_0 / Q4_0: whole
 * blocks with their inline scales). Scales kept out of line behind `quant` are not counted. */
size_t ct_tensor_nbytes(const ct_tensor *t);

/* bf16 / f16 <-> f32 scalar conversions (round-to-nearest-even, NaN preserved). */
static inline float ct_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t ct_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
float ct_f16_to_f32(uint16_t h);
uint16_t ct_f32_to_f16(float f);

/* Converts n elements starting at element `offset` of any float dtype to f32 (the dtype's
 * to_f32; zeros for dtypes without one). */
void ct_tensor_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out);
/* Converts n f32 values to dtype dt into dst (F32/F16/BF16/F64 only). */
void ct_f32_to_dtype(const float *src, size_t n, ct_dtype dt, void *dst);

#ifdef __cplusplus
}
#endif
#endif
