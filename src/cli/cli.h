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
} tg_cli_data;

#define TG_CLI_DATA_DEFAULT {"fashion-mnist", -1, 0, 0, 0}

tg_status tg_cli_load_data(const tg_cli_data *o, tg_dataset *train, tg_dataset *val,
                           tg_error *err);
const char *tg_cli_data_help(void);
/* The images a trained network is evaluated on: "test", or "val" (the
 * validation part of the split; refused when trained_on, the fingerprint of
 * the network's training data, is not that split's training part). */
tg_status tg_cli_load_eval_split(const tg_cli_data *o, const char *split,
                                 const char *trained_on, tg_dataset *out, tg_error *err);

#endif
