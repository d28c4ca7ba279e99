/* test_evaluator.c - teachers and the evaluator: teacher files round-trip
 * and are refused against other data; a network compared with itself gives
 * TG = 1; a trained ResNet teacher prefers its own earlier checkpoint to an
 * untrained network; the command forms scripts call work end to end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/evaluator.h"
#include "tgsage/models.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static tg_dataset tr, va;
static char dir[256], final_ckpt[512], early_ckpt[512];

/* resnet:1 trained for one epoch on 3000 images, with a checkpoint at 0.1 epoch */
static int setup(void **state) {
    (void)state;
    tg_threads_set(0);
    tg_dataset all;
    tg_error err;
    if (tg_dataset_load("fashion-mnist", "train", &all, &err) != TG_OK) return -1;
    /* as the CLI's --val 500 --train-limit 3000 splits, so that the commands
     * below can name the same data */
    if (tg_dataset_split(&all, 500, 0, &tr, &va, &err) != TG_OK) return -1;
    tg_dataset_free(&all);
    tg_dataset_limit(&tr, 3000);
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    tg_train_config c;
    tg_train_preset("short", &c, &err);
    snprintf(c.net, sizeof c.net, "resnet:1");
    c.epochs = 1, c.batch = 64;
    c.lr = (tg_lr_schedule){.kind = TG_LR_COSINE, .lr = 0.1};
    c.checkpoint_at[0] = 0.1, c.ncheckpoints = 1;
    snprintf(c.out, sizeof c.out, "%s/r.ckpt", dir);
    snprintf(final_ckpt, sizeof final_ckpt, "%s/r.ckpt", dir);
    snprintf(early_ckpt, sizeof early_ckpt, "%s/r@0.1.ckpt", dir);
    tg_train_result res;
    if (tg_train_run(&c, &tr, &va, 0, NULL, &res, &err) != TG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(dir);
    tg_dataset_free(&tr);
    tg_dataset_free(&va);
    return 0;
}

/* Teacher of the final network's L1-L3 on the first 300 validation images. */
static void make_teacher(tg_teacher *t, tg_rdm_unit unit) {
    tg_trained m;
    tg_error err;
    assert_int_equal(tg_trained_load(final_ckpt, 100, "", &m, &err), TG_OK);
    memset(t, 0, sizeof *t);
    t->unit = unit, t->method = TG_SIM_PEARSON, t->max_features = 500, t->seed = 3;
    t->n = 300;
    t->images = malloc(sizeof(int32_t) * 300);
    t->labels = malloc(sizeof(int32_t) * 300);
    for (int i = 0; i < 300; i++) t->images[i] = i, t->labels[i] = va.labels[i];
    int nodes[3] = {tg_graph_find(m.g, "L1"), tg_graph_find(m.g, "L2"), tg_graph_find(m.g, "L3")};
    double *rdms[3];
    int64_t mm;
    assert_int_equal(tg_observe_rdms(m.net, nodes, 3, &va, t->images, 300, unit, 500, 3, rdms,
                                     &mm, &err), TG_OK);
    const char *names[3] = {"L1", "L2", "L3"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tg_teacher_add(t, names[i], rdms[i], mm, &err), TG_OK);
        free(rdms[i]);
    }
    snprintf(t->data_fingerprint, sizeof t->data_fingerprint, "%s", va.fingerprint);
    snprintf(t->data, sizeof t->data, "%s", va.source);
    tg_trained_free(&m);
}

static double tg_of(const char *ckpt, const tg_teacher *t, tg_eval_record *rec) {
    tg_trained m;
    tg_error err;
    if (ckpt) assert_int_equal(tg_trained_load(ckpt, 100, "", &m, &err), TG_OK);
    else {
        /* an untrained resnet:1 */
        memset(&m, 0, sizeof m);
        m.g = tg_model_build("resnet:1", 1, 28, 28, 10, &err);
        tg_rng rng;
        tg_rng_seed(&rng, 77);
        m.net = tg_net_new(m.g, 100, NULL, &rng, &err);
    }
    if (tg_evaluate_candidate(m.net, &va, t, 1.0, rec, &err) != TG_OK) fail_msg("%s", err.msg);
    tg_trained_free(&m);
    return rec->tg;
}

static void test_teacher_file(void **state) {
    (void)state;
    tg_teacher t, u;
    tg_error err;
    make_teacher(&t, TG_RDM_CATEGORY);
    char path[600];
    snprintf(path, sizeof path, "%s/t.teacher", dir);
    assert_int_equal(tg_teacher_save(path, &t, &err), TG_OK);
    assert_int_equal(tg_teacher_load(path, &u, &err), TG_OK);
    assert_true(u.nlayers == 3 && u.m == 10 && u.n == 300 && u.unit == TG_RDM_CATEGORY);
    assert_string_equal(u.names[2], "L3");
    assert_memory_equal(u.rdms[1], t.rdms[1], sizeof(double) * 100);
    assert_int_equal(tg_teacher_check_data(&u, &va, &err), TG_OK);
    /* other data: the training part, or another split */
    assert_int_equal(tg_teacher_check_data(&u, &tr, &err), TG_ERR_ARG);
    print_message("other data: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "made on other data"));
    /* a checkpoint is not a teacher */
    tg_teacher_free(&u);
    assert_int_equal(tg_teacher_load(final_ckpt, &u, &err), TG_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a tgsage teacher file"));
    tg_teacher_free(&u);
    tg_teacher_free(&t);
}

static void test_tg_properties(void **state) {
    (void)state;
    tg_teacher t;
    tg_eval_record *rec = malloc(sizeof *rec);
    make_teacher(&t, TG_RDM_CATEGORY);
    /* the teacher's own network: TG = 1, each layer its own best match */
    double self = tg_of(final_ckpt, &t, rec);
    print_message("TG(self) = %.6f, P = %.3f\n", self, rec->p);
    assert_true(fabs(self - 1) < 1e-9);
    for (int a = 0; a < 3; a++) assert_string_equal(rec->cand_layers[rec->best[a]], t.names[a]);
    assert_true(fabs(rec->score - (rec->p + self)) < 1e-12);
    /* (a) the same network earlier in training beats (b) an untrained one */
    double early = tg_of(early_ckpt, &t, rec), untrained = tg_of(NULL, &t, rec);
    print_message("TG(checkpoint at 0.1 epoch) = %.4f, TG(untrained) = %.4f\n", early,
                  untrained);
    assert_true(early > untrained);
    tg_teacher_free(&t);
    free(rec);
}




static void test_commands(void **state) {
    (void)state;
    char a[4096];
    const char *data = "--train-limit 3000 --val 500";  /* the split of setup() */
    snprintf(a, sizeof a, "features --ckpt %s %s --layers L1,L3 --n 200 -o %s/f", final_ckpt,
             data, dir);
    tu_expect(a, 0, "labels.npy");
    snprintf(a, sizeof a, "rdm --features %s/f/L3.npy --labels %s/f/labels.npy -o %s/l3.npy",
             dir, dir, dir);
    tu_expect(a, 0, "10 x 10 category RDM");
    snprintf(a, sizeof a, "rdm --features %s/f/L1.npy --labels %s/f/labels.npy -o %s/l1.npy "
             "--max-features 300 --seed 2", dir, dir, dir);
    tu_expect(a, 0, "10 x 10");
    /* features and labels of different lengths */
    snprintf(a, sizeof a, "rdm --features %s/f/L1.npy --labels %s/l3.npy -o %s/x.npy", dir,
             dir, dir);
    tu_expect(a, 1, "labels for 200 rows");
    snprintf(a, sizeof a, "compare %s/l3.npy %s/l3.npy", dir, dir);
    tu_expect(a, 0, "1\n");
    snprintf(a, sizeof a, "compare %s/l1.npy %s/l3.npy --method kendall", dir, dir);
    tu_expect(a, 0, "0.");
    snprintf(a, sizeof a, "compare %s/f/L1.npy %s/f/L3.npy --method cka", dir, dir);
    tu_expect(a, 0, "0.");
    snprintf(a, sizeof a, "compare %s/l1.npy %s/f/L1.npy", dir, dir);
    tu_expect(a, 1, "must be square");
    /* teachers from a checkpoint, from recordings with regions, from RDMs */
    snprintf(a, sizeof a, "teacher --ckpt %s --layers L1,L2,L3 %s --n 300 -o %s/ck.teacher",
             final_ckpt, data, dir);
    tu_expect(a, 0, "3 layers (L1, L2, L3)");
    char regions[600];
    snprintf(regions, sizeof regions, "%s/regions.json", dir);
    FILE *f = fopen(regions, "w");
    fprintf(f, "{\"V4\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], \"IT\": [100, 200, 300, 400, "
               "500, 600, 700, 800]}");
    fclose(f);
    snprintf(a, sizeof a, "teacher --features %s/f/L3.npy --labels %s/f/labels.npy --regions %s "
             "--data fashion-mnist %s -o %s/brain.teacher", dir, dir, regions, data, dir);
    tu_expect(a, 0, "2 layers (V4, IT)");
    snprintf(a, sizeof a, "teacher --rdms %s/l1.npy %s/l3.npy -o %s/r.teacher", dir, dir, dir);
    tu_expect(a, 0, "not tied to images");
    /* TG: checkpoint against its own teacher, JSON */
    snprintf(a, sizeof a, "tg --teacher %s/ck.teacher --ckpt %s %s --json --alpha 2", dir,
             final_ckpt, data);
    tu_expect(a, 0, "\"tg\":1");
    assert_non_null(strstr(tu_out, "\"best_candidate_layer\":\"L2\""));
    assert_non_null(strstr(tu_out, "\"score\":"));
    snprintf(a, sizeof a, "tg --teacher %s/brain.teacher --ckpt %s %s", dir, early_ckpt, data);
    tu_expect(a, 0, "score = P + 1*TG");
    snprintf(a, sizeof a, "tg --teacher %s/r.teacher --rdms %s/l3.npy %s/l1.npy --json", dir,
             dir, dir);
    tu_expect(a, 0, "\"tg\":1");
    /* refused: a teacher against other data, RDMs of another size */
    snprintf(a, sizeof a, "tg --teacher %s/ck.teacher --ckpt %s --train-limit 3000 --val 400",
             dir, final_ckpt);
    tu_expect(a, 1, "may not be held out");
    snprintf(a, sizeof a, "tg --teacher %s/ck.teacher --rdms %s/f/L1.npy", dir, dir);
    tu_expect(a, 1, "the teacher's RDMs are 10x10");
    snprintf(a, sizeof a, "teacher --rdms %s/l1.npy", dir);
    tu_expect(a, 2, "give one of --ckpt");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teacher_file),
        cmocka_unit_test(test_tg_properties),
        cmocka_unit_test(test_commands),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
