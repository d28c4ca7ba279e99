/* main.c - `tgsage`: dispatch to subcommands from a table. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const tg_command COMMANDS[] = {
    {"train", "train a network on a dataset for a budget, with checkpoints and resume",
     tg_cmd_train},
    {"eval", "accuracy of a trained checkpoint on the validation or test split",
     tg_cmd_eval},
    {"features", "write the activations of named layers as .npy files", tg_cmd_features},
    {"rdm", "representational dissimilarity matrix of a feature matrix", tg_cmd_rdm},
    {"compare", "similarity of two RDMs (or linear CKA of two feature matrices)",
     tg_cmd_compare},
    {"teacher", "make a teacher file from a network, recordings or RDMs", tg_cmd_teacher},
    {"tg", "teacher guidance (and score) of a trained candidate", tg_cmd_tg},
    {"sample", "draw architectures of a search space as genome JSON lines", tg_cmd_sample},
    {"show", "a genome's statistics, observed layers and Graphviz picture", tg_cmd_show},
    {"export", "a trained genome network as a PyTorch module and safetensors weights",
     tg_cmd_export},
    {"search", "search a space: the explorer's loop, with local workers", tg_cmd_search},
    {"rerank", "train a search's best architectures longer, beside their search scores",
     tg_cmd_rerank},
    {"pool", "train a pool of architectures, recording P and TG at premature points",
     tg_cmd_pool},
    {"analyze", "which early signal of a pool predicts mature accuracy", tg_cmd_analyze},
    {"report", "one self-contained HTML file of a database's studies (--watch follows)",
     tg_cmd_report},
    {"worker", "train and score the trials of a study, from any machine", tg_cmd_worker},
    {"status", "the studies of a database and their progress", tg_cmd_status},
    {"trials", "every trial of a study as JSON lines or CSV", tg_cmd_trials},
    {"best", "the best trials of a study, with their genomes", tg_cmd_best},
};
#define NCOMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f,
            "usage: tgsage <command> [options]\n"
            "\n"
            "Teacher-guided neural architecture search (TG-SAGE) on the CPU.\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f,
            "\n"
            "Run 'tgsage <command> --help' for the options of a command.\n"
            "Example: tgsage train --net resnet:1 --epochs 1\n");
}

int tg_cli_int(const char *cmd, const char *opt, const char *text, long lo,
               long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "tgsage %s: %s: '%s' is not an integer in [%ld, %ld]\n", cmd,
                opt, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int tg_cli_double(const char *cmd, const char *opt, const char *text,
                  double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "tgsage %s: %s: '%s' is not a number in [%g, %g]\n", cmd, opt,
                text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return TG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return TG_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("tgsage %s\n", TG_VERSION);
        return TG_EXIT_OK;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tgsage: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return TG_EXIT_USAGE;
}
