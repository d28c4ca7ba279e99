/* rdm_cka.c - CKA where only RDMs are kept (a teacher file holds no
 * features): the centred kernel alignment of K = 1 - a and L = 1 - b.
 *
 * For a correlation-distance RDM, 1 - RDM[i][j] = <z_i, z_j> with z_i row
 * i standardised (zero mean, unit norm), so K is the Gram matrix of the
 * standardised rows and the alignment of the centred Grams is linear CKA
 * of those features (cka.c's Gram form). Centring uses the row and column
 * means, HKH[i][j] = K[i][j] - r_i - c_j + g, formed on the fly: two
 * passes over each matrix and no m x m buffer. Double throughout; rows
 * are summed in order, so the result does not depend on the thread
 * count. */
#include <math.h>
#include <stdlib.h>

#include "rsa_internal.h"

/* Row means (r), column means (c) and the grand mean (*g) of K = 1 - a; a
 * NaN or Inf anywhere is TG_ERR_NUMERIC naming the entry. */
static tg_status kernel_means(const double *a, int64_t m, const char *what, double *r, double *c,
                              double *g, tg_error *err) {
    for (int64_t j = 0; j < m; j++) c[j] = 0;
    double total = 0;
    for (int64_t i = 0; i < m; i++) {
        double s = 0;
        for (int64_t j = 0; j < m; j++) {
            const double k = 1.0 - a[i * m + j];
            if (!isfinite(k))
                return tg_error_set(err, TG_ERR_NUMERIC, "cka: %s entry (%lld, %lld) is %s", what,
                                    (long long)i, (long long)j,
                                    isnan(a[i * m + j]) ? "NaN" : "infinite");
            s += k;
            c[j] += k;
        }
        r[i] = s / (double)m;
        total += s;
    }
    for (int64_t j = 0; j < m; j++) c[j] /= (double)m;
    *g = total / ((double)m * (double)m);
    return TG_OK;
}

tg_status tg_rdm_cka(const double *a, const double *b, int64_t m, double *r, tg_error *err) {
    if (!a || !b || !r) return tg_error_set(err, TG_ERR_ARG, "tg_rdm_cka: NULL RDM or output");
    if (m < 3)
        return tg_error_set(err, TG_ERR_ARG, "cka of RDMs needs at least 3 items, got %lld",
                            (long long)m);
    /* A constant upper triangle (a layer whose RDM says nothing, e.g. every
     * row of zero variance) has no Pearson, Spearman or Kendall r; its
     * kernel is the identity, whose centred form is not zero, so the
     * alignment would be a number that reads like a finding. Refused as
     * the other measures refuse it. */
    tg_status st = tg_rsa_check(a, m, 1, "cka: RDM a", err);
    if (st == TG_OK) st = tg_rsa_check(b, m, 1, "cka: RDM b", err);
    if (st != TG_OK) return st;
    double *buf = malloc(sizeof(double) * 4 * (size_t)m);
    if (!buf) return tg_error_set(err, TG_ERR_NOMEM, "cka: no memory for %lld items", (long long)m);
    double *ra = buf, *ca = ra + m, *rb = ca + m, *cb = rb + m, ga, gb;
    st = kernel_means(a, m, "RDM a", ra, ca, &ga, err);
    if (st == TG_OK) st = kernel_means(b, m, "RDM b", rb, cb, &gb, err);
    if (st != TG_OK) {
        free(buf);
        return st;
    }
    double kl = 0, kk = 0, ll = 0, rawk = 0, rawl = 0;
    for (int64_t i = 0; i < m; i++) {
        double skl = 0, skk = 0, sll = 0, sk = 0, sl = 0;
        for (int64_t j = 0; j < m; j++) {
            const double k0 = 1.0 - a[i * m + j], l0 = 1.0 - b[i * m + j];
            const double k = k0 - ra[i] - ca[j] + ga, l = l0 - rb[i] - cb[j] + gb;
            skl += k * l;
            skk += k * k;
            sll += l * l;
            sk += k0 * k0;
            sl += l0 * l0;
        }
        kl += skl, kk += skk, ll += sll, rawk += sk, rawl += sl;
    }
    free(buf);
    /* a kernel that centring removes (K = u 1^T + 1 v^T: a constant, or a
     * row and a column effect) leaves rounding noise, far below the
     * kernel's own size: no alignment exists */
    const double tiny = 1e-24;
    if (!(kk > tiny * rawk) || !(ll > tiny * rawl))
        return tg_error_set(err, TG_ERR_NUMERIC, "cka: the kernel 1 - RDM %s is zero once centred "
                            "(constant, or a row plus a column effect)", kk > tiny * rawk ? "b" : "a");
    if (!isfinite(kl) || !isfinite(kk) || !isfinite(ll))
        return tg_error_set(err, TG_ERR_NUMERIC, "cka: the products overflow double");
    *r = kl / (sqrt(kk) * sqrt(ll));
    return TG_OK;
}
