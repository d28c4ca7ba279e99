/* rsa.h - representational similarity: RDMs, their similarity, linear CKA
 * and the teacher-guidance score TG (paper section 3.1-3.2).
 *
 * Features of one layer for n images are a matrix F (n x f), one flattened
 * activation per row. An RDM is computed on a seeded random subsample of at
 * most k columns, either per image (rows of F) or per category (the mean row
 * of each category, categories in ascending label order):
 *   RDM[i][j] = 1 - pearson(row_i, row_j),   RDM[i][i] = 0.
 * A row of zero variance has no defined correlation: its correlation with
 * every other row is taken as 0, so its dissimilarities are 1 (and its
 * diagonal entry 0). NaN or Inf in the features is an error.
 * Two RDMs are compared over their strict upper triangles by Pearson r
 * (the paper's choice, the default), Spearman rho (ranks with average ties)
 * or Kendall tau-a (tied pairs count as neither concordant nor discordant,
 * computed exactly in O(N log N)). Matrix products go through BLAS.
 *
 * Precision: means and norms are double, the Gram matrix of the scaled rows
 * is single precision (ssyrk), the RDM double: entries are within a few
 * 1e-7 of float64's (src/rsa/rdm.c says why and how much). Similarities,
 * CKA and TG are double throughout. Every status below is a tg_status
 * with a message in err; TG_ERR_ARG for out-of-range sizes or arguments,
 * TG_ERR_NUMERIC for NaN/Inf and for correlations that do not exist. */
#ifndef TGSAGE_RSA_H
#define TGSAGE_RSA_H

#include <stdint.h>

#include "tgsage/error.h"

typedef enum { TG_RDM_CATEGORY, TG_RDM_IMAGE } tg_rdm_unit;
typedef enum { TG_SIM_PEARSON, TG_SIM_SPEARMAN, TG_SIM_KENDALL, TG_SIM_CKA } tg_sim_method;

/* "category"/"image", "pearson"/"spearman"/"kendall"/"cka"; -1 if unknown. */
int tg_rdm_unit_parse(const char *s);
int tg_sim_method_parse(const char *s);
const char *tg_rdm_unit_name(tg_rdm_unit u);
const char *tg_sim_method_name(tg_sim_method m);

/* Seeded choice of min(k, f) of the f column indices, ascending, into idx
 * (room for min(k, f)); k <= 0 means all. Returns the count. */
int64_t tg_rsa_subsample(int64_t f, int64_t k, uint64_t seed, int64_t *idx);

/* RDM of the m rows of X (m x f, row-major, double precision result into
 * rdm, m x m). Needs m >= 2 and f >= 1 (else TG_ERR_ARG); a NaN or Inf is
 * TG_ERR_NUMERIC naming its row and column. */
tg_status tg_rdm_rows(const float *X, int64_t m, int64_t f, double *rdm, tg_error *err);

/* The whole recipe: subsample columns of F (n x f) to at most max_features
 * (seeded; 0 means all columns, negative is TG_ERR_ARG), average per
 * category if unit is CATEGORY (labels required then, at least 3
 * categories, else TG_ERR_ARG naming the count), and compute the RDM.
 * *rdm is allocated here (release it with free()), *m its size
 * (categories or images); on failure *rdm is NULL and *m 0. A NaN or Inf
 * anywhere in F (sampled or not) is TG_ERR_NUMERIC naming its row and
 * column. With max_features 0 or >= f every column is used, and the image
 * RDM equals tg_rdm_rows on F. */
tg_status tg_rdm_compute(const float *F, int64_t n, int64_t f, const int32_t *labels,
                         tg_rdm_unit unit, int64_t max_features, uint64_t seed,
                         double **rdm, int64_t *m, tg_error *err);

/* Similarity of two m x m RDMs over the strict upper triangle (m >= 3,
 * else TG_ERR_ARG), by Pearson, Spearman or Kendall tau-a (TG_SIM_CKA is
 * not an RDM measure: TG_ERR_ARG). A constant triangle, or a NaN or Inf in
 * it, gives TG_ERR_NUMERIC (the message names the RDM and the entry). The
 * result does not depend on the thread count. */
tg_status tg_rdm_similarity(const double *a, const double *b, int64_t m,
                            tg_sim_method method, double *r, tg_error *err);

/* The same measures on two plain vectors of n >= 2 entries (e.g. RDM
 * triangles already flattened), with the same errors. */
tg_status tg_sim_vectors(const double *a, const double *b, int64_t n,
                         tg_sim_method method, double *r, tg_error *err);

/* Linear CKA (Kornblith et al. 2019) of X (n x p) and Y (n x q), the same n
 * images in the same order: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)
 * with column-centred Xc, Yc, in double. n < 2 or p, q < 1 is TG_ERR_ARG;
 * a NaN or Inf (named by row and column), or a side whose columns are all
 * constant, TG_ERR_NUMERIC. */
tg_status tg_cka_linear(const float *X, int64_t p, const float *Y, int64_t q, int64_t n,
                        double *r, tg_error *err);

/* CKA computed from two m x m RDMs (m >= 3): the centred kernel alignment
 * of K = 1 - a and L = 1 - b, <HKH, HLH>_F / (||HKH||_F ||HLH||_F) with
 * H = I - 11^T/m. For RDMs of correlation distance, 1 - RDM is the Gram
 * matrix of the rows standardised (zero mean, unit norm), so this is linear
 * CKA of the row-standardised features (rows: images or category means),
 * available where only the RDMs are kept (a teacher file). A constant
 * kernel, a NaN/Inf, or an RDM constant over its upper triangle (which
 * tg_rdm_similarity refuses too: its kernel is I, whose alignment would
 * read like a finding) is TG_ERR_NUMERIC. */
tg_status tg_rdm_cka(const double *a, const double *b, int64_t m, double *r, tg_error *err);

/* TG of candidate RDMs S[0..ns) against teacher RDMs T[0..nt), all m x m:
 * TG = mean over t of max over s of r(S_s, T_t). best[t] (if not NULL)
 * receives the winning candidate index (the lowest among equal r) and
 * best_r[t] (if not NULL) its r. Needs nt, ns >= 1 and m >= 3, and a
 * method of tg_rdm_similarity (TG_SIM_CKA is TG_ERR_ARG: CKA needs the
 * features); errors as there, naming "teacher RDM t" / "candidate RDM s". */
tg_status tg_tg_score(const double *const *T, int nt, const double *const *S, int ns,
                      int64_t m, tg_sim_method method, double *tg, int *best, double *best_r,
                      tg_error *err);

/* The two halves of tg_tg_score, for callers that keep every similarity
 * (the evaluator's record): sim (nt x ns, row t) receives r(S_s, T_t) for
 * every pair, with the checks and errors of tg_tg_score ... */
tg_status tg_tg_similarities(const double *const *T, int nt, const double *const *S, int ns,
                             int64_t m, tg_sim_method method, double *sim, tg_error *err);
/* ... and TG is reduced from such a matrix: per teacher row the maximum
 * (the lowest candidate index among equal r) into best[t] and best_r[t]
 * (either may be NULL), and their mean into *tg. Needs nt, ns >= 1 and
 * finite entries (else TG_ERR_ARG / TG_ERR_NUMERIC naming the entry). */
tg_status tg_tg_max_mean(const double *sim, int nt, int ns, double *tg, int *best,
                         double *best_r, tg_error *err);

#endif
