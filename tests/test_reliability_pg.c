/* test_reliability_pg.c - the reliability list of docs/reliability.md on
 * the real PostgreSQL server (the CTest fixture pg), through the real
 * binaries: `tgsage worker` and `tgsage search` run as child processes with
 * sh objective commands written by the test, so nothing trains.
 *
 *   - kill -9 of a worker at a random moment of its trial, 20 times: no
 *     trial lost, none completed twice, each attempt the number of claims
 *     it took, and the time from the kill to the trial being claimed again;
 *   - SIGSTOP of a worker past its lease, SIGCONT: its late result is
 *     refused every time, the other worker's stands;
 *   - kill -9 of the explorer (`search --workers 0`, --algo rl) 10 times and
 *     restart: no proposal twice, no result lost, RL's update count exact;
 *   - pg_terminate_backend of every connection of the database (workers'
 *     and explorer's: mid-claim, mid-report, idle) every 50-150 ms while a
 *     search with 3 workers runs: it ends with exit 0, every trial complete
 *     once and nothing running, waiting or failed.
 *
 * Children write their stdout and stderr to files the test reads; every
 * wait has a deadline, after which the children are killed. */
#include <cjson/cJSON.h>
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

#include <libpq-fe.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/genome.h"
#include "tgsage/rng.h"
#include "tgsage/tracker.h"

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

static const char *bin(void) {
    const char *b = getenv("TG_BIN");
    return b ? b : "./tgsage";
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

static void read_text(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = '\0';
    fclose(f);
}

static int count_of(const char *text, const char *what) {
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

static void write_script(const char *path, const char *text) {
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
}

/* ---- child processes --------------------------------------------------------- */

/* argv[0] with the environment plus env ("K=V", NULL-terminated, may be
 * NULL), stdout and stderr appended to out. */
static pid_t spawn(char *const *argv, const char *const *env, const char *out) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Wait for pid up to limit_s (then SIGKILL and fail); its exit code, or
 * 128 + the signal. */
static int wait_exit(pid_t pid, double limit_s) {
    const double t0 = now_s();
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (now_s() - t0 > limit_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("process %d did not exit within %.0f s", (int)pid, limit_s);
        }
        sleep_s(0.01);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- studies made here --------------------------------------------------------- */

/* Genome i of a family of distinct genomes (192 of them: one layer, or
 * the same layer followed by a fixed second one). */
static void genome_of(int i, char **json, char hash[33]) {
    static const int F[] = {32, 64, 128}, K[] = {1, 3, 5, 7};
    const int j = i % 96;
    char text[768];
    snprintf(text, sizeof text,
             "{\"schema\": 1, \"space\": \"layerwise\", \"max_layers\": 4, \"layers\": "
             "[{\"filters\": %d, \"kh\": %d, \"kw\": %d, \"stride\": %d, \"act\": \"relu\", "
             "\"norm\": \"bn\", \"inputs\": [-1]}%s]}",
             F[j % 3], K[(j / 3) % 4], K[(j / 12) % 4], 1 + (j / 48) % 2,
             i < 96 ? "" : ", {\"filters\": 32, \"kh\": 3, \"kw\": 3, \"stride\": 1, "
                           "\"act\": \"relu\", \"norm\": \"bn\", \"inputs\": [-1]}");
    tg_error err;
    tg_genome *g = tg_genome_parse(text, NULL, &err);
    if (!g) fail_msg("%s", err.msg);
    *json = tg_genome_json(g);
    tg_genome_hash(g, hash);
    tg_genome_free(g);
}

/* An objective study `name` with n waiting trials (genomes 0..n-1) and no
 * explorer but the test's own lease; its id. */
static int64_t new_study(tg_tracker *t, const char *name, int n, double lease_s,
                         int max_attempts) {
    tg_study_config cfg;
    tg_study_config_defaults(&cfg);
    snprintf(cfg.space, sizeof cfg.space, "layerwise:4");
    snprintf(cfg.algo, sizeof cfg.algo, "random");
    snprintf(cfg.score, sizeof cfg.score, "objective");
    cfg.trials = n;
    cfg.parallel = n;
    cfg.seed = 7;
    cfg.lease_s = lease_s;
    cfg.max_attempts = max_attempts;
    tg_study s;
    int created = 0;
    tg_error err;
    if (tg_study_open(t, name, &cfg, NULL, 0, &s, &created, &err) != TG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(created, 1);
    assert_int_equal(tg_study_lock(t, s.id, "test-explorer", 600, &err), TG_OK);
    tg_proposal *p = calloc((size_t)n, sizeof *p);
    char **json = calloc((size_t)n, sizeof *json);
    char (*hash)[33] = calloc((size_t)n, 33);
    int64_t *num = calloc((size_t)n, sizeof *num);
    assert_true(p && json && hash && num);
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

static tg_tracker *open_url(const char *url) {
    tg_tracker *t;
    tg_error err;
    if (tg_tracker_open(url, &t, &err) != TG_OK) fail_msg("%s", err.msg);
    return t;
}

static tg_trial *trials_of(tg_tracker *t, int64_t study, int64_t *n) {
    tg_trial *tr;
    tg_error err;
    if (tg_trial_list(t, study, &tr, n, &err) != TG_OK) fail_msg("%s", err.msg);
    return tr;
}

static void trial_now(tg_tracker *t, int64_t study, int64_t number, tg_trial_state *state,
                      int *attempt) {
    int64_t n;
    tg_trial *tr = trials_of(t, study, &n);
    assert_true(number < n);
    *state = tr[number].state;
    *attempt = tr[number].attempt;
    tg_trials_free(tr, n);
}

/* Per trial (n of them), how often the worker logs in text say "trial N" +
 * what (" complete", ": lease lost", ...). */
static void count_lines(const char *text, const char *what, int *per, int n) {
    for (const char *p = strstr(text, "trial "); p; p = strstr(p + 1, "trial ")) {
        char *end;
        long k = strtol(p + 6, &end, 10);
        if (end == p + 6 || k < 0 || k >= n) continue;
        if (!strncmp(end, what, strlen(what))) per[k]++;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- kill -9 of a worker ---------------------------------------------------------- */

/* One study of T trials; worker B works through it all along (0.2 s an
 * objective); worker A, the victim, is started, killed with -9 while its
 * objective runs (a 3 s sleep, at a random moment of its first 0.8 s) with
 * its orphaned command, and started again, 20 times. Each killed trial
 * must be claimed again once its lease (1 s) runs out. Once the rounds are
 * over the objective stops sleeping, the study is done, B drains it. */
static void test_kill9_worker(void **state) {
    (void)state;
    enum { T = 160, ROUNDS = 20 };
    const double lease = 1.0;
    const char *url = td_pg_url("tg_rel_kill9");
    char u[2300];
    snprintf(u, sizeof u, "%s", url);
    tg_tracker *t = open_url(u);
    const int64_t id = new_study(t, "k9w", T, lease, 10);
    char obj[512], text[2048], vlog[512], flog[512], fast[512], alog[512], blog[512];
    snprintf(obj, sizeof obj, "%s/obj.sh", dir);
    snprintf(vlog, sizeof vlog, "%s/victim.log", dir);
    snprintf(flog, sizeof flog, "%s/finished.log", dir);
    snprintf(fast, sizeof fast, "%s/fast", dir);
    snprintf(alog, sizeof alog, "%s/a.log", dir);
    snprintf(blog, sizeof blog, "%s/b.log", dir);
    /* the victim logs its trial and its process group as it starts; every
     * finished run logs its trial (after the sleep: a killed run never) */
    snprintf(text, sizeof text,
             "g=$(cat)\n"
             "if [ -n \"$VICTIM\" ]; then\n"
             "  echo \"$TG_TRIAL $(cut -d' ' -f5 /proc/$$/stat)\" >> '%s'\n"
             "  sleep 3\n"
             "elif [ ! -e '%s' ]; then\n"
             "  sleep 0.2\n"
             "fi\n"
             "echo \"$TG_TRIAL\" >> '%s'\n"
             "echo 1\n", vlog, fast, flog);
    write_script(obj, text);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sh %s", obj);
    char *wav[] = {(char *)bin(), "worker", "--db", u, "--study", "k9w", "--objective-cmd",
                   cmd, NULL};
    static const char *const victim_env[] = {"VICTIM=1", NULL};
    pid_t b = spawn(wav, NULL, blog);
    pid_t a = spawn(wav, victim_env, alog);
    int kills[T] = {0};
    double back[ROUNDS];
    tg_rng rng;
    tg_rng_seed(&rng, 2025);
    const double t_all = now_s();
    for (int k = 0; k < ROUNDS; k++) {
        /* the victim's objective has started: its line k */
        long trial = -1, pg = -1;
        for (double t0 = now_s();; sleep_s(0.005)) {
            static char vt[65536];
            read_text(vlog, vt, sizeof vt);
            if (count_of(vt, "\n") > k) {
                const char *line = vt;
                for (int j = 0; j < k; j++) line = strchr(line, '\n') + 1;
                assert_int_equal(sscanf(line, "%ld %ld", &trial, &pg), 2);
                break;
            }
            if (now_s() - t0 > 20) fail_msg("round %d: the victim never started a trial", k);
        }
        assert_true(trial >= 0 && trial < T && pg > 1);
        sleep_s(0.8 * tg_rng_uniform_d(&rng));
        tg_trial_state st;
        int attempt;
        trial_now(t, id, trial, &st, &attempt);
        assert_int_equal(st, TG_TRIAL_RUNNING);
        kill(a, SIGKILL);
        const double t_kill = now_s();
        kill(-(pid_t)pg, SIGKILL);   /* its orphaned command */
        assert_int_equal(wait_exit(a, 10), 128 + SIGKILL);
        kills[trial]++;
        if (k + 1 < ROUNDS) a = spawn(wav, victim_env, alog);
        /* claimed again: by B, or by the new victim */
        for (;;) {
            int now_attempt;
            trial_now(t, id, trial, &st, &now_attempt);
            if (now_attempt > attempt || st == TG_TRIAL_COMPLETE) break;
            if (now_s() - t_kill > lease + 10) fail_msg("trial %ld never claimed again", trial);
            sleep_s(0.005);
        }
        back[k] = now_s() - t_kill;
    }
    const double t_rounds = now_s() - t_all;
    /* drain: no more sleeping, the study is done, B finishes the rest */
    assert_int_equal(tu_write_file(fast, "", 0), 0);
    tg_error err;
    assert_int_equal(tg_study_set_done(t, id, 1, &err), TG_OK);
    assert_int_equal(wait_exit(b, 60), 0);

    qsort(back, ROUNDS, sizeof back[0], cmp_double);
    print_message("kill -9 of a worker, %d rounds in %.1f s (PostgreSQL, lease %.1f s): the "
                  "trial claimed again %.3f s after the kill (median), %.3f s at worst\n",
                  ROUNDS, t_rounds, lease, 0.5 * (back[ROUNDS / 2 - 1] + back[ROUNDS / 2]),
                  back[ROUNDS - 1]);
    /* the lease, plus B's trial in hand (0.2 s) and a claim */
    assert_true(back[ROUNDS - 1] < lease + 1.0);

    /* each trial complete once; its attempts are its claims: 1, plus one
     * per kill, plus one per lease B lost (a stall of this loaded machine
     * longer than the lease; logged) */
    static char logs[1 << 20];
    read_text(blog, logs, sizeof logs);
    int lost[T] = {0}, done_b[T] = {0}, fin[T] = {0};
    count_lines(logs, ": lease lost", lost, T);
    count_lines(logs, ": fenced", lost, T);
    count_lines(logs, " complete", done_b, T);
    static char ft[65536];
    read_text(flog, ft, sizeof ft);
    for (const char *p = ft; *p;) {
        long k = strtol(p, NULL, 10);
        assert_true(k >= 0 && k < T);
        fin[k]++;
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    int64_t n;
    tg_trial *tr = trials_of(t, id, &n);
    assert_int_equal(n, T);
    int nlost = 0, nkilled = 0;
    for (int i = 0; i < T; i++) {
        if (tr[i].state != TG_TRIAL_COMPLETE || tr[i].score != 1)
            fail_msg("trial %d: %s, score %g", i, tg_trial_state_name(tr[i].state), tr[i].score);
        if (tr[i].attempt != 1 + kills[i] + lost[i])
            fail_msg("trial %d: attempt %d, but %d kills and %d leases lost", i, tr[i].attempt,
                     kills[i], lost[i]);
        assert_int_equal(done_b[i], 1);   /* B completed every one (A never finished) */
        if (lost[i] == 0) assert_int_equal(fin[i], 1);   /* one finished objective run */
        nlost += lost[i];
        nkilled += kills[i] > 0;
    }
    tg_trials_free(tr, n);
    tg_study_counts c;
    assert_int_equal(tg_study_counts_get(t, id, &c, &err), TG_OK);
    assert_int_equal(c.complete, T);
    assert_int_equal(c.waiting + c.running + c.failed, 0);
    print_message("  %d trials complete once each, %d of them killed mid-run; %d leases lost "
                  "to stalls\n", T, nkilled, nlost);
    tg_tracker_close(t);
}

/* ---- SIGSTOP past the lease ------------------------------------------------------- */

static void wait_running(tg_tracker *t, int64_t study, int64_t number, int attempt) {
    for (double t0 = now_s(); now_s() - t0 < 20; sleep_s(0.005)) {
        tg_trial_state st;
        int a;
        trial_now(t, study, number, &st, &a);
        if (st == TG_TRIAL_RUNNING && a == attempt) return;
    }
    fail_msg("trial %lld never ran (attempt %d)", (long long)number, attempt);
}

/* Worker A is stopped while its objective (0.3 s) runs, past its lease
 * (0.5 s); worker B claims the trial once the lease has run out and
 * completes it; A, continued, finds its lease lost (at its heartbeat or at
 * its report) and writes nothing. Every round. */
static void test_sigstop_fenced(void **state) {
    (void)state;
    enum { ROUNDS = 6 };
    char u[2300];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_rel_stop"));
    tg_tracker *t = open_url(u);
    int at_report = 0;
    const double t0 = now_s();
    for (int k = 0; k < ROUNDS; k++) {
        char name[32], alog[512], blog[512], logtext[65536];
        snprintf(name, sizeof name, "stop%d", k);
        const int64_t id = new_study(t, name, 1, 0.5, 3);
        snprintf(alog, sizeof alog, "%s/a%d.log", dir, k);
        snprintf(blog, sizeof blog, "%s/b%d.log", dir, k);
        char *wav[] = {(char *)bin(), "worker", "--db", u, "--study", name, "--objective-cmd",
                       "sleep 0.3; echo $TAG", "--max-trials", "1", NULL};
        static const char *const env1[] = {"TAG=1", NULL}, *const env2[] = {"TAG=2", NULL};
        pid_t a = spawn(wav, env1, alog);
        wait_running(t, id, 0, 1);
        kill(a, SIGSTOP);
        pid_t b = spawn(wav, env2, blog);
        assert_int_equal(wait_exit(b, 30), 0);
        sleep_s(0.4);   /* the stopped worker's command is over by now */
        kill(a, SIGCONT);
        assert_int_equal(wait_exit(a, 30), 0);
        read_text(alog, logtext, sizeof logtext);
        int fenced = strstr(logtext, "trial 0: fenced: the lease was lost") != NULL;
        if (!fenced && !strstr(logtext, "trial 0: lease lost")) fail_msg("round %d:\n%s", k, logtext);
        if (!strstr(logtext, "0 complete, 0 failed, 1 fenced")) fail_msg("round %d:\n%s", k, logtext);
        at_report += fenced;
        read_text(blog, logtext, sizeof logtext);
        if (!strstr(logtext, "1 complete, 0 failed, 0 fenced")) fail_msg("round %d:\n%s", k, logtext);
        int64_t n;
        tg_trial *tr = trials_of(t, id, &n);
        assert_int_equal(n, 1);
        assert_int_equal(tr[0].state, TG_TRIAL_COMPLETE);
        assert_true(tr[0].score == 2);   /* B's */
        assert_int_equal(tr[0].attempt, 2);
        tg_trials_free(tr, n);
    }
    print_message("SIGSTOP past the lease, %d rounds in %.1f s (PostgreSQL): fenced %d/%d (%d "
                  "at the report, %d at a heartbeat)\n", ROUNDS, now_s() - t0, ROUNDS, ROUNDS,
                  at_report, ROUNDS - at_report);
    tg_tracker_close(t);
}

/* ---- kill -9 of the explorer -------------------------------------------------------- */

/* The objective of the explorer and connection tests: scores a genome by
 * its CRC / 2^32 after `sleep` seconds, and logs the trial number once it
 * has the score. */
static void cksum_objective(const char *path, const char *log, double sleep) {
    char text[1200];
    snprintf(text, sizeof text,
             "g=$(cat)\n"
             "c=$(printf %%s \"$g\" | cksum | cut -d' ' -f1)\n"
             "sleep %g\n"
             "echo \"$TG_TRIAL\" >> '%s'\n"
             "awk -v c=\"$c\" 'BEGIN { printf \"%%.9f\\n\", c / 4294967296 }'\n",
             sleep, log);
    write_script(path, text);
}

/* Trial numbers in the log: each must be there once; their count. */
static int logged_once(const char *log, int64_t n) {
    static char text[1 << 20];
    read_text(log, text, sizeof text);
    int *seen = calloc((size_t)n + 1, sizeof *seen);
    assert_non_null(seen);
    int lines = 0;
    for (const char *p = text; *p;) {
        char *end;
        long k = strtol(p, &end, 10);
        if (end == p || k < 0 || k >= n) fail_msg("objective log line %d: trial %ld", lines, k);
        if (seen[k]++) fail_msg("trial %ld scored twice", k);
        lines++;
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    free(seen);
    return lines;
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

/* A study that has ended: `want` trials complete, nothing else; proposals
 * 0..P-1 each told once, in the state too; distinct genomes. */
static void check_ended(tg_tracker *t, const char *name, int64_t want, saved_state *out) {
    tg_study st;
    tg_error err;
    assert_int_equal(tg_study_get(t, name, &st, &err), TG_OK);
    tg_study_counts n;
    assert_int_equal(tg_study_counts_get(t, st.id, &n, &err), TG_OK);
    if (n.complete != want || n.running || n.waiting || n.failed)
        fail_msg("study %s: %lld complete (want %lld), %lld running, %lld waiting, %lld failed",
                 name, (long long)n.complete, (long long)want, (long long)n.running,
                 (long long)n.waiting, (long long)n.failed);
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
    assert_int_equal(nt, want);
    for (int64_t i = 0; i < nt; i++) {
        assert_int_equal(tr[i].number, i);
        assert_int_equal(tr[i].state, TG_TRIAL_COMPLETE);
        assert_true(tr[i].score >= 0 && tr[i].score < 1);
        for (int64_t j = 0; j < i; j++) assert_string_not_equal(tr[i].hash, tr[j].hash);
    }
    tg_trials_free(tr, nt);
    if (out) *out = s;
}

static void test_kill9_explorer(void **state) {
    (void)state;
    char u[2300], obj[512], log[512], out[512], cmd[600];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_rel_explorer"));
    snprintf(obj, sizeof obj, "%s/obj.sh", dir);
    snprintf(log, sizeof log, "%s/scored.log", dir);
    snprintf(out, sizeof out, "%s/search.out", dir);
    /* 0.5 s a trial: 40 trials keep the two workers busy at least 10 s,
     * well past the ~5 s that ten kills take, so the study cannot end
     * before the tenth kill (at 0.05 s it once did, after nine) */
    cksum_objective(obj, log, 0.5);
    snprintf(cmd, sizeof cmd, "sh %s", obj);
    char *sav[] = {(char *)bin(), "search", "--db", u, "--study", "k9", "--space",
                   "layerwise:4", "--algo", "rl", "--trials", "40", "--workers", "0",
                   "--parallel", "3", "--lease", "1.5", "--seed", "3", "--objective-cmd", cmd,
                   NULL};
    char *wav[] = {(char *)bin(), "worker", "--db", u, "--study", "k9", "--objective-cmd", cmd,
                   "--quiet", NULL};
    pid_t workers[2] = {0, 0};
    tg_rng rng;
    tg_rng_seed(&rng, 777);
    int kills = 0, refused = 0;
    const double t0 = now_s();
    tg_tracker *t = open_url(u);
    while (kills < 10) {
        pid_t s = spawn(sav, NULL, out);
        sleep_s(0.15 + 0.6 * tg_rng_uniform_d(&rng));
        int st;
        if (waitpid(s, &st, WNOHANG) == s) {
            /* ended by itself: refused while a lease held, or done */
            assert_true(WIFEXITED(st));
            if (WEXITSTATUS(st) == 0) break;
            refused++;
            sleep_s(0.2);
            continue;
        }
        kill(s, SIGKILL);
        assert_int_equal(waitpid(s, &st, 0), s);
        kills++;
        /* the workers, once the study exists (the first search may have
         * died before it made it) */
        tg_study sd;
        if (!workers[0] && tg_study_get(t, "k9", &sd, NULL) == TG_OK)
            for (int w = 0; w < 2; w++) workers[w] = spawn(wav, NULL, out);
        if (now_s() - t0 > 120) fail_msg("10 kills took more than 120 s");
    }
    assert_true(workers[0] > 0);
    int code = -1;
    for (int tries = 0; tries < 100 && code != 0; tries++) {
        code = wait_exit(spawn(sav, NULL, out), 60);
        if (code != 0) sleep_s(0.3);
    }
    if (code != 0) {
        static char text[65536];
        read_text(out, text, sizeof text);
        fail_msg("the last search exited %d:\n%s", code, text);
    }
    for (int w = 0; w < 2; w++) assert_int_equal(wait_exit(workers[w], 30), 0);
    print_message("kill -9 of the explorer (rl) %d times on PostgreSQL (%d restarts refused "
                  "while its lease held): 40 trials in %.1f s\n", kills, refused, now_s() - t0);
    assert_int_equal(kills, 10);
    saved_state s;
    check_ended(t, "k9", 40, &s);
    assert_int_equal(logged_once(log, 40), 40);
    /* RL updates its controller once per 5 results told */
    assert_int_equal(s.adam_t, s.told / 5);
    print_message("  %lld proposals, all told; the controller's update count %lld = told / 5\n",
                  (long long)s.told, (long long)s.adam_t);
    tg_tracker_close(t);
}

/* ---- connections terminated -------------------------------------------------------- */

static long long side_kill(PGconn *c, int *claims, int *reports, int *in_tx) {
    PGresult *r = PQexec(c, "SELECT pg_terminate_backend(pid), state, query FROM "
                            "pg_stat_activity WHERE datname = current_database() AND "
                            "pid <> pg_backend_pid()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("terminate: %s", PQerrorMessage(c));
    long long k = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 0), "t") != 0) continue;
        k++;
        const char *st = PQgetvalue(r, i, 1), *q = PQgetvalue(r, i, 2);
        *in_tx += strstr(st, "in transaction") != NULL;
        if (!strcmp(st, "active") || strstr(st, "in transaction")) {
            *claims += strstr(q, "SET state = 'running'") != NULL;
            *reports += strstr(q, "SET state = $4") != NULL;
        }
    }
    PQclear(r);
    return k;
}

/* A search with 3 local workers, the objective quick; every 50-150 ms the
 * test terminates every other connection to the database. */
static void test_connections_killed(void **state) {
    (void)state;
    enum { TRIALS = 150 };
    char u[2300], obj[512], log[512], out[512], cmd[600];
    snprintf(u, sizeof u, "%s", td_pg_url("tg_rel_conn"));
    snprintf(obj, sizeof obj, "%s/obj.sh", dir);
    snprintf(log, sizeof log, "%s/scored.log", dir);
    snprintf(out, sizeof out, "%s/search.out", dir);
    cksum_objective(obj, log, 0);
    snprintf(cmd, sizeof cmd, "sh %s", obj);
    char trials[16];
    snprintf(trials, sizeof trials, "%d", TRIALS);
    char *sav[] = {(char *)bin(), "search", "--db", u, "--study", "ck", "--space",
                   "layerwise:4", "--algo", "random", "--trials", trials, "--workers", "3",
                   "--parallel", "6", "--lease", "2", "--seed", "11", "--objective-cmd", cmd,
                   NULL};
    PGconn *c = PQconnectdb(u);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("side connection: %s", PQerrorMessage(c));
    tg_rng rng;
    tg_rng_seed(&rng, 4242);
    const double t0 = now_s();
    pid_t s = spawn(sav, NULL, out);
    long long terminated = 0;
    int rounds = 0, claims = 0, reports = 0, in_tx = 0, status = 0;
    for (;;) {
        sleep_s(0.05 + 0.1 * tg_rng_uniform_d(&rng));
        if (waitpid(s, &status, WNOHANG) == s) break;
        if (now_s() - t0 > 90) {
            kill(s, SIGKILL);
            waitpid(s, &status, 0);
            PQfinish(c);
            fail_msg("the search did not end within 90 s");
        }
        terminated += side_kill(c, &claims, &reports, &in_tx);
        rounds++;
    }
    const double took = now_s() - t0;
    PQfinish(c);
    static char text[1 << 20];
    read_text(out, text, sizeof text);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0) fail_msg("search exited %d:\n%s", code, text);
    /* no worker died (a database error would end one after its retries) */
    if (strstr(text, "before the study was done")) fail_msg("a worker died:\n%s", text);
    if (strstr(text, "tgsage worker:")) fail_msg("a worker failed:\n%s", text);
    print_message("pg_terminate_backend every 50-150 ms: %lld backends terminated in %d rounds "
                  "(%d mid-claim, %d mid-report, %d inside a transaction); %d trials, 3 "
                  "workers, search exit 0 in %.1f s\n", terminated, rounds, claims, reports,
                  in_tx, TRIALS, took);
    assert_true(terminated >= 50);
    tg_tracker *t = open_url(u);
    check_ended(t, "ck", TRIALS, NULL);
    assert_int_equal(logged_once(log, TRIALS), TRIALS);
    tg_study sd;
    assert_int_equal(tg_study_get(t, "ck", &sd, NULL), TG_OK);
    int64_t n;
    tg_trial *tr = trials_of(t, sd.id, &n);
    int again = 0;
    for (int64_t i = 0; i < n; i++) again += tr[i].attempt > 1;
    tg_trials_free(tr, n);
    print_message("  every trial complete once, 0 running, waiting or failed; %d of %d took a "
                  "second claim (a claim's reply lost with its connection); %d heartbeats "
                  "retried\n", again, TRIALS, count_of(text, "heartbeat failed"));
    tg_tracker_close(t);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connections_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigstop_fenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_explorer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
