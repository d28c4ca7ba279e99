/* test_cli.c - the `tgsage` command as a user meets it: help texts, exit
 * codes, clear errors for bad options and data, and a short real run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char out[65536];

/* Run `tgsage ARGS` (stdout+stderr captured in out); returns the exit code. */
static int run(const char *args) {
    const char *bin = getenv("TG_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin ? bin : "./tgsage", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect(const char *args, int code, const char *want) {
    int got = run(args);
    if (got != code || !strstr(out, want))
        fail_msg("tgsage %s: exit %d (want %d), output lacks '%s':\n%s", args, got, code,
                 want, out);
}

static void test_help(void **state) {
    (void)state;
    expect("--help", 0, "usage: tgsage <command>");
    expect("--help", 0, "train");
    expect("", 2, "usage: tgsage");
    expect("frobnicate", 2, "unknown command 'frobnicate'");
    expect("train --help", 0, "--epochs E");
    /* every flag in the parser is documented with its default */
    const char *flags[] = {"--net", "--data", "--epochs", "--batch", "--lr", "--schedule",
                           "--momentum", "--wd", "--clip", "--train-limit", "--val-limit",
                           "--seed", "--threads", "--backend", "--out", "--json"};
    run("train --help");
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(out, flags[i])) fail_msg("train --help lacks %s", flags[i]);
}

static void test_bad_options(void **state) {
    (void)state;
    expect("train --epochs abc", 2, "--epochs: 'abc' is not a number");
    expect("train --batch 0", 2, "--batch: '0' is not an integer");
    expect("train --net vgg16", 1, "unknown net 'vgg16'");
    expect("train --data imagenet", 2, "--data 'imagenet'");
    expect("train --schedule wobbly", 2, "schedule 'wobbly'");
    expect("train --backend gpu", 2, "--backend 'gpu'");
    expect("train --frob", 2, "Run 'tgsage train --help'");
    expect("train extra", 2, "unexpected argument 'extra'");
    expect("train --data mnist:/nonexistent", 1, "/nonexistent/train-images-idx3-ubyte");
}

static void test_short_run(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char args[1024], ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s/s.ckpt", dir);
    snprintf(args, sizeof args,
             "train --net small3 --epochs 0.5 --train-limit 256 --val-limit 64 --json "
             "--threads 1 --out %s",
             ckpt);
    expect(args, 0, "\"val_accuracy\":");
    assert_non_null(strstr(out, "\"train_images\":256"));
    assert_int_equal(access(ckpt, R_OK), 0);
    /* an unwritable checkpoint path fails with the path named */
    expect("train --net small3 --epochs 0.1 --train-limit 64 --val-limit 16 "
           "--out /nonexistent/dir/x.ckpt",
           1, "/nonexistent/dir/x.ckpt");
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_short_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
