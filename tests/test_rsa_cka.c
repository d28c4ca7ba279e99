/* test_rsa_cka.c - CKA from two RDMs (tg_rdm_cka) against numpy: from
 * RDMs of random features (correlated, unrelated, by image and by
 * category) it equals linear CKA of the row-standardised features as
 * numpy computes it in float64, and tg_cka_linear on those features; the
 * kernel formula computed by numpy from the same RDMs agrees to rounding;
 * CKA of an RDM with itself is 1 and the measure is symmetric; sizes,
 * NaN, a constant RDM and a constant kernel are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/npy.h"
#include "tgsage/rsa.h"

#define PYTHON "/usr/bin/python3"

static int have_numpy(void) {
    return access(PYTHON, X_OK) == 0 &&
           system(PYTHON " -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* Rows standardised as the RDM's correlation sees them: zero mean, unit
 * norm (row-major m x f, float). */
static float *standardise_rows(const float *X, int64_t m, int64_t f) {
    float *Z = malloc(sizeof(float) * (size_t)(m * f));
    for (int64_t i = 0; i < m; i++) {
        double mean = 0, ss = 0;
        for (int64_t j = 0; j < f; j++) mean += X[i * f + j];
        mean /= (double)f;
        for (int64_t j = 0; j < f; j++) ss += (X[i * f + j] - mean) * (X[i * f + j] - mean);
        for (int64_t j = 0; j < f; j++) Z[i * f + j] = (float)((X[i * f + j] - mean) / sqrt(ss));
    }
    return Z;
}

/* Category means (labels i % c), as tg_rdm_compute takes them. */
static float *category_means(const float *X, int64_t n, int64_t f, int c) {
    float *M = calloc((size_t)(c * f), sizeof(float));
    double *acc = calloc((size_t)(c * f), sizeof(double));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < f; j++) acc[(i % c) * f + j] += X[i * f + j];
    for (int k = 0; k < c; k++)
        for (int64_t j = 0; j < f; j++) {
            const int64_t cnt = n / c + (k < n % c);
            M[k * f + j] = (float)(acc[k * f + j] / (double)cnt);
        }
    free(acc);
    return M;
}

/* numpy's two numbers for features X (m x p), Y (m x q) and their RDMs
 * A, B (m x m): linear CKA of the row-standardised features, and the
 * centred kernel alignment of 1 - A and 1 - B. */
static void numpy_cka(const char *dir, const float *X, int64_t p, const float *Y, int64_t q,
                      const double *A, const double *B, int64_t m, double *feat,
                      double *kernel) {
    char px[512], py[512], pa[512], pb[512], script[512], cmd[3000];
    snprintf(px, sizeof px, "%s/x.npy", dir), snprintf(py, sizeof py, "%s/y.npy", dir);
    snprintf(pa, sizeof pa, "%s/a.npy", dir), snprintf(pb, sizeof pb, "%s/b.npy", dir);
    tg_error err;
    const int64_t sx[2] = {m, p}, sy[2] = {m, q}, sm[2] = {m, m};
    assert_int_equal(tg_npy_write(px, TG_NPY_F32, 2, sx, X, &err), TG_OK);
    assert_int_equal(tg_npy_write(py, TG_NPY_F32, 2, sy, Y, &err), TG_OK);
    assert_int_equal(tg_npy_write(pa, TG_NPY_F64, 2, sm, A, &err), TG_OK);
    assert_int_equal(tg_npy_write(pb, TG_NPY_F64, 2, sm, B, &err), TG_OK);
    snprintf(script, sizeof script, "%s/cka.py", dir);
    static const char *const PY =
        "import sys\n"
        "import numpy as np\n"
        "x, y, a, b = (np.load(p).astype(np.float64) for p in sys.argv[1:5])\n"
        "def std(f):\n"
        "    f = f - f.mean(axis=1, keepdims=True)\n"
        "    return f / np.linalg.norm(f, axis=1, keepdims=True)\n"
        "def lin(f, g):\n"
        "    f = f - f.mean(axis=0)\n"
        "    g = g - g.mean(axis=0)\n"
        "    return np.linalg.norm(g.T @ f) ** 2 / (np.linalg.norm(f.T @ f) *\n"
        "                                           np.linalg.norm(g.T @ g))\n"
        "m = len(a)\n"
        "h = np.eye(m) - np.ones((m, m)) / m\n"
        "k, l = h @ (1 - a) @ h, h @ (1 - b) @ h\n"
        "print('%.17g %.17g' % (lin(std(x), std(y)),\n"
        "                       (k * l).sum() / (np.linalg.norm(k) * np.linalg.norm(l))))\n";
    assert_int_equal(tu_write_file(script, PY, strlen(PY)), 0);
    snprintf(cmd, sizeof cmd, PYTHON " '%s' '%s' '%s' '%s' '%s'", script, px, py, pa, pb);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int got = fscanf(f, "%lf %lf", feat, kernel);
    assert_int_equal(pclose(f), 0);
    assert_int_equal(got, 2);
}

/* One case: features X (n x p), Y (n x q) by unit; CKA from their RDMs
 * against numpy and tg_cka_linear. */
static void check_case(const char *dir, const char *what, const float *X, int64_t p,
                       const float *Y, int64_t q, int64_t n, const int32_t *labels,
                       tg_rdm_unit unit, int ncat) {
    tg_error err;
    double *A, *B;
    int64_t m, m2;
    assert_int_equal(tg_rdm_compute(X, n, p, labels, unit, 0, 1, &A, &m, &err), TG_OK);
    assert_int_equal(tg_rdm_compute(Y, n, q, labels, unit, 0, 1, &B, &m2, &err), TG_OK);
    assert_int_equal(m, m2);
    double r, r2, self;
    assert_int_equal(tg_rdm_cka(A, B, m, &r, &err), TG_OK);
    assert_int_equal(tg_rdm_cka(B, A, m, &r2, &err), TG_OK);
    assert_int_equal(tg_rdm_cka(A, A, m, &self, &err), TG_OK);
    /* the rows the RDM compares: images, or category means */
    float *RX = unit == TG_RDM_IMAGE ? (float *)X : category_means(X, n, p, ncat);
    float *RY = unit == TG_RDM_IMAGE ? (float *)Y : category_means(Y, n, q, ncat);
    float *ZX = standardise_rows(RX, m, p), *ZY = standardise_rows(RY, m, q);
    double lin;
    assert_int_equal(tg_cka_linear(ZX, p, ZY, q, m, &lin, &err), TG_OK);
    double feat, kernel;
    numpy_cka(dir, RX, p, RY, q, A, B, m, &feat, &kernel);
    print_message("%s (m = %lld): rdm cka %.12f, numpy features %.12f, numpy kernel %.12f, "
                  "tg_cka_linear %.12f\n", what, (long long)m, r, feat, kernel, lin);
    /* the RDM's Gram matrix is single precision (rsa.h): entries within a
     * few 1e-7, so CKA within 1e-5; the kernel formula on the same RDMs
     * is double on both sides */
    assert_true(fabs(r - feat) < 1e-5);
    assert_true(fabs(r - lin) < 1e-5);
    assert_true(fabs(r - kernel) < 1e-12);
    assert_true(r == r2);
    assert_true(fabs(self - 1) < 1e-12);
    assert_true(r > -1e-12 && r <= 1 + 1e-12);
    if (unit != TG_RDM_IMAGE) free(RX), free(RY);
    free(ZX), free(ZY), free(A), free(B);
}

static void test_against_numpy(void **state) {
    (void)state;
    if (!have_numpy()) {
        print_message("skipping: " PYTHON " with numpy is not available\n");
        skip();
    }
    const char *dir = tu_tmpdir();
    char d[256];
    snprintf(d, sizeof d, "%s", dir);
    enum { N = 60, P = 40, Q = 25, C = 6 };
    tg_rng rng;
    tg_rng_seed(&rng, 42);
    float *X = malloc(sizeof(float) * N * P), *Y = malloc(sizeof(float) * N * Q),
          *Z = malloc(sizeof(float) * N * Q), *W = malloc(sizeof(float) * P * Q);
    for (int i = 0; i < N * P; i++) X[i] = tg_rng_normal(&rng) + (i % P == 0 ? 3.0f : 0.0f);
    for (int i = 0; i < P * Q; i++) W[i] = tg_rng_normal(&rng);
    for (int i = 0; i < N * Q; i++) Z[i] = tg_rng_normal(&rng);
    /* Y: a linear map of X plus noise (related); Z: unrelated */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < Q; j++) {
            double s = 0;
            for (int k = 0; k < P; k++) s += X[i * P + k] * W[k * Q + j];
            Y[i * Q + j] = (float)(s / sqrt(P)) + 0.5f * tg_rng_normal(&rng);
        }
    int32_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = i % C;
    check_case(d, "related, by image", X, P, Y, Q, N, NULL, TG_RDM_IMAGE, 0);
    check_case(d, "unrelated, by image", X, P, Z, Q, N, NULL, TG_RDM_IMAGE, 0);
    check_case(d, "related, by category", X, P, Y, Q, N, labels, TG_RDM_CATEGORY, C);
    free(X), free(Y), free(Z), free(W);
    tu_rmtree(d);
}

static void test_errors(void **state) {
    (void)state;
    tg_error err;
    double r;
    enum { M = 5 };
    double a[M * M], b[M * M], ones[M * M];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) {
            a[i * M + j] = i == j ? 0 : 0.2 + 0.1 * (i + j);
            b[i * M + j] = i == j ? 0 : 1.5 - 0.05 * i * j;
            ones[i * M + j] = i == j ? 0 : 1;
        }
    assert_int_equal(tg_rdm_cka(a, b, M, &r, &err), TG_OK);
    assert_int_equal(tg_rdm_cka(a, b, 2, &r, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "at least 3 items"));
    assert_int_equal(tg_rdm_cka(NULL, b, M, &r, &err), TG_ERR_ARG);
    /* a constant RDM (every row of zero variance): no similarity */
    assert_int_equal(tg_rdm_cka(ones, b, M, &r, &err), TG_ERR_NUMERIC);
    print_message("constant: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "RDM a"));
    assert_int_equal(tg_rdm_cka(a, ones, M, &r, &err), TG_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "RDM b"));
    /* NaN off and on the diagonal */
    b[1 * M + 3] = NAN;
    assert_int_equal(tg_rdm_cka(a, b, M, &r, &err), TG_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "NaN"));
    b[1 * M + 3] = 0.3;
    a[2 * M + 2] = INFINITY;
    assert_int_equal(tg_rdm_cka(a, b, M, &r, &err), TG_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "(2, 2) is infinite"));
    a[2 * M + 2] = 0;
    /* a kernel whose centred form is zero: a[i][j] = u_i + u_j varies, yet
     * 1 - a is removed by the centring entirely */
    double add[M * M];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) add[i * M + j] = 0.1 * i + 0.1 * j;
    assert_int_equal(tg_rdm_cka(add, b, M, &r, &err), TG_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "constant"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_numpy),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
