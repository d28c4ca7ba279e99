/* test_reliability.c - the SQLite cases of docs/reliability.md's list that
 * need the real binaries: a database file on a read-only file system
 * given to `tgsage status`, `best`, `trials`, `worker` and `search` (each
 * exits 1 naming the file and saying it is read-only), and a disk that
 * fills up during a search (the search exits 1 saying "disk full" and
 * naming the file; every trial reported complete before is still in the
 * database, and the same command resumes the search to its end once there
 * is room).
 *
 * As root, permissions do not stop writes: each case runs in a child
 * process with a private mount namespace (inside a user namespace when not
 * root) and a small tmpfs of its own, remounted read-only or filled by the
 * objective command itself (64 KB per trial). The binaries run as children
 * of that child, so they see the same mounts; their output goes to files
 * outside the tmpfs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/tracker.h"

static const char *bin(void) {
    const char *b = getenv("TG_BIN");
    return b ? b : "./tgsage";
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Child-side checks: the message goes to the parent through shared memory. */
#define CK(cond, ...)                                                                    \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            snprintf(msg, n, __VA_ARGS__);                                               \
            return 1;                                                                    \
        }                                                                                \
    } while (0)


/* fn(mnt, logs, ...) in a child, on a tmpfs of `size` at mnt; logs is a
 * plain directory for the binaries' output. Fails (never skips) when the
 * tmpfs cannot be made; prints the child's message when it passes. */
typedef int (*child_fn)(const char *mnt, const char *logs, char *msg, size_t n);

static void on_tmpfs(const char *size, child_fn fn) {
    enum { MSG = 4096 };
    char mnt[256], logs[256];
    snprintf(mnt, sizeof mnt, "%s", tu_tmpdir());
    snprintf(logs, sizeof logs, "%s", tu_tmpdir());
    char *msg = mmap(NULL, MSG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(msg != MAP_FAILED);
    msg[0] = '\0';
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = tu_private_mounts(msg, MSG);
        char opt[64];
        snprintf(opt, sizeof opt, "size=%s,mode=0755", size);
        if (rc == 0 && mount("tmpfs", mnt, "tmpfs", 0, opt) != 0) {
            snprintf(msg, MSG, "mount -t tmpfs -o %s tmpfs %s: %s", opt, mnt, strerror(errno));
            rc = 1;
        }
        if (rc == 0) rc = fn(mnt, logs, msg, MSG);
        _exit(rc);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    char copy[MSG];
    memcpy(copy, msg, MSG);
    copy[MSG - 1] = '\0';
    munmap(msg, MSG);
    tu_rmtree(mnt);
    tu_rmtree(logs);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        fail_msg("%s (child status %d)", copy[0] ? copy : "the child died", ws);
    if (copy[0]) print_message("%s\n", copy);
}

/* Run the binary with argv[1..] (argv[0] is replaced by it), stdout and
 * stderr into out (truncated first) and back into text; its exit code. */
static int run_cli(char **argv, const char *out, char *text, size_t ntext) {
    argv[0] = (char *)bin();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    text[0] = '\0';
    FILE *f = fopen(out, "r");
    if (f) {
        size_t k = fread(text, 1, ntext - 1, f);
        text[k] = '\0';
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The objective: the score is the trial's number + 0.5, after writing
 * `fill` KB of zeros to FILL_DIR (the tmpfs; nothing when 0). */
static void write_objective(const char *path, const char *fill_dir, int fill_kb) {
    char text[800];
    snprintf(text, sizeof text,
             "cat > /dev/null\n"
             "if [ %d -gt 0 ]; then\n"
             "  dd if=/dev/zero of='%s'/fill.$TG_TRIAL bs=1k count=%d 2>/dev/null || true\n"
             "fi\n"
             "echo \"$TG_TRIAL.5\"\n", fill_kb, fill_dir, fill_kb);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Trials the workers' lines in text report complete: done[k] = 1. */
static int reported_complete(const char *text, int *done, int n) {
    int k = 0;
    for (const char *p = strstr(text, "trial "); p; p = strstr(p + 1, "trial ")) {
        char *end;
        long t = strtol(p + 6, &end, 10);
        if (end == p + 6 || t < 0 || t >= n || strncmp(end, " complete: score", 16)) continue;
        if (!done[t]) k++;
        done[t] = 1;
    }
    return k;
}

/* ---- a read-only database --------------------------------------------------------- */

static int readonly_child(const char *mnt, const char *logs, char *msg, size_t n) {
    static char text[1 << 16];
    char url[600], obj[600], cmd[700], out[600], path[512];
    snprintf(path, sizeof path, "%s/ro.db", mnt);
    snprintf(url, sizeof url, "sqlite:///%s", path);
    snprintf(obj, sizeof obj, "%s/obj.sh", logs);
    snprintf(out, sizeof out, "%s/out", logs);
    write_objective(obj, "", 0);
    snprintf(cmd, sizeof cmd, "sh %s", obj);
    char *search[] = {NULL, "search", "--db", url, "--study", "ro", "--space", "layerwise:4",
                      "--algo", "random", "--trials", "4", "--workers", "1", "--objective-cmd",
                      cmd, NULL};
    int code = run_cli(search, out, text, sizeof text);
    CK(code == 0, "the first search exited %d:\n%s", code, text);
    CK(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0, "remount %s read-only: %s",
       mnt, strerror(errno));
    int fd = open(path, O_RDWR);
    CK(fd < 0 && errno == EROFS, "%s still opens for writing", path);
    char *status[] = {NULL, "status", "--db", url, NULL};
    char *best[] = {NULL, "best", "--db", url, "--study", "ro", NULL};
    char *trials[] = {NULL, "trials", "--db", url, "--study", "ro", NULL};
    char *worker[] = {NULL, "worker", "--db", url, "--study", "ro", "--objective-cmd", cmd,
                      NULL};
    char **cases[] = {status, best, trials, worker, search};
    char want[700];
    snprintf(want, sizeof want, "%s is read-only", url);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        code = run_cli(cases[i], out, text, sizeof text);
        CK(code == 1 && strstr(text, want) && strstr(text, "tgsage "),
           "tgsage %s on a read-only database: exit %d, want 1 and \"%s\":\n%s", cases[i][1],
           code, want, text);
        if (i + 1 == sizeof cases / sizeof cases[0])
            snprintf(msg, n, "read-only database: status, best, trials, worker, search exit 1: "
                     "%.*s", (int)strcspn(text, "\n"), text);
    }
    return 0;
}

static void test_readonly_database(void **s) {
    (void)s;
    on_tmpfs("1m", readonly_child);
}

/* ---- a full disk -------------------------------------------------------------------- */

/* The trials of the study in the database: complete[k] = 1 with its score
 * k + 0.5 checked; -1 on an error (in msg). */
static int complete_in_db(const char *url, int *complete, int n, char *msg, size_t nmsg) {
    tg_tracker *t;
    tg_error err;
    if (tg_tracker_open(url, &t, &err) != TG_OK) {
        snprintf(msg, nmsg, "open %s: %s", url, err.msg);
        return -1;
    }
    tg_study st;
    tg_trial *tr = NULL;
    int64_t nt = 0;
    int k = 0;
    if (tg_study_get(t, "full", &st, &err) != TG_OK ||
        tg_trial_list(t, st.id, &tr, &nt, &err) != TG_OK) {
        snprintf(msg, nmsg, "read %s: %s", url, err.msg);
        tg_tracker_close(t);
        return -1;
    }
    for (int64_t i = 0; i < nt && k >= 0; i++) {
        if (tr[i].state != TG_TRIAL_COMPLETE) continue;
        if (tr[i].number >= n || tr[i].score != tr[i].number + 0.5) {
            snprintf(msg, nmsg, "trial %lld complete with score %g", (long long)tr[i].number,
                     tr[i].score);
            k = -1;
            break;
        }
        complete[tr[i].number] = 1;
        k++;
    }
    tg_trials_free(tr, nt);
    tg_tracker_close(t);
    return k;
}

static int full_child(const char *mnt, const char *logs, char *msg, size_t n) {
    enum { T = 200 };
    static char text[1 << 20];
    char url[600], obj[600], cmd[700], out[600], path[512];
    snprintf(path, sizeof path, "%s/full.db", mnt);
    snprintf(url, sizeof url, "sqlite:///%s", path);
    snprintf(obj, sizeof obj, "%s/obj.sh", logs);
    snprintf(out, sizeof out, "%s/out", logs);
    write_objective(obj, mnt, 64);
    snprintf(cmd, sizeof cmd, "sh %s", obj);
    char trials[16] = "200";
    char *search[] = {NULL, "search", "--db", url, "--study", "full", "--space",
                      "layerwise:4", "--algo", "random", "--trials", trials, "--workers", "2",
                      "--parallel", "4", "--lease", "1", "--objective-cmd", cmd, NULL};
    double t0 = now_s();
    int code = run_cli(search, out, text, sizeof text);
    double took = now_s() - t0;
    CK(code == 1, "the search on a 1 MB tmpfs exited %d (want 1):\n%.3000s", code, text);
    char want[700];
    snprintf(want, sizeof want, "tgsage search: %s: disk full", url);
    CK(strstr(text, want), "the search's output lacks \"%s\":\n%.3000s", want, text);
    struct statvfs vfs;
    CK(statvfs(mnt, &vfs) == 0 && vfs.f_bavail == 0, "%s is not full at the end", mnt);
    int before[T] = {0}, after[T] = {0};
    int nbefore = reported_complete(text, before, T);
    CK(nbefore >= 4 && nbefore < 20, "%d trials reported complete on 1 MB", nbefore);
    /* room again: the same tmpfs, bigger */
    CK(mount(NULL, mnt, NULL, MS_REMOUNT, "size=16m") == 0, "remount %s bigger: %s", mnt,
       strerror(errno));
    int nafter = complete_in_db(url, after, T, msg, n);
    if (nafter < 0) return 1;
    for (int k = 0; k < T; k++)
        CK(before[k] == after[k], "trial %d: %s before the disk filled, %s in the database", k,
           before[k] ? "reported complete" : "not reported", after[k] ? "complete" : "not");
    /* the same command resumes, to a smaller budget that still fits */
    snprintf(trials, sizeof trials, "%d", nbefore + 10);
    code = run_cli(search, out, text, sizeof text);
    CK(code == 0, "the resumed search exited %d:\n%.3000s", code, text);
    int again[T] = {0};
    int nagain = complete_in_db(url, again, T, msg, n);
    if (nagain < 0) return 1;
    CK(nagain == nbefore + 10, "resumed: %d complete, want %d", nagain, nbefore + 10);
    for (int k = 0; k < T; k++)
        CK(!before[k] || again[k], "trial %d lost by the resumed search", k);
    snprintf(msg, n, "full disk (1 MB tmpfs) during a search: exit 1 after %.1f s, \"disk "
             "full\" naming the file; the %d trials reported complete before are all in the "
             "database; resumed to %d", took, nbefore, nagain);
    return 0;
}

static void test_disk_full_search(void **s) {
    (void)s;
    on_tmpfs("1m", full_child);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readonly_database),
        cmocka_unit_test(test_disk_full_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
