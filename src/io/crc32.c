#include "io/crc32.h"

#include <pthread.h>

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        table[i] = c;
    }
}

/* Byte-at-a-time: the records it checks are small (metrics rows of the W&B log). */
uint32_t ct_crc32_update(uint32_t crc, const void *data, size_t n) {
    pthread_once(&table_once, init_table);
    const unsigned char *p = data;
    crc = ~crc;
    while (n--) crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
    return ~crc;
}
