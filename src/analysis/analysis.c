/* analysis.c - tg_analysis_run: a pool study's teachers, its complete
 * trials and their points, then each point's predictors (predict.c).
 *
 * Teachers are stored as the teacher files' bytes; tensorfile.h reads
 * files only, so each is written to a private temporary file (mkstemp in
 * $TMPDIR, removed at once after reading) and read back with
 * tg_teacher_load, whose checks (format, version, hash) then apply to
 * what the database holds too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis_internal.h"
#include "tgsage/fileio.h"
#include "tgsage/teacher.h"

void tg_analysis_config_defaults(tg_analysis_config *c) {
    static const double sweep[] = {0, 0.1, 0.25, 0.5, 1, 2, 4, 8};
    memset(c, 0, sizeof *c);
    c->boot = 1000;
    c->seed = 0;
    c->nalpha = (int)(sizeof sweep / sizeof sweep[0]);
    memcpy(c->alpha, sweep, sizeof sweep);
}

void tg_analysis_free(tg_analysis *a) {
    if (!a) return;
    for (int t = 0; t < a->nteachers; t++) free(a->teachers[t].layers);
    free(a->teachers);
    for (int k = 0; k < a->npoints; k++) {
        tg_analysis_point *p = &a->points[k];
        free(p->pred), free(p->number), free(p->mature), free(p->p), free(p->tg);
    }
    free(a->points);
    free(a->number), free(a->mature);
    memset(a, 0, sizeof *a);
}

/* A teacher file's bytes through a temporary file into tg_teacher_load. */
static tg_status load_teacher(const tg_study_teacher_file *st, tg_teacher *out, tg_error *err) {
    char what[160];
    snprintf(what, sizeof what, "teacher %s", st->name);
    return tg_teacher_load_bytes(st->data, st->n, what, out, err);
}

static tg_status read_teachers(tg_tracker *t, const tg_study *s, tg_analysis *a,
                               tg_error *err) {
    tg_study_teacher_file *st = NULL;
    int n = 0;
    tg_status r = tg_study_teachers(t, s->id, &st, &n, err);
    if (r != TG_OK) return r;
    a->teachers = calloc((size_t)n + 1, sizeof *a->teachers);
    if (!a->teachers) r = tg_error_set(err, TG_ERR_NOMEM, "analysis: out of memory");
    for (int i = 0; i < n && r == TG_OK; i++) {
        tg_teacher tt;
        if ((r = load_teacher(&st[i], &tt, err)) != TG_OK) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            tg_error_set(err, r, "study %s, teacher %d (%s): %s", s->name, st[i].position,
                         st[i].name, why);
            break;
        }
        tg_analysis_teacher *te = &a->teachers[i];
        te->position = st[i].position;
        snprintf(te->name, sizeof te->name, "%s", st[i].name);
        snprintf(te->unit, sizeof te->unit, "%s", tg_rdm_unit_name(tt.unit));
        snprintf(te->method, sizeof te->method, "%s", tg_sim_method_name(tt.method));
        te->layers = calloc((size_t)tt.nlayers, sizeof *te->layers);
        if (!te->layers) r = tg_error_set(err, TG_ERR_NOMEM, "analysis: out of memory");
        else {
            te->nlayers = tt.nlayers;
            for (int L = 0; L < tt.nlayers; L++)
                snprintf(te->layers[L], sizeof te->layers[L], "%s", tt.names[L]);
        }
        a->nteachers = i + 1;
        tg_teacher_free(&tt);
    }
    tg_study_teachers_free(st, n);
    return r;
}

static tg_status find_study(tg_tracker *t, int64_t id, tg_study *out, tg_error *err) {
    tg_study *all = NULL;
    int n = 0;
    tg_status r = tg_study_list(t, &all, &n, err);
    if (r != TG_OK) return r;
    int k = 0;
    while (k < n && all[k].id != id) k++;
    if (k < n) *out = all[k];
    free(all);
    return k < n ? TG_OK : tg_error_set(err, TG_ERR_NOT_FOUND, "no study with id %lld",
                                        (long long)id);
}

/* The complete trials with a mature accuracy, parsed into rows
 * (networks x npoints x nslot) and present (networks x npoints). */
static tg_status read_trials(tg_tracker *t, const tg_study *s, tg_analysis *a,
                             const tg_an_layout *l, double **rows, int **present,
                             tg_error *err) {
    tg_trial *tr = NULL;
    int64_t n = 0;
    tg_status r = tg_trial_list(t, s->id, &tr, &n, err);
    if (r != TG_OK) return r;
    size_t per = (size_t)a->npoints * (size_t)l->nslot;
    a->number = malloc(sizeof(int64_t) * ((size_t)n + 1));
    a->mature = malloc(sizeof(double) * ((size_t)n + 1));
    *rows = malloc(sizeof(double) * (per * (size_t)n + 1));
    *present = malloc(sizeof(int) * ((size_t)a->npoints * (size_t)n + 1));
    if (!a->number || !a->mature || !*rows || !*present)
        r = tg_error_set(err, TG_ERR_NOMEM, "analysis of %lld trials: out of memory",
                         (long long)n);
    for (int64_t i = 0; i < n && r == TG_OK; i++) {
        if (tr[i].state != TG_TRIAL_COMPLETE || !isfinite(tr[i].p)) continue;
        int64_t k = a->networks;
        r = tg_an_parse_points(tr[i].points, tr[i].number, a, l, *rows + per * (size_t)k,
                               *present + (size_t)a->npoints * (size_t)k, err);
        a->number[k] = tr[i].number, a->mature[k] = tr[i].p;
        a->networks++;
    }
    tg_trials_free(tr, n);
    return r;
}

/* Point k: its networks' raw rows gathered, then the predictors. */
static tg_status analyse_point(tg_analysis *a, const tg_an_layout *l, const double *rows,
                               const int *present, int k, const tg_analysis_config *c,
                               tg_error *err) {
    tg_analysis_point *pt = &a->points[k];
    size_t per = (size_t)a->npoints * (size_t)l->nslot, n1 = (size_t)a->networks + 1;
    double *raw = malloc(sizeof(double) * (size_t)l->nslot * n1);
    pt->number = malloc(sizeof(int64_t) * n1);
    pt->mature = malloc(sizeof(double) * n1);
    pt->p = malloc(sizeof(double) * n1);
    pt->tg = malloc(sizeof(double) * n1);
    if (!raw || !pt->number || !pt->mature || !pt->p || !pt->tg) {
        free(raw);
        return tg_error_set(err, TG_ERR_NOMEM, "analysis: out of memory");
    }
    for (int64_t i = 0; i < a->networks; i++) {
        if (!present[(size_t)i * (size_t)a->npoints + (size_t)k]) continue;
        const double *row = rows + per * (size_t)i + (size_t)k * (size_t)l->nslot;
        memcpy(raw + (size_t)pt->n * (size_t)l->nslot, row, sizeof(double) * (size_t)l->nslot);
        pt->number[pt->n] = a->number[i], pt->mature[pt->n] = a->mature[i];
        pt->p[pt->n] = row[0];
        pt->n++;
    }
    tg_status r = tg_an_predict(a, l, raw, c, pt, err);
    free(raw);
    return r;
}

static tg_status check_config(const tg_analysis_config *c, tg_error *err) {
    if (c->boot < 0)
        return tg_error_set(err, TG_ERR_ARG, "analysis: boot %d (need 0 or more resamples)",
                            c->boot);
    if (c->nalpha < 0 || c->nalpha > TG_ANALYSIS_MAX_ALPHAS)
        return tg_error_set(err, TG_ERR_ARG, "analysis: %d alphas (0 to %d)", c->nalpha,
                            TG_ANALYSIS_MAX_ALPHAS);
    for (int j = 0; j < c->nalpha; j++)
        if (!isfinite(c->alpha[j]))
            return tg_error_set(err, TG_ERR_ARG, "analysis: alpha %d is not finite", j);
    return TG_OK;
}

tg_status tg_analysis_run(tg_tracker *t, int64_t study, const tg_analysis_config *c,
                          tg_analysis *out, tg_error *err) {
    memset(out, 0, sizeof *out);
    tg_status r = check_config(c, err);
    tg_study s;
    if (r == TG_OK) r = find_study(t, study, &s, err);
    if (r != TG_OK) return r;
    if (strcmp(s.cfg.algo, "pool") != 0)
        return tg_error_set(err, TG_ERR_ARG, "study %s is a %s study, not a pool: the analysis "
                            "reads the premature points that tgsage pool records", s.name,
                            s.cfg.algo);
    tg_analysis *a = out;
    snprintf(a->study, sizeof a->study, "%s", s.name);
    a->mature_epochs = s.cfg.epochs;
    a->boot = c->boot, a->seed = c->seed, a->nalpha = c->nalpha;
    memcpy(a->alpha, c->alpha, sizeof a->alpha);
    a->points = calloc((size_t)s.cfg.nat + 1, sizeof *a->points);
    if (!a->points) return tg_error_set(err, TG_ERR_NOMEM, "analysis: out of memory");
    a->npoints = s.cfg.nat + 1;
    for (int k = 0; k < a->npoints; k++) {
        a->points[k].at = k < s.cfg.nat ? s.cfg.at[k] : s.cfg.epochs;
        a->points[k].premature = k < s.cfg.nat;
        a->points[k].best = a->points[k].best_tg = a->points[k].best_mix = -1;
        a->points[k].gain = (tg_corr){NAN, NAN, NAN};
    }
    tg_an_layout l = {0, NULL};
    double *rows = NULL;
    int *present = NULL;
    r = read_teachers(t, &s, a, err);
    if (r == TG_OK) r = tg_an_layout_init(&l, a, err);
    if (r == TG_OK) r = read_trials(t, &s, a, &l, &rows, &present, err);
    for (int k = 0; k < a->npoints && r == TG_OK; k++)
        r = analyse_point(a, &l, rows, present, k, c, err);
    free(rows), free(present);
    tg_an_layout_free(&l);
    if (r != TG_OK) tg_analysis_free(a);
    return r;
}
