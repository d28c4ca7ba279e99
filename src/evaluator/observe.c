/* observe.c - RDMs of a network's layers, subsampling features on the fly. */
#include <stdlib.h>
#include <string.h>

#include "tgsage/evaluator.h"

tg_status tg_observe_rdms(tg_net *net, const int *nodes, int nn, const tg_dataset *d,
                          const int32_t *images, int64_t n, tg_rdm_unit unit,
                          int64_t max_features, uint64_t seed, double **rdms, int64_t *m,
                          tg_error *err) {
    const tg_graph *g = tg_net_graph(net);
    const int B = tg_net_batch(net);
    const size_t size = (size_t)d->c * d->h * d->w;
    if (nn < 1 || nn > TG_EVAL_MAX_LAYERS || n < 3)
        return tg_error_set(err, TG_ERR_ARG, "observe: %d layers over %lld images", nn,
                            (long long)n);
    int64_t *idx[TG_EVAL_MAX_LAYERS] = {0}, k[TG_EVAL_MAX_LAYERS], f[TG_EVAL_MAX_LAYERS];
    float *F[TG_EVAL_MAX_LAYERS] = {0};
    float *x = malloc(sizeof(float) * size * (size_t)B);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    tg_status st = TG_OK;
    int oom = !x || !labels;
    for (int l = 0; l < nn && !oom; l++) {
        int c, h, w;
        tg_graph_node_shape(g, nodes[l], &c, &h, &w);
        f[l] = (int64_t)c * h * w;
        idx[l] = malloc(sizeof(int64_t) * (size_t)f[l]);
        if (!idx[l]) {
            oom = 1;
            break;
        }
        /* each layer its own subsample, reproducible from (seed, position) */
        k[l] = tg_rsa_subsample(f[l], max_features, seed * 1000003u + (uint64_t)l, idx[l]);
        F[l] = malloc(sizeof(float) * (size_t)(n * k[l]));
        oom |= !F[l];
    }
    if (oom) {
        st = tg_error_set(err, TG_ERR_NOMEM, "observe: out of memory for %lld images",
                          (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i += B) {
        int nb = (int)(n - i < B ? n - i : B);
        for (int j = 0; j < nb; j++) {
            if (images[i + j] < 0 || images[i + j] >= d->n) {
                st = tg_error_set(err, TG_ERR_ARG, "observe: image index %d outside %s",
                                  images[i + j], d->source);
                goto done;
            }
            labels[i + j] = d->labels[images[i + j]];
        }
        tg_dataset_images(d, images + i, 0, nb, x);
        if ((st = tg_net_forward(net, x, nb, 0, err)) != TG_OK) goto done;
        for (int l = 0; l < nn; l++) {
            const float *a = tg_net_activation(net, nodes[l]);
            if (!a) {
                st = tg_error_set(err, TG_ERR_ARG, "observe: node %d keeps no output", nodes[l]);
                goto done;
            }
            for (int j = 0; j < nb; j++) {
                const float *row = a + (size_t)j * f[l];
                float *dst = F[l] + (size_t)(i + j) * k[l];
                for (int64_t q = 0; q < k[l]; q++) dst[q] = row[idx[l][q]];
            }
        }
    }
    for (int l = 0; l < nn; l++) rdms[l] = NULL;
    for (int l = 0; l < nn && st == TG_OK; l++) {
        /* columns are subsampled already: keep them all */
        st = tg_rdm_compute(F[l], n, k[l], labels, unit, 0, seed, &rdms[l], m, err);
        free(F[l]);
        F[l] = NULL;
    }
    if (st != TG_OK)
        for (int l = 0; l < nn; l++) free(rdms[l]), rdms[l] = NULL;
done:
    for (int l = 0; l < nn; l++) free(idx[l]), free(F[l]);
    free(x);
    free(labels);
    return st;
}
