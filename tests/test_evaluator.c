/* test_evaluator.c - teachers and the evaluator: teacher files round-trip
 * and are refused against other data; TG reduced from hand-made
 * similarities and RDMs; teachers from recordings with regions (the
 * library call, its column selection and its refusals); a network compared
 * with itself gives TG = 1; a trained ResNet teacher prefers its own
 * earlier checkpoint to an untrained network; the candidate RDMs kept
 * cropped are the teacher's own for the teacher's network; the command forms scripts
 * call give the values the library computes. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/evaluator.h"
#include "tgsage/models.h"
#include "tgsage/npy.h"
#include "tgsage/rng.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static tg_dataset tr, va;
static char dir[256], final_ckpt[512], early_ckpt[512];

/* resnet:1 trained for one epoch on 3000 images, with a checkpoint at 0.1 epoch */
static int setup(void **state) {
    (void)state;
    tg_threads_set(0);
    tg_error err;
    tg_train_config c;
    tg_train_preset("short", &c, &err);
    /* as the CLI's --val 500 --train-limit 3000 splits, and recorded in the
     * checkpoints, so that the commands below can name the same split */
    if (tg_split_load("fashion-mnist", 500, 0, 3000, 0, &tr, &va, &c.split, &err) != TG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
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
    assert_int_equal(tg_teacher_tie(t, &va, va.labels, 300, &err), TG_OK);
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
    tg_trained_free(&m);
}

/* Evaluate a checkpoint (NULL: an untrained resnet:1) into rec; its TG. */
static double tg_of(const char *ckpt, const tg_teacher *t, tg_eval_record *rec) {
    tg_trained m;
    tg_error err;
    if (ckpt) assert_int_equal(tg_trained_load(ckpt, 100, "", &m, &err), TG_OK);
    else {
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

/* TG from a similarity matrix, by hand; and a record of hand-made RDMs. */
static void test_tg_reduction(void **state) {
    (void)state;
    tg_error err;
    /* rows: teacher layers; columns: candidate layers */
    const double sim[2 * 3] = {0.2, 0.5, 0.5, -0.1, -0.3, -0.2};
    int best[2];
    double best_r[2], tg;
    assert_int_equal(tg_tg_max_mean(sim, 2, 3, &tg, best, best_r, &err), TG_OK);
    assert_int_equal(best[0], 1);  /* 0.5 twice: the lower index wins */
    assert_int_equal(best[1], 0);
    assert_true(best_r[0] == 0.5 && best_r[1] == -0.1);
    assert_true(fabs(tg - 0.2) < 1e-15);
    const double bad[2] = {0.3, NAN};
    assert_int_equal(tg_tg_max_mean(bad, 1, 2, &tg, NULL, NULL, &err), TG_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "teacher layer 0 and candidate layer 1"));
    assert_int_equal(tg_tg_max_mean(sim, 0, 3, &tg, NULL, NULL, &err), TG_ERR_ARG);

    /* RDMs of 6 items: teacher T0, T1; candidates S0 = T1, S1 near T0,
     * S2 = T1 again (a tie with S0) */
    enum { M = 6 };
    double T0[M * M], T1[M * M], S1[M * M];
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    for (int i = 0; i < M; i++)
        for (int j = i; j < M; j++) {
            double a = i == j ? 0 : tg_rng_uniform(&rng), b = i == j ? 0 : tg_rng_uniform(&rng);
            double c = i == j ? 0 : a + 0.3 * tg_rng_uniform(&rng);
            T0[i * M + j] = T0[j * M + i] = a;
            T1[i * M + j] = T1[j * M + i] = b;
            S1[i * M + j] = S1[j * M + i] = c;
        }
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.method = TG_SIM_SPEARMAN;
    assert_int_equal(tg_teacher_add(&t, "T0", T0, M, &err), TG_OK);
    assert_int_equal(tg_teacher_add(&t, "T1", T1, M, &err), TG_OK);
    const double *S[3] = {T1, S1, T1};
    const char *names[3] = {"s0", "s1", "s2"};
    tg_eval_record rec;
    assert_int_equal(tg_eval_rdms(&t, S, names, 3, M, 2.0, &rec, &err), TG_OK);
    assert_int_equal(rec.nteacher, 2);
    assert_int_equal(rec.ncand, 3);
    assert_string_equal(rec.teacher_layers[1], "T1");
    assert_string_equal(rec.cand_layers[2], "s2");
    for (int a = 0; a < 2; a++)
        for (int s = 0; s < 3; s++) {
            double r;
            assert_int_equal(tg_rdm_similarity(S[s], t.rdms[a], M, TG_SIM_SPEARMAN, &r, &err),
                             TG_OK);
            assert_true(fabs(rec.sim[a * 3 + s] - r) < 1e-12);
        }
    assert_int_equal(rec.best[1], 0);
    assert_true(fabs(rec.best_r[1] - 1) < 1e-12);
    assert_int_equal(rec.best[0], 1);
    print_message("TG of hand-made RDMs: r(T0, S1) = %.4f, TG = %.4f\n", rec.best_r[0], rec.tg);
    assert_true(rec.best_r[0] > 0.5 && rec.best_r[0] < 1);
    assert_true(fabs(rec.tg - (rec.best_r[0] + 1) / 2) < 1e-12);
    assert_true(fabs(rec.score - 2 * rec.tg) < 1e-12 && rec.p == 0);
    tg_eval_record_free(&rec);
    tg_eval_record_free(&rec);  /* a zeroed record: nothing */
    assert_int_equal(tg_eval_rdms(&t, S, names, 3, M - 1, 1.0, &rec, &err), TG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "candidate RDMs of 5 items, the teacher's of 6"));
    assert_null(rec.sim);
    tg_teacher_free(&t);
}

/* Teachers from recordings: regions pick their columns, errors name the
 * region and the entry, a failed call leaves the teacher as it was. */
static void test_teacher_recordings(void **state) {
    (void)state;
    enum { N = 12, U = 10 };
    float F[N * U], G[N * 3];
    int32_t labels[N];
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tu_fill_uniform(&rng, F, N * U, -1, 1);
    /* region "A" is columns 7, 2, 4 in that order: G holds them */
    const int cols[3] = {7, 2, 4};
    for (int i = 0; i < N; i++) {
        labels[i] = i % 4;
        for (int q = 0; q < 3; q++) G[i * 3 + q] = F[i * U + cols[q]];
    }
    tg_teacher t;
    tg_error err;
    memset(&t, 0, sizeof t);
    t.unit = TG_RDM_IMAGE, t.max_features = 0, t.seed = 9;
    assert_int_equal(tg_teacher_from_recordings(&t, F, N, U, labels,
                                                "{\"A\": [7, 2, 4], \"B\": [0, 1, 3, 5, 9]}",
                                                "r.json", NULL, &err), TG_OK);
    assert_int_equal(t.nlayers, 2);
    assert_string_equal(t.names[0], "A");
    assert_string_equal(t.names[1], "B");
    assert_int_equal(t.m, N);
    double *want;
    int64_t m;
    assert_int_equal(tg_rdm_compute(G, N, 3, labels, TG_RDM_IMAGE, 0, 0, &want, &m, &err), TG_OK);
    assert_int_equal(m, N);
    for (int i = 0; i < N * N; i++) assert_true(fabs(t.rdms[0][i] - want[i]) < 1e-12);
    free(want);
    /* no regions: one layer of every unit, named as asked */
    tg_teacher one;
    memset(&one, 0, sizeof one);
    one.unit = TG_RDM_CATEGORY;
    assert_int_equal(tg_teacher_from_recordings(&one, F, N, U, labels, NULL, NULL, "IT", &err),
                     TG_OK);
    assert_true(one.nlayers == 1 && one.m == 4);
    assert_string_equal(one.names[0], "IT");
    assert_int_equal(tg_rdm_compute(F, N, U, labels, TG_RDM_CATEGORY, 0, 0, &want, &m, &err),
                     TG_OK);
    for (int i = 0; i < 16; i++) assert_true(fabs(one.rdms[0][i] - want[i]) < 1e-12);
    free(want);
    tg_teacher_free(&one);
    /* a subsample of 2 of region B's 5 units: seeded, so reproducible */
    tg_teacher s1, s2;
    memset(&s1, 0, sizeof s1), memset(&s2, 0, sizeof s2);
    s1.unit = s2.unit = TG_RDM_IMAGE, s1.max_features = s2.max_features = 2;
    s1.seed = s2.seed = 4;
    const char *rb = "{\"B\": [0, 1, 3, 5, 9]}";
    assert_int_equal(tg_teacher_from_recordings(&s1, F, N, U, labels, rb, "r", NULL, &err), TG_OK);
    assert_int_equal(tg_teacher_from_recordings(&s2, F, N, U, labels, rb, "r", NULL, &err), TG_OK);
    assert_memory_equal(s1.rdms[0], s2.rdms[0], sizeof(double) * N * N);
    assert_memory_not_equal(s1.rdms[0], t.rdms[1], sizeof(double) * N * N);
    tg_teacher_free(&s1), tg_teacher_free(&s2);

    /* refusals: the teacher keeps its two layers */
    const struct { const char *json, *want; } bad[] = {
        {"[1, 2]", "r.json: expected a JSON object of region names"},
        {"{\"V4\": [0, 99]}", "region 'V4': entry 1 is not a unit index in [0,10)"},
        {"{\"V4\": [0, 1.5]}", "region 'V4': entry 1 is not a unit index"},
        {"{\"V4\": [3, 4, 3]}", "region 'V4': unit 3 appears twice (again at entry 2)"},
        {"{\"V4\": []}", "region 'V4' is not a non-empty list"},
        {"{\"V4\": [0], \"IT\": 5}", "region 'IT' is not a non-empty list"},
        {"{\"A\": [0, 1]}", "two layers named A"},
        {"{\"this-region-name-is-far-too-long-for-a-teacher-layer-name-really\": [0]}",
         "is longer than 63 bytes"},
        {"{\"V4\": [0, 1]", "r.json: expected a JSON object"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_not_equal(tg_teacher_from_recordings(&t, F, N, U, labels, bad[k].json,
                                                        "r.json", NULL, &err), TG_OK);
        if (!strstr(err.msg, bad[k].want))
            fail_msg("regions %s: message '%s' lacks '%s'", bad[k].json, err.msg, bad[k].want);
        assert_int_equal(t.nlayers, 2);
    }
    assert_int_equal(tg_teacher_from_recordings(&t, F, 2, U, labels, NULL, NULL, "x", &err),
                     TG_ERR_ARG);
    /* tied to the first images of a split, proven by the labels */
    assert_int_equal(tg_teacher_tie(&t, &va, labels, N, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "differs from image"));
    assert_int_equal(tg_teacher_tie(&t, &va, va.labels, va.n + 1, &err), TG_ERR_SHAPE);
    assert_int_equal(tg_teacher_tie(&t, &va, va.labels, N, &err), TG_OK);
    assert_true(t.n == N && t.images[N - 1] == N - 1 && t.labels[3] == va.labels[3]);
    assert_string_equal(t.data_fingerprint, va.fingerprint);
    tg_teacher_free(&t);
}

static void test_tg_properties(void **state) {
    (void)state;
    tg_teacher t;
    tg_eval_record rec;
    make_teacher(&t, TG_RDM_CATEGORY);
    /* the teacher's own network: TG = 1, each layer its own best match */
    double self = tg_of(final_ckpt, &t, &rec);
    print_message("TG(self) = %.6f, P = %.3f\n", self, rec.p);
    assert_true(fabs(self - 1) < 1e-9);
    assert_int_equal(rec.nteacher, 3);
    assert_int_equal(rec.ncand, 3);
    for (int a = 0; a < 3; a++) {
        assert_string_equal(rec.cand_layers[rec.best[a]], t.names[a]);
        assert_true(fabs(rec.sim[a * 3 + a] - 1) < 1e-9);
    }
    assert_true(rec.p > 0.3 && rec.p <= 1);  /* trained: well above chance (0.1) */
    assert_true(fabs(rec.score - (rec.p + self)) < 1e-12);
    tg_eval_record_free(&rec);
    /* (a) the same network earlier in training beats (b) an untrained one */
    double early = tg_of(early_ckpt, &t, &rec);
    tg_eval_record_free(&rec);
    double untrained = tg_of(NULL, &t, &rec);
    tg_eval_record_free(&rec);
    print_message("TG(checkpoint at 0.1 epoch) = %.4f, TG(untrained) = %.4f\n", early,
                  untrained);
    assert_true(early > untrained);
    tg_teacher_free(&t);
}

/* The cropped candidate RDMs: the teacher's own network on the teacher's
 * images reproduces the teacher's RDMs, so each kept block is the top-left
 * block of the teacher layer of the same name; k = min(crop, m); crop 0
 * keeps none (and is what tg_evaluate_candidate does). */
static void test_rdm_crop(void **state) {
    (void)state;
    tg_teacher t;
    tg_error err;
    make_teacher(&t, TG_RDM_IMAGE);  /* m = 300 images */
    tg_trained m;
    assert_int_equal(tg_trained_load(final_ckpt, 100, "", &m, &err), TG_OK);
    const int64_t crops[3] = {7, 40, 0};
    for (int c = 0; c < 3; c++) {
        tg_eval_record rec;
        if (tg_evaluate_candidate_crop(m.net, &va, &t, 1.0, crops[c], &rec, &err) != TG_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(rec.crop, crops[c]);
        assert_int_equal(rec.ncand, 3);
        if (crops[c] == 0) assert_null(rec.rdm_crop);
        const int64_t k = rec.crop;
        for (int s = 0; s < rec.ncand && k > 0; s++) {
            int a = 0;
            while (a < t.nlayers && strcmp(t.names[a], rec.cand_layers[s]) != 0) a++;
            assert_true(a < t.nlayers);
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = 0; j < k; j++) {
                    const double got = rec.rdm_crop[((size_t)s * k + i) * k + j];
                    assert_true(fabs(got - t.rdms[a][i * t.m + j]) < 1e-12);
                    if (i == j) assert_true(got == 0);
                }
        }
        /* the rest of the record is tg_evaluate_candidate's */
        assert_true(fabs(rec.tg - 1) < 1e-9);
        tg_eval_record plain;
        if (tg_evaluate_candidate(m.net, &va, &t, 1.0, &plain, &err) != TG_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(plain.crop, 0);
        assert_null(plain.rdm_crop);
        assert_true(plain.p == rec.p && plain.tg == rec.tg);
        assert_memory_equal(plain.sim, rec.sim, sizeof(double) * 9);
        assert_memory_equal(plain.best, rec.best, sizeof(int) * 3);
        assert_string_equal(plain.cand_layers[2], rec.cand_layers[2]);
        tg_eval_record_free(&plain);
        tg_eval_record_free(&rec);
        assert_null(rec.sim);
    }
    /* category RDMs (m = 10): a crop of 40 keeps all of each */
    tg_teacher_free(&t);
    make_teacher(&t, TG_RDM_CATEGORY);
    tg_eval_record rec;
    if (tg_evaluate_candidate_crop(m.net, &va, &t, 1.0, 40, &rec, &err) != TG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(rec.crop, 10);
    assert_string_equal(rec.cand_layers[2], t.names[2]);
    assert_memory_equal(rec.rdm_crop + 2 * 100, t.rdms[2], sizeof(double) * 100);
    tg_eval_record_free(&rec);
    assert_int_equal(tg_evaluate_candidate_crop(m.net, &va, &t, 1.0, -1, &rec, &err),
                     TG_ERR_ARG);
    assert_null(rec.sim);
    tg_trained_free(&m);
    tg_teacher_free(&t);
}

/* ---- the commands ------------------------------------------------------- */

/* The last line of tu_out that is a JSON object, parsed (the caller frees). */
static cJSON *out_json(void) {
    cJSON *j = NULL;
    for (char *line = tu_out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (*line == '{') {
            char *s = strndup(line, strcspn(line, "\n"));
            cJSON_Delete(j);
            j = cJSON_Parse(s);
            free(s);
        }
    if (!j) fail_msg("no JSON object in the output:\n%s", tu_out);
    return j;
}

static double num(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) fail_msg("JSON has no number '%s':\n%s", key, tu_out);
    return v->valuedouble;
}

/* The number `tgsage compare` printed. */
static double printed(void) {
    char *end;
    double v = strtod(tu_out, &end);
    if (end == tu_out || *end != '\n') fail_msg("not a number: %s", tu_out);
    return v;
}

static void read_f64(const char *path, tg_npy *a) {
    tg_error err;
    if (tg_npy_read(path, a, &err) != TG_OK) fail_msg("%s", err.msg);
}

/* TG and P of a teacher file and a checkpoint, in-process (the reference
 * for `tgsage tg`). */
static void reference_tg(const char *teacher, const char *ckpt, double *tg, double *p) {
    tg_teacher t;
    tg_error err;
    assert_int_equal(tg_teacher_load(teacher, &t, &err), TG_OK);
    tg_eval_record rec;
    *tg = tg_of(ckpt, &t, &rec);
    *p = rec.p;
    tg_eval_record_free(&rec);
    tg_teacher_free(&t);
}

static void test_commands(void **state) {
    (void)state;
    char a[4096], p1[600], p3[600];
    const char *data = "--val 500";  /* the split of setup(), any training limit */
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
    assert_true(printed() == 1);
    /* compare prints what the library computes on the same files */
    tg_npy r1, r3, f1, f3;
    tg_error err;
    snprintf(p1, sizeof p1, "%s/l1.npy", dir);
    snprintf(p3, sizeof p3, "%s/l3.npy", dir);
    read_f64(p1, &r1), read_f64(p3, &r3);
    double want;
    assert_int_equal(tg_rdm_similarity(r1.data, r3.data, 10, TG_SIM_KENDALL, &want, &err), TG_OK);
    snprintf(a, sizeof a, "compare %s %s --method kendall", p1, p3);
    tu_expect(a, 0, "\n");
    print_message("kendall(L1, L3) = %.6f (library %.6f)\n", printed(), want);
    assert_true(fabs(printed() - want) < 1e-9 && fabs(want) < 1);
    snprintf(p1, sizeof p1, "%s/f/L1.npy", dir);
    snprintf(p3, sizeof p3, "%s/f/L3.npy", dir);
    read_f64(p1, &f1), read_f64(p3, &f3);
    assert_true(f1.dtype == TG_NPY_F32 && f1.shape[0] == 200 && f1.shape[1] == 16 * 28 * 28);
    assert_int_equal(tg_cka_linear(f1.data, f1.shape[1], f3.data, f3.shape[1], 200, &want, &err),
                     TG_OK);
    snprintf(a, sizeof a, "compare %s %s --method cka", p1, p3);
    tu_expect(a, 0, "\n");
    print_message("CKA(L1, L3) = %.6f (library %.6f)\n", printed(), want);
    assert_true(fabs(printed() - want) < 1e-8 && want > 0 && want < 1);
    tg_npy_free(&r1), tg_npy_free(&r3), tg_npy_free(&f1), tg_npy_free(&f3);
    snprintf(a, sizeof a, "compare %s/l1.npy %s/f/L1.npy", dir, dir);
    tu_expect(a, 1, "must be square");

    /* teachers from a checkpoint, from recordings with regions, from RDMs */
    snprintf(a, sizeof a, "teacher --ckpt %s --layers L1,L2,L3 %s --n 300 -o %s/ck.teacher",
             final_ckpt, data, dir);
    tu_expect(a, 0, "3 layers (L1, L2, L3)");
    char regions[600];
    snprintf(regions, sizeof regions, "%s/regions.json", dir);
    const char *rj = "{\"V4\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], \"IT\": [100, 200, 300, "
                     "400, 500, 600, 700, 800]}";
    assert_int_equal(tu_write_file(regions, rj, strlen(rj)), 0);
    snprintf(a, sizeof a, "teacher --features %s/f/L3.npy --labels %s/f/labels.npy --regions %s "
             "--data fashion-mnist %s -o %s/brain.teacher --json", dir, dir, regions, data, dir);
    tu_expect(a, 0, "\"layers\":[\"V4\",\"IT\"]");
    cJSON *j = out_json();
    assert_int_equal(num(j, "images"), 200);
    assert_int_equal(num(j, "items"), 10);
    cJSON_Delete(j);
    snprintf(a, sizeof a, "teacher --rdms %s/l1.npy %s/l3.npy -o %s/r.teacher", dir, dir, dir);
    tu_expect(a, 0, "not tied to images");
    /* a bad region and a regions file over the limit: refused, named */
    const char *bad = "{\"V4\": [0, 3136]}";
    assert_int_equal(tu_write_file(regions, bad, strlen(bad)), 0);
    snprintf(a, sizeof a, "teacher --features %s/f/L3.npy --labels %s/f/labels.npy --regions %s "
             "-o %s/x.teacher", dir, dir, regions, dir);
    tu_expect(a, 1, "regions.json: region 'V4': entry 1 is not a unit index in [0,3136)");
    assert_int_equal(truncate(regions, (17 << 20) + 5), 0);
    tu_expect(a, 1, "regions.json");
    assert_non_null(strstr(tu_out, "16 MiB"));

    /* TG: the checkpoint against its own teacher, JSON: 1, each layer its
     * own best match, P as the evaluator computes it */
    char teacher[600];
    snprintf(teacher, sizeof teacher, "%s/ck.teacher", dir);
    double ref_tg, ref_p;
    reference_tg(teacher, final_ckpt, &ref_tg, &ref_p);
    snprintf(a, sizeof a, "tg --teacher %s --ckpt %s %s --json --alpha 2", teacher, final_ckpt,
             data);
    tu_expect(a, 0, "\"per_teacher\"");
    j = out_json();
    double tgv = num(j, "tg"), p = num(j, "p");
    print_message("tg self: TG %.9f, P %.4f (library %.4f)\n", tgv, p, ref_p);
    assert_true(fabs(tgv - 1) < 1e-9);
    assert_true(fabs(p - ref_p) < 1e-12 && p > 0.3);
    assert_true(fabs(num(j, "score") - (p + 2 * tgv)) < 1e-12);
    const cJSON *pt = cJSON_GetObjectItem(j, "per_teacher");
    assert_int_equal(cJSON_GetArraySize(pt), 3);
    for (int k = 0; k < 3; k++) {
        const cJSON *o = cJSON_GetArrayItem(pt, k);
        assert_string_equal(cJSON_GetObjectItem(o, "teacher_layer")->valuestring,
                            cJSON_GetObjectItem(o, "best_candidate_layer")->valuestring);
        assert_true(fabs(num(o, "r") - 1) < 1e-9);
    }
    const cJSON *sim = cJSON_GetObjectItem(j, "similarities");
    assert_int_equal(cJSON_GetArraySize(sim), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(sim, 0)), 3);
    cJSON_Delete(j);
    /* the brain teacher and the early checkpoint: the library's TG and P */
    snprintf(teacher, sizeof teacher, "%s/brain.teacher", dir);
    reference_tg(teacher, early_ckpt, &ref_tg, &ref_p);
    snprintf(a, sizeof a, "tg --teacher %s --ckpt %s %s --json", teacher, early_ckpt, data);
    tu_expect(a, 0, "\"per_teacher\"");
    j = out_json();
    print_message("tg brain/early: TG %.6f (library %.6f), P %.4f\n", num(j, "tg"), ref_tg,
                  num(j, "p"));
    assert_true(fabs(num(j, "tg") - ref_tg) < 1e-12 && fabs(num(j, "p") - ref_p) < 1e-12);
    assert_true(ref_tg > -1 && ref_tg < 1);
    cJSON_Delete(j);
    snprintf(a, sizeof a, "tg --teacher %s --ckpt %s %s", teacher, early_ckpt, data);
    tu_expect(a, 0, "score = P + 1*TG");
    /* candidate RDMs against the teacher made of them: 1, each its own */
    snprintf(a, sizeof a, "tg --teacher %s/r.teacher --rdms %s/l3.npy %s/l1.npy --json", dir,
             dir, dir);
    tu_expect(a, 0, "\"per_teacher\"");
    j = out_json();
    assert_true(fabs(num(j, "tg") - 1) < 1e-12);
    pt = cJSON_GetObjectItem(j, "per_teacher");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(pt, 0), "teacher_layer")->valuestring, "l1");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(pt, 0), "best_candidate_layer")->valuestring, "l1.npy");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(pt, 1), "best_candidate_layer")->valuestring, "l3.npy");
    assert_null(cJSON_GetObjectItem(j, "p"));
    cJSON_Delete(j);
    /* refused: a split larger than the checkpoint's (not held out); a
     * smaller one is held out (nested) but is not the teacher's images;
     * RDMs of another size */
    snprintf(a, sizeof a, "tg --teacher %s/ck.teacher --ckpt %s --train-limit 3000 --val 600",
             dir, final_ckpt);
    tu_expect(a, 1, "may not be held out");
    snprintf(a, sizeof a, "tg --teacher %s/ck.teacher --ckpt %s --train-limit 3000 --val 400",
             dir, final_ckpt);
    tu_expect(a, 1, "the teacher was made on other data");
    snprintf(a, sizeof a, "tg --teacher %s/ck.teacher --rdms %s/f/L1.npy", dir, dir);
    tu_expect(a, 1, "the teacher's RDMs are 10x10");
    snprintf(a, sizeof a, "teacher --rdms %s/l1.npy", dir);
    tu_expect(a, 2, "give one of --ckpt");

    /* --pixels: the library's floor of the same teacher, on the same split */
    snprintf(a, sizeof a, "tg --teacher %s/ck.teacher --pixels --train-limit 3000 --val 500 "
             "--json", dir);
    tu_expect(a, 0, "\"pixels\"");
    j = out_json();
    tg_teacher ck;
    tg_eval_record fl;
    snprintf(a, sizeof a, "%s/ck.teacher", dir);
    assert_int_equal(tg_teacher_load(a, &ck, &err), TG_OK);
    assert_int_equal(tg_evaluate_pixels(&va, &ck, &fl, &err), TG_OK);
    assert_true(fabs(num(j, "tg") - fl.tg) < 1e-12);
    assert_true(fl.tg > 0.2 && fl.tg < 0.999);
    tg_eval_record_free(&fl);
    tg_teacher_free(&ck);
    cJSON_Delete(j);
    snprintf(a, sizeof a, "tg --teacher %s/ck.teacher --pixels --ckpt %s", dir, final_ckpt);
    tu_expect(a, 2, "one of --ckpt, --rdms with files or --pixels");
}

/* TG's floor, the raw images' RDM: against a teacher layer that is that
 * very RDM, r = 1; against the RDM of the top half of the images, the
 * similarity of the two computed here; a subsample of the columns is the
 * one tg_observe_rdms draws for a first layer; an untied teacher and
 * other images are refused. */
static void test_pixel_floor(void **state) {
    (void)state;
    enum { N = 200, F = 28 * 28 };
    tg_teacher t;
    tg_error err;
    memset(&t, 0, sizeof t);
    t.unit = TG_RDM_IMAGE, t.method = TG_SIM_PEARSON, t.max_features = 0, t.seed = 3;
    assert_int_equal(tg_teacher_tie(&t, &va, va.labels, N, &err), TG_OK);
    float *X = malloc(sizeof(float) * N * F), *top = malloc(sizeof(float) * N * F / 2);
    int32_t labels[N];
    assert_non_null(X), assert_non_null(top);
    tg_dataset_images(&va, t.images, 0, N, X);
    for (int i = 0; i < N; i++) {
        labels[i] = va.labels[t.images[i]];
        memcpy(top + (size_t)i * F / 2, X + (size_t)i * F, sizeof(float) * F / 2);
    }
    double *same, *half;
    int64_t m;
    assert_int_equal(tg_rdm_compute(X, N, F, labels, TG_RDM_IMAGE, 0, 0, &same, &m, &err), TG_OK);
    assert_int_equal(tg_rdm_compute(top, N, F / 2, labels, TG_RDM_IMAGE, 0, 0, &half, &m, &err),
                     TG_OK);
    assert_int_equal(tg_teacher_add(&t, "same", same, N, &err), TG_OK);
    assert_int_equal(tg_teacher_add(&t, "top", half, N, &err), TG_OK);
    double want;
    assert_int_equal(tg_rdm_similarity(half, same, N, TG_SIM_PEARSON, &want, &err), TG_OK);
    assert_true(want > 0.3 && want < 0.99);
    tg_eval_record rec;
    assert_int_equal(tg_evaluate_pixels(&va, &t, &rec, &err), TG_OK);
    assert_int_equal(rec.ncand, 1);
    assert_string_equal(rec.cand_layers[0], "pixels");
    assert_true(fabs(rec.sim[0] - 1) < 1e-12);
    assert_true(fabs(rec.sim[1] - want) < 1e-12);
    assert_true(fabs(rec.tg - (1 + want) / 2) < 1e-12);
    tg_eval_record_free(&rec);

    /* 50 of the 784 columns, category RDMs: the first layer's subsample */
    tg_teacher s;
    memset(&s, 0, sizeof s);
    s.unit = TG_RDM_CATEGORY, s.method = TG_SIM_PEARSON, s.max_features = 50, s.seed = 7;
    assert_int_equal(tg_teacher_tie(&s, &va, va.labels, N, &err), TG_OK);
    int64_t idx[F];
    uint64_t ls = tg_rng_derive(tg_rng_derive(7, TG_STREAM_OBSERVE), 0);
    assert_int_equal(tg_rsa_subsample(F, 50, ls, idx), 50);
    for (int i = 0; i < N; i++)
        for (int q = 0; q < 50; q++) top[i * 50 + q] = X[(size_t)i * F + idx[q]];
    double *cat, *got;
    int64_t mc, mg;
    assert_int_equal(tg_rdm_compute(top, N, 50, labels, TG_RDM_CATEGORY, 0, 0, &cat, &mc, &err),
                     TG_OK);
    assert_int_equal(tg_pixel_rdm(&va, &s, &got, &mg, &err), TG_OK);
    assert_int_equal(mg, 10);
    assert_int_equal(mc, 10);
    for (int i = 0; i < 100; i++) assert_true(fabs(got[i] - cat[i]) < 1e-12);
    free(cat), free(got);

    /* refusals */
    tg_teacher u;
    memset(&u, 0, sizeof u);
    u.unit = TG_RDM_IMAGE;
    assert_int_equal(tg_teacher_add(&u, "x", same, N, &err), TG_OK);
    assert_int_equal(tg_evaluate_pixels(&va, &u, &rec, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "not tied to images"));
    assert_int_not_equal(tg_pixel_rdm(&tr, &s, &got, &mg, &err), TG_OK);
    assert_null(got);
    tg_teacher_free(&u), tg_teacher_free(&s), tg_teacher_free(&t);
    free(same), free(half), free(X), free(top);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teacher_file),
        cmocka_unit_test(test_tg_reduction),
        cmocka_unit_test(test_teacher_recordings),
        cmocka_unit_test(test_tg_properties),
        cmocka_unit_test(test_rdm_crop),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_pixel_floor),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
