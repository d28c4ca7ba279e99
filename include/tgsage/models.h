/* models.h - the built-in networks, by name.
 *
 *   resnet:N    CIFAR-style ResNet, depth 6N+2: a 3x3 conv of 16 filters, three
 *               stacks of N basic blocks of 16, 32, 64 filters (stride 2 at the
 *               first block of stacks 2 and 3, 1x1 conv + BN shortcut when the
 *               shape changes), global average pool, linear. Stack outputs
 *               are named L1, L2, L3 (the teacher's observed layers).
 *   small3      three 3x3 conv+BN+ReLU of 32 filters (strides 1, 2, 1), GAP,
 *               linear; the layers' outputs are named layer0 .. layer2.
 *   candidate6  the layer-wise benchmark candidate of DESIGN.md; its layers'
 *               outputs are named layer0 .. layer5. */
#ifndef TGSAGE_MODELS_H
#define TGSAGE_MODELS_H

#include "tgsage/graph.h"

/* Build the named network for images c x h x w and `classes` outputs.
 * NULL with err set for an unknown name or a bad argument. */
tg_graph *tg_model_build(const char *spec, int c, int h, int w, int classes,
                         tg_error *err);

/* One layer of a layer-wise network: conv (no bias) + BN + ReLU with "same"
 * padding over the concatenation of its inputs (-1 is the image). */
typedef struct {
    int filters, kh, kw, stride;
    int nin;
    int in[32];
} tg_layerwise_layer;

/* Add a layer-wise stack to g (node 0 the image); returns the node of the
 * last layer's output, or -1 (error in g). Layer outputs are named layer<i>. */
int tg_model_layerwise(tg_graph *g, int nlayers, const tg_layerwise_layer *L);

#endif
