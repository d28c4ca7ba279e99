/* cmd_pool.c - `tgsage pool`: a pool of architectures trained to a mature
 * budget with P and the similarity to every teacher recorded at premature
 * points (paper section 4.1; tg_pool_run), the data `tgsage analyze`
 * reads. Options, the space, the points and the teacher files are checked
 * before the data is loaded for its fingerprint; the teachers are checked
 * against the split before anything is queued. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "tgsage/space.h"
#include "tgsage/teacher.h"
#include "tgsage/tracker.h"
#include "tgsage/worker.h"

#define MAX_TEACHERS 16

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage pool --db URL --study NAME (--space SPEC --n K | --from-study S [--n K])\n"
"                   --epochs MATURE --at E1,E2,... --teacher T1 [--teacher T2 ...]\n"
"                   [options]\n"
"\n"
"A pool for the predictivity analysis (the paper's section 4.1): K distinct\n"
"architectures, sampled at random from a space (seeded by --seed) or the\n"
"best complete trials of a study, each trained to a mature budget; at every\n"
"premature point (--at) and at the end, its validation accuracy P (also with\n"
"the batch-norm statistics recomputed) and the similarity of its layers to\n"
"every layer of every teacher (Pearson, Spearman, Kendall, CKA) are\n"
"recorded. The pool is a study of its own (algo pool) in the database:\n"
"workers started here, or 'tgsage worker' anywhere that reaches it, train\n"
"it; the same command resumes it, a larger --n extends it, and another\n"
"configuration or other teachers are refused, naming the difference.\n"
"Read the result with: tgsage analyze --db URL --study NAME\n"
"\n"
"pool:\n"
"  --db URL            the database (required)\n"
"  --study NAME        the pool study, [A-Za-z0-9._-] (required)\n"
"  --space SPEC        sample from this space (see tgsage search --help)\n"
"  --n K               architectures in the pool (required with --space;\n"
"                      with --from-study: its K best [all complete trials])\n"
"  --from-study S      take the architectures of study S instead\n"
"  --epochs MATURE     the mature training budget (required)\n"
"  --at LIST           the premature points in epochs, ascending, each below\n"
"                      MATURE, at most %d, e.g. 0.1,0.25,0.5,1,2 (required)\n"
"  --teacher FILE      a teacher file; repeat for several, at most %d (at\n"
"                      least one; the first is the study's own)\n"
"  --seed S            seed of the sample and of the training [0]\n"
"  --batch B           images per training step [128]\n"
"  --lease S           lease of a trial in seconds [60]\n"
"  --max-attempts N    leases that may expire before a trial fails [3]\n"
"\n"
"data (its fingerprint is stored in the study):\n"
"%s"
"                      (the split is stored in the study; the workers score\n"
"                      on the whole validation part: no --val-limit)\n"
"\n"
"workers:\n"
"  --workers N         local worker processes, 0: only workers from elsewhere [1]\n"
"  --threads T         threads of each local worker, 0 = all cores [0]\n"
"  --json              at the end, one JSON object on stdout (study, status,\n"
"                      architectures, complete, failed, examples, epochs, at,\n"
"                      teachers, seconds) instead of the summary\n"
"  -h, --help          show this help\n"
"\n"
"Progress goes to stderr (one line rewritten on a terminal, log lines when\n"
"piped). Ctrl-C stops cleanly: workers give their trials back and the same\n"
"command resumes.\n"
"Exit status: 0 done or stopped, 1 failed, 2 usage.\n",
            TG_STUDY_MAX_AT, MAX_TEACHERS, tg_cli_data_help());
}

typedef struct {
    const char *db, *study, *space, *from, *threads, *at;
    const char *teachers[MAX_TEACHERS];
    int nteachers, json;
    long n, workers, seed, batch, max_attempts;
    double epochs, lease;
    tg_cli_data data;
} options;

static int parse(int argc, char **argv, options *o) {
    static const struct option longs[] = {
        {"db", 1, 0, 'D'},          {"study", 1, 0, 'N'},        {"space", 1, 0, 's'},
        {"n", 1, 0, 'n'},           {"from-study", 1, 0, 'F'},   {"epochs", 1, 0, 'e'},
        {"at", 1, 0, 'a'},          {"teacher", 1, 0, 'G'},      {"seed", 1, 0, 'r'},
        {"batch", 1, 0, 'b'},       {"lease", 1, 0, 'L'},        {"max-attempts", 1, 0, 'M'},
        {"workers", 1, 0, 'w'},     {"threads", 1, 0, 't'},      {"json", 0, 0, 'j'},
        TG_CLI_DATA_OPTIONS,        {"help", 0, 0, 'h'},         {0, 0, 0, 0}};
    const char *cmd = "pool";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_data_option(cmd, ch, optarg, &o->data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        long l;
        switch (ch) {
        case 'D': o->db = optarg; break;
        case 'N': o->study = optarg; break;
        case 's': o->space = optarg; break;
        case 'n': bad = tg_cli_int(cmd, "--n", optarg, 1, 1 << 20, &o->n); break;
        case 'F': o->from = optarg; break;
        case 'e': bad = tg_cli_double(cmd, "--epochs", optarg, 1e-6, 1e6, &o->epochs); break;
        case 'a': o->at = optarg; break;
        case 'G':
            if (o->nteachers == MAX_TEACHERS) {
                fprintf(stderr, "tgsage pool: --teacher: at most %d\n", MAX_TEACHERS);
                bad = 1;
            } else {
                o->teachers[o->nteachers++] = optarg;
            }
            break;
        case 'r': bad = tg_cli_int(cmd, "--seed", optarg, 0, 1L << 62, &o->seed); break;
        case 'b': bad = tg_cli_int(cmd, "--batch", optarg, 1, 65536, &o->batch); break;
        case 'L': bad = tg_cli_double(cmd, "--lease", optarg, 0.1, 1e7, &o->lease); break;
        case 'M': bad = tg_cli_int(cmd, "--max-attempts", optarg, 1, 1000, &o->max_attempts);
                  break;
        case 'w': bad = tg_cli_int(cmd, "--workers", optarg, 0, 1024, &o->workers); break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &l);
                  o->threads = optarg; break;
        case 'j': o->json = 1; break;
        case 'h': help(stdout); return -1;
        default: fprintf(stderr, "Run 'tgsage pool --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage pool: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    const char *missing = !o->db ? "--db" : !o->study ? "--study"
                        : !o->space && !o->from ? "--space (or --from-study)"
                        : !o->from && !o->n ? "--n" : !(o->epochs > 0) ? "--epochs"
                        : !o->at ? "--at" : !o->nteachers ? "--teacher" : NULL;
    if (missing) {
        fprintf(stderr, "tgsage pool: %s is required (see tgsage pool --help)\n", missing);
        return TG_EXIT_USAGE;
    }
    return tg_cli_study_split_check("pool", &o->data);
}

static int parse_at(const char *text, tg_study_config *cfg) {
    char buf[1024];
    if (strlen(text) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", text);
    char *names[TG_STUDY_MAX_AT];
    int n = tg_cli_split_list(buf, names, TG_STUDY_MAX_AT);
    if (n < 0) {
        fprintf(stderr, "tgsage pool: --at '%s': expected 1 to %d comma-separated epochs\n",
                text, TG_STUDY_MAX_AT);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (tg_cli_double("pool", "--at", names[i], 1e-9, 1e6, &cfg->at[i])) return -1;
    cfg->nat = n;
    return 0;
}

/* With --from-study and no --space (or --n): the study's space (and its
 * complete trials' count), so the whole configuration is checked here. */
static int from_study(const options *o, tg_study_config *cfg) {
    tg_tracker *t;
    tg_study s;
    int code = tg_cli_open_study("pool", o->db, o->from, &t, &s);
    if (code) return code;
    tg_study_counts c;
    tg_error err;
    if (tg_study_counts_get(t, s.id, &c, &err) != TG_OK) {
        fprintf(stderr, "tgsage pool: %s\n", err.msg);
        tg_tracker_close(t);
        return TG_EXIT_FAIL;
    }
    tg_tracker_close(t);
    if (!o->space) snprintf(cfg->space, sizeof cfg->space, "%s", s.cfg.space);
    if (!o->n) cfg->trials = c.complete;
    if (cfg->trials < 1) {
        fprintf(stderr, "tgsage pool: study '%s' has no complete trial\n", s.name);
        return TG_EXIT_FAIL;
    }
    return 0;
}

/* Each teacher file loads and indexes the validation part of the split. */
static int check_teachers(const options *o, const tg_dataset *val) {
    for (int i = 0; i < o->nteachers; i++) {
        tg_teacher t;
        tg_error err;
        tg_status st = tg_teacher_load(o->teachers[i], &t, &err);
        if (st == TG_OK) {
            st = tg_teacher_check_data(&t, val, &err);
            tg_teacher_free(&t);
        }
        if (st != TG_OK) {
            fprintf(stderr, "tgsage pool: --teacher %s: %s\n", o->teachers[i], err.msg);
            return TG_EXIT_FAIL;
        }
    }
    return 0;
}

static int build_config(const options *o, tg_study_config *cfg) {
    tg_error err;
    tg_study_config_defaults(cfg);
    snprintf(cfg->algo, sizeof cfg->algo, "pool");
    snprintf(cfg->score, sizeof cfg->score, "p");   /* a trial's p: the mature accuracy */
    cfg->epochs = o->epochs;
    if (o->batch) cfg->batch = (int)o->batch;
    cfg->trials = o->n;
    cfg->parallel = o->workers > 1 ? (int)o->workers : 1;
    cfg->seed = (uint64_t)o->seed;
    cfg->split_seed = (uint64_t)o->data.split_seed;
    if (o->max_attempts) cfg->max_attempts = (int)o->max_attempts;
    if (o->lease > 0) cfg->lease_s = o->lease;
    if (parse_at(o->at, cfg)) return TG_EXIT_USAGE;
    if (o->space) {
        tg_space *sp = tg_space_parse(o->space, &err);
        if (!sp) {
            fprintf(stderr, "tgsage pool: --space: %s\n", err.msg);
            return TG_EXIT_USAGE;
        }
        snprintf(cfg->space, sizeof cfg->space, "%s", tg_space_spec(sp));
        tg_space_free(sp);
    }
    for (int i = 0; i < o->nteachers; i++)
        if (access(o->teachers[i], R_OK) != 0) {
            fprintf(stderr, "tgsage pool: --teacher %s: cannot be read\n", o->teachers[i]);
            return TG_EXIT_FAIL;
        }
    int code;
    if (o->from && (code = from_study(o, cfg))) return code;
    if (strlen(o->data.spec) >= sizeof cfg->data) {
        fprintf(stderr, "tgsage pool: --data: longer than %zu characters\n",
                sizeof cfg->data - 1);
        return TG_EXIT_USAGE;
    }
    snprintf(cfg->data, sizeof cfg->data, "%s", o->data.spec);
    cfg->train_limit = o->data.train_limit;
    /* the cheap checks (the points against the budget, ...) before the data */
    if (tg_study_config_check(cfg, &err) != TG_OK) {
        fprintf(stderr, "tgsage pool: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    tg_dataset train, val;
    tg_split_info info;
    if (tg_cli_load_data(&o->data, &train, &val, &info, &err) != TG_OK) {
        fprintf(stderr, "tgsage pool: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    snprintf(cfg->fingerprint, sizeof cfg->fingerprint, "%s", train.fingerprint);
    cfg->nval = info.nval;
    code = check_teachers(o, &val);
    tg_dataset_free(&train);
    tg_dataset_free(&val);
    return code;
}

static void on_progress(const tg_queue_progress *p, void *user) {
    char el[32], eta[32], text[400];
    tg_progress_time(p->elapsed_s, el, sizeof el);
    tg_progress_time(p->eta_s, eta, sizeof eta);
    snprintf(text, sizeof text, "trained %lld/%lld (%lld running, %lld waiting, %lld failed) "
             "| %s, %s left | %lld examples, %d worker%s", (long long)(p->complete + p->failed),
             (long long)p->total, (long long)p->running, (long long)p->waiting,
             (long long)p->failed, el, eta, (long long)p->examples, p->workers,
             p->workers == 1 ? "" : "s");
    tg_progress_show(user, text, p->complete + p->failed, 0);
}

static void summary(const options *o, const tg_study_config *cfg, const tg_queue_progress *p,
                    int stopped) {
    char url[1024], el[32];
    tg_url_redact(o->db, url, sizeof url);
    tg_progress_time(p->elapsed_s, el, sizeof el);
    printf("pool '%s': %lld of %lld architectures trained to %g epochs, %lld failed, %lld "
           "examples, %s%s\n", o->study, (long long)p->complete, (long long)p->total,
           cfg->epochs, (long long)p->failed, (long long)p->examples, el,
           stopped ? " (stopped; the same command resumes)" : "");
    printf("points:");
    for (int i = 0; i < cfg->nat; i++) printf(" %g", cfg->at[i]);
    printf(" and %g epochs; %d teacher%s:", cfg->epochs, o->nteachers,
           o->nteachers == 1 ? "" : "s");
    for (int i = 0; i < o->nteachers; i++) printf(" %s", o->teachers[i]);
    printf("\nread it (predictivity of P, TG and P + alpha*TG at each point): tgsage analyze "
           "--db '%s' --study %s\n", url, o->study);
}

static int print_json(const options *o, const tg_study_config *cfg,
                      const tg_queue_progress *p, int stopped) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "study", o->study);
    cJSON_AddStringToObject(j, "status", stopped ? "stopped" : "done");
    cJSON_AddNumberToObject(j, "architectures", (double)p->total);
    cJSON_AddNumberToObject(j, "complete", (double)p->complete);
    cJSON_AddNumberToObject(j, "failed", (double)p->failed);
    cJSON_AddNumberToObject(j, "examples", (double)p->examples);
    cJSON_AddNumberToObject(j, "epochs", cfg->epochs);
    cJSON *at = cJSON_AddArrayToObject(j, "at");
    for (int i = 0; i < cfg->nat; i++) cJSON_AddItemToArray(at, cJSON_CreateNumber(cfg->at[i]));
    cJSON *t = cJSON_AddArrayToObject(j, "teachers");
    for (int i = 0; i < o->nteachers; i++)
        cJSON_AddItemToArray(t, cJSON_CreateString(o->teachers[i]));
    cJSON_AddNumberToObject(j, "seconds", p->elapsed_s);
    char *s = cJSON_PrintUnformatted(j);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
    return s ? 0 : TG_EXIT_FAIL;
}

int tg_cmd_pool(int argc, char **argv) {
    options o;
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.data = (tg_cli_data)TG_CLI_DATA_DEFAULT;
    int code = parse(argc, argv, &o);
    if (code) return code < 0 ? TG_EXIT_OK : code;
    tg_pool_config pc;
    memset(&pc, 0, sizeof pc);
    if ((code = build_config(&o, &pc.cfg))) return code;
    pc.study = o.study;
    pc.teachers = o.teachers;
    pc.nteachers = o.nteachers;
    pc.from_study = o.from;
    tg_progress disp;
    tg_progress_init(&disp, "pool");
    char exe[4096], *av[TG_CLI_WORKER_ARGV_MAX];
    tg_cli_worker_opts wo = {o.study, NULL, NULL, NULL, o.threads, disp.tty};
    tg_cli_worker_argv(&wo, exe, sizeof exe, av);
    if ((code = tg_cli_worker_env("pool", o.db))) return code;
    tg_queue_run_config q;
    memset(&q, 0, sizeof q);
    q.url = o.db;
    q.workers = (int)o.workers;
    q.worker_argv = av;
    q.stop = tg_cli_stop_catch();
    q.progress = on_progress;
    q.log = tg_progress_log_fn;
    q.user = &disp;
    tg_queue_progress fin;
    memset(&fin, 0, sizeof fin);
    tg_error err;
    tg_status st = tg_pool_run(&pc, &q, &fin, &err);
    tg_cli_stop_release();
    tg_progress_end(&disp);
    if (st != TG_OK) {
        fprintf(stderr, "tgsage pool: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    int stopped = *q.stop != 0;
    if (o.json) code = print_json(&o, &pc.cfg, &fin, stopped);
    else summary(&o, &pc.cfg, &fin, stopped);
    return code == 0 && fflush(stdout) == 0 ? TG_EXIT_OK : TG_EXIT_FAIL;
}
