/* prep.h - turning stored images into network inputs. */
#ifndef TGSAGE_PREP_H
#define TGSAGE_PREP_H

#include <stddef.h>
#include <stdint.h>

/* Per-image standardisation (TensorFlow's per_image_standardization, the
 * paper's preprocessing): each image of `size` bytes becomes
 * (x - mean) / max(std, 1/sqrt(size)), so a constant image maps to zeros.
 * px (n, size) uint8 -> out (n, size) float. */
void tg_standardize_u8(const uint8_t *px, int64_t n, size_t size, float *out);

#endif
