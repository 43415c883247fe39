/* Large buffers with a huge-page hint (see bigalloc.h). */
#include "base/bigalloc.h"

#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *ct_big_alloc(size_t size) {
    if (size < HUGE_PAGE) return aligned_alloc(64, (size + 63) / 64 * 64);
    size_t n = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, n);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}
