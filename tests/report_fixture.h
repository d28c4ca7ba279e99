/* report_fixture.h - a database of every kind of study the report draws,
 * built through the tracker's API with results written as a worker would
 * (nothing trains, so it is fast): shared by test_report.c and
 * test_report_browser.c (static functions: each includes it once).
 *
 *   s-ptg         tpe, P+TG against an image-level teacher of 3 layers
 *                 (m = 50, so the trial RDMs are its first 40), 8 trials:
 *                 #3 failed (a hostile error text), #7 still waiting (the
 *                 study is not done), the others complete with RDMs; #5 the
 *                 best, a genome of known depths
 *   s-p           random, P only, no teacher, 5 trials complete
 *   s-ptg.rerank  rerank of s-ptg's top 3 (parents 5, 6, 4)
 *   pool1         pool at 0.1 and 0.5 of 1 epoch, 6 networks complete, the
 *                 teacher of s-ptg
 *   pool2         the same, 2 of 4 networks complete (too few to correlate)
 *   cells         random over the cell space, objective, 3 trials complete
 *
 * The values follow formulas the tests recompute (fx_* below). */
#ifndef TG_REPORT_FIXTURE_H
#define TG_REPORT_FIXTURE_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tgsage/genome.h"
#include "tgsage/teacher.h"
#include "tgsage/tracker.h"

#define FX_M 50          /* teacher RDM items (images) */
#define FX_K 40          /* the trial RDMs' crop */
#define FX_NPOOL 6
#define FX_HOSTILE "<img src=x onerror=alert(1)>&amp;\"'</script><!--"

/* teacher layer names: the last is hostile (63 bytes at most) */
static const char *const fx_layers[3] = {"L1", "L2", "</script><b>L3</b>&"};

static double fx_teacher_rdm(int l, int i, int j) {
    return i == j ? 0 : 0.5 + 0.45 * sin(0.3 * l + 0.11 * (i + j) + 0.01 * i * j);
}
static double fx_trial_rdm(int64_t number, int l, int i, int j) {
    return i == j ? 0 : 0.5 + 0.4 * cos(0.2 * (double)number + 0.5 * l + 0.13 * (i + j));
}
static const char *const fx_candidate[3] = {"layer1", "layer0", "layer1"};

static double fx_search_p(int64_t n) { return 0.40 + 0.05 * (double)((n * 5) % 8); }
static double fx_search_tg(int64_t n) { return 0.10 + 0.02 * (double)n; }
static int64_t fx_search_examples(int64_t n) { return 1000 * (n + 1); }

/* pool network i at point q (0, 1: premature; 2: the end) */
static double fx_pool_mature(int i) { return 0.55 + 0.06 * (double)((i * 4) % FX_NPOOL); }
static double fx_pool_p(int i, int q) {
    return q == 2 ? fx_pool_mature(i) : 0.2 + 0.05 * (double)i + 0.1 * q;
}
static double fx_pool_r(int i, int q, int method, int l, int c) {
    return 0.1 * (l + 1) + 0.03 * (double)((i * 5 + c) % FX_NPOOL) + 0.05 * q + 0.01 * method;
}
/* TG of pool network i at point q by pearson (method 0): mean over teacher
 * layers of the max over the two candidate layers */
static double fx_pool_tg(int i, int q) {
    double s = 0;
    for (int l = 0; l < 3; l++) {
        double a = fx_pool_r(i, q, 0, l, 0), b = fx_pool_r(i, q, 0, l, 1);
        s += a > b ? a : b;
    }
    return s / 3;
}

static void fx_genome_lw(int v, char *out, size_t n) {
    /* v-th of a family of distinct small layer-wise genomes */
    static const int filters[3] = {32, 64, 128}, ks[4] = {1, 3, 5, 7};
    int nl = 1 + v % 3;
    int len = snprintf(out, n, "{\"schema\": 1, \"space\": \"layerwise\", \"max_layers\": 4, "
                       "\"layers\": [");
    for (int i = 0; i < nl; i++)
        len += snprintf(out + len, n - (size_t)len, "%s{\"filters\": %d, \"kh\": %d, \"kw\": %d, "
                        "\"stride\": 1, \"act\": \"relu\", \"norm\": \"bn\", \"inputs\": [%d]}",
                        i ? ", " : "", filters[(v / 3) % 3], ks[(v / 9 + i) % 4], ks[i % 4], i - 1);
    snprintf(out + len, n - (size_t)len, "]}");
}

/* The best genome of s-ptg: depths image 0, layer0 1, layer1 2, layer2 2,
 * layer3 3, classifier 4; edges 1 + 1 + 2 + 2 + 1 = 7 */
static const char FX_BEST_GENOME[] =
    "{\"schema\": 1, \"space\": \"layerwise\", \"max_layers\": 4, \"layers\": ["
    "{\"filters\": 64, \"kh\": 3, \"kw\": 3, \"stride\": 1, \"act\": \"relu\", \"norm\": \"bn\", \"inputs\": [-1]},"
    "{\"filters\": 32, \"kh\": 5, \"kw\": 5, \"stride\": 2, \"act\": \"relu\", \"norm\": \"none\", \"inputs\": [0]},"
    "{\"filters\": 32, \"kh\": 1, \"kw\": 3, \"stride\": 1, \"act\": \"identity\", \"norm\": \"bn\", \"inputs\": [-1, 0]},"
    "{\"filters\": 128, \"kh\": 3, \"kw\": 3, \"stride\": 1, \"act\": \"relu\", \"norm\": \"bn\", \"inputs\": [1, 2]}]}";

static void fx_genome_cell(int v, char *out, size_t n) {
    static const char *const ops[4] = {"sep3x3", "identity", "max3x3", "dil3x3"};
    int len = snprintf(out, n, "{\"schema\": 1, \"space\": \"cell\", \"blocks_per_cell\": 5, "
                       "\"cells_per_stage\": 2, \"filters\": 16, \"blocks\": [");
    for (int b = 0; b < 5; b++)
        len += snprintf(out + len, n - (size_t)len, "%s{\"inputs\": [%d, %d], \"ops\": "
                        "[\"%s\", \"%s\"]}", b ? ", " : "", b == 0 ? -2 : b - 1, -1,
                        ops[(b + v) % 4], ops[(b + 2 * v + 1) % 4]);
    snprintf(out + len, n - (size_t)len, "], \"concat_inputs\": [%s, true]}",
             v % 2 ? "true" : "false");
}

/* canonical JSON and hash of a genome text */
static void fx_canon(const char *text, char **json, char hash[33]) {
    tg_error err;
    tg_genome *g = tg_genome_parse(text, NULL, &err);
    if (!g) fail_msg("fixture genome: %s\n%s", err.msg, text);
    *json = tg_genome_json(g);
    tg_genome_hash(g, hash);
    tg_genome_free(g);
}

static void fx_ok(tg_status st, const tg_error *err) {
    if (st != TG_OK) fail_msg("fixture: %s", err->msg);
}

static char *fx_trial_rdms(int64_t number) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "unit", "image");
    cJSON_AddNumberToObject(j, "m", FX_M);
    cJSON_AddNumberToObject(j, "k", FX_K);
    cJSON *t = cJSON_AddArrayToObject(j, "teacher"), *c = cJSON_AddArrayToObject(j, "candidate");
    cJSON *r = cJSON_AddArrayToObject(j, "rdm");
    for (int l = 0; l < 3; l++) {
        cJSON_AddItemToArray(t, cJSON_CreateString(fx_layers[l]));
        cJSON_AddItemToArray(c, cJSON_CreateString(fx_candidate[l]));
        cJSON *M = cJSON_CreateArray();
        for (int i = 0; i < FX_K; i++) {
            cJSON *row = cJSON_CreateArray();
            for (int k = 0; k < FX_K; k++)
                cJSON_AddItemToArray(row, cJSON_CreateNumber(fx_trial_rdm(number, l, i, k)));
            cJSON_AddItemToArray(M, row);
        }
        cJSON_AddItemToArray(r, M);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static char *fx_pool_points(int i) {
    static const char *const methods[4] = {"pearson", "spearman", "kendall", "cka"};
    static const double at[3] = {0.1, 0.5, 1.0};
    cJSON *a = cJSON_CreateArray();
    for (int q = 0; q < 3; q++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "at", at[q]);
        cJSON_AddNumberToObject(o, "examples", 600 * at[q]);
        cJSON_AddNumberToObject(o, "p", fx_pool_p(i, q));
        cJSON_AddNumberToObject(o, "val_loss", 1.5 - fx_pool_p(i, q));
        cJSON_AddNumberToObject(o, "p_bn", fx_pool_p(i, q) + 0.01 * (i % 3));
        cJSON *ts = cJSON_AddArrayToObject(o, "teachers"), *t = cJSON_CreateObject();
        cJSON_AddItemToArray(ts, t);
        cJSON_AddNumberToObject(t, "position", 0);
        cJSON *ls = cJSON_AddArrayToObject(t, "layers"), *cs = cJSON_AddArrayToObject(t, "candidate");
        for (int l = 0; l < 3; l++) cJSON_AddItemToArray(ls, cJSON_CreateString(fx_layers[l]));
        cJSON_AddItemToArray(cs, cJSON_CreateString("layer0"));
        cJSON_AddItemToArray(cs, cJSON_CreateString("layer1"));
        cJSON *r = cJSON_AddObjectToObject(t, "r");
        for (int m = 0; m < 4; m++) {
            cJSON *M = cJSON_AddArrayToObject(r, methods[m]);
            for (int l = 0; l < 3; l++) {
                cJSON *row = cJSON_CreateArray();
                for (int c = 0; c < 2; c++)
                    cJSON_AddItemToArray(row, cJSON_CreateNumber(fx_pool_r(i, q, m, l, c)));
                cJSON_AddItemToArray(M, row);
            }
        }
        cJSON_AddItemToArray(a, o);
    }
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

static unsigned char *fx_teacher_bytes(const char *dir, size_t *n) {
    tg_teacher T;
    memset(&T, 0, sizeof T);
    tg_error err;
    double *rdm = malloc(sizeof(double) * FX_M * FX_M);
    assert_non_null(rdm);
    for (int l = 0; l < 3; l++) {
        for (int i = 0; i < FX_M; i++)
            for (int j = 0; j < FX_M; j++) rdm[i * FX_M + j] = fx_teacher_rdm(l, i, j);
        fx_ok(tg_teacher_add(&T, fx_layers[l], rdm, FX_M, &err), &err);
    }
    free(rdm);
    T.unit = TG_RDM_IMAGE;
    T.method = TG_SIM_PEARSON;
    snprintf(T.source, sizeof T.source, "report fixture");
    char path[600];
    snprintf(path, sizeof path, "%s/fixture.tgt", dir);
    fx_ok(tg_teacher_save(path, &T, &err), &err);
    tg_teacher_free(&T);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static tg_study fx_open(tg_tracker *t, const char *name, const char *algo, const char *score,
                        const char *space, const void *teacher, size_t nt, int64_t trials) {
    tg_study_config c;
    tg_study_config_defaults(&c);
    snprintf(c.space, sizeof c.space, "%s", space);
    snprintf(c.algo, sizeof c.algo, "%s", algo);
    snprintf(c.score, sizeof c.score, "%s", score);
    snprintf(c.data, sizeof c.data, "fashion-mnist");
    c.epochs = 0.5;
    c.trials = trials;
    c.nval = 1000;
    if (!strcmp(algo, "pool")) {
        c.epochs = 1;
        c.at[0] = 0.1, c.at[1] = 0.5, c.nat = 2;
    }
    tg_study s;
    int created;
    tg_error err;
    fx_ok(tg_study_open(t, name, &c, teacher, nt, &s, &created, &err), &err);
    return s;
}

/* Propose the genomes as an explorer would (numbered 0, 1, ...). */
static void fx_propose(tg_tracker *t, const tg_study *s, char **json, char (*hash)[33], int n) {
    tg_error err;
    tg_proposal *p = calloc((size_t)n, sizeof *p);
    int64_t *num = calloc((size_t)n, sizeof *num);
    assert_true(p && num);
    for (int i = 0; i < n; i++) p[i] = (tg_proposal){i, json[i], hash[i]};
    fx_ok(tg_study_lock(t, s->id, "fixture-explorer", 60, &err), &err);
    fx_ok(tg_study_propose(t, s->id, "fixture-explorer", p, n, "{}", num, &err), &err);
    fx_ok(tg_study_unlock(t, s->id, "fixture-explorer", &err), &err);
    for (int i = 0; i < n; i++) assert_int_equal(num[i], i);
    free(p);
    free(num);
}

/* Claim the oldest waiting trial and report r for it. */
typedef void (*fx_result_fn)(int64_t number, tg_trial_result *r, char **own);
static void fx_work(tg_tracker *t, const tg_study *s, int count, fx_result_fn fn) {
    tg_worker_id w;
    tg_worker_id_init(&w);
    tg_error err;
    for (int k = 0; k < count; k++) {
        tg_claim c;
        int got, fenced;
        fx_ok(tg_trial_claim(t, s->id, &w, 60, &c, &got, &err), &err);
        assert_true(got);
        tg_trial_result r = {.ok = 1, .score = NAN, .p = NAN, .val_loss = NAN, .tg = NAN};
        char *own[2] = {NULL, NULL};
        fn(c.number, &r, own);
        fx_ok(tg_trial_report(t, &c, &w, &r, &fenced, &err), &err);
        assert_false(fenced);
        free(own[0]);
        free(own[1]);
        tg_claim_free(&c);
    }
}

static void fx_ptg_result(int64_t n, tg_trial_result *r, char **own) {
    r->examples = fx_search_examples(n);
    r->train_s = 1.5 + 0.5 * (double)n;
    r->eval_s = 0.25;
    if (n == 3) {
        r->ok = 0;
        r->error = "worker said: " FX_HOSTILE;
        return;
    }
    r->p = fx_search_p(n);
    r->tg = fx_search_tg(n);
    r->val_loss = 1.0;
    r->score = n == 5 ? 2.0 : r->p + r->tg;
    r->rdms = own[0] = fx_trial_rdms(n);
}

static void fx_p_result(int64_t n, tg_trial_result *r, char **own) {
    (void)own;
    r->examples = 2000;
    r->train_s = 1.0;
    r->eval_s = 0.1;
    r->p = r->score = 0.3 + 0.1 * (double)((n * 3) % 5);
}

static void fx_rerank_result(int64_t n, tg_trial_result *r, char **own) {
    (void)own;
    r->examples = 5000;
    r->train_s = 4.0;
    r->eval_s = 0.5;
    r->p = 0.7 + 0.05 * (double)n;
    r->tg = 0.2;
    r->score = r->p + r->tg;
}

static void fx_pool_result(int64_t n, tg_trial_result *r, char **own) {
    r->examples = 600;
    r->train_s = 2.0;
    r->eval_s = 1.0;
    r->p = r->score = fx_pool_mature((int)n);
    r->tg = fx_pool_tg((int)n, 2);
    r->points = own[0] = fx_pool_points((int)n);
}

static void fx_cell_result(int64_t n, tg_trial_result *r, char **own) {
    (void)own;
    r->score = 0.1 * (double)(n + 1);
}

/* Build the whole database at url (dir for the teacher file). */
static void fx_build(const char *url, const char *dir) {
    tg_tracker *t;
    tg_error err;
    fx_ok(tg_tracker_open(url, &t, &err), &err);
    size_t nt;
    unsigned char *teacher = fx_teacher_bytes(dir, &nt);
    char *json[8], hash[8][33], text[4096];

    tg_study a = fx_open(t, "s-ptg", "tpe", "p+tg", "layerwise:4", teacher, nt, 8);
    for (int i = 0; i < 8; i++) {
        if (i == 5) snprintf(text, sizeof text, "%s", FX_BEST_GENOME);
        else fx_genome_lw(i, text, sizeof text);
        fx_canon(text, &json[i], hash[i]);
    }
    fx_propose(t, &a, json, hash, 8);
    fx_work(t, &a, 7, fx_ptg_result);   /* #7 stays waiting */

    tg_study b = fx_open(t, "s-p", "random", "p", "layerwise:4", NULL, 0, 5);
    for (int i = 0; i < 8; i++) free(json[i]);
    for (int i = 0; i < 5; i++) {
        fx_genome_lw(i + 20, text, sizeof text);
        fx_canon(text, &json[i], hash[i]);
    }
    fx_propose(t, &b, json, hash, 5);
    fx_work(t, &b, 5, fx_p_result);
    fx_ok(tg_study_set_done(t, b.id, 1, &err), &err);
    for (int i = 0; i < 5; i++) free(json[i]);

    /* the rerank of s-ptg's top 3 by score: 5 (2.0), 6 (0.70 + 0.22), 4 (0.60 + 0.18) */
    tg_study c = fx_open(t, "s-ptg.rerank", "rerank", "p+tg", "layerwise:4", teacher, nt, 3);
    fx_ok(tg_study_set_parent(t, c.id, a.id, &err), &err);
    tg_trial *best;
    int64_t nb;
    fx_ok(tg_trial_best(t, a.id, 3, &best, &nb, &err), &err);
    assert_int_equal(nb, 3);
    tg_enqueue_item items[3];
    for (int i = 0; i < 3; i++) items[i] = (tg_enqueue_item){best[i].genome, best[i].hash,
                                                             best[i].number};
    int64_t num[3];
    fx_ok(tg_study_enqueue(t, c.id, items, 3, num, NULL, &err), &err);
    tg_trials_free(best, nb);
    fx_work(t, &c, 3, fx_rerank_result);
    fx_ok(tg_study_set_done(t, c.id, 1, &err), &err);

    tg_study d = fx_open(t, "pool1", "pool", "p+tg", "layerwise:4", teacher, nt, FX_NPOOL);
    tg_enqueue_item pi[FX_NPOOL];
    char *pj[FX_NPOOL], ph[FX_NPOOL][33];
    for (int i = 0; i < FX_NPOOL; i++) {
        fx_genome_lw(i + 40, text, sizeof text);
        fx_canon(text, &pj[i], ph[i]);
        pi[i] = (tg_enqueue_item){pj[i], ph[i], -1};
    }
    int64_t pn[FX_NPOOL];
    fx_ok(tg_study_enqueue(t, d.id, pi, FX_NPOOL, pn, NULL, &err), &err);
    for (int i = 0; i < FX_NPOOL; i++) free(pj[i]);
    fx_work(t, &d, FX_NPOOL, fx_pool_result);
    fx_ok(tg_study_set_done(t, d.id, 1, &err), &err);

    /* a pool of two networks so far: a scatter, but no correlation yet */
    tg_study d2 = fx_open(t, "pool2", "pool", "p+tg", "layerwise:4", teacher, nt, 4);
    for (int i = 0; i < 4; i++) {
        fx_genome_lw(i + 50, text, sizeof text);
        fx_canon(text, &pj[i], ph[i]);
        pi[i] = (tg_enqueue_item){pj[i], ph[i], -1};
    }
    fx_ok(tg_study_enqueue(t, d2.id, pi, 4, pn, NULL, &err), &err);
    for (int i = 0; i < 4; i++) free(pj[i]);
    fx_work(t, &d2, 2, fx_pool_result);
    fx_ok(tg_study_set_done(t, d2.id, 1, &err), &err);

    tg_study e = fx_open(t, "cells", "random", "objective", "cell", NULL, 0, 3);
    for (int i = 0; i < 3; i++) {
        fx_genome_cell(i, text, sizeof text);
        fx_canon(text, &json[i], hash[i]);
    }
    fx_propose(t, &e, json, hash, 3);
    fx_work(t, &e, 3, fx_cell_result);
    fx_ok(tg_study_set_done(t, e.id, 1, &err), &err);
    for (int i = 0; i < 3; i++) free(json[i]);

    free(teacher);
    tg_tracker_close(t);
}

#endif
