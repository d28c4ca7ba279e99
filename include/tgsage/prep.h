/* prep.h - turning stored images into network inputs. */
#ifndef TGSAGE_PREP_H
#define TGSAGE_PREP_H

#include <stddef.h>
#include <stdint.h>

/* Per-image standardisation (TensorFlow's per_image_standardization, the
 * paper's preprocessing): an image of `size` values becomes
 * (x - mean) / max(std, 1/sqrt(size)), so a constant image maps to zeros.
 * One image, single-threaded (the loader thread and tg_dataset_images call
 * it per image). */
void tg_standardize_image_u8(const uint8_t *px, size_t size, float *out);
void tg_standardize_image_f32(const float *px, size_t size, float *out);

#endif
