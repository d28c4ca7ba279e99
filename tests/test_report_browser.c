/* test_report_browser.c - the report in a real browser: headless Chromium
 * (Debian's chromium; scripts/setup.sh installs it) loads the page that
 * `tgsage report` wrote from a database holding every kind of study
 * (report_fixture.h, plus a search and its rerank run through the CLI with
 * an objective command), and tests/report_browser.js reads it from a harness page. It
 * must render with no console message at all and nothing reported by the
 * page, every plot drawn, and each plot's data as Vega holds it of the
 * size the database gives (`tgsage trials --format json`, `tgsage best`);
 * the trials table sorts on a click. An empty database's page says so in
 * every section, again without a console message. The screenshot is kept
 * in the build directory (report-screenshot.png). */
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report_fixture.h"
#include "testdb.h"

static char g_dir[256], g_url[4200], g_chromium[512];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_url, sizeof g_url, "%s", td_sqlite_url(g_dir, "browser"));
    fx_build(g_url, g_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

static const char *chromium(void) {
    if (g_chromium[0]) return g_chromium;
    const char *env = getenv("TG_CHROMIUM");
    if (env && env[0]) snprintf(g_chromium, sizeof g_chromium, "%s", env);
    else {
        FILE *p = popen("command -v chromium || command -v chromium-browser", "r");
        if (p && fgets(g_chromium, sizeof g_chromium, p)) g_chromium[strcspn(g_chromium, "\n")] = 0;
        if (p) pclose(p);
    }
    if (!g_chromium[0] || access(g_chromium, X_OK) != 0)
        fail_msg("no chromium to load the report in: bash scripts/setup.sh installs Debian's "
                 "chromium (or set TG_CHROMIUM)");
    return g_chromium;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Run chromium headless on url with extra flags; stdout into out, stderr
 * (the browser's log, console messages included) into log. */
static void run_chromium(const char *flags, const char *url, const char *out, const char *log) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "DBUS_SESSION_BUS_ADDRESS=disabled: timeout 120 '%s' --headless --no-sandbox "
             "--disable-gpu --no-first-run --disable-extensions --disable-dev-shm-usage "
             "--user-data-dir='%s/chromium-profile' --enable-logging=stderr --v=0 "
             "--virtual-time-budget=30000 %s '%s' > '%s' 2> '%s'",
             chromium(), g_dir, flags, url, out, log);
    int st = system(cmd);
    if (st != 0) {
        char *l = slurp(log);
        fail_msg("chromium exited with %d:\n%.4000s", st, l);
    }
}

/* Console messages in the browser's log (every level logs as INFO:CONSOLE). */
static void no_console(const char *log) {
    char *l = slurp(log), *c = strstr(l, ":CONSOLE");
    if (c) {
        char *line = c;
        while (line > l && line[-1] != '\n') line--;
        fail_msg("the page logged to the console:\n%.2000s", line);
    }
    free(l);
}

/* The harness's result JSON out of the dumped DOM (entities decoded). */
static cJSON *harness_result(const char *dom_path) {
    char *dom = slurp(dom_path);
    char *a = strstr(dom, "<pre id=\"result\">");
    if (!a) fail_msg("the harness wrote no result:\n%.3000s", dom);
    a += strlen("<pre id=\"result\">");
    char *b = strstr(a, "</pre>");
    assert_non_null(b);
    *b = '\0';
    char *w = a;
    for (char *r = a; *r;) {
        static const char *const ent[4][2] = {{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"},
                                              {"&amp;", "&"}};
        int hit = 0;
        for (int k = 0; k < 4 && !hit; k++)
            if (!strncmp(r, ent[k][0], strlen(ent[k][0])))
                *w++ = ent[k][1][0], r += strlen(ent[k][0]), hit = 1;
        if (!hit) *w++ = *r++;
    }
    *w = '\0';
    cJSON *j = cJSON_Parse(a);
    if (!j) fail_msg("the harness's result is not JSON: %s", a);
    free(dom);
    return j;
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) fail_msg("the result has no string '%s'", key);
    return v->valuestring;
}

/* `tgsage ARGS`'s whole stdout (malloc'd; tu_run keeps only 64 KiB, and
 * trials with their RDMs are more). */
static char *run_all(const char *args) {
    const char *b = getenv("TG_BIN");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s", b ? b : "./tgsage", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = 0, cap = 1 << 20;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t got; (got = fread(s + n, 1, cap - n - 1, p)) > 0;) {
        n += got;
        if (cap - n < 2) {
            s = realloc(s, cap *= 2);
            assert_non_null(s);
        }
    }
    s[n] = '\0';
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("tgsage %s failed (%d)", args, st);
    return s;
}

/* Lines of `tgsage trials --format json` for a study, parsed. */
static int trials_json(const char *study, cJSON **out, int max) {
    char a[8192];
    snprintf(a, sizeof a, "trials --db %s --study %s --format json", g_url, study);
    char *text = run_all(a);
    int n = 0;
    for (char *p = text; *p && n < max;) {
        size_t len = strcspn(p, "\n");
        char *s = strndup(p, len);
        out[n] = cJSON_Parse(s);
        if (!out[n]) fail_msg("not JSON: %s", s);
        free(s);
        n++;
        p += len;
        if (*p) p++;
    }
    free(text);
    return n;
}

static int count_complete(const char *study, int *all) {
    cJSON *t[64];
    int n = trials_json(study, t, 64), c = 0;
    for (int i = 0; i < n; i++) {
        c += !strcmp(jstr(t[i], "state"), "complete") &&
             cJSON_IsNumber(cJSON_GetObjectItem(t[i], "score"));
        cJSON_Delete(t[i]);
    }
    if (all) *all = n;
    return c;
}

/* A real search through the CLI: an objective study of 6 trials. */
static void cli_search(void) {
    char path[600], text[512], a[8192];
    snprintf(path, sizeof path, "%s/objective.sh", g_dir);
    snprintf(text, sizeof text, "g=$(cat)\nc=$(printf %%s \"$g\" | cksum | cut -d' ' -f1)\n"
             "awk -v c=\"$c\" 'BEGIN { printf \"%%.9f\\n\", c / 4294967296 }'\n");
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    snprintf(a, sizeof a, "search --db %s --study cli-search --space layerwise:4 --algo tpe "
             "--trials 6 --workers 2 --seed 3 --objective-cmd 'sh %s'", g_url, path);
    tu_expect(a, 0, "6 of 6 trials complete");
    /* and its rerank (the objective again: reranked "accuracy" is its score) */
    snprintf(a, sizeof a, "rerank --db %s --study cli-search --top 2 --epochs 1 --workers 1 "
             "--objective-cmd 'sh %s'", g_url, path);
    tu_expect(a, 0, "cli-search.rerank");
}

static void test_full_report(void **state) {
    (void)state;
    cli_search();
    char html[700], harness[700], dom[700], log[700], a[8192];
    /* in the build directory (the working directory), kept for a look */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(html, sizeof html, "%s/report-browser.html", cwd);
    snprintf(a, sizeof a, "report --db %s --study s-ptg -o %s", g_url, html);
    tu_expect(a, 0, "file://");

    /* the harness beside it */
    const char *src = getenv("TG_SOURCE");
    assert_non_null(src);
    snprintf(harness, sizeof harness, "%s/harness.html", g_dir);
    char page[2000];
    snprintf(page, sizeof page, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>"
             "<script>var REPORT = \"file://%s\";</script>"
             "<script src=\"file://%s/tests/report_browser.js\"></script></body></html>",
             html, src);
    assert_int_equal(tu_write_file(harness, page, strlen(page)), 0);
    snprintf(dom, sizeof dom, "%s/dom.html", g_dir);
    snprintf(log, sizeof log, "%s/chromium.log", g_dir);
    char url[800];
    snprintf(url, sizeof url, "file://%s", harness);
    run_chromium("--allow-file-access-from-files --dump-dom", url, dom, log);
    no_console(log);
    cJSON *r = harness_result(dom);
    const cJSON *e = cJSON_GetObjectItem(r, "error");
    if (e) fail_msg("harness: %s", e->valuestring);

    /* nothing reported by the page, every plot drawn */
    assert_string_equal(jstr(r, "data-errors"), "[]");
    /* progress, two of pool1 and one of pool2 (too few networks for its
     * correlations: a line instead), the architecture, the RDMs */
    assert_string_equal(jstr(r, "data-plots"), "6");
    assert_string_equal(jstr(r, "data-expected"), "6");
    assert_int_equal(cJSON_GetObjectItem(r, "drawn")->valueint, 6);
    assert_string_equal(jstr(r, "title"), "tgsage report: s-ptg");

    /* each plot's data as vega holds it, against the database */
    cJSON *pts = cJSON_Parse(jstr(r, "data-points"));
    assert_non_null(pts);
    int progress = count_complete("s-ptg", NULL) + count_complete("s-p", NULL) +
                   count_complete("cells", NULL) + count_complete("cli-search", NULL);
    assert_int_equal(progress, 6 + 5 + 3 + 6);
    int all_ptg;
    count_complete("s-ptg", &all_ptg);
    /* the best architecture's nodes and edges from its genome (tgsage best) */
    snprintf(a, sizeof a, "best --db %s --study s-ptg --k 1 --json", g_url);
    char *text = run_all(a);
    cJSON *best = cJSON_Parse(text);
    free(text);
    assert_non_null(best);
    const cJSON *layers = cJSON_GetObjectItem(cJSON_GetObjectItem(best, "genome"), "layers"), *L;
    int nl = cJSON_GetArraySize(layers), edges = 0, read[16] = {0};
    cJSON_ArrayForEach(L, layers) {
        const cJSON *in;
        cJSON_ArrayForEach(in, cJSON_GetObjectItem(L, "inputs")) {
            edges++;
            if (in->valueint >= 0) read[in->valueint] = 1;
        }
    }
    for (int i = 0; i < nl; i++) edges += !read[i];
    cJSON_Delete(best);
    struct { const char *name; int want; } expect[] = {
        {"progress", progress},
        {"rerank", count_complete("s-ptg.rerank", NULL) +
                       count_complete("cli-search.rerank", NULL)},
        {"pool0_scatter", 2 * count_complete("pool1", NULL)},   /* two premature points */
        {"pool0_curve", 2 * 4},      /* P, P_bn, TG, P + TG at each */
        {"pool1_scatter", 2 * count_complete("pool2", NULL)},
        {"rdm_teacher", 3 * FX_K * FX_K},
        {"rdm_best", 3 * FX_K * FX_K},
        {"arch_nodes", nl + 2}, {"arch_edges", edges},
    };
    assert_int_equal(expect[1].want, 3 + 2);
    assert_int_equal(expect[2].want, 2 * FX_NPOOL);
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(pts, expect[i].name);
        if (!cJSON_IsNumber(v)) fail_msg("no plot data '%s' in %s", expect[i].name,
                                         jstr(r, "data-points"));
        if (v->valueint != expect[i].want)
            fail_msg("%s: %d points drawn, the database has %d", expect[i].name, v->valueint,
                     expect[i].want);
    }
    assert_int_equal(cJSON_GetArraySize(pts), (int)(sizeof expect / sizeof expect[0]));
    cJSON_Delete(pts);

    /* the trials table: every trial; sorting by score, best first, then
     * the other way, trials without a score last both times */
    char rows[16];
    snprintf(rows, sizeof rows, "%d", all_ptg);
    assert_string_equal(jstr(r, "data-rows"), rows);
    const char *first[8] = {"5", "6", "4", "1", "2", "0", "3", "7"};
    const char *second[8] = {"0", "2", "1", "4", "6", "5", "3", "7"};
    const cJSON *c1 = cJSON_GetObjectItem(r, "score_first_click");
    const cJSON *c2 = cJSON_GetObjectItem(r, "score_second_click");
    assert_int_equal(cJSON_GetArraySize(c1), 8);
    assert_int_equal(cJSON_GetArraySize(c2), 8);
    for (int i = 0; i < 8; i++) {
        assert_string_equal(cJSON_GetArrayItem(c1, i)->valuestring, first[i]);
        assert_string_equal(cJSON_GetArrayItem(c2, i)->valuestring, second[i]);
    }
    /* the hostile error text shown as text */
    const cJSON *errs = cJSON_GetObjectItem(r, "errors_shown");
    assert_string_equal(cJSON_GetArrayItem(errs, 3)->valuestring, "worker said: " FX_HOSTILE);
    const cJSON *cost = cJSON_GetObjectItem(r, "cost_studies");
    assert_int_equal(cJSON_GetArraySize(cost), 8 + 1);   /* the studies and a total */
    const cJSON *pool = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "sections"), "pool");
    const cJSON *lines = cJSON_GetObjectItem(pool, "none");
    assert_int_equal(cJSON_GetArraySize(lines), 1);
    assert_non_null(strstr(cJSON_GetArrayItem(lines, 0)->valuestring, "No correlation yet"));
    cJSON_Delete(r);

    /* the screenshot, kept in the build directory */
    char shot[700], flags[900];
    snprintf(shot, sizeof shot, "%s/report-screenshot.png", cwd);
    unlink(shot);
    snprintf(flags, sizeof flags, "--hide-scrollbars --window-size=1400,4200 --screenshot='%s'",
             shot);
    snprintf(url, sizeof url, "file://%s", html);
    run_chromium(flags, url, dom, log);
    no_console(log);
    char *png = slurp(shot);
    struct stat sb;
    assert_int_equal(stat(shot, &sb), 0);
    assert_true(sb.st_size > 50000);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
    print_message("screenshot: %s\n", shot);
}

static void test_empty_report(void **state) {
    (void)state;
    char html[700], harness[700], dom[700], log[700], a[8192], url[800];
    const char *empty = td_sqlite_url(g_dir, "empty");
    snprintf(html, sizeof html, "%s/empty.html", g_dir);
    snprintf(a, sizeof a, "report --db %s -o %s", empty, html);
    tu_expect(a, 0, "wrote");
    snprintf(harness, sizeof harness, "%s/harness-empty.html", g_dir);
    char page[2000];
    snprintf(page, sizeof page, "<!DOCTYPE html><html><body><script>var REPORT = \"file://%s\";"
             "</script><script src=\"file://%s/tests/report_browser.js\"></script></body></html>",
             html, getenv("TG_SOURCE"));
    assert_int_equal(tu_write_file(harness, page, strlen(page)), 0);
    snprintf(dom, sizeof dom, "%s/dom-empty.html", g_dir);
    snprintf(log, sizeof log, "%s/chromium-empty.log", g_dir);
    snprintf(url, sizeof url, "file://%s", harness);
    run_chromium("--allow-file-access-from-files --dump-dom", url, dom, log);
    no_console(log);
    cJSON *r = harness_result(dom);
    assert_string_equal(jstr(r, "data-errors"), "[]");
    assert_string_equal(jstr(r, "data-plots"), "0");
    assert_string_equal(jstr(r, "data-points"), "{}");
    /* every section says why it has nothing, in a line */
    const cJSON *sec = cJSON_GetObjectItem(r, "sections"), *s;
    cJSON_ArrayForEach(s, sec) {
        assert_int_equal(cJSON_GetObjectItem(s, "plots")->valueint, 0);
        if (cJSON_GetArraySize(cJSON_GetObjectItem(s, "none")) < 1)
            fail_msg("section %s of an empty report has no line saying so", s->string);
    }
    cJSON_Delete(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_report),
        cmocka_unit_test(test_empty_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
