/* run_cmd.c - a trial's command in its own process group, with its output
 * kept, a timeout and a tick for the worker's heartbeat (see run_cmd.h).
 *
 * posix_spawn rather than fork: the worker may hold OpenMP and loader
 * threads, and after a fork of a threaded process only async-signal-safe
 * calls are allowed. The environment is built before the spawn for the
 * same reason. SIGPIPE is blocked in this thread while the command's stdin
 * is written, so a command that exits without reading its input costs an
 * EPIPE here, not the worker. */
#define _GNU_SOURCE
#include "run_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Append n bytes to buf (*len used of cap), keeping the last cap bytes. */
static void keep_tail(char *buf, size_t *len, size_t cap, const char *p, size_t n, int *cut) {
    if (n >= cap) {
        memcpy(buf, p + (n - cap), cap);
        *cut |= *len > 0 || n > cap;
        *len = cap;
        return;
    }
    if (*len + n > cap) {
        size_t drop = *len + n - cap;
        memmove(buf, buf + drop, *len - drop);
        *len -= drop;
        *cut = 1;
    }
    memcpy(buf + *len, p, n);
    *len += n;
}

static size_t name_len(const char *kv) {
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* environ with s->env's names replaced (malloc'd array, strings borrowed). */
static char **build_env(const tg_cmd_spec *s) {
    size_t n = 0;
    while (environ && environ[n]) n++;
    char **env = malloc(sizeof(char *) * (n + (size_t)s->nenv + 1));
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (int j = 0; j < s->nenv && !replaced; j++) {
            size_t l = name_len(s->env[j]);
            replaced = name_len(environ[i]) == l && !strncmp(environ[i], s->env[j], l);
        }
        if (!replaced) env[k++] = environ[i];
    }
    for (int j = 0; j < s->nenv; j++) env[k++] = (char *)s->env[j];
    env[k] = NULL;
    return env;
}

typedef struct {
    int in_w, out_r, err_r;
} pipes;

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static tg_status spawn(const tg_cmd_spec *s, pid_t *pid, pipes *pp, tg_error *err) {
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if ((s->input && pipe2(in, O_CLOEXEC)) || pipe2(out, O_CLOEXEC) || pipe2(er, O_CLOEXEC)) {
        tg_status st = tg_error_set(err, TG_ERR_IO, "command: pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++) close_fd(&in[i]), close_fd(&out[i]), close_fd(&er[i]);
        return st;
    }
    const char **argv = malloc(sizeof(char *) * (size_t)(s->nargs + 4));
    char **env = build_env(s);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    int rc = ENOMEM;
    if (argv && env) {
        int k = 0;
        argv[k++] = "/bin/sh", argv[k++] = "-c", argv[k++] = s->script;
        for (int i = 0; i < s->nargs; i++) argv[k++] = s->args[i];
        argv[k] = NULL;
        if (s->input) posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, er[1], 2);
        sigset_t none, dfl;
        sigemptyset(&none);
        sigemptyset(&dfl);
        const int sigs[] = {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&dfl, sigs[i]);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &dfl);
        posix_spawnattr_setpgroup(&at, 0);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                          POSIX_SPAWN_SETSIGDEF);
        rc = posix_spawn(pid, "/bin/sh", &fa, &at, (char *const *)argv, env);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(argv);
    free(env);
    close_fd(&in[0]), close_fd(&out[1]), close_fd(&er[1]);
    if (rc != 0) {
        close_fd(&in[1]), close_fd(&out[0]), close_fd(&er[0]);
        return tg_error_set(err, rc == ENOMEM ? TG_ERR_NOMEM : TG_ERR_IO,
                            "command: cannot start /bin/sh: %s", strerror(rc));
    }
    pp->in_w = in[1], pp->out_r = out[0], pp->err_r = er[0];
    if (pp->in_w >= 0) fcntl(pp->in_w, F_SETFL, fcntl(pp->in_w, F_GETFL) | O_NONBLOCK);
    return TG_OK;
}

/* Read what fd has into the tail buffer; close it at EOF. */
static void drain(int *fd, char *buf, size_t *len, size_t cap, int *cut) {
    char chunk[16384];
    ssize_t got = read(*fd, chunk, sizeof chunk);
    if (got > 0) keep_tail(buf, len, cap, chunk, (size_t)got, cut);
    else if (got == 0 || (errno != EINTR && errno != EAGAIN)) close_fd(fd);
}

tg_status tg_cmd_run(const tg_cmd_spec *s, tg_cmd_result *r, tg_error *err) {
    memset(r, 0, sizeof *r);
    const double grace = s->grace_s > 0 ? s->grace_s : 2;
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    const int pipe_was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

    pid_t pid;
    pipes pp = {-1, -1, -1};
    tg_status st = spawn(s, &pid, &pp, err);
    if (st != TG_OK) {
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        return st;
    }
    const double t0 = mono_s();
    double last_tick = t0, term_at = -1, done_at = -1;
    size_t sent = 0;
    int killed = 0, err_cut = 0;
    if (pp.in_w >= 0 && s->ninput == 0) close_fd(&pp.in_w);
    for (;;) {
        struct pollfd fds[3];
        int nf = 0;
        if (pp.out_r >= 0) fds[nf++] = (struct pollfd){pp.out_r, POLLIN, 0};
        if (pp.err_r >= 0) fds[nf++] = (struct pollfd){pp.err_r, POLLIN, 0};
        if (pp.in_w >= 0) fds[nf++] = (struct pollfd){pp.in_w, POLLOUT, 0};
        if (nf > 0 && poll(fds, (nfds_t)nf, 50) > 0) {
            for (int i = 0; i < nf; i++) {
                if (!fds[i].revents) continue;
                if (fds[i].fd == pp.out_r)
                    drain(&pp.out_r, r->out, &r->nout, TG_CMD_OUT_MAX, &r->out_cut);
                else if (fds[i].fd == pp.err_r)
                    drain(&pp.err_r, r->err, &r->nerr, TG_CMD_ERR_MAX, &err_cut);
                else {
                    ssize_t w = write(pp.in_w, s->input + sent, s->ninput - sent);
                    if (w > 0) sent += (size_t)w;
                    if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == s->ninput)
                        close_fd(&pp.in_w);  /* all written, or the reader is gone */
                }
            }
        } else if (nf == 0) {
            usleep(20000);
        }
        const double now = mono_s();
        if (done_at < 0) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                si.si_pid == pid) {
                /* the leader is a zombie until reaped, so its group id is
                 * still ours: whatever it left behind goes now */
                done_at = now;
                kill(-pid, SIGKILL);
                close_fd(&pp.in_w);
            }
        }
        if (done_at >= 0) {
            /* its pipes close once the group is gone; one that escaped the
             * group (setsid) and holds them is not waited for */
            if ((pp.out_r < 0 && pp.err_r < 0) || now - done_at > 1.0) break;
            continue;
        }
        if (!r->timed_out && !r->stopped) {
            if (s->timeout_s > 0 && now - t0 >= s->timeout_s) {
                r->timed_out = 1;
            } else if (s->tick && now - last_tick >= 0.1) {
                last_tick = now;
                r->stopped = s->tick(s->user) != 0;
            }
            if (r->timed_out || r->stopped) {
                kill(-pid, SIGTERM);
                term_at = now;
            }
        } else if (!killed && now - term_at >= grace) {
            kill(-pid, SIGKILL);
            killed = 1;
        }
    }
    close_fd(&pp.in_w), close_fd(&pp.out_r), close_fd(&pp.err_r);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    r->seconds = mono_s() - t0;
    if (WIFEXITED(status)) r->exited = 1, r->code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r->signaled = 1, r->sig = WTERMSIG(status);
    r->out[r->nout] = '\0';
    r->err[r->nerr] = '\0';
    /* a SIGPIPE our writes raised is consumed before the mask comes back */
    sigpending(&pending);
    if (!pipe_was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return TG_OK;
}

void tg_cmd_describe(const tg_cmd_result *r, double timeout_s, char *buf, size_t n) {
    int len;
    if (r->timed_out) len = snprintf(buf, n, "timed out after %g s", timeout_s);
    else if (r->stopped) len = snprintf(buf, n, "stopped");
    else if (r->signaled) len = snprintf(buf, n, "killed by signal %d (%s)", r->sig,
                                         strsignal(r->sig));
    else len = snprintf(buf, n, "exit status %d", r->code);
    /* the stderr tail, without trailing blanks */
    size_t e = r->nerr;
    while (e > 0 && (r->err[e - 1] == '\n' || r->err[e - 1] == ' ' || r->err[e - 1] == '\r' ||
                     r->err[e - 1] == '\t'))
        e--;
    size_t b = 0;
    while (b < e && (r->err[b] == '\n' || r->err[b] == ' ')) b++;
    if (e > b && len >= 0 && (size_t)len < n)
        snprintf(buf + len, n - (size_t)len, ": %.*s", (int)(e - b), r->err + b);
}
