/* test_train.c - training learns, deterministically; checkpoints at points;
 * a stopped run resumes to the same result; divergence is reported.
 *
 * The engine issue's bar: ResNet-8 (resnet:1), 2 epochs on 10,000
 * Fashion-MNIST training images, batch 32, SGD Nesterov 0.9, lr 0.03,
 * weight decay 5e-4, per-image standardisation, no augmentation, must
 * reach >= 78% on 2,000 held-out images (the test split) in evaluation
 * mode. PyTorch 1.13 with that recipe: 81-82%. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/tensorfile.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static void load(tg_dataset *d, const char *split, int64_t limit) {
    tg_error err;
    if (tg_dataset_load("fashion-mnist", split, d, &err) != TG_OK) fail_msg("%s", err.msg);
    tg_dataset_limit(d, limit);
}

static tg_train_config recipe(const char *net, double epochs, int batch, double lr) {
    tg_train_config c;
    tg_error err;
    assert_int_equal(tg_train_preset("short", &c, &err), TG_OK);
    snprintf(c.net, sizeof c.net, "%s", net);
    c.epochs = epochs, c.batch = batch;
    c.lr = (tg_lr_schedule){.kind = TG_LR_CONSTANT, .lr = lr};
    return c;
}

static void test_resnet8_learns(void **state) {
    (void)state;
    tg_dataset tr, va;
    load(&tr, "train", 10000);
    load(&va, "test", 2000);
    tg_train_config c = recipe("resnet:1", 2, 32, 0.03);
    c.augment = 0;
    tg_train_result res;
    tg_error err;
    assert_int_equal(tg_train_run(&c, &tr, &va, 0, NULL, &res, &err), TG_OK);
    print_message("resnet:1, 2 epochs on 10000: held-out accuracy %.4f, loss %.4f, "
                  "%.0f img/s\n", res.final.val_acc, res.final.val_loss, res.last.img_s);
    assert_int_equal(res.state, TG_RUN_DONE);
    assert_int_equal(res.last.step, 2 * 313);
    assert_true(res.final.val_acc >= 0.78);
    tg_dataset_free(&tr);
    tg_dataset_free(&va);
}

/* Bitwise comparison of the parameters and BN state of two checkpoints. */
static int same_checkpoints(const char *a, const char *b) {
    tg_tensor_file fa, fb;
    tg_error err;
    assert_int_equal(tg_tfile_read(a, &fa, &err), TG_OK);
    assert_int_equal(tg_tfile_read(b, &fb, &err), TG_OK);
    int same = fa.n == fb.n;
    for (int i = 0; same && i < fa.n; i++)
        same = !strcmp(fa.t[i].name, fb.t[i].name) && fa.t[i].count == fb.t[i].count &&
               !memcmp(fa.t[i].data, fb.t[i].data, 4 * fa.t[i].count);
    tg_tfile_free(&fa);
    tg_tfile_free(&fb);
    return same;
}

static int stop_at;
static int stop_after(const tg_train_progress *p, void *user) {
    (void)user;
    return p->step == stop_at;
}

static int npoints;
static double point_acc[8];
static void count_point(const tg_train_point *p, void *user) {
    (void)user;
    if (npoints < 8) point_acc[npoints] = p->val_acc;
    npoints++;
    assert_true(p->path[0] == '\0' || access(p->path, R_OK) == 0);
}

static void test_deterministic_and_resumable(void **state) {
    (void)state;
    tg_dataset tr, va;
    load(&tr, "train", 1024);
    load(&va, "test", 256);
    const char *dir = tu_tmpdir();
    char a[512], b[512], a2[512], pa[600], pb[600];
    snprintf(a, sizeof a, "%s/a.ckpt", dir);
    snprintf(a2, sizeof a2, "%s/a2.ckpt", dir);
    snprintf(b, sizeof b, "%s/b.ckpt", dir);
    tg_train_config c = recipe("small3", 1.5, 32, 0.05);
    c.lr.kind = TG_LR_COSINE;  /* the schedule must resume too */
    c.checkpoint_at[0] = 0.5, c.checkpoint_at[1] = 1, c.ncheckpoints = 2;
    tg_train_hooks hooks = {NULL, count_point, NULL, NULL};
    tg_train_result res;
    tg_error err;
    /* uninterrupted, twice: bit-identical, with the points written */
    snprintf(c.out, sizeof c.out, "%s", a);
    npoints = 0;
    assert_int_equal(tg_train_run(&c, &tr, &va, 0, &hooks, &res, &err), TG_OK);
    assert_int_equal(npoints, 3);  /* 0.5, 1 and the end */
    assert_true(point_acc[2] > 0.3);  /* learned something in 1.5 epochs */
    snprintf(pa, sizeof pa, "%s/a@0.5.ckpt", dir);
    assert_int_equal(access(pa, R_OK), 0);
    snprintf(pa, sizeof pa, "%s/a@1.ckpt", dir);
    assert_int_equal(access(pa, R_OK), 0);
    snprintf(pa, sizeof pa, "%s.resume", a);
    assert_int_equal(access(pa, F_OK), -1);  /* finished runs leave no resume file */
    snprintf(c.out, sizeof c.out, "%s", a2);
    assert_int_equal(tg_train_run(&c, &tr, &va, 0, NULL, &res, &err), TG_OK);
    assert_true(same_checkpoints(a, a2));
    /* stopped after step 37 (mid-epoch, past the 0.5 point), then resumed */
    snprintf(c.out, sizeof c.out, "%s", b);
    stop_at = 37;
    tg_train_hooks stopper = {stop_after, NULL, NULL, NULL};
    assert_int_equal(tg_train_run(&c, &tr, &va, 0, &stopper, &res, &err), TG_OK);
    assert_int_equal(res.state, TG_RUN_STOPPED);
    assert_int_equal(res.last.step, 37);
    snprintf(pb, sizeof pb, "%s.resume", b);
    assert_string_equal(res.resume_path, pb);
    assert_int_equal(tg_train_run(&c, &tr, &va, 1, NULL, &res, &err), TG_OK);
    assert_int_equal(res.state, TG_RUN_DONE);
    assert_true(res.resumed);
    assert_true(same_checkpoints(a, b));
    snprintf(pa, sizeof pa, "%s/b@1.ckpt", dir);
    snprintf(pb, sizeof pb, "%s/a@1.ckpt", dir);
    assert_true(same_checkpoints(pa, pb));
    /* resuming a finished run, or with another seed, is refused */
    assert_int_not_equal(tg_train_run(&c, &tr, &va, 1, NULL, &res, &err), TG_OK);
    print_message("no resume file: %s\n", err.msg);
    stop_at = 5;
    assert_int_equal(tg_train_run(&c, &tr, &va, 0, &stopper, &res, &err), TG_OK);
    c.seed = 99;
    assert_int_equal(tg_train_run(&c, &tr, &va, 1, NULL, &res, &err), TG_ERR_ARG);
    print_message("other seed: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "seed"));
    /* a stop flag (as set by a signal handler) stops before the next step */
    volatile sig_atomic_t flag = 1;
    tg_train_hooks sig = {NULL, NULL, NULL, &flag};
    c.seed = 1;
    assert_int_equal(tg_train_run(&c, &tr, &va, 0, &sig, &res, &err), TG_OK);
    assert_int_equal(res.state, TG_RUN_STOPPED);
    assert_int_equal(res.last.step, 0);
    tu_rmtree(dir);
    tg_dataset_free(&tr);
    tg_dataset_free(&va);
}

static void test_divergence_is_reported(void **state) {
    (void)state;
    tg_dataset tr, va;
    load(&tr, "train", 512);
    load(&va, "test", 64);
    const char *dir = tu_tmpdir();
    tg_train_config c = recipe("small3", 3, 32, 1e6);
    snprintf(c.out, sizeof c.out, "%s/x.ckpt", dir);
    tg_train_result res;
    tg_error err;
    assert_int_equal(tg_train_run(&c, &tr, &va, 0, NULL, &res, &err), TG_ERR_NUMERIC);
    print_message("divergence: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "diverged"));
    assert_non_null(strstr(err.msg, "step"));
    assert_int_equal(access(c.out, F_OK), -1);  /* no garbage checkpoint */
    tu_rmtree(dir);
    tg_dataset_free(&tr);
    tg_dataset_free(&va);
}

static void test_bad_config(void **state) {
    (void)state;
    tg_dataset tr, va;
    load(&tr, "train", 256);
    load(&va, "test", 64);
    tg_train_result res;
    tg_error err;
    tg_train_config c = recipe("small3", 1, 32, 0.1);
    c.checkpoint_at[0] = 2, c.ncheckpoints = 1;
    assert_int_equal(tg_train_run(&c, &tr, &va, 0, NULL, &res, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "within the 1 epochs"));
    c = recipe("vgg", 1, 32, 0.1);
    assert_int_not_equal(tg_train_run(&c, &tr, &va, 0, NULL, &res, &err), TG_OK);
    assert_non_null(strstr(err.msg, "unknown net 'vgg'"));
    assert_int_equal(tg_train_preset("fast", &c, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "layerwise, cell, short"));
    tg_dataset_free(&tr);
    tg_dataset_free(&va);
}

int main(void) {
    tg_threads_set(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_divergence_is_reported),
        cmocka_unit_test(test_deterministic_and_resumable),
        cmocka_unit_test(test_resnet8_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
