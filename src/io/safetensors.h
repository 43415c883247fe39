/* safetensors reader: memory-maps one file or a sharded set (model.safetensors.index.json) and
 * hands out ct_tensor views in the stored dtype (nothing is converted wholesale).
 * Format: u64 LE header length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets":
 * [begin, end]}, "__metadata__": {str: str}}, then the data buffer. Everything is validated on
 * open (header size, JSON, dtype names, shape * dtype size == byte range, offsets inside the
 * buffer, no overlaps or holes, no duplicate names); errors name the file and the tensor. */
#ifndef CT_IO_SAFETENSORS_H
#define CT_IO_SAFETENSORS_H

#include <stddef.h>

#include "ctune/err.h"
#include "ctune/tensor.h"

#define CT_ST_MAX_HEADER 100000000ull

typedef struct ct_st ct_st;

/* Opens one .safetensors file. */
ct_status ct_st_open(const char *path, ct_st **out, ct_err *err);
/* Opens the weights of a Hugging Face model directory: DIR/model.safetensors.index.json (sharded,
 * every tensor of weight_map must be in the named shard and no tensor in two shards) or else
 * DIR/model.safetensors. */
ct_status ct_st_open_dir(const char *dir, ct_st **out, ct_err *err);
void ct_st_close(ct_st *st);

/* View of tensor `name` (NULL if absent). Valid until ct_st_close. Data is aligned for its dtype
 * (tensors at unaligned offsets are copied once at open). */
const ct_tensor *ct_st_get(const ct_st *st, const char *name);
/* Path of the file that holds `name` (NULL if absent); for error messages. */
const char *ct_st_file_of(const ct_st *st, const char *name);
/* Tensors in name order. */
size_t ct_st_count(const ct_st *st);
const char *ct_st_name(const ct_st *st, size_t i);
/* Value of "__metadata__"[key] of the first file holding metadata (NULL if absent). */
const char *ct_st_metadata(const ct_st *st, const char *key);

#endif
