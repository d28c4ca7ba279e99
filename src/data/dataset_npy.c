/* dataset_npy.c - a dataset from two .npy files: images and labels.
 *
 * Images are uint8 (pixels) or float32/float64 arrays of one of three
 * layouts, told apart by which axes are small:
 *   (n, H, W)       one channel;
 *   (n, C, H, W)    when C <= 4 and H, W > 4 (channels first);
 *   (n, H, W, C)    when C <= 4 and H, W > 4 (channels last; transposed).
 * A 4-D shape that fits both or neither (e.g. (n, 3, 4, 3)) is refused as
 * ambiguous. Labels are a 1-D integer array (or integral floats) of the same
 * length, each >= 0; the class count is the largest label + 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/dataset.h"
#include "tgsage/npy.h"

static tg_status images(const char *path, tg_dataset *d, tg_error *err) {
    tg_npy a;
    tg_status st = tg_npy_read(path, &a, err);
    if (st != TG_OK) return st;
    int64_t *s = a.shape;
    int chw = 0;  /* 1: (n,C,H,W), 2: (n,H,W,C) */
    if (a.ndim == 3) {
        d->n = s[0], d->c = 1, d->h = (int)s[1], d->w = (int)s[2];
    } else if (a.ndim == 4) {
        int first = s[1] <= 4 && s[2] > 4 && s[3] > 4;
        int last = s[3] <= 4 && s[1] > 4 && s[2] > 4;
        if (first == last) {
            st = tg_error_set(err, TG_ERR_SHAPE,
                              "%s: images of shape (%lld, %lld, %lld, %lld) are ambiguous: "
                              "expected (n, C, H, W) or (n, H, W, C) with C <= 4 < H, W",
                              path, (long long)s[0], (long long)s[1], (long long)s[2],
                              (long long)s[3]);
            goto done;
        }
        chw = first ? 1 : 2;
        d->n = s[0];
        d->c = (int)(first ? s[1] : s[3]);
        d->h = (int)(first ? s[2] : s[1]);
        d->w = (int)(first ? s[3] : s[2]);
    } else {
        st = tg_error_set(err, TG_ERR_SHAPE,
                          "%s: images must have 3 or 4 dimensions, this array has %d", path,
                          a.ndim);
        goto done;
    }
    if (d->n < 1 || d->h < 1 || d->w < 1) {
        st = tg_error_set(err, TG_ERR_SHAPE, "%s: no images in the array", path);
        goto done;
    }
    const size_t plane = (size_t)d->h * d->w, size = plane * d->c;
    if (a.dtype == TG_NPY_U8) {
        d->u8 = malloc(size * (size_t)d->n);
        if (!d->u8) goto nomem;
        if (chw != 2) memcpy(d->u8, a.data, size * (size_t)d->n);
        else {
            const uint8_t *src = a.data;
            for (int64_t i = 0; i < d->n; i++)
                for (size_t p = 0; p < plane; p++)
                    for (int ch = 0; ch < d->c; ch++)
                        d->u8[i * size + ch * plane + p] = src[(i * plane + p) * d->c + ch];
        }
    } else if (a.dtype == TG_NPY_F32 || a.dtype == TG_NPY_F64) {
        float *f;
        st = tg_npy_to_f32(&a, &f, err);
        if (st != TG_OK) goto done;
        for (size_t i = 0; i < a.count; i++)
            if (!isfinite(f[i])) {
                st = tg_error_set(err, TG_ERR_NUMERIC,
                                  "%s: element %zu of the images is not finite", path, i);
                free(f);
                goto done;
            }
        if (chw != 2) d->f32 = f;
        else {
            d->f32 = malloc(sizeof(float) * size * (size_t)d->n);
            if (!d->f32) {
                free(f);
                goto nomem;
            }
            for (int64_t i = 0; i < d->n; i++)
                for (size_t p = 0; p < plane; p++)
                    for (int ch = 0; ch < d->c; ch++)
                        d->f32[i * size + ch * plane + p] = f[(i * plane + p) * d->c + ch];
            free(f);
        }
    } else {
        st = tg_error_set(err, TG_ERR_UNSUPPORTED,
                          "%s: images of dtype %s: expected uint8, float32 or float64", path,
                          tg_npy_dtype_name(a.dtype));
    }
    goto done;
nomem:
    st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
done:
    tg_npy_free(&a);
    return st;
}

static tg_status labels(const char *path, tg_dataset *d, tg_error *err) {
    tg_npy a;
    tg_status st = tg_npy_read(path, &a, err);
    if (st != TG_OK) return st;
    if (a.ndim != 1 || a.shape[0] != d->n) {
        st = tg_error_set(err, TG_ERR_SHAPE,
                          "%s: labels must be a 1-D array of %lld (one per image), this has "
                          "%d dimensions and %zu values",
                          path, (long long)d->n, a.ndim, a.count);
    } else if ((st = tg_npy_to_i32(&a, &d->labels, err)) == TG_OK) {
        int32_t mx = 0;
        for (int64_t i = 0; i < d->n; i++) {
            if (d->labels[i] < 0) {
                st = tg_error_set(err, TG_ERR_FORMAT, "%s: label %d at index %lld is negative",
                                  path, d->labels[i], (long long)i);
                break;
            }
            if (d->labels[i] > mx) mx = d->labels[i];
        }
        if (st == TG_OK && mx >= 100000)
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: label %d: too many classes", path, mx);
        d->classes = mx + 1;
    }
    tg_npy_free(&a);
    return st;
}

tg_status tg_dataset_load_npy(const char *files, const char *split, tg_dataset *d,
                              tg_error *err) {
    const char *comma = strchr(files, ',');
    if (!comma || comma == files || !comma[1])
        return tg_error_set(err, TG_ERR_ARG, "data 'npy:%s': expected npy:IMAGES.npy,LABELS.npy",
                            files);
    if (strcmp(split, "train") != 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "data 'npy:%s' has no %s split: it is one set of images (a "
                            "validation part is split off it)", files, split);
    char ipath[4096];
    snprintf(ipath, sizeof ipath, "%.*s", (int)(comma - files), files);
    tg_status st = images(ipath, d, err);
    if (st == TG_OK) st = labels(comma + 1, d, err);
    if (st != TG_OK) return st;
    d->class_names = calloc((size_t)d->classes, sizeof(char *));
    if (!d->class_names) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < d->classes; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        if (!(d->class_names[i] = strdup(name))) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    }
    return TG_OK;
}
