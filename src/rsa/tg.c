/* tg.c - the teacher-guidance score (paper section 3.2): for each teacher
 * RDM the best-matching candidate RDM, and the mean of those best matches.
 *
 *   TG = (1/nt) sum_t max_s r(S_s, T_t)
 *
 * This file is the one place TG is reduced from similarities
 * (tg_tg_max_mean): tg_tg_score, the evaluator's record and `tgsage tg`
 * all go through it. Each RDM is checked once, with a message naming it
 * ("teacher RDM 2"). For Spearman and Kendall the teacher triangles are
 * flattened (and ranked) once and each candidate once, so nt x ns
 * comparisons cost nt + ns sorts for Spearman instead of 2 nt ns. Ties
 * between candidates go to the lowest index, so best[] follows any
 * reordering of distinct candidates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "rsa_internal.h"

/* Check RDM v and, for Spearman/Kendall, flatten (and rank) it into out. */
static tg_status prepare(const double *v, int64_t m, tg_sim_method method, const char *what,
                         double *out, tg_error *err) {
    tg_status st = tg_rsa_check(v, m, 1, what, err);
    if (st != TG_OK || method == TG_SIM_PEARSON) return st;
    tg_rsa_flatten(v, m, 1, out);
    return method == TG_SIM_SPEARMAN ? tg_rsa_ranks(out, tg_rsa_count(m, 1), out, err) : TG_OK;
}

static tg_status check_args(const double *const *T, int nt, const double *const *S, int ns,
                            int64_t m, tg_sim_method method, const void *out, tg_error *err) {
    if (!T || !S || !out)
        return tg_error_set(err, TG_ERR_ARG, "TG: NULL RDM list or output");
    if (nt < 1 || ns < 1)
        return tg_error_set(err, TG_ERR_ARG,
                            "TG needs at least 1 teacher and 1 candidate RDM, got %d and %d", nt,
                            ns);
    if (m < 3)
        return tg_error_set(err, TG_ERR_ARG, "TG: RDMs of %lld x %lld, need m >= 3", (long long)m,
                            (long long)m);
    if (method == TG_SIM_CKA)
        return tg_error_set(err, TG_ERR_ARG,
                            "TG over RDMs takes pearson, spearman or kendall, not cka");
    if (method != TG_SIM_PEARSON && method != TG_SIM_SPEARMAN && method != TG_SIM_KENDALL)
        return tg_error_set(err, TG_ERR_ARG, "TG: unknown similarity method %d", (int)method);
    for (int t = 0; t < nt; t++)
        if (!T[t]) return tg_error_set(err, TG_ERR_ARG, "TG: teacher RDM %d is NULL", t);
    for (int s = 0; s < ns; s++)
        if (!S[s]) return tg_error_set(err, TG_ERR_ARG, "TG: candidate RDM %d is NULL", s);
    return TG_OK;
}

tg_status tg_tg_similarities(const double *const *T, int nt, const double *const *S, int ns,
                             int64_t m, tg_sim_method method, double *sim, tg_error *err) {
    tg_status st = check_args(T, nt, S, ns, m, method, sim, err);
    if (st != TG_OK) return st;
    int64_t n = tg_rsa_count(m, 1);
    size_t flat = method == TG_SIM_PEARSON ? 0 : (size_t)n;
    double *tflat = flat ? tg_rsa_alloc(sizeof(double) * flat * (size_t)nt) : NULL;
    double *sflat = flat ? tg_rsa_alloc(sizeof(double) * flat) : NULL;
    if (flat && (!tflat || !sflat)) {
        free(tflat), free(sflat);
        return tg_error_set(err, TG_ERR_NOMEM, "TG: no memory for %d RDMs of %lld entries", nt + 1,
                            (long long)n);
    }
    char wt[48], ws[48];
    for (int t = 0; t < nt && st == TG_OK; t++) {
        snprintf(wt, sizeof wt, "teacher RDM %d", t);
        st = prepare(T[t], m, method, wt, tflat ? tflat + (size_t)t * flat : NULL, err);
    }
    for (int s = 0; s < ns && st == TG_OK; s++) {
        snprintf(ws, sizeof ws, "candidate RDM %d", s);
        st = prepare(S[s], m, method, ws, sflat, err);
        for (int t = 0; t < nt && st == TG_OK; t++) {
            double *r = &sim[(size_t)t * ns + s];
            snprintf(wt, sizeof wt, "teacher RDM %d", t);
            if (method == TG_SIM_PEARSON)
                st = tg_rsa_pearson(S[s], T[t], m, 1, ws, wt, r, err);
            else if (method == TG_SIM_SPEARMAN)
                st = tg_rsa_pearson(sflat, tflat + (size_t)t * flat, n, 0, ws, wt, r, err);
            else
                st = tg_rsa_kendall(sflat, tflat + (size_t)t * flat, n, r, err);
        }
    }
    free(tflat), free(sflat);
    return st;
}

tg_status tg_tg_max_mean(const double *sim, int nt, int ns, double *tg, int *best,
                         double *best_r, tg_error *err) {
    if (!sim || !tg) return tg_error_set(err, TG_ERR_ARG, "TG: NULL similarities or output");
    if (nt < 1 || ns < 1)
        return tg_error_set(err, TG_ERR_ARG,
                            "TG needs at least 1 teacher and 1 candidate layer, got %d and %d",
                            nt, ns);
    double sum = 0;
    for (int t = 0; t < nt; t++) {
        const double *row = sim + (size_t)t * ns;
        int b = 0;
        for (int s = 0; s < ns; s++) {
            if (!isfinite(row[s]))
                return tg_error_set(err, TG_ERR_NUMERIC, "TG: similarity of teacher layer %d "
                                    "and candidate layer %d is %g", t, s, row[s]);
            if (row[s] > row[b]) b = s;
        }
        if (best) best[t] = b;
        if (best_r) best_r[t] = row[b];
        sum += row[b];
    }
    *tg = sum / nt;
    return TG_OK;
}

tg_status tg_tg_score(const double *const *T, int nt, const double *const *S, int ns, int64_t m,
                      tg_sim_method method, double *tg, int *best, double *best_r, tg_error *err) {
    tg_status st = check_args(T, nt, S, ns, m, method, tg, err);
    if (st != TG_OK) return st;
    double *sim = malloc(sizeof(double) * (size_t)nt * (size_t)ns);
    if (!sim)
        return tg_error_set(err, TG_ERR_NOMEM, "TG: no memory for %d x %d similarities", nt, ns);
    st = tg_tg_similarities(T, nt, S, ns, m, method, sim, err);
    if (st == TG_OK) st = tg_tg_max_mean(sim, nt, ns, tg, best, best_r, err);
    free(sim);
    return st;
}
