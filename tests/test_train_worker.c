/* test_train_worker.c - a worker training real candidates: a tiny study on
 * Fashion-MNIST (2,000 training images, 500 held out, two epochs at
 * batch 32) with a teacher of raw pixels (two "regions" of the image), and
 * three layer-wise genomes, the middle one too large for the worker's
 * memory limit. The two others complete with P above chance, TG in (0, 1],
 * score = P + alpha*TG exactly, the similarity matrix shaped teacher
 * layers x candidate layers, the trial RDMs (each teacher layer's winning
 * candidate layer and its RDM block), the cost in examples; the oversized one fails
 * with its reason and the next trial still runs. Trial 0's P equals a
 * direct tg_train_run of its genome with the documented seed, bit for bit.
 * A stop raised as a trial is claimed gives it back (attempt not counted),
 * and a worker whose lease is lost mid-training stops at its next step. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <cjson/cJSON.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/genome.h"
#include "tgsage/rng.h"
#include "tgsage/teacher.h"
#include "tgsage/threads.h"
#include "tgsage/tracker.h"
#include "tgsage/trainer.h"
#include "tgsage/worker.h"

#define LAYER(f, k, s, in) \
    "{\"filters\": " #f ", \"kh\": " #k ", \"kw\": " #k ", \"stride\": " #s \
    ", \"act\": \"relu\", \"norm\": \"bn\", \"inputs\": " in "}"
#define GENOME(layers) "{\"schema\": 1, \"space\": \"layerwise\", \"max_layers\": 4, " \
                       "\"layers\": [" layers "]}"

static const char *const GENOMES[3] = {
    GENOME(LAYER(32, 3, 2, "[-1]")),
    GENOME(LAYER(128, 7, 1, "[-1]") ", " LAYER(128, 7, 1, "[-1, 0]") ", "
           LAYER(128, 7, 1, "[-1, 0, 1]") ", " LAYER(128, 7, 1, "[-1, 0, 1, 2]")),
    GENOME(LAYER(32, 3, 2, "[-1]") ", " LAYER(64, 3, 2, "[0]")),
};

typedef struct {
    char *buf;
    volatile sig_atomic_t *stop;  /* raised on the first claim, when set */
} log_ctx;

static void log_line(void *user, const char *line) {
    log_ctx *l = user;
    size_t n = strlen(l->buf);
    snprintf(l->buf + n, 65536 - n, "%s\n", line);
    if (l->stop && strstr(line, ": claimed")) *l->stop = SIGTERM;
}

/* The bytes a genome needs to train at batch 32 on 1x28x28, 10 classes. */
static size_t need_of(const char *json) {
    tg_error err;
    tg_genome *g = tg_genome_parse(json, NULL, &err);
    if (!g) fail_msg("%s", err.msg);
    tg_genome_stats s;
    assert_int_equal(tg_genome_stats_get(g, 1, 28, 28, 10, &s, &err), TG_OK);
    tg_genome_free(g);
    return tg_genome_train_bytes(&s, 32);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The trial RDMs (docs/formats.md): the teacher's unit and size, k =
 * min(m, 40) (10 categories here), per teacher layer its winning candidate
 * layer (the first maximum of its row of the similarity matrix r, whose
 * candidate names are cand) and that layer's RDM block: k x k, symmetric,
 * zero on the diagonal, entries in [0, 2]. */
static void check_rdms(const char *text, const cJSON *r, const cJSON *cand) {
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "unit")->valuestring, "category");
    assert_true(cJSON_GetObjectItem(j, "m")->valuedouble == 10);
    assert_true(cJSON_GetObjectItem(j, "k")->valuedouble == 10);
    cJSON *te = cJSON_GetObjectItem(j, "teacher"), *ca = cJSON_GetObjectItem(j, "candidate"),
          *rdm = cJSON_GetObjectItem(j, "rdm");
    assert_int_equal(cJSON_GetArraySize(te), 2);
    assert_string_equal(cJSON_GetArrayItem(te, 0)->valuestring, "top");
    assert_string_equal(cJSON_GetArrayItem(te, 1)->valuestring, "bottom");
    assert_int_equal(cJSON_GetArraySize(ca), 2);
    assert_int_equal(cJSON_GetArraySize(rdm), 2);
    for (int a = 0; a < 2; a++) {
        const cJSON *row = cJSON_GetArrayItem(r, a);
        int best = 0;
        for (int q = 1; q < cJSON_GetArraySize(row); q++)
            if (cJSON_GetArrayItem(row, q)->valuedouble >
                cJSON_GetArrayItem(row, best)->valuedouble)
                best = q;
        assert_string_equal(cJSON_GetArrayItem(ca, a)->valuestring,
                            cJSON_GetArrayItem(cand, best)->valuestring);
        const cJSON *mat = cJSON_GetArrayItem(rdm, a);
        assert_int_equal(cJSON_GetArraySize(mat), 10);
        double off = 0;
        for (int i = 0; i < 10; i++) {
            const cJSON *ri = cJSON_GetArrayItem(mat, i);
            assert_int_equal(cJSON_GetArraySize(ri), 10);
            for (int q = 0; q < 10; q++) {
                const double v = cJSON_GetArrayItem(ri, q)->valuedouble;
                const double t = cJSON_GetArrayItem(cJSON_GetArrayItem(mat, q), i)->valuedouble;
                assert_true(v >= 0 && v <= 2);
                assert_true(fabs(v - t) < 1e-5);  /* 6 digits kept */
                if (i == q) assert_true(v == 0);
                else off += v;
            }
        }
        assert_true(off > 0);  /* a real RDM, not zeros */
    }
    cJSON_Delete(j);
}

/* A lost lease stops the training: the real worker binary trains a
 * 100-epoch trial (a minute or more here); stopped (SIGSTOP) past its 0.6 s lease,
 * the trial is taken by another worker; continued, the worker's next step
 * heartbeats, finds the lease gone, stops training at once and reports
 * nothing, and the other worker's result stands. */
static void lost_lease_stops_training(tg_tracker *db, const char *url, const char *dir,
                                      const tg_study_config *base, const void *teacher,
                                      size_t nteacher, const tg_proposal *genome) {
    tg_error err;
    tg_study_config cfg = *base;
    cfg.epochs = 100, cfg.lease_s = 0.6, cfg.trials = 1, cfg.parallel = 1;
    tg_study s;
    int created;
    if (tg_study_open(db, "stolen", &cfg, teacher, nteacher, &s, &created, &err) != TG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(tg_study_lock(db, s.id, "test", 600, &err), TG_OK);
    tg_proposal p = *genome;
    p.pid = 0;
    int64_t num;
    assert_int_equal(tg_study_propose(db, s.id, "test", &p, 1, "{}", &num, &err), TG_OK);
    assert_int_equal(tg_study_set_done(db, s.id, 1, &err), TG_OK);

    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/stolen.log", dir);
    const char *bin = getenv("TG_BIN");
    assert_non_null(bin);
    pid_t w = fork();
    assert_true(w >= 0);
    if (w == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(126);
        dup2(fd, 1), dup2(fd, 2);
        execl(bin, bin, "worker", "--db", url, "--study", "stolen", "--threads", "1",
              (char *)NULL);
        _exit(127);
    }
    /* running, and a little into its training */
    tg_trial *t;
    int64_t n;
    double t0 = now_s();
    for (;;) {
        assert_int_equal(tg_trial_list(db, s.id, &t, &n, &err), TG_OK);
        int running = t[0].state == TG_TRIAL_RUNNING;
        tg_trials_free(t, n);
        if (running) break;
        if (now_s() - t0 > 60) {
            kill(w, SIGKILL);
            fail_msg("the worker never claimed the trial");
        }
        usleep(20000);
    }
    usleep(500000);
    kill(w, SIGSTOP);
    usleep(1000000);   /* past the lease */
    tg_worker_id other;
    tg_worker_id_init(&other);
    snprintf(other.owner, sizeof other.owner, "%s:%d:00000000000000ee", other.host, other.pid);
    tg_claim c;
    int got;
    tg_status cst = tg_trial_claim(db, s.id, &other, 600, &c, &got, &err);
    kill(w, SIGCONT);
    assert_int_equal(cst, TG_OK);
    assert_int_equal(got, 1);
    assert_int_equal(c.attempt, 2);
    double cont = now_s();
    int ws;
    while (waitpid(w, &ws, WNOHANG) == 0) {
        if (now_s() - cont > 30) {
            kill(w, SIGKILL);
            waitpid(w, &ws, 0);
            fail_msg("the worker went on training after losing its lease");
        }
        usleep(20000);
    }
    double took = now_s() - cont;
    print_message("lease lost: the worker stopped training %.2f s after it was continued\n",
                  took);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    assert_true(took < 5);   /* the rest of 100 epochs takes a minute */
    size_t nlog;
    char *wlog = NULL;
    FILE *lf = fopen(logpath, "rb");
    assert_non_null(lf);
    wlog = calloc(1, 1 << 16);
    nlog = fread(wlog, 1, (1 << 16) - 1, lf);
    fclose(lf);
    (void)nlog;
    if (!strstr(wlog, "lease lost")) fail_msg("worker log lacks 'lease lost':\n%s", wlog);
    free(wlog);
    /* the other worker's result is the trial's */
    tg_trial_result r = {.ok = 1, .score = 42, .p = NAN, .val_loss = NAN, .tg = NAN};
    int fenced;
    assert_int_equal(tg_trial_report(db, &c, &other, &r, &fenced, &err), TG_OK);
    assert_int_equal(fenced, 0);
    tg_claim_free(&c);
    assert_int_equal(tg_trial_list(db, s.id, &t, &n, &err), TG_OK);
    assert_int_equal(t[0].state, TG_TRIAL_COMPLETE);
    assert_true(t[0].score == 42);
    assert_int_equal(t[0].attempt, 2);
    tg_trials_free(t, n);
}

static void test_training_study(void **state) {
    (void)state;
    tg_threads_set(0);
    const char *dir = tu_tmpdir();
    char dirbuf[256];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    tg_error err;
    tg_dataset tr, va;
    if (tg_split_load("fashion-mnist", 500, 6, 2000, 0, &tr, &va, NULL, &err) != TG_OK)
        fail_msg("%s", err.msg);

    /* the teacher: raw pixels of the first 100 validation images, the top
     * and the bottom half of the image as two regions, by category */
    const int64_t nimg = 100;
    float *F = malloc(sizeof(float) * nimg * 784);
    tg_dataset_images(&va, NULL, 0, (int)nimg, F);
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.unit = TG_RDM_CATEGORY, t.method = TG_SIM_PEARSON, t.max_features = 300, t.seed = 3;
    char regions[8192];
    int k = snprintf(regions, sizeof regions, "{\"top\": [");
    for (int i = 0; i < 392; i++) k += snprintf(regions + k, sizeof regions - k, "%s%d", i ? "," : "", i);
    k += snprintf(regions + k, sizeof regions - k, "], \"bottom\": [");
    for (int i = 392; i < 784; i++)
        k += snprintf(regions + k, sizeof regions - k, "%s%d", i > 392 ? "," : "", i);
    snprintf(regions + k, sizeof regions - k, "]}");
    if (tg_teacher_from_recordings(&t, F, nimg, 784, va.labels, regions, "regions", "px",
                                   &err) != TG_OK ||
        tg_teacher_tie(&t, &va, va.labels, nimg, &err) != TG_OK)
        fail_msg("%s", err.msg);
    free(F);
    char tpath[512];
    snprintf(tpath, sizeof tpath, "%s/px.teacher", dirbuf);
    assert_int_equal(tg_teacher_save(tpath, &t, &err), TG_OK);
    tg_teacher_free(&t);
    FILE *f = fopen(tpath, "rb");
    fseek(f, 0, SEEK_END);
    size_t nt = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *tbytes = malloc(nt);
    assert_int_equal(fread(tbytes, 1, nt, f), nt);
    fclose(f);

    /* the study, its three trials */
    tg_tracker *db;
    const char *url = td_sqlite_url(dirbuf, "train");
    char urlbuf[4200];
    snprintf(urlbuf, sizeof urlbuf, "%s", url);
    if (tg_tracker_open(urlbuf, &db, &err) != TG_OK) fail_msg("%s", err.msg);
    tg_study_config cfg;
    tg_study_config_defaults(&cfg);
    snprintf(cfg.space, sizeof cfg.space, "layerwise:4");
    snprintf(cfg.algo, sizeof cfg.algo, "random");
    snprintf(cfg.score, sizeof cfg.score, "p+tg");
    snprintf(cfg.data, sizeof cfg.data, "fashion-mnist");
    snprintf(cfg.fingerprint, sizeof cfg.fingerprint, "%s", tr.fingerprint);
    cfg.alpha = 0.5, cfg.epochs = 2, cfg.batch = 32, cfg.trials = 3, cfg.parallel = 3;
    cfg.seed = 11, cfg.split_seed = 6, cfg.nval = 500, cfg.train_limit = 2000, cfg.lease_s = 30;
    tg_study s;
    int created;
    if (tg_study_open(db, "tiny", &cfg, tbytes, nt, &s, &created, &err) != TG_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(tg_study_lock(db, s.id, "test", 600, &err), TG_OK);
    tg_proposal p[3];
    char *canon[3], hash[3][33];
    for (int i = 0; i < 3; i++) {
        tg_genome *g = tg_genome_parse(GENOMES[i], NULL, &err);
        if (!g) fail_msg("genome %d: %s", i, err.msg);
        canon[i] = tg_genome_json(g);
        tg_genome_hash(g, hash[i]);
        tg_genome_free(g);
        p[i] = (tg_proposal){i, canon[i], hash[i]};
    }
    int64_t num[3];
    assert_int_equal(tg_study_propose(db, s.id, "test", p, 3, "{}", num, &err), TG_OK);
    assert_int_equal(tg_study_set_done(db, s.id, 1, &err), TG_OK);

    /* a memory limit between the small genomes' needs and the large one's */
    const size_t small = need_of(GENOMES[0]) > need_of(GENOMES[2]) ? need_of(GENOMES[0])
                                                                   : need_of(GENOMES[2]);
    const size_t limit = 4 * small;
    assert_true(need_of(GENOMES[1]) > limit);

    char *log = calloc(1, 65536);
    volatile sig_atomic_t stop = 0;
    log_ctx lc = {log, &stop};
    tg_worker_config c;
    memset(&c, 0, sizeof c);
    c.url = urlbuf, c.study = "tiny", c.workdir = dirbuf, c.poll_s = 0.05;
    c.max_train_bytes = limit;
    c.log = log_line, c.log_user = &lc;
    c.stop = &stop;
    tg_worker_stats st;
    tg_trial *trials;
    int64_t n;
    /* a stop (as SIGTERM would raise it) as soon as trial 0 is claimed: the
     * training stops before its first step and the trial goes back */
    assert_int_equal(tg_worker_run(&c, &st, &err), TG_OK);
    assert_int_equal(st.released, 1);
    assert_int_equal(st.completed + st.failed + st.fenced, 0);
    assert_non_null(strstr(log, "trial 0: released"));
    assert_int_equal(tg_trial_list(db, s.id, &trials, &n, &err), TG_OK);
    assert_int_equal(trials[0].state, TG_TRIAL_WAITING);
    assert_int_equal(trials[0].attempt, 0);
    tg_trials_free(trials, n);
    stop = 0, lc.stop = NULL, log[0] = '\0';

    if (tg_worker_run(&c, &st, &err) != TG_OK) fail_msg("%s", err.msg);
    print_message("%s", log);
    assert_int_equal(st.completed, 2);
    assert_int_equal(st.failed, 1);
    /* 2000 images at batch 32: 63 steps an epoch (the last of 16), every
     * image twice in two epochs */
    assert_int_equal(st.examples, 2 * 2 * 2000);

    assert_int_equal(tg_trial_list(db, s.id, &trials, &n, &err), TG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(trials[1].state, TG_TRIAL_FAILED);
    assert_non_null(strstr(trials[1].error, "oversized genome: genome needs "));
    assert_non_null(strstr(trials[1].error, "to train at batch 32; the limit is"));
    assert_non_null(strstr(log, "trial 1 failed: oversized genome"));
    const int ncand[3] = {1, 0, 2};
    for (int i = 0; i < 3; i += 2) {
        const tg_trial *x = &trials[i];
        print_message("trial %d: p %.4f, tg %.4f, score %.4f, %lld examples, %.2f s + %.2f s\n",
                      i, x->p, x->tg, x->score, (long long)x->examples, x->train_s, x->eval_s);
        assert_int_equal(x->state, TG_TRIAL_COMPLETE);
        assert_true(x->p > 0.2 && x->p <= 1);
        assert_true(x->tg > 0 && x->tg <= 1);
        assert_true(x->score == x->p + 0.5 * x->tg);
        assert_true(isfinite(x->val_loss));
        assert_int_equal(x->examples, 2 * 2000);
        assert_true(x->train_s > 0 && x->eval_s > 0);
        /* the similarity matrix: rows the teacher's layers, columns the
         * candidate's; TG is the mean of the rows' maxima */
        cJSON *j = cJSON_Parse(x->sim);
        assert_non_null(j);
        cJSON *te = cJSON_GetObjectItem(j, "teacher"), *ca = cJSON_GetObjectItem(j, "candidate"),
              *r = cJSON_GetObjectItem(j, "r");
        assert_int_equal(cJSON_GetArraySize(te), 2);
        assert_string_equal(cJSON_GetArrayItem(te, 0)->valuestring, "top");
        assert_string_equal(cJSON_GetArrayItem(te, 1)->valuestring, "bottom");
        assert_int_equal(cJSON_GetArraySize(ca), ncand[i]);
        for (int q = 0; q < ncand[i]; q++) {
            char want[24];
            snprintf(want, sizeof want, "layer%d", q);
            assert_string_equal(cJSON_GetArrayItem(ca, q)->valuestring, want);
        }
        assert_int_equal(cJSON_GetArraySize(r), 2);
        double sum = 0;
        for (int a = 0; a < 2; a++) {
            cJSON *row = cJSON_GetArrayItem(r, a);
            assert_int_equal(cJSON_GetArraySize(row), ncand[i]);
            double best = -2;
            for (int q = 0; q < ncand[i]; q++) {
                double v = cJSON_GetArrayItem(row, q)->valuedouble;
                assert_true(v >= -1 && v <= 1);
                best = v > best ? v : best;
            }
            sum += best;
        }
        assert_true(fabs(sum / 2 - x->tg) < 1e-12);
        check_rdms(x->rdms, r, ca);
        cJSON_Delete(j);
    }

    /* trial 0 is the short preset on the study's split with the trial's
     * seed: the same run done directly gives the same P, bit for bit */
    tg_train_config tc;
    assert_int_equal(tg_train_preset("short", &tc, &err), TG_OK);
    tc.genome = canon[0];
    snprintf(tc.space, sizeof tc.space, "layerwise:4");
    tc.epochs = 2, tc.batch = 32;
    tc.seed = tg_rng_derive(tg_rng_derive(11, 0x747269616c73ULL), 0);
    tg_train_result res;
    assert_int_equal(tg_train_run(&tc, &tr, &va, 0, NULL, &res, &err), TG_OK);
    assert_int_equal(res.last.step, 126);
    assert_true(res.final.val_acc == trials[0].p);
    assert_true(res.final.val_loss == trials[0].val_loss);

    tg_trials_free(trials, n);
    lost_lease_stops_training(db, urlbuf, dirbuf, &cfg, tbytes, nt, &p[0]);
    free(tbytes);
    for (int i = 0; i < 3; i++) free(canon[i]);
    free(log);
    tg_tracker_close(db);
    tg_dataset_free(&tr);
    tg_dataset_free(&va);
    tu_rmtree(dirbuf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_study),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
