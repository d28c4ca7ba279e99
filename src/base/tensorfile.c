/* tensorfile.c - reading and writing named-tensor files (see tensorfile.h).
 *
 * A file is read whole (up to TG_TFILE_MAX_BYTES) and parsed from memory;
 * it is written through tg_atomic with the hash kept on the way. */
#include "tgsage/tensorfile.h"

#include <stdlib.h>
#include <string.h>

#include "tgsage/fileio.h"

static const char MAGIC[8] = {'T', 'G', 'S', 'G', 'T', 'N', 'S', 'R'};

size_t tg_dtype_size(tg_dtype d) { return d == TG_DT_F64 ? 8 : 4; }

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ULL

/* ---- reading -------------------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    size_t n, off;
} cursor;

static int take(cursor *c, void *dst, size_t n) {
    if (c->n - c->off < n) return 0;
    memcpy(dst, c->p + c->off, n);
    c->off += n;
    return 1;
}

tg_status tg_tfile_read(const char *path, tg_tensor_file *out, tg_error *err) {
    memset(out, 0, sizeof *out);
    unsigned char *buf = NULL;
    size_t size = 0;
    tg_status st = tg_file_read(path, TG_TFILE_MAX_BYTES, &buf, &size, err);
    if (st != TG_OK) return st;
    cursor c = {buf, size, 0};
    char magic[8];
    uint32_t version, count, mlen;
    if (!take(&c, magic, 8) || memcmp(magic, MAGIC, 8) != 0) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: not a tgsage tensor file (bad magic number)", path);
        goto done;
    }
    if (c.n < 8 + 8 + 12) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: truncated (%zu bytes)", path, c.n);
        goto done;
    }
    uint64_t want;
    memcpy(&want, buf + c.n - 8, 8);
    if (fnv1a(FNV_OFFSET, buf, c.n - 8) != want) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: checksum mismatch: the file is truncated or corrupt", path);
        goto done;
    }
    c.n -= 8;
    if (!take(&c, &version, 4) || !take(&c, &count, 4) || !take(&c, &mlen, 4)) goto trunc;
    if (version != TG_TFILE_VERSION) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: format version %u, this tgsage reads version %d", path,
                          version, TG_TFILE_VERSION);
        goto done;
    }
    if (mlen > c.n - c.off || count > (c.n - c.off) / 4) goto trunc;
    out->meta = malloc(mlen + 1);
    out->t = calloc(count + 1, sizeof *out->t);
    if (!out->meta || !out->t) {
        st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    take(&c, out->meta, mlen);
    out->meta[mlen] = '\0';
    for (uint32_t i = 0; i < count; i++) {
        tg_tensor *t = &out->t[i];
        uint16_t nlen;
        uint8_t dt, nd;
        if (!take(&c, &nlen, 2)) goto trunc;
        if (nlen >= sizeof t->name) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: tensor %u: name of %u bytes", path,
                              i, nlen);
            goto done;
        }
        if (!take(&c, t->name, nlen) || !take(&c, &dt, 1) || !take(&c, &nd, 1)) goto trunc;
        if (dt > TG_DT_F64 || nd < 1 || nd > 8) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: tensor '%s': dtype %u, %u dims",
                              path, t->name, dt, nd);
            goto done;
        }
        t->dtype = (tg_dtype)dt, t->ndim = nd, t->count = 1;
        for (int d = 0; d < nd; d++) {
            uint32_t v;
            if (!take(&c, &v, 4)) goto trunc;
            t->dims[d] = v;
            if (v && t->count > (c.n - c.off) / v) goto trunc;  /* no overflow */
            t->count *= v;
        }
        size_t bytes = t->count * tg_dtype_size(t->dtype);
        if (bytes > c.n - c.off) goto trunc;
        t->data = malloc(bytes + 1);
        if (!t->data) {
            st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        take(&c, t->data, bytes);
        out->n++;
    }
    if (c.off != c.n) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: %zu unexpected bytes after the tensors",
                          path, c.n - c.off);
        goto done;
    }
    goto done;
trunc:
    st = tg_error_set(err, TG_ERR_FORMAT, "%s: truncated at byte %zu", path, c.off);
done:
    free(buf);
    if (st != TG_OK) tg_tfile_free(out);
    return st;
}

void tg_tfile_free(tg_tensor_file *f) {
    if (f->t)
        for (int i = 0; i < f->n; i++) free(f->t[i].data);
    free(f->t);
    free(f->meta);
    memset(f, 0, sizeof *f);
}

const tg_tensor *tg_tfile_find(const tg_tensor_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

/* ---- writing ------------------------------------------------------------- */

typedef struct {
    tg_atomic out;
    uint64_t h;
} writer;

static void put(writer *w, const void *p, size_t n) {
    tg_atomic_write(&w->out, p, n);
    w->h = fnv1a(w->h, p, n);
}

tg_status tg_tfile_write(const char *path, const char *meta, int n,
                         const tg_tensor *t, tg_error *err) {
    for (int i = 0; i < n; i++)
        if (strlen(t[i].name) >= sizeof t[i].name || t[i].ndim < 1 || t[i].ndim > 8)
            return tg_error_set(err, TG_ERR_ARG, "%s: tensor %d ('%s') cannot be stored",
                                path, i, t[i].name);
    uint64_t total = 8 + 12 + (meta ? strlen(meta) : 0) + 8;
    for (int i = 0; i < n; i++)
        total += 4 + strlen(t[i].name) + 4 * (uint64_t)t[i].ndim +
                 (uint64_t)t[i].count * tg_dtype_size(t[i].dtype);
    if (total > TG_TFILE_MAX_BYTES) {
        char s[48], l[48];
        tg_file_size_str(s, sizeof s, total);
        tg_file_limit_str(l, sizeof l, TG_TFILE_MAX_BYTES);
        return tg_error_set(err, TG_ERR_ARG, "%s: %s of tensors is more than the %s limit of a "
                            "tensor file", path, s, l);
    }
    writer w = {.h = FNV_OFFSET};
    tg_status st = tg_atomic_begin(&w.out, path, err);
    if (st != TG_OK) return st;
    uint32_t version = TG_TFILE_VERSION, count = (uint32_t)n;
    uint32_t mlen = meta ? (uint32_t)strlen(meta) : 0;
    put(&w, MAGIC, 8);
    put(&w, &version, 4);
    put(&w, &count, 4);
    put(&w, &mlen, 4);
    put(&w, meta ? meta : "", mlen);
    for (int i = 0; i < n; i++) {
        uint16_t nlen = (uint16_t)strlen(t[i].name);
        uint8_t dt = (uint8_t)t[i].dtype, nd = (uint8_t)t[i].ndim;
        put(&w, &nlen, 2);
        put(&w, t[i].name, nlen);
        put(&w, &dt, 1);
        put(&w, &nd, 1);
        for (int d = 0; d < nd; d++) {
            uint32_t v = (uint32_t)t[i].dims[d];
            put(&w, &v, 4);
        }
        put(&w, t[i].data, t[i].count * tg_dtype_size(t[i].dtype));
    }
    uint64_t h = w.h;
    tg_atomic_write(&w.out, &h, 8);
    return tg_atomic_commit(&w.out, err);
}
