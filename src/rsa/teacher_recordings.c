/* teacher_recordings.c - teacher layers from recordings grouped into
 * regions (paper section 4.4: neural sites of V4, posterior and anterior
 * IT, one RDM each), and tying a teacher to the images it was recorded on.
 *
 * The regions come as JSON text, a user's file: every refusal names the
 * region and the entry. A region's RDM is computed on its own columns of
 * the recordings, gathered into one buffer that is reused (sized for the
 * largest region) across regions. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/rng.h"
#include "tgsage/teacher.h"

typedef struct {
    char name[64];
    int64_t *idx;
    int64_t count;
} region;

static void regions_free(region *r, int nr) {
    for (int i = 0; i < nr; i++) free(r[i].idx);
    free(r);
}

/* Parse the regions object; *out (malloc'd, *nr entries) on success. */
static tg_status parse_regions(const char *json, const char *what, int64_t units,
                               region **out, int *nr, tg_error *err) {
    *out = NULL, *nr = 0;
    cJSON *j = cJSON_Parse(json);
    if (!cJSON_IsObject(j) || !j->child) {
        cJSON_Delete(j);
        return tg_error_set(err, TG_ERR_FORMAT, "%s: expected a JSON object of region names "
                            "to lists of unit indices", what);
    }
    int count = cJSON_GetArraySize(j);
    if (count > TG_TEACHER_MAX_LAYERS) {
        cJSON_Delete(j);
        return tg_error_set(err, TG_ERR_FORMAT, "%s: %d regions, a teacher holds at most %d",
                            what, count, TG_TEACHER_MAX_LAYERS);
    }
    region *r = calloc((size_t)count, sizeof *r);
    unsigned char *seen = calloc((size_t)units, 1);  /* per unit: in this region yet? */
    tg_status st = r && seen ? TG_OK : tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory",
                                                    what);
    int n = 0;
    for (const cJSON *e = j->child; e && st == TG_OK; e = e->next, n++) {
        const char *nm = e->string;
        if (strlen(nm) >= sizeof r[n].name) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: region name '%.40s...' is longer than "
                              "%zu bytes", what, nm, sizeof r[n].name - 1);
            break;
        }
        int k = cJSON_GetArraySize(e);
        if (!cJSON_IsArray(e) || k < 1) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: region '%s' is not a non-empty list of "
                              "unit indices", what, nm);
            break;
        }
        snprintf(r[n].name, sizeof r[n].name, "%s", nm);
        if (!(r[n].idx = malloc(sizeof(int64_t) * (size_t)k))) {
            st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", what);
            break;
        }
        r[n].count = k;
        int q = 0;
        for (const cJSON *u = e->child; u; u = u->next, q++) {
            double v = cJSON_IsNumber(u) ? u->valuedouble : -1;
            if (!cJSON_IsNumber(u) || v != (double)(int64_t)v || v < 0 || v >= (double)units) {
                st = tg_error_set(err, TG_ERR_FORMAT, "%s: region '%s': entry %d is not a unit "
                                  "index in [0,%lld)", what, nm, q, (long long)units);
                break;
            }
            int64_t x = (int64_t)v;
            if (seen[x]) {
                st = tg_error_set(err, TG_ERR_FORMAT, "%s: region '%s': unit %lld appears "
                                  "twice (again at entry %d)", what, nm, (long long)x, q);
                break;
            }
            seen[x] = 1;
            r[n].idx[q] = x;
        }
        for (int p = 0; p < q; p++) seen[r[n].idx[p]] = 0;
    }
    free(seen);
    cJSON_Delete(j);
    if (st != TG_OK) {
        if (r) regions_free(r, count);
        return st;
    }
    *out = r, *nr = count;
    return TG_OK;
}

/* Drop the layers from `keep` on (undoing a failed call). */
static void truncate_layers(tg_teacher *t, int keep) {
    for (int i = keep; i < t->nlayers; i++) free(t->rdms[i]), t->rdms[i] = NULL;
    t->nlayers = keep;
    if (keep == 0) t->m = 0;
}

tg_status tg_teacher_from_recordings(tg_teacher *t, const float *F, int64_t n, int64_t units,
                                     const int32_t *labels, const char *regions_json,
                                     const char *what, const char *name, tg_error *err) {
    if (!F || !labels || n < 3 || units < 1)
        return tg_error_set(err, TG_ERR_ARG, "recordings: %lld images of %lld units (need at "
                            "least 3 images and 1 unit, with labels)", (long long)n,
                            (long long)units);
    region *r = NULL;
    int nr = 0;
    tg_status st;
    if (regions_json) {
        st = parse_regions(regions_json, what ? what : "regions", units, &r, &nr, err);
    } else if (!(r = calloc(1, sizeof *r)) || !(r->idx = malloc(sizeof(int64_t) * (size_t)units))) {
        st = tg_error_set(err, TG_ERR_NOMEM, "recordings: out of memory");
        nr = r ? 1 : 0;
    } else {
        nr = 1;
        snprintf(r->name, sizeof r->name, "%s", name && name[0] ? name : "features");
        r->count = units;
        for (int64_t i = 0; i < units; i++) r->idx[i] = i;
        st = TG_OK;
    }
    if (st != TG_OK) {
        if (r) regions_free(r, nr);
        return st;
    }
    int64_t widest = 0;
    for (int i = 0; i < nr; i++) widest = r[i].count > widest ? r[i].count : widest;
    float *R = malloc(sizeof(float) * (size_t)n * (size_t)widest);
    if (!R) st = tg_error_set(err, TG_ERR_NOMEM, "recordings: out of memory for %lld x %lld "
                              "features", (long long)n, (long long)widest);
    const int keep = t->nlayers;
    for (int i = 0; i < nr && st == TG_OK; i++) {
        const int64_t k = r[i].count;
        for (int64_t row = 0; row < n; row++)
            for (int64_t q = 0; q < k; q++) R[row * k + q] = F[row * units + r[i].idx[q]];
        double *rdm = NULL;
        int64_t m;
        uint64_t region_seed = tg_rng_derive(tg_rng_derive(t->seed, TG_STREAM_REGIONS), (uint64_t)i);
        st = tg_rdm_compute(R, n, k, labels, t->unit, t->max_features, region_seed, &rdm, &m,
                            err);
        if (st == TG_OK) st = tg_teacher_add(t, r[i].name, rdm, m, err);
        free(rdm);
    }
    if (st != TG_OK) truncate_layers(t, keep);
    free(R);
    regions_free(r, nr);
    return st;
}

tg_status tg_teacher_tie(tg_teacher *t, const tg_dataset *d, const int32_t *labels, int64_t n,
                         tg_error *err) {
    if (n < 1 || n > d->n || n > INT32_MAX)
        return tg_error_set(err, TG_ERR_SHAPE, "%lld rows of features, %s has %lld images",
                            (long long)n, d->source, (long long)d->n);
    for (int64_t i = 0; i < n; i++)
        if (d->labels[i] != labels[i])
            return tg_error_set(err, TG_ERR_ARG, "label %d of row %lld differs from image %lld "
                                "of %s (label %d)", labels[i], (long long)i, (long long)i,
                                d->source, d->labels[i]);
    int32_t *im = malloc(sizeof(int32_t) * (size_t)n), *lb = malloc(sizeof(int32_t) * (size_t)n);
    if (!im || !lb) {
        free(im), free(lb);
        return tg_error_set(err, TG_ERR_NOMEM, "teacher: out of memory for %lld images",
                            (long long)n);
    }
    for (int64_t i = 0; i < n; i++) im[i] = (int32_t)i, lb[i] = labels[i];
    free(t->images), free(t->labels);
    t->images = im, t->labels = lb, t->n = n;
    snprintf(t->data_fingerprint, sizeof t->data_fingerprint, "%s", d->fingerprint);
    snprintf(t->data, sizeof t->data, "%s", d->source);
    return TG_OK;
}
