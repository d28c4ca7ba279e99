/* rl_ctrl.c - the RL controller network: the layout of its parameters over a
 * space's groups, the step-by-step forward pass that samples or scores a
 * point, and the backward pass of the point's log-probability (BPTT through
 * both LSTM layers). The model is described in rl_ctrl.h. */
#include "rl_ctrl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl_ops.h"

#define MAX_GROUPS 16
#define NLAYERS 2

typedef struct {
    char name[16];
    int conn;          /* group "in": a sigmoid connection, no head */
    int size;          /* choices: the largest nchoices of its dimensions */
    int emb_row;       /* first row in emb */
    int head_row;      /* first row in head_w / head_b; -1 for conn */
} group;

struct tg_rl_ctrl {
    const tg_space *space;
    int ndims, H, nslots;        /* slot 0: the network, slot s+1: step s */
    group groups[MAX_GROUPS];
    int ngroups, emb_rows, head_rows, maxc;
    int *dim_group, *dim_slot;
    int *order, *slot_begin;     /* dims by slot; slot k is order[slot_begin[k]..[k+1]) */
    int *prob_off;               /* into probs */
    tg_rl_tensor tensors[8 + 4 * MAX_GROUPS];
    int ntensors;
    int64_t nparams;
    /* the last forward pass */
    int nrun;                    /* steps run */
    int *slot_t, *run_slot;      /* slot -> step run (-1), step -> slot */
    int *active, *tstep;         /* per dimension */
    float *xin;                  /* (nslots, H) step inputs */
    float *act, *cc, *hh;        /* (nslots, 2, 4H), (nslots, 2, H) x2 */
    float *probs;
    /* backward scratch */
    float *dh;                   /* (nslots, 2, H) */
    float *dc, *dxin, *da, *dlogits, *zeros;
};

static float *act_at(const tg_rl_ctrl *c, float *base, int t, int l, int w) {
    return base + ((size_t)t * NLAYERS + l) * (size_t)w * c->H;
}

static int find_group(tg_rl_ctrl *c, const char *name) {
    for (int g = 0; g < c->ngroups; g++)
        if (!strcmp(c->groups[g].name, name)) return g;
    return -1;
}

static void add_tensor(tg_rl_ctrl *c, const char *name, int64_t off, int64_t n) {
    tg_rl_tensor *t = &c->tensors[c->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->off = off;
    t->n = n;
}

/* Groups, slots and the processing order; checks the structure. */
static tg_status layout_dims(tg_rl_ctrl *c, tg_error *err) {
    const tg_space *s = c->space;
    int maxstep = -1;
    for (int i = 0; i < c->ndims; i++) {
        const tg_dim *d = tg_space_dim(s, i);
        if (d->nchoices < 1)
            return tg_error_set(err, TG_ERR_UNSUPPORTED,
                                "rl: dimension %s has %d choices", d->name,
                                d->nchoices);
        if (d->step < -1)
            return tg_error_set(err, TG_ERR_UNSUPPORTED,
                                "rl: dimension %s has step %d (want -1 or more)",
                                d->name, d->step);
        if (d->step > maxstep) maxstep = d->step;
        int conn = !strcmp(d->group, "in");
        if (conn && (d->step < 0 || d->edge_src < -1 || d->edge_src >= d->step ||
                     d->nchoices != 2))
            return tg_error_set(err, TG_ERR_UNSUPPORTED,
                                "rl: connection %s (step %d, edge_src %d, %d "
                                "choices) is not from the image or an earlier "
                                "layer", d->name, d->step, d->edge_src,
                                d->nchoices);
        int g = find_group(c, d->group);
        if (g < 0) {
            if (c->ngroups == MAX_GROUPS)
                return tg_error_set(err, TG_ERR_UNSUPPORTED,
                                    "rl: more than %d groups of choices", MAX_GROUPS);
            g = c->ngroups++;
            snprintf(c->groups[g].name, sizeof c->groups[g].name, "%s", d->group);
            c->groups[g].conn = conn;
        }
        if (d->nchoices > c->groups[g].size) c->groups[g].size = d->nchoices;
        if (d->nchoices > c->maxc) c->maxc = d->nchoices;
        c->dim_group[i] = g;
        c->dim_slot[i] = d->step + 1;
    }
    c->nslots = maxstep + 2;
    c->slot_begin = calloc((size_t)c->nslots + 1, sizeof(int));
    if (!c->slot_begin) return tg_error_set(err, TG_ERR_NOMEM, "rl: out of memory");
    int n = 0;
    for (int k = 0; k < c->nslots; k++) {
        c->slot_begin[k] = n;
        for (int i = 0; i < c->ndims; i++)
            if (c->dim_slot[i] == k) c->order[n++] = i;
    }
    c->slot_begin[c->nslots] = n;
    /* a condition must be decided before the dimension it guards */
    int *pos = c->tstep; /* scratch */
    for (int p = 0; p < c->ndims; p++) pos[c->order[p]] = p;
    for (int i = 0; i < c->ndims; i++) {
        const tg_dim *d = tg_space_dim(s, i);
        if (d->cond >= c->ndims || (d->cond >= 0 && pos[d->cond] >= pos[i]))
            return tg_error_set(err, TG_ERR_UNSUPPORTED,
                                "rl: dimension %s depends on %d, which the "
                                "controller does not choose before it",
                                d->name, d->cond);
    }
    for (int g = 0; g < c->ngroups; g++) {
        c->groups[g].emb_row = c->emb_rows;
        c->emb_rows += c->groups[g].size;
        c->groups[g].head_row = c->groups[g].conn ? -1 : c->head_rows;
        if (!c->groups[g].conn) c->head_rows += c->groups[g].size;
    }
    return TG_OK;
}

static void layout_params(tg_rl_ctrl *c) {
    int64_t H = c->H, off = 0;
    char name[40];
    add_tensor(c, "start", off, H);
    off += H;
    for (int g = 0; g < c->ngroups; g++) {
        snprintf(name, sizeof name, "emb.%s", c->groups[g].name);
        add_tensor(c, name, off, c->groups[g].size * H);
        off += c->groups[g].size * H;
    }
    for (int l = 0; l < NLAYERS; l++) {
        snprintf(name, sizeof name, "lstm%d.w_ih", l);
        add_tensor(c, name, off, 4 * H * H);
        off += 4 * H * H;
        snprintf(name, sizeof name, "lstm%d.w_hh", l);
        add_tensor(c, name, off, 4 * H * H);
        off += 4 * H * H;
        snprintf(name, sizeof name, "lstm%d.b", l);
        add_tensor(c, name, off, 4 * H);
        off += 4 * H;
    }
    for (int g = 0; g < c->ngroups; g++) {
        if (c->groups[g].conn) continue;
        snprintf(name, sizeof name, "head.%s.w", c->groups[g].name);
        add_tensor(c, name, off, c->groups[g].size * H);
        off += c->groups[g].size * H;
    }
    for (int g = 0; g < c->ngroups; g++) {
        if (c->groups[g].conn) continue;
        snprintf(name, sizeof name, "head.%s.b", c->groups[g].name);
        add_tensor(c, name, off, c->groups[g].size);
        off += c->groups[g].size;
    }
    add_tensor(c, "conn.src", off, H);
    off += H;
    add_tensor(c, "conn.dst", off, H);
    off += H;
    add_tensor(c, "conn.b", off, 1);
    off += 1;
    c->nparams = off;
}

void tg_rl_ctrl_point(const tg_rl_ctrl *c, float *slab, tg_rl_params *p) {
    int64_t H = c->H;
    float *q = slab;
    p->start = q;
    q += H;
    p->emb = q;
    q += (int64_t)c->emb_rows * H;
    for (int l = 0; l < NLAYERS; l++) {
        p->w_ih[l] = q;
        q += 4 * H * H;
        p->w_hh[l] = q;
        q += 4 * H * H;
        p->b[l] = q;
        q += 4 * H;
    }
    p->head_w = q;
    q += (int64_t)c->head_rows * H;
    p->head_b = q;
    q += c->head_rows;
    p->conn_src = q;
    q += H;
    p->conn_dst = q;
    q += H;
    p->conn_b = q;
    q += 1;
    TG_ASSERT(q - slab == c->nparams);
}

tg_rl_ctrl *tg_rl_ctrl_new(const tg_space *s, int hidden, tg_error *err) {
    if (hidden < 1 || hidden > 4096) {
        tg_error_set(err, TG_ERR_ARG, "rl_hidden: %d is out of range 1..4096", hidden);
        return NULL;
    }
    tg_rl_ctrl *c = calloc(1, sizeof *c);
    int n = tg_space_ndims(s);
    if (!c) goto nomem;
    c->space = s;
    c->ndims = n;
    c->H = hidden;
    size_t ni = (size_t)(n > 0 ? n : 1);
    c->dim_group = calloc(ni, sizeof(int));
    c->dim_slot = calloc(ni, sizeof(int));
    c->order = calloc(ni, sizeof(int));
    c->prob_off = calloc(ni, sizeof(int));
    c->active = calloc(ni, sizeof(int));
    c->tstep = calloc(ni, sizeof(int));
    if (!c->dim_group || !c->dim_slot || !c->order || !c->prob_off ||
        !c->active || !c->tstep)
        goto nomem;
    if (layout_dims(c, err) != TG_OK) {
        tg_rl_ctrl_free(c);
        return NULL;
    }
    layout_params(c);
    int np = 0;
    for (int i = 0; i < n; i++) {
        c->prob_off[i] = np;
        np += tg_space_dim(s, i)->nchoices;
    }
    size_t T = (size_t)c->nslots, H = (size_t)hidden;
    c->slot_t = calloc(T, sizeof(int));
    c->run_slot = calloc(T, sizeof(int));
    c->xin = calloc(T * H, sizeof(float));
    c->act = calloc(T * NLAYERS * 4 * H, sizeof(float));
    c->cc = calloc(T * NLAYERS * H, sizeof(float));
    c->hh = calloc(T * NLAYERS * H, sizeof(float));
    c->dh = calloc(T * NLAYERS * H, sizeof(float));
    c->probs = calloc((size_t)np + 1, sizeof(float));
    c->dc = calloc(NLAYERS * H, sizeof(float));
    c->dxin = calloc(H, sizeof(float));
    c->da = calloc(4 * H, sizeof(float));
    c->dlogits = calloc((size_t)c->maxc + 1, sizeof(float));
    c->zeros = calloc(H, sizeof(float));
    if (!c->slot_t || !c->run_slot || !c->xin || !c->act || !c->cc || !c->hh ||
        !c->dh || !c->probs || !c->dc || !c->dxin || !c->da || !c->dlogits ||
        !c->zeros)
        goto nomem;
    return c;
nomem:
    tg_rl_ctrl_free(c);
    tg_error_set(err, TG_ERR_NOMEM, "rl: out of memory for the controller");
    return NULL;
}

void tg_rl_ctrl_free(tg_rl_ctrl *c) {
    if (!c) return;
    free(c->dim_group);
    free(c->dim_slot);
    free(c->order);
    free(c->slot_begin);
    free(c->prob_off);
    free(c->active);
    free(c->tstep);
    free(c->slot_t);
    free(c->run_slot);
    free(c->xin);
    free(c->act);
    free(c->cc);
    free(c->hh);
    free(c->dh);
    free(c->probs);
    free(c->dc);
    free(c->dxin);
    free(c->da);
    free(c->dlogits);
    free(c->zeros);
    free(c);
}

int64_t tg_rl_ctrl_nparams(const tg_rl_ctrl *c) { return c->nparams; }
int tg_rl_ctrl_ntensors(const tg_rl_ctrl *c) { return c->ntensors; }
const tg_rl_tensor *tg_rl_ctrl_tensor(const tg_rl_ctrl *c, int i) {
    return i >= 0 && i < c->ntensors ? &c->tensors[i] : NULL;
}

static void fill(float *a, int64_t n, tg_rng *rng, float scale) {
    for (int64_t i = 0; i < n; i++) a[i] = (2.0f * tg_rng_uniform(rng) - 1.0f) * scale;
}

void tg_rl_ctrl_init(const tg_rl_ctrl *c, float *params, tg_rng *rng) {
    tg_rl_params p;
    tg_rl_ctrl_point(c, params, &p);
    int64_t H = c->H;
    fill(p.start, H, rng, 1.0f);
    fill(p.emb, (int64_t)c->emb_rows * H, rng, 1.0f);
    float a = 1.0f / sqrtf((float)H);
    for (int l = 0; l < NLAYERS; l++) {
        fill(p.w_ih[l], 4 * H * H, rng, a);
        fill(p.w_hh[l], 4 * H * H, rng, a);
        fill(p.b[l], 4 * H, rng, a);
    }
    memset(p.head_w, 0, (size_t)c->head_rows * (size_t)H * sizeof(float));
    memset(p.head_b, 0, (size_t)c->head_rows * sizeof(float));
    memset(p.conn_src, 0, (size_t)H * sizeof(float));
    memset(p.conn_dst, 0, (size_t)H * sizeof(float));
    p.conn_b[0] = 0.0f;
}

/* The embedding row of dimension i's choice k. */
static const float *emb_of(const tg_rl_ctrl *c, const float *emb, int i, int k) {
    const group *g = &c->groups[c->dim_group[i]];
    return emb + (size_t)(g->emb_row + k) * c->H;
}

/* Run the LSTM step t for slot k: its input, then both layers. */
static void run_step(tg_rl_ctrl *c, const tg_rl_params *p, const int *x, int k) {
    int t = c->nrun++, H = c->H;
    c->slot_t[k] = t;
    c->run_slot[t] = k;
    float *in = c->xin + (size_t)t * H;
    if (t == 0) {
        memcpy(in, p->start, (size_t)H * sizeof(float));
    } else {
        memset(in, 0, (size_t)H * sizeof(float));
        int prev = c->run_slot[t - 1];
        for (int q = c->slot_begin[prev]; q < c->slot_begin[prev + 1]; q++) {
            int i = c->order[q];
            if (!c->active[i]) continue;
            const float *e = emb_of(c, p->emb, i, x[i]);
            for (int j = 0; j < H; j++) in[j] += e[j];
        }
    }
    const float *below = in;
    for (int l = 0; l < NLAYERS; l++) {
        const float *hp = t ? act_at(c, c->hh, t - 1, l, 1) : c->zeros;
        const float *cp = t ? act_at(c, c->cc, t - 1, l, 1) : c->zeros;
        float *h = act_at(c, c->hh, t, l, 1);
        tg_rl_lstm_cell_forward(h, act_at(c, c->cc, t, l, 1),
                                act_at(c, c->act, t, l, 4), below, hp, cp,
                                p->w_ih[l], p->w_hh[l], p->b[l], H, H);
        below = h;
    }
}

static float dotf(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The connection logit of dimension i (active, its steps run). */
static float conn_logit(const tg_rl_ctrl *c, const tg_rl_params *p, int i,
                        int *src_t) {
    const tg_dim *d = tg_space_dim(c->space, i);
    *src_t = c->slot_t[d->edge_src + 1];
    const float *hs = act_at(c, c->hh, *src_t, NLAYERS - 1, 1);
    const float *hd = act_at(c, c->hh, c->tstep[i], NLAYERS - 1, 1);
    return dotf(p->conn_src, hs, c->H) + dotf(p->conn_dst, hd, c->H) + p->conn_b[0];
}

/* Index drawn from probs[0..n) with one uniform of rng. */
static int draw(tg_rng *rng, const float *probs, int n) {
    double u = tg_rng_uniform_d(rng), acc = 0;
    int last = 0;
    for (int k = 0; k < n; k++) {
        if (probs[k] <= 0.0f) continue;
        acc += probs[k];
        last = k;
        if (u < acc) return k;
    }
    return last;   /* rounding left u above the sum */
}

tg_status tg_rl_ctrl_forward(tg_rl_ctrl *c, const float *params, int *x,
                             tg_rng *rng, double *logp, tg_error *err) {
    tg_rl_params p;
    tg_rl_ctrl_point(c, (float *)params, &p);
    for (int k = 0; k < c->nslots; k++) c->slot_t[k] = -1;
    for (int i = 0; i < c->ndims; i++) c->active[i] = 0;
    c->nrun = 0;
    run_step(c, &p, x, 0);
    double lp = 0;
    for (int q = 0; q < c->ndims; q++) {
        int i = c->order[q], k = c->dim_slot[i];
        const tg_dim *d = tg_space_dim(c->space, i);
        int on = d->cond < 0 || (c->active[d->cond] && x[d->cond] >= d->cond_min);
        c->active[i] = on;
        if (!on) {
            if (rng) x[i] = -1;
            continue;
        }
        if (!rng && (x[i] < 0 || x[i] >= d->nchoices))
            return tg_error_set(err, TG_ERR_ARG,
                                "rl: %s: choice %d is out of range 0..%d", d->name,
                                x[i], d->nchoices - 1);
        if (c->slot_t[k] < 0) run_step(c, &p, x, k);
        c->tstep[i] = c->slot_t[k];
        float *pr = c->probs + c->prob_off[i];
        const group *g = &c->groups[c->dim_group[i]];
        if (g->conn) {
            if (c->slot_t[d->edge_src + 1] < 0)
                return tg_error_set(err, TG_ERR_ARG,
                                    "rl: %s is active but its source (step %d) "
                                    "made no choice", d->name, d->edge_src);
            int src_t;
            float z = conn_logit(c, &p, i, &src_t), pz;
            if (rng) {
                tg_rl_sigmoid_logprob_forward(&pz, z, 1);
                x[i] = tg_rng_uniform_d(rng) < (double)pz;
            }
            lp += tg_rl_sigmoid_logprob_forward(&pz, z, x[i]);
            pr[0] = 1.0f - pz;
            pr[1] = pz;
        } else if (d->nchoices == 1) {
            if (rng) x[i] = 0;
            pr[0] = 1.0f;
        } else {
            const float *h = act_at(c, c->hh, c->tstep[i], NLAYERS - 1, 1);
            float *logits = c->dlogits;   /* scratch until the backward pass */
            tg_rl_linear_forward(logits, h, p.head_w + (size_t)g->head_row * c->H,
                                 p.head_b + g->head_row, c->H, d->nchoices);
            if (rng) {
                tg_rl_softmax_logprob_forward(pr, logits, d->nchoices, 0);
                x[i] = draw(rng, pr, d->nchoices);
            }
            lp += tg_rl_softmax_logprob_forward(pr, logits, d->nchoices, x[i]);
        }
    }
    *logp = lp;
    return TG_OK;
}

void tg_rl_ctrl_backward(tg_rl_ctrl *c, const float *params, const int *x,
                         float *grad, float g) {
    tg_rl_params p, G;
    tg_rl_ctrl_point(c, (float *)params, &p);
    tg_rl_ctrl_point(c, grad, &G);
    int H = c->H, top = NLAYERS - 1;
    memset(c->dh, 0, (size_t)c->nrun * NLAYERS * H * sizeof(float));
    /* the choices: into the top states of their steps */
    for (int i = 0; i < c->ndims; i++) {
        if (!c->active[i]) continue;
        const tg_dim *d = tg_space_dim(c->space, i);
        const group *gr = &c->groups[c->dim_group[i]];
        int t = c->tstep[i];
        const float *pr = c->probs + c->prob_off[i];
        if (gr->conn) {
            int src_t = c->slot_t[d->edge_src + 1];
            float dz = tg_rl_sigmoid_logprob_backward(pr[1], x[i], g);
            const float *hs = act_at(c, c->hh, src_t, top, 1);
            const float *hd = act_at(c, c->hh, t, top, 1);
            float *dhs = act_at(c, c->dh, src_t, top, 1);
            float *dhd = act_at(c, c->dh, t, top, 1);
            for (int j = 0; j < H; j++) {
                G.conn_src[j] += dz * hs[j];
                G.conn_dst[j] += dz * hd[j];
                dhs[j] += dz * p.conn_src[j];
                dhd[j] += dz * p.conn_dst[j];
            }
            G.conn_b[0] += dz;
        } else if (d->nchoices > 1) {
            memset(c->dlogits, 0, (size_t)d->nchoices * sizeof(float));
            tg_rl_softmax_logprob_backward(c->dlogits, pr, d->nchoices, x[i], g);
            size_t row = (size_t)gr->head_row;
            tg_rl_linear_backward(act_at(c, c->dh, t, top, 1), G.head_w + row * H,
                                  G.head_b + row, c->dlogits,
                                  act_at(c, c->hh, t, top, 1), p.head_w + row * H,
                                  H, d->nchoices);
        }
    }
    /* through time, top layer first at each step */
    memset(c->dc, 0, (size_t)NLAYERS * H * sizeof(float));
    for (int t = c->nrun - 1; t >= 0; t--) {
        for (int l = top; l >= 0; l--) {
            float *dbelow;
            const float *below;
            if (l > 0) {
                dbelow = act_at(c, c->dh, t, l - 1, 1);
                below = act_at(c, c->hh, t, l - 1, 1);
            } else {
                dbelow = c->dxin;
                below = c->xin + (size_t)t * H;
                memset(c->dxin, 0, (size_t)H * sizeof(float));
            }
            const float *hp = t ? act_at(c, c->hh, t - 1, l, 1) : c->zeros;
            const float *cp = t ? act_at(c, c->cc, t - 1, l, 1) : c->zeros;
            float *dhp = t ? act_at(c, c->dh, t - 1, l, 1) : NULL;
            float *dcl = c->dc + (size_t)l * H;   /* in: from t+1; out: to t-1 */
            tg_rl_lstm_cell_backward(dbelow, dhp, dcl, G.w_ih[l], G.w_hh[l],
                                     G.b[l], act_at(c, c->dh, t, l, 1), dcl,
                                     act_at(c, c->act, t, l, 4),
                                     act_at(c, c->cc, t, l, 1), below, hp, cp,
                                     p.w_ih[l], p.w_hh[l], H, H, c->da);
        }
        /* the step's input */
        if (t == 0) {
            for (int j = 0; j < H; j++) G.start[j] += c->dxin[j];
            continue;
        }
        int prev = c->run_slot[t - 1];
        for (int q = c->slot_begin[prev]; q < c->slot_begin[prev + 1]; q++) {
            int i = c->order[q];
            if (!c->active[i]) continue;
            float *de = (float *)emb_of(c, G.emb, i, x[i]);
            for (int j = 0; j < H; j++) de[j] += c->dxin[j];
        }
    }
}

const float *tg_rl_ctrl_probs(const tg_rl_ctrl *c, int i) {
    if (i < 0 || i >= c->ndims || !c->active[i]) return NULL;
    return c->probs + c->prob_off[i];
}
