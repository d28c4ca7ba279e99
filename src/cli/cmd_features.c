/* cmd_features.c - `tgsage features`: activations of named layers as .npy,
 * the way users hand them to numpy and how a teacher's layers are read. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "tgsage/accuracy.h"
#include "tgsage/npy.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

#define MAX_LAYERS 64

static void help(FILE *f, const tg_cli_common *def) {
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
"                      L1, L2, L3, small3, candidate6 and layer-wise genomes\n"
"                      layer0, layer1, ..., cell genomes cell0, cell1, ...\n"
"  -o, --out DIR       output directory, created if missing (required)\n"
"  --n N               number of images [1000]\n"
"  --split S           val or test [val]\n"
"%s", tg_cli_data_help());
    tg_cli_common_help(f, def, "images per forward pass",
                       "print a JSON object on stdout (images, labels, and per\n"
                       "                      layer its file and units)");
    fprintf(f, "  -h, --help          show this help\n");
}

static void list_names(const tg_graph *g) {
    fprintf(stderr, "named layers of this network:");
    for (int i = 0; i < tg_graph_nodes(g); i++)
        if (tg_graph_node_name(g, i)) fprintf(stderr, " %s", tg_graph_node_name(g, i));
    fprintf(stderr, "\n");
}

typedef struct {
    int nl;
    const int *node;
    const size_t *units;
    float **feat;
} copy_out;

static tg_status copy_batch(tg_net *net, int64_t first, int nb, void *user, tg_error *err) {
    const copy_out *o = user;
    for (int l = 0; l < o->nl; l++) {
        const float *a = tg_net_activation(net, o->node[l]);
        if (!a) return tg_error_set(err, TG_ERR_ARG, "node %d keeps no output", o->node[l]);
        memcpy(o->feat[l] + (size_t)first * o->units[l], a,
               sizeof(float) * o->units[l] * (size_t)nb);
    }
    return TG_OK;
}

int tg_cmd_features(int argc, char **argv) {
    static const struct option longs[] = {
        TG_CLI_CKPT_OPTION,    {"layers", 1, 0, 'L'}, {"out", 1, 0, 'o'},
        {"n", 1, 0, 'n'},      {"split", 1, 0, 'p'},  TG_CLI_COMMON_OPTIONS,
        TG_CLI_DATA_OPTIONS,   {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    const char *cmd = "features", *split = "val", *dir = NULL;
    char layers[1024] = "";
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    tg_cli_common com = TG_CLI_COMMON_DEFAULT(100), def = com;
    long n = 1000;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_common_option(cmd, ch, optarg, &com, &bad) ||
            tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'L': snprintf(layers, sizeof layers, "%s", optarg); break;
        case 'o': dir = optarg; break;
        case 'n': bad = tg_cli_int(cmd, "--n", optarg, 1, 1L << 31, &n); break;
        case 'p': split = optarg; break;
        case 'h': help(stdout, &def); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage features --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc || !com.ckpt || !layers[0] || !dir) {
        fprintf(stderr, "tgsage features: --ckpt, --layers and -o are required (see "
                        "tgsage features --help)\n");
        return TG_EXIT_USAGE;
    }
    char *names[MAX_LAYERS];
    int nl = tg_cli_split_list(layers, names, MAX_LAYERS);
    if (nl <= 0) {
        fprintf(stderr, "tgsage features: --layers: expected 1 to %d comma-separated names\n",
                MAX_LAYERS);
        return TG_EXIT_USAGE;
    }
    tg_threads_set((int)com.threads);
    tg_error err;
    tg_trained t;
    if (tg_trained_load(com.ckpt, (int)com.batch, com.backend, &t, &err) != TG_OK) {
        fprintf(stderr, "tgsage features: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    int code = TG_EXIT_FAIL, node[MAX_LAYERS];
    size_t units[MAX_LAYERS];
    float *feat[MAX_LAYERS] = {0};
    tg_dataset d = {0};
    cJSON *j = NULL;
    for (int i = 0; i < nl; i++) {
        node[i] = tg_graph_find(t.g, names[i]);
        if (node[i] < 0) {
            fprintf(stderr, "tgsage features: %s (%s) has no layer '%s'; ", com.ckpt,
                    t.net_spec, names[i]);
            list_names(t.g);
            goto done;
        }
        int c, h, w;
        tg_graph_node_shape(t.g, node[i], &c, &h, &w);
        units[i] = (size_t)c * h * w;
    }
    if (tg_cli_load_eval_split(&data, split, &t, &d, &err) != TG_OK) {
        fprintf(stderr, "tgsage features: %s\n", err.msg);
        goto done;
    }
    if (n > d.n) n = d.n;
    for (int i = 0; i < nl; i++)
        if (!(feat[i] = malloc(sizeof(float) * units[i] * (size_t)n))) {
            fprintf(stderr, "tgsage features: out of memory for %ld images\n", n);
            goto done;
        }
    copy_out o = {nl, node, units, feat};
    if (tg_forward_images(t.net, &d, NULL, n, copy_batch, &o, &err) != TG_OK) {
        fprintf(stderr, "tgsage features: %s\n", err.msg);
        goto done;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "tgsage features: %s: %s\n", dir, strerror(errno));
        goto done;
    }
    j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "images", (double)n);
    cJSON *jl = cJSON_AddArrayToObject(j, "layers");
    char path[4096];
    for (int l = 0; l < nl; l++) {
        int64_t shape[2] = {n, (int64_t)units[l]};
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[l]);
        if (tg_npy_write(path, TG_NPY_F32, 2, shape, feat[l], &err) != TG_OK) {
            fprintf(stderr, "tgsage features: %s\n", err.msg);
            goto done;
        }
        if (com.json) {
            cJSON *o1 = cJSON_CreateObject();
            cJSON_AddStringToObject(o1, "layer", names[l]);
            cJSON_AddStringToObject(o1, "path", path);
            cJSON_AddNumberToObject(o1, "units", (double)units[l]);
            cJSON_AddItemToArray(jl, o1);
        } else {
            printf("%s: %ld x %zu\n", path, n, units[l]);
        }
    }
    snprintf(path, sizeof path, "%s/labels.npy", dir);
    int64_t ln = n;
    if (tg_npy_write(path, TG_NPY_I32, 1, &ln, d.labels, &err) != TG_OK) {
        fprintf(stderr, "tgsage features: %s\n", err.msg);
        goto done;
    }
    if (com.json) {
        cJSON_AddStringToObject(j, "labels", path);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
    } else {
        printf("%s: %ld\n", path, n);
    }
    code = TG_EXIT_OK;
done:
    cJSON_Delete(j);
    for (int i = 0; i < nl; i++) free(feat[i]);
    tg_dataset_free(&d);
    tg_trained_free(&t);
    return code;
}
