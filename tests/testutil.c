/* testutil.c - helpers shared by the cmocka test programs. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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
