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

/* One output of a window that may cross the border: its valid positions in
 * row-major order, the first maximum winning (as PyTorch; a NaN wins over
 * a number and stays). */
static void max_window(const tg_pool_shape *s, const float *p, int oy, int ox, float *y,
                       int32_t *arg) {
    float best = -FLT_MAX;
    int at = -1;
    for (int i = 0; i < s->k; i++) {
        int iy = oy * s->stride - s->pad + i;
        if (iy < 0 || iy >= s->h) continue;
        for (int j = 0; j < s->k; j++) {
            int ix = ox * s->stride - s->pad + j;
            if (ix < 0 || ix >= s->w) continue;
            float v = p[iy * s->w + ix];
            if (at < 0 || v > best || (v != v && best == best)) {
                best = v;
                at = iy * s->w + ix;
            }
        }
    }
    *y = best;
    *arg = at;
}

/* The columns whose window lies inside the image along x: ox in [lo, hi). */
static void inner_columns(const tg_pool_shape *s, int *lo, int *hi) {
    const int last = s->w - s->k + s->pad;  /* the largest ox * stride that fits */
    *lo = (s->pad + s->stride - 1) / s->stride;
    *hi = last < 0 ? 0 : last / s->stride + 1;
    if (*hi > s->ow) *hi = s->ow;
    if (*lo > *hi) *lo = *hi;
}

#define MAXPOOL_CHUNK 64

/* One output row: the border columns window by window, the inner ones in
 * chunks, position by position across the chunk, in the same order and
 * with the same rule as max_window (so the same results), which the
 * compiler vectorises. */
static void max_row(const tg_pool_shape *s, const float *p, int oy, float *y, int32_t *arg) {
    int lo, hi;
    inner_columns(s, &lo, &hi);
    for (int ox = 0; ox < lo; ox++) max_window(s, p, oy, ox, &y[ox], &arg[ox]);
    for (int ox = hi; ox < s->ow; ox++) max_window(s, p, oy, ox, &y[ox], &arg[ox]);
    int i0 = 0, i1 = s->k, top = oy * s->stride - s->pad;
    if (top < 0) i0 = -top;
    if (top + i1 > s->h) i1 = s->h - top;
    const int st = s->stride, left = -s->pad;
    for (int c0 = lo; c0 < hi; c0 += MAXPOOL_CHUNK) {
        const int m = hi - c0 < MAXPOOL_CHUNK ? hi - c0 : MAXPOOL_CHUNK;
        float best[MAXPOOL_CHUNK];
        int32_t at[MAXPOOL_CHUNK];
        for (int i = i0; i < i1; i++)
            for (int j = 0; j < s->k; j++) {
                const int row = (top + i) * s->w + left + j;
                const float *q = p + row;
                if (i == i0 && j == 0) {
                    for (int t = 0; t < m; t++) {
                        best[t] = q[(c0 + t) * st];
                        at[t] = row + (c0 + t) * st;
                    }
                    continue;
                }
                for (int t = 0; t < m; t++) {
                    const float v = q[(c0 + t) * st];
                    const int take = v > best[t] || (v != v && best[t] == best[t]);
                    best[t] = take ? v : best[t];
                    at[t] = take ? row + (c0 + t) * st : at[t];
                }
            }
        memcpy(y + c0, best, (size_t)m * sizeof(float));
        memcpy(arg + c0, at, (size_t)m * sizeof(int32_t));
    }
}

void tg_maxpool_forward(const tg_pool_shape *s, const float *x, float *y,
                        int32_t *argmax) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < s->n; b++)
        for (int ch = 0; ch < s->c; ch++) {
            const float *p = x + ((size_t)b * s->c + ch) * s->h * s->w;
            size_t o = ((size_t)b * s->c + ch) * s->oh * s->ow;
            for (int oy = 0; oy < s->oh; oy++)
                max_row(s, p, oy, y + o + (size_t)oy * s->ow, argmax + o + (size_t)oy * s->ow);
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
