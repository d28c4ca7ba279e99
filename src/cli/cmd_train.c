/* cmd_train.c - `tgsage train`: train a built-in network on an IDX dataset. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tgsage/checkpoint.h"
#include "tgsage/idx.h"
#include "tgsage/models.h"
#include "tgsage/prep.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage train [options]\n"
"\n"
"Train a network and report its accuracy on held-out images (the dataset's\n"
"test split). Images are standardised per image; no augmentation.\n"
"\n"
"options:\n"
"  --net NAME          resnet:N (depth 6N+2), small3 or candidate6 [resnet:1]\n"
"  --data SPEC         fashion-mnist (Debian's dataset-fashion-mnist) or\n"
"                      mnist:DIR (a directory of the four IDX files)\n"
"                      [fashion-mnist]\n"
"  --epochs E          epochs to train, fractions allowed (0.25) [1]\n"
"  --batch B           images per step [32]\n"
"  --lr LR             initial learning rate [0.03]\n"
"  --schedule S        constant, cosine, or step:EPOCHS:GAMMA [constant]\n"
"  --momentum M        SGD momentum (Nesterov) [0.9]\n"
"  --wd WD             weight decay [5e-4]\n"
"  --clip NORM         clip gradients to this global norm, 0 = off [0]\n"
"  --train-limit N     train on the first N training images, 0 = all [0]\n"
"  --val-limit N       evaluate on the first N test images, 0 = all [0]\n"
"  --seed S            seed of weights and shuffling [1]\n"
"  --threads T         threads, 0 = all cores [0]\n"
"  --backend NAME      convolution backend: dnnl or ref [dnnl]\n"
"  --out CKPT          save the trained weights to this checkpoint file\n"
"  --json              print a JSON summary on stdout\n"
"  -h, --help          show this help\n");
}

typedef struct {
    const char *net, *data, *schedule, *out, *backend;
    double epochs, lr, momentum, wd, clip;
    long batch, train_limit, val_limit, seed, threads;
    int json;
} options;

typedef struct {
    int tty;
    double next_log;  /* epoch at which the next plain log line is due */
} progress_state;

static int on_step(const tg_train_progress *p, void *user) {
    progress_state *s = user;
    if (s->tty) {
        fprintf(stderr, "\r  epoch %6.2f  step %6ld  loss %.4f  acc %5.1f%%  %7.1f img/s ",
                p->epoch, p->step, p->loss, 100 * p->acc, p->img_s);
    } else if (p->epoch >= s->next_log) {
        fprintf(stderr, "epoch %.2f step %ld loss %.4f acc %.3f img/s %.1f\n", p->epoch,
                p->step, p->loss, p->acc, p->img_s);
        s->next_log += 0.1;
    }
    return 0;
}

/* Load one split of an IDX dataset into standardised floats. */
static int load_split(const char *dir, const char *split, long limit,
                      float **x, int32_t **y, int64_t *n, int *h, int *w) {
    char ip[4096], lp[4096];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    if (access(ip, R_OK) != 0) snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte", dir, split);
    if (access(lp, R_OK) != 0) snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte", dir, split);
    tg_idx_images im;
    tg_idx_labels lb;
    tg_error err;
    if (tg_idx_read_pair(ip, lp, 10, &im, &lb, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: %s\n", err.msg);
        return -1;
    }
    *n = limit > 0 && limit < im.n ? limit : im.n;
    *h = im.h, *w = im.w;
    size_t sz = (size_t)im.h * im.w;
    *x = malloc(sizeof(float) * sz * *n);
    *y = malloc(sizeof(int32_t) * *n);
    if (!*x || !*y) {
        fprintf(stderr, "tgsage train: out of memory for %lld images\n", (long long)*n);
        tg_idx_images_free(&im);
        tg_idx_labels_free(&lb);
        return -1;
    }
    tg_standardize_u8(im.pixels, *n, sz, *x);
    for (int64_t i = 0; i < *n; i++) (*y)[i] = lb.labels[i];
    tg_idx_images_free(&im);
    tg_idx_labels_free(&lb);
    return 0;
}

static int parse(int argc, char **argv, options *o) {
    static const struct option longs[] = {
        {"net", 1, 0, 'n'},        {"data", 1, 0, 'd'},   {"epochs", 1, 0, 'e'},
        {"batch", 1, 0, 'b'},      {"lr", 1, 0, 'l'},     {"schedule", 1, 0, 'S'},
        {"momentum", 1, 0, 'm'},   {"wd", 1, 0, 'w'},     {"clip", 1, 0, 'c'},
        {"train-limit", 1, 0, 'T'}, {"val-limit", 1, 0, 'V'}, {"seed", 1, 0, 's'},
        {"threads", 1, 0, 't'},    {"backend", 1, 0, 'B'}, {"out", 1, 0, 'o'},
        {"json", 0, 0, 'j'},       {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    const char *cmd = "train";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'n': o->net = optarg; break;
        case 'd': o->data = optarg; break;
        case 'S': o->schedule = optarg; break;
        case 'o': o->out = optarg; break;
        case 'B': o->backend = optarg; break;
        case 'j': o->json = 1; break;
        case 'e': bad = tg_cli_double(cmd, "--epochs", optarg, 1e-6, 1e6, &o->epochs); break;
        case 'l': bad = tg_cli_double(cmd, "--lr", optarg, 0, 1e3, &o->lr); break;
        case 'm': bad = tg_cli_double(cmd, "--momentum", optarg, 0, 0.999, &o->momentum); break;
        case 'w': bad = tg_cli_double(cmd, "--wd", optarg, 0, 1, &o->wd); break;
        case 'c': bad = tg_cli_double(cmd, "--clip", optarg, 0, 1e9, &o->clip); break;
        case 'b': bad = tg_cli_int(cmd, "--batch", optarg, 1, 65536, &o->batch); break;
        case 'T': bad = tg_cli_int(cmd, "--train-limit", optarg, 0, 1L << 31, &o->train_limit); break;
        case 'V': bad = tg_cli_int(cmd, "--val-limit", optarg, 0, 1L << 31, &o->val_limit); break;
        case 's': bad = tg_cli_int(cmd, "--seed", optarg, 0, 1L << 62, &o->seed); break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &o->threads); break;
        case 'h': help(stdout); return 1;
        default: fprintf(stderr, "Run 'tgsage train --help' for the options.\n"); return -1;
        }
        if (bad) return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage train: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

int tg_cmd_train(int argc, char **argv) {
    options o = {"resnet:1", "fashion-mnist", "constant", NULL, "dnnl",
                 1, 0.03, 0.9, 5e-4, 0, 32, 0, 0, 1, 0, 0};
    int r = parse(argc, argv, &o);
    if (r) return r > 0 ? TG_EXIT_OK : TG_EXIT_USAGE;
    const char *dir;
    if (!strcmp(o.data, "fashion-mnist")) dir = FASHION_DIR;
    else if (!strncmp(o.data, "mnist:", 6)) dir = o.data + 6;
    else {
        fprintf(stderr, "tgsage train: --data '%s': expected fashion-mnist or mnist:DIR\n",
                o.data);
        return TG_EXIT_USAGE;
    }
    const tg_backend *be = tg_backend_find(o.backend);
    if (!be) {
        fprintf(stderr, "tgsage train: --backend '%s': expected dnnl or ref\n", o.backend);
        return TG_EXIT_USAGE;
    }
    tg_error err;
    tg_lr_schedule sched = {.lr = o.lr};
    if (tg_lr_parse(o.schedule, &sched, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: --schedule: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    sched.total = o.epochs;
    int threads = tg_threads_set((int)o.threads);

    int status = TG_EXIT_FAIL;
    float *xtr = NULL, *xva = NULL;
    int32_t *ytr = NULL, *yva = NULL;
    int64_t ntr, nva;
    int h, w;
    tg_graph *g = NULL;
    tg_net *net = NULL;
    tg_optim *opt = NULL;
    if (load_split(dir, "train", o.train_limit, &xtr, &ytr, &ntr, &h, &w) ||
        load_split(dir, "t10k", o.val_limit, &xva, &yva, &nva, &h, &w))
        goto done;
    g = tg_model_build(o.net, 1, h, w, 10, &err);
    tg_rng rng;
    tg_rng_seed(&rng, (uint64_t)o.seed);
    if (g) net = tg_net_new(g, (int)o.batch, be, &rng, &err);
    tg_opt_config oc = {.kind = TG_OPT_SGD, .momentum = o.momentum,
                        .nesterov = o.momentum > 0, .weight_decay = o.wd,
                        .clip_norm = o.clip};
    if (net) opt = tg_optim_new(&oc, net, &err);
    if (!opt) {
        fprintf(stderr, "tgsage train: %s\n", err.msg);
        goto done;
    }
    fprintf(stderr, "training %s (%zu parameters) on %lld images of %s, %g epochs, "
            "batch %ld, %d threads\n", o.net, tg_net_param_count(net), (long long)ntr,
            o.data, o.epochs, o.batch, threads);
    progress_state ps = {isatty(2), 0.1};
    tg_train_config tc = {.epochs = o.epochs, .lr = sched, .on_step = on_step, .user = &ps};
    tg_tensor_set tr = {xtr, ytr, ntr, 1, h, w}, va = {xva, yva, nva, 1, h, w};
    tg_train_progress last;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tg_status st = tg_train(net, opt, &tc, &tr, &rng, &last, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (ps.tty) fputc('\n', stderr);
    if (st != TG_OK) {
        fprintf(stderr, "tgsage train: %s\n", err.msg);
        goto done;
    }
    double acc, loss;
    if (tg_evaluate(net, &va, &acc, &loss, &err) != TG_OK) {
        fprintf(stderr, "tgsage train: evaluation: %s\n", err.msg);
        goto done;
    }
    double secs = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    if (o.out) {
        char meta[512];
        snprintf(meta, sizeof meta, "{\"net\":\"%s\",\"input\":[1,%d,%d],\"classes\":10}",
                 o.net, h, w);
        if (tg_ckpt_save(o.out, net, NULL, meta, &err) != TG_OK) {
            fprintf(stderr, "tgsage train: %s\n", err.msg);
            goto done;
        }
    }
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "net", o.net);
        cJSON_AddStringToObject(j, "data", o.data);
        cJSON_AddNumberToObject(j, "epochs", o.epochs);
        cJSON_AddNumberToObject(j, "train_images", (double)ntr);
        cJSON_AddNumberToObject(j, "val_images", (double)nva);
        cJSON_AddNumberToObject(j, "val_accuracy", acc);
        cJSON_AddNumberToObject(j, "val_loss", loss);
        cJSON_AddNumberToObject(j, "train_loss", last.loss);
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddNumberToObject(j, "train_img_s", last.img_s);
        if (o.out) cJSON_AddStringToObject(j, "checkpoint", o.out);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%s: held-out accuracy %.2f%% (loss %.4f) on %lld images after %g epochs "
               "(%.1f s, %.0f img/s)\n", o.net, 100 * acc, loss, (long long)nva, o.epochs,
               secs, last.img_s);
        if (o.out) printf("saved %s\n", o.out);
    }
    status = TG_EXIT_OK;
done:
    tg_optim_free(opt);
    tg_net_free(net);
    tg_graph_free(g);
    free(xtr), free(ytr), free(xva), free(yva);
    return status;
}
