/* test_optim.c - optimizers and schedules against PyTorch's torch.optim.
 *
 * Reference values: PyTorch 1.13 in float64, 3 steps on the parameter
 * vector [0.5, -1, 2, 0.25] with the gradients below (the script is in the
 * comment of each case: torch.optim.X(params, ...); p.grad = g; step()). */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "tgsage/optim.h"

static const float P0[4] = {0.5f, -1.0f, 2.0f, 0.25f};
static const float G[3][4] = {{0.1f, -0.2f, 0.3f, 0.0f},
                              {0.05f, 0.4f, -0.1f, 1.0f},
                              {-0.3f, 0.1f, 0.2f, -0.5f}};

/* A net whose only parameters are a 2x1 linear weight and 2 biases: four
 * floats that the optimizer sees as two tensors, like PyTorch would. */
static tg_net *tiny_net(tg_graph **g) {
    *g = tg_graph_new(1, 1, 1);
    tg_graph_linear(*g, tg_graph_gap(*g, 0), 2);
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_error err;
    tg_net *net = tg_net_new(*g, 1, NULL, &rng, &err);
    assert_non_null(net);
    return net;
}

static void run(const tg_opt_config *cfg, double lr, const double want[4]) {
    tg_graph *g;
    tg_net *net = tiny_net(&g);
    tg_error err;
    tg_optim *o = tg_optim_new(cfg, net, &err);
    assert_non_null(o);
    int np;
    tg_param *p = tg_net_params(net, &np);
    assert_int_equal(np, 2);
    memcpy(p[0].data, P0, 8), memcpy(p[1].data, P0 + 2, 8);
    for (int s = 0; s < 3; s++) {
        memcpy(p[0].grad, G[s], 8), memcpy(p[1].grad, G[s] + 2, 8);
        tg_optim_step(o, lr);
    }
    float got[4] = {p[0].data[0], p[0].data[1], p[1].data[0], p[1].data[1]};
    for (int i = 0; i < 4; i++)
        if (fabs(got[i] - want[i]) > 1e-6)
            fail_msg("element %d: got %.9f, PyTorch %.9f", i, got[i], want[i]);
    tg_optim_free(o);
    tg_net_free(net);
    tg_graph_free(g);
}

static void test_sgd_nesterov(void **state) {
    (void)state;
    /* SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4) */
    tg_opt_config c = {.kind = TG_OPT_SGD, .momentum = 0.9, .nesterov = 1, .weight_decay = 5e-4};
    run(&c, 0.1, (double[]){0.5088648437130963, -1.0582206624261925, 1.88513881102386,
                            0.07391744619228564});
}

static void test_sgd_plain(void **state) {
    (void)state;
    tg_opt_config c = {.kind = TG_OPT_SGD};
    run(&c, 0.1, (double[]){0.515, -1.03, 1.96, 0.2});
}

static void test_rmsprop(void **state) {
    (void)state;
    /* RMSprop(lr=0.01, alpha=0.9, eps=1e-8, momentum=0.9, weight_decay=1e-4) */
    tg_opt_config c = {.kind = TG_OPT_RMSPROP, .momentum = 0.9, .alpha = 0.9, .eps = 1e-8,
                       .weight_decay = 1e-4};
    run(&c, 0.01, (double[]){0.4162241279071297, -0.975899099559643, 1.9160511461686618,
                             0.11907084250607057});
}

static void test_clip(void **state) {
    (void)state;
    /* SGD(lr=0.1, momentum=0.9) after clip_grad_norm_(params, 0.25) */
    tg_opt_config c = {.kind = TG_OPT_SGD, .momentum = 0.9, .clip_norm = 0.25};
    run(&c, 0.1, (double[]){0.49170934737482547, -0.9853361494050324, 1.9420595912556784,
                            0.22614910351483186});
}

static void test_bad_config(void **state) {
    (void)state;
    tg_graph *g;
    tg_net *net = tiny_net(&g);
    tg_error err;
    tg_opt_config c = {.kind = TG_OPT_SGD, .nesterov = 1};
    assert_null(tg_optim_new(&c, net, &err));
    assert_non_null(strstr(err.msg, "Nesterov needs momentum"));
    c = (tg_opt_config){.kind = TG_OPT_RMSPROP, .alpha = 1.5};
    assert_null(tg_optim_new(&c, net, &err));
    tg_net_free(net);
    tg_graph_free(g);
}

static void test_schedules(void **state) {
    (void)state;
    tg_error err;
    tg_lr_schedule s = {.lr = 0.1};
    assert_int_equal(tg_lr_parse("constant", &s, &err), TG_OK);
    assert_true(tg_lr_at(&s, 0) == 0.1 && tg_lr_at(&s, 1e3) == 0.1);
    /* the paper's layer-wise recipe: divide by 10 every 100 epochs */
    assert_int_equal(tg_lr_parse("step:100:0.1", &s, &err), TG_OK);
    assert_true(fabs(tg_lr_at(&s, 99.9) - 0.1) < 1e-12);
    assert_true(fabs(tg_lr_at(&s, 100) - 0.01) < 1e-12);
    assert_true(fabs(tg_lr_at(&s, 250) - 0.001) < 1e-12);
    /* cosine as torch's CosineAnnealingLR(T_max=total, eta_min=0) */
    assert_int_equal(tg_lr_parse("cosine", &s, &err), TG_OK);
    s.total = 3;
    assert_true(fabs(tg_lr_at(&s, 0) - 0.1) < 1e-12);
    assert_true(fabs(tg_lr_at(&s, 1.5) - 0.05) < 1e-12);
    assert_true(fabs(tg_lr_at(&s, 1) - 0.1 * (1 + cos(M_PI / 3)) / 2) < 1e-12);
    assert_true(fabs(tg_lr_at(&s, 3)) < 1e-12);
    assert_true(fabs(tg_lr_at(&s, 5)) < 1e-12);  /* stays at the floor */
    const char *bad[] = {"linear", "step:0:0.1", "step:10", "step:10:0.1x", ""};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tg_lr_parse(bad[i], &s, &err), TG_ERR_ARG);
        assert_non_null(strstr(err.msg, "step:EPOCHS:GAMMA"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_nesterov), cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_rmsprop),      cmocka_unit_test(test_clip),
        cmocka_unit_test(test_bad_config),   cmocka_unit_test(test_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
