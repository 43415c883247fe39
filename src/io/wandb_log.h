/* The W&B transaction log (`run-<id>.wandb`) framing, as wandb writes it (wandb/sdk/internal/
 * datastore.py; core/pkg/leveldb/record.go + core/internal/transactionlog/writer.go):
 *
 *   file   = header block*
 *   header = ":W&B" | u16 LE magic 0xBEE1 | u8 version 0            (7 bytes)
 *   The file is cut into 32 KiB blocks counted from offset 0 (the header sits in the first).
 *   A record (one serialized wandb_internal.Record) is written as chunks that never cross a
 *   block boundary:
 *     chunk = u32 LE crc | u16 LE length | u8 type | payload[length]
 *     type  = 1 FULL (the whole record) | 2 FIRST | 3 MIDDLE | 4 LAST
 *     crc   = CRC-32 (zlib.crc32, unmasked) of the type byte followed by the payload
 *   When fewer than 7 bytes are left in a block, they are zero-filled and the record starts in
 *   the next block. (LevelDB's own log uses masked CRC-32C; W&B's uses plain CRC-32 —
 *   transactionlog opens its reader and writer with CRCAlgoIEEE.) */
#ifndef CT_IO_WANDB_LOG_H
#define CT_IO_WANDB_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

#define CT_WANDB_LOG_BLOCK 32768
#define CT_WANDB_LOG_HEADER 7

typedef struct ct_wandb_log ct_wandb_log;

/* Creates `path` (an existing file is an error, as wandb's O_EXCL) and writes the header. */
ct_status ct_wandb_log_open(ct_wandb_log **out, const char *path, ct_err *err);
/* Appends one record and flushes it to the file. */
ct_status ct_wandb_log_write(ct_wandb_log *w, const void *data, size_t n, ct_err *err);
const char *ct_wandb_log_path(const ct_wandb_log *w);
void ct_wandb_log_close(ct_wandb_log *w);

/* Pure framing (for tests): the bytes that write() appends for an n-byte record when the file
 * is `offset` bytes long (padding included). Returns the count, or 0 when cap is too small
 * (ct_wandb_log_framed_size(offset, n) bytes are always enough). */
size_t ct_wandb_log_frame(uint8_t *out, size_t cap, uint64_t offset, const void *data, size_t n);
size_t ct_wandb_log_framed_size(uint64_t offset, size_t n);
void ct_wandb_log_header(uint8_t out[CT_WANDB_LOG_HEADER]);

#endif
