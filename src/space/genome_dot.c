/* genome_dot.c - a genome as a Graphviz picture (`tgsage show --dot`).
 *
 * A layer-wise genome is drawn as the network it builds: the image, one box
 * per layer with its settings, an edge per input, and the classifier fed
 * by the layers no later layer reads. A cell genome is drawn as one cell,
 * the way NASNet's papers draw it: the cell inputs h[-2] and h[-1], a "+"
 * per block with its two ops on the incoming edges, and the output
 * concatenation (dashed edges for the cell inputs chosen by
 * concat_inputs). */
#include <stdlib.h>

#include "space_internal.h"

static void layerwise(tg_strbuf *b, const tg_genome *g, int classes) {
    char *used = calloc((size_t)g->nlayers, 1);
    if (!used) {
        b->failed = 1;
        return;
    }
    tg_strbuf_put(b, "digraph genome {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n"
                     "  image [label=\"image\", shape=ellipse];\n");
    for (int i = 0; i < g->nlayers; i++) {
        const tg_lw_layer *L = &g->layers[i];
        tg_strbuf_put(b, "  layer%d [label=\"layer%d\\n%d filters %dx%d, stride %d\\n%s%s%s\"];\n",
                      i, i, L->filters, L->kh, L->kw, L->stride,
                      L->norm == TG_NORM_BN ? "bn" : "",
                      L->norm == TG_NORM_BN && L->act == TG_ACT_RELU ? ", " : "",
                      L->act == TG_ACT_RELU ? "relu" : L->norm == TG_NORM_BN ? "" : "linear");
        for (int q = 0; q < L->nin; q++) {
            if (L->in[q] < 0) tg_strbuf_put(b, "  image -> layer%d;\n", i);
            else tg_strbuf_put(b, "  layer%d -> layer%d;\n", L->in[q], i);
            if (L->in[q] >= 0) used[L->in[q]] = 1;
        }
    }
    tg_strbuf_put(b, "  classifier [label=\"global average pool\\nfc, %d classes\", "
                     "shape=ellipse];\n", classes);
    for (int i = 0; i < g->nlayers; i++)
        if (!used[i]) tg_strbuf_put(b, "  layer%d -> classifier;\n", i);
    tg_strbuf_put(b, "}\n");
    free(used);
}

static void cell(tg_strbuf *b, const tg_genome *g) {
    int used[TG_CELL_MAX_BLOCKS] = {0};
    tg_strbuf_put(b, "digraph cell {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n"
                     "  edge [fontname=\"Helvetica\", fontsize=10];\n"
                     "  label=\"cell: %d blocks; %d cells per stage, %d filters\";\n"
                     "  hm2 [label=\"h[-2]\", shape=ellipse];\n"
                     "  hm1 [label=\"h[-1]\", shape=ellipse];\n",
                  g->blocks_per_cell, g->cells_per_stage, g->filters);
    for (int j = 0; j < g->blocks_per_cell; j++) {
        tg_strbuf_put(b, "  block%d [label=\"block %d\\n+\", shape=circle];\n", j, j);
        for (int q = 0; q < 2; q++) {
            int src = g->blocks[j].in[q];
            const char *op = tg_cell_op_names[g->blocks[j].op[q]];
            if (src == -2) tg_strbuf_put(b, "  hm2 -> block%d [label=\"%s\"];\n", j, op);
            else if (src == -1) tg_strbuf_put(b, "  hm1 -> block%d [label=\"%s\"];\n", j, op);
            else tg_strbuf_put(b, "  block%d -> block%d [label=\"%s\"];\n", src, j, op);
            if (src >= 0) used[src] = 1;
        }
    }
    tg_strbuf_put(b, "  output [label=\"concat\\n(cell output)\", shape=box];\n");
    for (int j = 0; j < g->blocks_per_cell; j++)
        if (!used[j]) tg_strbuf_put(b, "  block%d -> output;\n", j);
    if (g->concat[0]) tg_strbuf_put(b, "  hm2 -> output [style=dashed];\n");
    if (g->concat[1]) tg_strbuf_put(b, "  hm1 -> output [style=dashed];\n");
    tg_strbuf_put(b, "}\n");
}

char *tg_genome_dot(const tg_genome *g, int classes) {
    tg_strbuf b = {malloc(1024), 0, 1024, 0};
    if (!b.s) return NULL;
    b.s[0] = '\0';
    if (g->kind == TG_SPACE_CELL) cell(&b, g);
    else layerwise(&b, g, classes);
    return tg_strbuf_take(&b);
}
