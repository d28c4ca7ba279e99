/* test_train_rerank.c - `tgsage rerank` and `tgsage pool` with real
 * training, through the binary: a teacher (a ResNet-8 trained briefly, its
 * L1-L3 observed), a tiny P+TG search (3 trials of 0.05 epochs on 1,000
 * images, seed 4: the teacher's split, seed 0, is the study's own
 * --split-seed default), then its top 2 reranked for 0.2 epochs. Each reranked trial is
 * trained here again through the library by worker.h's contract (the
 * "short" preset, the study's split and batch, the seed derived from the
 * study's seed and the rerank trial's own number) and its P and validation
 * loss must be the worker's: so the rerank trained the right genome for
 * E2 on the right data. The printed table and the --json costs are held
 * to the database. Then a pool of 2 architectures trained to 0.4 epochs
 * (batch 32) with points at 0.1 and 0.2: every trial's points hold P and the four
 * similarities for every teacher layer, the last point's P is the trial's.
 * Piped output of teacher, search, rerank and pool has no carriage
 * return. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/rng.h"
#include "tgsage/threads.h"
#include "tgsage/tracker.h"
#include "tgsage/trainer.h"

#define NVAL 500
#define LIMIT 1000

static char g_dir[256], g_url[4200], g_teacher[600];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_url, sizeof g_url, "%s", td_sqlite_url(g_dir, "train_rerank"));
    snprintf(g_teacher, sizeof g_teacher, "%s/t.teacher", g_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

/* The last line of tu_out that is a JSON object. */
static cJSON *last_json(void) {
    cJSON *j = NULL;
    for (char *line = tu_out; *line;) {
        size_t len = strcspn(line, "\n");
        if (*line == '{') {
            char *text = strndup(line, len);
            cJSON_Delete(j);
            j = cJSON_Parse(text);
            free(text);
        }
        line += len;
        if (*line) line++;
    }
    if (!j) fail_msg("no JSON object in:\n%s", tu_out);
    return j;
}

static double num(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) fail_msg("JSON has no number '%s'", key);
    return v->valuedouble;
}

static void make_teacher(void) {
    char a[8192];
    snprintf(a, sizeof a, "train --net resnet:1 --epochs 0.5 --train-limit %d --val %d "
             "--threads 2 --out %s/t.ckpt", LIMIT, NVAL, g_dir);
    tu_expect(a, 0, "");
    snprintf(a, sizeof a, "teacher --ckpt %s/t.ckpt --layers L1,L2,L3 --n 200 --val %d "
             "--threads 2 -o %s", g_dir, NVAL, g_teacher);
    tu_expect(a, 0, "3 layers");
    assert_null(strchr(tu_out, '\r'));
    assert_non_null(strstr(tu_out, "teacher: observing 3 layers"));
}

/* A rerank trial trained again here as a worker trains it. */
static void retrain(const tg_study *s, const tg_trial *t, const tg_dataset *train,
                    const tg_dataset *val) {
    tg_train_config tc;
    tg_error err;
    assert_int_equal(tg_train_preset("short", &tc, &err), TG_OK);
    tc.genome = t->genome;
    snprintf(tc.space, sizeof tc.space, "%s", s->cfg.space);
    tc.epochs = s->cfg.epochs;
    tc.batch = s->cfg.batch;
    tc.seed = tg_rng_derive(tg_rng_derive(s->cfg.seed, 0x747269616c73ULL), (uint64_t)t->number);
    tc.save_every = 0;
    tg_train_result res;
    if (tg_train_run(&tc, train, val, 0, NULL, &res, &err) != TG_OK) fail_msg("%s", err.msg);
    print_message("rerank trial %lld: worker p %.4f loss %.6f, here p %.4f loss %.6f\n",
                  (long long)t->number, t->p, t->val_loss, res.final.val_acc,
                  res.final.val_loss);
    assert_true(fabs(res.final.val_acc - t->p) < 0.5 / NVAL);
    assert_true(fabs(res.final.val_loss - t->val_loss) <= 1e-5 * fabs(t->val_loss));
}

static void test_search_rerank(void **state) {
    (void)state;
    make_teacher();
    char a[8192];
    snprintf(a, sizeof a, "search --db %s --study s --space layerwise:3:filters=8,16 --algo "
             "random --trials 3 --epochs 0.05 --train-limit %d --val %d --teacher %s "
             "--seed 4 --workers 2 --threads 1", g_url, LIMIT, NVAL, g_teacher);
    tu_expect(a, 0, "3 of 3 trials complete, 0 failed");
    assert_null(strchr(tu_out, '\r'));
    snprintf(a, sizeof a, "rerank --db %s --study s --top 2 --epochs 0.2 --workers 2 "
             "--threads 1 --json", g_url);
    assert_int_equal(tu_run(a), 0);
    assert_null(strchr(tu_out, '\r'));
    cJSON *j = last_json();
    const cJSON *rows = cJSON_GetObjectItem(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 2);

    tg_tracker *t;
    tg_error err;
    tg_study ps, rs;
    tg_trial *best, *rt;
    int64_t nb, nr;
    assert_int_equal(tg_tracker_open(g_url, &t, &err), TG_OK);
    assert_int_equal(tg_study_get(t, "s", &ps, &err), TG_OK);
    assert_int_equal(tg_study_get(t, "s.rerank", &rs, &err), TG_OK);
    assert_int_equal(tg_trial_best(t, ps.id, 2, &best, &nb, &err), TG_OK);
    assert_int_equal(tg_trial_list(t, rs.id, &rt, &nr, &err), TG_OK);
    tg_study_counts pc, rc;
    assert_int_equal(tg_study_counts_get(t, ps.id, &pc, &err), TG_OK);
    assert_int_equal(tg_study_counts_get(t, rs.id, &rc, &err), TG_OK);
    tg_tracker_close(t);
    assert_int_equal(nb, 2);
    assert_int_equal(nr, 2);
    assert_true(rs.cfg.epochs == 0.2);
    assert_string_equal(rs.cfg.score, "p+tg");
    assert_true(rs.has_teacher);
    assert_true(ps.cfg.seed == 4 && ps.cfg.split_seed == 0 && rs.cfg.split_seed == 0);

    tg_threads_set(1);   /* as the workers ran */
    tg_dataset train, val;
    assert_int_equal(tg_split_load("fashion-mnist", NVAL, ps.cfg.split_seed, LIMIT, 0, &train, &val,
                                   NULL, &err), TG_OK);
    int64_t rerank_examples = 0;
    for (int i = 0; i < 2; i++) {
        const cJSON *x = cJSON_GetArrayItem(rows, i);
        int64_t parent = (int64_t)num(x, "parent"), trial = (int64_t)num(x, "trial");
        assert_int_equal(parent, best[i].number);
        const tg_trial *r = NULL;
        for (int64_t k = 0; k < nr; k++)
            if (rt[k].number == trial) r = &rt[k];
        assert_non_null(r);
        assert_int_equal(r->parent, parent);
        assert_string_equal(r->hash, best[i].hash);
        assert_int_equal(r->state, TG_TRIAL_COMPLETE);
        assert_true(r->p >= 0 && r->p <= 1 && isfinite(r->tg));
        assert_true(r->score == r->p + rs.cfg.alpha * r->tg);
        assert_true(num(x, "p") == r->p && num(x, "score") == r->score);
        assert_true(num(x, "search_score") == best[i].score);
        assert_true(num(x, "search_p") == best[i].p);
        /* 0.2 epochs, not the search's 0.05 */
        assert_true(r->examples > best[i].examples);
        assert_true(num(x, "examples") == (double)r->examples);
        rerank_examples += r->examples;
        retrain(&rs, r, &train, &val);
    }
    const cJSON *c = cJSON_GetObjectItem(j, "cost");
    assert_true(num(c, "search_examples") == (double)pc.examples);
    assert_true(num(c, "rerank_examples") == (double)rerank_examples);
    assert_true(num(c, "rerank_examples") == (double)rc.examples);
    assert_true(num(c, "total_examples") == (double)(pc.examples + rc.examples));
    cJSON_Delete(j);

    /* the same command resumes: nothing redone; the table holds the values */
    snprintf(a, sizeof a, "rerank --db %s --study s --top 2 --epochs 0.2 --workers 1", g_url);
    tu_expect(a, 0, "0 newly queued, 2 already there");
    char *line = strstr(tu_out, "rerank-score");
    assert_non_null(line);
    for (int i = 0; i < 2; i++) {
        line = strchr(line, '\n');
        assert_non_null(line);
        line++;
        long rank, trial, parent;
        double ss, sp, stg, rp, rtg, rsc;
        long long params;
        assert_int_equal(sscanf(line, "%ld %ld %ld %lf %lf %lf %lf %lf %lf %lld", &rank, &trial,
                                &parent, &ss, &sp, &stg, &rp, &rtg, &rsc, &params), 10);
        assert_int_equal(rank, i + 1);
        assert_int_equal(parent, best[i].number);
        const tg_trial *r = NULL;
        for (int64_t k = 0; k < nr; k++)
            if (rt[k].number == trial) r = &rt[k];
        assert_non_null(r);
        assert_true(fabs(ss - best[i].score) < 1e-4 && fabs(sp - best[i].p) < 1e-4);
        assert_true(fabs(stg - best[i].tg) < 1e-4);
        assert_true(fabs(rp - r->p) < 1e-4 && fabs(rtg - r->tg) < 1e-4);
        assert_true(fabs(rsc - r->score) < 1e-4);
        assert_true(params > 0);
    }
    char want[128];
    snprintf(want, sizeof want, "total %lld examples", (long long)(pc.examples + rc.examples));
    assert_non_null(strstr(tu_out, want));

    /* the best trained on another part of the training split: the search's held-out
     * images, the new part's fingerprint, trained as a worker trains it there */
    snprintf(a, sizeof a, "rerank --db %s --study s --top 1 --epochs 0.3 --train-limit %d "
             "--into s.half --workers 1 --threads 1", g_url, LIMIT / 2);
    tu_expect(a, 0, "x 0.3 epochs of 500 images");
    tg_study hs;
    tg_trial *ht;
    int64_t nh;
    assert_int_equal(tg_tracker_open(g_url, &t, &err), TG_OK);
    assert_int_equal(tg_study_get(t, "s.half", &hs, &err), TG_OK);
    assert_int_equal(tg_trial_list(t, hs.id, &ht, &nh, &err), TG_OK);
    tg_tracker_close(t);
    assert_int_equal(hs.cfg.train_limit, LIMIT / 2);
    assert_true(hs.cfg.nval == ps.cfg.nval && hs.cfg.seed == ps.cfg.seed &&
                hs.cfg.split_seed == ps.cfg.split_seed);
    assert_string_not_equal(hs.cfg.fingerprint, ps.cfg.fingerprint);
    assert_int_equal(nh, 1);
    assert_int_equal(ht[0].parent, best[0].number);
    tg_dataset half, hval;
    assert_int_equal(tg_split_load("fashion-mnist", NVAL, ps.cfg.split_seed, LIMIT / 2, 0, &half,
                                   &hval, NULL, &err), TG_OK);
    assert_string_equal(half.fingerprint, hs.cfg.fingerprint);
    retrain(&hs, &ht[0], &half, &hval);
    tg_trials_free(ht, nh);
    tg_dataset_free(&half);
    tg_dataset_free(&hval);
    tg_trials_free(best, nb);
    tg_trials_free(rt, nr);
    tg_dataset_free(&train);
    tg_dataset_free(&val);
}

static void test_pool(void **state) {
    (void)state;
    char a[8192];
    snprintf(a, sizeof a, "pool --db %s --study pool --space layerwise:3:filters=8,16 --n 2 "
             "--epochs 0.4 --at 0.1,0.2 --batch 32 --teacher %s --train-limit %d --val %d "
             "--workers 2 --threads 1 --json", g_url, g_teacher, LIMIT, NVAL);
    assert_int_equal(tu_run(a), 0);
    assert_null(strchr(tu_out, '\r'));
    cJSON *j = last_json();
    assert_true(num(j, "complete") == 2 && num(j, "failed") == 0);
    cJSON_Delete(j);
    tg_tracker *t;
    tg_error err;
    tg_study s;
    tg_trial *tr;
    int64_t n;
    assert_int_equal(tg_tracker_open(g_url, &t, &err), TG_OK);
    assert_int_equal(tg_study_get(t, "pool", &s, &err), TG_OK);
    assert_int_equal(tg_trial_list(t, s.id, &tr, &n, &err), TG_OK);
    tg_tracker_close(t);
    assert_true(s.done);
    assert_int_equal(n, 2);
    const double at[3] = {0.1, 0.2, 0.4};
    for (int64_t i = 0; i < n; i++) {
        assert_int_equal(tr[i].state, TG_TRIAL_COMPLETE);
        assert_non_null(tr[i].points);
        cJSON *pts = cJSON_Parse(tr[i].points);
        assert_non_null(pts);
        assert_int_equal(cJSON_GetArraySize(pts), 3);
        for (int k = 0; k < 3; k++) {
            const cJSON *pt = cJSON_GetArrayItem(pts, k);
            assert_true(fabs(num(pt, "at") - at[k]) < 1e-12);
            double p = num(pt, "p");
            assert_true(p >= 0 && p <= 1);
            if (k == 2) assert_true(p == tr[i].p);
            const cJSON *te = cJSON_GetArrayItem(cJSON_GetObjectItem(pt, "teachers"), 0);
            assert_non_null(te);
            assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(te, "layers")), 3);
            const cJSON *r = cJSON_GetObjectItem(te, "r");
            const char *methods[] = {"pearson", "spearman", "kendall", "cka"};
            for (int m = 0; m < 4; m++) {
                const cJSON *rm = cJSON_GetObjectItem(r, methods[m]);
                assert_int_equal(cJSON_GetArraySize(rm), 3);
            }
        }
        cJSON_Delete(pts);
    }
    tg_trials_free(tr, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_rerank),
        cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
