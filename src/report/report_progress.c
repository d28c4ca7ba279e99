/* report_progress.c - search progress, the paper's Figure 3: for every
 * search study, the best score so far against the trial number and against
 * the cost so far in examples trained; and, from each rerank study of it,
 * the best reranked accuracy so far at its parent trial's number, the cost
 * there being the search's so far plus the reranks' so far.
 *
 * "So far" follows trial numbers (the order the explorer proposed them),
 * not the order results came back, so the curves do not depend on which
 * worker was faster. The cost at trial i counts every ended trial numbered
 * i or less (a failed trial trained too). Rows: one per complete trial
 * with a score (progress), one per complete rerank trial (rerank). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

static int ended(const tg_trial *t) {
    return t->state == TG_TRIAL_COMPLETE || t->state == TG_TRIAL_FAILED;
}

/* The search's examples over ended trials numbered <= number. */
static int64_t search_cost(const tg_rp_study *s, int64_t number) {
    int64_t c = 0;
    for (int64_t k = 0; k < s->ntrials && s->trials[k].number <= number; k++)
        if (ended(&s->trials[k])) c += s->trials[k].examples;
    return c;
}

static tg_status search_rows(const tg_rp_study *s, cJSON *rows, tg_error *err) {
    int64_t cost = 0;
    double best = -INFINITY;
    for (int64_t k = 0; k < s->ntrials; k++) {
        const tg_trial *t = &s->trials[k];
        if (ended(t)) cost += t->examples;
        if (t->state != TG_TRIAL_COMPLETE || !isfinite(t->score)) continue;
        if (t->score > best) best = t->score;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(rows, o)) {
            cJSON_Delete(o);
            return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        }
        cJSON_AddStringToObject(o, "study", s->s.name);
        cJSON_AddNumberToObject(o, "trial", (double)t->number);
        cJSON_AddNumberToObject(o, "examples", (double)cost);
        cJSON_AddNumberToObject(o, "score", t->score);
        cJSON_AddNumberToObject(o, "best", best);
    }
    return TG_OK;
}

static int by_parent(const void *a, const void *b) {
    const tg_trial *x = *(const tg_trial *const *)a, *y = *(const tg_trial *const *)b;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* The reranked accuracy is P; a study scored by an objective command has
 * none, and its reranked score stands in. */
static double reranked(const tg_trial *t) { return isfinite(t->p) ? t->p : t->score; }

static tg_status rerank_rows(const tg_rp_study *parent, const tg_rp_study *s, cJSON *rows,
                             tg_error *err) {
    const tg_trial **v = s->ntrials ? malloc((size_t)s->ntrials * sizeof *v) : NULL;
    if (s->ntrials && !v) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    int64_t n = 0;
    for (int64_t k = 0; k < s->ntrials; k++) v[n++] = &s->trials[k];
    qsort(v, (size_t)n, sizeof *v, by_parent);
    int64_t cost = 0;
    double best = -INFINITY;
    tg_status st = TG_OK;
    for (int64_t k = 0; k < n && st == TG_OK; k++) {
        const tg_trial *t = v[k];
        if (ended(t)) cost += t->examples;
        if (t->state != TG_TRIAL_COMPLETE || t->parent < 0 || !isfinite(reranked(t))) continue;
        if (reranked(t) > best) best = reranked(t);
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(rows, o)) {
            cJSON_Delete(o);
            st = tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
            break;
        }
        cJSON_AddStringToObject(o, "study", parent->s.name);
        cJSON_AddStringToObject(o, "rerank", s->s.name);
        cJSON_AddNumberToObject(o, "trial", (double)t->parent);
        cJSON_AddNumberToObject(o, "rerank_trial", (double)t->number);
        cJSON_AddNumberToObject(o, "examples", (double)(search_cost(parent, t->parent) + cost));
        cJSON_AddNumberToObject(o, "acc", reranked(t));
        cJSON_AddNumberToObject(o, "best", best);
        cJSON_AddStringToObject(o, "measure", isfinite(t->p) ? "P" : "score");
    }
    free(v);
    return st;
}

tg_status tg_rp_progress(tg_rp *r, tg_error *err) {
    cJSON *progress = tg_rp_rows(r, "progress"), *rerank = tg_rp_rows(r, "rerank");
    if (!progress || !rerank) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    int searches = 0;
    for (int i = 0; i < r->n; i++) {
        const tg_rp_study *s = &r->st[i];
        tg_status st = TG_OK;
        if (!strcmp(s->kind, "search")) searches++, st = search_rows(s, progress, err);
        else if (!strcmp(s->kind, "rerank") && s->parent >= 0 &&
                 !strcmp(r->st[s->parent].kind, "search"))
            st = rerank_rows(&r->st[s->parent], s, rerank, err);
        if (st != TG_OK) return st;
    }
    if (!searches) tg_rp_note(r, "progress", "no search study in this database");
    else if (!cJSON_GetArraySize(progress))
        tg_rp_note(r, "progress", "no search trial has completed yet");
    return TG_OK;
}
