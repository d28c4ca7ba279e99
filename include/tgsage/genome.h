/* genome.h - a candidate architecture as a JSON document.
 *
 * A genome names its space and holds its choices (the forms are in
 * docs/spaces.md). It is validated on load, since it may come from a
 * database or a user: every error names the field path and the allowed
 * values ("layers[3].kh: 4 is not one of 1, 3, 5, 7"). Its canonical form
 * (sorted keys, no whitespace, sorted inputs, [] written as [-1]) is what
 * is hashed (XXH3-128), so key order, whitespace and the order of inputs
 * never change the hash and any real difference does.
 *
 * A genome builds into a tg_graph whose observed layers are named
 * (layer<i> for a layer-wise genome, cell<k> for a cell genome) and whose
 * parameterised nodes carry PyTorch module paths (tg_graph_module), the
 * names under which `tgsage export` writes them. */
#ifndef TGSAGE_GENOME_H
#define TGSAGE_GENOME_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"
#include "tgsage/graph.h"

typedef struct tg_genome tg_genome;
typedef struct tg_space tg_space;

/* Parse and validate JSON text against space (NULL: the default space the
 * genome names itself, e.g. layerwise with its "max_layers" and the
 * default choice sets). */
tg_genome *tg_genome_parse(const char *json, const tg_space *space, tg_error *err);
/* The same from a file (bounded read; the path is named in errors). */
tg_genome *tg_genome_load(const char *path, const tg_space *space, tg_error *err);
void tg_genome_free(tg_genome *g);
tg_genome *tg_genome_copy(const tg_genome *g);

/* Canonical JSON, malloc'd (NULL when out of memory). */
char *tg_genome_json(const tg_genome *g);
/* XXH3-128 of the canonical JSON as 32 hex digits. */
void tg_genome_hash(const tg_genome *g, char out[33]);
/* "layerwise" or "cell" */
const char *tg_genome_space_name(const tg_genome *g);

/* A Graphviz (dot) picture, malloc'd (NULL when out of memory): a
 * layer-wise genome as its DAG (the image, each layer with its settings,
 * the classifier of `classes` outputs), a cell genome as its cell (the
 * inputs h[-2] and h[-1], the blocks, the ops on the edges, the output
 * concatenation). */
char *tg_genome_dot(const tg_genome *g, int classes);

typedef struct {
    int64_t params;            /* trainable parameters */
    int64_t macs;              /* forward multiply-adds per image */
    int64_t activations;       /* floats of every node's output per image */
    int nobserved;             /* observed layers */
    int nlayers;               /* layers (layer-wise) or cells (cell) */
} tg_genome_stats;

/* Build into a graph for c x h x w images and `classes` outputs. */
tg_graph *tg_genome_build(const tg_genome *g, int c, int h, int w, int classes,
                          tg_error *err);
/* Statistics of the built network. */
tg_status tg_genome_stats_get(const tg_genome *g, int c, int h, int w, int classes,
                              tg_genome_stats *s, tg_error *err);
/* Bytes a net of this genome needs to train at `batch` images (parameters,
 * gradients, optimizer state, activations and their gradients), estimated
 * from the shapes alone, before anything large is allocated. */
size_t tg_genome_train_bytes(const tg_genome_stats *s, int batch);
/* TG_ERR_ARG naming the size when tg_genome_train_bytes exceeds max_bytes
 * (0: no limit). */
tg_status tg_genome_check_size(const tg_genome_stats *s, int batch, size_t max_bytes,
                               tg_error *err);

#endif
