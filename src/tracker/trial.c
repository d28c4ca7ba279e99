/* trial.c - the workers' side of the tracker (claim, heartbeat, report,
 * release, reap) and reading trials back.
 *
 * A claim is one transaction of two statements: the reaper's UPDATE, then
 * one UPDATE ... WHERE id = (the lowest-numbered waiting trial) RETURNING
 * the trial. On SQLite the transaction holds the write lock from its BEGIN
 * IMMEDIATE, so the plain sub-select is safe; on PostgreSQL the sub-select
 * takes its row FOR UPDATE SKIP LOCKED, so concurrent claimers each take a
 * different trial instead of queueing on one. (A claimer that finds every
 * waiting row locked by others gets none this time, as if the queue were
 * empty; the others are claiming them.) The outer UPDATE repeats
 * state = 'waiting', so that even a sub-select that raced (another engine,
 * another isolation level) cannot claim a running trial twice.
 *
 * Every write of a worker is fenced by (id, attempt, owner, state =
 * 'running'). A heartbeat renews a lease that has expired but not yet been
 * reaped (its holder is still working, and nobody else has the trial);
 * once reaped (state back to waiting, or attempt moved on by a new claim)
 * the lease is lost for good. A report that matches no running row is
 * either the repetition of one that committed (the trial already ended
 * with this owner, attempt, state and score: not fenced) or fenced.
 *
 * trials.attempt counts claims; release takes its claim back, so when a
 * lease expires, attempt is the number of leases that have expired. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "tracker_internal.h"

void tg_worker_id_init(tg_worker_id *w) {
    memset(w, 0, sizeof *w);
    if (gethostname(w->host, sizeof w->host - 1) != 0 || !w->host[0])
        snprintf(w->host, sizeof w->host, "localhost");
    w->host[sizeof w->host - 1] = '\0';
    for (char *p = w->host; *p; p++)   /* ':' separates the owner's parts */
        if (*p == ':') *p = '_';
    w->pid = (int)getpid();
    uint64_t tag = 0;
    size_t got = 0;
    while (got < sizeof tag) {
        ssize_t k = getrandom((char *)&tag + got, sizeof tag - got, 0);
        if (k > 0) {
            got += (size_t)k;
        } else if (k < 0 && errno != EINTR) {
            /* no getrandom (old kernel, seccomp): the clock and the
             * address of w, mixed by splitmix64's finaliser */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                         ((uint64_t)w->pid << 40) ^ (uint64_t)(uintptr_t)w;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            tag = z ^ (z >> 31);
            break;
        }
    }
    snprintf(w->owner, sizeof w->owner, "%s:%d:%016" PRIx64, w->host, w->pid, tag);
}

void tg_claim_free(tg_claim *c) {
    if (!c) return;
    free(c->genome);
    c->genome = NULL;
}

const char *tg_trial_state_name(tg_trial_state s) {
    switch (s) {
    case TG_TRIAL_WAITING: return "waiting";
    case TG_TRIAL_RUNNING: return "running";
    case TG_TRIAL_COMPLETE: return "complete";
    case TG_TRIAL_FAILED: return "failed";
    }
    return "?";
}

static tg_trial_state state_of(const char *s) {
    if (!s) return TG_TRIAL_WAITING;
    if (!strcmp(s, "running")) return TG_TRIAL_RUNNING;
    if (!strcmp(s, "complete")) return TG_TRIAL_COMPLETE;
    if (!strcmp(s, "failed")) return TG_TRIAL_FAILED;
    return TG_TRIAL_WAITING;
}

/* ---- reaping ---------------------------------------------------------------- */

/* One statement: every expired lease of the study back to waiting, or to
 * failed once it has expired max_attempts times. Returns the new states. */
#define REAP_SQL                                                                           \
    "UPDATE trials SET"                                                                    \
    " state = CASE WHEN attempt >= (SELECT max_attempts FROM studies WHERE id = $1)"       \
    "  THEN 'failed' ELSE 'waiting' END,"                                                  \
    " error = CASE WHEN attempt >= (SELECT max_attempts FROM studies WHERE id = $1)"       \
    "  THEN 'lease expired ' || CAST(attempt AS TEXT) || ' times; last worker '"           \
    "   || COALESCE(host, '?') || ' pid ' || CAST(COALESCE(pid, 0) AS TEXT)"               \
    "  ELSE error END,"                                                                    \
    " finished = CASE WHEN attempt >= (SELECT max_attempts FROM studies WHERE id = $1)"    \
    "  THEN {now} ELSE finished END,"                                                      \
    " lease_until = NULL"                                                                  \
    " WHERE study_id = $1 AND state = 'running' AND lease_until < {now}"                   \
    " RETURNING state"

static tg_status reap(tg_tracker *t, int64_t study, int *given_back, int *failed,
                      tg_error *err) {
    char sql[1500];
    tg_tracker_sql(t, sql, sizeof sql, REAP_SQL);
    tg_dbv p = tg_dbv_int(study);
    tg_db_rows *r;
    tg_status st = tg_db_exec(t->db, sql, &p, 1, &r, NULL, err);
    if (st != TG_OK) return st;
    int g = 0, f = 0;
    for (int64_t i = 0; i < tg_db_nrows(r); i++) {
        if (!strcmp(tg_db_text(r, i, 0), "failed"))
            f++;
        else
            g++;
    }
    tg_db_rows_free(r);
    if (given_back) *given_back = g;
    if (failed) *failed = f;
    return TG_OK;
}

typedef struct {
    tg_tracker *t;
    int64_t study;
    int given_back, failed;
} reap_ctx;

static tg_status reap_tx(tg_db *db, void *user, tg_error *err) {
    (void)db;
    reap_ctx *c = user;
    return reap(c->t, c->study, &c->given_back, &c->failed, err);
}

tg_status tg_trial_reap(tg_tracker *t, int64_t study, int *given_back, int *failed,
                        tg_error *err) {
    reap_ctx c = {t, study, 0, 0};
    tg_status st = tg_db_transact(t->db, reap_tx, &c, err);
    if (given_back) *given_back = st == TG_OK ? c.given_back : 0;
    if (failed) *failed = st == TG_OK ? c.failed : 0;
    return st;
}

/* ---- claim, heartbeat, report, release ---------------------------------------- */

typedef struct {
    tg_tracker *t;
    int64_t study;
    const tg_worker_id *w;
    double lease_s;
    tg_claim *c;
    int got;
} claim_ctx;

static tg_status claim_tx(tg_db *db, void *user, tg_error *err) {
    claim_ctx *x = user;
    x->got = 0;
    tg_status st = reap(x->t, x->study, NULL, NULL, err);
    if (st != TG_OK) return st;
    char sql[1024];
    tg_tracker_sql(x->t, sql, sizeof sql,
                   tg_db_kind_of(db) == TG_DB_POSTGRES
                       ? "UPDATE trials SET state = 'running', attempt = attempt + 1,"
                         " owner = $2, host = $3, pid = $4, started = {now},"
                         " heartbeat = {now}, lease_until = {now} + $5"
                         " WHERE id = (SELECT id FROM trials WHERE study_id = $1"
                         " AND state = 'waiting' ORDER BY number LIMIT 1"
                         " FOR UPDATE SKIP LOCKED) AND state = 'waiting'"
                         " RETURNING id, number, attempt, hash, genome"
                       : "UPDATE trials SET state = 'running', attempt = attempt + 1,"
                         " owner = $2, host = $3, pid = $4, started = {now},"
                         " heartbeat = {now}, lease_until = {now} + $5"
                         " WHERE id = (SELECT id FROM trials WHERE study_id = $1"
                         " AND state = 'waiting' ORDER BY number LIMIT 1) AND state = 'waiting'"
                         " RETURNING id, number, attempt, hash, genome");
    tg_dbv p[5] = {tg_dbv_int(x->study), tg_dbv_text(x->w->owner), tg_dbv_text(x->w->host),
                   tg_dbv_int(x->w->pid), tg_dbv_real(x->lease_s)};
    tg_db_rows *r;
    st = tg_db_exec(db, sql, p, 5, &r, NULL, err);
    if (st != TG_OK) return st;
    if (tg_db_nrows(r) > 0) {
        tg_claim *c = x->c;
        free(c->genome);   /* from an earlier run of this function, rolled back */
        memset(c, 0, sizeof *c);
        c->id = tg_db_int(r, 0, 0);
        c->study = x->study;
        c->number = tg_db_int(r, 0, 1);
        c->attempt = (int)tg_db_int(r, 0, 2);
        snprintf(c->hash, sizeof c->hash, "%s", tg_db_text(r, 0, 3));
        c->genome = strdup(tg_db_text(r, 0, 4));
        if (!c->genome) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory claiming a trial");
        else x->got = 1;
    }
    tg_db_rows_free(r);
    return st;
}

tg_status tg_trial_claim(tg_tracker *t, int64_t study, const tg_worker_id *w, double lease_s,
                         tg_claim *c, int *got, tg_error *err) {
    *got = 0;
    memset(c, 0, sizeof *c);
    if (!(lease_s > 0))
        return tg_error_set(err, TG_ERR_ARG, "claim: lease_s %g, want > 0", lease_s);
    claim_ctx x = {t, study, w, lease_s, c, 0};
    tg_status st = tg_db_transact(t->db, claim_tx, &x, err);
    if (st != TG_OK || !x.got) {
        tg_claim_free(c);
        memset(c, 0, sizeof *c);
        return st;
    }
    *got = 1;
    return TG_OK;
}

tg_status tg_trial_heartbeat(tg_tracker *t, const tg_claim *c, const tg_worker_id *w,
                             double lease_s, int *held, tg_error *err) {
    *held = 0;
    if (!(lease_s > 0))
        return tg_error_set(err, TG_ERR_ARG, "heartbeat: lease_s %g, want > 0", lease_s);
    char sql[512];
    tg_tracker_sql(t, sql, sizeof sql,
                   "UPDATE trials SET heartbeat = {now}, lease_until = {now} + $4"
                   " WHERE id = $1 AND attempt = $2 AND owner = $3 AND state = 'running'");
    tg_dbv p[4] = {tg_dbv_int(c->id), tg_dbv_int(c->attempt), tg_dbv_text(w->owner),
                   tg_dbv_real(lease_s)};
    int64_t changed;
    tg_status st = tg_db_exec(t->db, sql, p, 4, NULL, &changed, err);
    if (st == TG_OK) *held = changed > 0;
    return st;
}

tg_status tg_trial_report(tg_tracker *t, const tg_claim *c, const tg_worker_id *w,
                          const tg_trial_result *r, int *fenced, tg_error *err) {
    *fenced = 0;
    const char *state = r->ok ? "complete" : "failed";
    char sql[1024];
    tg_tracker_sql(t, sql, sizeof sql,
                   "UPDATE trials SET state = $4, finished = {now}, heartbeat = {now},"
                   " lease_until = NULL, examples = $5, score = $6, p = $7, val_loss = $8,"
                   " tg = $9, train_s = $10, eval_s = $11, sim = $12, error = $13,"
                   " rdms = $14, points = $15"
                   " WHERE id = $1 AND attempt = $2 AND owner = $3 AND state = 'running'");
    tg_dbv p[15] = {tg_dbv_int(c->id),        tg_dbv_int(c->attempt),  tg_dbv_text(w->owner),
                    tg_dbv_text(state),       tg_dbv_int(r->examples), tg_dbv_real(r->score),
                    tg_dbv_real(r->p),        tg_dbv_real(r->val_loss), tg_dbv_real(r->tg),
                    tg_dbv_real(r->train_s),  tg_dbv_real(r->eval_s),  tg_dbv_text(r->sim),
                    tg_dbv_text(r->error),    tg_dbv_text(r->rdms),    tg_dbv_text(r->points)};
    int64_t changed;
    tg_status st = tg_db_exec(t->db, sql, p, 15, NULL, &changed, err);
    if (st != TG_OK || changed > 0) return st;
    /* nothing was running under our lease: a repetition of our own
     * committed report, or a lost lease */
    tg_db_rows *rows;
    st = tg_db_exec(t->db, "SELECT state, attempt, owner, score FROM trials WHERE id = $1", p,
                    1, &rows, NULL, err);
    if (st != TG_OK) return st;
    int mine = 0;
    if (tg_db_nrows(rows) > 0) {
        const char *s = tg_db_text(rows, 0, 0), *o = tg_db_text(rows, 0, 2);
        double score = tg_db_real(rows, 0, 3), want = r->score;
        mine = !strcmp(s, state) && tg_db_int(rows, 0, 1) == c->attempt && o &&
               !strcmp(o, w->owner) && (score == want || (isnan(score) && isnan(want)));
    }
    tg_db_rows_free(rows);
    *fenced = !mine;
    return TG_OK;
}

tg_status tg_trial_release(tg_tracker *t, const tg_claim *c, const tg_worker_id *w,
                           tg_error *err) {
    tg_dbv p[3] = {tg_dbv_int(c->id), tg_dbv_int(c->attempt), tg_dbv_text(w->owner)};
    return tg_db_exec(t->db, "UPDATE trials SET state = 'waiting', attempt = attempt - 1,"
                      " lease_until = NULL"
                      " WHERE id = $1 AND attempt = $2 AND owner = $3 AND state = 'running'",
                      p, 3, NULL, NULL, err);
}

/* ---- reading ---------------------------------------------------------------------- */

#define TRIAL_COLS                                                                        \
    "id, number, state, attempt, hash, genome, sim, error, owner, host, pid, created,"    \
    " started, finished, heartbeat, lease_until, examples, score, p, val_loss, tg,"       \
    " train_s, eval_s, rdms, points, parent"

static char *dup_or_null(const tg_db_rows *r, int64_t i, int col, int *oom) {
    if (tg_db_isnull(r, i, col)) return NULL;
    char *s = strdup(tg_db_text(r, i, col));
    if (!s) *oom = 1;
    return s;
}

static void trial_row(const tg_db_rows *r, int64_t i, tg_trial *x, int *oom) {
    memset(x, 0, sizeof *x);
    x->id = tg_db_int(r, i, 0);
    x->number = tg_db_int(r, i, 1);
    x->state = state_of(tg_db_text(r, i, 2));
    x->attempt = (int)tg_db_int(r, i, 3);
    snprintf(x->hash, sizeof x->hash, "%s", tg_db_text(r, i, 4) ? tg_db_text(r, i, 4) : "");
    x->genome = dup_or_null(r, i, 5, oom);
    x->sim = dup_or_null(r, i, 6, oom);
    x->error = dup_or_null(r, i, 7, oom);
    const char *o = tg_db_text(r, i, 8), *h = tg_db_text(r, i, 9);
    snprintf(x->owner, sizeof x->owner, "%s", o ? o : "");
    snprintf(x->host, sizeof x->host, "%s", h ? h : "");
    x->pid = (int)tg_db_int(r, i, 10);
    x->created = tg_db_real(r, i, 11);
    x->started = tg_db_real(r, i, 12);
    x->finished = tg_db_real(r, i, 13);
    x->heartbeat = tg_db_real(r, i, 14);
    x->lease_until = tg_db_real(r, i, 15);
    x->examples = tg_db_int(r, i, 16);
    x->score = tg_db_real(r, i, 17);
    x->p = tg_db_real(r, i, 18);
    x->val_loss = tg_db_real(r, i, 19);
    x->tg = tg_db_real(r, i, 20);
    x->train_s = tg_db_real(r, i, 21);
    x->eval_s = tg_db_real(r, i, 22);
    x->rdms = dup_or_null(r, i, 23, oom);
    x->points = dup_or_null(r, i, 24, oom);
    x->parent = tg_db_isnull(r, i, 25) ? -1 : tg_db_int(r, i, 25);
}

static tg_status read_trials(tg_tracker *t, const char *sql, const tg_dbv *p, int np,
                             tg_trial **out, int64_t *n, tg_error *err) {
    *out = NULL;
    *n = 0;
    tg_db_rows *r;
    tg_status st = tg_db_exec(t->db, sql, p, np, &r, NULL, err);
    if (st != TG_OK) return st;
    int64_t nr = tg_db_nrows(r);
    if (nr == 0) {
        tg_db_rows_free(r);
        return TG_OK;
    }
    tg_trial *x = calloc((size_t)nr, sizeof *x);
    int oom = !x;
    for (int64_t i = 0; x && i < nr; i++) trial_row(r, i, &x[i], &oom);
    tg_db_rows_free(r);
    if (oom) {
        tg_trials_free(x, x ? nr : 0);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory reading %" PRId64 " trials", nr);
    }
    *out = x;
    *n = nr;
    return TG_OK;
}

tg_status tg_trial_list(tg_tracker *t, int64_t study, tg_trial **out, int64_t *n,
                        tg_error *err) {
    tg_dbv p = tg_dbv_int(study);
    return read_trials(t, "SELECT " TRIAL_COLS " FROM trials WHERE study_id = $1 ORDER BY number",
                       &p, 1, out, n, err);
}

tg_status tg_trial_best(tg_tracker *t, int64_t study, int k, tg_trial **out, int64_t *n,
                        tg_error *err) {
    if (k < 0) return tg_error_set(err, TG_ERR_ARG, "best: k %d, want >= 0", k);
    tg_dbv p[2] = {tg_dbv_int(study), tg_dbv_int(k)};
    return read_trials(t, "SELECT " TRIAL_COLS " FROM trials WHERE study_id = $1"
                       " AND state = 'complete' AND score IS NOT NULL"
                       " ORDER BY score DESC, number LIMIT $2", p, 2, out, n, err);
}

void tg_trials_free(tg_trial *trials, int64_t n) {
    if (!trials) return;
    for (int64_t i = 0; i < n; i++) {
        free(trials[i].genome);
        free(trials[i].sim);
        free(trials[i].error);
        free(trials[i].rdms);
        free(trials[i].points);
    }
    free(trials);
}

tg_status tg_study_counts_get(tg_tracker *t, int64_t study, tg_study_counts *c,
                              tg_error *err) {
    memset(c, 0, sizeof *c);
    c->best = NAN;
    c->best_number = -1;
    c->first_created = c->last_finished = NAN;
    /* one statement, so one consistent snapshot on both engines */
    static const char sql[] =
        "SELECT COUNT(CASE WHEN state = 'waiting' THEN 1 END),"
        " COUNT(CASE WHEN state = 'running' THEN 1 END),"
        " COUNT(CASE WHEN state = 'complete' THEN 1 END),"
        " COUNT(CASE WHEN state = 'failed' THEN 1 END),"
        " CAST(COALESCE(SUM(CASE WHEN state IN ('complete', 'failed') THEN examples END), 0)"
        "  AS BIGINT),"
        " MIN(created), MAX(finished),"
        " (SELECT COUNT(*) FROM proposals WHERE study_id = $1),"
        " (SELECT number FROM trials WHERE study_id = $1 AND state = 'complete'"
        "  AND score IS NOT NULL ORDER BY score DESC, number LIMIT 1),"
        " (SELECT score FROM trials WHERE study_id = $1 AND state = 'complete'"
        "  AND score IS NOT NULL ORDER BY score DESC, number LIMIT 1)"
        " FROM trials WHERE study_id = $1";
    tg_dbv p = tg_dbv_int(study);
    tg_db_rows *r;
    tg_status st = tg_db_exec(t->db, sql, &p, 1, &r, NULL, err);
    if (st != TG_OK) return st;
    if (tg_db_nrows(r) > 0) {
        c->waiting = tg_db_int(r, 0, 0);
        c->running = tg_db_int(r, 0, 1);
        c->complete = tg_db_int(r, 0, 2);
        c->failed = tg_db_int(r, 0, 3);
        c->examples = tg_db_int(r, 0, 4);
        c->first_created = tg_db_real(r, 0, 5);
        c->last_finished = tg_db_real(r, 0, 6);
        c->proposals = tg_db_int(r, 0, 7);
        if (!tg_db_isnull(r, 0, 8)) {
            c->best_number = tg_db_int(r, 0, 8);
            c->best = tg_db_real(r, 0, 9);
        }
    }
    tg_db_rows_free(r);
    return TG_OK;
}
