/* cmd_study.c - reading a study's database: `tgsage status` (every study
 * or one, with its counts and the study a rerank reranks) and `tgsage best`
 * (the k best complete trials, with their genomes' sizes, and for a rerank
 * study each trial's original beside it), plus what `tgsage trials` and the
 * other study commands share: opening the database and finding the study,
 * the input shape of a study's data. */
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

/* cJSON prints a number with 15 digits when that reads back within about
 * an ulp, not exactly; a score a user compares with the database must read
 * back bit for bit, so the shortest of 15, 16, 17 digits that does is
 * written as it is (a raw item: for output only). */
cJSON *tg_cli_json_num(cJSON *obj, const char *key, double v) {
    if (!isfinite(v)) return cJSON_AddNullToObject(obj, key);
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return cJSON_AddRawToObject(obj, key, buf);
}

/* ---- status ---------------------------------------------------------------- */

static void status_help(FILE *f) {
    fprintf(f,
"usage: tgsage status --db URL [--study NAME] [--json]\n"
"\n"
"Every study of the database (or one): its algorithm (a search's, or rerank\n"
"and pool for the studies of tgsage rerank and tgsage pool), space, score and\n"
"training budget in epochs, its trials complete, running, waiting and failed\n"
"out of its budget, the best score and trial, the cost in examples trained,\n"
"and for a rerank study the search study it reranks (its parent).\n"
"\n"
"options:\n"
"  --db URL            the database (required)\n"
"  --study NAME        only this study\n"
"  --json              one JSON object per study per line (JSON Lines) with\n"
"                      name, algo, space, score, alpha, epochs, data, trials,\n"
"                      parallel, done, complete, running, waiting, failed,\n"
"                      proposals, best (null when none), best_number (-1),\n"
"                      examples, created, parent (the parent study's name,\n"
"                      null when none) and, for a pool, at (its premature\n"
"                      points)\n"
"  -h, --help          show this help\n");
}

/* The name of study id among list[0..n) ("?" when missing). */
static const char *name_of(const tg_study *list, int n, int64_t id) {
    for (int i = 0; i < n; i++)
        if (list[i].id == id) return list[i].name;
    return "?";
}

static cJSON *study_json(const tg_study *s, const tg_study_counts *n, const char *parent) {
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
    if (parent) cJSON_AddStringToObject(j, "parent", parent);
    else cJSON_AddNullToObject(j, "parent");
    if (s->cfg.nat > 0) {
        cJSON *at = cJSON_AddArrayToObject(j, "at");
        for (int i = 0; i < s->cfg.nat; i++)
            cJSON_AddItemToArray(at, cJSON_CreateNumber(s->cfg.at[i]));
    }
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
    /* every study, also to name a parent */
    if (tg_study_list(t, &list, &n, &err) != TG_OK) {
        fprintf(stderr, "tgsage status: %s\n", err.msg);
        tg_tracker_close(t);
        return TG_EXIT_FAIL;
    }
    if (!json && n == 0) printf("no studies in %s\n", tg_tracker_url(t));
    if (!json && n > 0)
        printf("%-20s %-9s %-24s %-9s %7s %8s %7s %7s %6s %5s %12s %12s  %s\n", "study", "algo",
               "space", "score", "epochs", "complete", "running", "waiting", "failed", "done",
               "best", "examples", "parent");
    for (int i = 0; i < n && code == 0; i++) {
        const tg_study *s = &list[i];
        if (name && s->id != one.id) continue;
        tg_study_counts c;
        if (tg_study_counts_get(t, s->id, &c, &err) != TG_OK) {
            fprintf(stderr, "tgsage status: %s\n", err.msg);
            code = TG_EXIT_FAIL;
            break;
        }
        const char *parent = s->parent >= 0 ? name_of(list, n, s->parent) : NULL;
        if (json) {
            cJSON *j = study_json(s, &c, parent);
            char *text = j ? cJSON_PrintUnformatted(j) : NULL;
            if (text) printf("%s\n", text);
            else code = TG_EXIT_FAIL;
            free(text);
            cJSON_Delete(j);
            continue;
        }
        char comp[48], best[48];
        snprintf(comp, sizeof comp, "%lld/%lld", (long long)c.complete, (long long)s->cfg.trials);
        if (isfinite(c.best)) snprintf(best, sizeof best, "%.4f #%lld", c.best, (long long)c.best_number);
        else snprintf(best, sizeof best, "-");
        printf("%-20s %-9s %-24s %-9s %7.3g %8s %7lld %7lld %6lld %5s %12s %12lld  %s\n", s->name,
               s->cfg.algo, s->cfg.space, s->cfg.score, s->cfg.epochs, comp,
               (long long)c.running, (long long)c.waiting, (long long)c.failed,
               s->done ? "yes" : "no", best, (long long)c.examples, parent ? parent : "-");
    }
    free(list);
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
"network for the study's data, and the genome's hash. For a rerank study\n"
"(tgsage rerank) each trial's original in the search (parent) is shown with\n"
"its score there, beside the reranked one.\n"
"\n"
"options:\n"
"  --db URL            the database (required)\n"
"  --study NAME        the study (required)\n"
"  --k K               how many [5]\n"
"  --json              one JSON object per trial per line, with the genome as\n"
"                      an object: save one with jq '.genome' and train it with\n"
"                      tgsage train --genome FILE; a rerank study's also\n"
"                      have parent, parent_score and parent_p\n"
"  -h, --help          show this help\n");
}

/* A rerank study's parent trials (by number; *out NULL when s has no
 * parent). 0 or the exit code after printing why. */
static int parent_trials(tg_tracker *t, const tg_study *s, tg_trial **out, int64_t *n) {
    *out = NULL, *n = 0;
    if (s->parent < 0) return 0;
    tg_error err;
    if (tg_trial_list(t, s->parent, out, n, &err) == TG_OK) return 0;
    fprintf(stderr, "tgsage best: the parent of study '%s': %s\n", s->name, err.msg);
    return TG_EXIT_FAIL;
}

static const tg_trial *trial_number(const tg_trial *tr, int64_t n, int64_t number) {
    for (int64_t i = 0; i < n; i++)
        if (tr[i].number == number) return &tr[i];
    return NULL;
}

static void fmt_num(char *buf, size_t n, int digits, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.*g", digits, v);
    else snprintf(buf, n, "-");
}

void tg_cli_input_shape(const char *data, int *c, int *h, int *w, int *classes) {
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
    tg_trial *tr = NULL, *par = NULL;
    int64_t n = 0, npar = 0;
    if (tg_trial_best(t, study.id, (int)k, &tr, &n, &err) != TG_OK) {
        fprintf(stderr, "tgsage best: %s\n", err.msg);
        tg_tracker_close(t);
        return TG_EXIT_FAIL;
    }
    code = parent_trials(t, &study, &par, &npar);
    int rerank = study.parent >= 0;
    int c, h, w, classes;
    tg_cli_input_shape(study.cfg.data, &c, &h, &w, &classes);
    if (!json && code == 0) {
        printf("%4s %6s ", "rank", "trial");
        if (rerank) printf("%6s %12s ", "parent", "parent-score");
        printf("%10s %8s %8s %10s %12s  %s\n", "score", "p", "tg", "params", "macs", "hash");
    }
    for (int64_t i = 0; i < n && code == 0; i++) {
        tg_genome_stats gs = {-1, -1, -1, 0, 0};
        tg_genome *g = tg_genome_parse(tr[i].genome ? tr[i].genome : "", NULL, &err);
        if (!g || tg_genome_stats_get(g, c, h, w, classes, &gs, &err) != TG_OK) {
            fprintf(stderr, "tgsage best: trial %lld: %s\n", (long long)tr[i].number, err.msg);
            code = TG_EXIT_FAIL;
        }
        tg_genome_free(g);
        if (code) break;
        const tg_trial *pt = rerank ? trial_number(par, npar, tr[i].parent) : NULL;
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "rank", (double)(i + 1));
            cJSON_AddNumberToObject(j, "number", (double)tr[i].number);
            tg_cli_json_num(j, "score", tr[i].score);
            tg_cli_json_num(j, "p", tr[i].p);
            tg_cli_json_num(j, "tg", tr[i].tg);
            if (rerank) {
                cJSON_AddNumberToObject(j, "parent", (double)tr[i].parent);
                tg_cli_json_num(j, "parent_score", pt ? pt->score : NAN);
                tg_cli_json_num(j, "parent_p", pt ? pt->p : NAN);
            }
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
            char p[24], tgv[24], ps[24];
            fmt_num(p, sizeof p, 4, tr[i].p);
            fmt_num(tgv, sizeof tgv, 4, tr[i].tg);
            fmt_num(ps, sizeof ps, 6, pt ? pt->score : NAN);
            printf("%4lld %6lld ", (long long)(i + 1), (long long)tr[i].number);
            if (rerank) printf("%6lld %12s ", (long long)tr[i].parent, ps);
            printf("%10.6g %8s %8s %10lld %12lld  %s\n", tr[i].score, p, tgv,
                   (long long)gs.params, (long long)gs.macs, tr[i].hash);
        }
    }
    if (!json && n == 0 && code == 0) printf("no complete trial in study '%s' yet\n", name);
    tg_trials_free(tr, n);
    tg_trials_free(par, npar);
    tg_tracker_close(t);
    if (fflush(stdout) != 0) code = TG_EXIT_FAIL;
    return code;
}
