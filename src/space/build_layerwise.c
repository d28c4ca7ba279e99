/* build_layerwise.c - a layer-wise genome as a network (docs/spaces.md,
 * "Layer-wise space"): each layer convolves the concatenation of its inputs
 * (ascending: the image, then earlier layers), then BN and ReLU as chosen;
 * the layers that feed no later layer go, concatenated in layer order,
 * into global average pooling and the classifier `fc`. */
#include <stdio.h>
#include <stdlib.h>

#include "space_internal.h"

int tg_build_layerwise(tg_build *b, const tg_genome *g, int classes) {
    int *out = malloc(sizeof(int) * (size_t)g->nlayers);
    char *used = calloc((size_t)g->nlayers, 1);
    int ins[TG_LW_MAX_LAYERS + 1];
    int x = -1;
    if (!out || !used) {
        x = tg_graph_fail(b->g, "out of memory");
        goto done;
    }
    for (int i = 0; i < g->nlayers; i++) {
        const tg_lw_layer *L = &g->layers[i];
        for (int q = 0; q < L->nin; q++) {
            int src = L->in[q];
            ins[q] = src < 0 ? 0 : out[src];
            if (src >= 0) used[src] = 1;
        }
        x = tg_build_concat(b, L->nin, ins);
        x = tg_build_conv(b, x, L->filters, L->kh, L->kw, L->stride, 1, 1,
                          L->norm == TG_NORM_NONE, "layers.%d.conv", i);
        if (L->norm == TG_NORM_BN) x = tg_build_bn(b, x, "layers.%d.bn", i);
        if (L->act == TG_ACT_RELU) x = tg_graph_relu(b->g, x);
        char name[32];
        snprintf(name, sizeof name, "layer%d", i);
        out[i] = x = tg_graph_name(b->g, x, name);
        if (x < 0) goto done;
    }
    int n = 0;
    for (int i = 0; i < g->nlayers; i++)
        if (!used[i]) ins[n++] = out[i];
    x = tg_build_concat(b, n, ins);
    x = tg_graph_gap(b->g, x);
    x = tg_build_linear(b, x, classes, "fc");
done:
    free(out);
    free(used);
    return x;
}
