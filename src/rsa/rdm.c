/* rdm.c - an RDM from feature rows: centre and scale each row, then one
 * Gram matrix through BLAS.
 *
 * With z_i row i centred and scaled to unit norm, z_i . z_j is the Pearson
 * correlation of rows i and j, so the whole RDM is 1 - Z Z^T: one syrk of
 * m^2 k / 2 multiply-adds, and O(m k + m^2) work around it (no O(m^2 k) loop
 * of ours). A row of zero variance becomes the zero vector, which gives it
 * correlation 0 with every row (dissimilarity 1) as rsa.h documents; the
 * diagonal is set to 0 and every correlation clamped to [-1, 1], so the RDM
 * is exactly symmetric with entries in [0, 2].
 *
 * Precision: means and norms are taken in double, the scaled rows rounded
 * to float, the Gram matrix formed in float (ssyrk) and the RDM returned in
 * double. Against float64 an entry is off by rounding of a few 1e-7 in
 * absolute terms, whatever k: measured on 300 rows, half of them
 * correlated 0.95 with one row, the largest error was 3e-7 at k = 30,
 * 5e-7 at k = 1000 and 3e-7 at k = 10,000; on the fixtures (k = 30 and 50)
 * 3e-7 relative, within the tests' 1e-6. The relative error grows where a
 * dissimilarity nears 0 (1e-5 at d = 0.02). Why not double: this machine's
 * OpenBLAS runs its Haswell kernels (OPENBLAS_CORETYPE=Haswell in the
 * environment), where for 5000 rows x 10,000 features dsyrk takes 2.8 s
 * and ssyrk 1.35 s (2 threads), while numpy's whole float64 RDM takes
 * 1.9 s on the AVX-512 kernels it picks without that variable: a double
 * Gram could not keep up with numpy. RSA compares RDMs by correlation,
 * where errors below 1e-6 change nothing that matters.
 *
 * BLAS runs outside OpenMP regions; the loops around it are parallel over
 * rows (or tiles) with results that do not depend on the thread count. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "rsa_internal.h"

#define TILE 64

void *tg_rsa_alloc(size_t bytes) {
    if (bytes < ((size_t)4 << 20)) return malloc(bytes ? bytes : 1);
    /* Transparent huge pages are "madvise" here: ask, as numpy does for
     * its arrays. 2 MiB pages fault 512 times less often on first touch and
     * spare the TLB in the transposed writes below and BLAS's packing. */
    void *p = NULL;
    if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure changes nothing */
    return p;
}

static const char *nonfinite_word(double v) { return isnan(v) ? "NaN" : "infinite"; }

/* z = (x - mean) / ||x - mean|| over the k values x[j] = row[cols[j]] (or
 * row[j]); a row of zero variance gives z = 0. Returns 0, or -1 if a value
 * is not finite (z is then garbage). */
static int normalise_f32(const float *row, const int64_t *cols, int64_t k, float *z) {
    double s = 0;
    if (cols)
        for (int64_t j = 0; j < k; j++) s += row[cols[j]];
    else
        for (int64_t j = 0; j < k; j++) s += row[j];
    /* a sum of floats in double cannot overflow: not finite means NaN/Inf */
    if (!isfinite(s)) return -1;
    double mean = s / (double)k, ss = 0;
    if (cols)
        for (int64_t j = 0; j < k; j++) {
            double d = row[cols[j]] - mean;
            ss += d * d;
        }
    else
        for (int64_t j = 0; j < k; j++) {
            double d = row[j] - mean;
            ss += d * d;
        }
    /* Zero variance, or only the rounding left of it by the mean (a row of
     * equal values whose mean rounds): genuine float data varying by one
     * ulp has ss ~ 2^-48 mean^2, far above this. */
    double scale = ss > 0x1p-100 * (double)k * mean * mean ? 1.0 / sqrt(ss) : 0.0;
    if (cols)
        for (int64_t j = 0; j < k; j++) z[j] = (float)((row[cols[j]] - mean) * scale);
    else
        for (int64_t j = 0; j < k; j++) z[j] = (float)((row[j] - mean) * scale);
    return 0;
}

static void normalise_f64(const double *row, int64_t k, float *z) {
    double s = 0, ss = 0;
    for (int64_t j = 0; j < k; j++) s += row[j];
    double mean = s / (double)k;
    for (int64_t j = 0; j < k; j++) {
        double d = row[j] - mean;
        ss += d * d;
    }
    double scale = ss > 0x1p-100 * (double)k * mean * mean ? 1.0 / sqrt(ss) : 0.0;
    for (int64_t j = 0; j < k; j++) z[j] = (float)((row[j] - mean) * scale);
}

static tg_status check_sizes(int64_t m, int64_t k, tg_error *err) {
    if (m < 2)
        return tg_error_set(err, TG_ERR_ARG, "RDM needs at least 2 rows, got %lld", (long long)m);
    if (k < 1)
        return tg_error_set(err, TG_ERR_ARG, "RDM needs at least 1 feature, got %lld",
                            (long long)k);
    if (m > INT_MAX || k > INT_MAX)
        return tg_error_set(err, TG_ERR_ARG, "RDM of %lld x %lld features is past BLAS's int sizes",
                            (long long)m, (long long)k);
    return TG_OK;
}

/* rdm = 1 - Z Z^T for the normalised rows Z (m x k), diagonal 0. */
static tg_status gram_rdm(const float *Z, int64_t m, int64_t k, double *rdm, tg_error *err) {
    float *G = tg_rsa_alloc(sizeof(float) * (size_t)m * (size_t)m);
    if (!G)
        return tg_error_set(err, TG_ERR_NOMEM, "RDM: no memory for a %lld x %lld Gram matrix",
                            (long long)m, (long long)m);
    /* only the upper triangle (j >= i) of G is written */
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (blasint)m, (blasint)k, 1.0f, Z,
                (blasint)k, 0.0f, G, (blasint)m);
    /* Mirror tile by tile so the transposed writes stay in cache. */
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bi = 0; bi < m; bi += TILE) {
        int64_t ie = bi + TILE < m ? bi + TILE : m;
        for (int64_t bj = bi; bj < m; bj += TILE) {
            int64_t je = bj + TILE < m ? bj + TILE : m;
            for (int64_t i = bi; i < ie; i++) {
                const float *g = G + i * m;
                double *ri = rdm + i * m;
                for (int64_t j = bj > i + 1 ? bj : i + 1; j < je; j++) {
                    double c = g[j];
                    c = c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
                    ri[j] = 1.0 - c;
                    rdm[j * m + i] = 1.0 - c;
                }
            }
        }
        for (int64_t i = bi; i < ie; i++) rdm[i * m + i] = 0.0;
    }
    free(G);
    return TG_OK;
}

tg_status tg_rsa_rdm_f32(const float *F, int64_t m, int64_t ld, const int64_t *cols, int64_t k,
                         double *rdm, tg_error *err) {
    tg_status st = check_sizes(m, k, err);
    if (st != TG_OK) return st;
    float *Z = tg_rsa_alloc(sizeof(float) * (size_t)m * (size_t)k);
    if (!Z)
        return tg_error_set(err, TG_ERR_NOMEM, "RDM: no memory for %lld x %lld rows", (long long)m,
                            (long long)k);
    int64_t bad = m;
#pragma omp parallel for schedule(static) reduction(min : bad)
    for (int64_t i = 0; i < m; i++)
        if (normalise_f32(F + i * ld, cols, k, Z + i * k) != 0 && i < bad) bad = i;
    if (bad < m) {
        free(Z);
        const float *row = F + bad * ld;
        for (int64_t j = 0; j < k; j++) {
            int64_t c = cols ? cols[j] : j;
            if (!isfinite(row[c]))
                return tg_error_set(err, TG_ERR_NUMERIC, "features: row %lld, column %lld is %s",
                                    (long long)bad, (long long)c, nonfinite_word(row[c]));
        }
        TG_ASSERT(0); /* the row's sum was not finite, so one value is not */
    }
    st = gram_rdm(Z, m, k, rdm, err);
    free(Z);
    return st;
}

tg_status tg_rsa_rdm_f64(const double *M, int64_t m, int64_t k, double *rdm, tg_error *err) {
    tg_status st = check_sizes(m, k, err);
    if (st != TG_OK) return st;
    float *Z = tg_rsa_alloc(sizeof(float) * (size_t)m * (size_t)k);
    if (!Z)
        return tg_error_set(err, TG_ERR_NOMEM, "RDM: no memory for %lld x %lld rows", (long long)m,
                            (long long)k);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++) normalise_f64(M + i * k, k, Z + i * k);
    st = gram_rdm(Z, m, k, rdm, err);
    free(Z);
    return st;
}

tg_status tg_rdm_rows(const float *X, int64_t m, int64_t f, double *rdm, tg_error *err) {
    if (!X || !rdm) return tg_error_set(err, TG_ERR_ARG, "tg_rdm_rows: NULL features or output");
    return tg_rsa_rdm_f32(X, m, f, NULL, f, rdm, err);
}
