/* trainer.h - training a compiled net on in-memory data for a budget.
 *
 * This is the minimal trainer the engine's tests and the first `tgsage
 * train` need: SGD-family updates on shuffled mini-batches of standardised
 * images, a learning-rate schedule over (fractional) epochs, evaluation on a
 * held-out set. */
#ifndef TGSAGE_TRAINER_H
#define TGSAGE_TRAINER_H

#include <stdint.h>

#include "tgsage/graph.h"
#include "tgsage/optim.h"
#include "tgsage/rng.h"

typedef struct {
    const float *x;        /* (n, c, h, w) */
    const int32_t *y;      /* (n) */
    int64_t n;
    int c, h, w;
} tg_tensor_set;

typedef struct {
    double epoch;          /* progress, in (fractional) epochs */
    long step;
    double loss;           /* mean training loss of the last batch */
    double acc;            /* training accuracy of the last batch */
    double img_s;          /* images per second so far */
} tg_train_progress;

/* Called after every step; return non-zero to stop early. */
typedef int (*tg_train_callback)(const tg_train_progress *p, void *user);

typedef struct {
    double epochs;         /* may be fractional: 0.25 is a quarter epoch */
    tg_lr_schedule lr;
    tg_train_callback on_step;
    void *user;
} tg_train_config;

/* Train net for cfg->epochs over data with optimizer o; rng shuffles.
 * Returns TG_ERR_NUMERIC (with the step named) if the loss stops being
 * finite: the net is then not usable. `last` gets the final progress. */
tg_status tg_train(tg_net *net, tg_optim *o, const tg_train_config *cfg,
                   const tg_tensor_set *data, tg_rng *rng,
                   tg_train_progress *last, tg_error *err);

/* Accuracy and mean loss of net in evaluation mode over data. */
tg_status tg_evaluate(tg_net *net, const tg_tensor_set *data, double *acc,
                      double *loss, tg_error *err);

#endif
