/* test_dataset.c - datasets by spec (IDX, CIFAR, npy layouts), fingerprints,
 * the seeded split, augmentation and the background loader. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tgsage/cifar.h"
#include "tgsage/loader.h"
#include "tgsage/npy.h"

static char spec[1024];

static const char *cifar_spec(const char *kind, const char *sub, const char *tail) {
    snprintf(spec, sizeof spec, "%s:%s%s", kind, tu_fixture(sub), tail);
    return spec;
}

static void test_fashion_mnist(void **state) {
    (void)state;
    tg_dataset tr, te;
    tg_error err;
    assert_int_equal(tg_dataset_load("fashion-mnist", "train", &tr, &err), TG_OK);
    assert_int_equal(tg_dataset_load("fashion-mnist", "test", &te, &err), TG_OK);
    assert_true(tr.n == 60000 && te.n == 10000 && tr.c == 1 && tr.h == 28 && tr.w == 28);
    assert_int_equal(tr.classes, 10);
    assert_string_equal(tr.class_names[9], "Ankle boot");
    assert_int_equal(tr.labels[0], 9);
    assert_int_equal(strlen(tr.fingerprint), 32);
    assert_string_not_equal(tr.fingerprint, te.fingerprint);
    /* the fingerprint is of the contents: a limit or one changed pixel moves it */
    char fp[33];
    strcpy(fp, tr.fingerprint);
    tg_dataset_limit(&tr, 100);
    assert_string_not_equal(fp, tr.fingerprint);
    strcpy(fp, tr.fingerprint);
    tr.u8[5]++;
    tg_dataset_fingerprint(&tr);
    assert_string_not_equal(fp, tr.fingerprint);
    tr.u8[5]--;
    tg_dataset_fingerprint(&tr);
    assert_string_equal(fp, tr.fingerprint);
    tg_dataset_free(&tr);
    tg_dataset_free(&te);
    assert_int_equal(tg_dataset_load("fashion-mnist", "dev", &tr, &err), TG_ERR_ARG);
    assert_int_equal(tg_dataset_load("imagenet", "train", &tr, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "cifar100:DIR[:coarse]"));
}

static void test_cifar(void **state) {
    (void)state;
    tg_dataset d;
    tg_error err;
    assert_int_equal(tg_dataset_load(cifar_spec("cifar10", "cifar/c10", ""), "train", &d, &err),
                     TG_OK);
    assert_true(d.n == 10 && d.c == 3 && d.h == 32 && d.w == 32 && d.classes == 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(d.labels[i], i % 10);
        assert_int_equal(d.u8[(size_t)i * 3072 + 5], (7 * i + 5) % 256);
    }
    assert_string_equal(d.class_names[1], "car");  /* from batches.meta.txt */
    tg_dataset_free(&d);
    assert_int_equal(tg_dataset_load(cifar_spec("cifar10", "cifar/c10", ""), "test", &d, &err),
                     TG_OK);
    assert_true(d.n == 3 && d.labels[0] == 9 && d.u8[0] == (7 * 100) % 256);
    tg_dataset_free(&d);
    assert_int_equal(tg_dataset_load(cifar_spec("cifar100", "cifar/c100", ""), "train", &d, &err),
                     TG_OK);
    assert_true(d.n == 3 && d.classes == 100 && d.labels[1] == 98);
    assert_string_equal(d.class_names[98], "fine98");
    tg_dataset_free(&d);
    assert_int_equal(tg_dataset_load(cifar_spec("cifar100", "cifar/c100", ":coarse"), "train",
                                     &d, &err), TG_OK);
    assert_true(d.classes == 20 && d.labels[1] == 1 && d.labels[2] == 2);
    tg_dataset_free(&d);
    /* a missing batch names the file */
    assert_int_equal(tg_dataset_load(cifar_spec("cifar10", "cifar/c100", ""), "train", &d, &err),
                     TG_ERR_IO);
    assert_non_null(strstr(err.msg, "data_batch_1.bin"));
}

static void expect_cifar_error(const char *file, tg_cifar_kind kind, const char *want) {
    uint8_t *px = NULL;
    int32_t *lb = NULL;
    int64_t n = 0;
    tg_error err;
    char name[64];
    snprintf(name, sizeof name, "cifar/bad/%s", file);
    assert_int_not_equal(tg_cifar_read(tu_fixture(name), kind, &px, &lb, &n, &err), TG_OK);
    print_message("refused: %s\n", err.msg);
    if (!strstr(err.msg, file) || !strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s' or the file name", err.msg, want);
    assert_int_equal(n, 0);
    free(px);
    free(lb);
}

static void test_cifar_bad_files(void **state) {
    (void)state;
    expect_cifar_error("partial.bin", TG_CIFAR10, "not a whole number of CIFAR-10 records");
    expect_cifar_error("empty.bin", TG_CIFAR10, "empty file");
    expect_cifar_error("label10.bin", TG_CIFAR10, "label 10 of record 1 is out of range [0,10)");
    expect_cifar_error("coarse20.bin", TG_CIFAR100_COARSE, "label 20 of record 0");
    expect_cifar_error("label10.bin", TG_CIFAR100_FINE, "CIFAR-100 records");
    expect_cifar_error("missing.bin", TG_CIFAR10, "No such file");
}

/* Write images of the given shape and dtype with values i % 251, and labels. */
static void write_npy(const char *dir, const char *name, tg_npy_dtype dt, int ndim,
                      const int64_t *shape, char *ipath, char *lpath) {
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
    void *data = malloc(count * tg_npy_dtype_size(dt));
    for (size_t i = 0; i < count; i++) {
        if (dt == TG_NPY_U8) ((uint8_t *)data)[i] = (uint8_t)(i % 251);
        else ((float *)data)[i] = (float)(i % 251);
    }
    tg_error err;
    sprintf(ipath, "%s/%s.npy", dir, name);
    assert_int_equal(tg_npy_write(ipath, dt, ndim, shape, data, &err), TG_OK);
    free(data);
    int32_t lab[64];
    for (int i = 0; i < shape[0]; i++) lab[i] = i % 3;
    sprintf(lpath, "%s/%s-labels.npy", dir, name);
    assert_int_equal(tg_npy_write(lpath, TG_NPY_I32, 1, shape, lab, &err), TG_OK);
}

static void test_npy_layouts(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char ip[600], lp[600], s[1300];
    tg_dataset d, e;
    tg_error err;
    /* (n, C, H, W) and the same pixels as (n, H, W, C): the same dataset */
    int64_t chw[4] = {4, 3, 6, 5};
    write_npy(dir, "chw", TG_NPY_U8, 4, chw, ip, lp);
    snprintf(s, sizeof s, "npy:%s,%s", ip, lp);
    assert_int_equal(tg_dataset_load(s, "train", &d, &err), TG_OK);
    assert_true(d.n == 4 && d.c == 3 && d.h == 6 && d.w == 5 && d.classes == 3 && d.u8);
    uint8_t *hwc = malloc(4 * 90);
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 30; p++) hwc[i * 90 + p * 3 + c] = d.u8[i * 90 + c * 30 + p];
    int64_t hwc_shape[4] = {4, 6, 5, 3};
    snprintf(ip, sizeof ip, "%s/hwc.npy", dir);
    assert_int_equal(tg_npy_write(ip, TG_NPY_U8, 4, hwc_shape, hwc, &err), TG_OK);
    free(hwc);
    snprintf(s, sizeof s, "npy:%s,%s", ip, lp);
    assert_int_equal(tg_dataset_load(s, "train", &e, &err), TG_OK);
    assert_true(e.c == 3 && e.h == 6 && e.w == 5);
    assert_memory_equal(d.u8, e.u8, 4 * 90);
    assert_string_equal(d.fingerprint, e.fingerprint);
    tg_dataset_free(&d);
    tg_dataset_free(&e);
    /* (n, H, W) float */
    int64_t nhw[3] = {5, 7, 7};
    write_npy(dir, "f", TG_NPY_F32, 3, nhw, ip, lp);
    snprintf(s, sizeof s, "npy:%s,%s", ip, lp);
    assert_int_equal(tg_dataset_load(s, "train", &d, &err), TG_OK);
    assert_true(d.c == 1 && d.h == 7 && d.f32 && !d.u8 && d.f32[8] == 8.0f);
    assert_int_equal(tg_dataset_load(s, "test", &e, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "no test split"));
    tg_dataset_free(&d);
    /* ambiguous and wrong shapes, label mismatches */
    int64_t amb[4] = {4, 3, 6, 3};
    write_npy(dir, "amb", TG_NPY_U8, 4, amb, ip, lp);
    snprintf(s, sizeof s, "npy:%s,%s", ip, lp);
    assert_int_equal(tg_dataset_load(s, "train", &d, &err), TG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "ambiguous"));
    int64_t two[2] = {4, 30};
    write_npy(dir, "two", TG_NPY_U8, 2, two, ip, lp);
    snprintf(s, sizeof s, "npy:%s,%s", ip, lp);
    assert_int_equal(tg_dataset_load(s, "train", &d, &err), TG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "3 or 4 dimensions"));
    char ip2[600], lp2[600];
    write_npy(dir, "short", TG_NPY_U8, 3, (int64_t[]){3, 6, 6}, ip2, lp2);
    write_npy(dir, "long", TG_NPY_U8, 3, (int64_t[]){5, 6, 6}, ip, lp);
    snprintf(s, sizeof s, "npy:%s,%s", ip, lp2);
    assert_int_equal(tg_dataset_load(s, "train", &d, &err), TG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "1-D array of 5"));
    int32_t neg[5] = {0, 1, -1, 2, 0};
    assert_int_equal(tg_npy_write(lp, TG_NPY_I32, 1, (int64_t[]){5}, neg, &err), TG_OK);
    snprintf(s, sizeof s, "npy:%s,%s", ip, lp);
    assert_int_equal(tg_dataset_load(s, "train", &d, &err), TG_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "label -1 at index 2 is negative"));
    assert_int_equal(tg_dataset_load("npy:onlyone.npy", "train", &d, &err), TG_ERR_ARG);
    tu_rmtree(dir);
}

static void test_split(void **state) {
    (void)state;
    tg_dataset all, tr, va, tr2, va2, tr3, va3;
    tg_error err;
    assert_int_equal(tg_dataset_load("fashion-mnist", "train", &all, &err), TG_OK);
    tg_dataset_limit(&all, 2000);
    assert_int_equal(tg_dataset_split(&all, 300, 7, &tr, &va, &err), TG_OK);
    assert_int_equal(tg_dataset_split(&all, 300, 7, &tr2, &va2, &err), TG_OK);
    assert_int_equal(tg_dataset_split(&all, 300, 8, &tr3, &va3, &err), TG_OK);
    assert_true(tr.n == 1700 && va.n == 300);
    assert_string_equal(va.fingerprint, va2.fingerprint);  /* stable */
    assert_string_equal(tr.fingerprint, tr2.fingerprint);
    assert_string_not_equal(va.fingerprint, va3.fingerprint);  /* the seed matters */
    /* disjoint and complete: every image of `all` is in exactly one part
     * (identified by its pixels: Fashion-MNIST's first 2000 are distinct) */
    int *seen = calloc(2000, sizeof(int));
    const tg_dataset *parts[2] = {&tr, &va};
    for (int p = 0; p < 2; p++)
        for (int64_t i = 0; i < parts[p]->n; i++) {
            int found = -1;
            for (int64_t j = 0; j < 2000 && found < 0; j++)
                if (!memcmp(parts[p]->u8 + i * 784, all.u8 + j * 784, 784)) found = (int)j;
            assert_true(found >= 0);
            seen[found]++;
            assert_int_equal(parts[p]->labels[i], all.labels[found]);
        }
    for (int j = 0; j < 2000; j++) assert_int_equal(seen[j], 1);
    free(seen);
    assert_int_equal(tg_dataset_split(&all, 2000, 7, &tr3, &va3, &err), TG_ERR_ARG);
    tg_dataset *ds[] = {&all, &tr, &va, &tr2, &va2, &tr3, &va3};
    for (int i = 0; i < 7; i++) tg_dataset_free(ds[i]);
}

/* One 28x28 image whose pixel (y, x) is 1 + 28y + x: distinct and above the
 * zero padding, so the crop offset and the flip can be read back. */
static void ramp_dataset(tg_dataset *d, float *px, int32_t *label) {
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 784; i++) px[i] = (float)(1 + i);
    *label = 0;
    d->n = 1, d->c = 1, d->h = 28, d->w = 28, d->f32 = px, d->labels = label, d->classes = 1;
}

/* Read (dy, dx, flip) back from an augmented ramp image. */
static void read_shift(const float *a, int *dy, int *dx, int *flip) {
    float lo = a[0];
    for (int i = 0; i < 784; i++) lo = a[i] < lo ? a[i] : lo;
    int r0 = 28, r1 = -1, c0 = 28, c1 = -1;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            if (a[y * 28 + x] > lo + 1e-4f) {
                r0 = y < r0 ? y : r0, r1 = y > r1 ? y : r1;
                c0 = x < c0 ? x : c0, c1 = x > c1 ? x : c1;
            }
    *dy = r0 > 0 ? -r0 : 27 - r1;
    int y = r0, x = c0;
    *flip = a[y * 28 + x + 1] < a[y * 28 + x];  /* the ramp runs backwards */
    *dx = *flip ? (c0 > 0 ? c0 : c1 - 27) : (c0 > 0 ? -c0 : 27 - c1);
}

static void test_augment(void **state) {
    (void)state;
    tg_dataset d;
    float px[784], a[784], b[784], plain[784];
    int32_t label;
    ramp_dataset(&d, px, &label);
    tg_augment aug = {4, 1};
    tg_rng r1, r2;
    tg_rng_seed(&r1, 5), tg_rng_seed(&r2, 5);
    tg_augment_image(&d, 0, &aug, &r1, a);
    tg_augment_image(&d, 0, &aug, &r2, b);
    assert_memory_equal(a, b, sizeof a);  /* deterministic under a seed */
    /* no padding, no flip: the image itself, standardised */
    tg_augment none = {0, 0};
    tg_augment_image(&d, 0, &none, &r1, a);
    tg_dataset_image(&d, 0, plain);
    assert_true(tu_max_err(a, plain, 784, 1e-6, 1e-6) <= 1);
    int dy, dx, flip;
    read_shift(a, &dy, &dx, &flip);
    assert_true(dy == 0 && dx == 0 && !flip);
    /* 3000 draws: every one of the 9x9 offsets and both flips occur, each
     * about equally often, and each image is standardised */
    int count[2][9][9] = {{{0}}};
    for (int t = 0; t < 3000; t++) {
        tg_augment_image(&d, 0, &aug, &r1, a);
        double s = 0, q = 0;
        for (int j = 0; j < 784; j++) s += a[j], q += (double)a[j] * a[j];
        assert_true(fabs(s / 784) < 1e-4 && fabs(q / 784 - 1) < 1e-3);
        read_shift(a, &dy, &dx, &flip);
        assert_true(dy >= -4 && dy <= 4 && dx >= -4 && dx <= 4);
        count[flip][dy + 4][dx + 4]++;
    }
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 9; j++)
                if (count[f][i][j] < 3 || count[f][i][j] > 45)  /* expected 18.5 */
                    fail_msg("flip %d shift (%d,%d) drawn %d times of 3000", f, i - 4, j - 4,
                             count[f][i][j]);
}

static void test_loader(void **state) {
    (void)state;
    tg_dataset d;
    tg_error err;
    assert_int_equal(tg_dataset_load("fashion-mnist", "test", &d, &err), TG_OK);
    tg_dataset_limit(&d, 103);
    tg_augment aug = {4, 1};
    tg_loader *l = tg_loader_new(&d, 16, 1, &aug, 11, &err);
    assert_non_null(l);
    assert_int_equal(tg_loader_steps_per_epoch(l), 7);
    /* every example exactly once per epoch (labels identify nothing, so count
     * by the label histogram and by the number delivered), in a new order */
    const float *x;
    const int32_t *y;
    float *first = malloc(sizeof(float) * 16 * 784);
    int32_t order0[103], order1[103];
    for (int e = 0; e < 2; e++) {
        int hist[10] = {0}, want[10] = {0}, got = 0;
        for (int64_t i = 0; i < d.n; i++) want[d.labels[i]]++;
        for (int s = 0; s < 7; s++) {
            int n = tg_loader_next(l, &x, &y);
            assert_int_equal(n, s < 6 ? 16 : 103 - 96);
            for (int i = 0; i < n; i++) hist[y[i]]++, (e ? order1 : order0)[got + i] = y[i];
            if (e == 0 && s == 0) memcpy(first, x, sizeof(float) * 16 * 784);
            got += n;
        }
        assert_int_equal(got, 103);
        assert_memory_equal(hist, want, sizeof hist);
    }
    assert_true(memcmp(order0, order1, sizeof order0) != 0);
    /* seeking back replays the stream exactly: same batches, same crops */
    tg_loader_seek(l, 0);
    assert_int_equal(tg_loader_next(l, &x, &y), 16);
    assert_memory_equal(first, x, sizeof(float) * 16 * 784);
    /* a second loader with the same seed positioned mid-stream agrees */
    tg_loader *m = tg_loader_new(&d, 16, 1, &aug, 11, &err);
    tg_loader_seek(l, 9);
    tg_loader_seek(m, 9);
    const float *x2;
    const int32_t *y2;
    for (int s = 0; s < 3; s++) {
        int n = tg_loader_next(l, &x, &y), n2 = tg_loader_next(m, &x2, &y2);
        assert_int_equal(n, n2);
        assert_memory_equal(x, x2, sizeof(float) * 784 * n);
        assert_memory_equal(y, y2, sizeof(int32_t) * n);
    }
    tg_loader_free(m);
    tg_loader_free(l);
    /* without shuffle: the dataset's order */
    l = tg_loader_new(&d, 50, 0, NULL, 1, &err);
    assert_int_equal(tg_loader_next(l, &x, &y), 50);
    assert_memory_equal(y, d.labels, sizeof(int32_t) * 50);
    tg_loader_free(l);
    assert_null(tg_loader_new(&d, 0, 1, NULL, 1, &err));
    free(first);
    tg_dataset_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_mnist), cmocka_unit_test(test_cifar),
        cmocka_unit_test(test_cifar_bad_files), cmocka_unit_test(test_npy_layouts),
        cmocka_unit_test(test_split),         cmocka_unit_test(test_augment),
        cmocka_unit_test(test_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
