/* test_db_pg.c - the tracker's database layer on PostgreSQL: the cases of
 * db_cases.h, each on a fresh database of the test server (the CTest
 * fixture pg starts it; without it every case fails). */
#include <stdio.h>

#include "db_cases.h"
#include "testdb.h"

static void test_types(void **s) { (void)s; dc_types(td_pg_url("tg_db_types")); }
static void test_params(void **s) { (void)s; dc_params(td_pg_url("tg_db_params")); }
static void test_changed(void **s) { (void)s; dc_changed(td_pg_url("tg_db_changed")); }
static void test_transact(void **s) { (void)s; dc_transact(td_pg_url("tg_db_transact")); }
static void test_schema(void **s) { (void)s; dc_schema(td_pg_url("tg_db_schema")); }
static void test_syntax_returning(void **s) {
    (void)s;
    dc_syntax_returning(td_pg_url("tg_db_syntax"));
}
static void test_now(void **s) { (void)s; dc_now(td_pg_url("tg_db_now")); }

static void test_kind(void **s) {
    (void)s;
    tg_db *db = dc_open(td_pg_url("tg_db_kind"));
    assert_int_equal(tg_db_kind_of(db), TG_DB_POSTGRES);
    tg_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_changed),
        cmocka_unit_test(test_transact),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_syntax_returning),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
