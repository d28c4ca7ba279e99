/* cmd_sample.c - `tgsage sample`: genomes drawn from a space by one of the
 * search algorithms (random by default), one canonical genome JSON per
 * line. Nothing is told back, so every algorithm is at its start: what it
 * proposes before it has seen a result. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/explorer.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"

static void sample_help(FILE *f) {
    fprintf(f,
"usage: tgsage sample --space SPEC [--n K] [--seed S] [--algo A]\n"
"\n"
"Draw K architectures of a search space and print each as one canonical\n"
"genome JSON per line (the same seed gives the same lines).\n"
"\n"
"options:\n"
"  --space SPEC        the space: layerwise:NL[:filters=A,B,..][:kernels=..]\n"
"                      [:strides=..] or cell[:blocks=B][:n=N][:f=F] (required)\n"
"  --n K               how many [1]\n"
"  --seed S            seed of the algorithm [0]\n"
"  --algo A            %s [random]\n"
"  -h, --help          show this help\n",
            tg_explorer_algorithms());
}

int tg_cmd_sample(int argc, char **argv) {
    static const struct option longs[] = {{"space", 1, 0, 's'}, {"n", 1, 0, 'n'},
                                          {"seed", 1, 0, 'S'}, {"algo", 1, 0, 'a'},
                                          {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *spec = NULL, *algo = "random";
    long n = 1, seed = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 's': spec = optarg; break;
        case 'n': bad = tg_cli_int("sample", "--n", optarg, 1, 1000000, &n); break;
        case 'S': bad = tg_cli_int("sample", "--seed", optarg, 0, 1L << 62, &seed); break;
        case 'a': algo = optarg; break;
        case 'h': sample_help(stdout); return TG_EXIT_OK;
        default:
            fprintf(stderr, "Run 'tgsage sample --help' for the options.\n");
            return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage sample: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    if (!spec) {
        fprintf(stderr, "tgsage sample: --space is required (see tgsage sample --help)\n");
        return TG_EXIT_USAGE;
    }
    tg_error err;
    tg_explorer_config cfg;
    if (tg_explorer_defaults(algo, &cfg, &err) != TG_OK) {
        fprintf(stderr, "tgsage sample: --algo: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    cfg.seed = (uint64_t)seed;
    tg_space *s = tg_space_parse(spec, &err);
    if (!s) {
        fprintf(stderr, "tgsage sample: --space: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    int code = TG_EXIT_FAIL;
    tg_explorer *e = tg_explorer_new(s, &cfg, &err);
    int *x = malloc((size_t)tg_space_ndims(s) * sizeof *x);
    if (!e || !x) {
        fprintf(stderr, "tgsage sample: %s\n", e ? "out of memory" : err.msg);
        goto done;
    }
    for (long i = 0; i < n; i++) {
        int64_t id;
        tg_genome *g = NULL;
        char *json = NULL;
        if (tg_explorer_propose(e, &id, x, &err) != TG_OK ||
            !(g = tg_space_decode(s, x, &err))) {
            fprintf(stderr, "tgsage sample: %s\n", err.msg);
            goto done;
        }
        json = tg_genome_json(g);
        tg_genome_free(g);
        if (!json) {
            fprintf(stderr, "tgsage sample: out of memory\n");
            goto done;
        }
        puts(json);
        free(json);
    }
    code = fflush(stdout) == 0 ? TG_EXIT_OK : TG_EXIT_FAIL;
done:
    free(x);
    tg_explorer_free(e);
    tg_space_free(s);
    return code;
}
