/* cmd_worker.c - `tgsage worker`: claim trials of a study, work on them
 * and report (tg_worker_run), until the study is done or a signal. The
 * commands a worker runs come only from its own command line. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tgsage/threads.h"
#include "tgsage/tracker.h"
#include "tgsage/worker.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage worker --db URL --study NAME [options]\n"
"\n"
"Work on the trials of a study: claim the oldest waiting one, train and score\n"
"it with a heartbeat on its lease, write the result, repeat until the study\n"
"is done. Any number of workers, on any machines that reach the database, may\n"
"serve one study. The training settings, the data spec and the teacher come\n"
"from the study.\n"
"\n"
"options:\n"
"  --db URL            the study's database (see tgsage search --help); default\n"
"                      $TGSAGE_DB, which keeps a password out of ps\n"
"  --study NAME        the study (required)\n"
"  --objective-cmd CMD score a genome by /bin/sh -c CMD instead of training: the\n"
"                      genome JSON on stdin, the score on the last line of stdout\n"
"  --trainer-cmd CMD   train by /bin/sh -c 'CMD \"$@\"' GENOME_FILE EPOCHS OUT_DIR\n"
"                      (also TG_GENOME, TG_EPOCHS, TG_OUT, TG_TRIAL, TG_SEED and\n"
"                      TG_IMAGES, the teacher's images as .npy); it writes\n"
"                      OUT_DIR/result.json ({\"p\", \"val_loss\", \"examples\"}) and\n"
"                      OUT_DIR/features/<layer>.npy per observed layer\n"
"  --cmd-timeout S     seconds a command may run (then the trial fails), 0: no\n"
"                      limit [0]\n"
"  --data SPEC         this machine's copy of the study's data (its fingerprint\n"
"                      must match) [the study's data spec]\n"
"  --max-trials N      stop after N trials, 0: until the study is done [0]\n"
"  --threads T         threads, 0 = all cores [0]\n"
"  --quiet             no line per trial (errors are still printed)\n"
"  -h, --help          show this help\n"
"\n"
"Lines go to stderr, prefixed with host:pid. SIGTERM or Ctrl-C gives the trial\n"
"in hand back at once (it does not count as an attempt).\n"
"Exit status: 0 the study is done, N trials, or a signal; 1 failed (the study\n"
"is missing, the data's fingerprint differs, the database); 2 usage.\n");
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

static char g_prefix[128];

static void on_log(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "%s %s\n", g_prefix, line);
}

int tg_cmd_worker(int argc, char **argv) {
    static const struct option longs[] = {
        {"db", 1, 0, 'D'},          {"study", 1, 0, 'N'},       {"objective-cmd", 1, 0, 'o'},
        {"trainer-cmd", 1, 0, 'c'}, {"cmd-timeout", 1, 0, 'C'}, {"data", 1, 0, 'd'},
        {"max-trials", 1, 0, 'm'},  {"threads", 1, 0, 't'},     {"quiet", 0, 0, 'q'},
        {"help", 0, 0, 'h'},        {0, 0, 0, 0}};
    const char *cmd = "worker";
    tg_worker_config c;
    memset(&c, 0, sizeof c);
    long max_trials = 0, threads = 0;
    int quiet = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'D': c.url = optarg; break;
        case 'N': c.study = optarg; break;
        case 'o': c.objective_cmd = optarg; break;
        case 'c': c.trainer_cmd = optarg; break;
        case 'C': bad = tg_cli_double(cmd, "--cmd-timeout", optarg, 0, 1e9, &c.cmd_timeout_s);
                  break;
        case 'd': c.data = optarg; break;
        case 'm': bad = tg_cli_int(cmd, "--max-trials", optarg, 0, 1L << 40, &max_trials); break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &threads); break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage worker --help' for the options.\n");
                 return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage worker: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    if (!c.url) c.url = getenv("TGSAGE_DB");
    if (!c.url || !c.study) {
        fprintf(stderr, "tgsage worker: %s is required (see tgsage worker --help)\n",
                !c.url ? "--db (or TGSAGE_DB)" : "--study");
        return TG_EXIT_USAGE;
    }
    if (c.objective_cmd && c.trainer_cmd) {
        fprintf(stderr, "tgsage worker: give --objective-cmd or --trainer-cmd, not both\n");
        return TG_EXIT_USAGE;
    }
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(g_prefix, sizeof g_prefix, "%s:%d", host, (int)getpid());
    tg_threads_set((int)threads);
    c.max_trials = max_trials;
    c.stop = &g_stop;
    c.log = quiet ? NULL : on_log;
    g_stop = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;   /* no SA_RESTART: waits end at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    tg_worker_stats stats;
    memset(&stats, 0, sizeof stats);
    tg_error err;
    tg_status st = tg_worker_run(&c, &stats, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (st != TG_OK) {
        fprintf(stderr, "%s tgsage worker: %s\n", g_prefix, err.msg);
        return TG_EXIT_FAIL;
    }
    if (!quiet)
        fprintf(stderr, "%s %s: %lld complete, %lld failed, %lld fenced, %lld given back, "
                "%lld examples trained\n", g_prefix, g_stop ? "stopped" : "finished",
                (long long)stats.completed, (long long)stats.failed, (long long)stats.fenced,
                (long long)stats.released, (long long)stats.examples);
    return TG_EXIT_OK;
}
