/* ops_bn_blocked.c - batch normalisation of channel-blocked tensors.
 *
 * The layout is oneDNN's nChw<B>c (B = 8 or 16, c a multiple of B):
 * element (b, ch, p) of an (n, c, hw) batch lives at
 * ((b * c/B + ch/B) * hw + p) * B + ch % B, so the B channels of one block
 * sit side by side at each position and one vector holds them. A network
 * whose convolutions run blocked keeps its BN there too (net.c), which
 * spares a reorder before and after every convolution.
 *
 * The statistics follow ops_bn.c: per (image, block) float sums, each lane
 * over the positions in four interleaved accumulators (position p into
 * accumulator p % 4, folded (0 + 2) + (1 + 3), the rest added in order),
 * then across images in double, two passes for the variance. A lane's
 * arithmetic does not depend on B, so nChw8c and nChw16c give the same
 * bits. The per-image partial sums go to the caller's scratch
 * (tg_bn_blocked_scratch_floats): the work is split over (image, block)
 * pairs, so a 16-channel layer, one block, still uses every thread. */
#include <math.h>
#include <string.h>

#include "tgsage/ops.h"

/* eight floats (one AVX2 register); a block is J = B / 8 of them */
typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
typedef int iv8 __attribute__((vector_size(8 * sizeof(int))));

/* through memcpy: unaligned, and no vector argument or return value
 * (-Wpsabi) */
#define LD(v, p) memcpy(&(v), (p), sizeof(v8))
#define ST(p, v) memcpy((p), &(v), sizeof(v8))

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* One position's term of block_sums into *a (and *b): x, (x - m)^2, or g
 * and g * (x - m) with g = dy masked by q > 0 (relu). */
ALWAYS_INLINE void add_term(const float *x, const float *dy, const float *q, int relu,
                            size_t o, const v8 *mv, int what, v8 *a, v8 *b) {
    v8 v, zero = {0};
    LD(v, x + o);
    if (what == 0) {
        *a += v;
        return;
    }
    v -= *mv;
    if (what == 1) {
        *a += v * v;
    } else {
        v8 g, y;
        LD(g, dy + o);
        if (relu) {
            LD(y, q + o);
            g = (v8)((iv8)g & (y > zero));
        }
        *a += g;
        *b += g * v;
    }
}

/* out[l] = sum over p of the terms of x[p*B + l] (add_term; what: 0 sum,
 * 1 squared deviation from m, 2 the gradient sums into out and out2), in
 * four accumulators per lane. */
ALWAYS_INLINE void block_sums(const float *x, const float *dy, const float *q, int relu,
                              int hw, const int J, const float *m, int what, float *out,
                              float *out2) {
    for (int j = 0; j < J; j++) {
        v8 a[4] = {{0}}, b[4] = {{0}}, mv = {0};
        if (m) LD(mv, m + 8 * j);
        int p = 0;
        for (; p + 4 <= hw; p += 4)
            for (int k = 0; k < 4; k++)
                add_term(x, dy, q, relu, ((size_t)(p + k) * J + j) * 8, &mv, what, &a[k], &b[k]);
        v8 r = (a[0] + a[2]) + (a[1] + a[3]), r2 = (b[0] + b[2]) + (b[1] + b[3]);
        for (; p < hw; p++) add_term(x, dy, q, relu, ((size_t)p * J + j) * 8, &mv, what, &r, &r2);
        ST(out + 8 * j, r);
        if (what == 2) ST(out2 + 8 * j, r2);
    }
}

/* Per (image, block) sums of every image into part (n, c) [and part2]. */
static void all_sums(const tg_bn_shape *s, int blk, const float *x, const float *dy,
                     const float *q, int relu, const float *m, int what, float *part,
                     float *part2) {
    const int n = s->n, c = s->c, hw = s->hw, nb = c / blk;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nb; cb++) {
            const size_t off = ((size_t)b * nb + cb) * hw * blk, po = (size_t)b * c + cb * blk;
            const float *mm = m ? m + cb * blk : NULL;
            float *o2 = part2 ? part2 + po : NULL;
            if (blk == 16)
                block_sums(x + off, dy ? dy + off : NULL, q ? q + off : NULL, relu, hw, 2, mm,
                           what, part + po, o2);
            else
                block_sums(x + off, dy ? dy + off : NULL, q ? q + off : NULL, relu, hw, 1, mm,
                           what, part + po, o2);
        }
}

/* sum over images of part (n, c), channel ch, in double */
static double over_images(const float *part, int n, int c, int ch) {
    double r = 0;
    for (int b = 0; b < n; b++) r += part[(size_t)b * c + ch];
    return r;
}

/* y = a * x + bb per channel (a, bb of c), plus skip if not NULL, with the
 * ReLU if asked */
static void affine(const tg_bn_shape *s, int blk, const float *x, const float *a,
                   const float *bb, const float *skip, float *y, int relu) {
    const int n = s->n, c = s->c, hw = s->hw, nb = c / blk, J = blk / 8;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nb; cb++) {
            const size_t off = ((size_t)b * nb + cb) * hw * blk;
            for (int j = 0; j < J; j++) {
                v8 av, bv, zero = {0};
                LD(av, a + cb * blk + 8 * j);
                LD(bv, bb + cb * blk + 8 * j);
                for (int p = 0; p < hw; p++) {
                    const size_t o = off + ((size_t)p * J + j) * 8;
                    v8 v;
                    LD(v, x + o);
                    v = av * v + bv;
                    if (skip) {
                        v8 r;
                        LD(r, skip + o);
                        v += r;
                    }
                    if (relu) v = (v8)((iv8)v & ((v >= zero) | (v != v)));  /* NaN passes */
                    ST(y + o, v);
                }
            }
        }
}

size_t tg_bn_blocked_scratch_floats(const tg_bn_shape *s) {
    return 2 * (size_t)s->n * s->c + 2 * (size_t)s->c;
}

void tg_bn_blocked_forward_train(const tg_bn_shape *s, int blk, const float *x,
                                 const float *gamma, const float *beta, float *y,
                                 float *save_mean, float *save_invstd, float *run_mean,
                                 float *run_var, const float *skip, int relu,
                                 float *scratch) {
    const int n = s->n, c = s->c;
    const double cnt = (double)n * s->hw;
    float *sum = scratch, *sq = scratch + (size_t)n * c, *a = sq + (size_t)n * c, *bb = a + c;
    all_sums(s, blk, x, NULL, NULL, 0, NULL, 0, sum, NULL);
    for (int ch = 0; ch < c; ch++) save_mean[ch] = (float)(over_images(sum, n, c, ch) / cnt);
    all_sums(s, blk, x, NULL, NULL, 0, save_mean, 1, sq, NULL);
    for (int ch = 0; ch < c; ch++) {
        const double mean = over_images(sum, n, c, ch) / cnt;
        const double var = over_images(sq, n, c, ch) / cnt;
        const double invstd = 1.0 / sqrt(var + s->eps);
        save_invstd[ch] = (float)invstd;
        if (run_mean) {
            double unbiased = cnt > 1 ? var * cnt / (cnt - 1) : var;
            run_mean[ch] = (float)((1 - s->momentum) * run_mean[ch] + s->momentum * mean);
            run_var[ch] = (float)((1 - s->momentum) * run_var[ch] + s->momentum * unbiased);
        }
        a[ch] = (float)(gamma[ch] * invstd);
        bb[ch] = (float)(beta[ch] - mean * gamma[ch] * invstd);
    }
    affine(s, blk, x, a, bb, skip, y, relu);
}

void tg_bn_blocked_forward_eval(const tg_bn_shape *s, int blk, const float *x,
                                const float *gamma, const float *beta, float *y,
                                const float *run_mean, const float *run_var, int relu,
                                float *scratch) {
    float *a = scratch, *bb = scratch + s->c;
    for (int ch = 0; ch < s->c; ch++) {
        float invstd = 1.0f / sqrtf(run_var[ch] + s->eps);
        a[ch] = gamma[ch] * invstd;
        bb[ch] = beta[ch] - run_mean[ch] * a[ch];
    }
    affine(s, blk, x, a, bb, NULL, y, relu);
}

void tg_bn_blocked_backward(const tg_bn_shape *s, int blk, const float *x, const float *gamma,
                            const float *save_mean, const float *save_invstd, const float *y,
                            int relu, const float *dy, float *dx, int acc, float *dgamma,
                            float *dbeta, float *scratch) {
    const int n = s->n, c = s->c, hw = s->hw, nb = c / blk, J = blk / 8;
    const double cnt = (double)n * hw;
    float *pg = scratch, *pgx = scratch + (size_t)n * c;
    float *mgv = pgx + (size_t)n * c, *mgxv = mgv + c;  /* mean(g), mean(g * xhat) */
    all_sums(s, blk, x, dy, y, relu, save_mean, 2, pg, pgx);
    for (int ch = 0; ch < c; ch++) {
        const double sg = over_images(pg, n, c, ch);
        const double sgx = over_images(pgx, n, c, ch) * save_invstd[ch];
        dgamma[ch] = (float)sgx;
        dbeta[ch] = (float)sg;
        mgv[ch] = (float)(sg / cnt);
        mgxv[ch] = (float)(sgx / cnt);
    }
    if (!dx) return;
    /* dx = k * (g - mean(g) - xhat * mean(g * xhat)), k = gamma * invstd */
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nb; cb++) {
            const size_t off = ((size_t)b * nb + cb) * hw * blk;
            for (int j = 0; j < J; j++) {
                const int c0 = cb * blk + 8 * j;
                v8 mv, iv, gm, gxm, kv, zero = {0};
                LD(mv, save_mean + c0);
                LD(iv, save_invstd + c0);
                LD(gm, mgv + c0);
                LD(gxm, mgxv + c0);
                LD(kv, gamma + c0);
                kv *= iv;
                for (int p = 0; p < hw; p++) {
                    const size_t o = off + ((size_t)p * J + j) * 8;
                    v8 g, v, xhat, r;
                    LD(g, dy + o);
                    if (relu) {
                        v8 q;
                        LD(q, y + o);
                        g = (v8)((iv8)g & (q > zero));
                    }
                    LD(v, x + o);
                    xhat = (v - mv) * iv;
                    r = kv * (g - gm - xhat * gxm);
                    if (acc) {
                        v8 d;
                        LD(d, dx + o);
                        r += d;
                    }
                    ST(dx + o, r);
                }
            }
        }
}
