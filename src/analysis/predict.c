/* predict.c - the predictors of one point (analysis.h's list, in its
 * order) from the networks' raw slots, and their correlations with mature
 * accuracy.
 *
 * Each predictor is a vector over the point's networks, NaN where a
 * network has no value; its correlations use the networks that have one.
 * TG and TG_z of every (teacher, method) are computed once per point, as
 * the mixes p + alpha * TG build on them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_internal.h"
#include "tgsage/rsa.h"

typedef enum { K_P, K_PBN, K_LAYER, K_TG, K_TGZ, K_PTG, K_PBNTG, K_PTGZ } kind;
static const char *const KIND_NAME[] = {"p", "p_bn", "layer", "tg", "tg_z",
                                        "p+tg", "p_bn+tg", "p+tg_z"};

typedef struct {
    kind k;
    int t, m, L;      /* teacher index, method, layer (where they apply) */
    double alpha;
} spec;

/* Every predictor of a point, in analysis.h's order; *n of them (s may be
 * NULL to count). */
static int specs(const tg_analysis *a, const tg_analysis_config *c, spec *s) {
    int n = 0;
#define ADD(...) do { if (s) s[n] = (spec){__VA_ARGS__}; n++; } while (0)
    ADD(K_P, -1, -1, -1, NAN);
    ADD(K_PBN, -1, -1, -1, NAN);
    for (int t = 0; t < a->nteachers; t++)
        for (int m = 0; m < TG_AN_NMETHODS; m++) {
            for (int L = 0; L < a->teachers[t].nlayers; L++) ADD(K_LAYER, t, m, L, NAN);
            ADD(K_TG, t, m, -1, NAN);
            ADD(K_TGZ, t, m, -1, NAN);
            const kind mix[3] = {K_PTG, K_PBNTG, K_PTGZ};
            for (int x = 0; x < 3; x++)
                for (int j = 0; j < c->nalpha; j++) ADD(mix[x], t, m, -1, c->alpha[j]);
        }
#undef ADD
    return n;
}

/* mean, sd (n - 1), min, max of the finite entries of v */
static void describe(const double *v, int64_t n, tg_predictor *p) {
    int64_t k = 0;
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) k++, sum += v[i], lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
    p->n = k;
    p->mean = k ? sum / (double)k : NAN;
    p->min = k ? lo : NAN, p->max = k ? hi : NAN;
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) ss += (v[i] - p->mean) * (v[i] - p->mean);
    p->sd = k > 1 ? sqrt(ss / (double)(k - 1)) : NAN;
}

typedef struct {
    const tg_analysis *a;
    const tg_an_layout *l;
    const double *raw;      /* n x nslot */
    int64_t n;
    double *tg, *tgz;       /* per (teacher, method): n values each */
} point_ctx;

static double raw_at(const point_ctx *x, int64_t i, int slot) {
    return x->raw[(size_t)i * (size_t)x->l->nslot + (size_t)slot];
}

static size_t tm_index(const point_ctx *x, int t, int m) {
    return ((size_t)t * TG_AN_NMETHODS + (size_t)m) * (size_t)x->n;
}

/* TG (mean over teacher layers, NaN if one is missing) and its z-score
 * over the networks, for every teacher and method. */
static void tg_all(point_ctx *x) {
    for (int t = 0; t < x->a->nteachers; t++) {
        int nl = x->a->teachers[t].nlayers;
        for (int m = 0; m < TG_AN_NMETHODS; m++) {
            double *tg = x->tg + tm_index(x, t, m), *z = x->tgz + tm_index(x, t, m);
            for (int64_t i = 0; i < x->n; i++) {
                double s = 0;
                for (int L = 0; L < nl; L++) s += raw_at(x, i, x->l->slot0[t] + m * nl + L);
                tg[i] = nl > 0 && isfinite(s) ? s / nl : NAN;
            }
            tg_predictor d;
            describe(tg, x->n, &d);
            for (int64_t i = 0; i < x->n; i++)
                z[i] = d.min < d.max ? (tg[i] - d.mean) / d.sd : NAN;   /* not constant */
        }
    }
}

static void values(const point_ctx *x, const spec *s, double *v) {
    const double *tg = s->t >= 0 ? x->tg + tm_index(x, s->t, s->m) : NULL;
    const double *tgz = s->t >= 0 ? x->tgz + tm_index(x, s->t, s->m) : NULL;
    for (int64_t i = 0; i < x->n; i++) {
        double p = raw_at(x, i, 0), pbn = raw_at(x, i, 1);
        switch (s->k) {
        case K_P: v[i] = p; break;
        case K_PBN: v[i] = pbn; break;
        case K_LAYER:
            v[i] = raw_at(x, i, x->l->slot0[s->t] + s->m * x->a->teachers[s->t].nlayers + s->L);
            break;
        case K_TG: v[i] = tg[i]; break;
        case K_TGZ: v[i] = tgz[i]; break;
        case K_PTG: v[i] = p + s->alpha * tg[i]; break;
        case K_PBNTG: v[i] = pbn + s->alpha * tg[i]; break;
        case K_PTGZ: v[i] = p + s->alpha * tgz[i]; break;
        }
        if (!isfinite(v[i])) v[i] = NAN;
    }
}

/* The networks where every given vector is finite: their values packed to
 * the front of the out vectors; the count. */
static int64_t pack(const double *const *in, double *const *out, int nv, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        int ok = 1;
        for (int j = 0; j < nv; j++) ok &= isfinite(in[j][i]) != 0;
        if (!ok) continue;
        for (int j = 0; j < nv; j++) out[j][k] = in[j][i];
        k++;
    }
    return k;
}

static int uses_tg(const spec *s) {
    if (s->k == K_P || s->k == K_PBN) return 0;
    if (s->k == K_PTG || s->k == K_PBNTG || s->k == K_PTGZ) return s->alpha != 0;
    return 1;
}

static int is_mix(const spec *s) { return s->k == K_PTG || s->k == K_PBNTG || s->k == K_PTGZ; }

/* The index of the highest Spearman among predictors where want(spec). */
static int best_of(const tg_analysis_point *pt, const spec *s, int (*want)(const spec *)) {
    int best = -1;
    for (int j = 0; j < pt->npred; j++) {
        double r = pt->pred[j].spearman.r;
        if (!isfinite(r) || (want && !want(&s[j]))) continue;
        if (best < 0 || r > pt->pred[best].spearman.r) best = j;
    }
    return best;
}

static void fill_pred(tg_predictor *p, const spec *s, const tg_analysis *a) {
    memset(p, 0, sizeof *p);
    snprintf(p->kind, sizeof p->kind, "%s", KIND_NAME[s->k]);
    p->teacher = s->t >= 0 ? a->teachers[s->t].position : -1;
    if (s->m >= 0) snprintf(p->method, sizeof p->method, "%s", tg_sim_method_name((tg_sim_method)s->m));
    if (s->L >= 0) snprintf(p->layer, sizeof p->layer, "%s", a->teachers[s->t].layers[s->L]);
    p->alpha = s->alpha;
}

tg_status tg_an_predict(const tg_analysis *a, const tg_an_layout *l, const double *raw,
                        const tg_analysis_config *c, tg_analysis_point *pt, tg_error *err) {
    int ns = specs(a, c, NULL);
    spec *s = malloc(sizeof *s * (size_t)ns);
    size_t n1 = (size_t)(pt->n > 0 ? pt->n : 1), ntm = (size_t)a->nteachers * TG_AN_NMETHODS;
    point_ctx x = {a, l, raw, pt->n, malloc(sizeof(double) * (ntm * n1 + 1)),
                   malloc(sizeof(double) * (ntm * n1 + 1))};
    double *v = malloc(sizeof(double) * n1), *v2 = malloc(sizeof(double) * n1);
    double *px = malloc(sizeof(double) * n1), *py = malloc(sizeof(double) * n1);
    double *pz = malloc(sizeof(double) * n1);
    pt->pred = calloc((size_t)ns, sizeof *pt->pred);
    tg_status st = TG_OK;
    if (!s || !x.tg || !x.tgz || !v || !v2 || !px || !py || !pz || !pt->pred) {
        st = tg_error_set(err, TG_ERR_NOMEM, "analysis of point %g: out of memory", pt->at);
        goto done;
    }
    specs(a, c, s);
    pt->npred = ns;
    tg_all(&x);
    for (int j = 0; j < ns && st == TG_OK; j++) {
        tg_predictor *p = &pt->pred[j];
        fill_pred(p, &s[j], a);
        values(&x, &s[j], v);
        describe(v, pt->n, p);
        const double *in[2] = {v, pt->mature};
        double *out[2] = {px, py};
        int64_t k = pack(in, out, 2, pt->n);
        st = tg_stat_corr_boot(px, py, k, c->boot, c->seed, &p->pearson, &p->spearman, err);
    }
    if (st != TG_OK) goto done;
    pt->best = best_of(pt, s, NULL);
    pt->best_tg = best_of(pt, s, uses_tg);
    pt->best_mix = best_of(pt, s, is_mix);
    pt->gain.r = pt->gain.lo = pt->gain.hi = NAN;
    if (pt->best_tg >= 0) {
        values(&x, &s[pt->best_tg], v);
        values(&x, &s[0], v2);
        const double *in[3] = {v, v2, pt->mature};
        double *out[3] = {px, pz, py};
        int64_t k = pack(in, out, 3, pt->n);
        st = tg_stat_spearman_gain_boot(px, pz, py, k, c->boot, c->seed, &pt->gain, err);
    }
    /* teacher 0 by its own method, for the scatter plots */
    for (int64_t i = 0; i < pt->n; i++) {
        int m = a->nteachers ? tg_sim_method_parse(a->teachers[0].method) : -1;
        pt->tg[i] = m >= 0 ? x.tg[tm_index(&x, 0, m) + (size_t)i] : NAN;
    }
done:
    free(s), free(x.tg), free(x.tgz), free(v), free(v2), free(px), free(py), free(pz);
    return st;
}
