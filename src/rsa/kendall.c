/* kendall.c - Kendall tau-a in O(N log N) by Knight's algorithm (Knight
 * 1966, "A computer method for calculating Kendall's tau with ungrouped
 * data"), and the merge sorts it rests on (the pair sort also ranks for
 * Spearman).
 *
 * tau-a = (C - D) / n0 with n0 = N(N-1)/2, where a pair tied in a or in b
 * is neither concordant (C) nor discordant (D). Sort the pairs by a, then b;
 * a merge sort of the b's in that order then counts D as its inversions
 * (pairs tied in a are already ascending in b, pairs tied in b are not
 * inversions). With n1 pairs tied in a, n2 tied in b and n3 tied in both,
 * the pairs tied in either number n1 + n2 - n3, so
 *   C - D = n0 - n1 - n2 + n3 - 2 D,
 * all exact in 64-bit integers (N up to 2^31). Image RDMs of 1000 images
 * have 499,500 entries: brute force would take 1.2e11 pair tests.
 *
 * The sorts are bottom-up: insertion sort on runs of 32, then rounds of
 * merges of adjacent runs, the merges of one round spread over the threads
 * (the counts are integers, so the result does not depend on them). */
#include <stdlib.h>
#include <string.h>

#include "rsa_internal.h"

#define RUN 32

static inline int pair_less(const tg_rsa_pair *p, const tg_rsa_pair *q) {
    return p->x < q->x || (p->x == q->x && p->y < q->y);
}

void tg_rsa_sort_pairs(tg_rsa_pair *p, int64_t n, tg_rsa_pair *tmp) {
#pragma omp parallel for schedule(static)
    for (int64_t lo = 0; lo < n; lo += RUN) {
        int64_t hi = lo + RUN < n ? lo + RUN : n;
        for (int64_t i = lo + 1; i < hi; i++) {
            tg_rsa_pair v = p[i];
            int64_t j = i;
            for (; j > lo && pair_less(&v, &p[j - 1]); j--) p[j] = p[j - 1];
            p[j] = v;
        }
    }
    tg_rsa_pair *src = p, *dst = tmp;
    for (int64_t w = RUN; w < n; w *= 2) {
#pragma omp parallel for schedule(static)
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = pair_less(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        tg_rsa_pair *t = src;
        src = dst;
        dst = t;
    }
    if (src != p) memcpy(p, src, sizeof(tg_rsa_pair) * (size_t)n);
}

int64_t tg_rsa_sort_count_inversions(double *v, int64_t n, double *tmp) {
    int64_t inv = 0;
#pragma omp parallel for schedule(static) reduction(+ : inv)
    for (int64_t lo = 0; lo < n; lo += RUN) {
        int64_t hi = lo + RUN < n ? lo + RUN : n;
        for (int64_t i = lo + 1; i < hi; i++) {
            double x = v[i];
            int64_t j = i;
            for (; j > lo && v[j - 1] > x; j--) v[j] = v[j - 1];
            inv += i - j; /* x passed each earlier value greater than it */
            v[j] = x;
        }
    }
    double *src = v, *dst = tmp;
    for (int64_t w = RUN; w < n; w *= 2) {
#pragma omp parallel for schedule(static) reduction(+ : inv)
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                if (src[j] < src[i]) {
                    inv += mid - i; /* src[j] is below every left value still waiting */
                    dst[o++] = src[j++];
                } else {
                    dst[o++] = src[i++];
                }
            }
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        double *t = src;
        src = dst;
        dst = t;
    }
    if (src != v) memcpy(v, src, sizeof(double) * (size_t)n);
    return inv;
}

static int64_t tied_pairs(int64_t run) { return run * (run - 1) / 2; }

tg_status tg_rsa_kendall(const double *a, const double *b, int64_t n, double *tau, tg_error *err) {
    tg_rsa_pair *p = tg_rsa_alloc(sizeof(tg_rsa_pair) * (size_t)n);
    tg_rsa_pair *tmp = tg_rsa_alloc(sizeof(tg_rsa_pair) * (size_t)n);
    if (!p || !tmp) {
        free(p), free(tmp);
        return tg_error_set(err, TG_ERR_NOMEM, "Kendall tau: no memory for %lld pairs",
                            (long long)n);
    }
    for (int64_t i = 0; i < n; i++) p[i] = (tg_rsa_pair){a[i], b[i]};
    tg_rsa_sort_pairs(p, n, tmp);
    free(tmp);
    int64_t n1 = 0, n3 = 0;
    for (int64_t i = 0, ra = 1, rab = 1; i < n; i++) {
        int same_a = i + 1 < n && p[i + 1].x == p[i].x;
        int same_ab = same_a && p[i + 1].y == p[i].y;
        if (same_a) {
            ra++;
        } else {
            n1 += tied_pairs(ra);
            ra = 1;
        }
        if (same_ab) {
            rab++;
        } else {
            n3 += tied_pairs(rab);
            rab = 1;
        }
    }
    double *bs = tg_rsa_alloc(sizeof(double) * 2 * (size_t)n); /* the b's, then scratch */
    if (!bs) {
        free(p);
        return tg_error_set(err, TG_ERR_NOMEM, "Kendall tau: no memory for %lld pairs",
                            (long long)n);
    }
    for (int64_t i = 0; i < n; i++) bs[i] = p[i].y;
    free(p);
    int64_t d = tg_rsa_sort_count_inversions(bs, n, bs + n);
    int64_t n2 = 0;
    for (int64_t i = 0, rb = 1; i < n; i++) {
        if (i + 1 < n && bs[i + 1] == bs[i]) {
            rb++;
        } else {
            n2 += tied_pairs(rb);
            rb = 1;
        }
    }
    free(bs);
    int64_t n0 = tied_pairs(n);
    *tau = (double)(n0 - n1 - n2 + n3 - 2 * d) / (double)n0;
    return TG_OK;
}
