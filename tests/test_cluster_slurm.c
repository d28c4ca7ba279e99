/* test_cluster_slurm.c - a study on the test PostgreSQL server whose
 * workers are a real Slurm job array (scripts/slurm/tgsage-workers.sbatch on
 * the single-node cluster of scripts/testenv/slurm.sh, CTest fixtures pg and
 * slurm).
 *
 * `tgsage search --workers 0` runs as a child process, the explorer alone;
 * four array tasks are the workers. The objective is a small sh script that
 * scores a genome by its length in bytes and logs each call with its array
 * task. Checked: every trial complete with that exact score and one attempt,
 * each objective run once, the trials' host:pid found in the logs of >= 2
 * array tasks (each task's pid the one its batch script printed: the
 * script's exec), every task COMPLETED with exit code 0, the search's exit
 * code 0. Then scancel of one array task while it holds a trial (a 2 s
 * objective): the trial is given back at once (long before its 60 s lease
 * ends), with the study's max_attempts at 1 it is not failed, another task
 * finishes it, and the cancelled worker's log says it gave one back.
 *
 * Every wait polls with a deadline; the teardown cancels the job and stops
 * the search whatever happened. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/tracker.h"

extern char **environ;

typedef struct {
    char dir[256];        /* scratch: scripts, logs */
    char job[32];         /* the array's job id, "" before sbatch */
    pid_t search;         /* the search child, 0 when reaped */
    int search_status;
} ctx;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Apply the env file slurm.sh wrote ("export K=V" lines) after dropping
 * any SLURM_* / SBATCH_* / SQUEUE_* of a Slurm job the suite may itself run
 * in, so that sbatch and squeue talk to the test cluster only. */
static void slurm_env(void) {
    const char *f = getenv("TG_TEST_SLURM");
    FILE *fp = f ? fopen(f, "r") : NULL;
    if (!fp) fail_msg("no test Slurm cluster: $TG_TEST_SLURM (%s) unreadable; the CTest "
                      "fixture slurm (scripts/testenv/slurm.sh start) starts one",
                      f ? f : "unset");
    static const char *drop[] = {"SLURM_", "SBATCH_", "SQUEUE_", "SCANCEL_", "SINFO_"};
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e && !again; e++)
            for (size_t k = 0; k < sizeof drop / sizeof drop[0]; k++)
                if (!strncmp(*e, drop[k], strlen(drop[k]))) {
                    char name[256];
                    snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
                    unsetenv(name);
                    again = 1;   /* environ changed under us: start over */
                    break;
                }
    }
    char line[4096];
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "export ", 7)) continue;
        char *kv = line + 7, *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = '\0';
        setenv(kv, eq + 1, 1);
    }
    fclose(fp);
    if (!getenv("SLURM_CONF")) fail_msg("%s sets no SLURM_CONF", f);
}

/* Run argv to its end, stdout and stderr into out; its exit code (-1 when a
 * signal ended it). */
static int run(char *const argv[], char *out, size_t n) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    for (;;) {
        char buf[4096];
        ssize_t r = read(fd[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t keep = (size_t)r < n - 1 - got ? (size_t)r : n - 1 - got;
        memcpy(out + got, buf, keep);
        got += keep;
    }
    out[got] = '\0';
    close(fd[0]);
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t r; (r = fread(s + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
    }
    s[n] = '\0';
    fclose(f);
    return s;
}

static int count_lines_with(const char *text, const char *needle) {
    int k = 0;
    for (const char *l = text; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        for (const char *h = l; (h = strstr(h, needle)) && h < l + len; h++) {
            k++;
            break;
        }
        l = end ? end + 1 : NULL;
    }
    return k;
}

/* ---- the search child and the array job ------------------------------------ */

static void start_search(ctx *c, const char *url, const char *study, const char *objective,
                         const char *trials, const char *extra) {
    char log[512];
    snprintf(log, sizeof log, "%s/search-%s.log", c->dir, study);
    const char *bin = getenv("TG_BIN");
    if (!bin) fail_msg("TG_BIN is not set");
    char *argv[32];
    int k = 0;
    argv[k++] = (char *)bin;
    argv[k++] = "search";
    argv[k++] = "--db";           argv[k++] = (char *)url;
    argv[k++] = "--study";        argv[k++] = (char *)study;
    argv[k++] = "--space";        argv[k++] = "layerwise:4";
    argv[k++] = "--algo";         argv[k++] = "random";
    argv[k++] = "--seed";         argv[k++] = "7";
    argv[k++] = "--objective-cmd"; argv[k++] = (char *)objective;
    argv[k++] = "--trials";       argv[k++] = (char *)trials;
    argv[k++] = "--workers";      argv[k++] = "0";
    argv[k++] = "--parallel";     argv[k++] = "4";
    if (extra) { argv[k++] = "--max-attempts"; argv[k++] = (char *)extra; }
    argv[k] = NULL;
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        execv(bin, argv);
        _exit(127);
    }
    c->search = p;
    /* the workers are submitted next: a task that starts before the study
     * exists exits at once (no study to work on), so wait for the explorer
     * to have created it */
    const double t0 = now_s();
    for (;;) {
        tg_tracker *t;
        tg_study s;
        tg_error err;
        int found = 0;
        if (tg_tracker_open(url, &t, &err) == TG_OK) {
            found = tg_study_get(t, study, &s, &err) == TG_OK;
            tg_tracker_close(t);
        }
        if (found) break;
        if (now_s() - t0 > 30) fail_msg("the search did not create study %s within 30 s", study);
        nap(0.05);
    }
}

/* 1 while the search runs; once it has exited, its status is kept. */
static int search_running(ctx *c) {
    if (!c->search) return 0;
    int st;
    pid_t r = waitpid(c->search, &st, WNOHANG);
    if (r == 0) return 1;
    c->search_status = r == c->search && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    c->search = 0;
    return 0;
}

static void submit(ctx *c, const char *url, const char *study, const char *objective,
                   const char *array) {
    char sbatch[4200], arr[64], out[4400], chdir_opt[300], log[300];
    const char *src = getenv("TG_SOURCE");
    if (!src) fail_msg("TG_SOURCE is not set");
    snprintf(sbatch, sizeof sbatch, "%s/scripts/slurm/tgsage-workers.sbatch", src);
    snprintf(arr, sizeof arr, "--array=%s", array);
    snprintf(chdir_opt, sizeof chdir_opt, "--chdir=%s", c->dir);
    snprintf(log, sizeof log, "--output=%s/w_%%A_%%a.out", c->dir);
    /* the script runs $TGSAGE; sbatch passes the environment on */
    setenv("TGSAGE", getenv("TG_BIN"), 1);
    char *argv[] = {"sbatch", "--parsable", arr, "--cpus-per-task=1", "--time=10",
                    "--job-name=tg-test-workers", chdir_opt, log, sbatch, (char *)url,
                    (char *)study, "--objective-cmd", (char *)objective, NULL};
    int rc = run(argv, out, sizeof out);
    if (rc != 0) fail_msg("sbatch exited %d: %s", rc, out);
    size_t n = strspn(out, "0123456789");
    if (n == 0 || n >= sizeof c->job) fail_msg("sbatch --parsable printed '%s'", out);
    memcpy(c->job, out, n);
    c->job[n] = '\0';
}

/* 1 while squeue still lists a task of the job. */
static int job_listed(const char *job) {
    char out[8192];
    char *argv[] = {"squeue", "-h", "-o", "%i %t", "-j", (char *)job, NULL};
    int rc = run(argv, out, sizeof out);
    return rc == 0 && out[strspn(out, " \n")] != '\0';
}

static void wait_job_gone(const char *job, double limit_s) {
    double t0 = now_s();
    while (job_listed(job)) {
        if (now_s() - t0 > limit_s) fail_msg("job %s still in squeue after %.0f s", job, limit_s);
        nap(0.2);
    }
}

/* The state and exit code of array task `task` in `scontrol -o show job`. */
static void task_state(const char *job, int task, char *state, char *exitcode, size_t n) {
    char out[65536];
    char *argv[] = {"scontrol", "-o", "show", "job", (char *)job, NULL};
    if (run(argv, out, sizeof out) != 0) fail_msg("scontrol show job %s: %s", job, out);
    char want[48];
    snprintf(want, sizeof want, " ArrayTaskId=%d ", task);
    for (char *l = out; l && *l;) {
        char *end = strchr(l, '\n');
        if (end) *end = '\0';
        if (strstr(l, want)) {
            const char *s = strstr(l, " JobState="), *e = strstr(l, " ExitCode=");
            if (!s || !e) fail_msg("scontrol line without JobState/ExitCode: %s", l);
            snprintf(state, n, "%.*s", (int)strcspn(s + 10, " "), s + 10);
            snprintf(exitcode, n, "%.*s", (int)strcspn(e + 10, " "), e + 10);
            return;
        }
        l = end ? end + 1 : NULL;
    }
    fail_msg("task %d of job %s not in scontrol's output:\n%s", task, job, out);
}

/* The job's worker logs, per array task (NULL where missing). */
static void task_logs(const ctx *c, int ntasks, char **logs) {
    for (int t = 0; t < ntasks; t++) {
        char path[400];
        snprintf(path, sizeof path, "%s/w_%s_%d.out", c->dir, c->job, t);
        logs[t] = read_text(path);
    }
}

/* The array task whose log holds the worker host:pid (its lines' prefix),
 * -1 if none. */
static int task_of(char **logs, int ntasks, const char *host, int pid) {
    char needle[128];
    snprintf(needle, sizeof needle, "%s:%d ", host, pid);
    for (int t = 0; t < ntasks; t++)
        if (logs[t] && strstr(logs[t], needle)) return t;
    return -1;
}

/* Each task's header line (the batch script's, before its exec) names the
 * PID the worker then has. */
static void check_headers(const ctx *c, char **logs, int ntasks) {
    for (int t = 0; t < ntasks; t++) {
        if (!logs[t]) fail_msg("no log for task %d of job %s in %s", t, c->job, c->dir);
        char head[96];
        snprintf(head, sizeof head, "tgsage-workers: job %s task %d pid ", c->job, t);
        const char *h = strstr(logs[t], head);
        if (!h) fail_msg("task %d's log lacks '%s':\n%s", t, head, logs[t]);
        int pid = atoi(h + strlen(head));
        char prefix[96];
        /* the worker's own lines: "HOST:PID ..." with the same PID */
        snprintf(prefix, sizeof prefix, ":%d ", pid);
        if (!strstr(logs[t], prefix))
            fail_msg("task %d: the worker's lines do not carry the script's pid %d (no exec?):\n%s",
                     t, pid, logs[t]);
    }
}

static tg_trial *trials_of(const char *url, const char *study, int64_t *n) {
    tg_tracker *t = NULL;
    tg_error err;
    if (tg_tracker_open(url, &t, &err) != TG_OK) fail_msg("open: %s", err.msg);
    tg_study s;
    if (tg_study_get(t, study, &s, &err) != TG_OK) {
        tg_tracker_close(t);
        *n = 0;
        return NULL;   /* not created yet */
    }
    tg_trial *tr = NULL;
    if (tg_trial_list(t, s.id, &tr, n, &err) != TG_OK) fail_msg("trials: %s", err.msg);
    tg_tracker_close(t);
    return tr;
}

/* The objective: the genome's length in bytes is its score; each call is
 * logged with its array task ("start T" before, "end T" after the sleep). */
static void write_objective(const ctx *c, char *cmd, size_t n, const char *sleep_s) {
    char path[400], text[1024];
    snprintf(path, sizeof path, "%s/objective.sh", c->dir);
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "# the genome JSON on stdin; its length in bytes is the score. TERM is\n"
             "# ignored (so is it by sleep): scancel signals every process of the\n"
             "# step, and a sleep killed before the worker sees its own TERM would\n"
             "# let this script print a score that the worker reports\n"
             "trap '' TERM\n"
             "n=$(wc -c | tr -d ' ')\n"
             "echo \"start ${SLURM_ARRAY_TASK_ID:-none}\" >> %s/calls\n"
             "sleep \"$1\"\n"
             "echo \"end ${SLURM_ARRAY_TASK_ID:-none}\" >> %s/calls\n"
             "echo \"$n\"\n",
             c->dir, c->dir);
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    snprintf(cmd, n, "sh %s %s", path, sleep_s);
}

/* Wait for the search to end and the array to drain. */
static void wait_search(ctx *c, const char *study, double limit_s) {
    double t0 = now_s();
    while (search_running(c)) {
        if (now_s() - t0 > limit_s) {
            char path[400];
            snprintf(path, sizeof path, "%s/search-%s.log", c->dir, study);
            char *log = read_text(path);
            fail_msg("the search still runs after %.0f s; its log:\n%s", limit_s,
                     log ? log : "(none)");
        }
        nap(0.2);
    }
    wait_job_gone(c->job, 20);
}

/* ---- the tests ------------------------------------------------------------- */

static int setup(void **state) {
    ctx *c = calloc(1, sizeof *c);
    if (!c) return -1;
    snprintf(c->dir, sizeof c->dir, "%s", tu_tmpdir());
    *state = c;
    return 0;
}

/* Whatever happened: no job of ours left queued or running, no search. */
static int teardown(void **state) {
    ctx *c = *state;
    if (c->job[0] && job_listed(c->job)) {
        char out[4096];
        char *argv[] = {"scancel", c->job, NULL};
        run(argv, out, sizeof out);
        for (double t0 = now_s(); job_listed(c->job) && now_s() - t0 < 20;) nap(0.2);
    }
    if (c->search) {
        kill(c->search, SIGTERM);
        for (double t0 = now_s(); search_running(c) && now_s() - t0 < 10;) nap(0.1);
        if (c->search) {
            kill(c->search, SIGKILL);
            waitpid(c->search, NULL, 0);
        }
    }
    tu_rmtree(c->dir);
    free(c);
    return 0;
}

static void test_array_runs_the_study(void **state) {
    ctx *c = *state;
    slurm_env();
    const char *url = td_pg_url("tg_slurm_array");
    char cmd[600];
    write_objective(c, cmd, sizeof cmd, "0");
    double t0 = now_s();
    start_search(c, url, "arr", cmd, "12", NULL);
    submit(c, url, "arr", cmd, "0-3");
    wait_search(c, "arr", 60);
    print_message("12 trials by a 4-task array: %.1f s\n", now_s() - t0);
    assert_int_equal(c->search_status, 0);

    int64_t n;
    tg_trial *tr = trials_of(url, "arr", &n);
    enum { NT = 4 };
    char *logs[NT];
    task_logs(c, NT, logs);
    check_headers(c, logs, NT);
    assert_int_equal(n, 12);
    int used[NT] = {0}, pids[12], npids = 0;
    for (int64_t i = 0; i < n; i++) {
        if (tr[i].state != TG_TRIAL_COMPLETE)
            fail_msg("trial %lld is %s (%s)", (long long)tr[i].number,
                     tg_trial_state_name(tr[i].state), tr[i].error ? tr[i].error : "");
        assert_int_equal(tr[i].attempt, 1);
        assert_true(tr[i].score == (double)strlen(tr[i].genome));
        int t = task_of(logs, NT, tr[i].host, tr[i].pid);
        if (t < 0) fail_msg("trial %lld's worker %s:%d is in no array task's log",
                            (long long)tr[i].number, tr[i].host, tr[i].pid);
        used[t]++;
        int seen = 0;
        for (int k = 0; k < npids; k++) seen |= pids[k] == tr[i].pid;
        if (!seen) pids[npids++] = tr[i].pid;
    }
    int ntasks = 0;
    for (int t = 0; t < NT; t++) ntasks += used[t] > 0;
    print_message("trials per array task: %d %d %d %d\n", used[0], used[1], used[2], used[3]);
    assert_true(ntasks >= 2);
    assert_int_equal(npids, ntasks);   /* one worker process per task */

    /* each objective ran exactly once, in an array task */
    char path[400];
    snprintf(path, sizeof path, "%s/calls", c->dir);
    char *calls = read_text(path);
    assert_non_null(calls);
    assert_int_equal(count_lines_with(calls, "start "), 12);
    assert_int_equal(count_lines_with(calls, "end "), 12);
    assert_int_equal(count_lines_with(calls, "none"), 0);

    for (int t = 0; t < NT; t++) {
        char st[64], ec[64];
        task_state(c->job, t, st, ec, sizeof st);
        if (strcmp(st, "COMPLETED") || strcmp(ec, "0:0"))
            fail_msg("task %d: %s, exit code %s; its log:\n%s", t, st, ec, logs[t]);
        free(logs[t]);
    }
    free(calls);
    tg_trials_free(tr, n);

    /* what a user monitoring the study sees */
    char *argv[] = {(char *)getenv("TG_BIN"), "status", "--db", (char *)url, "--study", "arr",
                    "--json", NULL};
    char out[8192];
    assert_int_equal(run(argv, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    if (!j) fail_msg("tgsage status --json printed %s", out);
    const char *keys[] = {"complete", "failed", "running", "waiting"};
    const double want[] = {12, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        if (!cJSON_IsNumber(v) || v->valuedouble != want[k])
            fail_msg("tgsage status: %s is not %g: %s", keys[k], want[k], out);
    }
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "done")));
    cJSON_Delete(j);
}

static void test_scancel_gives_the_trial_back(void **state) {
    ctx *c = *state;
    slurm_env();
    const char *url = td_pg_url("tg_slurm_cancel");
    char cmd[600];
    write_objective(c, cmd, sizeof cmd, "2");
    start_search(c, url, "cancel", cmd, "8", "1");
    submit(c, url, "cancel", cmd, "0-3");

    /* a running trial, held by a worker of this array */
    int64_t victim = -1;
    int vpid = 0, vtask = -1;
    char vowner[96] = "";
    for (double t0 = now_s(); victim < 0; nap(0.05)) {
        if (now_s() - t0 > 30) fail_msg("no trial was running within 30 s");
        if (!search_running(c)) fail_msg("the search ended (%d) before a trial ran", c->search_status);
        int64_t n;
        tg_trial *tr = trials_of(url, "cancel", &n);
        for (int64_t i = 0; i < n && victim < 0; i++) {
            if (tr[i].state != TG_TRIAL_RUNNING) continue;
            /* its worker's Slurm identity, from the process itself */
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/environ", tr[i].pid);
            FILE *f = fopen(path, "rb");
            if (!f) continue;
            char env[65536];
            size_t m = fread(env, 1, sizeof env - 1, f);
            fclose(f);
            env[m] = '\0';
            const char *job = NULL, *task = NULL;
            for (size_t o = 0; o < m; o += strlen(env + o) + 1) {
                if (!strncmp(env + o, "SLURM_ARRAY_JOB_ID=", 19)) job = env + o + 19;
                if (!strncmp(env + o, "SLURM_ARRAY_TASK_ID=", 20)) task = env + o + 20;
            }
            if (!job || !task || strcmp(job, c->job)) continue;
            victim = tr[i].number;
            vpid = tr[i].pid;
            vtask = atoi(task);
            snprintf(vowner, sizeof vowner, "%s", tr[i].owner);
        }
        tg_trials_free(tr, n);
    }
    char target[64], out[4096];
    snprintf(target, sizeof target, "%s_%d", c->job, vtask);
    char *argv[] = {"scancel", target, NULL};
    double tc = now_s();
    if (run(argv, out, sizeof out) != 0) fail_msg("scancel %s: %s", target, out);

    /* given back at once: waiting again, or already someone else's, never
     * failed (max_attempts is 1), long before the 60 s lease would end */
    double back_s = -1;
    while (back_s < 0) {
        if (now_s() - tc > 10) {
            char path[400];
            snprintf(path, sizeof path, "%s/w_%s_%d.out", c->dir, c->job, vtask);
            char *log = read_text(path);
            fail_msg("trial %lld still held by %s 10 s after scancel; the task's log:\n%s",
                     (long long)victim, vowner, log ? log : "(none)");
        }
        int64_t n;
        tg_trial *tr = trials_of(url, "cancel", &n);
        assert_true(victim < n);
        const tg_trial *v = &tr[victim];
        char why[600] = "";
        int failed = v->state == TG_TRIAL_FAILED;
        if (failed) snprintf(why, sizeof why, "%s", v->error ? v->error : "");
        if (v->state == TG_TRIAL_WAITING || strcmp(v->owner, vowner)) back_s = now_s() - tc;
        tg_trials_free(tr, n);
        if (failed) fail_msg("trial %lld failed after scancel: %s", (long long)victim, why);
        if (back_s < 0) nap(0.05);
    }
    print_message("trial %lld (task %d, pid %d) back %.2f s after scancel\n", (long long)victim,
                  vtask, vpid, back_s);
    for (double t0 = now_s(); kill(vpid, 0) == 0; nap(0.05))
        if (now_s() - t0 > 10) fail_msg("the cancelled worker %d still runs after 10 s", vpid);

    wait_search(c, "cancel", 60);
    assert_int_equal(c->search_status, 0);

    int64_t n;
    tg_trial *tr = trials_of(url, "cancel", &n);
    enum { NT = 4 };
    char *logs[NT];
    task_logs(c, NT, logs);
    check_headers(c, logs, NT);
    assert_int_equal(n, 8);
    for (int64_t i = 0; i < n; i++) {
        if (tr[i].state != TG_TRIAL_COMPLETE)
            fail_msg("trial %lld is %s (%s)", (long long)tr[i].number,
                     tg_trial_state_name(tr[i].state), tr[i].error ? tr[i].error : "");
        assert_int_equal(tr[i].attempt, 1);   /* the give-back took its claim back */
        assert_true(tr[i].score == (double)strlen(tr[i].genome));
    }
    const tg_trial *v = &tr[victim];
    assert_int_equal(v->number, victim);
    int by = task_of(logs, NT, v->host, v->pid);
    if (by < 0 || by == vtask || v->pid == vpid)
        fail_msg("trial %lld was finished by %s:%d (task %d), the cancelled task was %d",
                 (long long)victim, v->host, v->pid, by, vtask);
    if (!strstr(logs[vtask], " 1 given back"))
        fail_msg("the cancelled task's log does not say it gave a trial back:\n%s", logs[vtask]);

    /* 8 objective runs finished, and one more started: the interrupted one.
     * Whether that one's script got to its "end" line depends on whether the
     * shell itself died of the signal or only its sleep did (both seen); its
     * score was not taken either way (the trial went back, above). */
    char path[400];
    snprintf(path, sizeof path, "%s/calls", c->dir);
    char *calls = read_text(path);
    assert_non_null(calls);
    assert_int_equal(count_lines_with(calls, "start "), 9);
    int ends = count_lines_with(calls, "end ");
    if (ends != 8 && ends != 9) fail_msg("%d objective runs ended, want 8 (or 9)", ends);

    for (int t = 0; t < NT; t++) {
        char st[64], ec[64];
        task_state(c->job, t, st, ec, sizeof st);
        const char *want = t == vtask ? "CANCELLED" : "COMPLETED";
        if (strcmp(st, want) || (t != vtask && strcmp(ec, "0:0")))
            fail_msg("task %d: %s, exit code %s (want %s); its log:\n%s", t, st, ec, want,
                     logs[t]);
        free(logs[t]);
    }
    free(calls);
    tg_trials_free(tr, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_array_runs_the_study, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scancel_gives_the_trial_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
