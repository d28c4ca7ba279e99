/* npy_write.c - writing .npy files as numpy does, atomically, see npy.h.
 *
 * Format 1.0, little-endian descr, C order, the preamble and header padded
 * with spaces to NPY_WRITE_ALIGN bytes and ended by a newline. The bytes go
 * through tg_atomic (fileio.h), so a failed write leaves any previous file
 * at the path as it was. */
#include <stdio.h>
#include <string.h>

#include "npy_internal.h"
#include "tgsage/fileio.h"

#define NPY_WRITE_ALIGN 64 /* numpy pads preamble + header to this */

/* The body in little-endian order: as is on a little-endian host, else
 * swapped through a bounce buffer. */
static void npy_write_body(tg_atomic *out, const void *data, size_t count, size_t isz) {
    if (isz == 1 || tg_npy_host_le()) {
        tg_atomic_write(out, data, count * isz);
        return;
    }
    uint8_t tmp[1 << 16];
    size_t per = sizeof tmp / isz;
    for (size_t i = 0; i < count; i += per) {
        size_t k = count - i < per ? count - i : per;
        memcpy(tmp, (const uint8_t *)data + i * isz, k * isz);
        tg_npy_swap(tmp, k, isz);
        tg_atomic_write(out, tmp, k * isz);
    }
}

tg_status tg_npy_write(const char *path, tg_npy_dtype dtype, int ndim,
                       const int64_t *shape, const void *data,
                       tg_error *err) {
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG,
                            "no path given for the .npy file");
    if ((unsigned)dtype > TG_NPY_F64)
        return tg_error_set(err, TG_ERR_ARG, "%s: unknown npy dtype %d", path,
                            (int)dtype);
    if (ndim < 0 || ndim > TG_NPY_MAX_NDIM)
        return tg_error_set(err, TG_ERR_ARG,
                            "%s: ndim %d is outside 0..%d", path, ndim,
                            TG_NPY_MAX_NDIM);
    if (ndim > 0 && !shape)
        return tg_error_set(err, TG_ERR_ARG, "%s: NULL shape", path);
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return tg_error_set(err, TG_ERR_ARG,
                                "%s: shape[%d] = %lld is negative", path, i,
                                (long long)shape[i]);
        empty |= shape[i] == 0;
    }
    int64_t count = empty ? 0 : 1;
    for (int i = 0; i < ndim && !empty; i++)
        if (__builtin_mul_overflow(count, shape[i], &count) ||
            count > TG_NPY_MAX_ELEMS)
            return tg_error_set(err, TG_ERR_ARG,
                                "%s: shape has more than %lld elements",
                                path, (long long)TG_NPY_MAX_ELEMS);
    if (count > 0 && !data)
        return tg_error_set(err, TG_ERR_ARG, "%s: NULL data for %lld "
                                             "elements",
                            path, (long long)count);
    size_t isz = tg_npy_dtype_size(dtype);

    /* Preamble and header, padded with spaces to NPY_WRITE_ALIGN. */
    static const char *const descr[] = {"|u1", "<i4", "<i8", "<f4", "<f8"};
    char dict[320], shp[256], hdr[448];
    tg_npy_shape_str(shp, sizeof shp, ndim, shape);
    int dn = snprintf(dict, sizeof dict,
                      "{'descr': '%s', 'fortran_order': False, "
                      "'shape': %s, }",
                      descr[dtype], shp);
    TG_ASSERT(dn > 0 && (size_t)dn < sizeof dict);
    size_t total = 10 + (size_t)dn + 1;
    total = (total + NPY_WRITE_ALIGN - 1) / NPY_WRITE_ALIGN * NPY_WRITE_ALIGN;
    TG_ASSERT(total <= sizeof hdr);
    size_t hlen = total - 10;
    memcpy(hdr, TG_NPY_MAGIC "\x01\x00", 8);
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    memcpy(hdr + 10, dict, (size_t)dn);
    memset(hdr + 10 + dn, ' ', hlen - (size_t)dn - 1);
    hdr[total - 1] = '\n';

    tg_atomic out;
    tg_status st = tg_atomic_begin(&out, path, err);
    if (st != TG_OK) return st;
    tg_atomic_write(&out, hdr, total);
    npy_write_body(&out, data, (size_t)count, isz);
    return tg_atomic_commit(&out, err);
}
