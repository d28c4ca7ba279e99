/* test_pool_cli.c - `tgsage pool` up to the training, which belongs to the
 * workers (tests/test_train_rerank.c trains a real one): the pool study's
 * configuration, its teachers (bytes and names, in order), its queued
 * trials (exactly the first K distinct draws of the random explorer seeded
 * by the study's seed, or a study's K best in order), a rerun that queues
 * nothing twice, a larger K that extends, and the refusals of a rerun
 * with another configuration or other teachers, naming the difference.
 * Through the library (tg_pool_run with no workers and the stop flag
 * already set: it queues and returns) and through the binary (with
 * --workers 0 it waits for workers from elsewhere; SIGINT stops it
 * cleanly), on a real SQLite database with teacher files tied to the
 * Fashion-MNIST split. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/explorer.h"
#include "tgsage/fileio.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"
#include "tgsage/teacher.h"
#include "tgsage/tracker.h"
#include "tgsage/trainer.h"
#include "tgsage/worker.h"

#define NVAL 500
#define SEED 2
#define SPLIT 6   /* the validation split's seed: not the study's seed */
#define LIMIT 1000

static char g_dir[256], g_url[4200], g_ta[600], g_tb[600], g_tc[600], g_obj[700];
static char g_fp[33];
static int64_t g_nval;

/* A teacher of one layer (a random symmetric 10 x 10 category RDM) tied to
 * the first 100 validation images of d. */
static void make_teacher(const char *path, const tg_dataset *val, uint64_t seed) {
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.unit = TG_RDM_CATEGORY, t.method = TG_SIM_PEARSON;
    t.max_features = 1000, t.seed = 0;
    snprintf(t.source, sizeof t.source, "test_pool_cli");
    tg_error err;
    if (tg_teacher_tie(&t, val, val->labels, 100, &err) != TG_OK) fail_msg("%s", err.msg);
    double rdm[100];
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int i = 0; i < 10; i++)
        for (int j = 0; j <= i; j++)
            rdm[i * 10 + j] = rdm[j * 10 + i] = i == j ? 0 : 0.5 + tg_rng_uniform_d(&r);
    if (tg_teacher_add(&t, "L1", rdm, 10, &err) != TG_OK ||
        tg_teacher_save(path, &t, &err) != TG_OK)
        fail_msg("%s", err.msg);
    tg_teacher_free(&t);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_url, sizeof g_url, "%s", td_sqlite_url(g_dir, "pool"));
    snprintf(g_ta, sizeof g_ta, "%s/a.teacher", g_dir);
    snprintf(g_tb, sizeof g_tb, "%s/b.teacher", g_dir);
    snprintf(g_tc, sizeof g_tc, "%s/c.teacher", g_dir);
    tg_dataset train, val, train2, val2;
    tg_split_info info;
    tg_error err;
    if (tg_split_load("fashion-mnist", NVAL, SPLIT, LIMIT, 0, &train, &val, &info, &err) != TG_OK ||
        tg_split_load("fashion-mnist", NVAL - 100, SPLIT, LIMIT, 0, &train2, &val2, NULL, &err) !=
            TG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    snprintf(g_fp, sizeof g_fp, "%s", train.fingerprint);
    g_nval = info.nval;
    make_teacher(g_ta, &val, 1);
    make_teacher(g_tb, &val, 2);
    make_teacher(g_tc, &val2, 3);   /* another split */
    tg_dataset_free(&train), tg_dataset_free(&val);
    tg_dataset_free(&train2), tg_dataset_free(&val2);
    char path[600], text[512];
    snprintf(path, sizeof path, "%s/obj.sh", g_dir);
    snprintf(text, sizeof text,
             "c=$(cat | cksum | cut -d' ' -f1)\n"
             "awk -v c=\"$c\" 'BEGIN { printf \"%%.9f\\n\", c / 4294967296 }'\n");
    if (tu_write_file(path, text, strlen(text)) != 0) return 1;
    snprintf(g_obj, sizeof g_obj, "sh %s", path);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

static tg_study_config pool_config(int64_t k) {
    tg_study_config c;
    tg_study_config_defaults(&c);
    snprintf(c.space, sizeof c.space, "layerwise:4");
    snprintf(c.algo, sizeof c.algo, "pool");
    snprintf(c.score, sizeof c.score, "p");
    snprintf(c.data, sizeof c.data, "fashion-mnist");
    snprintf(c.fingerprint, sizeof c.fingerprint, "%s", g_fp);
    c.epochs = 1;
    c.trials = k;
    c.seed = SEED;
    c.split_seed = SPLIT;
    c.nval = g_nval;
    c.train_limit = LIMIT;
    c.at[0] = 0.25, c.at[1] = 0.5, c.nat = 2;
    return c;
}

/* tg_pool_run that queues and returns: no workers, stopped already. */
static tg_status pool_queue(const char *name, const tg_study_config *cfg, const char **teachers,
                            int nt, const char *from, tg_queue_progress *fin, tg_error *err) {
    static volatile sig_atomic_t stop = 1;
    tg_pool_config pc = {name, *cfg, teachers, nt, from};
    tg_queue_run_config q;
    memset(&q, 0, sizeof q);
    q.url = g_url;
    q.stop = &stop;
    return tg_pool_run(&pc, &q, fin, err);
}

/* The first k distinct genomes (hashes) of the random explorer seeded seed. */
static void expected_hashes(const char *space, uint64_t seed, int k, char (*out)[33]) {
    tg_error err;
    tg_space *sp = tg_space_parse(space, &err);
    assert_non_null(sp);
    tg_explorer_config ec;
    assert_int_equal(tg_explorer_defaults("random", &ec, &err), TG_OK);
    ec.seed = seed;
    tg_explorer *ex = tg_explorer_new(sp, &ec, &err);
    assert_non_null(ex);
    int x[64], n = 0;
    assert_true(tg_space_ndims(sp) <= 64);
    while (n < k) {
        int64_t id;
        assert_int_equal(tg_explorer_propose(ex, &id, x, &err), TG_OK);
        tg_genome *g = tg_space_decode(sp, x, &err);
        assert_non_null(g);
        char h[33];
        tg_genome_hash(g, h);
        tg_genome_free(g);
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= !strcmp(out[i], h);
        if (!dup) memcpy(out[n++], h, 33);
    }
    tg_explorer_free(ex);
    tg_space_free(sp);
}

typedef struct {
    tg_study s;
    tg_trial *tr;
    int64_t n;
    tg_study_teacher_file *te;
    int nte;
} pool_view;

static pool_view view(const char *name) {
    pool_view v;
    tg_tracker *t;
    tg_error err;
    assert_int_equal(tg_tracker_open(g_url, &t, &err), TG_OK);
    if (tg_study_get(t, name, &v.s, &err) != TG_OK ||
        tg_trial_list(t, v.s.id, &v.tr, &v.n, &err) != TG_OK ||
        tg_study_teachers(t, v.s.id, &v.te, &v.nte, &err) != TG_OK)
        fail_msg("%s", err.msg);
    tg_tracker_close(t);
    return v;
}

static void view_free(pool_view *v) {
    tg_trials_free(v->tr, v->n);
    tg_study_teachers_free(v->te, v->nte);
}

static void check_teacher(const tg_study_teacher_file *te, int pos, const char *path,
                          const char *name) {
    unsigned char *buf;
    size_t n;
    assert_int_equal(tg_file_read(path, 1 << 20, &buf, &n, NULL), TG_OK);
    assert_int_equal(te->position, pos);
    assert_string_equal(te->name, name);
    assert_int_equal(te->n, n);
    assert_memory_equal(te->data, buf, n);
    free(buf);
}

/* The pool study `name`: its configuration, teachers a and b, and trials
 * 0..k-1 waiting, exactly the expected genomes in order. */
static void check_pool(const char *name, int k, char (*want)[33], double epochs) {
    pool_view v = view(name);
    assert_string_equal(v.s.cfg.algo, "pool");
    assert_string_equal(v.s.cfg.space, "layerwise:4");
    assert_string_equal(v.s.cfg.score, "p");
    assert_true(v.s.cfg.epochs == epochs);
    assert_int_equal(v.s.cfg.trials, k);
    assert_int_equal(v.s.cfg.nat, 2);
    assert_true(v.s.cfg.at[0] == 0.25 && v.s.cfg.at[1] == 0.5);
    assert_true(v.s.cfg.seed == SEED);
    assert_true(v.s.cfg.split_seed == SPLIT);
    assert_string_equal(v.s.cfg.fingerprint, g_fp);
    assert_int_equal(v.s.cfg.nval, g_nval);
    assert_int_equal(v.s.cfg.train_limit, LIMIT);
    assert_int_equal(v.s.parent, -1);
    assert_true(v.s.has_teacher);
    assert_int_equal(v.nte, 2);
    check_teacher(&v.te[0], 0, g_ta, "a.teacher");
    check_teacher(&v.te[1], 1, g_tb, "b.teacher");
    assert_int_equal(v.n, k);
    for (int i = 0; i < k; i++) {
        assert_int_equal(v.tr[i].number, i);
        assert_int_equal(v.tr[i].state, TG_TRIAL_WAITING);
        assert_int_equal(v.tr[i].parent, -1);
        if (strcmp(v.tr[i].hash, want[i]))
            fail_msg("trial %d: genome %s, the explorer's draw %s", i, v.tr[i].hash, want[i]);
        tg_error err;
        tg_genome *g = tg_genome_parse(v.tr[i].genome, NULL, &err);
        assert_non_null(g);
        char h[33];
        tg_genome_hash(g, h);
        assert_string_equal(h, want[i]);
        tg_genome_free(g);
    }
    view_free(&v);
}

static void test_library_queue_and_refusals(void **state) {
    (void)state;
    char want[8][33];
    expected_hashes("layerwise:4", SEED, 8, want);
    const char *ab[] = {g_ta, g_tb}, *ba[] = {g_tb, g_ta}, *a[] = {g_ta};
    tg_study_config c = pool_config(6);
    tg_queue_progress fin;
    tg_error err;
    if (pool_queue("p1", &c, ab, 2, NULL, &fin, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(fin.total, 6);
    assert_int_equal(fin.waiting, 6);
    assert_int_equal(fin.workers, 0);
    check_pool("p1", 6, want, 1);
    /* again: nothing queued twice */
    assert_int_equal(pool_queue("p1", &c, ab, 2, NULL, &fin, &err), TG_OK);
    check_pool("p1", 6, want, 1);
    /* refused, naming the difference; nothing changes */
    tg_study_config d = c;
    d.epochs = 2;
    assert_int_equal(pool_queue("p1", &d, ab, 2, NULL, &fin, &err), TG_ERR_ARG);
    if (!strstr(err.msg, "epochs")) fail_msg("%s", err.msg);
    d = c;
    d.at[1] = 0.75;
    assert_int_equal(pool_queue("p1", &d, ab, 2, NULL, &fin, &err), TG_ERR_ARG);
    if (!strstr(err.msg, "at")) fail_msg("%s", err.msg);
    assert_int_equal(pool_queue("p1", &c, ba, 2, NULL, &fin, &err), TG_ERR_ARG);
    if (!strstr(err.msg, "teacher 0") || !strstr(err.msg, "b.teacher")) fail_msg("%s", err.msg);
    assert_int_equal(pool_queue("p1", &c, a, 1, NULL, &fin, &err), TG_ERR_ARG);
    if (!strstr(err.msg, "2 teachers")) fail_msg("%s", err.msg);
    check_pool("p1", 6, want, 1);
    /* a larger K extends with the next draws */
    c.trials = 8;
    assert_int_equal(pool_queue("p1", &c, ab, 2, NULL, &fin, &err), TG_OK);
    check_pool("p1", 8, want, 1);
    /* a space with fewer architectures than asked for */
    tg_study_config e = pool_config(50);
    snprintf(e.space, sizeof e.space, "layerwise:1:filters=8:kernels=3:strides=1");
    assert_int_equal(pool_queue("tiny", &e, ab, 2, NULL, &fin, &err), TG_ERR_ARG);
    if (!strstr(err.msg, "distinct")) fail_msg("%s", err.msg);
    /* no teacher, or a file that is not one */
    assert_int_equal(pool_queue("p9", &c, ab, 0, NULL, &fin, &err), TG_ERR_ARG);
    char bogus[700];
    snprintf(bogus, sizeof bogus, "%s/obj.sh", g_dir);
    const char *bad[] = {g_ta, bogus};
    assert_true(pool_queue("p9", &c, bad, 2, NULL, &fin, &err) != TG_OK);
    if (!strstr(err.msg, "obj.sh")) fail_msg("%s", err.msg);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Start `tgsage ARGS` (output into out), wait until study has k trials,
 * SIGINT it; its exit status, the output in tu_out. */
static int run_until_queued(const char *args, const char *study, int64_t k) {
    char out[700], cmd[8192];
    snprintf(out, sizeof out, "%s/bg.out", g_dir);
    const char *bin = getenv("TG_BIN");
    snprintf(cmd, sizeof cmd, "exec %s %s >%s 2>&1", bin ? bin : "./tgsage", args, out);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    double t0 = now_s();
    for (int done = 0; !done;) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
        tg_tracker *t;
        if (tg_tracker_open(g_url, &t, NULL) == TG_OK) {
            tg_study s;
            tg_study_counts c;
            done = tg_study_get(t, study, &s, NULL) == TG_OK &&
                   tg_study_counts_get(t, s.id, &c, NULL) == TG_OK && c.waiting >= k;
            tg_tracker_close(t);
        }
        int st;
        if (!done && waitpid(pid, &st, WNOHANG) == pid) {
            FILE *f = fopen(out, "r");
            size_t n = f ? fread(tu_out, 1, sizeof tu_out - 1, f) : 0;
            if (f) fclose(f);
            tu_out[n] = '\0';
            fail_msg("tgsage %s exited (status %d) before queueing:\n%s", args, st, tu_out);
        }
        if (now_s() - t0 > 60) {
            kill(pid, SIGKILL);
            fail_msg("tgsage %s: nothing queued in 60 s", args);
        }
    }
    /* it stands waiting for workers from elsewhere */
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    kill(pid, SIGINT);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    FILE *f = fopen(out, "r");
    size_t n = f ? fread(tu_out, 1, sizeof tu_out - 1, f) : 0;
    if (f) fclose(f);
    tu_out[n] = '\0';
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state) {
    (void)state;
    tu_expect("pool --help", 0, "usage: tgsage pool");
    const char *flags[] = {"--db", "--study", "--space", "--n", "--from-study", "--epochs",
                           "--at", "--teacher", "--seed", "--data", "--val", "--train-limit",
                           "--batch", "--workers", "--threads", "--json", "tgsage analyze"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(tu_out, flags[i])) fail_msg("pool --help lacks %s", flags[i]);
    tu_expect("--help", 0, "pool");
    char a[16384], common[512];
    snprintf(common, sizeof common, "--epochs 1 --at 0.25,0.5 --data fashion-mnist --val %d "
             "--train-limit %d --seed %d --split-seed %d --workers 0", NVAL, LIMIT, SEED, SPLIT);
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 %s", g_url, common);
    tu_expect(a, 2, "--teacher is required");
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --teacher %s %s", g_url,
             g_ta, common);
    tu_expect(a, 2, "--n is required");
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "--epochs 1 --at 0.5,2 --workers 0", g_url, g_ta);
    tu_expect(a, 2, "at");
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "%s --at x", g_url, g_ta, common);
    tu_expect(a, 2, "--at");
    /* the split is the study's --split-seed (not its --seed), scored on all
     * of it: the split of seed SEED (given after common's, so it wins) is
     * not the teachers' */
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "%s --split-seed %d", g_url, g_ta, common, SEED);
    tu_expect(a, 1, "a.teacher");
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "%s --val-limit 10", g_url, g_ta, common);
    tu_expect(a, 2, "--val-limit: the workers score on the whole validation split");
    /* a teacher of another split: refused before anything is queued */
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "--teacher %s %s", g_url, g_ta, g_tc, common);
    tu_expect(a, 1, "c.teacher");
    tg_tracker *t;
    tg_study s;
    assert_int_equal(tg_tracker_open(g_url, &t, NULL), TG_OK);
    assert_int_equal(tg_study_get(t, "p2", &s, NULL), TG_ERR_NOT_FOUND);
    tg_tracker_close(t);

    /* queued, then waiting for workers from elsewhere until Ctrl-C */
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "--teacher %s %s", g_url, g_ta, g_tb, common);
    assert_int_equal(run_until_queued(a, "p2", 4), 0);
    assert_non_null(strstr(tu_out, "stopped; the same command resumes"));
    assert_non_null(strstr(tu_out, "tgsage analyze --db"));
    assert_null(strchr(tu_out, '\r'));
    char want[4][33];
    expected_hashes("layerwise:4", SEED, 4, want);
    check_pool("p2", 4, want, 1);
    /* the CLI's refusals of a rerun that differs */
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "--teacher %s --epochs 2 --at 0.25,0.5 --data fashion-mnist --val %d "
             "--train-limit %d --seed %d --split-seed %d --workers 0", g_url, g_ta, g_tb, NVAL,
             LIMIT, SEED, SPLIT);
    tu_expect(a, 1, "epochs");
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "--teacher %s %s", g_url, g_tb, g_ta, common);
    tu_expect(a, 1, "teacher 0");
    snprintf(a, sizeof a, "pool --db %s --study p2 --space layerwise:4 --n 4 --teacher %s "
             "--teacher %s --data fashion-mnist --val %d --train-limit 900 --seed %d "
             "--split-seed %d --epochs 1 --at 0.25,0.5 --workers 0", g_url, g_ta, g_tb, NVAL,
             SEED, SPLIT);
    tu_expect(a, 1, "differs from this run");
    check_pool("p2", 4, want, 1);
}

static void test_from_study(void **state) {
    (void)state;
    char a[8192];
    snprintf(a, sizeof a, "search --db %s --study src --space layerwise:4 --algo random "
             "--trials 6 --workers 2 --seed 9 --objective-cmd '%s'", g_url, g_obj);
    tu_expect(a, 0, "6 of 6 trials complete");
    tg_tracker *t;
    tg_error err;
    tg_study s;
    tg_trial *best;
    int64_t nb;
    assert_int_equal(tg_tracker_open(g_url, &t, &err), TG_OK);
    assert_int_equal(tg_study_get(t, "src", &s, &err), TG_OK);
    assert_int_equal(tg_trial_best(t, s.id, 3, &best, &nb, &err), TG_OK);
    tg_tracker_close(t);
    assert_int_equal(nb, 3);
    snprintf(a, sizeof a, "pool --db %s --study p3 --from-study src --n 3 --teacher %s "
             "--teacher %s --epochs 1 --at 0.25,0.5 --data fashion-mnist --val %d "
             "--train-limit %d --seed %d --split-seed %d --workers 0", g_url, g_ta, g_tb, NVAL,
             LIMIT, SEED, SPLIT);
    assert_int_equal(run_until_queued(a, "p3", 3), 0);
    char want[3][33];
    for (int i = 0; i < 3; i++) memcpy(want[i], best[i].hash, 33);
    check_pool("p3", 3, want, 1);
    tg_trials_free(best, nb);
    /* more than the study has */
    snprintf(a, sizeof a, "pool --db %s --study p4 --from-study src --n 7 --teacher %s "
             "--epochs 1 --at 0.25,0.5 --data fashion-mnist --val %d --train-limit %d "
             "--seed %d --split-seed %d --workers 0", g_url, g_ta, NVAL, LIMIT, SEED, SPLIT);
    tu_expect(a, 1, "6 complete trials");
    /* through the library: all of them when K is not given */
    tg_study_config c = pool_config(0);
    c.space[0] = '\0';
    const char *ab[] = {g_ta, g_tb};
    tg_queue_progress fin;
    if (pool_queue("p5", &c, ab, 2, "src", &fin, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(fin.total, 6);
    pool_view v = view("p5");
    assert_int_equal(v.s.cfg.trials, 6);
    assert_string_equal(v.s.cfg.space, "layerwise:4");
    view_free(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_queue_and_refusals),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_from_study),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
