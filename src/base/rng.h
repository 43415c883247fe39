/* The library's random numbers, one definition (see include/ctune/rng.h for the sequential
 * xoshiro256** generator):
 *  - splitmix64: a sequential 64-bit stream (ct_splitmix64) whose output function ct_rng_mix also
 *    hashes counters;
 *  - counter-based draws ct_rng_uniform / ct_rng_normal of (seed, stream, index), a pure function
 *    of their arguments: a recomputed forward (activation checkpointing) draws exactly the same
 *    dropout mask, any element can be drawn in parallel, and resuming needs only the counters.
 * Every seeded choice in ctune (init, dropout, data order, splits, mixing, sampling, synthetic
 * data) goes through these, so a seed reproduces a run bit for bit. */
#ifndef CT_BASE_RNG_H
#define CT_BASE_RNG_H

#include <math.h>
#include <stdint.h>

#include "ctune/rng.h"

#define CT_RNG_GOLDEN 0x9e3779b97f4a7c15ull /* 2^64 / golden ratio: splitmix64's increment */

/* splitmix64 output function of z + golden (the finaliser of Steele et al.). */
static inline uint64_t ct_rng_mix(uint64_t z) {
    z += CT_RNG_GOLDEN;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Next output of the splitmix64 stream with state *s. */
static inline uint64_t ct_splitmix64(uint64_t *s) {
    uint64_t z = *s;
    *s += CT_RNG_GOLDEN;
    return ct_rng_mix(z);
}
/* 53 high bits of u as a double in [0, 1). */
static inline double ct_rng_unit(uint64_t u) { return (double)(u >> 11) * (1.0 / 9007199254740992.0); }
/* Uniform in [0, 1) for (seed, stream, index). */
static inline double ct_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return ct_rng_unit(ct_rng_mix(seed ^ ct_rng_mix(stream ^ ct_rng_mix(index))));
}
/* Standard normal (Box-Muller on two counter draws). */
static inline double ct_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
    double u1 = ct_rng_uniform(seed, stream, 2 * index), u2 = ct_rng_uniform(seed, stream, 2 * index + 1);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
