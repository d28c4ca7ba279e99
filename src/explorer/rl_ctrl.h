/* rl_ctrl.h - the RL controller network over a space (src/explorer/rl_ctrl.c):
 * a 2-layer LSTM that emits a point of the space step by step, and the
 * gradient of the point's log-probability. Private to the explorer (and its
 * test); rl.c trains it with REINFORCE.
 *
 * Steps. Step 0 (always run) takes a learned start vector and its top
 * output h_0 gives the network-level choices (space step -1: "nlayers", the
 * cell's "concat" flags). Then one step per layer or block that has an
 * active choice, in order; its input is the sum of the embeddings of every
 * choice made in the step before (one learned vector per group and choice),
 * and its top output h_t gives that layer's or block's choices:
 *   - a softmax head per group shared across steps, W_g h_t + b_g, masked
 *     to the dimension's nchoices (cell inputs: 2 + b of the largest size);
 *   - a connection "in" from source s into layer j:
 *     p = sigmoid(w_src . h_s + w_dst . h_j + b), where h_s is the state of
 *     layer s's step, or h_0 for the image (edge_src -1).
 * Inactive dimensions are neither sampled nor scored. Dimensions are
 * processed step by step (network first), in index order within a step; a
 * dimension's condition must refer to one processed before it.
 *
 * Parameters live in a caller-owned slab of tg_rl_ctrl_nparams floats
 * (gradients and optimizer moments in slabs of the same layout);
 * tg_rl_ctrl_point names the tensors in one. The controller itself holds
 * the layout and the activations of the last forward pass. */
#ifndef TGSAGE_RL_CTRL_H
#define TGSAGE_RL_CTRL_H

#include <stdint.h>

#include "tgsage/error.h"
#include "tgsage/rng.h"
#include "tgsage/space.h"

typedef struct {
    char name[40];     /* "lstm1.w_hh", "head.kh.w", "emb.filters", "conn.src" */
    int64_t off, n;    /* floats into the slab */
} tg_rl_tensor;

/* Named pointers into a slab. Embeddings and heads are stored group after
 * group (rows as tg_rl_tensor names them). */
typedef struct {
    float *start;                    /* (H) input of step 0 */
    float *emb;                      /* (rows, H) choice embeddings */
    float *w_ih[2], *w_hh[2], *b[2]; /* LSTM layers: (4H, H), (4H, H), (4H) */
    float *head_w, *head_b;          /* (rows, H), (rows) softmax heads */
    float *conn_src, *conn_dst, *conn_b; /* (H), (H), (1) */
} tg_rl_params;

typedef struct tg_rl_ctrl tg_rl_ctrl;

/* TG_ERR_ARG for a hidden size out of 1..4096, TG_ERR_UNSUPPORTED for a
 * space whose structure the controller cannot follow (named). */
tg_rl_ctrl *tg_rl_ctrl_new(const tg_space *s, int hidden, tg_error *err);
void tg_rl_ctrl_free(tg_rl_ctrl *c);

int64_t tg_rl_ctrl_nparams(const tg_rl_ctrl *c);
int tg_rl_ctrl_ntensors(const tg_rl_ctrl *c);
const tg_rl_tensor *tg_rl_ctrl_tensor(const tg_rl_ctrl *c, int i);
void tg_rl_ctrl_point(const tg_rl_ctrl *c, float *slab, tg_rl_params *p);

/* Initial weights: the start vector and embeddings uniform in +-1 (inputs
 * of the size of an embedding's), the LSTM uniform in +-1/sqrt(H)
 * (PyTorch's default), and the heads and connection weights zero, so the
 * first policy is exactly the random explorer's: every choice uniform,
 * every connection p = 1/2. The LSTM gets its first gradient through the
 * heads once they have moved. (Measured on the synthetic objectives, 30
 * seeds x 1,000 trials at the paper's settings: heads of +-0.1 started
 * from a policy of random leanings and found a mean best of 5.49 on the
 * proxy and 0.602 on the target, zero heads 5.76 and 0.622; random search
 * 4.82 and 0.581.) */
void tg_rl_ctrl_init(const tg_rl_ctrl *c, float *params, tg_rng *rng);

/* With rng: sample a point into x (inactive entries -1), drawing from rng
 * only. Without: score x as given (inactive entries ignored; TG_ERR_ARG for
 * an active choice out of range). Either way *logp is the log-probability
 * of the point and the activations are kept for tg_rl_ctrl_backward. */
tg_status tg_rl_ctrl_forward(tg_rl_ctrl *c, const float *params, int *x,
                             tg_rng *rng, double *logp, tg_error *err);
/* After a forward pass over x: grad += g * d logp / d params. */
void tg_rl_ctrl_backward(tg_rl_ctrl *c, const float *params, const int *x,
                         float *grad, float g);
/* After a forward pass: the probabilities dimension i's choices had
 * (given the choices before it), nchoices floats; NULL when inactive. */
const float *tg_rl_ctrl_probs(const tg_rl_ctrl *c, int i);

#endif
