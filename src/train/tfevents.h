/* TensorBoard event file writer (from scratch, no protobuf library).
 * File = records; record = u64 LE length | u32 LE masked CRC-32C(length bytes) | data |
 * u32 LE masked CRC-32C(data); mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8.
 * data = serialized tensorflow.Event:
 *   wall_time (1, double) | step (2, int64 varint) | file_version (3, string) | summary (5) ,
 *   Summary { repeated Value value = 1 }, Value { string tag = 1; float simple_value = 2 }.
 * The first record is {wall_time, file_version: "brain.Event:2"}; proto3 omits zero steps.
 * File name: events.out.tfevents.<%010d wall_time>.<hostname>.<pid>.0 (as torch's writer). */
#ifndef CT_TRAIN_TFEVENTS_H
#define CT_TRAIN_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

typedef struct ct_tfevents ct_tfevents;

/* wall_time <= 0: now; host NULL: gethostname(). Creates log_dir. */
ct_status ct_tfevents_open(ct_tfevents **w, const char *log_dir, double wall_time, const char *host,
                           ct_err *err);
/* wall_time <= 0: now. Flushed on every call (a crash loses at most the record being written). */
ct_status ct_tfevents_scalar(ct_tfevents *w, const char *tag, int64_t step, float value, double wall_time,
                             ct_err *err);
const char *ct_tfevents_path(const ct_tfevents *w);
void ct_tfevents_close(ct_tfevents *w);

/* Encoders (exposed for tests): return bytes written, or 0 if cap is too small. */
size_t ct_tfevents_encode_scalar_event(uint8_t *buf, size_t cap, double wall_time, int64_t step,
                                       const char *tag, float value);
size_t ct_tfevents_encode_version_event(uint8_t *buf, size_t cap, double wall_time);
size_t ct_tfevents_frame(uint8_t *out, size_t cap, const uint8_t *data, size_t n);

#endif
