/* bn_recal.c - batch-norm running statistics recomputed from the weights
 * the net has now (tg_bn_recalibrate, accuracy.h).
 *
 * A briefly trained net's running statistics are an exponential average
 * over weights it no longer has. PyTorch's recipe (momentum None: the
 * cumulative average) replaces them with the plain average of the batch
 * statistics, each batch forwarded in training mode so that every BN sees
 * inputs normalised by batch statistics upstream, as in training. The
 * engine updates a running statistic as run = (1 - m) run + m batch with
 * the batch mean and the unbiased batch variance; started from 0 one
 * training-mode forward leaves m * batch, so per batch: zero the state,
 * forward, read it back divided by m, accumulate in double. */
#include <stdlib.h>
#include <string.h>

#include "tgsage/accuracy.h"
#include "tgsage/rng.h"

/* The engine's BN momentum (net.c's tg_bn_shape, PyTorch's default), as
 * the float the engine multiplies by. test_bn_recal.c holds this to the
 * statistics computed from the layer inputs directly. */
static const double ENGINE_MOMENTUM = 0.1f;

tg_status tg_bn_recalibrate(tg_net *net, const tg_dataset *d, int batches, uint64_t seed,
                            tg_error *err) {
    int ns = 0;
    tg_param *state = tg_net_state(net, &ns);
    if (ns == 0) return TG_OK;  /* no BN: nothing to recompute */
    if (batches < 1)
        return tg_error_set(err, TG_ERR_ARG, "bn recalibration: %d batches (need at least 1)",
                            batches);
    if (d->n < 2)
        return tg_error_set(err, TG_ERR_ARG, "bn recalibration: %s has %lld images (need at "
                            "least 2)", d->source, (long long)d->n);
    const tg_graph *g = tg_net_graph(net);
    int c, h, w;
    tg_graph_node_shape(g, 0, &c, &h, &w);
    if (d->c != c || d->h != h || d->w != w)
        return tg_error_set(err, TG_ERR_SHAPE, "%s has %dx%dx%d images; the network takes "
                            "%dx%dx%d", d->source, d->c, d->h, d->w, c, h, w);
    const int B = tg_net_batch(net);
    /* full batches of the net's size; a set smaller than one batch is one
     * (short) batch */
    int64_t total = (int64_t)batches * B;
    if (total > d->n) total = d->n >= B ? d->n / B * B : d->n;
    const int64_t nbatch = total >= B ? total / B : 1;

    size_t nstate = 0;
    for (int i = 0; i < ns; i++) nstate += state[i].size;
    int32_t *order = malloc(sizeof(int32_t) * (size_t)d->n);
    float *x = malloc(sizeof(float) * (size_t)c * h * w * (size_t)B);
    double *sum = calloc(nstate, sizeof(double));
    float *saved = malloc(sizeof(float) * nstate);
    if (!order || !x || !sum || !saved) {
        free(order), free(x), free(sum), free(saved);
        return tg_error_set(err, TG_ERR_NOMEM, "bn recalibration: out of memory");
    }
    for (int64_t i = 0; i < d->n; i++) order[i] = (int32_t)i;
    tg_rng r;
    tg_rng_seed(&r, seed);
    tg_rng_shuffle_partial_i32(&r, order, d->n, total);
    const int32_t *pick = order + (d->n - total);  /* a uniform total-subset */
    for (int i = 0, o = 0; i < ns; o += (int)state[i].size, i++)
        memcpy(saved + o, state[i].data, sizeof(float) * state[i].size);

    tg_status st = TG_OK;
    for (int64_t b = 0; b < nbatch && st == TG_OK; b++) {
        const int nb = (int)(total - b * B < B ? total - b * B : B);
        for (int i = 0; i < ns; i++) memset(state[i].data, 0, sizeof(float) * state[i].size);
        tg_dataset_images(d, pick + b * B, 0, nb, x);
        st = tg_net_forward(net, x, nb, 1, err);
        size_t o = 0;
        for (int i = 0; st == TG_OK && i < ns; i++)
            for (size_t j = 0; j < state[i].size; j++, o++)
                sum[o] += state[i].data[j] / ENGINE_MOMENTUM;
    }
    size_t o = 0;
    for (int i = 0; i < ns; i++)
        for (size_t j = 0; j < state[i].size; j++, o++)
            state[i].data[j] = st == TG_OK ? (float)(sum[o] / (double)nbatch) : saved[o];
    free(order), free(x), free(sum), free(saved);
    return st;
}
