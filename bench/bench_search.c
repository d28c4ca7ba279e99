/* bench_search.c - the search algorithms on the synthetic objectives of
 * tests/synthetic.h, and the cost of one TPE proposal.
 *
 *   tgsage_bench_search [--seeds S] [--trials T] [--nl NL] [--algos a,b]
 *                       [--points] [--time] [--no-search]
 *
 * For every algorithm of the table (or --algos), both objectives and seeds
 * 0..S-1 (the search's seed and the target's), one sequential search of T
 * trials on layerwise:NL: a JSON line {bench: "search", algo, objective,
 * seed, trials, best, seconds}. --points: the objective values of a few
 * fixed points (the first random proposals of seed 0 and the targets), for
 * bench/optuna_search.py --check. --time: one TPE proposal with 1,000
 * trials observed in layerwise:20, the median of 21 (each told before the
 * next), as {bench: "tpe_propose", ...}. bench/run_search_bench.py runs this
 * beside Optuna and prints the table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/synthetic.h"
#include "tgsage/explorer.h"
#include "tgsage/space.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_searches(const tg_space *s, const char *algos, int seeds, int trials) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", algos);
    static const char *const objs[2] = {"target", "proxy"};
    for (char *a = strtok(buf, ", "); a; a = strtok(NULL, ", ")) {
        for (int ob = 0; ob < 2; ob++) {
            for (int seed = 0; seed < seeds; seed++) {
                tg_error err;
                tg_explorer_config c;
                tg_syn o;
                if (tg_explorer_defaults(a, &c, &err) != TG_OK) {
                    fprintf(stderr, "bench_search: %s\n", err.msg);
                    return 2;
                }
                c.seed = (uint64_t)seed;
                tg_syn_init(&o, s, ob ? TG_SYN_PROXY : TG_SYN_TARGET, (uint64_t)seed);
                double t0 = now();
                double best = tg_syn_search(s, &c, &o, trials, &err);
                double dt = now() - t0;
                if (best != best) {
                    fprintf(stderr, "bench_search: %s: %s\n", a, err.msg);
                    return 1;
                }
                printf("{\"bench\":\"search\",\"algo\":\"%s\",\"objective\":\"%s\",\"seed\":%d,"
                       "\"trials\":%d,\"best\":%.17g,\"seconds\":%.4f}\n",
                       a, objs[ob], seed, trials, best, dt);
                fflush(stdout);
            }
        }
    }
    return 0;
}

static void print_point(const tg_space *s, const int *x, int nl, uint64_t tseed) {
    tg_syn t, p;
    tg_syn_init(&t, s, TG_SYN_TARGET, tseed);
    tg_syn_init(&p, s, TG_SYN_PROXY, tseed);
    printf("{\"bench\":\"points\",\"nl\":%d,\"tseed\":%llu,\"x\":[", nl,
           (unsigned long long)tseed);
    for (int d = 0; d < tg_space_ndims(s); d++) printf("%s%d", d ? "," : "", x[d]);
    printf("],\"target\":%.17g,\"proxy\":%.17g}\n", tg_syn_eval(&t, x), tg_syn_eval(&p, x));
}

/* The first 8 random proposals of seed 0 against targets 0..7, and each of
 * targets 0..3 itself (target score 1). */
static int run_points(const tg_space *s, int nl) {
    tg_error err;
    tg_explorer_config c;
    tg_explorer_defaults("random", &c, &err);
    tg_explorer *e = tg_explorer_new(s, &c, &err);
    int n = tg_space_ndims(s), *x = malloc(sizeof(int) * (size_t)n);
    if (!e || !x) return 1;
    for (int k = 0; k < 8; k++) {
        int64_t id;
        tg_explorer_propose(e, &id, x, &err);
        print_point(s, x, nl, (uint64_t)k);
    }
    for (int k = 0; k < 4; k++) {
        tg_syn t;
        tg_syn_init(&t, s, TG_SYN_TARGET, (uint64_t)k);
        for (int d = 0; d < n; d++) x[d] = -1;
        x[t.nlayers_dim] = t.t_layers - 1;
        for (int i = 0; i < t.t_layers; i++) {
            for (int g = 0; g < 6; g++) x[t.dim[i][g]] = t.t_choice[i][g];
            for (int j = -1; i > 0 && j < i; j++) x[t.in_dim[i][j + 1]] = t.t_in[i][j + 1];
        }
        print_point(s, x, nl, (uint64_t)k);
    }
    free(x);
    tg_explorer_free(e);
    return 0;
}

/* Median time of one TPE proposal with `observed` trials told. */
static int run_time(int observed) {
    tg_error err;
    tg_space *s = tg_space_parse("layerwise:20", &err);
    tg_explorer_config c;
    tg_explorer_defaults("tpe", &c, &err);
    tg_syn o;
    tg_syn_init(&o, s, TG_SYN_TARGET, 0);
    tg_explorer *e = s ? tg_explorer_new(s, &c, &err) : NULL;
    if (!e) {
        fprintf(stderr, "bench_search: %s\n", err.msg);
        return 1;
    }
    int *x = malloc(sizeof(int) * (size_t)tg_space_ndims(s));
    enum { REPEATS = 21 };
    double t[REPEATS];
    for (int k = 0; k < observed + REPEATS; k++) {
        int64_t id;
        double t0 = now();
        if (tg_explorer_propose(e, &id, x, &err) != TG_OK) {
            fprintf(stderr, "bench_search: %s\n", err.msg);
            return 1;
        }
        if (k >= observed) t[k - observed] = now() - t0;
        tg_explorer_tell(e, id, 1, tg_syn_eval(&o, x), &err);
    }
    qsort(t, REPEATS, sizeof t[0], cmp_double);
    printf("{\"bench\":\"tpe_propose\",\"space\":\"layerwise:20\",\"dims\":%d,\"observed\":%d,"
           "\"repeats\":%d,\"median_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f}\n",
           tg_space_ndims(s), observed, REPEATS, 1e3 * t[REPEATS / 2], 1e3 * t[0],
           1e3 * t[REPEATS - 1]);
    free(x);
    tg_explorer_free(e);
    tg_space_free(s);
    return 0;
}

int main(int argc, char **argv) {
    int seeds = 10, trials = 200, nl = 10, points = 0, timing = 0, search = 1;
    char algos[128];
    snprintf(algos, sizeof algos, "%s", tg_explorer_algorithms());
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seeds") && v) seeds = atoi(argv[++i]);
        else if (!strcmp(a, "--trials") && v) trials = atoi(argv[++i]);
        else if (!strcmp(a, "--nl") && v) nl = atoi(argv[++i]);
        else if (!strcmp(a, "--algos") && v) snprintf(algos, sizeof algos, "%s", argv[++i]);
        else if (!strcmp(a, "--points")) points = 1;
        else if (!strcmp(a, "--time")) timing = 1;
        else if (!strcmp(a, "--no-search")) search = 0;
        else {
            fprintf(stderr,
                    "usage: tgsage_bench_search [--seeds S] [--trials T] [--nl NL] "
                    "[--algos a,b] [--points] [--time] [--no-search]\n");
            return 2;
        }
    }
    if (seeds < 1 || trials < 1 || nl < 1 || nl > TG_SYN_MAX_LAYERS) {
        fprintf(stderr, "bench_search: --seeds, --trials >= 1, --nl in [1, %d]\n",
                TG_SYN_MAX_LAYERS);
        return 2;
    }
    char spec[32];
    snprintf(spec, sizeof spec, "layerwise:%d", nl);
    tg_error err;
    tg_space *s = tg_space_parse(spec, &err);
    if (!s) {
        fprintf(stderr, "bench_search: %s\n", err.msg);
        return 2;
    }
    int rc = 0;
    if (points) rc = run_points(s, nl);
    if (!rc && search) rc = run_searches(s, algos, seeds, trials);
    if (!rc && timing) rc = run_time(1000);
    tg_space_free(s);
    return rc;
}
