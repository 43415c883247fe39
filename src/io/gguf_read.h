/* GGUF reader (the format in gguf.h; versions 2 and 3, which lay out the same): memory-maps the
 * file, checks the whole header on open (magic, version, counts, every key and value inside the
 * file, tensor infos: 1..4 dims, a known ggml type, offsets aligned to general.alignment, data
 * inside the file, no two tensors overlapping, no duplicate keys or tensor names) and hands out
 * views: metadata values as pointers into the mapping (strings are NOT NUL-terminated: pointer +
 * length), tensors as (name, PyTorch-order shape, ggml type, bytes). Errors name the file and the
 * key or tensor. The library's loaders build on it: src/model/gguf_load.c (weights and config),
 * src/tok/gguf_tok.c (tokenizer). */
#ifndef CT_IO_GGUF_READ_H
#define CT_IO_GGUF_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "io/gguf.h"

typedef struct ct_gguf ct_gguf;

/* One tensor of the file. shape is in PyTorch order (outermost first: the reverse of the file's
 * ne[]); type is the file's ggml type number, which may be one ctune cannot compute with (K-quants
 * etc.: ct_ggml_type_known says). nbytes is 0 for types src/quant/ggml_dequant.h cannot decode
 * (their size is not checked; data still points at their start). */
typedef struct ct_gguf_tensor {
    const char *name; /* NUL-terminated copy */
    int ndim;
    int64_t shape[4];
    uint32_t type;
    size_t nbytes;
    const void *data; /* inside the mapping, aligned to general.alignment */
} ct_gguf_tensor;

/* A metadata array: its item type, item count and first item's bytes. */
typedef struct ct_gguf_arr {
    ct_gguf_type type;
    uint64_t n;
    const uint8_t *data;
    const uint8_t *end; /* end of the mapping (bounds for the string cursor) */
} ct_gguf_arr;

/* Whether `path` is a regular file that starts with the GGUF magic. */
bool ct_gguf_is_file(const char *path);
ct_status ct_gguf_open(const char *path, ct_gguf **out, ct_err *err);
void ct_gguf_close(ct_gguf *g);
const char *ct_gguf_path(const ct_gguf *g);

/* ---- metadata: each getter returns false when the key is absent; present with another type:
 * false and *err set (naming the file, key, wanted and found types) ---- */
bool ct_gguf_has(const ct_gguf *g, const char *key);
/* Any integer type whose value fits (u8..u64, i8..i64); negative or too large: error. */
bool ct_gguf_get_u32(const ct_gguf *g, const char *key, uint32_t *v, ct_err *err);
bool ct_gguf_get_i64(const ct_gguf *g, const char *key, int64_t *v, ct_err *err);
/* f32 or f64 (f64 rounded to f32 for get_f32). */
bool ct_gguf_get_f32(const ct_gguf *g, const char *key, float *v, ct_err *err);
bool ct_gguf_get_f64(const ct_gguf *g, const char *key, double *v, ct_err *err);
bool ct_gguf_get_bool(const ct_gguf *g, const char *key, bool *v, ct_err *err);
/* A string value: pointer into the mapping and its length (not NUL-terminated). */
bool ct_gguf_get_str(const ct_gguf *g, const char *key, const char **s, size_t *len, ct_err *err);
/* An array value (any item type). */
bool ct_gguf_get_arr(const ct_gguf *g, const char *key, ct_gguf_arr *a, ct_err *err);
/* Items of numeric arrays by index (the caller checks a->type): */
int64_t ct_gguf_arr_int(const ct_gguf_arr *a, uint64_t i); /* any integer item type */
double ct_gguf_arr_float(const ct_gguf_arr *a, uint64_t i); /* f32 / f64 */
/* String arrays, in order: *cur starts at a->data; each call gives the next item (pointer + length)
 * and advances *cur. Items were bounds-checked on open. */
const char *ct_gguf_arr_next_str(const ct_gguf_arr *a, const uint8_t **cur, size_t *len);

/* ---- tensors ---- */
size_t ct_gguf_n_tensors(const ct_gguf *g);
const ct_gguf_tensor *ct_gguf_tensor_at(const ct_gguf *g, size_t i);
const ct_gguf_tensor *ct_gguf_tensor_find(const ct_gguf *g, const char *name); /* NULL if absent */
/* Whether ctune can use tensors of ggml type `type` (F32, F16, BF16, Q8_0, Q4_0). */
bool ct_ggml_type_known(uint32_t type);
/* ggml's name of a type number ("Q4_K", ...; "type N" for numbers it does not name). */
const char *ct_ggml_type_label(uint32_t type, char buf[16]);

#endif
