/* rng.h - the one seeded random number generator, owned by the caller.
 *
 * xoshiro256** seeded through splitmix64: the same seed gives the same
 * stream on every machine. There is no global generator.
 *
 * One user seed feeds several consumers (the weights, each epoch's order,
 * each example's augmentation, each observed layer's subsample). Those that
 * share it take their generators from tg_rng_derive(seed, TG_STREAM_...),
 * never from arithmetic on the seed: with seed ^ k or seed + l, nearby
 * seeds of one consumer draw another consumer's numbers. */
#ifndef TGSAGE_RNG_H
#define TGSAGE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} tg_rng;

/* The consumers of a user seed, one stream each. A consumer that needs a
 * generator per item derives again from its own stream,
 *     tg_rng_derive(tg_rng_derive(seed, TG_STREAM_OBSERVE), layer),
 * and never adds the item to the stream (OBSERVE + 1 is REGIONS). 0 is no
 * consumer's. Changing a value changes every stream drawn from it. */
enum {
    TG_STREAM_SPLIT = 1,   /* data/dataset.c: the held-out validation set */
    TG_STREAM_ORDER = 2,   /* data/loader.c: the order of each epoch (then: epoch) */
    TG_STREAM_AUGMENT = 3, /* data/loader.c: crop and flip (then: epoch, example) */
    TG_STREAM_OBSERVE = 4, /* evaluator/observe.c: a layer's feature subsample (then: layer) */
    TG_STREAM_REGIONS = 5, /* rsa/teacher_recordings.c: a recorded region's subsample (then: region) */
    TG_STREAM_RL_INIT = 6  /* explorer/rl.c: the controller's initial weights */
};

void tg_rng_seed(tg_rng *r, uint64_t seed);
/* A seed for consumer `stream` of `seed`:
 *     mix13(mix13(seed ^ K1) ^ fmix64(stream ^ K2))
 * with mix13 splitmix64's output function, fmix64 MurmurHash3's finaliser
 * (two different bijections of 64-bit words, each input bit reaching every
 * output bit) and K1, K2 the first two 64-bit words of pi's fraction.
 * For a fixed seed distinct streams give distinct results, and for a fixed
 * stream distinct seeds do (every step is a bijection); nearby seeds or
 * streams give unrelated generators; (a, b) and (b, a) differ. */
uint64_t tg_rng_derive(uint64_t seed, uint64_t stream);
uint64_t tg_rng_u64(tg_rng *r);
/* uniform in [0, 1) with 24 random bits (float) / 53 bits (double) */
float tg_rng_uniform(tg_rng *r);
double tg_rng_uniform_d(tg_rng *r);
/* uniform integer in [0, n), n > 0, without modulo bias */
uint64_t tg_rng_below(tg_rng *r, uint64_t n);
/* standard normal (Box-Muller, no cached second value: the stream does not
 * depend on how many normals were drawn before in pairs) */
float tg_rng_normal(tg_rng *r);
/* Fisher-Yates shuffle of n int32: every order equally likely. */
void tg_rng_shuffle_i32(tg_rng *r, int32_t *a, int64_t n);
/* The first k steps of that shuffle (0 <= k <= n), which fill the array
 * from its end: a[n-k..n) is then a uniformly random k-subset of a in
 * uniformly random order and a[0..n-k) the other elements. With the same
 * generator state the tail equals the tail of a full shuffle, which is
 * this with k = n. */
void tg_rng_shuffle_partial_i32(tg_rng *r, int32_t *a, int64_t n, int64_t k);

#endif
