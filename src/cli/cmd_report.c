/* cmd_report.c - `tgsage report`: the HTML report of a database, written
 * once, or (--watch) rewritten every few seconds while any study runs, the
 * page reloading itself, then a last time without the reload when every
 * study is done or on Ctrl-C. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tgsage/report.h"
#include "tgsage/tracker.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage report --db URL [--study NAME] -o FILE [--watch SECONDS]\n"
"\n"
"One self-contained HTML file of every study in the database, which opens\n"
"offline (the plotting libraries are inside it): search progress (best score\n"
"and best reranked accuracy against trials and against cost in examples, the\n"
"searches side by side), a pool's predictivity (P and P+TG against mature\n"
"accuracy, the correlations over premature epochs), the best architecture\n"
"drawn, the teacher's and the best candidate's RDMs, a sortable table of the\n"
"trials and a table of costs.\n"
"\n"
"options:\n"
"  --db URL            the database (required)\n"
"  --study NAME        the study whose architecture, RDMs and trials are shown\n"
"                      [the first search study]\n"
"  -o, --output FILE   the HTML file to write (required; written atomically)\n"
"  --watch SECONDS     rewrite FILE every SECONDS while any study is not done,\n"
"                      the open page reloading itself; when all are done (or\n"
"                      on Ctrl-C) write it a last time without the reload and\n"
"                      exit 0\n"
"  -h, --help          show this help\n");
}

static void sleep_until(double seconds, volatile sig_atomic_t *stop) {
    struct timespec step = {0, 100 * 1000 * 1000};
    for (double t = 0; t < seconds && !*stop; t += 0.1) nanosleep(&step, NULL);
}

/* 1 while any study of the database is not done. */
static tg_status any_running(tg_tracker *t, int *running, tg_error *err) {
    tg_study *list = NULL;
    int n = 0;
    tg_status st = tg_study_list(t, &list, &n, err);
    *running = 0;
    for (int i = 0; st == TG_OK && i < n; i++) *running |= !list[i].done;
    free(list);
    return st;
}

static void print_written(const char *path) {
    char abs[PATH_MAX];
    if (realpath(path, abs)) printf("wrote %s (file://%s)\n", path, abs);
    else printf("wrote %s\n", path);
    fflush(stdout);
}

int tg_cmd_report(int argc, char **argv) {
    static const struct option longs[] = {{"db", 1, 0, 'D'}, {"study", 1, 0, 'N'},
                                          {"output", 1, 0, 'o'}, {"watch", 1, 0, 'w'},
                                          {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *url = NULL, *out = NULL;
    tg_report_config c = {NULL, 0};
    double watch = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'D': url = optarg; break;
        case 'N': c.study = optarg; break;
        case 'o': out = optarg; break;
        case 'w':
            if (tg_cli_double("report", "--watch", optarg, 0.1, 86400, &watch)) return TG_EXIT_USAGE;
            break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage report --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage report: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    if (!url || !out) {
        fprintf(stderr, "tgsage report: %s is required (see tgsage report --help)\n",
                !url ? "--db" : "-o");
        return TG_EXIT_USAGE;
    }
    tg_tracker *t;
    int code = tg_cli_open_study("report", url, c.study, &t, &(tg_study){0});
    if (code) return code;
    tg_error err;
    volatile sig_atomic_t *stop = watch > 0 ? tg_cli_stop_catch() : NULL;
    int announced = 0;
    for (;;) {
        int running = 0;
        tg_status st = watch > 0 ? any_running(t, &running, &err) : TG_OK;
        int last = watch <= 0 || !running || *stop;
        c.refresh_s = last ? 0 : watch;
        if (st == TG_OK) st = tg_report_write(t, &c, out, &err);
        if (st != TG_OK) {
            fprintf(stderr, "tgsage report: %s\n", err.msg);
            code = TG_EXIT_FAIL;
            break;
        }
        if (last) {
            print_written(out);
            break;
        }
        if (!announced) {
            printf("watching: %s rewritten every %g s while a study runs (Ctrl-C to stop)\n",
                   out, watch);
            print_written(out);
            announced = 1;
        }
        sleep_until(watch, stop);
    }
    if (stop) tg_cli_stop_release();
    tg_tracker_close(t);
    return code;
}
