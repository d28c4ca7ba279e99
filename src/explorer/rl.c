/* rl.c - the RL explorer: the paper's LSTM controller (rl_ctrl.c) trained
 * with REINFORCE.
 *
 * A proposal is a point sampled from the controller (Boltzmann, never
 * greedy) with e->rng. Results count in the order they are told; each time
 * cfg.rl_batch of them have arrived, one update:
 *   R_k     the score; a failed candidate gets the lowest score of any
 *           successful one told so far (if none was, the batch holds only
 *           failures and is dropped: there is nothing to compare)
 *   b       moving-average baseline, set to the first batch's mean reward,
 *           then after each update b = d*b + (1-d)*R_k for each R_k in told
 *           order (d = cfg.rl_baseline_decay)
 *   loss    -(1/B) sum_k (R_k - b) log pi(x_k), the log-probability of the
 *           point as sampled (recomputed from the point: the forward pass is
 *           deterministic given it)
 *   step    gradient clipped to global norm 1, Adam with beta1 = 0 (so the
 *           first moment is the gradient itself and is not stored),
 *           beta2 = 0.999, eps = 1e-8, lr = cfg.rl_lr.
 * The initial weights (rl_ctrl.h) come from a stream of their own seeded by
 * cfg.seed, so e->rng serves the samples only. The saved state holds the weights and
 * Adam's second moment bit for bit (little-endian float32 in base64), the
 * step count, the baseline and the results waiting for their batch, so a
 * loaded explorer continues exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explorer_internal.h"
#include "rl_ctrl.h"

#define RL_BETA2 0.999
#define RL_EPS 1e-8
#define RL_CLIP 1.0

typedef struct {
    tg_rl_ctrl *ctrl;
    int64_t np;
    float *params, *grad, *v;      /* one slab of 3 * np */
    int64_t adam_t;                /* updates made */
    double baseline;
    int baseline_set;
    int64_t *batch;                /* ids told since the last update */
    int nbatch;
    double *reward;                /* scratch, rl_batch */
} rl_state;

static tg_status check_config(const tg_explorer_config *c, tg_error *err) {
    if (c->rl_batch < 1 || c->rl_batch > 100000)
        return tg_error_set(err, TG_ERR_ARG, "rl_batch: %d is out of range 1..100000",
                            c->rl_batch);
    if (!(c->rl_lr > 0) || !isfinite(c->rl_lr))
        return tg_error_set(err, TG_ERR_ARG, "rl_lr: %g must be positive and finite",
                            c->rl_lr);
    if (!(c->rl_baseline_decay >= 0 && c->rl_baseline_decay < 1))
        return tg_error_set(err, TG_ERR_ARG,
                            "rl_baseline_decay: %g is out of range [0, 1)",
                            c->rl_baseline_decay);
    return TG_OK;
}

static void rl_free(tg_explorer *e) {
    rl_state *s = e->st;
    if (!s) return;
    tg_rl_ctrl_free(s->ctrl);
    free(s->params);
    free(s->batch);
    free(s->reward);
    free(s);
    e->st = NULL;
}

static tg_status rl_init(tg_explorer *e, tg_error *err) {
    if (check_config(&e->cfg, err) != TG_OK) return err ? err->status : TG_ERR_ARG;
    rl_state *s = calloc(1, sizeof *s);
    if (!s) return tg_error_set(err, TG_ERR_NOMEM, "rl: out of memory");
    e->st = s;
    s->ctrl = tg_rl_ctrl_new(e->space, e->cfg.rl_hidden, err);
    if (!s->ctrl) {
        tg_status st = err ? err->status : TG_ERR_ARG;
        rl_free(e);
        return st;
    }
    s->np = tg_rl_ctrl_nparams(s->ctrl);
    s->params = calloc((size_t)s->np * 3, sizeof(float));
    s->batch = calloc((size_t)e->cfg.rl_batch, sizeof(int64_t));
    s->reward = calloc((size_t)e->cfg.rl_batch, sizeof(double));
    if (!s->params || !s->batch || !s->reward) {
        rl_free(e);
        return tg_error_set(err, TG_ERR_NOMEM, "rl: out of memory for %lld weights",
                            (long long)s->np);
    }
    s->grad = s->params + s->np;
    s->v = s->grad + s->np;
    tg_rng r;
    tg_rng_seed(&r, tg_rng_derive(e->cfg.seed, TG_STREAM_RL_INIT));
    tg_rl_ctrl_init(s->ctrl, s->params, &r);
    return TG_OK;
}

static tg_status rl_propose(tg_explorer *e, int *x, tg_error *err) {
    rl_state *s = e->st;
    double lp;
    return tg_rl_ctrl_forward(s->ctrl, s->params, x, &e->rng, &lp, err);
}

/* One REINFORCE step on the full batch. */
static tg_status update(tg_explorer *e, tg_error *err) {
    rl_state *s = e->st;
    int B = s->nbatch;
    s->nbatch = 0;
    int have_ok = 0;
    double lowest = 0;
    for (int64_t i = 0; i < e->n; i++)
        if (e->trials[i].state == TG_TRIAL_OK &&
            (!have_ok || e->trials[i].score < lowest)) {
            lowest = e->trials[i].score;
            have_ok = 1;
        }
    if (!have_ok) return TG_OK;   /* only failures so far: nothing to learn */
    double mean = 0;
    for (int k = 0; k < B; k++) {
        const tg_trial *t = &e->trials[s->batch[k]];
        s->reward[k] = t->state == TG_TRIAL_OK ? t->score : lowest;
        mean += s->reward[k] / B;
    }
    if (!s->baseline_set) {
        s->baseline = mean;
        s->baseline_set = 1;
    }
    memset(s->grad, 0, (size_t)s->np * sizeof(float));
    for (int k = 0; k < B; k++) {
        int *x = e->trials[s->batch[k]].x;
        double lp;
        tg_status st = tg_rl_ctrl_forward(s->ctrl, s->params, x, NULL, &lp, err);
        if (st != TG_OK) return st;
        float g = (float)(-(s->reward[k] - s->baseline) / B);
        tg_rl_ctrl_backward(s->ctrl, s->params, x, s->grad, g);
    }
    double norm = 0;
    for (int64_t i = 0; i < s->np; i++) norm += (double)s->grad[i] * s->grad[i];
    norm = sqrt(norm);
    if (!isfinite(norm))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "rl: the policy gradient is not finite (rewards around %g, "
                            "baseline %g): scale the scores down", s->reward[0], s->baseline);
    double clip = norm > RL_CLIP ? RL_CLIP / norm : 1.0;
    s->adam_t++;
    double bc2 = 1.0 - pow(RL_BETA2, (double)s->adam_t), lr = e->cfg.rl_lr;
    for (int64_t i = 0; i < s->np; i++) {
        double g = s->grad[i] * clip;
        double v = RL_BETA2 * s->v[i] + (1.0 - RL_BETA2) * g * g;
        s->v[i] = (float)v;
        s->params[i] = (float)(s->params[i] - lr * g / (sqrt(v / bc2) + RL_EPS));
    }
    double d = e->cfg.rl_baseline_decay;
    for (int k = 0; k < B; k++) s->baseline = d * s->baseline + (1.0 - d) * s->reward[k];
    return TG_OK;
}

static tg_status rl_tell(tg_explorer *e, int64_t id, tg_error *err) {
    rl_state *s = e->st;
    s->batch[s->nbatch++] = id;
    return s->nbatch == e->cfg.rl_batch ? update(e, err) : TG_OK;
}

/* ---- the saved state ---- */

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *floats_b64(const float *a, int64_t n) {
    size_t nb = (size_t)n * 4, len = (nb + 2) / 3 * 4;
    unsigned char *raw = malloc(nb + 3);
    char *out = malloc(len + 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &a[i], 4);
        for (int b = 0; b < 4; b++) raw[i * 4 + b] = (unsigned char)(u >> (8 * b));
    }
    memset(raw + nb, 0, 3);
    size_t o = 0;
    for (size_t i = 0; i < nb; i += 3) {
        uint32_t w = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = B64[w >> 18];
        out[o++] = B64[(w >> 12) & 63];
        out[o++] = i + 1 < nb ? B64[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < nb ? B64[w & 63] : '=';
    }
    out[o] = 0;
    free(raw);
    return out;
}

static int b64_value(char ch) {
    const char *p = ch ? strchr(B64, ch) : NULL;
    return p ? (int)(p - B64) : -1;
}

/* Decode exactly n floats from text; 0 on success. */
static int b64_floats(const char *text, float *a, int64_t n) {
    size_t nb = (size_t)n * 4, len = strlen(text);
    if (len != (nb + 2) / 3 * 4) return -1;
    size_t o = 0;
    uint32_t u = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            v[j] = text[i + j] == '=' && i + 4 == len && j >= 2 ? 0 : b64_value(text[i + j]);
            if (v[j] < 0) return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        for (int j = 0; j < 3 && o < nb; j++, o++) {
            u |= ((w >> (16 - 8 * j)) & 255u) << (8 * (o % 4));
            if (o % 4 == 3) {
                memcpy(&a[o / 4], &u, 4);
                u = 0;
            }
        }
    }
    return 0;
}

static tg_status rl_save(const tg_explorer *e, cJSON *into, tg_error *err) {
    const rl_state *s = e->st;
    char *p = floats_b64(s->params, s->np), *v = floats_b64(s->v, s->np);
    cJSON *batch = cJSON_CreateArray();
    int ok = p && v && batch;
    for (int k = 0; ok && k < s->nbatch; k++)
        ok = cJSON_AddItemToArray(batch, cJSON_CreateNumber((double)s->batch[k]));
    ok = ok && cJSON_AddNumberToObject(into, "nparams", (double)s->np) &&
         cJSON_AddStringToObject(into, "params", p) &&
         cJSON_AddStringToObject(into, "adam_v", v) &&
         cJSON_AddNumberToObject(into, "adam_t", (double)s->adam_t) &&
         cJSON_AddBoolToObject(into, "baseline_set", s->baseline_set) &&
         cJSON_AddNumberToObject(into, "baseline", s->baseline);
    if (ok) {
        ok = cJSON_AddItemToObject(into, "batch_ids", batch);
        batch = NULL;
    }
    cJSON_Delete(batch);
    free(p);
    free(v);
    return ok ? TG_OK : tg_error_set(err, TG_ERR_NOMEM, "rl: out of memory saving the state");
}

static const cJSON *field(const cJSON *from, const char *name, int is_string,
                          tg_error *err) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(from, name);
    if (!f || (is_string ? !cJSON_IsString(f) : !cJSON_IsNumber(f))) {
        tg_error_set(err, TG_ERR_FORMAT, "algo_state.%s: missing or not a %s", name,
                     is_string ? "string" : "number");
        return NULL;
    }
    return f;
}

static tg_status rl_load(tg_explorer *e, const cJSON *from, tg_error *err) {
    rl_state *s = e->st;
    const cJSON *np = field(from, "nparams", 0, err);
    const cJSON *p = np ? field(from, "params", 1, err) : NULL;
    const cJSON *v = p ? field(from, "adam_v", 1, err) : NULL;
    const cJSON *t = v ? field(from, "adam_t", 0, err) : NULL;
    const cJSON *b = t ? field(from, "baseline", 0, err) : NULL;
    if (!b) return TG_ERR_FORMAT;
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(from, "baseline_set");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(from, "batch_ids");
    if (!cJSON_IsBool(bs))
        return tg_error_set(err, TG_ERR_FORMAT, "algo_state.baseline_set: missing or not a boolean");
    if (!cJSON_IsArray(ids))
        return tg_error_set(err, TG_ERR_FORMAT, "algo_state.batch_ids: missing or not an array");
    if (np->valuedouble != (double)s->np)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "algo_state.nparams: %.0f, but this space and rl_hidden "
                            "%d give %lld", np->valuedouble, e->cfg.rl_hidden,
                            (long long)s->np);
    if (b64_floats(p->valuestring, s->params, s->np) ||
        b64_floats(v->valuestring, s->v, s->np))
        return tg_error_set(err, TG_ERR_FORMAT,
                            "algo_state.params or adam_v: not %lld float32 in base64",
                            (long long)s->np);
    if (!(t->valuedouble >= 0 && t->valuedouble <= 9e15 &&
          t->valuedouble == floor(t->valuedouble)))
        return tg_error_set(err, TG_ERR_FORMAT, "algo_state.adam_t: %g is not a count",
                            t->valuedouble);
    int n = cJSON_GetArraySize(ids);
    if (n >= e->cfg.rl_batch)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "algo_state.batch_ids: %d ids, but rl_batch is %d", n,
                            e->cfg.rl_batch);
    for (int k = 0; k < n; k++) {
        const cJSON *id = cJSON_GetArrayItem(ids, k);
        double d = cJSON_IsNumber(id) ? id->valuedouble : -1;
        if (!(d >= 0 && d < (double)e->n && d == floor(d)) ||
            e->trials[(int64_t)d].state == TG_TRIAL_PENDING)
            return tg_error_set(err, TG_ERR_FORMAT,
                                "algo_state.batch_ids[%d]: not a told trial", k);
        s->batch[k] = (int64_t)d;
    }
    s->nbatch = n;
    s->adam_t = (int64_t)t->valuedouble;
    s->baseline = b->valuedouble;
    s->baseline_set = cJSON_IsTrue(bs);
    return TG_OK;
}

const tg_algo tg_algo_rl = {
    .name = "rl",
    .init = rl_init,
    .free = rl_free,
    .propose = rl_propose,
    .tell = rl_tell,
    .save = rl_save,
    .load = rl_load,
};
