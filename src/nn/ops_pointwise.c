/* ops_pointwise.c - ReLU, addition, gradient copies, global average pooling. */
#include <string.h>

#include "tgsage/ops.h"

void tg_relu_forward(size_t n, const float *x, float *y) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0 : x[i];  /* NaN passes, as PyTorch */
}

void tg_relu_backward(size_t n, const float *y, const float *dy, float *dx,
                      int acc) {
    if (acc) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0;
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
    }
}

void tg_add_forward(size_t n, const float *a, const float *b, float *y) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void tg_add_relu_forward(size_t n, const float *a, const float *b, float *y) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        y[i] = v < 0 ? 0 : v;
    }
}

void tg_copy_backward(size_t n, const float *dy, float *dx, int acc) {
    if (!acc) {
        memcpy(dx, dy, n * sizeof(float));
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i];
}

void tg_gap_forward(int n, int c, int hw, const float *x, float *y) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n * c; i++) {
        const float *p = x + (size_t)i * hw;
        float s = 0;
        for (int j = 0; j < hw; j++) s += p[j];
        y[i] = s / (float)hw;
    }
}

void tg_gap_backward(int n, int c, int hw, const float *dy, float *dx, int acc) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n * c; i++) {
        float g = dy[i] / (float)hw;
        float *p = dx + (size_t)i * hw;
        for (int j = 0; j < hw; j++) p[j] = acc ? p[j] + g : g;
    }
}

void tg_concat_forward_part(int n, int ci, int hi, int wi, const float *x,
                            int C, int H, int W, int c0, float *y) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < ci; ch++) {
            const float *src = x + ((size_t)b * ci + ch) * hi * wi;
            float *dst = y + ((size_t)b * C + c0 + ch) * H * W;
            if (hi == H && wi == W) {
                memcpy(dst, src, sizeof(float) * H * W);
                continue;
            }
            for (int r = 0; r < H; r++) {
                float *d = dst + (size_t)r * W;
                if (r >= hi) {
                    memset(d, 0, sizeof(float) * W);
                    continue;
                }
                memcpy(d, src + (size_t)r * wi, sizeof(float) * wi);
                memset(d + wi, 0, sizeof(float) * (W - wi));
            }
        }
}

void tg_concat_backward_part(int n, int ci, int hi, int wi, const float *dy,
                             int C, int H, int W, int c0, float *dx, int acc) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < ci; ch++) {
            const float *src = dy + ((size_t)b * C + c0 + ch) * H * W;
            float *dst = dx + ((size_t)b * ci + ch) * hi * wi;
            for (int r = 0; r < hi; r++)
                for (int q = 0; q < wi; q++) {
                    float v = src[(size_t)r * W + q];
                    dst[(size_t)r * wi + q] = acc ? dst[(size_t)r * wi + q] + v : v;
                }
        }
}
