/* cmd_study.c - reading a study's database: `tgsage status` (every study
 * or one, with its counts) and `tgsage best` (the k best complete trials,
 * with their genomes' sizes), plus what `tgsage trials` shares with them:
 * opening the database and finding the study. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/genome.h"
#include "tgsage/tracker.h"

int tg_cli_open_study(const char *cmd, const char *url, const char *name, tg_tracker **t,
                      tg_study *study) {
    tg_error err;
    *t = NULL;
    if (tg_tracker_open(url, t, &err) != TG_OK) {
        fprintf(stderr, "tgsage %s: %s\n", cmd, err.msg);
        return TG_EXIT_FAIL;
    }
    if (name && tg_study_get(*t, name, study, &err) != TG_OK) {
        fprintf(stderr, "tgsage %s: %s\n", cmd, err.msg);
        tg_tracker_close(*t);
        *t = NULL;
        return TG_EXIT_FAIL;
    }
    return 0;
}

cJSON *tg_cli_json_num(cJSON *obj, const char *key, double v) {
    return isfinite(v) ? cJSON_AddNumberToObject(obj, key, v) : cJSON_AddNullToObject(obj, key);
}

/* ---- status ---------------------------------------------------------------- */

static void status_help(FILE *f) {
    fprintf(f,
"usage: tgsage status --db URL [--study NAME] [--json]\n"
"\n"
"Every study of the database (or one): its algorithm, space and score, its\n"
"trials complete, running, waiting and failed out of its budget, the best\n"
"score and trial, and the cost in examples trained.\n"
"\n"
"options:\n"
"  --db URL            the database (required)\n"
"  --study NAME        only this study\n"
"  --json              one JSON object per study per line (JSON Lines) with\n"
"                      name, algo, space, score, alpha, epochs, data, trials,\n"
"                      parallel, done, complete, running, waiting, failed,\n"
"                      proposals, best (null when none), best_number (-1),\n"
"                      examples, created\n"
"  -h, --help          show this help\n");
}

static cJSON *study_json(const tg_study *s, const tg_study_counts *n) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "name", s->name);
    cJSON_AddStringToObject(j, "algo", s->cfg.algo);
    cJSON_AddStringToObject(j, "space", s->cfg.space);
    cJSON_AddStringToObject(j, "score", s->cfg.score);
    tg_cli_json_num(j, "alpha", s->cfg.alpha);
    tg_cli_json_num(j, "epochs", s->cfg.epochs);
    cJSON_AddStringToObject(j, "data", s->cfg.data);
    cJSON_AddNumberToObject(j, "trials", (double)s->cfg.trials);
    cJSON_AddNumberToObject(j, "parallel", s->cfg.parallel);
    cJSON_AddBoolToObject(j, "done", s->done);
    cJSON_AddNumberToObject(j, "complete", (double)n->complete);
    cJSON_AddNumberToObject(j, "running", (double)n->running);
    cJSON_AddNumberToObject(j, "waiting", (double)n->waiting);
    cJSON_AddNumberToObject(j, "failed", (double)n->failed);
    cJSON_AddNumberToObject(j, "proposals", (double)n->proposals);
    tg_cli_json_num(j, "best", n->best);
    cJSON_AddNumberToObject(j, "best_number", (double)n->best_number);
    cJSON_AddNumberToObject(j, "examples", (double)n->examples);
    tg_cli_json_num(j, "created", s->created);
    return j;
}

int tg_cmd_status(int argc, char **argv) {
    static const struct option longs[] = {{"db", 1, 0, 'D'}, {"study", 1, 0, 'N'},
                                          {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *url = NULL, *name = NULL;
    int json = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'D': url = optarg; break;
        case 'N': name = optarg; break;
        case 'j': json = 1; break;
        case 'h': status_help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage status --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
    }
    if (optind < argc || !url) {
        if (optind < argc) fprintf(stderr, "tgsage status: unexpected argument '%s'\n", argv[optind]);
        else fprintf(stderr, "tgsage status: --db is required (see tgsage status --help)\n");
        return TG_EXIT_USAGE;
    }
    tg_tracker *t;
    tg_study one, *list = NULL;
    int n = 0, code = tg_cli_open_study("status", url, name, &t, &one);
    if (code) return code;
    tg_error err;
    if (name) list = &one, n = 1;
    else if (tg_study_list(t, &list, &n, &err) != TG_OK) {
        fprintf(stderr, "tgsage status: %s\n", err.msg);
        tg_tracker_close(t);
        return TG_EXIT_FAIL;
    }
    if (!json && n == 0) printf("no studies in %s\n", tg_tracker_url(t));
    if (!json && n > 0)
        printf("%-20s %-9s %-24s %-9s %8s %7s %7s %6s %5s %12s %10s\n", "study", "algo", "space",
               "score", "complete", "running", "waiting", "failed", "done", "best", "examples");
    for (int i = 0; i < n && code == 0; i++) {
        tg_study_counts c;
        if (tg_study_counts_get(t, list[i].id, &c, &err) != TG_OK) {
            fprintf(stderr, "tgsage status: %s\n", err.msg);
            code = TG_EXIT_FAIL;
            break;
        }
        if (json) {
            cJSON *j = study_json(&list[i], &c);
            char *s = j ? cJSON_PrintUnformatted(j) : NULL;
            if (s) printf("%s\n", s);
            else code = TG_EXIT_FAIL;
            free(s);
            cJSON_Delete(j);
            continue;
        }
        char comp[48], best[48];
        snprintf(comp, sizeof comp, "%lld/%lld", (long long)c.complete,
                 (long long)list[i].cfg.trials);
        if (isfinite(c.best)) snprintf(best, sizeof best, "%.4f #%lld", c.best, (long long)c.best_number);
        else snprintf(best, sizeof best, "-");
        printf("%-20s %-9s %-24s %-9s %8s %7lld %7lld %6lld %5s %12s %10lld\n", list[i].name,
               list[i].cfg.algo, list[i].cfg.space, list[i].cfg.score, comp,
               (long long)c.running, (long long)c.waiting, (long long)c.failed,
               list[i].done ? "yes" : "no", best, (long long)c.examples);
    }
    if (!name) free(list);
    tg_tracker_close(t);
    if (fflush(stdout) != 0) code = TG_EXIT_FAIL;
    return code;
}

/* ---- best ------------------------------------------------------------------ */

static void best_help(FILE *f) {
    fprintf(f,
"usage: tgsage best --db URL --study NAME [--k K] [--json]\n"
"\n"
"The K complete trials of highest score (ties: the earlier trial first):\n"
"rank, trial number, score, P, TG, parameters and multiply-adds of the\n"
"network for the study's data, and the genome's hash.\n"
"\n"
"options:\n"
"  --db URL            the database (required)\n"
"  --study NAME        the study (required)\n"
"  --k K               how many [5]\n"
"  --json              one JSON object per trial per line, with the genome as\n"
"                      an object: save one with jq '.genome' and train it with\n"
"                      tgsage train --genome FILE\n"
"  -h, --help          show this help\n");
}

/* The images a study's networks see, from its data spec (for the sizes
 * only: 1x28x28 for the MNISTs, 3x32x32 otherwise; 100 or 20 classes for
 * CIFAR-100). */
static void input_shape(const char *data, int *c, int *h, int *w, int *classes) {
    *c = 3, *h = 32, *w = 32, *classes = 10;
    if (!strcmp(data, "fashion-mnist") || !strncmp(data, "mnist", 5)) *c = 1, *h = *w = 28;
    if (!strncmp(data, "cifar100:", 9)) {
        size_t n = strlen(data);
        *classes = n > 7 && !strcmp(data + n - 7, ":coarse") ? 20 : 100;
    }
}

int tg_cmd_best(int argc, char **argv) {
    static const struct option longs[] = {{"db", 1, 0, 'D'}, {"study", 1, 0, 'N'},
                                          {"k", 1, 0, 'k'}, {"json", 0, 0, 'j'},
                                          {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *url = NULL, *name = NULL;
    long k = 5;
    int json = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'D': url = optarg; break;
        case 'N': name = optarg; break;
        case 'k': if (tg_cli_int("best", "--k", optarg, 1, 1L << 30, &k)) return TG_EXIT_USAGE;
                  break;
        case 'j': json = 1; break;
        case 'h': best_help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage best --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
    }
    if (optind < argc || !url || !name) {
        if (optind < argc) fprintf(stderr, "tgsage best: unexpected argument '%s'\n", argv[optind]);
        else fprintf(stderr, "tgsage best: %s is required (see tgsage best --help)\n",
                     !url ? "--db" : "--study");
        return TG_EXIT_USAGE;
    }
    tg_tracker *t;
    tg_study study;
    int code = tg_cli_open_study("best", url, name, &t, &study);
    if (code) return code;
    tg_error err;
    tg_trial *tr = NULL;
    int64_t n = 0;
    if (tg_trial_best(t, study.id, (int)k, &tr, &n, &err) != TG_OK) {
        fprintf(stderr, "tgsage best: %s\n", err.msg);
        tg_tracker_close(t);
        return TG_EXIT_FAIL;
    }
    int c, h, w, classes;
    input_shape(study.cfg.data, &c, &h, &w, &classes);
    if (!json)
        printf("%4s %6s %10s %8s %8s %10s %12s  %s\n", "rank", "trial", "score", "p", "tg",
               "params", "macs", "hash");
    for (int64_t i = 0; i < n && code == 0; i++) {
        tg_genome_stats gs = {-1, -1, -1, 0, 0};
        tg_genome *g = tg_genome_parse(tr[i].genome ? tr[i].genome : "", NULL, &err);
        if (!g || tg_genome_stats_get(g, c, h, w, classes, &gs, &err) != TG_OK) {
            fprintf(stderr, "tgsage best: trial %lld: %s\n", (long long)tr[i].number, err.msg);
            code = TG_EXIT_FAIL;
        }
        tg_genome_free(g);
        if (code) break;
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "rank", (double)(i + 1));
            cJSON_AddNumberToObject(j, "number", (double)tr[i].number);
            tg_cli_json_num(j, "score", tr[i].score);
            tg_cli_json_num(j, "p", tr[i].p);
            tg_cli_json_num(j, "tg", tr[i].tg);
            cJSON_AddNumberToObject(j, "params", (double)gs.params);
            cJSON_AddNumberToObject(j, "macs", (double)gs.macs);
            cJSON_AddNumberToObject(j, "examples", (double)tr[i].examples);
            cJSON_AddStringToObject(j, "hash", tr[i].hash);
            cJSON *gj = cJSON_Parse(tr[i].genome);
            if (gj) cJSON_AddItemToObject(j, "genome", gj);
            else cJSON_AddNullToObject(j, "genome");
            char *s = cJSON_PrintUnformatted(j);
            if (s) printf("%s\n", s);
            else code = TG_EXIT_FAIL;
            free(s);
            cJSON_Delete(j);
        } else {
            char p[24] = "-", tg[24] = "-";
            if (isfinite(tr[i].p)) snprintf(p, sizeof p, "%.4g", tr[i].p);
            if (isfinite(tr[i].tg)) snprintf(tg, sizeof tg, "%.4g", tr[i].tg);
            printf("%4lld %6lld %10.6g %8s %8s %10lld %12lld  %s\n", (long long)(i + 1),
                   (long long)tr[i].number, tr[i].score, p, tg, (long long)gs.params,
                   (long long)gs.macs, tr[i].hash);
        }
    }
    if (!json && n == 0) printf("no complete trial in study '%s' yet\n", name);
    tg_trials_free(tr, n);
    tg_tracker_close(t);
    if (fflush(stdout) != 0) code = TG_EXIT_FAIL;
    return code;
}
