/* test_idx.c - the IDX reader: good files plain and gzip'd, every malformed
 * case as a committed fixture (scripts/make_idx_fixtures.py writes them),
 * truncations and byte flips of a good file, and the real Fashion-MNIST files
 * from the Debian package dataset-fashion-mnist (a required dependency). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tgsage/idx.h"

/* Must match scripts/make_idx_fixtures.py. */
#define GOOD_N 5
#define GOOD_H 4
#define GOOD_W 3
static const uint8_t GOOD_LABELS[GOOD_N] = {9, 0, 3, 7, 1};

#ifndef FMNIST_DIR /* overridable to test the missing-package message */
#define FMNIST_DIR "/usr/share/datasets/fashion-mnist/"
#endif

static uint8_t good_pixel(int i, int r, int c) {
    return (uint8_t)((61 * i + 17 * r + 5 * c + 7) % 256);
}

/* tu_fixture returns a static buffer; keep a copy per call site. */
static void fixture(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s", tu_fixture(name));
}

static void assert_msg_has(const tg_error *e, const char *word) {
    if (!strstr(e->msg, word))
        fail_msg("message \"%s\" does not contain \"%s\"", e->msg, word);
}

static void assert_good_images(const tg_idx_images *im) {
    assert_int_equal(im->n, GOOD_N);
    assert_int_equal(im->h, GOOD_H);
    assert_int_equal(im->w, GOOD_W);
    assert_non_null(im->pixels);
    for (int i = 0; i < GOOD_N; i++)
        for (int r = 0; r < GOOD_H; r++)
            for (int c = 0; c < GOOD_W; c++)
                assert_int_equal(im->pixels[(i * GOOD_H + r) * GOOD_W + c],
                                 good_pixel(i, r, c));
}

static void assert_good_labels(const tg_idx_labels *lb) {
    assert_int_equal(lb->n, GOOD_N);
    assert_non_null(lb->labels);
    assert_memory_equal(lb->labels, GOOD_LABELS, GOOD_N);
}

/* Reading fixture `name` as images must fail with `want`; the message must
 * name the file and contain each of the NULL-terminated words. */
static void expect_images_fail(const char *name, tg_status want, ...) {
    char path[4096];
    fixture(path, sizeof path, name);
    tg_idx_images im;
    memset(&im, 0xA5, sizeof im);
    tg_error e;
    tg_error_clear(&e);
    tg_status st = tg_idx_read_images(path, &im, &e);
    if (st != want)
        fail_msg("%s: status %s, want %s (%s)", name, tg_status_name(st),
                 tg_status_name(want), e.msg);
    assert_int_equal(e.status, want);
    assert_msg_has(&e, strrchr(name, '/') + 1);
    va_list ap;
    va_start(ap, want);
    for (const char *w; (w = va_arg(ap, const char *));) assert_msg_has(&e, w);
    va_end(ap);
    assert_null(im.pixels);
    assert_int_equal(im.n, 0);
}

static void expect_labels_fail(const char *name, int num_classes,
                               tg_status want, ...) {
    char path[4096];
    fixture(path, sizeof path, name);
    tg_idx_labels lb;
    memset(&lb, 0xA5, sizeof lb);
    tg_error e;
    tg_error_clear(&e);
    tg_status st = tg_idx_read_labels(path, num_classes, &lb, &e);
    if (st != want)
        fail_msg("%s: status %s, want %s (%s)", name, tg_status_name(st),
                 tg_status_name(want), e.msg);
    assert_msg_has(&e, strrchr(name, '/') + 1);
    va_list ap;
    va_start(ap, want);
    for (const char *w; (w = va_arg(ap, const char *));) assert_msg_has(&e, w);
    va_end(ap);
    assert_null(lb.labels);
    assert_int_equal(lb.n, 0);
}

/* ---- good files ---- */

static void test_good_plain(void **state) {
    (void)state;
    char ip[4096], lp[4096];
    fixture(ip, sizeof ip, "idx/good-images.idx");
    fixture(lp, sizeof lp, "idx/good-labels.idx");
    tg_idx_images im;
    tg_idx_labels lb;
    tg_error e;
    assert_int_equal(tg_idx_read_images(ip, &im, &e), TG_OK);
    assert_good_images(&im);
    assert_int_equal(tg_idx_read_labels(lp, 10, &lb, &e), TG_OK);
    assert_good_labels(&lb);
    tg_idx_images_free(&im);
    tg_idx_labels_free(&lb);
    assert_null(im.pixels);
    assert_null(lb.labels);
    tg_idx_images_free(&im); /* twice is harmless */
    tg_idx_labels_free(&lb);
    tg_idx_images_free(NULL);
    tg_idx_labels_free(NULL);
}

static void test_good_gzip(void **state) {
    (void)state;
    char ip[4096], lp[4096];
    fixture(ip, sizeof ip, "idx/good-images.idx.gz");
    fixture(lp, sizeof lp, "idx/good-labels.idx.gz");
    tg_idx_images im;
    tg_idx_labels lb;
    tg_error e;
    assert_int_equal(tg_idx_read_pair(ip, lp, 10, &im, &lb, &e), TG_OK);
    assert_good_images(&im);
    assert_good_labels(&lb);
    tg_idx_images_free(&im);
    tg_idx_labels_free(&lb);
}

static void test_good_pair_mixed(void **state) {
    (void)state;
    char ip[4096], lp[4096];
    fixture(ip, sizeof ip, "idx/good-images.idx");
    fixture(lp, sizeof lp, "idx/good-labels.idx.gz");
    tg_idx_images im;
    tg_idx_labels lb;
    tg_error e;
    assert_int_equal(tg_idx_read_pair(ip, lp, 10, &im, &lb, &e), TG_OK);
    assert_good_images(&im);
    assert_good_labels(&lb);
    tg_idx_images_free(&im);
    tg_idx_labels_free(&lb);
}

/* ---- header errors ---- */

static void test_bad_magic(void **state) {
    (void)state;
    expect_images_fail("idx/bad-magic.idx", TG_ERR_FORMAT, "magic",
                       "0x12340803", NULL);
}

static void test_type_float(void **state) {
    (void)state;
    expect_images_fail("idx/type-float.idx", TG_ERR_UNSUPPORTED, "type",
                       "0x0d", "float32", NULL);
}

static void test_type_unknown(void **state) {
    (void)state;
    expect_images_fail("idx/type-unknown.idx", TG_ERR_FORMAT, "type", "0x42",
                       NULL);
}

static void test_bad_ndim(void **state) {
    (void)state;
    expect_images_fail("idx/bad-ndim.idx", TG_ERR_FORMAT, "dimensions",
                       "gives 2", NULL);
    /* An images file is not a labels file, and the other way round. */
    expect_labels_fail("idx/good-images.idx", 10, TG_ERR_FORMAT, "dimensions",
                       "gives 3", NULL);
    expect_images_fail("idx/good-labels.idx", TG_ERR_FORMAT, "dimensions",
                       "gives 1", NULL);
}

static void test_zero_dim(void **state) {
    (void)state;
    expect_images_fail("idx/zero-dim.idx", TG_ERR_FORMAT,
                       "dimension 1 (rows) is 0", NULL);
}

static void test_huge_dim(void **state) {
    (void)state;
    expect_images_fail("idx/huge-dim.idx", TG_ERR_FORMAT, "dimension 1 (rows)",
                       "2147483648", "too large", NULL);
}

static void test_overflow_dims(void **state) {
    (void)state;
    expect_images_fail("idx/overflow-dims.idx", TG_ERR_FORMAT, "too large",
                       "2147483647x2147483647x2147483647", NULL);
}

static void test_truncated_header(void **state) {
    (void)state;
    expect_images_fail("idx/truncated-header.idx", TG_ERR_FORMAT,
                       "truncated header", NULL);
    expect_images_fail("idx/empty.idx", TG_ERR_FORMAT, "truncated header",
                       "empty", NULL);
    expect_labels_fail("idx/empty.idx", 10, TG_ERR_FORMAT, "truncated header",
                       NULL);
}

/* ---- body size errors ---- */

static void test_truncated_body(void **state) {
    (void)state;
    expect_images_fail("idx/truncated.idx", TG_ERR_FORMAT,
                       "truncated: header says 60000 images of 28x28 "
                       "(47040000 bytes) but the file has 1234 bytes of body",
                       NULL);
    /* The 2^31-byte cap itself is allowed; the body is what is missing. */
    expect_images_fail("idx/big-claim.idx", TG_ERR_FORMAT, "truncated",
                       "2147483648 bytes", "10 bytes of body", NULL);
}

static void test_trailing_bytes(void **state) {
    (void)state;
    expect_images_fail("idx/trailing.idx", TG_ERR_FORMAT, "trailing",
                       "3 more bytes", NULL);
    expect_images_fail("idx/trailing.idx.gz", TG_ERR_FORMAT, "trailing",
                       "3 more bytes", NULL);
}

/* ---- labels ---- */

static void test_label_out_of_range(void **state) {
    (void)state;
    expect_labels_fail("idx/labels-range.idx", 10, TG_ERR_FORMAT,
                       "label 37 at index 5 is out of range [0,10)", NULL);
    /* The bound is exclusive: label 9 with 9 classes is refused. */
    expect_labels_fail("idx/good-labels.idx", 9, TG_ERR_FORMAT,
                       "label 9 at index 0 is out of range [0,9)", NULL);
    /* ...and any label fits 256 classes or more. */
    char lp[4096];
    fixture(lp, sizeof lp, "idx/labels-range.idx");
    tg_idx_labels lb;
    tg_error e;
    assert_int_equal(tg_idx_read_labels(lp, 1000, &lb, &e), TG_OK);
    assert_int_equal(lb.n, 8);
    assert_int_equal(lb.labels[5], 37);
    tg_idx_labels_free(&lb);
}

static void test_bad_num_classes(void **state) {
    (void)state;
    expect_labels_fail("idx/good-labels.idx", 0, TG_ERR_ARG, "num_classes",
                       NULL);
    expect_labels_fail("idx/good-labels.idx", -3, TG_ERR_ARG, "num_classes",
                       NULL);
}

static void test_pair_count_mismatch(void **state) {
    (void)state;
    char ip[4096], lp[4096];
    fixture(ip, sizeof ip, "idx/good-images.idx");
    fixture(lp, sizeof lp, "idx/labels-4.idx");
    tg_idx_images im;
    tg_idx_labels lb;
    tg_error e;
    assert_int_equal(tg_idx_read_pair(ip, lp, 10, &im, &lb, &e), TG_ERR_SHAPE);
    assert_msg_has(&e, "good-images.idx");
    assert_msg_has(&e, "labels-4.idx");
    assert_msg_has(&e, "mismatch");
    assert_msg_has(&e, "5 images");
    assert_msg_has(&e, "4 labels");
    assert_null(im.pixels);
    assert_null(lb.labels);
    assert_int_equal(im.n, 0);
}

/* A pair whose second file fails must release the first (ASan checks). */
static void test_pair_error_paths(void **state) {
    (void)state;
    char ip[4096], lp[4096];
    tg_idx_images im;
    tg_idx_labels lb;
    tg_error e;
    fixture(ip, sizeof ip, "idx/good-images.idx");
    fixture(lp, sizeof lp, "idx/labels-range.idx");
    assert_int_equal(tg_idx_read_pair(ip, lp, 10, &im, &lb, &e),
                     TG_ERR_FORMAT);
    assert_msg_has(&e, "labels-range.idx");
    assert_null(im.pixels);
    assert_null(lb.labels);
    fixture(ip, sizeof ip, "idx/trailing.idx");
    fixture(lp, sizeof lp, "idx/good-labels.idx");
    assert_int_equal(tg_idx_read_pair(ip, lp, 10, &im, &lb, &e),
                     TG_ERR_FORMAT);
    assert_msg_has(&e, "trailing.idx");
    assert_null(im.pixels);
    assert_null(lb.labels);
}

/* ---- gzip and I/O errors ---- */

static void test_corrupt_gzip(void **state) {
    (void)state;
    expect_images_fail("idx/corrupt.idx.gz", TG_ERR_FORMAT, "corrupt gzip",
                       "invalid block type", NULL);
    expect_images_fail("idx/bad-crc.idx.gz", TG_ERR_FORMAT, "corrupt gzip",
                       "incorrect data check", NULL);
    expect_images_fail("idx/truncated.idx.gz", TG_ERR_FORMAT, "corrupt gzip",
                       "truncated", NULL);
    expect_images_fail("idx/truncated-trailer.idx.gz", TG_ERR_FORMAT,
                       "corrupt gzip", "truncated", NULL);
}

static void test_missing_file(void **state) {
    (void)state;
    expect_images_fail("idx/no-such-file.idx", TG_ERR_IO, "cannot open",
                       "No such file", NULL);
    expect_labels_fail("idx/no-such-file.idx.gz", 10, TG_ERR_IO,
                       "cannot open", NULL);
    tg_idx_images im;
    tg_error e;
    assert_int_equal(tg_idx_read_images(NULL, &im, &e), TG_ERR_ARG);
    assert_int_equal(tg_idx_read_images("", &im, &e), TG_ERR_ARG);
}

static void test_directory(void **state) {
    (void)state;
    char dir[4096];
    fixture(dir, sizeof dir, "idx");
    tg_idx_images im;
    tg_error e;
    assert_int_equal(tg_idx_read_images(dir, &im, &e), TG_ERR_IO);
    assert_msg_has(&e, dir);
    assert_msg_has(&e, "read error");
    assert_null(im.pixels);
}

/* ---- damaged copies of a good file ---- */

static size_t slurp(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    assert_int_equal(fclose(f), 0);
    assert_true(n < cap);
    return n;
}

/* Read path: it must succeed exactly when want_ok (with one pixel, at body
 * offset want_ok - 1, changed by flip), -1 meaning either outcome is
 * fine; a failure must carry a message naming the file. */
static void check_damaged(const char *path, long want_ok, uint8_t flip) {
    tg_idx_images im;
    tg_error e;
    tg_error_clear(&e);
    tg_status st = tg_idx_read_images(path, &im, &e);
    if (st == TG_OK) {
        if (want_ok == 0) fail_msg("%s: damaged file was accepted", path);
        assert_non_null(im.pixels);
        if (want_ok > 0) {
            assert_int_equal(im.n * im.h * im.w, GOOD_N * GOOD_H * GOOD_W);
            size_t at = (size_t)want_ok - 1;
            int i = (int)at / (GOOD_H * GOOD_W);
            int r = (int)at / GOOD_W % GOOD_H, c = (int)at % GOOD_W;
            assert_int_equal(im.pixels[at], good_pixel(i, r, c) ^ flip);
        }
        tg_idx_images_free(&im);
        return;
    }
    if (want_ok > 0)
        fail_msg("%s: a changed pixel was refused: %s", path, e.msg);
    assert_int_equal(e.status, st);
    assert_true(st != TG_ERR_NOMEM);
    assert_null(im.pixels);
    assert_msg_has(&e, path);
}

/* Every prefix of the good files (plain and gzip'd) must be refused; a
 * flipped pixel of the plain file is still a good file; a flipped byte
 * in the gzip'd file's deflate data or trailer is caught (by the CRC at
 * worst); flips in the headers may go either way but must not crash. */
static void test_damaged_copies(void **state) {
    (void)state;
    static const char *const names[] = {"idx/good-images.idx",
                                        "idx/good-images.idx.gz"};
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/damaged", dir);
    for (int k = 0; k < 2; k++) {
        uint8_t good[512], bad[512];
        size_t n = slurp(tu_fixture(names[k]), good, sizeof good);
        for (size_t len = 0; len < n; len++) {
            assert_int_equal(tu_write_file(path, good, len), 0);
            check_damaged(path, 0, 0);
        }
        /* 16 header bytes for idx3; 10 for gzip (mtime 0, no name). */
        size_t body = k == 0 ? 16 : 10;
        for (size_t pos = 0; pos < n; pos++) {
            for (size_t f = 0; f < sizeof flips; f++) {
                memcpy(bad, good, n);
                bad[pos] ^= flips[f];
                assert_int_equal(tu_write_file(path, bad, n), 0);
                long want = pos < body ? -1 : k == 0 ? (long)(pos - body) + 1
                                                     : 0;
                check_damaged(path, want, flips[f]);
            }
        }
    }
    tu_rmtree(dir);
}

/* ---- the real Fashion-MNIST files ---- */

static void require_file(const char *path) {
    if (access(path, R_OK) != 0)
        fail_msg("%s is missing: install the Debian package "
                 "dataset-fashion-mnist (a required dependency)",
                 path);
}

static void read_fmnist(const char *split, tg_idx_images *im,
                        tg_idx_labels *lb) {
    char ip[256], lp[256];
    snprintf(ip, sizeof ip, FMNIST_DIR "%s-images-idx3-ubyte.gz", split);
    snprintf(lp, sizeof lp, FMNIST_DIR "%s-labels-idx1-ubyte.gz", split);
    require_file(ip);
    require_file(lp);
    tg_error e;
    tg_error_clear(&e);
    tg_status st = tg_idx_read_pair(ip, lp, 10, im, lb, &e);
    if (st != TG_OK) fail_msg("%s", e.msg);
}

static uint64_t sum_bytes(const uint8_t *p, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    return s;
}

static void assert_balanced(const tg_idx_labels *lb, int per_class) {
    int count[10] = {0};
    for (int32_t i = 0; i < lb->n; i++) {
        assert_true(lb->labels[i] < 10);
        count[lb->labels[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(count[c], per_class);
}

/* Expected values were read with Python's gzip module. */
static void test_fashion_mnist_train(void **state) {
    (void)state;
    tg_idx_images im;
    tg_idx_labels lb;
    read_fmnist("train", &im, &lb);
    assert_int_equal(im.n, 60000);
    assert_int_equal(im.h, 28);
    assert_int_equal(im.w, 28);
    assert_int_equal(lb.n, 60000);
    static const uint8_t first[12] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9};
    assert_memory_equal(lb.labels, first, sizeof first);
    static const uint8_t last[5] = {5, 1, 3, 0, 5};
    assert_memory_equal(lb.labels + 60000 - 5, last, sizeof last);
    assert_balanced(&lb, 6000);
    /* Image 0, row 14. */
    static const uint8_t row[28] = {
        0x00, 0x00, 0x01, 0x04, 0x06, 0x07, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xed, 0xe2, 0xd9, 0xdf, 0xde, 0xdb, 0xde, 0xdd,
        0xd8, 0xdf, 0xe5, 0xd7, 0xda, 0xff, 0x4d, 0x00};
    assert_memory_equal(im.pixels + 14 * 28, row, sizeof row);
    assert_int_equal(sum_bytes(im.pixels, 784), 76247);
    assert_int_equal(sum_bytes(im.pixels + (size_t)59999 * 784, 784), 16684);
    assert_int_equal(sum_bytes(im.pixels, (size_t)60000 * 784), 3431114169u);
    tg_idx_images_free(&im);
    tg_idx_labels_free(&lb);
}

static void test_fashion_mnist_t10k(void **state) {
    (void)state;
    tg_idx_images im;
    tg_idx_labels lb;
    read_fmnist("t10k", &im, &lb);
    assert_int_equal(im.n, 10000);
    assert_int_equal(im.h, 28);
    assert_int_equal(im.w, 28);
    assert_int_equal(lb.n, 10000);
    static const uint8_t first[12] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5};
    assert_memory_equal(lb.labels, first, sizeof first);
    static const uint8_t last[5] = {9, 1, 8, 1, 5};
    assert_memory_equal(lb.labels + 10000 - 5, last, sizeof last);
    assert_balanced(&lb, 1000);
    assert_int_equal(sum_bytes(im.pixels, 784), 33456);
    assert_int_equal(sum_bytes(im.pixels, (size_t)10000 * 784), 573469082);
    tg_idx_images_free(&im);
    tg_idx_labels_free(&lb);
}

/* Train images with t10k labels: both valid, counts disagree. */
static void test_fashion_mnist_crossed_pair(void **state) {
    (void)state;
    const char *ip = FMNIST_DIR "t10k-images-idx3-ubyte.gz";
    const char *lp = FMNIST_DIR "train-labels-idx1-ubyte.gz";
    require_file(ip);
    require_file(lp);
    tg_idx_images im;
    tg_idx_labels lb;
    tg_error e;
    assert_int_equal(tg_idx_read_pair(ip, lp, 10, &im, &lb, &e), TG_ERR_SHAPE);
    assert_msg_has(&e, "10000 images");
    assert_msg_has(&e, "60000 labels");
    assert_null(im.pixels);
    assert_null(lb.labels);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plain),
        cmocka_unit_test(test_good_gzip),
        cmocka_unit_test(test_good_pair_mixed),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_type_float),
        cmocka_unit_test(test_type_unknown),
        cmocka_unit_test(test_bad_ndim),
        cmocka_unit_test(test_zero_dim),
        cmocka_unit_test(test_huge_dim),
        cmocka_unit_test(test_overflow_dims),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_truncated_body),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_label_out_of_range),
        cmocka_unit_test(test_bad_num_classes),
        cmocka_unit_test(test_pair_count_mismatch),
        cmocka_unit_test(test_pair_error_paths),
        cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_damaged_copies),
        cmocka_unit_test(test_fashion_mnist_train),
        cmocka_unit_test(test_fashion_mnist_t10k),
        cmocka_unit_test(test_fashion_mnist_crossed_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
