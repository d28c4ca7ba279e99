/* prep.c - per-image standardisation of uint8 images. */
#include "tgsage/prep.h"

#include <math.h>

void tg_standardize_u8(const uint8_t *px, int64_t n, size_t size, float *out) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *p = px + i * size;
        double s = 0, sq = 0;
        for (size_t j = 0; j < size; j++) {
            s += p[j];
            sq += (double)p[j] * p[j];
        }
        double mean = s / size, var = sq / size - mean * mean;
        double sd = sqrt(var > 0 ? var : 0), floor_sd = 1.0 / sqrt((double)size);
        float inv = (float)(1.0 / (sd > floor_sd ? sd : floor_sd));
        float *o = out + i * size;
        for (size_t j = 0; j < size; j++) o[j] = (float)((p[j] - mean) * inv);
    }
}
