/* Internal helpers shared by the CPU kernels (not part of the ops interface). */
#ifndef CT_OPS_CPU_CPU_H
#define CT_OPS_CPU_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/tensor.h"

/* Switches OpenBLAS to one thread (once per process); called before every BLAS call. */
void ct_cpu_blas_init(void);

/* out[i] = f32(in[i]) for n bf16 values (exact widening, vectorised). */
void ct_cpu_bf16_to_f32(float *out, const uint16_t *in, size_t n);

/* out[r, :] = f32(W[r0 + r, k0 : k0 + kw]) for r < nr: a block of rows / columns of W[., K]
 * widened to f32 into a dense [nr, kw] buffer (any float dtype). */
void ct_cpu_block_to_f32(float *out, const ct_tensor *W, size_t r0, size_t nr, size_t K, size_t k0,
                         size_t kw);

/* True when the CPU has AVX-512 F/BW/VL and AVX512-BF16 (runtime check). */
bool ct_cpu_has_avx512bf16(void);

/* y[T,N] = bf16(x)[T,K] · W[N,K]^T (bf16 W) with AVX512-BF16 dot products when the opt-in
 * bf16 compute mode is on (ct_ops_set_bf16_compute); returns false (nothing done) otherwise. */
bool ct_cpu_linear_bf16(float *y, const float *x, const uint16_t *W, size_t T, size_t K, size_t N);

/* dx[T,K] += bf16(dy)[T,N] · W[N,K] (bf16 W), same mode and kernel; false when the mode is off. */
bool ct_cpu_linear_bf16_dx(float *dx, const float *dy, const uint16_t *W, size_t T, size_t K, size_t N);

#endif
