/* space_internal.h - the genome and space structures shared by src/space/.
 *
 * A genome is held decoded (choices as small integers), never as JSON: the
 * canonical JSON (genome_canon.c) is written from these fields, so two
 * genomes are equal exactly when their canonical texts are. Parsing checks
 * a genome in two steps: its structure (genome_parse.c: keys, types, the
 * graph of inputs, counts) and then its values against a space
 * (tg_space_check, space_check.c), so a genome can be checked against any
 * space it is given, and encode refuses what the space cannot hold. */
#ifndef TGSAGE_SPACE_INTERNAL_H
#define TGSAGE_SPACE_INTERNAL_H

#include <stdint.h>

#include "tgsage/genome.h"
#include "tgsage/space.h"

#define TG_SCHEMA_VERSION 1

/* limits of any space (docs/spaces.md) */
#define TG_LW_MAX_LAYERS 64
#define TG_LW_MAX_FILTERS 4096
#define TG_LW_MAX_KERNEL 15
#define TG_LW_MAX_STRIDE 4
#define TG_SET_MAX 80          /* values of one choice set */
#define TG_CELL_MAX_BLOCKS 10
#define TG_CELL_MAX_N 10
#define TG_CELL_MAX_F 1024

typedef enum { TG_SPACE_LAYERWISE, TG_SPACE_CELL } tg_space_kind;

enum { TG_ACT_IDENTITY, TG_ACT_RELU, TG_NACTS };
enum { TG_NORM_NONE, TG_NORM_BN, TG_NNORMS };
enum {
    TG_CELL_IDENTITY,
    TG_CELL_AVG3X3,
    TG_CELL_MAX3X3,
    TG_CELL_DIL3X3,
    TG_CELL_CONV1X7_7X1,
    TG_CELL_SEP3X3,
    TG_CELL_SEP5X5,
    TG_CELL_SEP7X7,
    TG_CELL_NOPS
};

extern const char *const tg_act_names[TG_NACTS];
extern const char *const tg_norm_names[TG_NNORMS];
extern const char *const tg_cell_op_names[TG_CELL_NOPS];

typedef struct {
    int filters, kh, kw, stride, act, norm;
    int nin;
    int in[TG_LW_MAX_LAYERS + 1];   /* ascending, distinct; -1 the image */
} tg_lw_layer;

typedef struct {
    int in[2];                      /* -2, -1 or an earlier block */
    int op[2];                      /* TG_CELL_* */
} tg_cell_block;

struct tg_genome {
    tg_space_kind kind;
    /* layer-wise */
    int max_layers, nlayers;
    tg_lw_layer *layers;
    /* cell */
    int blocks_per_cell, cells_per_stage, filters;
    tg_cell_block blocks[TG_CELL_MAX_BLOCKS];
    int concat[2];
};

typedef struct {
    int n;
    int v[TG_SET_MAX];              /* ascending, distinct */
} tg_intset;

/* what a dimension chooses (parallel to tg_dim, for decode and labels) */
typedef enum {
    TG_ROLE_NLAYERS,
    TG_ROLE_FILTERS,
    TG_ROLE_KH,
    TG_ROLE_KW,
    TG_ROLE_STRIDE,
    TG_ROLE_ACT,
    TG_ROLE_NORM,
    TG_ROLE_IN,
    TG_ROLE_CELL_INPUT,
    TG_ROLE_CELL_OP,
    TG_ROLE_CONCAT
} tg_role;

struct tg_space {
    tg_space_kind kind;
    char spec[512];
    /* layer-wise */
    int nl;
    tg_intset filters, kernels, strides;
    /* cell */
    int blocks, n, f;
    /* dimensions */
    int ndims;
    tg_dim *dims;
    tg_role *roles;
    int *layer_off;                 /* layer-wise: first dimension of layer i */
    /* labels of numeric choices */
    char nlayers_lbl[TG_LW_MAX_LAYERS][12];
    char filters_lbl[TG_SET_MAX][12];
    char kernels_lbl[TG_SET_MAX][12];
    char strides_lbl[TG_SET_MAX][12];
    char input_lbl[TG_CELL_MAX_BLOCKS + 2][12];
};

/* The default choice sets of the layer-wise space. */
void tg_space_default_sets(tg_intset *filters, tg_intset *kernels, tg_intset *strides);
/* A space from its parameters (sets ascending and distinct); NULL when out
 * of memory. */
tg_space *tg_space_new_layerwise(int nl, const tg_intset *filters,
                                 const tg_intset *kernels, const tg_intset *strides);
tg_space *tg_space_new_cell(int blocks, int n, int f);
int tg_intset_has(const tg_intset *s, int v);
int tg_intset_index(const tg_intset *s, int v);   /* -1 if absent */
/* Insert v keeping the set ascending; 0, or -1 when full. */
int tg_intset_add(tg_intset *s, int v);
/* "32, 64, 128" into buf */
void tg_intset_list(const tg_intset *s, char *buf, size_t size);

/* Check a structurally valid genome's values against a space (field paths
 * and allowed values in the message). */
tg_status tg_space_check(const tg_space *s, const tg_genome *g, tg_error *err);

/* Empty genomes (fields zero, layers allocated); NULL when out of memory. */
tg_genome *tg_genome_new_layerwise(int max_layers, int nlayers);
tg_genome *tg_genome_new_cell(int blocks_per_cell, int cells_per_stage, int filters);

/* A growing string: put appends (printf format), take returns the text
 * (malloc'd) or NULL if an allocation failed on the way. Start it as
 * {malloc(n), 0, n, 0} with s[0] = '\0'. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} tg_strbuf;
void tg_strbuf_put(tg_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *tg_strbuf_take(tg_strbuf *b);

/* The build with its parameter and multiply-add counts (build_*.c). */
typedef struct {
    tg_graph *g;
    int64_t params, macs;
} tg_build;

/* Builder steps that count parameters and multiply-adds and give the node
 * its module path (printf format). -1 with the error in the graph. */
int tg_build_conv(tg_build *b, int in, int k, int kh, int kw, int stride, int dil,
                  int groups, int bias, const char *fmt, ...)
    __attribute__((format(printf, 10, 11)));
int tg_build_bn(tg_build *b, int in, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tg_build_linear(tg_build *b, int in, int out, const char *module);
/* a single node as is, else their concatenation */
int tg_build_concat(tg_build *b, int n, const int *ins);

/* Add the network to b->g (node 0 the image); the logits node or -1. */
int tg_build_layerwise(tg_build *b, const tg_genome *g, int classes);
int tg_build_cell(tg_build *b, const tg_genome *g, int classes);

#endif
