/* db.h - the tracker's database connection, one interface over SQLite and
 * libpq (internal to src/tracker/).
 *
 * SQL is written once for both engines where it can be:
 *   - parameters are $1, $2, ... (PostgreSQL's form; SQLite reads "$1" as a
 *     named parameter, and the SQLite backend binds each by its name, so a
 *     parameter may appear twice or out of order);
 *   - the server's clock, in unix seconds as a double, is tg_db_now(db), an
 *     SQL expression to paste into statements;
 *   - where the engines differ (schema types, the claim), the tracker asks
 *     tg_db_kind.
 * A value read back is typed by the column: integers and doubles come back
 * as such on both engines (the PostgreSQL backend converts from text by the
 * result's column type), text as NUL-terminated strings, blobs as bytes.
 *
 * Transactions: tg_db_transact runs a function between BEGIN (IMMEDIATE on
 * SQLite) and COMMIT, and reruns the whole function when the failure was
 * transient: SQLITE_BUSY / SQLITE_LOCKED, a PostgreSQL serialization
 * failure (40001), deadlock (40P01), or a lost connection (reconnecting
 * first). Retries back off with jitter (1 ms doubling to 250 ms) until a
 * deadline (60 s by default, TG_DB_RETRY_S in the environment), after which
 * the last database message is returned as TG_ERR_DB. A connection lost
 * outside a transaction is reconnected by the next tg_db_exec the same way.
 */
#ifndef TGSAGE_TRACKER_DB_H
#define TGSAGE_TRACKER_DB_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"

typedef enum { TG_DB_SQLITE, TG_DB_POSTGRES } tg_db_kind;

typedef enum { TG_DBV_NULL, TG_DBV_INT, TG_DBV_REAL, TG_DBV_TEXT, TG_DBV_BLOB } tg_dbv_type;

/* A parameter or a value read back. Text and blobs point into memory the
 * caller keeps alive for the call (parameters) or the rows (results). */
typedef struct {
    tg_dbv_type type;
    int64_t i;
    double r;
    const void *p;
    size_t n;
} tg_dbv;

static inline tg_dbv tg_dbv_null(void) { tg_dbv v = {TG_DBV_NULL, 0, 0, 0, 0}; return v; }
static inline tg_dbv tg_dbv_int(int64_t x) { tg_dbv v = {TG_DBV_INT, x, 0, 0, 0}; return v; }
/* NaN binds as NULL (unmeasured). */
static inline tg_dbv tg_dbv_real(double x) {
    tg_dbv v = {x == x ? TG_DBV_REAL : TG_DBV_NULL, 0, x, 0, 0};
    return v;
}
/* NULL binds as NULL. */
static inline tg_dbv tg_dbv_text(const char *s) {
    tg_dbv v = {s ? TG_DBV_TEXT : TG_DBV_NULL, 0, 0, s, 0};
    return v;
}
static inline tg_dbv tg_dbv_blob(const void *p, size_t n) {
    tg_dbv v = {TG_DBV_BLOB, 0, 0, p, n};
    return v;
}

typedef struct tg_db tg_db;
typedef struct tg_db_rows tg_db_rows;   /* a whole result set, in memory */

/* url as in tracker.h (sqlite:///rel.db, sqlite:////abs.db, sqlite:///:memory:;
 * TG_DB_RETRY_S is read here). The SQLite file is created (its directory must
 * exist; TG_ERR_IO naming it otherwise) and put in WAL mode with a busy
 * timeout; PostgreSQL's URL goes to PQconnectdb unchanged. Errors quote
 * the engine's message, and the URL only in its redacted form. */
tg_status tg_db_open(const char *url, tg_db **db, tg_error *err);
void tg_db_close(tg_db *db);
tg_db_kind tg_db_kind_of(const tg_db *db);
const char *tg_db_now(const tg_db *db);     /* SQL: the server's unix time, double */

/* One statement. rows may be NULL (results discarded; *rows otherwise is
 * set, possibly with 0 rows); changed (rows inserted, updated or deleted)
 * may be NULL. */
tg_status tg_db_exec(tg_db *db, const char *sql, const tg_dbv *params, int np,
                     tg_db_rows **rows, int64_t *changed, tg_error *err);
/* Several statements without parameters or results (the schema). */
tg_status tg_db_exec_script(tg_db *db, const char *sql, tg_error *err);

/* fn between BEGIN and COMMIT, rerun on transient failures (above); any
 * other failure of fn rolls back and is returned as fn set it. fn must have
 * no effect outside the database, since it may run more than once. Not
 * nestable. */
typedef tg_status (*tg_db_tx_fn)(tg_db *db, void *user, tg_error *err);
tg_status tg_db_transact(tg_db *db, tg_db_tx_fn fn, void *user, tg_error *err);

int64_t tg_db_nrows(const tg_db_rows *r);
int tg_db_ncols(const tg_db_rows *r);
int tg_db_isnull(const tg_db_rows *r, int64_t row, int col);
int64_t tg_db_int(const tg_db_rows *r, int64_t row, int col);     /* 0 for NULL */
double tg_db_real(const tg_db_rows *r, int64_t row, int col);     /* NaN for NULL */
const char *tg_db_text(const tg_db_rows *r, int64_t row, int col); /* NULL for NULL */
const void *tg_db_blob(const tg_db_rows *r, int64_t row, int col, size_t *n);
void tg_db_rows_free(tg_db_rows *r);

/* ---- the backends (db_sqlite.c, db_pg.c) behind tg_db_open ---------------- */

/* What a backend gives tg_db's generic code (db.c: the retry loop, the
 * rows). exec fills rows it allocates with tg_db_rows_new / _set and sets
 * *transient when the failure may pass on a retry (for a lost connection
 * the backend has already tried to reconnect, or reconnects in begin). */
typedef struct {
    tg_db_kind kind;
    const char *now_sql;
    tg_status (*exec)(void *conn, const char *sql, const tg_dbv *params, int np,
                      tg_db_rows **rows, int64_t *changed, int *transient, tg_error *err);
    tg_status (*exec_script)(void *conn, const char *sql, int *transient, tg_error *err);
    tg_status (*begin)(void *conn, int *transient, tg_error *err);
    tg_status (*commit)(void *conn, int *transient, tg_error *err);
    void (*rollback)(void *conn);
    void (*close)(void *conn);
} tg_db_backend;

/* Open functions of the backends: *conn is the backend's own connection
 * struct. redacted is the URL safe to quote in messages. */
tg_status tg_db_sqlite_open(const char *path, const char *redacted, void **conn,
                            const tg_db_backend **be, tg_error *err);
tg_status tg_db_pg_open(const char *url, const char *redacted, void **conn,
                        const tg_db_backend **be, tg_error *err);

/* Result sets for the backends: nrows x ncols values; text and blobs are
 * copied into the set. A row at or past nrows grows the set (to row + 1
 * rows), for a backend that learns the count only by stepping (SQLite). */
tg_db_rows *tg_db_rows_new(int64_t nrows, int ncols);
tg_status tg_db_rows_set(tg_db_rows *r, int64_t row, int col, const tg_dbv *v);

#endif
