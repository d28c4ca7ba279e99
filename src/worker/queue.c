/* queue.c - following a queued study (rerank, pool) to its end: its
 * trials were queued at once by the command, so there is no explorer to
 * feed; what is left is to keep local workers running, give expired leases
 * back, report progress, and mark the study done when every trial has
 * ended, which is what tells the workers (local or from elsewhere) to
 * exit. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "search_internal.h"

typedef struct {
    const tg_queue_run_config *q;
    tg_tracker *t;
    const tg_study *s;
    tg_search_pool pool;
    tg_study_counts counts;
    int64_t ended0;            /* complete + failed when this run started */
    double t0;
    tg_queue_progress last;
    int have_last;
} follow;

static void say(const follow *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const follow *f, const char *fmt, ...) {
    if (!f->q->log) return;
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    f->q->log(f->q->user, line);
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int stopping(const follow *f) { return f->q->stop && *f->q->stop; }

static void nap(const follow *f, double sec) {
    double end = mono() + sec;
    while (!stopping(f)) {
        double left = end - mono();
        if (left <= 0) return;
        if (left > 0.05) left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int64_t ended(const tg_study_counts *c) { return c->complete + c->failed; }

/* The counts as progress; the callback only on a change (or force). */
static void progress(follow *f, int force) {
    const tg_study_counts *n = &f->counts;
    tg_queue_progress p = {0};
    p.total = n->waiting + n->running + n->complete + n->failed;
    p.complete = n->complete, p.failed = n->failed;
    p.running = n->running, p.waiting = n->waiting;
    p.examples = n->examples;
    p.workers = tg_search_pool_alive(&f->pool);
    p.elapsed_s = mono() - f->t0;
    /* as the search's: the mean wall time per trial ended in this run,
     * times what is left (the slots working at once cancel) */
    int64_t done_here = ended(n) - f->ended0, left = p.total - ended(n);
    p.eta_s = left <= 0 ? 0 : done_here > 0 ? p.elapsed_s * (double)left / (double)done_here
                                            : NAN;
    const tg_queue_progress *l = &f->last;
    int same = f->have_last && p.total == l->total && p.complete == l->complete &&
               p.failed == l->failed && p.running == l->running && p.waiting == l->waiting &&
               p.examples == l->examples && p.workers == l->workers;
    f->last = p;
    f->have_last = 1;
    if ((!same || force) && f->q->progress) f->q->progress(&p, f->q->user);
}

static tg_status look(follow *f, tg_error *err) {
    int back = 0, failed = 0;
    tg_status st = tg_trial_reap(f->t, f->s->id, &back, &failed, err);
    if (st != TG_OK) return st;
    if (back || failed)
        say(f, "expired leases: %d trial%s given back, %d failed after %d attempts", back,
            back == 1 ? "" : "s", failed, f->s->cfg.max_attempts);
    return tg_study_counts_get(f->t, f->s->id, &f->counts, err);
}

/* Every local worker gone for good, trials waiting and none running:
 * nothing will ever end them. */
static int stranded(const follow *f) {
    const tg_search_pool *p = &f->pool;
    return f->q->workers > 0 && tg_search_pool_alive(p) == 0 &&
           p->restarts >= p->max_restarts && f->counts.running == 0 &&
           f->counts.waiting > 0;
}

tg_status tg_queue_follow(const tg_queue_run_config *q, tg_tracker *t, const tg_study *s,
                          tg_queue_progress *final, tg_error *err) {
    follow f;
    memset(&f, 0, sizeof f);
    f.q = q, f.t = t, f.s = s;
    f.t0 = mono();
    f.last.eta_s = NAN;
    double poll = q->poll_s > 0 ? q->poll_s : 0.2;
    tg_status st = look(&f, err);
    if (st != TG_OK) return st;
    f.ended0 = ended(&f.counts);
    int open = f.counts.waiting + f.counts.running > 0;
    if (open && s->done) {
        /* extended (or a stopped run resumed after done was set): the
         * workers must not see done before these trials end */
        if ((st = tg_study_set_done(t, s->id, 0, err)) != TG_OK) return st;
        say(&f, "study '%s' reopened: %" PRId64 " trials to run", s->name,
            f.counts.waiting + f.counts.running);
    }
    if (open && q->workers > 0 && !stopping(&f))
        st = tg_search_pool_start(&f.pool, q->workers, q->worker_argv, q->log, q->user, err);
    int finished = 0;
    while (st == TG_OK && !stopping(&f)) {
        tg_search_pool_reap(&f.pool, 0);
        if ((st = look(&f, err)) != TG_OK) break;
        progress(&f, 0);
        if (f.counts.waiting == 0 && f.counts.running == 0) {
            finished = 1;
            break;
        }
        if (stranded(&f)) {
            st = tg_error_set(err, TG_ERR_IO, "study '%s': all %d local workers exited (%d "
                              "restarts used) with %" PRId64 " trials still waiting; their "
                              "messages say why", s->name, q->workers, f.pool.restarts,
                              f.counts.waiting);
            break;
        }
        nap(&f, poll);
    }
    if (st == TG_OK && finished) {
        st = tg_study_set_done(t, s->id, 1, err);
        /* done: the workers exit after their next empty claim */
        tg_search_pool_stop(&f.pool, st == TG_OK ? 10 : 0, 10);
        if (st == TG_OK)
            say(&f, "study '%s' done: %" PRId64 " complete, %" PRId64 " failed", s->name,
                f.counts.complete, f.counts.failed);
    } else {
        if (st == TG_OK && f.pool.n > 0) say(&f, "stopping: the workers give their trials back");
        tg_search_pool_stop(&f.pool, 0, 10);
    }
    tg_search_pool_free(&f.pool);
    if (st == TG_OK && (st = tg_study_counts_get(t, s->id, &f.counts, err)) == TG_OK)
        progress(&f, 1);
    if (final) *final = f.last;
    return st;
}
