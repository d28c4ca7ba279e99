/* test_analysis.c - the predictivity analysis (analysis.h) and `tgsage
 * analyze` on a pool study built through the tracker API: two real teacher
 * files (a category-level one of three layers, an image-level one of two),
 * 30 networks whose points JSON is made by hand so that the answer is
 * known (TG at 0.5 epochs follows mature accuracy closely, P loosely),
 * plus a failed and a waiting trial that must be left out.
 *
 * Every number of the analysis (each predictor's n, mean, sd, min, max,
 * Pearson, Spearman, both bootstrap intervals, the best predictors and the
 * gain) is recomputed from the raw points by tests/analysis_check.py
 * (scipy when installed, else numpy) over the same resamples, and compared
 * to 1e-12. Here: the missing values (null similarities, a teacher absent
 * from a point, a point absent, a null P_bn), fewer than 3 networks and a
 * constant predictor giving NaN, the alpha sweep's alpha 0 equal to P, a
 * non-pool study refused, malformed points named, the CSV's columns, and
 * the CLI's table, answer, --json (equal to the library's) and errors. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/analysis.h"
#include "tgsage/fileio.h"
#include "tgsage/teacher.h"
#include "tgsage/tracker.h"

#define NNET 30
#define BOOT 200
#define SEED 5

static char g_dir[256], g_url[4200];
static tg_error g_err;
static const double AT[2] = {0.1, 0.5}, MATURE = 2.0;
static const char *const T0_LAYERS[3] = {"L1", "L2", "L3"};
static const char *const T1_LAYERS[2] = {"V4", "IT"};
static const char *const METHODS[4] = {"pearson", "spearman", "kendall", "cka"};
static double g_mature[NNET];
static char *g_points[NNET];     /* each network's points JSON, as reported */

#define OK(call)                                                                         \
    do {                                                                                 \
        tg_status st_ = (call);                                                          \
        if (st_ != TG_OK) fail_msg("%s: %s", #call, g_err.msg);                          \
    } while (0)

/* A teacher file made by the library, its bytes. */
static unsigned char *teacher_bytes(const char *name, const char *const *layers, int nl,
                                    tg_rdm_unit unit, tg_sim_method method, size_t *n) {
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.unit = unit, t.method = method;
    tg_rng r;
    tg_rng_seed(&r, 11);
    enum { M = 5 };
    double rdm[M * M];
    for (int L = 0; L < nl; L++) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j <= i; j++)
                rdm[i * M + j] = rdm[j * M + i] = i == j ? 0 : 0.2 + tg_rng_uniform_d(&r);
        OK(tg_teacher_add(&t, layers[L], rdm, M, &g_err));
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s.tgt", g_dir, name);
    OK(tg_teacher_save(path, &t, &g_err));
    tg_teacher_free(&t);
    unsigned char *data;
    OK(tg_file_read(path, 1 << 20, &data, n, &g_err));
    return data;
}

static cJSON *row_of(const double *v, int n, int null_all) {
    cJSON *row = cJSON_CreateArray();
    for (int c = 0; c < n; c++)
        cJSON_AddItemToArray(row, null_all ? cJSON_CreateNull() : cJSON_CreateNumber(v[c]));
    return row;
}

/* Network i's entry at point `at` (k: 0, 1 premature, 2 the end). */
static cJSON *entry(int i, int k, double at, tg_rng *r) {
    double m = g_mature[i], u = tg_rng_uniform_d(r);
    /* TG's signal sharpens with training, P's barely: the known answer */
    double p = k == 0 ? 0.2 + 0.1 * m + 0.1 * u : k == 1 ? 0.3 + 0.3 * m + 0.15 * u : m;
    double noise = k == 0 ? 0.1 : k == 1 ? 0.01 : 0.05;
    double sig = 0.3 + 0.6 * m + noise * tg_rng_uniform_d(r);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "at", at);
    cJSON_AddNumberToObject(e, "examples", 1000.0 * at);
    cJSON_AddNumberToObject(e, "p", p);
    cJSON_AddNumberToObject(e, "val_loss", 1 - p);
    if (i == 4) cJSON_AddNullToObject(e, "p_bn");
    else cJSON_AddNumberToObject(e, "p_bn", p + 0.05 + 0.02 * tg_rng_uniform_d(r));
    cJSON *ts = cJSON_AddArrayToObject(e, "teachers");
    for (int t = 0; t < 2; t++) {
        if (t == 1 && i == 5) continue;   /* teacher 1 missing at every point */
        int nl = t == 0 ? 3 : 2, nc = t == 0 ? 3 : 2;
        cJSON *te = cJSON_CreateObject();
        cJSON_AddNumberToObject(te, "position", t);
        cJSON *ls = cJSON_AddArrayToObject(te, "layers"), *cs = cJSON_AddArrayToObject(te, "candidate");
        for (int L = 0; L < nl; L++)
            cJSON_AddItemToArray(ls, cJSON_CreateString(t == 0 ? T0_LAYERS[L] : T1_LAYERS[L]));
        for (int c = 0; c < nc; c++) {
            char nm[24];
            snprintf(nm, sizeof nm, "layer%d", c);
            cJSON_AddItemToArray(cs, cJSON_CreateString(nm));
        }
        cJSON *rr = cJSON_AddObjectToObject(te, "r");
        for (int me = 0; me < 4; me++) {
            cJSON *mat = cJSON_AddArrayToObject(rr, METHODS[me]);
            for (int L = 0; L < nl; L++) {
                double v[3];
                for (int c = 0; c < nc; c++) {
                    double w = tg_rng_uniform_d(r);
                    if (t == 0) v[c] = (1 - 0.1 * me) * sig - 0.05 * L + 0.04 * (w - 0.5);
                    else v[c] = me == 2 ? 0.25 : w;   /* teacher 1: noise; kendall constant */
                }
                /* nulls: all of a row (the layer has no value), or one entry */
                int all = t == 0 && me == 0 && L == 1 && i < 3;
                cJSON *row = row_of(v, nc, all);
                if (t == 0 && me == 0 && L == 0 && i == 3)
                    cJSON_ReplaceItemInArray(row, 1, cJSON_CreateNull());
                cJSON_AddItemToArray(mat, row);
            }
        }
        cJSON_AddItemToArray(ts, te);
    }
    return e;
}

static char *points_json(int i, tg_rng *r) {
    cJSON *arr = cJSON_CreateArray();
    for (int k = 0; k < 3; k++) {
        if (k == 1 && i == 7) continue;   /* network 7 has no point at 0.5 */
        cJSON_AddItemToArray(arr, entry(i, k, k < 2 ? AT[k] : MATURE, r));
    }
    char *s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return s;
}

static void pool_config(tg_study_config *c, const char *algo, int64_t trials) {
    tg_study_config_defaults(c);
    snprintf(c->space, sizeof c->space, "layerwise:4");
    snprintf(c->algo, sizeof c->algo, "%s", algo);
    snprintf(c->data, sizeof c->data, "fashion-mnist");
    snprintf(c->fingerprint, sizeof c->fingerprint, "0123456789abcdef0123456789abcdef");
    c->trials = trials, c->nval = 1000, c->seed = 3, c->epochs = MATURE;
    if (!strcmp(algo, "pool")) {
        c->nat = 2;
        memcpy(c->at, AT, sizeof AT);
    }
}

/* Queue n fake genomes in study s and report them: networks 0..ok-1
 * complete with points[i] (NULL: none) and mature[i], one more failed,
 * the rest left waiting. */
static void fill_study(tg_tracker *t, int64_t s, int n, int ok, char *const *points,
                       const double *mature) {
    tg_enqueue_item *items = calloc((size_t)n, sizeof *items);
    char (*g)[64] = calloc((size_t)n, sizeof *g), (*h)[33] = calloc((size_t)n, sizeof *h);
    int64_t *num = calloc((size_t)n, sizeof *num);
    for (int i = 0; i < n; i++) {
        snprintf(g[i], sizeof g[i], "{\"g\":%d}", i);
        snprintf(h[i], sizeof h[i], "%032x", 0xa0000 + i);
        items[i] = (tg_enqueue_item){g[i], h[i], -1};
    }
    int added = 0;
    OK(tg_study_enqueue(t, s, items, n, num, &added, &g_err));
    assert_int_equal(added, n);
    tg_worker_id w;
    tg_worker_id_init(&w);
    for (int i = 0; i < n && i <= ok; i++) {
        tg_claim c;
        int got = 0, fenced = -1;
        OK(tg_trial_claim(t, s, &w, 60, &c, &got, &g_err));
        assert_int_equal(got, 1);
        assert_int_equal(c.number, i);
        tg_trial_result r = {i < ok, NAN, NAN, NAN, NAN, 100, 1, 1, NULL,
                             i < ok ? NULL : "diverged", NULL, NULL};
        if (i < ok) r.score = r.p = mature[i], r.points = points[i];
        OK(tg_trial_report(t, &c, &w, &r, &fenced, &g_err));
        assert_int_equal(fenced, 0);
        tg_claim_free(&c);
    }
    free(items), free(g), free(h), free(num);
}

static int64_t g_pool, g_search;

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_url, sizeof g_url, "%s", td_sqlite_url(g_dir, "analysis"));
    tg_tracker *t;
    if (tg_tracker_open(g_url, &t, &g_err) != TG_OK) return -1;
    tg_study_config c;
    pool_config(&c, "pool", NNET + 2);
    tg_study s;
    int created = 0;
    if (tg_study_open(t, "pool", &c, NULL, 0, &s, &created, &g_err) != TG_OK) return -1;
    g_pool = s.id;
    size_t n0, n1;
    unsigned char *b0 = teacher_bytes("t0", T0_LAYERS, 3, TG_RDM_CATEGORY, TG_SIM_PEARSON, &n0);
    unsigned char *b1 = teacher_bytes("t1", T1_LAYERS, 2, TG_RDM_IMAGE, TG_SIM_SPEARMAN, &n1);
    int pos0 = -1, pos1 = -1;
    if (tg_study_add_teacher(t, s.id, "t0-category", b0, n0, &pos0, &g_err) != TG_OK ||
        tg_study_add_teacher(t, s.id, "t1-image", b1, n1, &pos1, &g_err) != TG_OK)
        return -1;
    free(b0), free(b1);
    if (pos0 != 0 || pos1 != 1) return -1;
    tg_rng r;
    tg_rng_seed(&r, 2024);
    for (int i = 0; i < NNET; i++) g_mature[i] = 0.5 + 0.4 * tg_rng_uniform_d(&r);
    for (int i = 0; i < NNET; i++) g_points[i] = points_json(i, &r);
    fill_study(t, s.id, NNET + 2, NNET, g_points, g_mature);
    /* a search study, which the analysis refuses */
    pool_config(&c, "tpe", 4);
    if (tg_study_open(t, "search", &c, NULL, 0, &s, &created, &g_err) != TG_OK) return -1;
    g_search = s.id;
    tg_tracker_close(t);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < NNET; i++) free(g_points[i]);
    tu_rmtree(g_dir);
    return 0;
}

static tg_analysis_config test_config(void) {
    tg_analysis_config c;
    tg_analysis_config_defaults(&c);
    c.boot = BOOT, c.seed = SEED;
    const double a[4] = {0, 0.5, 2, 1000};
    c.nalpha = 4;
    memcpy(c.alpha, a, sizeof a);
    return c;
}

static void run(int64_t study, const tg_analysis_config *c, tg_analysis *a) {
    tg_tracker *t;
    OK(tg_tracker_open(g_url, &t, &g_err));
    OK(tg_analysis_run(t, study, c, a, &g_err));
    tg_tracker_close(t);
}

/* The predictor of point pt by kind, teacher, method, layer, alpha. */
static const tg_predictor *pred(const tg_analysis_point *pt, const char *kind, int teacher,
                                const char *method, const char *layer, double alpha) {
    for (int j = 0; j < pt->npred; j++) {
        const tg_predictor *p = &pt->pred[j];
        if (!strcmp(p->kind, kind) && p->teacher == teacher && !strcmp(p->method, method) &&
            !strcmp(p->layer, layer) && (isnan(alpha) ? isnan(p->alpha) : p->alpha == alpha))
            return p;
    }
    fail_msg("no predictor %s %d %s %s %g at %g", kind, teacher, method, layer, alpha, pt->at);
    return NULL;
}

/* ---- the statistics on hand-computed values ---- */

static void test_stats(void **state) {
    (void)state;
    const double x[5] = {1, 2, 3, 4, 5}, y[5] = {2, 1, 4, 3, 5};
    /* rho = 1 - 6 * sum d^2 / (n (n^2 - 1)) = 1 - 6 * 4 / 120 */
    assert_true(fabs(tg_stat_spearman(x, y, 5) - 0.8) < 1e-15);
    assert_true(fabs(tg_stat_pearson(x, y, 5) - 0.8) < 1e-15);
    const double t[6] = {3, 1, 2, 2, 5, 1};
    double rk[6];
    tg_stat_ranks(t, 6, rk);
    const double want[6] = {5, 1.5, 3.5, 3.5, 6, 1.5};
    for (int i = 0; i < 6; i++) assert_true(rk[i] == want[i]);
    assert_true(isnan(tg_stat_pearson(x, y, 2)));          /* fewer than 3 */
    const double c[4] = {0.7, 0.7, 0.7, 0.7};               /* constant */
    assert_true(isnan(tg_stat_pearson(c, x, 4)));
    assert_true(isnan(tg_stat_spearman(x, c, 4)));
    const double q[4] = {1, 2, 3, 4};
    assert_true(fabs(tg_stat_quantile(q, 4, 0.025) - 1.075) < 1e-15);
    assert_true(tg_stat_quantile(q, 4, 1) == 4 && tg_stat_quantile(q, 1, 0.5) == 1);
    tg_corr pc, sc;
    OK(tg_stat_corr_boot(x, y, 5, 0, 1, &pc, &sc, &g_err));   /* boot 0: estimates only */
    assert_true(fabs(pc.r - 0.8) < 1e-15 && isnan(pc.lo) && isnan(sc.hi));
    OK(tg_stat_corr_boot(x, y, 5, 500, 1, &pc, &sc, &g_err));
    assert_true(pc.lo <= pc.r && pc.r <= pc.hi && sc.lo < sc.hi && sc.hi <= 1);
    tg_corr again;
    OK(tg_stat_corr_boot(x, y, 5, 500, 1, &again, NULL, &g_err));  /* seeded */
    assert_true(again.lo == pc.lo && again.hi == pc.hi);
}

/* ---- the pool ---- */

static void add_nums(cJSON *o, const char *key, const double *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
}

/* The check file for analysis_check.py, then its verdict. */
static void check_with_python(const tg_analysis *a) {
    cJSON *d = cJSON_CreateObject();
    char *js = tg_analysis_json(a);
    assert_non_null(js);
    cJSON_AddItemToObject(d, "analysis", cJSON_Parse(js));
    free(js);
    cJSON *trials = cJSON_AddArrayToObject(d, "trials");
    for (int i = 0; i < NNET; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "number", i);
        cJSON_AddNumberToObject(o, "mature", g_mature[i]);
        cJSON_AddItemToObject(o, "points", cJSON_Parse(g_points[i]));
        cJSON_AddItemToArray(trials, o);
    }
    /* the bootstrap's draws for every n (analysis.h: fresh generator per
     * predictor, boot x n indices tg_rng_below(n)) */
    cJSON *res = cJSON_AddObjectToObject(d, "resamples");
    for (int n = 3; n <= NNET; n++) {
        tg_rng r;
        tg_rng_seed(&r, SEED);
        cJSON *m = cJSON_CreateArray();
        for (int b = 0; b < BOOT; b++) {
            cJSON *row = cJSON_CreateArray();
            for (int i = 0; i < n; i++)
                cJSON_AddItemToArray(row, cJSON_CreateNumber((double)tg_rng_below(&r, (uint64_t)n)));
            cJSON_AddItemToArray(m, row);
        }
        char key[16];
        snprintf(key, sizeof key, "%d", n);
        cJSON_AddItemToObject(res, key, m);
    }
    /* plain vectors, ties included */
    cJSON *vec = cJSON_AddArrayToObject(d, "vectors");
    const double x[8] = {1, 2, 2, 3, 5, 5, 5, 8}, y[8] = {0.3, 0.1, 0.4, 0.1, 0.5, 0.9, 0.2, 0.6};
    const double x2[6] = {0.61, 0.72, 0.55, 0.80, 0.66, 0.70}, y2[6] = {0.7, 0.81, 0.64, 0.9, 0.73, 0.8};
    const double *xs[2] = {x, x2}, *ys[2] = {y, y2};
    const int ns[2] = {8, 6};
    for (int k = 0; k < 2; k++) {
        cJSON *o = cJSON_CreateObject();
        add_nums(o, "x", xs[k], ns[k]);
        add_nums(o, "y", ys[k], ns[k]);
        cJSON_AddNumberToObject(o, "pearson", tg_stat_pearson(xs[k], ys[k], ns[k]));
        cJSON_AddNumberToObject(o, "spearman", tg_stat_spearman(xs[k], ys[k], ns[k]));
        cJSON_AddItemToArray(vec, o);
    }
    cJSON_AddNumberToObject(d, "tol", 1e-12);
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/check.json", g_dir);
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    free(text);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s 2>&1", tu_fixture("../analysis_check.py"),
             path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    if (rc != 0 || strncmp(out, "ok", 2) != 0) fail_msg("analysis_check.py:\n%s", out);
    print_message("analysis_check.py: %s", out);
}

static void test_pool(void **state) {
    (void)state;
    tg_analysis_config c = test_config();
    tg_analysis a;
    run(g_pool, &c, &a);
    assert_string_equal(a.study, "pool");
    assert_int_equal(a.networks, NNET);     /* the failed and the waiting trial left out */
    for (int i = 0; i < NNET; i++) assert_true(a.number[i] == i && a.mature[i] == g_mature[i]);
    assert_int_equal(a.nteachers, 2);
    assert_string_equal(a.teachers[0].name, "t0-category");
    assert_string_equal(a.teachers[0].unit, "category");
    assert_string_equal(a.teachers[0].method, "pearson");
    assert_int_equal(a.teachers[0].nlayers, 3);
    assert_string_equal(a.teachers[0].layers[2], "L3");
    assert_string_equal(a.teachers[1].unit, "image");
    assert_string_equal(a.teachers[1].method, "spearman");
    assert_int_equal(a.npoints, 3);
    assert_true(a.points[0].at == 0.1 && a.points[1].at == 0.5 && a.points[2].at == MATURE);
    assert_true(a.points[0].premature && a.points[1].premature && !a.points[2].premature);
    assert_int_equal(a.points[0].n, NNET);
    assert_int_equal(a.points[1].n, NNET - 1);   /* network 7 has no point at 0.5 */
    assert_int_equal(a.points[1].number[7], 8);
    /* 2 + per teacher 4 methods x (layers + tg + tg_z + 3 mixes x 4 alphas) */
    int npred = 2 + 4 * (3 + 2 + 12) + 4 * (2 + 2 + 12);
    for (int k = 0; k < 3; k++) assert_int_equal(a.points[k].npred, npred);

    const tg_analysis_point *p1 = &a.points[1];
    /* missing values: each predictor its own n */
    assert_int_equal(pred(p1, "p", -1, "", "", NAN)->n, NNET - 1);
    assert_int_equal(pred(p1, "p_bn", -1, "", "", NAN)->n, NNET - 2);           /* network 4 */
    assert_int_equal(pred(p1, "layer", 0, "pearson", "L2", NAN)->n, NNET - 4);  /* 0-2, and 7 */
    assert_int_equal(pred(p1, "layer", 0, "pearson", "L1", NAN)->n, NNET - 1);  /* one null only */
    assert_int_equal(pred(p1, "tg", 0, "pearson", "", NAN)->n, NNET - 4);
    assert_int_equal(pred(p1, "p+tg", 0, "pearson", "", 2)->n, NNET - 4);
    assert_int_equal(pred(p1, "p_bn+tg", 0, "spearman", "", 2)->n, NNET - 2);
    assert_int_equal(pred(p1, "tg", 1, "cka", "", NAN)->n, NNET - 2);          /* network 5 */
    /* a constant predictor: no correlation, no z-score */
    const tg_predictor *kc = pred(p1, "tg", 1, "kendall", "", NAN);
    assert_true(kc->n == NNET - 2 && kc->mean == 0.25 && kc->sd == 0);
    assert_true(isnan(kc->pearson.r) && isnan(kc->spearman.r) && isnan(kc->spearman.lo));
    assert_int_equal(pred(p1, "tg_z", 1, "kendall", "", NAN)->n, 0);
    /* alpha 0 is P itself over the same networks: same values, same resamples */
    const tg_predictor *pp = pred(p1, "p", -1, "", "", NAN);
    const tg_predictor *a0 = pred(p1, "p+tg", 0, "spearman", "", 0);
    assert_true(a0->n == pp->n && a0->spearman.r == pp->spearman.r &&
                a0->spearman.lo == pp->spearman.lo && a0->pearson.hi == pp->pearson.hi);
    /* tg_z standardised over the pool */
    const tg_predictor *z = pred(p1, "tg_z", 0, "spearman", "", NAN);
    assert_true(fabs(z->mean) < 1e-12 && fabs(z->sd - 1) < 1e-12);
    /* the known answer: TG at 0.5 follows mature accuracy, P loosely */
    const tg_predictor *tg = pred(p1, "tg", 0, "pearson", "", NAN);
    assert_true(tg->spearman.r > 0.95 && pp->spearman.r < 0.9);
    assert_true(tg->spearman.lo <= tg->spearman.r && tg->spearman.r <= tg->spearman.hi);
    assert_true(p1->best > 1 && p1->best_tg >= 0 && p1->gain.lo > 0);
    assert_true(p1->pred[p1->best].spearman.r >= tg->spearman.r);
    assert_true(p1->best_mix >= 0 && !strncmp(p1->pred[p1->best_mix].kind, "p", 1));
    /* the end: P is the mature accuracy itself */
    assert_true(fabs(a.points[2].pred[0].pearson.r - 1) < 1e-12);
    /* scatter arrays: P and TG of teacher 0 by pearson */
    for (int i = 0; i < p1->n; i++) assert_true(p1->mature[i] == g_mature[p1->number[i]]);
    assert_true(isnan(p1->tg[0]) && isfinite(p1->tg[3]));

    check_with_python(&a);
    tg_analysis_free(&a);
}

/* ---- CSV ---- */

static void test_csv(void **state) {
    (void)state;
    tg_analysis_config c = test_config();
    tg_analysis a;
    run(g_pool, &c, &a);
    char path[512];
    snprintf(path, sizeof path, "%s/analysis.csv", g_dir);
    OK(tg_analysis_csv(&a, path, &g_err));
    unsigned char *data;
    size_t n;
    OK(tg_file_read(path, 1 << 24, &data, &n, &g_err));
    char *text = (char *)data, *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    assert_string_equal(line, "at,kind,teacher,method,layer,alpha,n,pearson,pearson_lo,"
                              "pearson_hi,spearman,spearman_lo,spearman_hi,mean,sd,min,max\r");
    int rows = 0, seen_tg = 0, seen_p = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        size_t len = strlen(line);
        assert_true(len > 0 && line[len - 1] == '\r');   /* CRLF */
        line[len - 1] = '\0';
        char *f[17];
        int nf = 0;
        for (char *q = line; nf < 17; nf++) {
            f[nf] = q;
            char *comma = strchr(q, ',');
            if (!comma) { nf++; break; }
            *comma = '\0', q = comma + 1;
        }
        assert_int_equal(nf, 17);
        rows++;
        if (!strcmp(f[0], "0.5") && !strcmp(f[1], "tg") && !strcmp(f[2], "0") &&
            !strcmp(f[3], "pearson")) {
            const tg_predictor *p = pred(&a.points[1], "tg", 0, "pearson", "", NAN);
            assert_string_equal(f[4], "");
            assert_string_equal(f[5], "");
            assert_int_equal(atoi(f[6]), p->n);
            assert_true(strtod(f[7], NULL) == p->pearson.r && strtod(f[9], NULL) == p->pearson.hi);
            assert_true(strtod(f[11], NULL) == p->spearman.lo && strtod(f[16], NULL) == p->max);
            seen_tg++;
        }
        if (!strcmp(f[0], "0.1") && !strcmp(f[1], "p")) {
            for (int k = 2; k <= 5; k++) assert_string_equal(f[k], "");
            assert_int_equal(atoi(f[6]), NNET);
            seen_p++;
        }
        if (!strcmp(f[1], "tg") && !strcmp(f[2], "1") && !strcmp(f[3], "kendall"))
            assert_string_equal(f[7], "");   /* NaN: empty */
    }
    assert_int_equal(rows, 3 * a.points[0].npred);
    assert_int_equal(seen_tg, 1);
    assert_int_equal(seen_p, 1);
    free(data);
    tg_analysis_free(&a);
}

/* ---- few networks, the wrong study, malformed points ---- */

static void test_few(void **state) {
    (void)state;
    tg_tracker *t;
    OK(tg_tracker_open(g_url, &t, &g_err));
    tg_study_config c;
    pool_config(&c, "pool", 3);
    tg_study s;
    int created = 0;
    OK(tg_study_open(t, "tiny", &c, NULL, 0, &s, &created, &g_err));
    size_t n0;
    unsigned char *b0 = teacher_bytes("t0b", T0_LAYERS, 3, TG_RDM_CATEGORY, TG_SIM_PEARSON, &n0);
    OK(tg_study_add_teacher(t, s.id, "t0", b0, n0, NULL, &g_err));
    free(b0);
    fill_study(t, s.id, 3, 2, g_points, g_mature);   /* 2 complete, 1 failed */
    tg_analysis_config cfg = test_config();
    tg_analysis a;
    OK(tg_analysis_run(t, s.id, &cfg, &a, &g_err));
    assert_int_equal(a.networks, 2);
    for (int k = 0; k < a.npoints; k++) {
        const tg_analysis_point *pt = &a.points[k];
        assert_int_equal(pt->n, 2);
        assert_int_equal(pt->best, -1);
        assert_int_equal(pt->best_tg, -1);
        assert_true(isnan(pt->gain.r));
        for (int j = 0; j < pt->npred; j++)
            assert_true(isnan(pt->pred[j].pearson.r) && isnan(pt->pred[j].spearman.hi));
        assert_true(isfinite(pt->pred[0].mean) && isfinite(pt->pred[0].sd));   /* described */
    }
    char *js = tg_analysis_json(&a);
    cJSON *j = cJSON_Parse(js);
    const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "points"), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(p0, "best")));
    const cJSON *pr = cJSON_GetArrayItem(cJSON_GetObjectItem(p0, "predictors"), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(pr, "spearman"), "r")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(pr, "teacher")));
    cJSON_Delete(j);
    free(js);
    tg_analysis_free(&a);
    tg_tracker_close(t);
}

static void test_refused(void **state) {
    (void)state;
    tg_tracker *t;
    OK(tg_tracker_open(g_url, &t, &g_err));
    tg_analysis_config c = test_config();
    tg_analysis a;
    tg_error e;
    assert_int_equal(tg_analysis_run(t, g_search, &c, &a, &e), TG_ERR_ARG);
    assert_non_null(strstr(e.msg, "study search is a tpe study, not a pool"));
    assert_int_equal(a.npoints, 0);
    assert_null(a.points);
    c.boot = -1;
    assert_int_equal(tg_analysis_run(t, g_pool, &c, &a, &e), TG_ERR_ARG);

    /* malformed points: named by trial */
    tg_study_config sc;
    pool_config(&sc, "pool", 2);
    tg_study s;
    int created = 0;
    OK(tg_study_open(t, "broken", &sc, NULL, 0, &s, &created, &g_err));
    size_t n0;
    unsigned char *b0 = teacher_bytes("t0c", T0_LAYERS, 3, TG_RDM_CATEGORY, TG_SIM_PEARSON, &n0);
    OK(tg_study_add_teacher(t, s.id, "t0", b0, n0, NULL, &g_err));
    free(b0);
    char *bad[2] = {g_points[0], "{\"at\": 0.1}"};
    const double mat[2] = {0.5, 0.6};
    fill_study(t, s.id, 2, 2, bad, mat);
    c = test_config();
    assert_int_equal(tg_analysis_run(t, s.id, &c, &a, &e), TG_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "trial 1: its points are not a JSON array"));

    pool_config(&sc, "pool", 1);
    OK(tg_study_open(t, "renamed", &sc, NULL, 0, &s, &created, &g_err));
    b0 = teacher_bytes("t0d", T0_LAYERS, 3, TG_RDM_CATEGORY, TG_SIM_PEARSON, &n0);
    OK(tg_study_add_teacher(t, s.id, "t0", b0, n0, NULL, &g_err));
    free(b0);
    char *swapped = strdup(g_points[0]), *l2 = strstr(swapped, "\"L2\"");
    l2[2] = '9';   /* the points name a layer L9 the teacher file does not have */
    char *one[1] = {swapped};
    fill_study(t, s.id, 1, 1, one, mat);
    assert_int_equal(tg_analysis_run(t, s.id, &c, &a, &e), TG_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "its layer 1 is L9 in the points but L2 in the teacher file"));
    free(swapped);
    tg_tracker_close(t);
}

/* ---- the command ---- */

static void test_cli(void **state) {
    (void)state;
    char args[8192], out[512], csv[512];
    snprintf(out, sizeof out, "%s/cli.json", g_dir);
    snprintf(args, sizeof args, "analyze --db %s --study pool --boot %d --seed %d "
             "--alpha 0,0.5,2,1000 --json > %s", g_url, BOOT, SEED, out);
    assert_int_equal(tu_run(args), 0);
    unsigned char *data;
    size_t n;
    OK(tg_file_read(out, 1 << 24, &data, &n, &g_err));
    /* the command's JSON is the library's, number for number */
    tg_analysis_config c = test_config();
    tg_analysis a;
    run(g_pool, &c, &a);
    char *lib = tg_analysis_json(&a);
    assert_true(n == strlen(lib) + 1 && data[n - 1] == '\n');
    data[n - 1] = '\0';
    assert_string_equal((char *)data, lib);
    cJSON *j = cJSON_Parse((char *)data);
    assert_int_equal(cJSON_GetObjectItem(j, "networks")->valueint, NNET);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "points")), 3);
    assert_string_equal(cJSON_GetObjectItem(j, "seed")->valuestring, "5");
    cJSON_Delete(j);
    free(data);
    free(lib);
    tg_analysis_free(&a);

    /* the table and the answer */
    snprintf(csv, sizeof csv, "%s/cli.csv", g_dir);
    snprintf(args, sizeof args, "analyze --db %s --study pool --boot 300 --csv %s", g_url, csv);
    tu_expect(args, 0, "at 0.1 epochs: 30 networks");
    const char *want[] = {"at 0.5 epochs: 29 networks", "TG t0-category (category, pearson)",
                          "TG t1-image (image, spearman)", "best P+alpha*TG ",
                          "at 0.5 epochs, ", "predicts mature accuracy best: Spearman ",
                          "vs P alone ", "TG helps: ", "wrote "};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if (!strstr(tu_out, want[k])) fail_msg("no '%s' in:\n%s", want[k], tu_out);
    assert_null(strstr(tu_out, "at 2 epochs:"));   /* the end is not a premature point */
    fputs(tu_out, stdout);
    OK(tg_file_read(csv, 1 << 24, &data, &n, &g_err));
    assert_true(!strncmp((char *)data, "at,kind,teacher,", 16));
    free(data);

    /* errors */
    snprintf(args, sizeof args, "analyze --db %s --study search", g_url);
    tu_expect(args, 1, "tgsage analyze: study search is a tpe study, not a pool");
    snprintf(args, sizeof args, "analyze --db %s --study nosuch", g_url);
    tu_expect(args, 1, "nosuch");
    snprintf(args, sizeof args, "analyze --db %s --study pool --alpha 1,x", g_url);
    tu_expect(args, 2, "--alpha: 'x' is not a number");
    snprintf(args, sizeof args, "analyze --db %s --study pool --boot -1", g_url);
    tu_expect(args, 2, "--boot");
    snprintf(args, sizeof args, "analyze --db %s", g_url);
    tu_expect(args, 2, "--study is required");
    tu_expect("analyze --help", 0, "usage: tgsage analyze --db URL --study NAME");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),  cmocka_unit_test(test_pool),
        cmocka_unit_test(test_csv),    cmocka_unit_test(test_few),
        cmocka_unit_test(test_refused), cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
