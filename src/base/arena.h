/* Grow-only bump allocator for scratch and activations, so hot loops never call malloc.
 *
 *   size_t mark = ct_arena_mark(a);
 *   float *buf = ct_arena_alloc(a, n * sizeof(float));   // 64-byte aligned
 *   ...
 *   ct_arena_release(a, mark);                              // frees everything since mark
 *
 * Allocations nest like a stack. A request that does not fit in the current block gets its own
 * malloc'd block (the first pass of a new shape); when the arena is released back to empty, the
 * block is re-sized to the largest total ever used, so from then on the same sequence of
 * requests is served without any system allocation. Under AddressSanitizer every allocation is
 * its own block, so an overflow is caught at its source. */
#ifndef CT_BASE_ARENA_H
#define CT_BASE_ARENA_H

#include <stddef.h>

typedef struct ct_arena {
    char *base;         /* main block */
    size_t cap, used;   /* of the main block */
    size_t total, peak; /* bytes handed out now / at most (main block and extras) */
    struct ct_arena_extra *extra; /* overflow blocks, newest first */
} ct_arena;

/* An empty arena is all zero: `ct_arena a = {0};` is ready to use. */
void ct_arena_free(ct_arena *a);
/* size bytes (0 allowed), 64-byte aligned, not zeroed; NULL when memory is exhausted. */
void *ct_arena_alloc(ct_arena *a, size_t size);
/* ct_arena_alloc + memset 0. */
void *ct_arena_calloc(ct_arena *a, size_t size);
size_t ct_arena_mark(const ct_arena *a);
void ct_arena_release(ct_arena *a, size_t mark);

#endif
