/* test_search_cli.c - `tgsage search`, `worker`, `status`, `trials` and
 * `best` as a user meets them, end to end through the binary on a real
 * SQLite database: a search of an objective study (a shell script scores
 * each genome, nothing trains), its status as JSON, its trials as JSON
 * Lines and as CSV parsed back, the best three equal to the top of the
 * trials; help texts, usage errors (exit 2), a missing study (exit 1, the
 * studies listed); Ctrl-C to the search's process group mid-search exits 0
 * at once with no trial left running, and the same command resumes to the
 * end. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"
#include "testutil.h"
#include "tgsage/tracker.h"

static const char *bin(void) {
    const char *b = getenv("TG_BIN");
    return b ? b : "./tgsage";
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static char g_dir[256], g_url[4200], g_obj[700];

/* The objective: the genome's CRC / 2^32, after `sleep` seconds. */
static void write_objective(const char *name, double sleep) {
    char path[600], text[1024];
    snprintf(path, sizeof path, "%s/%s.sh", g_dir, name);
    snprintf(text, sizeof text,
             "g=$(cat)\n"
             "c=$(printf %%s \"$g\" | cksum | cut -d' ' -f1)\n"
             "sleep %g\n"
             "awk -v c=\"$c\" 'BEGIN { printf \"%%.9f\\n\", c / 4294967296 }'\n", sleep);
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    snprintf(g_obj, sizeof g_obj, "sh %s", path);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_url, sizeof g_url, "%s", td_sqlite_url(g_dir, "cli"));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

/* Lines of tu_out that start with c, as parsed JSON (n of them). */
static cJSON **json_lines(int *n) {
    cJSON **v = NULL;
    *n = 0;
    for (char *p = tu_out; *p;) {
        size_t len = strcspn(p, "\n");
        if (*p == '{') {
            char *s = strndup(p, len);
            cJSON *j = cJSON_Parse(s);
            if (!j) fail_msg("not JSON: %s", s);
            free(s);
            v = realloc(v, (size_t)(*n + 1) * sizeof *v);
            assert_non_null(v);
            v[(*n)++] = j;
        }
        p += len;
        if (*p) p++;
    }
    return v;
}

static void free_lines(cJSON **v, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(v[i]);
    free(v);
}

static double num(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) fail_msg("JSON has no number '%s'", key);
    return v->valuedouble;
}

static void test_help_and_usage(void **state) {
    (void)state;
    const char *cmds[] = {"search", "worker", "status", "trials", "best"};
    tu_run("--help");
    for (int i = 0; i < 5; i++)
        if (!strstr(tu_out, cmds[i])) fail_msg("tgsage --help lacks %s", cmds[i]);
    for (int i = 0; i < 5; i++) {
        char a[64], want[64];
        snprintf(a, sizeof a, "%s --help", cmds[i]);
        snprintf(want, sizeof want, "usage: tgsage %s", cmds[i]);
        tu_expect(a, 0, want);
        tu_expect(a, 0, "--db URL");
    }
    const char *flags[] = {"--study", "--space", "--algo", "--teacher", "--data", "--val",
                           "--split-seed", "--train-limit", "--epochs", "--trials",
                           "--workers", "--parallel", "--alpha", "--score", "--seed",
                           "--objective-cmd", "--trainer-cmd", "--lease", "--max-attempts",
                           "--cmd-timeout", "--threads", "--tpe-startup", "--rl-lr",
                           "--rl-batch", "--population", "--sample"};
    tu_run("search --help");
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(tu_out, flags[i])) fail_msg("search --help lacks %s", flags[i]);
    char a[8192];
    tu_expect("search --study s --space layerwise:3 --trials 3 --objective-cmd true", 2,
              "--db is required");
    /* each after "search --db URL" */
    const struct { const char *args; int code; const char *want; } bad[] = {
        {"--study s --space layerwise:3 --objective-cmd true", 2, "--trials is required"},
        {"--study s --space layerwise:3 --trials 3", 2, "--epochs is required"},
        {"--study s --space layerwise:3 --trials 3 --algo annealing --objective-cmd true", 2,
         "annealing"},
        {"--study s --space layerwise:3 --trials 3 --algo random --tpe-startup 4 "
         "--objective-cmd true", 2, "--tpe-startup is an option of --algo tpe"},
        {"--study s --space layerwise:3 --trials 3 --algo tpe --rl-lr 0.01 --objective-cmd true",
         2, "--rl-lr is an option of --algo rl, not tpe"},
        {"--study s --space layerwise:3 --trials 3 --algo rl --population 8 --objective-cmd true",
         2, "--population is an option of --algo evolution, not rl"},
        {"--study s --space layerwise:3 --trials 3 --algo rl --rl-lr 2 --objective-cmd true", 2,
         "--rl-lr"},
        /* refused before the study is made: status lists only cli1 below */
        {"--study evo --space layerwise:3 --trials 3 --algo evolution --population 4 --sample 6 "
         "--objective-cmd true", 1, "evo_sample 6 is not in [1, 4]"},
        {"--study s --space layerwise:3 --trials 3 --seed 4 --split-seed -1 --epochs 1 --score p",
         2, "--split-seed"},
        {"--study s --space hexagons --trials 3 --objective-cmd true", 2, "--space"},
        {"--study s --space layerwise:3 --trials 3 --epochs 1 --data mnist:/nonexistent", 2,
         "--score p+tg needs --teacher"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(a, sizeof a, "search --db %s %s", g_url, bad[i].args);
        tu_expect(a, bad[i].code, bad[i].want);
    }
    /* the teacher is checked before the data is loaded */
    snprintf(a, sizeof a, "search --db %s --study s --space layerwise:3 --trials 3 "
             "--epochs 1 --teacher /nonexistent/t.tgt --data mnist:/nonexistent", g_url);
    tu_expect(a, 1, "/nonexistent/t.tgt");
    assert_null(strstr(tu_out, "train-images"));
    tu_expect("search --trials x", 2, "--trials: 'x' is not an integer");
    tu_expect("search --frob", 2, "Run 'tgsage search --help'");
    unsetenv("TGSAGE_DB");
    tu_expect("worker --study s", 2, "--db (or TGSAGE_DB) is required");
    /* the URL from the environment (how search hands it to its workers) */
    setenv("TGSAGE_DB", g_url, 1);
    tu_expect("worker --study nosuch", 1, "no study 'nosuch'");
    unsetenv("TGSAGE_DB");
    tu_expect("status", 2, "--db is required");
    tu_expect("trials --db x --study s --format xml", 2, "--format 'xml'");
    tu_expect("best --db x", 2, "--study is required");
    tu_expect("best --db x --study s --k 0", 2, "--k");
    tu_expect("status --db mysql://x", 1, "tgsage status:");
}

/* RFC 4180 rows of text: fields[r][c] (malloc'd strings). */
typedef struct {
    int nrows, ncols[64];
    char *f[64][32];
} csv;

static void csv_parse(const char *s, csv *out) {
    memset(out, 0, sizeof *out);
    while (*s) {
        assert_true(out->nrows < 64);
        int r = out->nrows++;
        for (;;) {
            assert_true(out->ncols[r] < 32);
            size_t cap = strlen(s) + 1, n = 0;
            char *v = malloc(cap);
            assert_non_null(v);
            if (*s == '"') {
                for (s++;; s++) {
                    if (!*s) fail_msg("unterminated quoted field");
                    if (*s == '"' && s[1] == '"') v[n++] = '"', s++;
                    else if (*s == '"') {
                        s++;
                        break;
                    } else v[n++] = *s;
                }
            } else {
                while (*s && *s != ',' && *s != '\r' && *s != '\n') {
                    if (*s == '"') fail_msg("a quote in an unquoted field");
                    v[n++] = *s++;
                }
            }
            v[n] = '\0';
            out->f[r][out->ncols[r]++] = v;
            if (*s == ',') {
                s++;
                continue;
            }
            if (*s == '\r' && s[1] == '\n') s += 2;
            else if (*s) fail_msg("row %d: expected CRLF, got '%c'", r, *s);
            break;
        }
    }
}

static void csv_free(csv *c) {
    for (int r = 0; r < c->nrows; r++)
        for (int k = 0; k < c->ncols[r]; k++) free(c->f[r][k]);
}

static int csv_col(const csv *c, const char *name) {
    for (int k = 0; k < c->ncols[0]; k++)
        if (!strcmp(c->f[0][k], name)) return k;
    fail_msg("CSV header lacks %s", name);
    return -1;
}

/* A setting in the saved explorer state of a study. */
static double saved_setting(const char *study, const char *key) {
    tg_tracker *t;
    tg_study sd;
    tg_error err;
    char *saved = NULL;
    assert_int_equal(tg_tracker_open(g_url, &t, &err), TG_OK);
    assert_int_equal(tg_study_get(t, study, &sd, &err), TG_OK);
    assert_int_equal(tg_study_state(t, sd.id, &saved, &err), TG_OK);
    cJSON *j = cJSON_Parse(saved);
    const cJSON *cfg = cJSON_GetObjectItem(j, "config");
    if (!cfg) fail_msg("explorer state has no config: %.200s", saved);
    double v = num(cfg, key);
    cJSON_Delete(j);
    free(saved);
    tg_tracker_close(t);
    return v;
}

/* The explorer settings reach the explorer, and a resumed study keeps its
 * own: a different one is refused, none given is fine. */
static void test_explorer_settings(void **state) {
    (void)state;
    write_objective("fast", 0);
    char a[8192];
    snprintf(a, sizeof a, "search --db %s --study rls --space layerwise:3 --algo rl --trials 4 "
             "--rl-lr 0.01 --rl-batch 2 --objective-cmd '%s'", g_url, g_obj);
    tu_expect(a, 0, "4 of 4 trials complete");
    assert_true(saved_setting("rls", "rl_lr") == 0.01);
    assert_int_equal(saved_setting("rls", "rl_batch"), 2);
    snprintf(a, sizeof a, "search --db %s --study rls --space layerwise:3 --algo rl --trials 6 "
             "--rl-lr 0.02 --objective-cmd '%s'", g_url, g_obj);
    tu_expect(a, 1, "study 'rls' runs with rl_lr 0.01, not 0.02");
    snprintf(a, sizeof a, "search --db %s --study rls --space layerwise:3 --algo rl --trials 6 "
             "--rl-batch 2 --objective-cmd '%s'", g_url, g_obj);
    tu_expect(a, 0, "6 of 6 trials complete");
    assert_true(saved_setting("rls", "rl_lr") == 0.01);
    snprintf(a, sizeof a, "search --db %s --study evo2 --space layerwise:3 --algo evolution "
             "--trials 5 --population 4 --sample 2 --objective-cmd '%s'", g_url, g_obj);
    tu_expect(a, 0, "5 of 5 trials complete");
    assert_int_equal(saved_setting("evo2", "evo_population"), 4);
    assert_int_equal(saved_setting("evo2", "evo_sample"), 2);
    snprintf(a, sizeof a, "search --db %s --study evo2 --space layerwise:3 --algo evolution "
             "--trials 6 --sample 3 --objective-cmd '%s'", g_url, g_obj);
    tu_expect(a, 1, "runs with evo_sample 2, not 3");
}

static void test_search_and_read(void **state) {
    (void)state;
    write_objective("fast", 0);
    char a[8192];
    snprintf(a, sizeof a, "search --db %s --study cli1 --space layerwise:4 --algo tpe "
             "--trials 12 --workers 2 --parallel 4 --seed 5 --tpe-startup 6 --objective-cmd '%s'",
             g_url, g_obj);
    double t0 = now_s();
    tu_expect(a, 0, "12 of 12 trials complete, 0 failed");
    /* --tpe-startup reached the explorer: its saved state says so */
    assert_int_equal(saved_setting("cli1", "tpe_startup"), 6);
    print_message("search of 12 trials with 2 workers: %.1f s\n", now_s() - t0);
    assert_non_null(strstr(tu_out, "see the results: tgsage best --db"));
    assert_non_null(strstr(tu_out, "--study cli1"));

    /* status */
    snprintf(a, sizeof a, "status --db %s --json", g_url);
    tu_expect(a, 0, "{");
    int n;
    cJSON **st = json_lines(&n);
    assert_int_equal(n, 1);
    assert_string_equal(cJSON_GetObjectItem(st[0], "name")->valuestring, "cli1");
    assert_string_equal(cJSON_GetObjectItem(st[0], "algo")->valuestring, "tpe");
    assert_string_equal(cJSON_GetObjectItem(st[0], "score")->valuestring, "objective");
    assert_int_equal(num(st[0], "trials"), 12);
    assert_int_equal(num(st[0], "complete"), 12);
    assert_int_equal(num(st[0], "running"), 0);
    assert_int_equal(num(st[0], "waiting"), 0);
    assert_int_equal(num(st[0], "failed"), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(st[0], "done")));
    double best = num(st[0], "best");
    int64_t best_number = (int64_t)num(st[0], "best_number");
    free_lines(st, n);
    snprintf(a, sizeof a, "status --db %s", g_url);
    tu_expect(a, 0, "cli1");
    assert_non_null(strstr(tu_out, "12/12"));

    /* trials as JSON */
    snprintf(a, sizeof a, "trials --db %s --study cli1 --format json", g_url);
    tu_expect(a, 0, "{");
    cJSON **tr = json_lines(&n);
    assert_int_equal(n, 12);
    double scores[12], top = -1;
    for (int i = 0; i < n; i++) {
        assert_int_equal(num(tr[i], "number"), i);
        assert_string_equal(cJSON_GetObjectItem(tr[i], "state")->valuestring, "complete");
        assert_int_equal(num(tr[i], "attempt"), 1);
        assert_int_equal(strlen(cJSON_GetObjectItem(tr[i], "hash")->valuestring), 32);
        const cJSON *g = cJSON_GetObjectItem(tr[i], "genome");
        assert_true(cJSON_IsObject(g));
        assert_non_null(cJSON_GetObjectItem(g, "layers"));
        scores[i] = num(tr[i], "score");
        if (scores[i] > top) top = scores[i];
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(tr[i], "p")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(tr[i], "tg")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(tr[i], "error")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(tr[i], "parent")));  /* not a rerank */
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(tr[i], "points")));
        assert_non_null(cJSON_GetObjectItem(tr[i], "examples"));
        const cJSON *w = cJSON_GetObjectItem(tr[i], "worker");
        assert_true(cJSON_IsString(w) && strchr(w->valuestring, ':'));
    }
    assert_true(top == best);
    assert_true(scores[best_number] == best);

    /* trials as CSV: the same, parsed back */
    snprintf(a, sizeof a, "trials --db %s --study cli1 --format csv", g_url);
    assert_int_equal(tu_run(a), 0);
    csv c;
    csv_parse(tu_out, &c);
    assert_int_equal(c.nrows, 13);
    int kn = csv_col(&c, "number"), ks = csv_col(&c, "score"), kg = csv_col(&c, "genome"),
        kh = csv_col(&c, "hash"), kst = csv_col(&c, "state"), kp = csv_col(&c, "p"),
        kpa = csv_col(&c, "parent");
    assert_true(kpa == c.ncols[0] - 3);   /* new columns come last: old readers keep working */
    for (int r = 1; r < c.nrows; r++) {
        assert_int_equal(c.ncols[r], c.ncols[0]);
        assert_int_equal(atoi(c.f[r][kn]), r - 1);
        assert_string_equal(c.f[r][kst], "complete");
        assert_true(strtod(c.f[r][ks], NULL) == scores[r - 1]);
        assert_string_equal(c.f[r][kp], "");
        assert_string_equal(c.f[r][kpa], "");
        assert_string_equal(c.f[r][kh],
                            cJSON_GetObjectItem(tr[r - 1], "hash")->valuestring);
        cJSON *g = cJSON_Parse(c.f[r][kg]);
        assert_non_null(g);
        assert_true(cJSON_Compare(g, cJSON_GetObjectItem(tr[r - 1], "genome"), 1));
        cJSON_Delete(g);
    }
    /* the genome field holds commas and quotes: it must have been quoted */
    assert_non_null(strstr(tu_out, ",\"{\"\""));
    csv_free(&c);

    /* the best three: by score, descending, the top of the trials */
    snprintf(a, sizeof a, "best --db %s --study cli1 --k 3 --json", g_url);
    tu_expect(a, 0, "{");
    cJSON **b = json_lines(&n);
    assert_int_equal(n, 3);
    double prev = INFINITY;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(num(b[i], "rank"), i + 1);
        double s = num(b[i], "score");
        assert_true(s <= prev);
        prev = s;
        int k = (int)num(b[i], "number");
        assert_true(scores[k] == s);
        int higher = 0;   /* trials above it */
        for (int j = 0; j < 12; j++) higher += scores[j] > s;
        assert_int_equal(higher, i);
        assert_true(num(b[i], "params") > 0);
        assert_true(num(b[i], "macs") > 0);
        assert_true(cJSON_Compare(cJSON_GetObjectItem(b[i], "genome"),
                                  cJSON_GetObjectItem(tr[k], "genome"), 1));
    }
    assert_true(num(b[0], "score") == best);
    free_lines(b, n);
    free_lines(tr, 12);
    snprintf(a, sizeof a, "best --db %s --study cli1 --k 2", g_url);
    tu_expect(a, 0, "rank");

    /* a missing study: exit 1, the studies there are listed */
    snprintf(a, sizeof a, "trials --db %s --study nope --format json", g_url);
    tu_expect(a, 1, "nope");
    assert_non_null(strstr(tu_out, "cli1"));
    snprintf(a, sizeof a, "best --db %s --study nope", g_url);
    tu_expect(a, 1, "cli1");
    snprintf(a, sizeof a, "worker --db %s --study nope --objective-cmd true", g_url);
    tu_expect(a, 1, "nope");
    /* a different setting of the same study is refused, naming it */
    snprintf(a, sizeof a, "search --db %s --study cli1 --space layerwise:4 --algo random "
             "--trials 12 --workers 0 --seed 5 --objective-cmd '%s'", g_url, g_obj);
    tu_expect(a, 1, "tgsage search: ");
    assert_non_null(strstr(tu_out, "algo"));
}

static tg_study_counts counts_of(const char *name) {
    tg_tracker *t;
    tg_error err;
    assert_int_equal(tg_tracker_open(g_url, &t, &err), TG_OK);
    tg_study s;
    if (tg_study_get(t, name, &s, &err) != TG_OK) fail_msg("%s", err.msg);
    tg_study_counts c;
    assert_int_equal(tg_study_counts_get(t, s.id, &c, &err), TG_OK);
    tg_tracker_close(t);
    return c;
}

/* The JSON of the commands reads back bit for bit: cJSON alone writes
 * 0.1 + 0.2 as 0.3 (15 digits, within an ulp). */
static void test_json_numbers_exact(void **state) {
    (void)state;
    char a[8192];
    snprintf(a, sizeof a, "search --db %s --study exact --space layerwise:3 --algo random "
             "--trials 1 --workers 1 --objective-cmd 'cat > /dev/null; echo "
             "0.30000000000000004' --json", g_url);
    assert_int_equal(tu_run(a), 0);
    snprintf(a, sizeof a, "trials --db %s --study exact", g_url);
    tu_expect(a, 0, "\"score\":0.30000000000000004");
    int n;
    cJSON **tr = json_lines(&n);
    assert_int_equal(n, 1);
    assert_true(num(tr[0], "score") == 0.1 + 0.2);
    for (int i = 0; i < n; i++) cJSON_Delete(tr[i]);
    free(tr);
    snprintf(a, sizeof a, "best --db %s --study exact --k 1 --json", g_url);
    tu_expect(a, 0, "\"score\":0.30000000000000004");
}

static void test_ctrl_c_resume(void **state) {
    (void)state;
    write_objective("slow", 0.4);
    char out[600];
    snprintf(out, sizeof out, "%s/ctrlc.out", g_dir);
    char *av[] = {(char *)bin(), "search", "--db", g_url, "--study", "cc",
                  "--space", "layerwise:4", "--algo", "random", "--trials", "16",
                  "--workers", "2", "--objective-cmd", g_obj, NULL};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);   /* a terminal's job: Ctrl-C reaches the whole group */
        FILE *o = freopen(out, "w", stdout);
        if (o) dup2(fileno(stdout), 2);
        execv(av[0], av);
        _exit(127);
    }
    setpgid(pid, pid);
    /* until a few trials are done */
    double t0 = now_s();
    for (;;) {
        sleep_s(0.1);
        tg_tracker *t;
        tg_study s;
        int ready = 0;
        if (tg_tracker_open(g_url, &t, NULL) == TG_OK) {
            tg_study_counts c;
            ready = tg_study_get(t, "cc", &s, NULL) == TG_OK &&
                    tg_study_counts_get(t, s.id, &c, NULL) == TG_OK && c.complete >= 3 &&
                    c.running > 0;
            tg_tracker_close(t);
        }
        if (ready) break;
        if (now_s() - t0 > 60) fail_msg("no progress in 60 s");
    }
    kill(-pid, SIGINT);
    double t1 = now_s();
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    double took = now_s() - t1;
    unsigned char *text = NULL;
    size_t n = 0;
    FILE *f = fopen(out, "r");
    if (f) {
        text = calloc(1, 65536);
        n = fread(text, 1, 65535, f);
        fclose(f);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("Ctrl-C: status %d:\n%.*s", st, (int)n, text ? (char *)text : "");
    assert_non_null(text);
    assert_non_null(strstr((char *)text, "(stopped; the same command resumes)"));
    free(text);
    print_message("Ctrl-C: the search exited in %.2f s\n", took);
    assert_true(took < 5);
    tg_study_counts c = counts_of("cc");
    assert_int_equal(c.running, 0);
    assert_int_equal(c.failed, 0);
    assert_true(c.complete < 16);
    /* the same command resumes to the end */
    char a[8192];
    snprintf(a, sizeof a, "search --db %s --study cc --space layerwise:4 --algo random "
             "--trials 16 --workers 2 --objective-cmd '%s'", g_url, g_obj);
    tu_expect(a, 0, "16 of 16 trials complete, 0 failed");
    c = counts_of("cc");
    assert_int_equal(c.complete, 16);
    assert_int_equal(c.running + c.waiting, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage),
        cmocka_unit_test(test_search_and_read),
        cmocka_unit_test(test_explorer_settings),
        cmocka_unit_test(test_json_numbers_exact),
        cmocka_unit_test(test_ctrl_c_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
