/* train.c - a training run: loader, steps, checkpoints, stop and resume. */
#include "tgsage/trainer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tgsage/checkpoint.h"
#include "tgsage/models.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* ---- presets ------------------------------------------------------------ */

const char *tg_train_preset_names(void) { return "layerwise, cell, short"; }

tg_status tg_train_preset(const char *name, tg_train_config *c, tg_error *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->net, sizeof c->net, "resnet:1");
    snprintf(c->backend, sizeof c->backend, "dnnl");
    c->batch = 128;
    c->seed = 1;
    c->augment = 1;
    c->aug = (tg_augment){.pad = 4, .flip = 1};
    c->opt = (tg_opt_config){.kind = TG_OPT_SGD, .momentum = 0.9, .nesterov = 1};
    if (strcmp(name, "layerwise") == 0) {
        c->epochs = 300;
        c->lr = (tg_lr_schedule){.kind = TG_LR_STEP, .lr = 0.1, .step = 100, .gamma = 0.1};
    } else if (strcmp(name, "cell") == 0) {
        c->epochs = 600;
        c->opt.weight_decay = 5e-4;
        c->opt.clip_norm = 5;
        c->lr = (tg_lr_schedule){.kind = TG_LR_COSINE, .lr = 0.025};
    } else if (strcmp(name, "short") == 0) {
        c->epochs = 2;
        c->opt.weight_decay = 5e-4;
        c->lr = (tg_lr_schedule){.kind = TG_LR_COSINE, .lr = 0.05};
    } else {
        return tg_error_set(err, TG_ERR_ARG, "preset '%s': expected one of %s", name,
                            tg_train_preset_names());
    }
    return TG_OK;
}

/* ---- evaluation ---------------------------------------------------------- */

tg_status tg_evaluate(tg_net *net, const tg_dataset *d, double *acc, double *loss,
                      tg_error *err) {
    const int B = tg_net_batch(net);
    const size_t size = (size_t)d->c * d->h * d->w;
    float *x = malloc(sizeof(float) * size * (size_t)B);
    if (!x) return tg_error_set(err, TG_ERR_NOMEM, "evaluate: out of memory");
    double sum_loss = 0;
    int64_t right = 0;
    tg_status st = TG_OK;
    for (int64_t i = 0; i < d->n && st == TG_OK; i += B) {
        int nb = (int)(d->n - i < B ? d->n - i : B);
        tg_dataset_images(d, NULL, i, nb, x);
        double l;
        int c;
        st = tg_net_forward(net, x, nb, 0, err);
        if (st == TG_OK) st = tg_net_loss(net, d->labels + i, &l, &c, err);
        sum_loss += l * nb;
        right += c;
    }
    free(x);
    if (st != TG_OK) return st;
    if (acc) *acc = d->n ? (double)right / d->n : 0;
    if (loss) *loss = d->n ? sum_loss / d->n : 0;
    return TG_OK;
}

/* ---- checkpoints ----------------------------------------------------------- */

/* "run.ckpt" at epoch 0.5 -> "run@0.5.ckpt" */
static void point_path(const char *out, double epoch, char *buf, size_t n) {
    size_t len = strlen(out);
    int stem = (int)(len > 5 && strcmp(out + len - 5, ".ckpt") == 0 ? len - 5 : len);
    snprintf(buf, n, "%.*s@%g.ckpt", stem, out, epoch);
}

static char *meta_json(const tg_train_config *c, const tg_dataset *d, double epoch,
                       int64_t step, double val_acc) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "tgsage-checkpoint");
    cJSON_AddStringToObject(j, "net", c->net);
    int dims[3] = {d->c, d->h, d->w};
    cJSON_AddItemToObject(j, "input", cJSON_CreateIntArray(dims, 3));
    cJSON_AddNumberToObject(j, "classes", d->classes);
    cJSON_AddStringToObject(j, "data_fingerprint", d->fingerprint);
    cJSON_AddStringToObject(j, "data", d->source);
    cJSON_AddNumberToObject(j, "epoch", epoch);
    cJSON_AddNumberToObject(j, "step", (double)step);
    cJSON_AddNumberToObject(j, "epochs", c->epochs);
    cJSON_AddNumberToObject(j, "batch", c->batch);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    if (val_acc >= 0) cJSON_AddNumberToObject(j, "val_accuracy", val_acc);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static tg_status save(const char *path, tg_net *net, tg_optim *opt,
                      const tg_train_config *c, const tg_dataset *d, double epoch,
                      int64_t step, double val_acc, tg_error *err) {
    char *meta = meta_json(c, d, epoch, step, val_acc);
    if (!meta) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    tg_status st = tg_ckpt_save(path, net, opt, meta, err);
    free(meta);
    return st;
}

/* Check a resume file's metadata against this run; its step into *step. */
static tg_status check_resume(const char *path, const char *meta, const tg_train_config *c,
                              const tg_dataset *d, int64_t *step, tg_error *err) {
    cJSON *j = cJSON_Parse(meta);
    tg_status st = TG_OK;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    const cJSON *net = cJSON_GetObjectItem(j, "net"), *fp = cJSON_GetObjectItem(j, "data_fingerprint");
    const cJSON *sd = cJSON_GetObjectItem(j, "seed"), *b = cJSON_GetObjectItem(j, "batch");
    const cJSON *ep = cJSON_GetObjectItem(j, "epochs"), *s = cJSON_GetObjectItem(j, "step");
    if (!cJSON_IsString(net) || !cJSON_IsString(fp) || !cJSON_IsString(sd) ||
        !cJSON_IsNumber(b) || !cJSON_IsNumber(ep) || !cJSON_IsNumber(s))
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: not a tgsage resume file (metadata)", path);
    else if (strcmp(net->valuestring, c->net) != 0)
        st = tg_error_set(err, TG_ERR_ARG, "%s: saved for net %s, this run trains %s", path,
                          net->valuestring, c->net);
    else if (strcmp(fp->valuestring, d->fingerprint) != 0)
        st = tg_error_set(err, TG_ERR_ARG,
                          "%s: saved for other training data (fingerprint %s, now %s)", path,
                          fp->valuestring, d->fingerprint);
    else if (strcmp(sd->valuestring, seed) != 0 || b->valueint != c->batch ||
             ep->valuedouble != c->epochs)
        st = tg_error_set(err, TG_ERR_ARG,
                          "%s: saved with seed %s, batch %d, %g epochs; this run has seed "
                          "%s, batch %d, %g epochs",
                          path, sd->valuestring, b->valueint, ep->valuedouble, seed,
                          c->batch, c->epochs);
    else
        *step = (int64_t)s->valuedouble;
    cJSON_Delete(j);
    return st;
}

/* ---- the run ----------------------------------------------------------------- */

typedef struct {
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
}

static tg_status point(const tg_train_config *c, run_parts *p, const tg_dataset *train,
                       const tg_dataset *val, double epoch, int64_t step, const char *path,
                       const tg_train_hooks *h, tg_train_point *pt, tg_error *err) {
    memset(pt, 0, sizeof *pt);
    pt->epoch = epoch;
    tg_status st = tg_evaluate(p->net, val, &pt->val_acc, &pt->val_loss, err);
    if (st == TG_OK && path) {
        snprintf(pt->path, sizeof pt->path, "%s", path);
        st = save(path, p->net, NULL, c, train, epoch, step, pt->val_acc, err);
    }
    if (st == TG_OK && h && h->on_point) h->on_point(pt, h->user);
    return st;
}

tg_status tg_train_run(const tg_train_config *c, const tg_dataset *train,
                       const tg_dataset *val, int resume, const tg_train_hooks *h,
                       tg_train_result *res, tg_error *err) {
    memset(res, 0, sizeof *res);
    if (c->epochs <= 0 || c->batch <= 0)
        return tg_error_set(err, TG_ERR_ARG, "train: %g epochs of batch %d", c->epochs,
                            c->batch);
    if (val->c != train->c || val->h != train->h || val->w != train->w || val->n < 1)
        return tg_error_set(err, TG_ERR_SHAPE, "train: validation images (%lld of %dx%dx%d) "
                            "do not match training images (%dx%dx%d)", (long long)val->n,
                            val->c, val->h, val->w, train->c, train->h, train->w);
    if (resume && !c->out[0])
        return tg_error_set(err, TG_ERR_ARG, "train: resuming needs the run's output path");
    const tg_backend *be = tg_backend_find(c->backend[0] ? c->backend : "dnnl");
    if (!be) return tg_error_set(err, TG_ERR_ARG, "backend '%s': expected dnnl or ref", c->backend);

    run_parts p = {0};
    tg_status st = TG_OK;
    tg_rng rng;
    tg_rng_seed(&rng, c->seed);
    p.g = tg_model_build(c->net, train->c, train->h, train->w, train->classes, err);
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
        if (c->checkpoint_at[i] <= 0 || cp_step[i] > total ||
            (i && c->checkpoint_at[i] <= c->checkpoint_at[i - 1])) {
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
        char *meta = NULL;
        st = tg_ckpt_load(resume_path, p.net, p.opt, &meta, err);
        if (st == TG_OK) st = check_resume(resume_path, meta, c, train, &start, err);
        free(meta);
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
        double loss;
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
            st = save(resume_path, p.net, p.opt, c, train, pr.epoch, step + 1, -1, err);
            if (st != TG_OK) goto done;
        }
    }
    res->last = pr;
    if (stopped && step < total) {
        /* `step` steps are done: save them for the resumed run */
        res->state = TG_RUN_STOPPED;
        if (c->out[0]) {
            st = save(resume_path, p.net, p.opt, c, train, (double)step / per_epoch, step,
                      -1, err);
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
