/* testdb.h - databases for the tracker's tests: a fresh SQLite file, or a
 * fresh database on the PostgreSQL server the CTest fixture `pg` started
 * (scripts/testenv/pg.sh writes its base URL to the file $TG_TEST_PG). */
#ifndef TG_TESTDB_H
#define TG_TESTDB_H

/* sqlite:////DIR/NAME.db (static buffer, overwritten by the next call). */
const char *td_sqlite_url(const char *dir, const char *name);
/* A new, empty database NAME on the test server (dropped first if it
 * exists), its URL (static buffer). Fails the test (cmocka's fail_msg)
 * when no server was started for it. */
const char *td_pg_url(const char *name);
/* The server's base URL (its "postgres" database); fails as above. */
const char *td_pg_base(void);

#endif
