/* models.h - the built-in networks, by name.
 *
 *   resnet:N    CIFAR-style ResNet, depth 6N+2: a 3x3 conv of 16 filters, three
 *               stacks of N basic blocks of 16, 32, 64 filters (stride 2 at the
 *               first block of stacks 2 and 3, 1x1 conv + BN shortcut when the
 *               shape changes), global average pool, linear. Stack outputs
 *               are named L1, L2, L3 (the teacher's observed layers).
 *   small3      three 3x3 conv+BN+ReLU of 32 filters (strides 1, 2, 1), GAP,
 *               linear; the layers' outputs are named layer0 .. layer2.
 *
 * candidate6, the layer-wise benchmark candidate, is a genome (trainer.h's
 * net sources build it through the search space): the engine knows nothing
 * of genomes. */
#ifndef TGSAGE_MODELS_H
#define TGSAGE_MODELS_H

#include "tgsage/graph.h"

/* Build the named network for images c x h x w and `classes` outputs.
 * NULL with err set for an unknown name or a bad argument. */
tg_graph *tg_model_build(const char *spec, int c, int h, int w, int classes,
                         tg_error *err);

#endif
