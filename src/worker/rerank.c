/* rerank.c - the paper's post-search step (tg_rerank_run): the top K
 * architectures of a search trained again for a longer budget, as the
 * trials of a study of their own linked to the search (its parent) and
 * each to its original trial, so the cost of both stages stays countable
 * (M1 * E1 + M2 * E2) and the reranked accuracy can be set beside the
 * premature score. The rerank study is the parent's configuration with
 * algo "rerank", the new epochs and K trials, and the parent's teacher,
 * so its workers score as the search's did. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"
#include "tgsage/trainer.h"

static tg_status check(const tg_rerank_config *rc, char *name, size_t n, tg_error *err) {
    if (!rc->study || !rc->study[0])
        return tg_error_set(err, TG_ERR_ARG, "rerank: no search study given");
    if (rc->top < 1)
        return tg_error_set(err, TG_ERR_ARG, "rerank: top %d: at least one trial", rc->top);
    if (!(rc->epochs > 0) || !isfinite(rc->epochs))
        return tg_error_set(err, TG_ERR_ARG, "rerank: epochs %g: a positive budget is needed",
                            rc->epochs);
    int len = rc->into ? snprintf(name, n, "%s", rc->into)
                       : snprintf(name, n, "%s.rerank", rc->study);
    if (len < 0 || (size_t)len >= n)
        return tg_error_set(err, TG_ERR_ARG, "rerank: the study name '%s%s' is longer than %zu "
                            "characters", rc->into ? rc->into : rc->study,
                            rc->into ? "" : ".rerank", n - 1);
    return TG_OK;
}

/* The parent: a search (not itself a rerank or a pool) with K complete
 * trials; best receives them. */
static tg_status read_parent(tg_tracker *t, const tg_rerank_config *rc, tg_study *parent,
                             tg_trial **best, int64_t *n, tg_error *err) {
    tg_status st = tg_study_get(t, rc->study, parent, err);
    if (st != TG_OK) return st;
    if (!strcmp(parent->cfg.algo, "rerank") || !strcmp(parent->cfg.algo, "pool"))
        return tg_error_set(err, TG_ERR_ARG, "study '%s' is a %s study: rerank a search "
                            "study", parent->name, parent->cfg.algo);
    if ((st = tg_trial_best(t, parent->id, rc->top, best, n, err)) != TG_OK) return st;
    if (*n < rc->top)
        return tg_error_set(err, TG_ERR_ARG, "study '%s' has %" PRId64 " complete trial%s: "
                            "cannot rerank the top %d", parent->name, *n, *n == 1 ? "" : "s",
                            rc->top);
    return TG_OK;
}

/* A training budget on another part of the training split: the same
 * held-out images (data, nval, seed), the fingerprint of the new part. */
static tg_status retarget(tg_study_config *cfg, int64_t train_limit, tg_error *err) {
    if (train_limit < 0 || train_limit == cfg->train_limit) return TG_OK;
    if (!cfg->fingerprint[0])
        return tg_error_set(err, TG_ERR_ARG, "rerank: --train-limit is for a study that "
                            "trains its candidates, not one scored by an objective command");
    tg_dataset train, val;
    tg_error e;
    if (tg_split_load(cfg->data, cfg->nval, cfg->split_seed, train_limit, 0, &train, &val, NULL,
                      &e) != TG_OK)
        return tg_error_set(err, e.status, "rerank: %s", e.msg);
    snprintf(cfg->fingerprint, sizeof cfg->fingerprint, "%s", train.fingerprint);
    cfg->train_limit = train_limit;
    tg_dataset_free(&train);
    tg_dataset_free(&val);
    return TG_OK;
}

/* Create or reopen the rerank study, linked to the parent. */
static tg_status open_rerank(tg_tracker *t, const tg_rerank_config *rc,
                             const tg_queue_run_config *q, const tg_study *parent,
                             const char *name, tg_study *out, int *created, tg_error *err) {
    tg_study_config cfg = parent->cfg;
    snprintf(cfg.algo, sizeof cfg.algo, "rerank");
    cfg.epochs = rc->epochs;
    cfg.trials = rc->top;
    cfg.parallel = q->workers > 1 ? q->workers : 1;
    void *teacher = NULL;
    size_t nteacher = 0;
    tg_status st = retarget(&cfg, rc->train_limit, err);
    if (st != TG_OK) return st;
    if (parent->has_teacher &&
        (st = tg_study_teacher(t, parent->id, &teacher, &nteacher, err)) != TG_OK)
        return st;
    st = tg_study_open(t, name, &cfg, teacher, nteacher, out, created, err);
    free(teacher);
    if (st != TG_OK) return st;
    if (out->parent == parent->id) return TG_OK;
    if (out->parent >= 0)
        return tg_error_set(err, TG_ERR_ARG, "study '%s' reranks another study (id %" PRId64
                            "), not '%s' (id %" PRId64 "): give another --into", name,
                            out->parent, parent->name, parent->id);
    /* new, or created by a run killed before it linked it */
    if ((st = tg_study_set_parent(t, out->id, parent->id, err)) != TG_OK) return st;
    out->parent = parent->id;
    return TG_OK;
}

static tg_status queue_top(tg_tracker *t, const tg_study *s, const tg_trial *best, int64_t n,
                           int *added, tg_error *err) {
    tg_enqueue_item *items = calloc((size_t)n, sizeof *items);
    int64_t *number = calloc((size_t)n, sizeof *number);
    tg_status st = TG_OK;
    if (!items || !number) st = tg_error_set(err, TG_ERR_NOMEM, "rerank: out of memory");
    for (int64_t i = 0; st == TG_OK && i < n; i++)
        items[i] = (tg_enqueue_item){best[i].genome, best[i].hash, best[i].number};
    if (st == TG_OK) st = tg_study_enqueue(t, s->id, items, (int)n, number, added, err);
    free(items);
    free(number);
    return st;
}

tg_status tg_rerank_run(const tg_rerank_config *rc, const tg_queue_run_config *q,
                        tg_queue_progress *final, tg_error *err) {
    tg_error_clear(err);
    char name[128];
    tg_status st = check(rc, name, sizeof name, err);
    if (st != TG_OK) return st;
    tg_tracker *t = NULL;
    if ((st = tg_tracker_open(q->url, &t, err)) != TG_OK) return st;
    tg_study parent, s;
    tg_trial *best = NULL;
    int64_t n = 0;
    int created = 0, added = 0;
    st = read_parent(t, rc, &parent, &best, &n, err);
    if (st == TG_OK) st = open_rerank(t, rc, q, &parent, name, &s, &created, err);
    if (st == TG_OK) st = queue_top(t, &s, best, n, &added, err);
    if (st == TG_OK && q->log) {
        char line[512];
        snprintf(line, sizeof line, "%s study '%s': the top %d of '%s' for %g epochs (%d "
                 "newly queued, %d already there)", created ? "created" : "resuming", s.name,
                 rc->top, parent.name, rc->epochs, added, rc->top - added);
        q->log(q->user, line);
    }
    tg_trials_free(best, n);
    if (st == TG_OK) st = tg_queue_follow(q, t, &s, final, err);
    tg_tracker_close(t);
    return st;
}
