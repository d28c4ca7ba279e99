/* search_workers.c - the local worker processes a search starts: fork +
 * execv with PR_SET_PDEATHSIG, restarts of the ones that die, and a
 * bounded stop (see search_internal.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "search_internal.h"

static void say(const tg_search_pool *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const tg_search_pool *p, const char *fmt, ...) {
    if (!p->log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->log(p->user, line);
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Start slot i; 0 or -1 (errno set) when fork failed. */
static int spawn(tg_search_pool *p, int i) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);   /* the search died before prctl */
        execv(p->argv[0], p->argv);
        _exit(127);
    }
    p->pid[i] = pid;
    return 0;
}

tg_status tg_search_pool_start(tg_search_pool *p, int n, char *const *argv, tg_log_fn log,
                               void *user, tg_error *err) {
    memset(p, 0, sizeof *p);
    p->argv = argv, p->log = log, p->user = user;
    if (n <= 0) return TG_OK;
    if (!argv || !argv[0])
        return tg_error_set(err, TG_ERR_ARG, "search: %d local workers but no worker argv", n);
    p->pid = calloc((size_t)n, sizeof *p->pid);
    if (!p->pid) return tg_error_set(err, TG_ERR_NOMEM, "search: out of memory for workers");
    p->n = n;
    p->max_restarts = 3 * n;
    for (int i = 0; i < n; i++)
        if (spawn(p, i) != 0) {
            int e = errno;
            tg_search_pool_stop(p, 0, 5);
            tg_search_pool_free(p);
            return tg_error_set(err, TG_ERR_IO, "search: cannot start worker %d (%s): %s", i,
                                argv[0], strerror(e));
        }
    say(p, "started %d local worker%s (%s)", n, n == 1 ? "" : "s", argv[0]);
    return TG_OK;
}

static void describe(int status, char *buf, size_t n) {
    if (WIFEXITED(status)) snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else snprintf(buf, n, "stopped (status %d)", status);
}

void tg_search_pool_reap(tg_search_pool *p, int study_done) {
    for (int i = 0; i < p->n; i++) {
        if (p->pid[i] <= 0) continue;
        int status;
        pid_t r = waitpid(p->pid[i], &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) continue;
        pid_t was = p->pid[i];
        p->pid[i] = 0;
        if (study_done) continue;
        char why[128];
        if (r < 0) snprintf(why, sizeof why, "could not be waited for (%s)", strerror(errno));
        else describe(status, why, sizeof why);
        if (p->restarts >= p->max_restarts) {
            say(p, "worker %d (pid %d) %s before the study was done; no restarts left "
                "(%d used): continuing without it", i, (int)was, why, p->restarts);
            continue;
        }
        p->restarts++;
        if (spawn(p, i) != 0) {
            say(p, "worker %d (pid %d) %s before the study was done; starting it again "
                "failed (%s): continuing without it", i, (int)was, why, strerror(errno));
            continue;
        }
        say(p, "worker %d (pid %d) %s before the study was done; started it again as pid "
            "%d (restart %d of %d)", i, (int)was, why, (int)p->pid[i], p->restarts,
            p->max_restarts);
    }
}

int tg_search_pool_alive(const tg_search_pool *p) {
    int k = 0;
    for (int i = 0; i < p->n; i++) k += p->pid[i] > 0;
    return k;
}

/* Collect exited workers until none is left or the deadline passes. */
static void wait_until(tg_search_pool *p, double deadline) {
    for (;;) {
        for (int i = 0; i < p->n; i++) {
            if (p->pid[i] <= 0) continue;
            int status;
            pid_t r = waitpid(p->pid[i], &status, WNOHANG);
            if (r == p->pid[i] || (r < 0 && errno == ECHILD)) p->pid[i] = 0;
        }
        if (!tg_search_pool_alive(p) || mono() >= deadline) return;
        nap(0.02);
    }
}

static void signal_all(tg_search_pool *p, int sig) {
    for (int i = 0; i < p->n; i++)
        if (p->pid[i] > 0) kill(p->pid[i], sig);
}

void tg_search_pool_stop(tg_search_pool *p, double grace_s, double term_s) {
    if (!tg_search_pool_alive(p)) return;
    if (grace_s > 0) wait_until(p, mono() + grace_s);
    if (!tg_search_pool_alive(p)) return;
    signal_all(p, SIGTERM);
    wait_until(p, mono() + term_s);
    if (!tg_search_pool_alive(p)) return;
    say(p, "%d worker%s did not exit %.0f s after SIGTERM: SIGKILL",
        tg_search_pool_alive(p), tg_search_pool_alive(p) == 1 ? "" : "s", term_s);
    signal_all(p, SIGKILL);
    for (int i = 0; i < p->n; i++)
        if (p->pid[i] > 0) {
            while (waitpid(p->pid[i], NULL, 0) < 0 && errno == EINTR) {}
            p->pid[i] = 0;
        }
}

void tg_search_pool_free(tg_search_pool *p) {
    free(p->pid);
    p->pid = NULL;
    p->n = 0;
}
