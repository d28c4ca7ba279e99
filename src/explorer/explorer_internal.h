/* explorer_internal.h - what explorer.c shares with each algorithm.
 *
 * explorer.c owns the common state: the space, the seed's RNG, every
 * proposal (its point and whether and how it was told), and the save/load
 * of all of it. An algorithm is a table of functions with a private state;
 * it sees the history through the tg_explorer fields below. */
#ifndef TGSAGE_EXPLORER_INTERNAL_H
#define TGSAGE_EXPLORER_INTERNAL_H

#include <cjson/cJSON.h>

#include "tgsage/explorer.h"
#include "tgsage/rng.h"

typedef enum { TG_TRIAL_PENDING, TG_TRIAL_OK, TG_TRIAL_FAILED } tg_trial_state;

typedef struct {
    int *x;                  /* the point, ndims entries */
    tg_trial_state state;
    double score;            /* when OK */
    int64_t told_order;      /* 0, 1, ... in the order results arrived; -1 pending */
} tg_trial;

typedef struct tg_algo tg_algo;

struct tg_explorer {
    const tg_space *space;
    int ndims;
    tg_explorer_config cfg;
    tg_rng rng;
    tg_trial *trials;        /* trials[id] */
    int64_t n, cap;          /* proposed */
    int64_t ntold;
    const tg_algo *algo;
    void *st;                /* the algorithm's own state */
};

struct tg_algo {
    const char *name;
    /* allocate the algorithm's state into e->st */
    tg_status (*init)(tg_explorer *e, tg_error *err);
    void (*free)(tg_explorer *e);
    /* write a new point into x; the trial is added by explorer.c after */
    tg_status (*propose)(tg_explorer *e, int *x, tg_error *err);
    /* called after trials[id] was told (state and score set) */
    tg_status (*tell)(tg_explorer *e, int64_t id, tg_error *err);
    /* the algorithm's own state in/out of the saved JSON (NULL: nothing to
     * save beyond the history) */
    tg_status (*save)(const tg_explorer *e, cJSON *into, tg_error *err);
    tg_status (*load)(tg_explorer *e, const cJSON *from, tg_error *err);
};

extern const tg_algo tg_algo_random;
extern const tg_algo tg_algo_tpe;
extern const tg_algo tg_algo_rl;
extern const tg_algo tg_algo_evolution;

/* A uniform point of the space (each active dimension uniform), drawn from
 * e->rng: random search, and the start-up of TPE. */
void tg_explorer_random_point(tg_explorer *e, int *x);

/* ---- Additions (explorer engineer): nothing above is changed. ----
 *
 * The order of calls: tg_explorer_new resolves the configuration (zeros
 * become the defaults of tg_explorer_defaults), seeds e->rng with cfg.seed,
 * then calls init. tg_explorer_load does the same with the saved
 * configuration, then overwrites e->rng with the saved words and restores
 * every trial and e->ntold, and only then calls load with the saved
 * "algo_state" object (whatever save put into it). So init may draw from
 * e->rng (e.g. initial weights) and load may read the history. propose is
 * called with e->n the number of earlier proposals (the new one is not in
 * e->trials yet) and x all -1; explorer.c sets x[i] = -1 wherever dimension
 * i is inactive afterwards. init, free, tell, save and load may be NULL. */

/* A JSON number that reads back bit for bit (cJSON's own printer can lose
 * the last bit of a double; floats are safe either way). For doubles in an
 * algorithm's saved state. Non-finite values become null. */
cJSON *tg_explorer_json_number(double d);

/* TPE's model (tpe_model.c): small pure functions, each following hyperopt's
 * tpe.py, tested by hand in tests/test_tpe.c. */
#define TG_TPE_GAMMA 0.25      /* n_good = ceil(gamma * sqrt(N)) ... */
#define TG_TPE_GOOD_CAP 25     /* ... at most this many */
#define TG_TPE_PRIOR 1.0       /* prior weight per choice */

/* n_good of N trials: min(ceil(0.25 * sqrt(N)), 25). */
int64_t tg_tpe_ngood(int64_t n);
/* hyperopt's linear_forgetting_weights: weights w[0..n) of n observations,
 * oldest first: all 1 when n < lf; else the oldest n - lf ramp linearly
 * (numpy's linspace) from 1/n to 1 and the newest lf weigh 1. */
void tg_tpe_forget_weights(int64_t n, int lf, double *w);
/* The split of trials t[0..n) (proposal order): good[i] = 1 for the best
 * min(tg_tpe_ngood(n), told-ok) told-ok trials (highest score; among equal
 * scores the earlier proposal), 0 for every other trial - told-ok below
 * them, failed and pending alike (the constant liar). Returns how many are
 * good. */
int64_t tg_tpe_split(const tg_trial *t, int64_t n, unsigned char *good);
/* Categorical posterior p[0..k) of observations v[0..n) (choices in
 * [0, k)) with weights w[0..n): p[c] = (prior + sum of w[i] over v[i] == c)
 * normalised to sum 1 (hyperopt: pseudocounts = counts + prior_weight). */
void tg_tpe_posterior(const int *v, const double *w, int64_t n, int k, double prior,
                      double *p);
/* A draw from p[0..k) by one uniform u in [0, 1): the first c whose
 * cumulative probability exceeds u. */
int tg_tpe_draw(const double *p, int k, double u);
/* Of the candidates cand[0..m), the one with the largest l[c] / g[c]; the
 * first drawn wins ties (numpy's argmax). */
int tg_tpe_best(const int *cand, int m, const double *l, const double *g);

#endif
