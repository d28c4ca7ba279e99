/* db_sqlite.c - the SQLite backend of db.h.
 *
 * One connection in WAL mode (readers never wait for the writer),
 * synchronous=NORMAL (a commit is durable once the WAL is checkpointed; a
 * power loss may lose the last commits but never corrupts), foreign keys
 * on, and a short busy timeout: contention is db.c's retry loop's job, with
 * jitter, so a busy file costs a few short waits rather than one long one.
 * SQLITE_BUSY and SQLITE_LOCKED are transient; everything else (a file that
 * is not a database, a read-only file, a full disk) is an error naming the
 * file and quoting sqlite3_errmsg.
 *
 * Prepared statements are cached by the address of the SQL text (the
 * tracker's statements are string literals) and confirmed by the text
 * itself, so a caller's reused buffer never runs a stale statement: 64 sets
 * of 4, the least recently used of a set replaced. */
#include "db.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#define SQ_SETS 64           /* a power of 2 */
#define SQ_WAYS 4
#define SQ_CACHE (SQ_SETS * SQ_WAYS)
#define SQ_BUSY_MS 100

typedef struct {
    const char *key;         /* the caller's pointer */
    char *sql;               /* a copy of its text */
    sqlite3_stmt *st;
    uint64_t used;           /* c->tick at the last use */
} sq_entry;

typedef struct {
    sqlite3 *db;
    char name[1024];         /* the redacted URL, for messages */
    uint64_t tick;
    int last_rc;             /* of the last failure */
    sq_entry cache[SQ_CACHE];
} sq_conn;

static int sq_transient(int rc) {
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* The error of rc on c, in words that say what to do. */
static tg_status sq_fail(sq_conn *c, int rc, const char *sql, int *transient, tg_error *err) {
    const char *msg = sqlite3_errmsg(c->db);
    c->last_rc = rc;
    if (transient) *transient = sq_transient(rc);
    char what[160] = "";
    if (sql) snprintf(what, sizeof what, " (in: %.120s)", sql);
    switch (rc & 0xff) {
    case SQLITE_READONLY:
        /* the file's state, not the statement's: no SQL in the message */
        return tg_error_set(err, TG_ERR_DB, "%s is read-only: %s", c->name, msg);
    case SQLITE_FULL:
        return tg_error_set(err, TG_ERR_DB, "%s: disk full: %s", c->name, msg);
    case SQLITE_NOTADB:
        return tg_error_set(err, TG_ERR_DB, "%s is not a SQLite database: %s", c->name, msg);
    case SQLITE_CANTOPEN:
        return tg_error_set(err, TG_ERR_IO, "cannot open %s: %s", c->name, msg);
    default:
        return tg_error_set(err, TG_ERR_DB, "%s: %s%s", c->name, msg, what);
    }
}

static tg_status sq_prepare(sq_conn *c, const char *sql, sqlite3_stmt **out, int *transient,
                            tg_error *err) {
    uint64_t h = (uint64_t)(uintptr_t)sql * 0x9E3779B97F4A7C15u;
    sq_entry *set = &c->cache[(h >> 40) % SQ_SETS * SQ_WAYS], *e = set;
    c->tick++;
    for (int w = 0; w < SQ_WAYS; w++) {
        if (set[w].key == sql) {
            if (strcmp(set[w].sql, sql) == 0) {
                set[w].used = c->tick;
                *out = set[w].st;
                return TG_OK;
            }
            e = &set[w];     /* the same buffer with new text: replace it */
            break;
        }
        if (set[w].used < e->used) e = &set[w];
    }
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (rc != SQLITE_OK) return sq_fail(c, rc, sql, transient, err);
    if (!st || (tail && tail[strspn(tail, " \t\r\n;")] != '\0')) {
        sqlite3_finalize(st);
        return tg_error_set(err, TG_ERR_ARG, "%s: %s: want exactly one SQL statement "
                            "(tg_db_exec_script runs several): %.120s", c->name,
                            st ? "more than one statement" : "no statement", sql);
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory preparing a statement");
    }
    sqlite3_finalize(e->st);
    free(e->sql);
    e->key = sql;
    e->sql = copy;
    e->st = st;
    e->used = c->tick;
    *out = st;
    return TG_OK;
}

/* Bind the statement's parameters $k from params[k-1]; one it uses but the
 * call does not give is an error, one given but unused is ignored. */
static tg_status sq_bind(sq_conn *c, sqlite3_stmt *st, const char *sql, const tg_dbv *params,
                         int np, tg_error *err) {
    int count = sqlite3_bind_parameter_count(st);
    for (int i = 1; i <= count; i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        char *end = NULL;
        long k = name && name[0] == '$' ? strtol(name + 1, &end, 10) : 0;
        if (!end || *end || k < 1)
            return tg_error_set(err, TG_ERR_ARG, "%s: parameter %s: want $1, $2, ... in: %.120s",
                                c->name, name ? name : "?", sql);
        if (k > np)
            return tg_error_set(err, TG_ERR_ARG, "%s: parameter %s is not given (%d given) "
                                "in: %.120s", c->name, name, np, sql);
        const tg_dbv *v = &params[k - 1];
        int rc;
        switch (v->type) {
        case TG_DBV_INT: rc = sqlite3_bind_int64(st, i, v->i); break;
        case TG_DBV_REAL: rc = sqlite3_bind_double(st, i, v->r); break;
        case TG_DBV_TEXT:
            rc = sqlite3_bind_text64(st, i, v->p, v->n ? (sqlite3_uint64)v->n : strlen(v->p),
                                     SQLITE_STATIC, SQLITE_UTF8);
            break;
        case TG_DBV_BLOB:
            rc = v->n ? sqlite3_bind_blob64(st, i, v->p, v->n, SQLITE_STATIC)
                      : sqlite3_bind_zeroblob(st, i, 0);
            break;
        default: rc = sqlite3_bind_null(st, i); break;
        }
        if (rc != SQLITE_OK) return sq_fail(c, rc, sql, NULL, err);
    }
    return TG_OK;
}

static tg_status sq_row(sqlite3_stmt *st, tg_db_rows *r, int64_t row, int ncols) {
    for (int j = 0; j < ncols; j++) {
        tg_dbv v = tg_dbv_null();
        switch (sqlite3_column_type(st, j)) {
        case SQLITE_INTEGER: v = tg_dbv_int(sqlite3_column_int64(st, j)); break;
        case SQLITE_FLOAT: v.type = TG_DBV_REAL; v.r = sqlite3_column_double(st, j); break;
        case SQLITE_TEXT:
            v.type = TG_DBV_TEXT;
            v.p = sqlite3_column_text(st, j);
            v.n = (size_t)sqlite3_column_bytes(st, j);
            if (!v.p) return TG_ERR_NOMEM;
            break;
        case SQLITE_BLOB:
            v.type = TG_DBV_BLOB;
            v.p = sqlite3_column_blob(st, j);
            v.n = (size_t)sqlite3_column_bytes(st, j);
            break;
        default: break;
        }
        if (v.type == TG_DBV_TEXT && v.n == 0) v.p = "";  /* n = 0 means strlen */
        tg_status s = tg_db_rows_set(r, row, j, &v);
        if (s != TG_OK) return s;
    }
    return TG_OK;
}

static tg_status sq_exec(void *conn, const char *sql, const tg_dbv *params, int np,
                         tg_db_rows **rows, int64_t *changed, int *transient, tg_error *err) {
    sq_conn *c = conn;
    sqlite3_stmt *st = NULL;
    tg_status s = sq_prepare(c, sql, &st, transient, err);
    if (s != TG_OK) return s;
    s = sq_bind(c, st, sql, params, np, err);
    tg_db_rows *r = NULL;
    sqlite3_int64 before = sqlite3_total_changes64(c->db);
    int rc = SQLITE_DONE;
    for (int64_t row = 0; s == TG_OK; row++) {
        rc = sqlite3_step(st);
        /* the columns are known after the first step: a schema change
         * since the statement was cached re-prepares it there */
        if (row == 0 && rows && (rc == SQLITE_ROW || rc == SQLITE_DONE) &&
            !(r = tg_db_rows_new(0, sqlite3_column_count(st))))
            s = tg_error_set(err, TG_ERR_NOMEM, "out of memory reading %s", c->name);
        if (rc != SQLITE_ROW || s != TG_OK) break;
        if (r && sq_row(st, r, row, tg_db_ncols(r)) != TG_OK)
            s = tg_error_set(err, TG_ERR_NOMEM, "out of memory reading %s", c->name);
    }
    if (s == TG_OK && rc != SQLITE_DONE) s = sq_fail(c, rc, sql, transient, err);
    /* changes64 keeps the last DML's count through SELECTs and DDL: trust
     * it only when this statement changed rows at all */
    if (s == TG_OK && changed)
        *changed = sqlite3_total_changes64(c->db) != before ? sqlite3_changes64(c->db) : 0;
    sqlite3_reset(st);
    if (s != TG_OK) {
        tg_db_rows_free(r);
        return s;
    }
    if (rows) *rows = r;
    return TG_OK;
}

static tg_status sq_exec_script(void *conn, const char *sql, int *transient, tg_error *err) {
    sq_conn *c = conn;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TG_OK : sq_fail(c, rc, NULL, transient, err);
}

static tg_status sq_simple(sq_conn *c, const char *sql, int *transient, tg_error *err) {
    return sq_exec(c, sql, NULL, 0, NULL, NULL, transient, err);
}

static tg_status sq_begin(void *conn, int *transient, tg_error *err) {
    return sq_simple(conn, "BEGIN IMMEDIATE", transient, err);
}

static tg_status sq_commit(void *conn, int *transient, tg_error *err) {
    return sq_simple(conn, "COMMIT", transient, err);
}

static void sq_rollback(void *conn) {
    sq_conn *c = conn;
    if (!sqlite3_get_autocommit(c->db)) sq_simple(c, "ROLLBACK", NULL, NULL);
}

static void sq_close(void *conn) {
    sq_conn *c = conn;
    if (!c) return;
    for (int i = 0; i < SQ_CACHE; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
    }
    sqlite3_close(c->db);
    free(c);
}

static const tg_db_backend sq_backend = {
    .kind = TG_DB_SQLITE,
    .now_sql = "((julianday('now') - 2440587.5) * 86400.0)",
    .exec = sq_exec,
    .exec_script = sq_exec_script,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .close = sq_close,
};

/* TG_ERR_IO unless path's directory (into dir) exists. */
static tg_status sq_check_dir(const char *path, const char *redacted, char *dir, size_t n,
                              tg_error *err) {
    const char *slash = strrchr(path, '/');
    snprintf(dir, n, ".");
    if (!slash) return TG_OK;                   /* the working directory */
    size_t k = slash == path ? 1 : (size_t)(slash - path);
    if (k >= n)
        return tg_error_set(err, TG_ERR_ARG, "cannot open %s: path too long", redacted);
    memcpy(dir, path, k);
    dir[k] = '\0';
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return tg_error_set(err, TG_ERR_IO, "cannot open %s: directory %s does not exist",
                            redacted, dir);
    if (!S_ISDIR(sb.st_mode))
        return tg_error_set(err, TG_ERR_IO, "cannot open %s: %s is not a directory",
                            redacted, dir);
    return TG_OK;
}

/* A file SQLite could not open or write, in a directory we may not write:
 * say that the directory is the problem (SQLite creates the -wal and -shm
 * files beside the database). */
static tg_status sq_open_fail(sq_conn *c, const char *dir, tg_status s, tg_error *err) {
    int rc = c->last_rc & 0xff;
    if (rc != SQLITE_CANTOPEN && rc != SQLITE_READONLY && rc != SQLITE_IOERR) return s;
    if (faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) == 0 || !err) return s;
    char was[sizeof err->msg];
    memcpy(was, err->msg, sizeof was);
    return tg_error_set(err, TG_ERR_DB, "%s: directory %s is read-only (SQLite keeps the "
                        "-wal and -shm files beside the database): %s", c->name, dir, was);
}

tg_status tg_db_sqlite_open(const char *path, const char *redacted, void **conn,
                            const tg_db_backend **be, tg_error *err) {
    *conn = NULL;
    int memory = strcmp(path, ":memory:") == 0;
    char dir[4096];
    tg_status s = memory ? TG_OK : sq_check_dir(path, redacted, dir, sizeof dir, err);
    if (s != TG_OK) return s;
    sq_conn *c = calloc(1, sizeof *c);
    if (!c) return tg_error_set(err, TG_ERR_NOMEM, "out of memory opening %s", redacted);
    snprintf(c->name, sizeof c->name, "%s", redacted);
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                           SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (c->db) s = sq_open_fail(c, dir, sq_fail(c, rc, NULL, NULL, err), err);
        else s = tg_error_set(err, TG_ERR_NOMEM, "out of memory opening %s", redacted);
        sq_close(c);
        return s;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, SQ_BUSY_MS);
    /* SQLite falls back to read-only when it cannot write the file: say so
     * now rather than at the first write */
    if (sqlite3_db_readonly(c->db, "main") == 1) {
        s = tg_error_set(err, TG_ERR_DB, "%s is read-only: the tracker writes to its database "
                         "(check the file's permissions and the file system)", redacted);
        sq_close(c);
        return s;
    }
    /* journal_mode=WAL needs a brief exclusive lock: another process
     * creating the same database may hold it, so retry a busy one here */
    tg_db_rows *r = NULL;
    int transient = 0;
    for (int tries = 0; tries < 600; tries++) {
        if (tries) sqlite3_sleep(10);
        transient = 0;
        s = sq_exec(c, "PRAGMA journal_mode=WAL", NULL, 0, &r, NULL, &transient, err);
        if (s == TG_OK || !transient) break;
    }
    if (s == TG_OK) {
        const char *mode = tg_db_nrows(r) == 1 ? tg_db_text(r, 0, 0) : NULL;
        if (!mode || (strcmp(mode, "wal") != 0 && !memory))
            s = tg_error_set(err, TG_ERR_DB, "%s: cannot use write-ahead logging "
                             "(journal_mode is %s): is it on a network file system?",
                             redacted, mode ? mode : "unknown");
    }
    tg_db_rows_free(r);
    if (s == TG_OK) s = sq_simple(c, "PRAGMA synchronous=NORMAL", NULL, err);
    if (s == TG_OK) s = sq_simple(c, "PRAGMA foreign_keys=ON", NULL, err);
    if (s != TG_OK) {
        s = sq_open_fail(c, dir, s, err);
        sq_close(c);
        return s;
    }
    *conn = c;
    *be = &sq_backend;
    return TG_OK;
}
