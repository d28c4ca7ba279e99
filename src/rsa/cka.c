/* cka.c - linear centred kernel alignment (Kornblith et al. 2019) of two
 * feature matrices of the same images, in double precision through BLAS.
 *
 *   CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)
 *
 * with Xc, Yc centred per column. The same number comes from the n x n Gram
 * matrices, ||Yc^T Xc||_F^2 = <Xc Xc^T, Yc Yc^T>_F and ||Xc^T Xc||_F =
 * ||Xc Xc^T||_F, so we take whichever side is cheaper: the feature side
 * costs n (p + q)^2 multiply-adds, the image side n^2 (p + q). Symmetric
 * products are formed by syrk (one triangle) and read as such. No speed
 * bar rides on CKA, so it stays in double: it matches numpy's float64
 * formula to rounding. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "rsa_internal.h"

/* Xc (n x p, double) = X minus its column means; a NaN or Inf is
 * TG_ERR_NUMERIC naming its row and column. */
static tg_status centre_columns(const float *X, int64_t n, int64_t p, const char *what, double *Xc,
                                tg_error *err) {
    double *mean = calloc((size_t)p, sizeof(double));
    if (!mean) return tg_error_set(err, TG_ERR_NOMEM, "cka: no memory");
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < p; j++) mean[j] += X[i * p + j];
    for (int64_t j = 0; j < p; j++) {
        if (!isfinite(mean[j])) {
            for (int64_t i = 0; i < n; i++)
                if (!isfinite(X[i * p + j])) {
                    tg_status st = tg_error_set(
                        err, TG_ERR_NUMERIC, "cka: %s row %lld, column %lld is %s", what,
                        (long long)i, (long long)j, isnan(X[i * p + j]) ? "NaN" : "infinite");
                    free(mean);
                    return st;
                }
        }
        mean[j] /= (double)n;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < p; j++) Xc[i * p + j] = X[i * p + j] - mean[j];
    free(mean);
    return TG_OK;
}

/* <S, T>_F of two d x d symmetric matrices of which only the upper
 * triangles are stored (row-major). */
static double sym_dot(const double *S, const double *T, int64_t d) {
    double diag = 0, off = 0;
    for (int64_t i = 0; i < d; i++) {
        diag += S[i * d + i] * T[i * d + i];
        for (int64_t j = i + 1; j < d; j++) off += S[i * d + j] * T[i * d + j];
    }
    return diag + 2.0 * off;
}

static double dense_sq(const double *A, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += A[i] * A[i];
    return s;
}

tg_status tg_cka_linear(const float *X, int64_t p, const float *Y, int64_t q, int64_t n, double *r,
                        tg_error *err) {
    if (!X || !Y || !r)
        return tg_error_set(err, TG_ERR_ARG, "tg_cka_linear: NULL features or output");
    if (n < 2)
        return tg_error_set(err, TG_ERR_ARG, "cka needs at least 2 images, got %lld", (long long)n);
    if (p < 1 || q < 1)
        return tg_error_set(err, TG_ERR_ARG,
                            "cka needs at least 1 feature per side, got %lld and %lld",
                            (long long)p, (long long)q);
    if (n > INT_MAX || p > INT_MAX || q > INT_MAX)
        return tg_error_set(err, TG_ERR_ARG, "cka: sizes past BLAS's int");
    int gram = n < p + q; /* the n x n side is cheaper */
    size_t need = (size_t)n * (size_t)(p + q) +
                  (gram ? 2 * (size_t)n * (size_t)n
                        : (size_t)p * (size_t)p + (size_t)q * (size_t)q + (size_t)p * (size_t)q);
    double *buf = tg_rsa_alloc(sizeof(double) * need);
    if (!buf) return tg_error_set(err, TG_ERR_NOMEM, "cka: no memory for %zu doubles", need);
    double *Xc = buf, *Yc = Xc + n * p, *work = Yc + n * q;
    tg_status st = centre_columns(X, n, p, "X", Xc, err);
    if (st == TG_OK) st = centre_columns(Y, n, q, "Y", Yc, err);
    if (st != TG_OK) {
        free(buf);
        return st;
    }
    double num, xx, yy;
    if (gram) {
        double *Kx = work, *Ky = Kx + n * n;
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (blasint)n, (blasint)p, 1.0, Xc,
                    (blasint)p, 0.0, Kx, (blasint)n);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (blasint)n, (blasint)q, 1.0, Yc,
                    (blasint)q, 0.0, Ky, (blasint)n);
        num = sym_dot(Kx, Ky, n);
        xx = sym_dot(Kx, Kx, n);
        yy = sym_dot(Ky, Ky, n);
    } else {
        double *Cx = work, *Cy = Cx + p * p, *Cxy = Cy + q * q;
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)p, (blasint)n, 1.0, Xc,
                    (blasint)p, 0.0, Cx, (blasint)p);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)q, (blasint)n, 1.0, Yc,
                    (blasint)q, 0.0, Cy, (blasint)q);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)q, (blasint)p, (blasint)n,
                    1.0, Yc, (blasint)q, Xc, (blasint)p, 0.0, Cxy, (blasint)p);
        num = dense_sq(Cxy, q * p);
        xx = sym_dot(Cx, Cx, p);
        yy = sym_dot(Cy, Cy, q);
    }
    free(buf);
    if (!(xx > 0) || !(yy > 0))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "cka: every column of %s is constant (zero variance)",
                            xx > 0 ? "Y" : "X");
    if (!isfinite(num) || !isfinite(xx) || !isfinite(yy))
        return tg_error_set(err, TG_ERR_NUMERIC, "cka: the products overflow double");
    *r = num / (sqrt(xx) * sqrt(yy));
    return TG_OK;
}
