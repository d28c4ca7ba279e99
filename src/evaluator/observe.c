/* observe.c - RDMs of a network's layers, subsampling features on the fly,
 * and of the raw images (TG's floor).
 *
 * Per layer, the column subsample is drawn once; each batch's activations
 * are reduced to those columns as they come out of the forward pass
 * (tg_forward_images), so only n x k floats per layer are ever kept. */
#include <stdlib.h>
#include <string.h>

#include "tgsage/accuracy.h"
#include "tgsage/evaluator.h"

typedef struct {
    const int *nodes;
    int nn;
    int64_t **idx;   /* per layer: the k[l] sampled columns */
    int64_t *k, *f;  /* per layer: columns kept and all columns */
    float **F;       /* per layer: n x k[l] */
} gather;

/* Layer l's column subsample: its own stream of seed, so it is the same
 * whatever the other layers are. */
static uint64_t layer_seed(uint64_t seed, int l) {
    return tg_rng_derive(tg_rng_derive(seed, TG_STREAM_OBSERVE), (uint64_t)l);
}

static tg_status gather_batch(tg_net *net, int64_t first, int nb, void *user, tg_error *err) {
    const gather *o = user;
    for (int l = 0; l < o->nn; l++) {
        const float *a = tg_net_activation(net, o->nodes[l]);
        if (!a)
            return tg_error_set(err, TG_ERR_ARG, "observe: node %d keeps no output",
                                o->nodes[l]);
        for (int j = 0; j < nb; j++) {
            const float *row = a + (size_t)j * o->f[l];
            float *dst = o->F[l] + (size_t)(first + j) * o->k[l];
            for (int64_t q = 0; q < o->k[l]; q++) dst[q] = row[o->idx[l][q]];
        }
    }
    return TG_OK;
}

tg_status tg_observe_rdms(tg_net *net, const int *nodes, int nn, const tg_dataset *d,
                          const int32_t *images, int64_t n, tg_rdm_unit unit,
                          int64_t max_features, uint64_t seed, double **rdms, int64_t *m,
                          tg_error *err) {
    const tg_graph *g = tg_net_graph(net);
    if (nn < 1 || n < 3)
        return tg_error_set(err, TG_ERR_ARG, "observe: %d layers over %lld images (need at "
                            "least 1 layer and 3 images)", nn, (long long)n);
    for (int l = 0; l < nn; l++) {
        rdms[l] = NULL;
        if (nodes[l] < 0 || nodes[l] >= tg_graph_nodes(g))
            return tg_error_set(err, TG_ERR_ARG, "observe: node %d does not exist", nodes[l]);
    }
    gather o = {nodes, nn, calloc((size_t)nn, sizeof(int64_t *)),
                malloc(sizeof(int64_t) * (size_t)nn), malloc(sizeof(int64_t) * (size_t)nn),
                calloc((size_t)nn, sizeof(float *))};
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    tg_status st = TG_OK;
    int oom = !o.idx || !o.k || !o.f || !o.F || !labels;
    for (int l = 0; l < nn && !oom; l++) {
        int c, h, w;
        tg_graph_node_shape(g, nodes[l], &c, &h, &w);
        o.f[l] = (int64_t)c * h * w;
        o.idx[l] = malloc(sizeof(int64_t) * (size_t)o.f[l]);
        if (!o.idx[l]) {
            oom = 1;
            break;
        }
        /* each layer its own subsample, reproducible from (seed, position) */
        o.k[l] = tg_rsa_subsample(o.f[l], max_features, layer_seed(seed, l), o.idx[l]);
        o.F[l] = malloc(sizeof(float) * (size_t)(n * o.k[l]));
        oom |= !o.F[l];
    }
    if (oom) {
        st = tg_error_set(err, TG_ERR_NOMEM, "observe: out of memory for %d layers of %lld "
                          "images", nn, (long long)n);
        goto done;
    }
    st = tg_forward_images(net, d, images, n, gather_batch, &o, err);
    for (int64_t i = 0; st == TG_OK && i < n; i++) labels[i] = d->labels[images ? images[i] : i];
    for (int l = 0; l < nn && st == TG_OK; l++) {
        /* columns are subsampled already: keep them all */
        st = tg_rdm_compute(o.F[l], n, o.k[l], labels, unit, 0, seed, &rdms[l], m, err);
        free(o.F[l]);
        o.F[l] = NULL;
    }
    if (st != TG_OK)
        for (int l = 0; l < nn; l++) free(rdms[l]), rdms[l] = NULL;
done:
    for (int l = 0; l < nn; l++) {
        if (o.idx) free(o.idx[l]);
        if (o.F) free(o.F[l]);
    }
    free(o.idx), free(o.k), free(o.f), free(o.F);
    free(labels);
    return st;
}

tg_status tg_pixel_rdm(const tg_dataset *d, const tg_teacher *t, double **rdm, int64_t *m,
                       tg_error *err) {
    *rdm = NULL, *m = 0;
    if (t->n < 3)
        return tg_error_set(err, TG_ERR_ARG, "pixels: the teacher covers %lld images (it is "
                            "not tied to images of a split, or too few)", (long long)t->n);
    tg_status st = tg_teacher_check_data(t, d, err);
    if (st != TG_OK) return st;
    const int64_t f = (int64_t)d->c * d->h * d->w, n = t->n;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)f);
    float *img = malloc(sizeof(float) * (size_t)f), *F = NULL;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    if (!idx || !img || !labels) goto oom;
    const int64_t k = tg_rsa_subsample(f, t->max_features, layer_seed(t->seed, 0), idx);
    F = malloc(sizeof(float) * (size_t)(n * k));
    if (!F) goto oom;
    for (int64_t i = 0; i < n; i++) {
        tg_dataset_image(d, t->images[i], img);
        for (int64_t q = 0; q < k; q++) F[i * k + q] = img[idx[q]];
        labels[i] = d->labels[t->images[i]];
    }
    st = tg_rdm_compute(F, n, k, labels, t->unit, 0, t->seed, rdm, m, err);
    goto done;
oom:
    st = tg_error_set(err, TG_ERR_NOMEM, "pixels: out of memory for %lld images of %lld "
                      "values", (long long)n, (long long)f);
done:
    free(idx), free(img), free(F), free(labels);
    return st;
}
