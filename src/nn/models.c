/* models.c - the built-in graph networks (see models.h). */
#include "tgsage/models.h"

#include <stdio.h>
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
    } else {
        tg_error_set(err, TG_ERR_ARG, "unknown net '%s' (built in: resnet:N, small3)", spec);
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
