/* analysis_json.c - an analysis as JSON (for tgsage analyze --json and
 * the report) and as CSV (one row per point and predictor, for a
 * spreadsheet or pandas). Keys and columns are listed in analysis.h. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/analysis.h"
#include "tgsage/fileio.h"

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *nums(const double *v, int64_t n) {
    cJSON *arr = cJSON_CreateArray();
    for (int64_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, num(v[i]));
    return arr;
}

static cJSON *ints(const int64_t *v, int64_t n) {
    cJSON *arr = cJSON_CreateArray();
    for (int64_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v[i]));
    return arr;
}

static cJSON *corr(const tg_corr *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "r", num(c->r));
    cJSON_AddItemToObject(o, "lo", num(c->lo));
    cJSON_AddItemToObject(o, "hi", num(c->hi));
    return o;
}

static cJSON *str_or_null(const char *s) { return s[0] ? cJSON_CreateString(s) : cJSON_CreateNull(); }

static cJSON *index_or_null(int i) { return i >= 0 ? cJSON_CreateNumber(i) : cJSON_CreateNull(); }

static cJSON *predictor(const tg_predictor *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", p->kind);
    cJSON_AddItemToObject(o, "teacher", index_or_null(p->teacher));
    cJSON_AddItemToObject(o, "method", str_or_null(p->method));
    cJSON_AddItemToObject(o, "layer", str_or_null(p->layer));
    cJSON_AddItemToObject(o, "alpha", num(p->alpha));
    cJSON_AddNumberToObject(o, "n", (double)p->n);
    cJSON_AddItemToObject(o, "pearson", corr(&p->pearson));
    cJSON_AddItemToObject(o, "spearman", corr(&p->spearman));
    cJSON_AddItemToObject(o, "mean", num(p->mean));
    cJSON_AddItemToObject(o, "sd", num(p->sd));
    cJSON_AddItemToObject(o, "min", num(p->min));
    cJSON_AddItemToObject(o, "max", num(p->max));
    return o;
}

static cJSON *point(const tg_analysis_point *pt) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "at", pt->at);
    cJSON_AddBoolToObject(o, "premature", pt->premature);
    cJSON_AddNumberToObject(o, "n", (double)pt->n);
    cJSON_AddItemToObject(o, "best", index_or_null(pt->best));
    cJSON_AddItemToObject(o, "best_tg", index_or_null(pt->best_tg));
    cJSON_AddItemToObject(o, "best_mix", index_or_null(pt->best_mix));
    cJSON_AddItemToObject(o, "gain", corr(&pt->gain));
    cJSON_AddItemToObject(o, "number", ints(pt->number, pt->n));
    cJSON_AddItemToObject(o, "mature", nums(pt->mature, pt->n));
    cJSON_AddItemToObject(o, "p", nums(pt->p, pt->n));
    cJSON_AddItemToObject(o, "tg", nums(pt->tg, pt->n));
    cJSON *preds = cJSON_AddArrayToObject(o, "predictors");
    for (int j = 0; j < pt->npred; j++) cJSON_AddItemToArray(preds, predictor(&pt->pred[j]));
    return o;
}

char *tg_analysis_json(const tg_analysis *a) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "study", a->study);
    cJSON_AddNumberToObject(o, "mature_epochs", a->mature_epochs);
    cJSON_AddNumberToObject(o, "networks", (double)a->networks);
    cJSON_AddNumberToObject(o, "boot", a->boot);
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, a->seed);
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddItemToObject(o, "alpha", nums(a->alpha, a->nalpha));
    cJSON_AddItemToObject(o, "number", ints(a->number, a->networks));
    cJSON_AddItemToObject(o, "mature", nums(a->mature, a->networks));
    cJSON *ts = cJSON_AddArrayToObject(o, "teachers");
    for (int t = 0; t < a->nteachers; t++) {
        const tg_analysis_teacher *te = &a->teachers[t];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "position", te->position);
        cJSON_AddStringToObject(j, "name", te->name);
        cJSON_AddStringToObject(j, "unit", te->unit);
        cJSON_AddStringToObject(j, "method", te->method);
        cJSON *ls = cJSON_AddArrayToObject(j, "layers");
        for (int L = 0; L < te->nlayers; L++) cJSON_AddItemToArray(ls, cJSON_CreateString(te->layers[L]));
        cJSON_AddItemToArray(ts, j);
    }
    cJSON *ps = cJSON_AddArrayToObject(o, "points");
    for (int k = 0; k < a->npoints; k++) cJSON_AddItemToArray(ps, point(&a->points[k]));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ---- CSV ------------------------------------------------------------------- */

static void put(tg_atomic *w, const char *s) { tg_atomic_write(w, s, strlen(s)); }

/* The shortest of %.15g .. %.17g that reads back as v; nothing when NaN. */
static void put_num(tg_atomic *w, double v) {
    if (!isfinite(v)) return;
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    put(w, buf);
}

/* A field, quoted (quotes doubled) when it holds a comma, quote or line break. */
static void put_text(tg_atomic *w, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        put(w, s);
        return;
    }
    put(w, "\"");
    for (; *s; s++) tg_atomic_write(w, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    put(w, "\"");
}

tg_status tg_analysis_csv(const tg_analysis *a, const char *path, tg_error *err) {
    tg_atomic w;
    tg_status st = tg_atomic_begin(&w, path, err);
    if (st != TG_OK) return st;
    put(&w, "at,kind,teacher,method,layer,alpha,n,pearson,pearson_lo,pearson_hi,spearman,"
            "spearman_lo,spearman_hi,mean,sd,min,max\r\n");
    for (int k = 0; k < a->npoints; k++)
        for (int j = 0; j < a->points[k].npred; j++) {
            const tg_predictor *p = &a->points[k].pred[j];
            char buf[32];
            put_num(&w, a->points[k].at), put(&w, ",");
            put_text(&w, p->kind), put(&w, ",");
            if (p->teacher >= 0) snprintf(buf, sizeof buf, "%d", p->teacher), put(&w, buf);
            put(&w, ",");
            put_text(&w, p->method), put(&w, ",");
            put_text(&w, p->layer), put(&w, ",");
            put_num(&w, p->alpha), put(&w, ",");
            snprintf(buf, sizeof buf, "%lld", (long long)p->n), put(&w, buf);
            const double v[10] = {p->pearson.r, p->pearson.lo, p->pearson.hi, p->spearman.r,
                                  p->spearman.lo, p->spearman.hi, p->mean, p->sd, p->min,
                                  p->max};
            for (int c = 0; c < 10; c++) put(&w, ","), put_num(&w, v[c]);
            put(&w, "\r\n");
        }
    return tg_atomic_commit(&w, err);
}
