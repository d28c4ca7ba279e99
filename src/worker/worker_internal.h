/* worker_internal.h - what the parts of a worker share (internal to
 * src/worker/): worker.c prepares once (study, data, teachers, scratch
 * directory) and runs the claim loop; trial_train.c trains and evaluates a
 * trial here (a search's or a rerank's), trial_pool.c a pool's, and
 * trial_cmd.c runs one through a command (run_cmd.h). */
#ifndef TGSAGE_WORKER_INTERNAL_H
#define TGSAGE_WORKER_INTERNAL_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "tgsage/dataset.h"
#include "tgsage/evaluator.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"
#include "tgsage/teacher.h"
#include "tgsage/tracker.h"
#include "tgsage/trainer.h"
#include "tgsage/worker.h"

/* The trial RDMs keep the top-left k x k block, k = min(m, this). */
#define TG_WK_RDM_CROP 40

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
    int pool;                   /* algo "pool": trial_pool.c works its trials */
    int nteachers;              /* pool: every teacher of the study, by position */
    tg_teacher *teachers;
    int *positions;
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
    char *rdms;                 /* trial RDMs JSON (tg_wk_rdms_json), or NULL */
    char *points;               /* pool points JSON, or NULL */
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

/* The trial RDMs as the common format has them (docs/formats.md, "trial
 * RDMs"), malloc'd, or NULL when out of memory: per teacher layer of t
 * the name of its winning candidate layer in rec and the top-left k x k
 * block of that layer's RDM, taken from S (the ncand candidate RDMs, m x
 * m, k = min(m, TG_WK_RDM_CROP)) or, with S NULL, from rec->rdm_crop
 * (k = rec->crop). */
char *tg_wk_rdms_json(const tg_teacher *t, const tg_eval_record *rec, const double *const *S,
                      int64_t m);
/* A double as JSON: 17 significant digits (exact), null when not finite. */
cJSON *tg_wk_json_number(double d);

/* Images processed by SGD in `steps` steps of `batch` over n images (the
 * last batch of each epoch is short). */
int64_t tg_wk_examples(int64_t steps, int batch, int64_t n);

/* Make dir/NAME (a fresh directory for one trial) into out. */
tg_status tg_wk_trial_dir(const tg_wk *w, char *out, size_t n, tg_error *err);
/* Remove a directory tree (best effort). */
void tg_wk_rmtree(const char *dir);

/* A trial's training run, as trial_train.c and trial_pool.c share it: the
 * "short" preset for the study's budget and batch, seeded per trial, on
 * the study's split, the final checkpoint in dir/net.ckpt (ckpt), with
 * checkpoints at at[0..nat) and on_point called at each and at the end
 * when given. The step hook heartbeats (tg_wk_tick) and stops the run once
 * abort is set (by on_point: its evaluation failed). */
typedef struct {
    const double *at;
    int nat;
    void (*on_point)(const tg_train_point *p, void *user);
    void *user;
    int abort;
    int64_t steps;              /* steps done so far (current in on_point) */
    char ckpt[1100];
    tg_train_result res;
    int done;                   /* trained to the end and the lease held: evaluate */
} tg_wk_run;

/* Fills o->r.train_s and examples, a failed run's reason (diverged,
 * training failed) and w->stopped for a stop; run->done as above. A
 * status other than TG_OK is an error of the worker itself. */
tg_status tg_wk_train_run(tg_wk *w, const tg_genome *g, const char *dir, tg_wk_run *run,
                          tg_wk_outcome *o, tg_error *err);

/* The trial's work. TG_OK with o filled, or interrupted (w->lost /
 * w->stopped: o is not reported); another status is an error of the
 * worker itself (out of memory, its scratch directory), which ends it. */
tg_status tg_wk_train(tg_wk *w, const tg_genome *g, tg_wk_outcome *o, tg_error *err);
tg_status tg_wk_pool(tg_wk *w, const tg_genome *g, tg_wk_outcome *o, tg_error *err);
tg_status tg_wk_objective(tg_wk *w, tg_wk_outcome *o, tg_error *err);
tg_status tg_wk_trainer_cmd(tg_wk *w, tg_wk_outcome *o, tg_error *err);
/* trainer_cmd: the teacher's images as the network sees them, written
 * once per worker into w->images. */
tg_status tg_wk_write_images(tg_wk *w, tg_error *err);

#endif
