/* tracker_cases.h - the cases of tracker.h that both engines must pass,
 * each a function of the URL of an empty database. Included by
 * test_tracker.c (SQLite files) and test_tracker_pg.c (the test PostgreSQL
 * server): the tracker's code is the same on both, and so are its tests. */
#ifndef TG_TRACKER_CASES_H
#define TG_TRACKER_CASES_H

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "../src/tracker/db.h"
#include "../src/tracker/tracker_internal.h"
#include "tgsage/tracker.h"

#define TC_OK(expr)                                                                       \
    do {                                                                                  \
        tg_error e_;                                                                      \
        tg_error_clear(&e_);                                                              \
        tg_status s_ = (expr);                                                            \
        if (s_ != TG_OK) fail_msg("%s: %s: %s", #expr, tg_status_name(s_), e_.msg);       \
    } while (0)
/* expr (which writes its error into `e`) fails with want_status and a
 * message holding want_text */
#define TC_FAILS(expr, e, want_status, want_text)                                         \
    do {                                                                                  \
        tg_error_clear(&(e));                                                             \
        tg_status s_ = (expr);                                                            \
        if (s_ != (want_status))                                                          \
            fail_msg("%s: %s (%s), want %s", #expr, tg_status_name(s_), (e).msg,          \
                     tg_status_name(want_status));                                        \
        if (!strstr((e).msg, (want_text)))                                                \
            fail_msg("%s: message '%s' lacks '%s'", #expr, (e).msg, (want_text));         \
    } while (0)

/* Inside TC_OK the error is e_: calls pass &e_. */
#define E (&e_)

static void tc_sleep(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static double tc_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static tg_tracker *tc_open(const char *url) {
    tg_tracker *t = NULL;
    TC_OK(tg_tracker_open(url, &t, E));
    return t;
}

static void tc_config(tg_study_config *c, int64_t trials) {
    tg_study_config_defaults(c);
    snprintf(c->space, sizeof c->space, "layerwise:4");
    snprintf(c->data, sizeof c->data, "fashion-mnist");
    snprintf(c->fingerprint, sizeof c->fingerprint, "0123456789abcdef0123456789abcdef");
    c->trials = trials;
    c->nval = 5000;
    c->seed = c->split_seed = 7;
}

static tg_study tc_study(tg_tracker *t, const char *name, const tg_study_config *cfg) {
    tg_study s;
    int created = -1;
    TC_OK(tg_study_open(t, name, cfg, NULL, 0, &s, &created, E));
    assert_int_equal(created, 1);
    return s;
}

static void tc_hash(int64_t i, char *h) { snprintf(h, 33, "%032" PRIx64, (uint64_t)i); }

/* Proposals pid0, pid0+1, ... with hashes hash[k] (genome {"g":hash}); the
 * numbers they map to into number. Takes (and keeps) the explorer's lease
 * under the owner "explorer:1:0". */
static void tc_propose(tg_tracker *t, int64_t study, int64_t pid0, const int64_t *hash, int n,
                       const char *state, int64_t *number) {
    char (*h)[33] = calloc((size_t)n + 1, sizeof *h);
    char (*g)[64] = calloc((size_t)n + 1, sizeof *g);
    tg_proposal *p = calloc((size_t)n + 1, sizeof *p);
    assert_non_null(h);
    assert_non_null(g);
    assert_non_null(p);
    for (int i = 0; i < n; i++) {
        tc_hash(hash[i], h[i]);
        snprintf(g[i], sizeof g[i], "{\"g\":%" PRId64 "}", hash[i]);
        p[i] = (tg_proposal){pid0 + i, g[i], h[i]};
    }
    TC_OK(tg_study_lock(t, study, "explorer:1:0", 600, E));
    TC_OK(tg_study_propose(t, study, "explorer:1:0", p, n, state, number, E));
    free(h);
    free(g);
    free(p);
}

static void tc_worker(tg_worker_id *w, const char *host, int pid) {
    memset(w, 0, sizeof *w);
    snprintf(w->host, sizeof w->host, "%s", host);
    w->pid = pid;
    snprintf(w->owner, sizeof w->owner, "%s:%d:%016x", host, pid, (unsigned)pid * 2654435761u);
}

static tg_trial_result tc_result(double score) {
    tg_trial_result r = {1, score, NAN, NAN, NAN, 0, NAN, NAN, NULL, NULL, NULL, NULL};
    return r;
}

/* ---- schema ------------------------------------------------------------------ */

static char *tc_meta_version(const char *url) {
    tg_db *db = NULL;
    TC_OK(tg_db_open(url, &db, E));
    tg_db_rows *r = NULL;
    TC_OK(tg_db_exec(db, "SELECT value FROM tg_meta WHERE key = 'schema_version'", NULL, 0, &r,
                     NULL, E));
    assert_int_equal(tg_db_nrows(r), 1);
    char *v = strdup(tg_db_text(r, 0, 0));
    tg_db_rows_free(r);
    tg_db_close(db);
    return v;
}

static void tc_set_version(const char *url, const char *v) {
    tg_db *db = NULL;
    TC_OK(tg_db_open(url, &db, E));
    tg_dbv p = tg_dbv_text(v);
    int64_t changed = 0;
    TC_OK(tg_db_exec(db, "UPDATE tg_meta SET value = $1 WHERE key = 'schema_version'", &p, 1,
                     NULL, &changed, E));
    assert_int_equal(changed, 1);
    tg_db_close(db);
}

/* Created once, reopened with what it holds; refused once "newer". */
static void tc_schema(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 10);
    tg_study s = tc_study(t, "kept", &cfg);
    tg_tracker_close(t);
    char *v = tc_meta_version(url);
    assert_string_equal(v, "2");
    free(v);

    t = tc_open(url);   /* reopened: nothing recreated, the study is there */
    tg_study got;
    TC_OK(tg_study_get(t, "kept", &got, E));
    assert_int_equal(got.id, s.id);
    tg_tracker_close(t);

    tc_set_version(url, "99");
    tg_error e;
    TC_FAILS(tg_tracker_open(url, &t, &e), e, TG_ERR_DB,
             "was written by a newer tgsage (schema 99, this one reads up to 2): upgrade "
             "tgsage");
    assert_null(t);
}

/* The migration mechanism: a new database goes 0 -> 1 -> 2 through the
 * step table; a test-only step 3 moves it on (keeping the data) and then
 * this tgsage refuses it; a missing step is an error that changes nothing. */
static void tc_migrate(const char *url) {
    tg_db *db = NULL;
    TC_OK(tg_db_open(url, &db, E));
    int n, found = -1;
    const tg_tracker_migration *steps = tg_tracker_migrations(&n);
    assert_int_equal(n, TG_TRACKER_SCHEMA);
    assert_int_equal(steps[0].to, 1);
    assert_int_equal(steps[1].to, 2);

    static const tg_tracker_migration only2[] = {{2, "CREATE TABLE t2 (x INTEGER)",
                                                  "CREATE TABLE t2 (x BIGINT)"}};
    tg_error e;
    TC_FAILS(tg_tracker_migrate(db, "db", only2, 1, 2, NULL, &e), e, TG_ERR_UNSUPPORTED,
             "schema 0 has no migration to 1");

    TC_OK(tg_tracker_migrate(db, "db", steps, n, 1, &found, E));
    assert_int_equal(found, 0);
    TC_OK(tg_db_exec(db, "INSERT INTO studies (name, config, max_attempts, created) "
                     "VALUES ('old', '{}', 3, 0)", NULL, 0, NULL, NULL, E));
    TC_OK(tg_tracker_migrate(db, "db", steps, n, 1, &found, E));   /* at the target: no-op */
    assert_int_equal(found, 1);

    tg_tracker_migration three[3] = {steps[0], steps[1],
                                     {3, "ALTER TABLE studies ADD COLUMN note TEXT DEFAULT 'v3'",
                                      "ALTER TABLE studies ADD COLUMN note TEXT DEFAULT 'v3'"}};
    TC_OK(tg_tracker_migrate(db, "db", three, 3, 3, &found, E));
    assert_int_equal(found, 1);
    tg_db_rows *r = NULL;
    TC_OK(tg_db_exec(db, "SELECT name, note FROM studies", NULL, 0, &r, NULL, E));
    assert_int_equal(tg_db_nrows(r), 1);
    assert_string_equal(tg_db_text(r, 0, 0), "old");
    assert_string_equal(tg_db_text(r, 0, 1), "v3");
    tg_db_rows_free(r);
    tg_db_close(db);
    char *v = tc_meta_version(url);
    assert_string_equal(v, "3");
    free(v);

    tg_tracker *t = NULL;
    TC_FAILS(tg_tracker_open(url, &t, &e), e, TG_ERR_DB, "(schema 3, this one reads up to 2)");
}

/* Processes opening one new database at once all succeed (the second
 * finds what the first created). */
static void tc_open_race(const char *url) {
    enum { NPROC = 8 };
    pid_t kids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            tg_tracker *t = NULL;
            tg_error e;
            tg_status st = tg_tracker_open(url, &t, &e);
            if (st != TG_OK) fprintf(stderr, "child %d: %s\n", i, e.msg);
            tg_tracker_close(t);
            _exit(st == TG_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < NPROC; i++) {
        int status = 0;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    char *v = tc_meta_version(url);
    assert_string_equal(v, "2");
    free(v);
}

/* ---- studies ------------------------------------------------------------------- */

static void tc_studies(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 10);
    enum { NT = 1 << 20 };
    unsigned char *teacher = malloc(NT);
    assert_non_null(teacher);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < NT; i++) {   /* xorshift64: every byte value, NULs too */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        teacher[i] = (unsigned char)(x >> 56);
    }
    teacher[0] = 0;
    tg_study a, b;
    int created = -1;
    TC_OK(tg_study_open(t, "alpha-1.x_y", &cfg, teacher, NT, &a, &created, E));
    assert_int_equal(created, 1);
    assert_int_equal(a.has_teacher, 1);
    assert_true(a.created > 1.6e9);
    assert_string_equal(a.name, "alpha-1.x_y");

    TC_OK(tg_study_open(t, "alpha-1.x_y", &cfg, teacher, NT, &b, &created, E));
    assert_int_equal(created, 0);
    assert_int_equal(b.id, a.id);
    assert_true(b.created == a.created);

    tg_study_config other = cfg;
    snprintf(other.algo, sizeof other.algo, "rl");
    tg_error e;
    TC_FAILS(tg_study_open(t, "alpha-1.x_y", &other, NULL, 0, &b, &created, &e), e, TG_ERR_ARG,
             "algo: the study has tpe, this run asks for rl");
    other = cfg;
    other.alpha = 0.5;
    TC_FAILS(tg_study_open(t, "alpha-1.x_y", &other, NULL, 0, &b, &created, &e), e, TG_ERR_ARG,
             "alpha: the study has 1, this run asks for 0.5");
    other = cfg;
    other.seed = 8;
    TC_FAILS(tg_study_open(t, "alpha-1.x_y", &other, NULL, 0, &b, &created, &e), e, TG_ERR_ARG,
             "seed: the study has 7, this run asks for 8");
    other = cfg;
    other.split_seed = 3;
    TC_FAILS(tg_study_open(t, "alpha-1.x_y", &other, NULL, 0, &b, &created, &e), e, TG_ERR_ARG,
             "split_seed: the study has 7, this run asks for 3");

    /* extended: trials and parallel may change */
    other = cfg;
    other.trials = 25;
    other.parallel = 4;
    TC_OK(tg_study_open(t, "alpha-1.x_y", &other, NULL, 0, &b, &created, E));
    assert_int_equal(created, 0);
    assert_int_equal(b.cfg.trials, 25);
    TC_OK(tg_study_get(t, "alpha-1.x_y", &b, E));
    assert_int_equal(b.cfg.trials, 25);
    assert_int_equal(b.cfg.parallel, 4);
    assert_string_equal(b.cfg.fingerprint, cfg.fingerprint);
    assert_int_equal(b.cfg.nval, 5000);
    assert_int_equal(b.done, 0);

    void *buf = NULL;
    size_t n = 0;
    TC_OK(tg_study_teacher(t, a.id, &buf, &n, E));
    assert_int_equal(n, NT);
    assert_memory_equal(buf, teacher, NT);
    free(buf);
    free(teacher);

    tg_study_config obj;
    tc_config(&obj, 5);
    snprintf(obj.score, sizeof obj.score, "objective");
    obj.data[0] = obj.fingerprint[0] = '\0';
    tg_study c = tc_study(t, "objective", &obj);
    assert_int_equal(c.has_teacher, 0);
    TC_FAILS(tg_study_teacher(t, c.id, &buf, &n, &e), e, TG_ERR_NOT_FOUND,
             "study objective in ");
    assert_null(buf);

    static const char *const bad[] = {"", "a b", "x/y", "caf\xc3\xa9", "semi;colon", NULL};
    for (int i = 0; bad[i]; i++)
        TC_FAILS(tg_study_open(t, bad[i], &cfg, NULL, 0, &b, &created, &e), e, TG_ERR_ARG,
                 "want 1-127 characters");
    char longname[130];
    memset(longname, 'n', 128);
    longname[128] = '\0';
    TC_FAILS(tg_study_open(t, longname, &cfg, NULL, 0, &b, &created, &e), e, TG_ERR_ARG,
             "want 1-127 characters");
    longname[127] = '\0';
    TC_OK(tg_study_open(t, longname, &cfg, NULL, 0, &b, &created, E));
    assert_int_equal(created, 1);

    char want[1200];
    snprintf(want, sizeof want, "no study 'nope' in %s (studies: alpha-1.x_y, objective, %s)",
             tg_tracker_url(t), longname);
    TC_FAILS(tg_study_get(t, "nope", &b, &e), e, TG_ERR_NOT_FOUND, want);

    tg_study *all = NULL;
    int nall = 0;
    TC_OK(tg_study_list(t, &all, &nall, E));
    assert_int_equal(nall, 3);
    assert_int_equal(all[0].id, a.id);
    assert_string_equal(all[1].name, "objective");
    assert_string_equal(all[1].cfg.score, "objective");
    assert_true(all[0].id < all[1].id && all[1].id < all[2].id);
    free(all);

    TC_OK(tg_study_set_done(t, c.id, 1, E));
    TC_OK(tg_study_get(t, "objective", &b, E));
    assert_int_equal(b.done, 1);
    TC_FAILS(tg_study_set_done(t, 9999, 1, &e), e, TG_ERR_NOT_FOUND, "no study with id 9999");
    tg_tracker_close(t);
}

/* ---- the explorer's lease and proposals ----------------------------------------- */

static void tc_lock(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 10);
    tg_study s = tc_study(t, "locked", &cfg);
    const char *a = "hostA:1111:00000000000000aa", *b = "hostB:2222:00000000000000bb";
    TC_OK(tg_study_lock(t, s.id, a, 0.3, E));
    TC_OK(tg_study_lock(t, s.id, a, 0.3, E));   /* ours: renewed */
    tg_error e;
    TC_FAILS(tg_study_lock(t, s.id, b, 0.3, &e), e, TG_ERR_BUSY,
             "study locked is being explored by hostA pid 1111 (owner "
             "hostA:1111:00000000000000aa) until its lease ends in 0.");

    /* a non-holder writes nothing */
    int64_t num[1] = {-1};
    tg_proposal p = {0, "{\"g\":1}", "00000000000000000000000000000001"};
    TC_FAILS(tg_study_propose(t, s.id, b, &p, 1, "state-b", num, &e), e, TG_ERR_BUSY,
             "being explored by hostA pid 1111");
    tg_study_counts c;
    TC_OK(tg_study_counts_get(t, s.id, &c, E));
    assert_int_equal(c.proposals, 0);
    assert_int_equal(c.waiting, 0);
    char *state = (char *)"x";
    TC_OK(tg_study_state(t, s.id, &state, E));
    assert_null(state);

    TC_OK(tg_study_propose(t, s.id, a, &p, 1, "state-a", num, E));
    assert_int_equal(num[0], 0);

    tc_sleep(0.45);   /* a's lease expires: b may take it, a is fenced */
    TC_OK(tg_study_lock(t, s.id, b, 30, E));
    p.pid = 1;
    p.hash = "00000000000000000000000000000002";
    TC_FAILS(tg_study_propose(t, s.id, a, &p, 1, "state-a2", num, &e), e, TG_ERR_BUSY,
             "hostB pid 2222");
    TC_OK(tg_study_state(t, s.id, &state, E));
    assert_string_equal(state, "state-a");
    free(state);
    TC_OK(tg_study_counts_get(t, s.id, &c, E));
    assert_int_equal(c.proposals, 1);
    assert_int_equal(c.waiting, 1);

    /* an expired lease of our own no longer fences for us */
    TC_OK(tg_study_unlock(t, s.id, b, E));
    TC_OK(tg_study_lock(t, s.id, a, 0.1, E));
    tc_sleep(0.2);
    TC_FAILS(tg_study_propose(t, s.id, a, &p, 1, "late", num, &e), e, TG_ERR_BUSY,
             "does not hold the explorer's lease");
    TC_OK(tg_study_unlock(t, s.id, a, E));

    /* a holder on this host: alive (a forked child) it keeps its lease;
     * killed with -9 it is taken over at once, long before its lease ends */
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        pause();
        _exit(0);
    }
    tg_worker_id me;
    tg_worker_id_init(&me);
    char held[160];
    snprintf(held, sizeof held, "%s:%d:00000000000000cc", me.host, (int)kid);
    TC_OK(tg_study_lock(t, s.id, held, 600, E));
    char alive[64];
    snprintf(alive, sizeof alive, "pid %d (owner", (int)kid);
    tg_status lst = tg_study_lock(t, s.id, b, 30, &e);
    kill(kid, SIGKILL);   /* before any assertion, so a failure leaves no child */
    assert_int_equal(lst, TG_ERR_BUSY);
    assert_non_null(strstr(e.msg, alive));
    int ws;
    assert_int_equal(waitpid(kid, &ws, 0), kid);
    TC_OK(tg_study_lock(t, s.id, b, 30, E));
    TC_OK(tg_study_propose(t, s.id, b, &p, 1, "state-b", num, E));
    tg_tracker_close(t);
}

static void tc_proposals(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 10);
    tg_study s = tc_study(t, "props", &cfg);
    int64_t num[4];
    const int64_t h1[3] = {100, 101, 100};   /* pid 2 repeats pid 0's genome */
    tc_propose(t, s.id, 0, h1, 3, "s1", num);
    assert_int_equal(num[0], 0);
    assert_int_equal(num[1], 1);
    assert_int_equal(num[2], 0);
    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(nt, 2);
    assert_int_equal(tr[0].number, 0);
    assert_string_equal(tr[0].hash, "00000000000000000000000000000064");
    assert_string_equal(tr[0].genome, "{\"g\":100}");
    assert_int_equal(tr[1].state, TG_TRIAL_WAITING);
    assert_int_equal(tr[1].attempt, 0);
    assert_string_equal(tr[1].owner, "");
    assert_true(isnan(tr[1].started) && isnan(tr[1].score) && tr[1].created > 1.6e9);
    tg_trials_free(tr, nt);
    char *state = NULL;
    TC_OK(tg_study_state(t, s.id, &state, E));
    assert_string_equal(state, "s1");
    free(state);

    /* a restarted explorer resends pid 1 (the mapping stands, even with
     * another genome) and adds pid 3 */
    const int64_t h2[3] = {555, 102, 101};
    tc_propose(t, s.id, 1, h2, 3, "s2", num);
    assert_int_equal(num[0], 1);
    assert_int_equal(num[1], 0);   /* pid 2: already recorded */
    assert_int_equal(num[2], 1);   /* pid 3: genome 101 = trial 1 */
    const int64_t h3[1] = {102};
    tc_propose(t, s.id, 4, h3, 1, "s3", num);
    assert_int_equal(num[0], 2);
    tc_propose(t, s.id, 0, h3, 0, "s4", NULL);   /* only the state */
    TC_OK(tg_study_state(t, s.id, &state, E));
    assert_string_equal(state, "s4");
    free(state);

    tg_study_counts c;
    TC_OK(tg_study_counts_get(t, s.id, &c, E));
    assert_int_equal(c.proposals, 5);
    assert_int_equal(c.waiting, 3);
    assert_int_equal(c.running + c.complete + c.failed, 0);
    assert_true(isnan(c.best) && c.best_number == -1 && isnan(c.last_finished));
    assert_true(c.first_created > 1.6e9);

    tg_error e;
    tg_proposal bad = {9, "{}", "xyz"};
    TC_FAILS(tg_study_propose(t, s.id, "explorer:1:0", &bad, 1, "s5", num, &e), e, TG_ERR_ARG,
             "hash 'xyz' is not 32 lowercase hex digits");
    TC_OK(tg_study_state(t, s.id, &state, E));
    assert_string_equal(state, "s4");   /* rolled back with the batch */
    free(state);
    tg_tracker_close(t);
}

/* ---- workers ---------------------------------------------------------------------- */

static void tc_claim_report(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 3);
    tg_study s = tc_study(t, "work", &cfg);
    int64_t num[3];
    const int64_t h[3] = {7, 8, 9};
    tc_propose(t, s.id, 0, h, 3, NULL, num);
    tg_worker_id w1, w2;
    tc_worker(&w1, "node1", 101);
    tc_worker(&w2, "node2", 202);

    tg_claim c1, c2, c3;
    int got = 0;
    TC_OK(tg_trial_claim(t, s.id, &w1, 30, &c1, &got, E));
    assert_int_equal(got, 1);
    assert_int_equal(c1.number, 0);
    assert_int_equal(c1.attempt, 1);
    assert_int_equal(c1.study, s.id);
    assert_string_equal(c1.hash, "00000000000000000000000000000007");
    assert_string_equal(c1.genome, "{\"g\":7}");

    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(tr[0].state, TG_TRIAL_RUNNING);
    assert_string_equal(tr[0].owner, w1.owner);
    assert_string_equal(tr[0].host, "node1");
    assert_int_equal(tr[0].pid, 101);
    assert_int_equal(tr[0].id, c1.id);
    assert_true(fabs(tr[0].lease_until - tr[0].started - 30) < 1e-3);
    /* PostgreSQL's clock moves within a statement (clock_timestamp) */
    assert_true(fabs(tr[0].heartbeat - tr[0].started) < 1e-3);
    double lease1 = tr[0].lease_until;
    tg_trials_free(tr, nt);

    int held = 0;
    TC_OK(tg_trial_heartbeat(t, &c1, &w1, 100, &held, E));
    assert_int_equal(held, 1);
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_true(tr[0].lease_until > lease1 + 69);
    assert_true(fabs(tr[0].lease_until - tr[0].heartbeat - 100) < 1e-3);
    tg_trials_free(tr, nt);
    TC_OK(tg_trial_heartbeat(t, &c1, &w2, 100, &held, E));   /* not w2's */
    assert_int_equal(held, 0);

    TC_OK(tg_trial_claim(t, s.id, &w2, 30, &c2, &got, E));
    assert_int_equal(got, 1);
    assert_int_equal(c2.number, 1);

    tg_trial_result r = {1, 0.75, 0.5, NAN, 0.25, 12345, 1.5, 0.125,
                         "{\"teacher\":[\"IT\"],\"candidate\":[\"layer0\"],\"r\":[[0.5]]}", NULL,
                         NULL, NULL};
    int fenced = -1;
    TC_OK(tg_trial_report(t, &c1, &w1, &r, &fenced, E));
    assert_int_equal(fenced, 0);
    tg_trial_result f = {0, NAN, NAN, 2.5, NAN, 640, 0.5, NAN, NULL, "diverged at step 3",
                         NULL, NULL};
    TC_OK(tg_trial_report(t, &c2, &w2, &f, &fenced, E));
    assert_int_equal(fenced, 0);

    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(nt, 3);
    assert_int_equal(tr[0].state, TG_TRIAL_COMPLETE);
    assert_true(tr[0].score == 0.75 && tr[0].p == 0.5 && tr[0].tg == 0.25);
    assert_true(isnan(tr[0].val_loss));
    assert_int_equal(tr[0].examples, 12345);
    assert_true(tr[0].train_s == 1.5 && tr[0].eval_s == 0.125);
    assert_string_equal(tr[0].sim, r.sim);
    assert_null(tr[0].error);
    assert_true(tr[0].finished >= tr[0].started && isnan(tr[0].lease_until));
    assert_int_equal(tr[1].state, TG_TRIAL_FAILED);
    assert_string_equal(tr[1].error, "diverged at step 3");
    assert_true(isnan(tr[1].score) && tr[1].val_loss == 2.5 && isnan(tr[1].eval_s));
    assert_null(tr[1].sim);
    assert_int_equal(tr[1].examples, 640);
    assert_int_equal(tr[2].state, TG_TRIAL_WAITING);
    tg_trials_free(tr, nt);

    TC_OK(tg_trial_claim(t, s.id, &w1, 30, &c3, &got, E));
    assert_int_equal(got, 1);
    assert_int_equal(c3.number, 2);
    tg_trial_result r3 = tc_result(0.75);   /* ties with trial 0: lower number first */
    r3.examples = 5;
    TC_OK(tg_trial_report(t, &c3, &w1, &r3, &fenced, E));
    assert_int_equal(fenced, 0);
    tg_claim none;
    TC_OK(tg_trial_claim(t, s.id, &w2, 30, &none, &got, E));
    assert_int_equal(got, 0);
    assert_null(none.genome);

    tg_study_counts c;
    TC_OK(tg_study_counts_get(t, s.id, &c, E));
    assert_int_equal(c.complete, 2);
    assert_int_equal(c.failed, 1);
    assert_int_equal(c.waiting + c.running, 0);
    assert_int_equal(c.examples, 12345 + 640 + 5);
    assert_true(c.best == 0.75);
    assert_int_equal(c.best_number, 0);
    assert_true(c.last_finished >= c.first_created);

    TC_OK(tg_trial_best(t, s.id, 5, &tr, &nt, E));
    assert_int_equal(nt, 2);
    assert_int_equal(tr[0].number, 0);
    assert_int_equal(tr[1].number, 2);
    tg_trials_free(tr, nt);
    TC_OK(tg_trial_best(t, s.id, 1, &tr, &nt, E));
    assert_int_equal(nt, 1);
    tg_trials_free(tr, nt);

    tg_claim_free(&c1);
    tg_claim_free(&c2);
    tg_claim_free(&c3);
    tg_tracker_close(t);
}

/* A lease lost to expiry: the late worker is told and changes nothing. */
static void tc_fencing(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 2);
    tg_study s = tc_study(t, "fence", &cfg);
    int64_t num[2];
    const int64_t h[2] = {1, 2};
    tc_propose(t, s.id, 0, h, 2, NULL, num);
    tg_worker_id w1, w2;
    tc_worker(&w1, "slow", 1);
    tc_worker(&w2, "fast", 2);

    /* expired but not yet reaped: the holder may still renew */
    tg_claim c1, c2;
    int got, held, fenced;
    TC_OK(tg_trial_claim(t, s.id, &w1, 0.2, &c1, &got, E));
    tc_sleep(0.3);
    TC_OK(tg_trial_heartbeat(t, &c1, &w1, 0.2, &held, E));
    assert_int_equal(held, 1);

    tc_sleep(0.3);   /* expired again; w2's claim reaps it and takes it */
    TC_OK(tg_trial_claim(t, s.id, &w2, 30, &c2, &got, E));
    assert_int_equal(got, 1);
    assert_int_equal(c2.number, 0);
    assert_int_equal(c2.attempt, 2);
    TC_OK(tg_trial_heartbeat(t, &c1, &w1, 30, &held, E));
    assert_int_equal(held, 0);
    tg_trial_result late = tc_result(0.1);
    TC_OK(tg_trial_report(t, &c1, &w1, &late, &fenced, E));
    assert_int_equal(fenced, 1);
    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(tr[0].state, TG_TRIAL_RUNNING);
    assert_string_equal(tr[0].owner, w2.owner);
    assert_int_equal(tr[0].attempt, 2);
    assert_true(isnan(tr[0].score) && isnan(tr[0].finished));
    tg_trials_free(tr, nt);
    TC_OK(tg_trial_release(t, &c1, &w1, E));   /* not held: nothing */

    tg_trial_result good = tc_result(0.9);
    TC_OK(tg_trial_report(t, &c2, &w2, &good, &fenced, E));
    assert_int_equal(fenced, 0);
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    double finished = tr[0].finished;
    assert_true(tr[0].score == 0.9 && tr[0].state == TG_TRIAL_COMPLETE);
    tg_trials_free(tr, nt);

    /* the reply to a committed report was lost: the repetition is not
     * fenced and changes nothing; the stale worker stays fenced */
    tc_sleep(0.01);
    TC_OK(tg_trial_report(t, &c2, &w2, &good, &fenced, E));
    assert_int_equal(fenced, 0);
    TC_OK(tg_trial_report(t, &c1, &w1, &late, &fenced, E));
    assert_int_equal(fenced, 1);
    tg_trial_result differs = tc_result(0.5);
    TC_OK(tg_trial_report(t, &c2, &w2, &differs, &fenced, E));
    assert_int_equal(fenced, 1);
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_true(tr[0].finished == finished && tr[0].score == 0.9);
    assert_int_equal(tr[0].attempt, 2);
    tg_trials_free(tr, nt);
    tg_claim_free(&c1);
    tg_claim_free(&c2);
    tg_tracker_close(t);
}

static void tc_max_attempts(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 2);
    cfg.max_attempts = 2;
    tg_study s = tc_study(t, "attempts", &cfg);
    int64_t num[1];
    const int64_t h[1] = {3};
    tc_propose(t, s.id, 0, h, 1, NULL, num);
    tg_worker_id w;
    tc_worker(&w, "flaky", 4242);
    tg_claim c;
    int got, back = -1, failed = -1;
    TC_OK(tg_trial_claim(t, s.id, &w, 0.1, &c, &got, E));
    assert_int_equal(c.attempt, 1);
    tg_claim_free(&c);
    TC_OK(tg_trial_reap(t, s.id, &back, &failed, E));   /* not expired yet */
    assert_int_equal(back + failed, 0);
    tc_sleep(0.2);
    TC_OK(tg_trial_reap(t, s.id, &back, &failed, E));
    assert_int_equal(back, 1);
    assert_int_equal(failed, 0);
    TC_OK(tg_trial_claim(t, s.id, &w, 0.1, &c, &got, E));
    assert_int_equal(got, 1);
    assert_int_equal(c.attempt, 2);
    tg_claim_free(&c);
    tc_sleep(0.2);
    TC_OK(tg_trial_reap(t, s.id, &back, &failed, E));
    assert_int_equal(back, 0);
    assert_int_equal(failed, 1);
    TC_OK(tg_trial_claim(t, s.id, &w, 0.1, &c, &got, E));
    assert_int_equal(got, 0);

    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(tr[0].state, TG_TRIAL_FAILED);
    assert_string_equal(tr[0].error, "lease expired 2 times; last worker flaky pid 4242");
    assert_true(tr[0].finished > 1.6e9 && isnan(tr[0].lease_until));
    tg_trials_free(tr, nt);
    tg_outcome *o = NULL;
    int no = 0;
    TC_OK(tg_study_outcomes(t, s.id, 0, &o, &no, E));
    assert_int_equal(no, 1);
    assert_int_equal(o[0].ok, 0);
    free(o);
    tg_tracker_close(t);
}

static void tc_release(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 2);
    tg_study s = tc_study(t, "release", &cfg);
    int64_t num[2];
    const int64_t h[2] = {5, 6};
    tc_propose(t, s.id, 0, h, 2, NULL, num);
    tg_worker_id w1, w2;
    tc_worker(&w1, "pre", 1);
    tc_worker(&w2, "post", 2);
    tg_claim c1, c2;
    int got, fenced;
    TC_OK(tg_trial_claim(t, s.id, &w1, 30, &c1, &got, E));
    TC_OK(tg_trial_release(t, &c1, &w1, E));
    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(tr[0].state, TG_TRIAL_WAITING);
    assert_int_equal(tr[0].attempt, 0);
    assert_string_equal(tr[0].owner, w1.owner);   /* the last worker, for the record */
    assert_true(isnan(tr[0].lease_until));
    tg_trials_free(tr, nt);

    TC_OK(tg_trial_claim(t, s.id, &w2, 30, &c2, &got, E));
    assert_int_equal(c2.number, 0);   /* first in the queue again */
    assert_int_equal(c2.attempt, 1);  /* the released claim did not count */
    TC_OK(tg_trial_release(t, &c1, &w1, E));   /* w1's is gone: changes nothing */
    tg_trial_result r = tc_result(1.0);
    TC_OK(tg_trial_report(t, &c1, &w1, &r, &fenced, E));
    assert_int_equal(fenced, 1);
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(tr[0].state, TG_TRIAL_RUNNING);
    assert_string_equal(tr[0].owner, w2.owner);
    tg_trials_free(tr, nt);
    tg_claim_free(&c1);
    tg_claim_free(&c2);
    tg_tracker_close(t);
}

static void tc_outcomes(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 3);
    tg_study s = tc_study(t, "outcomes", &cfg);
    int64_t num[3];
    const int64_t h[3] = {40, 41, 40};   /* pid 12 repeats pid 10 */
    tc_propose(t, s.id, 10, h, 3, NULL, num);
    tg_worker_id w;
    tc_worker(&w, "w", 9);
    tg_claim c;
    int got, fenced, n = -1;
    tg_outcome *o = NULL;
    TC_OK(tg_study_outcomes(t, s.id, 0, &o, &n, E));
    assert_int_equal(n, 0);
    assert_null(o);

    TC_OK(tg_trial_claim(t, s.id, &w, 30, &c, &got, E));
    tg_trial_result r = tc_result(0.5);
    TC_OK(tg_trial_report(t, &c, &w, &r, &fenced, E));
    tg_claim_free(&c);
    TC_OK(tg_study_outcomes(t, s.id, 0, &o, &n, E));
    assert_int_equal(n, 2);
    assert_int_equal(o[0].pid, 10);
    assert_int_equal(o[0].number, 0);
    assert_int_equal(o[0].ok, 1);
    assert_true(o[0].score == 0.5);
    assert_int_equal(o[1].pid, 12);
    assert_int_equal(o[1].number, 0);
    assert_true(o[1].score == 0.5);
    free(o);

    TC_OK(tg_trial_claim(t, s.id, &w, 30, &c, &got, E));
    tg_trial_result f = {0, NAN, NAN, NAN, NAN, 0, NAN, NAN, NULL, "boom", NULL, NULL};
    TC_OK(tg_trial_report(t, &c, &w, &f, &fenced, E));
    tg_claim_free(&c);
    TC_OK(tg_study_outcomes(t, s.id, 11, &o, &n, E));
    assert_int_equal(n, 2);
    assert_int_equal(o[0].pid, 11);
    assert_int_equal(o[0].number, 1);
    assert_int_equal(o[0].ok, 0);
    assert_true(isnan(o[0].score));
    assert_int_equal(o[1].pid, 12);
    free(o);
    TC_OK(tg_study_outcomes(t, s.id, 13, &o, &n, E));
    assert_int_equal(n, 0);
    tg_tracker_close(t);
}

/* ---- many workers at once ------------------------------------------------------------- */

/* One worker process: claim and report (score = number) until none is
 * waiting, writing each number it completed to fd. Exit 0, or 1 with the
 * failure on stderr. */
static int tc_worker_proc(const char *url, int64_t study, int fd, int k) {
    tg_tracker *t = NULL;
    tg_error e;
    tg_error_clear(&e);
    if (tg_tracker_open(url, &t, &e) != TG_OK) goto fail;
    tg_worker_id w;
    tg_worker_id_init(&w);
    for (;;) {
        tg_claim c;
        int got = 0, fenced = 0;
        if (tg_trial_claim(t, study, &w, 60, &c, &got, &e) != TG_OK) goto fail;
        if (!got) break;
        tg_trial_result r = tc_result((double)c.number);
        r.examples = 1;
        tg_status st = tg_trial_report(t, &c, &w, &r, &fenced, &e);
        int64_t number = c.number;
        tg_claim_free(&c);
        if (st != TG_OK) goto fail;
        if (fenced) {
            snprintf(e.msg, sizeof e.msg, "trial %" PRId64 " fenced", number);
            goto fail;
        }
        if (write(fd, &number, sizeof number) != (ssize_t)sizeof number) {
            snprintf(e.msg, sizeof e.msg, "write: %s", strerror(errno));
            goto fail;
        }
    }
    tg_tracker_close(t);
    return 0;
fail:
    fprintf(stderr, "worker %d: %s\n", k, e.msg);
    tg_tracker_close(t);
    return 1;
}

/* 16 processes, each its own tracker, drain a study of 500 trials: every
 * trial completed exactly once, and no call failed (a busy SQLite file is
 * retried inside). Returns the wall time of the drain. */
static double tc_concurrent(const char *url) {
    enum { NPROC = 16, NTRIALS = 500 };
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, NTRIALS);
    tg_study s = tc_study(t, "crowd", &cfg);
    int64_t *h = malloc(NTRIALS * sizeof *h), *num = malloc(NTRIALS * sizeof *num);
    assert_non_null(h);
    assert_non_null(num);
    for (int i = 0; i < NTRIALS; i++) h[i] = 1000 + i;
    tc_propose(t, s.id, 0, h, NTRIALS, "st", num);
    for (int i = 0; i < NTRIALS; i++) assert_int_equal(num[i], i);
    tg_tracker_close(t);   /* no connection shared across fork */

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    double t0 = tc_mono();
    pid_t kids[NPROC];
    for (int k = 0; k < NPROC; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            close(fds[0]);
            int rc = tc_worker_proc(url, s.id, fds[1], k);
            close(fds[1]);
            _exit(rc);
        }
    }
    close(fds[1]);
    int *seen = calloc(NTRIALS, sizeof *seen);
    assert_non_null(seen);
    int64_t x, total = 0;
    ssize_t got;
    while ((got = read(fds[0], &x, sizeof x)) == (ssize_t)sizeof x) {
        assert_true(x >= 0 && x < NTRIALS);
        seen[x]++;
        total++;
    }
    assert_int_equal(got, 0);
    close(fds[0]);
    int bad = 0;
    for (int k = 0; k < NPROC; k++) {
        int status = 0;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad++;
    }
    double wall = tc_mono() - t0;
    assert_int_equal(bad, 0);
    assert_int_equal(total, NTRIALS);
    for (int i = 0; i < NTRIALS; i++)
        if (seen[i] != 1) fail_msg("trial %d reported %d times", i, seen[i]);

    t = tc_open(url);
    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(nt, NTRIALS);
    for (int64_t i = 0; i < nt; i++) {
        assert_int_equal(tr[i].state, TG_TRIAL_COMPLETE);
        assert_int_equal(tr[i].attempt, 1);
        assert_true(tr[i].score == (double)i);
    }
    tg_trials_free(tr, nt);
    tg_study_counts c;
    TC_OK(tg_study_counts_get(t, s.id, &c, E));
    assert_int_equal(c.complete, NTRIALS);
    assert_int_equal(c.examples, NTRIALS);
    assert_int_equal(c.best_number, NTRIALS - 1);
    tg_tracker_close(t);
    free(seen);
    free(h);
    free(num);
    print_message("%d workers drained %d trials in %.2f s (%.0f trials/s) on %s\n", NPROC,
                  NTRIALS, wall, NTRIALS / wall, strncmp(url, "sqlite", 6) ? "postgresql"
                                                                            : "sqlite");
    return wall;
}

#endif
