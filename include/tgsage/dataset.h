/* dataset.h - labelled image datasets in memory, by spec.
 *
 * A dataset is n images (c, h, w) stored as uint8 pixels or as floats,
 * their labels, the class names, and a fingerprint: XXH3-128 of the shape,
 * labels and pixels, so that workers on other machines can prove they use
 * the same data. Specs (the `--data` of the CLI):
 *
 *   fashion-mnist          Debian's dataset-fashion-mnist (the default)
 *   mnist:DIR              the four IDX files of MNIST (plain or .gz)
 *   cifar10:DIR            CIFAR-10 binary: data_batch_1..5.bin, test_batch.bin
 *   cifar100:DIR[:coarse]  CIFAR-100 binary: train.bin, test.bin (fine labels
 *                          unless :coarse)
 *   npy:IMAGES,LABELS      two .npy files (layouts: see tg_dataset_from_npy)
 *
 * Splits: "train" and "test" (npy has only "train"). A seeded validation
 * split of the training set is tg_dataset_split. */
#ifndef TGSAGE_DATASET_H
#define TGSAGE_DATASET_H

#include <stdint.h>

#include "tgsage/error.h"

#define TG_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
    int64_t n;
    int c, h, w;
    uint8_t *u8;           /* (n, c, h, w) pixels, or NULL */
    float *f32;            /* (n, c, h, w) float images, or NULL; one is set */
    int32_t *labels;       /* (n), each in [0, classes) */
    int classes;
    char **class_names;    /* classes strings */
    char source[512];      /* spec and split, for messages */
    char fingerprint[33];  /* hex */
} tg_dataset;

tg_status tg_dataset_load(const char *spec, const char *split, tg_dataset *out,
                          tg_error *err);
void tg_dataset_free(tg_dataset *d);

/* Copy the examples idx[0..n) of d into out (fingerprint recomputed). */
tg_status tg_dataset_subset(const tg_dataset *d, const int64_t *idx, int64_t n,
                            tg_dataset *out, tg_error *err);
/* Seeded split: val gets val_n examples drawn at random, train the rest;
 * both keep the original order. The same seed gives the same split. */
tg_status tg_dataset_split(const tg_dataset *d, int64_t val_n, uint64_t seed,
                           tg_dataset *train, tg_dataset *val, tg_error *err);
/* Keep only the first n examples (n <= 0 or n >= d->n: no change). */
void tg_dataset_limit(tg_dataset *d, int64_t n);
/* Recompute d->fingerprint (after changing its contents). */
void tg_dataset_fingerprint(tg_dataset *d);

/* The npy: part of a spec, "IMAGES,LABELS" (used by tg_dataset_load). */
tg_status tg_dataset_load_npy(const char *files, const char *split, tg_dataset *out,
                              tg_error *err);

/* Image i as floats, standardised per image (see prep.h), into out (c*h*w). */
void tg_dataset_image(const tg_dataset *d, int64_t i, float *out);
/* n images into out (n, c, h, w), in parallel: images idx[0..n) if idx is
 * not NULL, else first .. first+n-1. */
void tg_dataset_images(const tg_dataset *d, const int32_t *idx, int64_t first, int n,
                       float *out);

#endif
