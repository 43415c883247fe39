/* Shared by the decode tests (test_decode_paths.c, test_quant_infer.c): the greedy choice and a
 * deterministic prompt. */
#ifndef CT_TESTS_DECODE_UTIL_H
#define CT_TESTS_DECODE_UTIL_H

#include <stddef.h>
#include <stdint.h>

static inline int32_t decode_argmax(const float *l, size_t V) {
    size_t b = 0;
    for (size_t j = 1; j < V; j++)
        if (l[j] > l[b]) b = j;
    return (int32_t)b;
}

/* Prompt s: 9 + s % 8 ids below V (> CT_GEMV_MAX_T, so every exact-path forward runs the sgemm
 * rows); returns its length. */
static inline size_t decode_prompt(int32_t *p, int s, size_t V) {
    size_t n = 9 + (size_t)s % 8;
    for (size_t i = 0; i < n; i++) p[i] = (int32_t)((1 + (size_t)s * 31 + i * 7) % V);
    return n;
}

#endif
