/* cifar.c - CIFAR-10 / CIFAR-100 binary records (see cifar.h). */
#include "tgsage/cifar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECORDS (1 << 22)  /* far above CIFAR's 60,000: a sanity bound */

int tg_cifar_classes(tg_cifar_kind k) {
    return k == TG_CIFAR10 ? 10 : k == TG_CIFAR100_FINE ? 100 : 20;
}

tg_status tg_cifar_parse(const void *buf, size_t len, const char *name,
                         tg_cifar_kind kind, uint8_t **pixels, int32_t **labels,
                         int64_t *n, tg_error *err) {
    const size_t lb = kind == TG_CIFAR10 ? 1 : 2, rec = lb + TG_CIFAR_IMAGE_BYTES;
    const char *what = kind == TG_CIFAR10 ? "CIFAR-10" : "CIFAR-100";
    if (len == 0)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: empty file: no %s records", name, what);
    if (len % rec)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: %zu bytes is not a whole number of %s records of %zu "
                            "bytes (%zu records and %zu bytes left over)",
                            name, len, what, rec, len / rec, len % rec);
    size_t m = len / rec;
    if (m > MAX_RECORDS || *n + (int64_t)m > MAX_RECORDS)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: %zu records is more than %d", name,
                            m, MAX_RECORDS);
    const unsigned char *b = buf;
    const int classes = tg_cifar_classes(kind);
    const size_t at = kind == TG_CIFAR100_FINE ? 1 : 0;  /* which label byte */
    for (size_t i = 0; i < m; i++)
        if (b[i * rec + at] >= classes)
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: label %d of record %zu is out of range [0,%d)", name,
                                b[i * rec + at], i, classes);
    uint8_t *p = realloc(*pixels, (size_t)(*n + m) * TG_CIFAR_IMAGE_BYTES);
    if (!p) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", name);
    *pixels = p;
    int32_t *l = realloc(*labels, sizeof(int32_t) * (size_t)(*n + m));
    if (!l) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", name);
    *labels = l;
    for (size_t i = 0; i < m; i++) {
        l[*n + i] = b[i * rec + at];
        memcpy(p + (size_t)(*n + i) * TG_CIFAR_IMAGE_BYTES, b + i * rec + lb,
               TG_CIFAR_IMAGE_BYTES);
    }
    *n += (int64_t)m;
    return TG_OK;
}

tg_status tg_cifar_read(const char *path, tg_cifar_kind kind, uint8_t **pixels,
                        int32_t **labels, int64_t *n, tg_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return tg_error_set(err, TG_ERR_IO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return tg_error_set(err, TG_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long)size > (unsigned long)MAX_RECORDS * 3074) {
        fclose(f);
        return tg_error_set(err, TG_ERR_FORMAT, "%s: %ld bytes is too large for CIFAR",
                            path, size);
    }
    void *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    tg_status st = got == (size_t)size
                       ? tg_cifar_parse(buf, got, path, kind, pixels, labels, n, err)
                       : tg_error_set(err, TG_ERR_IO, "%s: read %zu of %ld bytes", path,
                                      got, size);
    free(buf);
    return st;
}
