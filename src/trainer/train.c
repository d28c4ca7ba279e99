/* train.c - the training loop: shuffled mini-batches, schedule, evaluation. */
#include "tgsage/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

tg_status tg_train(tg_net *net, tg_optim *o, const tg_train_config *cfg,
                   const tg_tensor_set *d, tg_rng *rng, tg_train_progress *last,
                   tg_error *err) {
    const int B = tg_net_batch(net);
    const size_t img = (size_t)d->c * d->h * d->w;
    if (d->n < 1 || cfg->epochs <= 0)
        return tg_error_set(err, TG_ERR_ARG, "train: %lld images, %g epochs",
                            (long long)d->n, cfg->epochs);
    const long steps_per_epoch = (long)((d->n + B - 1) / B);
    const long total = (long)ceil(cfg->epochs * steps_per_epoch - 1e-9);
    int32_t *order = malloc(sizeof(int32_t) * d->n);
    float *xb = malloc(sizeof(float) * img * B);
    int32_t *yb = malloc(sizeof(int32_t) * B);
    tg_status st = TG_OK;
    if (!order || !xb || !yb) {
        st = tg_error_set(err, TG_ERR_NOMEM, "train: out of memory");
        goto done;
    }
    tg_train_progress pr = {0};
    double t0 = now_s();
    int64_t seen = 0;
    for (long step = 0; step < total; step++) {
        long in_epoch = step % steps_per_epoch;
        if (in_epoch == 0) {
            for (int64_t i = 0; i < d->n; i++) order[i] = (int32_t)i;
            tg_rng_shuffle_i32(rng, order, d->n);
        }
        int64_t first = in_epoch * B;
        int nb = (int)(d->n - first < B ? d->n - first : B);
        for (int i = 0; i < nb; i++) {
            memcpy(xb + i * img, d->x + (size_t)order[first + i] * img, sizeof(float) * img);
            yb[i] = d->y[order[first + i]];
        }
        double epoch = (double)step / steps_per_epoch, loss;
        int correct;
        if ((st = tg_net_forward(net, xb, nb, 1, err)) != TG_OK) goto done;
        if ((st = tg_net_loss(net, yb, &loss, &correct, err)) != TG_OK) {
            if (st == TG_ERR_NUMERIC)
                tg_error_set(err, st, "train: loss is %g at step %ld (epoch %.3f): "
                             "the run diverged", loss, step, epoch);
            goto done;
        }
        tg_net_backward(net);
        tg_optim_step(o, tg_lr_at(&cfg->lr, epoch));
        seen += nb;
        pr.epoch = (double)(step + 1) / steps_per_epoch;
        pr.step = step + 1;
        pr.loss = loss;
        pr.acc = (double)correct / nb;
        pr.img_s = seen / (now_s() - t0 + 1e-9);
        if (cfg->on_step && cfg->on_step(&pr, cfg->user)) break;
    }
    if (last) *last = pr;
done:
    free(order);
    free(xb);
    free(yb);
    return st;
}

tg_status tg_evaluate(tg_net *net, const tg_tensor_set *d, double *acc,
                      double *loss, tg_error *err) {
    const int B = tg_net_batch(net);
    const size_t img = (size_t)d->c * d->h * d->w;
    double sum_loss = 0;
    int64_t right = 0;
    for (int64_t i = 0; i < d->n; i += B) {
        int nb = (int)(d->n - i < B ? d->n - i : B);
        double l;
        int c;
        tg_status st = tg_net_forward(net, d->x + i * img, nb, 0, err);
        if (st == TG_OK) st = tg_net_loss(net, d->y + i, &l, &c, err);
        if (st != TG_OK) return st;
        sum_loss += l * nb;
        right += c;
    }
    if (acc) *acc = d->n ? (double)right / d->n : 0;
    if (loss) *loss = d->n ? sum_loss / d->n : 0;
    return TG_OK;
}
