/* cmd_train.c - `tgsage train`: train a network, with checkpoints, a
 * progress display, and resume after an interruption. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage train [options]\n"
"\n"
"Train a network on a dataset for a budget in epochs and report its accuracy\n"
"on a validation set held out from the training split. Training images are\n"
"augmented as in the paper (zero-pad by 4, random crop, random horizontal\n"
"flip) and standardised per image.\n"
"\n"
"network and budget:\n"
"  --net NAME          resnet:N (depth 6N+2), small3 or candidate6 [resnet:1]\n"
"  --preset NAME       layerwise, cell or short: the paper's recipes; the\n"
"                      options below override single fields [short]\n"
"  --epochs E          budget in epochs, fractions allowed (0.25) [preset: 2]\n"
"  --batch B           images per step [128]\n"
"  --lr LR             initial learning rate [preset: 0.05]\n"
"  --schedule S        constant, cosine, or step:EPOCHS:GAMMA [preset: cosine]\n"
"  --optimizer O       sgd (Nesterov when momentum > 0) or rmsprop [sgd]\n"
"  --momentum M        momentum [0.9]\n"
"  --wd WD             weight decay [preset: 5e-4]\n"
"  --clip NORM         clip gradients to this global norm, 0 = off [preset: 0]\n"
"  --no-augment        no crop or flip, only standardisation\n"
"  --seed S            seed of the weights, the order and the augmentation [1]\n"
"\n"
"data:\n"
"%s"
"\n"
"output and running:\n"
"  --out CKPT          save the trained network here; also the stem of the\n"
"                      checkpoints at points (CKPT@EPOCH.ckpt) and of the\n"
"                      resume file (CKPT.resume)\n"
"  --checkpoint-at L   comma-separated epochs at which to evaluate and save a\n"
"                      checkpoint, e.g. 0.5,1,2 (the paper's premature points)\n"
"  --save-every E      also save the resume file every E epochs [0.25]\n"
"  --resume            continue an interrupted run from CKPT.resume (same\n"
"                      command line, plus --resume)\n"
"  --threads T         threads, 0 = all cores [0]\n"
"  --backend NAME      convolution backend: dnnl or ref [dnnl]\n"
"  --json              print a JSON summary on stdout\n"
"  -h, --help          show this help\n"
"\n"
"Ctrl-C (or SIGTERM) stops after the current step and writes CKPT.resume.\n"
"Exit status: 0 done, 1 failed (e.g. diverged), 2 usage, 130 interrupted.\n",
            tg_cli_data_help());
}

static volatile sig_atomic_t g_stop;  /* set by the signal handler only */
static void on_signal(int sig) { g_stop = sig; }

typedef struct {
    int tty, json;
    double next_log, last_draw;
} display;

static int on_step(const tg_train_progress *p, void *user) {
    display *d = user;
    if (d->tty) {
        if (p->seconds - d->last_draw < 0.1 && p->step != p->steps) return 0;
        d->last_draw = p->seconds;
        double frac = (double)p->step / p->steps;
        int fill = (int)(frac * 24);
        double left = p->img_s > 0 ? (p->steps - p->step) * (p->seconds / (p->step + 1e-9)) : 0;
        fprintf(stderr, "\r[%.*s%*s] epoch %.2f  step %lld/%lld  loss %.4f  acc %5.1f%%  "
                "%.0f img/s  %2dm%02ds left ", fill, "########################",
                24 - fill, "", p->epoch, (long long)p->step, (long long)p->steps, p->loss,
                100 * p->acc, p->img_s, (int)(left / 60), (int)left % 60);
    } else if (p->epoch >= d->next_log || p->step == p->steps) {
        fprintf(stderr, "epoch %.2f step %lld/%lld loss %.4f acc %.3f img/s %.1f\n", p->epoch,
                (long long)p->step, (long long)p->steps, p->loss, p->acc, p->img_s);
        while (d->next_log <= p->epoch) d->next_log += 0.1;
    }
    return 0;
}

static void on_point(const tg_train_point *pt, void *user) {
    display *d = user;
    if (d->tty) fputc('\n', stderr);
    fprintf(stderr, "epoch %g: validation accuracy %.2f%% (loss %.4f)%s%s\n", pt->epoch,
            100 * pt->val_acc, pt->val_loss, pt->path[0] ? ", saved " : "", pt->path);
}

static int parse_points(const char *text, tg_train_config *c) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    c->ncheckpoints = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        double v;
        if (c->ncheckpoints == TG_MAX_CHECKPOINTS ||
            tg_cli_double("train", "--checkpoint-at", tok, 1e-9, 1e9, &v))
            return -1;
        c->checkpoint_at[c->ncheckpoints++] = v;
    }
    return c->ncheckpoints ? 0 : -1;
}

int tg_cmd_train(int argc, char **argv) {
    static const struct option longs[] = {
        {"net", 1, 0, 'n'},          {"preset", 1, 0, 'P'},    {"epochs", 1, 0, 'e'},
        {"batch", 1, 0, 'b'},        {"lr", 1, 0, 'l'},        {"schedule", 1, 0, 'S'},
        {"optimizer", 1, 0, 'O'},    {"momentum", 1, 0, 'm'},  {"wd", 1, 0, 'w'},
        {"clip", 1, 0, 'c'},         {"no-augment", 0, 0, 'A'}, {"seed", 1, 0, 's'},
        {"out", 1, 0, 'o'},
        {"checkpoint-at", 1, 0, 'C'}, {"save-every", 1, 0, 'E'}, {"resume", 0, 0, 'R'},
        {"threads", 1, 0, 't'},      {"backend", 1, 0, 'B'},   {"json", 0, 0, 'j'},
        TG_CLI_DATA_OPTIONS, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "train";
    tg_error err;
    tg_train_config c;
    /* the preset first, so that every other option overrides it */
    const char *preset = "short";
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--preset")) preset = argv[i + 1];
        else if (!strncmp(argv[i], "--preset=", 9)) preset = argv[i] + 9;
    if (tg_train_preset(preset, &c, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: --preset: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    c.save_every = 0.25;
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    const char *schedule = NULL;
    long threads = 0, seed = 1;
    int json = 0, resume = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        int bad = 0;
        long v;
        if (tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'n': snprintf(c.net, sizeof c.net, "%s", optarg); break;
        case 'P': break;
        case 'e': bad = tg_cli_double(cmd, "--epochs", optarg, 1e-6, 1e6, &c.epochs); break;
        case 'b': bad = tg_cli_int(cmd, "--batch", optarg, 1, 65536, &v); c.batch = (int)v; break;
        case 'l': bad = tg_cli_double(cmd, "--lr", optarg, 0, 1e3, &c.lr.lr); break;
        case 'S': schedule = optarg; break;
        case 'O':
            if (!strcmp(optarg, "sgd")) c.opt.kind = TG_OPT_SGD;
            else if (!strcmp(optarg, "rmsprop")) {
                c.opt.kind = TG_OPT_RMSPROP, c.opt.alpha = 0.9, c.opt.eps = 1e-8;
            } else {
                fprintf(stderr, "tgsage train: --optimizer '%s': expected sgd or rmsprop\n", optarg);
                bad = 1;
            }
            break;
        case 'm': bad = tg_cli_double(cmd, "--momentum", optarg, 0, 0.999, &c.opt.momentum); break;
        case 'w': bad = tg_cli_double(cmd, "--wd", optarg, 0, 1, &c.opt.weight_decay); break;
        case 'c': bad = tg_cli_double(cmd, "--clip", optarg, 0, 1e9, &c.opt.clip_norm); break;
        case 'A': c.augment = 0; break;
        case 's': bad = tg_cli_int(cmd, "--seed", optarg, 0, 1L << 62, &seed); break;
        case 'o': snprintf(c.out, sizeof c.out, "%s", optarg); break;
        case 'C':
            if (parse_points(optarg, &c)) {
                fprintf(stderr, "tgsage train: --checkpoint-at '%s': expected up to %d "
                        "comma-separated epochs, e.g. 0.5,1,2\n", optarg, TG_MAX_CHECKPOINTS);
                bad = 1;
            }
            break;
        case 'E': bad = tg_cli_double(cmd, "--save-every", optarg, 0, 1e6, &c.save_every); break;
        case 'R': resume = 1; break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &threads); break;
        case 'B': snprintf(c.backend, sizeof c.backend, "%s", optarg); break;
        case 'j': json = 1; break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage train --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage train: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    c.seed = (uint64_t)seed;
    if (c.opt.nesterov && c.opt.momentum <= 0) c.opt.nesterov = 0;
    if (c.opt.kind == TG_OPT_RMSPROP) c.opt.nesterov = 0;
    if (schedule && tg_lr_parse(schedule, &c.lr, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: --schedule: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    if (!tg_backend_find(c.backend)) {
        fprintf(stderr, "tgsage train: --backend '%s': expected dnnl or ref\n", c.backend);
        return TG_EXIT_USAGE;
    }
    if (resume && !c.out[0]) {
        fprintf(stderr, "tgsage train: --resume needs the --out of the interrupted run\n");
        return TG_EXIT_USAGE;
    }
    int nthreads = tg_threads_set((int)threads);

    tg_dataset train, val;
    if (tg_cli_load_data(&data, &train, &val, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    fprintf(stderr, "training %s on %lld images of %s (validation %lld), %g epoch%s, batch "
            "%d, %d threads%s\n", c.net, (long long)train.n, data.spec, (long long)val.n,
            c.epochs, c.epochs == 1 ? "" : "s", c.batch, nthreads, resume ? ", resuming" : "");
    display disp = {isatty(2), json, 0.1, -1};
    g_stop = 0;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    tg_train_hooks hooks = {on_step, on_point, &disp, &g_stop};
    tg_train_result res;
    tg_status st = tg_train_run(&c, &train, &val, resume, &hooks, &res, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int code = TG_EXIT_OK;
    if (st != TG_OK) {
        if (disp.tty) fputc('\n', stderr);
        fprintf(stderr, "tgsage train: %s\n", err.msg);
        code = TG_EXIT_FAIL;
    } else if (res.state == TG_RUN_STOPPED) {
        if (disp.tty) fputc('\n', stderr);
        if (res.resume_path[0])
            fprintf(stderr, "stopped at epoch %.3f; saved %s. Resume with the same command "
                    "and --resume.\n", res.last.epoch, res.resume_path);
        else
            fprintf(stderr, "stopped at epoch %.3f; nothing saved (no --out).\n", res.last.epoch);
        code = TG_EXIT_INTERRUPTED;
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "status", st != TG_OK ? "failed"
                                : res.state == TG_RUN_STOPPED ? "stopped" : "done");
        if (st != TG_OK) cJSON_AddStringToObject(j, "error", err.msg);
        cJSON_AddStringToObject(j, "net", c.net);
        cJSON_AddStringToObject(j, "data", data.spec);
        cJSON_AddStringToObject(j, "data_fingerprint", train.fingerprint);
        cJSON_AddNumberToObject(j, "train_images", (double)train.n);
        cJSON_AddNumberToObject(j, "val_images", (double)val.n);
        cJSON_AddNumberToObject(j, "epochs", c.epochs);
        cJSON_AddNumberToObject(j, "epoch_reached", res.last.epoch);
        cJSON_AddNumberToObject(j, "steps", (double)res.last.step);
        cJSON_AddNumberToObject(j, "examples_trained", (double)res.last.step * c.batch);
        cJSON_AddBoolToObject(j, "resumed", res.resumed);
        if (st == TG_OK && res.state == TG_RUN_DONE) {
            cJSON_AddNumberToObject(j, "val_accuracy", res.final.val_acc);
            cJSON_AddNumberToObject(j, "val_loss", res.final.val_loss);
            if (c.out[0]) cJSON_AddStringToObject(j, "checkpoint", c.out);
        }
        cJSON_AddNumberToObject(j, "train_loss", res.last.loss);
        cJSON_AddNumberToObject(j, "seconds", res.last.seconds);
        cJSON_AddNumberToObject(j, "train_img_s", res.last.img_s);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else if (st == TG_OK && res.state == TG_RUN_DONE) {
        printf("%s: validation accuracy %.2f%% (loss %.4f) on %lld images after %g epochs "
               "(%.1f s, %.0f img/s)%s%s\n", c.net, 100 * res.final.val_acc,
               res.final.val_loss, (long long)val.n, c.epochs, res.last.seconds,
               res.last.img_s, c.out[0] ? "; saved " : "", c.out);
    }
    tg_dataset_free(&train);
    tg_dataset_free(&val);
    return code;
}
