/* build_cell.c - a cell genome as a network (docs/spaces.md, "Cell
 * space"): a stem, 3N+2 cells (N normal cells per stage, a reduction cell
 * doubling the filters between stages), ReLU, global average pooling and
 * the classifier `fc`. Every cell computes the same genome: each block adds
 * op0(x0) + op1(x1), and the blocks no later block reads (then the cell's
 * own inputs, when chosen) are concatenated into the cell's output, the
 * observed layer cell<k>. Module paths are PyTorch's, as the exporter
 * writes them. */
#include <stdio.h>

#include "space_internal.h"

/* op `kind` on x at `stride`, C outputs; modules under `pre` */
static int cell_op(tg_build *b, int kind, int x, int stride, int C, const char *pre) {
    tg_graph *g = b->g;
    switch (kind) {
    case TG_CELL_IDENTITY:
        if (stride == 1) return x;
        x = tg_build_conv(b, tg_graph_relu(g, x), C, 1, 1, stride, 1, 1, 0, "%s.conv", pre);
        return tg_build_bn(b, x, "%s.bn", pre);
    case TG_CELL_AVG3X3: return tg_graph_avgpool(g, x, 3, stride);
    case TG_CELL_MAX3X3: return tg_graph_maxpool(g, x, 3, stride);
    case TG_CELL_DIL3X3:
        x = tg_build_conv(b, tg_graph_relu(g, x), C, 3, 3, stride, 2, 1, 0, "%s.conv", pre);
        return tg_build_bn(b, x, "%s.bn", pre);
    case TG_CELL_CONV1X7_7X1:
        x = tg_build_conv(b, tg_graph_relu(g, x), C, 1, 7, stride, 1, 1, 0, "%s.conv1", pre);
        x = tg_build_conv(b, x, C, 7, 1, 1, 1, 1, 0, "%s.conv2", pre);
        return tg_build_bn(b, x, "%s.bn", pre);
    default: {
        int k = kind == TG_CELL_SEP3X3 ? 3 : kind == TG_CELL_SEP5X5 ? 5 : 7;
        for (int r = 1; r <= 2; r++) {
            x = tg_build_conv(b, tg_graph_relu(g, x), C, k, k, r == 1 ? stride : 1, 1, C, 0,
                              "%s.dw%d", pre, r);
            x = tg_build_conv(b, x, C, 1, 1, 1, 1, 1, 0, "%s.pw%d", pre, r);
            x = tg_build_bn(b, x, "%s.bn%d", pre, r);
        }
        return x;
    }
    }
}

/* ReLU, conv 1x1 (C, stride), BN under module prefix cells.k.<what> */
static int relu_conv_bn(tg_build *b, int x, int C, int stride, int k, const char *what) {
    x = tg_build_conv(b, tg_graph_relu(b->g, x), C, 1, 1, stride, 1, 1, 0, "cells.%d.%s.conv",
                      k, what);
    return tg_build_bn(b, x, "cells.%d.%s.bn", k, what);
}

static int cell(tg_build *b, const tg_genome *g, int k, int C, int reduce, int h2, int h1) {
    if (h2 < 0 || h1 < 0) return -1;
    int hh2, wh2, hh1, wh1;
    tg_graph_node_shape(b->g, h2, NULL, &hh2, &wh2);
    tg_graph_node_shape(b->g, h1, NULL, &hh1, &wh1);
    int p[2];
    p[1] = relu_conv_bn(b, h1, C, 1, k, "pre1");
    p[0] = relu_conv_bn(b, h2, C, (hh2 > hh1 || wh2 > wh1) ? 2 : 1, k, "pre0");
    int blk[TG_CELL_MAX_BLOCKS], used[TG_CELL_MAX_BLOCKS] = {0};
    for (int j = 0; j < g->blocks_per_cell; j++) {
        int y[2];
        for (int q = 0; q < 2; q++) {
            int src = g->blocks[j].in[q];
            int x = src < 0 ? p[src + 2] : blk[src];
            if (src >= 0) used[src] = 1;
            char pre[64];
            snprintf(pre, sizeof pre, "cells.%d.blocks.%d.op%d", k, j, q);
            y[q] = cell_op(b, g->blocks[j].op[q], x, reduce && src < 0 ? 2 : 1, C, pre);
        }
        blk[j] = tg_graph_add(b->g, y[0], y[1]);
    }
    int outs[TG_CELL_MAX_BLOCKS + 2], n = 0;
    for (int j = 0; j < g->blocks_per_cell; j++)
        if (!used[j]) outs[n++] = blk[j];
    for (int q = 0; q < 2; q++) {
        if (!g->concat[q]) continue;
        char what[16];
        snprintf(what, sizeof what, "skip%d", q);
        outs[n++] = reduce ? relu_conv_bn(b, p[q], C, 2, k, what) : p[q];
    }
    char name[32];
    snprintf(name, sizeof name, "cell%d", k);
    return tg_graph_name(b->g, tg_build_concat(b, n, outs), name);
}

int tg_build_cell(tg_build *b, const tg_genome *g, int classes) {
    const int N = g->cells_per_stage, F = g->filters;
    int x = tg_build_conv(b, 0, F, 3, 3, 1, 1, 1, 0, "stem.conv");
    x = tg_build_bn(b, x, "stem.bn");
    int h2 = x, h1 = x;
    for (int k = 0; k < 3 * N + 2; k++) {
        /* N normal cells of F, reduction to 2F, N of 2F, reduction to 4F, N of 4F */
        int reduce = k == N || k == 2 * N + 1;
        int C = k < N ? F : k <= 2 * N ? 2 * F : 4 * F;
        int out = cell(b, g, k, C, reduce, h2, h1);
        if (out < 0) return -1;
        h2 = h1, h1 = out;
    }
    x = tg_graph_gap(b->g, tg_graph_relu(b->g, h1));
    return tg_build_linear(b, x, classes, "fc");
}
