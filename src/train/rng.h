/* Seeded, counter-based random numbers for training (init of LoRA/prompt weights, dropout).
 * Counter-based (a hash of seed + stream + index) so a recomputed forward (activation
 * checkpointing) draws exactly the same dropout mask, and resuming needs only the counters. */
#ifndef CT_TRAIN_RNG_H
#define CT_TRAIN_RNG_H

#include <math.h>
#include <stdint.h>

static inline uint64_t ct_rng_mix(uint64_t z) { /* splitmix64 finaliser */
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Uniform in [0, 1) for (seed, stream, index). */
static inline double ct_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t h = ct_rng_mix(seed ^ ct_rng_mix(stream ^ ct_rng_mix(index)));
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}
/* Standard normal (Box-Muller on two counter draws). */
static inline double ct_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
    double u1 = ct_rng_uniform(seed, stream, 2 * index), u2 = ct_rng_uniform(seed, stream, 2 * index + 1);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
