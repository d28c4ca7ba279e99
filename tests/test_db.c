/* test_db.c - the tracker's database layer on SQLite: the cases both
 * engines share (db_cases.h), then what only a file can do: URL forms,
 * statement cache, two connections and 8 processes on one file, a file that
 * is not a database, a read-only file system and a full disk (both on a
 * small tmpfs mounted in a private mount namespace), and tg_url_redact. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db_cases.h"
#include "testdb.h"
#include "tgsage/tracker.h"

typedef void (*dt_case)(const char *url);

static void dt_run(dt_case c) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    c(td_sqlite_url(dir, "t"));
    tu_rmtree(dir);
}

static void test_types(void **s) { (void)s; dt_run(dc_types); }
static void test_params(void **s) { (void)s; dt_run(dc_params); }
static void test_changed(void **s) { (void)s; dt_run(dc_changed); }
static void test_transact(void **s) { (void)s; dt_run(dc_transact); }
static void test_schema(void **s) { (void)s; dt_run(dc_schema); }
static void test_syntax_returning(void **s) { (void)s; dt_run(dc_syntax_returning); }
static void test_now(void **s) { (void)s; dt_run(dc_now); }

static double dt_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_open_forms(void **s) {
    (void)s;
    char dir[256], url[512], path[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    tg_db *db = NULL;
    tg_error e;
    DC_FAILS(tg_db_open("mysql://u:secret@h/db", &db, &e), e, TG_ERR_ARG, "sqlite:///");
    assert_non_null(strstr(e.msg, "postgresql://"));
    assert_null(strstr(e.msg, "secret"));
    assert_null(db);
    DC_FAILS(tg_db_open("sqlite://x.db", &db, &e), e, TG_ERR_ARG, "sqlite:////absolute");
    DC_FAILS(tg_db_open("sqlite:///", &db, &e), e, TG_ERR_ARG, "no file");
    DC_FAILS(tg_db_open("sqlite:///x.db?mode=ro", &db, &e), e, TG_ERR_ARG, "no ?parameters");

    /* sqlite:///rel is relative to the working directory */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    db = dc_open("sqlite:///rel.db");
    dc_sql(db, "CREATE TABLE a (x BIGINT)");
    tg_db_close(db);
    DC_FAILS(tg_db_open("sqlite:///sub/rel.db", &db, &e), e, TG_ERR_IO,
             "directory sub does not exist");
    assert_int_equal(chdir(cwd), 0);
    struct stat sb;
    snprintf(path, sizeof path, "%s/rel.db", dir);
    assert_int_equal(stat(path, &sb), 0);

    /* sqlite:////abs: a missing directory, a file where a directory should be */
    snprintf(url, sizeof url, "sqlite:///%s/nodir/x.db", dir);
    snprintf(path, sizeof path, "directory %s/nodir does not exist", dir);
    DC_FAILS(tg_db_open(url, &db, &e), e, TG_ERR_IO, path);
    assert_non_null(strstr(e.msg, url));
    snprintf(url, sizeof url, "sqlite:///%s/rel.db/x.db", dir);
    DC_FAILS(tg_db_open(url, &db, &e), e, TG_ERR_IO, "is not a directory");
    snprintf(url, sizeof url, "sqlite:///%s", dir);   /* the directory itself */
    tg_status st = tg_db_open(url, &db, &e);
    assert_int_not_equal(st, TG_OK);
    assert_non_null(strstr(e.msg, dir));

    db = dc_open("sqlite:///:memory:");
    assert_int_equal(tg_db_kind_of(db), TG_DB_SQLITE);
    dc_sql(db, "CREATE TABLE m (x BIGINT)");
    tg_db_close(db);

    setenv("TG_DB_RETRY_S", "soon", 1);
    DC_FAILS(tg_db_open("sqlite:///:memory:", &db, &e), e, TG_ERR_ARG, "TG_DB_RETRY_S=soon");
    unsetenv("TG_DB_RETRY_S");
    tu_rmtree(dir);
}

/* SQLite's own rules for parameters and statements. */
static void test_sqlite_params(void **s) {
    (void)s;
    tg_db *db = dc_open("sqlite:///:memory:");
    tg_error e;
    tg_dbv p[3] = {tg_dbv_int(1), tg_dbv_int(2), tg_dbv_int(3)};
    assert_int_equal(dc_int(db, "SELECT $2", p, 3), 2);           /* $1, $3 unused: fine */
    DC_FAILS(tg_db_exec(db, "SELECT $1 + $3", p, 2, NULL, NULL, &e), e, TG_ERR_ARG,
             "parameter $3 is not given (2 given)");
    DC_FAILS(tg_db_exec(db, "SELECT ?", p, 1, NULL, NULL, &e), e, TG_ERR_ARG, "want $1, $2");
    DC_FAILS(tg_db_exec(db, "SELECT :x", p, 1, NULL, NULL, &e), e, TG_ERR_ARG, "want $1, $2");
    DC_FAILS(tg_db_exec(db, "SELECT 1; SELECT 2", NULL, 0, NULL, NULL, &e), e, TG_ERR_ARG,
             "more than one statement");
    DC_FAILS(tg_db_exec(db, "  ", NULL, 0, NULL, NULL, &e), e, TG_ERR_ARG, "no statement");
    assert_int_equal(dc_int(db, "SELECT 5;  ", NULL, 0), 5);      /* a trailing ; is one */
    tg_db_close(db);
}

/* The cache is keyed by the SQL's address but confirmed by its text, holds
 * a bounded number, and follows schema changes. */
static void test_stmt_cache(void **s) {
    (void)s;
    tg_db *db = dc_open("sqlite:///:memory:");
    tg_error e;
    char buf[64];
    snprintf(buf, sizeof buf, "SELECT 1");
    assert_int_equal(dc_int(db, buf, NULL, 0), 1);
    snprintf(buf, sizeof buf, "SELECT 2");
    assert_int_equal(dc_int(db, buf, NULL, 0), 2);

    enum { N = 300 };
    char *sql[N];
    for (int k = 0; k < N; k++) {
        sql[k] = malloc(32);
        assert_non_null(sql[k]);
        snprintf(sql[k], 32, "SELECT %d + $1", k);
    }
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < N; k++) {
            tg_dbv p = tg_dbv_int(round);
            assert_int_equal(dc_int(db, sql[k], &p, 1), k + round);
        }
    for (int k = 0; k < N; k++) free(sql[k]);

    dc_sql(db, "CREATE TABLE sc (a BIGINT)");
    dc_sql(db, "INSERT INTO sc (a) VALUES (7)");
    static const char all[] = "SELECT * FROM sc";
    tg_db_rows *r = NULL;
    DC_OK(tg_db_exec(db, all, NULL, 0, &r, NULL, &e), e);
    assert_int_equal(tg_db_ncols(r), 1);
    tg_db_rows_free(r);
    dc_sql(db, "ALTER TABLE sc ADD COLUMN b TEXT DEFAULT 'new'");
    DC_OK(tg_db_exec(db, all, NULL, 0, &r, NULL, &e), e);
    assert_int_equal(tg_db_ncols(r), 2);
    assert_string_equal(tg_db_text(r, 0, 1), "new");
    tg_db_rows_free(r);
    tg_db_close(db);
}

typedef struct {
    tg_db *b;
    int checked;
} dt_pair;

static tg_status dt_incr(tg_db *db, void *user, tg_error *err) {
    (void)user;
    tg_db_rows *r = NULL;
    tg_status st = tg_db_exec(db, "SELECT n FROM ctr WHERE id = 1", NULL, 0, &r, NULL, err);
    if (st != TG_OK) return st;
    tg_dbv p = tg_dbv_int(tg_db_int(r, 0, 0) + 1);
    tg_db_rows_free(r);
    int64_t ch = 0;
    st = tg_db_exec(db, "UPDATE ctr SET n = $1 WHERE id = 1", &p, 1, NULL, &ch, err);
    if (st == TG_OK && ch != 1)
        return tg_error_set(err, TG_ERR_DB, "UPDATE changed %lld rows", (long long)ch);
    return st;
}

/* A holds the write lock (inside its transaction): B still reads the last
 * commit, and B's writes retry until B's deadline, then fail naming the
 * lock and the tries. */
static tg_status dt_hold(tg_db *a, void *user, tg_error *err) {
    dt_pair *pr = user;
    tg_status st = dt_incr(a, NULL, err);
    if (st != TG_OK) return st;
    tg_error e;
    assert_int_equal(dc_int(pr->b, "SELECT n FROM ctr", NULL, 0), 0);
    double t0 = dt_clock();
    DC_FAILS(tg_db_transact(pr->b, dt_incr, NULL, &e), e, TG_ERR_DB, "database is locked");
    double dt = dt_clock() - t0;
    assert_non_null(strstr(e.msg, "tries in 0.3 s"));
    if (dt < 0.29 || dt > 2.0) fail_msg("gave up after %.3f s, want about 0.3", dt);
    DC_FAILS(tg_db_exec(pr->b, "UPDATE ctr SET n = 99", NULL, 0, NULL, NULL, &e), e, TG_ERR_DB,
             "database is locked");
    pr->checked = 1;
    return TG_OK;
}

static void dt_counter(const char *url) {
    tg_db *db = dc_open(url);
    dc_sql(db, "CREATE TABLE ctr (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)");
    dc_sql(db, "INSERT INTO ctr (id, n) VALUES (1, 0)");
    tg_db_close(db);
}

static void test_two_connections(void **s) {
    (void)s;
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    const char *url = td_sqlite_url(dir, "two");
    dt_counter(url);
    tg_db *a = dc_open(url);
    setenv("TG_DB_RETRY_S", "0.3", 1);
    dt_pair pr = {dc_open(url), 0};
    unsetenv("TG_DB_RETRY_S");
    tg_error e;
    DC_OK(tg_db_transact(a, dt_hold, &pr, &e), e);
    assert_true(pr.checked);
    assert_int_equal(dc_int(pr.b, "SELECT n FROM ctr", NULL, 0), 1);
    DC_OK(tg_db_transact(pr.b, dt_incr, NULL, &e), e);
    assert_int_equal(dc_int(a, "SELECT n FROM ctr", NULL, 0), 2);
    tg_db_close(a);
    tg_db_close(pr.b);
    tu_rmtree(dir);
}

static tg_status dt_hold_long(tg_db *db, void *user, tg_error *err) {
    int *fd = user;
    tg_status st = dt_incr(db, NULL, err);
    if (st != TG_OK) return st;
    if (write(*fd, "L", 1) != 1) return tg_error_set(err, TG_ERR_IO, "pipe: %s", strerror(errno));
    struct timespec ts = {0, 400 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return TG_OK;
}

/* Another process holds the write lock for 0.4 s, four times the busy
 * timeout: SQLite returns SQLITE_BUSY to us and the retry loop (default
 * deadline) waits it out; the caller sees only the success. */
static void test_wait_for_writer(void **s) {
    (void)s;
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    const char *url = td_sqlite_url(dir, "wait");
    dt_counter(url);
    int fd[2], back[2];
    assert_int_equal(pipe(fd), 0);
    assert_int_equal(pipe(back), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tg_db *db = NULL;
        tg_error e;
        char go = 0;
        close(back[1]);
        int rc = tg_db_open(url, &db, &e) == TG_OK &&
                 tg_db_transact(db, dt_hold_long, &fd[1], &e) == TG_OK &&
                 read(back[0], &go, 1) == 1 &&     /* the parent is done with the first */
                 tg_db_transact(db, dt_hold_long, &fd[1], &e) == TG_OK ? 0 : 1;
        if (rc) fprintf(stderr, "holder: %s\n", e.msg);
        tg_db_close(db);
        _exit(rc);
    }
    close(fd[1]);
    close(back[0]);
    tg_db *db = dc_open(url);
    tg_error e;
    double dt[2];
    for (int k = 0; k < 2; k++) {
        char c = 0;
        assert_int_equal(read(fd[0], &c, 1), 1);   /* the holder is inside its transaction */
        double t0 = dt_clock();
        if (k == 0)
            DC_OK(tg_db_transact(db, dt_incr, NULL, &e), e);
        else   /* a statement on its own retries the same way */
            DC_OK(tg_db_exec(db, "UPDATE ctr SET n = n + 1", NULL, 0, NULL, NULL, &e), e);
        dt[k] = dt_clock() - t0;
        if (k == 0) assert_int_equal(write(back[1], "G", 1), 1);
    }
    close(fd[0]);
    close(back[1]);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    assert_int_equal(dc_int(db, "SELECT n FROM ctr", NULL, 0), 4);
    tg_db_close(db);
    for (int k = 0; k < 2; k++)
        if (dt[k] < 0.15 || dt[k] > 3)   /* SQLite's own busy wait gives up at 0.1 s */
            fail_msg("waited %.3f s for a 0.4 s lock (%s)", dt[k],
                     k ? "statement" : "transaction");
    print_message("waited %.3f s (transaction), %.3f s (statement) for another process's "
                  "0.4 s write lock\n", dt[0], dt[1]);
    tu_rmtree(dir);
}

/* 8 processes x 200 read-modify-write transactions on one row: the exact
 * count, and no SQLITE_BUSY ever surfaces. */
static void test_processes(void **s) {
    (void)s;
    enum { NP = 8, NT = 200, MSG = 1024 };
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    const char *url = td_sqlite_url(dir, "procs");
    dt_counter(url);
    char *msg = mmap(NULL, NP * MSG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(msg != MAP_FAILED);
    memset(msg, 0, NP * MSG);
    double t0 = dt_clock();
    pid_t pid[NP];
    for (int p = 0; p < NP; p++) {
        pid[p] = fork();
        assert_true(pid[p] >= 0);
        if (pid[p] == 0) {
            tg_db *db = NULL;
            tg_error e;
            if (tg_db_open(url, &db, &e) != TG_OK) {
                snprintf(msg + p * MSG, MSG, "process %d: open: %s", p, e.msg);
                _exit(1);
            }
            for (int t = 0; t < NT; t++)
                if (tg_db_transact(db, dt_incr, NULL, &e) != TG_OK) {
                    snprintf(msg + p * MSG, MSG, "process %d, transaction %d: %s", p, t, e.msg);
                    _exit(1);
                }
            tg_db_close(db);
            _exit(0);
        }
    }
    int bad = 0;
    for (int p = 0; p < NP; p++) {
        int ws = 0;
        assert_int_equal(waitpid(pid[p], &ws, 0), pid[p]);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
            fprintf(stderr, "%s (status %d)\n", msg[p * MSG] ? msg + p * MSG : "died", ws);
            bad++;
        }
    }
    double dt = dt_clock() - t0;
    munmap(msg, NP * MSG);
    assert_int_equal(bad, 0);
    tg_db *db = dc_open(url);
    assert_int_equal(dc_int(db, "SELECT n FROM ctr", NULL, 0), NP * NT);
    tg_db_close(db);
    print_message("%d processes x %d transactions: %.2f s (%.0f/s)\n", NP, NT, dt,
                  NP * NT / dt);
    tu_rmtree(dir);
}

static void test_not_a_database(void **s) {
    (void)s;
    char dir[256], path[512], url[600];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/junk.db", dir);
    snprintf(url, sizeof url, "sqlite:///%s", path);
    char junk[8192];
    for (size_t k = 0; k < sizeof junk; k++) junk[k] = "not a database, just junk. "[k % 27];
    assert_int_equal(tu_write_file(path, junk, sizeof junk), 0);
    tg_db *db = NULL;
    tg_error e;
    DC_FAILS(tg_db_open(url, &db, &e), e, TG_ERR_DB, "is not a SQLite database");
    assert_non_null(strstr(e.msg, "file is not a database"));  /* sqlite3_errmsg */
    assert_non_null(strstr(e.msg, path));
    assert_null(db);
    char back[sizeof junk + 1];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(back, 1, sizeof back, f), sizeof junk);   /* untouched */
    fclose(f);
    assert_memory_equal(back, junk, sizeof junk);
    tu_rmtree(dir);
}

/* ---- a tmpfs of our own: read-only, full ----------------------------------- */

/* Child-side checks: the message goes to the parent through shared memory. */
#define CK(cond, ...)                                                                    \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            snprintf(msg, n, __VA_ARGS__);                                               \
            return 1;                                                                    \
        }                                                                                \
    } while (0)


typedef int (*dt_child)(const char *dir, char *msg, size_t n);

/* fn in a child process, on a tmpfs of `size` mounted at a fresh directory.
 * Fails (never skips) when the tmpfs cannot be made. */
static void dt_on_tmpfs(const char *size, dt_child fn) {
    enum { MSG = 2048 };
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    char *msg = mmap(NULL, MSG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(msg != MAP_FAILED);
    msg[0] = '\0';
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = tu_private_mounts(msg, MSG);
        char opt[64];
        snprintf(opt, sizeof opt, "size=%s,mode=0755", size);
        if (rc == 0 && mount("tmpfs", dir, "tmpfs", 0, opt) != 0) {
            snprintf(msg, MSG, "mount -t tmpfs -o %s tmpfs %s: %s", opt, dir, strerror(errno));
            rc = 1;
        }
        if (rc == 0) rc = fn(dir, msg, MSG);
        _exit(rc);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    char copy[MSG];
    memcpy(copy, msg, MSG);
    copy[MSG - 1] = '\0';
    munmap(msg, MSG);
    tu_rmtree(dir);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        fail_msg("%s (child status %d)", copy[0] ? copy : "the child died", ws);
    if (copy[0]) print_message("%s\n", copy);
}

static int dt_readonly_child(const char *dir, char *msg, size_t n) {
    char path[512], url[600];
    snprintf(path, sizeof path, "%s/ro.db", dir);
    snprintf(url, sizeof url, "sqlite:///%s", path);
    tg_db *db = NULL;
    tg_error e;
    CK(tg_db_open(url, &db, &e) == TG_OK, "open %s: %s", url, e.msg);
    tg_status st = tg_db_exec(db, "CREATE TABLE t (a BIGINT)", NULL, 0, NULL, NULL, &e);
    if (st == TG_OK) st = tg_db_exec(db, "INSERT INTO t (a) VALUES (1)", NULL, 0, NULL, NULL, &e);
    tg_db_close(db);
    CK(st == TG_OK, "writing %s: %s", url, e.msg);
    CK(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0, "remount %s read-only: %s", dir,
       strerror(errno));
    int fd = open(path, O_RDWR);
    CK(fd < 0 && errno == EROFS, "%s still opens for writing on a read-only mount", path);
    st = tg_db_open(url, &db, &e);
    if (st == TG_OK) tg_db_close(db);
    CK(st == TG_ERR_DB && strstr(e.msg, "is read-only") && strstr(e.msg, path),
       "opening a read-only %s: %s \"%s\", want TG_ERR_DB \"... is read-only\"", path,
       tg_status_name(st), e.msg);
    return 0;
}

static void test_readonly(void **s) {
    (void)s;
    dt_on_tmpfs("1m", dt_readonly_child);
}

/* Permissions, as a user they bind (root drops to nobody in a child): a
 * read-only file, and a writable file in a read-only directory. */
static void test_readonly_perms(void **s) {
    (void)s;
    char dir[256], sub[300], file[400], url[500], url2[500];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(sub, sizeof sub, "%s/ro", dir);
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(chmod(sub, 0777), 0);
    if (geteuid() == 0) assert_int_equal(chown(sub, 65534, 65534), 0);
    snprintf(file, sizeof file, "%s/ro.db", sub);
    snprintf(url, sizeof url, "sqlite:///%s", file);
    snprintf(url2, sizeof url2, "sqlite:///%s/w.db", sub);
    enum { MSG = 2048 };
    char *msg = mmap(NULL, MSG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(msg != MAP_FAILED);
    msg[0] = '\0';
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t n = MSG;
        int rc = 0;
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
            snprintf(msg, n, "cannot become nobody: %s", strerror(errno));
            _exit(1);
        }
        tg_db *db = NULL;
        tg_error e;
        for (int k = 0; k < 2 && rc == 0; k++) {
            const char *u = k ? url2 : url;
            if (tg_db_open(u, &db, &e) != TG_OK ||
                tg_db_exec(db, "CREATE TABLE t (a BIGINT)", NULL, 0, NULL, NULL, &e) != TG_OK) {
                snprintf(msg, n, "create %s: %s", u, e.msg);
                rc = 1;
            }
            tg_db_close(db);
        }
        if (rc == 0 && chmod(file, 0444) != 0) {
            snprintf(msg, n, "chmod 0444 %s: %s", file, strerror(errno));
            rc = 1;
        }
        tg_status st = rc ? TG_OK : tg_db_open(url, &db, &e);
        if (st == TG_OK && rc == 0) {
            tg_db_close(db);
            snprintf(msg, n, "a 0444 file opened for writing");
            rc = 1;
        } else if (rc == 0 && (st != TG_ERR_DB || !strstr(e.msg, "is read-only") ||
                               !strstr(e.msg, file))) {
            snprintf(msg, n, "0444 file: %s \"%s\"", tg_status_name(st), e.msg);
            rc = 1;
        }
        if (rc == 0 && chmod(sub, 0555) != 0) {
            snprintf(msg, n, "chmod 0555 %s: %s", sub, strerror(errno));
            rc = 1;
        }
        st = rc ? TG_OK : tg_db_open(url2, &db, &e);
        if (st == TG_OK && rc == 0) {
            tg_db_close(db);
            snprintf(msg, n, "a database in a 0555 directory opened");
            rc = 1;
        } else if (rc == 0 && (st != TG_ERR_DB || !strstr(e.msg, "is read-only") ||
                               !strstr(e.msg, sub))) {
            snprintf(msg, n, "0555 directory: %s \"%s\"", tg_status_name(st), e.msg);
            rc = 1;
        } else if (rc == 0) {
            snprintf(msg, n, "%s", e.msg);
        }
        _exit(rc);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    char copy[MSG];
    memcpy(copy, msg, MSG);
    copy[MSG - 1] = '\0';
    munmap(msg, MSG);
    chmod(sub, 0755);
    tu_rmtree(dir);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) fail_msg("%s (status %d)", copy, ws);
    print_message("read-only directory: %s\n", copy);
}

static tg_status dt_fill_tx(tg_db *db, void *user, tg_error *err) {
    int *calls = user;
    ++*calls;
    static unsigned char blob[8192];
    for (int k = 0; k < 1000; k++) {
        tg_dbv p[2] = {tg_dbv_int(100000 + k), tg_dbv_blob(blob, sizeof blob)};
        tg_status st = tg_db_exec(db, "INSERT INTO f (k, b) VALUES ($1, $2)", p, 2, NULL, NULL,
                                  err);
        if (st != TG_OK) return st;
    }
    return tg_error_set(err, TG_ERR_ARG, "8 MB fit on a 1 MB tmpfs");
}

static int dt_full_child(const char *dir, char *msg, size_t n) {
    char path[512], url[600];
    snprintf(path, sizeof path, "%s/full.db", dir);
    snprintf(url, sizeof url, "sqlite:///%s", path);
    tg_db *db = NULL;
    tg_error e;
    CK(tg_db_open(url, &db, &e) == TG_OK, "open %s: %s", url, e.msg);
    CK(tg_db_exec(db, "CREATE TABLE f (k BIGINT PRIMARY KEY, b BLOB)", NULL, 0, NULL, NULL, &e)
           == TG_OK, "create: %s", e.msg);
    unsigned char blob[8192];
    int ok = 0;
    tg_status st = TG_OK;
    for (int k = 0; k < 1000; k++) {
        for (size_t j = 0; j < sizeof blob; j++) blob[j] = (unsigned char)(k * 31 + j);
        tg_dbv p[2] = {tg_dbv_int(k), tg_dbv_blob(blob, sizeof blob)};
        st = tg_db_exec(db, "INSERT INTO f (k, b) VALUES ($1, $2)", p, 2, NULL, NULL, &e);
        if (st != TG_OK) break;
        ok++;
    }
    CK(st == TG_ERR_DB && strstr(e.msg, "disk full") && strstr(e.msg, path),
       "filling %s: %s \"%s\" after %d rows, want TG_ERR_DB \"... disk full\"", path,
       tg_status_name(st), e.msg, ok);
    CK(ok >= 20 && ok < 128, "%d rows of 8 KB fit on 1 MB", ok);
    /* inside a transaction: the same error, at once, not retried */
    int calls = 0;
    double t0 = dt_clock();
    st = tg_db_transact(db, dt_fill_tx, &calls, &e);
    double dt = dt_clock() - t0;
    CK(st == TG_ERR_DB && strstr(e.msg, "disk full") && calls == 1 && dt < 5,
       "transaction on a full disk: %s \"%s\", %d calls, %.2f s", tg_status_name(st), e.msg,
       calls, dt);
    tg_db_rows *r = NULL;
    CK(tg_db_exec(db, "SELECT COUNT(*), MAX(k) FROM f", NULL, 0, &r, NULL, &e) == TG_OK,
       "count: %s", e.msg);
    int64_t count = tg_db_int(r, 0, 0), last = tg_db_int(r, 0, 1);
    tg_db_rows_free(r);
    tg_db_close(db);
    CK(count == ok && last == ok - 1, "after the full disk: %lld rows (last %lld), %d committed",
       (long long)count, (long long)last, ok);
    /* a fresh connection sees every committed row, byte for byte */
    CK(tg_db_open(url, &db, &e) == TG_OK, "reopen %s: %s", url, e.msg);
    CK(tg_db_exec(db, "SELECT k, b FROM f ORDER BY k", NULL, 0, &r, NULL, &e) == TG_OK,
       "read back: %s", e.msg);
    int64_t nr = tg_db_nrows(r);
    int bad = -1;
    for (int64_t k = 0; k < nr && bad < 0; k++) {
        size_t nb = 0;
        const unsigned char *b = tg_db_blob(r, k, 1, &nb);
        if (tg_db_int(r, k, 0) != k || nb != sizeof blob) bad = (int)k;
        for (size_t j = 0; bad < 0 && j < nb; j++)
            if (b[j] != (unsigned char)(k * 31 + j)) bad = (int)k;
    }
    tg_db_rows_free(r);
    tg_db_close(db);
    CK(nr == ok && bad < 0, "reopened: %lld rows (%d committed), row %d differs", (long long)nr,
       ok, bad);
    snprintf(msg, n, "full disk: %d rows of 8 KB committed on a 1 MB tmpfs, all read back", ok);
    return 0;
}

static void test_disk_full(void **s) {
    (void)s;
    dt_on_tmpfs("1m", dt_full_child);
}

/* ---- tg_url_redact ----------------------------------------------------------- */

static void test_url_redact(void **s) {
    (void)s;
    static const char *const cases[][2] = {
        {"postgresql://user:secret@host:5432/db", "postgresql://user:***@host:5432/db"},
        {"postgresql://user@host/db", "postgresql://user@host/db"},
        {"postgresql://user:p%40ss%2Fw%3A@host/db?sslmode=require",
         "postgresql://user:***@host/db?sslmode=require"},
        {"postgresql://host/db?user=u&password=hunter2&sslmode=disable",
         "postgresql://host/db?user=u&password=***&sslmode=disable"},
        {"postgresql://host/db?password=hunter2", "postgresql://host/db?password=***"},
        {"postgresql://u:pw@h/db?password=x#frag", "postgresql://u:***@h/db?password=***#frag"},
        {"postgres://u:a@b@host/db", "postgres://u:***@host/db"},
        {"postgresql:///db?host=/var/run/postgresql&password=x&port=5433",
         "postgresql:///db?host=/var/run/postgresql&password=***&port=5433"},
        {"postgresql://:pw@host/db", "postgresql://:***@host/db"},
        {"postgresql://u:@host/db", "postgresql://u:@host/db"},
        {"postgresql://h/db?passwordless=1&xpassword=2",
         "postgresql://h/db?passwordless=1&xpassword=2"},
        {"postgresql://[::1]:5432/db", "postgresql://[::1]:5432/db"},
        {"host=h password=secret dbname=x", "host=h password=*** dbname=x"},
        {"sqlite:////abs/path.db", "sqlite:////abs/path.db"},
        {"sqlite:///rel/u:p@x.db", "sqlite:///rel/u:p@x.db"},
        {"sqlite:///:memory:", "sqlite:///:memory:"},
        {"", ""},
    };
    char out[256];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_url_redact(cases[k][0], out, sizeof out);
        if (strcmp(out, cases[k][1]) != 0)
            fail_msg("redact %s: %s, want %s", cases[k][0], out, cases[k][1]);
    }
    /* truncated to any size: terminated, never a piece of the password */
    const char *u = "postgresql://user:secret@host/db?password=secret";
    for (size_t n = 1; n <= strlen(u) + 1; n++) {
        memset(out, 'Z', sizeof out);
        tg_url_redact(u, out, n);
        assert_true(strlen(out) < n);
        assert_null(strstr(out, "sec"));
        assert_int_equal(out[n], 'Z');
    }
    tg_url_redact(u, out, 22);
    assert_string_equal(out, "postgresql://user:***");
    out[0] = 'Q';
    tg_url_redact(u, out, 0);
    assert_int_equal(out[0], 'Q');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_changed),
        cmocka_unit_test(test_transact),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_syntax_returning),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_open_forms),
        cmocka_unit_test(test_sqlite_params),
        cmocka_unit_test(test_stmt_cache),
        cmocka_unit_test(test_two_connections),
        cmocka_unit_test(test_wait_for_writer),
        cmocka_unit_test(test_processes),
        cmocka_unit_test(test_not_a_database),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_readonly_perms),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_url_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
