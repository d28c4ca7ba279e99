/* testutil.c - helpers shared by the cmocka test programs. */
#define _GNU_SOURCE   /* unshare, CLONE_NEWNS */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_fixture(const char *name) {
    static char buf[4096];
    const char *dir = getenv("TG_FIXTURES");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "tests/fixtures", name);
    return buf;
}

const char *tu_tmpdir(void) {
    static char buf[256];
    const char *base = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/tgsage-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        abort();
    }
    return buf;
}

void tu_rmtree(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int tu_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

void tu_fill_uniform(tg_rng *r, float *a, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * tg_rng_uniform(r);
}

double tu_max_err(const float *a, const float *b, size_t n, double atol,
                  double rtol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(e <= worst)) worst = e;  /* NaN propagates as the worst */
    }
    return worst;
}

char tu_out[65536];

int tu_run(const char *args) {
    const char *bin = getenv("TG_BIN");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin ? bin : "./tgsage", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(tu_out, 1, sizeof tu_out - 1, p);
    tu_out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tu_expect(const char *args, int code, const char *want) {
    int got = tu_run(args);
    if (got != code || !strstr(tu_out, want))
        fail_msg("tgsage %s: exit %d (want %d), output lacks '%s':\n%s", args, got, code, want,
                 tu_out);
}

/* ---- a private mount namespace (tu_private_mounts) ---- */

#define CK(cond, ...)                                                                    \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            snprintf(msg, n, __VA_ARGS__);                                               \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

static int write_str(const char *path, const char *s) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    ssize_t w = write(fd, s, strlen(s));
    close(fd);
    return w == (ssize_t)strlen(s) ? 0 : -1;
}

int tu_private_mounts(char *msg, size_t n) {
    if (geteuid() != 0) {
        char map[64];
        uid_t uid = geteuid();
        gid_t gid = getegid();
        CK(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0, "unshare(user, mount namespace): %s",
           strerror(errno));
        CK(write_str("/proc/self/setgroups", "deny") == 0, "setgroups: %s", strerror(errno));
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        CK(write_str("/proc/self/uid_map", map) == 0, "uid_map: %s", strerror(errno));
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        CK(write_str("/proc/self/gid_map", map) == 0, "gid_map: %s", strerror(errno));
    } else {
        CK(unshare(CLONE_NEWNS) == 0, "unshare(mount namespace): %s", strerror(errno));
    }
    CK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "mount --make-rprivate /: %s",
       strerror(errno));
    return 0;
}
#undef CK
