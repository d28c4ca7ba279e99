/* db.c - the engine-independent half of db.h: choosing the backend by URL,
 * result sets, and the retry loop that makes transient failures (a busy
 * SQLite file, a PostgreSQL serialization failure or lost connection)
 * invisible to the tracker until a deadline.
 *
 * Retries back off exponentially from 1 ms to 250 ms, each sleep drawn
 * uniformly from [d/2, d] so that processes which collided do not collide
 * again in step. Inside tg_db_transact a statement's transient failure is
 * not retried on its own (the transaction is already lost): it is recorded
 * in the tg_db and the whole function reruns after a rollback. */
#include "db.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tgsage/rng.h"
#include "tgsage/tracker.h"

#define TG_DB_RETRY_DEFAULT_S 60.0
#define TG_DB_BACKOFF_MIN_S 0.001
#define TG_DB_BACKOFF_MAX_S 0.250

struct tg_db {
    const tg_db_backend *be;
    void *conn;
    char url[1024];          /* redacted */
    double retry_s;          /* deadline of a retry loop, seconds */
    int in_tx;               /* inside tg_db_transact's fn */
    int tx_transient;        /* a statement of fn failed transiently */
    tg_rng rng;              /* jitter */
};

/* ---- result sets ------------------------------------------------------------- */

/* Values with text and blobs as offsets (v.i) into one growing buffer, so
 * the buffer may move while rows are added; getters resolve the offset. */
struct tg_db_rows {
    int64_t nrows, cap;      /* rows used, rows allocated */
    int ncols;
    tg_dbv *v;               /* cap * ncols */
    char *buf;
    size_t len, bufcap;
};

tg_db_rows *tg_db_rows_new(int64_t nrows, int ncols) {
    if (nrows < 0 || ncols < 0) return NULL;
    tg_db_rows *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->nrows = nrows;
    r->ncols = ncols;
    r->cap = nrows > 0 ? nrows : 0;
    if (r->cap > 0 && ncols > 0) {
        r->v = calloc((size_t)r->cap * (size_t)ncols, sizeof *r->v);
        if (!r->v) {
            free(r);
            return NULL;
        }
    }
    return r;
}

void tg_db_rows_free(tg_db_rows *r) {
    if (!r) return;
    free(r->v);
    free(r->buf);
    free(r);
}

static int rows_grow(tg_db_rows *r, int64_t need) {
    if (need <= r->cap) return 0;
    int64_t cap = r->cap > 0 ? r->cap : 8;
    while (cap < need) cap *= 2;
    if (r->ncols > 0) {
        tg_dbv *v = realloc(r->v, (size_t)cap * (size_t)r->ncols * sizeof *v);
        if (!v) return -1;
        memset(v + r->cap * r->ncols, 0,
               (size_t)(cap - r->cap) * (size_t)r->ncols * sizeof *v);
        r->v = v;
    }
    r->cap = cap;
    return 0;
}

/* Copy n bytes and a NUL into the buffer; the offset in *off. */
static int rows_store(tg_db_rows *r, const void *p, size_t n, size_t *off) {
    if (r->bufcap - r->len < n + 1) {
        size_t cap = r->bufcap > 0 ? r->bufcap : 256;
        while (cap - r->len < n + 1) cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b) return -1;
        r->buf = b;
        r->bufcap = cap;
    }
    if (n) memcpy(r->buf + r->len, p, n);
    r->buf[r->len + n] = '\0';
    *off = r->len;
    r->len += n + 1;
    return 0;
}

tg_status tg_db_rows_set(tg_db_rows *r, int64_t row, int col, const tg_dbv *v) {
    if (!r || row < 0 || col < 0 || col >= r->ncols) return TG_ERR_ARG;
    if (row >= r->nrows) {   /* backends that do not know the count ahead grow the set */
        if (rows_grow(r, row + 1) != 0) return TG_ERR_NOMEM;
        r->nrows = row + 1;
    }
    tg_dbv *d = &r->v[row * r->ncols + col];
    *d = *v;
    d->p = NULL;
    if (v->type == TG_DBV_TEXT || v->type == TG_DBV_BLOB) {
        size_t n = v->type == TG_DBV_TEXT && v->n == 0 && v->p ? strlen(v->p) : v->n;
        size_t off;
        if (rows_store(r, v->p, n, &off) != 0) return TG_ERR_NOMEM;
        d->i = (int64_t)off;
        d->n = n;
    }
    return TG_OK;
}

int64_t tg_db_nrows(const tg_db_rows *r) { return r ? r->nrows : 0; }
int tg_db_ncols(const tg_db_rows *r) { return r ? r->ncols : 0; }

static const tg_dbv *cell(const tg_db_rows *r, int64_t row, int col) {
    TG_ASSERT(r && row >= 0 && row < r->nrows && col >= 0 && col < r->ncols);
    return &r->v[row * r->ncols + col];
}

int tg_db_isnull(const tg_db_rows *r, int64_t row, int col) {
    return cell(r, row, col)->type == TG_DBV_NULL;
}

int64_t tg_db_int(const tg_db_rows *r, int64_t row, int col) {
    const tg_dbv *v = cell(r, row, col);
    switch (v->type) {
    case TG_DBV_INT: return v->i;
    case TG_DBV_REAL: return (int64_t)v->r;
    case TG_DBV_TEXT: return strtoll(r->buf + v->i, NULL, 10);
    default: return 0;
    }
}

double tg_db_real(const tg_db_rows *r, int64_t row, int col) {
    const tg_dbv *v = cell(r, row, col);
    switch (v->type) {
    case TG_DBV_REAL: return v->r;
    case TG_DBV_INT: return (double)v->i;
    case TG_DBV_TEXT: return strtod(r->buf + v->i, NULL);
    default: return NAN;
    }
}

const char *tg_db_text(const tg_db_rows *r, int64_t row, int col) {
    const tg_dbv *v = cell(r, row, col);
    if (v->type != TG_DBV_TEXT && v->type != TG_DBV_BLOB) return NULL;
    return r->buf + v->i;
}

const void *tg_db_blob(const tg_db_rows *r, int64_t row, int col, size_t *n) {
    const tg_dbv *v = cell(r, row, col);
    if (v->type != TG_DBV_TEXT && v->type != TG_DBV_BLOB) {
        if (n) *n = 0;
        return NULL;
    }
    if (n) *n = v->n;
    return r->buf + v->i;
}

/* ---- opening --------------------------------------------------------------- */

static tg_status retry_deadline(double *s, tg_error *err) {
    const char *e = getenv("TG_DB_RETRY_S");
    *s = TG_DB_RETRY_DEFAULT_S;
    if (!e || !*e) return TG_OK;
    char *end;
    double v = strtod(e, &end);
    if (*end || !(v >= 0) || v > 1e6)
        return tg_error_set(err, TG_ERR_ARG,
                            "TG_DB_RETRY_S=%s: want the seconds to retry a busy database "
                            "(a number >= 0; default %.0f)", e, TG_DB_RETRY_DEFAULT_S);
    *s = v;
    return TG_OK;
}

tg_status tg_db_open(const char *url, tg_db **out, tg_error *err) {
    *out = NULL;
    if (!url) return tg_error_set(err, TG_ERR_ARG, "no database URL");
    tg_db *db = calloc(1, sizeof *db);
    if (!db) return tg_error_set(err, TG_ERR_NOMEM, "out of memory opening a database");
    tg_url_redact(url, db->url, sizeof db->url);
    tg_status st = retry_deadline(&db->retry_s, err);
    if (st != TG_OK) {
        free(db);
        return st;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tg_rng_seed(&db->rng, ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
                              (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)db);

    static const char sq[] = "sqlite:///";
    if (strncmp(url, sq, sizeof sq - 1) == 0) {
        /* SQLAlchemy's form: the path follows the third slash, so
         * sqlite:////abs is /abs and sqlite:///rel is rel. */
        const char *path = url + sizeof sq - 1;
        if (!*path)
            st = tg_error_set(err, TG_ERR_ARG, "%s: no file after sqlite:/// (sqlite:///"
                              "relative/path.db or sqlite:////absolute/path.db)", db->url);
        else if (strchr(path, '?'))
            st = tg_error_set(err, TG_ERR_ARG, "%s: a sqlite URL takes no ?parameters "
                              "(the tracker sets its own)", db->url);
        else
            st = tg_db_sqlite_open(path, db->url, &db->conn, &db->be, err);
    } else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        st = tg_db_pg_open(url, db->url, &db->conn, &db->be, err);
    } else {
        st = tg_error_set(err, TG_ERR_ARG,
                          "unknown database URL %s: use sqlite:///relative/path.db, "
                          "sqlite:////absolute/path.db or "
                          "postgresql://user[:password]@host[:port]/dbname", db->url);
    }
    if (st != TG_OK) {
        free(db);
        return st;
    }
    *out = db;
    return TG_OK;
}

void tg_db_close(tg_db *db) {
    if (!db) return;
    if (db->be) db->be->close(db->conn);
    free(db);
}

tg_db_kind tg_db_kind_of(const tg_db *db) { return db->be->kind; }
const char *tg_db_now(const tg_db *db) { return db->be->now_sql; }

/* ---- the retry loop -------------------------------------------------------------- */

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double deadline, backoff;
    int tries;
} retry;

static void retry_init(const tg_db *db, retry *r) {
    r->deadline = mono_s() + db->retry_s;
    r->backoff = TG_DB_BACKOFF_MIN_S;
    r->tries = 0;
}

/* After a transient failure (message in e): 1 after sleeping when there is
 * time for another try, 0 (e rewritten as TG_ERR_DB) when the deadline has
 * passed. */
static int retry_again(tg_db *db, retry *r, tg_error *e) {
    r->tries++;
    double now = mono_s();
    if (now >= r->deadline) {
        char last[sizeof e->msg];
        memcpy(last, e->msg, sizeof last);
        tg_error_set(e, TG_ERR_DB, "%s (still failing after %d tries in %.1f s; "
                     "TG_DB_RETRY_S sets how long to retry)", last, r->tries, db->retry_s);
        return 0;
    }
    double d = r->backoff * (0.5 + 0.5 * tg_rng_uniform_d(&db->rng));
    if (now + d > r->deadline) d = r->deadline - now;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    r->backoff = fmin(2 * r->backoff, TG_DB_BACKOFF_MAX_S);
    return 1;
}

static tg_status finish(tg_status st, const tg_error *e, tg_error *err) {
    if (st != TG_OK && err) *err = *e;
    return st;
}

tg_status tg_db_exec(tg_db *db, const char *sql, const tg_dbv *params, int np,
                     tg_db_rows **rows, int64_t *changed, tg_error *err) {
    if (rows) *rows = NULL;
    if (changed) *changed = 0;
    if (db->in_tx) {
        int transient = 0;
        tg_status st = db->be->exec(db->conn, sql, params, np, rows, changed, &transient, err);
        if (st != TG_OK && transient) db->tx_transient = 1;
        return st;
    }
    retry r;
    retry_init(db, &r);
    tg_error e;
    for (;;) {
        int transient = 0;
        tg_error_clear(&e);
        tg_status st = db->be->exec(db->conn, sql, params, np, rows, changed, &transient, &e);
        if (st == TG_OK || !transient) return finish(st, &e, err);
        if (!retry_again(db, &r, &e)) return finish(TG_ERR_DB, &e, err);
    }
}

tg_status tg_db_exec_script(tg_db *db, const char *sql, tg_error *err) {
    if (db->in_tx) {
        int transient = 0;
        tg_status st = db->be->exec_script(db->conn, sql, &transient, err);
        if (st != TG_OK && transient) db->tx_transient = 1;
        return st;
    }
    retry r;
    retry_init(db, &r);
    tg_error e;
    for (;;) {
        int transient = 0;
        tg_error_clear(&e);
        tg_status st = db->be->exec_script(db->conn, sql, &transient, &e);
        if (st == TG_OK || !transient) return finish(st, &e, err);
        if (!retry_again(db, &r, &e)) return finish(TG_ERR_DB, &e, err);
    }
}

tg_status tg_db_transact(tg_db *db, tg_db_tx_fn fn, void *user, tg_error *err) {
    if (db->in_tx)
        return tg_error_set(err, TG_ERR_ARG, "%s: tg_db_transact inside a transaction "
                            "(transactions do not nest)", db->url);
    retry r;
    retry_init(db, &r);
    tg_error e;
    for (;;) {
        int transient = 0;
        tg_error_clear(&e);
        tg_status st = db->be->begin(db->conn, &transient, &e);
        if (st == TG_OK) {
            db->in_tx = 1;
            db->tx_transient = 0;
            st = fn(db, user, &e);
            db->in_tx = 0;
            if (st == TG_OK && !db->tx_transient) {
                st = db->be->commit(db->conn, &transient, &e);
                if (st == TG_OK) return TG_OK;
            } else {
                transient = db->tx_transient;
                if (transient && st == TG_OK) /* fn swallowed the failure */
                    tg_error_set(&e, TG_ERR_DB, "%s: a statement failed transiently", db->url);
            }
            db->be->rollback(db->conn);
        }
        if (!transient) return finish(st, &e, err);
        if (!retry_again(db, &r, &e)) return finish(TG_ERR_DB, &e, err);
    }
}
