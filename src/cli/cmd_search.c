/* cmd_search.c - `tgsage search`: create or resume a study and run the
 * explorer's loop (tg_search_run), with local worker processes that are
 * this binary's `worker` command. What is cheap to check (the space, the
 * algorithm, the teacher file, the options) is checked before the data is
 * loaded for its fingerprint. Also what the commands that run local
 * workers share (search, rerank, pool): the workers' argv and the stop
 * signals. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "tgsage/explorer.h"
#include "tgsage/space.h"
#include "tgsage/tracker.h"
#include "tgsage/worker.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage search --db URL --study NAME --space SPEC --trials K [options]\n"
"\n"
"Search a space for the architectures of highest score: the explorer proposes\n"
"candidates into the study's database, workers (started here with --workers,\n"
"or 'tgsage worker' anywhere that reaches the database) train and score them,\n"
"and every result is told to the explorer as it arrives. Running the same\n"
"command again resumes an interrupted search; a larger --trials extends a\n"
"finished one. Every setting but --trials and --parallel must match the\n"
"study's.\n"
"\n"
"study:\n"
"  --db URL            sqlite:///rel/path.db, sqlite:////abs/path.db or\n"
"                      postgresql://user@host[:port]/db (required)\n"
"  --study NAME        the study, [A-Za-z0-9._-] (required)\n"
"  --space SPEC        layerwise:NL[:filters=..][:kernels=..][:strides=..] or\n"
"                      cell[:blocks=B][:n=N][:f=F] (required)\n"
"  --algo A            %s [tpe]\n"
"  --trials K          trials to finish, duplicates not counted (required)\n"
"  --seed S            seed of the explorer and of the training [0]\n"
"  --score S           p (validation accuracy) or p+tg (p + alpha * TG)\n"
"                      [p+tg; objective with --objective-cmd]\n"
"  --alpha A           weight of TG in the score [1]\n"
"  --teacher FILE      the teacher file, stored in the study (p+tg: required)\n"
"  --epochs E          training budget of a trial (required unless\n"
"                      --objective-cmd)\n"
"  --batch B           images per training step [128]\n"
"  --lease S           lease of a trial (and of the explorer) in seconds;\n"
"                      workers heartbeat every S/4 [60]\n"
"  --max-attempts N    leases that may expire before a trial fails [3]\n"
"\n"
"explorer settings (fixed when the study is created; a resumed study refuses\n"
"a different one):\n"
"  --tpe-startup N     tpe: random proposals before the model takes over [20,\n"
"                      as hyperopt]\n"
"  --rl-lr X           rl: the controller's Adam learning rate [0.001, as the\n"
"                      paper, which ran 1,000 or more trials; at a few hundred\n"
"                      trials 0.01 learns and 0.001 is close to random search]\n"
"  --rl-batch N        rl: architectures per REINFORCE update [5]\n"
"  --population N      evolution: the population's size [20]\n"
"  --sample N          evolution: the tournament's size, at most the\n"
"                      population [5]\n"
"\n"
"data (for training studies; its fingerprint is stored in the study):\n"
"%s"
"                      (the split is stored in the study, so searches of\n"
"                      other --seed share one teacher; the workers score on\n"
"                      the whole validation part: no --val-limit)\n"
"\n"
"workers:\n"
"  --workers N         local worker processes, 0: only workers from elsewhere [1]\n"
"  --parallel P        trials kept pending at once [max(N, 1)]\n"
"  --objective-cmd CMD the local workers score a genome by /bin/sh -c CMD (the\n"
"                      genome JSON on stdin, the score on the last line of\n"
"                      stdout) instead of training it\n"
"  --trainer-cmd CMD   the local workers train with CMD GENOME_FILE EPOCHS OUT_DIR\n"
"                      (see 'tgsage worker --help')\n"
"  --cmd-timeout S     seconds a command may run, 0: no limit [0]\n"
"  --threads T         threads of each local worker, 0 = all cores [0]\n"
"  --json              at the end, one JSON object on stdout (study, status,\n"
"                      trials, complete, failed, proposals, best, best_number,\n"
"                      examples, seconds) instead of the summary\n"
"  -h, --help          show this help\n"
"\n"
"Progress goes to stderr: one line rewritten in place on a terminal, a log\n"
"line per trial ended (and at most every 10 s) when piped. At the end a\n"
"summary, and the command that lists the best trials. Ctrl-C (or SIGTERM)\n"
"stops cleanly: workers give their trials back and the same command resumes.\n"
"Exit status: 0 done or stopped, 1 failed, 2 usage.\n",
            tg_explorer_algorithms(), tg_cli_data_help());
}

static void on_progress(const tg_search_progress *p, void *user) {
    char best[64] = "none", el[32], eta[32], text[400];
    if (isfinite(p->best))
        snprintf(best, sizeof best, "%.4f #%lld", p->best, (long long)p->best_number);
    tg_progress_time(p->elapsed_s, el, sizeof el);
    tg_progress_time(p->eta_s, eta, sizeof eta);
    /* what matters first: a narrow terminal cuts the line's end */
    snprintf(text, sizeof text, "trials %lld/%lld (%lld running, %lld waiting, %lld failed) | "
             "best %s | %s, %s left | %lld examples, %d worker%s, %lld proposals",
             (long long)(p->complete + p->failed), (long long)p->trials, (long long)p->running,
             (long long)p->waiting, (long long)p->failed, best, el, eta, (long long)p->examples,
             p->workers, p->workers == 1 ? "" : "s", (long long)p->proposals);
    tg_progress_show(user, text, p->complete + p->failed, 0);
}

/* The options as given; the study config is built from them. */
typedef struct {
    const char *db, *study, *space, *algo, *teacher, *score;
    const char *objective_cmd, *trainer_cmd, *cmd_timeout, *threads;
    double alpha, epochs, lease;
    long trials, workers, parallel, seed, batch, max_attempts;
    long tpe_startup, rl_batch, population, sample;
    double rl_lr;
    int epochs_given, parallel_given, json;
    tg_cli_data data;
} options;

static int parse(int argc, char **argv, options *o) {
    static const struct option longs[] = {
        {"db", 1, 0, 'D'},          {"study", 1, 0, 'N'},        {"space", 1, 0, 's'},
        {"algo", 1, 0, 'a'},        {"teacher", 1, 0, 'G'},      {"epochs", 1, 0, 'e'},
        {"trials", 1, 0, 'K'},      {"workers", 1, 0, 'w'},      {"parallel", 1, 0, 'p'},
        {"alpha", 1, 0, 'A'},       {"score", 1, 0, 'S'},        {"seed", 1, 0, 'r'},
        {"objective-cmd", 1, 0, 'o'}, {"trainer-cmd", 1, 0, 'c'}, {"lease", 1, 0, 'L'},
        {"max-attempts", 1, 0, 'M'}, {"cmd-timeout", 1, 0, 'C'}, {"threads", 1, 0, 't'},
        {"batch", 1, 0, 'b'},       TG_CLI_DATA_OPTIONS,         {"json", 0, 0, 'j'},
        {"tpe-startup", 1, 0, 'U'}, {"rl-lr", 1, 0, 'R'},         {"rl-batch", 1, 0, 'B'},
        {"population", 1, 0, 'P'},  {"sample", 1, 0, 'Z'},
        {"help", 0, 0, 'h'},        {0, 0, 0, 0}};
    const char *cmd = "search";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_data_option(cmd, ch, optarg, &o->data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        long l;
        double v;
        switch (ch) {
        case 'D': o->db = optarg; break;
        case 'N': o->study = optarg; break;
        case 's': o->space = optarg; break;
        case 'a': o->algo = optarg; break;
        case 'G': o->teacher = optarg; break;
        case 'e': bad = tg_cli_double(cmd, "--epochs", optarg, 1e-6, 1e6, &o->epochs);
                  o->epochs_given = 1; break;
        case 'K': bad = tg_cli_int(cmd, "--trials", optarg, 1, 1L << 40, &o->trials); break;
        case 'U': bad = tg_cli_int(cmd, "--tpe-startup", optarg, 1, 1 << 20, &o->tpe_startup);
                  break;
        case 'R': bad = tg_cli_double(cmd, "--rl-lr", optarg, 1e-12, 1, &o->rl_lr); break;
        case 'B': bad = tg_cli_int(cmd, "--rl-batch", optarg, 1, 100000, &o->rl_batch); break;
        case 'P': bad = tg_cli_int(cmd, "--population", optarg, 1, 1000000, &o->population);
                  break;
        case 'Z': bad = tg_cli_int(cmd, "--sample", optarg, 1, 1000000, &o->sample); break;
        case 'w': bad = tg_cli_int(cmd, "--workers", optarg, 0, 1024, &o->workers); break;
        case 'p': bad = tg_cli_int(cmd, "--parallel", optarg, 1, 1 << 20, &o->parallel);
                  o->parallel_given = 1; break;
        case 'A': bad = tg_cli_double(cmd, "--alpha", optarg, -1e6, 1e6, &o->alpha); break;
        case 'S':
            if (strcmp(optarg, "p") && strcmp(optarg, "p+tg")) {
                fprintf(stderr, "tgsage search: --score '%s': expected p or p+tg\n", optarg);
                bad = 1;
            }
            o->score = optarg;
            break;
        case 'r': bad = tg_cli_int(cmd, "--seed", optarg, 0, 1L << 62, &o->seed); break;
        case 'o': o->objective_cmd = optarg; break;
        case 'c': o->trainer_cmd = optarg; break;
        case 'L': bad = tg_cli_double(cmd, "--lease", optarg, 0.1, 1e7, &o->lease); break;
        case 'M': bad = tg_cli_int(cmd, "--max-attempts", optarg, 1, 1000, &o->max_attempts);
                  break;
        case 'C': bad = tg_cli_double(cmd, "--cmd-timeout", optarg, 0, 1e9, &v);
                  o->cmd_timeout = optarg; break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &l);
                  o->threads = optarg; break;
        case 'b': bad = tg_cli_int(cmd, "--batch", optarg, 1, 65536, &o->batch); break;
        case 'j': o->json = 1; break;
        case 'h': help(stdout); return -1;
        default: fprintf(stderr, "Run 'tgsage search --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage search: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    const char *missing = !o->db ? "--db" : !o->study ? "--study" : !o->space ? "--space"
                        : !o->trials ? "--trials" : NULL;
    if (!missing && !o->objective_cmd && !o->epochs_given) missing = "--epochs";
    if (missing) {
        fprintf(stderr, "tgsage search: %s is required (see tgsage search --help)\n", missing);
        return TG_EXIT_USAGE;
    }
    if (o->objective_cmd && o->trainer_cmd) {
        fprintf(stderr, "tgsage search: give --objective-cmd or --trainer-cmd, not both\n");
        return TG_EXIT_USAGE;
    }
    if (o->objective_cmd && (o->score || o->teacher)) {
        fprintf(stderr, "tgsage search: --objective-cmd scores by itself: no --score or "
                "--teacher\n");
        return TG_EXIT_USAGE;
    }
    if (!o->objective_cmd && !o->score) o->score = "p+tg";
    if (o->score && !strcmp(o->score, "p+tg") && !o->teacher) {
        fprintf(stderr, "tgsage search: --score p+tg needs --teacher (or --score p)\n");
        return TG_EXIT_USAGE;
    }
    return tg_cli_study_split_check("search", &o->data);
}

/* The study's config from the options; the data is loaded (for its
 * fingerprint) only for a training study, after every cheap check. */
static int build_config(const options *o, tg_study_config *cfg) {
    tg_error err;
    tg_study_config_defaults(cfg);
    tg_explorer_config ec;
    if (tg_explorer_defaults(o->algo, &ec, &err) != TG_OK) {
        fprintf(stderr, "tgsage search: --algo: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    tg_space *sp = tg_space_parse(o->space, &err);
    if (!sp) {
        fprintf(stderr, "tgsage search: --space: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    snprintf(cfg->space, sizeof cfg->space, "%s", tg_space_spec(sp));
    tg_space_free(sp);
    snprintf(cfg->algo, sizeof cfg->algo, "%s", o->algo);
    snprintf(cfg->score, sizeof cfg->score, "%s", o->objective_cmd ? "objective" : o->score);
    cfg->alpha = o->alpha;
    cfg->epochs = o->epochs_given ? o->epochs : 0;
    if (o->batch) cfg->batch = (int)o->batch;
    cfg->trials = o->trials;
    cfg->parallel = (int)(o->parallel_given ? o->parallel : o->workers > 1 ? o->workers : 1);
    cfg->seed = (uint64_t)o->seed;
    cfg->split_seed = (uint64_t)o->data.split_seed;
    if (o->max_attempts) cfg->max_attempts = (int)o->max_attempts;
    if (o->lease > 0) cfg->lease_s = o->lease;
    if (o->teacher && access(o->teacher, R_OK) != 0) {
        fprintf(stderr, "tgsage search: --teacher %s: cannot be read\n", o->teacher);
        return TG_EXIT_FAIL;
    }
    if (o->objective_cmd) {
        if (o->data.given) snprintf(cfg->data, sizeof cfg->data, "%s", o->data.spec);
    } else {
        if (strlen(o->data.spec) >= sizeof cfg->data) {
            fprintf(stderr, "tgsage search: --data: longer than %zu characters\n",
                    sizeof cfg->data - 1);
            return TG_EXIT_USAGE;
        }
        tg_dataset train, val;
        tg_split_info info;
        if (tg_cli_load_data(&o->data, &train, &val, &info, &err) != TG_OK) {
            fprintf(stderr, "tgsage search: %s\n", err.msg);
            return TG_EXIT_FAIL;
        }
        snprintf(cfg->data, sizeof cfg->data, "%s", o->data.spec);
        snprintf(cfg->fingerprint, sizeof cfg->fingerprint, "%s", train.fingerprint);
        cfg->nval = info.nval;
        cfg->train_limit = o->data.train_limit;
        tg_dataset_free(&train);
        tg_dataset_free(&val);
    }
    if (tg_study_config_check(cfg, &err) != TG_OK) {
        fprintf(stderr, "tgsage search: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    return 0;
}

/* ---- what search, rerank and pool share: local workers, stop signals ---- */

/* The workers hold out the study's split and score on all of it: a
 * --val-limit is not recorded in a study. */
int tg_cli_study_split_check(const char *cmd, const tg_cli_data *d) {
    if (d->val_limit != 0) {
        fprintf(stderr, "tgsage %s: --val-limit: the workers score on the whole validation "
                "split\n", cmd);
        return TG_EXIT_USAGE;
    }
    return 0;
}

void tg_cli_worker_argv(const tg_cli_worker_opts *o, char *exe, size_t nexe, char **av) {
    ssize_t n = readlink("/proc/self/exe", exe, nexe - 1);
    if (n > 0) exe[n] = '\0';
    else snprintf(exe, nexe, "/proc/self/exe");
    int k = 0;
    av[k++] = exe;
    av[k++] = "worker";
    av[k++] = "--study", av[k++] = (char *)o->study;
    if (o->objective_cmd) av[k++] = "--objective-cmd", av[k++] = (char *)o->objective_cmd;
    if (o->trainer_cmd) av[k++] = "--trainer-cmd", av[k++] = (char *)o->trainer_cmd;
    if (o->cmd_timeout) av[k++] = "--cmd-timeout", av[k++] = (char *)o->cmd_timeout;
    if (o->threads) av[k++] = "--threads", av[k++] = (char *)o->threads;
    if (o->quiet) av[k++] = "--quiet";
    av[k] = NULL;
}

int tg_cli_worker_env(const char *cmd, const char *url) {
    if (setenv("TGSAGE_DB", url, 1) == 0) return 0;
    fprintf(stderr, "tgsage %s: cannot set TGSAGE_DB: %s\n", cmd, strerror(errno));
    return TG_EXIT_FAIL;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

volatile sig_atomic_t *tg_cli_stop_catch(void) {
    g_stop = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;   /* no SA_RESTART: waits end at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &g_stop;
}

void tg_cli_stop_release(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

/* ---- search ---------------------------------------------------------------- */

static void summary(const options *o, const tg_search_progress *p, int stopped) {
    char url[1024], el[32];
    tg_url_redact(o->db, url, sizeof url);
    tg_progress_time(p->elapsed_s, el, sizeof el);
    printf("study '%s': %lld of %lld trials complete, %lld failed, %lld proposals, %s%s\n",
           o->study, (long long)p->complete, (long long)p->trials, (long long)p->failed,
           (long long)p->proposals, el, stopped ? " (stopped; the same command resumes)" : "");
    if (isfinite(p->best))
        printf("best score %.6g (trial %lld); cost %lld examples trained\n", p->best,
               (long long)p->best_number, (long long)p->examples);
    else
        printf("no trial complete yet; cost %lld examples trained\n", (long long)p->examples);
    printf("see the results: tgsage best --db '%s' --study %s\n", url, o->study);
}

static int print_json(const options *o, const tg_search_progress *p, int stopped) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return TG_EXIT_FAIL;
    cJSON_AddStringToObject(j, "study", o->study);
    cJSON_AddStringToObject(j, "status", stopped ? "stopped" : "done");
    cJSON_AddNumberToObject(j, "trials", (double)p->trials);
    cJSON_AddNumberToObject(j, "complete", (double)p->complete);
    cJSON_AddNumberToObject(j, "failed", (double)p->failed);
    cJSON_AddNumberToObject(j, "proposals", (double)p->proposals);
    tg_cli_json_num(j, "best", p->best);
    cJSON_AddNumberToObject(j, "best_number", isfinite(p->best) ? (double)p->best_number : -1);
    cJSON_AddNumberToObject(j, "examples", (double)p->examples);
    cJSON_AddNumberToObject(j, "seconds", p->elapsed_s);
    char *s = cJSON_PrintUnformatted(j);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
    return s ? 0 : TG_EXIT_FAIL;
}

/* The explorer settings given (zero: the default, or the resumed study's
 * own), each refused with an --algo it does not belong to. */
static int explorer_settings(const options *o, tg_explorer_config *ec) {
    const struct { const char *flag, *algo; int given; } own[] = {
        {"--tpe-startup", "tpe", o->tpe_startup != 0},
        {"--rl-lr", "rl", o->rl_lr != 0},
        {"--rl-batch", "rl", o->rl_batch != 0},
        {"--population", "evolution", o->population != 0},
        {"--sample", "evolution", o->sample != 0}};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (own[i].given && strcmp(o->algo, own[i].algo) != 0) {
            fprintf(stderr, "tgsage search: %s is an option of --algo %s, not %s\n", own[i].flag,
                    own[i].algo, o->algo);
            return TG_EXIT_USAGE;
        }
    memset(ec, 0, sizeof *ec);
    ec->tpe_startup = (int)o->tpe_startup;
    ec->rl_lr = o->rl_lr;
    ec->rl_batch = (int)o->rl_batch;
    ec->evo_population = (int)o->population;
    ec->evo_sample = (int)o->sample;
    return 0;
}

int tg_cmd_search(int argc, char **argv) {
    options o;
    memset(&o, 0, sizeof o);
    o.algo = "tpe", o.alpha = 1, o.workers = 1;
    o.data = (tg_cli_data)TG_CLI_DATA_DEFAULT;
    int code = parse(argc, argv, &o);
    if (code) return code < 0 ? TG_EXIT_OK : code;
    tg_search_config c;
    memset(&c, 0, sizeof c);
    if ((code = build_config(&o, &c.cfg))) return code;
    if ((code = explorer_settings(&o, &c.explorer))) return code;
    tg_error err;
    tg_progress disp;
    tg_progress_init(&disp, "search");
    char exe[4096], *av[TG_CLI_WORKER_ARGV_MAX];
    tg_cli_worker_opts wo = {o.study, o.objective_cmd, o.trainer_cmd, o.cmd_timeout,
                             o.threads, disp.tty};
    tg_cli_worker_argv(&wo, exe, sizeof exe, av);
    if ((code = tg_cli_worker_env("search", o.db))) return code;
    c.url = o.db;
    c.study = o.study;
    c.teacher_path = o.objective_cmd ? NULL : o.teacher;
    c.workers = (int)o.workers;
    c.worker_argv = av;
    c.stop = tg_cli_stop_catch();
    c.progress = on_progress;
    c.log = tg_progress_log_fn;
    c.user = &disp;
    tg_search_progress fin;
    tg_status st = tg_search_run(&c, &fin, &err);
    tg_cli_stop_release();
    tg_progress_end(&disp);
    if (st != TG_OK) {
        fprintf(stderr, "tgsage search: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    int stopped = *c.stop != 0;
    if (o.json) code = print_json(&o, &fin, stopped);
    else summary(&o, &fin, stopped);
    return code == 0 && fflush(stdout) == 0 ? TG_EXIT_OK : TG_EXIT_FAIL;
}
