/* tracker.h - the database of studies and trials (the paper's fourth
 * module): the explorer writes candidates into it, workers anywhere claim
 * them, train, evaluate and write the results back.
 *
 * One interface, two backends chosen by URL, in the form Optuna's users
 * know (SQLAlchemy's):
 *   sqlite:///relative/path.db    sqlite:////absolute/path.db
 *       the embedded default: WAL, a busy timeout, claims inside
 *       BEGIN IMMEDIATE; SQLITE_BUSY is retried with jitter, never surfaced
 *   postgresql://user[:password]@host[:port]/db[?key=value...]
 *       (also postgres://) handed to libpq as it is, so PGPASSWORD,
 *       PGPASSFILE / ~/.pgpass and ?host=/socket/dir work as usual; claims
 *       with FOR UPDATE SKIP LOCKED
 * A password in a URL is never printed, logged or stored: messages use
 * tg_url_redact's form.
 *
 * Times are the database server's clock (unix seconds), so the leases of
 * workers on machines whose clocks differ still agree.
 *
 * A claim is a lease. The worker heartbeats while it trains; a trial whose
 * lease expired is given back to the queue by whoever notices (worker or
 * explorer, tg_trial_reap) up to the study's max_attempts, then fails with
 * the reason. A result is written only by the attempt that holds the lease
 * (... WHERE id = ? AND attempt = ? AND owner = ? AND state = 'running'):
 * a late or stale writer changes nothing and is told it was fenced.
 *
 * Every call runs in its own transaction; a transient failure (SQLITE_BUSY,
 * a lost PostgreSQL connection, a serialization failure) retries the whole
 * transaction, reconnecting where needed, until a deadline (TG_ERR_DB then,
 * with the database's own message). One tg_tracker is one connection: use
 * it from one thread at a time. */
#ifndef TGSAGE_TRACKER_H
#define TGSAGE_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"

#define TG_TRACKER_SCHEMA 2   /* the schema version this tgsage writes */
#define TG_STUDY_MAX_AT 16    /* premature points of a pool */

typedef struct tg_tracker tg_tracker;

/* Open (creating the SQLite file, and the schema in an empty database,
 * migrating an older one). A database whose schema is newer than
 * TG_TRACKER_SCHEMA is refused (TG_ERR_DB: "written by a newer tgsage ...").
 * An unknown scheme is TG_ERR_ARG listing the two. */
tg_status tg_tracker_open(const char *url, tg_tracker **out, tg_error *err);
void tg_tracker_close(tg_tracker *t);
const char *tg_tracker_backend(const tg_tracker *t);   /* "sqlite", "postgresql" */
/* The URL as opened, password replaced by "***" (safe to print). */
const char *tg_tracker_url(const tg_tracker *t);
/* url with any password (user:PASSWORD@, ?password=...) replaced by ***. */
void tg_url_redact(const char *url, char *out, size_t n);

/* ---- studies --------------------------------------------------------------- */

/* What a study is. Stored as JSON (tg_study_config_json); every field but
 * `trials` and `parallel` must match when a search resumes. */
typedef struct {
    char space[128];         /* space spec, e.g. layerwise:10 */
    char algo[16];           /* random, tpe, rl, evolution: a search (tgsage search);
                              * rerank: trials queued by tgsage rerank; pool:
                              * trials queued by tgsage pool */
    char score[16];          /* "p", "p+tg", or "objective" (--objective-cmd) */
    double alpha;            /* score = p + alpha * tg */
    double epochs;           /* the training budget of a trial */
    int batch;               /* [128] */
    int64_t trials;          /* trials to finish (a duplicate proposal is not one) */
    int parallel;            /* trials kept pending at most */
    uint64_t seed;           /* explorer and training seeds derive from it */
    uint64_t split_seed;     /* the validation split's seed (tg_split_load): the
                              * JSON key "split_seed" is written only when it is
                              * not seed, and a configuration without it (written
                              * before it existed) holds out the split of seed */
    char data[512];          /* the data spec the study was created with */
    char fingerprint[33];    /* of the training images (32 hex), "" for objective */
    int64_t nval;            /* the held-out split */
    int64_t train_limit;     /* training images used (0: all) */
    int max_attempts;        /* leases that may expire before the trial fails [3] */
    double lease_s;          /* lease length; workers heartbeat every lease_s/4 [60] */
    double at[TG_STUDY_MAX_AT];  /* pool: the premature points (epochs, ascending,
                              * each > 0 and < epochs) where P and the similarities
                              * are recorded; must match on resume */
    int nat;                 /* how many (0 for every other study; the JSON key "at"
                              * is written only when nat > 0 and is optional on
                              * parsing, so schema-1 configurations still read) */
} tg_study_config;

/* The defaults above (alpha 1, batch 128, parallel 1, max_attempts 3,
 * lease 60 s, score "p+tg", algo "tpe", seed and split_seed 0); space,
 * data and trials unset. */
void tg_study_config_defaults(tg_study_config *c);
/* Range checks (TG_ERR_ARG naming the field). */
tg_status tg_study_config_check(const tg_study_config *c, tg_error *err);
/* JSON text (malloc'd, keys sorted, doubles exact) and back. */
char *tg_study_config_json(const tg_study_config *c, tg_error *err);
tg_status tg_study_config_parse(const char *json, tg_study_config *c, tg_error *err);
/* 0 if stored and given agree on every field that must match on resume;
 * otherwise 1 with msg naming the first field that differs and both values
 * ("algo: the study has tpe, this run asks for rl"). */
int tg_study_config_diff(const tg_study_config *stored, const tg_study_config *given,
                         char *msg, size_t n);

typedef struct {
    int64_t id;
    char name[128];
    tg_study_config cfg;
    int done;                /* the explorer finished: workers exit */
    double created;          /* unix seconds */
    int has_teacher;
    int64_t parent;          /* the study this one reranks (its id), -1 none */
} tg_study;

/* The study `name`: created with cfg and the teacher file's bytes
 * (teacher may be NULL for an objective study) when it does not exist
 * (*created = 1); otherwise the stored one when cfg agrees with it
 * (tg_study_config_diff; trials and parallel are updated to cfg's, so a
 * search can be extended), and TG_ERR_ARG naming the difference when not.
 * Names: 1-127 characters of [A-Za-z0-9._-]. */
tg_status tg_study_open(tg_tracker *t, const char *name, const tg_study_config *cfg,
                        const void *teacher, size_t nteacher, tg_study *out, int *created,
                        tg_error *err);
/* TG_ERR_NOT_FOUND naming the study (and the studies there are). */
tg_status tg_study_get(tg_tracker *t, const char *name, tg_study *out, tg_error *err);
/* Every study, by id (*out malloc'd). */
tg_status tg_study_list(tg_tracker *t, tg_study **out, int *n, tg_error *err);
/* The teacher file's bytes as stored (malloc'd); TG_ERR_NOT_FOUND if none
 * (position 0 of tg_study_teachers). */
tg_status tg_study_teacher(tg_tracker *t, int64_t study, void **buf, size_t *n,
                           tg_error *err);
tg_status tg_study_set_done(tg_tracker *t, int64_t study, int done, tg_error *err);
/* Link a rerank study to the search study whose trials it trains longer
 * (tg_study.parent); parent -1 unlinks. TG_ERR_NOT_FOUND when either
 * study does not exist, TG_ERR_ARG for a study as its own parent. */
tg_status tg_study_set_parent(tg_tracker *t, int64_t study, int64_t parent, tg_error *err);

/* A study may have several teachers (a pool compares them): position 0 is
 * the study's own (studies.teacher, the one TG is scored against), then
 * 1, 2, ... in the order added. */
typedef struct {
    int position;
    char name[128];          /* as given when added ("teacher" for one stored by
                              * tg_study_open) */
    void *data;              /* the teacher file's bytes (malloc'd) */
    size_t n;
} tg_study_teacher_file;

/* Add a teacher file's bytes under a name (1-127 bytes): it becomes the
 * study's own (position 0) when the study has none yet, else the next
 * position. *position (may be NULL) receives it. */
tg_status tg_study_add_teacher(tg_tracker *t, int64_t study, const char *name,
                               const void *data, size_t n, int *position, tg_error *err);
/* Every teacher of the study by position (*out malloc'd, NULL when n = 0;
 * tg_study_teachers_free). */
tg_status tg_study_teachers(tg_tracker *t, int64_t study, tg_study_teacher_file **out, int *n,
                            tg_error *err);
void tg_study_teachers_free(tg_study_teacher_file *a, int n);

/* Trials not proposed by an explorer (rerank, pool): new waiting trials,
 * numbered on from the study's next number, in one transaction; an item
 * whose hash the study already has maps to that trial and is not added
 * again (so queueing the same list twice adds nothing). number[i] receives
 * item i's trial; *added (may be NULL) counts the new ones. */
typedef struct {
    const char *genome;      /* canonical genome JSON */
    const char *hash;        /* its 32-hex hash */
    int64_t parent;          /* rerank: the original trial's number in the parent
                              * study; -1 none */
} tg_enqueue_item;
tg_status tg_study_enqueue(tg_tracker *t, int64_t study, const tg_enqueue_item *items, int n,
                           int64_t *number, int *added, tg_error *err);

/* ---- the explorer's side --------------------------------------------------- */

/* One explorer per study: a lease like a trial's, taken when free, expired,
 * already ours (which renews it), or held by a process of this host that no
 * longer exists (an explorer killed with -9 is taken over at once, not after
 * its lease). TG_ERR_BUSY naming the holder (host, pid) and when its lease
 * ends. */
tg_status tg_study_lock(tg_tracker *t, int64_t study, const char *owner, double lease_s,
                        tg_error *err);
tg_status tg_study_unlock(tg_tracker *t, int64_t study, const char *owner, tg_error *err);

/* The explorer's saved state (malloc'd), or *state = NULL if none yet. */
tg_status tg_study_state(tg_tracker *t, int64_t study, char **state, tg_error *err);

typedef struct {
    int64_t pid;             /* the explorer's proposal id */
    const char *genome;      /* canonical genome JSON */
    const char *hash;        /* its 32-hex hash */
} tg_proposal;

/* In one transaction, fenced by the explorer's lease (TG_ERR_BUSY if owner
 * no longer holds it; nothing written): record each proposal, as a new
 * waiting trial (numbered 0, 1, 2, ... in the study) or, when the study
 * already has a trial with that hash, as a link to it (never trained
 * twice); then store the explorer's state. number[i] receives the trial
 * proposal i maps to. n may be 0 (only the state is stored). */
tg_status tg_study_propose(tg_tracker *t, int64_t study, const char *owner,
                           const tg_proposal *p, int n, const char *state, int64_t *number,
                           tg_error *err);

/* The outcome of a proposal whose trial has ended. */
typedef struct {
    int64_t pid, number;
    int ok;                  /* 1 complete, 0 failed */
    double score;
} tg_outcome;

/* Proposals with pid >= min_pid whose trials are complete or failed, by pid
 * (*out malloc'd, NULL when n = 0). */
tg_status tg_study_outcomes(tg_tracker *t, int64_t study, int64_t min_pid, tg_outcome **out,
                            int *n, tg_error *err);

/* ---- the workers' side ----------------------------------------------------- */

typedef struct {
    int64_t id;              /* the trial's row */
    int64_t study, number;
    int attempt;             /* 1 on the first claim */
    char hash[33];
    char *genome;            /* JSON (malloc'd; tg_claim_free) */
} tg_claim;
void tg_claim_free(tg_claim *c);

/* Who a worker is: owner is unique per process and claim stream
 * (host:pid:random), host and pid are shown to users. */
typedef struct {
    char owner[96];
    char host[64];
    int pid;
} tg_worker_id;
void tg_worker_id_init(tg_worker_id *w);   /* this host and process, a fresh random tag */

/* Give back expired leases of the study first, then claim its oldest
 * waiting trial for lease_s seconds. *got = 0 when none is waiting. */
tg_status tg_trial_claim(tg_tracker *t, int64_t study, const tg_worker_id *w, double lease_s,
                         tg_claim *c, int *got, tg_error *err);
/* Extend the lease. *held = 0 when the lease was lost (expired and given
 * back, or the trial ended): stop working on it. */
tg_status tg_trial_heartbeat(tg_tracker *t, const tg_claim *c, const tg_worker_id *w,
                             double lease_s, int *held, tg_error *err);

typedef struct {
    int ok;                  /* 1 complete, 0 failed */
    double score, p, val_loss, tg;   /* NaN where not measured */
    int64_t examples;        /* examples processed by SGD (the paper's cost) */
    double train_s, eval_s;  /* seconds */
    const char *sim;         /* the similarity matrix as JSON ({"teacher": [names],
                              * "candidate": [names], "r": [[...], ...]}), or NULL */
    const char *error;       /* why it failed, or NULL */
    const char *rdms;        /* the winning candidate layers' RDMs, cropped
                              * (docs/formats.md, "trial RDMs"), or NULL */
    const char *points;      /* pool: P and similarities at each premature point
                              * (docs/formats.md, "pool points"), or NULL */
} tg_trial_result;

/* Write the result if w still holds c's lease (*fenced = 0); otherwise
 * nothing changes and *fenced = 1. Idempotent: repeating a report that was
 * committed (a connection lost on the reply) is not fenced. */
tg_status tg_trial_report(tg_tracker *t, const tg_claim *c, const tg_worker_id *w,
                          const tg_trial_result *r, int *fenced, tg_error *err);
/* Back to waiting at once without counting the attempt (SIGTERM,
 * preemption). A lease no longer held changes nothing. */
tg_status tg_trial_release(tg_tracker *t, const tg_claim *c, const tg_worker_id *w,
                           tg_error *err);
/* Expired leases of the study back to waiting, or failed with the reason
 * once max_attempts leases have expired. Counts may be NULL. */
tg_status tg_trial_reap(tg_tracker *t, int64_t study, int *given_back, int *failed,
                        tg_error *err);

/* ---- reading --------------------------------------------------------------- */

typedef enum {
    TG_TRIAL_WAITING, TG_TRIAL_RUNNING, TG_TRIAL_COMPLETE, TG_TRIAL_FAILED
} tg_trial_state;
const char *tg_trial_state_name(tg_trial_state s);  /* waiting, running, complete, failed */

typedef struct {
    int64_t id, number;
    tg_trial_state state;
    int attempt;
    char hash[33];
    char *genome, *sim, *error;      /* malloc'd, NULL when none */
    char *rdms, *points;             /* malloc'd JSON, NULL when none (tg_trial_result) */
    int64_t parent;                  /* tg_enqueue_item's parent, -1 none */
    char owner[96], host[64];        /* the last claim's worker, "" never claimed */
    int pid;
    double created, started, finished, heartbeat, lease_until;  /* NaN when unset */
    int64_t examples;
    double score, p, val_loss, tg, train_s, eval_s;             /* NaN when unset */
} tg_trial;

/* Every trial of the study by number (*out malloc'd; tg_trials_free). */
tg_status tg_trial_list(tg_tracker *t, int64_t study, tg_trial **out, int64_t *n,
                        tg_error *err);
/* The k complete trials of highest score (ties: lower number first). */
tg_status tg_trial_best(tg_tracker *t, int64_t study, int k, tg_trial **out, int64_t *n,
                        tg_error *err);
void tg_trials_free(tg_trial *trials, int64_t n);

typedef struct {
    int64_t waiting, running, complete, failed;
    int64_t proposals;       /* explorer proposals, duplicates included */
    int64_t examples;        /* sum over complete and failed trials */
    double best;             /* highest score (NaN when none) */
    int64_t best_number;     /* its trial (-1 when none) */
    double first_created, last_finished;  /* NaN when none */
} tg_study_counts;
tg_status tg_study_counts_get(tg_tracker *t, int64_t study, tg_study_counts *c,
                              tg_error *err);

#endif
