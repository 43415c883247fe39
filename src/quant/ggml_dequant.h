/* Decoding ggml's block types to f32, bit for bit what ggml's dequantize_row_<type>
 * (ggml/src/ggml-quants.c) gives: the same integer unpacking and the same f32 operations in the
 * same order (no FMA: the build's -std=c17 keeps floating-point contraction off, as in ggml's
 * generic x86 build). Every multi-byte field is read with memcpy (blocks need no alignment) and
 * f16 scales are widened exactly (ct_f16_to_f32).
 *
 * Types, by ggml's enum number (elements / bytes per block):
 *   F32 = 0 (1/4), F16 = 1 (1/2), BF16 = 30 (1/2)                  plain values
 *   Q4_0 = 2 (32/18), Q8_0 = 8 (32/34)                           see ggml_blocks.h
 *   Q4_1 = 3 (32/20)    f16 d, f16 m, 16 bytes of nibbles           x = q * d + m
 *   Q5_0 = 6 (32/22)    f16 d, 4 bytes of 5th bits, 16 bytes        x = (q - 16) * d
 *   Q5_1 = 7 (32/24)    f16 d, f16 m, 4 bytes of 5th bits, 16 bytes x = q * d + m
 *   Q2_K = 10 (256/84), Q3_K = 11 (256/110), Q4_K = 12 (256/144), Q5_K = 13 (256/176),
 *   Q6_K = 14 (256/210): "super-blocks" of 256 with 6- or 8-bit sub-block scales (layouts in
 *   ggml_dequant.c).
 *   IQ4_NL = 20 (32/18), IQ4_XS = 23 (256/136): 4-bit codes into 16 fixed non-uniform levels,
 *   one f16 scale per block (IQ4_XS: times a 6-bit scale per 32).
 * Not handled: the other IQ* types (codebook quantizations), Q8_1 / Q8_K (ggml's internal activation
 * formats, never stored in GGUF files), TQ1_0 / TQ2_0, MXFP4 and the other newer types:
 * ct_ggml_dequant_supported says false for them. */
#ifndef CT_QUANT_GGML_DEQUANT_H
#define CT_QUANT_GGML_DEQUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/gguf.h" /* ct_ggml_type: the type numbers */


/* Whether ct_ggml_dequantize_row handles ggml type number `type`. */
bool ct_ggml_dequant_supported(uint32_t type);
/* Elements per block and bytes per block of `type` (0, 0 when not supported). Either pointer may
 * be NULL. */
void ct_ggml_dequant_block(uint32_t type, size_t *elems, size_t *bytes);
/* Decodes n values (n a multiple of the type's block size) from consecutive blocks, exactly as
 * ggml's dequantize_row_<type> (f32 arithmetic in the same order, so the same bits). An
 * unsupported type or an n that is not a whole number of blocks writes nothing (callers check
 * with the two functions above first). */
void ct_ggml_dequantize_row(uint32_t type, const void *blocks, size_t n, float *out);

/* The dtype table's to_f32 of CT_DTYPE_Q4_K / Q5_K / Q6_K (row-major blocks of 256 as in the file):
 * elements [offset, offset + n) of t, partial blocks at either end decoded whole into a stack
 * buffer. */
struct ct_tensor;
void ct_ggml_kquant_to_f32(const struct ct_tensor *t, size_t offset, size_t n, float *out);
/* Whether blocks of ggml type `type` are Q8_0 blocks in another packing: Q5_0 (codes c - 16,
 * |q| <= 16) and IQ4_NL (codes the 16 levels, -127 .. 113), both with one f16 scale d per 32 and
 * values d * q, and both multiplied by ggml with Q8_0 activations, d_w d_x times an integer sum:
 * the Q8_0 x Q8_0 dot product term for term. */
bool ct_ggml_q8_0_exact(uint32_t type);
/* n values (a multiple of 32) of such blocks rewritten as Q8_0 blocks (out: n / 32 * 34 bytes):
 * the same scale and values bit for bit. Other types: nothing written. */
void ct_ggml_to_q8_0(uint32_t type, const void *blocks, size_t n, void *out);
/* The ggml type number of a K-quant dtype (CT_DTYPE_Q4_K -> CT_GGML_Q4_K ..., CT_DTYPE_IQ4_XS),
 * 0 for others. */
uint32_t ct_ggml_kquant_type(int dtype);

#endif
