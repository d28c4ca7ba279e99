/* test_train_pool.c - a worker on a real pool study: Fashion-MNIST (1,500
 * training images, 1,000 held out, batch 32), two layer-wise genomes
 * trained to 0.15 epochs with premature points at 0.05 and 0.1, two
 * teachers of raw pixels (position 0 by category on 300 images, Pearson;
 * position 1 by image on 200 images, Spearman). Each trial's points: one
 * per premature point and one at the end, at the configured epochs, the
 * cost in examples of each (increasing, the last the trial's), P and P_bn
 * in [0, 1], per teacher its layers x the genome's observed layers by
 * the four measures, each r in [-1, 1] or null; the last point's P is the
 * trial's, its TG teacher 0's by its own method from the last point's
 * matrix, and training moved the values between points. Every number of
 * one point is recomputed outside the worker from a direct run of the
 * same genome and seed (its checkpoint at 0.1 epochs): P, the validation
 * loss, P_bn, and the similarities by every measure, exactly. A stop as
 * a trial is claimed gives it back; a premature point that falls on no
 * training step fails the trial with the reason. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/accuracy.h"
#include "tgsage/evaluator.h"
#include "tgsage/genome.h"
#include "tgsage/rng.h"
#include "tgsage/teacher.h"
#include "tgsage/threads.h"
#include "tgsage/tracker.h"
#include "tgsage/trainer.h"
#include "tgsage/worker.h"

#define LAYER(f, k, s, in) \
    "{\"filters\": " #f ", \"kh\": " #k ", \"kw\": " #k ", \"stride\": " #s \
    ", \"act\": \"relu\", \"norm\": \"bn\", \"inputs\": " in "}"
#define GENOME(layers) "{\"schema\": 1, \"space\": \"layerwise\", \"max_layers\": 4, " \
                       "\"layers\": [" layers "]}"

static const char *const GENOMES[2] = {
    GENOME(LAYER(32, 3, 2, "[-1]")),
    GENOME(LAYER(32, 3, 2, "[-1]") ", " LAYER(64, 3, 2, "[0]")),
};
static const double AT[2] = {0.05, 0.1}, EPOCHS = 0.15;
static const char *const METHODS[4] = {"pearson", "spearman", "kendall", "cka"};

static tg_dataset tr, va;
static char dir[256];

/* The worker's log; with a stop flag given, raised as a trial is claimed
 * (as SIGTERM would). */
static void log_line(void *user, const char *line) {
    volatile sig_atomic_t *stop = user;
    print_message("  %s\n", line);
    if (stop && strstr(line, ": claimed")) *stop = SIGTERM;
}

/* A teacher of raw pixels of the first n validation images, two regions
 * (top and bottom of the image), saved; its file's bytes. */
static void *pixel_teacher(const char *name, tg_rdm_unit unit, tg_sim_method method, int64_t n,
                           size_t *nbytes) {
    float *F = malloc(sizeof(float) * (size_t)n * 784);
    tg_dataset_images(&va, NULL, 0, (int)n, F);
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.unit = unit, t.method = method, t.max_features = 300, t.seed = 3;
    char regions[8192];
    int k = snprintf(regions, sizeof regions, "{\"top\": [");
    for (int i = 0; i < 392; i++) k += snprintf(regions + k, sizeof regions - k, "%s%d", i ? "," : "", i);
    k += snprintf(regions + k, sizeof regions - k, "], \"bottom\": [");
    for (int i = 392; i < 784; i++)
        k += snprintf(regions + k, sizeof regions - k, "%s%d", i > 392 ? "," : "", i);
    snprintf(regions + k, sizeof regions - k, "]}");
    tg_error err;
    if (tg_teacher_from_recordings(&t, F, n, 784, va.labels, regions, "regions", "px", &err) !=
            TG_OK ||
        tg_teacher_tie(&t, &va, va.labels, n, &err) != TG_OK)
        fail_msg("%s", err.msg);
    free(F);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.teacher", dir, name);
    assert_int_equal(tg_teacher_save(path, &t, &err), TG_OK);
    tg_teacher_free(&t);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *nbytes = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*nbytes);
    assert_int_equal(fread(buf, 1, *nbytes, f), *nbytes);
    fclose(f);
    return buf;
}

static const cJSON *item(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v) fail_msg("no \"%s\" in %s", key, cJSON_PrintUnformatted(j));
    return v;
}

static double number(const cJSON *j, const char *key) {
    const cJSON *v = item(j, key);
    if (!cJSON_IsNumber(v)) fail_msg("\"%s\" is not a number", key);
    return v->valuedouble;
}

/* The point's matrix of teacher `pos` by method q: r[a][s] (NaN for null). */
static double r_at(const cJSON *point, int pos, int q, int a, int s) {
    const cJSON *te = cJSON_GetArrayItem(item(point, "teachers"), pos);
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(item(item(te, "r"), METHODS[q]), a), s);
    assert_non_null(v);
    return cJSON_IsNull(v) ? NAN : v->valuedouble;
}

/* The points of trial x (ncand observed layers), checked for shape and
 * range; returned parsed (the caller deletes). */
static cJSON *check_points(const tg_trial *x, int ncand, const tg_teacher *teachers) {
    assert_non_null(x->points);
    cJSON *pts = cJSON_Parse(x->points);
    assert_non_null(pts);
    assert_int_equal(cJSON_GetArraySize(pts), 3);
    const double at[3] = {AT[0], AT[1], EPOCHS};
    /* 1500 images at batch 32: 47 steps an epoch; the points fall on steps
     * 2, 5 and 8 (the end) */
    const int64_t examples[3] = {2 * 32, 5 * 32, 8 * 32};
    for (int i = 0; i < 3; i++) {
        const cJSON *p = cJSON_GetArrayItem(pts, i);
        assert_true(number(p, "at") == at[i]);
        assert_true(number(p, "examples") == (double)examples[i]);
        const double P = number(p, "p"), pbn = number(p, "p_bn"), loss = number(p, "val_loss");
        assert_true(P >= 0 && P <= 1);
        assert_true(pbn >= 0 && pbn <= 1);
        assert_true(isfinite(loss) && loss > 0);
        const cJSON *te = item(p, "teachers");
        assert_int_equal(cJSON_GetArraySize(te), 2);
        for (int t = 0; t < 2; t++) {
            const cJSON *tj = cJSON_GetArrayItem(te, t);
            assert_true(number(tj, "position") == t);
            const cJSON *layers = item(tj, "layers"), *cand = item(tj, "candidate");
            assert_int_equal(cJSON_GetArraySize(layers), teachers[t].nlayers);
            for (int a = 0; a < teachers[t].nlayers; a++)
                assert_string_equal(cJSON_GetArrayItem(layers, a)->valuestring,
                                    teachers[t].names[a]);
            assert_int_equal(cJSON_GetArraySize(cand), ncand);
            for (int s = 0; s < ncand; s++) {
                char want[24];
                snprintf(want, sizeof want, "layer%d", s);
                assert_string_equal(cJSON_GetArrayItem(cand, s)->valuestring, want);
            }
            for (int q = 0; q < 4; q++) {
                const cJSON *m = item(item(tj, "r"), METHODS[q]);
                assert_int_equal(cJSON_GetArraySize(m), teachers[t].nlayers);
                for (int a = 0; a < teachers[t].nlayers; a++) {
                    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(m, a)), ncand);
                    for (int s = 0; s < ncand; s++) {
                        const double r = r_at(p, t, q, a, s);
                        assert_true(isnan(r) || (r >= -1 - 1e-12 && r <= 1 + 1e-12));
                    }
                }
            }
        }
    }
    const cJSON *last = cJSON_GetArrayItem(pts, 2), *first = cJSON_GetArrayItem(pts, 0);
    assert_true(number(last, "examples") == (double)x->examples);
    assert_true(number(last, "p") == x->p);
    assert_true(number(last, "val_loss") == x->val_loss);
    assert_true(x->score == x->p);
    /* TG: teacher 0's own method (pearson) at the end, rows' maxima averaged */
    double tg = 0;
    for (int a = 0; a < teachers[0].nlayers; a++) {
        double best = -2;
        for (int s = 0; s < ncand; s++) best = fmax(best, r_at(last, 0, 0, a, s));
        tg += best / teachers[0].nlayers;
    }
    assert_true(fabs(tg - x->tg) < 1e-12);
    /* training happened: something moved between the first and last point */
    int moved = number(first, "p") != number(last, "p") ||
                number(first, "val_loss") != number(last, "val_loss");
    for (int q = 0; q < 4 && !moved; q++) moved = r_at(first, 1, q, 0, 0) != r_at(last, 1, q, 0, 0);
    assert_true(moved);
    return pts;
}

typedef struct {
    char path[1100];   /* the checkpoint at 0.1 epochs */
    double acc, loss;
} direct_point;

static void on_point(const tg_train_point *p, void *user) {
    direct_point *d = user;
    if (p->epoch == AT[1]) {
        snprintf(d->path, sizeof d->path, "%s", p->path);
        d->acc = p->val_acc, d->loss = p->val_loss;
    }
}

/* Point 1 (0.1 epochs) of trial x recomputed from a direct run of its
 * genome with its seed: P, loss, P_bn and every similarity, exactly. */
static void recompute_point(const tg_trial *x, const cJSON *point, const tg_teacher *teachers,
                            int64_t batch) {
    tg_train_config tc;
    tg_error err;
    assert_int_equal(tg_train_preset("short", &tc, &err), TG_OK);
    tc.genome = x->genome;
    snprintf(tc.space, sizeof tc.space, "layerwise:4");
    tc.epochs = EPOCHS, tc.batch = (int)batch;
    tc.seed = tg_rng_derive(tg_rng_derive(5, 0x747269616c73ULL), (uint64_t)x->number);
    tc.checkpoint_at[0] = AT[0], tc.checkpoint_at[1] = AT[1], tc.ncheckpoints = 2;
    snprintf(tc.out, sizeof tc.out, "%s/direct.ckpt", dir);
    direct_point d = {.path = ""};
    tg_train_hooks h = {NULL, on_point, &d, NULL};
    tg_train_result res;
    assert_int_equal(tg_train_run(&tc, &tr, &va, 0, &h, &res, &err), TG_OK);
    assert_true(d.path[0]);
    tg_trained m;
    assert_int_equal(tg_trained_load(d.path, (int)batch, "", &m, &err), TG_OK);
    double p, loss;
    assert_int_equal(tg_evaluate(m.net, &va, &p, &loss, &err), TG_OK);
    print_message("trial %lld at 0.1 epochs: p %.4f (direct %.4f), loss %.4f\n",
                  (long long)x->number, number(point, "p"), p, loss);
    assert_true(p == d.acc && number(point, "p") == p);
    assert_true(number(point, "val_loss") == loss);
    const int nn = 2, nodes[2] = {tg_graph_find(m.g, "layer0"), tg_graph_find(m.g, "layer1")};
    assert_true(nodes[0] > 0 && nodes[1] > 0);
    for (int t = 0; t < 2; t++) {
        const tg_teacher *T = &teachers[t];
        double *S[2];
        int64_t mm;
        assert_int_equal(tg_observe_rdms(m.net, nodes, nn, &va, T->images, T->n, T->unit,
                                         T->max_features, T->seed, S, &mm, &err), TG_OK);
        assert_int_equal(mm, T->m);
        for (int a = 0; a < T->nlayers; a++)
            for (int s = 0; s < nn; s++)
                for (int q = 0; q < 4; q++) {
                    double r;
                    tg_status st = q == 3 ? tg_rdm_cka(T->rdms[a], S[s], mm, &r, &err)
                                          : tg_rdm_similarity(T->rdms[a], S[s], mm,
                                                              (tg_sim_method)q, &r, &err);
                    const double got = r_at(point, t, q, a, s);
                    if (st == TG_ERR_NUMERIC) assert_true(isnan(got));
                    else if (st != TG_OK || got != r)
                        fail_msg("teacher %d layer %d x layer%d by %s: %.17g, recomputed %.17g "
                                 "(%s)", t, a, s, METHODS[q], got, r, st ? err.msg : "ok");
                }
        free(S[0]), free(S[1]);
    }
    /* P_bn: BN statistics of 4 batches of the training split, the sample
     * seeded by the trial seed's "bnrecal" stream */
    double pbn;
    assert_int_equal(tg_bn_recalibrate(m.net, &tr, 4, tg_rng_derive(tc.seed, 0x626e726563616cULL),
                                       &err), TG_OK);
    assert_int_equal(tg_evaluate(m.net, &va, &pbn, NULL, &err), TG_OK);
    print_message("  p_bn %.4f (recomputed %.4f)\n", number(point, "p_bn"), pbn);
    assert_true(number(point, "p_bn") == pbn);
    tg_trained_free(&m);
}

static void test_pool_trials(void **state) {
    (void)state;
    tg_threads_set(0);
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    tg_error err;
    if (tg_split_load("fashion-mnist", 1000, 5, 1500, 0, &tr, &va, NULL, &err) != TG_OK)
        fail_msg("%s", err.msg);
    size_t n0, n1;
    void *b0 = pixel_teacher("cat", TG_RDM_CATEGORY, TG_SIM_PEARSON, 300, &n0);
    void *b1 = pixel_teacher("img", TG_RDM_IMAGE, TG_SIM_SPEARMAN, 200, &n1);

    tg_tracker *db;
    char url[4200];
    snprintf(url, sizeof url, "%s", td_sqlite_url(dir, "pool"));
    if (tg_tracker_open(url, &db, &err) != TG_OK) fail_msg("%s", err.msg);
    tg_study_config cfg;
    tg_study_config_defaults(&cfg);
    snprintf(cfg.space, sizeof cfg.space, "layerwise:4");
    snprintf(cfg.algo, sizeof cfg.algo, "pool");
    snprintf(cfg.score, sizeof cfg.score, "p");
    snprintf(cfg.data, sizeof cfg.data, "fashion-mnist");
    snprintf(cfg.fingerprint, sizeof cfg.fingerprint, "%s", tr.fingerprint);
    cfg.epochs = EPOCHS, cfg.at[0] = AT[0], cfg.at[1] = AT[1], cfg.nat = 2;
    cfg.batch = 32, cfg.trials = 2, cfg.seed = cfg.split_seed = 5, cfg.nval = 1000;
    cfg.train_limit = 1500;
    cfg.lease_s = 30;
    tg_study s;
    int created, pos;
    if (tg_study_open(db, "pool", &cfg, NULL, 0, &s, &created, &err) != TG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(tg_study_add_teacher(db, s.id, "cat", b0, n0, &pos, &err), TG_OK);
    assert_int_equal(pos, 0);
    assert_int_equal(tg_study_add_teacher(db, s.id, "img", b1, n1, &pos, &err), TG_OK);
    assert_int_equal(pos, 1);
    tg_enqueue_item items[2];
    char *canon[2], hash[2][33];
    for (int i = 0; i < 2; i++) {
        tg_genome *g = tg_genome_parse(GENOMES[i], NULL, &err);
        if (!g) fail_msg("genome %d: %s", i, err.msg);
        canon[i] = tg_genome_json(g);
        tg_genome_hash(g, hash[i]);
        tg_genome_free(g);
        items[i] = (tg_enqueue_item){canon[i], hash[i], -1};
    }
    int64_t num[2];
    assert_int_equal(tg_study_enqueue(db, s.id, items, 2, num, NULL, &err), TG_OK);
    assert_int_equal(tg_study_set_done(db, s.id, 1, &err), TG_OK);

    tg_worker_config c;
    memset(&c, 0, sizeof c);
    c.url = url, c.study = "pool", c.workdir = dir, c.poll_s = 0.05;
    c.log = log_line;
    tg_worker_stats st;
    tg_trial *trials;
    int64_t n;
    /* a stop as trial 0 is claimed: given back, nothing reported */
    volatile sig_atomic_t stop = 0;
    c.stop = &stop, c.log_user = (void *)&stop;
    if (tg_worker_run(&c, &st, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(st.released, 1);
    assert_int_equal(st.completed + st.failed, 0);
    assert_int_equal(tg_trial_list(db, s.id, &trials, &n, &err), TG_OK);
    assert_int_equal(trials[0].state, TG_TRIAL_WAITING);
    assert_int_equal(trials[0].attempt, 0);
    assert_null(trials[0].points);
    tg_trials_free(trials, n);
    stop = 0, c.log_user = NULL;

    if (tg_worker_run(&c, &st, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(st.completed, 2);
    assert_int_equal(st.failed, 0);

    /* the teachers as the worker reads them */
    tg_teacher teachers[2];
    char path[600];
    snprintf(path, sizeof path, "%s/cat.teacher", dir);
    assert_int_equal(tg_teacher_load(path, &teachers[0], &err), TG_OK);
    snprintf(path, sizeof path, "%s/img.teacher", dir);
    assert_int_equal(tg_teacher_load(path, &teachers[1], &err), TG_OK);
    assert_int_equal(teachers[0].m, 10);
    assert_int_equal(teachers[1].m, 200);

    assert_int_equal(tg_trial_list(db, s.id, &trials, &n, &err), TG_OK);
    assert_int_equal(n, 2);
    for (int i = 0; i < 2; i++) {
        const tg_trial *x = &trials[i];
        print_message("trial %d: p %.4f, tg %.4f, %lld examples\n", i, x->p, x->tg,
                      (long long)x->examples);
        assert_int_equal(x->state, TG_TRIAL_COMPLETE);
        assert_int_equal(x->examples, 8 * 32);
        assert_non_null(x->sim);
        /* the trial RDMs: teacher 0's layers, its 10 categories */
        assert_non_null(x->rdms);
        cJSON *rd = cJSON_Parse(x->rdms);
        assert_non_null(rd);
        assert_true(number(rd, "m") == 10 && number(rd, "k") == 10);
        assert_int_equal(cJSON_GetArraySize(item(rd, "rdm")), 2);
        cJSON_Delete(rd);
        cJSON *pts = check_points(x, i + 1, teachers);
        if (i == 1) recompute_point(x, cJSON_GetArrayItem(pts, 1), teachers, cfg.batch);
        cJSON_Delete(pts);
    }
    tg_trials_free(trials, n);

    /* a premature point that falls on no step (0.001 epochs is step 0 of
     * 47 an epoch) would shift the points: the trial fails, saying why */
    cfg.at[0] = 0.001, cfg.trials = 1;
    tg_study s2;
    if (tg_study_open(db, "skip", &cfg, b0, n0, &s2, &created, &err) != TG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(tg_study_enqueue(db, s2.id, items, 1, num, NULL, &err), TG_OK);
    assert_int_equal(tg_study_set_done(db, s2.id, 1, &err), TG_OK);
    c.study = "skip";
    if (tg_worker_run(&c, &st, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(st.failed, 1);
    assert_int_equal(tg_trial_list(db, s2.id, &trials, &n, &err), TG_OK);
    assert_int_equal(trials[0].state, TG_TRIAL_FAILED);
    print_message("%s\n", trials[0].error);
    assert_non_null(strstr(trials[0].error, "the point at 0.001 epochs falls on no step"));
    assert_null(trials[0].points);
    tg_trials_free(trials, n);

    tg_teacher_free(&teachers[0]);
    tg_teacher_free(&teachers[1]);
    tg_tracker_close(db);
    free(b0), free(b1), free(canon[0]), free(canon[1]);
    tg_dataset_free(&tr);
    tg_dataset_free(&va);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_trials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
