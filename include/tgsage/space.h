/* space.h - a search space as the explorers see it: flat categorical
 * dimensions with conditions, and the map between choices and genomes.
 *
 * A point of the space is an int vector x[ndims]: x[i] is the index of the
 * choice made in dimension i, or -1 where the dimension is inactive. A
 * dimension is active when its condition holds: cond < 0 (always), or the
 * dimension `cond` (an earlier one, cond < i) is active and
 * x[cond] >= cond_min. In `layerwise:NL`, dimension 0 is the number of
 * layers (choice k means k + 1 layers) and every dimension of layer i has
 * cond 0, cond_min i; layer i's possible inputs (the image and layers
 * 0..i-1; layer 0 has only the image, so no dimension) are binary dimensions
 * "layers[i].in[j]" (1 = connected; no input chosen means the image). In
 * `cell` every dimension is always active.
 *
 * The explorers work on these vectors only; they never see graphs or
 * tensors. Spec strings (tg_space_parse):
 *   layerwise:NL[:filters=A,B,..][:kernels=..][:strides=..]
 *   cell[:blocks=B][:n=N][:f=F]
 * (defaults in docs/spaces.md). */
#ifndef TGSAGE_SPACE_H
#define TGSAGE_SPACE_H

#include <stdint.h>

#include "tgsage/error.h"
#include "tgsage/genome.h"

typedef struct {
    char name[64];       /* "nlayers", "layers[3].kh", "layers[3].in[-1]",
                          * "blocks[2].ops[0]", "concat[1]" */
    int nchoices;        /* >= 2, or 1 for a forced choice */
    int cond;            /* -1 or an earlier dimension */
    int cond_min;
    /* Structure, for algorithms that model it (the RL controller: one LSTM
     * step per layer or block, one softmax head per group shared across
     * steps, connections from the states of two steps): */
    int step;            /* the layer or block the choice belongs to; -1 for
                          * the network as a whole (nlayers, concat flags) */
    char group[16];      /* "nlayers", "filters", "kh", "kw", "stride", "act",
                          * "norm", "in" (layer-wise); "inputs", "ops",
                          * "concat" (cell) */
    int edge_src;        /* group "in": the source of the connection into
                          * layer `step` (-1 the image, else a layer); -2
                          * otherwise */
} tg_dim;

tg_space *tg_space_parse(const char *spec, tg_error *err);
void tg_space_free(tg_space *s);
/* Canonical spec ("layerwise:10", "cell:blocks=5:n=2:f=16"). */
const char *tg_space_spec(const tg_space *s);
/* The space a genome names itself (its kind, max_layers, default sets). */
tg_space *tg_space_of_genome(const tg_genome *g, tg_error *err);

int tg_space_ndims(const tg_space *s);
const tg_dim *tg_space_dim(const tg_space *s, int i);
/* Label of choice j of dimension i ("64", "relu", "sep3x3", "yes"), for
 * logs and the report. */
const char *tg_space_choice_label(const tg_space *s, int i, int j);
/* Is dimension i active in x? (Looks only at dimensions before i.) */
int tg_space_active(const tg_space *s, const int *x, int i);
/* Set x[i] = -1 wherever dimension i is inactive; returns the number of
 * active dimensions. */
int tg_space_normalize(const tg_space *s, int *x);

/* The genome of a point (inactive entries ignored). TG_ERR_ARG for a choice
 * out of range in an active dimension. */
tg_genome *tg_space_decode(const tg_space *s, const int *x, tg_error *err);
/* The point of a genome of this space (inactive dimensions -1). */
tg_status tg_space_encode(const tg_space *s, const tg_genome *g, int *x, tg_error *err);

#endif
