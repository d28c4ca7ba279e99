/* report_tables.c - the page's tables: the studies, the cost of each (the
 * paper's Table 2: examples trained by SGD, M1*E1 for a search plus M2*E2
 * for its reranks, and the CPU seconds of training and evaluation), and the
 * focus study's trials, every one with what the tracker keeps of it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

static cJSON *row(cJSON *rows) {
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddItemToArray(rows, o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

static double sum_finite(double a, double v) { return isfinite(v) ? a + v : a; }

tg_status tg_rp_studies(tg_rp *r, tg_error *err) {
    cJSON *studies = tg_rp_rows(r, "studies"), *cost = tg_rp_rows(r, "cost");
    if (!studies || !cost) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    for (int i = 0; i < r->n; i++) {
        const tg_rp_study *s = &r->st[i];
        cJSON *o = row(studies);
        if (!o) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        cJSON_AddStringToObject(o, "name", s->s.name);
        cJSON_AddStringToObject(o, "kind", s->kind);
        cJSON_AddStringToObject(o, "algo", s->s.cfg.algo);
        cJSON_AddStringToObject(o, "space", s->s.cfg.space);
        cJSON_AddStringToObject(o, "score", s->s.cfg.score);
        tg_rp_num(o, "alpha", s->s.cfg.alpha);
        tg_rp_num(o, "epochs", s->s.cfg.epochs);
        cJSON_AddNumberToObject(o, "target", (double)s->s.cfg.trials);
        if (s->parent >= 0) cJSON_AddStringToObject(o, "parent", r->st[s->parent].s.name);
        else cJSON_AddNullToObject(o, "parent");
        cJSON_AddBoolToObject(o, "done", s->s.done);
        cJSON_AddNumberToObject(o, "waiting", (double)s->c.waiting);
        cJSON_AddNumberToObject(o, "running", (double)s->c.running);
        cJSON_AddNumberToObject(o, "complete", (double)s->c.complete);
        cJSON_AddNumberToObject(o, "failed", (double)s->c.failed);
        tg_rp_num(o, "best", s->c.best);
        cJSON_AddNumberToObject(o, "best_number", (double)s->c.best_number);

        /* cost: what this study trained, and what its reranks trained */
        double train_s = 0, eval_s = 0;
        for (int64_t k = 0; k < s->ntrials; k++) {
            train_s = sum_finite(train_s, s->trials[k].train_s);
            eval_s = sum_finite(eval_s, s->trials[k].eval_s);
        }
        int64_t rerank = 0;
        for (int j = 0; j < r->n; j++)
            if (r->st[j].parent == i) rerank += r->st[j].c.examples;
        cJSON *c = row(cost);
        if (!c) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        cJSON_AddStringToObject(c, "study", s->s.name);
        cJSON_AddStringToObject(c, "kind", s->kind);
        cJSON_AddNumberToObject(c, "trials", (double)s->ntrials);
        cJSON_AddNumberToObject(c, "complete", (double)s->c.complete);
        cJSON_AddNumberToObject(c, "failed", (double)s->c.failed);
        cJSON_AddNumberToObject(c, "examples", (double)s->c.examples);
        cJSON_AddNumberToObject(c, "train_s", train_s);
        cJSON_AddNumberToObject(c, "eval_s", eval_s);
        cJSON_AddNumberToObject(c, "cpu_s", train_s + eval_s);
        cJSON_AddNumberToObject(c, "rerank_examples", (double)rerank);
        cJSON_AddNumberToObject(c, "total", (double)(s->c.examples + rerank));
    }
    return TG_OK;
}

/* A genome's size in words for the table: "6 layers", "cell of 5 blocks". */
static void genome_summary(const char *json, char *out, size_t n) {
    out[0] = '\0';
    cJSON *g = json ? cJSON_Parse(json) : NULL;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(g, "layers");
    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(g, "blocks");
    if (cJSON_IsArray(layers)) {
        int k = cJSON_GetArraySize(layers);
        snprintf(out, n, "%d layer%s", k, k == 1 ? "" : "s");
    } else if (cJSON_IsArray(blocks))
        snprintf(out, n, "cell of %d blocks", cJSON_GetArraySize(blocks));
    cJSON_Delete(g);
}

tg_status tg_rp_trials(tg_rp *r, tg_error *err) {
    cJSON *rows = tg_rp_rows(r, "trials");
    if (!rows) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    if (r->focus < 0) return TG_OK;
    const tg_rp_study *s = &r->st[r->focus];
    if (s->ntrials == 0) tg_rp_note(r, "trials", "study %s has no trials yet", s->s.name);
    for (int64_t k = 0; k < s->ntrials; k++) {
        const tg_trial *t = &s->trials[k];
        cJSON *o = row(rows);
        if (!o) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        cJSON_AddNumberToObject(o, "number", (double)t->number);
        cJSON_AddStringToObject(o, "state", tg_trial_state_name(t->state));
        tg_rp_num(o, "score", t->score);
        tg_rp_num(o, "p", t->p);
        tg_rp_num(o, "tg", t->tg);
        tg_rp_num(o, "val_loss", t->val_loss);
        cJSON_AddNumberToObject(o, "examples", (double)t->examples);
        tg_rp_num(o, "train_s", t->train_s);
        tg_rp_num(o, "eval_s", t->eval_s);
        cJSON_AddNumberToObject(o, "attempt", t->attempt);
        if (t->parent >= 0) cJSON_AddNumberToObject(o, "parent", (double)t->parent);
        else cJSON_AddNullToObject(o, "parent");
        char worker[128] = "", arch[64];
        if (t->host[0]) snprintf(worker, sizeof worker, "%s:%d", t->host, t->pid);
        cJSON_AddStringToObject(o, "worker", worker);
        genome_summary(t->genome, arch, sizeof arch);
        cJSON_AddStringToObject(o, "arch", arch);
        cJSON_AddStringToObject(o, "hash", t->hash);
        if (t->error) cJSON_AddStringToObject(o, "error", t->error);
        else cJSON_AddNullToObject(o, "error");
    }
    return TG_OK;
}
