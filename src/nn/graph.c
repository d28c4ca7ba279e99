/* graph.c - building network graphs (batch-independent descriptions).
 *
 * Nodes are stored in the order they were added, which is a topological
 * order: every input of a node has a smaller id. Shapes are inferred as
 * nodes are added, so a bad network is refused at the call that breaks it,
 * with the op and the shapes named. Compilation and execution are in net.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

tg_graph *tg_graph_new(int c, int h, int w) {
    tg_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    if (c <= 0 || h <= 0 || w <= 0) {
        snprintf(g->err, sizeof g->err, "input: empty image shape %dx%dx%d", c, h, w);
        g->failed = 1;
        return g;
    }
    tg_node *n = tg_graph_push(g, TG_NODE_INPUT, 0, NULL);
    if (n) n->c = c, n->h = h, n->w = w;
    return g;
}

void tg_graph_free(tg_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) free(g->nodes[i].in);
    free(g->nodes);
    free(g);
}

const char *tg_graph_error(const tg_graph *g) { return g->failed ? g->err : NULL; }

int tg_graph_fail(tg_graph *g, const char *fmt, ...) {
    if (!g->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->err, sizeof g->err, fmt, ap);
        va_end(ap);
        g->failed = 1;
    }
    return -1;
}

/* Append a node with inputs ins[0..nin); NULL (error recorded) on failure. */
tg_node *tg_graph_push(tg_graph *g, tg_node_kind kind, int nin, const int *ins) {
    if (g->failed) return NULL;
    for (int i = 0; i < nin; i++)
        if (ins[i] < 0 || ins[i] >= g->n) {
            tg_graph_fail(g, "node %d: input %d does not exist (graph has %d nodes)",
                          g->n, ins[i], g->n);
            return NULL;
        }
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 32;
        tg_node *p = realloc(g->nodes, sizeof *p * cap);
        if (!p) {
            tg_graph_fail(g, "out of memory adding node %d", g->n);
            return NULL;
        }
        g->nodes = p, g->cap = cap;
    }
    tg_node *n = &g->nodes[g->n];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->nin = nin;
    if (nin) {
        n->in = malloc(sizeof(int) * nin);
        if (!n->in) {
            tg_graph_fail(g, "out of memory adding node %d", g->n);
            return NULL;
        }
        memcpy(n->in, ins, sizeof(int) * nin);
    }
    g->n++;
    return n;
}

static const tg_node *input_of(const tg_graph *g, const tg_node *n, int i) {
    return &g->nodes[n->in[i]];
}

int tg_graph_conv2d(tg_graph *g, int in, int k, int kh, int kw, int stride,
                    int dil, int groups, int bias) {
    tg_node *n = tg_graph_push(g, TG_NODE_CONV, 1, &in);
    if (!n) return -1;
    const tg_node *x = input_of(g, n, 0);
    tg_conv2d_shape s;
    tg_error e;
    if (tg_conv2d_shape_init(&s, 1, x->c, x->h, x->w, k, kh, kw, stride, dil,
                             groups, &e) != TG_OK)
        return tg_graph_fail(g, "node %d: %s", g->n - 1, e.msg);
    n->k = k, n->kh = kh, n->kw = kw, n->stride = stride, n->dil = dil;
    n->groups = groups, n->bias = bias != 0;
    n->c = k, n->h = s.oh, n->w = s.ow;
    return g->n - 1;
}

static int unary(tg_graph *g, tg_node_kind kind, int in) {
    tg_node *n = tg_graph_push(g, kind, 1, &in);
    if (!n) return -1;
    const tg_node *x = input_of(g, n, 0);
    n->c = x->c, n->h = x->h, n->w = x->w;
    return g->n - 1;
}

int tg_graph_bn(tg_graph *g, int in) { return unary(g, TG_NODE_BN, in); }
int tg_graph_relu(tg_graph *g, int in) { return unary(g, TG_NODE_RELU, in); }

static int pool(tg_graph *g, tg_node_kind kind, int in, int k, int stride) {
    tg_node *n = tg_graph_push(g, kind, 1, &in);
    if (!n) return -1;
    const tg_node *x = input_of(g, n, 0);
    tg_pool_shape s;
    tg_error e;
    if (tg_pool_shape_init(&s, 1, x->c, x->h, x->w, k, stride, &e) != TG_OK)
        return tg_graph_fail(g, "node %d: %s", g->n - 1, e.msg);
    n->kh = n->kw = k, n->stride = stride;
    n->c = x->c, n->h = s.oh, n->w = s.ow;
    return g->n - 1;
}

int tg_graph_maxpool(tg_graph *g, int in, int k, int stride) {
    return pool(g, TG_NODE_MAXPOOL, in, k, stride);
}

int tg_graph_avgpool(tg_graph *g, int in, int k, int stride) {
    return pool(g, TG_NODE_AVGPOOL, in, k, stride);
}

int tg_graph_gap(tg_graph *g, int in) {
    tg_node *n = tg_graph_push(g, TG_NODE_GAP, 1, &in);
    if (!n) return -1;
    n->c = input_of(g, n, 0)->c, n->h = 1, n->w = 1;
    return g->n - 1;
}

int tg_graph_add(tg_graph *g, int a, int b) {
    int ins[2] = {a, b};
    tg_node *n = tg_graph_push(g, TG_NODE_ADD, 2, ins);
    if (!n) return -1;
    const tg_node *x = input_of(g, n, 0), *y = input_of(g, n, 1);
    if (x->c != y->c || x->h != y->h || x->w != y->w)
        return tg_graph_fail(g, "node %d: add of nodes %d (%dx%dx%d) and %d "
                             "(%dx%dx%d): shapes differ",
                             g->n - 1, a, x->c, x->h, x->w, b, y->c, y->h, y->w);
    n->c = x->c, n->h = x->h, n->w = x->w;
    return g->n - 1;
}

int tg_graph_concat(tg_graph *g, int nin, const int *ins) {
    if (nin <= 0 && !g->failed)
        return tg_graph_fail(g, "node %d: concat of no inputs", g->n);
    tg_node *n = tg_graph_push(g, TG_NODE_CONCAT, nin, ins);
    if (!n) return -1;
    for (int i = 0; i < nin; i++) {
        const tg_node *x = input_of(g, n, i);
        n->c += x->c;
        if (x->h > n->h) n->h = x->h;
        if (x->w > n->w) n->w = x->w;
    }
    return g->n - 1;
}

int tg_graph_linear(tg_graph *g, int in, int out) {
    tg_node *n = tg_graph_push(g, TG_NODE_LINEAR, 1, &in);
    if (!n) return -1;
    const tg_node *x = input_of(g, n, 0);
    if (x->h != 1 || x->w != 1)
        return tg_graph_fail(g, "node %d: linear needs a vector per image, node "
                             "%d gives %dx%dx%d (add a global average pool)",
                             g->n - 1, in, x->c, x->h, x->w);
    if (out <= 0)
        return tg_graph_fail(g, "node %d: linear with %d outputs", g->n - 1, out);
    n->k = out;
    n->c = out, n->h = 1, n->w = 1;
    return g->n - 1;
}

int tg_graph_name(tg_graph *g, int node, const char *name) {
    if (g->failed) return -1;
    if (node < 0 || node >= g->n)
        return tg_graph_fail(g, "name '%s': node %d does not exist", name, node);
    if (strlen(name) >= sizeof g->nodes[node].name)
        return tg_graph_fail(g, "name '%s' is too long", name);
    int other = tg_graph_find(g, name);
    if (other >= 0 && other != node)
        return tg_graph_fail(g, "name '%s' is already node %d", name, other);
    strcpy(g->nodes[node].name, name);
    return node;
}

int tg_graph_module(tg_graph *g, int node, const char *path) {
    if (g->failed) return -1;
    if (node < 0 || node >= g->n)
        return tg_graph_fail(g, "module '%s': node %d does not exist", path, node);
    tg_node_kind k = g->nodes[node].kind;
    if (k != TG_NODE_CONV && k != TG_NODE_BN && k != TG_NODE_LINEAR)
        return tg_graph_fail(g, "module '%s': node %d has no parameters", path, node);
    if (!path[0] || strlen(path) >= sizeof g->nodes[node].module)
        return tg_graph_fail(g, "module path '%s' is empty or too long", path);
    for (int i = 0; i < g->n; i++)
        if (i != node && strcmp(g->nodes[i].module, path) == 0)
            return tg_graph_fail(g, "module path '%s' is already node %d", path, i);
    strcpy(g->nodes[node].module, path);
    return node;
}

int tg_graph_nodes(const tg_graph *g) { return g->n; }

int tg_graph_find(const tg_graph *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].name[0] && strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

const char *tg_graph_node_name(const tg_graph *g, int node) {
    return g->nodes[node].name[0] ? g->nodes[node].name : NULL;
}

tg_node_kind tg_graph_node_kind(const tg_graph *g, int node) {
    return g->nodes[node].kind;
}

void tg_graph_node_shape(const tg_graph *g, int node, int *c, int *h, int *w) {
    const tg_node *n = &g->nodes[node];
    if (c) *c = n->c;
    if (h) *h = n->h;
    if (w) *w = n->w;
}

void tg_graph_node_op(const tg_graph *g, int node, tg_node_op *op) {
    const tg_node *n = &g->nodes[node];
    *op = (tg_node_op){.kind = n->kind, .nin = n->nin, .in = n->in, .k = n->k,
                       .kh = n->kh, .kw = n->kw, .stride = n->stride, .dil = n->dil,
                       .groups = n->groups, .bias = n->bias};
    const tg_node *x = n->nin ? input_of(g, n, 0) : NULL;
    tg_error e;
    if (n->kind == TG_NODE_CONV) {
        tg_conv2d_shape s;
        if (tg_conv2d_shape_init(&s, 1, x->c, x->h, x->w, n->k, n->kh, n->kw, n->stride,
                                 n->dil, n->groups, &e) == TG_OK)
            op->pad_h = s.pad_h, op->pad_w = s.pad_w;
    } else if (n->kind == TG_NODE_MAXPOOL || n->kind == TG_NODE_AVGPOOL) {
        tg_pool_shape s;
        if (tg_pool_shape_init(&s, 1, x->c, x->h, x->w, n->kh, n->stride, &e) == TG_OK)
            op->pad_h = op->pad_w = s.pad;
    }
}
