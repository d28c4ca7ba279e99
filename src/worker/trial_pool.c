/* trial_pool.c - a trial of a pool study (algo "pool", paper section 4.1):
 * trained to the mature budget (cfg.epochs) with checkpoints at the
 * premature points cfg.at, each checkpoint evaluated as it is written (the
 * trainer's on_point hook), and the end too:
 *   - P and the validation loss (tg_evaluate, BN in evaluation mode);
 *   - per teacher of the study, the candidate's RDMs in that teacher's
 *     unit, on its images, with its max_features and seed (what
 *     tg_evaluate_candidate does for one teacher), compared with every
 *     teacher layer by pearson, spearman, kendall and cka (null where a
 *     similarity does not exist: a constant RDM);
 *   - P_bn: P after tg_bn_recalibrate on 4 batches of the training split
 *     (the same seeded sample at every point). Recalibrating changes the
 *     net, so it comes last: the similarities are those of the net as
 *     trained, as a search trial's TG is.
 * The result: p and val_loss the mature ones, score = p, tg = TG of
 * teacher 0 (the study's own) by its own method at the end, its matrix
 * as sim, the trial RDMs, and every point as JSON (docs/formats.md, "pool
 * points"). Each checkpoint is deleted once evaluated; the heartbeat
 * ticks between the parts of an evaluation, so a long one keeps the
 * lease, and a lost lease or a stop ends it at the next tick. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tgsage/accuracy.h"
#include "worker_internal.h"

/* P_bn's sample of the training split: batches of the study's batch. */
#define BN_BATCHES 4
/* The recalibration's stream of the trial seed ("bnrecal" in ASCII, far
 * from rng.h's small stream numbers, as worker_common.c's "trials"). */
#define STREAM_BN_RECAL 0x626e726563616cULL

static const tg_sim_method METHODS[4] = {TG_SIM_PEARSON, TG_SIM_SPEARMAN, TG_SIM_KENDALL,
                                         TG_SIM_CKA};

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct {
    tg_wk *w;
    tg_wk_run *run;
    tg_wk_outcome *o;
    cJSON *points;       /* the array being built */
    int npoints;
    double eval_s;       /* spent evaluating, inside the training's time */
    tg_status st;        /* an error of the worker itself, from on_point */
    tg_error err;
} pool_ctx;

/* Stop evaluating: a lost lease or a stop (w), or a failure recorded. */
static int halted(pool_ctx *x) { return x->run->abort || tg_wk_tick(x->w); }

/* The candidate failed at this point: the trial fails, the run stops. */
static void point_fail(pool_ctx *x, double at, const char *what, const char *msg) {
    tg_wk_fail(x->o, "evaluation at %g epochs failed: %s: %s", at, what, msg);
    x->run->abort = 1;
}

/* A worker error (out of memory, its scratch directory): ends the worker. */
static void worker_fail(pool_ctx *x, tg_status st, const tg_error *e) {
    x->st = st;
    x->err = *e;
    x->run->abort = 1;
}

/* r of one pair by one method, NaN where it does not exist (TG_ERR_NUMERIC:
 * a constant RDM). Other errors are returned. */
static tg_status similarity(const double *a, const double *b, int64_t m, tg_sim_method method,
                            double *r, tg_error *err) {
    tg_status st = method == TG_SIM_CKA ? tg_rdm_cka(a, b, m, r, err)
                                        : tg_rdm_similarity(a, b, m, method, r, err);
    if (st == TG_ERR_NUMERIC) {
        *r = NAN;
        return TG_OK;
    }
    return st;
}

/* Add item to a (array or object under key); on failure item is deleted. */
static int put(cJSON *a, const char *key, cJSON *item) {
    if (item && (key ? cJSON_AddItemToObject(a, key, item) : cJSON_AddItemToArray(a, item)))
        return 1;
    cJSON_Delete(item);
    return 0;
}

static cJSON *names_json(const char *const *names, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        if (!put(a, NULL, cJSON_CreateString(names[i]))) {
            cJSON_Delete(a);
            return NULL;
        }
    return a;
}

/* {"position", "layers", "candidate", "r": {method: [[...]]}} of teacher
 * t, r holding the 4 methods' t->nlayers x nn matrices; NULL when out of
 * memory. */
static cJSON *teacher_json(int position, const tg_teacher *t, const char *const *names, int nn,
                           const double *r) {
    cJSON *rj = cJSON_CreateObject();
    const size_t per = (size_t)t->nlayers * (size_t)nn;
    int ok = rj != NULL;
    for (int q = 0; ok && q < 4; q++) {
        cJSON *mat = cJSON_CreateArray();
        ok = put(rj, tg_sim_method_name(METHODS[q]), mat);
        for (int a = 0; ok && a < t->nlayers; a++) {
            cJSON *row = cJSON_CreateArray();
            ok = put(mat, NULL, row);
            for (int s = 0; ok && s < nn; s++)
                ok = put(row, NULL, tg_wk_json_number(r[q * per + (size_t)a * nn + s]));
        }
    }
    const char *tl[TG_TEACHER_MAX_LAYERS];
    for (int a = 0; a < t->nlayers; a++) tl[a] = t->names[a];
    cJSON *j = ok ? cJSON_CreateObject() : NULL;
    int handed = 0;  /* rj belongs to j, or put deleted it */
    ok = j && put(j, "position", cJSON_CreateNumber(position)) &&
         put(j, "layers", names_json(tl, t->nlayers)) &&
         put(j, "candidate", names_json(names, nn)) && (handed = 1) && put(j, "r", rj);
    if (!handed) cJSON_Delete(rj);
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Teacher i at this point: its similarities into a JSON object added to
 * tarr; at the end, teacher 0's TG, sim and trial RDMs into the outcome.
 * Non-zero: stop (the failure or error is recorded). */
static int eval_teacher(pool_ctx *x, tg_net *net, const int *nodes, const char *const *names,
                        int nn, int i, double at, int final, cJSON *tarr) {
    tg_wk *w = x->w;
    const tg_teacher *t = &w->teachers[i];
    double **S = calloc((size_t)nn, sizeof(double *));
    double *r = malloc(sizeof(double) * 4 * (size_t)t->nlayers * (size_t)nn);
    tg_error e;
    int stop = 0;
    if (!S || !r) {
        tg_error_set(&e, TG_ERR_NOMEM, "worker: out of memory");
        worker_fail(x, TG_ERR_NOMEM, &e);
        free(S), free(r);
        return 1;
    }
    char what[160];
    snprintf(what, sizeof what, "teacher %d", w->positions[i]);
    int64_t m = 0;
    if (tg_observe_rdms(net, nodes, nn, &w->val, t->images, t->n, t->unit, t->max_features,
                        t->seed, S, &m, &e) != TG_OK) {
        point_fail(x, at, what, e.msg);
        stop = 1;
    } else if (m != t->m) {
        point_fail(x, at, what, "the candidate's RDMs and the teacher's differ in size");
        stop = 1;
    }
    const size_t per = (size_t)t->nlayers * (size_t)nn;
    for (int q = 0; !stop && q < 4; q++)
        for (int a = 0; !stop && a < t->nlayers; a++)
            for (int s = 0; !stop && s < nn; s++)
                if (similarity(t->rdms[a], S[s], m, METHODS[q], &r[q * per + (size_t)a * nn + s],
                               &e) != TG_OK) {
                    point_fail(x, at, what, e.msg);
                    stop = 1;
                }
    if (!stop) {
        cJSON *tj = teacher_json(w->positions[i], t, names, nn, r);
        if (!put(tarr, NULL, tj)) {
            tg_error_set(&e, TG_ERR_NOMEM, "worker: out of memory");
            worker_fail(x, TG_ERR_NOMEM, &e);
            stop = 1;
        }
    }
    if (!stop && final && i == 0) {
        /* TG as a search scores it: by the teacher's own method. A
         * similarity that does not exist leaves TG unknown (null) and the
         * trial complete: a pool measures every candidate. */
        tg_eval_record rec;
        const tg_status es = tg_eval_rdms(t, (const double *const *)S, names, nn, m,
                                          w->study.cfg.alpha, &rec, &e);
        if (es == TG_OK) {
            x->o->r.tg = rec.tg;
            x->o->sim = tg_wk_sim_json((const char (*)[64])rec.teacher_layers, rec.nteacher,
                                       (const char (*)[64])rec.cand_layers, rec.ncand, rec.sim);
            x->o->rdms = tg_wk_rdms_json(t, &rec, (const double *const *)S, m);
            if (!x->o->sim || !x->o->rdms) {
                tg_error_set(&e, TG_ERR_NOMEM, "worker: out of memory");
                worker_fail(x, TG_ERR_NOMEM, &e);
                stop = 1;
            }
            tg_eval_record_free(&rec);
        } else if (es == TG_ERR_NUMERIC) {
            tg_wk_log(w, "trial %lld: no TG at the end (%s)", (long long)w->claim->number, e.msg);
        } else {
            point_fail(x, at, what, e.msg);
            stop = 1;
        }
    }
    for (int s = 0; s < nn; s++) free(S[s]);
    free(S), free(r);
    return stop || halted(x);
}

/* The net's observed layers: its named nodes, in order. */
static int observed(const tg_net *net, int *nodes, const char **names) {
    const tg_graph *g = tg_net_graph((tg_net *)net);
    int nn = 0;
    for (int i = 0; i < tg_graph_nodes(g); i++)
        if (tg_graph_node_name(g, i)) {
            names[nn] = tg_graph_node_name(g, i);
            nodes[nn++] = i;
        }
    return nn;
}

/* One point: the checkpoint at pt->path evaluated into a JSON entry. */
static void eval_point(pool_ctx *x, const tg_train_point *pt, int final) {
    tg_wk *w = x->w;
    const tg_study_config *cfg = &w->study.cfg;
    tg_trained tr;
    tg_error e;
    const char *be = w->c->backend ? w->c->backend : "";
    tg_status st = tg_trained_load(pt->path, cfg->batch, be, &tr, &e);
    if (st != TG_OK) {  /* the file written a moment ago: the worker's problem */
        worker_fail(x, st, &e);
        return;
    }
    const int nnodes = tg_graph_nodes(tr.g);
    int *nodes = malloc(sizeof(int) * (size_t)nnodes);
    const char **names = malloc(sizeof(char *) * (size_t)nnodes);
    cJSON *pj = cJSON_CreateObject(), *tarr = cJSON_CreateArray();
    double p = NAN, loss = NAN, p_bn = NAN;
    int nn = 0, stop = 0;
    if (!nodes || !names || !pj || !tarr) {
        tg_error_set(&e, TG_ERR_NOMEM, "worker: out of memory");
        worker_fail(x, TG_ERR_NOMEM, &e);
        stop = 1;
    } else if ((nn = observed(tr.net, nodes, names)) == 0) {
        point_fail(x, pt->epoch, "observed layers", "the network names no layers");
        stop = 1;
    } else if (tg_evaluate(tr.net, &w->val, &p, &loss, &e) != TG_OK) {
        point_fail(x, pt->epoch, "P", e.msg);
        stop = 1;
    }
    stop = stop || halted(x);
    for (int i = 0; !stop && i < w->nteachers; i++)
        stop = eval_teacher(x, tr.net, nodes, names, nn, i, pt->epoch, final, tarr);
    if (!stop) {
        const uint64_t seed = tg_rng_derive(w->seed, STREAM_BN_RECAL);
        if (tg_bn_recalibrate(tr.net, &w->train, BN_BATCHES, seed, &e) != TG_OK ||
            tg_evaluate(tr.net, &w->val, &p_bn, NULL, &e) != TG_OK) {
            point_fail(x, pt->epoch, "P after BN recalibration", e.msg);
            stop = 1;
        }
        stop = stop || halted(x);
    }
    if (!stop) {
        const int64_t examples = tg_wk_examples(x->run->steps, cfg->batch, w->train.n);
        int ok = put(pj, "at", tg_wk_json_number(pt->epoch)) &&
                 put(pj, "examples", cJSON_CreateNumber((double)examples)) &&
                 put(pj, "p", tg_wk_json_number(p)) &&
                 put(pj, "val_loss", tg_wk_json_number(loss)) &&
                 put(pj, "p_bn", tg_wk_json_number(p_bn)) && put(pj, "teachers", tarr);
        tarr = NULL;  /* pj owns it now, or put deleted it */
        if (ok && put(x->points, NULL, pj)) {
            x->npoints++;
            if (final) x->o->r.p = p, x->o->r.val_loss = loss, x->o->r.score = p;
        } else {
            tg_error_set(&e, TG_ERR_NOMEM, "worker: out of memory");
            worker_fail(x, TG_ERR_NOMEM, &e);
        }
        pj = NULL;
    }
    cJSON_Delete(tarr);
    cJSON_Delete(pj);
    free(nodes);
    free(names);
    tg_trained_free(&tr);
}

static void on_point(const tg_train_point *pt, void *user) {
    pool_ctx *x = user;
    if (x->run->abort || x->w->lost || x->w->stopped || !pt->path[0]) return;
    const double t0 = mono_s();
    const int final = strcmp(pt->path, x->run->ckpt) == 0;
    /* a premature point the trainer skipped (it fell on no step inside
     * the run) would shift every later one: refuse the pool's budget */
    const tg_study_config *cfg = &x->w->study.cfg;
    if (final ? x->npoints != cfg->nat
              : x->npoints >= cfg->nat || pt->epoch != cfg->at[x->npoints]) {
        const double want = x->npoints < cfg->nat ? cfg->at[x->npoints] : cfg->epochs;
        char msg[256];
        snprintf(msg, sizeof msg, "with %lld training images at batch %d the point at %g "
                 "epochs falls on no step inside the %g-epoch run", (long long)x->w->train.n,
                 cfg->batch, want, cfg->epochs);
        point_fail(x, want, "premature points", msg);
    } else {
        eval_point(x, pt, final);
    }
    unlink(pt->path);  /* evaluated: the scratch directory keeps no more */
    x->eval_s += mono_s() - t0;
}

tg_status tg_wk_pool(tg_wk *w, const tg_genome *g, tg_wk_outcome *o, tg_error *err) {
    char dir[896];
    tg_status st = tg_wk_trial_dir(w, dir, sizeof dir, err);
    if (st != TG_OK) return st;
    tg_wk_run run;
    memset(&run, 0, sizeof run);
    pool_ctx x = {w, &run, o, cJSON_CreateArray(), 0, 0, TG_OK, {0}};
    if (!x.points) {
        tg_wk_rmtree(dir);
        return tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
    }
    run.at = w->study.cfg.at;
    run.nat = w->study.cfg.nat;
    run.on_point = on_point;
    run.user = &x;
    st = tg_wk_train_run(w, g, dir, &run, o, err);
    /* the evaluations ran inside the training: count them apart */
    o->r.train_s -= x.eval_s;
    o->r.eval_s = x.eval_s;
    if (st == TG_OK && x.st != TG_OK) {
        *err = x.err;
        st = x.st;
    }
    if (st == TG_OK && o->r.ok && run.done) {
        if (x.npoints != w->study.cfg.nat + 1) {
            tg_wk_fail(o, "pool: %d of the %d points were evaluated", x.npoints,
                       w->study.cfg.nat + 1);
        } else if (!(o->points = cJSON_PrintUnformatted(x.points))) {
            st = tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
        }
    }
    if (!o->r.ok) {
        /* a failed trial reports its reason, not half a result */
        free(o->sim), free(o->rdms);
        o->sim = o->rdms = NULL;
        o->r.p = o->r.val_loss = o->r.tg = NAN;
    }
    cJSON_Delete(x.points);
    tg_wk_rmtree(dir);
    return st;
}
