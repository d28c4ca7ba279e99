/* test_graph.c - building networks: shapes, names, and bad input refused
 * with the op and the shapes named, never a crash. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "tgsage/backend.h"
#include "tgsage/graph.h"
#include "tgsage/models.h"

static void expect_graph_error(tg_graph *g, const char *want) {
    const char *e = tg_graph_error(g);
    if (!e || !strstr(e, want)) fail_msg("graph error '%s' lacks '%s'", e ? e : "(none)", want);
    print_message("refused: %s\n", e);
    tg_graph_free(g);
}

static void test_shapes(void **state) {
    (void)state;
    tg_graph *g = tg_graph_new(3, 9, 7);
    int a = tg_graph_conv2d(g, 0, 8, 3, 3, 2, 1, 1, 0);       /* 9x7 -> 5x4 */
    int b = tg_graph_conv2d(g, 0, 6, 1, 7, 1, 1, 1, 1);       /* 9x7 */
    int c = tg_graph_concat(g, 2, (int[]){a, b});              /* 14 x 9x7 */
    int d = tg_graph_conv2d(g, c, 14, 3, 3, 1, 2, 14, 0);     /* depthwise, dilated */
    int p = tg_graph_maxpool(g, d, 3, 2);                      /* 5x4 */
    int q = tg_graph_avgpool(g, d, 3, 1);
    int s = tg_graph_add(g, q, d);
    assert_null(tg_graph_error(g));
    int ch, h, w;
    tg_graph_node_shape(g, a, &ch, &h, &w);
    assert_true(ch == 8 && h == 5 && w == 4);
    tg_graph_node_shape(g, c, &ch, &h, &w);
    assert_true(ch == 14 && h == 9 && w == 7);
    tg_graph_node_shape(g, p, &ch, &h, &w);
    assert_true(ch == 14 && h == 5 && w == 4);
    tg_graph_node_shape(g, s, &ch, &h, &w);
    assert_true(ch == 14 && h == 9 && w == 7);
    assert_int_equal(tg_graph_name(g, s, "sum"), s);
    assert_int_equal(tg_graph_find(g, "sum"), s);
    assert_int_equal(tg_graph_find(g, "nope"), -1);
    tg_graph_free(g);
}

static void test_bad_graphs(void **state) {
    (void)state;
    tg_graph *g = tg_graph_new(1, 8, 8);
    int a = tg_graph_conv2d(g, 0, 4, 3, 3, 2, 1, 1, 0);
    tg_graph_add(g, a, 0);
    expect_graph_error(g, "add of nodes 1 (4x4x4) and 0 (1x8x8)");

    g = tg_graph_new(1, 8, 8);
    tg_graph_linear(g, tg_graph_conv2d(g, 0, 4, 3, 3, 1, 1, 1, 0), 10);
    expect_graph_error(g, "linear needs a vector per image");

    g = tg_graph_new(6, 8, 8);
    tg_graph_conv2d(g, 0, 4, 3, 3, 1, 1, 4, 0);
    expect_graph_error(g, "not divisible by 4 groups");

    g = tg_graph_new(1, 8, 8);
    tg_graph_conv2d(g, 0, 4, 0, 3, 1, 1, 1, 0);
    expect_graph_error(g, "kernel 0x3");

    g = tg_graph_new(1, 8, 8);
    tg_graph_relu(g, 5);
    expect_graph_error(g, "input 5 does not exist");

    g = tg_graph_new(1, 8, 8);
    tg_graph_concat(g, 0, NULL);
    expect_graph_error(g, "concat of no inputs");

    g = tg_graph_new(1, 8, 8);
    tg_graph_maxpool(g, 0, 2, 1);
    expect_graph_error(g, "window 2");

    g = tg_graph_new(1, 8, 8);
    int r = tg_graph_relu(g, 0);
    tg_graph_name(g, r, "x");
    tg_graph_name(g, 0, "x");
    expect_graph_error(g, "already node 1");

    /* the first error is kept; later calls fail without crashing */
    g = tg_graph_new(1, 8, 8);
    tg_graph_relu(g, 42);
    assert_int_equal(tg_graph_conv2d(g, 0, 4, 3, 3, 1, 1, 1, 0), -1);
    assert_int_equal(tg_graph_linear(g, -1, 3), -1);
    expect_graph_error(g, "input 42");

    tg_error err;
    assert_null(tg_model_build("resnet:0", 1, 28, 28, 10, &err));
    assert_non_null(strstr(err.msg, "1 <= N"));
    assert_null(tg_model_build("lenet", 1, 28, 28, 10, &err));
    assert_non_null(strstr(err.msg, "unknown net 'lenet'"));
}

static void test_net_errors(void **state) {
    (void)state;
    tg_error err;
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    /* the last node must be a vector of logits */
    tg_graph *g = tg_graph_new(1, 8, 8);
    tg_graph_conv2d(g, 0, 4, 3, 3, 1, 1, 1, 0);
    assert_null(tg_net_new(g, 2, NULL, &rng, &err));
    assert_non_null(strstr(err.msg, "gives 4x8x8"));
    tg_graph_free(g);
    /* a failed graph cannot be compiled */
    g = tg_graph_new(1, 8, 8);
    tg_graph_relu(g, 9);
    assert_null(tg_net_new(g, 2, NULL, &rng, &err));
    assert_non_null(strstr(err.msg, "input 9"));
    tg_graph_free(g);

    g = tg_model_build("small3", 1, 8, 8, 3, &err);
    tg_net *net = tg_net_new(g, 2, NULL, &rng, &err);
    assert_non_null(net);
    float x[3 * 64] = {0};
    assert_int_equal(tg_net_forward(net, x, 3, 1, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "3 images for a net compiled for batch 2"));
    assert_int_equal(tg_net_forward(net, x, 2, 1, &err), TG_OK);
    assert_int_equal(tg_net_loss(net, (int32_t[]){0, 3}, NULL, NULL, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "label 3 of image 1 is not in [0,3)"));
    /* NaN in, NaN loss out: reported, not hidden */
    x[5] = NAN;
    assert_int_equal(tg_net_forward(net, x, 2, 1, &err), TG_OK);
    double loss;
    assert_int_equal(tg_net_loss(net, (int32_t[]){0, 1}, &loss, NULL, &err), TG_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "diverged"));
    tg_net_free(net);
    tg_graph_free(g);
}

static void test_activations(void **state) {
    (void)state;
    tg_error err;
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    tg_graph *g = tg_model_build("resnet:1", 1, 8, 8, 10, &err);
    tg_net *net = tg_net_new(g, 2, &tg_backend_ref, &rng, &err);
    float x[2 * 64];
    tu_fill_uniform(&rng, x, 128, -1, 1);
    assert_int_equal(tg_net_forward(net, x, 2, 0, &err), TG_OK);
    const char *names[] = {"L1", "L2", "L3"};
    int expect_c[] = {16, 32, 64}, expect_h[] = {8, 4, 2};
    for (int i = 0; i < 3; i++) {
        int node = tg_graph_find(g, names[i]), c, h, w;
        assert_true(node > 0);
        tg_graph_node_shape(g, node, &c, &h, &w);
        assert_true(c == expect_c[i] && h == expect_h[i] && w == expect_h[i]);
        const float *a = tg_net_activation(net, node);
        assert_non_null(a);
        for (int j = 0; j < 2 * c * h * w; j++) assert_true(a[j] >= 0);  /* after ReLU */
    }
    /* a BN fused with its ReLU keeps no pre-activation output */
    assert_int_equal(tg_graph_node_kind(g, 2), TG_NODE_BN);
    assert_null(tg_net_activation(net, 2));
    /* nor does a residual addition fused with its ReLU */
    int adds = 0;
    for (int i = 1; i < tg_graph_nodes(g); i++)
        if (tg_graph_node_kind(g, i) == TG_NODE_ADD) {
            assert_null(tg_net_activation(net, i));
            adds++;
        }
    assert_true(adds > 0);
    tg_net_free(net);
    tg_graph_free(g);
}

/* Inference folds a BN into the unnamed convolution that alone feeds it:
 * the BN's (and its ReLU's) output equals the unfolded computation from
 * the convolution's output, with the running statistics; a named
 * convolution, or one with a second consumer, is left as it is. */
static void test_bn_folded(void **state) {
    (void)state;
    tg_error err;
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    const int N = 3, H = 6;
    tg_graph *g = tg_graph_new(2, H, H);
    int c1 = tg_graph_conv2d(g, 0, 4, 3, 3, 1, 1, 1, 1);   /* with bias, folded, ReLU */
    int b1 = tg_graph_bn(g, c1);
    int r1 = tg_graph_relu(g, b1);
    int c2 = tg_graph_conv2d(g, r1, 5, 3, 1, 1, 1, 1, 0);  /* folded, no ReLU */
    int b2 = tg_graph_bn(g, c2);
    int c3 = tg_graph_conv2d(g, b2, 5, 1, 1, 1, 1, 1, 0);  /* named: kept */
    tg_graph_name(g, c3, "kept");
    int b3 = tg_graph_bn(g, c3);
    int c4 = tg_graph_conv2d(g, b3, 5, 1, 3, 1, 1, 1, 0);  /* two consumers: kept */
    int b4 = tg_graph_bn(g, c4);
    /* (not an addition: a BN that alone feeds one writes the sum) */
    int s = tg_graph_concat(g, 2, (const int[]){b4, c4});
    tg_graph_linear(g, tg_graph_gap(g, s), 3);
    if (tg_graph_error(g)) fail_msg("%s", tg_graph_error(g));
    const int convs[4] = {c1, c2, c3, c4}, bns[4] = {b1, b2, b3, b4};
    for (int be = 0; be < 2; be++) {
        tg_net *net = tg_net_new(g, N, be ? &tg_backend_dnnl : &tg_backend_ref, &rng, &err);
        assert_non_null(net);
        int np, ns;
        tg_param *p = tg_net_params(net, &np), *st = tg_net_state(net, &ns);
        /* biases not zero, BN parameters and statistics far from the identity */
        for (int i = 0; i < np; i++)
            if (strstr(p[i].name, "bn")) tu_fill_uniform(&rng, p[i].data, p[i].size, 0.5f, 2);
            else if (!strstr(p[i].name, ".w")) tu_fill_uniform(&rng, p[i].data, p[i].size, -1, 1);
        for (int i = 0; i < ns; i++)
            tu_fill_uniform(&rng, st[i].data, st[i].size, i % 2 ? 0.3f : -0.5f, i % 2 ? 3 : 0.5f);
        float x[3 * 2 * 36];
        tu_fill_uniform(&rng, x, sizeof x / sizeof x[0], -1, 1);
        float *pre[4], *want[4];
        assert_int_equal(tg_net_forward(net, x, N, 0, &err), TG_OK);
        assert_null(tg_net_activation(net, c1));
        assert_null(tg_net_activation(net, c2));
        assert_non_null(tg_net_activation(net, c3));
        assert_non_null(tg_net_activation(net, c4));
        for (int k = 0; k < 4; k++) {
            int c, h, w;
            tg_graph_node_shape(g, bns[k], &c, &h, &w);
            size_t n = (size_t)N * c * h * w;
            const float *out = tg_net_activation(net, k == 0 ? r1 : bns[k]);
            assert_non_null(out);
            want[k] = malloc(n * sizeof(float));
            pre[k] = malloc(n * sizeof(float));
            memcpy(want[k], out, n * sizeof(float));
        }
        /* each layer unfolded, in double, on the input the inference pass
         * gave it: the convolution, then (x - mean) / sqrt(var + eps) *
         * gamma + beta, then the ReLU of the first */
        for (int k = 0; k < 4; k++) {
            int c, h, w, ic, ih, iw;
            tg_graph_node_shape(g, bns[k], &c, &h, &w);
            int in = k == 0 ? 0 : k == 1 ? r1 : bns[k - 1];
            tg_graph_node_shape(g, in, &ic, &ih, &iw);
            const float *xin = k == 0 ? x : want[k - 1];
            /* the convolution's weights and bias */
            const tg_param *wp = NULL, *bp = NULL, *gp = NULL, *betap = NULL;
            char pfx[16];
            snprintf(pfx, sizeof pfx, "n%d.", convs[k]);
            for (int i = 0; i < np; i++)
                if (!strncmp(p[i].name, pfx, strlen(pfx)))
                    *(strstr(p[i].name, ".w") ? &wp : &bp) = &p[i];
            snprintf(pfx, sizeof pfx, "n%d.", bns[k]);
            for (int i = 0; i < np; i++)
                if (!strncmp(p[i].name, pfx, strlen(pfx)))
                    *(strstr(p[i].name, "gamma") ? &gp : &betap) = &p[i];
            const tg_param *rm = NULL, *rv = NULL;
            for (int i = 0; i + 1 < ns; i++)
                if (!strncmp(st[i].name, pfx, strlen(pfx))) {
                    rm = &st[i], rv = &st[i + 1];
                    break;
                }
            assert_true(wp && gp && betap && rm && rv);
            int kh = wp->dims[2], kw = wp->dims[3];
            for (int b = 0; b < N; b++)
                for (int o = 0; o < c; o++)
                    for (int y = 0; y < h; y++)
                        for (int z = 0; z < w; z++) {
                            double v = bp ? bp->data[o] : 0;
                            for (int q = 0; q < ic; q++)
                                for (int u = 0; u < kh; u++)
                                    for (int t = 0; t < kw; t++) {
                                        int yy = y + u - (kh - 1) / 2, zz = z + t - (kw - 1) / 2;
                                        if (yy < 0 || yy >= ih || zz < 0 || zz >= iw) continue;
                                        v += (double)wp->data[((o * ic + q) * kh + u) * kw + t] *
                                             xin[((b * ic + q) * ih + yy) * iw + zz];
                                    }
                            double r = (v - rm->data[o]) / sqrt(rv->data[o] + 1e-5) *
                                           gp->data[o] + betap->data[o];
                            if (k == 0 && r < 0) r = 0;
                            size_t at = (((size_t)b * c + o) * h + y) * w + z;
                            pre[k][at] = (float)r;
                        }
            size_t n = (size_t)N * c * h * w;
            for (size_t i = 0; i < n; i++)
                if (!(fabsf(want[k][i] - pre[k][i]) <= 1e-5f + 1e-5f * fabsf(pre[k][i])))
                    fail_msg("%s layer %d element %zu: %.7g, unfolded %.7g", be ? "dnnl" : "ref",
                             k, i, want[k][i], pre[k][i]);
        }
        for (int k = 0; k < 4; k++) free(want[k]), free(pre[k]);
        tg_net_free(net);
    }
    tg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_bad_graphs),
        cmocka_unit_test(test_net_errors),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_bn_folded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
