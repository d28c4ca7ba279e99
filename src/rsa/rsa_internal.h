/* rsa_internal.h - helpers shared by the files of src/rsa/ (not installed).
 *
 * RDMs come out of rdm.c; the similarity measures share the pair sort and
 * inversion count of kendall.c and the checks and Pearson loop of
 * similarity.c, which tg.c reuses to prepare each teacher RDM once. */
#ifndef TGSAGE_RSA_INTERNAL_H
#define TGSAGE_RSA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/rsa.h"

/* ---- rdm.c ---- */

/* malloc for buffers that may be large: from 4 MiB up, 2 MiB aligned and
 * marked for transparent huge pages. Release with free(). */
void *tg_rsa_alloc(size_t bytes);

/* RDM (m x m into rdm) of the m rows of F (row stride ld floats), over the
 * k columns cols[0..k) (cols NULL: columns 0..k-1, k <= ld). A NaN or Inf
 * is TG_ERR_NUMERIC naming its row and column (an index into F). */
tg_status tg_rsa_rdm_f32(const float *F, int64_t m, int64_t ld, const int64_t *cols, int64_t k,
                         double *rdm, tg_error *err);
/* RDM of the m rows of M (m x k, finite doubles, e.g. category means). */
tg_status tg_rsa_rdm_f64(const double *M, int64_t m, int64_t k, double *rdm, tg_error *err);

/* ---- kendall.c ---- */

typedef struct {
    double x, y;
} tg_rsa_pair;

/* Stable merge sort ascending by (x, y); tmp has room for n pairs. */
void tg_rsa_sort_pairs(tg_rsa_pair *p, int64_t n, tg_rsa_pair *tmp);
/* Sort v ascending and return the number of pairs i < j with v[i] > v[j]
 * (equal values are not inversions); tmp has room for n doubles. */
int64_t tg_rsa_sort_count_inversions(double *v, int64_t n, double *tmp);
/* Kendall tau-a of finite a, b (n >= 2) by Knight's algorithm. */
tg_status tg_rsa_kendall(const double *a, const double *b, int64_t n, double *tau, tg_error *err);

/* ---- similarity.c ---- */

/* A sequence to compare: an m x m RDM's strict upper triangle, row by row
 * (tri = 1, len = m), or a plain vector (tri = 0, len = n entries). */
int64_t tg_rsa_count(int64_t len, int tri);
/* TG_ERR_NUMERIC if the sequence holds a NaN or Inf or is constant; what
 * ("teacher RDM 2") starts the message, which names the entry. */
tg_status tg_rsa_check(const double *v, int64_t len, int tri, const char *what, tg_error *err);
/* Copy the sequence into out (tg_rsa_count entries). */
void tg_rsa_flatten(const double *v, int64_t len, int tri, double *out);
/* Average ranks (1-based, ties share their mean rank) of the n values. */
tg_status tg_rsa_ranks(const double *v, int64_t n, double *rank, tg_error *err);
/* Pearson r of two sequences of the same shape, checked as tg_rsa_check
 * does on the way (wa, wb name them in messages). */
tg_status tg_rsa_pearson(const double *a, const double *b, int64_t len, int tri, const char *wa,
                         const char *wb, double *r, tg_error *err);

#endif
