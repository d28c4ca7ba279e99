/* cifar.h - reader for the CIFAR-10 and CIFAR-100 binary versions.
 *
 * CIFAR-10 records are 1 label byte + 3072 pixel bytes (3 planes of 32x32,
 * red, green, blue); CIFAR-100 records are 2 label bytes (coarse, fine) +
 * 3072. A file must hold a whole number of records and at least one; each
 * label must be below the class count (10, or 20 coarse / 100 fine). */
#ifndef TGSAGE_CIFAR_H
#define TGSAGE_CIFAR_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"

#define TG_CIFAR_IMAGE_BYTES 3072

typedef enum { TG_CIFAR10, TG_CIFAR100_FINE, TG_CIFAR100_COARSE } tg_cifar_kind;

int tg_cifar_classes(tg_cifar_kind k);

/* Parse records from memory (name is used in messages); appends to
 * *pixels / *labels (realloc'd) and adds to *n. */
tg_status tg_cifar_parse(const void *buf, size_t len, const char *name,
                         tg_cifar_kind kind, uint8_t **pixels, int32_t **labels,
                         int64_t *n, tg_error *err);
/* Read a file of records, appending as tg_cifar_parse. */
tg_status tg_cifar_read(const char *path, tg_cifar_kind kind, uint8_t **pixels,
                        int32_t **labels, int64_t *n, tg_error *err);

#endif
