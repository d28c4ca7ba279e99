/* analysis_internal.h - what analysis.c, predict.c and analysis_json.c
 * share: the raw values of one network at one point, laid out in slots.
 *
 * Slot 0 is P, slot 1 P_bn, then per teacher t (by position), method m
 * (tg_sim_method order) and teacher layer L the max over candidate layers
 * of r(L, candidate): slot slot0[t] + m * nlayers_t + L. NaN is missing. */
#ifndef TG_ANALYSIS_INTERNAL_H
#define TG_ANALYSIS_INTERNAL_H

#include "tgsage/analysis.h"

#define TG_AN_NMETHODS 4   /* pearson, spearman, kendall, cka */

typedef struct {
    int nslot;
    int *slot0;            /* per teacher */
} tg_an_layout;

tg_status tg_an_layout_init(tg_an_layout *l, const tg_analysis *a, tg_error *err);
void tg_an_layout_free(tg_an_layout *l);

/* Parse trial `number`'s points JSON into rows (npoints x nslot; every
 * slot NaN first) and present[k] (1 when the trial has point k). */
tg_status tg_an_parse_points(const char *json, int64_t number, const tg_analysis *a,
                             const tg_an_layout *l, double *rows, int *present,
                             tg_error *err);

/* Point k's predictors from raw (pt->n x nslot rows, network i's mature
 * accuracy pt->mature[i]): fills pt->pred, npred, best*, gain, pt->tg. */
tg_status tg_an_predict(const tg_analysis *a, const tg_an_layout *l, const double *raw,
                        const tg_analysis_config *c, tg_analysis_point *pt, tg_error *err);

#endif
