/* npy.h - read and write NumPy .npy files (format versions 1.0, 2.0, 3.0).
 *
 * A .npy file is the magic "\x93NUMPY", a major and a minor version byte, a
 * little-endian header length (uint16 in 1.0, uint32 in 2.0 and 3.0), then
 * the header: a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by a newline (latin-1 text in 1.0/2.0, UTF-8
 * in 3.0), then the raw body.
 *
 * The reader is strict and meant to survive hostile input. The header is
 * parsed here as a literal - nothing is evaluated or unpickled - and must
 * hold exactly the keys descr, fortran_order and shape (any order, any
 * Python whitespace, double or single quotes, optional trailing comma).
 * Supported element types are u1 and the byte orders '<' and '>' of i4, i8,
 * f4 and f8; object arrays, structured dtypes and every other dtype are
 * refused by name. The shape has at most TG_NPY_MAX_NDIM non-negative
 * entries whose product is at most TG_NPY_MAX_ELEMS, the header at most
 * TG_NPY_MAX_HEADER bytes, and the file size must match the header exactly
 * (a short body and trailing bytes are both refused). Nothing large is
 * allocated before the body is known to be there. Every error message
 * starts with the file name and names the offending field.
 *
 * Status codes of the readers:
 *   TG_ERR_IO          the file cannot be opened or read;
 *   TG_ERR_FORMAT      not a .npy file, or a malformed one: bad magic,
 *                      truncated preamble/header/body, header not ended by a
 *                      newline, malformed dict, missing/duplicate/unknown
 *                      key, a shape entry that is negative or not an
 *                      integer, a shape product that overflows, trailing
 *                      bytes;
 *   TG_ERR_UNSUPPORTED a well-formed file this reader does not take: an
 *                      unknown format version, a header over the limit, an
 *                      object, structured or other unsupported dtype, more
 *                      than TG_NPY_MAX_NDIM dimensions, more than
 *                      TG_NPY_MAX_ELEMS elements;
 *   TG_ERR_NOMEM       an allocation failed;
 *   TG_ERR_ARG         a NULL/empty path, or a NULL buffer with n > 0. */
#ifndef TGSAGE_NPY_H
#define TGSAGE_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"

#define TG_NPY_MAX_NDIM 8
/* Largest array accepted (read or written), in elements. */
#define TG_NPY_MAX_ELEMS ((int64_t)1 << 31)
/* Largest header accepted, in bytes (numpy's own default limit). */
#define TG_NPY_MAX_HEADER 10000

typedef enum {
    TG_NPY_U8,  /* '|u1' (also read: '<u1', '>u1') */
    TG_NPY_I32, /* '<i4', '>i4' */
    TG_NPY_I64, /* '<i8', '>i8' */
    TG_NPY_F32, /* '<f4', '>f4' */
    TG_NPY_F64  /* '<f8', '>f8' */
} tg_npy_dtype;

typedef struct {
    tg_npy_dtype dtype; /* element type as stored, byte order aside */
    int ndim;           /* 0..TG_NPY_MAX_NDIM; 0 is a scalar (count 1) */
    int64_t shape[TG_NPY_MAX_NDIM]; /* entries past ndim are 0 */
    size_t count;       /* product of shape[0..ndim) */
    void *data;         /* count elements in native byte order and C
                         * (row-major) order: a Fortran-order file is
                         * transposed on read. Never NULL after a successful
                         * read, even when count is 0. */
} tg_npy;

/* Bytes per element (1, 4 or 8), and a name ("uint8", "int32", "int64",
 * "float32", "float64"); "?" for a value outside the enum. */
size_t tg_npy_dtype_size(tg_npy_dtype dtype);
const char *tg_npy_dtype_name(tg_npy_dtype dtype);

/* Read a .npy file. On failure *out is zeroed (nothing to free). */
tg_status tg_npy_read(const char *path, tg_npy *out, tg_error *err);

/* Parse a whole .npy file held in memory (n bytes at buf; buf may be NULL
 * when n is 0). name is used in messages (NULL: "<buffer>"). The same
 * checks and statuses as tg_npy_read, which shares this parser; this is the
 * entry point for fuzzing. On failure *out is zeroed. */
tg_status tg_npy_parse(const void *buf, size_t n, const char *name,
                       tg_npy *out, tg_error *err);

/* Release and zero; safe on a zeroed struct, on NULL and to call twice. */
void tg_npy_free(tg_npy *a);

/* Convert any dtype to a fresh malloc'd array of a->count elements (never
 * NULL on success, even for count 0; the caller frees). On failure *out is
 * NULL.
 * tg_npy_to_f32: integers are rounded to nearest as C converts them (exact
 *   up to 2^24); NaN and infinities pass through; a finite float64 outside
 *   the float32 range is TG_ERR_ARG.
 * tg_npy_to_i32: integers must lie in the int32 range and floats must be
 *   integral and in range, else TG_ERR_ARG; NaN or an infinity is
 *   TG_ERR_NUMERIC. Messages give the flat index of the first bad element. */
tg_status tg_npy_to_f32(const tg_npy *a, float **out, tg_error *err);
tg_status tg_npy_to_i32(const tg_npy *a, int32_t **out, tg_error *err);

/* Write data (native byte order, C order, count = product of shape
 * elements of dtype; may be NULL when that count is 0) as a format 1.0,
 * little-endian, C-order .npy file that numpy reads. The write is atomic:
 * the bytes go to "<path>.tmp.<pid>" (tg_atomic, fileio.h), which is
 * fsync'd and renamed over path, so a failed write (a full disk, a file
 * size limit) leaves any previous file at path untouched and removes the
 * temporary file. Two processes writing the same path leave one of the two
 * complete files.
 * TG_ERR_ARG: NULL/empty path, ndim outside 0..TG_NPY_MAX_NDIM, a negative
 * shape entry, more than TG_NPY_MAX_ELEMS elements, an unknown dtype, NULL
 * data with count > 0. TG_ERR_IO: the file cannot be written. */
tg_status tg_npy_write(const char *path, tg_npy_dtype dtype, int ndim,
                       const int64_t *shape, const void *data, tg_error *err);

#endif
