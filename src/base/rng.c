/* xoshiro256** seeded through splitmix64 (include/ctune/rng.h). */
#include "base/rng.h"

void ct_rng_seed(ct_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = ct_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ct_rng_u64(ct_rng *r) {
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double ct_rng_f64(ct_rng *r) { return ct_rng_unit(ct_rng_u64(r)); }
