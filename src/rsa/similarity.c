/* similarity.c - how alike two RDMs (or two vectors) are: Pearson r,
 * Spearman rho (Pearson of average-tie ranks) and the dispatch to Kendall
 * tau-a (kendall.c).
 *
 * An RDM enters by its strict upper triangle, read in place row by row
 * (Pearson copies nothing). Sums are formed per segment - a triangle row,
 * or 4096 entries of a vector - and then added in segment order, so r does
 * not depend on the thread count. Pearson takes two passes (means, then
 * centred sums) rather than one pass of raw moments, whose cancellation
 * would cost digits on RDMs whose entries all lie near 1. Every measure
 * refuses NaN, Inf and a constant input (TG_ERR_NUMERIC): r is undefined
 * there, and a silent 0 or NaN would corrupt a TG score. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rsa_internal.h"

#define SEG 4096

static const char *const METHOD_NAMES[] = {[TG_SIM_PEARSON] = "pearson",
                                           [TG_SIM_SPEARMAN] = "spearman",
                                           [TG_SIM_KENDALL] = "kendall",
                                           [TG_SIM_CKA] = "cka"};

int tg_sim_method_parse(const char *s) {
    if (!s) return -1;
    for (int m = 0; m < (int)(sizeof METHOD_NAMES / sizeof METHOD_NAMES[0]); m++)
        if (strcmp(s, METHOD_NAMES[m]) == 0) return m;
    return -1;
}

const char *tg_sim_method_name(tg_sim_method m) {
    return (unsigned)m < sizeof METHOD_NAMES / sizeof METHOD_NAMES[0] ? METHOD_NAMES[m] : "?";
}

int64_t tg_rsa_count(int64_t len, int tri) { return tri ? len * (len - 1) / 2 : len; }

static int64_t nseg(int64_t len, int tri) { return tri ? len - 1 : (len + SEG - 1) / SEG; }

/* Segment s of the sequence: its first entry and count. */
static const double *seg(const double *v, int64_t len, int tri, int64_t s, int64_t *cnt) {
    if (tri) {
        *cnt = len - 1 - s;
        return v + s * len + s + 1;
    }
    *cnt = len - s * SEG < SEG ? len - s * SEG : SEG;
    return v + s * SEG;
}

tg_status tg_rsa_check(const double *v, int64_t len, int tri, const char *what, tg_error *err) {
    int64_t ns = nseg(len, tri), cnt;
    double first = seg(v, len, tri, 0, &cnt)[0];
    int varies = 0;
    for (int64_t s = 0; s < ns; s++) {
        const double *p = seg(v, len, tri, s, &cnt);
        for (int64_t j = 0; j < cnt; j++) {
            if (!isfinite(p[j])) {
                const char *word = isnan(p[j]) ? "NaN" : "infinite";
                if (tri)
                    return tg_error_set(err, TG_ERR_NUMERIC, "%s: entry (%lld, %lld) is %s", what,
                                        (long long)s, (long long)(s + 1 + j), word);
                return tg_error_set(err, TG_ERR_NUMERIC, "%s: entry %lld is %s", what,
                                    (long long)(s * SEG + j), word);
            }
            varies |= p[j] != first;
        }
    }
    if (!varies)
        return tg_error_set(
            err, TG_ERR_NUMERIC, "%s: all %lld entries%s equal %g: zero variance, no correlation",
            what, (long long)tg_rsa_count(len, tri), tri ? " of the upper triangle" : "", first);
    return TG_OK;
}

void tg_rsa_flatten(const double *v, int64_t len, int tri, double *out) {
    int64_t ns = nseg(len, tri), cnt, o = 0;
    for (int64_t s = 0; s < ns; s++) {
        const double *p = seg(v, len, tri, s, &cnt);
        memcpy(out + o, p, sizeof(double) * (size_t)cnt);
        o += cnt;
    }
}

tg_status tg_rsa_ranks(const double *v, int64_t n, double *rank, tg_error *err) {
    tg_rsa_pair *p = tg_rsa_alloc(sizeof(tg_rsa_pair) * 2 * (size_t)n);
    if (!p)
        return tg_error_set(err, TG_ERR_NOMEM, "ranks: no memory for %lld values", (long long)n);
    /* (value, index): a total order, so the sort places ties by index */
    for (int64_t i = 0; i < n; i++) p[i] = (tg_rsa_pair){v[i], (double)i};
    tg_rsa_sort_pairs(p, n, p + n);
    for (int64_t lo = 0; lo < n;) {
        int64_t hi = lo + 1;
        while (hi < n && p[hi].x == p[lo].x) hi++;
        double r = 0.5 * (double)(lo + 1 + hi); /* mean of the ranks lo+1 .. hi */
        for (int64_t i = lo; i < hi; i++) rank[(int64_t)p[i].y] = r;
        lo = hi;
    }
    free(p);
    return TG_OK;
}

tg_status tg_rsa_pearson(const double *a, const double *b, int64_t len, int tri, const char *wa,
                         const char *wb, double *r, tg_error *err) {
    int64_t ns = nseg(len, tri), n = tg_rsa_count(len, tri), c0;
    double *part = malloc(sizeof(double) * 3 * (size_t)ns);
    if (!part) return tg_error_set(err, TG_ERR_NOMEM, "pearson: no memory");
    const double a0 = seg(a, len, tri, 0, &c0)[0], b0 = seg(b, len, tri, 0, &c0)[0];
    int varies_a = 0, varies_b = 0;
#pragma omp parallel for schedule(dynamic, 16) reduction(| : varies_a, varies_b)
    for (int64_t s = 0; s < ns; s++) {
        int64_t cnt;
        const double *pa = seg(a, len, tri, s, &cnt), *pb = seg(b, len, tri, s, &cnt);
        double sa = 0, sb = 0;
        int va = 0, vb = 0;
        for (int64_t j = 0; j < cnt; j++) {
            sa += pa[j];
            sb += pb[j];
            va |= pa[j] != a0;
            vb |= pb[j] != b0;
        }
        part[2 * s] = sa;
        part[2 * s + 1] = sb;
        varies_a |= va;
        varies_b |= vb;
    }
    double sa = 0, sb = 0;
    for (int64_t s = 0; s < ns; s++) sa += part[2 * s], sb += part[2 * s + 1];
    if (!isfinite(sa) || !isfinite(sb) || !varies_a || !varies_b) {
        free(part);
        tg_status st = tg_rsa_check(a, len, tri, wa, err);
        if (st == TG_OK) st = tg_rsa_check(b, len, tri, wb, err);
        if (st == TG_OK)
            st = tg_error_set(err, TG_ERR_NUMERIC, "pearson: sums of %s and %s overflow", wa, wb);
        return st;
    }
    const double ma = sa / (double)n, mb = sb / (double)n;
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t s = 0; s < ns; s++) {
        int64_t cnt;
        const double *pa = seg(a, len, tri, s, &cnt), *pb = seg(b, len, tri, s, &cnt);
        double xx = 0, yy = 0, xy = 0;
        for (int64_t j = 0; j < cnt; j++) {
            double x = pa[j] - ma, y = pb[j] - mb;
            xx += x * x;
            yy += y * y;
            xy += x * y;
        }
        part[3 * s] = xx, part[3 * s + 1] = yy, part[3 * s + 2] = xy;
    }
    double xx = 0, yy = 0, xy = 0;
    for (int64_t s = 0; s < ns; s++)
        xx += part[3 * s], yy += part[3 * s + 1], xy += part[3 * s + 2];
    free(part);
    if (!(xx > 0 && yy > 0 && isfinite(xx) && isfinite(yy)))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "pearson: the variance of %s or %s under- or overflows", wa, wb);
    double rr = xy / (sqrt(xx) * sqrt(yy));
    *r = rr > 1.0 ? 1.0 : rr < -1.0 ? -1.0 : rr;
    return TG_OK;
}

/* Spearman or Kendall: both inputs checked, flattened (a vector is read in
 * place), ranked for Spearman. */
static tg_status by_order(const double *a, const double *b, int64_t len, int tri,
                          tg_sim_method method, const char *wa, const char *wb, double *r,
                          tg_error *err) {
    tg_status st = tg_rsa_check(a, len, tri, wa, err);
    if (st == TG_OK) st = tg_rsa_check(b, len, tri, wb, err);
    if (st != TG_OK) return st;
    int64_t n = tg_rsa_count(len, tri);
    double *buf = NULL;
    const double *fa = a, *fb = b;
    if (tri || method == TG_SIM_SPEARMAN) {
        buf = tg_rsa_alloc(sizeof(double) * 2 * (size_t)n);
        if (!buf)
            return tg_error_set(err, TG_ERR_NOMEM, "%s: no memory for %lld entries",
                                tg_sim_method_name(method), (long long)n);
        if (tri) {
            tg_rsa_flatten(a, len, tri, buf);
            tg_rsa_flatten(b, len, tri, buf + n);
            fa = buf, fb = buf + n;
        }
    }
    if (method == TG_SIM_SPEARMAN) {
        st = tg_rsa_ranks(fa, n, buf, err); /* in place when fa is buf */
        if (st == TG_OK) st = tg_rsa_ranks(fb, n, buf + n, err);
        if (st == TG_OK) st = tg_rsa_pearson(buf, buf + n, n, 0, wa, wb, r, err);
    } else {
        st = tg_rsa_kendall(fa, fb, n, r, err);
    }
    free(buf);
    return st;
}

static tg_status similarity(const double *a, const double *b, int64_t len, int tri,
                            tg_sim_method method, const char *wa, const char *wb, double *r,
                            tg_error *err) {
    switch (method) {
    case TG_SIM_PEARSON:
        return tg_rsa_pearson(a, b, len, tri, wa, wb, r, err);
    case TG_SIM_SPEARMAN:
    case TG_SIM_KENDALL:
        return by_order(a, b, len, tri, method, wa, wb, r, err);
    case TG_SIM_CKA:
        return tg_error_set(err, TG_ERR_ARG,
                            "cka compares features, not RDMs: use tg_cka_linear on the features");
    }
    return tg_error_set(err, TG_ERR_ARG, "unknown similarity method %d", (int)method);
}

tg_status tg_rdm_similarity(const double *a, const double *b, int64_t m, tg_sim_method method,
                            double *r, tg_error *err) {
    if (!a || !b || !r)
        return tg_error_set(err, TG_ERR_ARG, "tg_rdm_similarity: NULL RDM or output");
    if (m < 3)
        return tg_error_set(err, TG_ERR_ARG, "RDMs of %lld x %lld are too small: need m >= 3",
                            (long long)m, (long long)m);
    return similarity(a, b, m, 1, method, "first RDM", "second RDM", r, err);
}

tg_status tg_sim_vectors(const double *a, const double *b, int64_t n, tg_sim_method method,
                         double *r, tg_error *err) {
    if (!a || !b || !r)
        return tg_error_set(err, TG_ERR_ARG, "tg_sim_vectors: NULL vector or output");
    if (n < 2)
        return tg_error_set(err, TG_ERR_ARG, "similarity of vectors of %lld entries: need >= 2",
                            (long long)n);
    return similarity(a, b, n, 0, method, "first vector", "second vector", r, err);
}
