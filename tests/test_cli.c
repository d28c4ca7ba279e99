/* test_cli.c - the `tgsage` command as a user meets it: help texts, exit
 * codes, clear errors for bad options and data (the cheap ones before any
 * data is loaded), a short real run, eval and features on its checkpoint
 * (also beside a limited training part of the same split, and refused
 * beside another split or other data), a genome trained and evaluated from
 * its checkpoint alone, and Ctrl-C followed by --resume. */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/genome.h"
#include "tgsage/npy.h"
#include "tgsage/tensorfile.h"
#include "tgsage/trainer.h"

static const char *bin(void) {
    const char *b = getenv("TG_BIN");
    return b ? b : "./tgsage";
}

/* The last line of tu_out that is a JSON object, parsed (the caller frees). */
static cJSON *out_json(void) {
    cJSON *j = NULL;
    for (char *line = tu_out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (*line == '{') {
            size_t len = strcspn(line, "\n");
            char *s = strndup(line, len);
            cJSON_Delete(j);
            j = cJSON_Parse(s);
            free(s);
        }
    if (!j) fail_msg("no JSON object in the output:\n%s", tu_out);
    return j;
}

static double num(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) fail_msg("JSON has no number '%s'", key);
    return v->valuedouble;
}

static const char *str(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v)) fail_msg("JSON has no string '%s'", key);
    return v->valuestring;
}

static void test_help(void **state) {
    (void)state;
    tu_expect("--help", 0, "usage: tgsage <command>");
    tu_expect("", 2, "usage: tgsage");
    tu_expect("frobnicate", 2, "unknown command 'frobnicate'");
    const char *cmds[] = {"train", "eval", "features", "teacher", "tg"};
    for (int i = 0; i < 5; i++) {
        char args[64];
        tu_expect("--help", 0, cmds[i]);
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        tu_expect(args, 0, "usage: tgsage");
        tu_expect(args, 0, "--data SPEC");
        /* the shared options, documented with their defaults by one helper */
        const char *common[] = {"--batch B", "--threads T         threads, 0 = all cores [0]",
                                "--backend NAME      convolution backend: dnnl or ref [dnnl]",
                                "--json"};
        for (int k = 0; k < 4; k++)
            if (!strstr(tu_out, common[k])) fail_msg("%s --help lacks '%s'", cmds[i], common[k]);
    }
    tu_expect("eval --help", 0, "images per forward pass [256]");
    tu_expect("features --help", 0, "images per forward pass [100]");
    tu_expect("train --help", 0, "images per step [128]");
    /* every flag of train is documented */
    const char *flags[] = {"--net", "--genome", "--space", "--preset", "--epochs", "--batch",
                           "--lr", "--schedule", "--optimizer", "--momentum", "--wd", "--clip",
                           "--no-augment", "--seed", "--data", "--val", "--split-seed",
                           "--train-limit", "--val-limit", "--out", "--checkpoint-at",
                           "--save-every", "--resume", "--threads", "--backend", "--json"};
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
    tu_expect("eval --ckpt x --backend gpu", 2, "tgsage eval: --backend 'gpu': expected dnnl or ref");
    tu_expect("train --checkpoint-at 1,x", 2, "--checkpoint-at");
    tu_expect("train --resume", 2, "--resume needs the --out");
    tu_expect("train --frob", 2, "Run 'tgsage train --help'");
    tu_expect("train extra", 2, "unexpected argument 'extra'");
    tu_expect("train --net small3 --genome g.json", 2, "give --net or --genome, not both");
    tu_expect("train --data imagenet", 1, "data 'imagenet': expected fashion-mnist");
    tu_expect("train --data mnist:/nonexistent", 1, "/nonexistent/train-images-idx3-ubyte");
    tu_expect("train --val 70000", 1, "--val 70000");
    /* what is cheap to check is checked before the data: with data that
     * cannot load, the message is still about the net, genome or output */
    const char *nodata = "--data mnist:/nonexistent";
    char a[1024];
    snprintf(a, sizeof a, "train --net vgg16 %s", nodata);
    tu_expect(a, 1, "unknown net 'vgg16'");
    assert_null(strstr(tu_out, "/nonexistent/train-images"));
    snprintf(a, sizeof a, "train --net resnet:0 %s", nodata);
    tu_expect(a, 1, "resnet:N needs 1 <= N <= 200");
    snprintf(a, sizeof a, "train --net small3 --space layerwise:4 %s", nodata);
    tu_expect(a, 1, "net 'small3' is not a genome");
    snprintf(a, sizeof a, "train --genome %s %s", tu_fixture("genomes/bad_kh.json"), nodata);
    tu_expect(a, 1, "layers[3].kh: 4 is not one of 1, 3, 5, 7");
    assert_non_null(strstr(tu_out, "bad_kh.json"));
    assert_null(strstr(tu_out, "/nonexistent/train-images"));
    snprintf(a, sizeof a, "train --genome /nonexistent/g.json %s", nodata);
    tu_expect(a, 1, "/nonexistent/g.json: cannot open");
    snprintf(a, sizeof a, "train --genome %s --space layerwise:4 %s",
             tu_fixture("genomes/candidate6.json"), nodata);
    tu_expect(a, 1, "candidate6.json");
    assert_null(strstr(tu_out, "/nonexistent/train-images"));
    snprintf(a, sizeof a, "train --net small3 --out /nonexistent/dir/x.ckpt %s", nodata);
    tu_expect(a, 1, "directory '/nonexistent/dir' does not exist");
    snprintf(a, sizeof a, "train --net small3 --epochs 1 --checkpoint-at 2 %s", nodata);
    tu_expect(a, 1, "within the 1 epochs");
    tu_expect("eval", 2, "--ckpt is required");
    tu_expect("eval --ckpt x --split train", 2, "--split 'train': expected val or test");
    tu_expect("eval --ckpt /nonexistent.ckpt", 1, "/nonexistent.ckpt");
    tu_expect("features --ckpt x", 2, "--layers and -o are required");
    tu_expect("features --ckpt x --layers a,,b -o d", 2, "--layers: expected 1 to 64");
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
    assert_non_null(strstr(tu_out, "epoch 0.5: validation accuracy"));
    cJSON *j = out_json();
    assert_int_equal(num(j, "train_images"), 256);
    assert_int_equal(num(j, "val_images"), 64);
    assert_int_equal(num(j, "steps"), 8);
    assert_int_equal(num(j, "examples_trained"), 256);
    double val_acc = num(j, "val_accuracy");
    assert_true(val_acc >= 0 && val_acc <= 1 && num(j, "val_loss") > 0);
    cJSON_Delete(j);
    assert_int_equal(access(ckpt, R_OK), 0);
    char point[600];
    snprintf(point, sizeof point, "%s/s@0.5.ckpt", dir);
    assert_int_equal(access(point, R_OK), 0);

    /* eval on the same split: the accuracy train reported */
    snprintf(args, sizeof args, "eval --ckpt %s %s --json", ckpt, data);
    tu_expect(args, 0, "\"images\":64");
    j = out_json();
    /* the same weights on the same images (a forward batch of 256, not 32:
     * at most a borderline image may flip) */
    assert_true(fabs(num(j, "accuracy") - val_acc) <= 1.0 / 64 + 1e-12);
    assert_string_equal(str(j, "net"), "small3");
    cJSON_Delete(j);
    snprintf(args, sizeof args, "eval --ckpt %s --split test --val-limit 100", ckpt);
    tu_expect(args, 0, "test accuracy");
    /* the same split without the training limit, or with another one: the
     * validation images are still held out */
    snprintf(args, sizeof args, "eval --ckpt %s --val 64 --json", ckpt);
    tu_expect(args, 0, "\"images\":64");
    j = out_json();
    assert_true(fabs(num(j, "accuracy") - val_acc) <= 1.0 / 64 + 1e-12);
    cJSON_Delete(j);
    snprintf(args, sizeof args, "eval --ckpt %s --train-limit 200 --val 64", ckpt);
    tu_expect(args, 0, "val accuracy");
    /* a smaller split of the same seed is nested in the one trained beside */
    snprintf(args, sizeof args, "eval --ckpt %s --train-limit 256 --val 32", ckpt);
    tu_expect(args, 0, "on 32 images");
    /* a larger split, another seed or other data: refused, naming what differs */
    snprintf(args, sizeof args, "eval --ckpt %s --train-limit 256 --val 128", ckpt);
    tu_expect(args, 1, "split seed 0, 64 images held out; here split seed 0, 128 held out");
    assert_non_null(strstr(tu_out, "may not be held out"));
    snprintf(args, sizeof args, "features --ckpt %s --val 64 --split-seed 3 --layers layer0 "
             "-o %s/x", ckpt, dir);
    tu_expect(args, 1, "split seed 0, 64 images held out; here split seed 3, 64 held out");
    snprintf(args, sizeof args, "eval --ckpt %s --data cifar10:%s --val 2", ckpt,
             tu_fixture("cifar/c10"));
    tu_expect(args, 1, "trained on other data (fashion-mnist");

    snprintf(args, sizeof args, "features --ckpt %s --val 64 --layers layer0,layer2 --n 50 "
             "-o %s/f", ckpt, dir);
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

/* A genome trained for a few steps; eval, features, teacher and tg from
 * its checkpoint alone. */
static void test_genome(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char gpath[512], ckpt[512], args[2048];
    snprintf(gpath, sizeof gpath, "%s/g.json", dir);
    snprintf(ckpt, sizeof ckpt, "%s/g.ckpt", dir);
    const char *genome =
        "{\"space\": \"layerwise\", \"schema\": 1, \"max_layers\": 10, \"layers\": [\n"
        " {\"filters\": 32, \"kh\": 3, \"kw\": 3, \"stride\": 2, \"act\": \"relu\", "
        "\"norm\": \"bn\", \"inputs\": []},\n"
        " {\"filters\": 32, \"kh\": 1, \"kw\": 3, \"stride\": 1, \"act\": \"relu\", "
        "\"norm\": \"none\", \"inputs\": [0, -1]}]}\n";
    assert_int_equal(tu_write_file(gpath, genome, strlen(genome)), 0);
    const char *data = "--train-limit 512 --val 64";
    snprintf(args, sizeof args, "train --genome %s --epochs 0.01 --batch 32 %s --threads 1 "
             "--json --out %s", gpath, data, ckpt);
    tu_expect(args, 0, "\"status\":\"done\"");
    cJSON *j = out_json();
    assert_int_equal(num(j, "steps"), 1);
    cJSON_Delete(j);

    /* the checkpoint carries the canonical genome and its space, and the
     * parameters are named by module path */
    tg_trained t;
    tg_error err;
    assert_int_equal(tg_trained_load(ckpt, 8, "", &t, &err), TG_OK);
    tg_genome *g = tg_genome_load(gpath, NULL, &err);
    assert_non_null(g);
    char *canon = tg_genome_json(g);
    assert_non_null(t.genome);
    assert_string_equal(t.genome, canon);
    assert_string_equal(t.net_spec, "genome");
    assert_non_null(strstr(t.space, "layerwise"));
    free(canon);
    tg_genome_free(g);
    tg_trained_free(&t);
    tg_tensor_file f;
    assert_int_equal(tg_tfile_read(ckpt, &f, &err), TG_OK);
    assert_non_null(tg_tfile_find(&f, "param/layers.1.conv.bias"));
    assert_non_null(tg_tfile_find(&f, "state/layers.0.bn.running_var"));
    assert_non_null(tg_tfile_find(&f, "param/fc.weight"));
    tg_tfile_free(&f);

    /* the genome file may go: the checkpoint is enough */
    unlink(gpath);
    snprintf(args, sizeof args, "eval --ckpt %s %s --json", ckpt, data);
    tu_expect(args, 0, "\"net\":\"genome\"");
    j = out_json();
    assert_int_equal(num(j, "images"), 64);
    assert_true(num(j, "accuracy") >= 0 && num(j, "accuracy") <= 1 && num(j, "loss") > 0);
    cJSON_Delete(j);
    snprintf(args, sizeof args, "features --ckpt %s %s --layers layer0,layer1 --n 20 -o %s/f "
             "--json", ckpt, data, dir);
    tu_expect(args, 0, "\"images\":20");
    j = out_json();
    const cJSON *l = cJSON_GetObjectItem(j, "layers");
    assert_int_equal(cJSON_GetArraySize(l), 2);
    assert_int_equal(num(cJSON_GetArrayItem(l, 0), "units"), 32 * 14 * 14);
    /* layer1: the image (28x28) and layer0 (14x14, padded) concatenated */
    assert_int_equal(num(cJSON_GetArrayItem(l, 1), "units"), 32 * 28 * 28);
    cJSON_Delete(j);
    snprintf(args, sizeof args, "teacher --ckpt %s --layers layer0,layer1 %s --n 64 -o "
             "%s/self.teacher --json", ckpt, data, dir);
    tu_expect(args, 0, "\"layers\":[\"layer0\",\"layer1\"]");
    snprintf(args, sizeof args, "tg --teacher %s/self.teacher --ckpt %s %s --json", dir, ckpt,
             data);
    tu_expect(args, 0, "\"per_teacher\"");
    j = out_json();
    assert_true(fabs(num(j, "tg") - 1) < 1e-9);
    assert_true(fabs(num(j, "score") - (num(j, "p") + num(j, "tg"))) < 1e-12);
    cJSON_Delete(j);
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
    /* resuming with another budget or net is refused, naming both */
    char other[2100];
    snprintf(other, sizeof other, "%s --epochs 3", args);
    tu_expect(other, 1, "20 epochs; this run has seed 1, batch 32, 3 epochs");
    snprintf(other, sizeof other, "%s --net resnet:1", args);
    tu_expect(other, 1, "saved for net small3, this run trains resnet:1");
    /* the same command plus --resume finishes the run; stopped early again
     * via a short budget would change it, so let it run to the end */
    tu_expect(args, 0, "\"resumed\":true");
    cJSON *j = out_json();
    assert_string_equal(str(j, "status"), "done");
    assert_int_equal(num(j, "steps"), 20 * 16);
    cJSON_Delete(j);
    assert_int_equal(access(resume, F_OK), -1);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_train_eval_features),
        cmocka_unit_test(test_genome),
        cmocka_unit_test(test_interrupt_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
