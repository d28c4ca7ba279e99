/* test_layout.c - channel-blocked tensors (nChw8c / nChw16c): the
 * conversions, the blocked BN and global average pooling against their
 * NCHW versions, and networks that keep their tensors blocked against the
 * same networks kept NCHW (TG_NET_LAYOUT=nchw): outputs, every node read
 * back, gradients, evaluation, a partial batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tgsage/backend.h"
#include "tgsage/graph.h"
#include "tgsage/models.h"
#include "tgsage/ops.h"

static float *fmalloc(size_t n) {
    float *p = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(p);
    return p;
}

static void expect_close(const char *what, const float *got, const float *want, size_t n,
                         double atol, double rtol) {
    double e = tu_max_err(got, want, n, atol, rtol);
    if (!(e <= 1)) fail_msg("%s: error %.3g times the tolerance", what, e);
}

static void test_conversions(void **state) {
    (void)state;
    const int n = 2, c = 32, hw = 5;
    const size_t sz = (size_t)n * c * hw;
    float *x = fmalloc(sz), *b = fmalloc(sz), *back = fmalloc(sz);
    for (size_t i = 0; i < sz; i++) x[i] = (float)i;
    for (int blk = 8; blk <= 16; blk *= 2) {
        tg_blocked_from_nchw(n, c, hw, blk, x, b);
        /* element (bb, ch, p) at ((bb*c/B + ch/B)*hw + p)*B + ch%B, by hand */
        for (int bb = 0; bb < n; bb++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < hw; p++) {
                    size_t at = (((size_t)bb * (c / blk) + ch / blk) * hw + p) * blk + ch % blk;
                    assert_true(b[at] == x[((size_t)bb * c + ch) * hw + p]);
                }
        tg_blocked_to_nchw(n, c, hw, blk, b, back);
        assert_memory_equal(back, x, sizeof(float) * sz);
    }
    free(x), free(b), free(back);
}

/* GAP of a blocked tensor: the same bits as of the NCHW one. */
static void test_gap(void **state) {
    (void)state;
    const int n = 3, c = 48, hw = 37;
    const size_t sz = (size_t)n * c * hw;
    tg_rng r;
    tg_rng_seed(&r, 3);
    float *x = fmalloc(sz), *xb = fmalloc(sz), *y = fmalloc(n * c), *yb = fmalloc(n * c);
    float *dy = fmalloc(n * c), *dx = fmalloc(sz), *dxb = fmalloc(sz), *dxu = fmalloc(sz);
    tu_fill_uniform(&r, x, sz, -2, 2);
    tu_fill_uniform(&r, dy, n * c, -1, 1);
    for (int blk = 8; blk <= 16; blk *= 2)
        for (int acc = 0; acc < 2; acc++) {
            tg_blocked_from_nchw(n, c, hw, blk, x, xb);
            tg_gap_forward(n, c, hw, x, y);
            tg_gap_blocked_forward(n, c, hw, blk, xb, yb);
            assert_memory_equal(y, yb, sizeof(float) * n * c);
            for (size_t i = 0; i < sz; i++) dx[i] = acc ? x[i] : 0;
            tg_blocked_from_nchw(n, c, hw, blk, dx, dxb);
            tg_gap_backward(n, c, hw, dy, dx, acc);
            tg_gap_blocked_backward(n, c, hw, blk, dy, dxb, acc);
            tg_blocked_to_nchw(n, c, hw, blk, dxb, dxu);
            assert_memory_equal(dx, dxu, sizeof(float) * sz);
        }
    free(x), free(xb), free(y), free(yb), free(dy), free(dx), free(dxb), free(dxu);
}

/* Blocked BN (training, evaluation, backward; with and without its ReLU,
 * writing and adding into dx) against the NCHW BN; nChw8c and nChw16c
 * give the same bits. hw = 35 leaves a tail past the four accumulators. */
static void test_bn(void **state) {
    (void)state;
    const int n = 5, c = 32, hw = 35;
    const size_t sz = (size_t)n * c * hw;
    tg_bn_shape s = {n, c, hw, 1e-5f, 0.1f};
    tg_rng r;
    tg_rng_seed(&r, 11);
    float *x = fmalloc(sz), *dy = fmalloc(sz), *dx0 = fmalloc(sz);
    float *g = fmalloc(c), *be = fmalloc(c);
    tu_fill_uniform(&r, x, sz, -1, 3);  /* a mean far from 0 */
    tu_fill_uniform(&r, dy, sz, -1, 1);
    tu_fill_uniform(&r, dx0, sz, -1, 1);
    tu_fill_uniform(&r, g, c, 0.5f, 1.5f);
    tu_fill_uniform(&r, be, c, -0.5f, 0.5f);
    float *scratch = fmalloc(tg_bn_blocked_scratch_floats(&s));
    /* per block size: y, dx, evaluation y, mean, invstd, running mean and
     * variance, dgamma, dbeta */
    enum { NOUT = 9 };
    float *out[2][NOUT];
    for (int relu = 0; relu < 2; relu++)
        for (int acc = 0; acc < 2; acc++) {
            float *y = fmalloc(sz), *dx = fmalloc(sz), *ye = fmalloc(sz);
            float m[32], is[32], rm[32], rv[32], dg[32], db[32];
            for (int i = 0; i < c; i++) rm[i] = 0.1f * i, rv[i] = 1 + 0.01f * i;
            memcpy(dx, dx0, sizeof(float) * sz);
            tg_bn_forward_train(&s, x, g, be, y, m, is, rm, rv, NULL, relu);
            tg_bn_forward_eval(&s, x, g, be, ye, rm, rv, relu);
            tg_bn_backward(&s, x, g, m, is, y, relu, dy, dx, acc, dg, db);
            for (int k = 0; k < 2; k++) {
                const int blk = k ? 16 : 8;
                float *xb = fmalloc(sz), *yb = fmalloc(sz), *dyb = fmalloc(sz);
                float *dxb = fmalloc(sz), *yeb = fmalloc(sz);
                for (int t = 0; t < NOUT; t++) out[k][t] = fmalloc(t < 3 ? sz : (size_t)c);
                float **o = out[k];
                for (int i = 0; i < c; i++) o[5][i] = 0.1f * i, o[6][i] = 1 + 0.01f * i;
                tg_blocked_from_nchw(n, c, hw, blk, x, xb);
                tg_blocked_from_nchw(n, c, hw, blk, dy, dyb);
                tg_blocked_from_nchw(n, c, hw, blk, dx0, dxb);
                tg_bn_blocked_forward_train(&s, blk, xb, g, be, yb, o[3], o[4], o[5], o[6],
                                            NULL, relu, scratch);
                tg_bn_blocked_forward_eval(&s, blk, xb, g, be, yeb, o[5], o[6], relu, scratch);
                tg_bn_blocked_backward(&s, blk, xb, g, o[3], o[4], yb, relu, dyb, dxb, acc,
                                       o[7], o[8], scratch);
                tg_blocked_to_nchw(n, c, hw, blk, yb, o[0]);
                tg_blocked_to_nchw(n, c, hw, blk, dxb, o[1]);
                tg_blocked_to_nchw(n, c, hw, blk, yeb, o[2]);
                expect_close("bn train y", o[0], y, sz, 1e-5, 1e-5);
                expect_close("bn eval y", o[2], ye, sz, 1e-5, 1e-5);
                expect_close("bn mean", o[3], m, c, 1e-6, 1e-6);
                expect_close("bn invstd", o[4], is, c, 1e-6, 1e-5);
                expect_close("bn running mean", o[5], rm, c, 1e-6, 1e-6);
                expect_close("bn running var", o[6], rv, c, 1e-6, 1e-6);
                expect_close("bn dx", o[1], dx, sz, 1e-5, 1e-4);
                expect_close("bn dgamma", o[7], dg, c, 1e-4, 1e-4);
                expect_close("bn dbeta", o[8], db, c, 1e-4, 1e-4);
                free(xb), free(yb), free(dyb), free(dxb), free(yeb);
            }
            for (int t = 0; t < NOUT; t++) {
                const size_t len = t < 3 ? sz : (size_t)c;
                if (memcmp(out[0][t], out[1][t], sizeof(float) * len))
                    fail_msg("relu %d acc %d: output %d of nChw8c and nChw16c differ", relu,
                             acc, t);
                free(out[0][t]), free(out[1][t]);
            }
            free(y), free(dx), free(ye);
        }
    free(x), free(dy), free(dx0), free(g), free(be), free(scratch);
}

/* BN with a residual addition fused in gives the bits of BN, then the
 * addition (and ReLU) as separate ops, in both layouts */
static void test_bn_skip(void **state) {
    (void)state;
    const int n = 3, c = 16, hw = 35;
    const size_t sz = (size_t)n * c * hw;
    tg_bn_shape s = {n, c, hw, 1e-5f, 0.1f};
    tg_rng r;
    tg_rng_seed(&r, 12);
    float *x = fmalloc(sz), *skip = fmalloc(sz), *g = fmalloc(c), *be = fmalloc(c);
    float *y = fmalloc(sz), *want = fmalloc(sz), *xb = fmalloc(sz), *sb = fmalloc(sz);
    float *scratch = fmalloc(tg_bn_blocked_scratch_floats(&s));
    tu_fill_uniform(&r, x, sz, -1, 3);
    tu_fill_uniform(&r, skip, sz, -2, 2);
    tu_fill_uniform(&r, g, c, 0.5f, 1.5f);
    tu_fill_uniform(&r, be, c, -0.5f, 0.5f);
    float m[16], is[16], rm[16], rv[16];
    for (int blk = 0; blk <= 16; blk += 8)
        for (int relu = 0; relu < 2; relu++) {
            const float *xi = x, *si = skip;
            if (blk) {
                tg_blocked_from_nchw(n, c, hw, blk, x, xb);
                tg_blocked_from_nchw(n, c, hw, blk, skip, sb);
                xi = xb, si = sb;
            }
            for (int k = 0; k < 2; k++) {
                float *o = k ? y : want;
                for (int i = 0; i < c; i++) rm[i] = 0, rv[i] = 1;
                if (blk)
                    tg_bn_blocked_forward_train(&s, blk, xi, g, be, o, m, is, rm, rv,
                                                k ? si : NULL, k ? relu : 0, scratch);
                else
                    tg_bn_forward_train(&s, xi, g, be, o, m, is, rm, rv, k ? si : NULL,
                                        k ? relu : 0);
                if (k) continue;
                if (relu)
                    tg_add_relu_forward(sz, o, si, o);
                else
                    tg_add_forward(sz, o, si, o);
            }
            if (memcmp(y, want, sizeof(float) * sz))
                fail_msg("blk %d relu %d: BN with the addition fused differs from the two ops",
                         blk, relu);
        }
    free(x), free(skip), free(g), free(be), free(y), free(want), free(xb), free(sb);
    free(scratch);
}

/* Two nets of one graph and seed, the second with TG_NET_LAYOUT=nchw. */
static void net_pair(const tg_graph *g, int batch, tg_net **blocked, tg_net **plain) {
    tg_error err;
    tg_rng r1, r2;
    tg_rng_seed(&r1, 5);
    tg_rng_seed(&r2, 5);
    *blocked = tg_net_new(g, batch, &tg_backend_dnnl, &r1, &err);
    if (!*blocked) fail_msg("%s", err.msg);
    setenv("TG_NET_LAYOUT", "nchw", 1);
    *plain = tg_net_new(g, batch, &tg_backend_dnnl, &r2, &err);
    unsetenv("TG_NET_LAYOUT");
    if (!*plain) fail_msg("%s", err.msg);
}

/* Every kept node of a against b, after a forward pass of each. */
static void same_activations(const tg_graph *g, tg_net *a, tg_net *b, int n, const char *when) {
    for (int i = 1; i < tg_graph_nodes(g); i++) {
        const float *p = tg_net_activation(a, i), *q = tg_net_activation(b, i);
        assert_true((p == NULL) == (q == NULL));
        if (!p) continue;
        int c, h, w;
        tg_graph_node_shape(g, i, &c, &h, &w);
        char what[96];
        snprintf(what, sizeof what, "%s: node %d (layout %d)", when, i, tg_net_layout(a, i));
        expect_close(what, p, q, (size_t)n * c * h * w, 1e-4, 1e-3);
    }
}

/* ResNet-8 (resnet:1, the same blocks as resnet20) with its blocks named:
 * blocked from the first convolution to the pooling, and the same numbers
 * as kept NCHW. */
static void test_net_resnet(void **state) {
    (void)state;
    tg_error err;
    tg_graph *g = tg_model_build("resnet:1", 1, 16, 16, 10, &err);
    if (!g) fail_msg("%s", err.msg);
    const int batch = 12, nn = tg_graph_nodes(g);
    tg_net *a, *b;
    net_pair(g, batch, &a, &b);
    int blocked = 0;
    for (int i = 1; i < nn; i++) {
        assert_int_equal(tg_net_layout(b, i), 0);
        const tg_node_kind k = tg_graph_node_kind(g, i);
        if (k == TG_NODE_CONV || k == TG_NODE_BN || k == TG_NODE_ADD)
            blocked += tg_net_layout(a, i) == 8 || tg_net_layout(a, i) == 16;
    }
    int other = 0;
    for (int i = 1; i < nn; i++) other += tg_graph_node_kind(g, i) == TG_NODE_CONV ||
                                         tg_graph_node_kind(g, i) == TG_NODE_BN ||
                                         tg_graph_node_kind(g, i) == TG_NODE_ADD;
    print_message("resnet:1: %d of %d convolutions, BNs and additions blocked (layout %d)\n",
                  blocked, other, tg_net_layout(a, 1));
    assert_int_equal(blocked, other);
    assert_int_equal(tg_net_layout(a, nn - 1), 0);  /* the logits */
    tg_rng r;
    tg_rng_seed(&r, 9);
    const size_t in = (size_t)batch * 16 * 16;
    float *x = fmalloc(in), *x2 = fmalloc(in);
    tu_fill_uniform(&r, x, in, -1, 1);
    tu_fill_uniform(&r, x2, in, -1, 1);
    int32_t labels[12];
    for (int i = 0; i < batch; i++) labels[i] = i % 10;
    for (int step = 0; step < 2; step++) {
        /* the second step reads every node again: the views follow the new pass */
        const float *xs = step ? x2 : x;
        assert_int_equal(tg_net_forward(a, xs, batch, 1, &err), TG_OK);
        assert_int_equal(tg_net_forward(b, xs, batch, 1, &err), TG_OK);
        same_activations(g, a, b, batch, step ? "training, 2nd pass" : "training");
        double la, lb;
        assert_int_equal(tg_net_loss(a, labels, &la, NULL, &err), TG_OK);
        assert_int_equal(tg_net_loss(b, labels, &lb, NULL, &err), TG_OK);
        assert_true(fabs(la - lb) < 1e-5 * fabs(lb) + 1e-6);
        tg_net_backward(a);
        tg_net_backward(b);
        int np, np2;
        tg_param *pa = tg_net_params(a, &np), *pb = tg_net_params(b, &np2);
        assert_int_equal(np, np2);
        for (int i = 0; i < np; i++) expect_close(pa[i].name, pa[i].grad, pb[i].grad,
                                                  pa[i].size, 1e-5, 2e-3);
        int ns;
        tg_param *sa = tg_net_state(a, &ns), *sb = tg_net_state(b, &np2);
        for (int i = 0; i < ns; i++)
            expect_close(sa[i].name, sa[i].data, sb[i].data, sa[i].size, 1e-6, 1e-5);
    }
    /* evaluation (the BNs folded into their convolutions), a partial batch */
    assert_int_equal(tg_net_forward(a, x, 5, 0, &err), TG_OK);
    assert_int_equal(tg_net_forward(b, x, 5, 0, &err), TG_OK);
    same_activations(g, a, b, 5, "evaluation, 5 of 12 images");
    expect_close("logits", tg_net_output(a), tg_net_output(b), 5 * 10, 1e-5, 1e-4);
    tg_net_free(a), tg_net_free(b);
    tg_graph_free(g);
    free(x), free(x2);
}

/* Which tensors stay NCHW: the image, those a pooling or a classifier
 * reads, and everything joined to them by BN, ReLU, an addition or a
 * concatenation; a convolution between two such groups still runs. */
static void test_net_rules(void **state) {
    (void)state;
    tg_graph *g = tg_graph_new(3, 12, 12);
    int c1 = tg_graph_conv2d(g, 0, 32, 3, 3, 1, 1, 1, 0);
    int b1 = tg_graph_bn(g, c1);
    int r1 = tg_graph_relu(g, b1);
    int c2 = tg_graph_conv2d(g, r1, 32, 3, 3, 1, 1, 1, 0);
    int b2 = tg_graph_bn(g, c2);
    int r2 = tg_graph_relu(g, b2);
    int mp = tg_graph_maxpool(g, r2, 3, 2);        /* r2's group stays NCHW */
    int c3 = tg_graph_conv2d(g, mp, 16, 1, 1, 1, 1, 1, 1);
    int cc = tg_graph_concat(g, 2, (int[]){c3, mp}); /* c3 too */
    int c4 = tg_graph_conv2d(g, cc, 16, 3, 3, 1, 1, 1, 0);
    int a4 = tg_graph_add(g, c4, tg_graph_conv2d(g, cc, 16, 1, 1, 1, 1, 1, 0));
    int gp = tg_graph_gap(g, tg_graph_relu(g, a4));
    tg_graph_linear(g, gp, 7);
    if (tg_graph_error(g)) fail_msg("%s", tg_graph_error(g));
    tg_net *a, *b;
    net_pair(g, 4, &a, &b);
    const int blk = tg_net_layout(a, c1);
    print_message("layouts: c1 %d, r1 %d, c2 %d, r2 %d, c3 %d, c4 %d, sum %d\n", blk,
                  tg_net_layout(a, r1), tg_net_layout(a, c2), tg_net_layout(a, r2),
                  tg_net_layout(a, c3), tg_net_layout(a, c4), tg_net_layout(a, a4));
    assert_true(blk == 8 || blk == 16);
    assert_int_equal(tg_net_layout(a, b1), blk);
    assert_int_equal(tg_net_layout(a, r1), blk);
    assert_int_equal(tg_net_layout(a, c2), 0);
    assert_int_equal(tg_net_layout(a, r2), 0);
    assert_int_equal(tg_net_layout(a, mp), 0);
    assert_int_equal(tg_net_layout(a, c3), 0);
    assert_int_equal(tg_net_layout(a, cc), 0);
    assert_int_equal(tg_net_layout(a, c4), blk);  /* read by the add and then the GAP */
    assert_int_equal(tg_net_layout(a, a4), blk);
    tg_rng r;
    tg_rng_seed(&r, 2);
    float x[4 * 3 * 12 * 12];
    tu_fill_uniform(&r, x, sizeof x / sizeof x[0], -1, 1);
    int32_t labels[4] = {0, 3, 6, 1};
    tg_error err;
    assert_int_equal(tg_net_forward(a, x, 4, 1, &err), TG_OK);
    assert_int_equal(tg_net_forward(b, x, 4, 1, &err), TG_OK);
    same_activations(g, a, b, 4, "rules net");
    assert_int_equal(tg_net_loss(a, labels, NULL, NULL, &err), TG_OK);
    assert_int_equal(tg_net_loss(b, labels, NULL, NULL, &err), TG_OK);
    tg_net_backward(a);
    tg_net_backward(b);
    int np;
    tg_param *pa = tg_net_params(a, &np), *pb = tg_net_params(b, &np);
    for (int i = 0; i < np; i++)
        expect_close(pa[i].name, pa[i].grad, pb[i].grad, pa[i].size, 1e-5, 2e-3);
    tg_net_free(a), tg_net_free(b);
    tg_graph_free(g);

    /* a concatenation of whole blocks, one part zero-padded from 6x6 to
     * 12x12, stays blocked */
    g = tg_graph_new(3, 12, 12);
    int p1 = tg_graph_relu(g, tg_graph_bn(g, tg_graph_conv2d(g, 0, 16, 3, 3, 1, 1, 1, 0)));
    int p2 = tg_graph_relu(g, tg_graph_bn(g, tg_graph_conv2d(g, p1, 32, 3, 3, 2, 1, 1, 0)));
    int cat = tg_graph_concat(g, 2, (int[]){p1, p2});
    int c5 = tg_graph_conv2d(g, cat, 16, 3, 3, 1, 1, 1, 1);
    tg_graph_linear(g, tg_graph_gap(g, c5), 7);
    if (tg_graph_error(g)) fail_msg("%s", tg_graph_error(g));
    net_pair(g, 4, &a, &b);
    print_message("concatenation: layout %d\n", tg_net_layout(a, cat));
    assert_true(tg_net_layout(a, cat) == 16 || tg_net_layout(a, cat) == 8);
    assert_int_equal(tg_net_layout(a, p2), tg_net_layout(a, cat));
    assert_int_equal(tg_net_forward(a, x, 4, 1, &err), TG_OK);
    assert_int_equal(tg_net_forward(b, x, 4, 1, &err), TG_OK);
    same_activations(g, a, b, 4, "concatenation net");
    assert_int_equal(tg_net_loss(a, labels, NULL, NULL, &err), TG_OK);
    assert_int_equal(tg_net_loss(b, labels, NULL, NULL, &err), TG_OK);
    tg_net_backward(a);
    tg_net_backward(b);
    pa = tg_net_params(a, &np), pb = tg_net_params(b, &np);
    for (int i = 0; i < np; i++)
        expect_close(pa[i].name, pa[i].grad, pb[i].grad, pa[i].size, 1e-5, 2e-3);
    tg_net_free(a), tg_net_free(b);
    /* the reference backend keeps everything NCHW */
    tg_rng_seed(&r, 5);
    tg_net *ref = tg_net_new(g, 4, &tg_backend_ref, &r, &err);
    assert_non_null(ref);
    for (int i = 0; i < tg_graph_nodes(g); i++) assert_int_equal(tg_net_layout(ref, i), 0);
    tg_net_free(ref);
    tg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversions), cmocka_unit_test(test_gap),
        cmocka_unit_test(test_bn), cmocka_unit_test(test_bn_skip),
        cmocka_unit_test(test_net_resnet),
        cmocka_unit_test(test_net_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
