/* test_search.c - the explorer's loop (tg_search_run) on real SQLite
 * databases with real worker processes (`tgsage worker` with an objective
 * command, so nothing trains): a search completes its budget exactly with
 * every proposal told and the best in the table; it resumes (nothing new
 * when done), extends, refuses a different algorithm and a second explorer;
 * an explorer killed with SIGKILL ten times at random moments and
 * restarted each time ends with no proposal made twice, no result lost, no
 * genome scored twice and the algorithm's state where it should be; a
 * space too small for its budget stops at the proposal cap with each
 * genome scored once.
 *
 * The objective (obj.sh) scores a genome by its CRC (cksum) / 2^32 after
 * an optional sleep, and appends the genome to a log file once it has its
 * score: the log counts the scorings of each genome. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/tracker.h"
#include "tgsage/worker.h"

static const char *bin(void) {
    const char *b = getenv("TG_BIN");
    return b ? b : "./tgsage";
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

typedef struct {
    char dir[256];
    char url[4200];
    char obj[700];       /* the objective command */
    char log[600];       /* its log of scored genomes */
    char *argv[16];      /* a local worker */
    char lines[16384];   /* the search's log lines */
} fx;

static void fx_init(fx *f, const char *name, double sleep) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s", tu_tmpdir());
    snprintf(f->url, sizeof f->url, "%s", td_sqlite_url(f->dir, name));
    snprintf(f->log, sizeof f->log, "%s/scored.log", f->dir);
    char path[600], text[1600];
    snprintf(path, sizeof path, "%s/obj.sh", f->dir);
    snprintf(text, sizeof text,
             "g=$(cat)\n"
             "c=$(printf %%s \"$g\" | cksum | cut -d' ' -f1)\n"
             "sleep %g\n"
             "printf '%%s\\n' \"$g\" >> '%s'\n"
             "awk -v c=\"$c\" 'BEGIN { printf \"%%.9f\\n\", c / 4294967296 }'\n",
             sleep, f->log);
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    snprintf(f->obj, sizeof f->obj, "sh %s", path);
}

static void on_log(void *user, const char *line) {
    fx *f = user;
    size_t n = strlen(f->lines);
    snprintf(f->lines + n, sizeof f->lines - n, "%s\n", line);
}

/* A search of an objective study run here, with `workers` local workers. */
static void fx_config(fx *f, tg_search_config *c, const char *study, const char *space,
                      const char *algo, int64_t trials, int workers) {
    memset(c, 0, sizeof *c);
    tg_study_config_defaults(&c->cfg);
    snprintf(c->cfg.space, sizeof c->cfg.space, "%s", space);
    snprintf(c->cfg.algo, sizeof c->cfg.algo, "%s", algo);
    snprintf(c->cfg.score, sizeof c->cfg.score, "objective");
    c->cfg.trials = trials;
    /* a trial waiting whenever a worker is done: none sleeps between claims */
    c->cfg.parallel = workers > 1 ? 2 * workers : 1;
    c->cfg.seed = 7;
    c->cfg.lease_s = 10;
    assert_int_equal(tg_explorer_defaults(algo, &c->explorer, NULL), TG_OK);
    c->url = f->url;
    c->study = study;
    c->workers = workers;
    int k = 0;
    f->argv[k++] = (char *)bin();
    f->argv[k++] = "worker";
    f->argv[k++] = "--db", f->argv[k++] = f->url;
    f->argv[k++] = "--study", f->argv[k++] = (char *)study;
    f->argv[k++] = "--objective-cmd", f->argv[k++] = f->obj;
    f->argv[k++] = "--quiet";
    f->argv[k] = NULL;
    c->worker_argv = f->argv;
    c->poll_s = 0.05;
    c->log = on_log;
    c->user = f;
}

/* Genomes in the log: the number of lines; fails on a genome scored twice. */
static int scored_once(const fx *f) {
    FILE *fp = fopen(f->log, "r");
    if (!fp) return 0;
    char line[8192];
    char **seen = NULL;
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        for (int i = 0; i < n; i++)
            if (!strcmp(seen[i], line)) fail_msg("genome scored twice: %s", line);
        seen = realloc(seen, (size_t)(n + 1) * sizeof *seen);
        assert_non_null(seen);
        seen[n++] = strdup(line);
    }
    fclose(fp);
    for (int i = 0; i < n; i++) free(seen[i]);
    free(seen);
    return n;
}

typedef struct {
    int64_t proposed, told, adam_t;
} saved_state;

static saved_state state_of(tg_tracker *t, int64_t study) {
    char *s = NULL;
    assert_int_equal(tg_study_state(t, study, &s, NULL), TG_OK);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    saved_state r = {0, 0, -1};
    r.proposed = cJSON_GetArraySize(cJSON_GetObjectItem(j, "trials"));
    r.told = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "told"));
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "algo_state"), "adam_t");
    if (cJSON_IsNumber(a)) r.adam_t = (int64_t)a->valuedouble;
    cJSON_Delete(j);
    return r;
}

/* The study's invariants once it has ended: proposals 0..n-1 once each,
 * every one told, trial numbers 0..T-1 with distinct hashes, the scores
 * the objective gives, the best the maximum. Returns T. */
static int64_t check_ended(const char *url, const char *name, int64_t want_trials) {
    tg_tracker *t;
    tg_error err;
    assert_int_equal(tg_tracker_open(url, &t, &err), TG_OK);
    tg_study st;
    assert_int_equal(tg_study_get(t, name, &st, &err), TG_OK);
    tg_study_counts n;
    assert_int_equal(tg_study_counts_get(t, st.id, &n, &err), TG_OK);
    assert_int_equal(n.running, 0);
    assert_int_equal(n.waiting, 0);
    assert_int_equal(n.failed, 0);
    if (want_trials >= 0) assert_int_equal(n.complete, want_trials);
    tg_outcome *o = NULL;
    int no = 0;
    assert_int_equal(tg_study_outcomes(t, st.id, 0, &o, &no, &err), TG_OK);
    assert_int_equal(no, n.proposals);
    for (int i = 0; i < no; i++) {
        assert_int_equal(o[i].pid, i);
        assert_true(o[i].ok);
    }
    free(o);
    saved_state s = state_of(t, st.id);
    assert_int_equal(s.proposed, n.proposals);
    assert_int_equal(s.told, n.proposals);
    tg_trial *tr;
    int64_t nt;
    assert_int_equal(tg_trial_list(t, st.id, &tr, &nt, &err), TG_OK);
    assert_int_equal(nt, n.complete);
    double best = -1;
    for (int64_t i = 0; i < nt; i++) {
        assert_int_equal(tr[i].number, i);
        assert_int_equal(tr[i].state, TG_TRIAL_COMPLETE);
        for (int64_t j = 0; j < i; j++) assert_string_not_equal(tr[i].hash, tr[j].hash);
        if (tr[i].score > best) best = tr[i].score;
        assert_true(tr[i].score >= 0 && tr[i].score < 1);
    }
    assert_true(nt == 0 || best == n.best);
    tg_trials_free(tr, nt);
    tg_tracker_close(t);
    return n.complete;
}

static void test_budget_resume_extend(void **state) {
    (void)state;
    const char *algos[2] = {"random", "tpe"};
    for (int a = 0; a < 2; a++) {
        fx f;
        fx_init(&f, "s", 0);
        tg_search_config c;
        fx_config(&f, &c, "s1", "layerwise:4", algos[a], 30, 2);
        tg_search_progress p;
        tg_error err;
        double t0 = now_s();
        if (tg_search_run(&c, &p, &err) != TG_OK) fail_msg("%s: %s", algos[a], err.msg);
        double took = now_s() - t0;
        assert_int_equal(p.complete, 30);
        assert_int_equal(p.failed, 0);
        assert_int_equal(p.running + p.waiting, 0);
        assert_int_equal(p.workers, 0);   /* they exited once the study was done */
        assert_int_equal(check_ended(f.url, "s1", 30), 30);
        assert_int_equal(scored_once(&f), 30);
        int64_t proposals = p.proposals;
        assert_true(proposals >= 30);
        print_message("%s: 30 trials, %lld proposals, 2 workers: %.1f s\n", algos[a],
                      (long long)proposals, took);
        /* resumed when done: nothing new */
        assert_int_equal(tg_search_run(&c, &p, &err), TG_OK);
        assert_int_equal(p.proposals, proposals);
        assert_int_equal(p.complete, 30);
        assert_int_equal(scored_once(&f), 30);
        /* extended */
        c.cfg.trials = 36;
        if (tg_search_run(&c, &p, &err) != TG_OK) fail_msg("extend: %s", err.msg);
        assert_int_equal(p.complete, 36);
        assert_int_equal(check_ended(f.url, "s1", 36), 36);
        assert_int_equal(scored_once(&f), 36);
        /* another algorithm is another study */
        snprintf(c.cfg.algo, sizeof c.cfg.algo, "%s", a ? "random" : "rl");
        assert_int_equal(tg_search_run(&c, &p, &err), TG_ERR_ARG);
        assert_non_null(strstr(err.msg, "algo"));
        tu_rmtree(f.dir);
    }
}

static void test_second_explorer_busy(void **state) {
    (void)state;
    fx f;
    fx_init(&f, "b", 0);
    tg_search_config c;
    fx_config(&f, &c, "busy", "layerwise:3", "random", 5, 0);
    tg_tracker *t;
    tg_error err;
    assert_int_equal(tg_tracker_open(f.url, &t, &err), TG_OK);
    tg_study st;
    int created;
    assert_int_equal(tg_study_open(t, "busy", &c.cfg, NULL, 0, &st, &created, &err), TG_OK);
    assert_int_equal(tg_study_lock(t, st.id, "otherhost:4242:abc", 30, &err), TG_OK);
    tg_search_progress p;
    assert_int_equal(tg_search_run(&c, &p, &err), TG_ERR_BUSY);
    assert_non_null(strstr(err.msg, "otherhost"));
    /* nothing was proposed by the refused one */
    tg_study_counts n;
    assert_int_equal(tg_study_counts_get(t, st.id, &n, &err), TG_OK);
    assert_int_equal(n.proposals, 0);
    /* given back, the lease is free again */
    assert_int_equal(tg_study_unlock(t, st.id, "otherhost:4242:abc", &err), TG_OK);
    tg_tracker_close(t);
    tu_rmtree(f.dir);
}

/* ---- SIGKILL of the explorer ------------------------------------------------ */

static pid_t spawn(char *const *av, const char *out) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *o = freopen(out, "a", stdout);
        if (o) dup2(fileno(stdout), 2);
        execv(av[0], av);
        _exit(127);
    }
    return pid;
}

/* Start the two workers once the study exists (the first search may have
 * been killed before it created it). */
static void ensure_workers(const char *url, pid_t *workers, char *const *wav,
                           const char *out) {
    if (workers[0]) return;
    tg_tracker *t;
    tg_study st;
    assert_int_equal(tg_tracker_open(url, &t, NULL), TG_OK);
    int exists = tg_study_get(t, "k9", &st, NULL) == TG_OK;
    tg_tracker_close(t);
    if (!exists) return;
    for (int w = 0; w < 2; w++) workers[w] = spawn(wav, out);
}

static void test_kill9_explorer(void **state) {
    (void)state;
    fx f;
    fx_init(&f, "k", 0.05);
    char out[600];
    snprintf(out, sizeof out, "%s/search.out", f.dir);
    char *sav[] = {(char *)bin(), "search", "--db", f.url, "--study", "k9",
                   "--space", "layerwise:4", "--algo", "rl", "--trials", "40",
                   "--workers", "0", "--parallel", "3", "--lease", "1.5", "--seed", "3",
                   "--objective-cmd", f.obj, NULL};
    char *wav[] = {(char *)bin(), "worker", "--db", f.url, "--study", "k9",
                   "--objective-cmd", f.obj, "--quiet", NULL};
    pid_t workers[2] = {0, 0};
    srand(12345);
    int kills = 0, busy = 0;
    double t0 = now_s();
    while (kills < 10) {
        pid_t s = spawn(sav, out);
        double at = 0.15 + 0.6 * rand() / (double)RAND_MAX;
        sleep_s(at);
        int st;
        if (waitpid(s, &st, WNOHANG) == s) {
            /* it ended by itself: refused (the dead one's lease) or done */
            assert_true(WIFEXITED(st));
            if (WEXITSTATUS(st) == 0) break;
            busy++;
            sleep_s(0.2);
            continue;
        }
        kill(s, SIGKILL);
        assert_int_equal(waitpid(s, &st, 0), s);
        kills++;
        ensure_workers(f.url, workers, wav, out);
        if (now_s() - t0 > 120) fail_msg("10 kills took more than 120 s");
    }
    /* to the end: retried while the last one's lease holds */
    int code = -1;
    for (int tries = 0; tries < 100 && code != 0; tries++) {
        pid_t s = spawn(sav, out);
        int st;
        assert_int_equal(waitpid(s, &st, 0), s);
        code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (code != 0) sleep_s(0.3);
    }
    assert_int_equal(code, 0);
    for (int w = 0; w < 2; w++) {
        int st;
        if (!workers[w]) continue;
        assert_int_equal(waitpid(workers[w], &st, 0), workers[w]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    print_message("killed the explorer %d times (%d restarts refused while its lease "
                  "held): %.1f s\n", kills, busy, now_s() - t0);
    assert_int_equal(kills, 10);
    assert_int_equal(check_ended(f.url, "k9", 40), 40);
    assert_int_equal(scored_once(&f), 40);
    tg_tracker *t;
    tg_study st;
    assert_int_equal(tg_tracker_open(f.url, &t, NULL), TG_OK);
    assert_int_equal(tg_study_get(t, "k9", &st, NULL), TG_OK);
    saved_state s = state_of(t, st.id);
    assert_int_equal(s.adam_t, s.told / 5);
    tg_tracker_close(t);
    tu_rmtree(f.dir);
}

/* ---- a space too small for its budget -------------------------------------- */

static void test_duplicates_and_cap(void **state) {
    (void)state;
    fx f;
    fx_init(&f, "d", 0);
    tg_search_config c;
    /* one layer of 8 filters, 1x1, stride 1: 2 activations x 2 norms */
    fx_config(&f, &c, "tiny", "layerwise:1:filters=8:kernels=1:strides=1", "random", 10, 2);
    tg_search_progress p;
    tg_error err;
    if (tg_search_run(&c, &p, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(p.complete, 4);
    assert_int_equal(p.proposals, 20 * 10 + 100);
    assert_non_null(strstr(f.lines, "stopped proposing: 300 proposals"));
    assert_int_equal(check_ended(f.url, "tiny", 4), 4);
    assert_int_equal(scored_once(&f), 4);
    tu_rmtree(f.dir);
}

/* ---- local workers -------------------------------------------------------- */

static volatile sig_atomic_t g_stop;

static void stop_when_alone(void *user, const char *line) {
    on_log(user, line);
    if (strstr(line, "continuing without it")) g_stop = 1;
}

static void test_workers_restarted(void **state) {
    (void)state;
    fx f;
    fx_init(&f, "r", 0);
    tg_search_config c;
    fx_config(&f, &c, "rs", "layerwise:3", "random", 3, 1);
    char *dying[] = {"/bin/sh", "-c", "exit 3", NULL};
    c.worker_argv = dying;
    c.log = stop_when_alone;
    g_stop = 0;
    c.stop = &g_stop;
    tg_search_progress p;
    tg_error err;
    if (tg_search_run(&c, &p, &err) != TG_OK) fail_msg("%s", err.msg);
    /* three restarts (3 x 1 worker), each logged with its status, then alone */
    for (int k = 1; k <= 3; k++) {
        char want[64];
        snprintf(want, sizeof want, "(restart %d of 3)", k);
        if (!strstr(f.lines, want)) fail_msg("no '%s' in:\n%s", want, f.lines);
    }
    assert_null(strstr(f.lines, "(restart 4 of 3)"));
    assert_non_null(strstr(f.lines, "exited with status 3 before the study was done"));
    assert_non_null(strstr(f.lines, "no restarts left (3 used): continuing without it"));
    assert_int_equal(p.workers, 0);
    assert_int_equal(p.complete, 0);
    /* stopped, not done: the one proposal `parallel` allows waits for workers */
    assert_int_equal(p.waiting, 1);
    assert_int_equal(p.proposals, 1);
    tu_rmtree(f.dir);
}

/* A search killed with SIGKILL takes its local workers along (their death
 * signal is SIGTERM): they give their trials back. */
static void test_workers_die_with_search(void **state) {
    (void)state;
    fx f;
    fx_init(&f, "w", 30);
    char out[600];
    snprintf(out, sizeof out, "%s/search.out", f.dir);
    char *sav[] = {(char *)bin(), "search", "--db", f.url, "--study", "wd",
                   "--space", "layerwise:4", "--algo", "random", "--trials", "10",
                   "--workers", "2", "--objective-cmd", f.obj, NULL};
    pid_t s = spawn(sav, out);
    double t0 = now_s();
    tg_study_counts n = {0};
    for (;;) {
        sleep_s(0.1);
        tg_tracker *t;
        tg_study st;
        assert_int_equal(tg_tracker_open(f.url, &t, NULL), TG_OK);
        int ok = tg_study_get(t, "wd", &st, NULL) == TG_OK &&
                 tg_study_counts_get(t, st.id, &n, NULL) == TG_OK;
        tg_tracker_close(t);
        if (ok && n.running == 2) break;
        if (now_s() - t0 > 30) fail_msg("the workers did not claim in 30 s");
    }
    kill(s, SIGKILL);
    int status;
    assert_int_equal(waitpid(s, &status, 0), s);
    t0 = now_s();
    for (;;) {
        sleep_s(0.1);
        tg_tracker *t;
        tg_study st;
        assert_int_equal(tg_tracker_open(f.url, &t, NULL), TG_OK);
        assert_int_equal(tg_study_get(t, "wd", &st, NULL), TG_OK);
        assert_int_equal(tg_study_counts_get(t, st.id, &n, NULL), TG_OK);
        tg_tracker_close(t);
        if (n.running == 0) break;
        if (now_s() - t0 > 10) fail_msg("the workers still run 10 s after the search died");
    }
    print_message("the workers gave their trials back %.2f s after the search died\n",
                  now_s() - t0);
    assert_int_equal(n.waiting, 2);
    assert_int_equal(n.complete, 0);
    assert_int_equal(scored_once(&f), 0);
    tu_rmtree(f.dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_resume_extend),
        cmocka_unit_test(test_second_explorer_busy),
        cmocka_unit_test(test_duplicates_and_cap),
        cmocka_unit_test(test_workers_restarted),
        cmocka_unit_test(test_workers_die_with_search),
        cmocka_unit_test(test_kill9_explorer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
