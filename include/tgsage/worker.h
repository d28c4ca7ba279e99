/* worker.h - the workers and the explorer's loop on top of the tracker.
 *
 * A worker claims a trial of a study, works on it with a heartbeat on its
 * lease, and reports: it trains the genome for the study's budget and
 * evaluates P and TG against the study's teacher (read from the database),
 * or it runs a command given on its own command line, never one read from
 * the database:
 *   objective_cmd  /bin/sh -c CMD, the genome JSON on stdin; prints one
 *                  score (a number) on its last line of stdout
 *   trainer_cmd    /bin/sh -c 'CMD "$@"' with arguments GENOME_FILE EPOCHS
 *                  OUT_DIR (also in TG_GENOME, TG_EPOCHS, TG_OUT, with
 *                  TG_TRIAL, TG_SEED and TG_IMAGES, an .npy of the teacher's
 *                  images as tgsage feeds them, N x C x H x W standardised per
 *                  image); it writes OUT_DIR/result.json ({"p", "val_loss",
 *                  "examples"}) and OUT_DIR/features/<layer>.npy per observed
 *                  layer on those images (N x anything); tgsage computes the
 *                  RDMs and TG.
 * Either: a timeout and a non-zero exit are a failed trial whose error is
 * the tail of stderr. A diverging or oversized candidate is a failed trial
 * with its reason. SIGTERM or SIGINT (c->stop set) gives the trial back at
 * once without counting an attempt (a command is sent SIGTERM, then
 * SIGKILL), and tg_worker_run returns TG_OK.
 *
 * The search (tg_search_run) is the explorer's loop: it keeps up to
 * `parallel` trials pending, tells each result as it arrives and proposes
 * the next, committing proposals with the explorer's saved state in one
 * transaction, so a killed and restarted search neither repeats nor loses
 * a proposal. It can start local worker processes (one dying does not take
 * the others, and is started again). Nothing here prints: lines go to the
 * log callbacks. */
#ifndef TGSAGE_WORKER_H
#define TGSAGE_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"
#include "tgsage/explorer.h"
#include "tgsage/tracker.h"

typedef void (*tg_log_fn)(void *user, const char *line);

typedef struct {
    const char *url;              /* tracker URL */
    const char *study;            /* study name */
    const char *objective_cmd;    /* or NULL */
    const char *trainer_cmd;      /* or NULL (both NULL: train here) */
    double cmd_timeout_s;         /* per command run; 0: none */
    const char *data;             /* NULL: the study's data spec; another copy of
                                   * the same data elsewhere (fingerprint checked) */
    const char *workdir;          /* scratch; NULL: $TMPDIR or /tmp */
    const char *backend;          /* engine backend, NULL: default */
    int64_t max_trials;           /* stop after this many (0: until the study is done) */
    double poll_s;                /* wait between empty claims [0.5] */
    volatile sig_atomic_t *stop;  /* set by a signal handler; may be NULL */
    tg_log_fn log;                /* one line per event (claim, result, fence); may be NULL */
    void *log_user;
    size_t max_train_bytes;       /* training here: a genome whose training needs more
                                   * (tg_genome_train_bytes) fails as oversized; 0: this
                                   * machine's physical memory */
} tg_worker_config;

typedef struct {
    int64_t completed, failed;    /* trials reported */
    int64_t fenced;               /* results refused: the lease was lost */
    int64_t released;             /* trials given back on a signal */
    int64_t examples;             /* examples trained here */
} tg_worker_stats;

/* Before any work: the study exists, the data's fingerprint equals the
 * study's (TG_ERR_ARG naming both otherwise), the teacher loads. Then claim
 * and work until the study is done, max_trials, or a stop.
 * The data is the study's split, tg_split_load(data, nval, seed,
 * train_limit, 0): held out by the study's seed, its fingerprint that of
 * the training part. A trial trains with the "short" preset for the
 * study's epochs and batch, seeded tg_rng_derive(tg_rng_derive(seed, S),
 * number) where S is 0x747269616c73 ("trials"); that seed is TG_SEED. */
tg_status tg_worker_run(const tg_worker_config *c, tg_worker_stats *st, tg_error *err);

typedef struct {
    int64_t trials;               /* the study's budget */
    int64_t complete, failed, running, waiting;
    int64_t proposals;            /* duplicates included */
    double best;                  /* NaN when none */
    int64_t best_number;
    int64_t examples;             /* cost so far */
    double elapsed_s;             /* since this run started */
    double eta_s;                 /* NaN when unknown */
    int workers;                  /* local workers alive */
} tg_search_progress;

typedef struct {
    const char *url;
    const char *study;
    tg_study_config cfg;
    const char *teacher_path;     /* stored in the study when it is created; NULL for
                                   * an objective study */
    tg_explorer_config explorer;  /* algo and seed are cfg's; a zero field takes the
                                   * default; a resumed study keeps its own, and a
                                   * nonzero field that differs is refused */
    int workers;                  /* local worker processes (0: they come from elsewhere) */
    char *const *worker_argv;     /* argv of one local worker (NULL-terminated),
                                   * e.g. {"/usr/bin/tgsage", "worker", "--db", ...} */
    double poll_s;                /* between looks at the database [0.2] */
    volatile sig_atomic_t *stop;  /* stop cleanly: workers get SIGTERM */
    void (*progress)(const tg_search_progress *p, void *user);  /* on every change */
    tg_log_fn log;
    void *user;                   /* for progress and log */
} tg_search_config;

/* Run (or resume) the search until the study's trials have all ended, or
 * a stop. *final may be NULL. */
tg_status tg_search_run(const tg_search_config *c, tg_search_progress *final, tg_error *err);

/* ---- queued studies: rerank and pool ---------------------------------------
 * A rerank or a pool is a study of its own whose trials are queued at once
 * (tg_study_enqueue) rather than proposed: the command queues them, runs
 * local workers (or waits for workers from elsewhere) until every trial
 * has ended, and marks the study done. Run again, it resumes: trials
 * already queued are not queued twice, ended ones are not redone.
 *
 * Workers treat them as any study: a rerank study trains its trials for
 * its own (longer) epochs and scores them as its parent does; a pool study
 * (algo "pool") trains each to cfg.epochs (mature), checkpointing at
 * cfg.at, and records at every point, and at the end, P, P with batch-norm
 * statistics recomputed and the similarities to every teacher of the study
 * by pearson, spearman, kendall and cka (docs/formats.md, "pool points");
 * the trial's p is the mature accuracy. */

typedef struct {
    int64_t total;                /* trials queued in the study (all of them) */
    int64_t complete, failed, running, waiting;
    int64_t examples;             /* cost so far */
    double elapsed_s, eta_s;      /* eta NaN when unknown */
    int workers;                  /* local workers alive */
} tg_queue_progress;

/* The run of a queued study: its local workers as a search's (restarted
 * when they die; if all are gone for good while trials wait and none runs,
 * that is an error rather than a wait for ever). A stop gives the trials
 * back and leaves the study open; the same call resumes. */
typedef struct {
    const char *url;
    int workers;                  /* local worker processes (0: from elsewhere) */
    char *const *worker_argv;     /* argv of one local worker, the study's name
                                   * included (as tg_search_config's) */
    double poll_s;                /* [0.2] */
    volatile sig_atomic_t *stop;
    void (*progress)(const tg_queue_progress *p, void *user);
    tg_log_fn log;
    void *user;
} tg_queue_run_config;

typedef struct {
    const char *study;            /* the search study */
    const char *into;             /* the rerank study's name; NULL: "<study>.rerank" */
    int top;                      /* K: the K complete trials of highest score */
    double epochs;                /* E2 */
    int64_t train_limit;          /* training images of the rerank: -1 the search's, 0
                                   * all, N the first N; the held-out split stays the
                                   * search's (the study's fingerprint is that of the
                                   * new training part, so the data is loaded) */
} tg_rerank_config;

/* Rerank: create (or reopen) the rerank study (the parent's configuration
 * with algo "rerank", epochs E2, trials K, parallel max(workers, 1); its
 * teacher copied; parent set), queue the parent's top K
 * (tg_enqueue_item.parent = their numbers), run until all have ended.
 * Refused (TG_ERR_ARG, naming it): a parent that is itself a rerank or a
 * pool, one with fewer than K complete trials, a rerank study of that name
 * linked to another parent, or one whose configuration differs (another
 * E2). The same K again resumes; a larger K queues the next ones (done is
 * reset until they end). *final may be NULL. */
tg_status tg_rerank_run(const tg_rerank_config *rc, const tg_queue_run_config *q,
                        tg_queue_progress *final, tg_error *err);

typedef struct {
    const char *study;            /* the pool study's name */
    tg_study_config cfg;          /* algo "pool", epochs (mature), at/nat, trials = K,
                                   * data, nval, train_limit, seed ... */
    const char *const *teachers;  /* teacher files: the first is the study's own */
    int nteachers;
    const char *from_study;       /* take the genomes of this study's complete trials,
                                   * best score first, instead of sampling; NULL:
                                   * sample K distinct genomes of cfg.space (the
                                   * random explorer seeded by cfg.seed) */
} tg_pool_config;

/* Pool: create (or reopen, checking that cfg and the teachers agree) the
 * pool study, queue its K genomes, run until all have ended. cfg.algo may
 * be "" (set to "pool"). With from_study, cfg.space "" takes that study's
 * space (a given one must hold every genome) and cfg.trials 0 takes all
 * its complete trials; fewer complete than K is refused. Each teacher file
 * must load as a teacher; it is stored under its base name, in order, and
 * a rerun whose teachers differ in number or bytes is refused naming the
 * position. Sampling that finds fewer than K distinct genomes in 20 K + 100
 * draws is refused. */
tg_status tg_pool_run(const tg_pool_config *pc, const tg_queue_run_config *q,
                      tg_queue_progress *final, tg_error *err);

#endif
