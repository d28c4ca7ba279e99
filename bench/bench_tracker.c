/* bench_tracker.c - the tracker's throughput under a null objective: the
 * explorer's loop proposing random genomes, N worker processes claiming
 * them and reporting score 0 through the tracker API.
 *
 *   tgsage_bench_tracker --db URL --workers N --trials T [--space layerwise:10]
 *                        [--parallel P] [--poll S] [--worker-poll S] [--study NAME]
 *                        [--timing]
 *
 * The peer of Optuna's N processes each doing ask + tell on its RDB storage
 * (bench/optuna_tracker.py): here the asks are the explorer's (tg_search_run
 * with no local workers, random algorithm, an objective study) and the
 * tells the workers' reports. The N workers are forked before anything is
 * opened (a connection does not survive a fork); each opens its own
 * tg_tracker, says so through a pipe, then claims, reports 0 and claims
 * again, napping --worker-poll seconds [0.01] after an empty claim, until a
 * claim finds nothing and the study is done. The explorer polls every
 * --poll seconds [0.002] and keeps --parallel trials pending [2 N], so a
 * worker that reports finds the next trial already queued. (A faster
 * worker poll only steals the explorer's CPU on a small machine: 16
 * workers at 2 ms ran half as fast as at 10 ms on PostgreSQL.) The clock
 * runs from when every worker is connected to when tg_search_run returns
 * (every trial complete). Then every trial is checked: T of them, each
 * complete, with score 0, claimed once (attempt 1), and the workers'
 * reports add up to T with none fenced (so URL must be a fresh database,
 * or one without the study: an old study's trials fail the check). Prints
 * one JSON line {bench: "tgsage_tracker", backend, workers, trials,
 * parallel, poll_s, seconds, trials_per_s}; --timing adds the workers'
 * mean claim and report times and the count of empty claims.
 * Exit status 1 when the check fails, 2 on a usage or database error. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tgsage/tracker.h"
#include "tgsage/worker.h"

#define MAX_WORKERS 256

typedef struct {
    const char *url, *space, *study;
    int workers, parallel, timing;
    int64_t trials;
    double poll_s, worker_poll_s;
} opts;

/* What a worker sends back through its pipe when it ends. */
typedef struct {
    int ok;                    /* 0: a database error, msg says which */
    int64_t completed, fenced, empty;
    double claim_s, report_s;  /* summed over the claims that got a trial / reports */
    char msg[600];             /* "what: " and a tg_error's message */
} wk_result;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        c += k, n -= (size_t)k;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n) {
    char *c = p;
    while (n > 0) {
        ssize_t k = read(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        c += k, n -= (size_t)k;
    }
    return 0;
}

/* ---- a worker (a forked child) --------------------------------------------- */

static void fail(wk_result *r, const char *what, const tg_error *err) {
    r->ok = 0;
    snprintf(r->msg, sizeof r->msg, "%s: %s", what, err->msg);
}

/* The study, once the explorer has created it. */
static int find_study(tg_tracker *t, const opts *o, tg_study *s, wk_result *r) {
    tg_error err;
    for (double end = now() + 60;;) {
        tg_status st = tg_study_get(t, o->study, s, &err);
        if (st == TG_OK) return 0;
        if (st != TG_ERR_NOT_FOUND || now() > end) {
            fail(r, "study", &err);
            return -1;
        }
        nap(o->worker_poll_s);
    }
}

static void work(tg_tracker *t, const opts *o, wk_result *r) {
    tg_study s;
    if (find_study(t, o, &s, r)) return;
    tg_worker_id me;
    tg_worker_id_init(&me);
    tg_error err;
    for (;;) {
        tg_claim c;
        int got;
        double t0 = now();
        if (tg_trial_claim(t, s.id, &me, s.cfg.lease_s, &c, &got, &err) != TG_OK) {
            fail(r, "claim", &err);
            return;
        }
        double t1 = now();
        if (!got) {
            r->empty++;
            tg_study cur;
            if (tg_study_get(t, o->study, &cur, &err) != TG_OK) {
                fail(r, "study", &err);
                return;
            }
            if (cur.done) return;
            nap(o->worker_poll_s);
            continue;
        }
        r->claim_s += t1 - t0;
        tg_trial_result res = {.ok = 1, .score = 0.0, .p = NAN, .val_loss = NAN, .tg = NAN};
        int fenced;
        tg_status st = tg_trial_report(t, &c, &me, &res, &fenced, &err);
        r->report_s += now() - t1;
        tg_claim_free(&c);
        if (st != TG_OK) {
            fail(r, "report", &err);
            return;
        }
        if (fenced) r->fenced++;
        else r->completed++;
    }
}

/* Open, say so on ready, wait for nothing else: the explorer starts the
 * clock once every worker is connected. The result goes to out. */
static void worker_main(const opts *o, int ready, int out) {
    wk_result r;
    memset(&r, 0, sizeof r);
    r.ok = 1;
    tg_tracker *t = NULL;
    tg_error err;
    char byte = 1;
    if (tg_tracker_open(o->url, &t, &err) != TG_OK) {
        fail(&r, "open", &err);
        byte = 0;
    }
    (void)write_all(ready, &byte, 1);
    close(ready);
    if (t) work(t, o, &r);
    tg_tracker_close(t);
    int wrote = write_all(out, &r, sizeof r);
    close(out);
    _exit(wrote == 0 && r.ok ? 0 : 3);
}

/* ---- the explorer and the check -------------------------------------------- */

static void on_log(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "bench_tracker: %s\n", line);
}

static int run_search(const opts *o, tg_error *err) {
    tg_search_config c;
    memset(&c, 0, sizeof c);
    c.url = o->url;
    c.study = o->study;
    tg_study_config_defaults(&c.cfg);
    snprintf(c.cfg.space, sizeof c.cfg.space, "%s", o->space);
    snprintf(c.cfg.algo, sizeof c.cfg.algo, "random");
    snprintf(c.cfg.score, sizeof c.cfg.score, "objective");
    c.cfg.trials = o->trials;
    c.cfg.parallel = o->parallel;
    c.cfg.seed = 1;
    if (tg_study_config_check(&c.cfg, err) != TG_OK) return -1;
    if (tg_explorer_defaults("random", &c.explorer, err) != TG_OK) return -1;
    c.workers = 0;
    c.poll_s = o->poll_s;
    c.log = getenv("TG_BENCH_LOG") ? on_log : NULL;
    tg_search_progress fin;
    if (tg_search_run(&c, &fin, err) != TG_OK) return -1;
    return 0;
}

/* Every trial complete once with score 0: 0, else 1 with msg. */
static int check_trials(const opts *o, char *msg, size_t n) {
    tg_tracker *t = NULL;
    tg_error err;
    tg_study s;
    if (tg_tracker_open(o->url, &t, &err) != TG_OK ||
        tg_study_get(t, o->study, &s, &err) != TG_OK) {
        snprintf(msg, n, "reading the study back: %s", err.msg);
        tg_tracker_close(t);
        return 1;
    }
    tg_trial *tr;
    int64_t nt;
    int bad = 0;
    if (tg_trial_list(t, s.id, &tr, &nt, &err) != TG_OK) {
        snprintf(msg, n, "listing the trials: %s", err.msg);
        tg_tracker_close(t);
        return 1;
    }
    if (nt != o->trials) {
        snprintf(msg, n, "%" PRId64 " trials, expected %" PRId64, nt, o->trials);
        bad = 1;
    }
    for (int64_t i = 0; i < nt && !bad; i++) {
        const tg_trial *x = &tr[i];
        if (x->number != i || x->state != TG_TRIAL_COMPLETE || x->attempt != 1 ||
            x->score != 0.0) {
            snprintf(msg, n, "trial %" PRId64 ": number %" PRId64 ", %s, attempt %d, score %g",
                     i, x->number, tg_trial_state_name(x->state), x->attempt, x->score);
            bad = 1;
        }
    }
    tg_trials_free(tr, nt);
    tg_tracker_close(t);
    return bad;
}

static int usage(void) {
    fprintf(stderr, "usage: tgsage_bench_tracker --db URL --workers N --trials T "
            "[--space layerwise:10] [--parallel P] [--poll S] [--worker-poll S] "
            "[--study NAME] [--timing]\n");
    return 2;
}

static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->space = "layerwise:10";
    o->study = "bench";
    o->workers = 1;
    o->trials = 500;
    o->poll_s = 0.002;
    o->worker_poll_s = 0.01;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--timing")) {
            o->timing = 1;
            continue;
        }
        if (!v) return -1;
        i++;
        if (!strcmp(a, "--db")) o->url = v;
        else if (!strcmp(a, "--space")) o->space = v;
        else if (!strcmp(a, "--study")) o->study = v;
        else if (!strcmp(a, "--workers")) o->workers = atoi(v);
        else if (!strcmp(a, "--trials")) o->trials = atoll(v);
        else if (!strcmp(a, "--parallel")) o->parallel = atoi(v);
        else if (!strcmp(a, "--poll")) o->poll_s = atof(v);
        else if (!strcmp(a, "--worker-poll")) o->worker_poll_s = atof(v);
        else return -1;
    }
    /* enough queued that a worker never waits on the explorer's next poll */
    if (o->parallel == 0) o->parallel = 2 * o->workers;
    if (!o->url || o->workers < 1 || o->workers > MAX_WORKERS || o->trials < 1 ||
        o->parallel < 1 || !(o->poll_s > 0) || !(o->worker_poll_s > 0))
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    opts o;
    if (parse(argc, argv, &o)) return usage();
    int ready[2];
    if (pipe(ready)) {
        perror("bench_tracker: pipe");
        return 2;
    }
    pid_t pid[MAX_WORKERS];
    int out[MAX_WORKERS];
    for (int i = 0; i < o.workers; i++) {
        int p[2];
        if (pipe(p)) {
            perror("bench_tracker: pipe");
            return 2;
        }
        fflush(NULL);
        pid[i] = fork();
        if (pid[i] < 0) {
            perror("bench_tracker: fork");
            return 2;
        }
        if (pid[i] == 0) {
            close(ready[0]);
            close(p[0]);
            for (int k = 0; k < i; k++) close(out[k]);
            worker_main(&o, ready[1], p[1]);
        }
        close(p[1]);
        out[i] = p[0];
    }
    close(ready[1]);
    int opened = 0;
    for (int i = 0; i < o.workers; i++) {
        char b = 0;
        if (read_all(ready[0], &b, 1) == 0) opened += b == 1;
    }
    close(ready[0]);
    int rc = 0;
    tg_error err;
    double t0 = now(), dt = NAN;
    if (opened != o.workers) {
        fprintf(stderr, "bench_tracker: %d of %d workers could not open %s\n",
                o.workers - opened, o.workers, o.url);
        rc = 2;
    } else if (run_search(&o, &err)) {
        fprintf(stderr, "bench_tracker: the search: %s\n", err.msg);
        rc = 2;
    }
    dt = now() - t0;
    if (rc) /* the workers would wait for a study that never ends */
        for (int i = 0; i < o.workers; i++) kill(pid[i], SIGTERM);
    int64_t completed = 0, fenced = 0, empty = 0;
    double claim_s = 0, report_s = 0;
    for (int i = 0; i < o.workers; i++) {
        wk_result r;
        int got = read_all(out[i], &r, sizeof r) == 0;
        close(out[i]);
        int status;
        while (waitpid(pid[i], &status, 0) < 0 && errno == EINTR) {}
        if (!got) {
            if (!rc) fprintf(stderr, "bench_tracker: worker %d died (status %d)\n", i, status);
            rc = rc ? rc : 2;
            continue;
        }
        if (!r.ok) {
            fprintf(stderr, "bench_tracker: worker %d: %s\n", i, r.msg);
            rc = rc ? rc : 2;
        }
        completed += r.completed, fenced += r.fenced, empty += r.empty;
        claim_s += r.claim_s, report_s += r.report_s;
    }
    if (rc) return rc;
    char msg[600];
    if (check_trials(&o, msg, sizeof msg)) {
        fprintf(stderr, "bench_tracker: check failed: %s\n", msg);
        return 1;
    }
    if (completed != o.trials || fenced != 0) {
        fprintf(stderr, "bench_tracker: check failed: the workers reported %" PRId64
                " trials (%" PRId64 " fenced), expected %" PRId64 "\n", completed, fenced,
                o.trials);
        return 1;
    }
    const char *backend = strncmp(o.url, "postgres", 8) ? "sqlite" : "postgresql";
    printf("{\"bench\":\"tgsage_tracker\",\"backend\":\"%s\",\"workers\":%d,"
           "\"trials\":%" PRId64 ",\"parallel\":%d,\"poll_s\":%g,\"seconds\":%.4f,"
           "\"trials_per_s\":%.2f",
           backend, o.workers, o.trials, o.parallel, o.poll_s, dt, (double)o.trials / dt);
    if (o.timing)
        printf(",\"claim_ms\":%.3f,\"report_ms\":%.3f,\"empty_claims\":%" PRId64,
               1e3 * claim_s / (double)completed, 1e3 * report_s / (double)completed, empty);
    printf("}\n");
    return 0;
}
