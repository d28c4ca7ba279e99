/* test_base.c - the base layer's generator helpers and file helpers:
 * tg_rng_derive (reference values, distinct streams, avalanche, nearby seeds
 * and streams uncorrelated), the shuffle and its partial variant (reference
 * permutations, uniformity by chi-square), tg_file_read (contents, the limit
 * on a sparse file, names in messages, streams) and the atomic writes
 * (contents, nothing left behind, the old file kept on every failure).
 *
 * Reference values come from an independent Python implementation of the
 * formulas in rng.h (M = 2^64 - 1; K1, K2 taken from mpmath's pi):
 *     def mix13(z):  z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9 & M
 *                    z = (z ^ z >> 27) * 0x94d049bb133111eb & M; return z ^ z >> 31
 *     def fmix64(z): z = (z ^ z >> 33) * 0xff51afd7ed558ccd & M
 *                    z = (z ^ z >> 33) * 0xc4ceb9fe1a85ec53 & M; return z ^ z >> 33
 *     derive(s, t) = mix13(mix13(s ^ K1) ^ fmix64(t ^ K2))
 * with xoshiro256** seeded by splitmix64 and Fisher-Yates from the back
 * (i = n-1 .. 1, j = below(i + 1), below by rejection above M - M % n), as
 * published by Vigna and Knuth. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/fileio.h"
#include "tgsage/rng.h"

/* ---- tg_rng_derive ------------------------------------------------------ */

static void test_derive_reference(void **state) {
    (void)state;
    /* splitmix64's published first output for seed 0 */
    tg_rng r;
    tg_rng_seed(&r, 0);
    assert_true(r.s[0] == 0xe220a8397b1dcdafULL);
    static const struct {
        uint64_t seed, stream, want;
    } REF[] = {
        {0, 0, 0x9cb8b6056f3915d7ULL},
        {0, 1, 0xc06cfc0689124730ULL},
        {1, 0, 0xddf9690c5852b637ULL},
        {42, 3, 0xd316435694d6641eULL},
        {UINT64_MAX, UINT64_MAX, 0x26aee0ae5e510c17ULL},
    };
    for (size_t i = 0; i < sizeof REF / sizeof REF[0]; i++)
        if (tg_rng_derive(REF[i].seed, REF[i].stream) != REF[i].want)
            fail_msg("derive(%llu, %llu) = %016llx, reference %016llx",
                     (unsigned long long)REF[i].seed, (unsigned long long)REF[i].stream,
                     (unsigned long long)tg_rng_derive(REF[i].seed, REF[i].stream),
                     (unsigned long long)REF[i].want);
    /* nested, as the loader derives an epoch's order: seed 1, epoch 2 */
    assert_true(tg_rng_derive(tg_rng_derive(1, TG_STREAM_ORDER), 2) == 0x4baf70556a7d64baULL);
    /* a generator seeded by a derived seed */
    tg_rng_seed(&r, tg_rng_derive(7, 1));
    assert_true(tg_rng_u64(&r) == 0x88f385ee1860ae75ULL);
    assert_true(tg_rng_u64(&r) == 0xc53030478edfd394ULL);
    assert_true(tg_rng_u64(&r) == 0x0396279f984dbbb4ULL);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Distinct for distinct inputs: every (seed, stream) of a grid of small
 * numbers and every nested (seed, stream, item) of the consumers. */
static void test_derive_distinct(void **state) {
    (void)state;
    const uint64_t streams[] = {TG_STREAM_SPLIT, TG_STREAM_ORDER, TG_STREAM_AUGMENT,
                                TG_STREAM_OBSERVE, TG_STREAM_REGIONS};
    const int ns = (int)(sizeof streams / sizeof streams[0]);
    for (int i = 0; i < ns; i++) {
        assert_true(streams[i] != 0);
        for (int j = 0; j < i; j++) assert_true(streams[i] != streams[j]);
    }
    enum { S = 2048, T = 16, I = 64 };
    size_t n = (size_t)S * T + (size_t)ns * 64 * I, k = 0;
    uint64_t *v = malloc(sizeof *v * n);
    assert_non_null(v);
    for (uint64_t s = 0; s < S; s++)
        for (uint64_t t = 0; t < T; t++) v[k++] = tg_rng_derive(s, t);
    for (int c = 0; c < ns; c++)
        for (uint64_t s = 0; s < 64; s++)
            for (uint64_t i = 0; i < I; i++)
                v[k++] = tg_rng_derive(tg_rng_derive(s, streams[c]), i);
    assert_int_equal(k, n);
    qsort(v, n, sizeof *v, cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (v[i] == v[i - 1]) fail_msg("two inputs derive %016llx", (unsigned long long)v[i]);
    free(v);
    /* two streams of one seed do not differ by the same word for every
     * seed (what the outer mix13 is for) */
    uint64_t diff[100];
    for (uint64_t s = 0; s < 100; s++)
        diff[s] = tg_rng_derive(s, TG_STREAM_ORDER) ^ tg_rng_derive(s, TG_STREAM_AUGMENT);
    qsort(diff, 100, sizeof *diff, cmp_u64);
    for (int i = 1; i < 100; i++) assert_true(diff[i] != diff[i - 1]);
    /* the arguments are not interchangeable */
    for (uint64_t a = 0; a < 50; a++)
        for (uint64_t b = a + 1; b < 50; b++)
            assert_true(tg_rng_derive(a, b) != tg_rng_derive(b, a));
}

/* Avalanche: flipping any one bit of the seed or of the stream flips each
 * output bit with probability 1/2. Over N = 4000 inputs a rate's standard
 * error is 0.0079; every one of the 128 x 64 rates must lie within 0.06 of
 * 1/2 (7.6 standard errors) and the mean flip count within 0.25 of 32. */
static void test_derive_avalanche(void **state) {
    (void)state;
    enum { N = 4000 };
    static int flips[128][64];
    memset(flips, 0, sizeof flips);
    double total = 0;
    for (uint64_t i = 0; i < N; i++) {
        uint64_t s = i, t = 1 + i % 5; /* nearby seeds, the real streams */
        uint64_t base = tg_rng_derive(s, t);
        for (int b = 0; b < 128; b++) {
            uint64_t d = b < 64 ? tg_rng_derive(s ^ (1ULL << b), t)
                                : tg_rng_derive(s, t ^ (1ULL << (b - 64)));
            uint64_t x = d ^ base;
            total += __builtin_popcountll(x);
            for (int o = 0; o < 64; o++) flips[b][o] += (int)(x >> o & 1);
        }
    }
    double worst = 0;
    for (int b = 0; b < 128; b++)
        for (int o = 0; o < 64; o++) {
            double dev = fabs(flips[b][o] / (double)N - 0.5);
            if (dev > worst) worst = dev;
        }
    double mean = total / (128.0 * N);
    print_message("avalanche: mean %.4f bits of 64 flip, worst rate off 1/2 by %.4f\n", mean,
                  worst);
    assert_true(fabs(mean - 32) < 0.25);
    assert_true(worst < 0.06);
}

static double pearson(const double *x, const double *y, int n) {
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= n, my /= n;
    for (int i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / sqrt(sxx * syy);
}

/* Generators of neighbouring seeds (s, s+1) and of neighbouring streams
 * (t, t+1) are uncorrelated: over N = 20000 pairs the Pearson correlation of
 * their first uniforms, and of their 10th, has standard error 1/sqrt(N) =
 * 0.0071; each must be below 0.035 (5 standard errors). */
static void test_derive_nearby_uncorrelated(void **state) {
    (void)state;
    enum { N = 20000 };
    double *x = malloc(sizeof *x * (N + 1) * 2), *y = x + N + 1;
    assert_non_null(x);
    for (int kind = 0; kind < 2; kind++)
        for (int draw = 0; draw < 10; draw += 9) {
            for (int i = 0; i <= N; i++) {
                tg_rng r;
                uint64_t d = kind == 0 ? tg_rng_derive((uint64_t)i, TG_STREAM_SPLIT)
                                       : tg_rng_derive(12345, (uint64_t)i);
                tg_rng_seed(&r, d);
                for (int k = 0; k < draw; k++) tg_rng_u64(&r);
                x[i] = tg_rng_uniform_d(&r);
            }
            for (int i = 0; i < N; i++) y[i] = x[i + 1];
            double c = pearson(x, y, N);
            print_message("neighbouring %s, draw %d: r = %+.4f\n", kind ? "streams" : "seeds",
                          draw + 1, c);
            assert_true(fabs(c) < 0.035);
        }
    free(x);
}

/* ---- shuffles ------------------------------------------------------------ */

static void assert_permutation(const int32_t *a, int64_t n) {
    char *seen = calloc((size_t)n + 1, 1);
    assert_non_null(seen);
    for (int64_t i = 0; i < n; i++) {
        assert_true(a[i] >= 0 && a[i] < n);
        assert_int_equal(seen[a[i]], 0);
        seen[a[i]] = 1;
    }
    free(seen);
}

static void test_shuffle_reference(void **state) {
    (void)state;
    tg_rng r;
    int32_t a[10];
    /* the shuffle of HEAD before the base layer, re-derived in Python */
    tg_rng_seed(&r, 1);
    for (int i = 0; i < 8; i++) a[i] = i;
    tg_rng_shuffle_i32(&r, a, 8);
    const int32_t want8[8] = {7, 0, 1, 4, 3, 2, 6, 5};
    assert_memory_equal(a, want8, sizeof want8);
    /* the split's draw: seed 0, 3 of 10 held out at the end */
    tg_rng_seed(&r, tg_rng_derive(0, TG_STREAM_SPLIT));
    for (int i = 0; i < 10; i++) a[i] = i;
    tg_rng_shuffle_partial_i32(&r, a, 10, 3);
    const int32_t want10[10] = {0, 9, 2, 3, 8, 5, 7, 6, 4, 1};
    assert_memory_equal(a, want10, sizeof want10);
}

static void test_shuffle_permutes(void **state) {
    (void)state;
    static const int64_t sizes[] = {0, 1, 2, 3, 17, 1000};
    int32_t *a = malloc(sizeof *a * 1000), *b = malloc(sizeof *b * 1000);
    assert_non_null(a);
    assert_non_null(b);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        tg_rng r, q;
        tg_rng_seed(&r, 9), tg_rng_seed(&q, 9);
        for (int64_t i = 0; i < n; i++) a[i] = b[i] = (int32_t)i;
        tg_rng_shuffle_i32(&r, a, n);
        assert_permutation(a, n);
        tg_rng_shuffle_i32(&q, b, n);
        if (n) assert_memory_equal(a, b, sizeof *a * (size_t)n); /* same seed, same order */
        for (int64_t k = 0; k <= n; k++) { /* every partial: a permutation */
            tg_rng_seed(&r, 10 + (uint64_t)k);
            for (int64_t i = 0; i < n; i++) a[i] = (int32_t)i;
            tg_rng_shuffle_partial_i32(&r, a, n, k);
            assert_permutation(a, n);
        }
    }
    /* k = 0 draws nothing and moves nothing */
    tg_rng r, q;
    tg_rng_seed(&r, 3), tg_rng_seed(&q, 3);
    for (int i = 0; i < 10; i++) a[i] = i;
    tg_rng_shuffle_partial_i32(&r, a, 10, 0);
    for (int i = 0; i < 10; i++) assert_int_equal(a[i], i);
    assert_true(tg_rng_u64(&r) == tg_rng_u64(&q));
    /* the partial's tail is the full shuffle's tail, k = n and n-1 are the full one */
    for (int64_t k = 0; k <= 1000; k += 37) {
        tg_rng_seed(&r, 77), tg_rng_seed(&q, 77);
        for (int i = 0; i < 1000; i++) a[i] = b[i] = i;
        tg_rng_shuffle_i32(&r, a, 1000);
        tg_rng_shuffle_partial_i32(&q, b, 1000, k);
        assert_memory_equal(a + 1000 - k, b + 1000 - k, sizeof *a * (size_t)k);
    }
    for (int64_t k = 999; k <= 1000; k++) {
        tg_rng_seed(&r, 78), tg_rng_seed(&q, 78);
        for (int i = 0; i < 1000; i++) a[i] = b[i] = i;
        tg_rng_shuffle_i32(&r, a, 1000);
        tg_rng_shuffle_partial_i32(&q, b, 1000, k);
        assert_memory_equal(a, b, sizeof *a * 1000);
    }
    free(a);
    free(b);
}

/* Pearson's chi-square of observed counts against one expected count. */
static double chi2(const int *count, int cells, double expect) {
    double x = 0;
    for (int i = 0; i < cells; i++) x += (count[i] - expect) * (count[i] - expect) / expect;
    return x;
}

/* Uniformity. Bounds are chi-square's 99.9% quantiles (mpmath), so a fair
 * shuffle passes with probability 0.999 for a seed; the seeds are fixed. */
static void test_shuffle_uniform(void **state) {
    (void)state;
    tg_rng r;
    tg_rng_seed(&r, 2024);
    /* where each of 5 values lands, 100000 shuffles: 25 cells of expected
     * 20000, 16 degrees of freedom, bound 39.25 */
    enum { N5 = 100000 };
    int pos[5][5] = {{0}};
    for (int t = 0; t < N5; t++) {
        int32_t a[5] = {0, 1, 2, 3, 4};
        tg_rng_shuffle_i32(&r, a, 5);
        for (int p = 0; p < 5; p++) pos[p][a[p]]++;
    }
    double x5 = chi2(&pos[0][0], 25, N5 / 5.0);
    /* all 24 orders of 4 values, 48000 shuffles: 23 degrees, bound 49.73 */
    enum { N4 = 48000 };
    int perm[24] = {0};
    for (int t = 0; t < N4; t++) {
        int32_t a[4] = {0, 1, 2, 3};
        tg_rng_shuffle_i32(&r, a, 4);
        /* Lehmer code: rank of the order */
        int rank = 0;
        for (int i = 0; i < 4; i++) {
            int smaller = 0;
            for (int j = i + 1; j < 4; j++) smaller += a[j] < a[i];
            rank = rank * (4 - i) + smaller;
        }
        perm[rank]++;
    }
    double x4 = chi2(perm, 24, N4 / 24.0);
    /* the partial's two drawn positions of 6, 60000 draws: each position
     * uniform over the 6 values, 2 x 6 cells, 10 degrees, bound 29.59 */
    enum { NP = 60000 };
    int tail[2][6] = {{0}};
    for (int t = 0; t < NP; t++) {
        int32_t a[6] = {0, 1, 2, 3, 4, 5};
        tg_rng_shuffle_partial_i32(&r, a, 6, 2);
        tail[0][a[4]]++, tail[1][a[5]]++;
    }
    double xp = chi2(&tail[0][0], 12, NP / 6.0);
    print_message("chi-square: positions %.2f (bound 39.25), orders %.2f (49.73), partial "
                  "tail %.2f (29.59)\n",
                  x5, x4, xp);
    assert_true(x5 < 39.25);
    assert_true(x4 < 49.73);
    assert_true(xp < 29.59);
    /* and a broken shuffle (j below i, not i + 1: Sattolo's cycles) fails */
    int bad[5][5] = {{0}};
    for (int t = 0; t < N5; t++) {
        int32_t a[5] = {0, 1, 2, 3, 4};
        for (int i = 4; i > 0; i--) {
            int j = (int)tg_rng_below(&r, (uint64_t)i), s = a[i];
            a[i] = a[j], a[j] = s;
        }
        for (int p = 0; p < 5; p++) bad[p][a[p]]++;
    }
    assert_true(chi2(&bad[0][0], 25, N5 / 5.0) > 39.25);
}

/* ---- tg_file_read -------------------------------------------------------- */

static void assert_msg_has(const tg_error *e, const char *want) {
    if (!strstr(e->msg, want)) fail_msg("message '%s' lacks '%s'", e->msg, want);
}

static void make_sparse(const char *path, off_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
}

static void test_size_strings(void **state) {
    (void)state;
    char b[48];
    tg_file_size_str(b, sizeof b, 0), assert_string_equal(b, "0 bytes");
    tg_file_size_str(b, sizeof b, 1023), assert_string_equal(b, "1023 bytes");
    tg_file_size_str(b, sizeof b, 1536), assert_string_equal(b, "1.5 KiB");
    tg_file_size_str(b, sizeof b, 20u << 20), assert_string_equal(b, "20.0 MiB");
    tg_file_size_str(b, sizeof b, 3ULL << 40), assert_string_equal(b, "3.0 TiB");
    tg_file_limit_str(b, sizeof b, 16u << 20), assert_string_equal(b, "16 MiB");
    tg_file_limit_str(b, sizeof b, (16u << 20) + 10012), assert_string_equal(b, "16.0 MiB");
    tg_file_limit_str(b, sizeof b, 100), assert_string_equal(b, "100 bytes");
}

static void test_read_files(void **state) {
    (void)state;
    char dir[256], path[512], msg[1024];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    unsigned char *d;
    size_t n;
    tg_error e;
    /* contents, NUL-terminated */
    snprintf(path, sizeof path, "%s/small.txt", dir);
    assert_int_equal(tu_write_file(path, "hello\0world", 11), 0);
    assert_int_equal(tg_file_read(path, 11, &d, &n, &e), TG_OK);
    assert_int_equal(n, 11);
    assert_memory_equal(d, "hello\0world", 12);
    free(d);
    snprintf(path, sizeof path, "%s/empty", dir);
    assert_int_equal(tu_write_file(path, "", 0), 0);
    assert_int_equal(tg_file_read(path, 0, &d, &n, &e), TG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(d[0], 0);
    free(d);
    /* a sparse 20 MiB file: refused unread under a 16 MiB limit */
    snprintf(path, sizeof path, "%s/regions.json", dir);
    make_sparse(path, 20 << 20);
    assert_int_equal(tg_file_read(path, 16 << 20, &d, &n, &e), TG_ERR_UNSUPPORTED);
    assert_null(d);
    assert_int_equal(n, 0);
    snprintf(msg, sizeof msg, "%s: 20.0 MiB is more than the 16 MiB limit for this file", path);
    assert_string_equal(e.msg, msg);
    print_message("%s\n", e.msg);
    /* at the limit: read */
    assert_int_equal(tg_file_read(path, 20 << 20, &d, &n, &e), TG_OK);
    assert_int_equal(n, 20 << 20);
    assert_true(d[0] == 0 && d[n - 1] == 0 && d[n] == 0);
    free(d);
    /* one byte over, where the rounded sizes look alike: exact counts */
    make_sparse(path, (16 << 20) + 1);
    assert_int_equal(tg_file_read(path, 16 << 20, &d, &n, &e), TG_ERR_UNSUPPORTED);
    assert_msg_has(&e, "16.0 MiB (16777217 bytes) is more than the 16 MiB (16777216 bytes) limit");
    /* missing, a directory, no path */
    snprintf(path, sizeof path, "%s/missing.json", dir);
    assert_int_equal(tg_file_read(path, 100, &d, &n, &e), TG_ERR_IO);
    assert_msg_has(&e, path);
    assert_msg_has(&e, "cannot open: No such file");
    assert_int_equal(tg_file_read(dir, 100, &d, &n, &e), TG_ERR_IO);
    assert_msg_has(&e, dir);
    assert_msg_has(&e, "read error: Is a directory");
    assert_int_equal(tg_file_read("", 100, &d, &n, &e), TG_ERR_ARG);
    tu_rmtree(dir);
}

/* A pipe has no size up front: read as bytes come, refused past the limit. */
static void test_read_stream(void **state) {
    (void)state;
    static char data[3000];
    for (int i = 0; i < 3000; i++) data[i] = (char)(i * 7);
    for (int over = 0; over < 2; over++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        assert_int_equal(tg_write_all(fds[1], data, sizeof data), 0); /* fits a pipe's buffer */
        close(fds[1]);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
        unsigned char *d;
        size_t n;
        tg_error e;
        tg_status st = tg_file_read(path, over ? 2999 : 3000, &d, &n, &e);
        close(fds[0]);
        if (over) {
            assert_int_equal(st, TG_ERR_UNSUPPORTED);
            assert_msg_has(&e, "more than the 2.9 KiB limit for this file (a stream");
        } else {
            assert_int_equal(st, TG_OK);
            assert_int_equal(n, 3000);
            assert_memory_equal(d, data, 3000);
            free(d);
        }
    }
}

/* ---- atomic writes ------------------------------------------------------- */

/* Names in dir other than "." and "..", sorted, comma-separated. */
static void list_dir(const char *dir, char *out, size_t cap) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | paste -sd, -", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    if (!fgets(out, (int)cap, p)) out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

static void assert_content(const char *path, const void *want, size_t n) {
    unsigned char *d;
    size_t got;
    tg_error e;
    if (tg_file_read(path, n + 1, &d, &got, &e) != TG_OK) fail_msg("%s", e.msg);
    assert_int_equal(got, n);
    if (n) assert_memory_equal(d, want, n);
    free(d);
}

static void test_atomic_write(void **state) {
    (void)state;
    char dir[256], path[512], names[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/out.bin", dir);
    tg_error e;
    assert_int_equal(tg_file_write(path, "first", 5, &e), TG_OK);
    assert_content(path, "first", 5);
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "out.bin");
    assert_int_equal(tg_file_write(path, "", 0, &e), TG_OK); /* replaced, now empty */
    assert_content(path, "", 0);
    /* many small writes around the 64 KiB buffer and one large one */
    size_t total = 0, cap = 1 << 20;
    unsigned char *want = malloc(cap);
    assert_non_null(want);
    tg_atomic a;
    assert_int_equal(tg_atomic_begin(&a, path, &e), TG_OK);
    tg_rng r;
    tg_rng_seed(&r, 5);
    for (int i = 0; i < 1500; i++) {
        size_t k = i == 700 ? 300000 : 1 + tg_rng_below(&r, 300);
        for (size_t j = 0; j < k; j++) want[total + j] = (unsigned char)tg_rng_u64(&r);
        tg_atomic_write(&a, want + total, k);
        total += k;
    }
    assert_true(total < cap);
    assert_int_equal(tg_atomic_commit(&a, &e), TG_OK);
    assert_content(path, want, total);
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "out.bin");
    /* given up: nothing changes, nothing is left */
    assert_int_equal(tg_atomic_begin(&a, path, &e), TG_OK);
    tg_atomic_write(&a, "never", 5);
    tg_atomic_abort(&a);
    assert_content(path, want, total);
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "out.bin");
    free(want);
    tu_rmtree(dir);
}

static void test_atomic_failures(void **state) {
    (void)state;
    char dir[256], path[512], bad[600], names[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/keep.bin", dir);
    tg_error e;
    assert_int_equal(tg_file_write(path, "old", 3, &e), TG_OK);
    /* the temporary file cannot be created: a directory that does not exist */
    snprintf(bad, sizeof bad, "%s/no-such-dir/x.bin", dir);
    assert_int_equal(tg_file_write(bad, "x", 1, &e), TG_ERR_IO);
    assert_msg_has(&e, bad);
    assert_msg_has(&e, "cannot create");
    assert_msg_has(&e, "No such file");
    assert_int_equal(tg_file_write(NULL, "x", 1, &e), TG_ERR_ARG);
    /* the rename fails: the target is a directory; the temporary file goes */
    snprintf(bad, sizeof bad, "%s/sub", dir);
    assert_int_equal(mkdir(bad, 0755), 0);
    assert_int_equal(tg_file_write(bad, "x", 1, &e), TG_ERR_IO);
    assert_msg_has(&e, "cannot rename");
    assert_msg_has(&e, bad);
    assert_int_equal(rmdir(bad), 0);
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "keep.bin");
    /* a full disk, as a file size limit: short writes, then EFBIG; small
     * (failing at the last flush) and large (failing in a direct write) */
    static unsigned char big[200000];
    memset(big, 'x', sizeof big);
    static const size_t sizes[] = {100, sizeof big};
    for (int k = 0; k < 2; k++) {
        struct rlimit saved, lim;
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
        lim = saved;
        lim.rlim_cur = 50;
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        tg_status st = tg_file_write(path, big, sizes[k], &e);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
        signal(SIGXFSZ, prev);
        assert_int_equal(st, TG_ERR_IO);
        print_message("%s\n", e.msg);
        assert_msg_has(&e, path);
        assert_msg_has(&e, "cannot write");
        assert_msg_has(&e, "File too large");
        assert_msg_has(&e, "unchanged");
        assert_content(path, "old", 3);
        list_dir(dir, names, sizeof names);
        assert_string_equal(names, "keep.bin");
    }
    /* the error a full disk gives, on the write path itself (never the
     * atomic writer on /dev/full: as root its rename would replace the
     * device node) */
    int fd = open("/dev/full", O_WRONLY);
    if (fd >= 0) {
        errno = 0;
        assert_int_equal(tg_write_all(fd, big, 10), -1);
        assert_int_equal(errno, ENOSPC);
        close(fd);
    }
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive_reference),
        cmocka_unit_test(test_derive_distinct),
        cmocka_unit_test(test_derive_avalanche),
        cmocka_unit_test(test_derive_nearby_uncorrelated),
        cmocka_unit_test(test_shuffle_reference),
        cmocka_unit_test(test_shuffle_permutes),
        cmocka_unit_test(test_shuffle_uniform),
        cmocka_unit_test(test_size_strings),
        cmocka_unit_test(test_read_files),
        cmocka_unit_test(test_read_stream),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_atomic_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
