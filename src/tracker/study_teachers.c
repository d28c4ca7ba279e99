/* study_teachers.c - a study's teachers (tracker.h, "a study may have
 * several teachers"): the study's own in studies.teacher as position 0,
 * the others of a pool in the teachers table from position 1 on.
 *
 * Position 0 stays where schema 1 put it, so tg_study_teacher_file, the
 * workers' TG and every schema-1 study keep reading the same bytes; its
 * name is studies.teacher_name, NULL (a study opened with a teacher, or
 * one from schema 1) reading as "teacher". Adding takes the study row's
 * lock first (a no-op UPDATE: on PostgreSQL it is the row lock, on SQLite
 * BEGIN IMMEDIATE already serialises), so two processes adding at once
 * get different positions instead of a unique violation. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracker_internal.h"

static tg_status no_study(tg_tracker *t, int64_t study, tg_error *err) {
    return tg_error_set(err, TG_ERR_NOT_FOUND, "no study with id %" PRId64 " in %s", study,
                        t->url);
}

/* ---- adding ----------------------------------------------------------------- */

typedef struct {
    tg_tracker *t;
    int64_t study;
    const char *name;
    const void *data;
    size_t n;
    int position;
} add_ctx;

static tg_status add_tx(tg_db *db, void *user, tg_error *err) {
    add_ctx *a = user;
    tg_dbv id = tg_dbv_int(a->study);
    int64_t changed;
    tg_status st = tg_db_exec(db, "UPDATE studies SET done = done WHERE id = $1", &id, 1, NULL,
                              &changed, err);
    if (st != TG_OK) return st;
    if (changed == 0) return no_study(a->t, a->study, err);
    tg_dbv p[3] = {id, tg_dbv_blob(a->data, a->n), tg_dbv_text(a->name)};
    st = tg_db_exec(db, "UPDATE studies SET teacher = $2, teacher_name = $3"
                    " WHERE id = $1 AND teacher IS NULL", p, 3, NULL, &changed, err);
    if (st != TG_OK) return st;
    if (changed > 0) {
        a->position = 0;
        return TG_OK;
    }
    tg_db_rows *r;
    st = tg_db_exec(db, "INSERT INTO teachers (study_id, position, name, data)"
                    " SELECT $1, COALESCE(MAX(position), 0) + 1, CAST($3 AS TEXT), $2"
                    " FROM teachers WHERE study_id = $1 RETURNING position",
                    p, 3, &r, NULL, err);
    if (st != TG_OK) return st;
    if (tg_db_nrows(r) == 0) st = tg_error_set(err, TG_ERR_DB, "%s: adding teacher %s to "
                                               "study %" PRId64 " inserted nothing", a->t->url,
                                               a->name, a->study);
    else a->position = (int)tg_db_int(r, 0, 0);
    tg_db_rows_free(r);
    return st;
}

tg_status tg_study_add_teacher(tg_tracker *t, int64_t study, const char *name,
                               const void *data, size_t n, int *position, tg_error *err) {
    if (position) *position = -1;
    size_t nn = name ? strlen(name) : 0;
    if (nn < 1 || nn > 127)
        return tg_error_set(err, TG_ERR_ARG, "teacher name '%.200s': want 1-127 bytes",
                            name ? name : "");
    if (!data || n == 0)
        return tg_error_set(err, TG_ERR_ARG, "teacher %s: no bytes (an empty teacher file)",
                            name);
    add_ctx a = {t, study, name, data, n, -1};
    tg_status st = tg_db_transact(t->db, add_tx, &a, err);
    if (st == TG_OK && position) *position = a.position;
    return st;
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct {
    tg_tracker *t;
    int64_t study;
    tg_db_rows *rows;
} list_ctx;

/* One transaction, so position 0 and the others are one snapshot. */
static tg_status list_tx(tg_db *db, void *user, tg_error *err) {
    list_ctx *l = user;
    tg_db_rows_free(l->rows);   /* from an earlier run of this function, rolled back */
    l->rows = NULL;
    tg_dbv id = tg_dbv_int(l->study);
    tg_db_rows *r;
    tg_status st = tg_db_exec(db, "SELECT id FROM studies WHERE id = $1", &id, 1, &r, NULL,
                              err);
    if (st != TG_OK) return st;
    int64_t found = tg_db_nrows(r);
    tg_db_rows_free(r);
    if (!found) return no_study(l->t, l->study, err);
    return tg_db_exec(db, "SELECT 0, COALESCE(teacher_name, 'teacher'), teacher FROM studies"
                      " WHERE id = $1 AND teacher IS NOT NULL"
                      " UNION ALL SELECT position, name, data FROM teachers WHERE study_id = $1"
                      " ORDER BY 1", &id, 1, &l->rows, NULL, err);
}

tg_status tg_study_teachers(tg_tracker *t, int64_t study, tg_study_teacher_file **out, int *n,
                            tg_error *err) {
    *out = NULL;
    *n = 0;
    list_ctx l = {t, study, NULL};
    tg_status st = tg_db_transact(t->db, list_tx, &l, err);
    if (st != TG_OK) {
        tg_db_rows_free(l.rows);
        return st;
    }
    int64_t nr = tg_db_nrows(l.rows);
    tg_study_teacher_file *a = nr ? calloc((size_t)nr, sizeof *a) : NULL;
    int k = 0;
    if (nr && !a) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory reading teachers");
    for (; st == TG_OK && k < nr; k++) {
        size_t len;
        const void *b = tg_db_blob(l.rows, k, 2, &len);
        const char *name = tg_db_text(l.rows, k, 1);
        a[k].position = (int)tg_db_int(l.rows, k, 0);
        snprintf(a[k].name, sizeof a[k].name, "%s", name ? name : "");
        a[k].n = len;
        a[k].data = malloc(len ? len : 1);
        if (!a[k].data) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory reading teacher %s (%zu "
                              "bytes)", a[k].name, len);
            break;
        }
        if (len) memcpy(a[k].data, b, len);
    }
    tg_db_rows_free(l.rows);
    if (st != TG_OK) {
        tg_study_teachers_free(a, k);
        return st;
    }
    *out = a;
    *n = (int)nr;
    return TG_OK;
}

void tg_study_teachers_free(tg_study_teacher_file *a, int n) {
    if (!a) return;
    for (int i = 0; i < n; i++) free(a[i].data);
    free(a);
}
