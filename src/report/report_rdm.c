/* report_rdm.c - the teacher's RDMs beside the best candidate's (the
 * paper's Figure 1), as heat maps: for each teacher layer, the teacher's
 * RDM and that of the candidate layer that matched it best in the focus
 * study's best trial that kept its RDMs (docs/formats.md, "trial RDMs":
 * the top-left k x k block). The teacher's are cropped the same way, so
 * the two show the same images (or categories). Rows: one per cell,
 * {layer, order, i, j, v}; the candidate's also name their layer. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report_internal.h"
#include "tgsage/fileio.h"
#include "tgsage/teacher.h"

#define TG_RP_RDM_K 40   /* the trial RDMs' crop (common to the worker) */

/* The study's own teacher (position 0). */
static tg_status load_teacher(tg_rp *r, const tg_rp_study *s, tg_teacher *out, tg_error *err) {
    void *buf = NULL;
    size_t n = 0;
    tg_status st = tg_study_teacher(r->t, s->s.id, &buf, &n, err);
    if (st != TG_OK) return st;
    char what[200];
    snprintf(what, sizeof what, "study %s's teacher", s->s.name);
    st = tg_teacher_load_bytes(buf, n, what, out, err);
    free(buf);
    return st;
}

static cJSON *cell_row(cJSON *rows, const char *layer, int order, int i, int j, double v) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(rows, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "layer", layer);
    cJSON_AddNumberToObject(o, "order", order);
    cJSON_AddNumberToObject(o, "i", i);
    cJSON_AddNumberToObject(o, "j", j);
    tg_rp_num(o, "v", v);
    return o;
}

/* The best complete trial (by score) that kept its RDMs. */
static const tg_trial *best_with_rdms(const tg_rp_study *s) {
    const tg_trial *b = NULL;
    for (int64_t k = 0; k < s->ntrials; k++) {
        const tg_trial *t = &s->trials[k];
        if (t->state == TG_TRIAL_COMPLETE && t->rdms && isfinite(t->score) &&
            (!b || t->score > b->score))
            b = t;
    }
    return b;
}

/* The candidate's matrices, checked against k; 0 when they fit. */
static int candidate_rows(const cJSON *doc, int k, int nlayers, cJSON *rows) {
    const cJSON *teacher = cJSON_GetObjectItemCaseSensitive(doc, "teacher");
    const cJSON *cand = cJSON_GetObjectItemCaseSensitive(doc, "candidate");
    const cJSON *rdm = cJSON_GetObjectItemCaseSensitive(doc, "rdm");
    int n = cJSON_GetArraySize(rdm);
    if (n != cJSON_GetArraySize(cand) || n != cJSON_GetArraySize(teacher) || n > nlayers)
        return -1;
    for (int l = 0; l < n; l++) {
        const cJSON *M = cJSON_GetArrayItem(rdm, l);
        const cJSON *tl = cJSON_GetArrayItem(teacher, l), *cl = cJSON_GetArrayItem(cand, l);
        if (cJSON_GetArraySize(M) != k || !cJSON_IsString(tl) || !cJSON_IsString(cl)) return -1;
        for (int i = 0; i < k; i++) {
            const cJSON *row = cJSON_GetArrayItem(M, i);
            if (cJSON_GetArraySize(row) != k) return -1;
            for (int j = 0; j < k; j++) {
                const cJSON *v = cJSON_GetArrayItem(row, j);
                cJSON *o = cell_row(rows, tl->valuestring, l, i, j,
                                    cJSON_IsNumber(v) ? v->valuedouble : NAN);
                if (!o) return -2;
                cJSON_AddStringToObject(o, "candidate", cl->valuestring);
            }
        }
    }
    return 0;
}

tg_status tg_rp_rdm(tg_rp *r, tg_error *err) {
    if (r->focus < 0) {
        tg_rp_note(r, "rdm", "no study in this database");
        return TG_OK;
    }
    const tg_rp_study *s = &r->st[r->focus];
    if (!s->s.has_teacher) {
        tg_rp_note(r, "rdm", "study %s has no teacher (scored by %s)", s->s.name,
                   s->s.cfg.score);
        return TG_OK;
    }
    tg_teacher T;
    tg_error terr;
    tg_status st = load_teacher(r, s, &T, &terr);
    if (st == TG_ERR_DB || st == TG_ERR_NOMEM) {
        *err = terr;
        return st;
    }
    if (st != TG_OK) {
        tg_rp_note(r, "rdm", "study %s's teacher: %s", s->s.name, terr.msg);
        return TG_OK;
    }
    const tg_trial *best = best_with_rdms(s);
    cJSON *doc = best ? cJSON_Parse(best->rdms) : NULL;
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(doc, "k");
    int k = cJSON_IsNumber(kj) ? kj->valueint : (int)(T.m < TG_RP_RDM_K ? T.m : TG_RP_RDM_K);
    if (k < 1 || k > T.m) k = (int)(T.m < TG_RP_RDM_K ? T.m : TG_RP_RDM_K);
    cJSON *info = cJSON_AddObjectToObject(r->data, "rdm");
    cJSON *trows = tg_rp_rows(r, "rdm_teacher"), *crows = tg_rp_rows(r, "rdm_best");
    if (!info || !trows || !crows) st = tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    if (st == TG_OK) {
        cJSON_AddStringToObject(info, "study", s->s.name);
        cJSON_AddStringToObject(info, "unit", T.unit == TG_RDM_CATEGORY ? "category" : "image");
        cJSON_AddNumberToObject(info, "m", (double)T.m);
        cJSON_AddNumberToObject(info, "k", k);
        cJSON *names = cJSON_AddArrayToObject(info, "layers");
        for (int l = 0; l < T.nlayers && names; l++)
            cJSON_AddItemToArray(names, cJSON_CreateString(T.names[l]));
        for (int l = 0; l < T.nlayers && st == TG_OK; l++)
            for (int i = 0; i < k && st == TG_OK; i++)
                for (int j = 0; j < k; j++)
                    if (!cell_row(trows, T.names[l], l, i, j, T.rdms[l][(int64_t)i * T.m + j])) {
                        st = tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
                        break;
                    }
    }
    if (st == TG_OK && !best)
        tg_rp_note(r, "rdm", "no complete trial of study %s kept its RDMs", s->s.name);
    else if (st == TG_OK) {
        cJSON_AddNumberToObject(info, "trial", (double)best->number);
        int bad = doc ? candidate_rows(doc, k, T.nlayers, crows) : -1;
        if (bad == -2) st = tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        else if (bad) {
            /* drop what was added: the candidate is drawn whole or not */
            cJSON_DeleteItemFromObject(r->data, "rdm_best");
            tg_rp_rows(r, "rdm_best");
            tg_rp_note(r, "rdm", "trial %lld of study %s: its RDMs do not fit the teacher's "
                       "(%d layers, k = %d)", (long long)best->number, s->s.name, T.nlayers, k);
        }
    }
    cJSON_Delete(doc);
    tg_teacher_free(&T);
    return st;
}
