/* npy_read.c - the body of a .npy file and the dtype conversions, see
 * npy.h.
 *
 * Both entry points share one path: tg_npy_read loads the whole file
 * (fileio.h: a regular file costs its size, so a 60-byte file claiming
 * 2 GiB costs 60 bytes) and tg_npy_parse takes a buffer; the header is
 * parsed (npy_header.c), the rest must be exactly the body it describes
 * (a short body and trailing bytes are refused, with exact counts), then
 * npy_finish swaps bytes to native order and transposes Fortran-order
 * bodies to C order. tg_npy_read moves the body to the front of the buffer
 * it read instead of copying it, so a file costs its size once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "npy_internal.h"
#include "tgsage/fileio.h"

/* The largest file that can hold a header and a body within the caps. */
#define NPY_FILE_MAX (TG_NPY_PREFIX_MAX + (size_t)TG_NPY_MAX_ELEMS * 8)

/* ---- body ---- */

/* Column-major src to row-major dst. count > 0, so every dimension is >= 1
 * and every stride <= count. The C index runs with an odometer whose last
 * digit moves fastest; off follows it in Fortran element offsets. */
static void npy_f_to_c(const uint8_t *src, uint8_t *dst, size_t isz,
                       int ndim, const int64_t *shape, size_t count) {
    size_t idx[TG_NPY_MAX_NDIM] = {0}, fstride[TG_NPY_MAX_NDIM];
    size_t dim[TG_NPY_MAX_NDIM];
    for (int k = 0; k < ndim; k++) {
        dim[k] = (size_t)shape[k];
        fstride[k] = k ? fstride[k - 1] * dim[k - 1] : 1;
    }
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(dst + i * isz, src + off * isz, isz);
        for (int k = ndim - 1; k >= 0; k--) {
            if (++idx[k] < dim[k]) {
                off += fstride[k];
                break;
            }
            off -= (dim[k] - 1) * fstride[k];
            idx[k] = 0;
        }
    }
}

/* Take ownership of body (h->nbytes bytes, allocated with at least 1) and
 * fill out: native byte order, C order. */
static tg_status npy_finish(const tg_npy_head *h, uint8_t *body,
                            const char *name, tg_npy *out, tg_error *err) {
    if (h->swap) tg_npy_swap(body, h->count, h->itemsize);
    if (h->fortran && h->ndim > 1 && h->count > 0) {
        uint8_t *c = malloc(h->nbytes);
        if (!c) {
            free(body);
            return tg_error_set(err, TG_ERR_NOMEM,
                                "%s: out of memory for %zu bytes", name,
                                h->nbytes);
        }
        npy_f_to_c(body, c, h->itemsize, h->ndim, h->shape, h->count);
        free(body);
        body = c;
    }
    out->dtype = h->dtype;
    out->ndim = h->ndim;
    memcpy(out->shape, h->shape, sizeof out->shape);
    out->count = h->count;
    out->data = body;
    return TG_OK;
}

static tg_status npy_truncated(const char *name, const tg_npy_head *h,
                               size_t have, tg_error *err) {
    char shape[256];
    tg_npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
    return tg_error_set(err, TG_ERR_FORMAT,
                        "%s: truncated body: shape %s of '%s' needs %zu "
                        "bytes but the file has %zu after the header",
                        name, shape, h->descr, h->nbytes, have);
}

static tg_status npy_trailing(const char *name, const tg_npy_head *h,
                              size_t extra, tg_error *err) {
    char shape[256];
    tg_npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
    return tg_error_set(err, TG_ERR_FORMAT,
                        "%s: trailing bytes: shape %s of '%s' needs %zu "
                        "bytes but %zu more follow the body (the file "
                        "size must match the header exactly)",
                        name, shape, h->descr, h->nbytes, extra);
}

/* h parsed from the n bytes of a whole file: the body must be all the rest. */
static tg_status npy_check_body(const tg_npy_head *h, size_t n, const char *name,
                                tg_error *err) {
    size_t have = n - h->offset;
    if (have < h->nbytes) return npy_truncated(name, h, have, err);
    if (have > h->nbytes) return npy_trailing(name, h, have - h->nbytes, err);
    return TG_OK;
}

tg_status tg_npy_parse(const void *buf, size_t n, const char *name,
                       tg_npy *out, tg_error *err) {
    TG_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!name) name = "<buffer>";
    if (!buf && n > 0)
        return tg_error_set(err, TG_ERR_ARG, "%s: NULL buffer of %zu bytes",
                            name, n);
    tg_npy_head h;
    tg_status st = tg_npy_head_parse(buf, n, name, &h, err);
    if (st == TG_OK) st = npy_check_body(&h, n, name, err);
    if (st != TG_OK) return st;
    uint8_t *body = malloc(h.nbytes ? h.nbytes : 1);
    if (!body)
        return tg_error_set(err, TG_ERR_NOMEM,
                            "%s: out of memory for %zu bytes", name,
                            h.nbytes);
    if (h.nbytes) memcpy(body, (const uint8_t *)buf + h.offset, h.nbytes);
    return npy_finish(&h, body, name, out, err);
}

tg_status tg_npy_read(const char *path, tg_npy *out, tg_error *err) {
    TG_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG, "no path given for the .npy "
                                             "file");
    uint8_t *buf = NULL;
    size_t n = 0;
    tg_status st = tg_file_read(path, NPY_FILE_MAX, &buf, &n, err);
    if (st != TG_OK) return st;
    tg_npy_head h;
    st = tg_npy_head_parse(buf, n, path, &h, err);
    if (st == TG_OK) st = npy_check_body(&h, n, path, err);
    if (st != TG_OK) {
        free(buf);
        return st;
    }
    /* the body to the front; giving back the header's bytes may fail,
     * which only keeps them */
    memmove(buf, buf + h.offset, h.nbytes);
    uint8_t *body = realloc(buf, h.nbytes ? h.nbytes : 1);
    return npy_finish(&h, body ? body : buf, path, out, err);
}

void tg_npy_free(tg_npy *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- conversions ---- */

/* Smallest magnitude a double rounds up from to float infinity:
 * FLT_MAX plus half an ulp (ties round to even, which is infinity). */
#define NPY_F32_OVERFLOW 0x1.ffffffp127

/* Check a (a caller-built struct may be anything) and allocate the output
 * for its count elements of elem bytes; NULL with *st set on failure. */
static void *npy_alloc_out(const tg_npy *a, size_t elem, tg_status *st,
                           tg_error *err) {
    void *r = NULL;
    if ((unsigned)a->dtype > TG_NPY_F64)
        *st = tg_error_set(err, TG_ERR_ARG, "unknown npy dtype %d",
                           (int)a->dtype);
    else if (a->count > 0 && !a->data)
        *st = tg_error_set(err, TG_ERR_ARG,
                           "npy array of %zu elements has no data", a->count);
    else if (a->count > SIZE_MAX / elem)
        *st = tg_error_set(err, TG_ERR_ARG,
                           "npy array of %zu elements is too large",
                           a->count);
    else if (!(r = malloc(a->count ? a->count * elem : 1)))
        *st = tg_error_set(err, TG_ERR_NOMEM,
                           "out of memory for %zu elements", a->count);
    else
        *st = TG_OK;
    return r;
}

tg_status tg_npy_to_f32(const tg_npy *a, float **out, tg_error *err) {
    TG_ASSERT(a && out);
    tg_status st = TG_OK;
    float *r = npy_alloc_out(a, sizeof *r, &st, err);
    *out = NULL;
    if (!r) return st;
    size_t n = a->count;
    switch (a->dtype) {
    case TG_NPY_U8:
        for (size_t i = 0; i < n; i++) r[i] = ((const uint8_t *)a->data)[i];
        break;
    case TG_NPY_I32:
        for (size_t i = 0; i < n; i++)
            r[i] = (float)((const int32_t *)a->data)[i];
        break;
    case TG_NPY_I64:
        for (size_t i = 0; i < n; i++)
            r[i] = (float)((const int64_t *)a->data)[i];
        break;
    case TG_NPY_F32:
        if (n) memcpy(r, a->data, n * sizeof *r);
        break;
    case TG_NPY_F64:
        for (size_t i = 0; i < n; i++) {
            double v = ((const double *)a->data)[i];
            if (isfinite(v) && fabs(v) >= NPY_F32_OVERFLOW) {
                free(r);
                return tg_error_set(err, TG_ERR_ARG,
                                    "element %zu = %.17g of the float64 "
                                    "array is out of float32 range",
                                    i, v);
            }
            r[i] = (float)v;
        }
        break;
    }
    *out = r;
    return TG_OK;
}

/* A double to int32 if it is integral and in range. */
static tg_status npy_d_to_i32(double v, size_t i, const char *from,
                              int32_t *r, tg_error *err) {
    if (isnan(v) || isinf(v))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "element %zu = %g of the %s array is not finite: "
                            "cannot convert to int32",
                            i, v, from);
    if (v < -2147483648.0 || v > 2147483647.0)
        return tg_error_set(err, TG_ERR_ARG,
                            "element %zu = %.17g of the %s array is out of "
                            "int32 range",
                            i, v, from);
    if (trunc(v) != v)
        return tg_error_set(err, TG_ERR_ARG,
                            "element %zu = %.17g of the %s array is not an "
                            "integer: cannot convert to int32",
                            i, v, from);
    *r = (int32_t)v;
    return TG_OK;
}

tg_status tg_npy_to_i32(const tg_npy *a, int32_t **out, tg_error *err) {
    TG_ASSERT(a && out);
    tg_status st = TG_OK;
    int32_t *r = npy_alloc_out(a, sizeof *r, &st, err);
    *out = NULL;
    if (!r) return st;
    size_t n = a->count;
    const char *from = tg_npy_dtype_name(a->dtype);
    switch (a->dtype) {
    case TG_NPY_U8:
        for (size_t i = 0; i < n; i++) r[i] = ((const uint8_t *)a->data)[i];
        break;
    case TG_NPY_I32:
        if (n) memcpy(r, a->data, n * sizeof *r);
        break;
    case TG_NPY_I64:
        for (size_t i = 0; i < n && st == TG_OK; i++) {
            int64_t v = ((const int64_t *)a->data)[i];
            if (v < INT32_MIN || v > INT32_MAX)
                st = tg_error_set(err, TG_ERR_ARG,
                                  "element %zu = %lld of the int64 array is "
                                  "out of int32 range",
                                  i, (long long)v);
            else
                r[i] = (int32_t)v;
        }
        break;
    case TG_NPY_F32:
        for (size_t i = 0; i < n && st == TG_OK; i++)
            st = npy_d_to_i32(((const float *)a->data)[i], i, from, &r[i],
                              err);
        break;
    case TG_NPY_F64:
        for (size_t i = 0; i < n && st == TG_OK; i++)
            st = npy_d_to_i32(((const double *)a->data)[i], i, from, &r[i],
                              err);
        break;
    }
    if (st != TG_OK) {
        free(r);
        return st;
    }
    *out = r;
    return TG_OK;
}
