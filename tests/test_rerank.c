/* test_rerank.c - `tgsage rerank` as a user meets it, through the binary on
 * a real SQLite database, with objective commands (nothing trains): a
 * search scored by a shell objective, then its top K reranked by another
 * objective (the same score plus one, so each reranked result shows which
 * genome it came from). Checked: the rerank study's configuration and
 * parent link, exactly the parent's top K queued (numbers, parents,
 * hashes), the results landed, a rerun adds and redoes nothing, a larger K
 * extends (the earlier trials kept), --json parses with the rows in the
 * search's order and costs that sum, piped output has no carriage return,
 * `best` and `status` show the link; and the refusals: an objective
 * search without --objective-cmd, too large a K, another --epochs on the
 * same rerank study, usage errors. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/tracker.h"
#include "tgsage/worker.h"

static char g_dir[256], g_url[4200], g_obj[700], g_obj1[700];

static void write_script(const char *name, const char *plus, char *cmd, size_t n) {
    char path[600], text[1024];
    snprintf(path, sizeof path, "%s/%s.sh", g_dir, name);
    /* the genome's CRC / 2^32 (+ plus) */
    snprintf(text, sizeof text,
             "g=$(cat)\n"
             "c=$(printf %%s \"$g\" | cksum | cut -d' ' -f1)\n"
             "awk -v c=\"$c\" 'BEGIN { printf \"%%.9f\\n\", c / 4294967296 + %s }'\n", plus);
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    snprintf(cmd, n, "sh %s", path);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_url, sizeof g_url, "%s", td_sqlite_url(g_dir, "rerank"));
    write_script("obj", "0", g_obj, sizeof g_obj);
    write_script("obj1", "1", g_obj1, sizeof g_obj1);
    char a[8192];
    snprintf(a, sizeof a, "search --db %s --study s1 --space layerwise:4 --algo random "
             "--trials 8 --workers 2 --seed 3 --objective-cmd '%s'", g_url, g_obj);
    if (tu_run(a) != 0 || !strstr(tu_out, "8 of 8 trials complete")) {
        fprintf(stderr, "the search failed:\n%s\n", tu_out);
        return 1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

typedef struct {
    tg_study s;
    tg_trial *tr;
    int64_t n;
} study_view;

static study_view view(const char *name) {
    study_view v;
    tg_tracker *t;
    tg_error err;
    assert_int_equal(tg_tracker_open(g_url, &t, &err), TG_OK);
    if (tg_study_get(t, name, &v.s, &err) != TG_OK) fail_msg("%s", err.msg);
    if (tg_trial_list(t, v.s.id, &v.tr, &v.n, &err) != TG_OK) fail_msg("%s", err.msg);
    tg_tracker_close(t);
    return v;
}

static void view_free(study_view *v) { tg_trials_free(v->tr, v->n); }

/* The numbers of the parent's k best complete trials, computed here from
 * the scores: highest first, ties to the lower number. */
static void top_k(const study_view *p, int k, int64_t *out) {
    int used[64] = {0};
    assert_true(p->n <= 64);
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int64_t i = 0; i < p->n; i++) {
            if (used[i] || p->tr[i].state != TG_TRIAL_COMPLETE) continue;
            if (best < 0 || p->tr[i].score > p->tr[best].score) best = (int)i;
        }
        assert_true(best >= 0);
        used[best] = 1;
        out[r] = p->tr[best].number;
    }
}

static const tg_trial *by_number(const study_view *v, int64_t number) {
    for (int64_t i = 0; i < v->n; i++)
        if (v->tr[i].number == number) return &v->tr[i];
    fail_msg("no trial %lld", (long long)number);
    return NULL;
}

/* The rerank study holds exactly the parent trials top[0..k), each scored
 * by the second objective (its parent's score + 1) and never redone. */
static void check_rerank(const char *name, const int64_t *top, int k) {
    study_view p = view("s1"), r = view(name);
    assert_string_equal(r.s.cfg.algo, "rerank");
    assert_true(r.s.cfg.epochs == 2.5);
    assert_int_equal(r.s.cfg.trials, k);
    assert_string_equal(r.s.cfg.score, "objective");
    assert_string_equal(r.s.cfg.space, p.s.cfg.space);
    assert_true(r.s.cfg.seed == p.s.cfg.seed);
    assert_int_equal(r.s.parent, p.s.id);
    assert_true(r.s.done);
    assert_int_equal(r.n, k);
    for (int i = 0; i < k; i++) {
        const tg_trial *t = NULL;
        for (int64_t j = 0; j < r.n; j++)
            if (r.tr[j].parent == top[i]) t = &r.tr[j];
        if (!t) fail_msg("parent trial %lld was not reranked", (long long)top[i]);
        const tg_trial *o = by_number(&p, top[i]);
        assert_string_equal(t->hash, o->hash);
        assert_string_equal(t->genome, o->genome);
        assert_int_equal(t->state, TG_TRIAL_COMPLETE);
        assert_int_equal(t->attempt, 1);
        if (fabs(t->score - o->score - 1) > 2e-9)
            fail_msg("trial %lld: reranked %.9f, search %.9f", (long long)t->number, t->score,
                     o->score);
    }
    view_free(&p);
    view_free(&r);
}

static void test_usage_and_refusals(void **state) {
    (void)state;
    tu_expect("rerank --help", 0, "usage: tgsage rerank");
    const char *flags[] = {"--db", "--study", "--top", "--epochs", "--into", "--workers",
                           "--threads", "--objective-cmd", "--json"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(tu_out, flags[i])) fail_msg("rerank --help lacks %s", flags[i]);
    tu_expect("--help", 0, "rerank");
    char a[8192];
    snprintf(a, sizeof a, "rerank --db %s --study s1 --epochs 2", g_url);
    tu_expect(a, 2, "--top is required");
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 2", g_url);
    tu_expect(a, 2, "--epochs is required");
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 0 --epochs 2", g_url);
    tu_expect(a, 2, "--top");
    snprintf(a, sizeof a, "rerank --db %s --study nosuch --top 2 --epochs 2", g_url);
    tu_expect(a, 1, "nosuch");
    assert_non_null(strstr(tu_out, "s1"));   /* the studies there are */
    /* an objective search cannot be trained longer without a command */
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 2 --epochs 2", g_url);
    tu_expect(a, 1, "--objective-cmd");
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 9 --epochs 2 --objective-cmd '%s'",
             g_url, g_obj1);
    tu_expect(a, 1, "8 complete trials");
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 1 --epochs 2 --train-limit 100 "
             "--into s1.tl --objective-cmd '%s'", g_url, g_obj1);
    tu_expect(a, 1, "--train-limit is for a study that trains");
    /* search --json: one object on stdout at the end */
    snprintf(a, sizeof a, "search --db %s --study s0 --space layerwise:4 --algo random "
             "--trials 2 --workers 1 --objective-cmd '%s' --json", g_url, g_obj);
    assert_int_equal(tu_run(a), 0);
    assert_null(strchr(tu_out, '\r'));
    char *line = strstr(tu_out, "{\"study\"");
    assert_non_null(line);
    line[strcspn(line, "\n")] = '\0';
    cJSON *j = cJSON_Parse(line);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "study")->valuestring, "s0");
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "done");
    assert_true(cJSON_GetObjectItem(j, "complete")->valuedouble == 2);
    assert_true(cJSON_GetObjectItem(j, "trials")->valuedouble == 2);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "best")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "examples")));
    cJSON_Delete(j);
    /* nothing was created by the refusals */
    tg_tracker *t;
    tg_study s;
    assert_int_equal(tg_tracker_open(g_url, &t, NULL), TG_OK);
    assert_int_equal(tg_study_get(t, "s1.rerank", &s, NULL), TG_ERR_NOT_FOUND);
    tg_tracker_close(t);
}

static void test_rerank_extend(void **state) {
    (void)state;
    study_view p = view("s1");
    assert_int_equal(p.n, 8);
    int64_t top[8];
    top_k(&p, 8, top);
    view_free(&p);

    char a[8192];
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 3 --epochs 2.5 --workers 2 "
             "--objective-cmd '%s'", g_url, g_obj1);
    tu_expect(a, 0, "rerank study 's1.rerank' of 's1'");
    assert_null(strchr(tu_out, '\r'));
    assert_non_null(strstr(tu_out, "rerank: "));        /* progress, as log lines */
    assert_non_null(strstr(tu_out, "cost: search 8 trials"));
    /* the table: by the search's rank, each row's parent */
    char *rows = strstr(tu_out, "rerank-score");
    assert_non_null(rows);
    for (int i = 0; i < 3; i++) {
        rows = strchr(rows, '\n');
        assert_non_null(rows);
        rows++;
        long rank, parent;
        char trial[16];
        assert_int_equal(sscanf(rows, "%ld %15s %ld", &rank, trial, &parent), 3);
        assert_int_equal(rank, i + 1);
        assert_int_equal(parent, top[i]);
        assert_true(atol(trial) >= 0 && atol(trial) < 3);
    }
    check_rerank("s1.rerank", top, 3);
    study_view r1 = view("s1.rerank");
    double finished[3];
    for (int i = 0; i < 3; i++) finished[i] = r1.tr[i].finished;
    view_free(&r1);

    /* the same K again: nothing added, nothing redone */
    tu_expect(a, 0, "0 newly queued, 3 already there");
    check_rerank("s1.rerank", top, 3);
    r1 = view("s1.rerank");
    for (int i = 0; i < 3; i++) assert_true(r1.tr[i].finished == finished[i]);
    view_free(&r1);

    /* a larger K extends, as JSON */
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 5 --epochs 2.5 --workers 2 "
             "--objective-cmd '%s' --json", g_url, g_obj1);
    assert_int_equal(tu_run(a), 0);
    assert_null(strchr(tu_out, '\r'));
    cJSON *j = NULL;
    for (char *line = tu_out; *line;) {
        size_t len = strcspn(line, "\n");
        if (!strncmp(line, "{\"study\"", 8)) {
            char *text = strndup(line, len);
            j = cJSON_Parse(text);
            free(text);
        }
        line += len;
        if (*line) line++;
    }
    if (!j) fail_msg("no JSON object in:\n%s", tu_out);
    assert_string_equal(cJSON_GetObjectItem(j, "study")->valuestring, "s1.rerank");
    assert_string_equal(cJSON_GetObjectItem(j, "parent")->valuestring, "s1");
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "done");
    assert_true(cJSON_GetObjectItem(j, "top")->valuedouble == 5);
    assert_true(cJSON_GetObjectItem(j, "epochs")->valuedouble == 2.5);
    const cJSON *rowsj = cJSON_GetObjectItem(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rowsj), 5);
    study_view p2 = view("s1"), r2 = view("s1.rerank");
    for (int i = 0; i < 5; i++) {
        const cJSON *x = cJSON_GetArrayItem(rowsj, i);
        assert_true(cJSON_GetObjectItem(x, "rank")->valuedouble == i + 1);
        int64_t parent = (int64_t)cJSON_GetObjectItem(x, "parent")->valuedouble;
        int64_t trial = (int64_t)cJSON_GetObjectItem(x, "trial")->valuedouble;
        assert_int_equal(parent, top[i]);
        assert_string_equal(cJSON_GetObjectItem(x, "state")->valuestring, "complete");
        const tg_trial *o = by_number(&p2, parent), *t = by_number(&r2, trial);
        assert_int_equal(t->parent, parent);
        assert_true(cJSON_GetObjectItem(x, "search_score")->valuedouble == o->score);
        assert_true(cJSON_GetObjectItem(x, "score")->valuedouble == t->score);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "p")));
        assert_true(cJSON_GetObjectItem(x, "params")->valuedouble > 0);
        /* the first three keep their trials; the new ones come after */
        if (i < 3) assert_true(trial < 3);
        else assert_true(trial >= 3);
    }
    const cJSON *c = cJSON_GetObjectItem(j, "cost");
    double se = cJSON_GetObjectItem(c, "search_examples")->valuedouble,
           re = cJSON_GetObjectItem(c, "rerank_examples")->valuedouble,
           te = cJSON_GetObjectItem(c, "total_examples")->valuedouble;
    assert_true(se + re == te);
    assert_true(cJSON_GetObjectItem(c, "search_trials")->valuedouble == 8);
    assert_true(cJSON_GetObjectItem(c, "rerank_trials")->valuedouble == 5);
    int64_t sum = 0;
    for (int64_t i = 0; i < p2.n; i++) sum += p2.tr[i].examples;
    assert_true(se == (double)sum);
    view_free(&p2);
    view_free(&r2);
    cJSON_Delete(j);
    check_rerank("s1.rerank", top, 5);

    /* another budget on the same rerank study is refused, naming it */
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 5 --epochs 3 --workers 0 "
             "--objective-cmd '%s'", g_url, g_obj1);
    tu_expect(a, 1, "epochs");
    /* --into: a rerank study of another name */
    snprintf(a, sizeof a, "rerank --db %s --study s1 --top 2 --epochs 2.5 --into s1.r2 "
             "--workers 1 --objective-cmd '%s'", g_url, g_obj1);
    tu_expect(a, 0, "rerank study 's1.r2' of 's1'");
    check_rerank("s1.r2", top, 2);
}

static void test_best_and_status(void **state) {
    (void)state;
    char a[8192];
    snprintf(a, sizeof a, "best --db %s --study s1.rerank --k 5 --json", g_url);
    assert_int_equal(tu_run(a), 0);
    int n = 0;
    for (char *line = tu_out; *line;) {
        size_t len = strcspn(line, "\n");
        if (*line == '{') {
            char *text = strndup(line, len);
            cJSON *j = cJSON_Parse(text);
            free(text);
            assert_non_null(j);
            double score = cJSON_GetObjectItem(j, "score")->valuedouble;
            double ps = cJSON_GetObjectItem(j, "parent_score")->valuedouble;
            assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "parent")));
            assert_true(fabs(score - ps - 1) < 2e-9);
            cJSON_Delete(j);
            n++;
        }
        line += len;
        if (*line) line++;
    }
    assert_int_equal(n, 5);
    snprintf(a, sizeof a, "best --db %s --study s1.rerank --k 2", g_url);
    tu_expect(a, 0, "parent-score");
    snprintf(a, sizeof a, "status --db %s --json", g_url);
    assert_int_equal(tu_run(a), 0);
    int seen = 0;
    for (char *line = tu_out; *line;) {
        size_t len = strcspn(line, "\n");
        char *text = strndup(line, len);
        cJSON *j = cJSON_Parse(text);
        free(text);
        assert_non_null(j);
        const char *name = cJSON_GetObjectItem(j, "name")->valuestring;
        const cJSON *parent = cJSON_GetObjectItem(j, "parent");
        if (!strcmp(name, "s1")) {
            assert_true(cJSON_IsNull(parent));
            seen++;
        } else if (strcmp(name, "s0")) {
            assert_string_equal(cJSON_GetObjectItem(j, "algo")->valuestring, "rerank");
            assert_string_equal(parent->valuestring, "s1");
            seen++;
        }
        cJSON_Delete(j);
        line += len;
        if (*line) line++;
    }
    assert_int_equal(seen, 3);   /* s1, s1.rerank, s1.r2 (and s0, a search) */
    snprintf(a, sizeof a, "status --db %s", g_url);
    tu_expect(a, 0, "parent");
    assert_non_null(strstr(tu_out, "rerank"));
}

/* Local workers that all die at once (here /bin/false) end the run with an
 * error naming them, rather than a wait for ever; the trial stays queued. */
static void test_workers_gone(void **state) {
    (void)state;
    char *av[] = {"/bin/false", NULL};
    tg_rerank_config rc = {"s1", "s1.dead", 1, 2.5, -1};
    tg_queue_run_config q;
    memset(&q, 0, sizeof q);
    q.url = g_url;
    q.workers = 2;
    q.worker_argv = av;
    q.poll_s = 0.05;
    tg_queue_progress fin;
    tg_error err;
    assert_int_equal(tg_rerank_run(&rc, &q, &fin, &err), TG_ERR_IO);
    if (!strstr(err.msg, "all 2 local workers exited")) fail_msg("%s", err.msg);
    assert_int_equal(fin.waiting, 1);
    study_view r = view("s1.dead");
    assert_false(r.s.done);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.tr[0].state, TG_TRIAL_WAITING);
    view_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_refusals),
        cmocka_unit_test(test_rerank_extend),
        cmocka_unit_test(test_best_and_status),
        cmocka_unit_test(test_workers_gone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
