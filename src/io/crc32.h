/* CRC-32 (ISO-HDLC / zlib.crc32: reflected polynomial 0xEDB88320, init and final xor ~0), as
 * used by the W&B transaction log (.wandb chunk checksums: crc32 of the chunk type byte followed
 * by its payload, unmasked). ct_crc32_update chains like zlib.crc32(data, crc). */
#ifndef CT_IO_CRC32_H
#define CT_IO_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t ct_crc32_update(uint32_t crc, const void *data, size_t n);
static inline uint32_t ct_crc32(const void *data, size_t n) { return ct_crc32_update(0, data, n); }

#endif
