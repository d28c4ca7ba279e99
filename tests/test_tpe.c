/* test_tpe.c - TPE (src/explorer/tpe.c, tpe_model.c) against cases computed
 * by hand: n_good, linear forgetting, the split with its constant liar, the
 * categorical posteriors, the draw and the choice by l/g; then whole
 * proposals from a crafted history, where the pending proposal must push
 * the next one away from it; the random start-up; and that TPE learns. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/explorer/explorer_internal.h"
#include "synthetic.h"
#include "tgsage/explorer.h"
#include "tgsage/space.h"

#define EPS 1e-15

static void test_ngood(void **state) {
    (void)state;
    /* ceil(0.25 sqrt(N)) capped at 25:
     *   N = 1: ceil(0.25) = 1;  16: 0.25 * 4 = 1 exactly -> 1;  17: 1.03 -> 2;
     *   20: 1.118 -> 2;  64: 2 exactly -> 2;  65: 2.0156 -> 3;  100: 2.5 -> 3;
     *   10000: 25;  10001: 25.001 -> 26, capped 25;  40000: 50 -> 25 */
    const int64_t n[] = {0, 1, 16, 17, 20, 64, 65, 100, 10000, 10001, 40000};
    const int64_t want[] = {0, 1, 1, 2, 2, 2, 3, 3, 25, 25, 25};
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
        if (tg_tpe_ngood(n[i]) != want[i])
            fail_msg("ngood(%lld) = %lld, want %lld", (long long)n[i],
                     (long long)tg_tpe_ngood(n[i]), (long long)want[i]);
}

static void test_forget_weights(void **state) {
    (void)state;
    double w[40];
    /* N < LF and N == LF: all 1 */
    tg_tpe_forget_weights(3, 25, w);
    for (int i = 0; i < 3; i++) assert_true(w[i] == 1.0);
    tg_tpe_forget_weights(25, 25, w);
    for (int i = 0; i < 25; i++) assert_true(w[i] == 1.0);
    /* N = 26, LF = 25: linspace(1/26, 1, num=1) = [1/26], then 25 ones */
    tg_tpe_forget_weights(26, 25, w);
    assert_true(fabs(w[0] - 1.0 / 26) < EPS);
    for (int i = 1; i < 26; i++) assert_true(w[i] == 1.0);
    /* N = 30, LF = 25: linspace(1/30, 1, 5), step (1 - 1/30) / 4 = 29/120:
     * 4/120, 33/120, 62/120, 91/120, 120/120; then 25 ones */
    tg_tpe_forget_weights(30, 25, w);
    const double ramp[5] = {4.0 / 120, 33.0 / 120, 62.0 / 120, 91.0 / 120, 1.0};
    for (int i = 0; i < 5; i++)
        if (fabs(w[i] - ramp[i]) > EPS) fail_msg("w[%d] = %.17g, want %.17g", i, w[i], ramp[i]);
    for (int i = 5; i < 30; i++) assert_true(w[i] == 1.0);
    /* N = 5, LF = 2: linspace(0.2, 1, 3) = 0.2, 0.6, 1; then 1, 1 */
    tg_tpe_forget_weights(5, 2, w);
    const double w5[5] = {0.2, 0.6, 1.0, 1.0, 1.0};
    for (int i = 0; i < 5; i++)
        if (fabs(w[i] - w5[i]) > EPS) fail_msg("w[%d] = %.17g, want %.17g", i, w[i], w5[i]);
    tg_tpe_forget_weights(0, 25, w);   /* nothing to write, nothing to crash */
}

static tg_trial trial(tg_trial_state s, double score) {
    return (tg_trial){NULL, s, score, s == TG_TRIAL_PENDING ? -1 : 0};
}

static void test_split(void **state) {
    (void)state;
    tg_trial t[20];
    unsigned char good[20];
    /* 20 trials: n_good = ceil(0.25 sqrt 20) = 2. Scores: id 3 and 7 tie at
     * 0.9, id 12 has 0.95, the others less; id 5 is pending and id 9 failed
     * (a failed trial's score field is never read). Best: 12, then 3 (the
     * earlier of the tie). */
    for (int i = 0; i < 20; i++) t[i] = trial(TG_TRIAL_OK, 0.01 * i);
    t[3].score = t[7].score = 0.9;
    t[12].score = 0.95;
    t[5] = trial(TG_TRIAL_PENDING, 5.0);
    t[9] = trial(TG_TRIAL_FAILED, 7.0);
    assert_int_equal(tg_tpe_split(t, 20, good), 2);
    for (int i = 0; i < 20; i++) assert_int_equal(good[i], i == 3 || i == 12);
    /* the same 20, but only id 4 told ok: it is the one good trial; the
     * pending ones count as bad even though there is room in l(x) */
    for (int i = 0; i < 20; i++) t[i] = trial(TG_TRIAL_PENDING, 0);
    t[4] = trial(TG_TRIAL_OK, -3.0);
    t[6] = trial(TG_TRIAL_FAILED, 0);
    assert_int_equal(tg_tpe_split(t, 20, good), 1);
    for (int i = 0; i < 20; i++) assert_int_equal(good[i], i == 4);
    /* nothing told: nothing good */
    t[4] = trial(TG_TRIAL_PENDING, 0);
    assert_int_equal(tg_tpe_split(t, 20, good), 0);
    for (int i = 0; i < 20; i++) assert_int_equal(good[i], 0);
    /* 100 told (n_good 3) with increasing scores: the last three */
    tg_trial u[100];
    unsigned char g100[100];
    for (int i = 0; i < 100; i++) u[i] = trial(TG_TRIAL_OK, (double)i);
    assert_int_equal(tg_tpe_split(u, 100, g100), 3);
    for (int i = 0; i < 100; i++) assert_int_equal(g100[i], i >= 97);
}

static void test_posterior(void **state) {
    (void)state;
    double p[3];
    /* v = 0, 2, 2, 1 with weights 0.5, 1, 1, 1, prior 1:
     * (1 + 0.5, 1 + 1, 1 + 2) / 6.5 = 3/13, 4/13, 6/13 */
    const int v[4] = {0, 2, 2, 1};
    const double w[4] = {0.5, 1, 1, 1};
    tg_tpe_posterior(v, w, 4, 3, 1.0, p);
    assert_true(fabs(p[0] - 3.0 / 13) < EPS && fabs(p[1] - 4.0 / 13) < EPS &&
                fabs(p[2] - 6.0 / 13) < EPS);
    /* no observation: the prior alone, uniform */
    tg_tpe_posterior(v, w, 0, 3, 1.0, p);
    for (int c = 0; c < 3; c++) assert_true(fabs(p[c] - 1.0 / 3) < EPS);
}

static void test_draw_and_best(void **state) {
    (void)state;
    const double p[3] = {0.25, 0.5, 0.25};
    assert_int_equal(tg_tpe_draw(p, 3, 0.0), 0);
    assert_int_equal(tg_tpe_draw(p, 3, 0.2499), 0);
    assert_int_equal(tg_tpe_draw(p, 3, 0.25), 1);
    assert_int_equal(tg_tpe_draw(p, 3, 0.7499), 1);
    assert_int_equal(tg_tpe_draw(p, 3, 0.75), 2);
    assert_int_equal(tg_tpe_draw(p, 3, 0.9999999999), 2);
    const double z[2] = {0.0, 1.0};   /* a zero-probability choice is never drawn */
    assert_int_equal(tg_tpe_draw(z, 2, 0.0), 1);
    /* l/g = 2, 1, 0.75: choice 0 wherever it was drawn */
    const double l[3] = {0.2, 0.5, 0.3}, g[3] = {0.1, 0.5, 0.4};
    const int c1[4] = {1, 2, 0, 1};
    assert_int_equal(tg_tpe_best(c1, 4, l, g), 0);
    const int c2[3] = {2, 1, 2};   /* 0 not drawn: 1 (ratio 1) beats 2 (0.75) */
    assert_int_equal(tg_tpe_best(c2, 3, l, g), 1);
    /* a tie of ratios (0.2/0.1 = 0.4/0.2): the first drawn */
    const double lt[2] = {0.2, 0.4}, gt[2] = {0.1, 0.2};
    const int c3[2] = {1, 0};
    assert_int_equal(tg_tpe_best(c3, 2, lt, gt), 1);
}

/* ---- whole proposals from a crafted history ---- */

static tg_space *space(const char *spec) {
    tg_error err;
    tg_space *s = tg_space_parse(spec, &err);
    if (!s) fail_msg("%s: %s", spec, err.msg);
    return s;
}

/* A TPE explorer whose history is the given trials (points x[i], scores;
 * all told ok, told in id order), made by editing a saved state. */
static tg_explorer *crafted(const tg_space *s, const tg_explorer_config *c, int n,
                            int (*x)[16], const double *score) {
    tg_error err;
    tg_explorer *e = tg_explorer_new(s, c, &err);
    if (!e) fail_msg("%s", err.msg);
    char *text = tg_explorer_save(e, &err);
    tg_explorer_free(e);
    cJSON *j = cJSON_Parse(text);
    free(text);
    cJSON *trials = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "x", cJSON_CreateIntArray(x[i], tg_space_ndims(s)));
        cJSON_AddStringToObject(o, "state", "ok");
        cJSON_AddNumberToObject(o, "score", score[i]);
        cJSON_AddNumberToObject(o, "told_order", i);
        cJSON_AddItemToArray(trials, o);
    }
    cJSON_ReplaceItemInObject(j, "trials", trials);
    cJSON_ReplaceItemInObject(j, "told", cJSON_CreateNumber(n));
    text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    e = tg_explorer_load(s, text, &err);
    free(text);
    if (!e) fail_msg("crafted state: %s", err.msg);
    return e;
}

/* layerwise:2 has 15 dimensions: 0 nlayers; 1-6 layer 0 (filters, kh, kw,
 * stride, act, norm); 7-12 layer 1's, 13 layers[1].in[-1], 14 in[0]. */
static void test_constant_liar(void **state) {
    (void)state;
    tg_space *s = space("layerwise:2");
    assert_int_equal(tg_space_ndims(s), 15);
    assert_string_equal(tg_space_dim(s, 13)->name, "layers[1].in[-1]");
    /* History of 70 trials: n_good = ceil(0.25 sqrt 70) = 3.
     *   ids 0-2: two layers, scores 10, 9, 8 (the good three). In each of
     *     layer 1's dimensions (7-14) ids 0 and 1 take choice 1 ("a") and
     *     id 2 choice 0 ("b").
     *   ids 3-69: one layer (layer 1 inactive), scores below 1 (bad).
     * For a layer-1 dimension with k choices, l = pseudocounts (1 + 2 at a,
     * 1 + 1 at b, 1 elsewhere) / (3 + k); g has no observation: uniform.
     * So l/g is largest at a (3 against 2): proposal A takes a everywhere
     * in layer 1. nlayers: l = (1, 1 + 3) / 5, g = (1 + 67, 1) / 69: two
     * layers by far.
     * A stays pending, so it joins g: now g = (1 at b, 1 + 1 at a, 1 ...)
     * / (k + 1), l is unchanged, and l/g at a is 3/2 against 2/1 at b:
     * proposal B takes b in every layer-1 dimension. (nlayers: g = (68, 2)
     * / 70, still two layers.) 200 candidates make missing a or b among
     * the draws (p >= 2/7 each) impossible in practice. */
    int x[71][16];
    double score[70];
    for (int i = 0; i < 70; i++) {
        for (int d = 0; d < 15; d++) x[i][d] = -1;
        int two = i < 3;
        x[i][0] = two;
        for (int d = 1; d <= 6; d++) x[i][d] = (i * 7 + d) % tg_space_dim(s, d)->nchoices;
        for (int d = 7; two && d <= 14; d++) x[i][d] = i < 2 ? 1 : 0;
        score[i] = two ? 10.0 - i : 0.01 * i;
    }
    tg_explorer_config c;
    tg_error err;
    assert_int_equal(tg_explorer_defaults("tpe", &c, &err), TG_OK);
    c.tpe_candidates = 200;
    c.seed = 5;
    tg_explorer *e = crafted(s, &c, 70, x, score);
    int a[15], b[15];
    int64_t ida, idb;
    assert_int_equal(tg_explorer_propose(e, &ida, a, &err), TG_OK);
    assert_int_equal(tg_explorer_propose(e, &idb, b, &err), TG_OK);
    assert_int_equal(ida, 70);
    assert_int_equal(idb, 71);
    assert_int_equal(a[0], 1);
    assert_int_equal(b[0], 1);
    for (int d = 7; d <= 14; d++) {
        if (a[d] != 1) fail_msg("A: %s = %d, want 1", tg_space_dim(s, d)->name, a[d]);
        if (b[d] != 0) fail_msg("B: %s = %d, want 0", tg_space_dim(s, d)->name, b[d]);
    }
    /* A told as failed is just as bad as pending: the third proposal, with
     * A failed and B pending (each of a and b once more in g), has
     * l/g = 3/2 at a and 2/2 at b: a again. */
    assert_int_equal(tg_explorer_tell(e, ida, 0, 0, &err), TG_OK);
    int c3[15];
    int64_t id3;
    assert_int_equal(tg_explorer_propose(e, &id3, c3, &err), TG_OK);
    for (int d = 7; d <= 14; d++) assert_int_equal(c3[d], 1);
    tg_explorer_free(e);
    tg_space_free(s);
}

/* The start-up proposals are the random explorer's, draw for draw. */
static void test_startup_is_random(void **state) {
    (void)state;
    tg_space *s = space("layerwise:10");
    tg_explorer_config ct, cr;
    tg_error err;
    tg_explorer_defaults("tpe", &ct, &err);
    tg_explorer_defaults("random", &cr, &err);
    ct.seed = cr.seed = 77;
    tg_explorer *et = tg_explorer_new(s, &ct, &err), *er = tg_explorer_new(s, &cr, &err);
    int n = tg_space_ndims(s), *xt = malloc(sizeof(int) * (size_t)n),
        *xr = malloc(sizeof(int) * (size_t)n);
    int differ = 0;
    for (int t = 0; t < 21; t++) {
        int64_t id;
        assert_int_equal(tg_explorer_propose(et, &id, xt, &err), TG_OK);
        assert_int_equal(tg_explorer_tell(et, id, 1, (double)t, &err), TG_OK);
        assert_int_equal(tg_explorer_propose(er, &id, xr, &err), TG_OK);
        int same = !memcmp(xt, xr, sizeof(int) * (size_t)n);
        if (t < 20 && !same) fail_msg("start-up proposal %d differs from random's", t);
        if (t == 20) differ = !same;
    }
    assert_true(differ);   /* proposal 20 is TPE's own */
    free(xt);
    free(xr);
    tg_explorer_free(et);
    tg_explorer_free(er);
    tg_space_free(s);
}

/* Conditional dimensions: a dimension of a layer absent in a proposal is
 * -1 and never drawn; the dimensions TPE fills are exactly the active ones. */
static void test_conditions(void **state) {
    (void)state;
    tg_space *s = space("layerwise:6");
    tg_syn o;
    assert_int_equal(tg_syn_init(&o, s, TG_SYN_TARGET, 3), 0);
    tg_explorer_config c;
    tg_error err;
    tg_explorer_defaults("tpe", &c, &err);
    c.tpe_startup = 5;
    tg_explorer *e = tg_explorer_new(s, &c, &err);
    int n = tg_space_ndims(s), x[64], y[64];
    for (int t = 0; t < 80; t++) {
        int64_t id;
        assert_int_equal(tg_explorer_propose(e, &id, x, &err), TG_OK);
        memcpy(y, x, sizeof(int) * (size_t)n);
        tg_space_normalize(s, y);
        assert_memory_equal(x, y, sizeof(int) * (size_t)n);
        for (int d = 0; d < n; d++)
            if (tg_space_active(s, x, d)) assert_true(x[d] >= 0);
        assert_int_equal(tg_explorer_tell(e, id, 1, tg_syn_eval(&o, x), &err), TG_OK);
    }
    tg_explorer_free(e);
    tg_space_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ngood),         cmocka_unit_test(test_forget_weights),
        cmocka_unit_test(test_split),         cmocka_unit_test(test_posterior),
        cmocka_unit_test(test_draw_and_best), cmocka_unit_test(test_constant_liar),
        cmocka_unit_test(test_startup_is_random), cmocka_unit_test(test_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
