/* safetensors writer.
 * Layout written (same bytes as the Rust `safetensors` crate's serialize, which PyTorch's
 * safetensors.torch.save_file and PEFT/transformers use):
 *   u64 LE header length N | N bytes of compact JSON | tensor data, C order, little endian.
 * Header: {"__metadata__":{...}} first (when given), then one entry per tensor in data order,
 * `{"dtype":"F32","shape":[..],"data_offsets":[b,e]}` (serde_json compact, non-ASCII kept raw).
 * Order: tensors sorted by dtype alignment, largest first (U64 I64 F64 U32 F32 I32 BF16 F16 ...
 * exactly the crate's enum order reversed), then by name (byte order). The header is padded
 * with spaces to a multiple of 8 so every tensor's data is 8-byte aligned in the file.
 * Files are written atomically (temp + fsync + rename); tensors stream to disk one at a time,
 * converting float dtypes on the fly (e.g. fp32 master weights -> BF16, round-to-nearest-even). */
#ifndef CT_IO_ST_WRITER_H
#define CT_IO_ST_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/tensor.h"

typedef struct ct_st_item {
    const char *name;
    ct_tensor src;  /* data, shape and dtype as held in memory */
    ct_dtype dtype; /* dtype stored in the file; != src.dtype converts (float dtypes only) */
} ct_st_item;

/* Convenience: a stored-as-is item. */
static inline ct_st_item ct_st_item_of(const char *name, ct_tensor t) {
    ct_st_item it = {name, t, t.dtype};
    return it;
}

/* `meta` is NULL (no __metadata__) or a NULL-terminated list of key, value strings.
 * CT_ST_META_PT is {"format": "pt"}, what PEFT/transformers write. */
extern const char *const CT_ST_META_PT[];

/* Writes `path` atomically. Errors name the path and the offending tensor. */
ct_status ct_st_write(const char *path, const ct_st_item *items, size_t n, const char *const *meta,
                      ct_err *err);
/* Serialises into a malloc'd buffer (small files, tests). */
ct_status ct_st_serialize(const ct_st_item *items, size_t n, const char *const *meta,
                          uint8_t **out, size_t *out_len, ct_err *err);
/* Total size of the file that ct_st_write would produce. */
ct_status ct_st_file_size(const ct_st_item *items, size_t n, const char *const *meta,
                          uint64_t *size, ct_err *err);
/* Bytes of tensor data for one item in its stored dtype. */
size_t ct_st_item_nbytes(const ct_st_item *it);

#endif
