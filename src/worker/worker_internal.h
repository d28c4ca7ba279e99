/* worker_internal.h - what the parts of a worker share (internal to
 * src/worker/): worker.c prepares once (study, data, teacher, scratch
 * directory) and runs the claim loop; trial_train.c trains and evaluates a
 * trial here, trial_cmd.c runs one through a command (run_cmd.h). */
#ifndef TGSAGE_WORKER_INTERNAL_H
#define TGSAGE_WORKER_INTERNAL_H

#include <stdint.h>

#include "tgsage/dataset.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"
#include "tgsage/teacher.h"
#include "tgsage/tracker.h"
#include "tgsage/worker.h"

/* The worker: everything prepared before the first claim, and the trial
 * in hand. */
typedef struct {
    const tg_worker_config *c;
    tg_tracker *t;
    tg_study study;
    tg_worker_id id;
    tg_space *space;            /* the study's space */
    int have_data;              /* train and val hold the study's split */
    tg_dataset train, val;
    int have_teacher;
    tg_teacher teacher;
    char dir[768];              /* this worker's scratch directory */
    char images[1100];          /* trainer_cmd: dir/images.npy ("" when no teacher) */
    /* the trial in hand */
    const tg_claim *claim;
    uint64_t seed;              /* its training seed (tg_wk_trial_seed) */
    double last_beat;           /* monotonic seconds of the last heartbeat */
    int lost;                   /* the lease was lost: do not report */
    int stopped;                /* the stop flag was seen: release */
} tg_wk;

/* What a trial came to: a result to report (ok or failed), unless the
 * work was interrupted (w->lost or w->stopped). The strings are owned. */
typedef struct {
    tg_trial_result r;
    char *sim;                  /* JSON, malloc'd, or NULL */
    char error[5120];           /* why it failed ("" when ok) */
} tg_wk_outcome;

void tg_wk_outcome_init(tg_wk_outcome *o);
void tg_wk_outcome_free(tg_wk_outcome *o);
/* A failed trial: r.ok = 0, error formatted. */
void tg_wk_fail(tg_wk_outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line to the worker's log callback, if any. */
void tg_wk_log(const tg_wk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Called while a trial is worked on, as often as convenient: heartbeats
 * when lease_s/4 has passed since the last one (a failed heartbeat is
 * logged and retried at the next tick; only a lost lease counts) and looks
 * at the stop flag. Non-zero: stop working (w->lost or w->stopped set). */
int tg_wk_tick(tg_wk *w);

/* The training seed of trial `number` of a study seeded `seed`. */
uint64_t tg_wk_trial_seed(uint64_t seed, int64_t number);

/* The similarity matrix as tracker.h's JSON (malloc'd), or NULL when out
 * of memory: {"teacher": [...], "candidate": [...], "r": [[...], ...]},
 * doubles with 17 significant digits (exact). */
char *tg_wk_sim_json(const char (*teacher)[64], int nt, const char (*cand)[64], int ns,
                     const double *sim);

/* Images processed by SGD in `steps` steps of `batch` over n images (the
 * last batch of each epoch is short). */
int64_t tg_wk_examples(int64_t steps, int batch, int64_t n);

/* Make dir/NAME (a fresh directory for one trial) into out. */
tg_status tg_wk_trial_dir(const tg_wk *w, char *out, size_t n, tg_error *err);
/* Remove a directory tree (best effort). */
void tg_wk_rmtree(const char *dir);

/* The trial's work. TG_OK with o filled, or interrupted (w->lost /
 * w->stopped: o is not reported); another status is an error of the
 * worker itself (out of memory, its scratch directory), which ends it. */
tg_status tg_wk_train(tg_wk *w, const tg_genome *g, tg_wk_outcome *o, tg_error *err);
tg_status tg_wk_objective(tg_wk *w, tg_wk_outcome *o, tg_error *err);
tg_status tg_wk_trainer_cmd(tg_wk *w, tg_wk_outcome *o, tg_error *err);
/* trainer_cmd: the teacher's images as the network sees them, written
 * once per worker into w->images. */
tg_status tg_wk_write_images(tg_wk *w, tg_error *err);

#endif
