/* cifar.c - CIFAR-10 / CIFAR-100 binary records (see cifar.h). */
#include "tgsage/cifar.h"

#include <stdlib.h>
#include <string.h>

#include "tgsage/fileio.h"

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
    unsigned char *buf = NULL;
    size_t len = 0;
    tg_status st = tg_file_read(path, (size_t)MAX_RECORDS * (2 + TG_CIFAR_IMAGE_BYTES), &buf,
                                &len, err);
    if (st == TG_OK) st = tg_cifar_parse(buf, len, path, kind, pixels, labels, n, err);
    free(buf);
    return st;
}
