/* npy_internal.h - what the three files of the .npy code share (not
 * installed): the parsed header, the header parser and byte-order helpers.
 *
 *   npy_header.c  the preamble and the header dict, parsed as a literal;
 *   npy_read.c    the body: whole files, byte order, Fortran order, and
 *                 the dtype conversions;
 *   npy_write.c   numpy's layout, written atomically. */
#ifndef TGSAGE_NPY_INTERNAL_H
#define TGSAGE_NPY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tgsage/npy.h"

#define TG_NPY_MAGIC "\x93NUMPY"
#define TG_NPY_MAGIC_LEN 6
/* preamble of a 2.0 file and the longest header */
#define TG_NPY_PREFIX_MAX (12 + TG_NPY_MAX_HEADER)

/* A body within the cap always fits in a size_t on 64-bit hosts; the byte
 * size is still computed with an overflow check for 32-bit ones. */
_Static_assert(TG_NPY_MAX_ELEMS <= INT64_MAX / 8, "TG_NPY_MAX_ELEMS too big");

/* What the header says, in usable form. */
typedef struct {
    tg_npy_dtype dtype;
    bool swap;    /* body is in the other byte order than the host's */
    bool fortran; /* body is in column-major order */
    int ndim;
    int64_t shape[TG_NPY_MAX_NDIM];
    size_t count, itemsize, nbytes;
    size_t offset;  /* of the body from the start of the file */
    char descr[8];  /* as written, for messages (always one of the table) */
    /* While parsing: the descr string (in the header text) or a list. */
    const uint8_t *descr_s;
    size_t descr_n;
    bool structured;
} tg_npy_head;

/* Preamble and header from buf[0..n), where n covers the whole header if
 * the file has one (a prefix of the file is enough). Checks everything the
 * header says and computes count and nbytes without overflow; name is the
 * file for messages. */
tg_status tg_npy_head_parse(const uint8_t *buf, size_t n, const char *name, tg_npy_head *h,
                            tg_error *err);

/* Python's repr of a shape tuple: (), (3,), (3, 4). */
void tg_npy_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);

bool tg_npy_host_le(void);
/* Reverse the bytes of each of count elements of isz bytes (4 or 8; 1 is
 * left alone). */
void tg_npy_swap(uint8_t *b, size_t count, size_t isz);

#endif
