/* ctune — seeded random numbers: xoshiro256** (Blackman & Vigna), its state seeded with four
 * splitmix64 outputs. Used for sampling (ct_gen_sample) and anything else that draws a sequence;
 * the same seed gives the same numbers on every machine (not PyTorch's numbers). */
#ifndef CTUNE_RNG_H
#define CTUNE_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_rng {
    uint64_t s[4];
} ct_rng;

/* s[0..3] = the first four splitmix64 outputs of state `seed`. */
void ct_rng_seed(ct_rng *r, uint64_t seed);
uint64_t ct_rng_u64(ct_rng *r);
/* [0, 1) with 53 random bits. */
double ct_rng_f64(ct_rng *r);

#ifdef __cplusplus
}
#endif
#endif
