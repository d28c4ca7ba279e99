/* study_enqueue.c - trials that no explorer proposed (tracker.h,
 * tg_study_enqueue): a rerank's top K, a pool's sampled genomes.
 *
 * Numbers come from studies.next_number exactly as tg_study_propose takes
 * them, so the two may interleave in one study without a gap or a clash.
 * The transaction starts by locking the study's row (a no-op UPDATE; on
 * SQLite BEGIN IMMEDIATE already serialises): two processes queueing the
 * same genome at once then see each other's trial instead of both missing
 * it and one failing on UNIQUE (study_id, hash). No proposals rows are
 * written: these trials have no explorer to tell their outcomes to, and
 * tg_study_counts' proposals stays the explorer's count. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tracker_internal.h"

typedef struct {
    tg_tracker *t;
    int64_t study;
    const tg_enqueue_item *items;
    int n;
    int64_t *number;
    int added;
} enqueue_ctx;

static int hash_ok(const char *h) {
    if (!h || strlen(h) != 32) return 0;
    for (int k = 0; k < 32; k++)
        if (!((h[k] >= '0' && h[k] <= '9') || (h[k] >= 'a' && h[k] <= 'f'))) return 0;
    return 1;
}

static tg_status enqueue_one(enqueue_ctx *c, const tg_enqueue_item *it, int64_t *number,
                             tg_error *err) {
    tg_db *db = c->t->db;
    tg_dbv q[2] = {tg_dbv_int(c->study), tg_dbv_text(it->hash)};
    tg_db_rows *r;
    tg_status st = tg_db_exec(db, "SELECT number FROM trials WHERE study_id = $1 AND hash = $2",
                              q, 2, &r, NULL, err);
    if (st != TG_OK) return st;
    int found = tg_db_nrows(r) > 0;
    if (found) *number = tg_db_int(r, 0, 0);
    tg_db_rows_free(r);
    if (found) return TG_OK;
    st = tg_db_exec(db, "UPDATE studies SET next_number = next_number + 1 WHERE id = $1"
                    " RETURNING next_number - 1", q, 1, &r, NULL, err);
    if (st != TG_OK) return st;
    TG_ASSERT(tg_db_nrows(r) == 1);   /* the row was locked at the start */
    *number = tg_db_int(r, 0, 0);
    tg_db_rows_free(r);
    char sql[512];
    tg_tracker_sql(c->t, sql, sizeof sql,
                   "INSERT INTO trials (study_id, number, hash, genome, state, attempt,"
                   " created, parent) VALUES ($1, $2, $3, $4, 'waiting', 0, {now}, $5)");
    tg_dbv v[5] = {tg_dbv_int(c->study), tg_dbv_int(*number), tg_dbv_text(it->hash),
                   tg_dbv_text(it->genome),
                   it->parent >= 0 ? tg_dbv_int(it->parent) : tg_dbv_null()};
    st = tg_db_exec(db, sql, v, 5, NULL, NULL, err);
    if (st == TG_OK) c->added++;
    return st;
}

static tg_status enqueue_tx(tg_db *db, void *user, tg_error *err) {
    enqueue_ctx *c = user;
    c->added = 0;
    tg_dbv id = tg_dbv_int(c->study);
    int64_t changed;
    tg_status st = tg_db_exec(db, "UPDATE studies SET next_number = next_number WHERE id = $1",
                              &id, 1, NULL, &changed, err);
    if (st != TG_OK) return st;
    if (changed == 0)
        return tg_error_set(err, TG_ERR_NOT_FOUND, "no study with id %" PRId64 " in %s",
                            c->study, c->t->url);
    for (int i = 0; i < c->n; i++) {
        st = enqueue_one(c, &c->items[i], &c->number[i], err);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

tg_status tg_study_enqueue(tg_tracker *t, int64_t study, const tg_enqueue_item *items, int n,
                           int64_t *number, int *added, tg_error *err) {
    if (added) *added = 0;
    if (n < 0 || (n > 0 && (!items || !number)))
        return tg_error_set(err, TG_ERR_ARG, "enqueue: bad arguments (n %d)", n);
    /* checked before the transaction: nothing is written when one is bad */
    for (int i = 0; i < n; i++) {
        if (!hash_ok(items[i].hash))
            return tg_error_set(err, TG_ERR_ARG, "enqueue item %d: hash '%.40s' is not 32 "
                                "lowercase hex digits", i, items[i].hash ? items[i].hash : "");
        if (!items[i].genome)
            return tg_error_set(err, TG_ERR_ARG, "enqueue item %d: no genome", i);
    }
    enqueue_ctx c = {t, study, items, n, number, 0};
    tg_status st = tg_db_transact(t->db, enqueue_tx, &c, err);
    if (st == TG_OK && added) *added = c.added;
    return st;
}
