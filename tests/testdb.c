/* testdb.c - see testdb.h. */
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

const char *td_sqlite_url(const char *dir, const char *name) {
    static char url[4200];
    snprintf(url, sizeof url, "sqlite:///%s/%s.db", dir, name);
    return url;
}

const char *td_pg_base(void) {
    static char base[2048];
    const char *f = getenv("TG_TEST_PG");
    FILE *fp = f ? fopen(f, "r") : NULL;
    if (!fp) fail_msg("no test PostgreSQL server: $TG_TEST_PG (%s) unreadable; the CTest "
                      "fixture pg (scripts/testenv/pg.sh start) starts one", f ? f : "unset");
    if (!fgets(base, sizeof base, fp)) base[0] = '\0';
    fclose(fp);
    base[strcspn(base, "\r\n")] = '\0';
    if (!base[0]) fail_msg("%s is empty", f);
    return base;
}

/* The base URL is postgresql://USER@/postgres?host=DIR&port=PORT: swap the
 * database name. */
static void with_db(const char *base, const char *db, char *out, size_t n) {
    const char *slash = strstr(base, "@/");
    const char *q = strchr(base, '?');
    if (!slash || !q) fail_msg("unexpected test server URL %s", base);
    snprintf(out, n, "%.*s@/%s%s", (int)(slash - base), base, db, q);
}

static void quiet(void *arg, const char *msg) {
    (void)arg;
    (void)msg;
}

const char *td_pg_url(const char *name) {
    static char url[2300];
    const char *base = td_pg_base();
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("test server %s: %s", base, PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);   /* "database ... does not exist, skipping" */
    char sql[512];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    with_db(base, name, url, sizeof url);
    return url;
}
