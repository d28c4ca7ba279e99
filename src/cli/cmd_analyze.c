/* cmd_analyze.c - `tgsage analyze`: which early signal of a pool predicts
 * mature accuracy (analysis.h), as a table per premature point and a
 * plain answer to the user's question: does TG help, at which budget,
 * with which alpha. --json prints the whole analysis, --csv writes it. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/analysis.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage analyze --db URL --study NAME [--boot B] [--seed S] [--alpha LIST]\n"
"                      [--csv FILE] [--json]\n"
"\n"
"Which early signal predicts mature accuracy, from a pool study (tgsage pool):\n"
"at each premature point, the correlation over the networks of P, of P with\n"
"batch-norm statistics recomputed (P_bn), of each teacher layer's best match,\n"
"of TG, of TG standardised over the pool (TG_z) and of P + alpha*TG for every\n"
"alpha of the sweep, by every comparison (pearson, spearman, kendall, cka),\n"
"with the networks' mature accuracy: Pearson r and Spearman rho, each with a\n"
"percentile bootstrap 95%% interval (networks resampled with replacement).\n"
"Then the answer: which predictor ranks the networks best, and whether TG\n"
"helps (the paired bootstrap interval of its gain in Spearman over P).\n"
"\n"
"options:\n"
"  --db URL            the database (required)\n"
"  --study NAME        the pool study (required)\n"
"  --boot B            bootstrap resamples; 0: no intervals [1000]\n"
"  --seed S            seed of the resamples [0]\n"
"  --alpha LIST        the alpha sweep, comma-separated [0,0.1,0.25,0.5,1,2,4,8]\n"
"  --csv FILE          also write every point and predictor as CSV (one row\n"
"                      each: at, kind, teacher, method, layer, alpha, n, pearson,\n"
"                      pearson_lo, pearson_hi, spearman, spearman_lo, spearman_hi,\n"
"                      mean, sd, min, max)\n"
"  --json              print the whole analysis as one JSON object instead\n"
"  -h, --help          show this help\n");
}

static const tg_analysis_teacher *teacher_at(const tg_analysis *a, int position) {
    for (int t = 0; t < a->nteachers; t++)
        if (a->teachers[t].position == position) return &a->teachers[t];
    return NULL;
}

/* "p", "p+tg (teacher NAME, pearson, alpha 2)", "layer (teacher NAME, cka, L2)" */
static void describe(const tg_analysis *a, const tg_predictor *p, char *buf, size_t n) {
    if (p->teacher < 0) {
        snprintf(buf, n, "%s", p->kind);
        return;
    }
    const tg_analysis_teacher *te = teacher_at(a, p->teacher);
    char extra[96] = "";
    if (p->layer[0]) snprintf(extra, sizeof extra, ", %s", p->layer);
    else if (isfinite(p->alpha)) snprintf(extra, sizeof extra, ", alpha %g", p->alpha);
    snprintf(buf, n, "%s (teacher %s, %s%s)", p->kind, te ? te->name : "?", p->method, extra);
}

static void corr_str(const tg_corr *c, int digits, char *buf, size_t n) {
    if (!isfinite(c->r)) snprintf(buf, n, "-");
    else if (!isfinite(c->lo)) snprintf(buf, n, "%.*f", digits, c->r);
    else snprintf(buf, n, "%.*f [%.*f, %.*f]", digits, c->r, digits, c->lo, digits, c->hi);
}

/* label, n, Spearman, Pearson, and a note (what a "best" row is) */
static void row(const char *label, const tg_predictor *p, const char *note) {
    char s[64], r[64];
    corr_str(&p->spearman, 3, s, sizeof s);
    corr_str(&p->pearson, 3, r, sizeof r);
    if (note) printf("  %-44s %5lld  %-24s %-24s%s\n", label, (long long)p->n, s, r, note);
    else printf("  %-44s %5lld  %-24s %s\n", label, (long long)p->n, s, r);
}

/* The index of the predictor of `kind`, teacher position and method
 * (p and p_bn: teacher -1), or -1. */
static int find_pred(const tg_analysis_point *pt, const char *kind, int teacher,
                     const char *method) {
    for (int j = 0; j < pt->npred; j++)
        if (!strcmp(pt->pred[j].kind, kind) && pt->pred[j].teacher == teacher &&
            !strcmp(pt->pred[j].method, method))
            return j;
    return -1;
}

static void print_point(const tg_analysis *a, const tg_analysis_point *pt) {
    printf("\nat %g epochs: %lld networks\n", pt->at, (long long)pt->n);
    printf("  %-44s %5s  %-24s %-24s%s\n", "predictor", "n", "Spearman [95%]", "Pearson [95%]",
           "which");
    row("P", &pt->pred[0], NULL);
    row("P_bn (batch-norm statistics recomputed)", &pt->pred[1], NULL);
    for (int t = 0; t < a->nteachers; t++) {
        const tg_analysis_teacher *te = &a->teachers[t];
        int j = find_pred(pt, "tg", te->position, te->method);
        char label[256];
        snprintf(label, sizeof label, "TG %s (%s, %s)", te->name, te->unit, te->method);
        if (j >= 0) row(label, &pt->pred[j], NULL);
    }
    char d[256];
    if (pt->best_mix >= 0) {
        describe(a, &pt->pred[pt->best_mix], d, sizeof d);
        row("best P+alpha*TG", &pt->pred[pt->best_mix], d);
    }
    if (pt->best >= 0) {
        describe(a, &pt->pred[pt->best], d, sizeof d);
        row("best of all", &pt->pred[pt->best], d);
    }
    if (isfinite(pt->gain.r)) {
        char g[64];
        corr_str(&pt->gain, 3, g, sizeof g);
        printf("  %-44s %5s  %s\n", "TG's gain in Spearman over P", "", g);
    }
}

/* The premature point whose best predictor has the highest Spearman, or -1. */
static int best_point(const tg_analysis *a) {
    int k = -1;
    for (int i = 0; i < a->npoints; i++) {
        const tg_analysis_point *pt = &a->points[i];
        if (!pt->premature || pt->best < 0) continue;
        if (k < 0 || pt->pred[pt->best].spearman.r >
                         a->points[k].pred[a->points[k].best].spearman.r)
            k = i;
    }
    return k;
}

static void print_answer(const tg_analysis *a) {
    int k = best_point(a);
    printf("\n");
    if (k < 0) {
        printf("no premature point has a defined correlation (%lld networks complete; at "
               "least 3 with varied values are needed)\n", (long long)a->networks);
        return;
    }
    const tg_analysis_point *pt = &a->points[k];
    const tg_predictor *b = &pt->pred[pt->best], *p = &pt->pred[0];
    char d[256], s[64], sp[64];
    describe(a, b, d, sizeof d);
    corr_str(&b->spearman, 2, s, sizeof s);
    corr_str(&p->spearman, 2, sp, sizeof sp);
    if (pt->best == 0)
        printf("at %g epochs, P alone predicts mature accuracy best: Spearman %s\n", pt->at, s);
    else
        printf("at %g epochs, %s predicts mature accuracy best: Spearman %s vs P alone %s\n",
               pt->at, d, s, sp);
    if (pt->best_tg < 0) {
        printf("whether TG helps cannot be told there: no predictor with TG has a defined "
               "correlation\n");
        return;
    }
    const tg_predictor *t = &pt->pred[pt->best_tg];
    describe(a, t, d, sizeof d);
    const tg_corr *g = &pt->gain;
    if (!isfinite(g->lo)) {
        printf("TG: its best, %s, has Spearman %.2f vs P's %.2f: a plain comparison "
               "(no bootstrap interval%s)\n", d, t->spearman.r, p->spearman.r,
               a->boot == 0 ? ": --boot 0" : "");
    } else if (g->lo > 0) {
        printf("TG helps: %s gains %+.2f in Spearman over P, paired bootstrap 95%% interval "
               "[%+.2f, %+.2f] above 0 (optimistic: the predictor was chosen on these same "
               "networks)\n", d, g->r, g->lo, g->hi);
    } else if (g->hi < 0) {
        printf("TG does not help: even its best, %s, is %+.2f in Spearman against P, paired "
               "bootstrap 95%% interval [%+.2f, %+.2f] below 0\n", d, g->r, g->lo, g->hi);
    } else {
        printf("TG's help is not clear: its best, %s, differs from P by %+.2f in Spearman, "
               "but the paired bootstrap 95%% interval [%+.2f, %+.2f] includes 0\n", d, g->r,
               g->lo, g->hi);
    }
}

static void print_table(const tg_analysis *a) {
    printf("pool %s: %lld networks complete, mature at %g epochs; correlations with mature "
           "accuracy", a->study, (long long)a->networks, a->mature_epochs);
    if (a->boot > 0)
        printf(", bootstrap 95%% intervals (%d resamples, seed %" PRIu64 ")", a->boot, a->seed);
    printf("\n");
    for (int t = 0; t < a->nteachers; t++)
        printf("  teacher %d: %s (%s RDMs, %s, %d layers)\n", a->teachers[t].position,
               a->teachers[t].name, a->teachers[t].unit, a->teachers[t].method,
               a->teachers[t].nlayers);
    int premature = 0;
    for (int k = 0; k < a->npoints; k++)
        if (a->points[k].premature) print_point(a, &a->points[k]), premature++;
    if (!premature) printf("\nthe pool has no premature points (tgsage pool --at)\n");
    else print_answer(a);
}

static int parse_alphas(const char *text, tg_analysis_config *c) {
    char buf[1024], *names[TG_ANALYSIS_MAX_ALPHAS];
    snprintf(buf, sizeof buf, "%s", text);
    int n = tg_cli_split_list(buf, names, TG_ANALYSIS_MAX_ALPHAS);
    if (n < 1) {
        fprintf(stderr, "tgsage analyze: --alpha '%s': expected 1 to %d comma-separated "
                "numbers\n", text, TG_ANALYSIS_MAX_ALPHAS);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (tg_cli_double("analyze", "--alpha", names[i], -1e6, 1e6, &c->alpha[i]) != 0)
            return -1;
    c->nalpha = n;
    return 0;
}

int tg_cmd_analyze(int argc, char **argv) {
    static const struct option longs[] = {
        {"db", 1, 0, 'D'}, {"study", 1, 0, 'N'}, {"boot", 1, 0, 'b'}, {"seed", 1, 0, 's'},
        {"alpha", 1, 0, 'a'}, {"csv", 1, 0, 'c'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *url = NULL, *name = NULL, *csv = NULL;
    int json = 0, ch;
    long v;
    tg_analysis_config c;
    tg_analysis_config_defaults(&c);
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'D': url = optarg; break;
        case 'N': name = optarg; break;
        case 'b':
            if (tg_cli_int("analyze", "--boot", optarg, 0, 1000000, &v)) return TG_EXIT_USAGE;
            c.boot = (int)v;
            break;
        case 's': {
            char *end;
            c.seed = strtoull(optarg, &end, 10);
            if (!*optarg || *end || *optarg == '-') {
                fprintf(stderr, "tgsage analyze: --seed '%s' is not a non-negative integer\n",
                        optarg);
                return TG_EXIT_USAGE;
            }
            break;
        }
        case 'a': if (parse_alphas(optarg, &c)) return TG_EXIT_USAGE; break;
        case 'c': csv = optarg; break;
        case 'j': json = 1; break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage analyze --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
    }
    if (optind < argc || !url || !name) {
        if (optind < argc) fprintf(stderr, "tgsage analyze: unexpected argument '%s'\n", argv[optind]);
        else fprintf(stderr, "tgsage analyze: %s is required (see tgsage analyze --help)\n",
                     !url ? "--db" : "--study");
        return TG_EXIT_USAGE;
    }
    tg_tracker *t;
    tg_study study;
    int code = tg_cli_open_study("analyze", url, name, &t, &study);
    if (code) return code;
    tg_error err;
    tg_analysis a;
    tg_status st = tg_analysis_run(t, study.id, &c, &a, &err);
    tg_tracker_close(t);
    if (st != TG_OK) {
        fprintf(stderr, "tgsage analyze: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    if (csv && tg_analysis_csv(&a, csv, &err) != TG_OK) {
        fprintf(stderr, "tgsage analyze: %s\n", err.msg);
        tg_analysis_free(&a);
        return TG_EXIT_FAIL;
    }
    if (json) {
        char *s = tg_analysis_json(&a);
        if (!s) {
            fprintf(stderr, "tgsage analyze: out of memory\n");
            code = TG_EXIT_FAIL;
        } else {
            printf("%s\n", s);
            free(s);
        }
    } else {
        print_table(&a);
    }
    if (csv) fprintf(stderr, "tgsage analyze: wrote %s\n", csv);
    tg_analysis_free(&a);
    if (fflush(stdout) != 0) code = TG_EXIT_FAIL;
    return code;
}
