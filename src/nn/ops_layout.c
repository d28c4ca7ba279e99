/* ops_layout.c - channel-blocked tensors (oneDNN's nChw<B>c): conversion
 * from and to NCHW, and global average pooling read straight from them.
 *
 * Element (b, ch, p) of an (n, c, hw) batch sits at
 * ((b * c/B + ch/B) * hw + p) * B + ch % B; c is a multiple of B. */
#include "tgsage/ops.h"

void tg_blocked_from_nchw(int n, int c, int hw, int blk, const float *x, float *y) {
    const int nb = c / blk;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nb; cb++) {
            float *o = y + ((size_t)b * nb + cb) * hw * blk;
            for (int l = 0; l < blk; l++) {
                const float *in = x + ((size_t)b * c + cb * blk + l) * hw;
                for (int p = 0; p < hw; p++) o[(size_t)p * blk + l] = in[p];
            }
        }
}

void tg_blocked_to_nchw(int n, int c, int hw, int blk, const float *x, float *y) {
    const int nb = c / blk;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nb; cb++) {
            const float *in = x + ((size_t)b * nb + cb) * hw * blk;
            for (int l = 0; l < blk; l++) {
                float *o = y + ((size_t)b * c + cb * blk + l) * hw;
                for (int p = 0; p < hw; p++) o[p] = in[(size_t)p * blk + l];
            }
        }
}

/* Each channel summed over its positions in order, as tg_gap_forward does:
 * the same bits. */
void tg_gap_blocked_forward(int n, int c, int hw, int blk, const float *x, float *y) {
    const int nb = c / blk;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nb; cb++) {
            const float *in = x + ((size_t)b * nb + cb) * hw * blk;
            float s[TG_MAX_BLOCK] = {0};
            for (int p = 0; p < hw; p++)
                for (int l = 0; l < blk; l++) s[l] += in[(size_t)p * blk + l];
            for (int l = 0; l < blk; l++) y[(size_t)b * c + cb * blk + l] = s[l] / (float)hw;
        }
}

void tg_gap_blocked_backward(int n, int c, int hw, int blk, const float *dy, float *dx,
                             int acc) {
    const int nb = c / blk;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int cb = 0; cb < nb; cb++) {
            float *o = dx + ((size_t)b * nb + cb) * hw * blk;
            float g[TG_MAX_BLOCK];
            for (int l = 0; l < blk; l++) g[l] = dy[(size_t)b * c + cb * blk + l] / (float)hw;
            for (int p = 0; p < hw; p++)
                for (int l = 0; l < blk; l++) {
                    float *d = o + (size_t)p * blk + l;
                    *d = acc ? *d + g[l] : g[l];
                }
        }
}
