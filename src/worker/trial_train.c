/* trial_train.c - a trial trained and evaluated here: the "short" preset
 * for the study's budget and batch, seeded per trial, on the study's
 * split; then P on the validation split and TG against the study's teacher
 * (tg_evaluate_candidate_crop, keeping the trial RDMs), score P or
 * P + alpha*TG. A search's trials and a rerank's (its own, longer epochs)
 * are worked alike; the training run is shared with trial_pool.c.
 *
 * The trainer hands back no network, so the run writes its final
 * checkpoint into the trial's scratch directory and the evaluation loads
 * it from there (tg_trained_load); the directory goes when the trial ends.
 * The trainer's step hook is the heartbeat: a lost lease stops the run
 * after the current step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tgsage/accuracy.h"
#include "tgsage/evaluator.h"
#include "tgsage/trainer.h"
#include "worker_internal.h"

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct {
    tg_wk *w;
    tg_wk_run *run;
} step_ctx;

static int on_step(const tg_train_progress *p, void *user) {
    step_ctx *x = user;
    x->run->steps = p->step;  /* done so far: the cost of a run that diverges later */
    return tg_wk_tick(x->w) || x->run->abort;
}

/* The trainer has one user pointer for both hooks: the run's own on_point
 * is called through this one. */
static void on_point(const tg_train_point *p, void *user) {
    step_ctx *x = user;
    if (x->run->on_point) x->run->on_point(p, x->run->user);
}

/* P (and TG with a teacher) of the checkpoint at ckpt into o. */
static tg_status evaluate(tg_wk *w, const char *ckpt, const tg_train_result *res,
                          tg_wk_outcome *o, tg_error *err) {
    const tg_study_config *cfg = &w->study.cfg;
    const double alpha = cfg->alpha;
    if (!w->have_teacher) {
        /* nothing to observe: the run's own final validation is P */
        o->r.p = res->final.val_acc, o->r.val_loss = res->final.val_loss;
        o->r.score = o->r.p;
        return TG_OK;
    }
    tg_trained tr;
    const char *be = w->c->backend ? w->c->backend : "";
    tg_status st = tg_trained_load(ckpt, cfg->batch, be, &tr, err);
    if (st != TG_OK) return st;  /* the file written a moment ago: the worker's problem */
    tg_eval_record rec = {0};
    tg_error e;
    if (tg_evaluate_candidate_crop(tr.net, &w->val, &w->teacher, alpha, TG_WK_RDM_CROP, &rec,
                                   &e) != TG_OK) {
        tg_wk_fail(o, "evaluation failed: %s", e.msg);
    } else {
        o->r.p = rec.p, o->r.val_loss = rec.val_loss, o->r.tg = rec.tg;
        o->r.score = strcmp(cfg->score, "p") == 0 ? rec.p : rec.p + alpha * rec.tg;
        o->sim = tg_wk_sim_json((const char (*)[64])rec.teacher_layers, rec.nteacher,
                                (const char (*)[64])rec.cand_layers, rec.ncand, rec.sim);
        o->rdms = tg_wk_rdms_json(&w->teacher, &rec, NULL, 0);
        if (!o->sim || !o->rdms) st = tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
    }
    tg_eval_record_free(&rec);
    tg_trained_free(&tr);
    return st;
}

tg_status tg_wk_train_run(tg_wk *w, const tg_genome *g, const char *dir, tg_wk_run *run,
                          tg_wk_outcome *o, tg_error *err) {
    const tg_study_config *cfg = &w->study.cfg;
    run->done = 0;
    run->steps = 0;
    tg_train_config tc;
    tg_status st = tg_train_preset("short", &tc, err);
    if (st != TG_OK) return st;
    char *json = tg_genome_json(g);
    if (!json) return tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
    tc.genome = json;
    snprintf(tc.space, sizeof tc.space, "%s", tg_space_spec(w->space));
    tc.epochs = cfg->epochs;
    tc.batch = cfg->batch;
    tc.seed = w->seed;
    tc.save_every = 0;
    if (run->nat > TG_MAX_CHECKPOINTS) {
        free(json);
        return tg_error_set(err, TG_ERR_ARG, "worker: %d checkpoint points (at most %d)",
                            run->nat, TG_MAX_CHECKPOINTS);
    }
    for (int i = 0; i < run->nat; i++) tc.checkpoint_at[i] = run->at[i];
    tc.ncheckpoints = run->nat;
    if (w->c->backend && w->c->backend[0])
        snprintf(tc.backend, sizeof tc.backend, "%s", w->c->backend);
    snprintf(tc.out, sizeof tc.out, "%s/net.ckpt", dir);
    snprintf(run->ckpt, sizeof run->ckpt, "%s", tc.out);

    step_ctx x = {w, run};
    tg_train_hooks hooks = {on_step, on_point, &x, w->c->stop};
    tg_train_result *res = &run->res;
    tg_error e;
    double t0 = mono_s();
    tg_status ts = tg_train_run(&tc, &w->train, &w->val, 0, &hooks, res, &e);
    o->r.train_s = mono_s() - t0;
    o->r.examples = tg_wk_examples(ts == TG_OK ? res->last.step : run->steps, tc.batch,
                                   w->train.n);
    if (ts == TG_ERR_IO) {
        st = tg_error_set(err, ts, "worker: %s", e.msg);  /* the scratch directory */
    } else if (ts == TG_ERR_NUMERIC) {
        tg_wk_fail(o, "diverged: %s", e.msg);
    } else if (ts != TG_OK) {
        tg_wk_fail(o, "training failed: %s", e.msg);
    } else if (run->abort) {
        /* on_point's evaluation failed: its caller has the reason */
    } else if (res->state == TG_RUN_STOPPED) {
        if (!w->lost) w->stopped = 1;  /* the stop flag, seen by the trainer first */
    } else {
        run->done = !tg_wk_tick(w);
    }
    free(json);
    return st;
}

tg_status tg_wk_train(tg_wk *w, const tg_genome *g, tg_wk_outcome *o, tg_error *err) {
    char dir[896];
    tg_status st = tg_wk_trial_dir(w, dir, sizeof dir, err);
    if (st != TG_OK) return st;
    tg_wk_run run;
    memset(&run, 0, sizeof run);
    st = tg_wk_train_run(w, g, dir, &run, o, err);
    if (st == TG_OK && run.done) {
        const double t0 = mono_s();
        st = evaluate(w, run.ckpt, &run.res, o, err);
        o->r.eval_s = mono_s() - t0;
    }
    tg_wk_rmtree(dir);
    return st;
}
