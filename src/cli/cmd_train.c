/* cmd_train.c - `tgsage train`: train a built-in network or a genome, with
 * checkpoints, a progress display, and resume after an interruption.
 * Everything that can be checked without data (options, the net or genome,
 * the output directory) is checked before the data is loaded. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static void help(FILE *f, const tg_cli_common *def) {
    fprintf(f,
"usage: tgsage train [--net NAME | --genome FILE] [options]\n"
"\n"
"Train a network on a dataset for a budget in epochs and report its accuracy\n"
"on a validation set held out from the training split. Training images are\n"
"augmented as in the paper (zero-pad by 4, random crop, random horizontal\n"
"flip) and standardised per image.\n"
"\n"
"network and budget:\n"
"  --net NAME          resnet:N (depth 6N+2), small3 or candidate6 (a genome\n"
"                      of the layer-wise space) [resnet:1]\n"
"  --genome FILE       train this genome (JSON, docs/spaces.md) instead\n"
"  --space SPEC        validate the genome against this space, e.g.\n"
"                      layerwise:10 or cell [the space the genome names]\n"
"  --preset NAME       layerwise, cell or short: the paper's recipes; the\n"
"                      options below override single fields [short]\n"
"  --epochs E          budget in epochs, fractions allowed (0.25) [preset: 2]\n"
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
"                      resume file (CKPT.resume). A checkpoint holds the\n"
"                      genome, so eval, features, tg and teacher need only it\n"
"  --checkpoint-at L   comma-separated epochs at which to evaluate and save a\n"
"                      checkpoint, e.g. 0.5,1,2 (the paper's premature points)\n"
"  --save-every E      also save the resume file every E epochs [0.25]\n"
"  --resume            continue an interrupted run from CKPT.resume (same\n"
"                      command line, plus --resume)\n",
            tg_cli_data_help());
    tg_cli_common_help(f, def, "images per step", "print a JSON summary on stdout");
    fprintf(f,
"  -h, --help          show this help\n"
"\n"
"Ctrl-C (or SIGTERM) stops after the current step and writes CKPT.resume.\n"
"Exit status: 0 done, 1 failed (e.g. diverged, a bad genome), 2 usage,\n"
"130 interrupted.\n");
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

/* The genome file as canonical JSON (malloc'd), validated against space
 * ("" its own); NULL with the message in err. */
static char *read_genome(const char *path, const char *space, tg_error *err) {
    tg_space *sp = NULL;
    if (space[0] && !(sp = tg_space_parse(space, err))) return NULL;
    tg_genome *g = tg_genome_load(path, sp, err);
    char *json = g ? tg_genome_json(g) : NULL;
    if (g && !json) tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    tg_genome_free(g);
    tg_space_free(sp);
    return json;
}

static void print_json(const tg_train_config *c, const char *net, const tg_cli_data *data,
                       const tg_dataset *train, const tg_dataset *val, tg_status st,
                       const tg_error *err, const tg_train_result *res) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", st != TG_OK ? "failed"
                            : res->state == TG_RUN_STOPPED ? "stopped" : "done");
    if (st != TG_OK) cJSON_AddStringToObject(j, "error", err->msg);
    cJSON_AddStringToObject(j, "net", net);
    cJSON_AddStringToObject(j, "data", data->spec);
    cJSON_AddStringToObject(j, "data_fingerprint", train->fingerprint);
    cJSON_AddNumberToObject(j, "train_images", (double)train->n);
    cJSON_AddNumberToObject(j, "val_images", (double)val->n);
    cJSON_AddNumberToObject(j, "epochs", c->epochs);
    cJSON_AddNumberToObject(j, "epoch_reached", res->last.epoch);
    cJSON_AddNumberToObject(j, "steps", (double)res->last.step);
    cJSON_AddNumberToObject(j, "examples_trained", (double)res->last.step * c->batch);
    cJSON_AddBoolToObject(j, "resumed", res->resumed);
    if (st == TG_OK && res->state == TG_RUN_DONE) {
        cJSON_AddNumberToObject(j, "val_accuracy", res->final.val_acc);
        cJSON_AddNumberToObject(j, "val_loss", res->final.val_loss);
        if (c->out[0]) cJSON_AddStringToObject(j, "checkpoint", c->out);
    }
    cJSON_AddNumberToObject(j, "train_loss", res->last.loss);
    cJSON_AddNumberToObject(j, "seconds", res->last.seconds);
    cJSON_AddNumberToObject(j, "train_img_s", res->last.img_s);
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

int tg_cmd_train(int argc, char **argv) {
    static const struct option longs[] = {
        {"net", 1, 0, 'n'},          {"genome", 1, 0, 'g'},    {"space", 1, 0, 'Z'},
        {"preset", 1, 0, 'P'},       {"epochs", 1, 0, 'e'},    {"lr", 1, 0, 'l'},
        {"schedule", 1, 0, 'S'},     {"optimizer", 1, 0, 'O'}, {"momentum", 1, 0, 'm'},
        {"wd", 1, 0, 'w'},           {"clip", 1, 0, 'c'},      {"no-augment", 0, 0, 'A'},
        {"seed", 1, 0, 's'},         {"out", 1, 0, 'o'},       {"checkpoint-at", 1, 0, 'C'},
        {"save-every", 1, 0, 'E'},   {"resume", 0, 0, 'R'},    TG_CLI_COMMON_OPTIONS,
        TG_CLI_DATA_OPTIONS,         {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    const char *cmd = "train", *genome_path = NULL;
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
    tg_cli_common com = TG_CLI_COMMON_DEFAULT(c.batch), def = com;
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    const char *schedule = NULL;
    long seed = 1;
    int resume = 0, net_given = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_common_option(cmd, ch, optarg, &com, &bad) ||
            tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'n': snprintf(c.net, sizeof c.net, "%s", optarg), net_given = 1; break;
        case 'g': genome_path = optarg; break;
        case 'Z':
            if (strlen(optarg) >= sizeof c.space) {
                fprintf(stderr, "tgsage train: --space: longer than %zu characters\n",
                        sizeof c.space - 1);
                bad = 1;
            }
            snprintf(c.space, sizeof c.space, "%s", optarg);
            break;
        case 'P': break;
        case 'e': bad = tg_cli_double(cmd, "--epochs", optarg, 1e-6, 1e6, &c.epochs); break;
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
        case 'o':
            if (strlen(optarg) >= sizeof c.out) {
                fprintf(stderr, "tgsage train: --out: a path of at most %zu bytes\n",
                        sizeof c.out - 1);
                bad = 1;
            }
            snprintf(c.out, sizeof c.out, "%s", optarg);
            break;
        case 'C':
            if (parse_points(optarg, &c)) {
                fprintf(stderr, "tgsage train: --checkpoint-at '%s': expected up to %d "
                        "comma-separated epochs, e.g. 0.5,1,2\n", optarg, TG_MAX_CHECKPOINTS);
                bad = 1;
            }
            break;
        case 'E': bad = tg_cli_double(cmd, "--save-every", optarg, 0, 1e6, &c.save_every); break;
        case 'R': resume = 1; break;
        case 'h': help(stdout, &def); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage train --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage train: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    if (net_given && genome_path) {
        fprintf(stderr, "tgsage train: give --net or --genome, not both\n");
        return TG_EXIT_USAGE;
    }
    c.seed = (uint64_t)seed;
    c.batch = (int)com.batch;
    snprintf(c.backend, sizeof c.backend, "%s", com.backend);
    if (c.opt.nesterov && c.opt.momentum <= 0) c.opt.nesterov = 0;
    if (c.opt.kind == TG_OPT_RMSPROP) c.opt.nesterov = 0;
    if (schedule && tg_lr_parse(schedule, &c.lr, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: --schedule: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    if (resume && !c.out[0]) {
        fprintf(stderr, "tgsage train: --resume needs the --out of the interrupted run\n");
        return TG_EXIT_USAGE;
    }
    /* the cheap checks, before any data is loaded */
    char *genome = genome_path ? read_genome(genome_path, c.space, &err) : NULL;
    if (genome_path && !genome) {
        fprintf(stderr, "tgsage train: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    c.genome = genome;
    char net[300];
    snprintf(net, sizeof net, "%s", genome_path ? genome_path : c.net);
    if (tg_train_check(&c, resume, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: %s\n", err.msg);
        free(genome);
        return TG_EXIT_FAIL;
    }
    int nthreads = tg_threads_set((int)com.threads);

    tg_dataset train, val;
    if (tg_cli_load_data(&data, &train, &val, &c.split, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: %s\n", err.msg);
        free(genome);
        return TG_EXIT_FAIL;
    }
    fprintf(stderr, "training %s on %lld images of %s (validation %lld), %g epoch%s, batch "
            "%d, %d threads%s\n", net, (long long)train.n, data.spec, (long long)val.n,
            c.epochs, c.epochs == 1 ? "" : "s", c.batch, nthreads, resume ? ", resuming" : "");
    display disp = {isatty(2), com.json, 0.1, -1};
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
    if (com.json) {
        print_json(&c, net, &data, &train, &val, st, &err, &res);
    } else if (st == TG_OK && res.state == TG_RUN_DONE) {
        printf("%s: validation accuracy %.2f%% (loss %.4f) on %lld images after %g epochs "
               "(%.1f s, %.0f img/s)%s%s\n", net, 100 * res.final.val_acc,
               res.final.val_loss, (long long)val.n, c.epochs, res.last.seconds,
               res.last.img_s, c.out[0] ? "; saved " : "", c.out);
    }
    free(genome);
    tg_dataset_free(&train);
    tg_dataset_free(&val);
    return code;
}
