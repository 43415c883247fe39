/* A small protocol-buffers wire-format writer (no library, no schema compiler), for the
 * messages ctune emits itself (W&B records, src/train/wandb_record.c).
 *
 * Wire format (protobuf.dev/programming-guides/encoding): a message is a sequence of fields,
 * each a key varint (field_number << 3 | wire_type) then the value:
 *   wire 0 VARINT  int32/int64/uint32/uint64/bool/enum (negative ints as 10-byte two's complement)
 *   wire 1 I64     double / fixed64, 8 bytes little-endian
 *   wire 2 LEN     string / bytes / embedded message: varint length, then the bytes
 *   wire 5 I32     float / fixed32, 4 bytes little-endian
 * proto3 leaves fields at their default (0, "", false) out; these helpers do the same for
 * scalars and strings (the *_always variants write anyway). Embedded messages are written in
 * place: ct_pb_begin writes the key and remembers the offset, ct_pb_end inserts the minimal
 * length varint once the body is known.
 *
 *   ct_pbuf b = {0};
 *   size_t m = ct_pb_begin(&b, 17);        // Record.run
 *   ct_pb_string(&b, 1, "abc123");         //   RunRecord.run_id
 *   ct_pb_end(&b, m);
 *   if (b.oom) ...;  use b.p[0..b.n);  ct_pbuf_free(&b);
 */
#ifndef CT_IO_PBUF_H
#define CT_IO_PBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ct_pbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom; /* an allocation failed: the content is incomplete */
} ct_pbuf;

enum { CT_PB_VARINT = 0, CT_PB_I64 = 1, CT_PB_LEN = 2, CT_PB_I32 = 5 };

void ct_pbuf_free(ct_pbuf *b);
void ct_pb_raw(ct_pbuf *b, const void *data, size_t n);
void ct_pb_varint(ct_pbuf *b, uint64_t v);
void ct_pb_key(ct_pbuf *b, uint32_t field, int wire);
/* Scalars (skipped when 0 / false). */
void ct_pb_uint(ct_pbuf *b, uint32_t field, uint64_t v);
void ct_pb_int(ct_pbuf *b, uint32_t field, int64_t v);
void ct_pb_bool(ct_pbuf *b, uint32_t field, bool v);
void ct_pb_double(ct_pbuf *b, uint32_t field, double v);
/* Strings (skipped when NULL or ""; ct_pb_string_always writes "" too, for repeated fields). */
void ct_pb_string(ct_pbuf *b, uint32_t field, const char *s);
void ct_pb_string_always(ct_pbuf *b, uint32_t field, const char *s);
void ct_pb_bytes(ct_pbuf *b, uint32_t field, const void *data, size_t n);
/* Embedded message: returns a mark for ct_pb_end (an empty message still writes key + 0). */
size_t ct_pb_begin(ct_pbuf *b, uint32_t field);
void ct_pb_end(ct_pbuf *b, size_t mark);
/* google.protobuf.Timestamp {int64 seconds = 1; int32 nanos = 2} from Unix seconds. */
void ct_pb_timestamp(ct_pbuf *b, uint32_t field, double unix_s);

#endif
