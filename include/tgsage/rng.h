/* rng.h - the one seeded random number generator, owned by the caller.
 *
 * xoshiro256** seeded through splitmix64: the same seed gives the same
 * stream on every machine. There is no global generator. */
#ifndef TGSAGE_RNG_H
#define TGSAGE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} tg_rng;

void tg_rng_seed(tg_rng *r, uint64_t seed);
uint64_t tg_rng_u64(tg_rng *r);
/* uniform in [0, 1) with 24 random bits (float) / 53 bits (double) */
float tg_rng_uniform(tg_rng *r);
double tg_rng_uniform_d(tg_rng *r);
/* uniform integer in [0, n), n > 0, without modulo bias */
uint64_t tg_rng_below(tg_rng *r, uint64_t n);
/* standard normal (Box-Muller, no cached second value: the stream does not
 * depend on how many normals were drawn before in pairs) */
float tg_rng_normal(tg_rng *r);
/* Fisher-Yates shuffle of n int32 */
void tg_rng_shuffle_i32(tg_rng *r, int32_t *a, int64_t n);

#endif
