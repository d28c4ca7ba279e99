/* search.c - the explorer's loop (tg_search_run): keep up to `parallel`
 * trials pending, tell each result as it arrives, propose the next.
 *
 * Crash safety rests on one rule: the explorer's saved state is written in
 * the same transaction as the proposals it made (tg_study_propose), after
 * them and after every tell it reflects. So the state in the database
 * always knows exactly the proposals the database holds. A search killed at
 * any moment loses at most proposals that were never committed (they are
 * made again, as the same ids) and tells made since the last commit (the
 * outcomes are still in the database: the catch-up on restart tells every
 * pending proposal whose trial has ended). Nothing is proposed twice and no
 * result is lost.
 *
 * The budget counts distinct trials: a proposal whose genome the study
 * already has links to that trial (never trained twice) and gets its
 * outcome like any other. A space too small for the budget would make the
 * explorer repeat itself forever: proposing stops after 20 * trials + 100
 * proposals. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "search_internal.h"
#include "tgsage/fileio.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"
#include "tgsage/worker.h"

#define TEACHER_LIMIT ((size_t)1 << 30)

typedef struct {
    const tg_search_config *c;
    tg_tracker *t;
    tg_study study;
    tg_worker_id me;
    int locked;
    tg_space *space;
    tg_explorer *ex;
    int *x;
    int64_t low;               /* every proposal below it is told */
    int64_t cap;               /* proposals at most */
    int capped;
    tg_study_counts counts;
    int64_t ended0;            /* complete + failed when this run started */
    double t0;
    tg_search_progress last;
    int have_last;
    tg_search_pool pool;
    tg_proposal *batch;        /* parallel entries */
    char **json;
    char (*hash)[33];
    int64_t *number;
} search;

static void say(const search *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const search *s, const char *fmt, ...) {
    if (!s->c->log) return;
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->c->log(s->c->user, line);
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int stopping(const search *s) { return s->c->stop && *s->c->stop; }

/* Sleep up to sec, waking early on a stop. */
static void nap(const search *s, double sec) {
    double end = mono() + sec;
    while (!stopping(s)) {
        double left = end - mono();
        if (left <= 0) return;
        if (left > 0.05) left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---- setup ---------------------------------------------------------------- */

static tg_status read_teacher(const search *s, unsigned char **buf, size_t *n, tg_error *err) {
    *buf = NULL, *n = 0;
    const tg_study_config *cfg = &s->c->cfg;
    if (!strcmp(cfg->score, "objective")) return TG_OK;
    if (!s->c->teacher_path) {
        if (!strcmp(cfg->score, "p")) return TG_OK;
        return tg_error_set(err, TG_ERR_ARG, "score %s needs a teacher file", cfg->score);
    }
    return tg_file_read(s->c->teacher_path, TEACHER_LIMIT, buf, n, err);
}

/* A resumed study runs with the explorer settings it was created with: a
 * setting asked for now (nonzero) that differs is refused, naming both. */
static tg_status same_settings(search *s, tg_error *err) {
    const tg_explorer_config *want = &s->c->explorer, *have = tg_explorer_settings(s->ex);
#define SAME(f, fmt)                                                                               \
    if (want->f != 0 && want->f != have->f)                                                        \
        return tg_error_set(err, TG_ERR_ARG,                                                       \
                            "study '%s' runs with " #f " " fmt ", not " fmt                        \
                            " (an explorer setting is fixed when the study is created)",           \
                            s->study.name, have->f, want->f)
    SAME(tpe_startup, "%d");
    SAME(tpe_candidates, "%d");
    SAME(tpe_forget, "%d");
    SAME(rl_batch, "%d");
    SAME(rl_hidden, "%d");
    SAME(rl_lr, "%g");
    SAME(rl_baseline_decay, "%g");
    SAME(evo_population, "%d");
    SAME(evo_sample, "%d");
#undef SAME
    return TG_OK;
}

/* A new explorer of the study's algorithm and seed with the settings asked for. */
static tg_explorer *new_explorer(const search *s, tg_error *err) {
    tg_explorer_config ec = s->c->explorer;
    snprintf(ec.algo, sizeof ec.algo, "%s", s->c->cfg.algo);
    ec.seed = s->c->cfg.seed;
    return tg_explorer_new(s->space, &ec, err);
}

static tg_status open_explorer(search *s, tg_error *err) {
    char *state = NULL;
    tg_status st = tg_study_state(s->t, s->study.id, &state, err);
    if (st != TG_OK) return st;
    if (state) {
        s->ex = tg_explorer_load(s->space, state, err);
        free(state);
        if (!s->ex) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            return tg_error_set(err, err->status, "study '%s': the explorer's saved state: %s",
                                s->study.name, m);
        }
        if ((st = same_settings(s, err)) != TG_OK) return st;
    } else if (!(s->ex = new_explorer(s, err))) {
        return err->status;
    }
    /* the state was committed with the proposals: they must agree */
    if ((st = tg_study_counts_get(s->t, s->study.id, &s->counts, err)) != TG_OK) return st;
    if (s->counts.proposals != tg_explorer_proposed(s->ex))
        return tg_error_set(err, TG_ERR_DB,
                            "study '%s': the database holds %" PRId64 " proposals but the "
                            "explorer's saved state %" PRId64, s->study.name,
                            s->counts.proposals, tg_explorer_proposed(s->ex));
    return TG_OK;
}

/* Settings that no explorer takes are refused before a new study is made
 * of them (a study that exists runs with its saved ones: open_explorer). */
static tg_status check_new_explorer(search *s, tg_error *err) {
    tg_explorer *e = new_explorer(s, err);
    if (e) {
        tg_explorer_free(e);
        return TG_OK;
    }
    tg_error ignored;
    tg_study existing;
    return tg_study_get(s->t, s->c->study, &existing, &ignored) == TG_OK ? TG_OK : err->status;
}

static tg_status setup(search *s, tg_error *err) {
    const tg_search_config *c = s->c;
    if (c->cfg.parallel < 1 || c->cfg.trials < 1)
        return tg_error_set(err, TG_ERR_ARG, "search: trials and parallel must be at least 1");
    tg_status st = tg_tracker_open(c->url, &s->t, err);
    if (st != TG_OK) return st;
    unsigned char *teacher;
    size_t nteacher;
    if ((st = read_teacher(s, &teacher, &nteacher, err)) != TG_OK) return st;
    if (!(s->space = tg_space_parse(c->cfg.space, err)) ||
        (st = check_new_explorer(s, err)) != TG_OK) {
        free(teacher);
        return err->status;
    }
    int created = 0;
    st = tg_study_open(s->t, c->study, &c->cfg, teacher, nteacher, &s->study, &created, err);
    free(teacher);
    if (st != TG_OK) return st;
    tg_worker_id_init(&s->me);
    if ((st = tg_study_lock(s->t, s->study.id, s->me.owner, c->cfg.lease_s, err)) != TG_OK)
        return st;
    s->locked = 1;
    if ((st = open_explorer(s, err)) != TG_OK) return st;
    int64_t ended = s->counts.complete + s->counts.failed;
    if (s->study.done && ended < c->cfg.trials) {
        if ((st = tg_study_set_done(s->t, s->study.id, 0, err)) != TG_OK) return st;
        s->study.done = 0;
        say(s, "study '%s' extended to %" PRId64 " trials", s->study.name, c->cfg.trials);
    }
    say(s, "%s study '%s' (%s, %s, score %s): %" PRId64 " of %" PRId64 " trials ended, %"
        PRId64 " proposals", created ? "created" : "resuming", s->study.name, c->cfg.algo,
        c->cfg.space, c->cfg.score, ended, c->cfg.trials, s->counts.proposals);
    s->ended0 = ended;
    s->cap = 20 * c->cfg.trials + 100;
    int p = c->cfg.parallel;
    s->x = malloc((size_t)tg_space_ndims(s->space) * sizeof *s->x);
    s->batch = calloc((size_t)p, sizeof *s->batch);
    s->json = calloc((size_t)p, sizeof *s->json);
    s->hash = calloc((size_t)p, sizeof *s->hash);
    s->number = calloc((size_t)p, sizeof *s->number);
    if (!s->x || !s->batch || !s->json || !s->hash || !s->number)
        return tg_error_set(err, TG_ERR_NOMEM, "search: out of memory");
    return TG_OK;
}

/* ---- the loop's steps ----------------------------------------------------- */

/* Tell every pending proposal whose trial has ended; *told counts them. */
static tg_status tell_outcomes(search *s, int *told, tg_error *err) {
    *told = 0;
    int64_t proposed = tg_explorer_proposed(s->ex);
    while (s->low < proposed && !tg_explorer_pending(s->ex, s->low)) s->low++;
    if (s->low >= proposed) return TG_OK;
    tg_outcome *o = NULL;
    int n = 0;
    tg_status st = tg_study_outcomes(s->t, s->study.id, s->low, &o, &n, err);
    for (int i = 0; st == TG_OK && i < n; i++) {
        if (!tg_explorer_pending(s->ex, o[i].pid)) continue;
        int ok = o[i].ok && isfinite(o[i].score);
        st = tg_explorer_tell(s->ex, o[i].pid, ok, ok ? o[i].score : 0.0, err);
        *told += st == TG_OK;
    }
    free(o);
    return st;
}

/* The explorer's state alone (n = 0), fenced by the lease. */
static tg_status save_state(search *s, tg_error *err) {
    char *state = tg_explorer_save(s->ex, err);
    if (!state) return err->status;
    tg_status st = tg_study_propose(s->t, s->study.id, s->me.owner, NULL, 0, state, NULL, err);
    free(state);
    return st;
}

/* Propose what the budget and `parallel` allow, commit it with the state.
 * *made: proposals committed; *dups: those that mapped to an existing
 * trial. A failure after the first propose leaves the explorer ahead of
 * the database: the caller must give up (a restart continues from the
 * committed state). */
static tg_status propose_batch(search *s, int *made, int *dups, tg_error *err) {
    *made = *dups = 0;
    const tg_study_config *cfg = &s->c->cfg;
    int64_t proposed = tg_explorer_proposed(s->ex);
    int64_t pending = proposed - tg_explorer_told(s->ex);
    int64_t distinct = s->counts.waiting + s->counts.running + s->counts.complete +
                       s->counts.failed;
    int64_t want = cfg->parallel - pending;
    if (cfg->trials - distinct < want) want = cfg->trials - distinct;
    if (want <= 0) return TG_OK;
    if (proposed + want > s->cap) want = s->cap - proposed;
    if (want <= 0) {
        if (!s->capped)
            say(s, "stopped proposing: %" PRId64 " proposals (the cap of 20 x %" PRId64
                " trials + 100) gave only %" PRId64 " distinct trials; the space has too "
                "few architectures for this budget", proposed, cfg->trials, distinct);
        s->capped = 1;
        return TG_OK;
    }
    int n = 0;
    tg_status st = TG_OK;
    for (; n < want; n++) {
        int64_t id;
        tg_genome *g = NULL;
        if ((st = tg_explorer_propose(s->ex, &id, s->x, err)) != TG_OK) break;
        if (!(g = tg_space_decode(s->space, s->x, err))) {
            st = err->status;
            break;
        }
        s->json[n] = tg_genome_json(g);
        tg_genome_hash(g, s->hash[n]);
        tg_genome_free(g);
        if (!s->json[n]) {
            st = tg_error_set(err, TG_ERR_NOMEM, "search: out of memory for a genome");
            break;
        }
        s->batch[n] = (tg_proposal){id, s->json[n], s->hash[n]};
    }
    if (st == TG_OK) {
        char *state = tg_explorer_save(s->ex, err);
        if (!state) st = err->status;
        else st = tg_study_propose(s->t, s->study.id, s->me.owner, s->batch, n, state,
                                   s->number, err);
        free(state);
    }
    for (int k = 0; k < n; k++) {
        free(s->json[k]);
        s->json[k] = NULL;
    }
    if (st != TG_OK) return st;
    *made = n;
    for (int k = 0; k < n; k++) {
        int dup = s->number[k] < distinct;
        for (int j = 0; j < k && !dup; j++) dup = s->number[j] == s->number[k];
        *dups += dup;
    }
    return TG_OK;
}

static int finished(const search *s) {
    const tg_study_counts *n = &s->counts;
    int64_t pending = tg_explorer_proposed(s->ex) - tg_explorer_told(s->ex);
    if (n->running > 0) return 0;
    if (n->complete + n->failed >= s->c->cfg.trials) return 1;
    return s->capped && pending == 0 && n->waiting == 0;
}

static void progress(search *s, int force) {
    const tg_study_counts *n = &s->counts;
    tg_search_progress p = {0};
    p.trials = s->c->cfg.trials;
    p.complete = n->complete, p.failed = n->failed;
    p.running = n->running, p.waiting = n->waiting;
    p.proposals = n->proposals;
    p.best = n->best, p.best_number = n->best_number;
    p.examples = n->examples;
    p.workers = tg_search_pool_alive(&s->pool);
    p.elapsed_s = mono() - s->t0;
    /* The mean wall time per trial ended in this run is elapsed * slots /
     * ended (slots: trials worked on at once); the remaining trials take
     * that times remaining / slots, so the slots cancel. */
    int64_t ended = n->complete + n->failed - s->ended0;
    int64_t left = p.trials - n->complete - n->failed;
    if (left < 0) left = 0;
    p.eta_s = left == 0 ? 0 : ended > 0 ? p.elapsed_s * (double)left / (double)ended : NAN;
    const tg_search_progress *q = &s->last;
    int same = s->have_last && p.complete == q->complete && p.failed == q->failed &&
               p.running == q->running && p.waiting == q->waiting &&
               p.proposals == q->proposals && p.workers == q->workers &&
               p.examples == q->examples && p.best_number == q->best_number;
    s->last = p;
    s->have_last = 1;
    if ((!same || force) && s->c->progress) s->c->progress(&p, s->c->user);
}

static tg_status poll_once(search *s, int *again, tg_error *err) {
    *again = 0;
    tg_status st = tg_study_lock(s->t, s->study.id, s->me.owner, s->c->cfg.lease_s, err);
    if (st != TG_OK) {
        if (st == TG_ERR_BUSY) s->locked = 0;
        return st;
    }
    tg_search_pool_reap(&s->pool, 0);
    int back = 0, failed = 0, told;
    if ((st = tg_trial_reap(s->t, s->study.id, &back, &failed, err)) != TG_OK) return st;
    if (back || failed)
        say(s, "expired leases: %d trial%s given back, %d failed after %d attempts", back,
            back == 1 ? "" : "s", failed, s->c->cfg.max_attempts);
    if ((st = tell_outcomes(s, &told, err)) != TG_OK) return st;
    if ((st = tg_study_counts_get(s->t, s->study.id, &s->counts, err)) != TG_OK) return st;
    progress(s, 0);
    if (finished(s)) {
        *again = -1;
        return TG_OK;
    }
    int made, dups;
    if ((st = propose_batch(s, &made, &dups, err)) != TG_OK) return st;
    /* a duplicate of an ended trial has its outcome already: go on at once */
    *again = dups > 0;
    return TG_OK;
}

/* ---- the run ---------------------------------------------------------------- */

static void release_all(search *s) {
    tg_search_pool_free(&s->pool);
    if (s->t && s->locked) {
        tg_error e;
        tg_study_unlock(s->t, s->study.id, s->me.owner, &e);
    }
    tg_tracker_close(s->t);
    tg_explorer_free(s->ex);
    tg_space_free(s->space);
    free(s->x);
    free(s->batch);
    free(s->json);
    free(s->hash);
    free(s->number);
}

tg_status tg_search_run(const tg_search_config *c, tg_search_progress *final, tg_error *err) {
    search s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.t0 = mono();
    s.last.best = NAN;
    s.last.eta_s = NAN;
    s.last.best_number = -1;
    tg_error_clear(err);
    double poll = c->poll_s > 0 ? c->poll_s : 0.2;
    tg_status st = setup(&s, err);
    if (st == TG_OK && c->workers > 0 && !stopping(&s))
        st = tg_search_pool_start(&s.pool, c->workers, c->worker_argv, c->log, c->user, err);
    int again = 0;
    while (st == TG_OK && !stopping(&s)) {
        if ((st = poll_once(&s, &again, err)) != TG_OK || again < 0) break;
        if (!again) nap(&s, poll);
    }
    if (st != TG_OK) {
        /* the explorer may be ahead of the database: save nothing */
        tg_search_pool_stop(&s.pool, 0, 10);
        release_all(&s);
        return st;
    }
    int told;
    if (again < 0) {
        /* done: the last outcomes, the state, then the workers see done */
        st = tg_study_lock(s.t, s.study.id, s.me.owner, c->cfg.lease_s, err);
        if (st == TG_OK) st = tell_outcomes(&s, &told, err);
        if (st == TG_OK) st = save_state(&s, err);
        if (st == TG_OK) st = tg_study_set_done(s.t, s.study.id, 1, err);
        tg_search_pool_stop(&s.pool, st == TG_OK ? 10 : 0, 10);
        if (st == TG_OK)
            say(&s, "study '%s' done: %" PRId64 " complete, %" PRId64 " failed, %" PRId64
                " proposals", s.study.name, s.counts.complete, s.counts.failed,
                tg_explorer_proposed(s.ex));
    } else {
        /* a stop: the workers give their trials back, the state is kept */
        if (s.pool.n > 0) say(&s, "stopping: the workers give their trials back");
        tg_search_pool_stop(&s.pool, 0, 10);
        if (s.ex) {
            /* the wait may have outlasted a short lease: renew it to save */
            st = tg_study_lock(s.t, s.study.id, s.me.owner, c->cfg.lease_s, err);
            if (st == TG_OK) st = tell_outcomes(&s, &told, err);
            if (st == TG_OK) st = save_state(&s, err);
        }
    }
    if (st == TG_OK && s.t) st = tg_study_counts_get(s.t, s.study.id, &s.counts, err);
    if (st == TG_OK && s.t) progress(&s, 1);
    if (final) *final = s.last;
    if (st == TG_OK && s.locked) {
        st = tg_study_unlock(s.t, s.study.id, s.me.owner, err);
        s.locked = 0;
    }
    release_all(&s);
    return st;
}
