/* prep.c - per-image standardisation. */
#include "tgsage/prep.h"

#include <math.h>

/* The same code for both pixel types: statistics in double, then the map. */
#define STANDARDIZE(px, size, out)                                             \
    do {                                                                       \
        double s_ = 0, sq_ = 0;                                                \
        for (size_t j = 0; j < (size); j++) {                                  \
            s_ += (px)[j];                                                     \
            sq_ += (double)(px)[j] * (px)[j];                                  \
        }                                                                      \
        double mean_ = s_ / (size), var_ = sq_ / (size) - mean_ * mean_;       \
        double sd_ = sqrt(var_ > 0 ? var_ : 0), floor_ = 1.0 / sqrt((double)(size)); \
        float inv_ = (float)(1.0 / (sd_ > floor_ ? sd_ : floor_));             \
        float m_ = (float)mean_;                                               \
        for (size_t j = 0; j < (size); j++) (out)[j] = ((px)[j] - m_) * inv_;  \
    } while (0)

void tg_standardize_image_u8(const uint8_t *px, size_t size, float *out) {
    STANDARDIZE(px, size, out);
}

void tg_standardize_image_f32(const float *px, size_t size, float *out) {
    STANDARDIZE(px, size, out);
}
