/* test_cli.c - the `tgsage` command as a user meets it: help texts, exit
 * codes, clear errors for bad options and data, a short real run, eval and
 * features on its checkpoint, and Ctrl-C followed by --resume. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/npy.h"


static const char *bin(void) {
    const char *b = getenv("TG_BIN");
    return b ? b : "./tgsage";
}



static void test_help(void **state) {
    (void)state;
    tu_expect("--help", 0, "usage: tgsage <command>");
    tu_expect("", 2, "usage: tgsage");
    tu_expect("frobnicate", 2, "unknown command 'frobnicate'");
    const char *cmds[] = {"train", "eval", "features"};
    for (int i = 0; i < 3; i++) {
        char args[64];
        tu_expect("--help", 0, cmds[i]);
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        tu_expect(args, 0, "usage: tgsage");
        tu_expect(args, 0, "--data SPEC");
    }
    /* every flag of train is documented */
    const char *flags[] = {"--net", "--preset", "--epochs", "--batch", "--lr", "--schedule",
                           "--optimizer", "--momentum", "--wd", "--clip", "--no-augment",
                           "--seed", "--data", "--val", "--split-seed", "--train-limit",
                           "--val-limit", "--out", "--checkpoint-at", "--save-every",
                           "--resume", "--threads", "--backend", "--json"};
    tu_run("train --help");
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(tu_out, flags[i])) fail_msg("train --help lacks %s", flags[i]);
}

static void test_bad_options(void **state) {
    (void)state;
    tu_expect("train --epochs abc", 2, "--epochs: 'abc' is not a number");
    tu_expect("train --batch 0", 2, "--batch: '0' is not an integer");
    tu_expect("train --preset fast", 2, "preset 'fast': expected one of layerwise, cell, short");
    tu_expect("train --schedule wobbly", 2, "schedule 'wobbly'");
    tu_expect("train --optimizer adam", 2, "--optimizer 'adam'");
    tu_expect("train --backend gpu", 2, "--backend 'gpu'");
    tu_expect("train --checkpoint-at 1,x", 2, "--checkpoint-at");
    tu_expect("train --resume", 2, "--resume needs the --out");
    tu_expect("train --frob", 2, "Run 'tgsage train --help'");
    tu_expect("train extra", 2, "unexpected argument 'extra'");
    tu_expect("train --data imagenet", 1, "data 'imagenet': expected fashion-mnist");
    tu_expect("train --data mnist:/nonexistent", 1, "/nonexistent/train-images-idx3-ubyte");
    tu_expect("train --net vgg16 --train-limit 64 --val 16", 1, "unknown net 'vgg16'");
    tu_expect("train --val 70000", 1, "--val 70000");
    tu_expect("eval", 2, "--ckpt is required");
    tu_expect("eval --ckpt /nonexistent.ckpt", 1, "/nonexistent.ckpt");
    tu_expect("features --ckpt x", 2, "--layers and -o are required");
}

static void test_train_eval_features(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char args[2048], ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s/s.ckpt", dir);
    const char *data = "--train-limit 256 --val 64";
    snprintf(args, sizeof args,
             "train --net small3 --epochs 1 --batch 32 %s --json --threads 1 "
             "--checkpoint-at 0.5 --out %s",
             data, ckpt);
    tu_expect(args, 0, "\"status\":\"done\"");
    assert_non_null(strstr(tu_out, "\"train_images\":256"));
    assert_non_null(strstr(tu_out, "\"val_images\":64"));
    assert_non_null(strstr(tu_out, "epoch 0.5: validation accuracy"));
    assert_int_equal(access(ckpt, R_OK), 0);
    char point[600];
    snprintf(point, sizeof point, "%s/s@0.5.ckpt", dir);
    assert_int_equal(access(point, R_OK), 0);

    snprintf(args, sizeof args, "eval --ckpt %s %s --json", ckpt, data);
    tu_expect(args, 0, "\"images\":64");
    snprintf(args, sizeof args, "eval --ckpt %s --split test --val-limit 100", ckpt);
    tu_expect(args, 0, "test accuracy");
    /* the validation images of another split are not held out: refused */
    snprintf(args, sizeof args, "eval --ckpt %s --train-limit 200 --val 64", ckpt);
    tu_expect(args, 1, "may not be held out");

    snprintf(args, sizeof args, "features --ckpt %s %s --layers layer0,layer2 --n 50 -o %s/f",
             ckpt, data, dir);
    tu_expect(args, 0, "layer2.npy: 50 x 6272");
    char path[600];
    tg_npy a;
    tg_error err;
    snprintf(path, sizeof path, "%s/f/layer0.npy", dir);
    assert_int_equal(tg_npy_read(path, &a, &err), TG_OK);
    assert_true(a.ndim == 2 && a.shape[0] == 50 && a.shape[1] == 32 * 28 * 28);
    assert_int_equal(a.dtype, TG_NPY_F32);
    tg_npy_free(&a);
    snprintf(path, sizeof path, "%s/f/labels.npy", dir);
    assert_int_equal(tg_npy_read(path, &a, &err), TG_OK);
    assert_true(a.ndim == 1 && a.shape[0] == 50 && a.dtype == TG_NPY_I32);
    tg_npy_free(&a);
    snprintf(args, sizeof args, "features --ckpt %s %s --layers L9 -o %s/g", ckpt, data, dir);
    tu_expect(args, 1, "has no layer 'L9'");
    assert_non_null(strstr(tu_out, "layer0 layer1 layer2"));
    tu_rmtree(dir);
}

/* Ctrl-C in the middle of a run, then the same command with --resume. */
static void test_interrupt_and_resume(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char ckpt[512], resume[600], logf[600];
    snprintf(ckpt, sizeof ckpt, "%s/r.ckpt", dir);
    snprintf(resume, sizeof resume, "%s.resume", ckpt);
    snprintf(logf, sizeof logf, "%s/log", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(logf, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(99);
        execl(bin(), bin(), "train", "--net", "small3", "--epochs", "20", "--batch", "32",
              "--train-limit", "512", "--val", "64", "--threads", "1", "--save-every", "0.5",
              "--out", ckpt, (char *)NULL);
        _exit(98);
    }
    /* wait for the first periodic save, then interrupt */
    for (int i = 0; i < 600 && access(resume, R_OK) != 0; i++) {
        struct timespec t = {0, 100000000};
        nanosleep(&t, NULL);
    }
    assert_int_equal(access(resume, R_OK), 0);
    kill(pid, SIGINT);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 130);
    FILE *f = fopen(logf, "r");
    size_t n = fread(tu_out, 1, sizeof tu_out - 1, f);
    tu_out[n] = '\0';
    fclose(f);
    if (!strstr(tu_out, "--resume")) fail_msg("no resume hint in:\n%s", tu_out);
    char args[2048];
    snprintf(args, sizeof args,
             "train --net small3 --epochs 20 --batch 32 --train-limit 512 --val 64 "
             "--threads 1 --save-every 0.5 --out %s --resume --json --epochs 20",
             ckpt);
    /* resuming with another budget is refused, naming both */
    char other[2100];
    snprintf(other, sizeof other, "%s --epochs 3", args);
    tu_expect(other, 1, "20 epochs; this run has seed 1, batch 32, 3 epochs");
    /* the same command plus --resume finishes the run; stopped early again
     * via a short budget would change it, so let it run to the end */
    tu_expect(args, 0, "\"resumed\":true");
    assert_non_null(strstr(tu_out, "\"status\":\"done\""));
    assert_int_equal(access(resume, F_OK), -1);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_train_eval_features),
        cmocka_unit_test(test_interrupt_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
