/* loader.h - augmentation and the background batch loader.
 *
 * The paper's training preprocessing: zero-pad each image by `pad` pixels
 * on every side (28x28 -> 36x36, 32x32 -> 40x40), crop a random h x w
 * window, flip it horizontally with probability 1/2, standardise it per
 * image. Evaluation uses the centre image, standardised.
 *
 * The loader prepares the next batch on its own thread while the trainer
 * works on the current one. Everything random is a function of (seed,
 * epoch, example): the order of epoch e is a shuffle seeded by (seed, e),
 * and an example's crop and flip are drawn from a generator seeded by
 * (seed, e, index). So the stream does not depend on timing, and a loader
 * positioned at any step (tg_loader_seek) continues exactly as the one
 * that ran up to it: a resumed training sees the same batches. */
#ifndef TGSAGE_LOADER_H
#define TGSAGE_LOADER_H

#include <stdint.h>

#include "tgsage/dataset.h"
#include "tgsage/rng.h"

typedef struct {
    int pad;    /* zero padding before the random crop; 0: no crop */
    int flip;   /* random horizontal flips */
} tg_augment;

/* Image i of d, augmented with generator r, into out (c*h*w floats). */
void tg_augment_image(const tg_dataset *d, int64_t i, const tg_augment *a,
                      tg_rng *r, float *out);

typedef struct tg_loader tg_loader;

/* Batches of `batch` examples of d (which must outlive the loader). With
 * shuffle, each epoch visits the examples in a new seeded order, else in
 * order. aug NULL: no augmentation. */
tg_loader *tg_loader_new(const tg_dataset *d, int batch, int shuffle,
                         const tg_augment *aug, uint64_t seed, tg_error *err);
void tg_loader_free(tg_loader *l);
/* Batches per epoch: the last one may be smaller. */
int64_t tg_loader_steps_per_epoch(const tg_loader *l);
/* Continue from step `step` of the stream (epoch step / steps_per_epoch). */
void tg_loader_seek(tg_loader *l, int64_t step);
/* The next batch: x (n, c, h, w), y (n); returns n. The buffers stay valid
 * until the next call. */
int tg_loader_next(tg_loader *l, const float **x, const int32_t **y);

#endif
