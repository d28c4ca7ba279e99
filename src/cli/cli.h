/* cli.h - the subcommand table of the `tgsage` command and what the
 * subcommands share. Only src/cli/ prints for the user and chooses exit
 * codes. */
#ifndef TGSAGE_CLI_H
#define TGSAGE_CLI_H

#include <stdint.h>

#include "tgsage/dataset.h"

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

/* Parse a number option or print "tgsage CMD: --OPT: ..." and return -1. */
int tg_cli_int(const char *cmd, const char *opt, const char *text, long lo,
               long hi, long *out);
int tg_cli_double(const char *cmd, const char *opt, const char *text,
                  double lo, double hi, double *out);

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

tg_status tg_cli_load_data(const tg_cli_data *o, tg_dataset *train, tg_dataset *val,
                           tg_error *err);
const char *tg_cli_data_help(void);
/* The images a trained network is evaluated on: "test", or "val" (the
 * validation part of the split; refused when trained_on, the fingerprint of
 * the network's training data, is not that split's training part). */
tg_status tg_cli_load_eval_split(const tg_cli_data *o, const char *split,
                                 const char *trained_on, tg_dataset *out, tg_error *err);

/* .npy inputs of the representation commands (npy_inputs.c) */
tg_status tg_cli_read_f64(const char *path, int want_ndim, double **out, int64_t *rows,
                          int64_t *cols, tg_error *err);
tg_status tg_cli_read_f32_matrix(const char *path, float **out, int64_t *rows, int64_t *cols,
                                 tg_error *err);
tg_status tg_cli_read_labels(const char *path, int64_t n, int32_t **out, tg_error *err);

#endif
