/* idx.h - reader for IDX files (MNIST, Fashion-MNIST), plain or gzip'd.
 *
 * An IDX file is a 4-byte magic (two zero bytes, a type byte, the number of
 * dimensions), one big-endian uint32 per dimension, then the row-major body.
 * Only unsigned-byte bodies are supported: images are idx3 (n, h, w) and
 * labels idx1 (n). Files are read through zlib, so a .gz file and a plain
 * file are both accepted whatever their name.
 *
 * The reader is strict and meant to survive hostile input: header fields are
 * validated and the size computed without overflow before anything large is
 * allocated, the buffer grows only as bytes actually arrive, and a body that
 * is shorter or longer than the header says is refused. Every error message
 * starts with the file path and names the offending field. */
#ifndef TGSAGE_IDX_H
#define TGSAGE_IDX_H

#include <stdint.h>

#include "tgsage/error.h"

/* Largest body accepted, in elements (= bytes for unsigned-byte files). */
#define TG_IDX_MAX_ELEMS ((uint64_t)1 << 31)

typedef struct {
    int32_t n, h, w;
    uint8_t *pixels; /* n*h*w bytes, row-major (image, row, column) */
} tg_idx_images;

typedef struct {
    int32_t n;
    uint8_t *labels; /* n bytes, each < the num_classes it was read with */
} tg_idx_labels;

/* Read an idx3 unsigned-byte file. On failure *out is left zeroed (nothing
 * to free) and the status is TG_ERR_IO (cannot open or read),
 * TG_ERR_FORMAT (bad header, wrong size, corrupt gzip stream),
 * TG_ERR_UNSUPPORTED (a known IDX element type other than unsigned byte) or
 * TG_ERR_NOMEM. */
tg_status tg_idx_read_images(const char *path, tg_idx_images *out,
                             tg_error *err);

/* Read an idx1 unsigned-byte file whose labels must all lie in
 * [0, num_classes); num_classes <= 0 is TG_ERR_ARG. Failures as above, a label
 * out of range is TG_ERR_FORMAT. */
tg_status tg_idx_read_labels(const char *path, int num_classes,
                             tg_idx_labels *out, tg_error *err);

/* Read an images file and its labels file and check that they hold the same
 * number of items (TG_ERR_SHAPE otherwise). On failure both are zeroed. */
tg_status tg_idx_read_pair(const char *images_path, const char *labels_path,
                           int num_classes, tg_idx_images *im,
                           tg_idx_labels *lb, tg_error *err);

/* Release and zero; safe on a zeroed struct and to call twice. */
void tg_idx_images_free(tg_idx_images *im);
void tg_idx_labels_free(tg_idx_labels *lb);

#endif
