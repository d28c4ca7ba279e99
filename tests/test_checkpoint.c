/* test_checkpoint.c - checkpoints round-trip exactly; bad files are refused
 * with a clear message and change nothing; a failed save leaves no file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/checkpoint.h"
#include "tgsage/models.h"
#include "tgsage/tensorfile.h"

typedef struct {
    tg_graph *g;
    tg_net *net;
    tg_optim *opt;
} model;

static void make(model *m, const char *spec, uint64_t seed) {
    tg_error err;
    m->g = tg_model_build(spec, 1, 12, 12, 10, &err);
    assert_non_null(m->g);
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    m->net = tg_net_new(m->g, 4, &tg_backend_ref, &rng, &err);
    assert_non_null(m->net);
    tg_opt_config oc = {.kind = TG_OPT_SGD, .momentum = 0.9, .nesterov = 1};
    m->opt = tg_optim_new(&oc, m->net, &err);
    assert_non_null(m->opt);
}

static void drop(model *m) {
    tg_optim_free(m->opt);
    tg_net_free(m->net);
    tg_graph_free(m->g);
}

/* one training step so that BN statistics and momentum are not trivial */
static void step(model *m) {
    float x[4 * 144];
    int32_t y[4] = {1, 2, 3, 4};
    tg_rng r;
    tg_rng_seed(&r, 99);
    tu_fill_uniform(&r, x, 4 * 144, -1, 1);
    tg_error err;
    assert_int_equal(tg_net_forward(m->net, x, 4, 1, &err), TG_OK);
    assert_int_equal(tg_net_loss(m->net, y, NULL, NULL, &err), TG_OK);
    tg_net_backward(m->net);
    tg_optim_step(m->opt, 0.1);
}

static int same_weights(model *a, model *b) {
    int na, nb, sa, sb;
    tg_param *pa = tg_net_params(a->net, &na), *pb = tg_net_params(b->net, &nb);
    tg_param *ta = tg_net_state(a->net, &sa), *tb = tg_net_state(b->net, &sb);
    if (na != nb || sa != sb) return 0;
    for (int i = 0; i < na; i++)
        if (memcmp(pa[i].data, pb[i].data, 4 * pa[i].size)) return 0;
    for (int i = 0; i < sa; i++)
        if (memcmp(ta[i].data, tb[i].data, 4 * ta[i].size)) return 0;
    size_t ca, cb;
    float *oa = tg_optim_state(a->opt, &ca), *ob = tg_optim_state(b->opt, &cb);
    return ca == cb && !memcmp(oa, ob, 4 * ca);
}

static char path[512];

static void test_round_trip(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/a.ckpt", dir);
    model a, b;
    make(&a, "small3", 1);
    make(&b, "small3", 2);
    step(&a);
    assert_false(same_weights(&a, &b));
    tg_error err;
    assert_int_equal(tg_ckpt_save(path, a.net, a.opt, "{\"net\":\"small3\"}", &err), TG_OK);
    char *meta = NULL;
    assert_int_equal(tg_ckpt_load(path, b.net, b.opt, &meta, &err), TG_OK);
    assert_string_equal(meta, "{\"net\":\"small3\"}");
    free(meta);
    assert_true(same_weights(&a, &b));
    /* and training goes on identically from there */
    step(&a);
    step(&b);
    assert_true(same_weights(&a, &b));
    drop(&a);
    drop(&b);
    tu_rmtree(dir);
}

/* Load must fail with `want` in the message and leave b untouched. */
static void expect_refused(const char *file, model *b, const char *want) {
    model copy;
    make(&copy, "small3", 2);
    tg_error err;
    tg_status st = tg_ckpt_load(file, b->net, b->opt, NULL, &err);
    assert_int_not_equal(st, TG_OK);
    print_message("refused: %s\n", err.msg);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
    assert_true(same_weights(b, &copy));
    drop(&copy);
}

static void test_bad_files_refused(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char good[512], bad[600];
    snprintf(good, sizeof good, "%s/good.ckpt", dir);
    model a, b;
    make(&a, "small3", 1);
    make(&b, "small3", 2);
    step(&a);
    tg_error err;
    assert_int_equal(tg_ckpt_save(good, a.net, a.opt, "m", &err), TG_OK);
    FILE *f = fopen(good, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *buf = malloc(n);
    assert_int_equal(fread(buf, 1, n, f), (size_t)n);
    fclose(f);

    /* truncated at several points, including inside the header */
    long cuts[] = {0, 5, 20, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        snprintf(bad, sizeof bad, "%s/cut%ld.ckpt", dir, cuts[i]);
        assert_int_equal(tu_write_file(bad, buf, cuts[i]), 0);
        expect_refused(bad, &b, cuts[i] < 8 ? "magic" : "trunc");
    }
    /* a flipped byte in the data */
    buf[n / 2] ^= 0x40;
    snprintf(bad, sizeof bad, "%s/flip.ckpt", dir);
    tu_write_file(bad, buf, n);
    expect_refused(bad, &b, "checksum");
    buf[n / 2] ^= 0x40;
    /* a foreign file */
    snprintf(bad, sizeof bad, "%s/foreign.ckpt", dir);
    const char *zip = "PK\x03\x04 not a checkpoint at all, a zip perhaps";
    tu_write_file(bad, zip, strlen(zip));
    expect_refused(bad, &b, "not a tgsage tensor file");
    /* another network */
    model r;
    make(&r, "resnet:1", 1);
    snprintf(bad, sizeof bad, "%s/resnet.ckpt", dir);
    assert_int_equal(tg_ckpt_save(bad, r.net, r.opt, "m", &err), TG_OK);
    expect_refused(bad, &b, "n");
    drop(&r);
    /* missing */
    snprintf(bad, sizeof bad, "%s/none.ckpt", dir);
    expect_refused(bad, &b, "No such file");
    free(buf);
    drop(&a);
    drop(&b);
    tu_rmtree(dir);
}

static void test_failed_save_leaves_old_file(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char file[512];
    snprintf(file, sizeof file, "%s/c.ckpt", dir);
    model a;
    make(&a, "small3", 1);
    tg_error err;
    assert_int_equal(tg_ckpt_save(file, a.net, NULL, "old", &err), TG_OK);
    /* a directory where the temporary file would go makes the save fail */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", file, (long)getpid()); /* fileio.h's name */
    assert_int_equal(mkdir(tmp, 0700), 0);
    step(&a);
    assert_int_not_equal(tg_ckpt_save(file, a.net, NULL, "new", &err), TG_OK);
    print_message("failed save: %s\n", err.msg);
    char *meta = NULL;
    assert_int_equal(tg_ckpt_load(file, a.net, NULL, &meta, &err), TG_OK);
    assert_string_equal(meta, "old");
    free(meta);
    /* a full disk: a file size limit makes the write itself fail midway */
    assert_int_equal(rmdir(tmp), 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim = {4096, 4096};
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    tg_status st = tg_ckpt_save(file, a.net, NULL, "new", &err);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_int_not_equal(st, TG_OK);
    print_message("disk full: %s\n", err.msg);
    assert_int_equal(access(tmp, F_OK), -1);  /* the partial file is removed */
    assert_int_equal(tg_ckpt_load(file, a.net, NULL, &meta, &err), TG_OK);
    assert_string_equal(meta, "old");
    free(meta);
    drop(&a);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_files_refused),
        cmocka_unit_test(test_failed_save_leaves_old_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
