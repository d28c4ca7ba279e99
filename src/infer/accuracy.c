/* accuracy.c - a network run over images of a dataset (see accuracy.h).
 *
 * One batch buffer of the net's batch size is the only allocation; images
 * are standardised into it in parallel (tg_dataset_images) and the net's
 * activations are handed to the caller batch by batch, so no caller needs
 * every activation of every image at once. */
#include "tgsage/accuracy.h"

#include <stdlib.h>

tg_status tg_forward_images(tg_net *net, const tg_dataset *d, const int32_t *idx, int64_t n,
                            tg_forward_fn fn, void *user, tg_error *err) {
    const tg_graph *g = tg_net_graph(net);
    int c, h, w;
    tg_graph_node_shape(g, 0, &c, &h, &w);
    if (d->c != c || d->h != h || d->w != w)
        return tg_error_set(err, TG_ERR_SHAPE, "%s has %dx%dx%d images; the network takes "
                            "%dx%dx%d", d->source, d->c, d->h, d->w, c, h, w);
    if (n < 0 || (!idx && n > d->n))
        return tg_error_set(err, TG_ERR_ARG, "forward: %lld images of %s, which has %lld",
                            (long long)n, d->source, (long long)d->n);
    for (int64_t i = 0; idx && i < n; i++)
        if (idx[i] < 0 || idx[i] >= d->n)
            return tg_error_set(err, TG_ERR_ARG, "forward: image index %d (position %lld) is "
                                "outside %s, which has %lld images", idx[i], (long long)i,
                                d->source, (long long)d->n);
    const int B = tg_net_batch(net);
    float *x = malloc(sizeof(float) * (size_t)c * h * w * (size_t)B);
    if (!x)
        return tg_error_set(err, TG_ERR_NOMEM, "forward: out of memory for a batch of %d "
                            "images", B);
    tg_status st = TG_OK;
    for (int64_t i = 0; i < n && st == TG_OK; i += B) {
        int nb = (int)(n - i < B ? n - i : B);
        tg_dataset_images(d, idx ? idx + i : NULL, idx ? 0 : i, nb, x);
        st = tg_net_forward(net, x, nb, 0, err);
        if (st == TG_OK && fn) st = fn(net, i, nb, user, err);
    }
    free(x);
    return st;
}

typedef struct {
    const int32_t *labels;
    double sum_loss;
    int64_t right;
} score_acc;

static tg_status score_batch(tg_net *net, int64_t first, int nb, void *user, tg_error *err) {
    score_acc *s = user;
    double l = 0;
    int c = 0;
    tg_status st = tg_net_loss(net, s->labels + first, &l, &c, err);
    if (st != TG_OK) return st;
    s->sum_loss += l * nb;
    s->right += c;
    return TG_OK;
}

tg_status tg_evaluate(tg_net *net, const tg_dataset *d, double *acc, double *loss,
                      tg_error *err) {
    if (d->n < 1)
        return tg_error_set(err, TG_ERR_ARG, "evaluate: %s has no images", d->source);
    score_acc s = {d->labels, 0, 0};
    tg_status st = tg_forward_images(net, d, NULL, d->n, score_batch, &s, err);
    if (st != TG_OK) return st;
    if (acc) *acc = (double)s.right / (double)d->n;
    if (loss) *loss = s.sum_loss / (double)d->n;
    return TG_OK;
}
