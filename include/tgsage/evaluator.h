/* evaluator.h - premature accuracy and teacher guidance of a trained
 * candidate (paper sections 3.1-3.2): score = P + alpha * TG.
 *
 * The candidate's observed layers are its graph's named nodes (a layer-wise
 * genome's layers, a cell genome's cell outputs, the built-in nets' named
 * layers). One forward pass over the teacher's images, in batches, keeps
 * only a seeded subsample of at most max_features columns of each observed
 * layer, so the memory is images x max_features per layer, never every
 * activation of every layer. */
#ifndef TGSAGE_EVALUATOR_H
#define TGSAGE_EVALUATOR_H

#include "tgsage/dataset.h"
#include "tgsage/graph.h"
#include "tgsage/teacher.h"

#define TG_EVAL_MAX_LAYERS 64

/* RDMs of nodes[0..nn) of net over images[0..n) of d (evaluation mode),
 * features subsampled per layer (seed mixed with the layer's position).
 * rdms[i] is malloc'd, m x m. */
tg_status tg_observe_rdms(tg_net *net, const int *nodes, int nn, const tg_dataset *d,
                          const int32_t *images, int64_t n, tg_rdm_unit unit,
                          int64_t max_features, uint64_t seed, double **rdms, int64_t *m,
                          tg_error *err);

typedef struct {
    double p, val_loss;          /* premature accuracy and loss on the validation split */
    double tg, alpha, score;     /* score = p + alpha * tg */
    int nteacher, ncand;
    char teacher_layers[TG_EVAL_MAX_LAYERS][64];
    char cand_layers[TG_EVAL_MAX_LAYERS][64];
    int best[TG_EVAL_MAX_LAYERS];        /* per teacher layer: the winning candidate layer */
    double best_r[TG_EVAL_MAX_LAYERS];   /* and its r */
    double sim[TG_EVAL_MAX_LAYERS][TG_EVAL_MAX_LAYERS];  /* r(teacher t, candidate s) */
} tg_eval_record;

/* Evaluate a trained net on the validation split `val` (which the teacher's
 * images index; checked) against teacher t. */
tg_status tg_evaluate_candidate(tg_net *net, const tg_dataset *val, const tg_teacher *t,
                                double alpha, tg_eval_record *rec, tg_error *err);

#endif
