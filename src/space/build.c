/* build.c - genomes into graphs, and what the graph costs: parameters,
 * multiply-adds, activations, the memory of training.
 *
 * The builder steps (tg_build_conv, ...) count parameters and multiply-adds
 * as the nodes are added, because the graph's public view has shapes but
 * not kernels; the parameter count is checked against the compiled net's
 * in the tests. Everything here works on the graph's description only:
 * nothing of the size of a tensor is allocated, so a genome too large to
 * train is refused before its net exists. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "space_internal.h"

static int set_module(tg_build *b, int node, const char *fmt, va_list ap) {
    char path[96];
    vsnprintf(path, sizeof path, fmt, ap);
    return tg_graph_module(b->g, node, path);
}

int tg_build_conv(tg_build *b, int in, int k, int kh, int kw, int stride, int dil,
                  int groups, int bias, const char *fmt, ...) {
    int x = tg_graph_conv2d(b->g, in, k, kh, kw, stride, dil, groups, bias);
    if (x < 0) return -1;
    int c, oh, ow;
    tg_graph_node_shape(b->g, in, &c, NULL, NULL);
    tg_graph_node_shape(b->g, x, NULL, &oh, &ow);
    int64_t w = (int64_t)k * (c / groups) * kh * kw;
    b->params += w + (bias ? k : 0);
    b->macs += w * oh * ow;
    va_list ap;
    va_start(ap, fmt);
    x = set_module(b, x, fmt, ap);
    va_end(ap);
    return x;
}

int tg_build_bn(tg_build *b, int in, const char *fmt, ...) {
    int x = tg_graph_bn(b->g, in);
    if (x < 0) return -1;
    int c;
    tg_graph_node_shape(b->g, x, &c, NULL, NULL);
    b->params += 2 * (int64_t)c;
    va_list ap;
    va_start(ap, fmt);
    x = set_module(b, x, fmt, ap);
    va_end(ap);
    return x;
}

int tg_build_linear(tg_build *b, int in, int out, const char *module) {
    int x = tg_graph_linear(b->g, in, out);
    if (x < 0) return -1;
    int c;
    tg_graph_node_shape(b->g, in, &c, NULL, NULL);
    b->params += ((int64_t)c + 1) * out;
    b->macs += (int64_t)c * out;
    return tg_graph_module(b->g, x, module);
}

int tg_build_concat(tg_build *b, int n, const int *ins) {
    return n == 1 ? ins[0] : tg_graph_concat(b->g, n, ins);
}

static tg_graph *build(const tg_genome *g, int c, int h, int w, int classes,
                       tg_build *b, tg_error *err) {
    if (c <= 0 || h <= 0 || w <= 0 || classes <= 0) {
        tg_error_set(err, TG_ERR_ARG, "genome: input %dx%dx%d with %d classes: each must be "
                     "positive", c, h, w, classes);
        return NULL;
    }
    b->g = tg_graph_new(c, h, w);
    b->params = b->macs = 0;
    if (!b->g) {
        tg_error_set(err, TG_ERR_NOMEM, "genome: out of memory");
        return NULL;
    }
    if (g->kind == TG_SPACE_CELL) tg_build_cell(b, g, classes);
    else tg_build_layerwise(b, g, classes);
    if (tg_graph_error(b->g)) {
        tg_error_set(err, TG_ERR_SHAPE, "%s genome on %dx%dx%d images: %s",
                     tg_genome_space_name(g), c, h, w, tg_graph_error(b->g));
        tg_graph_free(b->g);
        b->g = NULL;
        return NULL;
    }
    return b->g;
}

tg_graph *tg_genome_build(const tg_genome *g, int c, int h, int w, int classes,
                          tg_error *err) {
    tg_build b;
    return build(g, c, h, w, classes, &b, err);
}

tg_status tg_genome_stats_get(const tg_genome *g, int c, int h, int w, int classes,
                              tg_genome_stats *s, tg_error *err) {
    tg_build b;
    memset(s, 0, sizeof *s);
    if (!build(g, c, h, w, classes, &b, err)) return err ? err->status : TG_ERR_ARG;
    s->params = b.params;
    s->macs = b.macs;
    for (int i = 0; i < tg_graph_nodes(b.g); i++) {
        int nc, nh, nw;
        tg_graph_node_shape(b.g, i, &nc, &nh, &nw);
        s->activations += (int64_t)nc * nh * nw;
        if (tg_graph_node_name(b.g, i)) s->nobserved++;
    }
    s->nlayers = g->kind == TG_SPACE_CELL ? 3 * g->cells_per_stage + 2 : g->nlayers;
    tg_graph_free(b.g);
    return TG_OK;
}

size_t tg_genome_train_bytes(const tg_genome_stats *s, int batch) {
    /* parameters, their gradients and one optimizer buffer (momentum, or
     * RMSProp's square average); every node's output and, at most, a
     * gradient of the same size */
    double floats = 3.0 * (double)s->params + 2.0 * (double)batch * (double)s->activations;
    double bytes = 4.0 * floats;
    return bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

/* "3.2 GiB", "512 MiB", "900 B" */
static void human(size_t n, char *buf, size_t size) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 6) v /= 1024, u++;
    if (u == 0 || v >= 100 || v == (double)(long long)v) snprintf(buf, size, "%.0f %s", v, units[u]);
    else snprintf(buf, size, "%.1f %s", v, units[u]);
    /* "2.0 GiB" reads as "2 GiB" */
    char *dot = strstr(buf, ".0 ");
    if (dot) memmove(dot, dot + 2, strlen(dot + 2) + 1);
}

tg_status tg_genome_check_size(const tg_genome_stats *s, int batch, size_t max_bytes,
                               tg_error *err) {
    size_t need = tg_genome_train_bytes(s, batch);
    if (max_bytes == 0 || need <= max_bytes) return TG_OK;
    char a[32], b[32];
    human(need, a, sizeof a);
    human(max_bytes, b, sizeof b);
    return tg_error_set(err, TG_ERR_ARG, "genome needs %s to train at batch %d; the limit is %s",
                        a, batch, b);
}
