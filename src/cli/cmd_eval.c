/* cmd_eval.c - `tgsage eval`: accuracy of a trained checkpoint. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage eval --ckpt CKPT [options]\n"
"\n"
"Accuracy and mean loss of a trained network (a checkpoint of tgsage train)\n"
"on the validation part of its training split or on the test split.\n"
"\n"
"options:\n"
"  --ckpt CKPT         the checkpoint (required)\n"
"  --split S           val or test [val]\n"
"%s"
"  --batch B           images per forward pass [256]\n"
"  --threads T         threads, 0 = all cores [0]\n"
"  --json              print a JSON object on stdout\n"
"  -h, --help          show this help\n", tg_cli_data_help());
}

int tg_cmd_eval(int argc, char **argv) {
    static const struct option longs[] = {
        {"ckpt", 1, 0, 'k'},        {"split", 1, 0, 'p'},
        {"batch", 1, 0, 'b'},       {"threads", 1, 0, 't'},
        {"json", 0, 0, 'j'},        TG_CLI_DATA_OPTIONS, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "eval", *ckpt = NULL, *split = "val";
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    long batch = 256, threads = 0;
    int json = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'k': ckpt = optarg; break;
        case 'p': split = optarg; break;
        case 'b': bad = tg_cli_int(cmd, "--batch", optarg, 1, 65536, &batch); break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &threads); break;
        case 'j': json = 1; break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage eval --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage eval: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    if (!ckpt) {
        fprintf(stderr, "tgsage eval: --ckpt is required (see tgsage eval --help)\n");
        return TG_EXIT_USAGE;
    }
    tg_threads_set((int)threads);
    tg_error err;
    tg_trained t;
    tg_dataset d;
    if (tg_trained_load(ckpt, (int)batch, "", &t, &err) != TG_OK) {
        fprintf(stderr, "tgsage eval: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    int code = TG_EXIT_FAIL;
    if (tg_cli_load_eval_split(&data, split, t.data_fingerprint, &d, &err) != TG_OK) {
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
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "checkpoint", ckpt);
            cJSON_AddStringToObject(j, "net", t.net_spec);
            cJSON_AddStringToObject(j, "split", split);
            cJSON_AddNumberToObject(j, "images", (double)d.n);
            cJSON_AddNumberToObject(j, "accuracy", acc);
            cJSON_AddNumberToObject(j, "loss", loss);
            char *s = cJSON_PrintUnformatted(j);
            printf("%s\n", s);
            free(s);
            cJSON_Delete(j);
        } else {
            printf("%s (%s, epoch %g): %s accuracy %.2f%% (loss %.4f) on %lld images\n", ckpt,
                   t.net_spec, t.epoch, split, 100 * acc, loss, (long long)d.n);
        }
        code = TG_EXIT_OK;
    }
    tg_dataset_free(&d);
    tg_trained_free(&t);
    return code;
}
