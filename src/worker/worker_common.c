/* worker_common.c - the small pieces every way of working on a trial
 * shares: outcomes, log lines, the heartbeat tick, the trial's seed, the
 * similarity and trial RDMs JSON, the cost in examples and scratch
 * directories. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "tgsage/rng.h"
#include "worker_internal.h"

void tg_wk_outcome_init(tg_wk_outcome *o) {
    memset(o, 0, sizeof *o);
    o->r.ok = 1;
    o->r.score = o->r.p = o->r.val_loss = o->r.tg = NAN;
    o->r.train_s = o->r.eval_s = NAN;
}

void tg_wk_outcome_free(tg_wk_outcome *o) {
    free(o->sim);
    free(o->rdms);
    free(o->points);
    o->sim = o->rdms = o->points = NULL;
}

void tg_wk_fail(tg_wk_outcome *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof o->error, fmt, ap);
    va_end(ap);
    o->r.ok = 0;
    o->r.score = NAN;
}

void tg_wk_log(const tg_wk *w, const char *fmt, ...) {
    if (!w->c->log) return;
    char line[6144];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    w->c->log(w->c->log_user, line);
}

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int tg_wk_tick(tg_wk *w) {
    if (w->lost || w->stopped) return 1;
    if (w->c->stop && *w->c->stop) {
        w->stopped = 1;
        return 1;
    }
    const double lease = w->study.cfg.lease_s, now = mono_s();
    if (now - w->last_beat < lease / 4) return 0;
    w->last_beat = now;
    int held = 1;
    tg_error e;
    if (tg_trial_heartbeat(w->t, w->claim, &w->id, lease, &held, &e) != TG_OK) {
        /* the database may be back by the next tick; only a lease known
         * to be lost stops the work */
        tg_wk_log(w, "trial %lld: heartbeat failed, retrying: %s",
                  (long long)w->claim->number, e.msg);
        return 0;
    }
    if (!held) {
        w->lost = 1;
        return 1;
    }
    return 0;
}

/* The trials' own stream of the study seed. rng.h's streams are small
 * integers (1, 2, ...); this one is the ASCII of "trials", far from them,
 * so it is no other consumer's. Each trial derives again by its number. */
#define TG_WK_STREAM_TRIALS 0x747269616c73ULL

uint64_t tg_wk_trial_seed(uint64_t seed, int64_t number) {
    return tg_rng_derive(tg_rng_derive(seed, TG_WK_STREAM_TRIALS), (uint64_t)number);
}

int64_t tg_wk_examples(int64_t steps, int batch, int64_t n) {
    if (steps <= 0 || batch <= 0 || n <= 0) return 0;
    const int64_t per_epoch = (n + batch - 1) / batch;
    /* full epochs see every image; a partial one only full batches (its
     * last, short batch would end the epoch) */
    return (steps / per_epoch) * n + (steps % per_epoch) * (int64_t)batch;
}

cJSON *tg_wk_json_number(double d) {
    char buf[40];
    if (!isfinite(d)) return cJSON_CreateNull();
    snprintf(buf, sizeof buf, "%.17g", d);
    return cJSON_CreateRaw(buf);
}

char *tg_wk_sim_json(const char (*teacher)[64], int nt, const char (*cand)[64], int ns,
                     const double *sim) {
    cJSON *j = cJSON_CreateObject(), *ta = cJSON_CreateArray(), *ca = cJSON_CreateArray(),
          *ra = cJSON_CreateArray();
    int ok = j && ta && ca && ra;
    if (ok) {
        cJSON_AddItemToObject(j, "teacher", ta);
        cJSON_AddItemToObject(j, "candidate", ca);
        cJSON_AddItemToObject(j, "r", ra);
    } else {
        cJSON_Delete(ta), cJSON_Delete(ca), cJSON_Delete(ra);
    }
    for (int a = 0; ok && a < nt; a++) ok = cJSON_AddItemToArray(ta, cJSON_CreateString(teacher[a]));
    for (int s = 0; ok && s < ns; s++) ok = cJSON_AddItemToArray(ca, cJSON_CreateString(cand[s]));
    for (int a = 0; ok && a < nt; a++) {
        cJSON *row = cJSON_CreateArray();
        ok = row && cJSON_AddItemToArray(ra, row);
        if (!ok) cJSON_Delete(row);
        for (int s = 0; ok && s < ns; s++)
            ok = cJSON_AddItemToArray(row, tg_wk_json_number(sim[(size_t)a * ns + s]));
    }
    char *text = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return text;
}

/* An RDM entry for a picture: 6 significant digits (in [0, 2]), so a
 * trial's blocks stay small in the database. */
static cJSON *rdm_number(double d) {
    char buf[32];
    if (!isfinite(d)) return cJSON_CreateNull();
    snprintf(buf, sizeof buf, "%.6g", d);
    return cJSON_CreateRaw(buf);
}

/* Add item to array a; on failure item is deleted. Non-zero on success. */
static int add(cJSON *a, cJSON *item) {
    if (item && cJSON_AddItemToArray(a, item)) return 1;
    cJSON_Delete(item);
    return 0;
}

char *tg_wk_rdms_json(const tg_teacher *t, const tg_eval_record *rec, const double *const *S,
                      int64_t m) {
    const int64_t k = S ? (m < TG_WK_RDM_CROP ? m : TG_WK_RDM_CROP) : rec->crop;
    const int64_t ld = S ? m : k;
    if (k < 1) return NULL;
    cJSON *j = cJSON_CreateObject(), *ta = cJSON_CreateArray(), *ca = cJSON_CreateArray(),
          *ra = cJSON_CreateArray();
    int ok = j && ta && ca && ra;
    if (ok) {
        ok = cJSON_AddStringToObject(j, "unit", tg_rdm_unit_name(t->unit)) &&
             cJSON_AddNumberToObject(j, "m", (double)t->m) &&
             cJSON_AddNumberToObject(j, "k", (double)k);
        cJSON_AddItemToObject(j, "teacher", ta);
        cJSON_AddItemToObject(j, "candidate", ca);
        cJSON_AddItemToObject(j, "rdm", ra);
    } else {
        cJSON_Delete(ta), cJSON_Delete(ca), cJSON_Delete(ra);
    }
    for (int a = 0; ok && a < rec->nteacher; a++) {
        const int s = rec->best[a];
        const double *rdm = S ? S[s] : rec->rdm_crop + (size_t)s * k * k;
        ok = add(ta, cJSON_CreateString(rec->teacher_layers[a])) &&
             add(ca, cJSON_CreateString(rec->cand_layers[s]));
        cJSON *mat = ok ? cJSON_CreateArray() : NULL;
        ok = ok && add(ra, mat);
        for (int64_t i = 0; ok && i < k; i++) {
            cJSON *row = cJSON_CreateArray();
            ok = add(mat, row);
            for (int64_t q = 0; ok && q < k; q++) ok = add(row, rdm_number(rdm[i * ld + q]));
        }
    }
    char *text = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return text;
}

tg_status tg_wk_trial_dir(const tg_wk *w, char *out, size_t n, tg_error *err) {
    int len = snprintf(out, n, "%s/trial-%lld-%d", w->dir, (long long)w->claim->number,
                       w->claim->attempt);
    if (len < 0 || (size_t)len >= n)
        return tg_error_set(err, TG_ERR_IO, "worker: scratch path too long under %s", w->dir);
    tg_wk_rmtree(out);  /* left by an earlier, interrupted attempt of this worker */
    if (mkdir(out, 0700) != 0)
        return tg_error_set(err, TG_ERR_IO, "worker: cannot create %s: %s", out,
                            strerror(errno));
    return TG_OK;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void tg_wk_rmtree(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
