/* test_bn_recal.c - batch-norm statistics recomputed (tg_bn_recalibrate):
 * a conv+BN+ReLU+conv+BN+ReLU+gap+linear net recalibrated with its whole
 * (small) dataset in one batch holds, per BN, the mean and the unbiased
 * variance per channel of that BN's input as a training-mode forward of
 * the dataset computes it (here, in double, from the activations
 * directly); with several batches the running means average the batch
 * means (equal batches of the whole set: the whole set's mean); the
 * weights are untouched; the same seed gives the same statistics and
 * another seed other ones; a net without BN is left exactly as it is; bad
 * arguments are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tgsage/accuracy.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

enum { C1 = 4, C2 = 6 };

static tg_dataset tr, va;

static int setup(void **state) {
    (void)state;
    tg_threads_set(0);
    tg_error err;
    if (tg_split_load("fashion-mnist", 100, 3, 64, 0, &tr, &va, NULL, &err) != TG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tg_dataset_free(&tr);
    tg_dataset_free(&va);
    return 0;
}

typedef struct {
    tg_graph *g;
    tg_net *net;
    int conv1, conv2;   /* the BNs' inputs */
} small_net;

static small_net build(int batch, int with_bn, uint64_t seed) {
    small_net s;
    tg_error err;
    s.g = tg_graph_new(1, 28, 28);
    s.conv1 = tg_graph_conv2d(s.g, 0, C1, 3, 3, 2, 1, 1, 0);
    int x = with_bn ? tg_graph_bn(s.g, s.conv1) : s.conv1;
    x = tg_graph_relu(s.g, x);
    s.conv2 = tg_graph_conv2d(s.g, x, C2, 3, 3, 1, 1, 1, 1);
    x = with_bn ? tg_graph_bn(s.g, s.conv2) : s.conv2;
    x = tg_graph_relu(s.g, x);
    tg_graph_linear(s.g, tg_graph_gap(s.g, x), 10);
    if (tg_graph_error(s.g)) fail_msg("%s", tg_graph_error(s.g));
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    s.net = tg_net_new(s.g, batch, NULL, &rng, &err);
    if (!s.net) fail_msg("%s", err.msg);
    return s;
}

static void release(small_net *s) {
    tg_net_free(s->net);
    tg_graph_free(s->g);
}

/* Copies of every parameter and state tensor, back to back. */
static float *snapshot(tg_net *net, size_t *n) {
    int np, ns;
    tg_param *p = tg_net_params(net, &np), *q = tg_net_state(net, &ns);
    size_t total = 0;
    for (int i = 0; i < np; i++) total += p[i].size;
    for (int i = 0; i < ns; i++) total += q[i].size;
    float *a = malloc(sizeof(float) * (total ? total : 1)), *o = a;
    for (int i = 0; i < np; i++) {
        memcpy(o, p[i].data, sizeof(float) * p[i].size);
        o += p[i].size;
    }
    for (int i = 0; i < ns; i++) {
        memcpy(o, q[i].data, sizeof(float) * q[i].size);
        o += q[i].size;
    }
    *n = total;
    return a;
}

/* Mean and unbiased variance per channel of node's output (n images). */
static void channel_stats(tg_net *net, int node, int n, double *mean, double *var) {
    int c, h, w;
    tg_graph_node_shape(tg_net_graph(net), node, &c, &h, &w);
    const float *a = tg_net_activation(net, node);
    assert_non_null(a);
    const size_t hw = (size_t)h * w, cnt = (size_t)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double s = 0, ss = 0;
        for (int b = 0; b < n; b++)
            for (size_t i = 0; i < hw; i++) s += a[((size_t)b * c + ch) * hw + i];
        mean[ch] = s / (double)cnt;
        for (int b = 0; b < n; b++)
            for (size_t i = 0; i < hw; i++) {
                const double d = a[((size_t)b * c + ch) * hw + i] - mean[ch];
                ss += d * d;
            }
        var[ch] = ss / (double)(cnt - 1);
    }
}

static void test_one_batch_exact(void **state) {
    (void)state;
    tg_error err;
    const int n = (int)tr.n;
    assert_int_equal(n, 64);
    small_net s = build(n, 1, 7);
    size_t np;
    int ns;
    tg_param *st = tg_net_state(s.net, &ns);
    assert_int_equal(ns, 4);  /* two BNs: running mean and variance each */
    float *before = snapshot(s.net, &np);
    const size_t nstate = 2 * C1 + 2 * C2;
    const size_t nparam = np - nstate;

    assert_int_equal(tg_bn_recalibrate(s.net, &tr, 1, 99, &err), TG_OK);
    float *after = snapshot(s.net, &np);
    /* the weights are untouched, the statistics are not */
    assert_memory_equal(before, after, sizeof(float) * nparam);
    assert_memory_not_equal(before + nparam, after + nparam, sizeof(float) * nstate);

    /* the reference: a training-mode forward of the whole set (BN 2 sees
     * BN 1's batch-normalised output, as during recalibration), the
     * statistics of each BN's input from its activations, in double */
    small_net ref = build(n, 1, 7);
    float *x = malloc(sizeof(float) * (size_t)n * 784);
    tg_dataset_images(&tr, NULL, 0, n, x);
    assert_int_equal(tg_net_forward(ref.net, x, n, 1, &err), TG_OK);
    double mean[C2], var[C2];
    const int node[2] = {ref.conv1, ref.conv2}, ch[2] = {C1, C2};
    double worst = 0;
    for (int b = 0; b < 2; b++) {
        channel_stats(ref.net, node[b], n, mean, var);
        for (int c = 0; c < ch[b]; c++) {
            const double gm = st[2 * b].data[c], gv = st[2 * b + 1].data[c];
            const double em = fabs(gm - mean[c]) / (1e-6 + fabs(mean[c]));
            const double ev = fabs(gv - var[c]) / var[c];
            worst = em > worst ? em : worst;
            worst = ev > worst ? ev : worst;
            if (em > 1e-5 || ev > 1e-5)
                fail_msg("BN %d channel %d: mean %.9g (want %.9g), var %.9g (want %.9g)", b, c,
                         gm, mean[c], gv, var[c]);
        }
    }
    print_message("one batch of the whole set: worst relative error %.3g\n", worst);
    assert_true(var[0] > 0);

    /* the same seed again (from the same start): the same statistics */
    small_net again = build(n, 1, 7);
    assert_int_equal(tg_bn_recalibrate(again.net, &tr, 1, 99, &err), TG_OK);
    float *twice = snapshot(again.net, &np);
    assert_memory_equal(after, twice, sizeof(float) * np);
    free(before), free(after), free(twice), free(x);
    release(&s), release(&ref), release(&again);
}

static void test_batches_average(void **state) {
    (void)state;
    tg_error err;
    const int n = (int)tr.n, B = 16;
    /* 4 batches of 16 are the whole set: the average of the batch means
     * of BN 1's input (which does not depend on BN) is the set's mean */
    small_net s = build(B, 1, 5);
    assert_int_equal(tg_bn_recalibrate(s.net, &tr, 4, 1, &err), TG_OK);
    int ns;
    tg_param *st = tg_net_state(s.net, &ns);
    small_net ref = build(n, 1, 5);
    float *x = malloc(sizeof(float) * (size_t)n * 784);
    tg_dataset_images(&tr, NULL, 0, n, x);
    /* (training mode: in inference the convolution is folded into its BN
     * and its own output is not computed) */
    assert_int_equal(tg_net_forward(ref.net, x, n, 1, &err), TG_OK);
    double mean[C1], var[C1];
    channel_stats(ref.net, ref.conv1, n, mean, var);
    for (int c = 0; c < C1; c++) {
        assert_true(fabs(st[0].data[c] - mean[c]) <= 1e-5 * (1e-6 + fabs(mean[c])));
        /* the batch variances average no higher than the set's: within
         * the batches the spread is the total's less that of the batch
         * means, over cnt - 4 degrees of freedom rather than cnt - 1 */
        const double cnt = n * 14.0 * 14.0;
        assert_true(st[1].data[c] > 0.5 * var[c] &&
                    st[1].data[c] <= var[c] * (cnt - 1) / (cnt - 4) * (1 + 1e-6));
    }
    /* fewer batches than the set: the sample depends on the seed */
    small_net a = build(B, 1, 5), b = build(B, 1, 5), c2 = build(B, 1, 5);
    assert_int_equal(tg_bn_recalibrate(a.net, &tr, 2, 11, &err), TG_OK);
    assert_int_equal(tg_bn_recalibrate(b.net, &tr, 2, 11, &err), TG_OK);
    assert_int_equal(tg_bn_recalibrate(c2.net, &tr, 2, 12, &err), TG_OK);
    size_t na, nb, nc;
    float *sa = snapshot(a.net, &na), *sb = snapshot(b.net, &nb), *sc = snapshot(c2.net, &nc);
    assert_memory_equal(sa, sb, sizeof(float) * na);
    assert_memory_not_equal(sa, sc, sizeof(float) * na);
    /* more batches than the set holds: the whole set, once */
    small_net d = build(B, 1, 5);
    assert_int_equal(tg_bn_recalibrate(d.net, &tr, 100, 3, &err), TG_OK);
    tg_param *sd = tg_net_state(d.net, &ns);
    for (int c = 0; c < C1; c++)
        assert_true(fabs(sd[0].data[c] - mean[c]) <= 1e-5 * (1e-6 + fabs(mean[c])));
    /* recalibrated, the net evaluates */
    double acc;
    assert_int_equal(tg_evaluate(s.net, &va, &acc, NULL, &err), TG_OK);
    assert_true(acc >= 0 && acc <= 1);
    assert_int_equal(tg_bn_recalibrate(s.net, &tr, 0, 1, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "0 batches"));
    free(sa), free(sb), free(sc), free(x);
    release(&s), release(&ref), release(&a), release(&b), release(&c2), release(&d);
}

static void test_no_bn(void **state) {
    (void)state;
    tg_error err;
    small_net s = build(16, 0, 9);
    int ns;
    tg_net_state(s.net, &ns);
    assert_int_equal(ns, 0);
    size_t n0, n1;
    float *before = snapshot(s.net, &n0);
    assert_int_equal(tg_bn_recalibrate(s.net, &tr, 4, 1, &err), TG_OK);
    float *after = snapshot(s.net, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, sizeof(float) * n0);
    free(before), free(after);
    release(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_batch_exact),
        cmocka_unit_test(test_batches_average),
        cmocka_unit_test(test_no_bn),
    };
    return cmocka_run_group_tests(tests, setup, teardown) ? 1 : 0;
}
