/* points.c - a pool trial's points JSON (docs/formats.md, "pool points")
 * into raw slots (analysis_internal.h): P, P_bn, and per teacher layer and
 * method the best similarity over the candidate's layers.
 *
 * Points are matched to the study's (cfg.at, then the end) by value, with
 * a relative tolerance of 1e-9: the worker writes the study's own numbers,
 * so they agree exactly unless something rounded them on the way. Entries
 * at other points are ignored. A teacher missing from an entry, a method
 * missing from "r", or a null similarity is missing data, not an error;
 * JSON of another shape is TG_ERR_FORMAT naming the trial. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_internal.h"
#include "tgsage/rsa.h"

tg_status tg_an_layout_init(tg_an_layout *l, const tg_analysis *a, tg_error *err) {
    l->slot0 = malloc(sizeof(int) * (size_t)(a->nteachers + 1));
    if (!l->slot0) return tg_error_set(err, TG_ERR_NOMEM, "analysis: out of memory");
    l->nslot = 2;
    for (int t = 0; t < a->nteachers; t++) {
        l->slot0[t] = l->nslot;
        l->nslot += TG_AN_NMETHODS * a->teachers[t].nlayers;
    }
    return TG_OK;
}

void tg_an_layout_free(tg_an_layout *l) {
    free(l->slot0);
    l->slot0 = NULL;
}

static double num_or_nan(const cJSON *v) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : NAN;
}

static int same_at(double a, double b) {
    return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b));
}

/* The entry's teacher at `position`, or NULL. */
static const cJSON *find_teacher(const cJSON *teachers, int position) {
    const cJSON *e;
    cJSON_ArrayForEach(e, teachers) {
        const cJSON *p = cJSON_GetObjectItem(e, "position");
        if (cJSON_IsNumber(p) && p->valuedouble == position) return e;
    }
    return NULL;
}

/* One teacher's similarities of one entry into its slots. */
static tg_status read_teacher(const cJSON *e, const tg_analysis_teacher *te, double *slots,
                              int64_t number, double at, tg_error *err) {
    const cJSON *layers = cJSON_GetObjectItem(e, "layers"), *r = cJSON_GetObjectItem(e, "r");
    if (!cJSON_IsArray(layers) || !cJSON_IsObject(r))
        return tg_error_set(err, TG_ERR_FORMAT, "trial %lld, point at %g, teacher %d: no "
                            "\"layers\" array or \"r\" object", (long long)number, at,
                            te->position);
    int nl = cJSON_GetArraySize(layers);
    for (int L = 0; L < te->nlayers || L < nl; L++) {
        const cJSON *nm = cJSON_GetArrayItem(layers, L);
        if (L >= nl || L >= te->nlayers || !cJSON_IsString(nm) ||
            strcmp(nm->valuestring, te->layers[L]) != 0)
            return tg_error_set(err, TG_ERR_FORMAT,
                                "trial %lld, point at %g, teacher %d (%s): its layer %d is %s "
                                "in the points but %s in the teacher file", (long long)number,
                                at, te->position, te->name, L,
                                L < nl && cJSON_IsString(nm) ? nm->valuestring : "missing",
                                L < te->nlayers ? te->layers[L] : "missing");
    }
    for (int m = 0; m < TG_AN_NMETHODS; m++) {
        const cJSON *mat = cJSON_GetObjectItem(r, tg_sim_method_name((tg_sim_method)m));
        if (!mat || cJSON_IsNull(mat)) continue;
        if (!cJSON_IsArray(mat) || cJSON_GetArraySize(mat) != te->nlayers)
            return tg_error_set(err, TG_ERR_FORMAT, "trial %lld, point at %g, teacher %d: "
                                "r.%s is not %d rows (one per teacher layer)",
                                (long long)number, at, te->position,
                                tg_sim_method_name((tg_sim_method)m), te->nlayers);
        for (int L = 0; L < te->nlayers; L++) {
            const cJSON *row = cJSON_GetArrayItem(mat, L), *v;
            if (!cJSON_IsArray(row))
                return tg_error_set(err, TG_ERR_FORMAT, "trial %lld, point at %g, teacher "
                                    "%d: r.%s[%d] is not an array", (long long)number, at,
                                    te->position, tg_sim_method_name((tg_sim_method)m), L);
            double best = NAN;
            cJSON_ArrayForEach(v, row) {
                double x = num_or_nan(v);
                if (isfinite(x) && !(x <= best)) best = x;  /* NaN best: take x */
            }
            slots[m * te->nlayers + L] = best;
        }
    }
    return TG_OK;
}

tg_status tg_an_parse_points(const char *json, int64_t number, const tg_analysis *a,
                             const tg_an_layout *l, double *rows, int *present,
                             tg_error *err) {
    for (int64_t i = 0; i < (int64_t)a->npoints * l->nslot; i++) rows[i] = NAN;
    for (int k = 0; k < a->npoints; k++) present[k] = 0;
    if (!json) return TG_OK;
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return tg_error_set(err, TG_ERR_FORMAT, "trial %lld: its points are not a JSON array",
                            (long long)number);
    }
    tg_status st = TG_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const cJSON *at = cJSON_GetObjectItem(e, "at");
        if (!cJSON_IsNumber(at)) {
            st = tg_error_set(err, TG_ERR_FORMAT, "trial %lld: a point without \"at\"",
                              (long long)number);
            break;
        }
        int k = 0;
        while (k < a->npoints && !same_at(at->valuedouble, a->points[k].at)) k++;
        if (k == a->npoints || present[k]) continue;   /* not the study's, or repeated */
        present[k] = 1;
        double *row = rows + (size_t)k * (size_t)l->nslot;
        row[0] = num_or_nan(cJSON_GetObjectItem(e, "p"));
        row[1] = num_or_nan(cJSON_GetObjectItem(e, "p_bn"));
        const cJSON *teachers = cJSON_GetObjectItem(e, "teachers");
        for (int t = 0; t < a->nteachers && st == TG_OK; t++) {
            const cJSON *te = find_teacher(teachers, a->teachers[t].position);
            if (te) st = read_teacher(te, &a->teachers[t], row + l->slot0[t], number,
                                      a->points[k].at, err);
        }
        if (st != TG_OK) break;
    }
    cJSON_Delete(root);
    return st;
}
