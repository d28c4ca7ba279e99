/* analysis.h - which early signal predicts mature accuracy (paper section
 * 4.1, Figure 2; the supplement's Figure 4), from a pool study's trials.
 *
 * A pool (tgsage pool) trains each network to a mature budget and records,
 * at each premature point, P, P with batch-norm statistics recomputed
 * (P_bn) and the similarity of every candidate layer to every layer of
 * every teacher of the study by every comparison (docs/formats.md, "pool
 * points"). The analysis correlates, over the networks that completed,
 * each predictor at each point with the mature accuracy (the trial's p):
 *   p, p_bn                      the premature accuracies
 *   layer  (teacher, method, L)  max over candidate layers of r with layer L
 *   tg     (teacher, method)     the mean of those over L (the paper's TG)
 *   tg_z   (teacher, method)     TG standardised over the pool at that point
 *   p+tg, p_bn+tg, p+tg_z (teacher, method, alpha)  for every alpha of the sweep
 * Pearson r and Spearman rho, each with a percentile bootstrap 95% interval
 * (networks resampled with replacement, seeded).
 *
 * Missing values. A null similarity (a constant RDM) is skipped in the max
 * over candidate layers; a teacher layer with no similarity left has no
 * `layer` value, and TG (the mean over every teacher layer) then has none
 * either, so the network is left out of that predictor (and of the ones
 * built on it) only: each predictor has its own n. tg_z is (TG - mean) / sd
 * over the networks that have TG at that point (sd with n - 1), computed
 * once: the resamples reuse those values.
 *
 * The bootstrap, exactly (tests/analysis_check.py repeats it): for one
 * predictor of n values, a generator seeded tg_rng_seed(&r, seed) draws
 * `boot` resamples one after another, each n indices tg_rng_below(&r, n);
 * a resample whose correlation does not exist (constant) is dropped; the
 * interval is the 2.5 and 97.5 percentiles of the rest, linearly
 * interpolated (numpy's default). Every predictor starts from the same
 * seed, so two predictors over the same networks see the same resamples:
 * their intervals are paired. */
#ifndef TGSAGE_ANALYSIS_H
#define TGSAGE_ANALYSIS_H

#include <stdint.h>

#include "tgsage/error.h"
#include "tgsage/rng.h"
#include "tgsage/tracker.h"

#define TG_ANALYSIS_MAX_ALPHAS 32

typedef struct {
    int boot;                 /* bootstrap resamples [1000]; 0: no intervals (NaN) */
    uint64_t seed;            /* of the resamples [0] */
    double alpha[TG_ANALYSIS_MAX_ALPHAS];  /* the sweep [0, 0.1, 0.25, 0.5, 1, 2, 4, 8] */
    int nalpha;
} tg_analysis_config;
void tg_analysis_config_defaults(tg_analysis_config *c);

typedef struct {
    double r, lo, hi;         /* estimate, bootstrap 95% interval; NaN when undefined
                               * (fewer than 3 networks, a constant predictor) */
} tg_corr;

typedef struct {
    char kind[16];            /* p, p_bn, layer, tg, tg_z, p+tg, p_bn+tg, p+tg_z */
    int teacher;              /* teacher position; -1 for p, p_bn */
    char method[16];          /* pearson, spearman, kendall, cka; "" for p, p_bn */
    char layer[64];           /* the teacher layer of kind "layer", else "" */
    double alpha;             /* of the p+... kinds, NaN otherwise */
    int64_t n;                /* networks with a value of this predictor */
    tg_corr pearson, spearman;
    double mean, sd, min, max;  /* of the predictor over those networks (sd: n - 1);
                                 * NaN when n = 0 (sd: n < 2) */
} tg_predictor;

/* The predictors of every point, in this order: p, p_bn; then per teacher
 * (by position) and method (pearson, spearman, kendall, cka): one `layer`
 * per teacher layer, tg, tg_z, then p+tg for every alpha, p_bn+tg for
 * every alpha, p+tg_z for every alpha (the sweep in the config's order). */
typedef struct {
    double at;                /* epochs */
    int premature;            /* 0 for the end (at = mature_epochs: there p is the
                               * mature accuracy itself) */
    int64_t n;                /* networks with this point and a mature accuracy */
    int npred;
    tg_predictor *pred;
    int best;                 /* index of the highest Spearman rho (-1 if none;
                               * ties: the lowest index) */
    int best_tg;              /* the same among predictors that use TG (layer, tg,
                               * tg_z, and the p+... kinds with alpha != 0) */
    int best_mix;             /* the same among p+tg, p_bn+tg, p+tg_z (any alpha) */
    /* Spearman of pred[best_tg] minus Spearman of p over the networks that
     * have both, with a paired bootstrap interval (the same resample of
     * networks for both; generator as above). best_tg was chosen on these
     * same networks, so the interval is optimistic. NaN if best_tg < 0. */
    tg_corr gain;
    /* per network (n), for scatter plots: its trial number, mature accuracy,
     * P, and TG of teacher 0 by its own comparison method (NaN if none) */
    int64_t *number;
    double *mature, *p, *tg;
} tg_analysis_point;

typedef struct {
    int position;
    char name[128];
    char unit[16];            /* category, image */
    char method[16];          /* the teacher file's own comparison */
    int nlayers;
    char (*layers)[64];
} tg_analysis_teacher;

typedef struct {
    char study[128];
    double mature_epochs;
    int boot;                 /* the config it was run with */
    uint64_t seed;
    int nalpha;
    double alpha[TG_ANALYSIS_MAX_ALPHAS];
    int64_t networks;         /* complete trials of the pool */
    int64_t *number;          /* their trial numbers (networks) */
    double *mature;           /* and mature accuracies */
    int nteachers;
    tg_analysis_teacher *teachers;
    int npoints;              /* the study's premature points (cfg.at), then the end */
    tg_analysis_point *points;
} tg_analysis;

/* Analyse pool study `study` (TG_ERR_ARG if its algo is not "pool"; a pool
 * with fewer than 3 complete networks gives NaN correlations, not an
 * error). A trial's points JSON that does not parse, or names a teacher
 * layer in another order than the teacher file, is TG_ERR_FORMAT naming
 * the trial. *out is zeroed on failure. */
tg_status tg_analysis_run(tg_tracker *t, int64_t study, const tg_analysis_config *c,
                          tg_analysis *out, tg_error *err);
void tg_analysis_free(tg_analysis *a);
/* The whole analysis as JSON (malloc'd; NaN as null; NULL when out of
 * memory):
 *   {"study", "mature_epochs", "networks", "boot", "seed" (a string: 64 bits),
 *    "alpha": [...], "number": [...], "mature": [...],
 *    "teachers": [{"position", "name", "unit", "method", "layers": [...]}],
 *    "points": [{"at", "premature", "n", "best", "best_tg", "best_mix" (predictor
 *                indices or null), "gain": {"r", "lo", "hi"},
 *                "number", "mature", "p", "tg": [per network],
 *                "predictors": [{"kind", "teacher", "method", "layer", "alpha"
 *                               (null where they do not apply), "n",
 *                               "pearson": {"r", "lo", "hi"}, "spearman": {...},
 *                               "mean", "sd", "min", "max"}]}]}
 * and as CSV (RFC 4180, CRLF; one row per point and predictor, header
 * first: at, kind, teacher (position), method, layer, alpha, n, pearson,
 * pearson_lo, pearson_hi, spearman, spearman_lo, spearman_hi, mean, sd,
 * min, max; empty where NaN or not applicable) written atomically. */
char *tg_analysis_json(const tg_analysis *a);
tg_status tg_analysis_csv(const tg_analysis *a, const char *path, tg_error *err);

/* ---- the statistics (stats.c), on plain arrays --------------------------- */

/* Pearson r and Spearman rho (Pearson of average ranks) of x and y (n);
 * NaN when n < 3 or either side is constant. */
double tg_stat_pearson(const double *x, const double *y, int64_t n);
double tg_stat_spearman(const double *x, const double *y, int64_t n);
/* Average ranks (1-based; ties share the mean of their ranks) of x into r. */
void tg_stat_ranks(const double *x, int64_t n, double *r);
/* The q-quantile (0 <= q <= 1) of v (n >= 1, sorted ascending), linearly
 * interpolated between order statistics (numpy's default percentile). */
double tg_stat_quantile(const double *sorted, int64_t n, double q);
/* Pearson and Spearman of (x, y) with percentile bootstrap 95% intervals
 * (the procedure of this file's opening comment; boot 0: estimates only).
 * Either output may be NULL. */
tg_status tg_stat_corr_boot(const double *x, const double *y, int64_t n, int boot,
                            uint64_t seed, tg_corr *pearson, tg_corr *spearman,
                            tg_error *err);
/* Spearman(a, y) - Spearman(b, y) with the paired bootstrap interval. */
tg_status tg_stat_spearman_gain_boot(const double *a, const double *b, const double *y,
                                     int64_t n, int boot, uint64_t seed, tg_corr *gain,
                                     tg_error *err);

#endif
