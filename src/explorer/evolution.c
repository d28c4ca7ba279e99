/* evolution.c - aging (regularized) evolution, Real et al. 2019, as NNI
 * runs it.
 *
 * The first cfg.evo_population proposals are random. After that the
 * population is the newest evo_population told-ok trials (in the order
 * their results arrived), so each new result ages the oldest member out,
 * and failed trials never enter it. A proposal samples evo_sample members
 * uniformly with replacement (Real et al.'s pseudo-code), the best of them
 * (the first drawn among equal scores) is the parent, and the child changes
 * one active dimension of it, chosen uniformly, to a different choice,
 * chosen uniformly. When that change switches dimensions on (more layers),
 * they get uniform choices; dimensions it switches off are dropped. With
 * trials pending, proposals go on from the population as it is; with no
 * told-ok trial at all they are random. The population is a function of the
 * history, so nothing of the algorithm's own is saved. */
#include <stdlib.h>
#include <string.h>

#include "explorer_internal.h"

/* The newest up to `want` told-ok trials into pop (newest first); returns
 * how many. order[] is scratch of e->ntold entries. */
static int64_t population(const tg_explorer *e, int64_t want, int64_t *order, int64_t *pop) {
    for (int64_t q = 0; q < e->ntold; q++) order[q] = -1;
    for (int64_t i = 0; i < e->n; i++)
        if (e->trials[i].state == TG_TRIAL_OK) order[e->trials[i].told_order] = i;
    int64_t m = 0;
    for (int64_t q = e->ntold - 1; q >= 0 && m < want; q--)
        if (order[q] >= 0) pop[m++] = order[q];
    return m;
}

/* Change one active dimension of x (not a forced one) to another choice and
 * complete the dimensions that the change switches on or off. */
static void mutate(tg_explorer *e, int *x) {
    int nmut = 0;
    for (int d = 0; d < e->ndims; d++)
        if (x[d] >= 0 && tg_space_dim(e->space, d)->nchoices > 1) nmut++;
    if (nmut == 0) return;   /* every choice forced: the parent is all there is */
    int pick = (int)tg_rng_below(&e->rng, (uint64_t)nmut), m = -1;
    for (int d = 0; d < e->ndims && m < 0; d++)
        if (x[d] >= 0 && tg_space_dim(e->space, d)->nchoices > 1 && pick-- == 0) m = d;
    int k = tg_space_dim(e->space, m)->nchoices;
    int v = (int)tg_rng_below(&e->rng, (uint64_t)(k - 1));
    x[m] = v >= x[m] ? v + 1 : v;
    for (int d = m + 1; d < e->ndims; d++) {
        if (!tg_space_active(e->space, x, d)) {
            x[d] = -1;
        } else if (x[d] < 0) {
            int kd = tg_space_dim(e->space, d)->nchoices;
            x[d] = kd > 1 ? (int)tg_rng_below(&e->rng, (uint64_t)kd) : 0;
        }
    }
}

static tg_status evo_propose(tg_explorer *e, int *x, tg_error *err) {
    int64_t want = e->cfg.evo_population;
    if (e->n < want) {
        tg_explorer_random_point(e, x);
        return TG_OK;
    }
    int64_t *order = malloc((size_t)(e->ntold + 1) * sizeof *order);
    int64_t *pop = malloc((size_t)want * sizeof *pop);
    if (!order || !pop) {
        free(order);
        free(pop);
        return tg_error_set(err, TG_ERR_NOMEM, "evolution: out of memory");
    }
    int64_t np = population(e, want, order, pop);
    if (np == 0) {
        tg_explorer_random_point(e, x);
    } else {
        int64_t parent = -1;
        for (int s = 0; s < e->cfg.evo_sample; s++) {
            int64_t c = pop[tg_rng_below(&e->rng, (uint64_t)np)];
            if (parent < 0 || e->trials[c].score > e->trials[parent].score) parent = c;
        }
        memcpy(x, e->trials[parent].x, (size_t)e->ndims * sizeof *x);
        mutate(e, x);
    }
    free(order);
    free(pop);
    return TG_OK;
}

const tg_algo tg_algo_evolution = {
    .name = "evolution",
    .propose = evo_propose,
};
