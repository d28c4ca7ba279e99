/* ops_pool.c - max and average pooling with padded windows. */
#include <float.h>
#include <string.h>

#include "tgsage/ops.h"

tg_status tg_pool_shape_init(tg_pool_shape *s, int n, int c, int h, int w,
                             int k, int stride, tg_error *err) {
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
        return tg_error_set(err, TG_ERR_SHAPE, "pool: empty input %dx%dx%dx%d",
                            n, c, h, w);
    if (k <= 0 || k % 2 == 0 || stride <= 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "pool: window %d and stride %d: the window must be "
                            "odd and both positive",
                            k, stride);
    s->n = n, s->c = c, s->h = h, s->w = w;
    s->k = k, s->stride = stride, s->pad = k / 2;
    s->oh = (h + 2 * s->pad - k) / stride + 1;
    s->ow = (w + 2 * s->pad - k) / stride + 1;
    return TG_OK;
}

void tg_maxpool_forward(const tg_pool_shape *s, const float *x, float *y,
                        int32_t *argmax) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < s->n; b++)
        for (int ch = 0; ch < s->c; ch++) {
            const float *p = x + ((size_t)b * s->c + ch) * s->h * s->w;
            size_t o = ((size_t)b * s->c + ch) * s->oh * s->ow;
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    float best = -FLT_MAX;
                    int arg = -1;
                    for (int i = 0; i < s->k; i++) {
                        int iy = oy * s->stride - s->pad + i;
                        if (iy < 0 || iy >= s->h) continue;
                        for (int j = 0; j < s->k; j++) {
                            int ix = ox * s->stride - s->pad + j;
                            if (ix < 0 || ix >= s->w) continue;
                            float v = p[iy * s->w + ix];
                            /* first maximum wins, as PyTorch; NaN propagates */
                            if (arg < 0 || v > best || (v != v && best == best)) {
                                best = v;
                                arg = iy * s->w + ix;
                            }
                        }
                    }
                    y[o + oy * s->ow + ox] = best;
                    argmax[o + oy * s->ow + ox] = arg;
                }
        }
}

void tg_maxpool_backward(const tg_pool_shape *s, const int32_t *argmax,
                         const float *dy, float *dx, int acc) {
    size_t plane = (size_t)s->h * s->w, oplane = (size_t)s->oh * s->ow;
    if (!acc) memset(dx, 0, sizeof(float) * s->n * s->c * plane);
    /* windows overlap, so one thread owns each plane */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < s->n * s->c; i++)
        for (size_t q = 0; q < oplane; q++)
            dx[i * plane + argmax[i * oplane + q]] += dy[i * oplane + q];
}

/* number of window positions inside the image along one axis */
static int window_count(int o, int stride, int pad, int k, int size) {
    int lo = o * stride - pad, hi = lo + k;
    if (lo < 0) lo = 0;
    if (hi > size) hi = size;
    return hi - lo;
}

void tg_avgpool_forward(const tg_pool_shape *s, const float *x, float *y) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < s->n; b++)
        for (int ch = 0; ch < s->c; ch++) {
            const float *p = x + ((size_t)b * s->c + ch) * s->h * s->w;
            float *q = y + ((size_t)b * s->c + ch) * s->oh * s->ow;
            for (int oy = 0; oy < s->oh; oy++) {
                int cy = window_count(oy, s->stride, s->pad, s->k, s->h);
                for (int ox = 0; ox < s->ow; ox++) {
                    int cx = window_count(ox, s->stride, s->pad, s->k, s->w);
                    float sum = 0;
                    for (int i = 0; i < s->k; i++) {
                        int iy = oy * s->stride - s->pad + i;
                        if (iy < 0 || iy >= s->h) continue;
                        for (int j = 0; j < s->k; j++) {
                            int ix = ox * s->stride - s->pad + j;
                            if (ix >= 0 && ix < s->w) sum += p[iy * s->w + ix];
                        }
                    }
                    q[oy * s->ow + ox] = sum / (float)(cy * cx);
                }
            }
        }
}

void tg_avgpool_backward(const tg_pool_shape *s, const float *dy, float *dx,
                         int acc) {
    size_t plane = (size_t)s->h * s->w;
    if (!acc) memset(dx, 0, sizeof(float) * s->n * s->c * plane);
#pragma omp parallel for schedule(static)
    for (int pi = 0; pi < s->n * s->c; pi++) {
        const float *g = dy + (size_t)pi * s->oh * s->ow;
        float *d = dx + (size_t)pi * plane;
        for (int oy = 0; oy < s->oh; oy++) {
            int cy = window_count(oy, s->stride, s->pad, s->k, s->h);
            for (int ox = 0; ox < s->ow; ox++) {
                int cx = window_count(ox, s->stride, s->pad, s->k, s->w);
                float v = g[oy * s->ow + ox] / (float)(cy * cx);
                for (int i = 0; i < s->k; i++) {
                    int iy = oy * s->stride - s->pad + i;
                    if (iy < 0 || iy >= s->h) continue;
                    for (int j = 0; j < s->k; j++) {
                        int ix = ox * s->stride - s->pad + j;
                        if (ix >= 0 && ix < s->w) d[iy * s->w + ix] += v;
                    }
                }
            }
        }
    }
}
