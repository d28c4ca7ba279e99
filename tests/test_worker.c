/* test_worker.c - workers on a real SQLite tracker, with commands written
 * by the test: objective scores, failing commands (not a number, a
 * non-zero exit, a timeout), SIGTERM giving the trial back with nothing of
 * its command left, a stolen lease, a stopped worker's late write fenced,
 * workers killed with -9 at random moments (no trial lost or finished
 * twice), a trainer command's result and features turned into TG, a
 * data fingerprint refused before any claim, a rerank study's trials
 * trained as a search's, and what a pool's worker refuses.
 *
 * Workers that are signalled run in forked children (each with its own
 * tracker connection), writing their log lines and final stats to a file
 * the test reads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/evaluator.h"
#include "tgsage/genome.h"
#include "tgsage/npy.h"
#include "tgsage/rng.h"
#include "tgsage/rsa.h"
#include "tgsage/teacher.h"
#include "tgsage/tracker.h"
#include "tgsage/trainer.h"
#include "tgsage/worker.h"

static char dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(dir);
    return 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Genome i of a small family of distinct one-layer genomes (96 of them). */
static void genome_of(int i, char **json, char hash[33]) {
    static const int F[] = {32, 64, 128}, K[] = {1, 3, 5, 7};
    char text[512];
    snprintf(text, sizeof text,
             "{\"schema\": 1, \"space\": \"layerwise\", \"max_layers\": 4, \"layers\": "
             "[{\"filters\": %d, \"kh\": %d, \"kw\": %d, \"stride\": %d, \"act\": \"relu\", "
             "\"norm\": \"bn\", \"inputs\": [-1]}]}",
             F[i % 3], K[(i / 3) % 4], K[(i / 12) % 4], 1 + (i / 48) % 2);
    tg_error err;
    tg_genome *g = tg_genome_parse(text, NULL, &err);
    if (!g) fail_msg("%s", err.msg);
    *json = tg_genome_json(g);
    tg_genome_hash(g, hash);
    tg_genome_free(g);
}

typedef struct {
    const char *space;       /* [layerwise:4] */
    const char *score;       /* "objective", "p", "p+tg" */
    double lease_s;
    int max_attempts;
    const char *data, *fingerprint;
    int64_t nval, train_limit;
    double alpha;
    const void *teacher;
    size_t nteacher;
} study_opts;

/* A study `name` with n waiting trials (genomes 0..n-1); its id. */
static int64_t new_study(tg_tracker *t, const char *name, const study_opts *o, int n) {
    tg_study_config cfg;
    tg_study_config_defaults(&cfg);
    snprintf(cfg.space, sizeof cfg.space, "%s", o->space ? o->space : "layerwise:4");
    snprintf(cfg.algo, sizeof cfg.algo, "random");
    snprintf(cfg.score, sizeof cfg.score, "%s", o->score);
    cfg.epochs = 0.25;
    cfg.trials = n;
    cfg.parallel = n;
    cfg.seed = cfg.split_seed = 7;
    cfg.alpha = o->alpha > 0 ? o->alpha : 1;
    cfg.lease_s = o->lease_s > 0 ? o->lease_s : 30;
    cfg.max_attempts = o->max_attempts > 0 ? o->max_attempts : 3;
    snprintf(cfg.data, sizeof cfg.data, "%s", o->data ? o->data : "");
    snprintf(cfg.fingerprint, sizeof cfg.fingerprint, "%s", o->fingerprint ? o->fingerprint : "");
    cfg.nval = o->nval, cfg.train_limit = o->train_limit;
    tg_study s;
    int created = 0;
    tg_error err;
    if (tg_study_open(t, name, &cfg, o->teacher, o->nteacher, &s, &created, &err) != TG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(created, 1);
    assert_int_equal(tg_study_lock(t, s.id, "test-explorer", 600, &err), TG_OK);
    tg_proposal *p = calloc((size_t)n, sizeof *p);
    char **json = calloc((size_t)n, sizeof *json);
    char (*hash)[33] = calloc((size_t)n, 33);
    int64_t *num = calloc((size_t)n, sizeof *num);
    for (int i = 0; i < n; i++) {
        genome_of(i, &json[i], hash[i]);
        p[i] = (tg_proposal){i, json[i], hash[i]};
    }
    if (tg_study_propose(t, s.id, "test-explorer", p, n, "{}", num, &err) != TG_OK)
        fail_msg("%s", err.msg);
    for (int i = 0; i < n; i++) {
        assert_int_equal(num[i], i);
        free(json[i]);
    }
    free(p), free(json), free(hash), free(num);
    return s.id;
}

static tg_tracker *open_db(const char *name) {
    tg_tracker *t;
    tg_error err;
    if (tg_tracker_open(td_sqlite_url(dir, name), &t, &err) != TG_OK) fail_msg("%s", err.msg);
    return t;
}

/* ---- log capture --------------------------------------------------------- */

typedef struct {
    char text[65536];
    size_t n;
} log_buf;

static void log_to_buf(void *user, const char *line) {
    log_buf *b = user;
    int k = snprintf(b->text + b->n, sizeof b->text - b->n, "%s\n", line);
    if (k > 0) b->n += (size_t)k < sizeof b->text - b->n ? (size_t)k : 0;
}

static void log_to_fd(void *user, const char *line) {
    int fd = *(int *)user;
    char buf[8192];
    int k = snprintf(buf, sizeof buf, "%s\n", line);
    if (k > 0 && write(fd, buf, (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1) < 0) {}
}

static tg_worker_config worker_cfg(const char *db, const char *study, const char *objective) {
    tg_worker_config c;
    memset(&c, 0, sizeof c);
    c.url = td_sqlite_url(dir, db);
    c.study = study;
    c.objective_cmd = objective;
    c.workdir = dir;
    c.poll_s = 0.05;
    return c;
}

static tg_trial *trials_of(tg_tracker *t, int64_t study, int64_t *n) {
    tg_trial *tr;
    tg_error err;
    if (tg_trial_list(t, study, &tr, n, &err) != TG_OK) fail_msg("%s", err.msg);
    return tr;
}

/* ---- workers in child processes -------------------------------------------- */

static volatile sig_atomic_t g_stop;
static void on_term(int sig) { g_stop = sig; }

/* Fork a worker running c with $TAG = tag, its log (and a last line
 * "stats completed=.. failed=.. fenced=.. released=.. status=..") in
 * logpath. The child never returns. */
static pid_t fork_worker(tg_worker_config c, const char *tag, const char *logpath) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0) return pid;
    setenv("TAG", tag, 1);
    g_stop = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;   /* no SA_RESTART: sleeps and polls return */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
    c.stop = &g_stop;
    c.log = log_to_fd;
    c.log_user = &fd;
    tg_worker_stats st;
    tg_error err;
    tg_status s = tg_worker_run(&c, &st, &err);
    if (s != TG_OK) log_to_fd(&fd, err.msg);
    char line[256];
    snprintf(line, sizeof line, "stats completed=%lld failed=%lld fenced=%lld released=%lld "
             "status=%d", (long long)st.completed, (long long)st.failed, (long long)st.fenced,
             (long long)st.released, (int)s);
    log_to_fd(&fd, line);
    close(fd);
    _exit(s == TG_OK ? 0 : 1);
}

static void read_text(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = '\0';
    fclose(f);
}

/* Wait until trial `number` is running with attempt `attempt` (5 s at most). */
static void wait_running(tg_tracker *t, int64_t study, int64_t number, int attempt) {
    for (double t0 = now_s(); now_s() - t0 < 5; sleep_s(0.01)) {
        int64_t n;
        tg_trial *tr = trials_of(t, study, &n);
        int yes = tr[number].state == TG_TRIAL_RUNNING && tr[number].attempt == attempt;
        tg_trials_free(tr, n);
        if (yes) return;
    }
    fail_msg("trial %lld never ran (attempt %d)", (long long)number, attempt);
}

/* Wait for a file to appear (5 s at most); its first number. */
static long wait_number_file(const char *path) {
    for (double t0 = now_s(); now_s() - t0 < 5; sleep_s(0.01)) {
        char buf[64];
        read_text(path, buf, sizeof buf);
        if (strchr(buf, '\n')) return atol(buf);
    }
    fail_msg("%s never appeared", path);
    return -1;
}

/* Does process group pg hold a live process? (Zombies do not count: an
 * orphan's zombie may wait long for a reaper in a container.) */
static int group_alive(long pg) {
    DIR *d = opendir("/proc");
    struct dirent *de;
    int alive = 0;
    while (d && !alive && (de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        read_text(path, buf, sizeof buf);
        const char *p = strrchr(buf, ')');  /* after the command's name */
        char st;
        long ppid, pgrp;
        if (p && sscanf(p + 1, " %c %ld %ld", &st, &ppid, &pgrp) == 3)
            alive = pgrp == pg && st != 'Z' && st != 'X';
    }
    if (d) closedir(d);
    return alive;
}

static int wait_exit(pid_t pid, double limit_s, double *took) {
    const double t0 = now_s();
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (now_s() - t0 > limit_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("worker %d did not exit within %.1f s", (int)pid, limit_s);
        }
        sleep_s(0.005);
    }
    if (took) *took = now_s() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- objective commands ----------------------------------------------------- */

static void test_objective_scores(void **state) {
    (void)state;
    tg_tracker *t = open_db("obj");
    study_opts o = {.score = "objective"};
    int64_t id = new_study(t, "obj", &o, 3);
    tg_error err;
    assert_int_equal(tg_study_set_done(t, id, 1, &err), TG_OK);
    /* the genome arrives on stdin; the last non-empty line is the score,
     * even after more output than is kept (the tail is) */
    tg_worker_config c = worker_cfg("obj", "obj",
        "g=$(cat); case \"$g\" in *'\"space\":\"layerwise\"'*) ;; *) exit 3;; esac; "
        "seq 1 20000; echo 'not the score'; echo; echo \"  $TG_TRIAL.5  \"; echo");
    log_buf lb = {.n = 0};
    c.log = log_to_buf, c.log_user = &lb;
    tg_worker_stats st;
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_OK);
    assert_int_equal(st.completed, 3);
    assert_int_equal(st.failed + st.fenced + st.released + st.examples, 0);
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tr[i].state, TG_TRIAL_COMPLETE);
        assert_true(tr[i].score == i + 0.5);
        assert_true(isnan(tr[i].p) && isnan(tr[i].tg));
        assert_int_equal(tr[i].examples, 0);
        assert_int_equal(tr[i].attempt, 1);
    }
    tg_trials_free(tr, n);
    assert_non_null(strstr(lb.text, "trial 0: claimed (attempt 1"));
    assert_non_null(strstr(lb.text, "trial 2 complete: score 2.5"));
    assert_non_null(strstr(lb.text, "study obj is done"));
    /* a missing study passes through as such */
    c.study = "nope";
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_ERR_NOT_FOUND);
    tg_tracker_close(t);
}

static void test_objective_failures(void **state) {
    (void)state;
    tg_tracker *t = open_db("fail");
    study_opts o = {.score = "objective"};
    int64_t id = new_study(t, "fail", &o, 4);
    tg_error err;
    tg_worker_stats st;
    const char *cmds[] = {"echo xyz", "echo starting; echo 'it broke' >&2; exit 3",
                          "sleep 10", "echo 1e999"};
    double took[4];
    for (int i = 0; i < 4; i++) {
        tg_worker_config c = worker_cfg("fail", "fail", cmds[i]);
        c.max_trials = 1;
        if (i == 2) c.cmd_timeout_s = 0.5;
        double t0 = now_s();
        assert_int_equal(tg_worker_run(&c, &st, &err), TG_OK);
        took[i] = now_s() - t0;
        assert_int_equal(st.failed, 1);
        assert_int_equal(st.completed, 0);
    }
    print_message("timeout 0.5 s on `sleep 10`: the worker's trial took %.2f s\n", took[2]);
    assert_true(took[2] >= 0.5 && took[2] < 1.5);
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    for (int i = 0; i < 4; i++) assert_int_equal(tr[i].state, TG_TRIAL_FAILED);
    assert_string_equal(tr[0].error, "objective printed 'xyz', not a number");
    assert_string_equal(tr[1].error, "objective command exit status 3: it broke");
    assert_string_equal(tr[2].error, "objective command timed out after 0.5 s");
    assert_string_equal(tr[3].error, "objective printed '1e999', not a number");
    assert_true(isnan(tr[0].score));
    tg_trials_free(tr, n);
    tg_tracker_close(t);
}

/* A genome from the database is validated against the study's space like a
 * user's file: one outside it is a failed trial naming the field, and the
 * worker goes on with the next. */
static void test_invalid_genome(void **state) {
    (void)state;
    tg_tracker *t = open_db("inval");
    study_opts o = {.score = "objective", .space = "layerwise:4:filters=32,64"};
    int64_t id = new_study(t, "inval", &o, 3);  /* genome 2 has 128 filters */
    tg_error err;
    assert_int_equal(tg_study_set_done(t, id, 1, &err), TG_OK);
    tg_worker_config c = worker_cfg("inval", "inval", "echo 1");
    tg_worker_stats st;
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_OK);
    assert_int_equal(st.completed, 2);
    assert_int_equal(st.failed, 1);
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    assert_int_equal(tr[0].state, TG_TRIAL_COMPLETE);
    assert_int_equal(tr[1].state, TG_TRIAL_COMPLETE);
    assert_int_equal(tr[2].state, TG_TRIAL_FAILED);
    if (!strstr(tr[2].error, "invalid genome: ") || !strstr(tr[2].error, "layers[0].filters"))
        fail_msg("%s", tr[2].error);
    print_message("invalid genome: %s\n", tr[2].error);
    tg_trials_free(tr, n);
    tg_tracker_close(t);
}

/* SIGTERM while the command runs: the trial goes back to waiting with its
 * attempt not counted, the worker exits 0 at once, the command's whole
 * process group is gone. */
static void test_sigterm_releases(void **state) {
    (void)state;
    tg_tracker *t = open_db("term");
    study_opts o = {.score = "objective"};
    int64_t id = new_study(t, "term", &o, 1);
    char pgfile[512], logpath[512], cmd[1200], logtext[65536];
    snprintf(pgfile, sizeof pgfile, "%s/term.pg", dir);
    snprintf(logpath, sizeof logpath, "%s/term.log", dir);
    /* sh is the leader of the command's group: $$ is the group's id; the
     * sleep runs in the background so that sh itself waits on it */
    snprintf(cmd, sizeof cmd, "sleep 5 & echo $$ > %s; wait; echo 1", pgfile);
    tg_worker_config c = worker_cfg("term", "term", cmd);
    pid_t w = fork_worker(c, "1", logpath);
    long pg = wait_number_file(pgfile);
    assert_true(pg > 1);
    assert_true(group_alive(pg));  /* the group is there */
    kill(w, SIGTERM);
    double took;
    assert_int_equal(wait_exit(w, 10, &took), 0);
    print_message("SIGTERM: the worker exited %.3f s later\n", took);
    assert_true(took < 2.5);
    assert_false(group_alive(pg));
    read_text(logpath, logtext, sizeof logtext);
    assert_non_null(strstr(logtext, "trial 0: released"));
    assert_non_null(strstr(logtext, "completed=0 failed=0 fenced=0 released=1 status=0"));
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    assert_int_equal(tr[0].state, TG_TRIAL_WAITING);
    assert_int_equal(tr[0].attempt, 0);
    tg_trials_free(tr, n);
    tg_tracker_close(t);
}

/* scancel signals the worker and its command at once: a command that prints
 * a score all the same (here it ignores SIGTERM) must not be taken for a
 * result; the trial goes back. */
static void test_stop_during_command_releases(void **state) {
    (void)state;
    tg_tracker *t = open_db("term2");
    study_opts o = {.score = "objective"};
    int64_t id = new_study(t, "term2", &o, 1);
    char logpath[512], logtext[65536];
    snprintf(logpath, sizeof logpath, "%s/term2.log", dir);
    tg_worker_config c = worker_cfg("term2", "term2", "trap '' TERM; kill -TERM $PPID; echo 7");
    pid_t w = fork_worker(c, "1", logpath);
    double took;
    assert_int_equal(wait_exit(w, 10, &took), 0);
    read_text(logpath, logtext, sizeof logtext);
    if (!strstr(logtext, "completed=0 failed=0 fenced=0 released=1 status=0"))
        fail_msg("the worker's log:\n%s", logtext);
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    assert_int_equal(tr[0].state, TG_TRIAL_WAITING);
    assert_int_equal(tr[0].attempt, 0);
    tg_trials_free(tr, n);
    tg_tracker_close(t);
}

/* The worker is stopped (SIGSTOP) past its lease; the test takes the trial
 * through the tracker and reports it; the worker, continued, finds its
 * lease lost at its next heartbeat, kills its command and reports nothing. */
static void test_lease_stolen(void **state) {
    (void)state;
    tg_tracker *t = open_db("steal");
    study_opts o = {.score = "objective", .lease_s = 0.5};
    int64_t id = new_study(t, "steal", &o, 1);
    char pgfile[512], logpath[512], cmd[1200], logtext[65536];
    snprintf(pgfile, sizeof pgfile, "%s/steal.pg", dir);
    snprintf(logpath, sizeof logpath, "%s/steal.log", dir);
    snprintf(cmd, sizeof cmd, "sleep 20 & echo $$ > %s; wait; echo 1", pgfile);
    tg_worker_config c = worker_cfg("steal", "steal", cmd);
    c.max_trials = 1;
    pid_t w = fork_worker(c, "1", logpath);
    long pg = wait_number_file(pgfile);
    kill(w, SIGSTOP);
    sleep_s(0.8);
    tg_worker_id thief;
    tg_worker_id_init(&thief);
    snprintf(thief.owner, sizeof thief.owner, "thief:1:0");
    tg_claim cl;
    int got = 0;
    tg_error err;
    assert_int_equal(tg_trial_claim(t, id, &thief, 60, &cl, &got, &err), TG_OK);
    assert_int_equal(got, 1);
    assert_int_equal(cl.attempt, 2);
    kill(w, SIGCONT);
    double took;
    assert_int_equal(wait_exit(w, 10, &took), 0);
    print_message("lease stolen: the continued worker stopped %.3f s later\n", took);
    assert_true(took < 2);
    assert_false(group_alive(pg));
    read_text(logpath, logtext, sizeof logtext);
    assert_non_null(strstr(logtext, "trial 0: lease lost"));
    assert_non_null(strstr(logtext, "completed=0 failed=0 fenced=1 released=0 status=0"));
    tg_trial_result r = {.ok = 1, .score = 42, .p = NAN, .val_loss = NAN, .tg = NAN,
                         .train_s = NAN, .eval_s = NAN};
    int fenced = 1;
    assert_int_equal(tg_trial_report(t, &cl, &thief, &r, &fenced, &err), TG_OK);
    assert_int_equal(fenced, 0);
    tg_claim_free(&cl);
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    assert_int_equal(tr[0].state, TG_TRIAL_COMPLETE);
    assert_true(tr[0].score == 42);
    tg_trials_free(tr, n);
    tg_tracker_close(t);
}

/* A worker stopped past its lease while its command finishes; another
 * worker claims the trial and completes it; the first, continued, reports
 * late and is fenced. Every time, over several rounds. */
static void test_sigstop_fenced(void **state) {
    (void)state;
    const int rounds = 3;
    tg_tracker *t = open_db("stop");
    study_opts o = {.score = "objective", .lease_s = 0.5};
    char logpath[512], logtext[65536], name[32];
    for (int k = 0; k < rounds; k++) {
        /* a study of one trial per round: the other worker can take no other */
        snprintf(name, sizeof name, "stop%d", k);
        int64_t id = new_study(t, name, &o, 1);
        snprintf(logpath, sizeof logpath, "%s/stop%d.log", dir, k);
        tg_worker_config a = worker_cfg("stop", name, "sleep 0.3; echo $TAG");
        a.max_trials = 1;
        pid_t w = fork_worker(a, "1", logpath);
        wait_running(t, id, 0, 1);
        kill(w, SIGSTOP);
        /* the other worker, here: it waits for the lease to expire */
        setenv("TAG", "2", 1);
        tg_worker_config b = worker_cfg("stop", name, "echo $TAG");
        b.max_trials = 1;
        tg_worker_stats st;
        tg_error err;
        assert_int_equal(tg_worker_run(&b, &st, &err), TG_OK);
        assert_int_equal(st.completed, 1);
        sleep_s(0.4);  /* the stopped worker's command is over by now */
        kill(w, SIGCONT);
        assert_int_equal(wait_exit(w, 10, NULL), 0);
        read_text(logpath, logtext, sizeof logtext);
        assert_non_null(strstr(logtext, "completed=0 failed=0 fenced=1 released=0 status=0"));
        int at_report = strstr(logtext, "fenced: the lease was lost") != NULL;
        assert_true(at_report || strstr(logtext, "lease lost"));
        print_message("round %d: the late worker was %s\n", k,
                      at_report ? "fenced at its report" : "told at its heartbeat");
        int64_t n;
        tg_trial *tr = trials_of(t, id, &n);
        assert_int_equal(tr[0].state, TG_TRIAL_COMPLETE);
        assert_true(tr[0].score == 2);
        assert_int_equal(tr[0].attempt, 2);
        tg_trials_free(tr, n);
    }
    tg_tracker_close(t);
}

/* kill -9 of a worker at a random moment of its trial: the trial is given
 * back when its lease expires and finished once, by another worker. */
static void test_kill9(void **state) {
    (void)state;
    const int rounds = 20;
    const double lease = 0.5;
    tg_tracker *t = open_db("kill");
    study_opts o = {.score = "objective", .lease_s = lease};
    int64_t ids[20];
    char name[32];
    tg_rng rng;
    tg_rng_seed(&rng, 2024);
    char pgfile[512], logpath[512], cmd[1200];
    double worst = 0, total = 0;
    const double t_all = now_s();
    for (int k = 0; k < rounds; k++) {
        /* a study of one trial per round: the other worker can take no other */
        snprintf(name, sizeof name, "kill%d", k);
        ids[k] = new_study(t, name, &o, 1);
        snprintf(pgfile, sizeof pgfile, "%s/kill%d.pg", dir, k);
        snprintf(logpath, sizeof logpath, "%s/kill%d.log", dir, k);
        snprintf(cmd, sizeof cmd, "echo $$ > %s; sleep 1; echo 1", pgfile);
        tg_worker_config a = worker_cfg("kill", name, cmd);
        pid_t w = fork_worker(a, "1", logpath);
        wait_running(t, ids[k], 0, 1);
        sleep_s(0.4 * tg_rng_uniform_d(&rng));
        kill(w, SIGKILL);
        const double t_kill = now_s();
        int status;
        waitpid(w, &status, 0);
        char pgtext[64];
        read_text(pgfile, pgtext, sizeof pgtext);
        if (atol(pgtext) > 1) kill(-(pid_t)atol(pgtext), SIGKILL);  /* its orphaned command */
        setenv("TAG", "2", 1);
        tg_worker_config b = worker_cfg("kill", name, "echo 2");
        b.max_trials = 1;
        tg_worker_stats st;
        tg_error err;
        assert_int_equal(tg_worker_run(&b, &st, &err), TG_OK);
        assert_int_equal(st.completed, 1);
        const double back = now_s() - t_kill;
        worst = back > worst ? back : worst;
        total += back;
        /* the lease, plus the poll and the other worker's own run: 0.45 s on
         * average, 0.53 s at worst measured; the bound leaves room for a
         * loaded machine (lease + 0.5 failed once while other builds ran) and
         * still tells a trial taken over at its lease's end from a stuck one */
        if (back >= lease + 3.0) fail_msg("round %d: finished %.3f s after the kill", k, back);
    }
    print_message("kill -9, %d rounds in %.1f s: finished by another worker %.3f s after "
                  "the kill on average, %.3f s at worst (lease %.1f s)\n", rounds,
                  now_s() - t_all, total / rounds, worst, lease);
    for (int k = 0; k < rounds; k++) {
        int64_t n;
        tg_trial *tr = trials_of(t, ids[k], &n);
        assert_int_equal(n, 1);
        assert_int_equal(tr[0].state, TG_TRIAL_COMPLETE);
        assert_true(tr[0].score == 2);
        assert_int_equal(tr[0].attempt, 2);  /* the killed claim, then the finishing one */
        tg_trials_free(tr, n);
        tg_study_counts cnt;
        tg_error err;
        assert_int_equal(tg_study_counts_get(t, ids[k], &cnt, &err), TG_OK);
        assert_int_equal(cnt.complete, 1);
        assert_int_equal(cnt.waiting + cnt.running + cnt.failed, 0);
    }
    tg_tracker_close(t);
}

/* ---- training studies: data and teacher -------------------------------------- */

static tg_dataset g_train, g_val;
static char g_fp[33];

/* The split the studies below name: fashion-mnist, 200 held out, split
 * seed = study seed 7, 1000 training images. */
static void load_split(void) {
    if (g_val.n) return;
    tg_error err;
    if (tg_split_load("fashion-mnist", 200, 7, 1000, 0, &g_train, &g_val, NULL, &err) != TG_OK)
        fail_msg("%s", err.msg);
    snprintf(g_fp, sizeof g_fp, "%s", g_train.fingerprint);
}

static int teardown_data(void **state) {
    (void)state;
    tg_dataset_free(&g_train);
    tg_dataset_free(&g_val);
    return 0;
}

/* A teacher of raw pixels on the first 60 validation images: two regions. */
static void *pixel_teacher(size_t *nbytes, tg_teacher *out) {
    const int64_t n = 60, units = 784;
    float *F = malloc(sizeof(float) * (size_t)(n * units));
    tg_dataset_images(&g_val, NULL, 0, (int)n, F);
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.unit = TG_RDM_IMAGE, t.method = TG_SIM_PEARSON, t.max_features = 100, t.seed = 5;
    char regions[8192];
    int k = snprintf(regions, sizeof regions, "{\"V1\": [");
    for (int i = 0; i < 300; i++) k += snprintf(regions + k, sizeof regions - k, "%s%d", i ? "," : "", i);
    k += snprintf(regions + k, sizeof regions - k, "], \"IT\": [");
    for (int i = 300; i < 784; i++)
        k += snprintf(regions + k, sizeof regions - k, "%s%d", i > 300 ? "," : "", i);
    snprintf(regions + k, sizeof regions - k, "]}");
    tg_error err;
    if (tg_teacher_from_recordings(&t, F, n, units, g_val.labels, regions, "regions", "px",
                                   &err) != TG_OK ||
        tg_teacher_tie(&t, &g_val, g_val.labels, n, &err) != TG_OK)
        fail_msg("%s", err.msg);
    free(F);
    char path[512];
    snprintf(path, sizeof path, "%s/px.teacher", dir);
    assert_int_equal(tg_teacher_save(path, &t, &err), TG_OK);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *nbytes = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*nbytes);
    assert_int_equal(fread(buf, 1, *nbytes, f), *nbytes);
    fclose(f);
    *out = t;
    return buf;
}

static void write_script(const char *path, const char *text) {
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
}

/* A trainer command written in Python: checks its arguments against the
 * environment, keeps a copy of the images and of the features it writes
 * (in KEEP) for the test, and reports a fixed result. */
static const char *TRAINER_PY =
    "import json, os, sys, shutil\n"
    "import numpy as np\n"
    "genome, epochs, out = sys.argv[1:4]\n"
    "if (genome, epochs, out) != (os.environ['TG_GENOME'], os.environ['TG_EPOCHS'],\n"
    "                             os.environ['TG_OUT']):\n"
    "    sys.exit('arguments and environment disagree')\n"
    "g = json.load(open(genome))\n"
    "x = np.load(os.environ['TG_IMAGES'])\n"
    "keep = os.environ['KEEP'] + '/t' + os.environ['TG_TRIAL']\n"
    "os.makedirs(keep + '/features')\n"
    "shutil.copy(os.environ['TG_IMAGES'], keep + '/images.npy')\n"
    "open(keep + '/args', 'w').write(epochs + ' ' + os.environ['TG_SEED'] + ' ' +\n"
    "                                str(len(g['layers'])) + '\\n')\n"
    "f = x.reshape(len(x), -1)\n"
    "os.makedirs(out + '/features')\n"
    "for name, a in (('L1', f[:, :300] * np.float32(2) + np.float32(1)),\n"
    "                ('L2', (f[:, ::3] ** 2).reshape(len(x), 1, -1))):\n"
    "    np.save(out + '/features/' + name + '.npy', a.astype(np.float32))\n"
    "    np.save(keep + '/features/' + name + '.npy', a.astype(np.float32))\n"
    "res = {'p': 0.625, 'val_loss': 1.25, 'examples': 12345}\n"
    "if os.environ.get('DROP'): del res[os.environ['DROP']]\n"
    "json.dump(res, open(out + '/result.json', 'w'))\n";

/* RDMs of the kept feature files of the layers, by the documented recipe. */
static double trainer_tg(const tg_teacher *t, const char *keep, double alpha,
                         tg_eval_record *rec) {
    const char *names[2] = {"L1", "L2"};
    double *S[2];
    int64_t m = 0;
    tg_error err;
    for (int l = 0; l < 2; l++) {
        char path[700];
        snprintf(path, sizeof path, "%s/features/%s.npy", keep, names[l]);
        tg_npy a;
        float *F;
        assert_int_equal(tg_npy_read(path, &a, &err), TG_OK);
        assert_int_equal(a.shape[0], t->n);
        assert_int_equal(tg_npy_to_f32(&a, &F, &err), TG_OK);
        uint64_t seed = tg_rng_derive(tg_rng_derive(t->seed, TG_STREAM_OBSERVE), (uint64_t)l);
        assert_int_equal(tg_rdm_compute(F, t->n, (int64_t)a.count / t->n, t->labels, t->unit,
                                        t->max_features, seed, &S[l], &m, &err), TG_OK);
        free(F);
        tg_npy_free(&a);
    }
    assert_int_equal(tg_eval_rdms(t, (const double *const *)S, names, 2, m, alpha, rec, &err),
                     TG_OK);
    free(S[0]), free(S[1]);
    return rec->tg;
}

static void test_trainer_cmd(void **state) {
    (void)state;
    load_split();
    tg_teacher teacher;
    size_t nt;
    void *tbytes = pixel_teacher(&nt, &teacher);
    tg_tracker *t = open_db("tcmd");
    study_opts o = {.score = "p+tg", .alpha = 0.5, .data = "fashion-mnist",
                    .fingerprint = g_fp, .nval = 200, .train_limit = 1000,
                    .teacher = tbytes, .nteacher = nt};
    int64_t id = new_study(t, "tcmd", &o, 2);
    char script[512], cmd[1200], keep[512];
    snprintf(script, sizeof script, "%s/trainer.py", dir);
    write_script(script, TRAINER_PY);
    snprintf(keep, sizeof keep, "%s/keep", dir);
    assert_int_equal(mkdir(keep, 0700), 0);
    setenv("KEEP", keep, 1);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s", script);
    tg_worker_config c = worker_cfg("tcmd", "tcmd", NULL);
    c.trainer_cmd = cmd;
    c.max_trials = 1;
    tg_worker_stats st;
    tg_error err;
    if (tg_worker_run(&c, &st, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(st.completed, 1);
    /* the second trial's result lacks a key */
    setenv("DROP", "val_loss", 1);
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_OK);
    unsetenv("DROP");
    assert_int_equal(st.failed, 1);

    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    assert_int_equal(tr[0].state, TG_TRIAL_COMPLETE);
    assert_true(tr[0].p == 0.625 && tr[0].val_loss == 1.25);
    assert_int_equal(tr[0].examples, 12345);
    char k0[600];
    snprintf(k0, sizeof k0, "%s/t0", keep);
    tg_eval_record rec;
    double tg = trainer_tg(&teacher, k0, 0.5, &rec);
    print_message("trainer command: tg %.6f (recomputed %.6f), score %.6f\n", tr[0].tg, tg,
                  tr[0].score);
    assert_true(tr[0].tg == tg);
    assert_true(tr[0].score == 0.625 + 0.5 * tg);
    assert_true(tg > 0 && tg <= 1);
    /* the similarity matrix: teacher layers x candidate layers, exact */
    assert_non_null(tr[0].sim);
    char want[1024];
    snprintf(want, sizeof want, "{\"teacher\":[\"V1\",\"IT\"],\"candidate\":[\"L1\",\"L2\"],"
             "\"r\":[[%.17g,%.17g],[%.17g,%.17g]]}", rec.sim[0], rec.sim[1], rec.sim[2],
             rec.sim[3]);
    assert_string_equal(tr[0].sim, want);
    /* the trial RDMs: per teacher layer its winning candidate layer */
    assert_non_null(tr[0].rdms);
    cJSON *rj = cJSON_Parse(tr[0].rdms);
    assert_non_null(rj);
    const cJSON *cand = cJSON_GetObjectItem(rj, "candidate");
    assert_int_equal(cJSON_GetArraySize(cand), 2);
    for (int l = 0; l < 2; l++)
        assert_string_equal(cJSON_GetArrayItem(cand, l)->valuestring,
                            rec.best[l] == 0 ? "L1" : "L2");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rj, "rdm")), 2);
    cJSON_Delete(rj);
    tg_eval_record_free(&rec);
    assert_int_equal(tr[1].state, TG_TRIAL_FAILED);
    assert_string_equal(tr[1].error, "trainer command: result.json has no \"val_loss\"");
    tg_trials_free(tr, n);

    /* the arguments, and the images as tgsage feeds them */
    char args[256], path[700];
    snprintf(path, sizeof path, "%s/args", k0);
    read_text(path, args, sizeof args);
    char want_args[128];
    snprintf(want_args, sizeof want_args, "0.25 %llu 1\n",
             (unsigned long long)tg_rng_derive(tg_rng_derive(7, 0x747269616c73ULL), 0));
    assert_string_equal(args, want_args);
    snprintf(path, sizeof path, "%s/images.npy", k0);
    tg_npy im;
    assert_int_equal(tg_npy_read(path, &im, &err), TG_OK);
    assert_int_equal(im.ndim, 4);
    assert_int_equal(im.shape[0], 60);
    assert_int_equal(im.shape[1] * im.shape[2] * im.shape[3], 784);
    float *x = malloc(sizeof(float) * 60 * 784);
    tg_dataset_images(&g_val, teacher.images, 0, 60, x);
    assert_memory_equal(im.data, x, sizeof(float) * 60 * 784);
    free(x);
    tg_npy_free(&im);
    /* the workers' scratch directories are gone */
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d))) assert_null(strstr(de->d_name, "tgsage-worker-"));
    closedir(d);
    tg_tracker_close(t);
    tg_teacher_free(&teacher);
    free(tbytes);
}

static void test_fingerprint_refused(void **state) {
    (void)state;
    load_split();
    tg_tracker *t = open_db("fp");
    study_opts o = {.score = "p", .data = "fashion-mnist",
                    .fingerprint = "0123456789abcdef0123456789abcdef", .nval = 200,
                    .train_limit = 1000};
    int64_t id = new_study(t, "fp", &o, 2);
    tg_worker_config c = worker_cfg("fp", "fp", NULL);
    tg_worker_stats st;
    tg_error err;
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_ERR_ARG);
    char want[512];
    snprintf(want, sizeof want, "data fashion-mnist has fingerprint %s, study fp was created "
             "on 0123456789abcdef0123456789abcdef (data spec fashion-mnist", g_fp);
    if (!strstr(err.msg, want)) fail_msg("%s", err.msg);
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tr[i].state, TG_TRIAL_WAITING);
        assert_int_equal(tr[i].attempt, 0);
        assert_string_equal(tr[i].owner, "");
    }
    tg_trials_free(tr, n);
    tg_tracker_close(t);
}

/* ---- queued studies: rerank and pool ------------------------------------------ */

/* A study `name` of algo `algo` whose n trials (genomes 0..n-1) are queued
 * (tg_study_enqueue, as tgsage rerank and pool queue them); its id. */
static int64_t queued_study(tg_tracker *t, const char *name, const char *algo,
                            const study_opts *o, int n, double epochs) {
    tg_study_config cfg;
    tg_study_config_defaults(&cfg);
    snprintf(cfg.space, sizeof cfg.space, "layerwise:4");
    snprintf(cfg.algo, sizeof cfg.algo, "%s", algo);
    snprintf(cfg.score, sizeof cfg.score, "%s", o->score);
    cfg.epochs = epochs, cfg.trials = n, cfg.seed = cfg.split_seed = 7;
    cfg.lease_s = 30;
    cfg.alpha = o->alpha > 0 ? o->alpha : 1;
    snprintf(cfg.data, sizeof cfg.data, "%s", o->data ? o->data : "");
    snprintf(cfg.fingerprint, sizeof cfg.fingerprint, "%s", o->fingerprint ? o->fingerprint : "");
    cfg.nval = o->nval, cfg.train_limit = o->train_limit;
    if (!strcmp(algo, "pool")) cfg.at[0] = epochs / 2, cfg.nat = 1;
    tg_study s;
    int created = 0;
    tg_error err;
    if (tg_study_open(t, name, &cfg, o->teacher, o->nteacher, &s, &created, &err) != TG_OK)
        fail_msg("%s", err.msg);
    tg_enqueue_item *items = calloc((size_t)n, sizeof *items);
    char **json = calloc((size_t)n, sizeof *json), (*hash)[33] = calloc((size_t)n, 33);
    int64_t *num = calloc((size_t)n, sizeof *num);
    for (int i = 0; i < n; i++) {
        genome_of(i, &json[i], hash[i]);
        items[i] = (tg_enqueue_item){json[i], hash[i], 10 + i};
    }
    int added = 0;
    if (tg_study_enqueue(t, s.id, items, n, num, &added, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(added, n);
    assert_int_equal(tg_study_set_done(t, s.id, 1, &err), TG_OK);
    for (int i = 0; i < n; i++) free(json[i]);
    free(items), free(json), free(hash), free(num);
    return s.id;
}

/* A rerank study is worked as a search's: the short preset for the
 * study's (own) epochs, the trial's seed, the study's score; nothing
 * refuses its algo. Its trial's P is a direct run's, bit for bit. */
static void test_rerank_trained(void **state) {
    (void)state;
    load_split();
    tg_teacher teacher;
    size_t nt;
    void *tbytes = pixel_teacher(&nt, &teacher);
    tg_tracker *t = open_db("rerank");
    study_opts o = {.score = "p+tg", .alpha = 0.5, .data = "fashion-mnist",
                    .fingerprint = g_fp, .nval = 200, .train_limit = 1000,
                    .teacher = tbytes, .nteacher = nt};
    int64_t id = queued_study(t, "s.rerank", "rerank", &o, 2, 0.5);
    tg_worker_config c = worker_cfg("rerank", "s.rerank", NULL);
    tg_worker_stats st;
    tg_error err;
    if (tg_worker_run(&c, &st, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(st.completed, 2);
    assert_int_equal(st.failed, 0);
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    assert_int_equal(n, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tr[i].state, TG_TRIAL_COMPLETE);
        assert_int_equal(tr[i].parent, 10 + i);
        assert_true(tr[i].score == tr[i].p + 0.5 * tr[i].tg);
        assert_non_null(tr[i].sim);
        assert_non_null(tr[i].rdms);
        /* 1000 images at batch 128 for half an epoch: 4 steps of 128 */
        assert_int_equal(tr[i].examples, 4 * 128);
    }
    tg_train_config tc;
    assert_int_equal(tg_train_preset("short", &tc, &err), TG_OK);
    tc.genome = tr[1].genome;
    snprintf(tc.space, sizeof tc.space, "layerwise:4");
    tc.epochs = 0.5, tc.batch = 128;
    tc.seed = tg_rng_derive(tg_rng_derive(7, 0x747269616c73ULL), (uint64_t)tr[1].number);
    tg_train_result res;
    assert_int_equal(tg_train_run(&tc, &g_train, &g_val, 0, NULL, &res, &err), TG_OK);
    print_message("rerank trial 1: p %.4f, direct run %.4f\n", tr[1].p, res.final.val_acc);
    assert_true(res.final.val_acc == tr[1].p);
    assert_true(res.final.val_loss == tr[1].val_loss);
    tg_trials_free(tr, n);
    tg_tracker_close(t);
    tg_teacher_free(&teacher);
    free(tbytes);
}

/* A teacher of raw pixels (one region) on the first 60 images of val. */
static void *teacher_on(const tg_dataset *val, const char *name, size_t *nbytes) {
    const int64_t n = 60;
    float *F = malloc(sizeof(float) * (size_t)(n * 784));
    tg_dataset_images(val, NULL, 0, (int)n, F);
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.unit = TG_RDM_CATEGORY, t.method = TG_SIM_PEARSON, t.max_features = 100, t.seed = 5;
    tg_error err;
    if (tg_teacher_from_recordings(&t, F, n, 784, val->labels, NULL, "pixels", "px", &err) !=
            TG_OK ||
        tg_teacher_tie(&t, val, val->labels, n, &err) != TG_OK)
        fail_msg("%s", err.msg);
    free(F);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.teacher", dir, name);
    assert_int_equal(tg_teacher_save(path, &t, &err), TG_OK);
    tg_teacher_free(&t);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *nbytes = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*nbytes);
    assert_int_equal(fread(buf, 1, *nbytes, f), *nbytes);
    fclose(f);
    return buf;
}

/* What a pool's worker refuses before any claim: a command (its trials
 * are trained and evaluated here), no teacher, and a teacher (any
 * position) that does not fit the validation split. */
static void test_pool_refusals(void **state) {
    (void)state;
    load_split();
    tg_tracker *t = open_db("poolref");
    study_opts o = {.score = "p", .data = "fashion-mnist", .fingerprint = g_fp, .nval = 200,
                    .train_limit = 1000};
    int64_t id = queued_study(t, "pool", "pool", &o, 2, 0.2);
    tg_worker_config c = worker_cfg("poolref", "pool", "echo 1");
    tg_worker_stats st;
    tg_error err;
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "study pool is a pool: its trials are trained and evaluated "
                                    "here"));
    c.objective_cmd = NULL;
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "pool study pool holds no teacher yet"));
    /* teacher 0 fits; teacher 1 was made on another split */
    tg_dataset otr, ova;
    if (tg_split_load("fashion-mnist", 200, 8, 1000, 0, &otr, &ova, NULL, &err) != TG_OK)
        fail_msg("%s", err.msg);
    size_t n0, n1;
    void *b0 = teacher_on(&g_val, "fits", &n0), *b1 = teacher_on(&ova, "other", &n1);
    int pos;
    assert_int_equal(tg_study_add_teacher(t, id, "fits", b0, n0, &pos, &err), TG_OK);
    assert_int_equal(pos, 0);
    assert_int_equal(tg_study_add_teacher(t, id, "other", b1, n1, &pos, &err), TG_OK);
    assert_int_equal(pos, 1);
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_ERR_ARG);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "study pool's teacher other (position 1) does not fit its "
                                    "validation split"));
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    for (int i = 0; i < n; i++) assert_int_equal(tr[i].attempt, 0);
    tg_trials_free(tr, n);
    free(b0), free(b1);
    tg_dataset_free(&otr), tg_dataset_free(&ova);
    tg_tracker_close(t);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_objective_scores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_objective_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_genome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_during_command_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_stolen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigstop_fenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trainer_cmd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fingerprint_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerank_trained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_refusals, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, teardown_data);
    return failed ? 1 : 0;
}
