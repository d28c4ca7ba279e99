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

#endif
