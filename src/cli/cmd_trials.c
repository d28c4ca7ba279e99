/* cmd_trials.c - `tgsage trials`: every trial of a study with every field
 * the tracker keeps, as JSON Lines or as CSV (RFC 4180). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/tracker.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage trials --db URL --study NAME [--format csv|json]\n"
"\n"
"Every trial of a study, by number, with every field the database keeps.\n"
"\n"
"options:\n"
"  --db URL            the database (required)\n"
"  --study NAME        the study (required)\n"
"  --format F          json: one object per trial per line (JSON Lines), the\n"
"                      genome, sim, rdms and points as objects and\n"
"                      unmeasured numbers as null; csv: a header row, then one\n"
"                      row per trial (RFC 4180: CRLF line ends, quoted fields\n"
"                      with quotes doubled; genome, sim, rdms and points as\n"
"                      JSON text; unmeasured numbers empty) [json]\n"
"  -h, --help          show this help\n"
"\n"
"Fields: number, state, attempt, hash, score, p, val_loss, tg, examples,\n"
"train_s, eval_s, worker (host:pid of the last claim), owner, created,\n"
"started, finished, heartbeat, lease_until (unix seconds), error, genome, sim,\n"
"parent (a rerank trial's original in the parent study; null otherwise), rdms\n"
"(the winning candidate layers' RDMs, cropped) and points (a pool trial's P and\n"
"similarities at each premature point); docs/formats.md describes them.\n");
}

static void worker_name(const tg_trial *t, char *buf, size_t n) {
    if (t->host[0]) snprintf(buf, n, "%s:%d", t->host, t->pid);
    else buf[0] = '\0';
}

static char *trial_json(const tg_trial *t) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    char worker[96];
    worker_name(t, worker, sizeof worker);
    cJSON_AddNumberToObject(j, "number", (double)t->number);
    cJSON_AddStringToObject(j, "state", tg_trial_state_name(t->state));
    cJSON_AddNumberToObject(j, "attempt", t->attempt);
    cJSON_AddStringToObject(j, "hash", t->hash);
    tg_cli_json_num(j, "score", t->score);
    tg_cli_json_num(j, "p", t->p);
    tg_cli_json_num(j, "val_loss", t->val_loss);
    tg_cli_json_num(j, "tg", t->tg);
    cJSON_AddNumberToObject(j, "examples", (double)t->examples);
    tg_cli_json_num(j, "train_s", t->train_s);
    tg_cli_json_num(j, "eval_s", t->eval_s);
    if (worker[0]) cJSON_AddStringToObject(j, "worker", worker);
    else cJSON_AddNullToObject(j, "worker");
    if (t->owner[0]) cJSON_AddStringToObject(j, "owner", t->owner);
    else cJSON_AddNullToObject(j, "owner");
    tg_cli_json_num(j, "created", t->created);
    tg_cli_json_num(j, "started", t->started);
    tg_cli_json_num(j, "finished", t->finished);
    tg_cli_json_num(j, "heartbeat", t->heartbeat);
    tg_cli_json_num(j, "lease_until", t->lease_until);
    if (t->error) cJSON_AddStringToObject(j, "error", t->error);
    else cJSON_AddNullToObject(j, "error");
    const char *docs[4] = {t->genome, t->sim, t->rdms, t->points};
    const char *keys[4] = {"genome", "sim", "rdms", "points"};
    if (t->parent >= 0) cJSON_AddNumberToObject(j, "parent", (double)t->parent);
    else cJSON_AddNullToObject(j, "parent");
    for (int k = 0; k < 4; k++) {
        cJSON *d = docs[k] ? cJSON_Parse(docs[k]) : NULL;
        if (d) cJSON_AddItemToObject(j, keys[k], d);
        else if (docs[k]) cJSON_AddStringToObject(j, keys[k], docs[k]);  /* not JSON: as text */
        else cJSON_AddNullToObject(j, keys[k]);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* One CSV field: quoted when asked or when it holds a comma, a quote or a
 * line break, quotes doubled inside. */
static void csv_text(FILE *f, const char *s, int quote) {
    if (!s) s = "";
    if (!quote) quote = strpbrk(s, ",\"\r\n") != NULL;
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The shortest of %.15g .. %.17g that reads back as v; empty when not
 * finite. */
static void csv_num(FILE *f, double v) {
    if (!isfinite(v)) return;
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

static const char CSV_HEADER[] =
    "number,state,attempt,hash,score,p,val_loss,tg,examples,train_s,eval_s,worker,owner,"
    "created,started,finished,heartbeat,lease_until,error,genome,sim,parent,rdms,points\r\n";

static void trial_csv(FILE *f, const tg_trial *t) {
    char worker[96];
    worker_name(t, worker, sizeof worker);
    fprintf(f, "%lld,%s,%d,%s,", (long long)t->number, tg_trial_state_name(t->state),
            t->attempt, t->hash);
    const double a[4] = {t->score, t->p, t->val_loss, t->tg};
    for (int k = 0; k < 4; k++) csv_num(f, a[k]), fputc(',', f);
    fprintf(f, "%lld,", (long long)t->examples);
    csv_num(f, t->train_s), fputc(',', f);
    csv_num(f, t->eval_s), fputc(',', f);
    csv_text(f, worker, 0), fputc(',', f);
    csv_text(f, t->owner, 0), fputc(',', f);
    const double b[5] = {t->created, t->started, t->finished, t->heartbeat, t->lease_until};
    for (int k = 0; k < 5; k++) csv_num(f, b[k]), fputc(',', f);
    csv_text(f, t->error, 0), fputc(',', f);
    csv_text(f, t->genome, 1), fputc(',', f);
    csv_text(f, t->sim, t->sim != NULL), fputc(',', f);
    if (t->parent >= 0) fprintf(f, "%lld", (long long)t->parent);
    fputc(',', f);
    csv_text(f, t->rdms, t->rdms != NULL), fputc(',', f);
    csv_text(f, t->points, t->points != NULL);
    fputs("\r\n", f);
}

int tg_cmd_trials(int argc, char **argv) {
    static const struct option longs[] = {{"db", 1, 0, 'D'}, {"study", 1, 0, 'N'},
                                          {"format", 1, 0, 'f'}, {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *url = NULL, *name = NULL, *format = "json";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'D': url = optarg; break;
        case 'N': name = optarg; break;
        case 'f':
            if (strcmp(optarg, "csv") && strcmp(optarg, "json")) {
                fprintf(stderr, "tgsage trials: --format '%s': expected csv or json\n", optarg);
                return TG_EXIT_USAGE;
            }
            format = optarg;
            break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage trials --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
    }
    if (optind < argc || !url || !name) {
        if (optind < argc) fprintf(stderr, "tgsage trials: unexpected argument '%s'\n", argv[optind]);
        else fprintf(stderr, "tgsage trials: %s is required (see tgsage trials --help)\n",
                     !url ? "--db" : "--study");
        return TG_EXIT_USAGE;
    }
    tg_tracker *t;
    tg_study study;
    int code = tg_cli_open_study("trials", url, name, &t, &study);
    if (code) return code;
    tg_error err;
    tg_trial *tr = NULL;
    int64_t n = 0;
    if (tg_trial_list(t, study.id, &tr, &n, &err) != TG_OK) {
        fprintf(stderr, "tgsage trials: %s\n", err.msg);
        tg_tracker_close(t);
        return TG_EXIT_FAIL;
    }
    int csv = !strcmp(format, "csv");
    if (csv) fputs(CSV_HEADER, stdout);
    for (int64_t i = 0; i < n; i++) {
        if (csv) {
            trial_csv(stdout, &tr[i]);
            continue;
        }
        char *s = trial_json(&tr[i]);
        if (!s) {
            fprintf(stderr, "tgsage trials: out of memory\n");
            code = TG_EXIT_FAIL;
            break;
        }
        printf("%s\n", s);
        free(s);
    }
    tg_trials_free(tr, n);
    tg_tracker_close(t);
    if (fflush(stdout) != 0) code = TG_EXIT_FAIL;
    return code;
}
