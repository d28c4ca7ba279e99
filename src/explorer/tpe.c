/* tpe.c - hyperopt's Tree of Parzen Estimators on categorical dimensions,
 * as the paper used it (hyperopt's tpe.py is the reference).
 *
 * The first cfg.tpe_startup proposals are random. After that, every
 * proposal splits all trials so far (tg_tpe_split): the n_good best told-ok
 * ones model l(x), every other trial g(x) - told-ok below them, failed, and
 * still pending, so parallel workers are not handed the same point again
 * (a pessimistic constant liar). Dimensions are then sampled in order, so a
 * condition is decided by the choices already made; an inactive dimension
 * is skipped. An active dimension's observations are the trials in which it
 * was active, in proposal order (as hyperopt sorts by trial id), so linear
 * forgetting weighs down the oldest proposals of each group. Its l and g
 * are the weighted counts plus a prior weight of 1 per choice; of
 * cfg.tpe_candidates draws from l the one with the largest l/g is kept.
 *
 * Where hyperopt differs: it gives pending and failed trials an infinite
 * loss but can still rank them among the best when fewer than n_good
 * results are in; here they are always in g. Everything the algorithm needs
 * is in the history, so it saves nothing of its own. */
#include <stdlib.h>
#include <string.h>

#include "explorer_internal.h"

/* One proposal's scratch: the split and one dimension's observations. */
typedef struct {
    unsigned char *good;
    int *vg, *vb, *cand;
    double *wg, *wb, *pl, *pg;
} tpe_work;

static void work_free(tpe_work *w) {
    free(w->good);
    free(w->vg);
    free(w->vb);
    free(w->cand);
    free(w->wg);
    free(w->wb);
    free(w->pl);
    free(w->pg);
}

static tg_status work_alloc(tpe_work *w, int64_t n, int kmax, int m, tg_error *err) {
    size_t nn = (size_t)(n > 0 ? n : 1);
    memset(w, 0, sizeof *w);
    w->good = malloc(nn);
    w->vg = malloc(nn * sizeof *w->vg);
    w->vb = malloc(nn * sizeof *w->vb);
    w->wg = malloc(nn * sizeof *w->wg);
    w->wb = malloc(nn * sizeof *w->wb);
    w->cand = malloc((size_t)m * sizeof *w->cand);
    w->pl = malloc((size_t)kmax * sizeof *w->pl);
    w->pg = malloc((size_t)kmax * sizeof *w->pg);
    if (!w->good || !w->vg || !w->vb || !w->wg || !w->wb || !w->cand || !w->pl || !w->pg) {
        work_free(w);
        return tg_error_set(err, TG_ERR_NOMEM, "tpe: out of memory for %lld trials",
                            (long long)n);
    }
    return TG_OK;
}

/* Dimension d's choice from its posteriors over the history. */
static int sample_dim(tg_explorer *e, tpe_work *w, int d, int k) {
    int64_t ng = 0, nb = 0;
    for (int64_t t = 0; t < e->n; t++) {
        int v = e->trials[t].x[d];
        if (v < 0) continue;   /* inactive in that trial: no observation */
        if (w->good[t]) w->vg[ng++] = v;
        else w->vb[nb++] = v;
    }
    tg_tpe_forget_weights(ng, e->cfg.tpe_forget, w->wg);
    tg_tpe_forget_weights(nb, e->cfg.tpe_forget, w->wb);
    tg_tpe_posterior(w->vg, w->wg, ng, k, TG_TPE_PRIOR, w->pl);
    tg_tpe_posterior(w->vb, w->wb, nb, k, TG_TPE_PRIOR, w->pg);
    int m = e->cfg.tpe_candidates;
    for (int i = 0; i < m; i++) w->cand[i] = tg_tpe_draw(w->pl, k, tg_rng_uniform_d(&e->rng));
    return tg_tpe_best(w->cand, m, w->pl, w->pg);
}

static tg_status tpe_propose(tg_explorer *e, int *x, tg_error *err) {
    if (e->n < e->cfg.tpe_startup) {
        tg_explorer_random_point(e, x);
        return TG_OK;
    }
    int kmax = 1;
    for (int d = 0; d < e->ndims; d++)
        if (tg_space_dim(e->space, d)->nchoices > kmax) kmax = tg_space_dim(e->space, d)->nchoices;
    tpe_work w;
    tg_status st = work_alloc(&w, e->n, kmax, e->cfg.tpe_candidates, err);
    if (st != TG_OK) return st;
    tg_tpe_split(e->trials, e->n, w.good);
    for (int d = 0; d < e->ndims; d++) {
        int k = tg_space_dim(e->space, d)->nchoices;
        if (!tg_space_active(e->space, x, d)) x[d] = -1;
        else if (k == 1) x[d] = 0;
        else x[d] = sample_dim(e, &w, d, k);
    }
    work_free(&w);
    return TG_OK;
}

const tg_algo tg_algo_tpe = {
    .name = "tpe",
    .propose = tpe_propose,
};
