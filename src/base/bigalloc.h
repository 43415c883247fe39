/* Large, long-lived buffers that decode streams every token (weights made in memory: quantized on
 * load). Like the weight mmaps (ct_mmap_open), they ask for 2 MiB transparent huge pages: reads
 * through 4 KiB pages run at ~60 % of the read bandwidth on the bench machine (docs/perf.md).
 * Only a hint; contents and results never depend on it. */
#ifndef CT_BASE_BIGALLOC_H
#define CT_BASE_BIGALLOC_H

#include <stddef.h>

/* size bytes, 64-byte aligned (2 MiB aligned from 2 MiB up), not zeroed; NULL when memory is
 * exhausted. Freed with free(). */
void *ct_big_alloc(size_t size);

#endif
