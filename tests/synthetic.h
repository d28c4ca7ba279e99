/* synthetic.h - two synthetic objectives over the layer-wise space, for
 * testing and benchmarking the search algorithms without training anything.
 *
 * Both are functions of a point x (choice indices, space.h) of a
 * `layerwise:NL` space (NL <= TG_SYN_MAX_LAYERS, any choice sets), higher is
 * better, microseconds to compute. The layout is read from the space's
 * dimensions (group, step, edge_src) and the values from the choice labels,
 * so nothing here assumes an order of dimensions. bench/optuna_search.py
 * computes the same numbers in Python (tgsage_bench_search --points prints
 * a few to compare). With L = x[nlayers] + 1 layers:
 *
 * "target": a hidden architecture T drawn from `tseed` by splitmix64, in
 *   this order: L_T = NL/2 + 1 + below(NL - NL/2); then for each layer
 *   i = 0..NL-1 its six choices (filters, kh, kw, stride, act, norm), each
 *   below(nchoices), then its connections in[-1], in[0], .., in[i-1] (layer
 *   i >= 1), each below(2); below(n) = ((splitmix64() >> 11) * n) >> 53.
 *   score = (matches - 2 |L - L_T|) / total, where matches counts the
 *   dimensions of layers i < min(L, L_T) whose choice equals T's, and total
 *   is the number of dimensions of T's layers (6 + (i + 1 for i >= 1)
 *   each). 1 exactly at T; every dimension contributes on its own, depth
 *   decides which do.
 *
 * "proxy": a smooth function of what the network would be. The parameters
 *   P follow docs/spaces.md for 3-channel images and 10 classes: layer i
 *   (i < L) has filters f_i * cin_i * kh_i * kw_i + (norm bn ? 2 f_i : f_i)
 *   with cin_i the sum of its inputs' channels (the image 3, layer j f_j; no
 *   input, and layer 0, mean the image), and the classifier
 *   (sum of f over layers no later layer reads + 1) * 10. With
 *   lp = log10(P), L* = (6 NL + 5) / 10 (integer division), s2 the number
 *   of stride-2 layers and k_i = exp(-((kh_i - 3)^2 + (kw_i - 3)^2) / 8):
 *     score = 2 exp(-((lp - 5) / 0.3)^2 / 2) + exp(-((L - L*) / 1.5)^2 / 2)
 *           + (relu layers) / L + 0.5 (bn layers) / L + (sum of k_i) / L
 *           + 0.5 exp(-(s2 - 2)^2 / 2)
 *   at most 6: about 10^5 parameters at depth 0.6 NL, every layer 3x3, ReLU
 *   and BN, two stride-2 layers. Some terms are separable by dimension,
 *   the parameter count couples them all. The terms are added in this
 *   order. Every product that feeds a sum is exact (integers, or a power of
 *   two times a double), so fused multiply-adds give the same bits as
 *   Python does. */
#ifndef TG_SYNTHETIC_H
#define TG_SYNTHETIC_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/explorer.h"
#include "tgsage/space.h"

#define TG_SYN_MAX_LAYERS 32

typedef enum { TG_SYN_TARGET, TG_SYN_PROXY } tg_syn_kind;

/* the six settings of a layer, in the space's group names */
static const char *const TG_SYN_GROUPS[6] = {"filters", "kh", "kw", "stride", "act", "norm"};

typedef struct {
    tg_syn_kind kind;
    int nl;                                        /* max layers */
    int nlayers_dim;                               /* the dimension of nlayers */
    int dim[TG_SYN_MAX_LAYERS][6];                 /* layer i's six settings */
    int in_dim[TG_SYN_MAX_LAYERS][TG_SYN_MAX_LAYERS + 1]; /* [i][src + 1]; -1: none */
    int nchoices[6];
    int filters[16], kh[16], kw[16], stride[16];   /* the values of the choices */
    int relu, bn;                                  /* the choice of relu, of bn */
    /* the target */
    int t_layers;
    int t_choice[TG_SYN_MAX_LAYERS][6];
    int t_in[TG_SYN_MAX_LAYERS][TG_SYN_MAX_LAYERS + 1];
} tg_syn;

static inline uint64_t tg_syn_splitmix(uint64_t *z) {
    uint64_t r = (*z += 0x9e3779b97f4a7c15ULL);
    r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ULL;
    r = (r ^ (r >> 27)) * 0x94d049bb133111ebULL;
    return r ^ (r >> 31);
}

static inline int tg_syn_below(uint64_t *z, int n) {
    return (int)(((tg_syn_splitmix(z) >> 11) * (uint64_t)n) >> 53);
}

/* Read the layout of a layer-wise space and draw the target from tseed.
 * Returns 0, or -1 when s is not a layer-wise space this header handles. */
static inline int tg_syn_init(tg_syn *o, const tg_space *s, tg_syn_kind kind, uint64_t tseed) {
    memset(o, 0, sizeof *o);
    memset(o->dim, -1, sizeof o->dim);
    memset(o->in_dim, -1, sizeof o->in_dim);
    o->kind = kind;
    o->nlayers_dim = -1;
    o->relu = o->bn = -1;
    for (int d = 0; d < tg_space_ndims(s); d++) {
        const tg_dim *dm = tg_space_dim(s, d);
        if (!strcmp(dm->group, "nlayers")) {
            o->nlayers_dim = d;
            o->nl = dm->nchoices;
            continue;
        }
        if (dm->step < 0 || dm->step >= TG_SYN_MAX_LAYERS) return -1;
        if (!strcmp(dm->group, "in")) {
            if (dm->edge_src < -1 || dm->edge_src >= dm->step) return -1;
            o->in_dim[dm->step][dm->edge_src + 1] = d;
            continue;
        }
        int g = 0;
        while (g < 6 && strcmp(dm->group, TG_SYN_GROUPS[g])) g++;
        if (g == 6 || dm->nchoices > 16) return -1;
        o->dim[dm->step][g] = d;
        o->nchoices[g] = dm->nchoices;
        for (int c = 0; c < dm->nchoices; c++) {
            const char *lb = tg_space_choice_label(s, d, c);
            int v = atoi(lb);
            if (g == 0) o->filters[c] = v;
            if (g == 1) o->kh[c] = v;
            if (g == 2) o->kw[c] = v;
            if (g == 3) o->stride[c] = v;
            if (g == 4 && !strcmp(lb, "relu")) o->relu = c;
            if (g == 5 && !strcmp(lb, "bn")) o->bn = c;
        }
    }
    if (o->nlayers_dim < 0 || o->nl < 1 || o->nl > TG_SYN_MAX_LAYERS) return -1;
    for (int i = 0; i < o->nl; i++)
        for (int g = 0; g < 6; g++)
            if (o->dim[i][g] < 0) return -1;
    uint64_t z = tseed;
    o->t_layers = o->nl / 2 + 1 + tg_syn_below(&z, o->nl - o->nl / 2);
    if (o->t_layers > o->nl) o->t_layers = o->nl;
    for (int i = 0; i < o->nl; i++) {
        for (int g = 0; g < 6; g++) o->t_choice[i][g] = tg_syn_below(&z, o->nchoices[g]);
        for (int j = -1; i > 0 && j < i; j++) o->t_in[i][j + 1] = tg_syn_below(&z, 2);
    }
    return 0;
}

static inline double tg_syn_target(const tg_syn *o, const int *x) {
    int L = x[o->nlayers_dim] + 1, LT = o->t_layers;
    int both = L < LT ? L : LT;
    double matches = 0, total = 0;
    for (int i = 0; i < LT; i++) total += 6 + (i > 0 ? i + 1 : 0);
    for (int i = 0; i < both; i++) {
        for (int g = 0; g < 6; g++) matches += x[o->dim[i][g]] == o->t_choice[i][g];
        for (int j = -1; i > 0 && j < i; j++)
            matches += x[o->in_dim[i][j + 1]] == o->t_in[i][j + 1];
    }
    return (matches - 2.0 * abs(L - LT)) / total;
}

static inline double tg_syn_proxy(const tg_syn *o, const int *x) {
    int L = x[o->nlayers_dim] + 1, nrelu = 0, nbn = 0, s2 = 0;
    int ch[TG_SYN_MAX_LAYERS], read[TG_SYN_MAX_LAYERS] = {0};
    double params = 0, kern = 0;
    for (int i = 0; i < L; i++) {
        const int *c = x, *dm = o->dim[i];
        int f = o->filters[c[dm[0]]], cin = 0;
        for (int j = -1; i > 0 && j < i; j++)
            if (x[o->in_dim[i][j + 1]] == 1) {
                cin += j < 0 ? 3 : ch[j];
                if (j >= 0) read[j] = 1;
            }
        if (cin == 0) cin = 3;
        int bn = c[dm[5]] == o->bn;
        params += (double)f * cin * o->kh[c[dm[1]]] * o->kw[c[dm[2]]] + (bn ? 2.0 * f : f);
        ch[i] = f;
        double dh = o->kh[c[dm[1]]] - 3.0, dw = o->kw[c[dm[2]]] - 3.0;
        kern += exp(-(dh * dh + dw * dw) / 8.0);
        nrelu += c[dm[4]] == o->relu;
        nbn += bn;
        s2 += o->stride[c[dm[3]]] == 2;
    }
    int head = 0;
    for (int i = 0; i < L; i++)
        if (!read[i]) head += ch[i];
    params += (head + 1.0) * 10;
    double lp = log10(params), zp = (lp - 5.0) / 0.3;
    double zd = (L - (6 * o->nl + 5) / 10) / 1.5, zs = s2 - 2.0;
    double score = 2.0 * exp(-0.5 * zp * zp);
    score += exp(-0.5 * zd * zd);
    score += nrelu / (double)L;
    score += 0.5 * nbn / (double)L;
    score += kern / L;
    score += 0.5 * exp(-0.5 * zs * zs);
    return score;
}

static inline double tg_syn_eval(const tg_syn *o, const int *x) {
    return o->kind == TG_SYN_TARGET ? tg_syn_target(o, x) : tg_syn_proxy(o, x);
}

/* One sequential search: `trials` proposals, each told its score before
 * the next. Returns the best score, or NAN with err set on a failure. */
static inline double tg_syn_search(const tg_space *s, const tg_explorer_config *c,
                                   const tg_syn *o, int trials, tg_error *err) {
    tg_explorer *e = tg_explorer_new(s, c, err);
    if (!e) return NAN;
    int *x = malloc((size_t)tg_space_ndims(s) * sizeof *x);
    double best = -INFINITY;
    for (int t = 0; x && t < trials; t++) {
        int64_t id;
        if (tg_explorer_propose(e, &id, x, err) != TG_OK) {
            best = NAN;
            break;
        }
        double v = tg_syn_eval(o, x);
        if (v > best) best = v;
        if (tg_explorer_tell(e, id, 1, v, err) != TG_OK) {
            best = NAN;
            break;
        }
    }
    if (!x) best = NAN;
    free(x);
    tg_explorer_free(e);
    return best;
}

#endif
