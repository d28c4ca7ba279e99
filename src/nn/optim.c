/* optim.c - SGD (momentum, Nesterov, weight decay), RMSProp, LR schedules.
 *
 * Update rules, as torch.optim (so runs can be compared with PyTorch):
 *   SGD:     g += wd*p; buf = mu*buf + g (buf = g at the first step);
 *            p -= lr * (nesterov ? g + mu*buf : buf)
 *   RMSProp: g += wd*p; sq = a*sq + (1-a)*g^2; buf = mu*buf + g/(sqrt(sq)+eps);
 *            p -= lr*buf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/optim.h"

struct tg_optim {
    tg_opt_config cfg;
    tg_net *net;
    float *slab;      /* buf (n) then, for RMSProp, sq (n) */
    size_t n;
    long steps;
};

tg_optim *tg_optim_new(const tg_opt_config *cfg, tg_net *net, tg_error *err) {
    if (cfg->momentum < 0 || cfg->weight_decay < 0 || cfg->clip_norm < 0 ||
        (cfg->kind == TG_OPT_RMSPROP && (cfg->alpha <= 0 || cfg->alpha >= 1))) {
        tg_error_set(err, TG_ERR_ARG,
                     "optimizer: momentum %g, weight decay %g, clip %g, alpha %g "
                     "out of range",
                     cfg->momentum, cfg->weight_decay, cfg->clip_norm, cfg->alpha);
        return NULL;
    }
    if (cfg->nesterov && cfg->momentum <= 0) {
        tg_error_set(err, TG_ERR_ARG, "optimizer: Nesterov needs momentum > 0");
        return NULL;
    }
    tg_optim *o = calloc(1, sizeof *o);
    size_t n = tg_net_param_count(net);
    size_t slots = cfg->kind == TG_OPT_RMSPROP ? 2 : 1;
    if (o) o->slab = calloc(slots * n + 1, sizeof(float));
    if (!o || !o->slab) {
        free(o);
        tg_error_set(err, TG_ERR_NOMEM, "optimizer: out of memory");
        return NULL;
    }
    o->cfg = *cfg, o->net = net, o->n = n;
    return o;
}

void tg_optim_free(tg_optim *o) {
    if (!o) return;
    free(o->slab);
    free(o);
}

float *tg_optim_state(tg_optim *o, size_t *count) {
    *count = (o->cfg.kind == TG_OPT_RMSPROP ? 2 : 1) * o->n;
    return o->slab;
}

void tg_optim_step(tg_optim *o, double lr_d) {
    const tg_opt_config *c = &o->cfg;
    if (c->clip_norm > 0) tg_net_clip_grad_norm(o->net, c->clip_norm);
    int np;
    tg_param *ps = tg_net_params(o->net, &np);
    const float lr = (float)lr_d, mu = (float)c->momentum, wd = (float)c->weight_decay;
    const float a = (float)c->alpha, eps = (float)c->eps;
    float *buf = o->slab, *sq = o->slab + o->n;
    for (int i = 0; i < np; i++) {
        float *p = ps[i].data, *gr = ps[i].grad;
        const long sz = (long)ps[i].size;
        if (c->kind == TG_OPT_SGD) {
#pragma omp parallel for schedule(static) if (sz > 65536)
            for (long j = 0; j < sz; j++) {
                float g = gr[j] + wd * p[j];
                if (mu > 0) {
                    float b = mu * buf[j] + g;  /* buf starts at 0 */
                    buf[j] = b;
                    g = c->nesterov ? g + mu * b : b;
                }
                p[j] -= lr * g;
            }
        } else {
#pragma omp parallel for schedule(static) if (sz > 65536)
            for (long j = 0; j < sz; j++) {
                float g = gr[j] + wd * p[j];
                float s = a * sq[j] + (1 - a) * g * g;
                sq[j] = s;
                float step = g / (sqrtf(s) + eps);
                if (mu > 0) {
                    buf[j] = mu * buf[j] + step;
                    step = buf[j];
                }
                p[j] -= lr * step;
            }
            sq += sz;
        }
        buf += sz;
    }
    o->steps++;
}

double tg_lr_at(const tg_lr_schedule *s, double epoch) {
    switch (s->kind) {
    case TG_LR_CONSTANT:
        return s->lr;
    case TG_LR_STEP:
        return s->lr * pow(s->gamma, floor(epoch / s->step));
    case TG_LR_COSINE: {
        double t = s->total > 0 ? epoch / s->total : 1;
        if (t > 1) t = 1;
        return s->lr_min + (s->lr - s->lr_min) * 0.5 * (1 + cos(M_PI * t));
    }
    }
    return s->lr;
}

tg_status tg_lr_parse(const char *text, tg_lr_schedule *s, tg_error *err) {
    double lr = s->lr;
    memset(s, 0, sizeof *s);
    s->lr = lr;
    if (strcmp(text, "constant") == 0) {
        s->kind = TG_LR_CONSTANT;
        return TG_OK;
    }
    if (strcmp(text, "cosine") == 0) {
        s->kind = TG_LR_COSINE;
        return TG_OK;
    }
    double step, gamma;
    char tail;
    if (sscanf(text, "step:%lf:%lf%c", &step, &gamma, &tail) == 2 && step > 0 &&
        gamma > 0) {
        s->kind = TG_LR_STEP, s->step = step, s->gamma = gamma;
        return TG_OK;
    }
    return tg_error_set(err, TG_ERR_ARG,
                        "schedule '%s': expected constant, cosine or "
                        "step:EPOCHS:GAMMA (e.g. step:100:0.1)",
                        text);
}
