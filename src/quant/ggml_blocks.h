/* ggml's Q8_0 and Q4_0 block formats (GGUF tensor types 8 and 2), byte-identical to ggml's
 * reference quantizers (ggml/src/ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref,
 * what llama.cpp's convert and llama-quantize --pure write). Rows of a weight are cut into blocks
 * of 32 consecutive elements (a row length must be a multiple of 32):
 *   Q8_0 (34 bytes): f16 d, then 32 int8 q;       x = q * d
 *        amax = max |x|, d = amax / 127 (f32), id = d ? 1/d : 0, q = roundf(x * id)
 *        (half away from zero); d is stored as f16 (round to nearest even).
 *   Q4_0 (18 bytes): f16 d, then 16 bytes of 4-bit codes; x = (code - 8) * d
 *        max = the signed value of the first element with the largest |x|, d = max / -8,
 *        id = d ? 1/d : 0, code = min(15, (int8_t)(x * id + 8.5f)) (truncation);
 *        byte j holds element j in its LOW nibble and element j + 16 in its HIGH nibble.
 * Everything is f32 arithmetic in ggml's order, so the codes are the reference's bit for bit.
 * Dequantization is ggml's dequantize_row_q8_0 / _q4_0.
 *
 * The dtypes CT_DTYPE_Q8_0 / CT_DTYPE_Q4_0 (quantized inference, src/model/quantize.c; decode GEMV
 * src/ops/cpu/gemv_quant.c) hold these blocks "packed by 8 rows" (the idea of ggml-cpu's repack):
 * of a 2-D [N, K] tensor, rows 0 .. N8 - 1 (N8 = N rounded down to a multiple of 8) form N8 / 8
 * groups of 8 rows, each group 8 rows' bytes long; a group holds, block after block (b = 0 ..
 * K / 32 - 1), the 8 rows' f16 scales of block b (16 bytes, row 0 first), then the 8 rows' code
 * bytes of block b in chunks of 4: code bytes 4c .. 4c + 3 of row r at 16 + 4 (8c + r) (c = 0..7
 * for Q8_0's 32 bytes, 0..3 for Q4_0's 16). One 32-byte vector then holds the same 4 codes of 8
 * rows (an int32 lane per row). The tail rows N8 .. N - 1 (and a 1-D tensor) stay plain, block
 * after block. The bytes are the same in number as plain blocks; ct_ggml_block_at gives back any
 * plain block (the GGUF export and prefill read through the dtype table's to_f32). */
#ifndef CT_QUANT_GGML_BLOCKS_H
#define CT_QUANT_GGML_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_GGML_QK 32            /* elements per Q8_0 / Q4_0 block */
#define CT_GGML_Q8_0_BYTES 34    /* sizeof(block_q8_0) */
#define CT_GGML_Q4_0_BYTES 18    /* sizeof(block_q4_0) */
/* Bytes of one block: Q8_0 (q8) or Q4_0. */
static inline size_t ct_ggml_block_bytes(bool q8) { return q8 ? CT_GGML_Q8_0_BYTES : CT_GGML_Q4_0_BYTES; }

/* Quantizes n values (n a multiple of 32) into n / 32 blocks at out. Returns false (out partly
 * written) when a value is NaN or infinite: ggml's reference has no defined result for them. */
bool ct_ggml_quantize_q8_0(const float *x, size_t n, uint8_t *out);
bool ct_ggml_quantize_q4_0(const float *x, size_t n, uint8_t *out);
/* Decodes n values (a multiple of 32) from n / 32 blocks. */
void ct_ggml_dequantize_q8_0(const uint8_t *blocks, size_t n, float *out);
void ct_ggml_dequantize_q4_0(const uint8_t *blocks, size_t n, float *out);
/* Packs the N rows of plain blocks at data (rows K long) by 8 rows in place (above). False: out
 * of memory (data unchanged). */
bool ct_ggml_pack8(uint8_t *data, size_t N, size_t K, bool q8);
/* The plain block b of row r of packed data ([N, K]) into out (34 or 18 bytes). */
void ct_ggml_block_at(const uint8_t *data, size_t N, size_t K, bool q8, size_t r, size_t b, uint8_t *out);
/* The dtype table's to_f32 of CT_DTYPE_Q8_0 / CT_DTYPE_Q4_0: elements [offset, offset + n) of t
 * (any offset and n; partial blocks at either end are decoded whole into a stack block). */
struct ct_tensor;
void ct_ggml_q8_0_to_f32(const struct ct_tensor *t, size_t offset, size_t n, float *out);
void ct_ggml_q4_0_to_f32(const struct ct_tensor *t, size_t offset, size_t n, float *out);

#endif
