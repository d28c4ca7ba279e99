/* test_tracker.c - the tracker on SQLite files: the cases of
 * tracker_cases.h, each on a fresh file, plus what only SQLite or no
 * database at all has (the study config's JSON, a file that is not a
 * database). */
#include <float.h>
#include <stdio.h>

#include "testdb.h"
#include "tracker_cases.h"
#include "tracker_cases_v2.h"

static char dir[256];

static int setup(void **s) {
    (void)s;
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    return 0;
}

static int teardown(void **s) {
    (void)s;
    tu_rmtree(dir);
    return 0;
}

static const char *url(const char *name) { return td_sqlite_url(dir, name); }

#define CASE(n) static void test_##n(void **s) { (void)s; tc_##n(url(#n)); }
CASE(schema)
CASE(migrate)
CASE(open_race)
CASE(studies)
CASE(lock)
CASE(proposals)
CASE(claim_report)
CASE(fencing)
CASE(max_attempts)
CASE(release)
CASE(outcomes)
CASE(enqueue)
CASE(parent)
CASE(teachers)
CASE(config_at)
CASE(rdms_points)
CASE(v1_to_v2)
CASE(enqueue_race)

static void test_concurrent(void **s) {
    (void)s;
    double wall = tc_concurrent(url("concurrent"));
    assert_true(wall < 120);
}

static void test_config_json(void **s) {
    (void)s;
    tg_study_config c, back;
    tc_config(&c, 30);
    c.alpha = 0.1 + 0.2;                 /* 0.30000000000000004 */
    c.epochs = 1.0 + DBL_EPSILON;        /* needs 17 digits */
    c.lease_s = 1e-3;
    c.seed = UINT64_MAX;
    c.train_limit = 9007199254740992LL;  /* 2^53 */
    TC_OK(tg_study_config_check(&c, E));
    tg_error e;
    char *j = tg_study_config_json(&c, &e);
    assert_non_null(j);
    assert_string_equal(j,
        "{\"algo\":\"tpe\",\"alpha\":0.30000000000000004,\"batch\":128,"
        "\"data\":\"fashion-mnist\",\"epochs\":1.0000000000000002,"
        "\"fingerprint\":\"0123456789abcdef0123456789abcdef\",\"lease_s\":0.001,"
        "\"max_attempts\":3,\"nval\":5000,\"parallel\":1,\"score\":\"p+tg\","
        "\"seed\":\"18446744073709551615\",\"space\":\"layerwise:4\",\"split_seed\":\"7\","
        "\"train_limit\":9007199254740992,\"trials\":30}");
    TC_OK(tg_study_config_parse(j, &back, E));
    assert_memory_equal(&back.alpha, &c.alpha, sizeof c.alpha);
    assert_memory_equal(&back.epochs, &c.epochs, sizeof c.epochs);
    assert_true(back.seed == UINT64_MAX && back.split_seed == 7);
    assert_int_equal(back.train_limit, c.train_limit);
    char msg[256];
    assert_int_equal(tg_study_config_diff(&c, &back, msg, sizeof msg), 0);
    free(j);
    /* a split seed equal to the seed is implied: not written */
    c.split_seed = c.seed;
    j = tg_study_config_json(&c, &e);
    assert_non_null(j);
    assert_null(strstr(j, "split_seed"));
    TC_OK(tg_study_config_parse(j, &back, E));
    assert_true(back.split_seed == UINT64_MAX);
    free(j);
    c.split_seed = 7;

    /* unknown keys are ignored (a later tgsage), missing ones are not */
    const char *later =
        "{\"algo\":\"rl\",\"alpha\":2,\"batch\":64,\"data\":\"mnist:/d\",\"epochs\":0.5,"
        "\"fingerprint\":\"\",\"lease_s\":30,\"max_attempts\":1,\"nval\":0,\"parallel\":8,"
        "\"score\":\"p\",\"seed\":\"42\",\"space\":\"cell:5\",\"train_limit\":0,"
        "\"trials\":7,\"zeta\":{\"new\":true}}";
    TC_OK(tg_study_config_parse(later, &back, E));
    assert_string_equal(back.algo, "rl");
    assert_string_equal(back.space, "cell:5");
    assert_int_equal(back.parallel, 8);
    assert_true(back.epochs == 0.5 && back.seed == 42);
    assert_true(back.split_seed == 42);   /* written before split_seed: the seed's split */
    TC_FAILS(tg_study_config_parse("{\"algo\":\"rl\",\"alpha\":2,\"at\":[0.1],\"batch\":64,"
             "\"data\":\"\",\"epochs\":1,\"fingerprint\":\"\",\"lease_s\":30,"
             "\"max_attempts\":1,\"nval\":0,\"parallel\":1,\"score\":\"p\",\"seed\":\"1\","
             "\"space\":\"cell\",\"split_seed\":-3,\"train_limit\":0,\"trials\":7}", &back, &e),
             e, TG_ERR_FORMAT, "study config: split_seed is not a string");
    TC_FAILS(tg_study_config_parse("{\"algo\":\"rl\"}", &back, &e), e, TG_ERR_FORMAT,
             "study config: no alpha");
    TC_FAILS(tg_study_config_parse("[1]", &back, &e), e, TG_ERR_FORMAT, "not a JSON object");

    /* diff skips trials and parallel, names the first other field */
    back = c;
    back.trials = 1;
    back.parallel = 9;
    assert_int_equal(tg_study_config_diff(&c, &back, msg, sizeof msg), 0);
    snprintf(back.space, sizeof back.space, "cell:3");
    back.batch = 64;
    assert_int_equal(tg_study_config_diff(&c, &back, msg, sizeof msg), 1);
    assert_string_equal(msg, "batch: the study has 128, this run asks for 64");
    back = c;
    back.fingerprint[0] = '\0';
    assert_int_equal(tg_study_config_diff(&c, &back, msg, sizeof msg), 1);
    assert_string_equal(msg, "fingerprint: the study has 0123456789abcdef0123456789abcdef, "
                             "this run asks for \"\"");

    /* range checks name the field */
    back = c;
    snprintf(back.algo, sizeof back.algo, "grid");
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "algo: 'grid'");
    back = c;
    back.lease_s = 0;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "lease_s");
    back = c;
    back.space[0] = '\0';
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "space: not set");
    back = c;
    snprintf(back.fingerprint, sizeof back.fingerprint, "XYZ");
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "fingerprint: 'XYZ'");
    back = c;
    back.max_attempts = 0;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "max_attempts");
    tg_study_config_defaults(&back);
    assert_string_equal(back.algo, "tpe");
    assert_string_equal(back.score, "p+tg");
    assert_true(back.alpha == 1 && back.lease_s == 60);
    assert_int_equal(back.batch, 128);
    assert_int_equal(back.parallel, 1);
    assert_int_equal(back.max_attempts, 3);
}

/* The database's own message comes through. */
static void test_errors(void **s) {
    (void)s;
    char path[512];
    snprintf(path, sizeof path, "%s/notadb.db", dir);
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)('a' + i % 26);
    assert_int_equal(tu_write_file(path, junk, sizeof junk), 0);
    tg_tracker *t = NULL;
    tg_error e;
    tg_error_clear(&e);
    tg_status st = tg_tracker_open(url("notadb"), &t, &e);
    assert_int_not_equal(st, TG_OK);
    assert_null(t);
    if (!strstr(e.msg, "file is not a database"))
        fail_msg("message '%s' lacks sqlite's 'file is not a database'", e.msg);
    TC_FAILS(tg_tracker_open("mysql://x/y", &t, &e), e, TG_ERR_ARG, "unknown database URL");

    t = tc_open(url("ident"));
    assert_string_equal(tg_tracker_backend(t), "sqlite");
    assert_string_equal(tg_tracker_url(t), url("ident"));
    tg_tracker_close(t);

    tg_worker_id a, b;
    tg_worker_id_init(&a);
    tg_worker_id_init(&b);
    assert_int_equal(a.pid, (int)getpid());
    assert_true(a.host[0] != '\0');
    char want[200];
    snprintf(want, sizeof want, "%s:%d:", a.host, a.pid);
    assert_memory_equal(a.owner, want, strlen(want));
    assert_int_equal(strlen(a.owner), strlen(want) + 16);
    assert_string_not_equal(a.owner, b.owner);   /* a fresh tag each time */
    assert_string_equal(tg_trial_state_name(TG_TRIAL_COMPLETE), "complete");
    assert_string_equal(tg_trial_state_name(TG_TRIAL_WAITING), "waiting");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_open_race),
        cmocka_unit_test(test_studies),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_proposals),
        cmocka_unit_test(test_claim_report),
        cmocka_unit_test(test_fencing),
        cmocka_unit_test(test_max_attempts),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_enqueue),
        cmocka_unit_test(test_parent),
        cmocka_unit_test(test_teachers),
        cmocka_unit_test(test_config_at),
        cmocka_unit_test(test_rdms_points),
        cmocka_unit_test(test_v1_to_v2),
        cmocka_unit_test(test_enqueue_race),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
