/* idx.c - strict reader for IDX files (MNIST, Fashion-MNIST), see idx.h.
 *
 * Everything goes through zlib's gz* functions, which read gzip'd and plain
 * files alike. The order of work is what keeps hostile input harmless:
 *   1. the header is read and every field checked, the body size computed in
 *      64 bits with each dimension < 2^31 and the running product capped at
 *      TG_IDX_MAX_ELEMS, so it cannot overflow;
 *   2. the body buffer starts small and doubles only as bytes actually arrive,
 *      so a 16-byte file claiming 2 GiB costs 64 KiB, not 2 GiB;
 *   3. one more read after the body must hit a clean end of file: this
 *      catches trailing bytes and makes zlib verify the gzip trailer (CRC and
 *      length), which it only does once it reaches the end of the stream. */
#include "tgsage/idx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 3
#define IDX_CHUNK ((size_t)1 << 20)       /* bytes per gzread call */
#define IDX_FIRST_ALLOC ((size_t)1 << 16) /* first body buffer size */
#define IDX_TRAILING_COUNT_MAX ((size_t)1 << 20)

/* A body within the cap always fits in a size_t. */
_Static_assert(TG_IDX_MAX_ELEMS <= SIZE_MAX, "TG_IDX_MAX_ELEMS exceeds size_t");

/* What one caller expects of a file: its dimension count and what the
 * dimensions are called in messages. */
typedef struct {
    const char *what; /* "images" or "labels" */
    int ndim;
    const char *dim_names[IDX_MAX_DIMS];
} idx_kind;

static const idx_kind IDX_IMAGES = {"images", 3, {"count", "rows", "columns"}};
static const idx_kind IDX_LABELS = {"labels", 1, {"count", NULL, NULL}};

/* Names of the element types the IDX format defines, NULL if unknown. */
static const char *idx_type_name(unsigned t) {
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return NULL;
}

/* Turn the gzFile's error state into a tg_error. Called after gzread
 * returned -1, or at end of file when the gzip stream ended early. */
static tg_status idx_gz_fail(gzFile gz, const char *path, tg_error *err) {
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    if (!msg || !*msg) msg = "unknown zlib error";
    /* zlib writes "path: reason"; the path is already our prefix. */
    size_t plen = strlen(path);
    if (strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
        msg += plen + 2;
    switch (errnum) {
    case Z_ERRNO:
        /* zlib has already put strerror(errno) into msg. */
        return tg_error_set(err, TG_ERR_IO, "%s: read error: %s", path, msg);
    case Z_MEM_ERROR:
        return tg_error_set(err, TG_ERR_NOMEM,
                            "%s: out of memory while decompressing", path);
    case Z_BUF_ERROR:
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: corrupt gzip stream: %s (the compressed "
                            "file is truncated)",
                            path, msg);
    default:
        return tg_error_set(err, TG_ERR_FORMAT, "%s: corrupt gzip stream: %s",
                            path, msg);
    }
}

/* Read up to want bytes into buf, stopping early only at end of file;
 * *got says how many arrived. A premature end of a gzip stream is an
 * error, a clean end of file is not (the caller judges the count). */
static tg_status idx_fill(gzFile gz, const char *path, uint8_t *buf,
                          size_t want, size_t *got, tg_error *err) {
    *got = 0;
    while (*got < want) {
        size_t chunk = want - *got;
        if (chunk > IDX_CHUNK) chunk = IDX_CHUNK;
        int r = gzread(gz, buf + *got, (unsigned)chunk);
        if (r < 0) return idx_gz_fail(gz, path, err);
        if (r == 0) break;
        *got += (size_t)r;
    }
    if (*got < want) {
        int errnum = Z_OK;
        gzerror(gz, &errnum);
        if (errnum != Z_OK) return idx_gz_fail(gz, path, err);
    }
    return TG_OK;
}

static uint32_t idx_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Read and validate the header: magic, type, dimension count, each
 * dimension in [1, INT32_MAX] and their product <= TG_IDX_MAX_ELEMS. */
static tg_status idx_read_header(gzFile gz, const char *path,
                                 const idx_kind *k, int32_t *dims,
                                 size_t *nelems, tg_error *err) {
    const uint32_t expect = (uint32_t)IDX_TYPE_UBYTE << 8 | (uint32_t)k->ndim;
    uint8_t hdr[4 + 4 * IDX_MAX_DIMS];
    size_t got = 0;
    tg_status st = idx_fill(gz, path, hdr, 4, &got, err);
    if (st != TG_OK) return st;
    if (got == 0)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated header: the file is empty "
                            "(expected an IDX %s file)",
                            path, k->what);
    if (got < 4)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated header: %zu of 4 magic bytes",
                            path, got);
    uint32_t magic = idx_be32(hdr);
    if (hdr[0] != 0 || hdr[1] != 0)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: bad magic 0x%08x: not an IDX file (expected "
                            "0x%08x for %s)",
                            path, (unsigned)magic, (unsigned)expect, k->what);
    unsigned type = hdr[2];
    if (type != IDX_TYPE_UBYTE) {
        const char *name = idx_type_name(type);
        if (name)
            return tg_error_set(err, TG_ERR_UNSUPPORTED,
                                "%s: element type byte 0x%02x (%s) is not "
                                "supported, only 0x08 (unsigned byte)",
                                path, type, name);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: unknown element type byte 0x%02x in magic "
                            "0x%08x (only 0x08, unsigned byte, is supported)",
                            path, type, (unsigned)magic);
    }
    int ndim = hdr[3];
    if (ndim != k->ndim)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: magic 0x%08x gives %d dimensions but an IDX "
                            "%s file has %d",
                            path, (unsigned)magic, ndim, k->what, k->ndim);

    size_t want = 4 * (size_t)ndim;
    st = idx_fill(gz, path, hdr + 4, want, &got, err);
    if (st != TG_OK) return st;
    if (got < want)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated header: %zu of %zu dimension bytes",
                            path, got, want);

    for (int i = 0; i < ndim; i++) {
        uint32_t d = idx_be32(hdr + 4 + 4 * i);
        if (d == 0)
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: dimension %d (%s) is 0", path, i,
                                k->dim_names[i]);
        if (d > INT32_MAX)
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: dimension %d (%s) = %u is too large "
                                "(limit %d)",
                                path, i, k->dim_names[i], (unsigned)d,
                                INT32_MAX);
        dims[i] = (int32_t)d;
    }
    /* Each factor < 2^31 and the running product <= 2^31 before the next
     * multiplication, so it stays below 2^62 and cannot overflow. */
    uint64_t prod = 1;
    for (int i = 0; i < ndim && prod <= TG_IDX_MAX_ELEMS; i++)
        prod *= (uint64_t)dims[i];
    if (prod > TG_IDX_MAX_ELEMS) {
        char shape[64];
        int off = 0;
        for (int i = 0; i < ndim; i++)
            off += snprintf(shape + off, sizeof shape - (size_t)off, "%s%d",
                            i ? "x" : "", (int)dims[i]);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: size too large: %s %s is more than the "
                            "limit of %llu elements",
                            path, k->what, shape,
                            (unsigned long long)TG_IDX_MAX_ELEMS);
    }
    *nelems = (size_t)prod;
    return TG_OK;
}

/* Count the bytes left before end of file (up to a cap), reporting gzip
 * errors on the way. */
static tg_status idx_count_rest(gzFile gz, const char *path, size_t *rest,
                                tg_error *err) {
    uint8_t scratch[4096];
    *rest = 0;
    for (;;) {
        size_t got = 0;
        tg_status st = idx_fill(gz, path, scratch, sizeof scratch, &got, err);
        if (st != TG_OK) return st;
        *rest += got;
        if (got < sizeof scratch || *rest >= IDX_TRAILING_COUNT_MAX)
            return TG_OK;
    }
}

/* Read exactly size body bytes into a fresh buffer, then require a clean end
 * of file. desc describes the header's claim ("3 images of 4x5"). */
static tg_status idx_read_body(gzFile gz, const char *path, size_t size,
                               const char *desc, uint8_t **out,
                               tg_error *err) {
    size_t cap = size < IDX_FIRST_ALLOC ? size : IDX_FIRST_ALLOC;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return tg_error_set(err, TG_ERR_NOMEM,
                            "%s: out of memory for %zu bytes", path, cap);
    size_t have = 0;
    tg_status st = TG_OK;
    for (;;) {
        size_t got = 0;
        st = idx_fill(gz, path, buf + have, cap - have, &got, err);
        if (st != TG_OK) goto fail;
        have += got;
        if (have < cap || cap == size) break; /* end of file, or all read */
        size_t ncap = cap > size / 2 ? size : 2 * cap;
        uint8_t *nbuf = realloc(buf, ncap);
        if (!nbuf) {
            st = tg_error_set(err, TG_ERR_NOMEM,
                              "%s: out of memory for %zu bytes", path, ncap);
            goto fail;
        }
        buf = nbuf;
        cap = ncap;
    }
    if (have < size) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: truncated: header says %s (%zu bytes) but the "
                          "file has %zu bytes of body",
                          path, desc, size, have);
        goto fail;
    }
    size_t rest = 0;
    st = idx_count_rest(gz, path, &rest, err);
    if (st != TG_OK) goto fail;
    if (rest > 0) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: trailing bytes: header says %s (%zu bytes) but "
                          "%s%zu more bytes follow the body",
                          path, desc, size,
                          rest >= IDX_TRAILING_COUNT_MAX ? "at least " : "",
                          rest);
        goto fail;
    }
    *out = buf;
    return TG_OK;
fail:
    free(buf);
    return st;
}

/* Open path, validate the header against k, read the body. On success
 * dims[0..k->ndim) and *body are set; on failure *body stays NULL. */
static tg_status idx_read_file(const char *path, const idx_kind *k,
                               int32_t *dims, uint8_t **body, tg_error *err) {
    *body = NULL;
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG, "no path given for the IDX %s "
                                             "file", k->what);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return tg_error_set(err, errno == ENOMEM ? TG_ERR_NOMEM : TG_ERR_IO,
                            "%s: cannot open: %s", path,
                            errno ? strerror(errno) : "gzopen failed");
    gzbuffer(gz, 1u << 17); /* fewer read() calls than the 8 KiB default */

    size_t nelems = 0;
    tg_status st = idx_read_header(gz, path, k, dims, &nelems, err);
    if (st == TG_OK) {
        char desc[96];
        if (k->ndim == 3)
            snprintf(desc, sizeof desc, "%d %s of %dx%d", (int)dims[0],
                     k->what, (int)dims[1], (int)dims[2]);
        else
            snprintf(desc, sizeof desc, "%d %s", (int)dims[0], k->what);
        st = idx_read_body(gz, path, nelems, desc, body, err);
    }
    gzclose_r(gz); /* a read-only close has nothing left to report */
    return st;
}

tg_status tg_idx_read_images(const char *path, tg_idx_images *out,
                             tg_error *err) {
    TG_ASSERT(out);
    memset(out, 0, sizeof *out);
    int32_t dims[3] = {0, 0, 0};
    uint8_t *body = NULL;
    tg_status st = idx_read_file(path, &IDX_IMAGES, dims, &body, err);
    if (st != TG_OK) return st;
    out->n = dims[0];
    out->h = dims[1];
    out->w = dims[2];
    out->pixels = body;
    return TG_OK;
}

tg_status tg_idx_read_labels(const char *path, int num_classes,
                             tg_idx_labels *out, tg_error *err) {
    TG_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (num_classes <= 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "%s: num_classes must be positive, got %d",
                            path ? path : "(null)", num_classes);
    int32_t dims[1] = {0};
    uint8_t *body = NULL;
    tg_status st = idx_read_file(path, &IDX_LABELS, dims, &body, err);
    if (st != TG_OK) return st;
    for (int32_t i = 0; i < dims[0]; i++) {
        if ((int)body[i] >= num_classes) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: label %d at index %d is out of range "
                              "[0,%d)",
                              path, (int)body[i], (int)i, num_classes);
            free(body);
            return st;
        }
    }
    out->n = dims[0];
    out->labels = body;
    return TG_OK;
}

tg_status tg_idx_read_pair(const char *images_path, const char *labels_path,
                           int num_classes, tg_idx_images *im,
                           tg_idx_labels *lb, tg_error *err) {
    TG_ASSERT(im && lb);
    memset(lb, 0, sizeof *lb);
    tg_status st = tg_idx_read_images(images_path, im, err);
    if (st != TG_OK) return st;
    st = tg_idx_read_labels(labels_path, num_classes, lb, err);
    if (st == TG_OK && im->n != lb->n)
        st = tg_error_set(err, TG_ERR_SHAPE,
                          "%s: count mismatch: %d images but %s has %d "
                          "labels",
                          images_path, (int)im->n, labels_path, (int)lb->n);
    if (st != TG_OK) {
        tg_idx_images_free(im);
        tg_idx_labels_free(lb);
    }
    return st;
}

void tg_idx_images_free(tg_idx_images *im) {
    if (!im) return;
    free(im->pixels);
    memset(im, 0, sizeof *im);
}

void tg_idx_labels_free(tg_idx_labels *lb) {
    if (!lb) return;
    free(lb->labels);
    memset(lb, 0, sizeof *lb);
}
