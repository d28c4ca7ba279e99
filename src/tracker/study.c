/* study.c - studies (tracker.h, "studies" and "the explorer's side"):
 * creating and resuming them, their teacher, the explorer's lease, and the
 * proposals it commits with its saved state.
 *
 * The explorer's lease lives in studies.explorer_owner / _lease_until and
 * is taken by one UPDATE whose WHERE says when it may be (free, ours, or
 * expired), so two explorers racing for it cannot both win. tg_study_propose
 * first rewrites the state under the same condition (ours and unexpired):
 * that UPDATE is the fence, and on PostgreSQL it also locks the study's row,
 * so numbering by studies.next_number is serial. A proposal id already
 * recorded returns its mapping, which makes a restarted explorer's resent
 * batch harmless. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracker_internal.h"

#define STUDY_COLS "id, name, config, done, created, " \
                   "CASE WHEN teacher IS NULL THEN 0 ELSE 1 END, parent_id"

tg_status tg_study_name_check(const char *name, tg_error *err) {
    static const char ok[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > 127 || strspn(name, ok) != n)
        return tg_error_set(err, TG_ERR_ARG, "study name '%.200s': want 1-127 characters of "
                            "A-Z a-z 0-9 . _ -", name ? name : "");
    return TG_OK;
}

/* Row r of a STUDY_COLS result into *s. */
static tg_status study_row(const tg_tracker *t, const tg_db_rows *r, int64_t row, tg_study *s,
                           tg_error *err) {
    memset(s, 0, sizeof *s);
    s->id = tg_db_int(r, row, 0);
    const char *name = tg_db_text(r, row, 1);
    snprintf(s->name, sizeof s->name, "%s", name ? name : "");
    tg_status st = tg_study_config_parse(tg_db_text(r, row, 2), &s->cfg, err);
    if (st != TG_OK) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err ? err->msg : "");
        return tg_error_set(err, st, "%s: study '%s': %s", t->url, s->name, m);
    }
    s->done = (int)tg_db_int(r, row, 3);
    s->created = tg_db_real(r, row, 4);
    s->has_teacher = (int)tg_db_int(r, row, 5);
    s->parent = tg_db_isnull(r, row, 6) ? -1 : tg_db_int(r, row, 6);
    return TG_OK;
}

/* ---- open ----------------------------------------------------------------- */

typedef struct {
    tg_tracker *t;
    const char *name;
    const tg_study_config *cfg;
    const char *json;
    const void *teacher;
    size_t nteacher;
    tg_study *out;
    int created;
} open_ctx;

static tg_status open_existing(open_ctx *o, tg_db_rows *r, tg_error *err) {
    tg_db *db = o->t->db;
    tg_status st = study_row(o->t, r, 0, o->out, err);
    if (st != TG_OK) return st;
    char diff[400];
    if (tg_study_config_diff(&o->out->cfg, o->cfg, diff, sizeof diff))
        return tg_error_set(err, TG_ERR_ARG, "study %s in %s differs from this run: %s "
                            "(a new name starts a new study)", o->name, o->t->url, diff);
    if (o->out->cfg.trials == o->cfg->trials && o->out->cfg.parallel == o->cfg->parallel)
        return TG_OK;
    o->out->cfg.trials = o->cfg->trials;
    o->out->cfg.parallel = o->cfg->parallel;
    char *json = tg_study_config_json(&o->out->cfg, err);
    if (!json) return TG_ERR_NOMEM;
    tg_dbv p[2] = {tg_dbv_int(o->out->id), tg_dbv_text(json)};
    st = tg_db_exec(db, "UPDATE studies SET config = $2 WHERE id = $1", p, 2, NULL, NULL, err);
    free(json);
    return st;
}

static tg_status open_tx(tg_db *db, void *user, tg_error *err) {
    open_ctx *o = user;
    o->created = 0;
    /* twice at most: on PostgreSQL a study created by another process after
     * our SELECT makes the INSERT do nothing, and the second look finds it */
    for (int pass = 0; pass < 2; pass++) {
        tg_dbv name = tg_dbv_text(o->name);
        tg_db_rows *r;
        tg_status st = tg_db_exec(db, "SELECT " STUDY_COLS " FROM studies WHERE name = $1",
                                  &name, 1, &r, NULL, err);
        if (st != TG_OK) return st;
        if (tg_db_nrows(r) > 0) {
            st = open_existing(o, r, err);
            tg_db_rows_free(r);
            return st;
        }
        tg_db_rows_free(r);
        char sql[1024];
        tg_tracker_sql(o->t, sql, sizeof sql,
                       "INSERT INTO studies (name, config, max_attempts, teacher, done, created,"
                       " next_number) VALUES ($1, $2, $3, $4, 0, {now}, 0)"
                       " ON CONFLICT (name) DO NOTHING RETURNING id, created");
        tg_dbv p[4] = {tg_dbv_text(o->name), tg_dbv_text(o->json),
                       tg_dbv_int(o->cfg->max_attempts),
                       o->teacher ? tg_dbv_blob(o->teacher, o->nteacher) : tg_dbv_null()};
        st = tg_db_exec(db, sql, p, 4, &r, NULL, err);
        if (st != TG_OK) return st;
        if (tg_db_nrows(r) > 0) {
            tg_study *s = o->out;
            memset(s, 0, sizeof *s);
            s->id = tg_db_int(r, 0, 0);
            s->created = tg_db_real(r, 0, 1);
            snprintf(s->name, sizeof s->name, "%s", o->name);
            s->cfg = *o->cfg;
            s->has_teacher = o->teacher != NULL;
            s->parent = -1;
            o->created = 1;
            tg_db_rows_free(r);
            return TG_OK;
        }
        tg_db_rows_free(r);
    }
    return tg_error_set(err, TG_ERR_DB, "%s: study %s could be neither created nor read",
                        o->t->url, o->name);
}

tg_status tg_study_open(tg_tracker *t, const char *name, const tg_study_config *cfg,
                        const void *teacher, size_t nteacher, tg_study *out, int *created,
                        tg_error *err) {
    if (created) *created = 0;
    tg_status st = tg_study_name_check(name, err);
    if (st != TG_OK) return st;
    st = tg_study_config_check(cfg, err);
    if (st != TG_OK) return st;
    char *json = tg_study_config_json(cfg, err);
    if (!json) return TG_ERR_NOMEM;
    open_ctx o = {t, name, cfg, json, teacher, nteacher, out, 0};
    st = tg_db_transact(t->db, open_tx, &o, err);
    free(json);
    if (st == TG_OK && created) *created = o.created;
    return st;
}

/* ---- reading -------------------------------------------------------------- */

/* "a, b, c" (truncated with ", ...") or "none". */
static tg_status study_names(tg_tracker *t, char *buf, size_t n, tg_error *err) {
    tg_db_rows *r;
    tg_status st = tg_db_exec(t->db, "SELECT name FROM studies ORDER BY id", NULL, 0, &r,
                              NULL, err);
    if (st != TG_OK) return st;
    size_t len = 0;
    buf[0] = '\0';
    int64_t nr = tg_db_nrows(r);
    for (int64_t i = 0; i < nr; i++) {
        const char *s = tg_db_text(r, i, 0);
        size_t k = strlen(s);
        if (len + k + 8 >= n) {
            snprintf(buf + len, n - len, ", ...");
            break;
        }
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", s);
    }
    if (nr == 0) snprintf(buf, n, "none");
    tg_db_rows_free(r);
    return TG_OK;
}

tg_status tg_study_get(tg_tracker *t, const char *name, tg_study *out, tg_error *err) {
    tg_status st = tg_study_name_check(name, err);
    if (st != TG_OK) return st;
    tg_dbv p = tg_dbv_text(name);
    tg_db_rows *r;
    st = tg_db_exec(t->db, "SELECT " STUDY_COLS " FROM studies WHERE name = $1", &p, 1, &r,
                    NULL, err);
    if (st != TG_OK) return st;
    if (tg_db_nrows(r) > 0) {
        st = study_row(t, r, 0, out, err);
        tg_db_rows_free(r);
        return st;
    }
    tg_db_rows_free(r);
    char names[300];
    st = study_names(t, names, sizeof names, err);
    if (st != TG_OK) return st;
    return tg_error_set(err, TG_ERR_NOT_FOUND, "no study '%s' in %s (studies: %s)", name,
                        t->url, names);
}

tg_status tg_study_list(tg_tracker *t, tg_study **out, int *n, tg_error *err) {
    *out = NULL;
    *n = 0;
    tg_db_rows *r;
    tg_status st = tg_db_exec(t->db, "SELECT " STUDY_COLS " FROM studies ORDER BY id", NULL, 0,
                              &r, NULL, err);
    if (st != TG_OK) return st;
    int64_t nr = tg_db_nrows(r);
    tg_study *s = nr ? calloc((size_t)nr, sizeof *s) : NULL;
    if (nr && !s) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory listing studies");
    for (int64_t i = 0; st == TG_OK && i < nr; i++) st = study_row(t, r, i, &s[i], err);
    tg_db_rows_free(r);
    if (st != TG_OK) {
        free(s);
        return st;
    }
    *out = s;
    *n = (int)nr;
    return TG_OK;
}

static tg_status no_study(tg_tracker *t, int64_t study, tg_error *err) {
    return tg_error_set(err, TG_ERR_NOT_FOUND, "no study with id %" PRId64 " in %s", study,
                        t->url);
}

tg_status tg_study_teacher(tg_tracker *t, int64_t study, void **buf, size_t *n,
                           tg_error *err) {
    *buf = NULL;
    *n = 0;
    tg_dbv p = tg_dbv_int(study);
    tg_db_rows *r;
    tg_status st = tg_db_exec(t->db, "SELECT name, teacher FROM studies WHERE id = $1", &p, 1,
                              &r, NULL, err);
    if (st != TG_OK) return st;
    if (tg_db_nrows(r) == 0) st = no_study(t, study, err);
    else if (tg_db_isnull(r, 0, 1))
        st = tg_error_set(err, TG_ERR_NOT_FOUND, "study %s in %s has no teacher",
                          tg_db_text(r, 0, 0), t->url);
    if (st != TG_OK) {
        tg_db_rows_free(r);
        return st;
    }
    size_t len;
    const void *b = tg_db_blob(r, 0, 1, &len);
    void *copy = malloc(len ? len : 1);
    if (!copy) {
        tg_db_rows_free(r);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory reading a teacher (%zu bytes)",
                            len);
    }
    if (len) memcpy(copy, b, len);
    tg_db_rows_free(r);
    *buf = copy;
    *n = len;
    return TG_OK;
}

tg_status tg_study_set_done(tg_tracker *t, int64_t study, int done, tg_error *err) {
    tg_dbv p[2] = {tg_dbv_int(study), tg_dbv_int(done ? 1 : 0)};
    int64_t changed;
    tg_status st = tg_db_exec(t->db, "UPDATE studies SET done = $2 WHERE id = $1", p, 2, NULL,
                              &changed, err);
    if (st == TG_OK && changed == 0) st = no_study(t, study, err);
    return st;
}

tg_status tg_study_set_parent(tg_tracker *t, int64_t study, int64_t parent, tg_error *err) {
    tg_status st;
    if (parent >= 0) {
        if (parent == study)
            return tg_error_set(err, TG_ERR_ARG, "study %" PRId64 " cannot be its own parent",
                                study);
        tg_dbv q = tg_dbv_int(parent);
        tg_db_rows *r;
        st = tg_db_exec(t->db, "SELECT id FROM studies WHERE id = $1", &q, 1, &r, NULL, err);
        if (st != TG_OK) return st;
        int64_t found = tg_db_nrows(r);
        tg_db_rows_free(r);
        if (!found) return no_study(t, parent, err);
    }
    tg_dbv p[2] = {tg_dbv_int(study), parent >= 0 ? tg_dbv_int(parent) : tg_dbv_null()};
    int64_t changed;
    st = tg_db_exec(t->db, "UPDATE studies SET parent_id = $2 WHERE id = $1", p, 2, NULL,
                    &changed, err);
    if (st == TG_OK && changed == 0) st = no_study(t, study, err);
    return st;
}

tg_status tg_study_state(tg_tracker *t, int64_t study, char **state, tg_error *err) {
    *state = NULL;
    tg_dbv p = tg_dbv_int(study);
    tg_db_rows *r;
    tg_status st = tg_db_exec(t->db, "SELECT explorer_state FROM studies WHERE id = $1", &p, 1,
                              &r, NULL, err);
    if (st != TG_OK) return st;
    if (tg_db_nrows(r) == 0) st = no_study(t, study, err);
    else if (!tg_db_isnull(r, 0, 0)) {
        *state = strdup(tg_db_text(r, 0, 0));
        if (!*state) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory reading a state");
    }
    tg_db_rows_free(r);
    return st;
}

/* ---- the explorer's lease ------------------------------------------------------ */

/* TG_ERR_BUSY naming who holds study's lease (host and pid parsed from the
 * owner, host:pid:tag) and for how long; TG_ERR_NOT_FOUND without the
 * study. *free_now = 1 (nothing set) when nobody holds an unexpired lease
 * any more, so the caller may try again. */
static tg_status lease_busy(tg_tracker *t, int64_t study, int *free_now, char *holder,
                            size_t nholder, tg_error *err) {
    char sql[512];
    tg_tracker_sql(t, sql, sizeof sql,
                   "SELECT name, explorer_owner, explorer_lease_until - {now} FROM studies "
                   "WHERE id = $1");
    tg_dbv p = tg_dbv_int(study);
    tg_db_rows *r;
    *free_now = 0;
    tg_status st = tg_db_exec(t->db, sql, &p, 1, &r, NULL, err);
    if (st != TG_OK) return st;
    if (tg_db_nrows(r) == 0) {
        tg_db_rows_free(r);
        return no_study(t, study, err);
    }
    const char *owner = tg_db_text(r, 0, 1);
    double left = tg_db_real(r, 0, 2);
    if (!owner || !(left >= 0)) {
        tg_db_rows_free(r);
        *free_now = 1;
        return TG_OK;
    }
    snprintf(holder, nholder, "%s", owner);
    char host[96] = "?";
    int pid = 0;
    const char *tag = strrchr(owner, ':');
    const char *c1 = tag ? memchr(owner, ':', (size_t)(tag - owner)) : NULL;
    if (c1) {
        snprintf(host, sizeof host, "%.*s", (int)(c1 - owner), owner);
        pid = atoi(c1 + 1);
    }
    st = tg_error_set(err, TG_ERR_BUSY, "study %s is being explored by %s pid %d (owner %s) "
                      "until its lease ends in %.1f s", tg_db_text(r, 0, 0), host, pid, owner,
                      left);
    tg_db_rows_free(r);
    return st;
}

/* 1 when holder (host:pid:tag) names a process of this host that no longer
 * exists: an explorer killed with -9 whose lease has not run out yet. */
static int holder_dead_here(const char *holder) {
    tg_worker_id me;
    tg_worker_id_init(&me);
    size_t nh = strlen(me.host);
    if (strncmp(holder, me.host, nh) != 0 || holder[nh] != ':') return 0;
    char *end;
    long pid = strtol(holder + nh + 1, &end, 10);
    if (end == holder + nh + 1 || *end != ':' || pid <= 0) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

tg_status tg_study_lock(tg_tracker *t, int64_t study, const char *owner, double lease_s,
                        tg_error *err) {
    if (!owner || !*owner || !(lease_s > 0))
        return tg_error_set(err, TG_ERR_ARG, "study lock: want an owner and lease_s > 0");
    char sql[512];
    tg_tracker_sql(t, sql, sizeof sql,
                   "UPDATE studies SET explorer_owner = $2, explorer_lease_until = {now} + $3 "
                   "WHERE id = $1 AND (explorer_owner IS NULL OR explorer_owner = $2"
                   " OR explorer_lease_until < {now})");
    tg_dbv p[3] = {tg_dbv_int(study), tg_dbv_text(owner), tg_dbv_real(lease_s)};
    for (int pass = 0; pass < 3; pass++) {
        int64_t changed;
        tg_status st = tg_db_exec(t->db, sql, p, 3, NULL, &changed, err);
        if (st != TG_OK) return st;
        if (changed > 0) return TG_OK;
        int free_now;
        char holder[256] = "";
        st = lease_busy(t, study, &free_now, holder, sizeof holder, err);
        if (st == TG_ERR_BUSY && holder_dead_here(holder)) {
            /* take it from the dead holder, if nobody else has meanwhile */
            char steal[512];
            tg_tracker_sql(t, steal, sizeof steal,
                           "UPDATE studies SET explorer_owner = $2, explorer_lease_until = "
                           "{now} + $3 WHERE id = $1 AND explorer_owner = $4");
            tg_dbv q[4] = {p[0], p[1], p[2], tg_dbv_text(holder)};
            st = tg_db_exec(t->db, steal, q, 4, NULL, &changed, err);
            if (st != TG_OK) return st;
            if (changed > 0) return TG_OK;
            continue;
        }
        if (st != TG_OK || !free_now) return st;
    }
    return tg_error_set(err, TG_ERR_BUSY, "study %" PRId64 ": the explorer's lease keeps "
                        "changing hands", study);
}

tg_status tg_study_unlock(tg_tracker *t, int64_t study, const char *owner, tg_error *err) {
    tg_dbv p[2] = {tg_dbv_int(study), tg_dbv_text(owner)};
    return tg_db_exec(t->db, "UPDATE studies SET explorer_owner = NULL, explorer_lease_until "
                      "= NULL WHERE id = $1 AND explorer_owner = $2", p, 2, NULL, NULL, err);
}

/* ---- proposals ------------------------------------------------------------------ */

typedef struct {
    tg_tracker *t;
    int64_t study;
    const char *owner;
    const tg_proposal *p;
    int n;
    const char *state;
    int64_t *number;
} propose_ctx;

/* The first row's integer of a one-column query into *x; *found = 0 when
 * there is no row. */
static tg_status one_int(tg_db *db, const char *sql, const tg_dbv *p, int np, int64_t *x,
                         int *found, tg_error *err) {
    tg_db_rows *r;
    tg_status st = tg_db_exec(db, sql, p, np, &r, NULL, err);
    if (st != TG_OK) return st;
    *found = tg_db_nrows(r) > 0;
    if (*found) *x = tg_db_int(r, 0, 0);
    tg_db_rows_free(r);
    return TG_OK;
}

static tg_status propose_one(propose_ctx *c, const tg_proposal *p, int64_t *number,
                             tg_error *err) {
    tg_db *db = c->t->db;
    int found;
    tg_dbv q[2] = {tg_dbv_int(c->study), tg_dbv_int(p->pid)};
    tg_status st = one_int(db, "SELECT number FROM proposals WHERE study_id = $1 AND pid = $2",
                           q, 2, number, &found, err);
    if (st != TG_OK || found) return st;   /* resent: the mapping stands */
    q[1] = tg_dbv_text(p->hash);
    st = one_int(db, "SELECT number FROM trials WHERE study_id = $1 AND hash = $2", q, 2,
                 number, &found, err);
    if (st != TG_OK) return st;
    if (!found) {
        st = one_int(db, "UPDATE studies SET next_number = next_number + 1 WHERE id = $1 "
                     "RETURNING next_number - 1", q, 1, number, &found, err);
        if (st != TG_OK) return st;
        if (!found) return no_study(c->t, c->study, err);
        char sql[512];
        tg_tracker_sql(c->t, sql, sizeof sql,
                       "INSERT INTO trials (study_id, number, hash, genome, state, attempt,"
                       " created) VALUES ($1, $2, $3, $4, 'waiting', 0, {now})");
        tg_dbv v[4] = {tg_dbv_int(c->study), tg_dbv_int(*number), tg_dbv_text(p->hash),
                       tg_dbv_text(p->genome)};
        st = tg_db_exec(db, sql, v, 4, NULL, NULL, err);
        if (st != TG_OK) return st;
    }
    tg_dbv v[3] = {tg_dbv_int(c->study), tg_dbv_int(p->pid), tg_dbv_int(*number)};
    return tg_db_exec(db, "INSERT INTO proposals (study_id, pid, number) VALUES ($1, $2, $3)",
                      v, 3, NULL, NULL, err);
}

static tg_status propose_tx(tg_db *db, void *user, tg_error *err) {
    propose_ctx *c = user;
    char sql[512];
    /* the fence (and on PostgreSQL the study row's lock): our lease, unexpired */
    tg_tracker_sql(c->t, sql, sizeof sql,
                   "UPDATE studies SET explorer_state = COALESCE($2, explorer_state) "
                   "WHERE id = $1 AND explorer_owner = $3 AND explorer_lease_until >= {now}");
    tg_dbv p[3] = {tg_dbv_int(c->study), tg_dbv_text(c->state), tg_dbv_text(c->owner)};
    int64_t changed;
    tg_status st = tg_db_exec(db, sql, p, 3, NULL, &changed, err);
    if (st != TG_OK) return st;
    if (changed == 0) {
        int free_now;
        char holder[256];
        st = lease_busy(c->t, c->study, &free_now, holder, sizeof holder, err);
        if (st != TG_OK) return st;
        return tg_error_set(err, TG_ERR_BUSY, "study %" PRId64 ": %s does not hold the "
                            "explorer's lease (it expired; nothing was written)", c->study,
                            c->owner);
    }
    for (int i = 0; i < c->n; i++) {
        for (int k = 0; k < 32; k++) {
            char h = c->p[i].hash ? c->p[i].hash[k] : 0;
            if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f')) ||
                (k == 31 && c->p[i].hash[32]))
                return tg_error_set(err, TG_ERR_ARG, "proposal %" PRId64 ": hash '%s' is not "
                                    "32 lowercase hex digits", c->p[i].pid,
                                    c->p[i].hash ? c->p[i].hash : "");
        }
        if (!c->p[i].genome)
            return tg_error_set(err, TG_ERR_ARG, "proposal %" PRId64 ": no genome",
                                c->p[i].pid);
        st = propose_one(c, &c->p[i], &c->number[i], err);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

tg_status tg_study_propose(tg_tracker *t, int64_t study, const char *owner,
                           const tg_proposal *p, int n, const char *state, int64_t *number,
                           tg_error *err) {
    if (n < 0 || (n > 0 && (!p || !number)) || !owner)
        return tg_error_set(err, TG_ERR_ARG, "propose: bad arguments (n %d)", n);
    propose_ctx c = {t, study, owner, p, n, state, number};
    return tg_db_transact(t->db, propose_tx, &c, err);
}

tg_status tg_study_outcomes(tg_tracker *t, int64_t study, int64_t min_pid, tg_outcome **out,
                            int *n, tg_error *err) {
    *out = NULL;
    *n = 0;
    tg_dbv p[2] = {tg_dbv_int(study), tg_dbv_int(min_pid)};
    tg_db_rows *r;
    tg_status st = tg_db_exec(t->db,
                              "SELECT p.pid, p.number, t.state, t.score FROM proposals p"
                              " JOIN trials t ON t.study_id = p.study_id AND t.number = p.number"
                              " WHERE p.study_id = $1 AND p.pid >= $2"
                              " AND t.state IN ('complete', 'failed') ORDER BY p.pid",
                              p, 2, &r, NULL, err);
    if (st != TG_OK) return st;
    int64_t nr = tg_db_nrows(r);
    if (nr > 0) {
        tg_outcome *o = calloc((size_t)nr, sizeof *o);
        if (!o) {
            tg_db_rows_free(r);
            return tg_error_set(err, TG_ERR_NOMEM, "out of memory reading outcomes");
        }
        for (int64_t i = 0; i < nr; i++) {
            o[i].pid = tg_db_int(r, i, 0);
            o[i].number = tg_db_int(r, i, 1);
            o[i].ok = strcmp(tg_db_text(r, i, 2), "complete") == 0;
            o[i].score = tg_db_real(r, i, 3);
        }
        *out = o;
        *n = (int)nr;
    }
    tg_db_rows_free(r);
    return TG_OK;
}
