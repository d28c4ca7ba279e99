/* cli.h - the subcommand table of the `tgsage` command and what the
 * subcommands share. Only src/cli/ prints for the user and chooses exit
 * codes. */
#ifndef TGSAGE_CLI_H
#define TGSAGE_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "tgsage/dataset.h"
#include "tgsage/tracker.h"
#include "tgsage/trainer.h"

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand */
} tg_command;

/* exit codes */
enum { TG_EXIT_OK = 0, TG_EXIT_FAIL = 1, TG_EXIT_USAGE = 2, TG_EXIT_INTERRUPTED = 130 };

int tg_cmd_train(int argc, char **argv);
int tg_cmd_eval(int argc, char **argv);
int tg_cmd_features(int argc, char **argv);
int tg_cmd_rdm(int argc, char **argv);
int tg_cmd_compare(int argc, char **argv);
int tg_cmd_teacher(int argc, char **argv);
int tg_cmd_tg(int argc, char **argv);
int tg_cmd_sample(int argc, char **argv);
int tg_cmd_show(int argc, char **argv);
int tg_cmd_export(int argc, char **argv);
int tg_cmd_search(int argc, char **argv);
int tg_cmd_worker(int argc, char **argv);
int tg_cmd_status(int argc, char **argv);
int tg_cmd_trials(int argc, char **argv);
int tg_cmd_best(int argc, char **argv);
int tg_cmd_rerank(int argc, char **argv);
int tg_cmd_pool(int argc, char **argv);
int tg_cmd_analyze(int argc, char **argv);
int tg_cmd_report(int argc, char **argv);

/* Parse a number option or print "tgsage CMD: --OPT: ..." and return -1. */
int tg_cli_int(const char *cmd, const char *opt, const char *text, long lo,
               long hi, long *out);
int tg_cli_double(const char *cmd, const char *opt, const char *text,
                  double lo, double hi, double *out);

/* The options every command that runs a network shares (common_opts.c):
 * --batch, --threads, --backend, --json, and --ckpt for those that read a
 * checkpoint. A command sets its defaults in the struct, lists
 * TG_CLI_COMMON_OPTIONS (and TG_CLI_CKPT_OPTION) in its getopt table, and
 * hands every option to tg_cli_common_option first. */
typedef struct {
    const char *ckpt;      /* --ckpt; NULL when not given */
    long batch;            /* --batch: images per step or per forward pass */
    long threads;          /* --threads: 0 = all cores */
    char backend[16];      /* --backend: dnnl or ref */
    int json;              /* --json */
} tg_cli_common;

#define TG_CLI_COMMON_DEFAULT(batch) {NULL, (batch), 0, "dnnl", 0}
#define TG_CLI_COMMON_OPTIONS                                                  \
    {"batch", 1, 0, 'b'}, {"threads", 1, 0, 't'}, {"backend", 1, 0, 'B'},      \
        {"json", 0, 0, 'j'}
#define TG_CLI_CKPT_OPTION {"ckpt", 1, 0, 'k'}
/* Returns 1 when ch was one of them (setting *bad, after printing why, for
 * a bad value), else 0. */
int tg_cli_common_option(const char *cmd, int ch, const char *arg, tg_cli_common *o,
                         int *bad);
/* The help lines of --batch (batch_what: "images per step"), --threads,
 * --backend and --json (json_what: what it prints), with the defaults in
 * def. */
void tg_cli_common_help(FILE *f, const tg_cli_common *def, const char *batch_what,
                        const char *json_what);
/* Split "a,b,c" in place into at most max names; the count, or -1 for none
 * or more than max (or an empty name). */
int tg_cli_split_list(char *text, char **names, int max);

/* --data and the validation split */
typedef struct {
    const char *spec;
    long val;            /* held out; -1: the default */
    long split_seed;
    long train_limit, val_limit;
    int given;           /* --data was on the command line */
} tg_cli_data;

#define TG_CLI_DATA_DEFAULT {"fashion-mnist", -1, 0, 0, 0, 0}
/* getopt_long entries of the data options, and their handler: returns 1
 * when ch was one of them (setting *bad for a bad value), else 0. */
#define TG_CLI_DATA_OPTIONS                                                    \
    {"data", 1, 0, 'd'}, {"val", 1, 0, 'v'}, {"split-seed", 1, 0, 'x'},        \
        {"train-limit", 1, 0, 'T'}, {"val-limit", 1, 0, 'V'}
int tg_cli_data_option(const char *cmd, int ch, const char *arg, tg_cli_data *d, int *bad);

/* The split the options describe (tg_split_load); info may be NULL. */
tg_status tg_cli_load_data(const tg_cli_data *o, tg_dataset *train, tg_dataset *val,
                           tg_split_info *info, tg_error *err);
const char *tg_cli_data_help(void);
/* The images a trained network is evaluated on: "test", or "val" (the
 * validation part of the split; refused unless it is the one the network
 * was trained beside, tg_split_check; any --train-limit is fine). t NULL:
 * no check. */
tg_status tg_cli_load_eval_split(const tg_cli_data *o, const char *split, const tg_trained *t,
                                 tg_dataset *out, tg_error *err);

/* .npy inputs of the representation commands (npy_inputs.c) */
tg_status tg_cli_read_f64(const char *path, int want_ndim, double **out, int64_t *rows,
                          int64_t *cols, tg_error *err);
tg_status tg_cli_read_f32_matrix(const char *path, float **out, int64_t *rows, int64_t *cols,
                                 tg_error *err);
tg_status tg_cli_read_labels(const char *path, int64_t n, int32_t **out, tg_error *err);

/* The study commands (cmd_study.c): open url and, when name is not NULL,
 * find the study (printing "tgsage CMD: ..." on failure: the missing
 * study's message lists the studies there are). 0, or the exit code; *t
 * is then NULL. */
int tg_cli_open_study(const char *cmd, const char *url, const char *name, tg_tracker **t,
                      tg_study *study);
/* A number into a cJSON object, written so that it reads back exactly (a raw
 * item: for output only), null when not finite. */
cJSON *tg_cli_json_num(cJSON *obj, const char *key, double v);
/* The images a study's networks see, from its data spec (for sizes only:
 * 1x28x28 for the MNISTs, 3x32x32 otherwise; 100 or 20 classes for
 * CIFAR-100, else 10). */
void tg_cli_input_shape(const char *data, int *c, int *h, int *w, int *classes);

/* The commands that run local workers (search, rerank, pool; cmd_search.c).
 * A worker's argv: this binary's `worker` on the study with the commands
 * given (a worker takes commands only from its own command line; NULL ones
 * are left out), --quiet when asked. The URL goes through the environment
 * (tg_cli_worker_env sets TGSAGE_DB, 0 or the exit code after printing
 * why), so that a password in it does not show in ps. */
typedef struct {
    const char *study, *objective_cmd, *trainer_cmd, *cmd_timeout, *threads;
    int quiet;
} tg_cli_worker_opts;
#define TG_CLI_WORKER_ARGV_MAX 24
void tg_cli_worker_argv(const tg_cli_worker_opts *o, char *exe, size_t nexe, char **av);
int tg_cli_worker_env(const char *cmd, const char *url);
/* A study's split is the one its workers load: the study stores its
 * --split-seed, and there is no --val-limit (0 or the exit code after
 * printing why). */
int tg_cli_study_split_check(const char *cmd, const tg_cli_data *d);
/* SIGINT and SIGTERM set the flag returned (no SA_RESTART: waits end at
 * once) until tg_cli_stop_release restores the defaults. */
volatile sig_atomic_t *tg_cli_stop_catch(void);
void tg_cli_stop_release(void);

#endif
