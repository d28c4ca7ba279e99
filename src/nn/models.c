/* models.c - the built-in networks (see models.h). */
#include "tgsage/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int conv_bn(tg_graph *g, int in, int k, int kh, int kw, int stride, int relu) {
    int x = tg_graph_bn(g, tg_graph_conv2d(g, in, k, kh, kw, stride, 1, 1, 0));
    return relu ? tg_graph_relu(g, x) : x;
}

static int resnet(tg_graph *g, int n) {
    int x = conv_bn(g, 0, 16, 3, 3, 1, 1);
    int c = 16;
    static const char *names[3] = {"L1", "L2", "L3"};
    for (int stage = 0; stage < 3; stage++) {
        int width = 16 << stage;
        for (int b = 0; b < n; b++) {
            int stride = (b == 0 && stage > 0) ? 2 : 1;
            int y = conv_bn(g, x, width, 3, 3, stride, 1);
            y = conv_bn(g, y, width, 3, 3, 1, 0);
            int sc = (stride != 1 || c != width) ? conv_bn(g, x, width, 1, 1, stride, 0) : x;
            x = tg_graph_relu(g, tg_graph_add(g, y, sc));
            c = width;
        }
        tg_graph_name(g, x, names[stage]);
    }
    return tg_graph_gap(g, x);
}

int tg_model_layerwise(tg_graph *g, int nlayers, const tg_layerwise_layer *L) {
    int *out = malloc(sizeof(int) * (nlayers + 1));
    if (!out) return tg_graph_fail(g, "out of memory");
    int last = -1;
    for (int i = 0; i < nlayers; i++) {
        int ins[32];
        if (L[i].nin < 1 || L[i].nin > 32) {
            last = tg_graph_fail(g, "layer %d: %d inputs", i, L[i].nin);
            break;
        }
        for (int j = 0; j < L[i].nin; j++) {
            int src = L[i].in[j];
            if (src < -1 || src >= i) {
                last = tg_graph_fail(g, "layer %d: input %d is not the image or an "
                                     "earlier layer", i, src);
                goto done;
            }
            ins[j] = src < 0 ? 0 : out[src];
        }
        int x = L[i].nin == 1 ? ins[0] : tg_graph_concat(g, L[i].nin, ins);
        last = out[i] = conv_bn(g, x, L[i].filters, L[i].kh, L[i].kw, L[i].stride, 1);
        char name[32];
        snprintf(name, sizeof name, "layer%d", i);
        tg_graph_name(g, last, name);
    }
done:
    free(out);
    return last;
}

static const tg_layerwise_layer CANDIDATE6[6] = {
    {64, 3, 3, 1, 1, {-1}}, {64, 5, 5, 1, 1, {0}},   {128, 3, 3, 2, 2, {1, 0}},
    {128, 3, 1, 1, 1, {2}}, {64, 1, 3, 1, 1, {3}},   {128, 3, 3, 2, 2, {4, 2}},
};

tg_graph *tg_model_build(const char *spec, int c, int h, int w, int classes,
                         tg_error *err) {
    tg_graph *g = tg_graph_new(c, h, w);
    if (!g) {
        tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    int x, n;
    char tail;
    if (sscanf(spec, "resnet:%d%c", &n, &tail) == 1) {
        if (n < 1 || n > 200) {
            tg_error_set(err, TG_ERR_ARG, "net '%s': resnet:N needs 1 <= N <= 200", spec);
            tg_graph_free(g);
            return NULL;
        }
        x = resnet(g, n);
    } else if (strcmp(spec, "small3") == 0) {
        int strides[3] = {1, 2, 1};
        x = 0;
        for (int i = 0; i < 3; i++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d", i);
            x = tg_graph_name(g, conv_bn(g, x, 32, 3, 3, strides[i], 1), name);
        }
        x = tg_graph_gap(g, x);
    } else if (strcmp(spec, "candidate6") == 0) {
        x = tg_graph_gap(g, tg_model_layerwise(g, 6, CANDIDATE6));
    } else {
        tg_error_set(err, TG_ERR_ARG,
                     "unknown net '%s' (built in: resnet:N, small3, candidate6)", spec);
        tg_graph_free(g);
        return NULL;
    }
    tg_graph_linear(g, x, classes);
    if (tg_graph_error(g)) {
        tg_error_set(err, TG_ERR_SHAPE, "net '%s': %s", spec, tg_graph_error(g));
        tg_graph_free(g);
        return NULL;
    }
    return g;
}
