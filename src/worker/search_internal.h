/* search_internal.h - the local worker processes of a search (internal to
 * src/worker/: search.c and queue.c start and stop them, search_workers.c
 * keeps them), and the wait of a queued study (queue.c) that rerank.c and
 * pool.c share.
 *
 * Each worker is fork + execv of the same argv, in the search's process
 * group (a Ctrl-C at the terminal reaches them all) with PR_SET_PDEATHSIG
 * SIGTERM, so a killed search takes its workers with it and they give
 * their trials back. A worker that dies before the study is done is logged
 * (exit status or signal) and started again, up to max_restarts restarts
 * in all; after that its slot stays empty. */
#ifndef TGSAGE_SEARCH_INTERNAL_H
#define TGSAGE_SEARCH_INTERNAL_H

#include <sys/types.h>

#include "tgsage/error.h"
#include "tgsage/worker.h"

typedef struct {
    char *const *argv;
    int n;                  /* slots */
    pid_t *pid;             /* per slot; 0: not running */
    int restarts, max_restarts;
    tg_log_fn log;
    void *user;
} tg_search_pool;

/* Start n workers (n may be 0). On a failure the ones started are stopped. */
tg_status tg_search_pool_start(tg_search_pool *p, int n, char *const *argv, tg_log_fn log,
                               void *user, tg_error *err);
/* Collect workers that exited (waitpid WNOHANG); unless the study is done,
 * log each and start it again while restarts are left. */
void tg_search_pool_reap(tg_search_pool *p, int study_done);
int tg_search_pool_alive(const tg_search_pool *p);
/* Wait up to grace_s for the workers to exit by themselves (0: not at
 * all), then SIGTERM, wait up to term_s, then SIGKILL and wait. */
void tg_search_pool_stop(tg_search_pool *p, double grace_s, double term_s);
void tg_search_pool_free(tg_search_pool *p);

/* The rest of a queued study's life (rerank, pool), once its trials are
 * queued: reopen it (done reset) when some trial has not ended, run q's
 * local workers and follow the study until every trial has ended (then it
 * is marked done) or a stop (then the workers give their trials back and
 * the study stays open). Expired leases are reaped on the way. When local
 * workers were asked for and every one has died with no restarts left
 * while trials still wait and none runs, that is an error (rather than a
 * wait for ever). *final may be NULL. */
tg_status tg_queue_follow(const tg_queue_run_config *q, tg_tracker *t, const tg_study *s,
                          tg_queue_progress *final, tg_error *err);

#endif
