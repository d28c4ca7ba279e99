/* test_conv_wino.c - the Winograd F(2x2, 3x3) and F(2x2, 5x5) kernels
 * (src/nn/conv_wino.c)
 * against the reference convolution: forward with and without a bias,
 * backward data written and added, backward weights and bias, on odd and even map sizes, channel
 * counts that are and are not multiples of 16, in nChw8c and nChw16c and
 * mixed; the same bits at 1 and 2 threads; and the shapes it refuses. */
#include <stdlib.h>
#include <string.h>

#include "../src/nn/conv_wino.h"
#include "testutil.h"
#include "tgsage/ops.h"

static float *fmalloc(size_t n) {
    float *p = aligned_alloc(32, sizeof(float) * ((n + 7) / 8 * 8));
    assert_non_null(p);
    return p;
}

static void expect_close(const char *what, const float *got, const float *want, size_t n) {
    double e = tu_max_err(got, want, n, 1e-4, 1e-4);
    if (!(e <= 1)) fail_msg("%s: error %.3g times the tolerance", what, e);
}

typedef struct {
    int n, c, k, h, w, xb, yb, r; /* r: the kernel's side, 3 or 5 */
} wcase;

static void check_case(const wcase *t, int threads) {
    tg_conv2d_shape s;
    assert_int_equal(
        tg_conv2d_shape_init(&s, t->n, t->c, t->h, t->w, t->k, t->r, t->r, 1, 1, 1, NULL), TG_OK);
    const size_t nx = (size_t)t->n * t->c * t->h * t->w, ny = (size_t)t->n * t->k * t->h * t->w;
    const size_t nw = (size_t)t->k * t->c * t->r * t->r;
    tg_rng r;
    tg_rng_seed(&r, 11);
    float *x = fmalloc(nx), *wt = fmalloc(nw), *bias = fmalloc(t->k), *dy = fmalloc(ny);
    float *y = fmalloc(ny), *dx = fmalloc(nx), *dw = fmalloc(nw), *dx0 = fmalloc(nx);
    float *xb = fmalloc(nx), *yb = fmalloc(ny), *dyb = fmalloc(ny), *dxb = fmalloc(nx);
    float *back = fmalloc(nx > ny ? nx : ny);
    float *scr = fmalloc(tg_conv2d_scratch_floats(&s));
    tu_fill_uniform(&r, x, nx, -1, 1);
    tu_fill_uniform(&r, wt, nw, -0.5f, 0.5f);
    tu_fill_uniform(&r, bias, t->k, -1, 1);
    tu_fill_uniform(&r, dy, ny, -1, 1);
    tu_fill_uniform(&r, dx0, nx, -1, 1);
    const int hw = t->h * t->w;
    tg_blocked_from_nchw(t->n, t->c, hw, t->xb, x, xb);
    tg_blocked_from_nchw(t->n, t->k, hw, t->yb, dy, dyb);

    s.x_blk = t->xb, s.y_blk = t->yb;
    assert_true(wino_fits(&s, WINO_BWD_DATA));
    float *u = fmalloc(wino_weight_floats(&s)), *work = fmalloc(wino_work_floats(&s, threads));

    for (int with_bias = 0; with_bias < 2; with_bias++) {
        s.x_blk = s.y_blk = 0;
        tg_conv2d_forward(&s, x, wt, with_bias ? bias : NULL, y, scr);
        s.x_blk = t->xb, s.y_blk = t->yb;
        wino_weights(&s, wt, 0, u, threads);
        wino_run(&s, 0, u, xb, with_bias ? bias : NULL, yb, 0, work, threads);
        tg_blocked_to_nchw(t->n, t->k, hw, t->yb, yb, back);
        expect_close(with_bias ? "forward with bias" : "forward", back, y, ny);
    }
    for (int acc = 0; acc < 2; acc++) {
        memcpy(dx, dx0, sizeof(float) * nx);
        s.x_blk = s.y_blk = 0;
        tg_conv2d_backward(&s, x, wt, dy, dx, acc, dw, NULL, scr);
        s.x_blk = t->xb, s.y_blk = t->yb;
        tg_blocked_from_nchw(t->n, t->c, hw, t->xb, dx0, dxb);
        wino_weights(&s, wt, 1, u, threads);
        wino_run(&s, 1, u, dyb, NULL, dxb, acc, work, threads);
        tg_blocked_to_nchw(t->n, t->c, hw, t->xb, dxb, back);
        expect_close(acc ? "backward data, added" : "backward data", back, dx, nx);
    }
    /* backward weights and bias (3x3 only), against the reference's */
    if (t->r != 3) goto done;
    float *dww = fmalloc(nw), *db = fmalloc(t->k), *dbr = fmalloc(t->k);
    float *wwork = fmalloc(wino_wgrad_work_floats(&s, threads));
    s.x_blk = s.y_blk = 0;
    tg_conv2d_backward(&s, x, wt, dy, dx, 0, dw, dbr, scr);
    s.x_blk = t->xb, s.y_blk = t->yb;
    for (size_t i = 0; i < nw; i++) dww[i] = 1e30f;  /* must be written */
    wino_wgrad(&s, xb, dyb, dww, db, wwork, threads);
    expect_close("backward weights", dww, dw, nw);
    expect_close("bias gradient", db, dbr, t->k);
    free(dww), free(db), free(dbr), free(wwork);
done:
    free(x), free(wt), free(bias), free(dy), free(y), free(dx), free(dw), free(dx0);
    free(xb), free(yb), free(dyb), free(dxb), free(back), free(scr), free(u), free(work);
}

static const wcase CASES[] = {
    {2, 8, 16, 7, 9, 8, 8, 3},       /* odd sizes: a half tile at the bottom and right */
    {3, 16, 8, 6, 5, 16, 8, 3},      /* 8 output channels: one vector per block */
    {2, 24, 40, 13, 11, 8, 8, 3},    /* 40 = 16 + 16 + 8 */
    {1, 32, 48, 1, 1, 16, 16, 3},    /* one pixel: everything but the centre is padding */
    {2, 64, 64, 14, 14, 16, 16, 3},
    {5, 16, 32, 2, 3, 8, 16, 3},     /* tiles spanning chunks and images */
    {2, 8, 16, 7, 9, 8, 8, 5},       /* F(2x2, 5x5): the same cases */
    {3, 16, 8, 6, 5, 16, 8, 5},
    {2, 24, 40, 13, 11, 8, 8, 5},
    {1, 32, 48, 1, 1, 16, 16, 5},
    {2, 64, 64, 14, 14, 16, 16, 5},
    {5, 16, 32, 2, 3, 8, 16, 5},
};

static void test_against_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        for (int threads = 1; threads <= 2; threads++) check_case(&CASES[i], threads);
}

/* Each output is computed by one thread in one order: 1 and 3 threads
 * give the same bits. */
static void test_threads_same_bits(void **state) {
    (void)state;
    tg_conv2d_shape s;
    assert_int_equal(tg_conv2d_shape_init(&s, 3, 16, 9, 10, 24, 3, 3, 1, 1, 1, NULL), TG_OK);
    s.x_blk = 16, s.y_blk = 8;
    const size_t nx = (size_t)3 * 16 * 90, ny = (size_t)3 * 24 * 90, nw = (size_t)24 * 16 * 9;
    tg_rng r;
    tg_rng_seed(&r, 5);
    float *x = fmalloc(nx), *wt = fmalloc(nw), *y1 = fmalloc(ny), *y3 = fmalloc(ny);
    float *u = fmalloc(wino_weight_floats(&s)), *work = fmalloc(wino_work_floats(&s, 3));
    tu_fill_uniform(&r, x, nx, -1, 1);
    tu_fill_uniform(&r, wt, nw, -1, 1);
    wino_weights(&s, wt, 0, u, 1);
    wino_run(&s, 0, u, x, NULL, y1, 0, work, 1);
    wino_weights(&s, wt, 0, u, 3);
    wino_run(&s, 0, u, x, NULL, y3, 0, work, 3);
    assert_memory_equal(y1, y3, sizeof(float) * ny);
    free(x), free(wt), free(y1), free(y3), free(u), free(work);
}

static void test_refuses(void **state) {
    (void)state;
    tg_conv2d_shape s, t;
    assert_int_equal(tg_conv2d_shape_init(&s, 2, 16, 8, 8, 16, 3, 3, 1, 1, 1, NULL), TG_OK);
    s.x_blk = s.y_blk = 8;
    assert_true(wino_fits(&s, WINO_FWD));
    assert_true(wino_fits(&s, WINO_BWD_WEIGHTS));
    t = s, t.x_blk = 0;
    assert_false(wino_fits(&t, WINO_FWD));  /* NCHW */
    t = s, t.y_blk = 4;
    assert_false(wino_fits(&t, WINO_FWD));
    assert_int_equal(tg_conv2d_shape_init(&t, 2, 16, 8, 8, 16, 3, 3, 2, 1, 1, NULL), TG_OK);
    t.x_blk = t.y_blk = 8;
    assert_false(wino_fits(&t, WINO_FWD));  /* stride 2 */
    assert_int_equal(tg_conv2d_shape_init(&t, 2, 16, 8, 8, 16, 3, 3, 1, 2, 1, NULL), TG_OK);
    t.x_blk = t.y_blk = 8;
    assert_false(wino_fits(&t, WINO_FWD));  /* dilated */
    assert_int_equal(tg_conv2d_shape_init(&t, 2, 16, 8, 8, 16, 5, 5, 1, 1, 1, NULL), TG_OK);
    t.x_blk = t.y_blk = 8;
    assert_false(wino_fits(&t, WINO_FWD));  /* 5x5: F(2x2, 5x5) for backward data only */
    assert_true(wino_fits(&t, WINO_BWD_DATA));
    assert_false(wino_fits(&t, WINO_BWD_WEIGHTS));
    assert_int_equal(tg_conv2d_shape_init(&t, 2, 16, 8, 8, 16, 7, 7, 1, 1, 1, NULL), TG_OK);
    t.x_blk = t.y_blk = 8;
    assert_false(wino_fits(&t, WINO_FWD));  /* 7x7 */
    assert_int_equal(tg_conv2d_shape_init(&t, 2, 16, 8, 8, 16, 3, 5, 1, 1, 1, NULL), TG_OK);
    t.x_blk = t.y_blk = 8;
    assert_false(wino_fits(&t, WINO_FWD));  /* 3x5 */
    assert_int_equal(tg_conv2d_shape_init(&t, 2, 16, 8, 8, 16, 3, 3, 1, 1, 2, NULL), TG_OK);
    t.x_blk = t.y_blk = 8;
    assert_false(wino_fits(&t, WINO_FWD));  /* groups */
    assert_int_equal(tg_conv2d_shape_init(&t, 2, 16, 8, 8, 16, 1, 3, 1, 1, 1, NULL), TG_OK);
    t.x_blk = t.y_blk = 8;
    assert_false(wino_fits(&t, WINO_FWD));  /* 1x3 */
    t = s, t.x_blk = 16, t.c = 24;
    assert_false(wino_fits(&t, WINO_FWD));  /* 24 channels do not fill 16-blocks */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
