/* net.c - a graph compiled for a batch size: memory, forward, backward.
 *
 * Memory is four slabs allocated once: parameters, their gradients,
 * non-trainable state (BN running statistics) and activations (every
 * node's output, BN's saved batch statistics, max pooling's argmax, and an
 * arena where node gradients share space by lifetime: plan_grads).
 *
 * Fusion: a BN or ADD node whose only consumer is a ReLU, and which is not
 * named (named nodes are observed by the evaluator), computes itself and
 * the ReLU in one pass into its own buffer; the ReLU node aliases that
 * buffer and its gradient, and the pre-ReLU output is not kept
 * (tg_net_activation gives NULL). In training, an unnamed BN whose only
 * consumer is an ADD writes that ADD's output, the other input added
 * (and the ReLU after it, if fused) in the same pass, and its backward
 * reads the ADD's gradient and mask; in inference the ADD adds in place.
 * In inference an unnamed convolution that alone feeds a BN takes the BN
 * into its weights and bias (conv_bn_infer): one pass less per layer, and
 * the convolution's own output is not computed.
 *
 * Layouts: the tensors between convolutions that the backend runs
 * channel-blocked stay blocked (plan_layouts); the ops then read them so.
 *
 * Gradients flow in reverse node order. A node's gradient buffer is written
 * by its first consumer and added to by the others (the ops' acc flag);
 * nodes that depend on no parameter get no gradient at all. A convolution
 * adds its dx through a staging buffer, so where an ADD would write first and
 * a convolution add next (a residual block's skip), the ADD goes last: it
 * adds its gradient at the skip node's own turn (plan_late_adds). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "tgsage/ops.h"

typedef struct {
    float *out, *grad;
    int needs_grad;      /* some ancestor (or the node) has parameters */
    int grad_ready;      /* grad written by a consumer in this backward pass */
    int fused_relu;      /* BN, ADD: ReLU fused in; RELU: aliases its input */
    int consumers;
    int fold;            /* CONV: the BN node it feeds alone, folded into it in
                          * inference (0: none); BN: 1 if so fed */
    int p0, np;          /* its parameters: params[p0 .. p0+np) */
    int s0;              /* BN: state[s0] running mean, state[s0+1] var */
    float *save_mean, *save_invstd;
    int32_t *argmax;
    int blk;             /* out and grad in nChw<blk>c (0: NCHW): plan_layouts */
    int late_add;        /* the ADD that adds into grad at this node's turn (0:
                          * none): plan_late_adds */
    int add_into;        /* BN: the ADD whose output it writes (0: none); ADD: the
                          * BN that writes it */
    float *view;         /* blocked: out as NCHW for tg_net_activation, made */
    long view_gen;       /* on the first read after forward pass view_gen */
    /* convolution plans: slot 0 for the full batch, slot 1 for the last
     * other batch size seen (an epoch's final partial batch), so switching
     * between the two costs nothing */
    tg_conv_plan *plans[2];
    int plan_n[2];
    tg_conv_plan *plan;  /* the one in use */
} exec_node;

struct tg_net {
    const tg_graph *g;
    const tg_backend *be;
    int batch, n;        /* capacity and images in the last forward pass */
    int training;
    exec_node *x;
    tg_param *params, *state;
    int nparams, nstate;
    float *pslab, *gslab, *sslab, *aslab;
    float *scratch;
    size_t scratch_n;
    float *fold_w;       /* a folded convolution's weights and bias */
    long gen;            /* forward passes run */
};

static size_t node_size(const tg_node *n) { return (size_t)n->c * n->h * n->w; }

/* ---- parameters ------------------------------------------------------ */

/* what is "kind.field" ("bn.gamma"); with a module path the name is
 * "<module>.<torch field>" ("layers.3.bn.weight") */
static void add_param(tg_param *p, const tg_node *n, int node, const char *what,
                      const char *torch_field, int ndim, const int *dims) {
    if (n->module[0])
        snprintf(p->name, sizeof p->name, "%s.%s", n->module, torch_field);
    else
        snprintf(p->name, sizeof p->name, "n%d.%s", node, what);
    p->ndim = ndim;
    p->size = 1;
    for (int i = 0; i < 4; i++) {
        p->dims[i] = i < ndim ? dims[i] : 1;
        p->size *= (size_t)p->dims[i];
    }
}

/* Describe parameters and state of every node; returns counts. With p or st
 * NULL only counts. */
static void describe(const tg_graph *g, exec_node *x, tg_param *p, tg_param *st,
                     int *np, int *ns) {
    int a = 0, b = 0;
    for (int i = 0; i < g->n; i++) {
        const tg_node *n = &g->nodes[i];
        const tg_node *in = n->nin ? &g->nodes[n->in[0]] : NULL;
        if (x) x[i].p0 = a, x[i].s0 = b;
        if (n->kind == TG_NODE_CONV) {
            int d[4] = {n->k, in->c / n->groups, n->kh, n->kw};
            if (p) add_param(&p[a], n, i, "conv.w", "weight", 4, d);
            a++;
            if (n->bias) {
                if (p) add_param(&p[a], n, i, "conv.b", "bias", 1, &n->k);
                a++;
            }
        } else if (n->kind == TG_NODE_BN) {
            if (p) add_param(&p[a], n, i, "bn.gamma", "weight", 1, &n->c);
            if (p) add_param(&p[a + 1], n, i, "bn.beta", "bias", 1, &n->c);
            if (st) add_param(&st[b], n, i, "bn.running_mean", "running_mean", 1, &n->c);
            if (st) add_param(&st[b + 1], n, i, "bn.running_var", "running_var", 1, &n->c);
            a += 2, b += 2;
        } else if (n->kind == TG_NODE_LINEAR) {
            int d[2] = {n->k, in->c};
            if (p) add_param(&p[a], n, i, "fc.w", "weight", 2, d);
            if (p) add_param(&p[a + 1], n, i, "fc.b", "bias", 1, &n->k);
            a += 2;
        }
        if (x) x[i].np = a - x[i].p0;
    }
    *np = a, *ns = b;
}

/* He (Kaiming) normal init for convolutions, PyTorch's default uniform for
 * the classifier, BN at the identity. */
static void init_params(tg_net *net, tg_rng *rng) {
    const tg_graph *g = net->g;
    for (int i = 0; i < g->n; i++) {
        const tg_node *n = &g->nodes[i];
        tg_param *p = &net->params[net->x[i].p0];
        if (n->kind == TG_NODE_CONV) {
            double fan_in = (double)p->dims[1] * p->dims[2] * p->dims[3];
            float sd = (float)sqrt(2.0 / fan_in);
            for (size_t j = 0; j < p->size; j++) p->data[j] = sd * tg_rng_normal(rng);
            if (n->bias) memset(p[1].data, 0, sizeof(float) * p[1].size);
        } else if (n->kind == TG_NODE_BN) {
            for (size_t j = 0; j < p->size; j++) p[0].data[j] = 1, p[1].data[j] = 0;
            tg_param *s = &net->state[net->x[i].s0];
            for (size_t j = 0; j < s->size; j++) s[0].data[j] = 0, s[1].data[j] = 1;
        } else if (n->kind == TG_NODE_LINEAR) {
            float bound = (float)(1.0 / sqrt((double)p->dims[1]));
            for (int q = 0; q < 2; q++)
                for (size_t j = 0; j < p[q].size; j++)
                    p[q].data[j] = bound * (2 * tg_rng_uniform(rng) - 1);
        }
    }
}

/* ---- gradient memory plan -------------------------------------------- */

/* A node's gradient is needed from the backward step of its last consumer
 * (the first to run, in reverse order) until its own backward step. Replay
 * the backward pass at compile time and place each gradient first-fit into
 * one arena, reusing the space of gradients already consumed: a chain of n
 * layers needs about two layers' worth instead of n. Returns the arena size
 * in floats; off[i] receives node i's offset. */
typedef struct {
    size_t off, size;
} block;

typedef struct {
    block *free;
    int nfree;
    size_t end;
} arena;

static size_t arena_take(arena *a, size_t size) {
    for (int i = 0; i < a->nfree; i++)
        if (a->free[i].size >= size) {
            size_t off = a->free[i].off;
            a->free[i].off += size, a->free[i].size -= size;
            return off;
        }
    size_t off = a->end;
    a->end += size;
    return off;
}

static void arena_give(arena *a, size_t off, size_t size) {
    /* keep the free list sorted by offset and merged */
    int i = 0;
    while (i < a->nfree && a->free[i].off < off) i++;
    memmove(&a->free[i + 1], &a->free[i], sizeof(block) * (a->nfree - i));
    a->free[i] = (block){off, size};
    a->nfree++;
    for (int j = a->nfree - 1; j > 0; j--)
        if (a->free[j - 1].off + a->free[j - 1].size == a->free[j].off) {
            a->free[j - 1].size += a->free[j].size;
            memmove(&a->free[j], &a->free[j + 1], sizeof(block) * (a->nfree - j - 1));
            a->nfree--;
        }
}

/* An ADD whose input j is read last by it and next-to-last by a convolution
 * leaves j's gradient to the convolution and adds its own at j's turn. */
static void plan_late_adds(tg_net *net) {
    const tg_graph *g = net->g;
    for (int i = 1; i < g->n; i++) {
        const tg_node *nd = &g->nodes[i];
        if (nd->kind != TG_NODE_ADD || nd->in[0] == nd->in[1]) continue;
        for (int q = 0; q < 2; q++) {
            const int j = nd->in[q];
            if (!net->x[j].needs_grad || net->x[j].late_add) continue;
            int c1 = 0, c2 = 0;  /* j's last two consumers */
            for (int k = j + 1; k < g->n; k++)
                for (int r = 0; r < g->nodes[k].nin; r++)
                    if (g->nodes[k].in[r] == j && k != c1) c2 = c1, c1 = k;
            if (c1 == i && c2 && g->nodes[c2].kind == TG_NODE_CONV) net->x[j].late_add = i;
        }
    }
}

/* The node at whose turn node i's gradient buffer is last read: an ADD's
 * is read by the BN that wrote its sum and at its late input's turn. */
static int grad_last_use(const tg_net *net, int i) {
    const tg_node *nd = &net->g->nodes[i];
    int r = i;
    if (nd->kind != TG_NODE_ADD) return r;
    if (net->x[i].add_into) r = net->x[i].add_into;
    for (int q = 0; q < 2; q++)
        if (net->x[nd->in[q]].late_add == i && nd->in[q] < r) r = nd->in[q];
    return r;
}

static size_t plan_grads(const tg_net *net, size_t *off, tg_error *err) {
    const tg_graph *g = net->g;
    arena a = {calloc((size_t)g->n + 1, sizeof(block)), 0, 0};
    char *live = calloc((size_t)g->n, 1);
    if (!a.free || !live) {
        free(a.free), free(live);
        tg_error_set(err, TG_ERR_NOMEM, "net: out of memory planning gradients");
        return (size_t)-1;
    }
    const int last = g->n - 1;
    off[last] = arena_take(&a, (size_t)net->batch * node_size(&g->nodes[last]));
    live[last] = 1;
    for (int i = last; i >= 1; i--) {
        const tg_node *nd = &g->nodes[i];
        const exec_node *x = &net->x[i];
        if (!live[i]) continue;
        if (nd->kind == TG_NODE_RELU && x->fused_relu) {
            off[nd->in[0]] = off[i];  /* the fused BN works in the same buffer */
            live[nd->in[0]] = 1;
            continue;
        }
        if (nd->kind == TG_NODE_ADD && x->add_into) {
            off[x->add_into] = off[i];  /* so does the BN that wrote the sum */
            live[x->add_into] = 1;
        }
        for (int q = 0; q < nd->nin; q++) {
            int j = nd->in[q];
            if (!net->x[j].needs_grad || live[j]) continue;
            off[j] = arena_take(&a, (size_t)net->batch * node_size(&g->nodes[j]));
            live[j] = 1;
        }
        /* the buffers whose last reader this node is: its own, or an ADD's */
        const int own = !(nd->kind == TG_NODE_BN && x->add_into);
        const int adds[3] = {own ? i : 0, x->late_add, own ? 0 : x->add_into};
        for (int k = 0; k < 3; k++)
            if (adds[k] && live[adds[k]] && grad_last_use(net, adds[k]) == i)
                arena_give(&a, off[adds[k]], (size_t)net->batch * node_size(&g->nodes[adds[k]]));
    }
    size_t end = a.end;
    free(a.free), free(live);
    return end;
}

/* ---- compile ----------------------------------------------------------- */

static tg_status need_scratch(tg_net *net, size_t need, tg_error *err) {
    if (need <= net->scratch_n) return TG_OK;
    float *s = realloc(net->scratch, sizeof(float) * need);
    if (!s) return tg_error_set(err, TG_ERR_NOMEM, "net scratch: out of memory");
    net->scratch = s, net->scratch_n = need;
    return TG_OK;
}

static tg_status make_plan(tg_net *net, int i, int n, tg_error *err) {
    const tg_node *nd = &net->g->nodes[i];
    const tg_node *in = &net->g->nodes[nd->in[0]];
    exec_node *x = &net->x[i];
    int slot = n == net->batch ? 0 : 1;
    if (x->plans[slot] && x->plan_n[slot] == n) {
        x->plan = x->plans[slot];
        return TG_OK;
    }
    if (x->plans[slot]) net->be->conv_plan_free(x->plans[slot]);
    x->plans[slot] = x->plan = NULL;
    tg_conv2d_shape cs;
    tg_status st = tg_conv2d_shape_init(&cs, n, in->c, in->h, in->w, nd->k, nd->kh,
                                        nd->kw, nd->stride, nd->dil, nd->groups, err);
    if (st != TG_OK) return st;
    cs.x_blk = net->x[nd->in[0]].blk, cs.y_blk = x->blk;
    x->plans[slot] = net->be->conv_plan_new(&cs, err);
    if (!x->plans[slot]) return err ? err->status : TG_ERR_UNSUPPORTED;
    x->plan = x->plans[slot], x->plan_n[slot] = n;
    return need_scratch(net, net->be->conv_scratch_floats(x->plan), err);
}

/* ---- layouts ------------------------------------------------------------ */

/* Where the backend runs its convolutions on channel-blocked tensors
 * (oneDNN: nChw16c with AVX-512, nChw8c with AVX2), the tensors between
 * them stay blocked, and the reorders to and from NCHW around every
 * convolution (a fifth of ResNet-20's training step) are not run.
 * BN, ReLU and addition keep their input's layout, so the tensors they
 * join form one group (union-find over their edges); so does a
 * concatenation with its parts, which must then be whole blocks of B
 * channels (a block of hw x B floats is concatenated as a plane of width
 * w * B). A group is blocked with B when every convolution that writes or
 * reads it can run that side in nChw<B>c (tg_backend.conv_blocked; its
 * plan, made for that layout, then measures its strategies with it) and
 * every other op that touches it reads blocked input (global average
 * pooling). Anything else (the image, pooling, a classifier) keeps its
 * group NCHW. tg_net_activation converts a blocked node when it is read.
 * TG_NET_LAYOUT=nchw keeps every tensor NCHW (comparisons, timing). */
static int uf_find(int *up, int i) {
    while (up[i] != i) i = up[i] = up[up[i]];
    return i;
}

/* A group's layout: 0 undecided, -1 NCHW, else the block size. */
static void vote(int *want, int r, int blk) {
    if (blk <= 0 || (want[r] && want[r] != blk))
        want[r] = -1;
    else
        want[r] = blk;
}

static int keeps_layout(tg_node_kind k) {
    return k == TG_NODE_BN || k == TG_NODE_RELU || k == TG_NODE_ADD || k == TG_NODE_CONCAT;
}

static tg_status plan_layouts(tg_net *net, tg_error *err) {
    const tg_graph *g = net->g;
    const char *env = getenv("TG_NET_LAYOUT");
    if (!net->be->conv_blocked || (env && !strcmp(env, "nchw"))) return TG_OK;
    int *up = malloc(sizeof(int) * (size_t)g->n), *want = calloc((size_t)g->n, sizeof(int));
    if (!up || !want) {
        free(up), free(want);
        return tg_error_set(err, TG_ERR_NOMEM, "net: out of memory planning layouts");
    }
    for (int i = 0; i < g->n; i++) up[i] = i;
    for (int i = 1; i < g->n; i++)
        if (keeps_layout(g->nodes[i].kind))
            for (int q = 0; q < g->nodes[i].nin; q++)
                up[uf_find(up, g->nodes[i].in[q])] = uf_find(up, i);
    for (int i = 0; i < g->n; i++) {
        const tg_node *nd = &g->nodes[i];
        const int needs_dx = nd->nin && net->x[nd->in[0]].needs_grad;
        tg_conv2d_shape cs;
        if (nd->kind == TG_NODE_CONV) {
            const tg_node *in = &g->nodes[nd->in[0]];
            tg_status st = tg_conv2d_shape_init(&cs, net->batch, in->c, in->h, in->w, nd->k,
                                                nd->kh, nd->kw, nd->stride, nd->dil,
                                                nd->groups, err);
            if (st != TG_OK) {
                free(up), free(want);
                return st;
            }
            vote(want, uf_find(up, i), net->be->conv_blocked(&cs, 1, needs_dx));
        } else if (!keeps_layout(nd->kind)) {
            vote(want, uf_find(up, i), -1);
        }
        for (int q = 0; q < nd->nin; q++) {
            const int r = uf_find(up, nd->in[q]);
            if (nd->kind == TG_NODE_CONV)
                vote(want, r, net->be->conv_blocked(&cs, 0, needs_dx));
            else if (!keeps_layout(nd->kind) && nd->kind != TG_NODE_GAP)
                vote(want, r, -1);
        }
    }
    /* a concatenation's parts must each be whole blocks */
    for (int i = 0; i < g->n; i++) {
        const int r = uf_find(up, i);
        if (want[r] > 0 && g->nodes[i].c % want[r]) want[r] = -1;
    }
    for (int i = 0; i < g->n; i++) {
        const int b = want[uf_find(up, i)];
        net->x[i].blk = b > 0 ? b : 0;
    }
    free(up), free(want);
    for (int i = 0; i < g->n; i++) {
        const tg_node *nd = &g->nodes[i];
        if (nd->kind == TG_NODE_BN && net->x[i].blk) {
            tg_bn_shape bs = {net->batch, nd->c, nd->h * nd->w, 1e-5f, 0.1f};
            tg_status st = need_scratch(net, tg_bn_blocked_scratch_floats(&bs), err);
            if (st != TG_OK) return st;
        }
    }
    return TG_OK;
}

tg_net *tg_net_new(const tg_graph *g, int batch, const tg_backend *be,
                   tg_rng *rng, tg_error *err) {
    if (g->failed) {
        tg_error_set(err, TG_ERR_SHAPE, "graph: %s", g->err);
        return NULL;
    }
    if (batch <= 0) {
        tg_error_set(err, TG_ERR_ARG, "net: batch size %d", batch);
        return NULL;
    }
    const tg_node *last = &g->nodes[g->n - 1];
    if (g->n < 2 || last->h != 1 || last->w != 1) {
        tg_error_set(err, TG_ERR_SHAPE,
                     "net: the last node must give a vector of logits per image, "
                     "node %d gives %dx%dx%d",
                     g->n - 1, last->c, last->h, last->w);
        return NULL;
    }
    tg_net *net = calloc(1, sizeof *net);
    if (!net) goto nomem;
    net->g = g, net->be = be ? be : tg_backend_default(), net->batch = batch;
    net->x = calloc(g->n, sizeof *net->x);
    if (!net->x) goto nomem;
    describe(g, net->x, NULL, NULL, &net->nparams, &net->nstate);
    net->params = calloc(net->nparams + 1, sizeof *net->params);
    net->state = calloc(net->nstate + 1, sizeof *net->state);
    if (!net->params || !net->state) goto nomem;
    describe(g, net->x, net->params, net->state, &net->nparams, &net->nstate);

    /* consumers, gradient needs, fusion */
    for (int i = 0; i < g->n; i++) {
        const tg_node *n = &g->nodes[i];
        exec_node *x = &net->x[i];
        x->needs_grad = x->np > 0;
        for (int j = 0; j < n->nin; j++) {
            net->x[n->in[j]].consumers++;
            x->needs_grad |= net->x[n->in[j]].needs_grad;
        }
    }
    for (int i = 0; i < g->n; i++) {
        const tg_node *n = &g->nodes[i];
        if (n->kind != TG_NODE_RELU) continue;
        int b = n->in[0];
        if ((g->nodes[b].kind == TG_NODE_BN || g->nodes[b].kind == TG_NODE_ADD) &&
            net->x[b].consumers == 1 && !g->nodes[b].name[0])
            net->x[b].fused_relu = net->x[i].fused_relu = 1;
    }
    /* a BN that alone feeds an ADD writes the sum; the ADD's other input must be
     * computed before it */
    for (int i = 0; i < g->n; i++) {
        const tg_node *n = &g->nodes[i];
        if (n->kind != TG_NODE_ADD || n->in[0] == n->in[1]) continue;
        for (int q = 0; q < 2; q++) {
            const int b = n->in[q], other = n->in[1 - q];
            if (g->nodes[b].kind == TG_NODE_BN && net->x[b].consumers == 1 &&
                !g->nodes[b].name[0] && other < b && !net->x[i].add_into) {
                net->x[b].add_into = i;
                net->x[i].add_into = b;
            }
        }
    }
    /* inference folds a BN into the unobserved convolution that alone feeds it */
    size_t fold_sz = 0;
    for (int i = 0; i < g->n; i++) {
        const tg_node *n = &g->nodes[i];
        if (n->kind != TG_NODE_BN) continue;
        int c = n->in[0];
        if (g->nodes[c].kind != TG_NODE_CONV || net->x[c].consumers != 1 || g->nodes[c].name[0])
            continue;
        net->x[c].fold = i, net->x[i].fold = 1;
        const tg_param *w = &net->params[net->x[c].p0];
        if (w->size + (size_t)n->c > fold_sz) fold_sz = w->size + (size_t)n->c;
    }
    if (fold_sz && !(net->fold_w = malloc(fold_sz * sizeof(float)))) goto nomem;

    /* slab sizes */
    size_t psz = 0, ssz = 0, asz = 0;
    for (int i = 0; i < net->nparams; i++) psz += net->params[i].size;
    for (int i = 0; i < net->nstate; i++) ssz += net->state[i].size;
    for (int i = 1; i < g->n; i++) {
        const tg_node *n = &g->nodes[i];
        size_t sz = (size_t)batch * node_size(n);
        if (!(n->kind == TG_NODE_RELU && net->x[i].fused_relu) &&
            !(n->kind == TG_NODE_BN && net->x[i].add_into))
            asz += sz;
        if (n->kind == TG_NODE_BN) asz += 2 * (size_t)n->c;
        if (n->kind == TG_NODE_MAXPOOL) asz += sz;  /* int32 argmax */
    }
    plan_late_adds(net);
    size_t *goff = calloc((size_t)g->n, sizeof(size_t));
    if (!goff) goto nomem;
    size_t gsz = plan_grads(net, goff, err);
    if (gsz == (size_t)-1) {
        free(goff);
        tg_net_free(net);
        return NULL;
    }
    asz += gsz;
    net->pslab = calloc(psz + 1, sizeof(float));
    net->gslab = calloc(psz + 1, sizeof(float));
    net->sslab = calloc(ssz + 1, sizeof(float));
    net->aslab = malloc(sizeof(float) * (asz + 1));
    if (!net->pslab || !net->gslab || !net->sslab || !net->aslab) {
        free(goff);
        goto nomem;
    }
    float *pp = net->pslab, *gp = net->gslab, *sp = net->sslab, *ap = net->aslab + gsz;
    for (int i = 0; i < net->nparams; i++) {
        net->params[i].data = pp, net->params[i].grad = gp;
        pp += net->params[i].size, gp += net->params[i].size;
    }
    for (int i = 0; i < net->nstate; i++) {
        net->state[i].data = sp;
        sp += net->state[i].size;
    }
    for (int i = 1; i < g->n; i++) {
        const tg_node *n = &g->nodes[i];
        exec_node *x = &net->x[i];
        size_t sz = (size_t)batch * node_size(n);
        if (n->kind == TG_NODE_RELU && x->fused_relu) {
            x->out = net->x[n->in[0]].out;
            x->grad = net->x[n->in[0]].grad;
        } else {
            if (!(n->kind == TG_NODE_BN && x->add_into)) x->out = ap, ap += sz;
            if (x->needs_grad) x->grad = net->aslab + goff[i];
        }
        if (n->kind == TG_NODE_BN) {
            x->save_mean = ap, ap += n->c;
            x->save_invstd = ap, ap += n->c;
        }
        if (n->kind == TG_NODE_MAXPOOL) x->argmax = (int32_t *)ap, ap += sz;
    }
    for (int i = 1; i < g->n; i++)
        if (g->nodes[i].kind == TG_NODE_BN && net->x[i].add_into)
            net->x[i].out = net->x[net->x[i].add_into].out;
    free(goff);
    if (plan_layouts(net, err) != TG_OK) {
        tg_net_free(net);
        return NULL;
    }
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].kind == TG_NODE_CONV && make_plan(net, i, batch, err) != TG_OK) {
            tg_net_free(net);
            return NULL;
        }
    init_params(net, rng);
    return net;
nomem:
    tg_error_set(err, TG_ERR_NOMEM, "net: out of memory compiling %d nodes for batch %d",
                 g->n, batch);
    tg_net_free(net);
    return NULL;
}

void tg_net_free(tg_net *net) {
    if (!net) return;
    if (net->x)
        for (int i = 0; i < net->g->n; i++) {
            for (int q = 0; q < 2; q++)
                if (net->x[i].plans[q]) net->be->conv_plan_free(net->x[i].plans[q]);
            free(net->x[i].view);
        }
    free(net->x);
    free(net->params);
    free(net->state);
    free(net->pslab);
    free(net->gslab);
    free(net->sslab);
    free(net->aslab);
    free(net->scratch);
    free(net->fold_w);
    free(net);
}

int tg_net_batch(const tg_net *net) { return net->batch; }
int tg_net_classes(const tg_net *net) { return net->g->nodes[net->g->n - 1].c; }
const tg_graph *tg_net_graph(const tg_net *net) { return net->g; }

tg_param *tg_net_params(tg_net *net, int *count) {
    *count = net->nparams;
    return net->params;
}

tg_param *tg_net_state(tg_net *net, int *count) {
    *count = net->nstate;
    return net->state;
}

size_t tg_net_param_count(const tg_net *net) {
    size_t s = 0;
    for (int i = 0; i < net->nparams; i++) s += net->params[i].size;
    return s;
}

/* ---- forward ----------------------------------------------------------- */

/* Whether BN node i applies a ReLU: its own fused one or, when it writes an
 * ADD's sum (add_into), the ADD's, whose output and gradient it then shares */
static int bn_relu(const tg_net *net, int i) {
    const exec_node *x = &net->x[i];
    return x->add_into ? net->x[x->add_into].fused_relu : x->fused_relu;
}

/* Inference of convolution i and the BN it alone feeds, as one convolution:
 * with a = gamma / sqrt(running var + eps), weights w * a and bias
 * (b - running mean) * a + beta per output channel, written into the BN's
 * output, where the ReLU fused into the BN, if any, runs in place. The
 * convolution's own output is not written. (oneDNN's ReLU post-op on the
 * convolution measured slower: candidate6 inference 850 img/s against 925
 * with the separate pass, resnet20 the same within noise.) */
static void conv_bn_infer(tg_net *net, int i, const float *xa) {
    const tg_node *nd = &net->g->nodes[i];
    const exec_node *x = &net->x[i], *bx = &net->x[x->fold];
    const tg_param *p = &net->params[x->p0], *bp = &net->params[bx->p0];
    const tg_param *st = &net->state[bx->s0];
    const int k = nd->k;
    const size_t per = p[0].size / (size_t)k;
    float *w = net->fold_w, *b = net->fold_w + p[0].size;
    for (int o = 0; o < k; o++) {
        const float a = bp[0].data[o] / sqrtf(st[1].data[o] + 1e-5f);
        const float *src = p[0].data + (size_t)o * per;
        for (size_t j = 0; j < per; j++) w[(size_t)o * per + j] = src[j] * a;
        b[o] = ((nd->bias ? p[1].data[o] : 0.0f) - st[0].data[o]) * a + bp[1].data[o];
    }
    net->be->conv_forward(x->plan, xa, w, b, bx->out, net->scratch);
    if (bx->fused_relu) tg_relu_forward((size_t)net->n * node_size(nd), bx->out, bx->out);
}

tg_status tg_net_forward(tg_net *net, const float *input, int n, int training,
                         tg_error *err) {
    const tg_graph *g = net->g;
    if (n <= 0 || n > net->batch)
        return tg_error_set(err, TG_ERR_ARG,
                            "forward: %d images for a net compiled for batch %d",
                            n, net->batch);
    net->n = n, net->training = training;
    net->gen++;  /* blocked nodes' NCHW views are stale */
    net->x[0].out = (float *)input;  /* read only: the input gets no gradient */
    for (int i = 1; i < g->n; i++) {
        const tg_node *nd = &g->nodes[i];
        exec_node *x = &net->x[i];
        const tg_node *a = &g->nodes[nd->in[0]];
        const float *xa = net->x[nd->in[0]].out;
        tg_param *p = &net->params[x->p0];
        size_t sz = (size_t)n * node_size(nd);
        switch (nd->kind) {
        case TG_NODE_CONV: {
            tg_status st = make_plan(net, i, n, err);
            if (st != TG_OK) return st;
            if (!training && x->fold) {
                conv_bn_infer(net, i, xa);
                break;
            }
            net->be->conv_forward(x->plan, xa, p[0].data, nd->bias ? p[1].data : NULL,
                                  x->out, net->scratch);
            break;
        }
        case TG_NODE_BN: {
            if (!training && x->fold) break;  /* done by its convolution */
            tg_bn_shape s = {n, nd->c, nd->h * nd->w, 1e-5f, 0.1f};
            tg_param *st = &net->state[x->s0];
            const int relu = bn_relu(net, i);
            const float *skip = NULL;
            if (x->add_into) {
                const tg_node *ad = &g->nodes[x->add_into];
                skip = net->x[ad->in[ad->in[0] == i]].out;
            }
            if (x->blk && training)
                tg_bn_blocked_forward_train(&s, x->blk, xa, p[0].data, p[1].data, x->out,
                                            x->save_mean, x->save_invstd, st[0].data,
                                            st[1].data, skip, relu, net->scratch);
            else if (x->blk)
                tg_bn_blocked_forward_eval(&s, x->blk, xa, p[0].data, p[1].data, x->out,
                                           st[0].data, st[1].data, x->fused_relu,
                                           net->scratch);
            else if (training)
                tg_bn_forward_train(&s, xa, p[0].data, p[1].data, x->out,
                                    x->save_mean, x->save_invstd, st[0].data,
                                    st[1].data, skip, relu);
            else
                tg_bn_forward_eval(&s, xa, p[0].data, p[1].data, x->out,
                                   st[0].data, st[1].data, x->fused_relu);
            break;
        }
        case TG_NODE_RELU:
            if (!x->fused_relu) tg_relu_forward(sz, xa, x->out);
            break;
        case TG_NODE_MAXPOOL:
        case TG_NODE_AVGPOOL: {
            tg_pool_shape s;
            tg_pool_shape_init(&s, n, a->c, a->h, a->w, nd->kh, nd->stride, NULL);
            if (nd->kind == TG_NODE_MAXPOOL)
                tg_maxpool_forward(&s, xa, x->out, x->argmax);
            else
                tg_avgpool_forward(&s, xa, x->out);
            break;
        }
        case TG_NODE_GAP:
            if (net->x[nd->in[0]].blk)
                tg_gap_blocked_forward(n, a->c, a->h * a->w, net->x[nd->in[0]].blk, xa,
                                       x->out);
            else
                tg_gap_forward(n, a->c, a->h * a->w, xa, x->out);
            break;
        case TG_NODE_ADD:
            if (x->add_into && training) break;  /* written by its BN */
            if (x->fused_relu)
                tg_add_relu_forward(sz, xa, net->x[nd->in[1]].out, x->out);
            else
                tg_add_forward(sz, xa, net->x[nd->in[1]].out, x->out);
            break;
        case TG_NODE_CONCAT: {
            /* blocked: a block (hw x B) as a plane of width w * B */
            const int B = x->blk ? x->blk : 1;
            int c0 = 0;
            for (int j = 0; j < nd->nin; j++) {
                const tg_node *b = &g->nodes[nd->in[j]];
                tg_concat_forward_part(n, b->c / B, b->h, b->w * B, net->x[nd->in[j]].out,
                                       nd->c / B, nd->h, nd->w * B, c0 / B, x->out);
                c0 += b->c;
            }
            break;
        }
        case TG_NODE_LINEAR:
            tg_linear_forward(n, a->c, nd->k, xa, p[0].data, p[1].data, x->out);
            break;
        case TG_NODE_INPUT:
            TG_ASSERT(0);
        }
    }
    return TG_OK;
}

const float *tg_net_output(const tg_net *net) { return net->x[net->g->n - 1].out; }

const float *tg_net_activation(const tg_net *net, int node) {
    if (node < 0 || node >= net->g->n) return NULL;
    if (net->g->nodes[node].kind != TG_NODE_RELU && net->x[node].fused_relu) return NULL;
    if (net->g->nodes[node].kind == TG_NODE_BN && net->x[node].add_into)
        return NULL;  /* its buffer holds the ADD's sum */
    if (net->g->nodes[node].kind == TG_NODE_CONV && net->x[node].fold && !net->training)
        return NULL;  /* folded into its BN: not computed */
    exec_node *x = &net->x[node];
    if (!x->blk) return x->out;
    /* blocked in memory: converted on the first read after a forward pass */
    const tg_node *nd = &net->g->nodes[node];
    if (!x->view && !(x->view = malloc(sizeof(float) * (size_t)net->batch * node_size(nd))))
        return NULL;
    if (x->view_gen != net->gen) {
        tg_blocked_to_nchw(net->n, nd->c, nd->h * nd->w, x->blk, x->out, x->view);
        x->view_gen = net->gen;
    }
    return x->view;
}

int tg_net_layout(const tg_net *net, int node) {
    return node >= 0 && node < net->g->n ? net->x[node].blk : 0;
}

tg_status tg_net_loss(tg_net *net, const int32_t *labels, double *loss,
                      int *correct, tg_error *err) {
    exec_node *o = &net->x[net->g->n - 1];
    int k = tg_net_classes(net);
    for (int i = 0; i < net->n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return tg_error_set(err, TG_ERR_ARG, "loss: label %d of image %d is not in [0,%d)",
                                labels[i], i, k);
    double l = tg_softmax_xent(net->n, k, o->out, labels, o->grad, correct);
    if (loss) *loss = l;
    o->grad_ready = 1;
    if (!isfinite(l))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "loss: cross-entropy is %g (the network diverged)", l);
    return TG_OK;
}

/* ---- backward ---------------------------------------------------------- */

/* The gradient buffer of input j of a node, or NULL if j needs none; *acc
 * tells whether to add into it. */
static float *grad_of(tg_net *net, int j, int *acc) {
    exec_node *x = &net->x[j];
    if (!x->needs_grad) return NULL;
    *acc = x->grad_ready;
    x->grad_ready = 1;
    return x->grad;
}

/* ADD node i's gradient into input j's: the mask of a fused ReLU, or a copy */
static void add_backward(tg_net *net, int i, int j) {
    const exec_node *x = &net->x[i];
    size_t sz = (size_t)net->n * node_size(&net->g->nodes[i]);
    int acc;
    float *dx = grad_of(net, j, &acc);
    if (!dx) return;
    if (x->fused_relu)
        tg_relu_backward(sz, x->out, x->grad, dx, acc);
    else
        tg_copy_backward(sz, x->grad, dx, acc);
}

void tg_net_backward(tg_net *net) {
    const tg_graph *g = net->g;
    const int n = net->n;
    for (int i = 1; i < g->n; i++)
        if (i != g->n - 1) net->x[i].grad_ready = 0;
    for (int i = g->n - 1; i >= 1; i--) {
        const tg_node *nd = &g->nodes[i];
        exec_node *x = &net->x[i];
        tg_param *p = &net->params[x->p0];
        if (x->late_add && net->x[x->late_add].grad_ready) add_backward(net, x->late_add, i);
        if (!x->grad_ready) {
            /* no path to the loss: parameters get zero gradient */
            for (int q = 0; q < x->np; q++) memset(p[q].grad, 0, sizeof(float) * p[q].size);
            continue;
        }
        const int j = nd->in[0];
        const tg_node *a = &g->nodes[j];
        const float *xa = net->x[j].out;
        size_t sz = (size_t)n * node_size(nd);
        int acc = 0;
        float *dx;
        switch (nd->kind) {
        case TG_NODE_CONV:
            dx = grad_of(net, j, &acc);
            net->be->conv_backward(x->plan, xa, p[0].data, x->grad, dx, acc,
                                   p[0].grad, nd->bias ? p[1].grad : NULL,
                                   net->scratch);
            break;
        case TG_NODE_BN: {
            tg_bn_shape s = {n, nd->c, nd->h * nd->w, 1e-5f, 0.1f};
            const int relu = bn_relu(net, i);  /* out and grad: see bn_relu */
            dx = grad_of(net, j, &acc);
            if (x->blk)
                tg_bn_blocked_backward(&s, x->blk, xa, p[0].data, x->save_mean,
                                       x->save_invstd, x->out, relu, x->grad, dx, acc,
                                       p[0].grad, p[1].grad, net->scratch);
            else
                tg_bn_backward(&s, xa, p[0].data, x->save_mean, x->save_invstd, x->out, relu,
                               x->grad, dx, acc, p[0].grad, p[1].grad);
            break;
        }
        case TG_NODE_RELU:
            if (x->fused_relu) {
                net->x[j].grad_ready = 1;  /* same buffer: BN or ADD applies the mask */
                break;
            }
            if ((dx = grad_of(net, j, &acc))) tg_relu_backward(sz, x->out, x->grad, dx, acc);
            break;
        case TG_NODE_MAXPOOL:
        case TG_NODE_AVGPOOL: {
            if (!(dx = grad_of(net, j, &acc))) break;
            tg_pool_shape s;
            tg_pool_shape_init(&s, n, a->c, a->h, a->w, nd->kh, nd->stride, NULL);
            if (nd->kind == TG_NODE_MAXPOOL)
                tg_maxpool_backward(&s, x->argmax, x->grad, dx, acc);
            else
                tg_avgpool_backward(&s, x->grad, dx, acc);
            break;
        }
        case TG_NODE_GAP:
            if (!(dx = grad_of(net, j, &acc))) break;
            if (net->x[j].blk)
                tg_gap_blocked_backward(n, a->c, a->h * a->w, net->x[j].blk, x->grad, dx, acc);
            else
                tg_gap_backward(n, a->c, a->h * a->w, x->grad, dx, acc);
            break;
        case TG_NODE_ADD:
            for (int q = 0; q < 2; q++) {
                if (x->add_into && nd->in[q] == x->add_into)
                    net->x[nd->in[q]].grad_ready = 1;  /* the BN reads the ADD's grad */
                else if (net->x[nd->in[q]].late_add != i)
                    add_backward(net, i, nd->in[q]);
            }
            break;
        case TG_NODE_CONCAT: {
            const int B = x->blk ? x->blk : 1;
            int c0 = 0;
            for (int q = 0; q < nd->nin; q++) {
                const tg_node *b = &g->nodes[nd->in[q]];
                if ((dx = grad_of(net, nd->in[q], &acc)))
                    tg_concat_backward_part(n, b->c / B, b->h, b->w * B, x->grad, nd->c / B,
                                            nd->h, nd->w * B, c0 / B, dx, acc);
                c0 += b->c;
            }
            break;
        }
        case TG_NODE_LINEAR:
            dx = grad_of(net, j, &acc);
            tg_linear_backward(n, a->c, nd->k, xa, p[0].data, x->grad, dx, acc,
                               p[0].grad, p[1].grad);
            break;
        case TG_NODE_INPUT:
            TG_ASSERT(0);
        }
    }
}

double tg_net_clip_grad_norm(tg_net *net, double max_norm) {
    double sq = 0;
    for (int i = 0; i < net->nparams; i++)
        for (size_t j = 0; j < net->params[i].size; j++) {
            double v = net->params[i].grad[j];
            sq += v * v;
        }
    double norm = sqrt(sq);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1)
        for (int i = 0; i < net->nparams; i++)
            for (size_t j = 0; j < net->params[i].size; j++)
                net->params[i].grad[j] *= (float)coef;
    return norm;
}
