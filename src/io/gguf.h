/* GGUF v3 writer (the file format of llama.cpp / Ollama; ../shared/REFERENCE.md, llama.cpp
 * gguf-py/gguf/gguf_writer.py):
 *   "GGUF", u32 version 3, u64 tensor_count, u64 kv_count,
 *   kv_count × (string key, u32 value type, value)            strings: u64 length + bytes
 *   tensor_count × (string name, u32 n_dims, u64 ne[n_dims] (innermost first: the REVERSE of the
 *                   PyTorch shape), u32 ggml type, u64 offset from the start of the data section)
 *   padding to general.alignment (32), then every tensor's data, each padded to 32.
 * Little-endian throughout. Keys keep the order they were added in; a key added twice is an
 * error. Tensor data is produced by a callback at write time, one tensor at a time, so a model
 * is never held twice in memory. The file is written atomically (temp file + rename). */
#ifndef CT_IO_GGUF_H
#define CT_IO_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

#define CT_GGUF_VERSION 3
#define CT_GGUF_ALIGNMENT 32

/* Metadata value types. */
typedef enum ct_gguf_type {
    CT_GGUF_U8 = 0, CT_GGUF_I8, CT_GGUF_U16, CT_GGUF_I16, CT_GGUF_U32, CT_GGUF_I32, CT_GGUF_F32,
    CT_GGUF_BOOL, CT_GGUF_STRING, CT_GGUF_ARRAY, CT_GGUF_U64, CT_GGUF_I64, CT_GGUF_F64
} ct_gguf_type;

/* ggml tensor types (ggml.h enum ggml_type): the ones ctune writes (F32, F16, BF16, Q8_0, Q4_0)
 * and the others it decodes when reading (src/quant/ggml_dequant.h). */
typedef enum ct_ggml_type {
    CT_GGML_F32 = 0, CT_GGML_F16 = 1, CT_GGML_Q4_0 = 2, CT_GGML_Q4_1 = 3, CT_GGML_Q5_0 = 6, CT_GGML_Q5_1 = 7,
    CT_GGML_Q8_0 = 8, CT_GGML_Q2_K = 10, CT_GGML_Q3_K = 11, CT_GGML_Q4_K = 12, CT_GGML_Q5_K = 13,
    CT_GGML_Q6_K = 14, CT_GGML_IQ4_NL = 20, CT_GGML_IQ4_XS = 23, CT_GGML_BF16 = 30
} ct_ggml_type;

/* Bytes of a row of `n` elements of a type ctune writes (n a multiple of 32 for Q8_0 / Q4_0); 0
 * when not. */
size_t ct_ggml_row_bytes(ct_ggml_type t, int64_t n);
/* ggml's name of a type number ("F32", "Q8_0", "Q4_K", "IQ2_XS", ...; NULL for a number ggml does
 * not name). */
const char *ct_ggml_type_name(uint32_t t);

typedef struct ct_gguf_writer ct_gguf_writer;

/* Fills `dst` (nbytes as given to ct_gguf_add_tensor) with the tensor's data. */
typedef ct_status (*ct_gguf_fill_fn)(void *user, void *dst, size_t nbytes, ct_err *err);

ct_status ct_gguf_writer_init(ct_gguf_writer **out, ct_err *err);
void ct_gguf_writer_free(ct_gguf_writer *w);

ct_status ct_gguf_set_u32(ct_gguf_writer *w, const char *key, uint32_t v, ct_err *err);
ct_status ct_gguf_set_i32(ct_gguf_writer *w, const char *key, int32_t v, ct_err *err);
ct_status ct_gguf_set_f32(ct_gguf_writer *w, const char *key, float v, ct_err *err);
ct_status ct_gguf_set_bool(ct_gguf_writer *w, const char *key, bool v, ct_err *err);
ct_status ct_gguf_set_str(ct_gguf_writer *w, const char *key, const char *v, ct_err *err);
/* Arrays: strings (n NUL-terminated), i32, f32. */
ct_status ct_gguf_set_arr_str(ct_gguf_writer *w, const char *key, const char *const *v, size_t n, ct_err *err);
ct_status ct_gguf_set_arr_i32(ct_gguf_writer *w, const char *key, const int32_t *v, size_t n, ct_err *err);
ct_status ct_gguf_set_arr_f32(ct_gguf_writer *w, const char *key, const float *v, size_t n, ct_err *err);

/* Adds a tensor: shape in PyTorch order (outermost first; written reversed), its type, and the
 * callback that produces its bytes (ct_ggml_row_bytes(type, shape[ndim-1]) × the other dims).
 * `user` must stay valid until ct_gguf_write returns. Names are copied. */
ct_status ct_gguf_add_tensor(ct_gguf_writer *w, const char *name, int ndim, const int64_t *shape, ct_ggml_type type,
                             ct_gguf_fill_fn fill, void *user, ct_err *err);
size_t ct_gguf_tensor_count(const ct_gguf_writer *w);

/* Writes the file at `path` atomically. Errors name the path (or the tensor whose fill failed). */
ct_status ct_gguf_write(ct_gguf_writer *w, const char *path, ct_err *err);

#endif
