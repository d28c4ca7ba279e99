/* db_pg.c - the PostgreSQL backend of db.h, on libpq.
 *
 * Statements are prepared once per connection and SQL text (PQprepare,
 * then PQexecPrepared: the server parses and plans a tracker statement
 * once, not on every claim). Parameters go as text, typed the way
 * psycopg 3 types Python values: integers int8, doubles float8 (printed
 * with %.17g, so they arrive exactly), blobs bytea in binary format, and
 * text and NULL "unknown", so the server types them from their context as
 * it types a quoted literal (text can land in a jsonb column). The types
 * are part of the cache key, since a statement is prepared with them.
 * Results come back as text and are converted by the column's type:
 * integer types and bool to integers, float types to doubles, numeric to
 * an integer when it is one that fits in 64 bits (sum(), as SQLite gives)
 * and to a double otherwise, bytea unescaped to bytes, the rest text.
 *
 * Transient failures: serialization failure (40001), deadlock (40P01), a
 * lock not available (55P03), the server shutting down or starting
 * (57P01-57P03), connection exceptions (08xxx) and any failure after which
 * the connection is gone. A lost connection is reset at once (PQreset),
 * and the prepared statements, gone with the server's session, are
 * forgotten. Before each statement the socket is read without blocking:
 * a connection the server closed while we were idle (pg_terminate_backend,
 * a restart) is found and reset before the statement is sent, so the
 * statement runs once on the new connection rather than failing.
 *
 * The server's NOTICEs are dropped: nothing below the CLI prints. */
#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs of pg_type.h (server headers, not shipped with libpq-dev). */
enum {
    PG_BOOLOID = 16, PG_BYTEAOID = 17, PG_INT8OID = 20, PG_INT2OID = 21, PG_INT4OID = 23,
    PG_OIDOID = 26, PG_FLOAT4OID = 700, PG_FLOAT8OID = 701, PG_NUMERICOID = 1700
};

/* Statements prepared beyond this many run unprepared (PQexecParams):
 * the tracker has a few dozen, generated SQL must not grow the cache. */
#define PG_CACHE_MAX 256

typedef struct {
    uint64_t hash;           /* of sql and sig */
    char *sql, *sig;         /* sig: one type letter per parameter */
    char name[24];           /* the server's name for it */
} pg_stmt;

typedef struct {
    PGconn *conn;
    char redacted[1024];
    pg_stmt *stmts;
    int nstmts, capstmts;
    unsigned next_name;
} pg_conn;

/* ---- messages ------------------------------------------------------------------ */

static void drop_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* Copy libpq's message on one line: newlines and tabs become spaces,
 * trailing blanks go. */
static void one_line(const char *in, char *out, size_t n) {
    size_t k = 0;
    for (const char *p = in ? in : ""; *p && k + 1 < n; p++) {
        char c = (*p == '\n' || *p == '\t' || *p == '\r') ? ' ' : *p;
        if (c == ' ' && (k == 0 || out[k - 1] == ' ')) continue;
        out[k++] = c;
    }
    while (k > 0 && out[k - 1] == ' ') k--;
    out[k] = '\0';
}

/* Replace every occurrence of secret (k > 0 bytes) in s (capacity cap)
 * by ***, truncating at cap. */
static void scrub(char *s, size_t cap, const char *secret, size_t k) {
    if (k == 0 || !strstr(s, secret)) return;
    char out[1024];
    size_t n = 0;
    if (cap > sizeof out) cap = sizeof out;
    for (const char *p = s; *p && n + 1 < cap;) {
        if (strncmp(p, secret, k) == 0) {
            for (int j = 0; j < 3 && n + 1 < cap; j++) out[n++] = '*';
            p += k;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    memcpy(s, out, n + 1);
}

/* A connection failure's message may quote parts of the URL (a bad
 * percent escape, say): remove the password from it, raw (user:PW@,
 * password=PW) and decoded (as libpq read it). */
static void scrub_password(char *msg, size_t cap, const char *url) {
    const char *scheme = strstr(url, "://");
    if (scheme) {
        const char *auth = scheme + 3, *end = auth + strcspn(auth, "/"), *at = NULL;
        for (const char *q = auth; q < end; q++)
            if (*q == '@') at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon && colon + 1 < at) {
            char raw[512];
            size_t k = (size_t)(at - colon - 1);
            if (k < sizeof raw) {
                memcpy(raw, colon + 1, k);
                raw[k] = '\0';
                scrub(msg, cap, raw, k);
            }
        }
    }
    for (const char *p = strstr(url, "password="); p; p = strstr(p + 1, "password=")) {
        const char *v = p + 9;
        size_t k = strcspn(v, "& #");
        char raw[512];
        if (k < sizeof raw) {
            memcpy(raw, v, k);
            raw[k] = '\0';
            scrub(msg, cap, raw, k);
        }
    }
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    if (opts) {
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (strcmp(o->keyword, "password") == 0 && o->val)
                scrub(msg, cap, o->val, strlen(o->val));
        PQconninfoFree(opts);
    }
}

static int is_transient_state(const char *st) {
    if (!st) return 0;
    static const char *const codes[] = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(st, codes[i]) == 0) return 1;
    /* connection exceptions, but not 08P01 (protocol violation: the
     * wrong number of parameters, say), which a rerun repeats */
    return strncmp(st, "08", 2) == 0 && strcmp(st, "08P01") != 0;
}

static void forget_statements(pg_conn *c) {
    for (int i = 0; i < c->nstmts; i++) {
        free(c->stmts[i].sql);
        free(c->stmts[i].sig);
    }
    c->nstmts = 0;
}

/* The connection is gone: reset it (blocking; a server that is down
 * fails again at once and the caller's retry loop backs off). */
static void reconnect(pg_conn *c) {
    forget_statements(c);
    PQreset(c->conn);
}

/* A failed statement (res may be NULL): the error in err, *transient set,
 * the connection reset when it is gone. what names the step ("BEGIN"). */
static tg_status fail(pg_conn *c, PGresult *res, const char *what, int *transient,
                      tg_error *err) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    char msg[400], det[200];
    one_line(primary ? primary : PQerrorMessage(c->conn), msg, sizeof msg);
    one_line(detail, det, sizeof det);
    int lost = PQstatus(c->conn) == CONNECTION_BAD;
    *transient = lost || is_transient_state(state);
    tg_error_set(err, TG_ERR_DB, "%s: %s%s%s%s%s%s", c->redacted, what ? what : "",
                 what ? ": " : "", msg[0] ? msg : "failed", det[0] ? " (" : "", det,
                 det[0] ? ")" : "");
    if (state) {
        size_t k = strlen(err->msg);
        snprintf(err->msg + k, sizeof err->msg - k, " [SQLSTATE %s]", state);
    }
    if (lost) {
        size_t k = strlen(err->msg);
        snprintf(err->msg + k, sizeof err->msg - k, " (connection lost; reconnecting)");
        reconnect(c);
    }
    if (res) PQclear(res);
    return TG_ERR_DB;
}

/* Before a statement: find a connection that died while idle and reset
 * it. TG_OK when the connection is (again) usable; otherwise the error,
 * transient: always when a transaction was open, since it is lost with
 * the connection even when the reset works. */
static tg_status ensure_connected(pg_conn *c, int *transient, tg_error *err) {
    PGTransactionStatusType ts = PQtransactionStatus(c->conn);
    /* Read what is waiting: the server's goodbye (FATAL: terminating
     * connection ...) is one read, the end of the stream another, which
     * marks the connection bad. A healthy idle socket costs one poll. */
    for (int i = 0; i < 4 && PQstatus(c->conn) == CONNECTION_OK; i++) {
        struct pollfd p = {PQsocket(c->conn), POLLIN, 0};
        if (p.fd < 0 || poll(&p, 1, 0) <= 0) break;
        if (!PQconsumeInput(c->conn)) break;
    }
    if (PQstatus(c->conn) == CONNECTION_OK) return TG_OK;
    int was_in_tx = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
    char lost[300];
    one_line(PQerrorMessage(c->conn), lost, sizeof lost);
    reconnect(c);
    if (PQstatus(c->conn) == CONNECTION_OK && !was_in_tx) return TG_OK;
    *transient = 1;
    if (PQstatus(c->conn) == CONNECTION_OK)
        return tg_error_set(err, TG_ERR_DB, "%s: the connection was lost inside a "
                            "transaction (%s); reconnected", c->redacted, lost);
    char why[300];
    one_line(PQerrorMessage(c->conn), why, sizeof why);
    return tg_error_set(err, TG_ERR_DB, "%s: connection lost (%s); reconnecting failed: %s",
                        c->redacted, lost, why);
}

/* ---- statements ---------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The prepared statement for sql with these parameter types, preparing it
 * if new. *name = NULL (and TG_OK) when the cache is full: run unprepared. */
static tg_status prepared(pg_conn *c, const char *sql, const char *sig, const Oid *types,
                          int np, const char **name, int *transient, tg_error *err) {
    uint64_t h = fnv(fnv(14695981039346656037ull, sql) ^ 0x9e3779b97f4a7c15ull, sig);
    for (int i = 0; i < c->nstmts; i++) {
        pg_stmt *s = &c->stmts[i];
        if (s->hash == h && strcmp(s->sql, sql) == 0 && strcmp(s->sig, sig) == 0) {
            *name = s->name;
            return TG_OK;
        }
    }
    *name = NULL;
    if (c->nstmts >= PG_CACHE_MAX) return TG_OK;
    if (c->nstmts == c->capstmts) {
        int cap = c->capstmts ? 2 * c->capstmts : 16;
        pg_stmt *st = realloc(c->stmts, (size_t)cap * sizeof *st);
        if (!st) return tg_error_set(err, TG_ERR_NOMEM, "out of memory preparing a statement");
        c->stmts = st;
        c->capstmts = cap;
    }
    pg_stmt *s = &c->stmts[c->nstmts];
    s->hash = h;
    s->sql = strdup(sql);
    s->sig = strdup(sig);
    snprintf(s->name, sizeof s->name, "tg%u", c->next_name++);
    if (!s->sql || !s->sig) {
        free(s->sql);
        free(s->sig);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory preparing a statement");
    }
    PGresult *res = PQprepare(c->conn, s->name, sql, np, types);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        free(s->sql);
        free(s->sig);
        return fail(c, res, NULL, transient, err);
    }
    PQclear(res);
    c->nstmts++;
    *name = s->name;
    return TG_OK;
}

/* Forget one cached statement (its plan no longer fits the tables). */
static void forget_statement(pg_conn *c, const char *name) {
    for (int i = 0; i < c->nstmts; i++) {
        if (strcmp(c->stmts[i].name, name) != 0) continue;
        free(c->stmts[i].sql);
        free(c->stmts[i].sig);
        c->stmts[i] = c->stmts[--c->nstmts];
        return;
    }
}

/* One result value of column col, converted by the column's type. */
static tg_status convert(const PGresult *res, int row, int col, tg_db_rows *rows) {
    tg_dbv v = tg_dbv_null();
    unsigned char *bytes = NULL;
    if (!PQgetisnull(res, row, col)) {
        const char *s = PQgetvalue(res, row, col);
        char *end;
        switch (PQftype(res, col)) {
        case PG_INT2OID: case PG_INT4OID: case PG_INT8OID: case PG_OIDOID:
            v = tg_dbv_int(strtoll(s, NULL, 10));
            break;
        case PG_BOOLOID:
            v = tg_dbv_int(s[0] == 't');
            break;
        case PG_FLOAT4OID: case PG_FLOAT8OID:
            v.type = TG_DBV_REAL;   /* not tg_dbv_real: a stored NaN stays NaN */
            v.r = strtod(s, NULL);
            break;
        case PG_NUMERICOID: {
            errno = 0;
            long long x = strtoll(s, &end, 10);
            if (end != s && *end == '\0' && errno == 0) {
                v = tg_dbv_int(x);
            } else {
                v.type = TG_DBV_REAL;
                v.r = strtod(s, NULL);
            }
            break;
        }
        case PG_BYTEAOID: {
            size_t n = 0;
            bytes = PQunescapeBytea((const unsigned char *)s, &n);
            if (!bytes) return TG_ERR_NOMEM;
            v = tg_dbv_blob(bytes, n);
            break;
        }
        default:
            v = tg_dbv_text(s);
            v.n = (size_t)PQgetlength(res, row, col);
            break;
        }
    }
    tg_status st = tg_db_rows_set(rows, row, col, &v);
    if (bytes) PQfreemem(bytes);
    return st;
}

static tg_status take_rows(pg_conn *c, const PGresult *res, tg_db_rows **rows,
                           tg_error *err) {
    int nr = PQntuples(res), nc = PQnfields(res);
    tg_db_rows *r = tg_db_rows_new(nr, nc);
    if (!r) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory for %d rows", c->redacted, nr);
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nc; j++)
            if (convert(res, i, j, r) != TG_OK) {
                tg_db_rows_free(r);
                return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory for %d rows",
                                    c->redacted, nr);
            }
    *rows = r;
    return TG_OK;
}

static tg_status pg_exec(void *conn, const char *sql, const tg_dbv *params, int np,
                         tg_db_rows **rows, int64_t *changed, int *transient, tg_error *err) {
    pg_conn *c = conn;
    *transient = 0;
    if (rows) *rows = NULL;
    if (changed) *changed = 0;
    if (np < 0 || (np > 0 && !params))
        return tg_error_set(err, TG_ERR_ARG, "%s: %d parameters given without values",
                            c->redacted, np);
    tg_status st = ensure_connected(c, transient, err);
    if (st != TG_OK) return st;

    /* One block: values, lengths, formats, types, the text of numbers, the
     * signature. */
    enum { NUM = 32 };
    size_t np1 = (size_t)np + 1;
    char *block = malloc(np1 * (sizeof(char *) + 2 * sizeof(int) + sizeof(Oid) + NUM + 1));
    if (!block) return tg_error_set(err, TG_ERR_NOMEM, "out of memory for a statement");
    const char **vals = (const char **)(void *)block;
    int *lens = (int *)(void *)(block + np1 * sizeof(char *));
    int *fmts = lens + np1;
    Oid *types = (Oid *)(void *)(fmts + np1);
    char *num = (char *)(types + np1);
    char *sig = num + np1 * NUM;
    for (int i = 0; i < np; i++) {
        const tg_dbv *v = &params[i];
        char *buf = num + (size_t)i * NUM;
        vals[i] = NULL;
        lens[i] = 0;
        fmts[i] = 0;
        types[i] = 0;
        sig[i] = 'n';
        switch (v->type) {
        case TG_DBV_INT:
            snprintf(buf, NUM, "%" PRId64, v->i);
            vals[i] = buf;
            types[i] = PG_INT8OID;
            sig[i] = 'i';
            break;
        case TG_DBV_REAL:
            if (v->r != v->r) break;   /* NaN binds as NULL */
            snprintf(buf, NUM, "%.17g", v->r);
            vals[i] = buf;
            types[i] = PG_FLOAT8OID;
            sig[i] = 'r';
            break;
        case TG_DBV_TEXT:
            if (!v->p) break;
            vals[i] = v->p;
            sig[i] = 't';
            break;
        case TG_DBV_BLOB:
            if (v->n > (size_t)0x7fffffff) {
                free(block);
                return tg_error_set(err, TG_ERR_ARG, "%s: a blob of %zu bytes (at most 2 GiB)",
                                    c->redacted, v->n);
            }
            vals[i] = v->p ? v->p : "";
            lens[i] = (int)v->n;
            fmts[i] = 1;
            types[i] = PG_BYTEAOID;
            sig[i] = 'b';
            break;
        case TG_DBV_NULL:
            break;
        }
    }
    sig[np] = '\0';

    const char *name = NULL;
    st = prepared(c, sql, sig, types, np, &name, transient, err);
    if (st != TG_OK) {
        free(block);
        return st;
    }
    PGresult *res = name ? PQexecPrepared(c->conn, name, np, vals, lens, fmts, 0)
                         : PQexecParams(c->conn, sql, np, types, vals, lens, fmts, 0);
    free(block);
    ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        /* "cached plan must not change result type": the tables changed
         * under a prepared statement; prepare it afresh on the rerun */
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        int replan = name && state && strcmp(state, "0A000") == 0 && prim &&
                     strstr(prim, "cached plan");
        if (replan) forget_statement(c, name);
        st = fail(c, res, NULL, transient, err);
        if (replan) *transient = 1;
        return st;
    }
    if (changed) {   /* rows written: PQcmdTuples also counts a SELECT's rows */
        const char *cmd = PQcmdStatus(res), *t = PQcmdTuples(res);
        int dml = strncmp(cmd, "INSERT ", 7) == 0 || strncmp(cmd, "UPDATE ", 7) == 0 ||
                  strncmp(cmd, "DELETE ", 7) == 0 || strncmp(cmd, "MERGE ", 6) == 0;
        *changed = dml && *t ? strtoll(t, NULL, 10) : 0;
    }
    st = TG_OK;
    if (rows) st = take_rows(c, res, rows, err);
    PQclear(res);
    return st;
}

/* A statement without parameters or results, by the simple protocol. */
static tg_status simple(pg_conn *c, const char *sql, const char *what, int *transient,
                        tg_error *err) {
    *transient = 0;
    tg_status st = ensure_connected(c, transient, err);
    if (st != TG_OK) return st;
    PGresult *res = PQexec(c->conn, sql);
    ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK)
        return fail(c, res, what, transient, err);
    PQclear(res);
    return TG_OK;
}

static tg_status pg_exec_script(void *conn, const char *sql, int *transient, tg_error *err) {
    return simple(conn, sql, NULL, transient, err);
}

static tg_status pg_begin(void *conn, int *transient, tg_error *err) {
    return simple(conn, "BEGIN", "BEGIN", transient, err);
}

static tg_status pg_commit(void *conn, int *transient, tg_error *err) {
    return simple(conn, "COMMIT", "COMMIT", transient, err);
}

static void pg_rollback(void *conn) {
    pg_conn *c = conn;
    if (PQstatus(c->conn) != CONNECTION_OK) {
        reconnect(c);   /* the transaction went with the connection */
        return;
    }
    if (PQtransactionStatus(c->conn) == PQTRANS_IDLE) return;
    PGresult *res = PQexec(c->conn, "ROLLBACK");
    if (res) PQclear(res);
    if (PQstatus(c->conn) != CONNECTION_OK) reconnect(c);
}

static void pg_close(void *conn) {
    pg_conn *c = conn;
    if (!c) return;
    forget_statements(c);
    free(c->stmts);
    PQfinish(c->conn);
    free(c);
}

static const tg_db_backend pg_backend = {
    TG_DB_POSTGRES,
    "extract(epoch from clock_timestamp())::float8",
    pg_exec,
    pg_exec_script,
    pg_begin,
    pg_commit,
    pg_rollback,
    pg_close,
};

tg_status tg_db_pg_open(const char *url, const char *redacted, void **conn,
                        const tg_db_backend **be, tg_error *err) {
    *conn = NULL;
    *be = NULL;
    pg_conn *c = calloc(1, sizeof *c);
    if (!c) return tg_error_set(err, TG_ERR_NOMEM, "out of memory connecting to %s", redacted);
    snprintf(c->redacted, sizeof c->redacted, "%s", redacted);
    /* The URL as it is (expand_dbname), with our name in pg_stat_activity
     * unless the URL sets application_name. */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const vals[] = {url, "tgsage", NULL};
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (!c->conn) {
        free(c);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory connecting to %s", redacted);
    }
    if (PQstatus(c->conn) != CONNECTION_OK) {
        char msg[440];
        one_line(PQerrorMessage(c->conn), msg, sizeof msg);
        scrub_password(msg, sizeof msg, url);
        PQfinish(c->conn);
        free(c);
        return tg_error_set(err, TG_ERR_DB, "cannot connect to %s: %s", redacted, msg);
    }
    PQsetNoticeProcessor(c->conn, drop_notice, NULL);
    *conn = c;
    *be = &pg_backend;
    return TG_OK;
}
