/* cmd_rerank.c - `tgsage rerank`: the paper's post-search step. The top K
 * trials of a search are trained again for a longer budget in a study of
 * their own (tg_rerank_run) by local workers, then shown beside their
 * search scores with the cost of both stages. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "tgsage/genome.h"
#include "tgsage/tracker.h"
#include "tgsage/worker.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage rerank --db URL --study NAME --top K --epochs E2 [options]\n"
"\n"
"Train the K best architectures of a search again for E2 epochs (the paper's\n"
"post-search step) and set their accuracy beside the search's score. They\n"
"are the trials of a study of their own (NAME.rerank by default: the\n"
"search's data, split, seed, score and teacher, algo rerank), each linked to\n"
"its original trial; workers started here (or 'tgsage worker' anywhere that\n"
"reaches the database) train them. Running the same command again resumes;\n"
"a larger --top extends the rerank with the next trials of the search.\n"
"\n"
"options:\n"
"  --db URL            the database (required)\n"
"  --study NAME        the search study (required)\n"
"  --top K             how many of its best complete trials (required)\n"
"  --epochs E2         the longer training budget (required)\n"
"  --into NAME2        the rerank study's name [NAME.rerank]\n"
"  --train-limit N     train on the first N images of the search's training\n"
"                      part, 0: all of it (the held-out images stay the\n"
"                      search's) [the search's]\n"
"  --workers N         local worker processes, 0: only workers from elsewhere [1]\n"
"  --threads T         threads of each local worker, 0 = all cores [0]\n"
"  --objective-cmd CMD for a search scored by an objective command (and only\n"
"                      then): the local workers score by /bin/sh -c CMD\n"
"  --trainer-cmd CMD   the local workers train with CMD (see tgsage worker)\n"
"  --cmd-timeout S     seconds a command may run, 0: no limit [0]\n"
"  --json              at the end, one JSON object on stdout instead of the\n"
"                      table: study, parent, status, top, epochs,\n"
"                      search_epochs, rows (rank, trial, parent, state,\n"
"                      search_score, search_p, search_tg, p, tg, score, params,\n"
"                      examples) and cost (search_trials, search_examples,\n"
"                      rerank_trials, rerank_examples, total_examples)\n"
"  -h, --help          show this help\n"
"\n"
"Progress goes to stderr (one line rewritten on a terminal, log lines when\n"
"piped). At the end a table by the search's rank: the rerank trial, its\n"
"original (parent) trial, the search's score, P and TG, the reranked P, TG\n"
"and score, the parameters; and the cost in examples trained: the search's\n"
"(M1 x E1), the rerank's (M2 x E2) and their total. Ctrl-C stops cleanly:\n"
"workers give their trials back and the same command resumes.\n"
"Exit status: 0 done or stopped, 1 failed, 2 usage.\n");
}

typedef struct {
    const char *db, *study, *into, *objective_cmd, *trainer_cmd, *cmd_timeout, *threads;
    long top, workers, train_limit;
    double epochs;
    int json;
    char name[160];      /* the rerank study */
} options;

static int parse(int argc, char **argv, options *o) {
    static const struct option longs[] = {
        {"db", 1, 0, 'D'},       {"study", 1, 0, 'N'},         {"top", 1, 0, 'K'},
        {"epochs", 1, 0, 'e'},   {"into", 1, 0, 'i'},          {"workers", 1, 0, 'w'},
        {"threads", 1, 0, 't'},  {"objective-cmd", 1, 0, 'o'}, {"trainer-cmd", 1, 0, 'c'},
        {"cmd-timeout", 1, 0, 'C'}, {"json", 0, 0, 'j'},       {"help", 0, 0, 'h'},
        {"train-limit", 1, 0, 'T'}, {0, 0, 0, 0}};
    const char *cmd = "rerank";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        long l;
        double v;
        switch (ch) {
        case 'D': o->db = optarg; break;
        case 'N': o->study = optarg; break;
        case 'K': bad = tg_cli_int(cmd, "--top", optarg, 1, 1 << 20, &o->top); break;
        case 'e': bad = tg_cli_double(cmd, "--epochs", optarg, 1e-6, 1e6, &o->epochs); break;
        case 'i': o->into = optarg; break;
        case 'T': bad = tg_cli_int(cmd, "--train-limit", optarg, 0, 1L << 40, &o->train_limit);
                  break;
        case 'w': bad = tg_cli_int(cmd, "--workers", optarg, 0, 1024, &o->workers); break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &l);
                  o->threads = optarg; break;
        case 'o': o->objective_cmd = optarg; break;
        case 'c': o->trainer_cmd = optarg; break;
        case 'C': bad = tg_cli_double(cmd, "--cmd-timeout", optarg, 0, 1e9, &v);
                  o->cmd_timeout = optarg; break;
        case 'j': o->json = 1; break;
        case 'h': help(stdout); return -1;
        default: fprintf(stderr, "Run 'tgsage rerank --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage rerank: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    const char *missing = !o->db ? "--db" : !o->study ? "--study" : !o->top ? "--top"
                        : !(o->epochs > 0) ? "--epochs" : NULL;
    if (missing) {
        fprintf(stderr, "tgsage rerank: %s is required (see tgsage rerank --help)\n", missing);
        return TG_EXIT_USAGE;
    }
    if (o->objective_cmd && o->trainer_cmd) {
        fprintf(stderr, "tgsage rerank: give --objective-cmd or --trainer-cmd, not both\n");
        return TG_EXIT_USAGE;
    }
    int n = o->into ? snprintf(o->name, sizeof o->name, "%s", o->into)
                    : snprintf(o->name, sizeof o->name, "%s.rerank", o->study);
    if (n < 0 || (size_t)n >= sizeof o->name) {
        fprintf(stderr, "tgsage rerank: the rerank study's name is too long\n");
        return TG_EXIT_USAGE;
    }
    return 0;
}

/* The search must exist, and an objective command goes with an objective
 * search only (its workers would refuse either mistake, one by one). */
static int check_parent(const options *o) {
    tg_tracker *t;
    tg_study s;
    int code = tg_cli_open_study("rerank", o->db, o->study, &t, &s);
    if (code) return code;
    tg_tracker_close(t);
    int objective = !strcmp(s.cfg.score, "objective");
    if (objective && !o->objective_cmd) {
        fprintf(stderr, "tgsage rerank: study '%s' was scored by an objective command, which "
                "a rerank cannot train longer: give --objective-cmd to rerun one\n", s.name);
        return TG_EXIT_FAIL;
    }
    if (!objective && o->objective_cmd) {
        fprintf(stderr, "tgsage rerank: study '%s' scores %s by training: --objective-cmd is "
                "only for a search scored by one\n", s.name, s.cfg.score);
        return TG_EXIT_FAIL;
    }
    return 0;
}

static void on_progress(const tg_queue_progress *p, void *user) {
    char el[32], eta[32], text[400];
    tg_progress_time(p->elapsed_s, el, sizeof el);
    tg_progress_time(p->eta_s, eta, sizeof eta);
    snprintf(text, sizeof text, "reranked %lld/%lld (%lld running, %lld waiting, %lld failed) "
             "| %s, %s left | %lld examples, %d worker%s", (long long)(p->complete + p->failed),
             (long long)p->total, (long long)p->running, (long long)p->waiting,
             (long long)p->failed, el, eta, (long long)p->examples, p->workers,
             p->workers == 1 ? "" : "s");
    tg_progress_show(user, text, p->complete + p->failed, 0);
}

/* ---- the result ------------------------------------------------------------ */

typedef struct {
    tg_study parent, rr;
    tg_study_counts pc, rc;
    tg_trial *top, *trials;     /* the parent's top K; the rerank's trials */
    int64_t ntop, ntrials;
} result;

static void result_free(result *r) {
    tg_trials_free(r->top, r->ntop);
    tg_trials_free(r->trials, r->ntrials);
}

static int read_result(const options *o, result *r) {
    memset(r, 0, sizeof *r);
    tg_tracker *t;
    int code = tg_cli_open_study("rerank", o->db, o->study, &t, &r->parent);
    if (code) return code;
    tg_error err;
    tg_status st = tg_study_get(t, o->name, &r->rr, &err);
    if (st == TG_OK) st = tg_study_counts_get(t, r->parent.id, &r->pc, &err);
    if (st == TG_OK) st = tg_study_counts_get(t, r->rr.id, &r->rc, &err);
    if (st == TG_OK) st = tg_trial_best(t, r->parent.id, (int)o->top, &r->top, &r->ntop, &err);
    if (st == TG_OK) st = tg_trial_list(t, r->rr.id, &r->trials, &r->ntrials, &err);
    tg_tracker_close(t);
    if (st == TG_OK) return 0;
    fprintf(stderr, "tgsage rerank: reading the result: %s\n", err.msg);
    result_free(r);
    return TG_EXIT_FAIL;
}

static const tg_trial *reranked(const result *r, int64_t parent_number) {
    for (int64_t i = 0; i < r->ntrials; i++)
        if (r->trials[i].parent == parent_number) return &r->trials[i];
    return NULL;
}

static int64_t params_of(const tg_study *s, const char *genome) {
    int c, h, w, classes;
    tg_cli_input_shape(s->cfg.data, &c, &h, &w, &classes);
    tg_genome_stats gs = {-1, -1, -1, 0, 0};
    tg_genome *g = tg_genome_parse(genome ? genome : "", NULL, NULL);
    if (!g || tg_genome_stats_get(g, c, h, w, classes, &gs, NULL) != TG_OK) gs.params = -1;
    tg_genome_free(g);
    return gs.params;
}

static void cell(char *buf, size_t n, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.4f", v);
    else snprintf(buf, n, "-");
}

static void print_table(const result *r, int stopped) {
    printf("rerank study '%s' of '%s': the top %lld trained %g epochs (the search: %g)%s\n",
           r->rr.name, r->parent.name, (long long)r->ntop, r->rr.cfg.epochs,
           r->parent.cfg.epochs, stopped ? " (stopped; the same command resumes)" : "");
    printf("%4s %6s %6s %12s %8s %9s %9s %9s %12s %10s\n", "rank", "trial", "parent",
           "search-score", "search-p", "search-tg", "rerank-p", "rerank-tg", "rerank-score",
           "params");
    for (int64_t i = 0; i < r->ntop; i++) {
        const tg_trial *a = &r->top[i], *b = reranked(r, a->number);
        char ss[24], sp[24], st[24], rp[24], rt[24], rs[24], num[24];
        cell(ss, sizeof ss, a->score), cell(sp, sizeof sp, a->p), cell(st, sizeof st, a->tg);
        snprintf(num, sizeof num, "-");
        snprintf(rp, sizeof rp, "-"), snprintf(rt, sizeof rt, "-"), snprintf(rs, sizeof rs, "-");
        if (b) {
            snprintf(num, sizeof num, "%lld", (long long)b->number);
            if (b->state == TG_TRIAL_COMPLETE) {
                cell(rp, sizeof rp, b->p), cell(rt, sizeof rt, b->tg);
                cell(rs, sizeof rs, b->score);
            } else {
                snprintf(rp, sizeof rp, "%s", tg_trial_state_name(b->state));
            }
        }
        printf("%4lld %6s %6lld %12s %8s %9s %9s %9s %12s %10lld\n", (long long)(i + 1), num,
               (long long)a->number, ss, sp, st, rp, rt, rs,
               (long long)params_of(&r->parent, a->genome));
    }
    int64_t m1 = r->pc.complete + r->pc.failed, m2 = r->rc.complete + r->rc.failed;
    char on[96] = "";
    if (r->rr.cfg.train_limit != r->parent.cfg.train_limit) {
        if (r->rr.cfg.train_limit > 0)
            snprintf(on, sizeof on, " of %lld images", (long long)r->rr.cfg.train_limit);
        else
            snprintf(on, sizeof on, " of the whole training part");
    }
    printf("cost: search %lld trials x %g epochs = %lld examples; rerank %lld trials x %g "
           "epochs%s = %lld examples; total %lld examples\n", (long long)m1,
           r->parent.cfg.epochs, (long long)r->pc.examples, (long long)m2, r->rr.cfg.epochs, on,
           (long long)r->rc.examples, (long long)(r->pc.examples + r->rc.examples));
}

static int print_json(const result *r, int stopped) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "study", r->rr.name);
    cJSON_AddStringToObject(j, "parent", r->parent.name);
    cJSON_AddStringToObject(j, "status", stopped ? "stopped" : "done");
    cJSON_AddNumberToObject(j, "top", (double)r->ntop);
    cJSON_AddNumberToObject(j, "epochs", r->rr.cfg.epochs);
    cJSON_AddNumberToObject(j, "search_epochs", r->parent.cfg.epochs);
    cJSON *rows = cJSON_AddArrayToObject(j, "rows");
    for (int64_t i = 0; i < r->ntop; i++) {
        const tg_trial *a = &r->top[i], *b = reranked(r, a->number);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "rank", (double)(i + 1));
        if (b) cJSON_AddNumberToObject(x, "trial", (double)b->number);
        else cJSON_AddNullToObject(x, "trial");
        cJSON_AddNumberToObject(x, "parent", (double)a->number);
        cJSON_AddStringToObject(x, "state", b ? tg_trial_state_name(b->state) : "missing");
        tg_cli_json_num(x, "search_score", a->score);
        tg_cli_json_num(x, "search_p", a->p);
        tg_cli_json_num(x, "search_tg", a->tg);
        int ok = b && b->state == TG_TRIAL_COMPLETE;
        tg_cli_json_num(x, "p", ok ? b->p : NAN);
        tg_cli_json_num(x, "tg", ok ? b->tg : NAN);
        tg_cli_json_num(x, "score", ok ? b->score : NAN);
        cJSON_AddNumberToObject(x, "params", (double)params_of(&r->parent, a->genome));
        cJSON_AddNumberToObject(x, "examples", b ? (double)b->examples : 0);
        cJSON_AddItemToArray(rows, x);
    }
    cJSON *c = cJSON_AddObjectToObject(j, "cost");
    cJSON_AddNumberToObject(c, "search_trials", (double)(r->pc.complete + r->pc.failed));
    cJSON_AddNumberToObject(c, "search_examples", (double)r->pc.examples);
    cJSON_AddNumberToObject(c, "rerank_trials", (double)(r->rc.complete + r->rc.failed));
    cJSON_AddNumberToObject(c, "rerank_examples", (double)r->rc.examples);
    cJSON_AddNumberToObject(c, "total_examples", (double)(r->pc.examples + r->rc.examples));
    char *s = cJSON_PrintUnformatted(j);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
    return s ? 0 : TG_EXIT_FAIL;
}

int tg_cmd_rerank(int argc, char **argv) {
    options o;
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.train_limit = -1;   /* the search's */
    int code = parse(argc, argv, &o);
    if (code) return code < 0 ? TG_EXIT_OK : code;
    if ((code = check_parent(&o))) return code;
    tg_progress disp;
    tg_progress_init(&disp, "rerank");
    char exe[4096], *av[TG_CLI_WORKER_ARGV_MAX];
    tg_cli_worker_opts wo = {o.name, o.objective_cmd, o.trainer_cmd, o.cmd_timeout,
                             o.threads, disp.tty};
    tg_cli_worker_argv(&wo, exe, sizeof exe, av);
    if ((code = tg_cli_worker_env("rerank", o.db))) return code;
    tg_rerank_config rc = {o.study, o.name, (int)o.top, o.epochs, o.train_limit};
    tg_queue_run_config q;
    memset(&q, 0, sizeof q);
    q.url = o.db;
    q.workers = (int)o.workers;
    q.worker_argv = av;
    q.stop = tg_cli_stop_catch();
    q.progress = on_progress;
    q.log = tg_progress_log_fn;
    q.user = &disp;
    tg_error err;
    tg_status st = tg_rerank_run(&rc, &q, NULL, &err);
    tg_cli_stop_release();
    tg_progress_end(&disp);
    if (st != TG_OK) {
        fprintf(stderr, "tgsage rerank: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    int stopped = *q.stop != 0;
    result r;
    if ((code = read_result(&o, &r))) return code;
    if (o.json) code = print_json(&r, stopped);
    else print_table(&r, stopped);
    result_free(&r);
    return code == 0 && fflush(stdout) == 0 ? TG_EXIT_OK : TG_EXIT_FAIL;
}
