/* db_cases.h - the cases of src/tracker/db.h that both engines must pass,
 * each a function of a URL naming an empty database. Included by
 * test_db.c (SQLite files) and test_db_pg.c (the test PostgreSQL server);
 * SQL is written once for both, as the tracker's is. */
#ifndef TG_DB_CASES_H
#define TG_DB_CASES_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "testutil.h"
#include "../src/tracker/db.h"

#define DC_OK(expr, e)                                                                   \
    do {                                                                                 \
        tg_status s_ = (expr);                                                           \
        if (s_ != TG_OK) fail_msg("%s: %s: %s", #expr, tg_status_name(s_), (e).msg);     \
    } while (0)

static tg_db *dc_open(const char *url) {
    tg_db *db = NULL;
    tg_error e;
    tg_status st = tg_db_open(url, &db, &e);
    if (st != TG_OK) fail_msg("tg_db_open %s: %s: %s", url, tg_status_name(st), e.msg);
    return db;
}

static void dc_sql(tg_db *db, const char *sql) {
    tg_error e;
    DC_OK(tg_db_exec(db, sql, NULL, 0, NULL, NULL, &e), e);
}

/* The single integer a query returns. */
static int64_t dc_int(tg_db *db, const char *sql, const tg_dbv *p, int np) {
    tg_error e;
    tg_db_rows *r = NULL;
    DC_OK(tg_db_exec(db, sql, p, np, &r, NULL, &e), e);
    if (tg_db_nrows(r) != 1 || tg_db_ncols(r) != 1)
        fail_msg("%s: %lld rows x %d columns, want 1 x 1", sql, (long long)tg_db_nrows(r),
                 tg_db_ncols(r));
    int64_t v = tg_db_int(r, 0, 0);
    tg_db_rows_free(r);
    return v;
}

static int dc_contains_ci(const char *s, const char *want) {
    size_t n = strlen(want);
    for (; *s; s++)
        if (strncasecmp(s, want, n) == 0) return 1;
    return 0;
}

#define DC_FAILS(expr, e, want_status, want_text)                                        \
    do {                                                                                 \
        tg_status s_ = (expr);                                                           \
        if (s_ != (want_status) || !dc_contains_ci((e).msg, want_text))                  \
            fail_msg("%s: %s \"%s\", want %s with \"%s\"", #expr, tg_status_name(s_),    \
                     (e).msg, tg_status_name(want_status), want_text);                   \
    } while (0)

static int dc_same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Every type there and back: int64 extremes, doubles bit for bit, NULL
 * (NaN binds as NULL), text with quotes and UTF-8, blobs with NUL bytes and
 * one of 1 MB. */
static void dc_types(const char *url) {
    tg_db *db = dc_open(url);
    tg_error e;
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE v (id BIGINT PRIMARY KEY, i BIGINT, "
             "r DOUBLE PRECISION, s TEXT, b %s)",
             tg_db_kind_of(db) == TG_DB_SQLITE ? "BLOB" : "BYTEA");
    dc_sql(db, sql);

    enum { NV = 7, BIG = 1 << 20 };
    unsigned char *big = malloc(BIG);
    assert_non_null(big);
    uint64_t x = 88172645463325252u;
    for (size_t k = 0; k < BIG; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        big[k] = (unsigned char)(k % 97 == 0 ? 0 : x >> 56);
    }
    static const unsigned char nul[6] = {0, 1, 0, 255, 0, 0};
    const char *utf8 = "it's \"quoted\"; -- \\n '' \xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 "
                       "\xe6\x97\xa5\xe6\x9c\xac \xe2\x9c\x93";
    const int64_t ints[NV] = {INT64_MIN, INT64_MAX, 0, -1, 1, 4294967296, -9007199254740993};
    const double reals[NV] = {1e-300, 0.1, NAN, 5e-324, DBL_MAX, -2.5, 9007199254740992.0};
    const char *texts[NV] = {utf8, "", NULL, "a", "NULL", "0.1", "\t\n"};
    for (int k = 0; k < NV; k++) {
        tg_dbv p[5] = {tg_dbv_int(k + 1), tg_dbv_int(ints[k]), tg_dbv_real(reals[k]),
                       tg_dbv_text(texts[k]), tg_dbv_null()};
        if (k == 0) p[4] = tg_dbv_blob(nul, sizeof nul);
        if (k == 1) p[4] = tg_dbv_blob(big, BIG);
        if (k == 3) p[4] = tg_dbv_blob("", 0);
        int64_t changed = -1;
        DC_OK(tg_db_exec(db, "INSERT INTO v (id, i, r, s, b) VALUES ($1, $2, $3, $4, $5)",
                         p, 5, NULL, &changed, &e), e);
        assert_int_equal(changed, 1);
    }

    tg_db_rows *r = NULL;
    DC_OK(tg_db_exec(db, "SELECT id, i, r, s, b FROM v ORDER BY id", NULL, 0, &r, NULL, &e), e);
    assert_int_equal(tg_db_nrows(r), NV);
    assert_int_equal(tg_db_ncols(r), 5);
    for (int k = 0; k < NV; k++) {
        assert_int_equal(tg_db_int(r, k, 0), k + 1);
        if (tg_db_int(r, k, 1) != ints[k])
            fail_msg("row %d: int %lld, want %lld", k, (long long)tg_db_int(r, k, 1),
                     (long long)ints[k]);
        if (isnan(reals[k])) {
            assert_true(tg_db_isnull(r, k, 2));
            assert_true(isnan(tg_db_real(r, k, 2)));
        } else if (!dc_same_double(tg_db_real(r, k, 2), reals[k])) {
            fail_msg("row %d: real %.17g, want %.17g", k, tg_db_real(r, k, 2), reals[k]);
        }
        if (!texts[k]) {
            assert_true(tg_db_isnull(r, k, 3));
            assert_null(tg_db_text(r, k, 3));
        } else {
            assert_false(tg_db_isnull(r, k, 3));
            assert_string_equal(tg_db_text(r, k, 3), texts[k]);
        }
        size_t n = 99;
        const void *b = tg_db_blob(r, k, 4, &n);
        if (k == 0) {
            assert_int_equal(n, sizeof nul);
            assert_memory_equal(b, nul, sizeof nul);
        } else if (k == 1) {
            assert_int_equal(n, BIG);
            assert_int_equal(memcmp(b, big, BIG), 0);
        } else if (k == 3) {
            assert_false(tg_db_isnull(r, k, 4));   /* empty, not NULL */
            assert_int_equal(n, 0);
        } else {
            assert_true(tg_db_isnull(r, k, 4));
            assert_null(b);
            assert_int_equal(n, 0);
        }
    }
    tg_db_rows_free(r);

    /* parameters in comparisons; aggregates come back as integers */
    tg_dbv pb = tg_dbv_blob(nul, sizeof nul);
    assert_int_equal(dc_int(db, "SELECT id FROM v WHERE b = $1", &pb, 1), 1);
    tg_dbv pt = tg_dbv_text(utf8);
    assert_int_equal(dc_int(db, "SELECT id FROM v WHERE s = $1", &pt, 1), 1);
    tg_dbv pi = tg_dbv_int(INT64_MIN);
    assert_int_equal(dc_int(db, "SELECT id FROM v WHERE i = $1", &pi, 1), 1);
    tg_dbv pr = tg_dbv_real(0.1);
    assert_int_equal(dc_int(db, "SELECT id FROM v WHERE r = $1", &pr, 1), 2);
    assert_int_equal(dc_int(db, "SELECT COUNT(*) FROM v WHERE r IS NULL", NULL, 0), 1);
    assert_int_equal(dc_int(db, "SELECT COUNT(*) FROM v", NULL, 0), NV);
    free(big);
    tg_db_close(db);
}

/* $k may repeat and come in any order; a parameter the SQL uses but the
 * call does not give fails. */
static void dc_params(const char *url) {
    tg_db *db = dc_open(url);
    tg_error e;
    dc_sql(db, "CREATE TABLE p (a BIGINT, b TEXT, c BIGINT)");
    tg_dbv p[2] = {tg_dbv_text("x"), tg_dbv_int(7)};
    DC_OK(tg_db_exec(db, "INSERT INTO p (a, b, c) VALUES ($2, $1, $2)", p, 2, NULL, NULL, &e), e);
    tg_dbv q[2] = {tg_dbv_text("y"), tg_dbv_int(-3)};
    DC_OK(tg_db_exec(db, "INSERT INTO p (c, b, a) VALUES ($2, $1, $2 * 2)", q, 2, NULL, NULL, &e),
          e);
    tg_db_rows *r = NULL;
    DC_OK(tg_db_exec(db, "SELECT a, b, c FROM p WHERE c = $2 AND a = $2 AND b = $1", p, 2, &r,
                     NULL, &e), e);
    assert_int_equal(tg_db_nrows(r), 1);
    assert_int_equal(tg_db_int(r, 0, 0), 7);
    assert_string_equal(tg_db_text(r, 0, 1), "x");
    assert_int_equal(tg_db_int(r, 0, 2), 7);
    tg_db_rows_free(r);
    assert_int_equal(dc_int(db, "SELECT a FROM p WHERE b = $1", q, 2), -6);
    tg_status st = tg_db_exec(db, "SELECT a FROM p WHERE a = $1 OR c = $2", p, 1, NULL, NULL, &e);
    assert_int_not_equal(st, TG_OK);
    tg_db_close(db);
}

/* `changed` counts the rows a statement inserted, updated or deleted. */
static void dc_changed(const char *url) {
    tg_db *db = dc_open(url);
    tg_error e;
    int64_t ch = -1;
    dc_sql(db, "CREATE TABLE c (k BIGINT PRIMARY KEY, v BIGINT)");
    for (int k = 0; k < 5; k++) {
        tg_dbv p[2] = {tg_dbv_int(k), tg_dbv_int(k * 10)};
        DC_OK(tg_db_exec(db, "INSERT INTO c (k, v) VALUES ($1, $2)", p, 2, NULL, &ch, &e), e);
        assert_int_equal(ch, 1);
    }
    tg_dbv t = tg_dbv_int(15);
    DC_OK(tg_db_exec(db, "UPDATE c SET v = v + 1 WHERE v > $1", &t, 1, NULL, &ch, &e), e);
    assert_int_equal(ch, 3);
    DC_OK(tg_db_exec(db, "SELECT * FROM c", NULL, 0, NULL, &ch, &e), e);
    assert_int_equal(ch, 0);
    DC_OK(tg_db_exec(db, "UPDATE c SET v = 0 WHERE k > 100", NULL, 0, NULL, &ch, &e), e);
    assert_int_equal(ch, 0);
    DC_OK(tg_db_exec(db, "CREATE INDEX c_v ON c (v)", NULL, 0, NULL, &ch, &e), e);
    assert_int_equal(ch, 0);
    DC_OK(tg_db_exec(db, "DELETE FROM c WHERE k < 2", NULL, 0, NULL, &ch, &e), e);
    assert_int_equal(ch, 2);
    assert_int_equal(dc_int(db, "SELECT SUM(v) FROM c", NULL, 0), 21 + 31 + 41);
    tg_db_close(db);
}

typedef struct {
    int calls;
    int64_t k;
    tg_status give;          /* what fn returns after its inserts */
} dc_tx;

static tg_status dc_tx_insert(tg_db *db, void *user, tg_error *err) {
    dc_tx *t = user;
    t->calls++;
    tg_dbv p[2] = {tg_dbv_int(t->k), tg_dbv_int(t->k + 1)};
    tg_status st = tg_db_exec(db, "INSERT INTO tx (k, v) VALUES ($1, $2)", p, 2, NULL, NULL, err);
    if (st != TG_OK) return st;
    p[0] = tg_dbv_int(t->k + 1);
    st = tg_db_exec(db, "INSERT INTO tx (k, v) VALUES ($1, $2)", p, 2, NULL, NULL, err);
    if (st != TG_OK) return st;
    if (t->give != TG_OK) return tg_error_set(err, t->give, "fn gave up on purpose");
    return TG_OK;
}

static tg_status dc_tx_nested(tg_db *db, void *user, tg_error *err) {
    dc_tx *t = user;
    t->calls++;
    tg_error e;
    tg_status st = tg_db_transact(db, dc_tx_insert, user, &e);
    if (st != TG_ERR_ARG || !strstr(e.msg, "nest"))
        return tg_error_set(err, TG_ERR_ARG, "nested transact gave %s: %s", tg_status_name(st),
                            e.msg);
    return TG_OK;
}

/* Committed, rolled back by fn's own error (returned as fn set it, not
 * retried), rolled back by a failing statement; not nestable. */
static void dc_transact(const char *url) {
    tg_db *db = dc_open(url);
    tg_error e;
    dc_sql(db, "CREATE TABLE tx (k BIGINT PRIMARY KEY, v BIGINT)");
    dc_tx t = {0, 1, TG_OK};
    DC_OK(tg_db_transact(db, dc_tx_insert, &t, &e), e);
    assert_int_equal(t.calls, 1);
    assert_int_equal(dc_int(db, "SELECT COUNT(*) FROM tx", NULL, 0), 2);

    t = (dc_tx){0, 10, TG_ERR_NOT_FOUND};
    tg_status st = tg_db_transact(db, dc_tx_insert, &t, &e);
    assert_int_equal(st, TG_ERR_NOT_FOUND);
    assert_string_equal(e.msg, "fn gave up on purpose");
    assert_int_equal(t.calls, 1);
    assert_int_equal(dc_int(db, "SELECT COUNT(*) FROM tx", NULL, 0), 2);

    t = (dc_tx){0, 2, TG_OK};   /* (2, 3) then (3, 3): k = 2 exists */
    DC_FAILS(tg_db_transact(db, dc_tx_insert, &t, &e), e, TG_ERR_DB, "unique");
    assert_int_equal(t.calls, 1);
    t = (dc_tx){0, 0, TG_OK};   /* (0, 1) inserted, then (1, 1) collides: both undone */
    DC_FAILS(tg_db_transact(db, dc_tx_insert, &t, &e), e, TG_ERR_DB, "unique");
    assert_int_equal(dc_int(db, "SELECT COUNT(*) FROM tx", NULL, 0), 2);
    assert_int_equal(dc_int(db, "SELECT COUNT(*) FROM tx WHERE k = 0", NULL, 0), 0);

    t = (dc_tx){0, 20, TG_OK};
    DC_OK(tg_db_transact(db, dc_tx_nested, &t, &e), e);
    assert_int_equal(t.calls, 1);    /* the nested fn never ran */
    assert_int_equal(dc_int(db, "SELECT SUM(k) FROM tx", NULL, 0), 3);
    tg_db_close(db);
}

/* A schema script; its failure quotes the engine; foreign keys hold. */
static void dc_schema(const char *url) {
    tg_db *db = dc_open(url);
    tg_error e;
    DC_OK(tg_db_exec_script(db,
        "CREATE TABLE s1 (id BIGINT PRIMARY KEY, name TEXT NOT NULL);\n"
        "CREATE TABLE s2 (id BIGINT PRIMARY KEY, s1 BIGINT NOT NULL REFERENCES s1 (id),\n"
        "                 x DOUBLE PRECISION);\n"
        "CREATE INDEX s2_s1 ON s2 (s1);\n"
        "INSERT INTO s1 (id, name) VALUES (1, 'one');\n"
        "INSERT INTO s2 (id, s1, x) VALUES (10, 1, 0.5);\n", &e), e);
    tg_db_rows *r = NULL;
    DC_OK(tg_db_exec(db, "SELECT s1.name, s2.x FROM s2 JOIN s1 ON s1.id = s2.s1", NULL, 0, &r,
                     NULL, &e), e);
    assert_int_equal(tg_db_nrows(r), 1);
    assert_string_equal(tg_db_text(r, 0, 0), "one");
    assert_true(tg_db_real(r, 0, 1) == 0.5);
    tg_db_rows_free(r);
    DC_FAILS(tg_db_exec(db, "INSERT INTO s2 (id, s1, x) VALUES (11, 99, 0)", NULL, 0, NULL, NULL,
                        &e), e, TG_ERR_DB, "foreign key");
    DC_FAILS(tg_db_exec_script(db, "CREATE TABLE s3 (a BIGINT);\nCREATE TABLE s1 (b BIGINT);",
                               &e), e, TG_ERR_DB, "already exists");
    assert_int_equal(dc_int(db, "SELECT COUNT(*) FROM s2", NULL, 0), 1);
    tg_db_close(db);
}

/* A syntax error surfaces the engine's message; RETURNING works. */
static void dc_syntax_returning(const char *url) {
    tg_db *db = dc_open(url);
    tg_error e;
    DC_FAILS(tg_db_exec(db, "CREATE TABLE bad (a BIGINT,, b TEXT)", NULL, 0, NULL, NULL, &e), e,
             TG_ERR_DB, "syntax error");
    DC_FAILS(tg_db_exec_script(db, "CREATE TABLE bad2 (a BIGINT); CREATE TABLE bad (a BIGINT,,);",
                               &e), e, TG_ERR_DB, "syntax error");
    dc_sql(db, "CREATE TABLE rt (id BIGINT PRIMARY KEY, v BIGINT)");
    tg_db_rows *r = NULL;
    int64_t ch = -1;
    for (int k = 1; k <= 3; k++) {
        tg_dbv p[2] = {tg_dbv_int(k), tg_dbv_int(40 + k)};
        DC_OK(tg_db_exec(db, "INSERT INTO rt (id, v) VALUES ($1, $2) RETURNING id, v * 2", p, 2,
                         &r, &ch, &e), e);
        assert_int_equal(ch, 1);
        assert_int_equal(tg_db_nrows(r), 1);
        assert_int_equal(tg_db_ncols(r), 2);
        assert_int_equal(tg_db_int(r, 0, 0), k);
        assert_int_equal(tg_db_int(r, 0, 1), 2 * (40 + k));
        tg_db_rows_free(r);
    }
    DC_OK(tg_db_exec(db, "UPDATE rt SET v = v + 100 WHERE id >= 2 RETURNING v", NULL, 0, &r, &ch,
                     &e), e);
    assert_int_equal(ch, 2);
    assert_int_equal(tg_db_nrows(r), 2);
    assert_int_equal(tg_db_int(r, 0, 0) + tg_db_int(r, 1, 0), 142 + 143);
    tg_db_rows_free(r);
    DC_OK(tg_db_exec(db, "SELECT id FROM rt WHERE id > 10", NULL, 0, &r, NULL, &e), e);
    assert_non_null(r);
    assert_int_equal(tg_db_nrows(r), 0);
    assert_int_equal(tg_db_ncols(r), 1);
    tg_db_rows_free(r);
    tg_db_close(db);
}

/* tg_db_now is the server's unix time. */
static void dc_now(const char *url) {
    tg_db *db = dc_open(url);
    tg_error e;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s", tg_db_now(db));
    tg_db_rows *r = NULL;
    DC_OK(tg_db_exec(db, sql, NULL, 0, &r, NULL, &e), e);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    double got = tg_db_real(r, 0, 0);
    if (!(fabs(got - now) < 2.0)) fail_msg("%s: %.3f, the clock says %.3f", sql, got, now);
    tg_db_rows_free(r);
    tg_db_close(db);
}

#endif
