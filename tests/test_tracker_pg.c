/* test_tracker_pg.c - the tracker on PostgreSQL: the cases of
 * tracker_cases.h, each on a fresh database of the test server (the CTest
 * fixture pg starts it; without it every case fails). */
#include <stdio.h>

#include "testdb.h"
#include "tracker_cases.h"
#include "tracker_cases_v2.h"

/* td_pg_url's buffer is static: a copy per case */
static char cur[2400];
static const char *url(const char *name) {
    char db[64];
    snprintf(db, sizeof db, "tg_tracker_%s", name);
    snprintf(cur, sizeof cur, "%s", td_pg_url(db));
    return cur;
}

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

/* The server's own message comes through, the password never. */
static void test_errors(void **s) {
    (void)s;
    const char *base = td_pg_base();
    const char *at = strstr(base, "@/"), *q = strchr(base, '?');
    assert_non_null(at);
    assert_non_null(q);
    char bad[2400];
    snprintf(bad, sizeof bad, "%.*s:s3cret@/tg_no_such_db%s", (int)(at - base), base, q);
    tg_tracker *t = NULL;
    tg_error e;
    tg_error_clear(&e);
    tg_status st = tg_tracker_open(bad, &t, &e);
    assert_int_not_equal(st, TG_OK);
    assert_null(t);
    if (!strstr(e.msg, "\"tg_no_such_db\" does not exist"))
        fail_msg("message '%s' lacks the server's 'database ... does not exist'", e.msg);
    assert_null(strstr(e.msg, "s3cret"));

    t = tc_open(url("ident"));
    assert_string_equal(tg_tracker_backend(t), "postgresql");
    assert_string_equal(tg_tracker_url(t), cur);
    tg_tracker_close(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
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
    return cmocka_run_group_tests(tests, NULL, NULL);
}
