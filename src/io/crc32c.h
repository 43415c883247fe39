/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by TFRecord/tfevents framing
 * and by our checkpoint manifests. ct_crc32c_update chains: crc = update(crc, ...) from 0. */
#ifndef CT_IO_CRC32C_H
#define CT_IO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

uint32_t ct_crc32c_update(uint32_t crc, const void *data, size_t n);
static inline uint32_t ct_crc32c(const void *data, size_t n) { return ct_crc32c_update(0, data, n); }
/* TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
static inline uint32_t ct_crc32c_mask(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
/* CRC-32C of a whole file (streamed). */
ct_status ct_crc32c_file(const char *path, uint32_t *crc, uint64_t *size, ct_err *err);

#endif
