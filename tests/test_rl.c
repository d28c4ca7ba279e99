/* test_rl.c - the RL explorer: its op pairs and the controller's gradient
 * against central finite differences, the controller as a distribution over
 * a conditional space (it sums to one, samples follow it), REINFORCE on a
 * toy reward, failures, save/load continuation, determinism, and RL against
 * random search on the synthetic objectives. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../src/explorer/rl_ctrl.h"
#include "../src/explorer/rl_ops.h"
#include "tgsage/explorer.h"
#include "tgsage/space.h"
#include "synthetic.h"
#include "testutil.h"

/* ---- finite differences ---- */

typedef double (*loss_fn)(void *ctx);

/* Largest |fd - grad| / (atol + rtol |grad|) over p[0..n), each element
 * moved by +-eps (the step actually taken after float rounding divides). */
static double fd_worst(float *p, int64_t n, const float *grad, loss_fn f, void *ctx,
                       float eps, double atol, double rtol) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        float orig = p[i];
        p[i] = orig + eps;
        float hi = p[i];
        double fp = f(ctx);
        p[i] = orig - eps;
        float lo = p[i];
        double fm = f(ctx);
        p[i] = orig;
        double fd = (fp - fm) / ((double)hi - lo);
        double e = fabs(fd - grad[i]) / (atol + rtol * fabs(grad[i]));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static double dot_d(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ---- linear ---- */

enum { LIN_IN = 5, LIN_OUT = 3 };
typedef struct {
    float in[LIN_IN], w[LIN_OUT * LIN_IN], b[LIN_OUT], r[LIN_OUT], out[LIN_OUT];
} lin_case;

static double lin_loss(void *ctx) {
    lin_case *c = ctx;
    tg_rl_linear_forward(c->out, c->in, c->w, c->b, LIN_IN, LIN_OUT);
    return dot_d(c->r, c->out, LIN_OUT);
}

static void test_linear_op(void **state) {
    (void)state;
    /* by hand: [[1,2],[3,4]] [1,-1] + [0.5,-1] = [-0.5, -2] */
    float w[4] = {1, 2, 3, 4}, b[2] = {0.5f, -1}, in[2] = {1, -1}, out[2];
    tg_rl_linear_forward(out, in, w, b, 2, 2);
    assert_true(out[0] == -0.5f && out[1] == -2.0f);
    tg_rl_linear_forward(out, in, w, NULL, 2, 2);
    assert_true(out[0] == -1.0f && out[1] == -1.0f);

    lin_case c;
    tg_rng r;
    tg_rng_seed(&r, 1);
    tu_fill_uniform(&r, c.in, LIN_IN, -1, 1);
    tu_fill_uniform(&r, c.w, LIN_OUT * LIN_IN, -1, 1);
    tu_fill_uniform(&r, c.b, LIN_OUT, -1, 1);
    tu_fill_uniform(&r, c.r, LIN_OUT, -1, 1);
    float din[LIN_IN], dw[LIN_OUT * LIN_IN], db[LIN_OUT];
    /* the backward adds: start from 1 and take it off again */
    for (int i = 0; i < LIN_IN; i++) din[i] = 1;
    for (int i = 0; i < LIN_OUT * LIN_IN; i++) dw[i] = 1;
    for (int i = 0; i < LIN_OUT; i++) db[i] = 1;
    tg_rl_linear_backward(din, dw, db, c.r, c.in, c.w, LIN_IN, LIN_OUT);
    for (int i = 0; i < LIN_IN; i++) din[i] -= 1;
    for (int i = 0; i < LIN_OUT * LIN_IN; i++) dw[i] -= 1;
    for (int i = 0; i < LIN_OUT; i++) db[i] -= 1;
    /* the loss is linear in each argument: only rounding separates them */
    assert_true(fd_worst(c.in, LIN_IN, din, lin_loss, &c, 1e-2f, 1e-5, 1e-4) <= 1);
    assert_true(fd_worst(c.w, LIN_OUT * LIN_IN, dw, lin_loss, &c, 1e-2f, 1e-5, 1e-4) <= 1);
    assert_true(fd_worst(c.b, LIN_OUT, db, lin_loss, &c, 1e-2f, 1e-5, 1e-4) <= 1);
}

/* ---- LSTM cell ---- */

enum { CIN = 3, CH = 4 };
typedef struct {
    float x[CIN], hp[CH], cp[CH], wih[4 * CH * CIN], whh[4 * CH * CH], b[4 * CH];
    float rh[CH], rc[CH], h[CH], c[CH], act[4 * CH];
} cell_case;

static double cell_loss(void *ctx) {
    cell_case *k = ctx;
    tg_rl_lstm_cell_forward(k->h, k->c, k->act, k->x, k->hp, k->cp, k->wih, k->whh, k->b,
                            CIN, CH);
    return dot_d(k->rh, k->h, CH) + dot_d(k->rc, k->c, CH);
}

static double sig(double a) { return 1 / (1 + exp(-a)); }

static void test_lstm_cell_op(void **state) {
    (void)state;
    /* by hand, one unit: gates i, f, g, o from a = w_ih x + w_hh h + b */
    float x = 0.7f, hp = -0.3f, cp = 0.5f, h, c, act[4];
    float wih[4] = {0.2f, -0.4f, 0.9f, 0.1f}, whh[4] = {0.5f, 0.3f, -0.7f, 0.8f},
          b[4] = {0.1f, 1.0f, -0.2f, 0.0f};
    tg_rl_lstm_cell_forward(&h, &c, act, &x, &hp, &cp, wih, whh, b, 1, 1);
    double a[4];
    for (int q = 0; q < 4; q++) a[q] = (double)wih[q] * x + (double)whh[q] * hp + b[q];
    double ig = sig(a[0]), fg = sig(a[1]), gg = tanh(a[2]), og = sig(a[3]);
    double cw = fg * cp + ig * gg, hw = og * tanh(cw);
    assert_true(fabs(c - cw) < 1e-6 && fabs(h - hw) < 1e-6);
    assert_true(fabs(act[1] - fg) < 1e-6 && fabs(act[2] - gg) < 1e-6);

    cell_case k;
    tg_rng r;
    tg_rng_seed(&r, 2);
    tu_fill_uniform(&r, k.x, CIN, -1, 1);
    tu_fill_uniform(&r, k.hp, CH, -1, 1);
    tu_fill_uniform(&r, k.cp, CH, -1, 1);
    tu_fill_uniform(&r, k.wih, 4 * CH * CIN, -0.8f, 0.8f);
    tu_fill_uniform(&r, k.whh, 4 * CH * CH, -0.8f, 0.8f);
    tu_fill_uniform(&r, k.b, 4 * CH, -0.5f, 0.5f);
    tu_fill_uniform(&r, k.rh, CH, -1, 1);
    tu_fill_uniform(&r, k.rc, CH, -1, 1);
    cell_loss(&k);
    float dx[CIN] = {0}, dhp[CH] = {0}, dcp[CH], dwih[4 * CH * CIN] = {0},
          dwhh[4 * CH * CH] = {0}, db[4 * CH] = {0}, da[4 * CH];
    tg_rl_lstm_cell_backward(dx, dhp, dcp, dwih, dwhh, db, k.rh, k.rc, k.act, k.c, k.x, k.hp,
                             k.cp, k.wih, k.whh, CIN, CH, da);
    /* float forward, eps 1e-3: |fd - grad| <= 2e-4 + 1e-3 |grad| */
    const float eps = 1e-3f;
    const double atol = 2e-4, rtol = 1e-3;
    assert_true(fd_worst(k.x, CIN, dx, cell_loss, &k, eps, atol, rtol) <= 1);
    assert_true(fd_worst(k.hp, CH, dhp, cell_loss, &k, eps, atol, rtol) <= 1);
    assert_true(fd_worst(k.cp, CH, dcp, cell_loss, &k, eps, atol, rtol) <= 1);
    assert_true(fd_worst(k.wih, 4 * CH * CIN, dwih, cell_loss, &k, eps, atol, rtol) <= 1);
    assert_true(fd_worst(k.whh, 4 * CH * CH, dwhh, cell_loss, &k, eps, atol, rtol) <= 1);
    assert_true(fd_worst(k.b, 4 * CH, db, cell_loss, &k, eps, atol, rtol) <= 1);
}

/* ---- softmax and sigmoid log-probabilities ---- */

typedef struct {
    float logits[5], probs[5];
    int k;
} sm_case;

static double sm_loss(void *ctx) {
    sm_case *c = ctx;
    return tg_rl_softmax_logprob_forward(c->probs, c->logits, 5, c->k);
}

typedef struct {
    float z, p;
    int y;
} sg_case;

static double sg_loss(void *ctx) {
    sg_case *c = ctx;
    return tg_rl_sigmoid_logprob_forward(&c->p, c->z, c->y);
}

static void test_logprob_ops(void **state) {
    (void)state;
    float l2[2] = {0, (float)log(3.0)}, p2[2];
    double lp = tg_rl_softmax_logprob_forward(p2, l2, 2, 1);
    assert_true(fabs(lp - log(0.75)) < 1e-7);
    assert_true(fabs(p2[0] - 0.25) < 1e-7 && fabs(p2[1] - 0.75) < 1e-7);
    /* large logits stay finite */
    float big[3] = {1000, 0, -1000}, pb[3];
    lp = tg_rl_softmax_logprob_forward(pb, big, 3, 1);
    assert_true(fabs(lp + 1000) < 1e-9 && pb[0] == 1.0f);

    sm_case c = {{0.3f, -1.2f, 2.0f, 0.0f, 0.7f}, {0}, 3};
    float dl[5] = {0};
    sm_loss(&c);
    tg_rl_softmax_logprob_backward(dl, c.probs, 5, c.k, 1.0f);
    assert_true(fd_worst(c.logits, 5, dl, sm_loss, &c, 1e-3f, 1e-5, 1e-3) <= 1);
    float dl2[5] = {0};
    sm_loss(&c);   /* the probabilities at the point itself again */
    tg_rl_softmax_logprob_backward(dl2, c.probs, 5, c.k, -2.5f);
    for (int j = 0; j < 5; j++) assert_true(fabs(dl2[j] + 2.5f * dl[j]) < 1e-6);

    float p;
    assert_true(fabs(tg_rl_sigmoid_logprob_forward(&p, 0, 1) + log(2.0)) < 1e-12 && p == 0.5f);
    assert_true(fabs(tg_rl_sigmoid_logprob_forward(&p, 60, 0) + 60) < 1e-9);
    assert_true(fabs(tg_rl_sigmoid_logprob_forward(&p, 60, 1)) < 1e-20);
    assert_true(fabs(tg_rl_sigmoid_logprob_forward(&p, -60, 1) + 60) < 1e-9);
    for (int y = 0; y < 2; y++) {
        sg_case s = {0.8f, 0, y};
        sg_loss(&s);
        float dz = tg_rl_sigmoid_logprob_backward(s.p, y, 1.0f);
        assert_true(fd_worst(&s.z, 1, &dz, sg_loss, &s, 1e-3f, 1e-5, 1e-3) <= 1);
    }
}

/* ---- the controller ---- */

static tg_space *space(const char *spec) {
    tg_error err = {0};
    tg_space *s = tg_space_parse(spec, &err);
    if (!s) fail_msg("%s: %s", spec, err.msg);
    return s;
}

static tg_rl_ctrl *ctrl(const tg_space *s, int H) {
    tg_error err = {0};
    tg_rl_ctrl *c = tg_rl_ctrl_new(s, H, &err);
    if (!c) fail_msg("controller: %s", err.msg);
    return c;
}

/* A uniform valid point; nlayers forced to `nl` (a choice index) if >= 0. */
static void any_point(const tg_space *s, tg_rng *r, int nl, int *x) {
    int n = tg_space_ndims(s);
    for (int i = 0; i < n; i++) x[i] = (int)tg_rng_below(r, (uint64_t)tg_space_dim(s, i)->nchoices);
    if (nl >= 0) x[0] = nl;
    tg_space_normalize(s, x);
}

typedef struct {
    tg_rl_ctrl *c;
    float *params;
    int *x;
} lp_case;

static double lp_of(void *ctx) {
    lp_case *k = ctx;
    double lp;
    tg_error err = {0};
    if (tg_rl_ctrl_forward(k->c, k->params, k->x, NULL, &lp, &err) != TG_OK)
        fail_msg("forward: %s", err.msg);
    return lp;
}

/* The gradient of log pi(x) for a few points of `spec`: every element at
 * hidden size 8 against central differences, and at 32 one random
 * direction per tensor. Every tensor must get some gradient except the
 * connection weights of a space without connections (exactly zero). */
static void check_ctrl_grad(const char *spec, int with_conn) {
    tg_space *s = space(spec);
    int n = tg_space_ndims(s);
    int *x = calloc((size_t)n, sizeof(int));
    double worst_fd = 0, worst_dir = 0;
    for (int pass = 0; pass < 2; pass++) {
        int H = pass == 0 ? 8 : 32;
        tg_rl_ctrl *c = ctrl(s, H);
        int64_t np = tg_rl_ctrl_nparams(c);
        float *params = malloc((size_t)np * sizeof(float));
        float *grad = malloc((size_t)np * sizeof(float));
        float *touched = calloc((size_t)np, sizeof(float));
        tg_rng r;
        tg_rng_seed(&r, 10 + (uint64_t)pass);
        tu_fill_uniform(&r, params, (size_t)np, -0.5f, 0.5f);
        for (int pt = 0; pt < 3; pt++) {
            double lp;
            tg_error err = {0};
            if (pt == 0) {
                assert_int_equal(tg_rl_ctrl_forward(c, params, x, &r, &lp, &err), TG_OK);
            } else {
                /* layer-wise: every layer, then two of them */
                any_point(s, &r, with_conn ? (pt == 1 ? tg_space_dim(s, 0)->nchoices - 1 : 1) : -1, x);
            }
            lp_case k = {c, params, x};
            lp = lp_of(&k);
            assert_true(lp < 0 && isfinite(lp));
            memset(grad, 0, (size_t)np * sizeof(float));
            tg_rl_ctrl_backward(c, params, x, grad, 1.0f);
            for (int64_t i = 0; i < np; i++) touched[i] += fabsf(grad[i]);
            /* and g scales it */
            float *g2 = calloc((size_t)np, sizeof(float));
            lp_of(&k);
            tg_rl_ctrl_backward(c, params, x, g2, -0.5f);
            for (int64_t i = 0; i < np; i++) assert_true(fabsf(g2[i] + 0.5f * grad[i]) <= 1e-6f * (1 + fabsf(grad[i])));
            free(g2);
            for (int t = 0; t < tg_rl_ctrl_ntensors(c); t++) {
                const tg_rl_tensor *tn = tg_rl_ctrl_tensor(c, t);
                if (pass == 0) {
                    /* float activations, log-probabilities summed in double,
                     * eps 1e-3: |fd - grad| <= 1e-3 + 1e-2 |grad| */
                    double w = fd_worst(params + tn->off, tn->n, grad + tn->off, lp_of, &k,
                                        1e-3f, 1e-3, 1e-2);
                    if (w > worst_fd) worst_fd = w;
                    if (!(w <= 1)) fail_msg("%s %s point %d: fd error %.2f of tolerance", spec, tn->name, pt, w);
                } else {
                    /* one random direction v: f(p + eps v) - f(p - eps v)
                     * against grad . (the steps taken) */
                    float *q = params + tn->off;
                    float *save = malloc((size_t)tn->n * sizeof(float));
                    double *step = malloc((size_t)tn->n * sizeof(double));
                    memcpy(save, q, (size_t)tn->n * sizeof(float));
                    const float eps = 1e-3f;
                    for (int64_t i = 0; i < tn->n; i++) {
                        float v = 2 * tg_rng_uniform(&r) - 1;
                        q[i] = save[i] + eps * v;
                        step[i] = q[i];
                    }
                    double fp = lp_of(&k);
                    for (int64_t i = 0; i < tn->n; i++) {
                        q[i] = save[i] - (float)((step[i] - save[i]));
                        step[i] -= q[i];
                    }
                    double fm = lp_of(&k);
                    memcpy(q, save, (size_t)tn->n * sizeof(float));
                    double an = 0, gn = 0;
                    for (int64_t i = 0; i < tn->n; i++) {
                        an += step[i] * grad[tn->off + i];
                        gn += fabs(step[i] * grad[tn->off + i]);
                    }
                    /* relative to the sum of |terms|: 1e-3 */
                    double rel = fabs((fp - fm) - an) / (gn + 1e-30);
                    if (rel > worst_dir) worst_dir = rel;
                    if (!(fabs((fp - fm) - an) <= 1e-3 * gn + 1e-9))
                        fail_msg("%s %s point %d: directional %.9g vs %.9g", spec, tn->name, pt,
                                 fp - fm, an);
                    free(save);
                    free(step);
                }
            }
        }
        for (int t = 0; t < tg_rl_ctrl_ntensors(c); t++) {
            const tg_rl_tensor *tn = tg_rl_ctrl_tensor(c, t);
            double sum = 0;
            for (int64_t i = 0; i < tn->n; i++) sum += touched[tn->off + i];
            int conn = !strncmp(tn->name, "conn.", 5);
            if (conn && !with_conn)
                assert_true(sum == 0);
            else if (!(sum > 1e-6))
                fail_msg("%s: tensor %s got no gradient", spec, tn->name);
        }
        free(params);
        free(grad);
        free(touched);
        tg_rl_ctrl_free(c);
    }
    print_message("%s: worst element error %.3f of the tolerance, worst directional %.2e\n", spec,
           worst_fd, worst_dir);
    free(x);
    tg_space_free(s);
}

static void test_ctrl_grad_layerwise(void **state) {
    (void)state;
    check_ctrl_grad("layerwise:4", 1);
}

static void test_ctrl_grad_cell(void **state) {
    (void)state;
    check_ctrl_grad("cell", 0);
}

/* Every point of a small space, in dimension order (inactive ones -1). */
typedef void (*visit_fn)(const int *x, void *ctx);
static void enumerate(const tg_space *s, int *x, int i, visit_fn f, void *ctx) {
    if (i == tg_space_ndims(s)) {
        f(x, ctx);
        return;
    }
    if (!tg_space_active(s, x, i)) {
        x[i] = -1;
        enumerate(s, x, i + 1, f, ctx);
        return;
    }
    for (int k = 0; k < tg_space_dim(s, i)->nchoices; k++) {
        x[i] = k;
        enumerate(s, x, i + 1, f, ctx);
    }
}

typedef struct {
    tg_rl_ctrl *c;
    const float *params;
    int ndims, dim;           /* the marginal of dimension dim */
    double total, marg[8];
    long count;
} sum_case;

static void add_prob(const int *x, void *ctx) {
    sum_case *k = ctx;
    int *y = malloc((size_t)k->ndims * sizeof(int));
    memcpy(y, x, (size_t)k->ndims * sizeof(int));
    double lp;
    tg_error err = {0};
    assert_int_equal(tg_rl_ctrl_forward(k->c, k->params, y, NULL, &lp, &err), TG_OK);
    k->total += exp(lp);
    if (x[k->dim] >= 0) k->marg[x[k->dim]] += exp(lp);
    k->count++;
    free(y);
}

/* The controller is a distribution over the conditional space: the
 * probabilities of all points sum to 1, a sample's log-probability is the
 * one scoring gives, and samples follow the marginals. */
static void check_distribution(const char *spec, long npoints, int dim) {
    tg_space *s = space(spec);
    int n = tg_space_ndims(s);
    tg_rl_ctrl *c = ctrl(s, 16);
    int64_t np = tg_rl_ctrl_nparams(c);
    float *params = malloc((size_t)np * sizeof(float));
    tg_rng r;
    tg_rng_seed(&r, 5);
    tu_fill_uniform(&r, params, (size_t)np, -0.6f, 0.6f);
    int *x = malloc((size_t)n * sizeof(int));
    sum_case k = {c, params, n, dim, 0, {0}, 0};
    enumerate(s, x, 0, add_prob, &k);
    assert_int_equal(k.count, npoints);
    if (!(fabs(k.total - 1) < 1e-5)) fail_msg("%s: probabilities sum to %.9f", spec, k.total);
    const int N = 20000;
    long hits[8] = {0};
    for (int t = 0; t < N; t++) {
        double lp, lp2;
        tg_error err = {0};
        assert_int_equal(tg_rl_ctrl_forward(c, params, x, &r, &lp, &err), TG_OK);
        for (int i = 0; i < n; i++)
            assert_true((x[i] >= 0) == (tg_space_active(s, x, i) != 0));
        assert_int_equal(tg_rl_ctrl_forward(c, params, x, NULL, &lp2, &err), TG_OK);
        assert_true(lp == lp2);
        if (x[dim] >= 0) hits[x[dim]]++;
    }
    for (int j = 0; j < tg_space_dim(s, dim)->nchoices; j++) {
        double p = k.marg[j], f = (double)hits[j] / N, sd = sqrt(p * (1 - p) / N);
        if (!(fabs(f - p) < 4 * sd + 1e-9))
            fail_msg("%s %s = %d: sampled %.4f, probability %.4f", spec,
                     tg_space_dim(s, dim)->name, j, f, p);
    }
    free(x);
    free(params);
    tg_rl_ctrl_free(c);
    tg_space_free(s);
}

static int dim_named(const tg_space *s, const char *name) {
    for (int i = 0; i < tg_space_ndims(s); i++)
        if (!strcmp(tg_space_dim(s, i)->name, name)) return i;
    fail_msg("no dimension %s", name);
    return -1;
}

static void test_ctrl_distribution(void **state) {
    (void)state;
    /* 2 layers of 2 x 2 x 2 x 2 choices (filters and stride forced): 16
     * one-layer points, 16 * 16 * 4 two-layer ones */
    const char *lw = "layerwise:2:filters=32:kernels=1,3:strides=1";
    tg_space *s = space(lw);
    int in0 = dim_named(s, "layers[1].in[0]"), kh0 = dim_named(s, "layers[0].kh");
    tg_space_free(s);
    check_distribution(lw, 16 + 16 * 16 * 4, in0);
    check_distribution(lw, 16 + 16 * 16 * 4, kh0);
    check_distribution(lw, 16 + 16 * 16 * 4, 0);
    /* one block: inputs 2 x 2, ops 8 x 8, concat 2 x 2 */
    check_distribution("cell:blocks=1", 2 * 2 * 8 * 8 * 4, 2);
}

static void test_ctrl_errors(void **state) {
    (void)state;
    tg_space *s = space("layerwise:3");
    tg_error err = {0};
    assert_null(tg_rl_ctrl_new(s, 0, &err));
    assert_non_null(strstr(err.msg, "rl_hidden"));
    tg_rl_ctrl *c = ctrl(s, 4);
    int64_t np = tg_rl_ctrl_nparams(c);
    float *params = calloc((size_t)np, sizeof(float));
    int n = tg_space_ndims(s);
    int *x = calloc((size_t)n, sizeof(int));
    tg_rng r;
    tg_rng_seed(&r, 3);
    any_point(s, &r, 2, x);
    int kh = dim_named(s, "layers[2].kh");
    x[kh] = 4;
    double lp;
    assert_int_equal(tg_rl_ctrl_forward(c, params, x, NULL, &lp, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "layers[2].kh"));
    /* zero weights: a uniform policy, each connection p = 1/2 */
    x[kh] = 1;
    assert_int_equal(tg_rl_ctrl_forward(c, params, x, NULL, &lp, &err), TG_OK);
    double want = -log(3.0) - 3 * (log(3.0) + 2 * log(4.0) + log(2.0) * 3) - 5 * log(2.0);
    assert_true(fabs(lp - want) < 1e-5);
    free(x);
    free(params);
    tg_rl_ctrl_free(c);
    tg_space_free(s);
}

/* ---- the explorer ---- */

static tg_explorer *rl_explorer(const tg_space *s, uint64_t seed) {
    tg_explorer_config cfg;
    tg_error err = {0};
    assert_int_equal(tg_explorer_defaults("rl", &cfg, &err), TG_OK);
    cfg.seed = seed;
    tg_explorer *e = tg_explorer_new(s, &cfg, &err);
    if (!e) fail_msg("rl explorer: %s", err.msg);
    return e;
}

static size_t b64_decode(const char *t, unsigned char *out) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0, len = strlen(t);
    for (size_t i = 0; i + 4 <= len; i += 4) {
        uint32_t w = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *p = strchr(A, t[i + j]);
            if (t[i + j] == '=') pad++;
            w = w << 6 | (uint32_t)(t[i + j] == '=' ? 0 : p - A);
        }
        for (int j = 0; j < 3 - pad; j++) out[n++] = (unsigned char)(w >> (16 - 8 * j));
    }
    return n;
}

/* The controller weights of an explorer, read from its saved state. */
static float *saved_params(const tg_explorer *e, int64_t np) {
    tg_error err = {0};
    char *text = tg_explorer_save(e, &err);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "algo_state");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(a, "params");
    assert_true(cJSON_IsString(p));
    unsigned char *raw = malloc(strlen(p->valuestring));
    assert_int_equal(b64_decode(p->valuestring, raw), (size_t)np * 4);
    float *w = malloc((size_t)np * sizeof(float));
    for (int64_t i = 0; i < np; i++) {
        uint32_t u = 0;
        for (int b = 0; b < 4; b++) u |= (uint32_t)raw[i * 4 + b] << (8 * b);
        memcpy(&w[i], &u, 4);
    }
    free(raw);
    cJSON_Delete(j);
    free(text);
    return w;
}

/* log pi(x) under the explorer's controller. */
static double rl_logprob(const tg_space *s, const tg_explorer *e, int *x) {
    tg_rl_ctrl *c = ctrl(s, 32);
    float *w = saved_params(e, tg_rl_ctrl_nparams(c));
    double lp;
    tg_error err = {0};
    assert_int_equal(tg_rl_ctrl_forward(c, w, x, NULL, &lp, &err), TG_OK);
    free(w);
    tg_rl_ctrl_free(c);
    return lp;
}

/* P(layers[0].kh = choice) under the explorer's controller: the sum over
 * nlayers of P(nlayers) P(kh | nlayers) (layer 0's step sees only nlayers). */
static double prob_first_kh(const tg_space *s, const tg_explorer *e, int choice) {
    tg_rl_ctrl *c = ctrl(s, 32);
    float *w = saved_params(e, tg_rl_ctrl_nparams(c));
    int n = tg_space_ndims(s), kh = dim_named(s, "layers[0].kh");
    int *x = malloc((size_t)n * sizeof(int));
    double p = 0;
    tg_rng r;
    tg_rng_seed(&r, 9);
    for (int nl = 0; nl < tg_space_dim(s, 0)->nchoices; nl++) {
        any_point(s, &r, nl, x);
        double lp;
        tg_error err = {0};
        assert_int_equal(tg_rl_ctrl_forward(c, w, x, NULL, &lp, &err), TG_OK);
        p += tg_rl_ctrl_probs(c, 0)[nl] * tg_rl_ctrl_probs(c, kh)[choice];
    }
    free(x);
    free(w);
    tg_rl_ctrl_free(c);
    return p;
}

static int choice_of(const tg_space *s, int dim, const char *label) {
    for (int j = 0; j < tg_space_dim(s, dim)->nchoices; j++)
        if (!strcmp(tg_space_choice_label(s, dim, j), label)) return j;
    fail_msg("%s has no choice %s", tg_space_dim(s, dim)->name, label);
    return -1;
}

/* Reward 1 when layers[0].kh is 5, else 0: REINFORCE raises its
 * probability from 1/4. */
static void test_reinforce_toy(void **state) {
    (void)state;
    tg_space *s = space("layerwise:2");
    int n = tg_space_ndims(s), kh = dim_named(s, "layers[0].kh");
    int five = choice_of(s, kh, "5");
    int *x = malloc((size_t)n * sizeof(int));
    tg_explorer *e = rl_explorer(s, 7);
    double p0 = prob_first_kh(s, e, five);
    assert_true(fabs(p0 - 0.25) < 0.02);
    tg_error err = {0};
    int hits = 0;
    for (int t = 0; t < 400; t++) {
        int64_t id;
        assert_int_equal(tg_explorer_propose(e, &id, x, &err), TG_OK);
        hits += t >= 300 && x[kh] == five;
        assert_int_equal(tg_explorer_tell(e, id, 1, x[kh] == five ? 1.0 : 0.0, &err), TG_OK);
    }
    double p1 = prob_first_kh(s, e, five);
    print_message("toy: P(layers[0].kh = 5) %.3f -> %.3f after 400 tells (%d of the last 100)\n", p0,
           p1, hits);
    assert_true(p1 > 0.6);
    tg_explorer_free(e);
    free(x);
    tg_space_free(s);
}

/* A failed candidate counts as the lowest score told so far: the same
 * batch with the failure replaced by that score gives the same weights. A
 * batch of failures only changes nothing. */
static void test_failures(void **state) {
    (void)state;
    tg_space *s = space("layerwise:3");
    int n = tg_space_ndims(s);
    int *x = malloc((size_t)n * sizeof(int));
    tg_error err = {0};
    const double scores[5] = {0.3, -1, 0.7, 0.2, 0.9};   /* -1: failed */
    float *states[2];
    for (int v = 0; v < 2; v++) {
        tg_explorer *e = rl_explorer(s, 11);
        int64_t ids[5];
        for (int t = 0; t < 5; t++)
            assert_int_equal(tg_explorer_propose(e, &ids[t], x, &err), TG_OK);
        for (int t = 4; t >= 0; t--) {   /* told out of order */
            int failed = scores[t] < 0;
            if (failed && v == 0)
                assert_int_equal(tg_explorer_tell(e, ids[t], 0, 0, &err), TG_OK);
            else
                assert_int_equal(tg_explorer_tell(e, ids[t], 1, failed ? 0.2 : scores[t], &err),
                                 TG_OK);
        }
        tg_rl_ctrl *c = ctrl(s, 32);
        float *w = saved_params(e, tg_rl_ctrl_nparams(c));
        states[v] = malloc((size_t)tg_rl_ctrl_nparams(c) * sizeof(float));
        memcpy(states[v], w, (size_t)tg_rl_ctrl_nparams(c) * sizeof(float));
        if (v == 1)
            assert_memory_equal(states[0], states[1], (size_t)tg_rl_ctrl_nparams(c) * sizeof(float));
        free(w);
        tg_rl_ctrl_free(c);
        tg_explorer_free(e);
    }
    free(states[0]);
    free(states[1]);

    tg_explorer *e = rl_explorer(s, 12), *fresh = rl_explorer(s, 12);
    tg_rl_ctrl *c = ctrl(s, 32);
    int64_t np = tg_rl_ctrl_nparams(c);
    for (int t = 0; t < 10; t++) {
        int64_t id;
        assert_int_equal(tg_explorer_propose(e, &id, x, &err), TG_OK);
        assert_int_equal(tg_explorer_tell(e, id, 0, 0, &err), TG_OK);
    }
    float *a = saved_params(e, np), *b = saved_params(fresh, np);
    assert_memory_equal(a, b, (size_t)np * sizeof(float));
    /* then one success: the next batch learns */
    for (int t = 0; t < 5; t++) {
        int64_t id;
        assert_int_equal(tg_explorer_propose(e, &id, x, &err), TG_OK);
        int ok = t == 2 || t == 3;
        assert_int_equal(tg_explorer_tell(e, id, ok, t == 3 ? 0.9 : 0.5, &err), TG_OK);
    }
    free(a);
    a = saved_params(e, np);
    assert_true(memcmp(a, b, (size_t)np * sizeof(float)) != 0);
    free(a);
    free(b);
    tg_rl_ctrl_free(c);
    tg_explorer_free(e);
    tg_explorer_free(fresh);
    free(x);
    tg_space_free(s);
}

/* A score for a point: a fixed function of its choices. */
static double toy_score(const int *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i] >= 0 ? sin(1.0 + i * 0.37 + x[i]) : 0;
    return s;
}

static void run_rounds(tg_explorer *e, int n, int rounds, int64_t *ids, int *xs) {
    tg_error err = {0};
    for (int t = 0; t < rounds; t++) {
        assert_int_equal(tg_explorer_propose(e, &ids[t], xs + (size_t)t * n, &err), TG_OK);
        if (t % 3 == 2)   /* tell the one before, then this one: out of order */
            for (int q = t - 1; q <= t; q++) {
                const int *xq = xs + (size_t)q * n;
                int ok = toy_score(xq, n) > -2.5;
                assert_int_equal(tg_explorer_tell(e, ids[q], ok, toy_score(xq, n), &err), TG_OK);
            }
    }
}

static void test_save_load_continue(void **state) {
    (void)state;
    const char *specs[2] = {"layerwise:4", "cell:blocks=3"};
    for (int sp = 0; sp < 2; sp++) {
        tg_space *s = space(specs[sp]);
        int n = tg_space_ndims(s);
        enum { R1 = 23, R2 = 31 };
        int64_t ids[R1 + R2], ids2[R2];
        int *xs = malloc((size_t)(R1 + R2) * n * sizeof(int));
        int *xs2 = malloc((size_t)R2 * n * sizeof(int));
        tg_explorer *a = rl_explorer(s, 21);
        run_rounds(a, n, R1, ids, xs);   /* leaves pending trials and a partial batch */
        tg_error err = {0};
        char *saved = tg_explorer_save(a, &err);
        assert_non_null(saved);
        tg_explorer *b = tg_explorer_load(s, saved, &err);
        if (!b) fail_msg("load: %s", err.msg);
        char *again = tg_explorer_save(b, &err);
        assert_string_equal(saved, again);
        free(again);
        /* both continue the same way */
        run_rounds(a, n, R2, ids + R1, xs + (size_t)R1 * n);
        run_rounds(b, n, R2, ids2, xs2);
        assert_memory_equal(ids + R1, ids2, sizeof ids2);
        assert_memory_equal(xs + (size_t)R1 * n, xs2, (size_t)R2 * n * sizeof(int));
        char *sa = tg_explorer_save(a, &err), *sb = tg_explorer_save(b, &err);
        assert_string_equal(sa, sb);
        /* determinism: a fresh explorer with the seed repeats it all; another
         * seed does not */
        tg_explorer *c = rl_explorer(s, 21), *d = rl_explorer(s, 22);
        int *xc = malloc((size_t)(R1 + R2) * n * sizeof(int));
        int64_t idc[R1 + R2];
        run_rounds(c, n, R1, idc, xc);
        run_rounds(c, n, R2, idc + R1, xc + (size_t)R1 * n);
        assert_memory_equal(xs, xc, (size_t)(R1 + R2) * n * sizeof(int));
        run_rounds(d, n, R1, idc, xc);
        run_rounds(d, n, R2, idc + R1, xc + (size_t)R1 * n);
        assert_true(memcmp(xs, xc, (size_t)(R1 + R2) * n * sizeof(int)) != 0);
        free(sa);
        free(sb);
        free(saved);
        free(xc);
        free(xs);
        free(xs2);
        tg_explorer_free(a);
        tg_explorer_free(b);
        tg_explorer_free(c);
        tg_explorer_free(d);
        tg_space_free(s);
    }
}

/* Replace the value of "key": in text by repl (the first occurrence). */
static char *edited(const char *text, const char *key, const char *repl) {
    const char *k = strstr(text, key);
    assert_non_null(k);
    const char *v = k + strlen(key);
    const char *end = v;
    if (*end == '"') {
        end = strchr(end + 1, '"') + 1;
    } else if (*end == '[') {
        end = strchr(end, ']') + 1;
    } else {
        while (*end && *end != ',' && *end != '}') end++;
    }
    size_t len = strlen(text) + strlen(repl) + 1;
    char *out = malloc(len);
    snprintf(out, len, "%.*s%s%s", (int)(v - text), text, repl, end);
    return out;
}

static void test_bad_state(void **state) {
    (void)state;
    tg_space *s = space("layerwise:3");
    int n = tg_space_ndims(s);
    int64_t ids[12];
    int *xs = malloc((size_t)12 * n * sizeof(int));
    tg_explorer *e = rl_explorer(s, 4);
    run_rounds(e, n, 12, ids, xs);
    tg_error err = {0};
    char *saved = tg_explorer_save(e, &err);
    struct {
        const char *key, *repl, *want;
    } cases[] = {
        {"\"params\":", "\"AAAA\"", "algo_state.params"},
        {"\"adam_v\":", "\"!!!!\"", "algo_state.params or adam_v"},
        {"\"nparams\":", "7", "algo_state.nparams"},
        {"\"adam_t\":", "-1", "algo_state.adam_t"},
        {"\"baseline\":", "\"x\"", "algo_state.baseline"},
        {"\"batch_ids\":", "[100]", "algo_state.batch_ids[0]"},
        {"\"batch_ids\":", "[1,2,3,4,5]", "algo_state.batch_ids"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = edited(saved, cases[i].key, cases[i].repl);
        tg_explorer *b = tg_explorer_load(s, bad, &err);
        if (b || !strstr(err.msg, cases[i].want))
            fail_msg("%s%s: loaded or wrong message '%s'", cases[i].key, cases[i].repl,
                     b ? "" : err.msg);
        free(bad);
    }
    free(saved);
    free(xs);
    tg_explorer_free(e);
    tg_space_free(s);
}

/* ---- search quality: 10 seeds x 200 trials on the synthetic objectives ---- */

/* Budgets at which a search is scored: the first 200 proposals of a
 * longer search are those of a 200-trial search (sequential, seeded). */
static const int BUDGETS[2] = {200, 1000};

/* One sequential search of up to T trials: at each budget <= T the best
 * score so far, and the mean of its last 50. */
static void syn_run(const tg_space *s, const char *algo, double lr, const tg_syn *o,
                    uint64_t seed, int T, double best[2], double last[2]) {
    tg_explorer_config cfg;
    tg_error err = {0};
    assert_int_equal(tg_explorer_defaults(algo, &cfg, &err), TG_OK);
    cfg.seed = seed;
    if (lr > 0) cfg.rl_lr = lr;
    tg_explorer *e = tg_explorer_new(s, &cfg, &err);
    if (!e) fail_msg("%s: %s", algo, err.msg);
    assert_true(T <= BUDGETS[1]);  /* the loop reads BUDGETS[k] while t < T */
    int *x = malloc((size_t)tg_space_ndims(s) * sizeof(int));
    double b = -INFINITY, window = 0;
    for (int t = 0, k = 0; t < T; t++) {
        int64_t id;
        assert_int_equal(tg_explorer_propose(e, &id, x, &err), TG_OK);
        double v = tg_syn_eval(o, x);
        if (v > b) b = v;
        if (t >= BUDGETS[k] - 50) window += v / 50;
        if (t + 1 == BUDGETS[k]) {
            best[k] = b, last[k] = window;
            window = 0, k++;
        }
        assert_int_equal(tg_explorer_tell(e, id, 1, v, &err), TG_OK);
    }
    free(x);
    tg_explorer_free(e);
}

/* Means over seeds 0..9 of syn_run's figures. */
static void syn_mean(const tg_space *s, const char *algo, double lr, int ob, int T,
                     double best[2], double last[2]) {
    best[0] = best[1] = last[0] = last[1] = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        tg_syn o;
        assert_int_equal(tg_syn_init(&o, s, ob ? TG_SYN_PROXY : TG_SYN_TARGET, seed), 0);
        double b[2], l[2];
        syn_run(s, algo, lr, &o, seed, T, b, l);
        for (int k = 0; k < 2 && BUDGETS[k] <= T; k++) {
            best[k] += b[k] / 10;
            last[k] += l[k] / 10;
        }
    }
}

/* Before any result the policy is the random explorer's: every active
 * choice uniform, every connection 1/2. */
static void test_initial_policy(void **state) {
    (void)state;
    const char *specs[2] = {"layerwise:10", "cell"};
    for (int k = 0; k < 2; k++) {
        tg_space *s = space(specs[k]);
        int n = tg_space_ndims(s);
        tg_explorer *e = rl_explorer(s, 3);
        int *x = malloc((size_t)n * sizeof(int));
        tg_error err = {0};
        for (int t = 0; t < 20; t++) {
            int64_t id;
            assert_int_equal(tg_explorer_propose(e, &id, x, &err), TG_OK);
            double want = 0;
            for (int i = 0; i < n; i++)
                if (x[i] >= 0) want -= log(tg_space_dim(s, i)->nchoices);
            double lp = rl_logprob(s, e, x);
            if (!(fabs(lp - want) < 1e-5 * fabs(want)))
                fail_msg("%s proposal %d: log-probability %.9g, uniform %.9g", specs[k], t, lp,
                         want);
        }
        free(x);
        tg_explorer_free(e);
        tg_space_free(s);
    }
}

static void test_beats_random(void **state) {
    (void)state;
    tg_space *s = space("layerwise:10");
    const char *objs[2] = {"target", "proxy"};
    /* Margins over random's mean best, set well below the measured ones and
     * above the spread of a difference of 10-seed means (~0.014 on target,
     * ~0.1 on proxy; see docs/performance.md):
     *   - the paper's settings at the paper's budget (1,000 trials, 200
     *     updates of lr 1e-3);
     *   - at 200 trials, lr 1e-2 (40 updates of 1e-3 move each weight by
     *     at most ~0.04: the paper's settings are random search there, and
     *     must be no worse);
     *   - the last 50 proposals of either, against random's. */
    const double paper_best[2] = {0.02, 0.45}, paper_last[2] = {0.1, 1.0};
    const double fast_best[2] = {0.01, 0.25}, fast_last[2] = {0.15, 1.0};
    const double slack[2] = {0.04, 0.25};
    for (int ob = 0; ob < 2; ob++) {
        /* [0] at 200 trials, [1] at 1,000 */
        double rb[2], rl[2], pb[2], pl[2], fb[2], fl[2];
        syn_mean(s, "random", 0, ob, 1000, rb, rl);
        syn_mean(s, "rl", 0, ob, 1000, pb, pl);
        syn_mean(s, "rl", 1e-2, ob, 200, fb, fl);
        print_message("%s, mean best (mean of the last 50): 1,000 trials: random %.4f (%.4f), rl "
                      "%.4f (%.4f); 200 trials: random %.4f (%.4f), rl %.4f (%.4f), rl lr 1e-2 "
                      "%.4f (%.4f)\n",
                      objs[ob], rb[1], rl[1], pb[1], pl[1], rb[0], rl[0], pb[0], pl[0], fb[0], fl[0]);
        if (pb[1] < rb[1] + paper_best[ob] || pl[1] < rl[1] + paper_last[ob])
            fail_msg("%s, 1,000 trials: rl best %.4f, last 50 %.4f; random %.4f, %.4f", objs[ob],
                     pb[1], pl[1], rb[1], rl[1]);
        if (pb[0] < rb[0] - slack[ob])
            fail_msg("%s, 200 trials: rl %.4f below random's %.4f", objs[ob], pb[0], rb[0]);
        if (fb[0] < rb[0] + fast_best[ob] || fl[0] < rl[0] + fast_last[ob])
            fail_msg("%s, 200 trials: rl lr 1e-2 best %.4f, last 50 %.4f; random %.4f, %.4f",
                     objs[ob], fb[0], fl[0], rb[0], rl[0]);
    }
    tg_space_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_op),
        cmocka_unit_test(test_lstm_cell_op),
        cmocka_unit_test(test_logprob_ops),
        cmocka_unit_test(test_ctrl_grad_layerwise),
        cmocka_unit_test(test_ctrl_grad_cell),
        cmocka_unit_test(test_ctrl_distribution),
        cmocka_unit_test(test_ctrl_errors),
        cmocka_unit_test(test_reinforce_toy),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_save_load_continue),
        cmocka_unit_test(test_bad_state),
        cmocka_unit_test(test_initial_policy),
        cmocka_unit_test(test_beats_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
