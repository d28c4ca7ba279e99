/* report.c - tg_report_write: read every study of the database and its
 * trials once, let each section add its part of the page's data, write the
 * page. The page's JavaScript (page.js) turns the data into Vega-Lite
 * specifications and tables; everything computed here (the best so far,
 * the costs, the architecture's layout, the cropped RDMs) is computed in C
 * so that a test can hold it against the database.
 *
 * The data (keys of the JSON document; rows are arrays of objects, the
 * page draws each row array as one Vega dataset of that name):
 *   version, generated (unix s), db (redacted URL), focus (a study name or
 *   null), refresh (s, 0 none), notes [{section, text}]
 *   studies   one per study: name, kind (search, rerank, pool), algo, space,
 *             score, alpha, epochs, target, parent, done, the counts, best
 *   cost      one per study: trials, complete, failed, examples, train_s,
 *             eval_s, cpu_s, rerank_examples (its reranks'), total
 *   progress, rerank                            report_progress.c
 *   pools, pool<q>_scatter, pool<q>_curve        report_pool.c
 *   arch, arch_nodes, arch_edges                 report_arch.c
 *   rdm, rdm_teacher, rdm_best                   report_rdm.c
 *   trials    the focus study's trials           report_tables.c */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "report_internal.h"

void tg_rp_note(tg_rp *r, const char *section, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    cJSON_AddStringToObject(o, "section", section);
    cJSON_AddStringToObject(o, "text", text);
    cJSON_AddItemToArray(r->notes, o);
}

cJSON *tg_rp_num(cJSON *obj, const char *key, double v) {
    return isfinite(v) ? cJSON_AddNumberToObject(obj, key, v) : cJSON_AddNullToObject(obj, key);
}

cJSON *tg_rp_rows(tg_rp *r, const char *key) { return cJSON_AddArrayToObject(r->data, key); }

static const char *kind_of(const tg_study_config *c) {
    if (!strcmp(c->algo, "rerank")) return "rerank";
    if (!strcmp(c->algo, "pool")) return "pool";
    return "search";
}

static void free_studies(tg_rp *r) {
    for (int i = 0; i < r->n; i++) tg_trials_free(r->st[i].trials, r->st[i].ntrials);
    free(r->st);
    r->st = NULL;
    r->n = 0;
}

static tg_status load(tg_rp *r, const char *focus, tg_error *err) {
    tg_study *list = NULL;
    int n = 0;
    tg_status st = tg_study_list(r->t, &list, &n, err);
    if (st != TG_OK) return st;
    r->st = n ? calloc((size_t)n, sizeof *r->st) : NULL;
    if (n && !r->st) {
        free(list);
        return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory for %d studies", n);
    }
    r->n = n;
    for (int i = 0; i < n && st == TG_OK; i++) {
        tg_rp_study *s = &r->st[i];
        s->s = list[i];
        s->kind = kind_of(&s->s.cfg);
        s->parent = -1;
        if ((st = tg_study_counts_get(r->t, s->s.id, &s->c, err)) == TG_OK)
            st = tg_trial_list(r->t, s->s.id, &s->trials, &s->ntrials, err);
    }
    free(list);
    if (st != TG_OK) return st;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (r->st[i].s.parent >= 0 && r->st[j].s.id == r->st[i].s.parent) r->st[i].parent = j;
    r->focus = -1;
    if (focus) {
        for (int i = 0; i < n && r->focus < 0; i++)
            if (!strcmp(r->st[i].s.name, focus)) r->focus = i;
        if (r->focus < 0) {
            char names[400] = "";
            for (int i = 0; i < n && strlen(names) + 140 < sizeof names; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         i ? ", " : "", r->st[i].s.name);
            return tg_error_set(err, TG_ERR_NOT_FOUND, "report: no study '%s' in %s (%s%s)",
                                focus, tg_tracker_url(r->t), n ? "studies: " : "no studies",
                                names);
        }
    }
    for (int i = 0; i < n && r->focus < 0; i++)
        if (!strcmp(r->st[i].kind, "search")) r->focus = i;
    if (r->focus < 0 && n > 0) r->focus = 0;
    return TG_OK;
}

static double now_s(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

tg_status tg_report_write(tg_tracker *t, const tg_report_config *c, const char *path,
                          tg_error *err) {
    if (!t || !c || !path || !path[0])
        return tg_error_set(err, TG_ERR_ARG, "report: a tracker, a configuration and a path "
                            "are required");
    tg_rp r = {.t = t, .focus = -1};
    tg_status st = load(&r, c->study, err);
    if (st != TG_OK) {
        free_studies(&r);
        return st;
    }
    r.data = cJSON_CreateObject();
    if (!r.data || !cJSON_AddStringToObject(r.data, "version", "0.1.0") ||
        !(r.notes = cJSON_AddArrayToObject(r.data, "notes"))) {
        cJSON_Delete(r.data);
        free_studies(&r);
        return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    }
    cJSON_AddNumberToObject(r.data, "generated", now_s());
    cJSON_AddStringToObject(r.data, "db", tg_tracker_url(t));
    if (r.focus >= 0) cJSON_AddStringToObject(r.data, "focus", r.st[r.focus].s.name);
    else cJSON_AddNullToObject(r.data, "focus");
    cJSON_AddNumberToObject(r.data, "refresh", c->refresh_s > 0 ? c->refresh_s : 0);
    tg_status (*const sections[])(tg_rp *, tg_error *) = {
        tg_rp_studies, tg_rp_progress, tg_rp_pool, tg_rp_arch, tg_rp_rdm, tg_rp_trials};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && st == TG_OK; i++)
        st = sections[i](&r, err);
    if (st == TG_OK) {
        char title[200];
        if (r.focus >= 0) snprintf(title, sizeof title, "tgsage report: %s", r.st[r.focus].s.name);
        else snprintf(title, sizeof title, "tgsage report");
        st = tg_rp_page_write(path, title, c->refresh_s, r.data, err);
    }
    cJSON_Delete(r.data);
    free_studies(&r);
    return st;
}
