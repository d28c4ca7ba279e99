/* test_grad.c - every op's gradients against central finite differences.
 *
 * Method (after ggml's test-backend-ops): inputs and parameters drawn from a
 * seeded tg_rng, a random projection r and the loss L = sum(y * r) summed in
 * double. Backward with dy = r gives the analytic gradient of L; the numeric
 * one is (L(v+h) - L(v-h)) / 2h, 2h being the difference of the two float
 * values actually used, for every element of every differentiable tensor or
 * for `samples` of them drawn at random. Softmax cross-entropy and whole
 * networks use the loss they return instead of a projection. An element
 * passes when
 *
 *     |analytic - numeric| <= atol + rtol * |numeric|
 *
 * with h, atol and rtol from the table TOL below. The loss's float rounding
 * divided by 2h bounds h from below; curvature (h^2 truncation: only BN,
 * softmax and networks have any, the other ops are linear in each checked
 * tensor between kinks) bounds it from above.
 *
 * Kinks. Each op with one hashes its pattern (ReLU units on, max-pool
 * winners) for every loss evaluation, and a step that changes it fails the
 * check: the inputs are built so that none does. ReLU inputs lie 0.1 or
 * more from 0; training-mode BN+ReLU gets a beta that puts the ReLU's zero
 * in the widest gap between a channel's normalised values; eval-mode BN+ReLU
 * draws its pre-activations away from 0; max pooling gets a permutation of
 * values 0.1 apart plus noise below 0.02, so that h = 1e-2 never changes a
 * window's winner. A network's activations cannot all be placed (its BN
 * betas are, as above): a step that changes its pattern is retried with h/4
 * and h/16 (atol scaled by 4 and 16, as rounding noise over 2h grows) and
 * the element skipped if that does not help; at most half may be.
 *
 * Beyond gradients: every backward's acc=1 path (dx added onto a pre-filled
 * buffer equals prefill + gradient), outputs and parameter gradients written
 * over NaN (nothing may read them first), convolution without dx, forward
 * values against naive loops or hand-computed numbers, the two convolution
 * backends and one against all cores on a whole network.
 *
 * The checks run on one thread (main): they are thousands of tiny calls,
 * where OpenMP's and OpenBLAS's synchronisation costs 40x on a loaded
 * machine. A failure prints the op, its options, the tensor, the worst
 * element and its error in tolerances. TG_GRAD_VERBOSE=1 also prints every
 * passing check's worst error and each test's time; TG_GRAD_SEED=n draws
 * other random inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "tgsage/backend.h"
#include "tgsage/graph.h"
#include "tgsage/ops.h"
#include "tgsage/threads.h"

/* ---- tolerances ------------------------------------------------------- */

typedef struct {
    double h, atol, rtol;
    int samples;     /* elements checked per tensor at most */
    int skip_kinks;  /* retry, then skip, elements whose step crosses a kink */
} fd_tol;

enum { T_CONV, T_BN, T_BN_RELU, T_BN_EVAL, T_RELU, T_ADD, T_MAXPOOL, T_AVGPOOL,
       T_GAP, T_CONCAT, T_LINEAR, T_XENT, T_NET, T_COUNT };

/* The worst error seen over 80 seeds (TG_GRAD_SEED=0..80) is 0.2 of these
 * tolerances for single ops and 0.55 for the networks. */
static const fd_tol TOL[T_COUNT] = {
    /*                h     atol  rtol  samples skip_kinks */
    [T_CONV]     = {1e-2, 1e-3, 1e-3, 200, 0},  /* sums of up to 49 products */
    [T_BN]       = {1e-2, 1e-3, 1e-3, 200, 0},  /* curvature through 1/std */
    [T_BN_RELU]  = {5e-3, 1e-3, 1e-3, 200, 0},  /* smaller steps: margin to kink */
    [T_BN_EVAL]  = {1e-2, 1e-4, 1e-3, 200, 0},  /* affine in x, gamma, beta */
    [T_RELU]     = {1e-2, 1e-4, 1e-3, 200, 0},
    [T_ADD]      = {1e-2, 1e-4, 1e-3, 200, 0},
    [T_MAXPOOL]  = {1e-2, 1e-4, 1e-3, 200, 0},
    [T_AVGPOOL]  = {1e-2, 1e-4, 1e-3, 200, 0},
    [T_GAP]      = {1e-2, 1e-4, 1e-3, 200, 0},
    [T_CONCAT]   = {1e-2, 1e-4, 1e-3, 200, 0},
    [T_LINEAR]   = {1e-2, 1e-4, 1e-3, 200, 0},
    [T_XENT]     = {1e-2, 1e-5, 1e-3, 200, 0},  /* gradients of a mean: small */
    [T_NET]      = {5e-3, 1e-4, 1e-2, 24, 1},   /* loss noise ~1e-6; kinks */
};

/* Exact comparisons: acc=1 against prefill + gradient, reruns, backends. */
#define ACC_ATOL 1e-5
#define ACC_RTOL 1e-5
/* forward values against naive loops in double */
#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-4

/* ---- the checker ------------------------------------------------------ */

typedef struct {
    tg_rng rng;
    int checks, failures;
    int verbose;
    struct timespec t0;
} suite;

static void suite_init(suite *S, uint64_t seed) {
    const char *other = getenv("TG_GRAD_SEED");
    tg_rng_seed(&S->rng, seed + (other ? 1000 * strtoull(other, NULL, 10) : 0));
    S->checks = S->failures = 0;
    S->verbose = getenv("TG_GRAD_VERBOSE") != NULL;
    clock_gettime(CLOCK_MONOTONIC, &S->t0);
}

/* Fail the cmocka test if any check failed; each printed its own message. */
static void suite_end(suite *S, const char *test) {
    if (S->verbose) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        print_message("%s: %d checks, %d failed, %.2f s\n", test, S->checks, S->failures,
                      (double)(t1.tv_sec - S->t0.tv_sec) + 1e-9 * (t1.tv_nsec - S->t0.tv_nsec));
    }
    if (S->failures)
        fail_msg("%s: %d of %d checks failed (see above)", test, S->failures, S->checks);
}

/* The loss at the current contents of the tensors under test. An op with
 * kinks also hashes their pattern into *kinks (which ReLU units are active,
 * which element wins each max-pool window); the others leave it alone. */
typedef double (*loss_fn)(void *ctx, uint64_t *kinks);

typedef struct {
    const char *name;    /* "x", "w", "gamma", a network parameter's name */
    float *v;            /* perturbed in place, restored exactly */
    const float *grad;   /* the analytic gradient */
    size_t n;
} fd_tensor;

/* FNV-1a, one step per unit of a kink pattern */
#define KINK_SEED 0xcbf29ce484222325ULL
static uint64_t kink_add(uint64_t hash, uint64_t v) { return (hash ^ v) * 0x100000001b3ULL; }

static uint64_t kinks_relu(uint64_t hash, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) hash = kink_add(hash, y[i] > 0);
    return hash;
}

static uint64_t kinks_argmax(uint64_t hash, const int32_t *arg, size_t n) {
    for (size_t i = 0; i < n; i++) hash = kink_add(hash, (uint64_t)arg[i]);
    return hash;
}

/* Central differences of loss against the analytic gradient of one tensor.
 * A step that changes the kink pattern is a failure of the test's inputs
 * for a single op; for a network (skip_kinks) it is retried with h/4 and
 * h/16 (atol grows as 1/h: it covers the loss's rounding noise over 2h) and
 * the element skipped if that does not help. At most half may be. */
static void fd_check(suite *S, const char *what, const fd_tol *t, loss_fn loss,
                     void *ctx, fd_tensor v) {
    size_t m = v.n < (size_t)t->samples ? v.n : (size_t)t->samples;
    int32_t *idx = malloc(sizeof(int32_t) * (v.n ? v.n : 1));
    assert_non_null(idx);
    for (size_t i = 0; i < v.n; i++) idx[i] = (int32_t)i;
    if (m < v.n) tg_rng_shuffle_i32(&S->rng, idx, (int64_t)v.n);
    uint64_t k0 = KINK_SEED;
    loss(ctx, &k0);
    double worst = 0, w_ana = 0, w_num = 0, w_h = t->h;
    size_t w_i = 0, skipped = 0, crossed = 0;
    for (size_t q = 0; q < m; q++) {
        const size_t i = (size_t)idx[q];
        const float v0 = v.v[i];
        float vp = v0, vm = v0;
        double h = t->h, lp = 0, lm = 0;
        int smooth = 0;
        for (int tries = 0; tries < (t->skip_kinks ? 3 : 1) && !smooth; tries++) {
            if (tries) h /= 4;
            uint64_t kp = KINK_SEED, km = KINK_SEED;
            vp = (float)(v0 + h), vm = (float)(v0 - h);
            v.v[i] = vp;
            lp = loss(ctx, &kp);
            v.v[i] = vm;
            lm = loss(ctx, &km);
            v.v[i] = v0;
            smooth = kp == k0 && km == k0;
        }
        if (!smooth) {
            if (t->skip_kinks)
                skipped++;
            else
                crossed++;
            continue;
        }
        double num = (lp - lm) / ((double)vp - vm);
        double e = fabs(v.grad[i] - num) / (t->atol * (t->h / h) + t->rtol * fabs(num));
        if (isnan(e)) e = INFINITY;
        if (e >= worst) worst = e, w_i = i, w_ana = v.grad[i], w_num = num, w_h = h;
    }
    free(idx);
    S->checks++;
    if (worst > 1)
        print_error("FAIL %s: d%s[%zu] analytic %.7g, numeric %.7g (h %g): %.3g "
                    "tolerances (atol %g, rtol %g; %zu of %zu elements checked)\n",
                    what, v.name, w_i, w_ana, w_num, w_h, worst, t->atol, t->rtol,
                    m - skipped - crossed, v.n);
    if (crossed)
        print_error("FAIL %s: d%s: %zu of %zu steps of %g crossed a kink (the "
                    "test must keep its inputs away from them)\n",
                    what, v.name, crossed, m, t->h);
    if (skipped * 2 > m)
        print_error("FAIL %s: d%s: %zu of %zu elements skipped, at kinks even with "
                    "h = %g\n", what, v.name, skipped, m, t->h / 16);
    if (worst > 1 || crossed || skipped * 2 > m)
        S->failures++;
    else if (S->verbose) {
        print_message("  ok %-58s d%-16s worst %.3f (%zu/%zu checked%s)\n", what, v.name,
                      worst, m - skipped, v.n, skipped ? ", kinks skipped" : "");
    }
}

/* got against want: |got - want| <= atol + rtol*|want| everywhere. */
static void expect_close(suite *S, const char *what, const char *name,
                         const float *got, const float *want, size_t n,
                         double atol, double rtol) {
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        double e = d == 0 ? 0 : d / (atol + rtol * fabs((double)want[i]));
        if (isnan(e)) e = INFINITY;
        if (e > worst) worst = e, wi = i;
    }
    S->checks++;
    if (worst > 1) {
        S->failures++;
        print_error("FAIL %s: %s[%zu] = %.7g, want %.7g: %.3g tolerances "
                    "(atol %g, rtol %g)\n",
                    what, name, wi, got[wi], want[wi], worst, atol, rtol);
    }
}

static void expect_equal_i32(suite *S, const char *what, const char *name,
                             const int32_t *got, const int32_t *want, size_t n) {
    S->checks++;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            S->failures++;
            print_error("FAIL %s: %s[%zu] = %d, want %d\n", what, name, i, got[i], want[i]);
            return;
        }
}

/* ---- buffers and random data ------------------------------------------ */

/* The allocations of one case, freed together. */
typedef struct {
    void *p[40];
    int n;
} bag;

static void *bag_alloc(bag *B, size_t bytes) {
    assert_true(B->n < (int)(sizeof B->p / sizeof B->p[0]));
    void *p = malloc(bytes ? bytes : 1);
    assert_non_null(p);
    return B->p[B->n++] = p;
}

static float *bag_f(bag *B, size_t n) { return bag_alloc(B, n * sizeof(float)); }

static void bag_free(bag *B) {
    for (int i = 0; i < B->n; i++) free(B->p[i]);
    B->n = 0;
}

static void fill_nan(float *a, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = NAN;
}

static void fill_normal(tg_rng *r, float *a, size_t n, float mean, float sd) {
    for (size_t i = 0; i < n; i++) a[i] = mean + sd * tg_rng_normal(r);
}

/* |a[i]| in [lo, hi], random sign: keeps values off a kink at 0 */
static void fill_off_zero(tg_rng *r, float *a, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        float v = lo + (hi - lo) * tg_rng_uniform(r);
        a[i] = tg_rng_below(r, 2) ? v : -v;
    }
}

/* A random permutation of values `spacing` apart plus noise of at most
 * `noise`: any two differ by more than spacing - 2*noise. */
static void fill_distinct(tg_rng *r, float *a, size_t n, float spacing, float noise) {
    int32_t *perm = malloc(sizeof(int32_t) * (n ? n : 1));
    assert_non_null(perm);
    for (size_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    tg_rng_shuffle_i32(r, perm, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        a[i] = ((float)perm[i] - 0.5f * (float)n) * spacing +
               noise * (2 * tg_rng_uniform(r) - 1);
    free(perm);
}

static double dot(const float *y, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

/* A random buffer for an acc=1 call and, in want, what it must hold after
 * the call adds grad to it. */
static float *acc_prefill(suite *S, bag *B, const float *grad, size_t n, float **want) {
    float *p = bag_f(B, n);
    *want = bag_f(B, n);
    tu_fill_uniform(&S->rng, p, n, -1, 1);
    for (size_t i = 0; i < n; i++) (*want)[i] = p[i] + grad[i];
    return p;
}

static void copy_f(float *dst, const float *src, size_t n) {
    memcpy(dst, src, n * sizeof(float));
}

/* ---- conv2d ----------------------------------------------------------- */

typedef struct {
    int n, c, h, w, k, kh, kw, stride, dil, groups, bias;
} conv_case;

static const conv_case CONV_CASES[] = {
    /* n  c  h  w  k kh kw  s  d  g bias */
    /* square kernels 1, 3, 5, 7 at stride 1 and 2, odd and even sizes */
    {2, 3, 5, 5, 4, 1, 1, 1, 1, 1, 1},
    {2, 3, 7, 7, 4, 1, 1, 2, 1, 1, 0},
    {2, 3, 5, 7, 4, 3, 3, 1, 1, 1, 1},
    {3, 4, 7, 7, 4, 3, 3, 2, 1, 1, 0},
    {2, 3, 8, 8, 4, 3, 3, 2, 1, 1, 1},
    {2, 2, 7, 7, 3, 5, 5, 1, 1, 1, 0},
    {2, 2, 9, 7, 3, 5, 5, 2, 1, 1, 1},
    {2, 2, 9, 9, 3, 7, 7, 1, 1, 1, 1},
    {2, 2, 9, 9, 3, 7, 7, 2, 1, 1, 0},
    /* 1x7, 7x1, 3x1, 1x3 */
    {2, 3, 7, 9, 4, 1, 7, 1, 1, 1, 1},
    {2, 3, 9, 7, 4, 7, 1, 1, 1, 1, 0},
    {2, 3, 7, 7, 4, 1, 7, 2, 1, 1, 0},
    {2, 3, 7, 7, 4, 7, 1, 2, 1, 1, 1},
    {2, 3, 5, 7, 4, 3, 1, 1, 1, 1, 1},
    {2, 3, 7, 5, 4, 1, 3, 1, 1, 1, 0},
    {2, 3, 7, 7, 4, 3, 1, 2, 1, 1, 0},
    {2, 3, 7, 7, 4, 1, 3, 2, 1, 1, 1},
    /* dilation 2 */
    {2, 3, 7, 7, 4, 3, 3, 1, 2, 1, 1},
    {2, 3, 9, 9, 2, 3, 3, 2, 2, 1, 0},
    {2, 2, 9, 9, 2, 5, 5, 1, 2, 1, 1},
    {2, 3, 9, 7, 2, 1, 3, 1, 2, 1, 0},
    /* two groups */
    {2, 4, 7, 7, 6, 3, 3, 1, 1, 2, 1},
    {2, 4, 6, 6, 4, 1, 1, 2, 1, 2, 0},
    {2, 4, 7, 7, 4, 3, 3, 2, 2, 2, 1},
    {2, 4, 7, 7, 2, 1, 7, 1, 1, 2, 0},
    /* depthwise, and a channel multiplier of 2 */
    {2, 4, 7, 7, 4, 3, 3, 1, 1, 4, 0},
    {2, 4, 7, 7, 4, 5, 5, 2, 1, 4, 1},
    {2, 4, 9, 9, 4, 7, 7, 1, 1, 4, 0},
    {2, 4, 9, 9, 4, 3, 3, 1, 2, 4, 1},
    {2, 3, 7, 7, 6, 3, 3, 1, 1, 3, 1},
    {2, 4, 7, 7, 4, 1, 7, 2, 1, 4, 0},
    {2, 4, 7, 7, 4, 7, 1, 1, 1, 4, 1},
};
#define N_CONV_CASES (sizeof CONV_CASES / sizeof CONV_CASES[0])

typedef struct {
    tg_conv2d_shape s;
    tg_conv_plan *plan;   /* oneDNN's plan; NULL: the reference functions */
    float *x, *w, *b, *y, *r, *scratch;   /* b NULL: no bias */
    size_t nx, nw, ny;
} conv_ctx;

static void conv_fwd(conv_ctx *c) {
    if (c->plan)
        tg_backend_dnnl.conv_forward(c->plan, c->x, c->w, c->b, c->y, c->scratch);
    else
        tg_conv2d_forward(&c->s, c->x, c->w, c->b, c->y, c->scratch);
}

/* dy = r */
static void conv_bwd(conv_ctx *c, float *dx, int acc, float *dw, float *db) {
    if (c->plan)
        tg_backend_dnnl.conv_backward(c->plan, c->x, c->w, c->r, dx, acc, dw, db,
                                      c->scratch);
    else
        tg_conv2d_backward(&c->s, c->x, c->w, c->r, dx, acc, dw, db, c->scratch);
}

static double conv_loss(void *p, uint64_t *kinks) {
    (void)kinks;
    conv_ctx *c = p;
    conv_fwd(c);
    return dot(c->y, c->r, c->ny);
}

/* x (n,c,h,w), w (k,c/g,kh,kw) -> y (n,k,oh,ow), seven loops in double */
static void conv_naive(const tg_conv2d_shape *s, const float *x, const float *w,
                       const float *b, float *y) {
    const int cg = s->c / s->groups, kg = s->k / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int o = 0; o < s->k; o++)
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    double sum = b ? b[o] : 0;
                    for (int ci = 0; ci < cg; ci++) {
                        int cin = (o / kg) * cg + ci;
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                int iy = oy * s->stride - s->pad_h + i * s->dil;
                                int ix = ox * s->stride - s->pad_w + j * s->dil;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                                size_t xi = (((size_t)n * s->c + cin) * s->h + iy) * s->w + ix;
                                size_t wi = (((size_t)o * cg + ci) * s->kh + i) * s->kw + j;
                                sum += (double)x[xi] * w[wi];
                            }
                    }
                    y[(((size_t)n * s->k + o) * s->oh + oy) * s->ow + ox] = (float)sum;
                }
}

static void check_conv(suite *S, const conv_case *t, int dnnl) {
    char what[160];
    snprintf(what, sizeof what, "conv2d/%s n%d c%d %dx%d -> k%d, kernel %dx%d stride %d "
             "dil %d groups %d bias %d", dnnl ? "dnnl" : "ref", t->n, t->c, t->h, t->w,
             t->k, t->kh, t->kw, t->stride, t->dil, t->groups, t->bias);
    bag B = {0};
    conv_ctx c = {0};
    tg_error err;
    tg_error_clear(&err);
    if (tg_conv2d_shape_init(&c.s, t->n, t->c, t->h, t->w, t->k, t->kh, t->kw,
                             t->stride, t->dil, t->groups, &err) != TG_OK)
        fail_msg("%s: %s", what, err.msg);
    size_t nscratch = tg_conv2d_scratch_floats(&c.s);
    if (dnnl) {
        c.plan = tg_backend_dnnl.conv_plan_new(&c.s, &err);
        if (!c.plan) fail_msg("%s: %s", what, err.msg);
        nscratch = tg_backend_dnnl.conv_scratch_floats(c.plan);
    }
    const size_t nb = (size_t)t->k;
    c.nx = (size_t)t->n * t->c * t->h * t->w;
    c.nw = (size_t)t->k * (t->c / t->groups) * t->kh * t->kw;
    c.ny = (size_t)t->n * t->k * c.s.oh * c.s.ow;
    c.x = bag_f(&B, c.nx), c.w = bag_f(&B, c.nw), c.y = bag_f(&B, c.ny);
    c.r = bag_f(&B, c.ny), c.scratch = bag_f(&B, nscratch);
    c.b = t->bias ? bag_f(&B, nb) : NULL;
    tu_fill_uniform(&S->rng, c.x, c.nx, -1, 1);
    tu_fill_uniform(&S->rng, c.w, c.nw, -1, 1);
    if (c.b) tu_fill_uniform(&S->rng, c.b, nb, -1, 1);
    tu_fill_uniform(&S->rng, c.r, c.ny, -1, 1);

    float *want = bag_f(&B, c.ny);
    fill_nan(c.y, c.ny);
    conv_fwd(&c);
    conv_naive(&c.s, c.x, c.w, c.b, want);
    expect_close(S, what, "y (vs naive loops)", c.y, want, c.ny, FWD_ATOL, FWD_RTOL);

    float *dx = bag_f(&B, c.nx), *dw = bag_f(&B, c.nw), *db = bag_f(&B, nb);
    fill_nan(dx, c.nx), fill_nan(dw, c.nw), fill_nan(db, nb);
    conv_bwd(&c, dx, 0, dw, c.b ? db : NULL);
    const fd_tol *tol = &TOL[T_CONV];
    fd_check(S, what, tol, conv_loss, &c, (fd_tensor){"x", c.x, dx, c.nx});
    fd_check(S, what, tol, conv_loss, &c, (fd_tensor){"w", c.w, dw, c.nw});
    if (c.b) fd_check(S, what, tol, conv_loss, &c, (fd_tensor){"bias", c.b, db, nb});

    /* acc=1 adds dx; dw and db are written again, not accumulated */
    float *dx_want, *dx_acc = acc_prefill(S, &B, dx, c.nx, &dx_want);
    float *dw2 = bag_f(&B, c.nw), *db2 = bag_f(&B, nb);
    fill_nan(dw2, c.nw), fill_nan(db2, nb);
    conv_bwd(&c, dx_acc, 1, dw2, c.b ? db2 : NULL);
    expect_close(S, what, "dx (acc=1)", dx_acc, dx_want, c.nx, ACC_ATOL, ACC_RTOL);
    expect_close(S, what, "dw (with acc=1)", dw2, dw, c.nw, ACC_ATOL, ACC_RTOL);
    if (c.b) expect_close(S, what, "db (with acc=1)", db2, db, nb, ACC_ATOL, ACC_RTOL);
    /* no input gradient wanted */
    fill_nan(dw2, c.nw), fill_nan(db2, nb);
    conv_bwd(&c, NULL, 0, dw2, c.b ? db2 : NULL);
    expect_close(S, what, "dw (dx NULL)", dw2, dw, c.nw, ACC_ATOL, ACC_RTOL);
    if (c.b) expect_close(S, what, "db (dx NULL)", db2, db, nb, ACC_ATOL, ACC_RTOL);

    if (c.plan) tg_backend_dnnl.conv_plan_free(c.plan);
    bag_free(&B);
}

static void test_conv_ref(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 101);
    for (size_t i = 0; i < N_CONV_CASES; i++) check_conv(&S, &CONV_CASES[i], 0);
    suite_end(&S, "conv2d/ref");
}

static void test_conv_dnnl(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 102);
    for (size_t i = 0; i < N_CONV_CASES; i++) check_conv(&S, &CONV_CASES[i], 1);
    suite_end(&S, "conv2d/dnnl");
}

/* ---- batch norm ------------------------------------------------------- */

typedef struct {
    int n, c, hw;
    int eval, relu;
} bn_case;

static const bn_case BN_CASES[] = {
    {2, 3, 12, 0, 0}, {3, 2, 9, 0, 0},  /* training */
    {2, 3, 12, 0, 1}, {3, 2, 9, 0, 1},  /* training, fused ReLU */
    {2, 3, 12, 1, 0}, {3, 2, 9, 1, 1},  /* evaluation, running statistics */
};
#define N_BN_CASES (sizeof BN_CASES / sizeof BN_CASES[0])

typedef struct {
    tg_bn_shape s;
    int eval, relu;
    float *x, *gamma, *beta, *y, *r;
    float *mean, *invstd, *rmean, *rvar;
    size_t nx;
} bn_ctx;

static void bn_fwd(bn_ctx *c, int relu) {
    if (c->eval)
        tg_bn_forward_eval(&c->s, c->x, c->gamma, c->beta, c->y, c->rmean, c->rvar, relu);
    else
        tg_bn_forward_train(&c->s, c->x, c->gamma, c->beta, c->y, c->mean, c->invstd,
                            c->rmean, c->rvar, NULL, relu);
}

static double bn_loss(void *p, uint64_t *kinks) {
    bn_ctx *c = p;
    bn_fwd(c, c->relu);
    if (c->relu) *kinks = kinks_relu(*kinks, c->y, c->nx);
    return dot(c->y, c->r, c->nx);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Beta for a training-mode BN of x (n,c,hw) followed by a ReLU, putting the
 * ReLU's zero in the widest gap between a channel's normalised values (with
 * an eighth of them, and two at least, on either side), so that no small
 * step of x, gamma or beta switches a unit on or off. A channel of mostly
 * equal values (zero padding, ReLU'd zeros) may have no such gap: then the
 * widest gap anywhere, or below all values. */
static void bn_beta_off_kink(const tg_bn_shape *s, const float *x, const float *gamma,
                             float *beta) {
    const int cnt = s->n * s->hw, lo = cnt / 8 > 2 ? cnt / 8 : 2;
    double *z = malloc(sizeof(double) * cnt);
    assert_non_null(z);
    assert_true(cnt >= 2 * lo + 2);
    for (int ch = 0; ch < s->c; ch++) {
        double m = 0, v = 0;
        for (int b = 0; b < s->n; b++)
            for (int i = 0; i < s->hw; i++)
                m += z[b * s->hw + i] = x[((size_t)b * s->c + ch) * s->hw + i];
        m /= cnt;
        for (int i = 0; i < cnt; i++) v += (z[i] - m) * (z[i] - m);
        v = sqrt(v / cnt + s->eps);
        for (int i = 0; i < cnt; i++) z[i] = (z[i] - m) / v;
        qsort(z, cnt, sizeof(double), cmp_double);
        int best = lo - 1;
        for (int i = lo - 1; i < cnt - lo; i++)
            if (z[i + 1] - z[i] > z[best + 1] - z[best]) best = i;
        for (int i = 0; z[best + 1] - z[best] < 0.05 && i < cnt - 1; i++)
            if (z[i + 1] - z[i] > z[best + 1] - z[best]) best = i;
        double zero = z[best + 1] - z[best] < 0.05 ? z[0] - 0.5 : 0.5 * (z[best] + z[best + 1]);
        beta[ch] = (float)(-gamma[ch] * zero);
    }
    free(z);
}

/* Gradients of sum(r * bn_eval(x)) in closed form: y is an affine map of x
 * per channel (there is no eval-mode backward op to check). */
static void bn_eval_grads(const bn_ctx *c, float *dx, float *dgamma, float *dbeta) {
    const tg_bn_shape *s = &c->s;
    for (int ch = 0; ch < s->c; ch++) {
        double a = 1.0 / sqrt((double)c->rvar[ch] + s->eps), sg = 0, sb = 0;
        for (int b = 0; b < s->n; b++)
            for (int i = 0; i < s->hw; i++) {
                size_t k = ((size_t)b * s->c + ch) * s->hw + i;
                double xhat = (c->x[k] - c->rmean[ch]) * a;
                double g = (c->relu && c->gamma[ch] * xhat + c->beta[ch] <= 0) ? 0 : c->r[k];
                dx[k] = (float)(g * c->gamma[ch] * a);
                sg += g * xhat;
                sb += g;
            }
        dgamma[ch] = (float)sg;
        dbeta[ch] = (float)sb;
    }
}

static void check_bn(suite *S, const bn_case *t) {
    char what[128];
    snprintf(what, sizeof what, "bn %s%s n%d c%d hw%d", t->eval ? "eval" : "train",
             t->relu ? " + relu" : "", t->n, t->c, t->hw);
    const fd_tol *tol = &TOL[t->eval ? T_BN_EVAL : t->relu ? T_BN_RELU : T_BN];
    bag B = {0};
    bn_ctx c = {.s = {t->n, t->c, t->hw, 1e-5f, 0.1f}, .eval = t->eval, .relu = t->relu};
    const size_t nc = (size_t)t->c;
    c.nx = (size_t)t->n * t->c * t->hw;
    c.x = bag_f(&B, c.nx), c.y = bag_f(&B, c.nx), c.r = bag_f(&B, c.nx);
    c.gamma = bag_f(&B, nc), c.beta = bag_f(&B, nc);
    c.mean = bag_f(&B, nc), c.invstd = bag_f(&B, nc);
    c.rmean = bag_f(&B, nc), c.rvar = bag_f(&B, nc);
    fill_off_zero(&S->rng, c.gamma, nc, 0.5f, 1.5f);
    tu_fill_uniform(&S->rng, c.beta, nc, -0.5f, 0.5f);
    tu_fill_uniform(&S->rng, c.rmean, nc, -0.5f, 0.5f);
    tu_fill_uniform(&S->rng, c.rvar, nc, 0.5f, 2.0f);
    tu_fill_uniform(&S->rng, c.r, c.nx, -1, 1);
    if (t->eval) {
        /* draw pre-activations 0.1 or more from 0, then x to match */
        fill_off_zero(&S->rng, c.x, c.nx, 0.1f, 1.5f);
        for (size_t k = 0; k < c.nx; k++) {
            size_t ch = k / t->hw % nc;
            float a = c.gamma[ch] / sqrtf(c.rvar[ch] + c.s.eps);
            c.x[k] = (c.x[k] - c.beta[ch]) / a + c.rmean[ch];
        }
    } else {
        for (size_t ch = 0; ch < nc; ch++)
            for (int b = 0; b < t->n; b++)
                fill_normal(&S->rng, c.x + ((size_t)b * nc + ch) * t->hw, t->hw,
                            (float)ch - 1, 0.5f + (float)ch);
        if (t->relu) bn_beta_off_kink(&c.s, c.x, c.gamma, c.beta);
    }
    float *dx = bag_f(&B, c.nx), *dg = bag_f(&B, nc), *db = bag_f(&B, nc);
    fill_nan(dx, c.nx), fill_nan(dg, nc), fill_nan(db, nc);
    bn_fwd(&c, t->relu);
    if (t->eval)
        bn_eval_grads(&c, dx, dg, db);
    else
        tg_bn_backward(&c.s, c.x, c.gamma, c.mean, c.invstd, c.y, t->relu, c.r, dx, 0,
                       dg, db);
    fd_check(S, what, tol, bn_loss, &c, (fd_tensor){"x", c.x, dx, c.nx});
    fd_check(S, what, tol, bn_loss, &c, (fd_tensor){"gamma", c.gamma, dg, nc});
    fd_check(S, what, tol, bn_loss, &c, (fd_tensor){"beta", c.beta, db, nc});

    if (!t->eval) {
        /* the checks above left the statistics of a perturbed x behind */
        bn_fwd(&c, t->relu);
        float *want, *acc = acc_prefill(S, &B, dx, c.nx, &want);
        float *dg2 = bag_f(&B, nc), *db2 = bag_f(&B, nc);
        fill_nan(dg2, nc), fill_nan(db2, nc);
        tg_bn_backward(&c.s, c.x, c.gamma, c.mean, c.invstd, c.y, t->relu, c.r, acc, 1,
                       dg2, db2);
        expect_close(S, what, "dx (acc=1)", acc, want, c.nx, ACC_ATOL, ACC_RTOL);
        expect_close(S, what, "dgamma (with acc=1)", dg2, dg, nc, ACC_ATOL, ACC_RTOL);
        expect_close(S, what, "dbeta (with acc=1)", db2, db, nc, ACC_ATOL, ACC_RTOL);
    }
    bag_free(&B);
}

static void test_bn(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 201);
    for (size_t i = 0; i < N_BN_CASES; i++) check_bn(&S, &BN_CASES[i]);
    suite_end(&S, "bn");
}

/* Batch statistics, saved mean and inverse std, the running statistics
 * (momentum 0.1, unbiased variance) and eval mode, against double loops.
 * Channel 2 has a variance of about 1e-4, where eps = 1e-5 shows (5%). */
static void test_bn_forward_values(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 202);
    const int n = 2, c = 3, hw = 5;
    const size_t nx = (size_t)n * c * hw;
    const tg_bn_shape s = {n, c, hw, 1e-5f, 0.1f};
    float x[30], y[30], want[30], gamma[3], beta[3];
    float mean[3], invstd[3], rm[3], rv[3], w_mean[3], w_invstd[3], w_rm[3], w_rv[3];
    fill_normal(&S.rng, x, nx, 0.5f, 1.0f);
    for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++)
            x[(b * c + 2) * hw + i] = 0.01f + 0.01f * tg_rng_normal(&S.rng);
    fill_off_zero(&S.rng, gamma, c, 0.5f, 1.5f);
    tu_fill_uniform(&S.rng, beta, c, -0.5f, 0.5f);
    tu_fill_uniform(&S.rng, rm, c, -0.5f, 0.5f);
    tu_fill_uniform(&S.rng, rv, c, 0.5f, 2.0f);
    for (int relu = 0; relu < 2; relu++) {
        const char *what = relu ? "bn train + relu forward" : "bn train forward";
        float rm1[3], rv1[3];
        memcpy(rm1, rm, sizeof rm), memcpy(rv1, rv, sizeof rv);
        for (int ch = 0; ch < c; ch++) {
            double sum = 0, sq = 0, cnt = n * hw;
            for (int b = 0; b < n; b++)
                for (int i = 0; i < hw; i++) sum += x[(b * c + ch) * hw + i];
            double m = sum / cnt;
            for (int b = 0; b < n; b++)
                for (int i = 0; i < hw; i++) {
                    double d = x[(b * c + ch) * hw + i] - m;
                    sq += d * d;
                }
            double var = sq / cnt, is = 1 / sqrt(var + 1e-5);
            w_mean[ch] = (float)m, w_invstd[ch] = (float)is;
            w_rm[ch] = (float)(0.9 * rm[ch] + 0.1 * m);
            w_rv[ch] = (float)(0.9 * rv[ch] + 0.1 * sq / (cnt - 1));
            for (int b = 0; b < n; b++)
                for (int i = 0; i < hw; i++) {
                    int k = (b * c + ch) * hw + i;
                    double v = gamma[ch] * (x[k] - m) * is + beta[ch];
                    want[k] = (float)(relu && v < 0 ? 0 : v);
                }
        }
        fill_nan(y, nx);
        tg_bn_forward_train(&s, x, gamma, beta, y, mean, invstd, rm1, rv1, NULL, relu);
        expect_close(&S, what, "y", y, want, nx, FWD_ATOL, FWD_RTOL);
        expect_close(&S, what, "save_mean", mean, w_mean, c, FWD_ATOL, FWD_RTOL);
        expect_close(&S, what, "save_invstd", invstd, w_invstd, c, FWD_ATOL, FWD_RTOL);
        expect_close(&S, what, "running_mean", rm1, w_rm, c, FWD_ATOL, FWD_RTOL);
        expect_close(&S, what, "running_var (unbiased)", rv1, w_rv, c, FWD_ATOL, FWD_RTOL);

        what = relu ? "bn eval + relu forward" : "bn eval forward";
        for (size_t k = 0; k < nx; k++) {
            size_t ch = k / hw % c;
            double v = gamma[ch] * (x[k] - rm[ch]) / sqrt(rv[ch] + 1e-5) + beta[ch];
            want[k] = (float)(relu && v < 0 ? 0 : v);
        }
        fill_nan(y, nx);
        tg_bn_forward_eval(&s, x, gamma, beta, y, rm, rv, relu);
        expect_close(&S, what, "y", y, want, nx, FWD_ATOL, FWD_RTOL);
    }
    suite_end(&S, "bn forward values");
}

/* BN statistics must survive a mean that is large against the spread (mean
 * 100, sd 1, 2 x 32x32): a one-pass E[x^2] - mean^2 in float got the inverse
 * std about 1e-3 off here, and 0.1 to 0.2 off at mean 1000; the two-pass
 * variance gets 1e-7. */
static void test_bn_stats_with_offset(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 203);
    enum { N = 2, HW = 1024 };
    const tg_bn_shape s = {N, 1, HW, 1e-5f, 0.1f};
    float *x = malloc(sizeof(float) * N * HW), *y = malloc(sizeof(float) * N * HW);
    assert_true(x && y);
    fill_normal(&S.rng, x, N * HW, 100.0f, 1.0f);
    double m = 0, sq = 0;
    for (int i = 0; i < N * HW; i++) m += x[i];
    m /= N * HW;
    for (int i = 0; i < N * HW; i++) sq += (x[i] - m) * (x[i] - m);
    const float gamma = 1, beta = 0;
    float mean, invstd, rm = 0, rv = 1;
    const float w_mean = (float)m, w_invstd = (float)(1 / sqrt(sq / (N * HW) + 1e-5));
    const float w_rv = (float)(0.9 + 0.1 * sq / (N * HW - 1));
    tg_bn_forward_train(&s, x, &gamma, &beta, y, &mean, &invstd, &rm, &rv, NULL, 0);
    const char *what = "bn train, mean 100 sd 1";
    expect_close(&S, what, "save_mean", &mean, &w_mean, 1, 0, 1e-6);
    expect_close(&S, what, "save_invstd", &invstd, &w_invstd, 1, 0, 1e-5);
    expect_close(&S, what, "running_var", &rv, &w_rv, 1, 0, 1e-5);
    free(x);
    free(y);
    suite_end(&S, "bn statistics with an offset");
}

/* ---- relu and add ----------------------------------------------------- */

typedef struct {
    size_t n;
    float *a, *b, *y, *r;   /* b: add's second summand */
} pw_ctx;

static double relu_loss(void *p, uint64_t *kinks) {
    pw_ctx *c = p;
    tg_relu_forward(c->n, c->a, c->y);
    *kinks = kinks_relu(*kinks, c->y, c->n);
    return dot(c->y, c->r, c->n);
}

static double add_loss(void *p, uint64_t *kinks) {
    (void)kinks;
    pw_ctx *c = p;
    tg_add_forward(c->n, c->a, c->b, c->y);
    return dot(c->y, c->r, c->n);
}

static void test_relu_add(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 301);
    bag B = {0};
    pw_ctx c = {.n = 2 * 3 * 5 * 7};
    c.a = bag_f(&B, c.n), c.b = bag_f(&B, c.n), c.y = bag_f(&B, c.n), c.r = bag_f(&B, c.n);
    float *da = bag_f(&B, c.n), *db = bag_f(&B, c.n), *want;
    tu_fill_uniform(&S.rng, c.r, c.n, -1, 1);

    const char *what = "relu n210";
    float *ref = bag_f(&B, c.n);
    fill_off_zero(&S.rng, c.a, c.n, 0.1f, 2.0f);
    fill_nan(c.y, c.n);
    tg_relu_forward(c.n, c.a, c.y);
    for (size_t i = 0; i < c.n; i++) ref[i] = c.a[i] > 0 ? c.a[i] : 0;
    expect_close(&S, what, "y", c.y, ref, c.n, 0, 0);
    fill_nan(da, c.n);
    tg_relu_backward(c.n, c.y, c.r, da, 0);
    fd_check(&S, what, &TOL[T_RELU], relu_loss, &c, (fd_tensor){"x", c.a, da, c.n});
    tg_relu_forward(c.n, c.a, c.y);  /* y of the unperturbed x again */
    float *acc = acc_prefill(&S, &B, da, c.n, &want);
    tg_relu_backward(c.n, c.y, c.r, acc, 1);
    expect_close(&S, what, "dx (acc=1)", acc, want, c.n, ACC_ATOL, ACC_RTOL);

    what = "add + copy_backward n210";
    tu_fill_uniform(&S.rng, c.a, c.n, -1, 1);
    tu_fill_uniform(&S.rng, c.b, c.n, -1, 1);
    fill_nan(c.y, c.n);
    tg_add_forward(c.n, c.a, c.b, c.y);
    for (size_t i = 0; i < c.n; i++) ref[i] = c.a[i] + c.b[i];
    expect_close(&S, what, "y", c.y, ref, c.n, 0, 0);
    fill_nan(da, c.n), fill_nan(db, c.n);
    tg_copy_backward(c.n, c.r, da, 0);
    tg_copy_backward(c.n, c.r, db, 0);
    fd_check(&S, what, &TOL[T_ADD], add_loss, &c, (fd_tensor){"a", c.a, da, c.n});
    fd_check(&S, what, &TOL[T_ADD], add_loss, &c, (fd_tensor){"b", c.b, db, c.n});
    acc = acc_prefill(&S, &B, da, c.n, &want);
    tg_copy_backward(c.n, c.r, acc, 1);
    expect_close(&S, what, "da (acc=1)", acc, want, c.n, ACC_ATOL, ACC_RTOL);
    bag_free(&B);
    suite_end(&S, "relu, add");
}

/* ---- pooling ---------------------------------------------------------- */

typedef struct {
    int max;
    int n, c, h, w, k, stride;
} pool_case;

static const pool_case POOL_CASES[] = {
    /* max n c  h  w  k  s */
    {1, 2, 2, 7, 7, 3, 1}, {1, 2, 2, 7, 7, 3, 2}, {1, 2, 2, 6, 6, 3, 1},
    {1, 2, 2, 6, 8, 3, 2}, {1, 2, 2, 5, 9, 3, 2}, {1, 2, 2, 9, 8, 5, 2},
    {0, 2, 2, 7, 7, 3, 1}, {0, 2, 2, 7, 7, 3, 2}, {0, 2, 2, 6, 6, 3, 1},
    {0, 2, 2, 6, 8, 3, 2}, {0, 2, 2, 5, 9, 3, 2}, {0, 2, 2, 9, 8, 5, 2},
};
#define N_POOL_CASES (sizeof POOL_CASES / sizeof POOL_CASES[0])

typedef struct {
    tg_pool_shape s;
    int max;
    float *x, *y, *r;
    int32_t *arg;
    size_t nx, ny;
} pool_ctx;

static void pool_fwd(pool_ctx *c) {
    if (c->max)
        tg_maxpool_forward(&c->s, c->x, c->y, c->arg);
    else
        tg_avgpool_forward(&c->s, c->x, c->y);
}

static double pool_loss(void *p, uint64_t *kinks) {
    pool_ctx *c = p;
    pool_fwd(c);
    if (c->max) *kinks = kinks_argmax(*kinks, c->arg, c->ny);
    return dot(c->y, c->r, c->ny);
}

/* Max (the first in row-major order wins, padding never does) or mean over
 * the window's positions inside the image. */
static void pool_naive(const tg_pool_shape *s, int max, const float *x, float *y,
                       int32_t *arg) {
    for (int p = 0; p < s->n * s->c; p++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                double sum = 0, best = 0;
                int cnt = 0, at = -1;
                for (int i = 0; i < s->k; i++)
                    for (int j = 0; j < s->k; j++) {
                        int iy = oy * s->stride - s->pad + i, ix = ox * s->stride - s->pad + j;
                        if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                        double v = x[(size_t)p * s->h * s->w + iy * s->w + ix];
                        if (at < 0 || v > best) best = v, at = iy * s->w + ix;
                        sum += v, cnt++;
                    }
                size_t o = (size_t)p * s->oh * s->ow + oy * s->ow + ox;
                y[o] = (float)(max ? best : sum / cnt);
                if (arg) arg[o] = at;
            }
}

static void check_pool(suite *S, const pool_case *t) {
    char what[128];
    snprintf(what, sizeof what, "%s %dx%d stride %d, n%d c%d %dx%d",
             t->max ? "maxpool" : "avgpool", t->k, t->k, t->stride, t->n, t->c, t->h, t->w);
    bag B = {0};
    pool_ctx c = {.max = t->max};
    tg_error err;
    if (tg_pool_shape_init(&c.s, t->n, t->c, t->h, t->w, t->k, t->stride, &err) != TG_OK)
        fail_msg("%s: %s", what, err.msg);
    c.nx = (size_t)t->n * t->c * t->h * t->w;
    c.ny = (size_t)t->n * t->c * c.s.oh * c.s.ow;
    c.x = bag_f(&B, c.nx), c.y = bag_f(&B, c.ny), c.r = bag_f(&B, c.ny);
    c.arg = bag_alloc(&B, c.ny * sizeof(int32_t));
    if (t->max)
        fill_distinct(&S->rng, c.x, c.nx, 0.1f, 0.02f);
    else
        tu_fill_uniform(&S->rng, c.x, c.nx, -1, 1);
    tu_fill_uniform(&S->rng, c.r, c.ny, -1, 1);

    float *want = bag_f(&B, c.ny);
    int32_t *want_arg = bag_alloc(&B, c.ny * sizeof(int32_t));
    fill_nan(c.y, c.ny);
    pool_fwd(&c);
    pool_naive(&c.s, t->max, c.x, want, want_arg);
    expect_close(S, what, "y (vs naive loops)", c.y, want, c.ny, FWD_ATOL, FWD_RTOL);
    if (t->max) expect_equal_i32(S, what, "argmax", c.arg, want_arg, c.ny);

    float *dx = bag_f(&B, c.nx);
    fill_nan(dx, c.nx);
    if (t->max)
        tg_maxpool_backward(&c.s, c.arg, c.r, dx, 0);
    else
        tg_avgpool_backward(&c.s, c.r, dx, 0);
    fd_check(S, what, &TOL[t->max ? T_MAXPOOL : T_AVGPOOL], pool_loss, &c,
             (fd_tensor){"x", c.x, dx, c.nx});

    pool_fwd(&c);  /* argmax of the unperturbed x again */
    float *dx_want, *acc = acc_prefill(S, &B, dx, c.nx, &dx_want);
    if (t->max)
        tg_maxpool_backward(&c.s, c.arg, c.r, acc, 1);
    else
        tg_avgpool_backward(&c.s, c.r, acc, 1);
    expect_close(S, what, "dx (acc=1)", acc, dx_want, c.nx, ACC_ATOL, ACC_RTOL);
    bag_free(&B);
}

static void test_pool(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 401);
    for (size_t i = 0; i < N_POOL_CASES; i++) check_pool(&S, &POOL_CASES[i]);
    suite_end(&S, "pool");
}

/* Hand-computed values: average pooling excludes the padding
 * (count_include_pad=False), max pooling takes the first of equal maxima
 * and never the padding, and routes the gradient to that one only. */
static void test_pool_forward_values(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 402);
    tg_pool_shape s;
    float x[25], y[9];
    for (int i = 0; i < 25; i++) x[i] = (float)(i + 1);

    /* 4x4 image 1..16, 3x3 stride 1: corner 2x2, edge 2x3 and inner 3x3 windows */
    assert_int_equal(tg_pool_shape_init(&s, 1, 1, 4, 4, 3, 1, NULL), TG_OK);
    float y16[16];
    tg_avgpool_forward(&s, x, y16);
    const float got1[4] = {y16[0], y16[1], y16[5], y16[15]};
    const float want1[4] = {(1 + 2 + 5 + 6) / 4.0f, (1 + 2 + 3 + 5 + 6 + 7) / 6.0f,
                            (1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11) / 9.0f,
                            (11 + 12 + 15 + 16) / 4.0f};
    expect_close(&S, "avgpool 3x3 stride 1 on 4x4", "y at (0,0) (0,1) (1,1) (3,3)",
                 got1, want1, 4, 1e-6, 1e-6);

    /* 5x5 image 1..25, 3x3 stride 2: 3x3 output */
    assert_int_equal(tg_pool_shape_init(&s, 1, 1, 5, 5, 3, 2, NULL), TG_OK);
    assert_int_equal(s.oh, 3);
    assert_int_equal(s.ow, 3);
    tg_avgpool_forward(&s, x, y);
    const float want2[9] = {(1 + 2 + 6 + 7) / 4.0f, (2 + 3 + 4 + 7 + 8 + 9) / 6.0f,
                            (4 + 5 + 9 + 10) / 4.0f,
                            (6 + 7 + 11 + 12 + 16 + 17) / 6.0f, 13.0f,
                            (9 + 10 + 14 + 15 + 19 + 20) / 6.0f,
                            (16 + 17 + 21 + 22) / 4.0f, (17 + 18 + 19 + 22 + 23 + 24) / 6.0f,
                            (19 + 20 + 24 + 25) / 4.0f};
    expect_close(&S, "avgpool 3x3 stride 2 on 5x5", "y", y, want2, 9, 1e-6, 1e-6);

    /* a 5x5 plane of ties, all negative: padding (zero) must not win */
    const float ties[25] = {-1, -2, -1, -3, -1, -2, -1, -1, -2, -3, -3, -1, -2, -1, -2,
                            -1, -3, -1, -2, -2, -2, -1, -2, -1, -1};
    int32_t arg[25], want_arg[25];
    float y25[25], want25[25];
    for (int stride = 1; stride <= 2; stride++) {
        const char *what = stride == 1 ? "maxpool 3x3 stride 1 with ties"
                                       : "maxpool 3x3 stride 2 with ties";
        assert_int_equal(tg_pool_shape_init(&s, 1, 1, 5, 5, 3, stride, NULL), TG_OK);
        size_t ny = (size_t)s.oh * s.ow;
        tg_maxpool_forward(&s, ties, y25, arg);
        pool_naive(&s, 1, ties, want25, want_arg);
        expect_close(&S, what, "y", y25, want25, ny, 0, 0);
        expect_equal_i32(&S, what, "argmax (first maximum)", arg, want_arg, ny);
        /* the gradient goes to the first maximum of each window only */
        float dy[25], dx[25], want_dx[25] = {0};
        for (size_t i = 0; i < ny; i++) dy[i] = (float)(i + 1);
        for (size_t i = 0; i < ny; i++) want_dx[want_arg[i]] += dy[i];
        tg_maxpool_backward(&s, arg, dy, dx, 0);
        expect_close(&S, what, "dx", dx, want_dx, 25, 0, 0);
    }
    /* all equal: the window's top-left position inside the image */
    float flat[16];
    for (int i = 0; i < 16; i++) flat[i] = 0.5f;
    assert_int_equal(tg_pool_shape_init(&s, 1, 1, 4, 4, 3, 1, NULL), TG_OK);
    tg_maxpool_forward(&s, flat, y16, arg);
    for (int oy = 0; oy < 4; oy++)
        for (int ox = 0; ox < 4; ox++)
            want_arg[oy * 4 + ox] = (oy > 0 ? oy - 1 : 0) * 4 + (ox > 0 ? ox - 1 : 0);
    expect_equal_i32(&S, "maxpool 3x3 stride 1, all equal", "argmax", arg, want_arg, 16);

    /* rows wider than the fast path's chunk, windows larger than the image,
     * strides 1-3, many ties (values in -3..3): the fast path of the inner
     * columns gives the naive window's value and first maximum */
    const int shapes[][5] = {{9, 150, 3, 1, 2}, {7, 70, 5, 2, 3}, {5, 5, 3, 3, 1}, {1, 1, 3, 1, 2},
                             {4, 130, 5, 1, 1}, {6, 2, 5, 1, 2}, {3, 64, 3, 1, 2}, {8, 65, 7, 3, 2}};
    for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
        const int *t = shapes[q];
        char what[96];
        snprintf(what, sizeof what, "maxpool %dx%d stride %d on %dx%d, c %d", t[2], t[2], t[3],
                 t[0], t[1], t[4]);
        assert_int_equal(tg_pool_shape_init(&s, 2, t[4], t[0], t[1], t[2], t[3], NULL), TG_OK);
        const size_t nx = (size_t)2 * t[4] * t[0] * t[1], ny = (size_t)2 * t[4] * s.oh * s.ow;
        bag B = {0};
        float *xq = bag_f(&B, nx), *yq = bag_f(&B, ny), *wy = bag_f(&B, ny);
        int32_t *aq = malloc(ny * sizeof(int32_t)), *wa = malloc(ny * sizeof(int32_t));
        for (size_t i = 0; i < nx; i++) xq[i] = (float)((int)tg_rng_below(&S.rng, 7) - 3);
        tg_maxpool_forward(&s, xq, yq, aq);
        pool_naive(&s, 1, xq, wy, wa);
        expect_close(&S, what, "y", yq, wy, ny, 0, 0);
        expect_equal_i32(&S, what, "argmax (first maximum)", aq, wa, ny);
        free(aq), free(wa);
        bag_free(&B);
    }
    /* NaN wins over numbers, and the first NaN stays (as PyTorch) */
    {
        float xn[300], yn[300];
        int32_t an[300];
        for (int i = 0; i < 300; i++) xn[i] = (float)(i % 7);
        xn[150] = xn[151] = NAN;  /* row 1, columns 50 and 51 */
        assert_int_equal(tg_pool_shape_init(&s, 1, 1, 3, 100, 3, 1, NULL), TG_OK);
        tg_maxpool_forward(&s, xn, yn, an);
        S.checks++;
        for (int r = 0; r < 3; r++)
            for (int ox = 47; ox <= 54; ox++) {
                int o = r * 100 + ox, nan = ox >= 49 && ox <= 52;
                if ((yn[o] != yn[o]) != nan || (nan && an[o] != (ox == 52 ? 151 : 150)))
                    fail_msg("maxpool NaN: row %d column %d: %g at %d", r, ox, yn[o], an[o]);
            }
    }
    suite_end(&S, "pool forward values");
}

/* ---- global average pooling, concatenation ---------------------------- */

typedef struct {
    int n, c, hw;
    float *x, *y, *r;
} gap_ctx;

static double gap_loss(void *p, uint64_t *kinks) {
    (void)kinks;
    gap_ctx *c = p;
    tg_gap_forward(c->n, c->c, c->hw, c->x, c->y);
    return dot(c->y, c->r, (size_t)c->n * c->c);
}

static void test_gap(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 501);
    bag B = {0};
    gap_ctx c = {2, 3, 35, NULL, NULL, NULL};
    const size_t nx = (size_t)c.n * c.c * c.hw, ny = (size_t)c.n * c.c;
    const char *what = "gap n2 c3 5x7";
    c.x = bag_f(&B, nx), c.y = bag_f(&B, ny), c.r = bag_f(&B, ny);
    float *dx = bag_f(&B, nx), *want = bag_f(&B, ny), *dx_want;
    tu_fill_uniform(&S.rng, c.x, nx, -1, 1);
    tu_fill_uniform(&S.rng, c.r, ny, -1, 1);
    fill_nan(c.y, ny);
    tg_gap_forward(c.n, c.c, c.hw, c.x, c.y);
    for (size_t i = 0; i < ny; i++) {
        double s = 0;
        for (int j = 0; j < c.hw; j++) s += c.x[i * c.hw + j];
        want[i] = (float)(s / c.hw);
    }
    expect_close(&S, what, "y (vs naive loops)", c.y, want, ny, FWD_ATOL, FWD_RTOL);
    fill_nan(dx, nx);
    tg_gap_backward(c.n, c.c, c.hw, c.r, dx, 0);
    fd_check(&S, what, &TOL[T_GAP], gap_loss, &c, (fd_tensor){"x", c.x, dx, nx});
    float *acc = acc_prefill(&S, &B, dx, nx, &dx_want);
    tg_gap_backward(c.n, c.c, c.hw, c.r, acc, 1);
    expect_close(&S, what, "dx (acc=1)", acc, dx_want, nx, ACC_ATOL, ACC_RTOL);
    bag_free(&B);
    suite_end(&S, "gap");
}

typedef struct {
    int c, h, w;
} concat_part;

typedef struct {
    int n;
    concat_part p[3];
} concat_case;

static const concat_case CONCAT_CASES[] = {
    /* no part as large as the output (6x5 from 5x3, 3x3, 4x6... of the parts) */
    {2, {{2, 5, 3}, {3, 3, 3}, {1, 4, 6}}},
    /* a full-size part between two padded ones (a stride-2 branch) */
    {2, {{1, 2, 4}, {2, 7, 7}, {3, 4, 4}}},
};
#define N_CONCAT_CASES (sizeof CONCAT_CASES / sizeof CONCAT_CASES[0])

typedef struct {
    const concat_case *t;
    int C, H, W;
    float *x[3], *y, *r;
    size_t ny;
} concat_ctx;

static void concat_fwd(concat_ctx *c) {
    for (int i = 0, c0 = 0; i < 3; c0 += c->t->p[i].c, i++)
        tg_concat_forward_part(c->t->n, c->t->p[i].c, c->t->p[i].h, c->t->p[i].w, c->x[i],
                               c->C, c->H, c->W, c0, c->y);
}

static double concat_loss(void *p, uint64_t *kinks) {
    (void)kinks;
    concat_ctx *c = p;
    concat_fwd(c);
    return dot(c->y, c->r, c->ny);
}

static void check_concat(suite *S, const concat_case *t) {
    char what[128];
    snprintf(what, sizeof what, "concat n%d of %dx%dx%d, %dx%dx%d, %dx%dx%d", t->n,
             t->p[0].c, t->p[0].h, t->p[0].w, t->p[1].c, t->p[1].h, t->p[1].w,
             t->p[2].c, t->p[2].h, t->p[2].w);
    bag B = {0};
    concat_ctx c = {.t = t};
    size_t nx[3];
    for (int i = 0; i < 3; i++) {
        c.C += t->p[i].c;
        if (t->p[i].h > c.H) c.H = t->p[i].h;
        if (t->p[i].w > c.W) c.W = t->p[i].w;
        nx[i] = (size_t)t->n * t->p[i].c * t->p[i].h * t->p[i].w;
        c.x[i] = bag_f(&B, nx[i]);
        tu_fill_uniform(&S->rng, c.x[i], nx[i], -1, 1);
    }
    c.ny = (size_t)t->n * c.C * c.H * c.W;
    c.y = bag_f(&B, c.ny), c.r = bag_f(&B, c.ny);
    tu_fill_uniform(&S->rng, c.r, c.ny, -1, 1);

    /* forward over NaN: every position written, the padding with zeros */
    float *want = bag_f(&B, c.ny);
    fill_nan(c.y, c.ny);
    concat_fwd(&c);
    for (int b = 0; b < t->n; b++)
        for (int i = 0, c0 = 0; i < 3; c0 += t->p[i].c, i++)
            for (int ch = 0; ch < t->p[i].c; ch++)
                for (int y = 0; y < c.H; y++)
                    for (int x = 0; x < c.W; x++) {
                        const concat_part *p = &t->p[i];
                        size_t o = (((size_t)b * c.C + c0 + ch) * c.H + y) * c.W + x;
                        want[o] = y < p->h && x < p->w
                                      ? c.x[i][(((size_t)b * p->c + ch) * p->h + y) * p->w + x]
                                      : 0.0f;
                    }
    expect_close(S, what, "y (vs naive loops)", c.y, want, c.ny, 0, 0);

    static const char *const names[3] = {"x0", "x1", "x2"};
    static const char *const acc_names[3] = {"dx0 (acc=1)", "dx1 (acc=1)", "dx2 (acc=1)"};
    for (int i = 0, c0 = 0; i < 3; c0 += t->p[i].c, i++) {
        const concat_part *p = &t->p[i];
        float *dx = bag_f(&B, nx[i]), *dx_want;
        fill_nan(dx, nx[i]);
        tg_concat_backward_part(t->n, p->c, p->h, p->w, c.r, c.C, c.H, c.W, c0, dx, 0);
        fd_check(S, what, &TOL[T_CONCAT], concat_loss, &c,
                 (fd_tensor){names[i], c.x[i], dx, nx[i]});
        float *acc = acc_prefill(S, &B, dx, nx[i], &dx_want);
        tg_concat_backward_part(t->n, p->c, p->h, p->w, c.r, c.C, c.H, c.W, c0, acc, 1);
        expect_close(S, what, acc_names[i], acc, dx_want, nx[i], ACC_ATOL, ACC_RTOL);
    }
    bag_free(&B);
}

static void test_concat(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 502);
    for (size_t i = 0; i < N_CONCAT_CASES; i++) check_concat(&S, &CONCAT_CASES[i]);
    suite_end(&S, "concat");
}

/* ---- linear and softmax cross-entropy --------------------------------- */

typedef struct {
    int n, in, out;
    float *x, *w, *b, *y, *r;
} linear_ctx;

static double linear_loss(void *p, uint64_t *kinks) {
    (void)kinks;
    linear_ctx *c = p;
    tg_linear_forward(c->n, c->in, c->out, c->x, c->w, c->b, c->y);
    return dot(c->y, c->r, (size_t)c->n * c->out);
}

static void test_linear(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 601);
    bag B = {0};
    linear_ctx c = {3, 7, 5, NULL, NULL, NULL, NULL, NULL};
    const size_t nx = (size_t)c.n * c.in, nw = (size_t)c.out * c.in;
    const size_t ny = (size_t)c.n * c.out, nb = (size_t)c.out;
    const char *what = "linear n3 in7 out5";
    c.x = bag_f(&B, nx), c.w = bag_f(&B, nw), c.b = bag_f(&B, nb);
    c.y = bag_f(&B, ny), c.r = bag_f(&B, ny);
    tu_fill_uniform(&S.rng, c.x, nx, -1, 1);
    tu_fill_uniform(&S.rng, c.w, nw, -1, 1);
    tu_fill_uniform(&S.rng, c.b, nb, -1, 1);
    tu_fill_uniform(&S.rng, c.r, ny, -1, 1);

    float *want = bag_f(&B, ny);
    for (int withb = 0; withb < 2; withb++) {
        for (int i = 0; i < c.n; i++)
            for (int o = 0; o < c.out; o++) {
                double s = withb ? c.b[o] : 0;
                for (int j = 0; j < c.in; j++)
                    s += (double)c.x[i * c.in + j] * c.w[o * c.in + j];
                want[i * c.out + o] = (float)s;
            }
        fill_nan(c.y, ny);
        tg_linear_forward(c.n, c.in, c.out, c.x, c.w, withb ? c.b : NULL, c.y);
        expect_close(&S, what, withb ? "y (vs naive loops)" : "y without bias", c.y,
                     want, ny, FWD_ATOL, FWD_RTOL);
    }

    float *dx = bag_f(&B, nx), *dw = bag_f(&B, nw), *db = bag_f(&B, nb), *dx_want;
    fill_nan(dx, nx), fill_nan(dw, nw), fill_nan(db, nb);
    tg_linear_backward(c.n, c.in, c.out, c.x, c.w, c.r, dx, 0, dw, db);
    const fd_tol *tol = &TOL[T_LINEAR];
    fd_check(&S, what, tol, linear_loss, &c, (fd_tensor){"x", c.x, dx, nx});
    fd_check(&S, what, tol, linear_loss, &c, (fd_tensor){"w", c.w, dw, nw});
    fd_check(&S, what, tol, linear_loss, &c, (fd_tensor){"b", c.b, db, nb});

    float *acc = acc_prefill(&S, &B, dx, nx, &dx_want);
    float *dw2 = bag_f(&B, nw), *db2 = bag_f(&B, nb);
    fill_nan(dw2, nw), fill_nan(db2, nb);
    tg_linear_backward(c.n, c.in, c.out, c.x, c.w, c.r, acc, 1, dw2, db2);
    expect_close(&S, what, "dx (acc=1)", acc, dx_want, nx, ACC_ATOL, ACC_RTOL);
    expect_close(&S, what, "dw (with acc=1)", dw2, dw, nw, ACC_ATOL, ACC_RTOL);
    expect_close(&S, what, "db (with acc=1)", db2, db, nb, ACC_ATOL, ACC_RTOL);
    fill_nan(dw2, nw);
    tg_linear_backward(c.n, c.in, c.out, c.x, c.w, c.r, NULL, 0, dw2, NULL);
    expect_close(&S, what, "dw (dx and db NULL)", dw2, dw, nw, ACC_ATOL, ACC_RTOL);
    bag_free(&B);
    suite_end(&S, "linear");
}

typedef struct {
    int n, k;
    float *z;
    const int32_t *labels;
} xent_ctx;

static double xent_loss(void *p, uint64_t *kinks) {
    (void)kinks;
    xent_ctx *c = p;
    return tg_softmax_xent(c->n, c->k, c->z, c->labels, NULL, NULL);
}

/* mean of logsumexp(z) - z[label] in double, and the argmax hits */
static double xent_naive(int n, int k, const float *z, const int32_t *labels, int *correct) {
    double loss = 0;
    *correct = 0;
    for (int i = 0; i < n; i++) {
        double mx = z[i * k], s = 0;
        int arg = 0;
        for (int j = 1; j < k; j++)
            if (z[i * k + j] > mx) mx = z[i * k + j], arg = j;
        for (int j = 0; j < k; j++) s += exp(z[i * k + j] - mx);
        loss += mx + log(s) - z[i * k + labels[i]];
        *correct += arg == labels[i];
    }
    return loss / n;
}

static void test_softmax_xent(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 701);
    enum { N = 4, K = 6 };
    float z[N * K], dz[N * K];
    const int32_t labels[N] = {0, 5, 2, 2};
    xent_ctx c = {N, K, z, labels};
    const char *what = "softmax xent n4 k6";
    tu_fill_uniform(&S.rng, z, N * K, -3, 3);
    z[1 * K + 5] = 4;  /* one prediction right for sure */
    fill_nan(dz, N * K);
    int correct, want_correct;
    double loss = tg_softmax_xent(N, K, z, labels, dz, &correct);
    double want = xent_naive(N, K, z, labels, &want_correct);
    S.checks++;
    if (fabs(loss - want) > 1e-6 * fabs(want) || correct != want_correct) {
        S.failures++;
        print_error("FAIL %s: loss %.9g, correct %d; want %.9g, %d\n", what, loss,
                    correct, want, want_correct);
    }
    fd_check(&S, what, &TOL[T_XENT], xent_loss, &c, (fd_tensor){"logits", z, dz, N * K});
    /* logits of 1000 do not overflow: the loss is shift-invariant */
    float zs[N * K];
    for (int i = 0; i < N * K; i++) zs[i] = z[i] + 1000.0f;
    double shifted = tg_softmax_xent(N, K, zs, labels, NULL, NULL);
    S.checks++;
    if (!(fabs(shifted - loss) < 1e-3)) {
        S.failures++;
        print_error("FAIL %s: loss %.9g with logits shifted by 1000, %.9g without\n",
                    what, shifted, loss);
    }
    suite_end(&S, "softmax xent");
}

/* ---- whole networks --------------------------------------------------- */

/* Every node kind, with a node that fans out to three consumers (its
 * gradient is accumulated), a BN+ReLU the net fuses, a BN it cannot fuse
 * (two consumers) followed by a plain ReLU, and a concat that zero-pads a
 * stride-2 convolution and a stride-2 max pool:
 *
 *   in 2x5x5 -> conv3x3+b -> bn -> relu (fused) = a
 *   a -> conv1x1 = b;   a -> conv3x3 s2 +b = c (3x3x3);   add(b, a) = d
 *   d -> avgpool s1 = e;   d -> maxpool s2 = f (4x3x3)
 *   concat(e, c, f) (11x5x5) -> bn = g (unfused);   relu(g) = h
 *   g -> depthwise conv3x3 dil 2 = i;   add(h, i) -> gap -> linear 5
 *
 * Small, because every unit near a ReLU's zero and every near-tie in a max
 * pool window is a kink that some parameter step may cross. */
typedef struct {
    int bn[2], bn_in[2];  /* the BNs followed by a ReLU, and their inputs */
    int pool, pool_in;    /* the max pool and its input */
} net_nodes;

static tg_graph *net_graph(net_nodes *id) {
    tg_graph *g = tg_graph_new(2, 5, 5);
    assert_non_null(g);
    int a = id->bn_in[0] = tg_graph_conv2d(g, 0, 4, 3, 3, 1, 1, 1, 1);
    a = tg_graph_relu(g, id->bn[0] = tg_graph_bn(g, a));
    int b = tg_graph_conv2d(g, a, 4, 1, 1, 1, 1, 1, 0);
    int c = tg_graph_conv2d(g, a, 3, 3, 3, 2, 1, 1, 1);
    int d = tg_graph_relu(g, tg_graph_add(g, b, a));  /* an addition fused with its ReLU */
    int e = tg_graph_avgpool(g, d, 3, 1);
    int f = tg_graph_maxpool(g, d, 3, 2);
    id->pool = f, id->pool_in = d;
    int ins[3] = {e, c, f};
    int cat = id->bn_in[1] = tg_graph_concat(g, 3, ins);
    int gg = id->bn[1] = tg_graph_bn(g, cat);
    int h = tg_graph_relu(g, gg);
    int i = tg_graph_conv2d(g, gg, 11, 3, 3, 1, 2, 11, 0);
    /* a BN that alone feeds an addition writes the sum */
    int out = tg_graph_linear(g, tg_graph_gap(g, tg_graph_add(g, h, tg_graph_bn(g, i))), 5);
    if (out < 0) fail_msg("net graph: %s", tg_graph_error(g));
    return g;
}

enum { NET_N = 2 };  /* images per batch */

typedef struct {
    tg_net *net;
    const float *x;
    const int32_t *labels;
    int n;
    net_nodes id;
    float pool_y[NET_N * 4 * 3 * 3];  /* the max pool, recomputed */
    int32_t pool_arg[NET_N * 4 * 3 * 3];
} net_ctx;

/* The ReLU masks (fused or not) and the max pool's winners, which the
 * test recomputes from the pool's input. */
static uint64_t net_kinks(net_ctx *c, uint64_t hash) {
    const tg_graph *g = tg_net_graph(c->net);
    for (int i = 0; i < tg_graph_nodes(g); i++) {
        int ch, h, w;
        tg_graph_node_shape(g, i, &ch, &h, &w);
        if (tg_graph_node_kind(g, i) == TG_NODE_RELU)
            hash = kinks_relu(hash, tg_net_activation(c->net, i), (size_t)c->n * ch * h * w);
    }
    int ch, h, w;
    tg_pool_shape s;
    tg_graph_node_shape(g, c->id.pool_in, &ch, &h, &w);
    assert_int_equal(tg_pool_shape_init(&s, c->n, ch, h, w, 3, 2, NULL), TG_OK);
    pool_naive(&s, 1, tg_net_activation(c->net, c->id.pool_in), c->pool_y, c->pool_arg);
    return kinks_argmax(hash, c->pool_arg, (size_t)c->n * ch * s.oh * s.ow);
}

static double net_loss(void *p, uint64_t *kinks) {
    net_ctx *c = p;
    tg_error err;
    double loss = 0;
    if (tg_net_forward(c->net, c->x, c->n, 1, &err) != TG_OK ||
        tg_net_loss(c->net, c->labels, &loss, NULL, &err) != TG_OK)
        fail_msg("net: %s", err.msg);
    *kinks = net_kinks(c, *kinks);
    return loss;
}

/* A net with He-initialised convolutions and, so that every parameter
 * matters, BN affine parameters and biases away from their initial 1 and 0. */
static tg_net *net_make(const tg_graph *g, int batch, const tg_backend *be, uint64_t seed) {
    tg_rng r;
    tg_error err;
    tg_rng_seed(&r, seed);
    tg_net *net = tg_net_new(g, batch, be, &r, &err);
    if (!net) fail_msg("net/%s: %s", be->name, err.msg);
    int np;
    tg_param *p = tg_net_params(net, &np);
    for (int i = 0; i < np; i++) {
        if (strstr(p[i].name, "bn.gamma"))
            tu_fill_uniform(&r, p[i].data, p[i].size, 0.5f, 1.5f);
        else if (strstr(p[i].name, "bn.beta") || strstr(p[i].name, "conv.b"))
            tu_fill_uniform(&r, p[i].data, p[i].size, -0.3f, 0.3f);
    }
    return net;
}

static tg_param *net_param(tg_net *net, int node, const char *what) {
    char name[48];
    int np;
    tg_param *p = tg_net_params(net, &np);
    snprintf(name, sizeof name, "n%d.%s", node, what);
    for (int i = 0; i < np; i++)
        if (strcmp(p[i].name, name) == 0) return &p[i];
    fail_msg("net: no parameter %s", name);
    return NULL;
}

/* Both ReLUs' zeros into gaps of their BN's normalised inputs, so that no
 * unit sits right at a kink (the first BN's beta changes the second BN's
 * input: one forward pass for each). */
static void net_betas_off_kink(net_ctx *c) {
    const tg_graph *g = tg_net_graph(c->net);
    for (int k = 0; k < 2; k++) {
        uint64_t kinks = KINK_SEED;
        int ch, h, w;
        net_loss(c, &kinks);
        tg_graph_node_shape(g, c->id.bn[k], &ch, &h, &w);
        tg_bn_shape s = {c->n, ch, h * w, 1e-5f, 0.1f};
        bn_beta_off_kink(&s, tg_net_activation(c->net, c->id.bn_in[k]),
                         net_param(c->net, c->id.bn[k], "bn.gamma")->data,
                         net_param(c->net, c->id.bn[k], "bn.beta")->data);
    }
}

/* One training step: the loss, and every parameter's gradient (written
 * over NaN) copied into grads in parameter order. */
static double net_step(net_ctx *c, float *grads) {
    int np;
    tg_param *p = tg_net_params(c->net, &np);
    for (int i = 0; i < np; i++) fill_nan(p[i].grad, p[i].size);
    uint64_t kinks = KINK_SEED;
    double loss = net_loss(c, &kinks);
    tg_net_backward(c->net);
    for (int i = 0; i < np; grads += p[i].size, i++) copy_f(grads, p[i].grad, p[i].size);
    return loss;
}

static void expect_same_step(suite *S, const char *what, double loss, double want_loss,
                             const float *grads, const float *want, size_t n) {
    S->checks++;
    if (!(fabs(loss - want_loss) <= 1e-5 * fabs(want_loss))) {
        S->failures++;
        print_error("FAIL %s: loss %.9g, want %.9g\n", what, loss, want_loss);
    }
    expect_close(S, what, "all parameter gradients", grads, want, n, 1e-5, 1e-3);
}

static void test_net(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 801);
    net_nodes id;
    tg_graph *g = net_graph(&id);
    float x[NET_N * 2 * 5 * 5];
    const int32_t labels[NET_N] = {3, 1};
    fill_normal(&S.rng, x, sizeof x / sizeof x[0], 0, 1);
    const tg_backend *bes[2] = {&tg_backend_ref, &tg_backend_dnnl};
    float *grads[2] = {NULL, NULL};
    size_t total = 0;
    double losses[2];
    const uint64_t seed = tg_rng_u64(&S.rng);  /* the same net on both backends */
    for (int k = 0; k < 2; k++) {
        char what[64];
        snprintf(what, sizeof what, "net/%s (batch %d)", bes[k]->name, NET_N);
        net_ctx c = {net_make(g, NET_N, bes[k], seed), x, labels, NET_N, id, {0}, {0}};
        if (tg_net_activation(c.net, id.bn[0]) || !tg_net_activation(c.net, id.bn[1]))
            fail_msg("%s: the first BN must be fused with its ReLU, the second not", what);
        net_betas_off_kink(&c);
        total = tg_net_param_count(c.net);
        grads[k] = malloc(sizeof(float) * total);
        assert_non_null(grads[k]);
        losses[k] = net_step(&c, grads[k]);
        int np;
        tg_param *p = tg_net_params(c.net, &np);
        for (int i = 0, o = 0; i < np; o += (int)p[i].size, i++)
            fd_check(&S, what, &TOL[T_NET], net_loss, &c,
                     (fd_tensor){p[i].name, p[i].data, grads[k] + o, p[i].size});
        tg_net_free(c.net);
    }
    expect_same_step(&S, "net, dnnl against ref", losses[1], losses[0], grads[1], grads[0],
                     total);
    free(grads[0]);
    free(grads[1]);
    tg_graph_free(g);
    suite_end(&S, "net");
}

/* The finite differences run on one thread (main): a step on all cores must
 * give the same loss and gradients, on both backends. */
static void test_net_threads(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 851);
    net_nodes id;
    tg_graph *g = net_graph(&id);
    float x[NET_N * 2 * 5 * 5];
    const int32_t labels[NET_N] = {2, 4};
    fill_normal(&S.rng, x, sizeof x / sizeof x[0], 0, 1);
    const tg_backend *bes[2] = {&tg_backend_ref, &tg_backend_dnnl};
    const uint64_t seed = tg_rng_u64(&S.rng);
    for (int k = 0; k < 2; k++) {
        float *grads[2] = {NULL, NULL};
        double losses[2];
        size_t total = 0;
        for (int t = 0; t < 2; t++) {
            int threads = tg_threads_set(t ? 0 : 1);
            net_ctx c = {net_make(g, NET_N, bes[k], seed), x, labels, NET_N, id, {0}, {0}};
            total = tg_net_param_count(c.net);
            grads[t] = malloc(sizeof(float) * total);
            assert_non_null(grads[t]);
            losses[t] = net_step(&c, grads[t]);
            tg_net_free(c.net);
            if (t && threads == 1) print_message("  (one core only: nothing to compare)\n");
        }
        tg_threads_set(1);
        char what[64];
        snprintf(what, sizeof what, "net/%s, all cores against one", bes[k]->name);
        expect_same_step(&S, what, losses[1], losses[0], grads[1], grads[0], total);
        free(grads[0]);
        free(grads[1]);
    }
    tg_graph_free(g);
    suite_end(&S, "net threads");
}

/* The net's BN uses eps 1e-5, momentum 0.1 and the unbiased variance for
 * its running statistics, batch statistics in training and the running ones
 * in evaluation. Input channel 1 has a variance near 1e-4, where eps shows. */
static void test_net_bn_values(void **state) {
    (void)state;
    suite S;
    suite_init(&S, 901);
    tg_graph *g = tg_graph_new(2, 3, 3);
    assert_non_null(g);
    int bn = tg_graph_bn(g, 0);
    if (tg_graph_linear(g, tg_graph_gap(g, bn), 3) < 0) fail_msg("%s", tg_graph_error(g));
    enum { N = 2, C = 2, HW = 9 };
    tg_net *net = net_make(g, N, &tg_backend_ref, tg_rng_u64(&S.rng));
    float x[N * C * HW], want[N * C * HW], w_rm[C], w_rv[C];
    fill_normal(&S.rng, x, N * C * HW, 1.0f, 1.0f);
    for (int b = 0; b < N; b++)
        for (int i = 0; i < HW; i++)
            x[(b * C + 1) * HW + i] = -0.01f + 0.01f * tg_rng_normal(&S.rng);
    int np, ns;
    tg_param *p = tg_net_params(net, &np), *st = tg_net_state(net, &ns);
    assert_int_equal(ns, 2);
    const float *gamma = p[0].data, *beta = p[1].data;
    tg_error err;
    for (int step = 1; step <= 2; step++) {
        float rm0[C], rv0[C];
        memcpy(rm0, st[0].data, sizeof rm0), memcpy(rv0, st[1].data, sizeof rv0);
        assert_int_equal(tg_net_forward(net, x, N, 1, &err), TG_OK);
        for (int ch = 0; ch < C; ch++) {
            double m = 0, sq = 0, cnt = N * HW;
            for (int b = 0; b < N; b++)
                for (int i = 0; i < HW; i++) m += x[(b * C + ch) * HW + i];
            m /= cnt;
            for (int b = 0; b < N; b++)
                for (int i = 0; i < HW; i++) {
                    double d = x[(b * C + ch) * HW + i] - m;
                    sq += d * d;
                }
            w_rm[ch] = (float)(0.9 * rm0[ch] + 0.1 * m);
            w_rv[ch] = (float)(0.9 * rv0[ch] + 0.1 * sq / (cnt - 1));
            for (int b = 0; b < N; b++)
                for (int i = 0; i < HW; i++) {
                    int k = (b * C + ch) * HW + i;
                    double xhat = (x[k] - m) / sqrt(sq / cnt + 1e-5);
                    want[k] = (float)(gamma[ch] * xhat + beta[ch]);
                }
        }
        const char *what = step == 1 ? "net bn, training step 1" : "net bn, training step 2";
        expect_close(&S, what, "y", tg_net_activation(net, bn), want, N * C * HW, FWD_ATOL,
                     FWD_RTOL);
        expect_close(&S, what, "running_mean", st[0].data, w_rm, C, FWD_ATOL, FWD_RTOL);
        expect_close(&S, what, "running_var", st[1].data, w_rv, C, FWD_ATOL, FWD_RTOL);
    }
    assert_int_equal(tg_net_forward(net, x, N, 0, &err), TG_OK);
    for (int k = 0; k < N * C * HW; k++) {
        int ch = k / HW % C;
        want[k] = (float)(gamma[ch] * (x[k] - st[0].data[ch]) / sqrt(st[1].data[ch] + 1e-5) +
                          beta[ch]);
    }
    expect_close(&S, "net bn, evaluation", "y", tg_net_activation(net, bn), want,
                 N * C * HW, FWD_ATOL, FWD_RTOL);
    tg_net_free(net);
    tg_graph_free(g);
    suite_end(&S, "net bn values");
}

int main(void) {
    tg_threads_set(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_ref),
        cmocka_unit_test(test_conv_dnnl),
        cmocka_unit_test(test_bn),
        cmocka_unit_test(test_bn_forward_values),
        cmocka_unit_test(test_bn_stats_with_offset),
        cmocka_unit_test(test_relu_add),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_pool_forward_values),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_softmax_xent),
        cmocka_unit_test(test_net),
        cmocka_unit_test(test_net_threads),
        cmocka_unit_test(test_net_bn_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
