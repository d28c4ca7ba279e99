/* dataset.c - loading datasets by spec, fingerprints, splits and subsets. */
#include "tgsage/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "tgsage/cifar.h"
#include "tgsage/idx.h"
#include "tgsage/prep.h"
#include "tgsage/rng.h"

static const char *FASHION_NAMES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                        "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                        "Ankle boot"};
static const char *CIFAR10_NAMES[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"};

void tg_dataset_free(tg_dataset *d) {
    if (!d) return;
    free(d->u8);
    free(d->f32);
    free(d->labels);
    if (d->class_names)
        for (int i = 0; i < d->classes; i++) free(d->class_names[i]);
    free(d->class_names);
    memset(d, 0, sizeof *d);
}

static size_t image_size(const tg_dataset *d) { return (size_t)d->c * d->h * d->w; }

void tg_dataset_fingerprint(tg_dataset *d) {
    XXH3_state_t *s = XXH3_createState();
    TG_ASSERT(s);
    XXH3_128bits_reset(s);
    int64_t head[5] = {d->n, d->c, d->h, d->w, d->u8 ? 0 : 1};
    XXH3_128bits_update(s, head, sizeof head);
    XXH3_128bits_update(s, d->labels, sizeof(int32_t) * (size_t)d->n);
    if (d->u8) XXH3_128bits_update(s, d->u8, image_size(d) * (size_t)d->n);
    else XXH3_128bits_update(s, d->f32, sizeof(float) * image_size(d) * (size_t)d->n);
    XXH128_hash_t h = XXH3_128bits_digest(s);
    XXH3_freeState(s);
    snprintf(d->fingerprint, sizeof d->fingerprint, "%016llx%016llx",
             (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static tg_status set_names(tg_dataset *d, int classes, const char **names,
                           const char *names_file, tg_error *err) {
    d->classes = classes;
    d->class_names = calloc((size_t)classes, sizeof(char *));
    if (!d->class_names) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    FILE *f = names_file ? fopen(names_file, "r") : NULL;
    char line[256];
    for (int i = 0; i < classes; i++) {
        const char *name = NULL;
        /* one name a line, blank lines skipped (CIFAR's *.meta.txt) */
        while (f && !name && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0]) name = line;
        }
        char fallback[32];
        if (!name && names) name = names[i];
        if (!name) {
            snprintf(fallback, sizeof fallback, "%d", i);
            name = fallback;
        }
        d->class_names[i] = strdup(name);
        if (!d->class_names[i]) {
            if (f) fclose(f);
            return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        }
    }
    if (f) fclose(f);
    return TG_OK;
}

static tg_status load_idx(const char *dir, const char *split, const char **names,
                          tg_dataset *d, tg_error *err) {
    const char *stem = strcmp(split, "train") == 0 ? "train" : "t10k";
    char ip[4096], lp[4096];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    if (access(ip, F_OK) != 0) snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte", dir, stem);
    if (access(lp, F_OK) != 0) snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte", dir, stem);
    tg_idx_images im;
    tg_idx_labels lb;
    tg_status st = tg_idx_read_pair(ip, lp, 10, &im, &lb, err);
    if (st != TG_OK) return st;
    d->n = im.n, d->c = 1, d->h = im.h, d->w = im.w;
    d->u8 = im.pixels;
    d->labels = malloc(sizeof(int32_t) * (size_t)lb.n);
    if (!d->labels) {
        tg_idx_labels_free(&lb);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", lp);
    }
    for (int32_t i = 0; i < lb.n; i++) d->labels[i] = lb.labels[i];
    tg_idx_labels_free(&lb);
    return set_names(d, 10, names, NULL, err);
}

static tg_status load_cifar(const char *dir, const char *split, tg_cifar_kind kind,
                            tg_dataset *d, tg_error *err) {
    char path[4096];
    int train = strcmp(split, "train") == 0;
    d->c = 3, d->h = 32, d->w = 32;
    if (kind == TG_CIFAR10) {
        for (int b = 1; b <= (train ? 5 : 1); b++) {
            if (train) snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
            else snprintf(path, sizeof path, "%s/test_batch.bin", dir);
            tg_status st = tg_cifar_read(path, kind, &d->u8, &d->labels, &d->n, err);
            if (st != TG_OK) return st;
        }
        snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
        return set_names(d, 10, CIFAR10_NAMES, access(path, R_OK) ? NULL : path, err);
    }
    snprintf(path, sizeof path, "%s/%s.bin", dir, train ? "train" : "test");
    tg_status st = tg_cifar_read(path, kind, &d->u8, &d->labels, &d->n, err);
    if (st != TG_OK) return st;
    snprintf(path, sizeof path, "%s/%s_label_names.txt", dir,
             kind == TG_CIFAR100_FINE ? "fine" : "coarse");
    return set_names(d, tg_cifar_classes(kind), NULL, access(path, R_OK) ? NULL : path, err);
}

tg_status tg_dataset_load(const char *spec, const char *split, tg_dataset *d,
                          tg_error *err) {
    memset(d, 0, sizeof *d);
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return tg_error_set(err, TG_ERR_ARG, "split '%s': expected train or test", split);
    tg_status st;
    char dir[4096];
    if (strcmp(spec, "fashion-mnist") == 0) {
        st = load_idx(TG_FASHION_MNIST_DIR, split, FASHION_NAMES, d, err);
        if (st == TG_ERR_IO)
            tg_error_set(err, st, "%s (install Debian's dataset-fashion-mnist: "
                         "scripts/setup.sh does)", err->msg);
    } else if (strncmp(spec, "mnist:", 6) == 0) {
        st = load_idx(spec + 6, split, NULL, d, err);
    } else if (strncmp(spec, "cifar10:", 8) == 0) {
        st = load_cifar(spec + 8, split, TG_CIFAR10, d, err);
    } else if (strncmp(spec, "cifar100:", 9) == 0) {
        snprintf(dir, sizeof dir, "%s", spec + 9);
        tg_cifar_kind kind = TG_CIFAR100_FINE;
        size_t len = strlen(dir);
        if (len > 7 && strcmp(dir + len - 7, ":coarse") == 0) {
            dir[len - 7] = '\0';
            kind = TG_CIFAR100_COARSE;
        }
        st = load_cifar(dir, split, kind, d, err);
    } else if (strncmp(spec, "npy:", 4) == 0) {
        st = tg_dataset_load_npy(spec + 4, split, d, err);
    } else {
        st = tg_error_set(err, TG_ERR_ARG,
                          "data '%s': expected fashion-mnist, mnist:DIR, cifar10:DIR, "
                          "cifar100:DIR[:coarse] or npy:IMAGES,LABELS",
                          spec);
    }
    if (st != TG_OK) {
        tg_dataset_free(d);
        return st;
    }
    snprintf(d->source, sizeof d->source, "%s (%s)", spec, split);
    tg_dataset_fingerprint(d);
    return TG_OK;
}

tg_status tg_dataset_subset(const tg_dataset *d, const int64_t *idx, int64_t n,
                            tg_dataset *out, tg_error *err) {
    memset(out, 0, sizeof *out);
    const size_t sz = image_size(d);
    const size_t esz = d->u8 ? 1 : sizeof(float);
    out->n = n, out->c = d->c, out->h = d->h, out->w = d->w;
    void *px = malloc(sz * esz * (size_t)n + 1);
    out->labels = malloc(sizeof(int32_t) * (size_t)n + 1);
    if (d->u8) out->u8 = px;
    else out->f32 = px;
    if (!px || !out->labels) goto nomem;
    for (int64_t i = 0; i < n; i++) {
        TG_ASSERT(idx[i] >= 0 && idx[i] < d->n);
        const char *src = d->u8 ? (const char *)d->u8 : (const char *)d->f32;
        memcpy((char *)px + (size_t)i * sz * esz, src + (size_t)idx[i] * sz * esz, sz * esz);
        out->labels[i] = d->labels[idx[i]];
    }
    if (set_names(out, d->classes, (const char **)d->class_names, NULL, err) != TG_OK)
        goto nomem;
    snprintf(out->source, sizeof out->source, "%s", d->source);
    tg_dataset_fingerprint(out);
    return TG_OK;
nomem:
    tg_dataset_free(out);
    return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory for a subset of %lld",
                        d->source, (long long)n);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

tg_status tg_dataset_split(const tg_dataset *d, int64_t val_n, uint64_t seed,
                           tg_dataset *train, tg_dataset *val, tg_error *err) {
    if (val_n < 0 || val_n >= d->n)
        return tg_error_set(err, TG_ERR_ARG,
                            "%s: cannot hold out %lld of %lld examples for validation",
                            d->source, (long long)val_n, (long long)d->n);
    if (d->n > INT32_MAX)
        return tg_error_set(err, TG_ERR_ARG, "%s: %lld examples, a split takes at most 2^31-1",
                            d->source, (long long)d->n);
    const int64_t n = d->n, train_n = n - val_n;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
    if (!perm || !idx) {
        free(perm), free(idx);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    tg_rng r;
    tg_rng_seed(&r, tg_rng_derive(seed, TG_STREAM_SPLIT));
    /* a partial shuffle: the last val_n positions are the held-out set */
    tg_rng_shuffle_partial_i32(&r, perm, n, val_n);
    qsort(perm, (size_t)train_n, sizeof(int32_t), cmp_i32);
    qsort(perm + train_n, (size_t)val_n, sizeof(int32_t), cmp_i32);
    for (int64_t i = 0; i < n; i++) idx[i] = perm[i];
    tg_status st = tg_dataset_subset(d, idx + train_n, val_n, val, err);
    if (st == TG_OK) st = tg_dataset_subset(d, idx, train_n, train, err);
    if (st != TG_OK) tg_dataset_free(val);
    free(perm);
    free(idx);
    if (st == TG_OK) {
        snprintf(train->source, sizeof train->source, "%.400s, train part of seed %llu",
                 d->source, (unsigned long long)seed);
        snprintf(val->source, sizeof val->source, "%.400s, validation part of seed %llu",
                 d->source, (unsigned long long)seed);
    }
    return st;
}

void tg_dataset_limit(tg_dataset *d, int64_t n) {
    if (n <= 0 || n >= d->n) return;
    d->n = n;  /* the buffers keep their size; only the count shrinks */
    tg_dataset_fingerprint(d);
}

void tg_dataset_image(const tg_dataset *d, int64_t i, float *out) {
    const size_t sz = image_size(d);
    if (d->u8) tg_standardize_image_u8(d->u8 + (size_t)i * sz, sz, out);
    else tg_standardize_image_f32(d->f32 + (size_t)i * sz, sz, out);
}

void tg_dataset_images(const tg_dataset *d, const int32_t *idx, int64_t first, int n,
                       float *out) {
    const size_t size = image_size(d);
#pragma omp parallel for schedule(static)
    for (int j = 0; j < n; j++) tg_dataset_image(d, idx ? idx[j] : first + j, out + (size_t)j * size);
}
