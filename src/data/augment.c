/* augment.c - random crop of a zero-padded image, flip, standardisation. */
#include "tgsage/loader.h"
#include "tgsage/prep.h"

void tg_augment_image(const tg_dataset *d, int64_t i, const tg_augment *a,
                      tg_rng *r, float *out) {
    const int c = d->c, h = d->h, w = d->w, p = a->pad;
    const size_t plane = (size_t)h * w, size = (size_t)c * plane;
    int dy = p ? (int)tg_rng_below(r, 2 * (uint64_t)p + 1) - p : 0;
    int dx = p ? (int)tg_rng_below(r, 2 * (uint64_t)p + 1) - p : 0;
    int flip = a->flip && (tg_rng_u64(r) >> 63);
    const uint8_t *u = d->u8 ? d->u8 + (size_t)i * size : NULL;
    const float *f = d->f32 ? d->f32 + (size_t)i * size : NULL;
    /* out(y, x) = padded(y + dy, x' + dx) with x' the (flipped) column:
     * positions that fall in the padding are zero pixels */
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++) {
            int sy = y + dy;
            float *o = out + ch * plane + (size_t)y * w;
            for (int x = 0; x < w; x++) {
                int sx = (flip ? w - 1 - x : x) + dx;
                float v = 0;
                if (sy >= 0 && sy < h && sx >= 0 && sx < w) {
                    size_t k = ch * plane + (size_t)sy * w + sx;
                    v = u ? (float)u[k] : f[k];
                }
                o[x] = v;
            }
        }
    tg_standardize_image_f32(out, size, out);
}
