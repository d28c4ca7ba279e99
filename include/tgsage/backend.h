/* backend.h - the seam between the network graph and the op implementations.
 *
 * The graph calls convolutions through a table of function pointers so that
 * another implementation (oneDNN on CPU today, a GPU later) can be swapped in
 * without touching graph code. A backend may keep a per-node plan (cached
 * primitives, reordered weights); the reference backend keeps none. Cheap
 * memory-bound ops (BN, ReLU, pooling, concat) run the reference code. */
#ifndef TGSAGE_BACKEND_H
#define TGSAGE_BACKEND_H

#include "tgsage/ops.h"

typedef struct tg_conv_plan tg_conv_plan;

typedef struct tg_backend {
    const char *name;
    /* Create the plan for one convolution of a fixed shape; NULL with err set
     * on failure. The reference backend returns a dummy non-NULL plan. */
    tg_conv_plan *(*conv_plan_new)(const tg_conv2d_shape *s, tg_error *err);
    void (*conv_plan_free)(tg_conv_plan *p);
    size_t (*conv_scratch_floats)(const tg_conv_plan *p);
    void (*conv_forward)(tg_conv_plan *p, const float *x, const float *wt,
                         const float *bias, float *y, float *scratch);
    /* as tg_conv2d_backward; dx may be NULL (the input needs no gradient) */
    void (*conv_backward)(tg_conv_plan *p, const float *x, const float *wt,
                          const float *dy, float *dx, int acc, float *dw,
                          float *db, float *scratch);
    /* Which channel-blocked layout (8, 16: nChw<B>c) the backend's blocked
     * kernels run x (side 0) or y (side 1) of a shape in, in every pass,
     * so that a plan made with that x_blk / y_blk can run without reorders
     * there; 0 if none. dx = 0: the backward-data pass never runs (the
     * input needs no gradient) and does not count. NULL when the backend
     * takes NCHW only. */
    int (*conv_blocked)(const tg_conv2d_shape *s, int side, int dx);
} tg_backend;

extern const tg_backend tg_backend_ref;   /* im2col + OpenBLAS SGEMM */
extern const tg_backend tg_backend_dnnl;  /* oneDNN primitives */

/* Look a backend up by name ("ref", "dnnl"); NULL if unknown. */
const tg_backend *tg_backend_find(const char *name);
/* The fastest backend built in. */
const tg_backend *tg_backend_default(void);

#endif
