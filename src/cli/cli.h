/* cli.h - the subcommand table of the `tgsage` command. Only src/cli/
 * prints for the user and chooses exit codes. */
#ifndef TGSAGE_CLI_H
#define TGSAGE_CLI_H

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand */
} tg_command;

/* exit codes */
enum { TG_EXIT_OK = 0, TG_EXIT_FAIL = 1, TG_EXIT_USAGE = 2 };

int tg_cmd_train(int argc, char **argv);

/* Parse a number option or print "tgsage CMD: --OPT: ..." and return -1. */
int tg_cli_int(const char *cmd, const char *opt, const char *text, long lo,
               long hi, long *out);
int tg_cli_double(const char *cmd, const char *opt, const char *text,
                  double lo, double hi, double *out);

#endif
