/* stats.c - the correlations of the analysis and their percentile
 * bootstrap intervals (analysis.h's opening comment states the procedure
 * exactly, so tests/analysis_check.py can repeat it with numpy). Pearson
 * is two-pass (means first, then centred sums), which keeps it within a
 * few ulps of scipy's on accuracies that differ in the third decimal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/analysis.h"

/* 1 when every entry equals the first: checked exactly, as the mean of
 * equal doubles need not be one of them, and the centred sums of a
 * constant would then be tiny but not 0. */
static int constant(const double *v, int64_t n) {
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[0]) return 0;
    return 1;
}

double tg_stat_pearson(const double *x, const double *y, int64_t n) {
    if (n < 3 || constant(x, n) || constant(y, n)) return NAN;
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return NAN;
    double r = sxy / (sqrt(sxx) * sqrt(syy));
    /* rounding may step just past +-1 */
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct {
    double v;
    int64_t i;
} ranked;

static int ranked_cmp(const void *a, const void *b) {
    const ranked *p = a, *q = b;
    if (p->v < q->v) return -1;
    if (p->v > q->v) return 1;
    return (p->i > q->i) - (p->i < q->i);
}

/* ranks into r, with scratch s (n) */
static void ranks_with(const double *x, int64_t n, double *r, ranked *s) {
    for (int64_t i = 0; i < n; i++) s[i].v = x[i], s[i].i = i;
    qsort(s, (size_t)n, sizeof *s, ranked_cmp);
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && s[j].v == s[i].v) j++;
        double avg = 0.5 * (double)(i + 1 + j);   /* mean of ranks i+1 .. j */
        for (int64_t k = i; k < j; k++) r[s[k].i] = avg;
        i = j;
    }
}

void tg_stat_ranks(const double *x, int64_t n, double *r) {
    ranked *s = malloc(sizeof *s * (size_t)(n > 0 ? n : 1));
    TG_ASSERT(s);
    ranks_with(x, n, r, s);
    free(s);
}

double tg_stat_spearman(const double *x, const double *y, int64_t n) {
    if (n < 3) return NAN;
    double *rx = malloc(sizeof(double) * (size_t)n), *ry = malloc(sizeof(double) * (size_t)n);
    TG_ASSERT(rx && ry);
    tg_stat_ranks(x, n, rx);
    tg_stat_ranks(y, n, ry);
    double r = tg_stat_pearson(rx, ry, n);
    free(rx), free(ry);
    return r;
}

double tg_stat_quantile(const double *sorted, int64_t n, double q) {
    TG_ASSERT(n >= 1 && q >= 0 && q <= 1);
    double h = (double)(n - 1) * q;
    int64_t lo = (int64_t)floor(h);
    if (lo >= n - 1) return sorted[n - 1];
    return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

static int dbl_cmp(const void *a, const void *b) {
    double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

/* The interval of the k defined values of v (sorted here in place). */
static void interval(double *v, int64_t k, tg_corr *c) {
    if (k < 1) {
        c->lo = c->hi = NAN;
        return;
    }
    qsort(v, (size_t)k, sizeof *v, dbl_cmp);
    c->lo = tg_stat_quantile(v, k, 0.025);
    c->hi = tg_stat_quantile(v, k, 0.975);
}

/* Ranks within a resample without sorting it: the values are sorted once
 * into groups of equal ones (ascending), and a resample's average rank of
 * group g is (draws from groups below g) + (draws from g + 1) / 2, the
 * same half-integers a sort of the resample gives. O(n) per resample. */
typedef struct {
    int64_t *grp;      /* group of each value (n) */
    int64_t ng;
    double *cnt, *rk;  /* per group: draws, rank (scratch) */
} groups;

static int groups_make(const double *x, int64_t n, ranked *s, groups *g) {
    size_t m = (size_t)(n > 0 ? n : 1);
    g->grp = malloc(sizeof(int64_t) * m);
    g->cnt = malloc(sizeof(double) * m);
    g->rk = malloc(sizeof(double) * m);
    if (!g->grp || !g->cnt || !g->rk) return 0;
    for (int64_t i = 0; i < n; i++) s[i].v = x[i], s[i].i = i;
    qsort(s, (size_t)n, sizeof *s, ranked_cmp);
    g->ng = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && s[i].v != s[i - 1].v) g->ng++;
        g->grp[s[i].i] = g->ng;
    }
    g->ng += n > 0;
    return 1;
}

static void groups_free(groups *g) {
    free(g->grp), free(g->cnt), free(g->rk);
}

static void resample_ranks(groups *g, const int64_t *idx, int64_t n, double *out) {
    for (int64_t k = 0; k < g->ng; k++) g->cnt[k] = 0;
    for (int64_t i = 0; i < n; i++) g->cnt[g->grp[idx[i]]] += 1;
    double below = 0;
    for (int64_t k = 0; k < g->ng; k++) {
        g->rk[k] = below + 0.5 * (g->cnt[k] + 1);
        below += g->cnt[k];
    }
    for (int64_t i = 0; i < n; i++) out[i] = g->rk[g->grp[idx[i]]];
}

/* One bootstrap: the inputs (b may be NULL), their groups, the drawn
 * indices, gathered values and ranks, and the defined results. */
typedef struct {
    const double *a, *b, *y;
    groups qa, qb, qy;
    int64_t *idx;
    double *ga, *gy, *ra, *rb, *ry;
    double *out0, *out1;
    int64_t k0, k1;
} boot_ctx;

static void ctx_free(boot_ctx *c) {
    groups_free(&c->qa), groups_free(&c->qb), groups_free(&c->qy);
    free(c->idx), free(c->ga), free(c->gy), free(c->ra), free(c->rb), free(c->ry);
    free(c->out0), free(c->out1);
}

static int ctx_alloc(boot_ctx *c, int64_t n, int boot) {
    size_t m = (size_t)(n > 0 ? n : 1), nb = (size_t)(boot > 0 ? boot : 1);
    c->idx = malloc(sizeof(int64_t) * m);
    double **bufs[5] = {&c->ga, &c->gy, &c->ra, &c->rb, &c->ry};
    int ok = c->idx != NULL;
    for (int k = 0; k < 5; k++) ok &= (*bufs[k] = malloc(sizeof(double) * m)) != NULL;
    c->out0 = malloc(sizeof(double) * nb);
    c->out1 = malloc(sizeof(double) * nb);
    ranked *s = malloc(sizeof(ranked) * m);
    ok &= c->out0 && c->out1 && s;
    if (ok) ok = groups_make(c->a, n, s, &c->qa) && groups_make(c->y, n, s, &c->qy) &&
                 (!c->b || groups_make(c->b, n, s, &c->qb));
    free(s);
    return ok;
}

static void draw(boot_ctx *c, tg_rng *r, int64_t n) {
    for (int64_t i = 0; i < n; i++) c->idx[i] = (int64_t)tg_rng_below(r, (uint64_t)n);
}

static tg_status nomem(tg_error *err, int64_t n) {
    return tg_error_set(err, TG_ERR_NOMEM, "bootstrap of %lld networks: out of memory",
                        (long long)n);
}

tg_status tg_stat_corr_boot(const double *x, const double *y, int64_t n, int boot,
                            uint64_t seed, tg_corr *pearson, tg_corr *spearman,
                            tg_error *err) {
    tg_corr pc = {tg_stat_pearson(x, y, n), NAN, NAN};
    tg_corr sc = {tg_stat_spearman(x, y, n), NAN, NAN};
    /* no interval around an estimate that does not exist */
    if (boot > 0 && n >= 3 && (isfinite(pc.r) || isfinite(sc.r))) {
        boot_ctx c;
        memset(&c, 0, sizeof c);
        c.a = x, c.y = y;
        if (!ctx_alloc(&c, n, boot)) {
            ctx_free(&c);
            return nomem(err, n);
        }
        tg_rng r;
        tg_rng_seed(&r, seed);
        for (int b = 0; b < boot; b++) {
            draw(&c, &r, n);
            for (int64_t i = 0; i < n; i++) c.ga[i] = x[c.idx[i]], c.gy[i] = y[c.idx[i]];
            resample_ranks(&c.qa, c.idx, n, c.ra);
            resample_ranks(&c.qy, c.idx, n, c.ry);
            double p = tg_stat_pearson(c.ga, c.gy, n), s = tg_stat_pearson(c.ra, c.ry, n);
            if (isfinite(p)) c.out0[c.k0++] = p;
            if (isfinite(s)) c.out1[c.k1++] = s;
        }
        if (isfinite(pc.r)) interval(c.out0, c.k0, &pc);
        if (isfinite(sc.r)) interval(c.out1, c.k1, &sc);
        ctx_free(&c);
    }
    if (pearson) *pearson = pc;
    if (spearman) *spearman = sc;
    return TG_OK;
}

tg_status tg_stat_spearman_gain_boot(const double *a, const double *b, const double *y,
                                     int64_t n, int boot, uint64_t seed, tg_corr *gain,
                                     tg_error *err) {
    gain->r = tg_stat_spearman(a, y, n) - tg_stat_spearman(b, y, n);
    gain->lo = gain->hi = NAN;
    if (boot <= 0 || !isfinite(gain->r)) return TG_OK;
    boot_ctx c;
    memset(&c, 0, sizeof c);
    c.a = a, c.b = b, c.y = y;
    if (!ctx_alloc(&c, n, boot)) {
        ctx_free(&c);
        return nomem(err, n);
    }
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int k = 0; k < boot; k++) {
        draw(&c, &r, n);
        resample_ranks(&c.qa, c.idx, n, c.ra);
        resample_ranks(&c.qb, c.idx, n, c.rb);
        resample_ranks(&c.qy, c.idx, n, c.ry);
        double d = tg_stat_pearson(c.ra, c.ry, n) - tg_stat_pearson(c.rb, c.ry, n);
        if (isfinite(d)) c.out0[c.k0++] = d;
    }
    interval(c.out0, c.k0, gain);
    ctx_free(&c);
    return TG_OK;
}
