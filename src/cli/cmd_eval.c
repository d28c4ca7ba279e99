/* cmd_eval.c - `tgsage eval`: accuracy of a trained checkpoint. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/accuracy.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static void help(FILE *f, const tg_cli_common *def) {
    fprintf(f,
"usage: tgsage eval --ckpt CKPT [options]\n"
"\n"
"Accuracy and mean loss of a trained network (a checkpoint of tgsage train,\n"
"a built-in net or a genome) on the validation part of the split it was\n"
"trained beside, or on the test split.\n"
"\n"
"options:\n"
"  --ckpt CKPT         the checkpoint (required)\n"
"  --split S           val or test [val]\n"
"%s", tg_cli_data_help());
    tg_cli_common_help(f, def, "images per forward pass",
                       "print a JSON object on stdout (checkpoint, net, split,\n"
                       "                      images, accuracy, loss)");
    fprintf(f, "  -h, --help          show this help\n");
}

int tg_cmd_eval(int argc, char **argv) {
    static const struct option longs[] = {
        TG_CLI_CKPT_OPTION,   {"split", 1, 0, 'p'}, TG_CLI_COMMON_OPTIONS,
        TG_CLI_DATA_OPTIONS,  {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    const char *cmd = "eval", *split = "val";
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    tg_cli_common com = TG_CLI_COMMON_DEFAULT(256), def = com;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_common_option(cmd, ch, optarg, &com, &bad) ||
            tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'p': split = optarg; break;
        case 'h': help(stdout, &def); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage eval --help' for the options.\n"); return TG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage eval: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    if (!com.ckpt) {
        fprintf(stderr, "tgsage eval: --ckpt is required (see tgsage eval --help)\n");
        return TG_EXIT_USAGE;
    }
    if (strcmp(split, "val") != 0 && strcmp(split, "test") != 0) {
        fprintf(stderr, "tgsage eval: --split '%s': expected val or test\n", split);
        return TG_EXIT_USAGE;
    }
    tg_threads_set((int)com.threads);
    tg_error err;
    tg_trained t;
    tg_dataset d;
    if (tg_trained_load(com.ckpt, (int)com.batch, com.backend, &t, &err) != TG_OK) {
        fprintf(stderr, "tgsage eval: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    int code = TG_EXIT_FAIL;
    if (tg_cli_load_eval_split(&data, split, &t, &d, &err) != TG_OK) {
        fprintf(stderr, "tgsage eval: %s\n", err.msg);
        tg_trained_free(&t);
        return TG_EXIT_FAIL;
    }
    double acc, loss;
    if (d.c != t.c || d.h != t.h || d.w != t.w || d.classes > t.classes) {
        fprintf(stderr, "tgsage eval: %s has %d classes of %dx%dx%d images; the network "
                "takes %dx%dx%d images of %d classes\n", d.source, d.classes, d.c, d.h, d.w,
                t.c, t.h, t.w, t.classes);
    } else if (tg_evaluate(t.net, &d, &acc, &loss, &err) != TG_OK) {
        fprintf(stderr, "tgsage eval: %s\n", err.msg);
    } else {
        if (com.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "checkpoint", com.ckpt);
            cJSON_AddStringToObject(j, "net", t.net_spec);
            if (t.genome) cJSON_AddStringToObject(j, "space", t.space);
            cJSON_AddStringToObject(j, "split", split);
            cJSON_AddNumberToObject(j, "images", (double)d.n);
            cJSON_AddNumberToObject(j, "accuracy", acc);
            cJSON_AddNumberToObject(j, "loss", loss);
            char *s = cJSON_PrintUnformatted(j);
            printf("%s\n", s);
            free(s);
            cJSON_Delete(j);
        } else {
            printf("%s (%s, epoch %g): %s accuracy %.2f%% (loss %.4f) on %lld images\n",
                   com.ckpt, t.net_spec, t.epoch, split, 100 * acc, loss, (long long)d.n);
        }
        code = TG_EXIT_OK;
    }
    tg_dataset_free(&d);
    tg_trained_free(&t);
    return code;
}
