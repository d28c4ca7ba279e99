/* run_cmd.h - running a user's command for a trial (internal to src/worker/).
 *
 * The command is `/bin/sh -c SCRIPT [ARG0 ARGS...]`, started with
 * posix_spawn in a process group of its own (so that a timeout or a stop
 * reaches everything it started), with the signal mask emptied and SIGINT,
 * SIGTERM, SIGPIPE at their defaults whatever the worker set. stdin is a
 * buffer (or /dev/null), stdout is kept (its last TG_CMD_OUT_MAX bytes),
 * stderr too (its last TG_CMD_ERR_MAX bytes: the error of a failed trial
 * is that tail). While it runs, `tick` is called about every 100 ms (the
 * worker heartbeats there and watches its stop flag); a non-zero return,
 * or the timeout, sends SIGTERM to the group and SIGKILL after grace_s.
 * When the command itself has exited, whatever of its group is still
 * there is killed: nothing it started outlives it. */
#ifndef TGSAGE_WORKER_RUN_CMD_H
#define TGSAGE_WORKER_RUN_CMD_H

#include <stddef.h>

#include "tgsage/error.h"

#define TG_CMD_OUT_MAX ((size_t)64 << 10)
#define TG_CMD_ERR_MAX ((size_t)4 << 10)

typedef int (*tg_cmd_tick_fn)(void *user);

typedef struct {
    const char *script;          /* for /bin/sh -c */
    const char *const *args;     /* $0, $1, ... after the script (NULL: none) */
    int nargs;
    const char *const *env;      /* "NAME=VALUE" set over the environment (NULL: none) */
    int nenv;
    const char *input;           /* stdin bytes, or NULL for /dev/null */
    size_t ninput;
    double timeout_s;            /* 0: none */
    double grace_s;              /* SIGTERM -> SIGKILL [2 when <= 0] */
    tg_cmd_tick_fn tick;         /* may be NULL */
    void *user;
} tg_cmd_spec;

typedef struct {
    int exited, code;            /* exited with status code */
    int signaled, sig;           /* or killed by sig */
    int timed_out;               /* the timeout fired */
    int stopped;                 /* tick asked to stop */
    char out[TG_CMD_OUT_MAX + 1];/* the last bytes of stdout, NUL-terminated */
    size_t nout;
    int out_cut;                 /* earlier output was dropped */
    char err[TG_CMD_ERR_MAX + 1];/* the last bytes of stderr, NUL-terminated */
    size_t nerr;
    double seconds;
} tg_cmd_result;

/* Run s to its end (r is large: allocate it). TG_OK whenever the command
 * ran, whatever its outcome (see r); TG_ERR_IO if it could not be started
 * (pipes, spawn) with the reason. */
tg_status tg_cmd_run(const tg_cmd_spec *s, tg_cmd_result *r, tg_error *err);

/* "exit status 3", "killed by signal 9 (Killed)", "timed out after 0.5 s"
 * (+ ": " and the stderr tail's last lines, trimmed) into buf. */
void tg_cmd_describe(const tg_cmd_result *r, double timeout_s, char *buf, size_t n);

#endif
