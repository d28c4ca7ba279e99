/* test_conv_dnnl.c - the oneDNN convolution backend against the reference.
 *
 * For a table of shapes (kernel sizes, strides, dilation, groups, bias,
 * odd input sizes, batch 1 and 3) the forward output, dx (acc 0 and 1), dw
 * and db of tg_backend_dnnl must match tg_conv2d_forward/_backward within
 * |a-b| <= 1e-4 + 1e-4*|b|. Each plan runs twice on freshly allocated
 * buffers holding other data, so stale memory handles would show. The table
 * runs once per layout strategy (TG_DNNL_LAYOUT: the heuristic, plain,
 * blocked, Winograd where oneDNN has it, channels-last, and mixtures of
 * them across the three passes) and under 1 and 2 threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/nn/conv_tune.h"
#include "testutil.h"
#include "tgsage/backend.h"
#include "tgsage/ops.h"
#include "tgsage/threads.h"

typedef struct {
    int n, c, h, w, k, kh, kw, stride, dil, groups, bias;
} conv_case;

static const conv_case CASES[] = {
    /* square kernels 1, 3, 5, 7 */
    {1, 3, 7, 7, 4, 1, 1, 1, 1, 1, 1},
    {3, 4, 7, 7, 8, 3, 3, 1, 1, 1, 0},
    {3, 4, 5, 9, 6, 5, 5, 1, 1, 1, 1},
    {1, 5, 9, 9, 3, 7, 7, 1, 1, 1, 0},
    /* 1x7, 7x1, 3x1, 1x3 */
    {3, 4, 7, 7, 8, 1, 7, 1, 1, 1, 1},
    {3, 4, 7, 7, 8, 7, 1, 1, 1, 1, 0},
    {2, 6, 14, 14, 4, 3, 1, 1, 1, 1, 0},
    {2, 6, 14, 14, 4, 1, 3, 1, 1, 1, 1},
    {3, 32, 7, 7, 32, 3, 1, 1, 1, 1, 0},
    {3, 32, 7, 7, 16, 1, 3, 1, 1, 1, 0},
    /* stride 2, including odd sizes and 1x1 shortcuts */
    {3, 8, 7, 7, 16, 3, 3, 2, 1, 1, 0},
    {3, 16, 8, 8, 32, 1, 1, 2, 1, 1, 0},
    {1, 16, 7, 7, 32, 1, 1, 2, 1, 1, 1},
    {1, 4, 5, 9, 4, 5, 5, 2, 1, 1, 1},
    {3, 5, 9, 9, 7, 7, 7, 2, 1, 1, 0},
    {3, 4, 7, 7, 8, 1, 7, 2, 1, 1, 0},
    /* dilation 2 */
    {3, 8, 9, 9, 8, 3, 3, 1, 2, 1, 1},
    {1, 4, 7, 7, 4, 3, 3, 2, 2, 1, 0},
    {1, 3, 5, 9, 2, 5, 5, 1, 2, 1, 0},
    /* two groups */
    {3, 4, 7, 7, 6, 3, 3, 1, 1, 2, 1},
    {1, 8, 5, 9, 8, 1, 7, 2, 1, 2, 0},
    {3, 32, 7, 7, 32, 3, 3, 1, 1, 2, 0},
    /* depthwise (and a channel multiplier of 2) */
    {3, 8, 7, 7, 8, 3, 3, 1, 1, 8, 0},
    {3, 16, 7, 7, 16, 5, 5, 1, 1, 16, 1},
    {1, 16, 9, 9, 16, 7, 7, 2, 1, 16, 0},
    {3, 16, 14, 14, 16, 3, 3, 1, 2, 16, 1},
    {1, 3, 5, 9, 6, 3, 3, 1, 1, 3, 0},
    {3, 16, 7, 7, 16, 1, 7, 1, 1, 16, 0},
    {3, 16, 7, 7, 16, 7, 1, 1, 1, 16, 1},
    {3, 32, 5, 9, 32, 3, 3, 2, 1, 32, 0},
    /* shapes of the benchmark networks at batch 3 */
    {3, 1, 28, 28, 64, 3, 3, 1, 1, 1, 0},
    {3, 64, 28, 28, 64, 3, 3, 1, 1, 1, 0},
    {3, 64, 28, 28, 64, 5, 5, 1, 1, 1, 0},
    {3, 192, 28, 28, 128, 3, 3, 2, 1, 1, 0},
    {3, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1},
    {3, 32, 14, 14, 64, 1, 1, 2, 1, 1, 0},
};
#define NCASES (sizeof CASES / sizeof CASES[0])

static float *falloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    return p;
}

static int check(const char *what, const conv_case *t, int rep, const float *a,
                 const float *b, size_t n) {
    double e = tu_max_err(a, b, n, 1e-4, 1e-4);
    if (e <= 1.0) return 0;
    fprintf(stderr,
            "  %s off by %.3g tolerances (rep %d): n=%d c=%d %dx%d k=%d "
            "kernel %dx%d stride %d dil %d groups %d bias %d\n",
            what, e, rep, t->n, t->c, t->h, t->w, t->k, t->kh, t->kw,
            t->stride, t->dil, t->groups, t->bias);
    return 1;
}

/* a of (n, c, hw) NCHW into b in the layout nChw<blk>c (blk 0: NCHW), into
 * a fresh buffer, and back in place */
static void layout_copy(int n, int c, int hw, int blk, const float *a, float *b) {
    if (blk)
        tg_blocked_from_nchw(n, c, hw, blk, a, b);
    else
        memcpy(b, a, sizeof(float) * n * c * hw);
}

static float *to_layout(int n, int c, int hw, int blk, const float *a) {
    float *b = falloc((size_t)n * c * hw);
    layout_copy(n, c, hw, blk, a, b);
    return b;
}

static void from_layout(int n, int c, int hw, int blk, float *a) {
    float *b = to_layout(n, c, hw, 0, a);
    if (blk) tg_blocked_to_nchw(n, c, hw, blk, b, a);
    free(b);
}

/* One case, the caller holding x / dx in nChw<xb>c and y / dy in
 * nChw<yb>c (0: NCHW): plan once, run twice on fresh buffers; returns
 * failures. */
static int run_case_in(const conv_case *t, uint64_t seed, int xb, int yb) {
    tg_conv2d_shape s;
    tg_error err;
    tg_error_clear(&err);
    assert_int_equal(tg_conv2d_shape_init(&s, t->n, t->c, t->h, t->w, t->k,
                                          t->kh, t->kw, t->stride, t->dil,
                                          t->groups, &err),
                     TG_OK);
    tg_conv2d_shape sb = s;  /* the backend's view; s stays NCHW for the reference */
    sb.x_blk = xb, sb.y_blk = yb;
    tg_conv_plan *p = tg_backend_dnnl.conv_plan_new(&sb, &err);
    if (!p) fprintf(stderr, "  plan: %s\n", err.msg);
    assert_non_null(p);
    const int ihw = s.h * s.w, ohw = s.oh * s.ow;

    const size_t nx = (size_t)s.n * s.c * s.h * s.w;
    const size_t ny = (size_t)s.n * s.k * s.oh * s.ow;
    const size_t nw = (size_t)s.k * (s.c / s.groups) * s.kh * s.kw;
    const size_t nb = (size_t)s.k;
    const size_t nsr = tg_conv2d_scratch_floats(&s);
    const size_t nsd = tg_backend_dnnl.conv_scratch_floats(p);
    tg_rng r;
    tg_rng_seed(&r, seed);
    int fails = 0;
    for (int rep = 0; rep < 2; rep++) {
        float *x = falloc(nx), *wt = falloc(nw), *b = falloc(nb);
        float *dy = falloc(ny), *dx0 = falloc(nx);
        float *y_r = falloc(ny), *y_d = falloc(ny);
        float *dx_r = falloc(nx), *dx_d = falloc(nx);
        float *dw_r = falloc(nw), *dw_d = falloc(nw);
        float *db_r = falloc(nb), *db_d = falloc(nb);
        float *sr = falloc(nsr), *sd = falloc(nsd);
        tu_fill_uniform(&r, x, nx, -1, 1);
        tu_fill_uniform(&r, wt, nw, -1, 1);
        tu_fill_uniform(&r, b, nb, -1, 1);
        tu_fill_uniform(&r, dy, ny, -1, 1);
        tu_fill_uniform(&r, dx0, nx, -1, 1);
        /* poison the outputs: everything must be written */
        for (size_t i = 0; i < ny; i++) y_d[i] = 1e30f;
        for (size_t i = 0; i < nw; i++) dw_d[i] = 1e30f;
        for (size_t i = 0; i < nb; i++) db_d[i] = 1e30f;
        for (size_t i = 0; i < nx; i++) dx_d[i] = 1e30f;
        const float *bias = t->bias ? b : NULL;

        float *xl = to_layout(s.n, s.c, ihw, xb, x), *dyl = to_layout(s.n, s.k, ohw, yb, dy);

        tg_conv2d_forward(&s, x, wt, bias, y_r, sr);
        tg_backend_dnnl.conv_forward(p, xl, wt, bias, y_d, sd);
        from_layout(s.n, s.k, ohw, yb, y_d);
        fails += check("forward y", t, rep, y_d, y_r, ny);

        /* acc = 0 */
        tg_conv2d_backward(&s, x, wt, dy, dx_r, 0, dw_r, db_r, sr);
        tg_backend_dnnl.conv_backward(p, xl, wt, dyl, dx_d, 0, dw_d,
                                      t->bias ? db_d : NULL, sd);
        from_layout(s.n, s.c, ihw, xb, dx_d);
        fails += check("dx (acc 0)", t, rep, dx_d, dx_r, nx);
        fails += check("dw", t, rep, dw_d, dw_r, nw);
        if (t->bias) fails += check("db", t, rep, db_d, db_r, nb);

        /* acc = 1 onto the same starting values; also without db, and dw
         * must be overwritten, not accumulated */
        memcpy(dx_r, dx0, nx * sizeof(float));
        layout_copy(s.n, s.c, ihw, xb, dx0, dx_d);
        tg_conv2d_backward(&s, x, wt, dy, dx_r, 1, dw_r, db_r, sr);
        tg_backend_dnnl.conv_backward(p, xl, wt, dyl, dx_d, 1, dw_d, NULL, sd);
        from_layout(s.n, s.c, ihw, xb, dx_d);
        fails += check("dx (acc 1)", t, rep, dx_d, dx_r, nx);
        fails += check("dw (second call)", t, rep, dw_d, dw_r, nw);

        /* no input gradient wanted */
        for (size_t i = 0; i < nw; i++) dw_d[i] = 1e30f;
        tg_backend_dnnl.conv_backward(p, xl, wt, dyl, NULL, 0, dw_d, db_d, sd);
        fails += check("dw (dx NULL)", t, rep, dw_d, dw_r, nw);
        fails += check("db (dx NULL)", t, rep, db_d, db_r, nb);

        float *all[] = {x, wt, b, dy, dx0, y_r, y_d, dx_r, dx_d,
                        dw_r, dw_d, db_r, db_d, sr, sd, xl, dyl};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    }
    tg_backend_dnnl.conv_plan_free(p);
    return fails;
}

static int run_case(const conv_case *t, uint64_t seed) { return run_case_in(t, seed, 0, 0); }

static void run_table(const char *layout, int threads) {
    if (layout)
        setenv("TG_DNNL_LAYOUT", layout, 1);
    else
        unsetenv("TG_DNNL_LAYOUT");
    tg_threads_set(threads);
    int fails = 0;
    for (size_t i = 0; i < NCASES; i++) fails += run_case(&CASES[i], 1000 + i);
    unsetenv("TG_DNNL_LAYOUT");
    if (fails)
        fprintf(stderr, "layout %s, %d threads: %d mismatches\n",
                layout ? layout : "(heuristic)", threads, fails);
    assert_int_equal(fails, 0);
}

static void test_heuristic_1thread(void **state) { (void)state; run_table(NULL, 1); }
static void test_heuristic_2threads(void **state) { (void)state; run_table(NULL, 2); }
static void test_plain(void **state) { (void)state; run_table("plain", 2); }
static void test_blocked(void **state) { (void)state; run_table("blocked", 2); }
static void test_winograd(void **state) { (void)state; run_table("wino", 2); }
static void test_nhwc(void **state) { (void)state; run_table("nhwc", 2); }
/* a layout per pass: dy is reordered separately for the two backward passes */
static void test_mixed(void **state) {
    (void)state;
    run_table("nhwc,plain,blocked", 2);
    run_table("plain,blocked,wino", 1);
}

/* Our Winograd (conv_wino.c): F(2x2, 3x3) for every pass and F(2x2, 5x5)
 * for backward data, which run where the caller holds x and y
 * channel-blocked, in nChw8c, nChw16c and mixed, at 1 and 2 threads; the
 * passes and shapes it does not compute (stride 2, NCHW) fall back to
 * oneDNN's blocked kernels. */
static void test_wino23(void **state) {
    (void)state;
    static const conv_case W[] = {
        {3, 16, 7, 7, 16, 3, 3, 1, 1, 1, 1},
        {2, 16, 28, 28, 16, 3, 3, 1, 1, 1, 0},
        {3, 32, 5, 9, 48, 3, 3, 1, 1, 1, 1},
        {1, 64, 14, 14, 64, 3, 3, 1, 1, 1, 0},
        {3, 32, 5, 9, 32, 3, 3, 2, 1, 1, 0},   /* stride 2: oneDNN's */
        {2, 16, 9, 7, 24, 5, 5, 1, 1, 1, 1},   /* 5x5: backward data only */
    };
    static const int BLK[][2] = {{8, 8}, {16, 16}, {16, 8}, {0, 0}};
    setenv("TG_DNNL_LAYOUT", "wino23", 1);
    int fails = 0;
    for (int threads = 1; threads <= 2; threads++) {
        tg_threads_set(threads);
        for (size_t i = 0; i < sizeof W / sizeof W[0]; i++)
            for (size_t b = 0; b < sizeof BLK / sizeof BLK[0]; b++) {
                const int xb = !BLK[b][0] || W[i].c % BLK[b][0] == 0 ? BLK[b][0] : 8;
                const int yb = !BLK[b][1] || W[i].k % BLK[b][1] == 0 ? BLK[b][1] : 8;
                fails += run_case_in(&W[i], 2000 + i, xb, yb);
            }
    }
    unsetenv("TG_DNNL_LAYOUT");
    assert_int_equal(fails, 0);
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

/* Measured strategies (conv_tune.h): a new shape is timed, its choice
 * appended to the cache file and the plan still matches the reference; the
 * same shape again is read from the file (no new line); a line written by
 * hand is honoured and an unreadable one skipped; small shapes are not
 * timed. */
static void test_tuned(void **state) {
    (void)state;
    char path[] = "/tmp/tg_tune_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    setenv("TG_TUNE_CACHE", path, 1);
    setenv("TG_DNNL_TUNE", "1", 1);
    unsetenv("TG_DNNL_LAYOUT");
    tg_threads_set(2);
    const conv_case big = {2, 128, 7, 7, 128, 3, 3, 1, 1, 1, 0};
    assert_int_equal(run_case(&big, 7), 0);
    assert_int_equal(count_lines(path), 1);
    assert_int_equal(run_case(&big, 8), 0);
    assert_int_equal(count_lines(path), 1);
    /* a line of garbage and one naming a strategy this version does not
     * have are skipped: the shape is timed and appended */
    const conv_case five = {2, 64, 7, 7, 96, 5, 5, 1, 1, 1, 1};
    char key[160];
    tg_conv2d_shape sh;
    assert_int_equal(tg_conv2d_shape_init(&sh, 2, 64, 7, 7, 96, 5, 5, 1, 1, 1, NULL), TG_OK);
    conv_tune_key(&sh, conv_tune_isa(), tg_threads_get(), key, sizeof key);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "garbage\n%s turbo plain plain\n", key);
    fclose(f);
    int before = count_lines(path);
    assert_int_equal(run_case(&five, 9), 0);
    assert_int_equal(count_lines(path), before + 1);
    assert_int_equal(run_case(&five, 10), 0);  /* now found */
    assert_int_equal(count_lines(path), before + 1);
    /* a hand-written choice is honoured (nothing timed, nothing appended)
     * and the plan it makes is right */
    const conv_case one7 = {2, 128, 7, 7, 128, 1, 7, 1, 1, 1, 0};
    assert_int_equal(tg_conv2d_shape_init(&sh, 2, 128, 7, 7, 128, 1, 7, 1, 1, 1, NULL), TG_OK);
    conv_tune_key(&sh, conv_tune_isa(), tg_threads_get(), key, sizeof key);
    f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "%s plain nhwc plain\n", key);
    fclose(f);
    before = count_lines(path);
    assert_int_equal(run_case(&one7, 12), 0);
    assert_int_equal(count_lines(path), before);
    /* too little work to time */
    const conv_case tiny = {1, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1};
    assert_int_equal(run_case(&tiny, 11), 0);
    assert_int_equal(count_lines(path), before);
    unsetenv("TG_TUNE_CACHE");
    setenv("TG_DNNL_TUNE", "0", 1);
    unlink(path);
}

/* Shapes that cannot work come back as an error, never a crash. */
/* The cache key names the processor as the kernel does ("cpu family" and
 * "model" of /proc/cpuinfo), so machines of one ISA keep apart */
static void test_tune_key_cpu(void **state) {
    (void)state;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) skip();
    int family = -1, model = -1;
    char line[512];
    while (fgets(line, sizeof line, f) && (family < 0 || model < 0)) {
        if (!strncmp(line, "cpu family", 10)) sscanf(strchr(line, ':') + 1, "%d", &family);
        else if (!strncmp(line, "model\t", 6)) sscanf(strchr(line, ':') + 1, "%d", &model);
    }
    fclose(f);
    if (family < 0 || model < 0) skip();  /* not x86 */
    tg_conv2d_shape sh;
    assert_int_equal(tg_conv2d_shape_init(&sh, 2, 16, 8, 8, 16, 3, 3, 1, 1, 1, NULL), TG_OK);
    char key[160], want[32];
    conv_tune_key(&sh, "avx2", 2, key, sizeof key);
    snprintf(want, sizeof want, " cpu%d.%d ", family, model);
    if (!strstr(key, want)) fail_msg("key '%s' does not name '%s'", key, want);
}

static void test_bad_shapes(void **state) {
    (void)state;
    tg_conv2d_shape s;
    tg_error err;
    tg_error_clear(&err);
    assert_int_equal(tg_conv2d_shape_init(&s, 2, 4, 7, 7, 8, 3, 3, 1, 1, 1, &err), TG_OK);
    /* an output size that does not follow from the input */
    tg_conv2d_shape bad = s;
    bad.oh = 11;
    assert_null(tg_backend_dnnl.conv_plan_new(&bad, &err));
    assert_int_equal(err.status, TG_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "oneDNN"));
    /* groups that do not divide the channels */
    tg_error_clear(&err);
    bad = s;
    bad.groups = 3;
    assert_null(tg_backend_dnnl.conv_plan_new(&bad, &err));
    assert_int_not_equal(err.status, TG_OK);
    /* nonsense sizes */
    tg_error_clear(&err);
    bad = s;
    bad.kh = 0;
    assert_null(tg_backend_dnnl.conv_plan_new(&bad, &err));
    assert_int_not_equal(err.status, TG_OK);
    /* a NULL error pointer is allowed */
    bad = s;
    bad.ow = 1000;
    assert_null(tg_backend_dnnl.conv_plan_new(&bad, NULL));
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A cache file that has reached its 4 MiB cap is not read; the next store
 * rewrites it with the current key version's lines only, so a cache full
 * of lines from older versions (or older key rules) works again; one full
 * of current lines keeps its newer half. */
static void test_tune_compact(void **state) {
    (void)state;
    static const char *const names[] = {"plain", "blocked", "wino", "nhwc", "wino23"};
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/dnnl-strategies", dir);
    setenv("TG_TUNE_CACHE", path, 1);
    tg_conv2d_shape a, b;
    assert_int_equal(tg_conv2d_shape_init(&a, 2, 128, 7, 7, 128, 1, 7, 1, 1, 1, NULL), TG_OK);
    assert_int_equal(tg_conv2d_shape_init(&b, 4, 64, 14, 14, 64, 3, 3, 1, 1, 1, NULL), TG_OK);
    char ka[160], kb[160];
    conv_tune_key(&a, "avx2", 2, ka, sizeof ka);
    conv_tune_key(&b, "avx2", 2, kb, sizeof kb);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 60000; i++) {
        fprintf(f, "v1 avx2 t2 n%d c64 h28 w28 k64 3x3 s1 d1 g1 blocked blocked blocked\n", i);
        if (i == 30000) fprintf(f, "%s plain nhwc plain\n", ka);
    }
    fclose(f);
    assert_true(file_size(path) > (4 << 20));
    int got[3];
    assert_false(conv_tune_lookup(ka, names, 5, got));  /* too big to read */
    const int want[3] = {4, 4, 1};
    conv_tune_store(kb, names, want);
    assert_true(file_size(path) < 1000);
    assert_true(conv_tune_lookup(ka, names, 5, got));
    assert_int_equal(got[0], 0), assert_int_equal(got[1], 3), assert_int_equal(got[2], 0);
    assert_true(conv_tune_lookup(kb, names, 5, got));
    assert_memory_equal(got, want, sizeof want);
    /* a cache full of current lines keeps the newer half */
    f = fopen(path, "w");
    assert_non_null(f);
    char first[160] = "", last[160] = "";
    for (int i = 0; i < 60000; i++) {
        tg_conv2d_shape c;
        assert_int_equal(tg_conv2d_shape_init(&c, 1 + i, 8, 5, 5, 8, 3, 3, 1, 1, 1, NULL), TG_OK);
        char kc[160];
        conv_tune_key(&c, "avx2", 2, kc, sizeof kc);
        fprintf(f, "%s blocked blocked blocked\n", kc);
        if (i == 0) memcpy(first, kc, sizeof kc);
        memcpy(last, kc, sizeof kc);
    }
    fclose(f);
    assert_true(file_size(path) > (4 << 20));
    conv_tune_store(kb, names, want);
    assert_true(file_size(path) <= (2 << 20) + 200);
    assert_false(conv_tune_lookup(first, names, 5, got));
    assert_true(conv_tune_lookup(last, names, 5, got));
    assert_true(conv_tune_lookup(kb, names, 5, got));
    unsetenv("TG_TUNE_CACHE");
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heuristic_1thread),
        cmocka_unit_test(test_heuristic_2threads),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_blocked),
        cmocka_unit_test(test_winograd),
        cmocka_unit_test(test_nhwc),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_wino23),
        cmocka_unit_test(test_tuned),
        cmocka_unit_test(test_tune_key_cpu),
        cmocka_unit_test(test_tune_compact),
        cmocka_unit_test(test_bad_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
