/* tpe_model.c - the pieces of hyperopt's TPE for categorical dimensions:
 * the good/bad split, linear forgetting, the posteriors with their prior
 * pseudocounts, and the choice among candidates by l(x)/g(x). Each is a
 * small pure function (see explorer_internal.h), so that tests can hold it
 * to a case computed by hand; tpe.c strings them together. No product here
 * feeds a sum, so a compiler's fused multiply-adds cannot change a result:
 * Release and Debug builds propose the same points. */
#include <math.h>

#include "explorer_internal.h"

int64_t tg_tpe_ngood(int64_t n) {
    int64_t g = (int64_t)ceil(TG_TPE_GAMMA * sqrt((double)n));
    return g < TG_TPE_GOOD_CAP ? g : TG_TPE_GOOD_CAP;
}

void tg_tpe_forget_weights(int64_t n, int lf, double *w) {
    int64_t nramp = n - lf;
    if (nramp <= 0) {
        for (int64_t i = 0; i < n; i++) w[i] = 1.0;
        return;
    }
    /* numpy.linspace(1/n, 1, num=nramp): 1/n + i (1 - 1/n) / (nramp - 1),
     * written as one quotient of integers, (nramp - 1 + i (n - 1)) /
     * (n (nramp - 1)), so each weight is correctly rounded and no build
     * (fused multiply-add or not) rounds it differently; the last is 1
     * exactly. A single point is the start. */
    if (nramp == 1) {
        w[0] = 1.0 / (double)n;
    } else {
        double den = (double)(n * (nramp - 1));
        for (int64_t i = 0; i < nramp; i++) w[i] = (double)(nramp - 1 + i * (n - 1)) / den;
    }
    for (int64_t i = nramp; i < n; i++) w[i] = 1.0;
}

/* a better than b: higher score, then the earlier proposal */
static int better(const tg_trial *t, int64_t a, int64_t b) {
    return t[a].score > t[b].score || (t[a].score == t[b].score && a < b);
}

int64_t tg_tpe_split(const tg_trial *t, int64_t n, unsigned char *good) {
    int64_t want = tg_tpe_ngood(n), top[TG_TPE_GOOD_CAP], m = 0;
    if (want == 0) return 0;   /* no trial at all */
    /* the best `want` by insertion into a short sorted list (want <= 25) */
    for (int64_t i = 0; i < n; i++) {
        good[i] = 0;
        if (t[i].state != TG_TRIAL_OK) continue;
        if (m == want && !better(t, i, top[m - 1])) continue;
        int64_t j = m < want ? m++ : m - 1;
        while (j > 0 && better(t, i, top[j - 1])) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = i;
    }
    for (int64_t j = 0; j < m; j++) good[top[j]] = 1;
    return m;
}

void tg_tpe_posterior(const int *v, const double *w, int64_t n, int k, double prior,
                      double *p) {
    for (int c = 0; c < k; c++) p[c] = prior;
    for (int64_t i = 0; i < n; i++) p[v[i]] += w[i];
    double sum = 0;
    for (int c = 0; c < k; c++) sum += p[c];
    for (int c = 0; c < k; c++) p[c] /= sum;
}

int tg_tpe_draw(const double *p, int k, double u) {
    double cum = 0;
    int last = 0;
    for (int c = 0; c < k; c++) {
        if (p[c] <= 0) continue;
        cum += p[c];
        last = c;
        if (u < cum) return c;
    }
    return last;   /* u beyond the rounded total */
}

int tg_tpe_best(const int *cand, int m, const double *l, const double *g) {
    int best = cand[0];
    double br = l[best] / g[best];
    for (int i = 1; i < m; i++) {
        double r = l[cand[i]] / g[cand[i]];
        if (r > br) {
            br = r;
            best = cand[i];
        }
    }
    return best;
}
