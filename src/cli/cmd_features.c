/* cmd_features.c - `tgsage features`: activations of named layers as .npy,
 * the way users hand them to numpy and how a teacher's layers are read. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "tgsage/npy.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage features --ckpt CKPT --layers L1,L2,... -o DIR [options]\n"
"\n"
"Run a trained network over images and write, for each named layer, its\n"
"activations as DIR/<layer>.npy: float32, images x units (each image's\n"
"activation flattened in C order, channels first), plus DIR/labels.npy\n"
"(int32). Images are taken in order from the split, centre (not augmented),\n"
"standardised, the network in evaluation mode.\n"
"\n"
"options:\n"
"  --ckpt CKPT         the checkpoint (required)\n"
"  --layers LIST       comma-separated layer names (required); resnet:N has\n"
"                      L1, L2, L3, candidate6 layer0..layer5\n"
"  -o, --out DIR       output directory, created if missing (required)\n"
"  --n N               number of images [1000]\n"
"  --split S           val or test [val]\n"
"%s"
"  --batch B           images per forward pass [100]\n"
"  --threads T         threads, 0 = all cores [0]\n"
"  -h, --help          show this help\n", tg_cli_data_help());
}

/* Split "a,b,c" into at most max names; returns the count or -1. */
static int split_names(char *text, char **names, int max) {
    int n = 0;
    for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return -1;
        names[n++] = tok;
    }
    return n;
}

static void list_names(const tg_graph *g) {
    fprintf(stderr, "named layers of this network:");
    for (int i = 0; i < tg_graph_nodes(g); i++)
        if (tg_graph_node_name(g, i)) fprintf(stderr, " %s", tg_graph_node_name(g, i));
    fprintf(stderr, "\n");
}

int tg_cmd_features(int argc, char **argv) {
    static const struct option longs[] = {
        {"ckpt", 1, 0, 'k'},       {"layers", 1, 0, 'L'},     {"out", 1, 0, 'o'},
        {"n", 1, 0, 'n'},          {"split", 1, 0, 'p'},
        {"batch", 1, 0, 'b'},      {"threads", 1, 0, 't'},
        TG_CLI_DATA_OPTIONS, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "features", *ckpt = NULL, *split = "val", *dir = NULL;
    char layers[1024] = "";
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    long n = 1000, batch = 100, threads = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'k': ckpt = optarg; break;
        case 'L': snprintf(layers, sizeof layers, "%s", optarg); break;
        case 'o': dir = optarg; break;
        case 'n': bad = tg_cli_int(cmd, "--n", optarg, 1, 1L << 31, &n); break;
        case 'p': split = optarg; break;
        case 'b': bad = tg_cli_int(cmd, "--batch", optarg, 1, 65536, &batch); break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &threads); break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage features --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc || !ckpt || !layers[0] || !dir) {
        fprintf(stderr, "tgsage features: --ckpt, --layers and -o are required (see "
                        "tgsage features --help)\n");
        return TG_EXIT_USAGE;
    }
    char *names[64];
    int nl = split_names(layers, names, 64);
    if (nl <= 0) {
        fprintf(stderr, "tgsage features: --layers: expected 1 to 64 comma-separated names\n");
        return TG_EXIT_USAGE;
    }
    tg_threads_set((int)threads);
    tg_error err;
    tg_trained t;
    if (tg_trained_load(ckpt, (int)batch, "", &t, &err) != TG_OK) {
        fprintf(stderr, "tgsage features: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    int code = TG_EXIT_FAIL, node[64];
    size_t units[64];
    float *feat[64] = {0}, *x = NULL;
    int32_t *lab = NULL;
    tg_dataset d = {0};
    for (int i = 0; i < nl; i++) {
        node[i] = tg_graph_find(t.g, names[i]);
        if (node[i] < 0) {
            fprintf(stderr, "tgsage features: %s (%s) has no layer '%s'; ", ckpt, t.net_spec,
                    names[i]);
            list_names(t.g);
            goto done;
        }
        int c, h, w;
        tg_graph_node_shape(t.g, node[i], &c, &h, &w);
        units[i] = (size_t)c * h * w;
    }
    if (tg_cli_load_eval_split(&data, split, t.data_fingerprint, &d, &err) != TG_OK) {
        fprintf(stderr, "tgsage features: %s\n", err.msg);
        goto done;
    }
    if (d.c != t.c || d.h != t.h || d.w != t.w) {
        fprintf(stderr, "tgsage features: %s has %dx%dx%d images; the network takes %dx%dx%d\n",
                d.source, d.c, d.h, d.w, t.c, t.h, t.w);
        goto done;
    }
    if (n > d.n) n = d.n;
    const size_t size = (size_t)d.c * d.h * d.w;
    x = malloc(sizeof(float) * size * (size_t)batch);
    lab = malloc(sizeof(int32_t) * (size_t)n);
    int oom = !x || !lab;
    for (int i = 0; i < nl; i++)
        if (!(feat[i] = malloc(sizeof(float) * units[i] * (size_t)n))) oom = 1;
    if (oom) {
        fprintf(stderr, "tgsage features: out of memory for %ld images\n", n);
        goto done;
    }
    for (long i = 0; i < n; i += batch) {
        int nb = (int)(n - i < batch ? n - i : batch);
        tg_dataset_images(&d, NULL, i, nb, x);
        if (tg_net_forward(t.net, x, nb, 0, &err) != TG_OK) {
            fprintf(stderr, "tgsage features: %s\n", err.msg);
            goto done;
        }
        for (int l = 0; l < nl; l++)
            memcpy(feat[l] + (size_t)i * units[l], tg_net_activation(t.net, node[l]),
                   sizeof(float) * units[l] * nb);
        memcpy(lab + i, d.labels + i, sizeof(int32_t) * nb);
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "tgsage features: %s: %s\n", dir, strerror(errno));
        goto done;
    }
    char path[4096];
    for (int l = 0; l < nl; l++) {
        int64_t shape[2] = {n, (int64_t)units[l]};
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[l]);
        if (tg_npy_write(path, TG_NPY_F32, 2, shape, feat[l], &err) != TG_OK) {
            fprintf(stderr, "tgsage features: %s\n", err.msg);
            goto done;
        }
        printf("%s: %ld x %zu\n", path, n, units[l]);
    }
    snprintf(path, sizeof path, "%s/labels.npy", dir);
    int64_t ln = n;
    if (tg_npy_write(path, TG_NPY_I32, 1, &ln, lab, &err) != TG_OK) {
        fprintf(stderr, "tgsage features: %s\n", err.msg);
        goto done;
    }
    printf("%s: %ld\n", path, n);
    code = TG_EXIT_OK;
done:
    for (int i = 0; i < nl; i++) free(feat[i]);
    free(x);
    free(lab);
    tg_dataset_free(&d);
    tg_trained_free(&t);
    return code;
}
