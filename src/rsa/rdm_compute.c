/* rdm_compute.c - the RDM recipe of paper section 3.1: a seeded subsample
 * of feature columns, category means when the unit is the category, then
 * the RDM of the rows (rdm.c).
 *
 * The subsample is Knuth's selection sampling (Algorithm S): one pass over
 * the f columns keeps column i with probability (still needed) / (still
 * left), which yields exactly min(k, f) columns, ascending, with every
 * subset equally likely, from tg_rng seeded by the caller's seed.
 * Category means are summed in double, each column over the images in
 * order, so they do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rsa_internal.h"
#include "tgsage/rng.h"

static const char *const UNIT_NAMES[] = {[TG_RDM_CATEGORY] = "category", [TG_RDM_IMAGE] = "image"};

int tg_rdm_unit_parse(const char *s) {
    if (!s) return -1;
    for (int u = 0; u < (int)(sizeof UNIT_NAMES / sizeof UNIT_NAMES[0]); u++)
        if (strcmp(s, UNIT_NAMES[u]) == 0) return u;
    return -1;
}

const char *tg_rdm_unit_name(tg_rdm_unit u) {
    return (unsigned)u < sizeof UNIT_NAMES / sizeof UNIT_NAMES[0] ? UNIT_NAMES[u] : "?";
}

int64_t tg_rsa_subsample(int64_t f, int64_t k, uint64_t seed, int64_t *idx) {
    if (f <= 0) return 0;
    if (k <= 0 || k >= f) {
        for (int64_t i = 0; i < f; i++) idx[i] = i;
        return f;
    }
    tg_rng r;
    tg_rng_seed(&r, seed);
    int64_t need = k, c = 0;
    for (int64_t i = 0; i < f && need > 0; i++)
        if ((int64_t)tg_rng_below(&r, (uint64_t)(f - i)) < need) {
            idx[c++] = i;
            need--;
        }
    return c;
}

/* TG_ERR_NUMERIC naming the first (row, column) of F that is NaN or Inf. */
static tg_status check_finite(const float *F, int64_t n, int64_t f, tg_error *err) {
    int64_t bad = n;
#pragma omp parallel for schedule(static) reduction(min : bad)
    for (int64_t i = 0; i < n; i++) {
        double s = 0; /* a sum of floats in double overflows never */
        const float *row = F + i * f;
        for (int64_t j = 0; j < f; j++) s += row[j];
        if (!isfinite(s) && i < bad) bad = i;
    }
    if (bad == n) return TG_OK;
    for (int64_t j = 0; j < f; j++) {
        float v = F[bad * f + j];
        if (!isfinite(v))
            return tg_error_set(err, TG_ERR_NUMERIC, "features: row %lld, column %lld is %s",
                                (long long)bad, (long long)j, isnan(v) ? "NaN" : "infinite");
    }
    TG_ASSERT(0);
    return TG_ERR_NUMERIC;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Means (c x k, double) of the rows of F (n x f, columns cols[0..k) or
 * all) per category, categories the distinct labels ascending. */
static tg_status category_means(const float *F, int64_t n, int64_t f, const int32_t *labels,
                                const int64_t *cols, int64_t k, double **means, int64_t *c,
                                tg_error *err) {
    *means = NULL;
    int32_t *cats = malloc(sizeof(int32_t) * (size_t)n);
    int64_t *which = malloc(sizeof(int64_t) * (size_t)n);
    if (!cats || !which) {
        free(cats);
        free(which);
        return tg_error_set(err, TG_ERR_NOMEM, "category RDM: no memory for %lld labels",
                            (long long)n);
    }
    memcpy(cats, labels, sizeof(int32_t) * (size_t)n);
    qsort(cats, (size_t)n, sizeof(int32_t), cmp_i32);
    int64_t nc = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || cats[i] != cats[nc - 1]) cats[nc++] = cats[i];
    if (nc < 3) {
        free(cats);
        free(which);
        return tg_error_set(err, TG_ERR_ARG,
                            "category RDM needs at least 3 categories, the labels have %lld",
                            (long long)nc);
    }
    double *sums = calloc((size_t)nc * (size_t)k, sizeof(double));
    int64_t *count = calloc((size_t)nc, sizeof(int64_t));
    if (!sums || !count) {
        free(cats), free(which), free(sums), free(count);
        return tg_error_set(err, TG_ERR_NOMEM, "category RDM: no memory for %lld x %lld means",
                            (long long)nc, (long long)k);
    }
    for (int64_t i = 0; i < n; i++) {
        const int32_t *p = bsearch(&labels[i], cats, (size_t)nc, sizeof(int32_t), cmp_i32);
        which[i] = p - cats;
        count[which[i]]++;
    }
    /* Threads own column blocks; each column adds the images in order. */
#pragma omp parallel for schedule(static)
    for (int64_t jb = 0; jb < k; jb += 256) {
        int64_t je = jb + 256 < k ? jb + 256 : k;
        for (int64_t i = 0; i < n; i++) {
            double *s = sums + which[i] * k;
            const float *row = F + i * f;
            if (cols)
                for (int64_t j = jb; j < je; j++) s[j] += row[cols[j]];
            else
                for (int64_t j = jb; j < je; j++) s[j] += row[j];
        }
    }
    for (int64_t ci = 0; ci < nc; ci++)
        for (int64_t j = 0; j < k; j++) sums[ci * k + j] /= (double)count[ci];
    free(cats), free(which), free(count);
    *means = sums;
    *c = nc;
    return TG_OK;
}

tg_status tg_rdm_compute(const float *F, int64_t n, int64_t f, const int32_t *labels,
                         tg_rdm_unit unit, int64_t max_features, uint64_t seed, double **rdm,
                         int64_t *m, tg_error *err) {
    if (rdm) *rdm = NULL;
    if (m) *m = 0;
    if (!F || !rdm || !m)
        return tg_error_set(err, TG_ERR_ARG, "tg_rdm_compute: NULL features or output");
    if (unit != TG_RDM_CATEGORY && unit != TG_RDM_IMAGE)
        return tg_error_set(err, TG_ERR_ARG, "tg_rdm_compute: unknown RDM unit %d", (int)unit);
    if (n < 1 || f < 1)
        return tg_error_set(err, TG_ERR_ARG, "RDM: features are %lld x %lld, need at least 1 x 1",
                            (long long)n, (long long)f);
    if (max_features < 0)
        return tg_error_set(err, TG_ERR_ARG, "RDM: max_features is %lld, must be >= 0 (0: all)",
                            (long long)max_features);
    if (unit == TG_RDM_CATEGORY && !labels)
        return tg_error_set(err, TG_ERR_ARG, "category RDM needs labels, none given");

    int64_t *cols = NULL, k = f;
    if (max_features > 0 && max_features < f) {
        cols = malloc(sizeof(int64_t) * (size_t)max_features);
        if (!cols) return tg_error_set(err, TG_ERR_NOMEM, "RDM: no memory for the subsample");
        k = tg_rsa_subsample(f, max_features, seed, cols);
    }
    /* Over all columns a NaN or Inf shows on the way (in a row's sum, or in
     * a category's), and is then looked for; a subsample skips values, and
     * whether a NaN is an error must not depend on the seed. */
    tg_status st = cols ? check_finite(F, n, f, err) : TG_OK;
    double *means = NULL;
    int64_t mm = n;
    if (st == TG_OK && unit == TG_RDM_CATEGORY) {
        st = category_means(F, n, f, labels, cols, k, &means, &mm, err);
        double s = 0;
        for (int64_t i = 0; st == TG_OK && i < mm * k; i++) s += means[i];
        if (st == TG_OK && !isfinite(s)) {
            st = check_finite(F, n, f, err);
            TG_ASSERT(st != TG_OK);
        }
    }
    double *out = NULL;
    if (st == TG_OK && mm < 2)
        st = tg_error_set(err, TG_ERR_ARG, "image RDM needs at least 2 images, got %lld",
                          (long long)mm);
    if (st == TG_OK) {
        out = tg_rsa_alloc(sizeof(double) * (size_t)mm * (size_t)mm);
        if (!out)
            st = tg_error_set(err, TG_ERR_NOMEM, "RDM: no memory for %lld x %lld", (long long)mm,
                              (long long)mm);
    }
    if (st == TG_OK)
        st = means ? tg_rsa_rdm_f64(means, mm, k, out, err)
                   : tg_rsa_rdm_f32(F, n, f, cols, k, out, err);
    free(means);
    free(cols);
    if (st != TG_OK) {
        free(out);
        return st;
    }
    *rdm = out;
    *m = mm;
    return TG_OK;
}
