/* graph.h - networks as DAGs of ops: build, compile for a batch, run.
 *
 * A tg_graph describes a network independently of the batch size: nodes are
 * added in topological order through the builder calls below, each returning
 * the new node's id (node 0 is the input image). A failed builder call
 * returns -1 and records the first error in the graph (later calls then
 * fail too), so a sequence of calls needs one check at the end.
 *
 * A tg_net is a graph compiled for a batch size: parameters, gradients and
 * activations live in a few slabs allocated once. Its forward pass keeps
 * every node's output, which the evaluator reads back by node id or name. */
#ifndef TGSAGE_GRAPH_H
#define TGSAGE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/backend.h"
#include "tgsage/error.h"
#include "tgsage/rng.h"

typedef enum {
    TG_NODE_INPUT,
    TG_NODE_CONV,
    TG_NODE_BN,
    TG_NODE_RELU,
    TG_NODE_MAXPOOL,
    TG_NODE_AVGPOOL,
    TG_NODE_GAP,
    TG_NODE_ADD,
    TG_NODE_CONCAT,
    TG_NODE_LINEAR
} tg_node_kind;

typedef struct tg_graph tg_graph;
typedef struct tg_net tg_net;

tg_graph *tg_graph_new(int c, int h, int w);
void tg_graph_free(tg_graph *g);
/* NULL while no builder call has failed */
const char *tg_graph_error(const tg_graph *g);
/* Record an error found by a builder outside the engine (the first one
 * wins); returns -1 so it can be returned as a failed node id. */
int tg_graph_fail(tg_graph *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int tg_graph_conv2d(tg_graph *g, int in, int k, int kh, int kw, int stride,
                    int dil, int groups, int bias);
int tg_graph_bn(tg_graph *g, int in);
int tg_graph_relu(tg_graph *g, int in);
int tg_graph_maxpool(tg_graph *g, int in, int k, int stride);
int tg_graph_avgpool(tg_graph *g, int in, int k, int stride);
int tg_graph_gap(tg_graph *g, int in);
int tg_graph_add(tg_graph *g, int a, int b);
/* channels concatenated in the given order; maps smaller than the largest
 * height and width are zero-padded at the bottom and right */
int tg_graph_concat(tg_graph *g, int n, const int *ins);
/* input must be a vector per image (c,1,1), e.g. the output of gap */
int tg_graph_linear(tg_graph *g, int in, int out);
/* Name a node (the evaluator observes named layers: "L1"); returns node. */
int tg_graph_name(tg_graph *g, int node, const char *name);
/* Give a conv, BN or linear node a module path ("layers.3.conv"): its
 * parameters are then named as PyTorch names a module's state
 * ("layers.3.conv.weight", "layers.3.bn.running_mean") instead of by node
 * id ("n3.conv.w"), so a genome's checkpoint exports under the names its
 * PyTorch module uses. Returns node. */
int tg_graph_module(tg_graph *g, int node, const char *path);

int tg_graph_nodes(const tg_graph *g);
/* -1 if no node has that name */
int tg_graph_find(const tg_graph *g, const char *name);
const char *tg_graph_node_name(const tg_graph *g, int node);  /* NULL if unnamed */
tg_node_kind tg_graph_node_kind(const tg_graph *g, int node);
/* output shape of a node, per image */
void tg_graph_node_shape(const tg_graph *g, int node, int *c, int *h, int *w);

/* What a node computes, for writers of other formats (export/onnx.c). */
typedef struct {
    tg_node_kind kind;
    int nin;
    const int *in;      /* its nin input nodes (the graph's own array) */
    int k;              /* conv: filters; linear: outputs */
    int kh, kw;         /* conv: kernel; pools: the window (kh == kw) */
    int stride, dil, groups, bias;
    int pad_h, pad_w;   /* conv and pools: zero padding on each side (pools
                         * exclude it: max over, and average of, the window's
                         * positions inside the map) */
} tg_node_op;
void tg_graph_node_op(const tg_graph *g, int node, tg_node_op *op);

/* ---- compiled networks ------------------------------------------------ */

typedef struct {
    char name[96];       /* "n3.conv.w", "n4.bn.gamma", "n9.fc.b", or
                          * "<module>.weight" ... (tg_graph_module) */
    int ndim;
    int dims[4];
    size_t size;
    float *data;
    float *grad;         /* NULL for non-trainable state (BN running stats) */
} tg_param;

/* Compile g for up to `batch` images with the given backend (NULL: the
 * default) and He-initialise its weights from rng. The graph must outlive
 * the net. The output is the last node; it must be a vector per image. */
tg_net *tg_net_new(const tg_graph *g, int batch, const tg_backend *be,
                   tg_rng *rng, tg_error *err);
void tg_net_free(tg_net *net);

int tg_net_batch(const tg_net *net);
int tg_net_classes(const tg_net *net);
const tg_graph *tg_net_graph(const tg_net *net);
/* Trainable parameters, in creation order. */
tg_param *tg_net_params(tg_net *net, int *count);
/* Non-trainable state (BN running mean and variance), in creation order. */
tg_param *tg_net_state(tg_net *net, int *count);
size_t tg_net_param_count(const tg_net *net);

/* Forward n <= batch images x (n, c, h, w). training != 0 uses batch
 * statistics and updates the running ones. x must stay valid until the
 * backward pass (it is read, not copied). */
tg_status tg_net_forward(tg_net *net, const float *x, int n, int training,
                         tg_error *err);
/* Logits of the last forward pass: (n, classes). */
const float *tg_net_output(const tg_net *net);
/* Output of any node in the last forward pass, (n, c, h, w); NULL if the
 * node's output is not kept (fused into its consumer: see graph.c): a BN
 * with its ReLU, and in inference an unnamed convolution that alone feeds
 * a BN (the BN is folded into its weights). Named nodes are always kept. */
const float *tg_net_activation(const tg_net *net, int node);
/* How a node's output lies in memory: 0 NCHW, 8 or 16 channel-blocked
 * (nChw8c / nChw16c, see net.c's plan_layouts; TG_NET_LAYOUT=nchw turns
 * that off). tg_net_activation gives NCHW either way: a blocked node is
 * converted on the first read after each forward pass, into a buffer the
 * node owns, so the pointers of several nodes stay valid together until
 * the next forward pass. */
int tg_net_layout(const tg_net *net, int node);
/* Mean cross-entropy of the last forward pass against labels; also sets the
 * output gradient for tg_net_backward. TG_ERR_NUMERIC if it is not finite. */
tg_status tg_net_loss(tg_net *net, const int32_t *labels, double *loss,
                      int *correct, tg_error *err);
/* Gradients of the loss w.r.t. every parameter (written, not added). */
void tg_net_backward(tg_net *net);

/* Scale gradients so their global L2 norm is at most max_norm (PyTorch's
 * clip_grad_norm_); returns the norm before clipping. */
double tg_net_clip_grad_norm(tg_net *net, double max_norm);

#endif
