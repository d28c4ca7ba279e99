/* explorer.h - the search algorithms (the paper's explorer): propose
 * points of a space, learn from their scores.
 *
 * One interface for every algorithm: propose a candidate (it stays pending
 * until told), tell its result (a score, higher is better, or a failure) in
 * any order, save and load the whole state. Seeded: the same seed and the
 * same results told in the same order give the same proposals, and a state
 * saved and loaded continues exactly as if it had never stopped.
 *
 *   random     each choice uniform (each possible connection present with
 *              p = 0.5)
 *   tpe        hyperopt's Tree of Parzen Estimators as the paper used it;
 *              pending candidates count as bad results (constant liar)
 *   rl         the paper's LSTM controller trained with REINFORCE
 *   evolution  aging (regularized) evolution, Real et al. 2019
 *
 * The explorer works on choice vectors (space.h); tg_space_decode turns a
 * proposal into a genome. It knows nothing of graphs, tensors or the
 * database: the tracker stores its saved state beside the trials. */
#ifndef TGSAGE_EXPLORER_H
#define TGSAGE_EXPLORER_H

#include <stdint.h>

#include "tgsage/error.h"
#include "tgsage/space.h"

typedef struct tg_explorer tg_explorer;

typedef struct {
    char algo[16];              /* random, tpe, rl, evolution */
    uint64_t seed;
    /* tpe (0: the defaults of hyperopt / the paper) */
    int tpe_startup;            /* random start-up trials [20] */
    int tpe_candidates;         /* EI candidates drawn from l(x) [24] */
    int tpe_forget;             /* newest trials at full weight [25] */
    /* rl */
    int rl_batch;               /* architectures per update [5] */
    int rl_hidden;              /* LSTM units [32] */
    double rl_lr;               /* Adam learning rate [1e-3] */
    double rl_baseline_decay;   /* moving-average baseline [0.95] */
    /* evolution */
    int evo_population;         /* [20] */
    int evo_sample;             /* tournament size [5] */
} tg_explorer_config;

/* Defaults for algo (TG_ERR_ARG for an unknown name). */
tg_status tg_explorer_defaults(const char *algo, tg_explorer_config *c, tg_error *err);
const char *tg_explorer_algorithms(void);   /* "random, tpe, rl, evolution" */

/* The space must outlive the explorer. A zero in any numeric field of c
 * takes that field's default (tg_explorer_defaults); every other value is
 * range-checked (TG_ERR_ARG naming the field). */
tg_explorer *tg_explorer_new(const tg_space *s, const tg_explorer_config *c,
                             tg_error *err);
void tg_explorer_free(tg_explorer *e);

/* Propose a point into x[tg_space_ndims] (inactive entries -1); *id is its
 * number (0, 1, 2, ... in proposal order). It is pending until told. */
tg_status tg_explorer_propose(tg_explorer *e, int64_t *id, int *x, tg_error *err);
/* The result of proposal id: ok != 0 with its score, or ok == 0 for a failed
 * candidate. TG_ERR_ARG for an unknown or already told id, or a score that
 * is not finite. */
tg_status tg_explorer_tell(tg_explorer *e, int64_t id, int ok, double score,
                           tg_error *err);

int64_t tg_explorer_proposed(const tg_explorer *e);
/* The settings it runs with, defaults resolved. */
const tg_explorer_config *tg_explorer_settings(const tg_explorer *e);
int64_t tg_explorer_told(const tg_explorer *e);
/* 1 when proposal id was proposed and not told yet, else 0 (the search
 * loop catches up on pending proposals after loading a saved state). */
int tg_explorer_pending(const tg_explorer *e, int64_t id);

/* The whole state as JSON text (malloc'd; doubles written so that they read
 * back exactly). */
char *tg_explorer_save(const tg_explorer *e, tg_error *err);
/* An explorer continuing from a saved state; the space must be the one the
 * state was saved with (checked by its spec). */
tg_explorer *tg_explorer_load(const tg_space *s, const char *state, tg_error *err);

#endif
