/* test_dbconn_pg.c - what only the PostgreSQL backend (src/tracker/db_pg.c)
 * does, against the real test server (the CTest fixture pg): connection
 * failures quoted without the password, connections killed by
 * pg_terminate_backend between statements and inside transactions,
 * transient SQLSTATEs retried and others not, a real serialization
 * conflict, exact values (bytea with NULs, 1 MB; int64 extremes; doubles
 * bit for bit), the conversion of result columns by type, prepared
 * statements surviving a table change, and NOTICEs kept off stderr. */
#include "testutil.h"

#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../src/tracker/db.h"
#include "testdb.h"

#define OK(expr, e)                                                                      \
    do {                                                                                 \
        tg_status s_ = (expr);                                                           \
        if (s_ != TG_OK) fail_msg("%s: %s: %s", #expr, tg_status_name(s_), (e).msg);     \
    } while (0)

static void assert_has(const char *s, const char *want) {
    if (!strstr(s, want)) fail_msg("\"%s\" does not contain \"%s\"", s, want);
}

static void assert_lacks(const char *s, const char *bad) {
    if (strstr(s, bad)) fail_msg("\"%s\" contains \"%s\"", s, bad);
}

static tg_db *open_db(const char *url) {
    tg_db *db = NULL;
    tg_error e;
    tg_status st = tg_db_open(url, &db, &e);
    if (st != TG_OK) fail_msg("tg_db_open %s: %s: %s", url, tg_status_name(st), e.msg);
    return db;
}

static void sql(tg_db *db, const char *q) {
    tg_error e;
    OK(tg_db_exec(db, q, NULL, 0, NULL, NULL, &e), e);
}

static int64_t int_of(tg_db *db, const char *q, const tg_dbv *p, int np) {
    tg_error e;
    tg_db_rows *r = NULL;
    OK(tg_db_exec(db, q, p, np, &r, NULL, &e), e);
    if (tg_db_nrows(r) != 1 || tg_db_ncols(r) < 1) fail_msg("%s: not one row", q);
    int64_t v = tg_db_int(r, 0, 0);
    tg_db_rows_free(r);
    return v;
}

/* A plain libpq connection beside the one under test. */
static PGconn *side(const char *url) {
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("side connection %s: %s", url, PQerrorMessage(c));
    return c;
}

static int64_t side_int(PGconn *c, const char *q) {
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", q, PQerrorMessage(c));
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static void side_sql(PGconn *c, const char *q) {
    PGresult *r = PQexec(c, q);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail_msg("%s: %s", q, PQerrorMessage(c));
    PQclear(r);
}

/* The backend process has exited (gone, or a zombie the postmaster has not
 * reaped yet): its socket is closed. */
static int exited(int64_t pid) {
    char path[64], st[256];
    snprintf(path, sizeof path, "/proc/%" PRId64 "/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(st, 1, sizeof st - 1, f);
    fclose(f);
    st[n] = '\0';
    const char *close = strrchr(st, ')');   /* "pid (comm) S ..." */
    return close && close[1] == ' ' && close[2] == 'Z';
}

/* pg_terminate_backend(pid) from c, then wait (10 s at most) until the
 * backend has left pg_stat_activity and exited. */
static void terminate(PGconn *c, int64_t pid) {
    char q[160];
    snprintf(q, sizeof q, "SELECT pg_terminate_backend(%" PRId64 ")::int", pid);
    assert_int_equal(side_int(c, q), 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM pg_stat_activity WHERE pid = %" PRId64, pid);
    for (int i = 0; i < 1000 && (side_int(c, q) != 0 || !exited(pid)); i++) usleep(10000);
    assert_int_equal(side_int(c, q), 0);
    assert_true(exited(pid));
}

/* The base URL with ?host=...&port=... replaced (and the user part). */
static void base_parts(char *host, size_t nh, int *port) {
    const char *base = td_pg_base();
    const char *h = strstr(base, "host="), *p = strstr(base, "port=");
    if (!h || !p) fail_msg("unexpected test server URL %s", base);
    snprintf(host, nh, "%.*s", (int)strcspn(h + 5, "&"), h + 5);
    *port = atoi(p + 5);
}

/* ---- connecting ---------------------------------------------------------------- */

static void test_connect_refused(void **state) {
    (void)state;
    char host[1024], url[2200];
    int port;
    base_parts(host, sizeof host, &port);
    tg_db *db = NULL;
    tg_error e;

    /* a port nobody serves in the server's socket directory */
    snprintf(url, sizeof url, "postgresql://postgres:secret@/postgres?host=%s&port=%d", host,
             port + 1);
    assert_int_equal(tg_db_open(url, &db, &e), TG_ERR_DB);
    assert_null(db);
    assert_has(e.msg, "postgresql://postgres:***@/postgres");   /* the redacted URL */
    assert_has(e.msg, "failed");                                /* libpq's own words */
    assert_has(e.msg, "No such file or directory");
    char sock[64];
    snprintf(sock, sizeof sock, ".s.PGSQL.%d", port + 1);
    assert_has(e.msg, sock);
    assert_lacks(e.msg, "secret");
    assert_lacks(e.msg, "\n");

    /* a socket directory that does not exist, password as a parameter */
    snprintf(url, sizeof url,
             "postgresql://postgres@/postgres?host=/nonexistent/tgsage&port=%d&password=secret",
             port);
    assert_int_equal(tg_db_open(url, &db, &e), TG_ERR_DB);
    assert_has(e.msg, "/nonexistent/tgsage");
    assert_has(e.msg, "password=***");
    assert_lacks(e.msg, "secret");

    /* libpq quotes a malformed URL's pieces: the password must not be one */
    snprintf(url, sizeof url, "postgresql://postgres:sec%%ZZret@/postgres?host=%s&port=%d",
             host, port);
    assert_int_equal(tg_db_open(url, &db, &e), TG_ERR_DB);
    assert_lacks(e.msg, "sec%ZZret");
    assert_lacks(e.msg, "ZZ");
    snprintf(url, sizeof url, "postgresql://postgres@/postgres?host=%s&port=%d&bogus=1&"
             "password=secret", host, port);
    assert_int_equal(tg_db_open(url, &db, &e), TG_ERR_DB);
    assert_has(e.msg, "bogus");
    assert_lacks(e.msg, "secret");

    /* a database that does not exist: the server's message */
    snprintf(url, sizeof url, "postgresql://postgres@/tg_no_such_db?host=%s&port=%d", host,
             port);
    assert_int_equal(tg_db_open(url, &db, &e), TG_ERR_DB);
    assert_has(e.msg, "\"tg_no_such_db\" does not exist");
}

/* ---- lost connections ------------------------------------------------------------- */

static void test_terminate_between_statements(void **state) {
    (void)state;
    const char *url = td_pg_url("tg_dbconn_term");
    char u[2300];
    snprintf(u, sizeof u, "%s", url);
    /* no retries (TG_DB_RETRY_S=0): a connection the server closed while
     * idle is found before the statement is sent, not by its failure */
    setenv("TG_DB_RETRY_S", "0", 1);
    tg_db *db0 = open_db(u);
    unsetenv("TG_DB_RETRY_S");
    PGconn *c = side(u);
    sql(db0, "CREATE TABLE t (x BIGINT)");
    for (int round = 0; round < 3; round++) {
        int64_t pid = int_of(db0, "SELECT pg_backend_pid()", NULL, 0);
        terminate(c, pid);
        /* the next statement finds the connection gone, reconnects, runs once */
        tg_dbv v = tg_dbv_int(round);
        tg_error e;
        int64_t changed = 0;
        OK(tg_db_exec(db0, "INSERT INTO t VALUES ($1)", &v, 1, NULL, &changed, &e), e);
        assert_int_equal(changed, 1);
        int64_t pid2 = int_of(db0, "SELECT pg_backend_pid()", NULL, 0);
        assert_true(pid2 != pid);
    }
    tg_db_close(db0);
    assert_int_equal(side_int(c, "SELECT count(*) FROM t"), 3);
    assert_int_equal(side_int(c, "SELECT sum(x) FROM t"), 0 + 1 + 2);
    /* without waiting for the backend to go: the statement may be sent to
     * the dying backend, fail, and be retried on a new connection */
    tg_db *db = open_db(u);
    for (int round = 0; round < 5; round++) {
        int64_t pid = int_of(db, "SELECT pg_backend_pid()", NULL, 0);
        char q[96];
        snprintf(q, sizeof q, "SELECT pg_terminate_backend(%" PRId64 ")::int", pid);
        assert_int_equal(side_int(c, q), 1);
        assert_int_equal(int_of(db, "SELECT 41 + 1", NULL, 0), 42);
    }
    PQfinish(c);
    tg_db_close(db);
}

typedef struct {
    PGconn *side;
    int runs;
    int kill_at;     /* 0: after the first statement, 1: before COMMIT */
} kill_ctx;

static tg_status tx_kill(tg_db *db, void *user, tg_error *err) {
    kill_ctx *k = user;
    k->runs++;
    tg_db_rows *r = NULL;
    tg_status st = tg_db_exec(db, "UPDATE counter SET n = n + 1 RETURNING pg_backend_pid()",
                              NULL, 0, &r, NULL, err);
    if (st != TG_OK) return st;
    int64_t pid = tg_db_int(r, 0, 0);
    tg_db_rows_free(r);
    if (k->runs == 1) terminate(k->side, pid);
    if (k->kill_at == 1) return TG_OK;
    return tg_db_exec(db, "UPDATE counter SET m = m + 1", NULL, 0, NULL, NULL, err);
}

static void test_terminate_in_transaction(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_termtx"));
    tg_db *db = open_db(u);
    PGconn *c = side(u);
    sql(db, "CREATE TABLE counter (n BIGINT, m BIGINT)");
    sql(db, "INSERT INTO counter VALUES (0, 0)");
    for (int at = 0; at < 2; at++) {
        kill_ctx k = {c, 0, at};
        tg_error e;
        OK(tg_db_transact(db, tx_kill, &k, &e), e);
        assert_int_equal(k.runs, 2);   /* rerun once, after reconnecting */
    }
    /* each transaction committed exactly once */
    assert_int_equal(side_int(c, "SELECT n FROM counter"), 2);
    assert_int_equal(side_int(c, "SELECT m FROM counter"), 1);
    PQfinish(c);
    tg_db_close(db);
}

/* ---- transient and permanent errors ----------------------------------------------- */

typedef struct {
    const char *code;   /* SQLSTATE raised on the first run */
    int runs;
} raise_ctx;

static tg_status tx_raise(tg_db *db, void *user, tg_error *err) {
    raise_ctx *x = user;
    x->runs++;
    tg_dbv v[2] = {tg_dbv_int(x->runs), tg_dbv_text(x->runs == 1 ? x->code : NULL)};
    tg_status st = tg_db_exec(db, "INSERT INTO runs VALUES ($1)", v, 1, NULL, NULL, err);
    if (st != TG_OK) return st;
    return tg_db_exec(db, "SELECT fail_with($1)", &v[1], 1, NULL, NULL, err);
}

static void test_transient_sqlstates(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_raise"));
    tg_db *db = open_db(u);
    tg_error e;
    OK(tg_db_exec_script(db,
        "CREATE TABLE runs (run BIGINT);"
        "CREATE FUNCTION fail_with(code text) RETURNS int LANGUAGE plpgsql AS $$ "
        "BEGIN IF code IS NOT NULL THEN "
        "RAISE EXCEPTION 'injected %', code USING ERRCODE = code; END IF; RETURN 0; END $$;",
        &e), e);
    static const char *const transient[] = {"40001", "40P01", "55P03", "57P01", "08006"};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
        sql(db, "DELETE FROM runs");
        raise_ctx x = {transient[i], 0};
        OK(tg_db_transact(db, tx_raise, &x, &e), e);
        assert_int_equal(x.runs, 2);
        /* the first run's insert was rolled back */
        assert_int_equal(int_of(db, "SELECT count(*) FROM runs", NULL, 0), 1);
        assert_int_equal(int_of(db, "SELECT min(run) FROM runs", NULL, 0), 2);
    }
    /* not transient: one run, the server's message and the SQLSTATE */
    sql(db, "DELETE FROM runs");
    raise_ctx x = {"22012", 0};
    assert_int_equal(tg_db_transact(db, tx_raise, &x, &e), TG_ERR_DB);
    assert_int_equal(x.runs, 1);
    assert_has(e.msg, "injected 22012");
    assert_has(e.msg, "SQLSTATE 22012");
    assert_int_equal(int_of(db, "SELECT count(*) FROM runs", NULL, 0), 0);
    tg_db_close(db);
}

typedef struct {
    int runs;
} dup_ctx;

static tg_status tx_dup(tg_db *db, void *user, tg_error *err) {
    dup_ctx *d = user;
    d->runs++;
    tg_status st = tg_db_exec(db, "INSERT INTO u VALUES ('b')", NULL, 0, NULL, NULL, err);
    if (st != TG_OK) return st;
    return tg_db_exec(db, "INSERT INTO u VALUES ('a')", NULL, 0, NULL, NULL, err);
}

static void test_unique_violation(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_unique"));
    tg_db *db = open_db(u);
    sql(db, "CREATE TABLE u (k TEXT PRIMARY KEY)");
    sql(db, "INSERT INTO u VALUES ('a')");
    tg_error e;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(tg_db_exec(db, "INSERT INTO u VALUES ('a')", NULL, 0, NULL, NULL, &e),
                     TG_ERR_DB);
    assert_has(e.msg, "duplicate key value violates unique constraint \"u_pkey\"");
    assert_has(e.msg, "Key (k)=(a) already exists");
    assert_has(e.msg, "SQLSTATE 23505");
    assert_has(e.msg, "tg_dbconn_unique");   /* the URL */
    dup_ctx d = {0};
    assert_int_equal(tg_db_transact(db, tx_dup, &d, &e), TG_ERR_DB);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(d.runs, 1);
    assert_has(e.msg, "SQLSTATE 23505");
    /* not retried: no backoff sleeps */
    assert_true((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) < 1.0);
    assert_int_equal(int_of(db, "SELECT count(*) FROM u", NULL, 0), 1);   /* 'b' rolled back */
    /* the connection is usable after the failed transaction */
    assert_int_equal(int_of(db, "SELECT 7", NULL, 0), 7);
    tg_db_close(db);
}

/* Errors a rerun would repeat fail at once: a parameter missing (the
 * server calls it a protocol violation, 08P01, though its class 08 is
 * otherwise the lost connections'). `changed` counts written rows only. */
static void test_param_count_changed(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_params"));
    tg_db *db = open_db(u);
    sql(db, "CREATE TABLE p (a BIGINT, b BIGINT)");
    tg_error e;
    tg_dbv v[2] = {tg_dbv_int(1), tg_dbv_int(2)};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(tg_db_exec(db, "INSERT INTO p VALUES ($1, $2)", v, 1, NULL, NULL, &e),
                     TG_ERR_DB);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_has(e.msg, "supplies 1 parameters");
    assert_has(e.msg, "SQLSTATE 08P01");
    assert_true((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) < 1.0);
    int64_t ch = -1;
    OK(tg_db_exec(db, "INSERT INTO p VALUES ($1, $2), ($2, $1), ($1, $1)", v, 2, NULL, &ch, &e), e);
    assert_int_equal(ch, 3);
    tg_db_rows *r = NULL;
    OK(tg_db_exec(db, "UPDATE p SET b = b + 10 WHERE a = $1 RETURNING b", v, 1, &r, &ch, &e), e);
    assert_int_equal(ch, 2);
    assert_int_equal(tg_db_nrows(r), 2);
    tg_db_rows_free(r);
    OK(tg_db_exec(db, "SELECT * FROM p", NULL, 0, NULL, &ch, &e), e);
    assert_int_equal(ch, 0);
    OK(tg_db_exec(db, "CREATE TABLE q AS SELECT * FROM p", NULL, 0, NULL, &ch, &e), e);
    assert_int_equal(ch, 0);
    OK(tg_db_exec(db, "DELETE FROM p", NULL, 0, NULL, &ch, &e), e);
    assert_int_equal(ch, 3);
    tg_db_close(db);
}

/* A real conflict: a SERIALIZABLE transaction updates a row that another
 * connection changed after the transaction's snapshot (40001). */
typedef struct {
    PGconn *side;
    int runs;
} ser_ctx;

static tg_status tx_serial(tg_db *db, void *user, tg_error *err) {
    ser_ctx *s = user;
    s->runs++;
    tg_status st = tg_db_exec(db, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", NULL, 0,
                              NULL, NULL, err);
    if (st == TG_OK)
        st = tg_db_exec(db, "SELECT n FROM counter", NULL, 0, NULL, NULL, err);
    if (st != TG_OK) return st;
    if (s->runs == 1) side_sql(s->side, "UPDATE counter SET n = n + 100");
    return tg_db_exec(db, "UPDATE counter SET n = n + 1", NULL, 0, NULL, NULL, err);
}

static void test_serialization_conflict(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_serial"));
    tg_db *db = open_db(u);
    PGconn *c = side(u);
    sql(db, "CREATE TABLE counter (n BIGINT)");
    sql(db, "INSERT INTO counter VALUES (0)");
    ser_ctx s = {c, 0};
    tg_error e;
    OK(tg_db_transact(db, tx_serial, &s, &e), e);
    assert_int_equal(s.runs, 2);
    assert_int_equal(side_int(c, "SELECT n FROM counter"), 101);
    PQfinish(c);
    tg_db_close(db);
}

/* ---- values ------------------------------------------------------------------------ */

static void test_bytea(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_bytea"));
    tg_db *db = open_db(u);
    sql(db, "CREATE TABLE b (id BIGINT, v BYTEA)");
    size_t n = 1 << 20;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (i % 5 == 0) ? 0 : (unsigned char)x;   /* every fifth byte NUL */
    }
    static const unsigned char small[] = {0, 'a', 0, 0xff, '\\', 'x', 0};
    tg_error e;
    tg_dbv p[2] = {tg_dbv_int(1), tg_dbv_blob(buf, n)};
    OK(tg_db_exec(db, "INSERT INTO b VALUES ($1, $2)", p, 2, NULL, NULL, &e), e);
    p[0] = tg_dbv_int(2), p[1] = tg_dbv_blob(small, sizeof small);
    OK(tg_db_exec(db, "INSERT INTO b VALUES ($1, $2)", p, 2, NULL, NULL, &e), e);
    p[0] = tg_dbv_int(3), p[1] = tg_dbv_blob(NULL, 0);   /* empty, not NULL */
    OK(tg_db_exec(db, "INSERT INTO b VALUES ($1, $2)", p, 2, NULL, NULL, &e), e);
    /* the server holds the bytes, not an escaped form */
    assert_int_equal(int_of(db, "SELECT octet_length(v) FROM b WHERE id = 1", NULL, 0), n);
    assert_int_equal(int_of(db, "SELECT get_byte(v, 5) FROM b WHERE id = 1", NULL, 0), 0);
    assert_int_equal(int_of(db, "SELECT get_byte(v, 1048573) FROM b WHERE id = 1", NULL, 0),
                     buf[1048573]);
    assert_int_equal(int_of(db, "SELECT octet_length(v) FROM b WHERE id = 2", NULL, 0), 7);
    assert_int_equal(int_of(db, "SELECT octet_length(v) FROM b WHERE id = 3", NULL, 0), 0);

    tg_db_rows *r = NULL;
    OK(tg_db_exec(db, "SELECT v FROM b ORDER BY id", NULL, 0, &r, NULL, &e), e);
    assert_int_equal(tg_db_nrows(r), 3);
    size_t got = 0;
    const void *b = tg_db_blob(r, 0, 0, &got);
    assert_int_equal(got, n);
    assert_memory_equal(b, buf, n);
    b = tg_db_blob(r, 1, 0, &got);
    assert_int_equal(got, sizeof small);
    assert_memory_equal(b, small, sizeof small);
    b = tg_db_blob(r, 2, 0, &got);
    assert_int_equal(got, 0);
    assert_non_null(b);
    assert_false(tg_db_isnull(r, 2, 0));
    tg_db_rows_free(r);
    /* a blob compared by the server: found by its bytes */
    p[0] = tg_dbv_blob(small, sizeof small);
    assert_int_equal(int_of(db, "SELECT id FROM b WHERE v = $1", p, 1), 2);
    free(buf);
    tg_db_close(db);
}

static void test_numbers_exact(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_numbers"));
    tg_db *db = open_db(u);
    sql(db, "CREATE TABLE v (k BIGINT, i BIGINT, r DOUBLE PRECISION)");
    static const int64_t ints[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1,
                                   INT64_MAX};
    static const double reals[] = {0.1, 1.0 / 3.0, -0.0, 4.9406564584124654e-324,
                                   DBL_MIN, DBL_MAX, -DBL_MAX, 3.141592653589793,
                                   1e-300 * 1.2345678901234567, INFINITY};
    int nr = (int)(sizeof reals / sizeof reals[0]);
    int ni = (int)(sizeof ints / sizeof ints[0]);
    tg_error e;
    for (int k = 0; k < nr; k++) {
        tg_dbv p[3] = {tg_dbv_int(k), tg_dbv_int(ints[k % ni]), tg_dbv_real(reals[k])};
        OK(tg_db_exec(db, "INSERT INTO v VALUES ($1, $2, $3)", p, 3, NULL, NULL, &e), e);
    }
    tg_dbv p[3] = {tg_dbv_int(nr), tg_dbv_null(), tg_dbv_real(NAN)};   /* NaN binds NULL */
    OK(tg_db_exec(db, "INSERT INTO v VALUES ($1, $2, $3)", p, 3, NULL, NULL, &e), e);
    tg_db_rows *r = NULL;
    OK(tg_db_exec(db, "SELECT k, i, r FROM v ORDER BY k", NULL, 0, &r, NULL, &e), e);
    assert_int_equal(tg_db_nrows(r), nr + 1);
    for (int k = 0; k < nr; k++) {
        assert_int_equal(tg_db_int(r, k, 0), k);
        assert_true(tg_db_int(r, k, 1) == ints[k % ni]);
        double d = tg_db_real(r, k, 2);
        if (memcmp(&d, &reals[k], sizeof d) != 0)
            fail_msg("row %d: %.17g came back as %.17g", k, reals[k], d);
    }
    assert_true(tg_db_isnull(r, nr, 1));
    assert_true(tg_db_isnull(r, nr, 2));
    assert_true(isnan(tg_db_real(r, nr, 2)));
    tg_db_rows_free(r);
    /* the server compares the exact values */
    tg_dbv q = tg_dbv_int(INT64_MIN);
    assert_int_equal(int_of(db, "SELECT ($1 = -9223372036854775808)::int", &q, 1), 1);
    q = tg_dbv_real(0.1);
    assert_int_equal(int_of(db, "SELECT count(*) FROM v WHERE r = $1", &q, 1), 1);
    assert_int_equal(int_of(db, "SELECT ($1 = 0.1::float8)::int", &q, 1), 1);
    tg_db_close(db);
}

/* Result columns are typed by the server's column type. */
static void test_column_types(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_types"));
    tg_db *db = open_db(u);
    sql(db, "CREATE TABLE s (x BIGINT)");
    sql(db, "INSERT INTO s VALUES (4000000000), (4000000000), (1)");
    sql(db, "CREATE TABLE big (x BIGINT)");
    sql(db, "INSERT INTO big VALUES (4611686018427387905), (1)");
    tg_error e;
    tg_db_rows *r = NULL;
    OK(tg_db_exec(db, "SELECT 7::int2, 8::int4, true, false, 2.5::float4, 'txt'::text, "
                  "NULL::int, sum(x), avg(x), count(*), '{\"a\": 1}'::jsonb, 12.50::numeric "
                  "FROM s", NULL, 0, &r, NULL, &e), e);
    assert_int_equal(tg_db_ncols(r), 12);
    assert_int_equal(tg_db_int(r, 0, 0), 7);
    assert_int_equal(tg_db_int(r, 0, 1), 8);
    assert_int_equal(tg_db_int(r, 0, 2), 1);
    assert_int_equal(tg_db_int(r, 0, 3), 0);
    assert_true(tg_db_real(r, 0, 4) == 2.5);
    assert_string_equal(tg_db_text(r, 0, 5), "txt");
    assert_true(tg_db_isnull(r, 0, 6));
    assert_null(tg_db_text(r, 0, 6));
    /* sum(bigint) is numeric: an integer when it is one */
    assert_true(tg_db_int(r, 0, 7) == 8000000001ll);
    assert_null(tg_db_text(r, 0, 7));      /* not text */
    assert_true(fabs(tg_db_real(r, 0, 8) - 8000000001.0 / 3.0) < 1e-5);
    assert_int_equal(tg_db_int(r, 0, 9), 3);
    assert_string_equal(tg_db_text(r, 0, 10), "{\"a\": 1}");
    assert_true(tg_db_real(r, 0, 11) == 12.5);
    tg_db_rows_free(r);
    /* ... exactly, beyond a double's 53 bits (2^62 + 2) */
    assert_true(int_of(db, "SELECT sum(x) FROM big", NULL, 0) == 4611686018427387906ll);
    /* text parameters take their type from the context (a jsonb column) */
    sql(db, "CREATE TABLE j (doc JSONB, flag BOOLEAN)");
    tg_dbv p[2] = {tg_dbv_text("{\"k\": [1, 2]}"), tg_dbv_text("true")};
    OK(tg_db_exec(db, "INSERT INTO j VALUES ($1, $2)", p, 2, NULL, NULL, &e), e);
    assert_int_equal(int_of(db, "SELECT (doc->'k'->>1)::int FROM j", NULL, 0), 2);
    assert_int_equal(int_of(db, "SELECT flag FROM j", NULL, 0), 1);
    tg_db_close(db);
}

/* ---- prepared statements, scripts, notices, the clock -------------------------------- */

static void test_prepared_replan(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_replan"));
    tg_db *db = open_db(u);
    sql(db, "CREATE TABLE t (a BIGINT)");
    sql(db, "INSERT INTO t VALUES (5)");
    tg_error e;
    tg_db_rows *r = NULL;
    OK(tg_db_exec(db, "SELECT * FROM t", NULL, 0, &r, NULL, &e), e);
    assert_int_equal(tg_db_ncols(r), 1);
    tg_db_rows_free(r);
    /* the prepared SELECT * no longer fits the table: prepared afresh */
    sql(db, "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x'");
    OK(tg_db_exec(db, "SELECT * FROM t", NULL, 0, &r, NULL, &e), e);
    assert_int_equal(tg_db_ncols(r), 2);
    assert_string_equal(tg_db_text(r, 0, 1), "x");
    tg_db_rows_free(r);
    /* more distinct statements than the cache holds */
    for (int i = 0; i < 300; i++) {
        char q[64];
        snprintf(q, sizeof q, "SELECT %d + a FROM t", i);
        assert_int_equal(int_of(db, q, NULL, 0), 5 + i);
    }
    /* the same text with other parameter types is another statement */
    tg_dbv p = tg_dbv_int(3);
    assert_int_equal(int_of(db, "SELECT ($1 IS NOT NULL)::int", &p, 1), 1);
    p = tg_dbv_real(2.5);
    assert_int_equal(int_of(db, "SELECT ($1 IS NOT NULL)::int", &p, 1), 1);
    tg_db_close(db);
}

static void test_script_notices_now(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_script"));
    tg_db *db = open_db(u);
    tg_error e;
    /* NOTICEs (from DROP ... IF EXISTS and RAISE) must not reach stderr */
    fflush(stderr);
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/stderr", dir);
    int saved = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    tg_status st = tg_db_exec_script(db,
        "DROP TABLE IF EXISTS nothing_here; CREATE TABLE a (x INT); "
        "INSERT INTO a VALUES (1), (2); CREATE TABLE b AS SELECT x * 10 AS y FROM a; "
        "DO $$ BEGIN RAISE NOTICE 'a notice'; RAISE WARNING 'a warning'; END $$;", &e);
    tg_status st2 = tg_db_exec(db, "DROP TABLE IF EXISTS still_nothing", NULL, 0, NULL, NULL, &e);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(st, TG_OK);
    assert_int_equal(st2, TG_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    assert_int_equal(ftell(f), 0);
    fclose(f);
    tu_rmtree(dir);
    assert_int_equal(int_of(db, "SELECT sum(y) FROM b", NULL, 0), 30);
    /* a failing script: the server's message */
    assert_int_equal(tg_db_exec_script(db, "CREATE TABLE c (x INT); SELECT nope FROM c;", &e),
                     TG_ERR_DB);
    assert_has(e.msg, "column \"nope\" does not exist");
    assert_has(e.msg, "SQLSTATE 42703");
    /* the server's clock, unix seconds */
    char q[200];
    snprintf(q, sizeof q, "SELECT %s", tg_db_now(db));
    tg_db_rows *r = NULL;
    OK(tg_db_exec(db, q, NULL, 0, &r, NULL, &e), e);
    double now = tg_db_real(r, 0, 0);
    tg_db_rows_free(r);
    assert_true(fabs(now - (double)time(NULL)) < 5);
    tg_db_close(db);
}

/* Throughput of the prepared path: single-row autocommit INSERTs and
 * point SELECTs (a figure for the report, with a loose bound). */
static void test_throughput(void **state) {
    (void)state;
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_dbconn_speed"));
    tg_db *db = open_db(u);
    sql(db, "CREATE TABLE t (id BIGINT PRIMARY KEY, v DOUBLE PRECISION, s TEXT)");
    enum { N = 2000 };
    struct timespec t0, t1, t2;
    tg_error e;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        tg_dbv p[3] = {tg_dbv_int(i), tg_dbv_real(i * 0.5), tg_dbv_text("waiting")};
        OK(tg_db_exec(db, "INSERT INTO t VALUES ($1, $2, $3)", p, 3, NULL, NULL, &e), e);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < N; i++) {
        tg_dbv p = tg_dbv_int(i);
        tg_db_rows *r = NULL;
        OK(tg_db_exec(db, "SELECT v, s FROM t WHERE id = $1", &p, 1, &r, NULL, &e), e);
        assert_true(tg_db_real(r, 0, 0) == i * 0.5);
        tg_db_rows_free(r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double ins = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double sel = (double)(t2.tv_sec - t1.tv_sec) + 1e-9 * (double)(t2.tv_nsec - t1.tv_nsec);
    print_message("      %d inserts %.0f/s, %d point selects %.0f/s\n", N, N / ins, N,
                  N / sel);
    assert_true(ins < 20 && sel < 20);
    tg_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_terminate_between_statements),
        cmocka_unit_test(test_terminate_in_transaction),
        cmocka_unit_test(test_transient_sqlstates),
        cmocka_unit_test(test_unique_violation),
        cmocka_unit_test(test_param_count_changed),
        cmocka_unit_test(test_serialization_conflict),
        cmocka_unit_test(test_bytea),
        cmocka_unit_test(test_numbers_exact),
        cmocka_unit_test(test_column_types),
        cmocka_unit_test(test_prepared_replan),
        cmocka_unit_test(test_script_notices_now),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
