/* Bump allocator (see arena.h). A mark is the arena's `total` at the time it was taken. */
#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64

typedef struct ct_arena_extra {
    struct ct_arena_extra *next;
    size_t mark;  /* a->total before this block was handed out */
    size_t used;  /* main-block bytes in use at that time */
} extra_hdr;

static size_t round_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

void ct_arena_free(ct_arena *a) {
    ct_arena_release(a, 0);
    free(a->base);
    memset(a, 0, sizeof *a);
}

void *ct_arena_alloc(ct_arena *a, size_t size) {
    size_t n = round_up(size ? size : 1);
    void *p;
#ifndef __SANITIZE_ADDRESS__
    if (a->used + n <= a->cap) {
        p = a->base + a->used;
        a->used += n;
    } else
#endif
    {
        extra_hdr *h = aligned_alloc(ARENA_ALIGN, ARENA_ALIGN + n);
        if (!h) return NULL;
        h->mark = a->total;
        h->used = a->used;
        h->next = a->extra;
        a->extra = h;
        p = (char *)h + ARENA_ALIGN;
    }
    a->total += n;
    if (a->total > a->peak) a->peak = a->total;
    return p;
}

void *ct_arena_calloc(ct_arena *a, size_t size) {
    void *p = ct_arena_alloc(a, size);
    if (p) memset(p, 0, size);
    return p;
}

size_t ct_arena_mark(const ct_arena *a) { return a->total; }

void ct_arena_release(ct_arena *a, size_t mark) {
    if (mark >= a->total) return;
    /* Main-block bytes in use at `mark`: every byte handed out after it came from the main
     * block, except the extra blocks allocated since; the oldest of those recorded the main
     * block's use when it was made (and everything between `mark` and it is main-block). */
    size_t used = a->used - (a->total - mark);
    while (a->extra && a->extra->mark >= mark) {
        extra_hdr *h = a->extra;
        a->extra = h->next;
        used = h->used - (h->mark - mark);
        free(h);
    }
    a->used = used;
    a->total = mark;
#ifndef __SANITIZE_ADDRESS__
    if (mark == 0 && a->peak > a->cap) { /* one block that serves the whole pattern next time */
        free(a->base);
        a->base = aligned_alloc(ARENA_ALIGN, a->peak);
        a->cap = a->base ? a->peak : 0;
    }
#endif
}
