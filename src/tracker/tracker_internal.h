/* tracker_internal.h - what the tracker's files share (internal to
 * src/tracker/): the struct behind tg_tracker, SQL with the server's clock
 * pasted in, and the schema's migration steps (exposed so that a test can
 * run the same mechanism with a step of its own). */
#ifndef TGSAGE_TRACKER_INTERNAL_H
#define TGSAGE_TRACKER_INTERNAL_H

#include <stddef.h>

#include "db.h"
#include "tgsage/tracker.h"

struct tg_tracker {
    tg_db *db;
    char url[1024];          /* redacted */
};

/* tmpl with every "{now}" replaced by tg_db_now(db) into buf (n bytes);
 * TG_ASSERTs that it fits (the templates are this code's own). */
const char *tg_tracker_sql(const tg_tracker *t, char *buf, size_t n, const char *tmpl);

/* One step of the schema: from version to - 1 to `to`, run in its own
 * transaction, DDL per engine. */
typedef struct {
    int to;
    const char *sqlite_sql;
    const char *pg_sql;
} tg_tracker_migration;

/* Bring db to version `target` through steps[0..n) (ordered by `to`, each
 * from the version before it), one transaction per step; a database at a
 * version above target is refused (TG_ERR_DB "written by a newer tgsage").
 * *version (may be NULL) receives the version found before migrating. */
tg_status tg_tracker_migrate(tg_db *db, const char *url, const tg_tracker_migration *steps,
                             int n, int target, int *version, tg_error *err);
/* The steps of this tgsage (TG_TRACKER_SCHEMA of them). */
const tg_tracker_migration *tg_tracker_migrations(int *n);

/* Validate a study name: 1-127 characters of [A-Za-z0-9._-]. */
tg_status tg_study_name_check(const char *name, tg_error *err);

#endif
