/* report_pool.c - a pool's predictivity (the paper's Figure 2), from
 * tg_analysis_run: P at a premature point against mature accuracy, and
 * P + alpha*TG against it (alpha the pool study's own, TG of its teacher
 * by that teacher's comparison), network by network (pool<q>_scatter);
 * and the Spearman correlation, with its bootstrap interval, of P, P with
 * BN statistics recomputed, TG of each teacher and P + alpha*TG with mature
 * accuracy against the premature epochs (pool<q>_curve). The end point
 * (where P is the mature accuracy itself) is left out of both. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"
#include "tgsage/analysis.h"

static cJSON *add_row(cJSON *rows) {
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddItemToArray(rows, o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

/* The sweep's alpha nearest the study's. */
static double sweep_alpha(const tg_analysis *a, double want) {
    double best = NAN;
    for (int i = 0; i < a->nalpha; i++)
        if (isnan(best) || fabs(a->alpha[i] - want) < fabs(best - want)) best = a->alpha[i];
    return best;
}

static void describe(const tg_analysis *a, const tg_predictor *p, char *out, size_t n) {
    const char *teacher = p->teacher >= 0 && p->teacher < a->nteachers
                              ? a->teachers[p->teacher].name : "";
    if (!strcmp(p->kind, "p")) snprintf(out, n, "P");
    else if (!strcmp(p->kind, "p_bn")) snprintf(out, n, "P (BN recomputed)");
    else if (!strcmp(p->kind, "layer"))
        snprintf(out, n, "%s of %s (%s)", p->layer, teacher, p->method);
    else if (!strcmp(p->kind, "tg") || !strcmp(p->kind, "tg_z"))
        snprintf(out, n, "%s %s (%s)", !strcmp(p->kind, "tg") ? "TG" : "TG z-scored", teacher,
                 p->method);
    else
        snprintf(out, n, "%s + %g %s %s (%s)", !strcmp(p->kind, "p_bn+tg") ? "P_bn" : "P",
                 p->alpha, !strcmp(p->kind, "p+tg_z") ? "TG z-scored" : "TG", teacher,
                 p->method);
}

/* Is p one of the curves drawn? */
static int drawn(const tg_analysis *a, const tg_predictor *p, double alpha) {
    if (!strcmp(p->kind, "p") || !strcmp(p->kind, "p_bn")) return 1;
    if (p->teacher < 0 || p->teacher >= a->nteachers ||
        strcmp(p->method, a->teachers[p->teacher].method))
        return 0;
    if (!strcmp(p->kind, "tg")) return 1;
    return !strcmp(p->kind, "p+tg") && p->teacher == 0 && p->alpha == alpha;
}

static tg_status pool_rows(tg_rp *r, const tg_rp_study *s, const tg_analysis *a, int q,
                           tg_error *err) {
    char key[48];
    snprintf(key, sizeof key, "pool%d_scatter", q);
    cJSON *scatter = tg_rp_rows(r, key);
    snprintf(key, sizeof key, "pool%d_curve", q);
    cJSON *curve = tg_rp_rows(r, key);
    cJSON *pools = cJSON_GetObjectItemCaseSensitive(r->data, "pools");
    cJSON *info = pools ? add_row(pools) : NULL;
    if (!scatter || !curve || !info) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    double alpha = isfinite(s->s.cfg.alpha) ? s->s.cfg.alpha : 1;
    double curve_alpha = sweep_alpha(a, alpha);
    cJSON_AddStringToObject(info, "study", s->s.name);
    cJSON_AddNumberToObject(info, "index", q);
    cJSON_AddNumberToObject(info, "mature_epochs", a->mature_epochs);
    cJSON_AddNumberToObject(info, "networks", (double)a->networks);
    cJSON_AddNumberToObject(info, "alpha", alpha);
    tg_rp_num(info, "curve_alpha", curve_alpha);
    cJSON_AddNumberToObject(info, "boot", a->boot);
    if (a->nteachers > 0) {
        cJSON_AddStringToObject(info, "teacher", a->teachers[0].name);
        cJSON_AddStringToObject(info, "method", a->teachers[0].method);
    }
    cJSON *ats = cJSON_AddArrayToObject(info, "at"), *best = cJSON_AddArrayToObject(info, "best");
    if (!ats || !best) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    for (int k = 0; k < a->npoints; k++) {
        const tg_analysis_point *pt = &a->points[k];
        if (!pt->premature) continue;
        cJSON_AddItemToArray(ats, cJSON_CreateNumber(pt->at));
        for (int64_t i = 0; i < pt->n; i++) {
            if (!isfinite(pt->p[i]) || !isfinite(pt->mature[i])) continue;
            cJSON *o = add_row(scatter);
            if (!o) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
            cJSON_AddNumberToObject(o, "at", pt->at);
            cJSON_AddNumberToObject(o, "trial", (double)pt->number[i]);
            cJSON_AddNumberToObject(o, "mature", pt->mature[i]);
            cJSON_AddNumberToObject(o, "p", pt->p[i]);
            tg_rp_num(o, "tg", pt->tg[i]);
            tg_rp_num(o, "ptg", pt->p[i] + alpha * pt->tg[i]);
        }
        for (int j = 0; j < pt->npred; j++) {
            const tg_predictor *p = &pt->pred[j];
            if (!drawn(a, p, curve_alpha) || !isfinite(p->spearman.r)) continue;
            cJSON *o = add_row(curve);
            if (!o) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
            char what[256];
            describe(a, p, what, sizeof what);
            cJSON_AddNumberToObject(o, "at", pt->at);
            cJSON_AddStringToObject(o, "predictor", what);
            cJSON_AddStringToObject(o, "kind", p->kind);
            cJSON_AddNumberToObject(o, "rho", p->spearman.r);
            tg_rp_num(o, "lo", p->spearman.lo);
            tg_rp_num(o, "hi", p->spearman.hi);
            cJSON_AddNumberToObject(o, "n", (double)p->n);
        }
        cJSON *b = add_row(best);
        if (!b) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        cJSON_AddNumberToObject(b, "at", pt->at);
        cJSON_AddNumberToObject(b, "n", (double)pt->n);
        if (pt->best >= 0) {
            char what[256];
            describe(a, &pt->pred[pt->best], what, sizeof what);
            cJSON_AddStringToObject(b, "predictor", what);
            tg_rp_num(b, "rho", pt->pred[pt->best].spearman.r);
        } else {
            cJSON_AddNullToObject(b, "predictor");
            cJSON_AddNullToObject(b, "rho");
        }
        for (int j = 0; j < pt->npred; j++)
            if (!strcmp(pt->pred[j].kind, "p")) tg_rp_num(b, "rho_p", pt->pred[j].spearman.r);
    }
    return TG_OK;
}

tg_status tg_rp_pool(tg_rp *r, tg_error *err) {
    if (!cJSON_AddArrayToObject(r->data, "pools"))
        return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    int q = 0, pools = 0;
    for (int i = 0; i < r->n; i++) {
        const tg_rp_study *s = &r->st[i];
        if (strcmp(s->kind, "pool")) continue;
        pools++;
        tg_analysis_config c;
        tg_analysis_config_defaults(&c);
        tg_analysis a;
        tg_error aerr;
        tg_status st = tg_analysis_run(r->t, s->s.id, &c, &a, &aerr);
        if (st == TG_ERR_DB || st == TG_ERR_NOMEM) {
            *err = aerr;
            return st;
        }
        if (st != TG_OK) {
            tg_rp_note(r, "pool", "pool %s: %s", s->s.name, aerr.msg);
            continue;
        }
        if (a.networks == 0 && s->s.done)
            tg_rp_note(r, "pool", "pool %s: no network completed (%lld failed)", s->s.name,
                       (long long)s->c.failed);
        else if (a.networks == 0)
            tg_rp_note(r, "pool", "pool %s: no network has reached its mature budget yet",
                       s->s.name);
        else st = pool_rows(r, s, &a, q++, err);
        tg_analysis_free(&a);
        if (st != TG_OK) return st;
    }
    if (pools == 0) tg_rp_note(r, "pool", "no pool in this database");
    return TG_OK;
}
