/* graph_internal.h - the graph's node table, shared by graph.c and net.c. */
#ifndef TGSAGE_GRAPH_INTERNAL_H
#define TGSAGE_GRAPH_INTERNAL_H

#include "tgsage/graph.h"

typedef struct {
    tg_node_kind kind;
    int nin;
    int *in;
    int c, h, w;                 /* output shape per image */
    char name[32];
    char module[80];             /* parameter prefix ("layers.3.conv"), "" if none */
    /* op parameters: conv (k, kh, kw, stride, dil, groups, bias),
     * pools (kh == kw window, stride), linear (k outputs) */
    int k, kh, kw, stride, dil, groups, bias;
} tg_node;

struct tg_graph {
    tg_node *nodes;
    int n, cap;
    int failed;
    char err[512];
};

tg_node *tg_graph_push(tg_graph *g, tg_node_kind kind, int nin, const int *ins);

#endif
