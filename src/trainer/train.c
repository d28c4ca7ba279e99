/* train.c - a training run: loader, steps, checkpoints, stop and resume. */
#include "tgsage/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tgsage/accuracy.h"
#include "tgsage/checkpoint.h"
#include "tgsage/tensorfile.h"
#include "trainer_internal.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* ---- checkpoints ----------------------------------------------------------- */

/* "run.ckpt" at epoch 0.5 -> "run@0.5.ckpt" */
static void point_path(const char *out, double epoch, char *buf, size_t n) {
    size_t len = strlen(out);
    int stem = (int)(len > 5 && strcmp(out + len - 5, ".ckpt") == 0 ? len - 5 : len);
    snprintf(buf, n, "%.*s@%g.ckpt", stem, out, epoch);
}

typedef struct {
    tg_net_source src;
    tg_graph *g;
    tg_net *net;
    tg_optim *opt;
    tg_loader *loader;
} run_parts;

static void parts_free(run_parts *p) {
    tg_loader_free(p->loader);
    tg_optim_free(p->opt);
    tg_net_free(p->net);
    tg_graph_free(p->g);
    tg_net_source_free(&p->src);
}

static tg_status save(const char *path, const run_parts *p, int with_opt,
                      const tg_train_config *c, const tg_dataset *d, double epoch,
                      int64_t step, double val_acc, tg_error *err) {
    tg_ckpt_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.net, sizeof m.net, "%s", p->src.name);
    m.genome = p->src.genome;  /* borrowed: m is not freed */
    snprintf(m.space, sizeof m.space, "%s", p->src.space);
    snprintf(m.hash, sizeof m.hash, "%s", p->src.hash);
    m.c = d->c, m.h = d->h, m.w = d->w, m.classes = d->classes;
    snprintf(m.data_fingerprint, sizeof m.data_fingerprint, "%s", d->fingerprint);
    snprintf(m.data, sizeof m.data, "%s", d->source);
    m.split = c->split;
    m.epoch = epoch, m.epochs = c->epochs, m.step = step, m.batch = c->batch;
    m.seed = c->seed, m.val_acc = val_acc;
    char *meta = tg_ckpt_meta_write(&m);
    if (!meta) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    tg_status st = tg_ckpt_save(path, p->net, with_opt ? p->opt : NULL, meta, err);
    free(meta);
    return st;
}

/* Check a resume file's metadata against this run; its step into *step. */
static tg_status check_resume(const char *path, const char *meta, const tg_train_config *c,
                              const tg_net_source *src, const tg_dataset *d, int64_t *step,
                              tg_error *err) {
    tg_ckpt_meta m;
    tg_status st = tg_ckpt_meta_read(path, meta, &m, err);
    if (st != TG_OK) return st;
    if (m.batch <= 0 || !(m.epochs > 0))
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: not a tgsage resume file (metadata)", path);
    else if (strcmp(m.net, src->name) != 0)
        st = tg_error_set(err, TG_ERR_ARG, "%s: saved for net %s, this run trains %s", path,
                          m.net, src->name);
    else if (strcmp(m.hash, src->hash) != 0)
        st = tg_error_set(err, TG_ERR_ARG, "%s: saved for genome %s, this run trains genome "
                          "%s", path, m.hash[0] ? m.hash : "(none)", src->hash);
    else if (strcmp(m.data_fingerprint, d->fingerprint) != 0)
        st = tg_error_set(err, TG_ERR_ARG,
                          "%s: saved for other training data (fingerprint %s, now %s)", path,
                          m.data_fingerprint, d->fingerprint);
    else if (m.seed != c->seed || m.batch != c->batch || m.epochs != c->epochs)
        st = tg_error_set(err, TG_ERR_ARG,
                          "%s: saved with seed %llu, batch %d, %g epochs; this run has seed "
                          "%llu, batch %d, %g epochs",
                          path, (unsigned long long)m.seed, m.batch, m.epochs,
                          (unsigned long long)c->seed, c->batch, c->epochs);
    else
        *step = m.step;
    tg_ckpt_meta_free(&m);
    return st;
}

/* ---- the run ----------------------------------------------------------------- */

static tg_status point(const tg_train_config *c, run_parts *p, const tg_dataset *train,
                       const tg_dataset *val, double epoch, int64_t step, const char *path,
                       const tg_train_hooks *h, tg_train_point *pt, tg_error *err) {
    memset(pt, 0, sizeof *pt);
    pt->epoch = epoch;
    tg_status st = tg_evaluate(p->net, val, &pt->val_acc, &pt->val_loss, err);
    if (st == TG_OK && path) {
        snprintf(pt->path, sizeof pt->path, "%s", path);
        st = save(path, p, 0, c, train, epoch, step, pt->val_acc, err);
    }
    if (st == TG_OK && h && h->on_point) h->on_point(pt, h->user);
    return st;
}

tg_status tg_train_run(const tg_train_config *c, const tg_dataset *train,
                       const tg_dataset *val, int resume, const tg_train_hooks *h,
                       tg_train_result *res, tg_error *err) {
    memset(res, 0, sizeof *res);
    tg_status st = tg_train_check(c, resume, err);
    if (st != TG_OK) return st;
    if (val->c != train->c || val->h != train->h || val->w != train->w || val->n < 1)
        return tg_error_set(err, TG_ERR_SHAPE, "train: validation images (%lld of %dx%dx%d) "
                            "do not match training images (%dx%dx%d)", (long long)val->n,
                            val->c, val->h, val->w, train->c, train->h, train->w);
    const tg_backend *be = tg_backend_find(c->backend[0] ? c->backend : "dnnl");

    run_parts p;
    memset(&p, 0, sizeof p);
    tg_rng rng;
    tg_rng_seed(&rng, c->seed);
    if ((st = tg_net_source_resolve(c->net, c->genome, c->space, &p.src, err)) != TG_OK)
        return st;
    p.g = tg_net_source_build(&p.src, train->c, train->h, train->w, train->classes, err);
    if (p.g) p.net = tg_net_new(p.g, c->batch, be, &rng, err);
    if (p.net) p.opt = tg_optim_new(&c->opt, p.net, err);
    if (p.opt) p.loader = tg_loader_new(train, c->batch, 1, c->augment ? &c->aug : NULL,
                                        c->seed, err);
    if (!p.loader) {
        parts_free(&p);
        return err ? err->status : TG_ERR_ARG;
    }
    const int64_t per_epoch = tg_loader_steps_per_epoch(p.loader);
    const int64_t total = (int64_t)ceil(c->epochs * per_epoch - 1e-9);
    int64_t cp_step[TG_MAX_CHECKPOINTS];
    for (int i = 0; i < c->ncheckpoints; i++) {
        cp_step[i] = (int64_t)llround(c->checkpoint_at[i] * per_epoch);
        if (cp_step[i] > total) {
            parts_free(&p);
            return tg_error_set(err, TG_ERR_ARG,
                                "checkpoint at epoch %g: points must be ascending, after 0 "
                                "and within the %g epochs of the run",
                                c->checkpoint_at[i], c->epochs);
        }
    }
    tg_lr_schedule sched = c->lr;
    if (sched.total <= 0) sched.total = c->epochs;
    char resume_path[1100];
    snprintf(resume_path, sizeof resume_path, "%s.resume", c->out);

    int64_t start = 0;
    if (resume) {
        /* the metadata first: a resume file of another net or genome is
         * refused as such, not as parameters that do not fit */
        tg_tensor_file f;
        st = tg_tfile_read(resume_path, &f, err);
        if (st == TG_OK) {
            st = check_resume(resume_path, f.meta, c, &p.src, train, &start, err);
            tg_tfile_free(&f);
        }
        if (st == TG_OK) st = tg_ckpt_load(resume_path, p.net, p.opt, NULL, err);
        if (st != TG_OK) {
            parts_free(&p);
            return st;
        }
        res->resumed = 1;
    }
    tg_loader_seek(p.loader, start);

    tg_train_progress pr = {.step = start, .steps = total, .epoch = (double)start / per_epoch};
    const double t0 = now_s();
    int64_t seen = 0, step = start;
    const int64_t save_steps = c->save_every > 0 ? (int64_t)ceil(c->save_every * per_epoch) : 0;
    int stopped = 0;
    for (; step < total && !stopped; step++) {
        if (h && h->stop && *h->stop) {
            stopped = 1;
            break;  /* before this step: it is the first of the resumed run */
        }
        const float *x;
        const int32_t *y;
        int nb = tg_loader_next(p.loader, &x, &y);
        const double epoch = (double)step / per_epoch;
        double loss = NAN;
        int correct;
        st = tg_net_forward(p.net, x, nb, 1, err);
        if (st == TG_OK) st = tg_net_loss(p.net, y, &loss, &correct, err);
        if (st != TG_OK) {
            if (st == TG_ERR_NUMERIC)
                tg_error_set(err, st, "train: loss is %g at step %lld (epoch %.3f): the run "
                             "diverged; nothing was saved for it", loss, (long long)step,
                             epoch);
            goto done;
        }
        tg_net_backward(p.net);
        tg_optim_step(p.opt, tg_lr_at(&sched, epoch));
        seen += nb;
        pr.step = step + 1;
        pr.epoch = (double)(step + 1) / per_epoch;
        pr.loss = loss, pr.acc = (double)correct / nb;
        pr.seconds = now_s() - t0;
        pr.img_s = seen / (pr.seconds + 1e-9);
        stopped = h && h->on_step && h->on_step(&pr, h->user);
        for (int i = 0; i < c->ncheckpoints; i++)
            if (cp_step[i] == step + 1 && cp_step[i] < total) {
                char path[1100];
                if (c->out[0]) point_path(c->out, c->checkpoint_at[i], path, sizeof path);
                tg_train_point pt;
                st = point(c, &p, train, val, c->checkpoint_at[i], step + 1,
                           c->out[0] ? path : NULL, h, &pt, err);
                if (st != TG_OK) goto done;
            }
        if (save_steps && c->out[0] && (step + 1) % save_steps == 0 && step + 1 < total) {
            st = save(resume_path, &p, 1, c, train, pr.epoch, step + 1, -1, err);
            if (st != TG_OK) goto done;
        }
    }
    res->last = pr;
    if (stopped && step < total) {
        /* `step` steps are done: save them for the resumed run */
        res->state = TG_RUN_STOPPED;
        if (c->out[0]) {
            st = save(resume_path, &p, 1, c, train, (double)step / per_epoch, step, -1, err);
            if (st == TG_OK)
                snprintf(res->resume_path, sizeof res->resume_path, "%s", resume_path);
        }
        goto done;
    }
    st = point(c, &p, train, val, c->epochs, total, c->out[0] ? c->out : NULL, h,
               &res->final, err);
    if (st == TG_OK && c->out[0]) unlink(resume_path);  /* finished: nothing to resume */
    res->state = TG_RUN_DONE;
done:
    parts_free(&p);
    return st;
}
