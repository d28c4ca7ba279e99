/* bench_rsa.c - time of RDMs and their comparison, the C side of the RSA
 * benchmark (bench/rsa_numpy.py is the numpy side, same sizes and recipe).
 *
 * For each unit (image, category) it makes two feature matrices of n
 * images x f features, uniform in [0, 1), the second half the first plus
 * half fresh noise (so the two RDMs are related and r is a sanity check
 * between the sides), labels n / cats images per category in shuffled
 * order; then, `repeats` times, computes the RDM of each (every feature
 * kept: max_features 0) and their Pearson r over the upper triangles.
 * Prints one JSON line per unit with the medians of rdm_s (one RDM),
 * compare_s and total_s (two RDMs and the comparison).
 *
 *   tgsage_bench_rsa [--n 5000] [--f 10000] [--cats 100] [--threads 2]
 *                    [--repeats 3] [--only image|category] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tgsage/rng.h"
#include "tgsage/rsa.h"
#include "tgsage/threads.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, const tg_error *e) {
    fprintf(stderr, "bench_rsa: %s: %s\n", what, e->msg);
    exit(1);
}

static void run(tg_rdm_unit unit, const float *f1, const float *f2, const int32_t *labels,
                int64_t n, int64_t f, int threads, int repeats) {
    double rdm_s[16], cmp_s[16], tot_s[16], r = 0;
    int64_t m = 0;
    tg_error err;
    for (int k = 0; k < repeats; k++) {
        double *a, *b;
        double t0 = now_s();
        if (tg_rdm_compute(f1, n, f, labels, unit, 0, 1, &a, &m, &err) != TG_OK) die("rdm", &err);
        if (tg_rdm_compute(f2, n, f, labels, unit, 0, 1, &b, &m, &err) != TG_OK) die("rdm", &err);
        double t1 = now_s();
        if (tg_rdm_similarity(a, b, m, TG_SIM_PEARSON, &r, &err) != TG_OK) die("pearson", &err);
        double t2 = now_s();
        rdm_s[k] = (t1 - t0) / 2, cmp_s[k] = t2 - t1, tot_s[k] = t2 - t0;
        free(a);
        free(b);
    }
    printf(
        "{\"name\": \"rsa_%s\", \"n\": %lld, \"f\": %lld, \"m\": %lld, \"threads\": %d, "
        "\"repeats\": %d, \"rdm_s\": %.4f, \"compare_s\": %.4f, \"total_s\": %.4f, \"r\": %.6f}\n",
        tg_rdm_unit_name(unit), (long long)n, (long long)f, (long long)m, threads, repeats,
        median(rdm_s, repeats), median(cmp_s, repeats), median(tot_s, repeats), r);
    fflush(stdout);
}

int main(int argc, char **argv) {
    int64_t n = 5000, f = 10000, cats = 100;
    int threads = 2, repeats = 3;
    const char *only = "";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && !strcmp(argv[i], "--n"))
            n = atoll(v), i++;
        else if (v && !strcmp(argv[i], "--f"))
            f = atoll(v), i++;
        else if (v && !strcmp(argv[i], "--cats"))
            cats = atoll(v), i++;
        else if (v && !strcmp(argv[i], "--threads"))
            threads = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--repeats"))
            repeats = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--only"))
            only = v, i++;
        else {
            fprintf(stderr, "usage: tgsage_bench_rsa [--n N] [--f F] [--cats C] [--threads T] "
                            "[--repeats R] [--only image|category]\n");
            return 2;
        }
    }
    if (n < 3 || f < 1 || cats < 3 || cats > n || repeats < 1 || repeats > 16) {
        fprintf(stderr, "bench_rsa: need n >= cats >= 3, f >= 1, 1 <= repeats <= 16\n");
        return 2;
    }
    threads = tg_threads_set(threads);
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    size_t nf = (size_t)n * (size_t)f;
    float *f1 = malloc(sizeof(float) * nf), *f2 = malloc(sizeof(float) * nf);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    if (!f1 || !f2 || !labels) {
        fprintf(stderr, "bench_rsa: no memory for %lld x %lld features\n", (long long)n,
                (long long)f);
        return 1;
    }
    for (size_t i = 0; i < nf; i++) f1[i] = tg_rng_uniform(&rng);
    for (size_t i = 0; i < nf; i++) f2[i] = 0.5f * f1[i] + 0.5f * tg_rng_uniform(&rng);
    for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)(i % cats);
    tg_rng_shuffle_i32(&rng, labels, n);
    if (!*only || !strcmp(only, "image")) run(TG_RDM_IMAGE, f1, f2, NULL, n, f, threads, repeats);
    if (!*only || !strcmp(only, "category"))
        run(TG_RDM_CATEGORY, f1, f2, labels, n, f, threads, repeats);
    free(f1);
    free(f2);
    free(labels);
    return 0;
}
