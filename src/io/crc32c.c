#include "io/crc32c.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
        table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

/* Slicing-by-8 over little-endian words; byte loop for the tail. */
uint32_t ct_crc32c_update(uint32_t crc, const void *data, size_t n) {
    pthread_once(&table_once, init_table);
    const unsigned char *p = data;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^
              table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

ct_status ct_crc32c_file(const char *path, uint32_t *crc, uint64_t *size, ct_err *err) {
    FILE *f;
    ct_status s = ct_open_read(path, &f, err); /* a regular file: a FIFO would block the verify */
    if (s) return s;
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", path);
    }
    uint32_t c = 0;
    uint64_t total = 0;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        c = ct_crc32c_update(c, buf, got);
        total += got;
    }
    int bad = ferror(f), e = errno;
    fclose(f);
    free(buf);
    if (bad) return ct_err_set(err, CT_ERR_IO, "%s: read error after %llu bytes: %s", path, (unsigned long long)total,
                               strerror(e));
    *crc = c;
    if (size) *size = total;
    return CT_OK;
}
