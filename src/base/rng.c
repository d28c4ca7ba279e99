/* rng.c - xoshiro256** (Blackman & Vigna) with splitmix64 seeding, the
 * derivation of per-consumer seeds, and the Fisher-Yates shuffle. */
#include "tgsage/rng.h"

#include <math.h>

#define GOLDEN 0x9e3779b97f4a7c15ULL /* splitmix64's increment: 2^64 / phi */
#define PI_1 0x243f6a8885a308d3ULL   /* pi's fraction, first 64 bits */
#define PI_2 0x13198a2e03707344ULL   /* and the next 64 */

/* splitmix64's output function (Stafford's Mix13) */
static uint64_t mix13(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* MurmurHash3's 64-bit finaliser: another bijection, other constants, so
 * that the seed and the stream are not mixed alike */
static uint64_t fmix64(uint64_t z) {
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdULL;
    z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ULL;
    return z ^ (z >> 33);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void tg_rng_seed(tg_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = mix13(seed += GOLDEN);
}

uint64_t tg_rng_derive(uint64_t seed, uint64_t stream) {
    /* the outer mix13 hides the xor: without it two streams of one seed
     * would differ by the same word whatever the seed */
    return mix13(mix13(seed ^ PI_1) ^ fmix64(stream ^ PI_2));
}

uint64_t tg_rng_u64(tg_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float tg_rng_uniform(tg_rng *r) { return (float)(tg_rng_u64(r) >> 40) * 0x1.0p-24f; }

double tg_rng_uniform_d(tg_rng *r) { return (double)(tg_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t tg_rng_below(tg_rng *r, uint64_t n) {
    /* rejection on the top of the range keeps every value equally likely */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = tg_rng_u64(r);
    while (x >= lim);
    return x % n;
}

float tg_rng_normal(tg_rng *r) {
    double u1 = 1.0 - tg_rng_uniform_d(r);  /* (0, 1]: log is finite */
    double u2 = tg_rng_uniform_d(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void tg_rng_shuffle_partial_i32(tg_rng *r, int32_t *a, int64_t n, int64_t k) {
    /* step i puts a uniform choice among a[0..i] at i; the step at i = 0
     * would choose among one and is skipped, so k = n - 1 and k = n agree */
    for (int64_t i = n - 1; i >= n - k && i > 0; i--) {
        int64_t j = (int64_t)tg_rng_below(r, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void tg_rng_shuffle_i32(tg_rng *r, int32_t *a, int64_t n) {
    tg_rng_shuffle_partial_i32(r, a, n, n);
}
