/* test_report.c - the HTML report's data held against the database it was
 * written from (report_fixture.h: a search with a teacher, a P-only
 * search, a rerank, a pool and a cell search): the best score so far and
 * the cost so far at every complete trial, the reranked accuracy at its
 * parent trial with the search's cost plus the reranks', the cost table's
 * sums, the best architecture's nodes at their depths, the teacher's RDMs
 * cropped to the trial RDMs' k beside the best trial's, the pool's scatter
 * (P + alpha*TG recomputed) and curves (the analysis's Spearman rho), the
 * trials table; escaping of hostile text (a study name put into the
 * database behind the tracker's back, an error text, teacher layer names):
 * nothing but the page's own elements in the HTML, the exact text back
 * from the JSON; `tgsage report` as a user runs it: usage errors, a
 * missing study, an unwritable path, and --watch (a reload while a study
 * runs, none once all are done or after Ctrl-C, exit 0). */
#define _GNU_SOURCE   /* strcasestr */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report_fixture.h"
#include "testdb.h"
#include "tgsage/analysis.h"
#include "tgsage/fileio.h"
#include "tgsage/report.h"

static char g_dir[256], g_url[4200];

static const char *bin(void) {
    const char *b = getenv("TG_BIN");
    return b ? b : "./tgsage";
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_url, sizeof g_url, "%s", td_sqlite_url(g_dir, "report"));
    fx_build(g_url, g_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

static char *slurp(const char *path) {
    unsigned char *d;
    size_t n;
    tg_error err;
    if (tg_file_read(path, (size_t)1 << 30, &d, &n, &err) != TG_OK) fail_msg("%s", err.msg);
    return (char *)d;
}

static const char DATA_OPEN[] = "<script type=\"application/json\" id=\"tg-data\">";

/* The page's data; fails unless the element holds no '<' at all. */
static cJSON *page_data(const char *html) {
    const char *a = strstr(html, DATA_OPEN);
    assert_non_null(a);
    a += sizeof DATA_OPEN - 1;
    const char *b = strstr(a, "</script>");
    assert_non_null(b);
    char *json = strndup(a, (size_t)(b - a));
    assert_null(strchr(json, '<'));
    cJSON *d = cJSON_Parse(json);
    if (!d) fail_msg("the page's data is not JSON");
    free(json);
    return d;
}

static cJSON *write_from(const char *url, const char *focus, double refresh,
                         char **html_out) {
    tg_tracker *t;
    tg_error err;
    fx_ok(tg_tracker_open(url, &t, &err), &err);
    tg_report_config c = {focus, refresh};
    char path[600];
    snprintf(path, sizeof path, "%s/api.html", g_dir);
    fx_ok(tg_report_write(t, &c, path, &err), &err);
    tg_tracker_close(t);
    char *html = slurp(path);
    cJSON *d = page_data(html);
    if (html_out) *html_out = html;
    else free(html);
    return d;
}

static cJSON *write_and_read(const char *focus, double refresh, char **html_out) {
    return write_from(g_url, focus, refresh, html_out);
}

static const cJSON *get(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) fail_msg("no '%s' in the page's data", key);
    return v;
}
static double num(const cJSON *o, const char *key) {
    const cJSON *v = get(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("'%s' is not a number", key);
    return v->valuedouble;
}
static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = get(o, key);
    if (!cJSON_IsString(v)) fail_msg("'%s' is not a string", key);
    return v->valuestring;
}
static void near(double a, double b) {
    if (!(fabs(a - b) <= 1e-12 * fmax(1, fabs(b)))) fail_msg("%.17g != %.17g", a, b);
}
static const cJSON *row_where(const cJSON *rows, const char *key, const char *val) {
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) if (!strcmp(str(r, key), val)) return r;
    fail_msg("no row with %s = %s", key, val);
    return NULL;
}
static int has_note(const cJSON *d, const char *section, const char *text) {
    const cJSON *n;
    cJSON_ArrayForEach(n, get(d, "notes"))
        if (!strcmp(str(n, "section"), section) && strstr(str(n, "text"), text)) return 1;
    return 0;
}

static void trials_of(const char *study, tg_trial **tr, int64_t *n) {
    tg_tracker *t;
    tg_error err;
    fx_ok(tg_tracker_open(g_url, &t, &err), &err);
    tg_study s;
    fx_ok(tg_study_get(t, study, &s, &err), &err);
    fx_ok(tg_trial_list(t, s.id, tr, n, &err), &err);
    tg_tracker_close(t);
}

static void test_progress_and_cost(void **state) {
    (void)state;
    cJSON *d = write_and_read(NULL, 0, NULL);
    assert_string_equal(str(d, "focus"), "s-ptg");
    assert_int_equal(cJSON_GetArraySize(get(d, "studies")), 6);
    assert_string_equal(str(row_where(get(d, "studies"), "name", "s-ptg.rerank"), "parent"),
                        "s-ptg");

    /* progress: per search study, one row per complete trial, the best so
     * far and the cost so far (failed trials counted) by trial number */
    const char *searches[3] = {"s-ptg", "s-p", "cells"};
    int rows = 0;
    for (int k = 0; k < 3; k++) {
        tg_trial *tr;
        int64_t n;
        trials_of(searches[k], &tr, &n);
        double best = -INFINITY;
        int64_t cost = 0;
        for (int64_t i = 0; i < n; i++) {
            if (tr[i].state == TG_TRIAL_COMPLETE || tr[i].state == TG_TRIAL_FAILED)
                cost += tr[i].examples;
            if (tr[i].state != TG_TRIAL_COMPLETE) continue;
            best = fmax(best, tr[i].score);
            const cJSON *r = cJSON_GetArrayItem(get(d, "progress"), rows++);
            assert_non_null(r);
            assert_string_equal(str(r, "study"), searches[k]);
            assert_int_equal(num(r, "trial"), tr[i].number);
            near(num(r, "score"), tr[i].score);
            near(num(r, "best"), best);
            assert_int_equal(num(r, "examples"), cost);
        }
        tg_trials_free(tr, n);
    }
    assert_int_equal(rows, cJSON_GetArraySize(get(d, "progress")));
    assert_int_equal(rows, 6 + 5 + 3);
    /* by hand for s-ptg: scores 0.50 0.77 0.64 - 0.78 2.0 0.92; the cost at
     * trial 4 counts the failed trial 3 */
    const cJSON *r4 = cJSON_GetArrayItem(get(d, "progress"), 3);
    assert_int_equal(num(r4, "trial"), 4);
    near(num(r4, "best"), 0.60 + 0.18);
    assert_int_equal(num(r4, "examples"), 15000);

    /* rerank: by parent number (4, 5, 6), reranked P 0.80, 0.70, 0.75;
     * cost: the search's up to the parent + the reranks' so far */
    const cJSON *rr = get(d, "rerank");
    assert_int_equal(cJSON_GetArraySize(rr), 3);
    const int parent[3] = {4, 5, 6};
    const double acc[3] = {0.80, 0.70, 0.75}, best[3] = {0.80, 0.80, 0.80};
    const int64_t cost[3] = {15000 + 5000, 21000 + 10000, 28000 + 15000};
    for (int i = 0; i < 3; i++) {
        const cJSON *r = cJSON_GetArrayItem(rr, i);
        assert_string_equal(str(r, "study"), "s-ptg");
        assert_string_equal(str(r, "rerank"), "s-ptg.rerank");
        assert_int_equal(num(r, "trial"), parent[i]);
        near(num(r, "acc"), acc[i]);
        near(num(r, "best"), best[i]);
        assert_int_equal(num(r, "examples"), cost[i]);
        assert_string_equal(str(r, "measure"), "P");
    }

    /* cost: sums over the trials; the reranks' examples on their parent */
    const cJSON *c = row_where(get(d, "cost"), "study", "s-ptg");
    assert_int_equal(num(c, "trials"), 8);
    assert_int_equal(num(c, "complete"), 6);
    assert_int_equal(num(c, "failed"), 1);
    assert_int_equal(num(c, "examples"), 28000);
    assert_int_equal(num(c, "rerank_examples"), 15000);
    assert_int_equal(num(c, "total"), 43000);
    /* train_s 1.5 + 0.5 n over the 7 ended trials, eval 0.25 each */
    near(num(c, "train_s"), 7 * 1.5 + 0.5 * 21);
    near(num(c, "eval_s"), 7 * 0.25);
    near(num(c, "cpu_s"), 7 * 1.5 + 0.5 * 21 + 7 * 0.25);
    c = row_where(get(d, "cost"), "study", "s-ptg.rerank");
    assert_int_equal(num(c, "examples"), 15000);
    assert_int_equal(num(c, "rerank_examples"), 0);
    c = row_where(get(d, "cost"), "study", "pool1");
    assert_int_equal(num(c, "examples"), 600 * FX_NPOOL);
    cJSON_Delete(d);
}

static void test_arch_rdm_trials(void **state) {
    (void)state;
    cJSON *d = write_and_read(NULL, 0, NULL);
    /* the best of s-ptg is trial 5, FX_BEST_GENOME */
    const cJSON *a = get(d, "arch");
    assert_int_equal(num(a, "trial"), 5);
    assert_string_equal(str(a, "space"), "layerwise");
    assert_int_equal(num(a, "depth"), 4);
    const char *ids[6] = {"image", "layer0", "layer1", "layer2", "layer3", "classifier"};
    const int depth[6] = {0, 1, 2, 2, 3, 4};
    const double y[6] = {0, 0, 0.5, -0.5, 0, 0};
    const cJSON *nodes = get(d, "arch_nodes");
    assert_int_equal(cJSON_GetArraySize(nodes), 6);
    for (int i = 0; i < 6; i++) {
        const cJSON *nd = row_where(nodes, "id", ids[i]);
        assert_int_equal(num(nd, "depth"), depth[i]);
        near(num(nd, "y"), y[i]);
    }
    assert_string_equal(str(row_where(nodes, "id", "layer1"), "detail"), "32 5x5 /2 relu");
    assert_string_equal(str(row_where(nodes, "id", "layer2"), "detail"), "32 1x3 bn");
    const cJSON *edges = get(d, "arch_edges");
    assert_int_equal(cJSON_GetArraySize(edges), 7);
    const char *from[7] = {"image", "layer0", "image", "layer0", "layer1", "layer2", "layer3"};
    const char *to[7] = {"layer0", "layer1", "layer2", "layer2", "layer3", "layer3",
                         "classifier"};
    for (int i = 0; i < 7; i++) {
        const cJSON *e = cJSON_GetArrayItem(edges, i);
        assert_string_equal(str(e, "from"), from[i]);
        assert_string_equal(str(e, "to"), to[i]);
        const cJSON *f = row_where(nodes, "id", from[i]), *t = row_where(nodes, "id", to[i]);
        near(num(e, "x"), num(f, "depth"));
        near(num(e, "y2"), num(t, "y"));
    }

    /* RDMs: the teacher's 50 x 50 cropped to the trial's k = 40, the best
     * trial's (5) as written */
    const cJSON *rdm = get(d, "rdm");
    assert_int_equal(num(rdm, "m"), FX_M);
    assert_int_equal(num(rdm, "k"), FX_K);
    assert_int_equal(num(rdm, "trial"), 5);
    assert_string_equal(str(rdm, "unit"), "image");
    const cJSON *tr = get(d, "rdm_teacher"), *br = get(d, "rdm_best");
    assert_int_equal(cJSON_GetArraySize(tr), 3 * FX_K * FX_K);
    assert_int_equal(cJSON_GetArraySize(br), 3 * FX_K * FX_K);
    int k = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, tr) {
        int l = (int)num(r, "order"), i = (int)num(r, "i"), j = (int)num(r, "j");
        assert_int_equal(l, k / (FX_K * FX_K));
        assert_string_equal(str(r, "layer"), fx_layers[l]);
        near(num(r, "v"), fx_teacher_rdm(l, i, j));
        k++;
    }
    cJSON_ArrayForEach(r, br) {
        int l = (int)num(r, "order"), i = (int)num(r, "i"), j = (int)num(r, "j");
        assert_string_equal(str(r, "layer"), fx_layers[l]);
        assert_string_equal(str(r, "candidate"), fx_candidate[l]);
        near(num(r, "v"), fx_trial_rdm(5, l, i, j));
    }

    /* the trials table: every trial of the focus study, the error exact */
    const cJSON *rows = get(d, "trials");
    assert_int_equal(cJSON_GetArraySize(rows), 8);
    const cJSON *t3 = cJSON_GetArrayItem(rows, 3), *t7 = cJSON_GetArrayItem(rows, 7);
    assert_string_equal(str(t3, "state"), "failed");
    assert_string_equal(str(t3, "error"), "worker said: " FX_HOSTILE);
    assert_string_equal(str(t7, "state"), "waiting");
    assert_true(cJSON_IsNull(get(t7, "score")));
    near(num(cJSON_GetArrayItem(rows, 6), "tg"), fx_search_tg(6));
    assert_string_equal(str(cJSON_GetArrayItem(rows, 5), "arch"), "4 layers");
    cJSON_Delete(d);
}

static void test_pool(void **state) {
    (void)state;
    cJSON *d = write_and_read(NULL, 0, NULL);
    const cJSON *pools = get(d, "pools");
    assert_int_equal(cJSON_GetArraySize(pools), 2);
    /* pool2: two networks so far, drawn, too few to correlate */
    const cJSON *P2 = cJSON_GetArrayItem(pools, 1);
    assert_string_equal(str(P2, "study"), "pool2");
    assert_int_equal(num(P2, "networks"), 2);
    assert_int_equal(cJSON_GetArraySize(get(d, "pool1_scatter")), 2 * 2);
    assert_int_equal(cJSON_GetArraySize(get(d, "pool1_curve")), 0);
    const cJSON *P = cJSON_GetArrayItem(pools, 0);
    assert_string_equal(str(P, "study"), "pool1");
    assert_int_equal(num(P, "networks"), FX_NPOOL);
    near(num(P, "alpha"), 1);
    assert_int_equal(cJSON_GetArraySize(get(P, "at")), 2);
    /* scatter: every network at both premature points; P + alpha TG with
     * TG recomputed from the points */
    const cJSON *sc = get(d, "pool0_scatter");
    assert_int_equal(cJSON_GetArraySize(sc), 2 * FX_NPOOL);
    const cJSON *r;
    cJSON_ArrayForEach(r, sc) {
        int i = (int)num(r, "trial"), q = num(r, "at") == 0.1 ? 0 : 1;
        assert_true(num(r, "at") == (q ? 0.5 : 0.1));
        near(num(r, "mature"), fx_pool_mature(i));
        near(num(r, "p"), fx_pool_p(i, q));
        near(num(r, "tg"), fx_pool_tg(i, q));
        near(num(r, "ptg"), fx_pool_p(i, q) + fx_pool_tg(i, q));
    }
    /* curves: p, p_bn, tg and p+tg at alpha 1 by the teacher's method, the
     * analysis's Spearman rho */
    tg_tracker *t;
    tg_error err;
    fx_ok(tg_tracker_open(g_url, &t, &err), &err);
    tg_study s;
    fx_ok(tg_study_get(t, "pool1", &s, &err), &err);
    tg_analysis_config c;
    tg_analysis_config_defaults(&c);
    tg_analysis a;
    fx_ok(tg_analysis_run(t, s.id, &c, &a, &err), &err);
    tg_tracker_close(t);
    const cJSON *cv = get(d, "pool0_curve");
    int want = 0;
    for (int k = 0; k < a.npoints; k++) {
        if (!a.points[k].premature) continue;
        for (int j = 0; j < a.points[k].npred; j++) {
            const tg_predictor *p = &a.points[k].pred[j];
            int drawn = !strcmp(p->kind, "p") || !strcmp(p->kind, "p_bn") ||
                        (!strcmp(p->method, "pearson") &&
                         (!strcmp(p->kind, "tg") || (!strcmp(p->kind, "p+tg") && p->alpha == 1)));
            if (!drawn) continue;
            const cJSON *row = cJSON_GetArrayItem(cv, want++);
            assert_non_null(row);
            assert_string_equal(str(row, "kind"), p->kind);
            assert_true(num(row, "at") == a.points[k].at);
            near(num(row, "rho"), p->spearman.r);
            near(num(row, "lo"), p->spearman.lo);
            near(num(row, "hi"), p->spearman.hi);
        }
    }
    assert_int_equal(want, 2 * 4);
    assert_int_equal(cJSON_GetArraySize(cv), want);
    tg_analysis_free(&a);
    cJSON_Delete(d);
}

static void test_cell_focus_and_notes(void **state) {
    (void)state;
    cJSON *d = write_and_read("cells", 0, NULL);
    assert_string_equal(str(d, "focus"), "cells");
    /* the best is trial 2: block b reads block b-1 and h[-1]; block 4 goes
     * to the output, and h[-1] (concat_inputs [false, true]) dashed */
    const cJSON *a = get(d, "arch");
    assert_string_equal(str(a, "space"), "cell");
    assert_int_equal(num(a, "trial"), 2);
    const cJSON *nodes = get(d, "arch_nodes"), *edges = get(d, "arch_edges");
    assert_int_equal(cJSON_GetArraySize(nodes), 2 + 5 + 1);
    assert_int_equal(cJSON_GetArraySize(edges), 10 + 1 + 1);
    for (int b = 0; b < 5; b++) {
        char id[24];
        snprintf(id, sizeof id, "block%d", b);
        assert_int_equal(num(row_where(nodes, "id", id), "depth"), b + 1);
    }
    assert_int_equal(num(row_where(nodes, "id", "output"), "depth"), 6);
    const cJSON *e0 = cJSON_GetArrayItem(edges, 0), *e1 = cJSON_GetArrayItem(edges, 1);
    assert_string_equal(str(e0, "from"), "h[-2]");
    assert_string_equal(str(e0, "label"), "max3x3");   /* ops[(0 + 2) % 4] */
    assert_string_equal(str(e1, "from"), "h[-1]");
    assert_string_equal(str(e1, "label"), "identity");   /* ops[(0 + 4 + 1) % 4] */
    const cJSON *last = cJSON_GetArrayItem(edges, 11);
    assert_string_equal(str(last, "from"), "h[-1]");
    assert_string_equal(str(last, "style"), "dashed");
    /* an objective study: no teacher, so the RDMs say so */
    assert_true(has_note(d, "rdm", "has no teacher"));
    assert_null(cJSON_GetObjectItem(d, "rdm_teacher"));
    assert_int_equal(cJSON_GetArraySize(get(d, "trials")), 3);
    cJSON_Delete(d);

    /* an empty database: every section says so */
    char url[4200];
    snprintf(url, sizeof url, "%s", td_sqlite_url(g_dir, "empty"));
    tg_tracker *t;
    tg_error err;
    fx_ok(tg_tracker_open(url, &t, &err), &err);
    char path[600];
    snprintf(path, sizeof path, "%s/empty.html", g_dir);
    tg_report_config c = {NULL, 0};
    fx_ok(tg_report_write(t, &c, path, &err), &err);
    c.study = "nosuch";
    assert_int_equal(tg_report_write(t, &c, path, &err), TG_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "nosuch"));
    tg_tracker_close(t);
    char *html = slurp(path);
    d = page_data(html);
    free(html);
    assert_true(cJSON_IsNull(get(d, "focus")));
    assert_true(has_note(d, "progress", "no search study"));
    assert_true(has_note(d, "pool", "no pool"));
    assert_true(has_note(d, "arch", "no study"));
    assert_int_equal(cJSON_GetArraySize(get(d, "progress")), 0);
    cJSON_Delete(d);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strcasestr(p, needle)); p++) n++;
    return n;
}

static void test_escaping(void **state) {
    (void)state;
    /* a name the tracker would refuse, put in behind its back, in a
     * database of its own (the other tests keep theirs as built) */
    char url[4200], path[700];
    snprintf(url, sizeof url, "%s", td_sqlite_url(g_dir, "hostile"));
    snprintf(path, sizeof path, "%s/hostile.db", g_dir);
    fx_build(url, g_dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE studies SET name = ?1 WHERE name = 's-p'",
                                        -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_text(q, 1, FX_HOSTILE, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    for (int focus = 0; focus < 2; focus++) {
        char *html;
        cJSON *d = write_from(url, focus ? FX_HOSTILE : NULL, 0, &html);
        /* only the page's own elements: the first script, the three
         * libraries, the data, the page's script */
        assert_int_equal(count(html, "<script"), 6);
        assert_int_equal(count(html, "</script"), 6);
        assert_int_equal(count(html, "<!--"), 0);
        assert_null(strstr(html, "<img src=x"));
        assert_null(strstr(html, "onerror=alert(1)>"));
        assert_null(strstr(html, "<b>"));
        if (focus) {
            const char *want = "<title>tgsage report: &lt;img src=x onerror=alert(1)&gt;"
                               "&amp;amp;&quot;&#39;&lt;/script&gt;&lt;!--</title>";
            assert_non_null(strstr(html, want));
            assert_string_equal(str(d, "focus"), FX_HOSTILE);
        }
        /* the exact texts back from the data */
        assert_non_null(row_where(get(d, "studies"), "name", FX_HOSTILE));
        assert_non_null(row_where(get(d, "progress"), "study", FX_HOSTILE));
        if (!focus) {
            assert_string_equal(str(cJSON_GetArrayItem(get(d, "trials"), 3), "error"),
                                "worker said: " FX_HOSTILE);
            assert_string_equal(cJSON_GetArrayItem(get(get(d, "rdm"), "layers"), 2)->valuestring,
                                fx_layers[2]);
        }
        cJSON_Delete(d);
        free(html);
    }
    sqlite3_close(db);
}

static void test_cli(void **state) {
    (void)state;
    char a[8192], out[600];
    tu_expect("report --help", 0, "usage: tgsage report");
    tu_expect("report --help", 0, "--watch SECONDS");
    tu_run("--help");
    assert_non_null(strstr(tu_out, "report"));
    tu_expect("report -o x.html", 2, "--db is required");
    snprintf(a, sizeof a, "report --db %s", g_url);
    tu_expect(a, 2, "-o is required");
    snprintf(a, sizeof a, "report --db %s -o x.html --watch soon", g_url);
    tu_expect(a, 2, "--watch: 'soon'");
    snprintf(a, sizeof a, "report --db %s -o x.html extra", g_url);
    tu_expect(a, 2, "unexpected argument 'extra'");
    snprintf(a, sizeof a, "report --db %s --study nosuch -o x.html", g_url);
    tu_expect(a, 1, "nosuch");
    assert_non_null(strstr(tu_out, "s-ptg"));   /* the studies there are */
    snprintf(a, sizeof a, "report --db %s -o %s/no/such/dir/r.html", g_url, g_dir);
    tu_expect(a, 1, "no/such/dir/r.html");
    snprintf(out, sizeof out, "%s/cli.html", g_dir);
    snprintf(a, sizeof a, "report --db %s --study s-p -o %s", g_url, out);
    tu_expect(a, 0, "wrote ");
    char want[700];
    snprintf(want, sizeof want, "(file://%s)", out);
    assert_non_null(strstr(tu_out, want));
    char *html = slurp(out);
    assert_null(strstr(html, "http-equiv=\"refresh\""));
    assert_non_null(strstr(html, "<title>tgsage report: s-p</title>"));
    /* offline: no reference to anything outside the file */
    assert_null(strstr(html, "src=\"http"));
    assert_null(strstr(html, "sourceMappingURL"));
    free(html);
}

/* ---- --watch ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void set_done(const char *study, int done) {
    tg_tracker *t;
    tg_error err;
    fx_ok(tg_tracker_open(g_url, &t, &err), &err);
    tg_study s;
    fx_ok(tg_study_get(t, study, &s, &err), &err);
    fx_ok(tg_study_set_done(t, s.id, done, &err), &err);
    tg_tracker_close(t);
}

static pid_t spawn_watch(const char *html, const char *log) {
    unlink(html);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *o = freopen(log, "w", stdout);
        if (o) dup2(fileno(stdout), 2);
        execl(bin(), bin(), "report", "--db", g_url, "-o", html, "--watch", "0.3", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Until the file exists and has the reload (the first version). */
static void wait_refresh(const char *html, pid_t pid) {
    double t0 = now_s();
    for (;;) {
        struct stat sb;
        if (stat(html, &sb) == 0) {
            char *s = slurp(html);
            int has = strstr(s, "<meta http-equiv=\"refresh\" content=\"1\">") != NULL;
            cJSON *d = page_data(s);
            free(s);
            assert_true(has);
            near(num(d, "refresh"), 0.3);
            cJSON_Delete(d);
            return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) fail_msg("tgsage report --watch ended early");
        if (now_s() - t0 > 60) fail_msg("no report in 60 s");
        sleep_s(0.05);
    }
}

static int wait_exit(pid_t pid, double limit) {
    double t0 = now_s();
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (now_s() - t0 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("tgsage report --watch still running after %.0f s", limit);
        }
        sleep_s(0.05);
    }
}

static void check_final(const char *html, const char *log) {
    char *s = slurp(html);
    assert_null(strstr(s, "http-equiv=\"refresh\""));
    cJSON *d = page_data(s);
    near(num(d, "refresh"), 0);
    cJSON_Delete(d);
    free(s);
    char *l = slurp(log);
    assert_non_null(strstr(l, "watching: "));
    assert_non_null(strstr(l, "file://"));
    free(l);
}

static void test_watch(void **state) {
    (void)state;
    char html[600], log[600];
    snprintf(html, sizeof html, "%s/watch.html", g_dir);
    snprintf(log, sizeof log, "%s/watch.log", g_dir);
    /* s-ptg is not done: a reload; once it is, the last version and exit 0 */
    set_done("s-ptg", 0);
    pid_t pid = spawn_watch(html, log);
    wait_refresh(html, pid);
    sleep_s(0.7);   /* a rewrite or two, still with the reload */
    char *s = slurp(html);
    assert_non_null(strstr(s, "http-equiv=\"refresh\""));
    free(s);
    set_done("s-ptg", 1);
    assert_int_equal(wait_exit(pid, 30), 0);
    check_final(html, log);

    /* Ctrl-C while a study runs: the last version, exit 0 */
    set_done("s-ptg", 0);
    pid = spawn_watch(html, log);
    wait_refresh(html, pid);
    kill(pid, SIGINT);
    assert_int_equal(wait_exit(pid, 30), 0);
    check_final(html, log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_and_cost),
        cmocka_unit_test(test_arch_rdm_trials),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_cell_focus_and_notes),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_watch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
