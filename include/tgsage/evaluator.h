/* evaluator.h - premature accuracy and teacher guidance of a trained
 * candidate (paper sections 3.1-3.2): score = P + alpha * TG.
 *
 * The candidate's observed layers are its graph's named nodes (a layer-wise
 * genome's layers, a cell genome's cell outputs, the built-in nets' named
 * layers). One forward pass over the teacher's images, in batches, keeps
 * only a seeded subsample of at most max_features columns of each observed
 * layer, so the memory is images x max_features per layer, never every
 * activation of every layer. TG itself is reduced in src/rsa/tg.c
 * (tg_tg_max_mean), the one place it is computed. */
#ifndef TGSAGE_EVALUATOR_H
#define TGSAGE_EVALUATOR_H

#include "tgsage/dataset.h"
#include "tgsage/graph.h"
#include "tgsage/teacher.h"

/* RDMs of nodes[0..nn) of net over images[0..n) of d (NULL: the first n)
 * in evaluation mode, features subsampled per layer (seed mixed with the
 * layer's position). rdms[i] is malloc'd, m x m; on failure every rdms[i]
 * is NULL. */
tg_status tg_observe_rdms(tg_net *net, const int *nodes, int nn, const tg_dataset *d,
                          const int32_t *images, int64_t n, tg_rdm_unit unit,
                          int64_t max_features, uint64_t seed, double **rdms, int64_t *m,
                          tg_error *err);

/* The RDM of the raw images over the teacher's images (d is the
 * validation split they index, checked), as a network is fed them
 * (standardised per image), by the teacher's unit, its columns subsampled
 * as tg_observe_rdms subsamples a first layer (the teacher's max_features
 * and seed). What a candidate reaches against a teacher layer without
 * learning anything: TG's floor. *rdm is malloc'd, m x m. */
tg_status tg_pixel_rdm(const tg_dataset *d, const tg_teacher *t, double **rdm, int64_t *m,
                       tg_error *err);

/* The result of an evaluation, sized to its layers: the arrays point into
 * one allocation made by the call that fills the record; release it with
 * tg_eval_record_free (which zeroes the record; freeing a zeroed record is
 * a no-op). */
typedef struct {
    double p, val_loss;          /* premature accuracy and loss on the validation split */
    double tg, alpha, score;     /* score = p + alpha * tg */
    int nteacher, ncand;
    char (*teacher_layers)[64];  /* nteacher names */
    char (*cand_layers)[64];     /* ncand names */
    int *best;                   /* per teacher layer: the winning candidate layer */
    double *best_r;              /* and its r */
    double *sim;                 /* nteacher x ncand: sim[t * ncand + s] = r(teacher t,
                                  * candidate s) */
    int64_t crop;                /* k of rdm_crop (0: none kept) */
    double *rdm_crop;            /* ncand x k x k: the top-left k x k block of each
                                  * candidate RDM (tg_evaluate_candidate_crop) */
} tg_eval_record;

void tg_eval_record_free(tg_eval_record *rec);

/* TG of candidate RDMs S[0..ns) (each m x m, named names[s]) against the
 * teacher's RDMs: fills rec with the names, every similarity, the winners
 * and TG (p stays 0, score = alpha * tg). m must be the teacher's size
 * (TG_ERR_SHAPE naming both). */
tg_status tg_eval_rdms(const tg_teacher *t, const double *const *S, const char *const *names,
                       int ns, int64_t m, double alpha, tg_eval_record *rec, tg_error *err);

/* TG of the raw images (tg_pixel_rdm, one candidate layer named
 * "pixels") against teacher t: the floor of every teacher layer's r. */
tg_status tg_evaluate_pixels(const tg_dataset *val, const tg_teacher *t, tg_eval_record *rec,
                             tg_error *err);

/* Evaluate a trained net on the validation split `val` (which the teacher's
 * images index; checked) against teacher t: P on all of val, TG over the
 * net's named layers on the teacher's images. */
tg_status tg_evaluate_candidate(tg_net *net, const tg_dataset *val, const tg_teacher *t,
                                double alpha, tg_eval_record *rec, tg_error *err);

/* As tg_evaluate_candidate, also keeping the top-left k x k block of every
 * candidate RDM in rec->rdm_crop, k = min(crop, m) (rec->crop = k; crop 0
 * keeps none), for pictures of the RDMs (the report's heat maps). */
tg_status tg_evaluate_candidate_crop(tg_net *net, const tg_dataset *val, const tg_teacher *t,
                                     double alpha, int64_t crop, tg_eval_record *rec,
                                     tg_error *err);

#endif
