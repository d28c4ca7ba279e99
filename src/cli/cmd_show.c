/* cmd_show.c - `tgsage show`: a genome's statistics, observed layers and
 * picture, so a user can look at a candidate before training it. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"

static void show_help(FILE *f) {
    fprintf(f,
"usage: tgsage show GENOME.json [--space SPEC] [--json | --dot] [options]\n"
"\n"
"Validate a genome and print what it builds: its space, canonical hash,\n"
"number of layers or cells, trainable parameters, multiply-adds per image,\n"
"the memory of training it, and its observed layers with their shapes. An\n"
"invalid genome is reported with the field at fault (exit 1).\n"
"\n"
"options:\n"
"  --space SPEC        validate against this space, e.g. layerwise:10 or\n"
"                      cell:blocks=5:n=2:f=16 [the space the genome names]\n"
"  --input C,H,W       image shape the network is built for [1,28,28]\n"
"  --classes K         outputs of the classifier [10]\n"
"  --batch B           batch size of the training-memory estimate [128]\n"
"  --json              print one JSON object (hash, params, macs,\n"
"                      observed_layers, space, genome, ...)\n"
"  --dot               print a Graphviz picture instead (a layer-wise genome\n"
"                      as its DAG, a cell genome as its cell); render with\n"
"                      'dot -Tpng'\n"
"  -h, --help          show this help\n");
}

/* "3.2 GiB" */
static void human(double n, char *buf, size_t size) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (n >= 1024 && u < 5) n /= 1024, u++;
    if (u == 0) snprintf(buf, size, "%.0f B", n);
    else snprintf(buf, size, "%.1f %s", n, units[u]);
}

static int parse_input(const char *text, int *c, int *h, int *w) {
    char tail;
    if (sscanf(text, "%d,%d,%d%c", c, h, w, &tail) != 3 || *c < 1 || *h < 1 || *w < 1 ||
        *c > 4096 || *h > 4096 || *w > 4096) {
        fprintf(stderr, "tgsage show: --input '%s': expected C,H,W, three integers in "
                "1..4096 (e.g. 1,28,28)\n", text);
        return -1;
    }
    return 0;
}

static int print_json(const char *path, const tg_genome *g, const tg_space *s,
                      const tg_graph *gr, const tg_genome_stats *st, const int in[3],
                      long classes, long batch) {
    char hash[33];
    tg_genome_hash(g, hash);
    char *canon = tg_genome_json(g);
    cJSON *j = cJSON_CreateObject();
    cJSON *genome = canon ? cJSON_Parse(canon) : NULL;
    free(canon);
    if (!j || !genome) {
        cJSON_Delete(j);
        cJSON_Delete(genome);
        fprintf(stderr, "tgsage show: out of memory\n");
        return TG_EXIT_FAIL;
    }
    cJSON_AddStringToObject(j, "file", path);
    cJSON_AddStringToObject(j, "space", tg_space_spec(s));
    cJSON_AddStringToObject(j, "kind", tg_genome_space_name(g));
    cJSON_AddStringToObject(j, "hash", hash);
    cJSON_AddNumberToObject(j, strcmp(tg_genome_space_name(g), "cell") ? "layers" : "cells",
                            st->nlayers);
    cJSON *ji = cJSON_AddArrayToObject(j, "input");
    for (int k = 0; k < 3; k++) cJSON_AddItemToArray(ji, cJSON_CreateNumber(in[k]));
    cJSON_AddNumberToObject(j, "classes", (double)classes);
    cJSON_AddNumberToObject(j, "params", (double)st->params);
    cJSON_AddNumberToObject(j, "macs", (double)st->macs);
    cJSON_AddNumberToObject(j, "activations", (double)st->activations);
    cJSON_AddNumberToObject(j, "train_batch", (double)batch);
    cJSON_AddNumberToObject(j, "train_bytes", (double)tg_genome_train_bytes(st, (int)batch));
    cJSON *names = cJSON_AddArrayToObject(j, "observed_layers");
    cJSON *shapes = cJSON_AddArrayToObject(j, "observed_shapes");
    for (int i = 0; i < tg_graph_nodes(gr); i++) {
        const char *name = tg_graph_node_name(gr, i);
        if (!name) continue;
        int c, h, w;
        tg_graph_node_shape(gr, i, &c, &h, &w);
        cJSON_AddItemToArray(names, cJSON_CreateString(name));
        cJSON *sh = cJSON_CreateArray();
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(c));
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(h));
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(w));
        cJSON_AddItemToArray(shapes, sh);
    }
    cJSON_AddItemToObject(j, "genome", genome);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) {
        fprintf(stderr, "tgsage show: out of memory\n");
        return TG_EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return TG_EXIT_OK;
}

static void print_text(const char *path, const tg_genome *g, const tg_space *s,
                       const tg_graph *gr, const tg_genome_stats *st, const int in[3],
                       long classes, long batch) {
    char hash[33], mem[32];
    tg_genome_hash(g, hash);
    human((double)tg_genome_train_bytes(st, (int)batch), mem, sizeof mem);
    int cell = !strcmp(tg_genome_space_name(g), "cell");
    printf("genome       %s\n", path);
    printf("space        %s\n", tg_space_spec(s));
    printf("hash         %s\n", hash);
    printf("%-12s %d\n", cell ? "cells" : "layers", st->nlayers);
    printf("params       %lld\n", (long long)st->params);
    printf("macs         %lld per %dx%dx%d image (%ld classes)\n", (long long)st->macs, in[0],
           in[1], in[2], classes);
    printf("activations  %lld floats per image\n", (long long)st->activations);
    printf("training     about %s at batch %ld\n", mem, batch);
    printf("observed     %d layers\n", st->nobserved);
    for (int i = 0; i < tg_graph_nodes(gr); i++) {
        const char *name = tg_graph_node_name(gr, i);
        if (!name) continue;
        int c, h, w;
        tg_graph_node_shape(gr, i, &c, &h, &w);
        printf("  %-10s %dx%dx%d\n", name, c, h, w);
    }
}

int tg_cmd_show(int argc, char **argv) {
    static const struct option longs[] = {
        {"space", 1, 0, 's'}, {"input", 1, 0, 'i'}, {"classes", 1, 0, 'c'},
        {"batch", 1, 0, 'b'}, {"json", 0, 0, 'j'},  {"dot", 0, 0, 'd'},
        {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    const char *spec = NULL;
    int in[3] = {1, 28, 28}, json = 0, dot = 0, ch;
    long classes = 10, batch = 128;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 's': spec = optarg; break;
        case 'i': bad = parse_input(optarg, &in[0], &in[1], &in[2]); break;
        case 'c': bad = tg_cli_int("show", "--classes", optarg, 1, 1 << 20, &classes); break;
        case 'b': bad = tg_cli_int("show", "--batch", optarg, 1, 65536, &batch); break;
        case 'j': json = 1; break;
        case 'd': dot = 1; break;
        case 'h': show_help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage show --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (argc - optind != 1) {
        if (argc - optind > 1)
            fprintf(stderr, "tgsage show: unexpected argument '%s'\n", argv[optind + 1]);
        else
            fprintf(stderr, "tgsage show: expected a genome file (see tgsage show --help)\n");
        return TG_EXIT_USAGE;
    }
    if (json && dot) {
        fprintf(stderr, "tgsage show: --json and --dot print different things: give one\n");
        return TG_EXIT_USAGE;
    }
    const char *path = argv[optind];
    tg_error err;
    tg_space *s = NULL;
    if (spec && !(s = tg_space_parse(spec, &err))) {
        fprintf(stderr, "tgsage show: --space: %s\n", err.msg);
        return TG_EXIT_USAGE;
    }
    int code = TG_EXIT_FAIL;
    tg_graph *gr = NULL;
    tg_genome *g = tg_genome_load(path, s, &err);
    if (!g) {
        fprintf(stderr, "tgsage show: %s\n", err.msg);
        goto done;
    }
    if (!s && !(s = tg_space_of_genome(g, &err))) {
        fprintf(stderr, "tgsage show: %s\n", err.msg);
        goto done;
    }
    if (dot) {
        char *text = tg_genome_dot(g, (int)classes);
        if (!text) {
            fprintf(stderr, "tgsage show: out of memory\n");
            goto done;
        }
        fputs(text, stdout);
        free(text);
        code = TG_EXIT_OK;
        goto done;
    }
    tg_genome_stats st;
    if (tg_genome_stats_get(g, in[0], in[1], in[2], (int)classes, &st, &err) != TG_OK ||
        !(gr = tg_genome_build(g, in[0], in[1], in[2], (int)classes, &err))) {
        fprintf(stderr, "tgsage show: %s: %s\n", path, err.msg);
        goto done;
    }
    if (json) {
        code = print_json(path, g, s, gr, &st, in, classes, batch);
    } else {
        print_text(path, g, s, gr, &st, in, classes, batch);
        code = TG_EXIT_OK;
    }
done:
    tg_graph_free(gr);
    tg_genome_free(g);
    tg_space_free(s);
    return code;
}
