/* bitsandbytes-compatible weight quantization: 4-bit NF4/FP4 blocks (optionally with double
 * quantization of the block scales) and LLM.int8 row-wise int8, as dtypes of the dtype table
 * (CT_DTYPE_NF4, CT_DTYPE_FP4, CT_DTYPE_INT8ROW). A quantized ct_tensor keeps its logical shape
 * ([out, in] for a linear weight); `data` holds the codes and `quant` points at the state below.
 *
 * Which bitsandbytes path is reproduced (bit for bit): the CUDA kernels of csrc/kernels.cu, i.e.
 * what downloaded `*-bnb-4bit` checkpoints were made with:
 *  - 4-bit (kQuantizeBlockwise, FP4/NF4): absmax = max |x| over each block of `blocksize` (64)
 *    flat elements (the last block may be short); inv = 1.0f / absmax; each x * inv goes through
 *    the fixed decision tree of dQuantizeNF4 / dQuantizeFP4 (strict `>` against f32 pivots, so a
 *    value exactly on a pivot takes the LOWER code; FP4's sign bit is `x < 0`, so -0.0 codes as
 *    +0). An all-zero block gives inv = inf, x * inv = NaN, and the tree sends NaN to code 0
 *    (NF4 -1.0, FP4 +0.0): decoding gives -0.0 / +0.0. Two codes per byte, FIRST in the HIGH nibble.
 *    The pivots are kernels.cu's float literals rounded once to f32 (as the compiler does): 4 of
 *    NF4's 15 (-0.848, 0.120, 0.502, 0.861) are 1 ulp off the f32 midpoints of the table, and
 *    FP4 uses 0.583333f, not 7/12, so a value exactly on a midpoint may code differently than in
 *    bnb's torch/CPU path (bucketize on midpoints).
 *    Decoding (kDequantizeBlockwise) is code[q] * absmax in f32; bnb then casts to the original
 *    dtype, we hand out that f32 product (identical for f32 originals).
 *  - double quantization (quantize_4bit(compress_statistics=True)): offset = mean(absmax);
 *    absmax - offset is quantized with the 8-bit blockwise kernel (blocksize 256, the signed
 *    dynamic map of create_dynamic_map(), dQuantize<0>'s binary search where a value on the
 *    midpoint stays on the searched pivot); absmax is recovered as nested_code[q] * nested_absmax[b / 256] + offset (f32).
 *    The mean: torch.mean's f32 reduction order differs between devices, we take the f32 rounding of
 *    a sequential double sum / n (can differ from a torch.mean by an ulp; everything after it is exact).
 *  - int8 (Int8Params -> int8_vectorwise_quant): the weight is first rounded to f16 (as Int8Params
 *    does), SCB = max |row|, CB = round-half-even(x * (127.0f / SCB)); a zero row gives CB 0.
 *    Decode (int8_vectorwise_dequant): CB * SCB * 7.874015718698502e-3f, in f32.
 *  The one deviation from CUDA: nvcc --use_fast_math makes 1.0f/absmax (and 127/SCB) approximate
 *  (<= 1 ulp); we use IEEE division, so a code can differ only where x * inv sits within an ulp of a
 *  pivot. bnb's CPU / torch-default backend differs more (bucketize on midpoints, true division in a
 *  short last block, an all-zero block coding as 0.0); we do not follow it. */
#ifndef CT_QUANT_QUANT_H
#define CT_QUANT_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/tensor.h"

#define CT_Q4_BLOCK 64         /* bnb's default (and only accepted) 4-bit blocksize */
#define CT_Q4_NESTED_BLOCK 256 /* blocksize of the double-quantized absmax */

/* State of a 4-bit tensor (tensor.quant for CT_DTYPE_NF4 / CT_DTYPE_FP4). Arrays are borrowed
 * (from an owner below or a mapped checkpoint); scales are never expanded to a per-block f32 array
 * when nested: ct_quant4_absmax decodes them on the fly. */
typedef struct ct_quant4 {
    float code[16];         /* 4-bit code -> value (bnb quant_map; FP4 index 8 is -0.0) */
    int32_t blocksize;      /* elements per absmax block (64) */
    ct_dtype orig_dtype;    /* dtype the weight had before quantization (F32/F16/BF16), for export */
    int64_t numel, nblocks; /* elements; blocks = ceil(numel / blocksize) */
    bool nested;            /* false: absmax[nblocks]; true: qabsmax + nested_* + offset */
    const float *absmax;    /* [nblocks] f32 (not nested) */
    const uint8_t *qabsmax; /* [nblocks] 8-bit codes of absmax - offset (nested) */
    const float *nested_absmax; /* [ceil(nblocks / nested_blocksize)] (nested) */
    float nested_code[256];     /* the 8-bit dynamic map (nested) */
    int32_t nested_blocksize;   /* 256 */
    float offset;               /* mean of the absmax (nested) */
} ct_quant4;

/* State of a row-wise int8 tensor (tensor.quant for CT_DTYPE_INT8ROW): data is int8 [rows, cols]. */
typedef struct ct_quant8 {
    const float *scb;    /* [rows] row absmax (bnb SCB) */
    int64_t rows, cols;
    ct_dtype orig_dtype;
} ct_quant8;

/* Heap memory behind a quantized tensor: the state and any arrays it owns (NULL when borrowed). */
typedef struct ct_quant4_owner {
    ct_quant4 st;
    uint8_t *packed, *qabsmax;
    float *absmax, *nested_absmax;
} ct_quant4_owner;
typedef struct ct_quant8_owner {
    ct_quant8 st;
    int8_t *cb;
    float *scb;
} ct_quant8_owner;
void ct_quant4_owner_free(ct_quant4_owner *o); /* NULL ok */
void ct_quant8_owner_free(ct_quant8_owner *o); /* NULL ok */

/* The built-in 4-bit code table of type (CT_DTYPE_NF4 / CT_DTYPE_FP4), as get_4bit_type() gives
 * it (and the CUDA lookup tables); NULL for other dtypes. */
const float *ct_quant4_code(ct_dtype type);
/* create_dynamic_map(signed=True): the 256-entry 8-bit map of the nested absmax, into out. */
void ct_quant_dynamic_map(float out[256]);

/* Quantizes float tensor src (F32/F16/BF16/F64, any shape, flattened in C order) to type NF4 or
 * FP4 with blocksize 64, nesting the absmax when double_quant. *owner receives the memory; *out
 * the tensor (dtype type, src's shape, data = owner->packed, quant = &owner->st). */
ct_status ct_quant4_quantize(const ct_tensor *src, ct_dtype type, bool double_quant,
                             ct_quant4_owner **owner, ct_tensor *out, ct_err *err);
/* Absmax of block b (decoded from the nested form when nested). */
float ct_quant4_absmax(const ct_quant4 *q, int64_t b);
/* Elements [offset, offset + n) of a 4-bit tensor to f32 (the dtype table's to_f32). */
void ct_quant4_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out);
/* Rows [r0, r0 + nr), columns [k0, k0 + kw) of a 2-D 4-bit tensor to out[nr][kw]. */
void ct_quant4_decode_rows(const ct_tensor *t, int64_t r0, int64_t nr, int64_t k0, int64_t kw,
                           float *out);

/* Row-wise int8 of a 2-D float tensor src [rows, cols] (LLM.int8 Int8Params semantics, no
 * outlier threshold). */
ct_status ct_quant8_quantize(const ct_tensor *src, ct_quant8_owner **owner, ct_tensor *out,
                             ct_err *err);
/* Elements [offset, offset + n) of an INT8ROW tensor to f32 (the dtype table's to_f32). */
void ct_quant8_to_f32(const ct_tensor *t, size_t offset, size_t n, float *out);

/* Module-internal (src/quant): dQuantize<0> of x on the sorted 256-entry map, and the 8-bit
 * blockwise quantizer over n values (absmax[ceil(n / blocksize)], q[n]). */
uint8_t ct_quant_dyn_code(const float code[256], float x);
void ct_quant_blockwise8(const float *x, int64_t n, int32_t blocksize, const float code[256],
                         uint8_t *q, float *absmax);

#endif
