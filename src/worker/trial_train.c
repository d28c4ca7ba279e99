/* trial_train.c - a trial trained and evaluated here: the "short" preset
 * for the study's budget and batch, seeded per trial, on the study's
 * split; then P on the validation split and TG against the study's teacher
 * (tg_evaluate_candidate), score P or P + alpha*TG.
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
    int64_t steps;   /* done so far: the cost of a run that diverges later */
} step_ctx;

static int on_step(const tg_train_progress *p, void *user) {
    step_ctx *x = user;
    x->steps = p->step;
    return tg_wk_tick(x->w);
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
    if (tg_evaluate_candidate(tr.net, &w->val, &w->teacher, alpha, &rec, &e) != TG_OK) {
        tg_wk_fail(o, "evaluation failed: %s", e.msg);
    } else {
        o->r.p = rec.p, o->r.val_loss = rec.val_loss, o->r.tg = rec.tg;
        o->r.score = strcmp(cfg->score, "p") == 0 ? rec.p : rec.p + alpha * rec.tg;
        o->sim = tg_wk_sim_json((const char (*)[64])rec.teacher_layers, rec.nteacher,
                                (const char (*)[64])rec.cand_layers, rec.ncand, rec.sim);
        if (!o->sim) st = tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
    }
    tg_eval_record_free(&rec);
    tg_trained_free(&tr);
    return st;
}

tg_status tg_wk_train(tg_wk *w, const tg_genome *g, tg_wk_outcome *o, tg_error *err) {
    const tg_study_config *cfg = &w->study.cfg;
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
    if (w->c->backend && w->c->backend[0])
        snprintf(tc.backend, sizeof tc.backend, "%s", w->c->backend);
    char dir[896];
    if ((st = tg_wk_trial_dir(w, dir, sizeof dir, err)) != TG_OK) {
        free(json);
        return st;
    }
    snprintf(tc.out, sizeof tc.out, "%s/net.ckpt", dir);

    step_ctx x = {w, 0};
    tg_train_hooks hooks = {on_step, NULL, &x, w->c->stop};
    tg_train_result res;
    tg_error e;
    double t0 = mono_s();
    tg_status ts = tg_train_run(&tc, &w->train, &w->val, 0, &hooks, &res, &e);
    o->r.train_s = mono_s() - t0;
    o->r.examples = tg_wk_examples(ts == TG_OK ? res.last.step : x.steps, tc.batch, w->train.n);
    if (ts == TG_ERR_IO) {
        st = tg_error_set(err, ts, "worker: %s", e.msg);  /* the scratch directory */
    } else if (ts == TG_ERR_NUMERIC) {
        tg_wk_fail(o, "diverged: %s", e.msg);
    } else if (ts != TG_OK) {
        tg_wk_fail(o, "training failed: %s", e.msg);
    } else if (res.state == TG_RUN_STOPPED) {
        if (!w->lost) w->stopped = 1;  /* the stop flag, seen by the trainer first */
    } else if (!tg_wk_tick(w)) {
        t0 = mono_s();
        st = evaluate(w, tc.out, &res, o, err);
        o->r.eval_s = mono_s() - t0;
    }
    tg_wk_rmtree(dir);
    free(json);
    return st;
}
