/* subreaper.c - run a command in a session of its own as a child subreaper,
 * and exit only when every process descended from it has ended.
 *
 *     subreaper COMMAND [ARGS...]
 *
 * scripts/testenv/slurm.sh runs the test cluster's daemons under it.
 * slurmd starts each job step's slurmstepd detached (it forks twice), so
 * the stepd and the job's processes are orphans; an orphan is reparented
 * to its nearest subreaper ancestor, here this process, rather than to
 * init. So "this process has exited" means "nothing the cluster started is
 * still running", which is what slurm.sh stop waits for before it removes
 * the cluster's directory. The exit status is the command's (128 + signal
 * when a signal ended it). Compiled by slurm.sh start with the system's cc:
 * it is part of the test harness, not of tgsage. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: subreaper COMMAND [ARGS...]\n");
        return 2;
    }
    /* A session of its own: a signal meant for the caller's process group
     * (a terminal's ^C, ctest's kill of a fixture script) does not reach
     * the daemons; they are stopped by slurm.sh stop, by PID. */
    if (setsid() < 0) fprintf(stderr, "subreaper: setsid: %s (continuing)\n", strerror(errno));
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "subreaper: prctl(PR_SET_CHILD_SUBREAPER): %s\n", strerror(errno));
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "subreaper: fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        execvp(argv[1], argv + 1);
        fprintf(stderr, "subreaper: %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    int code = 0;
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0) {
            if (errno == EINTR) continue;
            break;   /* ECHILD: no child and no adopted orphan is left */
        }
        if (p == child) code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return code;
}
