/* tracker.c - opening a tracker: the connection (db.h), the schema and its
 * migrations.
 *
 * tg_meta(key, value) holds schema_version. A database is brought to
 * TG_TRACKER_SCHEMA one step at a time, each step in its own transaction
 * that first reads the version under the database's write lock (SQLite's
 * BEGIN IMMEDIATE; on PostgreSQL a transaction-scoped advisory lock, since
 * two CREATE TABLEs racing there fail rather than wait): two processes
 * opening a new database at once are safe, the second finds the version the
 * first wrote and does nothing. Version 0 is a database without the tables
 * (new, or tg_meta empty); step 1 creates them. A database written by a
 * newer tgsage is refused, never downgraded.
 *
 * The DDL differs per engine only in types (SQLite: INTEGER PRIMARY KEY,
 * REAL, BLOB; PostgreSQL: BIGSERIAL, BIGINT, DOUBLE PRECISION, BYTEA); the
 * names are the same everywhere. */
#include "tracker_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An arbitrary key for pg_advisory_xact_lock: "tgsa" (0x74677361). */
#define TG_PG_SCHEMA_LOCK "1952937313"

/* ---- schema version 1 ------------------------------------------------------ */

/* studies.max_attempts repeats the config's field (which cannot change on
 * resume) so that the reaper needs no JSON. trials.attempt counts claims
 * not given back (tg_trial_release takes its own back), so when a lease
 * expires it is also the number of leases that have expired. */
#define SCHEMA1(ID, INT, REAL, BLOB)                                                   \
    "CREATE TABLE studies ("                                                           \
    " id " ID ","                                                                      \
    " name TEXT NOT NULL UNIQUE,"                                                      \
    " config TEXT NOT NULL,"                                                           \
    " max_attempts " INT " NOT NULL,"                                                  \
    " teacher " BLOB ","                                                               \
    " explorer_state TEXT,"                                                            \
    " explorer_owner TEXT,"                                                            \
    " explorer_lease_until " REAL ","                                                  \
    " done " INT " NOT NULL DEFAULT 0,"                                                \
    " created " REAL " NOT NULL,"                                                      \
    " next_number " INT " NOT NULL DEFAULT 0);\n"                                      \
    "CREATE TABLE trials ("                                                            \
    " id " ID ","                                                                      \
    " study_id " INT " NOT NULL REFERENCES studies(id),"                               \
    " number " INT " NOT NULL,"                                                        \
    " hash TEXT NOT NULL,"                                                             \
    " genome TEXT NOT NULL,"                                                           \
    " state TEXT NOT NULL DEFAULT 'waiting'"                                           \
    "  CHECK (state IN ('waiting', 'running', 'complete', 'failed')),"                 \
    " attempt " INT " NOT NULL DEFAULT 0,"                                             \
    " owner TEXT, host TEXT, pid " INT ","                                             \
    " lease_until " REAL ", heartbeat " REAL ","                                       \
    " created " REAL " NOT NULL, started " REAL ", finished " REAL ","                 \
    " examples " INT ", score " REAL ", p " REAL ", val_loss " REAL ", tg " REAL ","   \
    " sim TEXT, error TEXT, train_s " REAL ", eval_s " REAL ","                        \
    " UNIQUE (study_id, number), UNIQUE (study_id, hash));\n"                          \
    "CREATE INDEX trials_claim ON trials (study_id, state, number);\n"                 \
    "CREATE TABLE proposals ("                                                         \
    " study_id " INT " NOT NULL REFERENCES studies(id),"                               \
    " pid " INT " NOT NULL,"                                                           \
    " number " INT " NOT NULL,"                                                        \
    " UNIQUE (study_id, pid));\n"

/* ---- schema version 2 ------------------------------------------------------ */

/* Studies that are not searches: a rerank study points at the search it
 * reranks (parent_id) and its trials at the originals (trials.parent, a
 * trial number in the parent study); a pool keeps P and the similarities
 * at each premature point (trials.points). trials.rdms holds the winning
 * layers' cropped RDMs for the report. A study's own teacher stays in
 * studies.teacher (position 0, named by teacher_name, NULL meaning
 * "teacher"), so schema-1 studies need no copying; further teachers of a
 * pool are rows of teachers from position 1 on. Every new column may be
 * NULL: a schema-1 row reads as "none". */
#define SCHEMA2(ID, INT, BLOB)                                                         \
    "ALTER TABLE studies ADD COLUMN parent_id " INT ";\n"                              \
    "ALTER TABLE studies ADD COLUMN teacher_name TEXT;\n"                              \
    "ALTER TABLE trials ADD COLUMN parent " INT ";\n"                                  \
    "ALTER TABLE trials ADD COLUMN rdms TEXT;\n"                                       \
    "ALTER TABLE trials ADD COLUMN points TEXT;\n"                                     \
    "CREATE TABLE teachers ("                                                          \
    " id " ID ","                                                                      \
    " study_id " INT " NOT NULL REFERENCES studies(id),"                               \
    " position " INT " NOT NULL CHECK (position >= 1),"                                \
    " name TEXT NOT NULL,"                                                             \
    " data " BLOB " NOT NULL,"                                                         \
    " UNIQUE (study_id, position));\n"

static const tg_tracker_migration MIGRATIONS[] = {
    {1, SCHEMA1("INTEGER PRIMARY KEY", "INTEGER", "REAL", "BLOB"),
     SCHEMA1("BIGSERIAL PRIMARY KEY", "BIGINT", "DOUBLE PRECISION", "BYTEA")},
    {2, SCHEMA2("INTEGER PRIMARY KEY", "INTEGER", "BLOB"),
     SCHEMA2("BIGSERIAL PRIMARY KEY", "BIGINT", "BYTEA")},
};

const tg_tracker_migration *tg_tracker_migrations(int *n) {
    *n = (int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]);
    return MIGRATIONS;
}

/* ---- the migration mechanism ------------------------------------------------ */

typedef struct {
    const tg_tracker_migration *steps;
    int n, target;
    const char *url;
    int version;             /* read by the last step's transaction */
} migrate_ctx;

static tg_status read_version(tg_db *db, const char *url, int *v, tg_error *err) {
    tg_db_rows *r;
    tg_status st = tg_db_exec(db, "SELECT value FROM tg_meta WHERE key = 'schema_version'",
                              NULL, 0, &r, NULL, err);
    if (st != TG_OK) return st;
    *v = 0;
    if (tg_db_nrows(r) > 0) {
        const char *s = tg_db_text(r, 0, 0);
        char *end = NULL;
        long x = s ? strtol(s, &end, 10) : -1;
        if (!s || end == s || *end || x < 0 || x > 1000000) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: tg_meta.schema_version is '%s', not "
                              "a version number", url, s ? s : "NULL");
            tg_db_rows_free(r);
            return st;
        }
        *v = (int)x;
    }
    tg_db_rows_free(r);
    return TG_OK;
}

/* One transaction: read the version, apply the step after it. */
static tg_status migrate_step(tg_db *db, void *user, tg_error *err) {
    migrate_ctx *m = user;
    tg_status st;
    if (tg_db_kind_of(db) == TG_DB_POSTGRES) {
        st = tg_db_exec(db, "SELECT pg_advisory_xact_lock(" TG_PG_SCHEMA_LOCK ")", NULL, 0, NULL,
                        NULL, err);
        if (st != TG_OK) return st;
    }
    st = tg_db_exec(db, "CREATE TABLE IF NOT EXISTS tg_meta (key TEXT PRIMARY KEY, value TEXT)",
                    NULL, 0, NULL, NULL, err);
    if (st != TG_OK) return st;
    int v;
    st = read_version(db, m->url, &v, err);
    if (st != TG_OK) return st;
    m->version = v;
    if (v > m->target)
        return tg_error_set(err, TG_ERR_DB, "%s was written by a newer tgsage (schema %d, this "
                            "one reads up to %d): upgrade tgsage", m->url, v, m->target);
    if (v == m->target) return TG_OK;
    const tg_tracker_migration *step = NULL;
    for (int i = 0; i < m->n; i++)
        if (m->steps[i].to == v + 1) step = &m->steps[i];
    if (!step)
        return tg_error_set(err, TG_ERR_UNSUPPORTED, "%s: schema %d has no migration to %d",
                            m->url, v, v + 1);
    st = tg_db_exec_script(db, tg_db_kind_of(db) == TG_DB_POSTGRES ? step->pg_sql
                                                                   : step->sqlite_sql, err);
    if (st != TG_OK) return st;
    char ver[16];
    snprintf(ver, sizeof ver, "%d", step->to);
    tg_dbv p = tg_dbv_text(ver);
    return tg_db_exec(db, "INSERT INTO tg_meta (key, value) VALUES ('schema_version', $1) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      &p, 1, NULL, NULL, err);
}

tg_status tg_tracker_migrate(tg_db *db, const char *url, const tg_tracker_migration *steps,
                             int n, int target, int *version, tg_error *err) {
    migrate_ctx m = {steps, n, target, url, -1};
    int found = -1;
    /* each pass applies one step (or finds the target); target + 1 passes
     * at most, unless another process migrates beside us, which only
     * shortens the way */
    for (int pass = 0; pass <= target + 1; pass++) {
        tg_status st = tg_db_transact(db, migrate_step, &m, err);
        if (st != TG_OK) return st;
        if (found < 0) found = m.version;
        if (m.version == target) {
            if (version) *version = found;
            return TG_OK;
        }
    }
    return tg_error_set(err, TG_ERR_DB, "%s: the schema did not reach version %d", url, target);
}

/* ---- the tracker ------------------------------------------------------------ */

tg_status tg_tracker_open(const char *url, tg_tracker **out, tg_error *err) {
    *out = NULL;
    tg_tracker *t = calloc(1, sizeof *t);
    if (!t) return tg_error_set(err, TG_ERR_NOMEM, "out of memory opening a tracker");
    tg_url_redact(url, t->url, sizeof t->url);
    tg_status st = tg_db_open(url, &t->db, err);
    if (st == TG_OK) {
        int n;
        const tg_tracker_migration *steps = tg_tracker_migrations(&n);
        st = tg_tracker_migrate(t->db, t->url, steps, n, TG_TRACKER_SCHEMA, NULL, err);
    }
    if (st != TG_OK) {
        tg_tracker_close(t);
        return st;
    }
    *out = t;
    return TG_OK;
}

void tg_tracker_close(tg_tracker *t) {
    if (!t) return;
    tg_db_close(t->db);
    free(t);
}

const char *tg_tracker_backend(const tg_tracker *t) {
    return tg_db_kind_of(t->db) == TG_DB_POSTGRES ? "postgresql" : "sqlite";
}

const char *tg_tracker_url(const tg_tracker *t) { return t->url; }

const char *tg_tracker_sql(const tg_tracker *t, char *buf, size_t n, const char *tmpl) {
    static const char tok[] = "{now}";
    const char *now = tg_db_now(t->db);
    size_t nl = strlen(now), len = 0;
    for (const char *p = tmpl; *p;) {
        const char *q = strstr(p, tok);
        size_t k = q ? (size_t)(q - p) : strlen(p);
        TG_ASSERT(len + k < n);
        memcpy(buf + len, p, k);
        len += k;
        p += k;
        if (q) {
            TG_ASSERT(len + nl < n);
            memcpy(buf + len, now, nl);
            len += nl;
            p += sizeof tok - 1;
        }
    }
    buf[len] = '\0';
    return buf;
}
