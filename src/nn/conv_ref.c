/* conv_ref.c - reference 2-D convolution: im2col + OpenBLAS SGEMM.
 *
 * One image and one group at a time: the input patch matrix col
 * (c/g*kh*kw, oh*ow) times the group's weights (k/g, c/g*kh*kw) gives the
 * output plane directly in NCHW. Simple and exact; the gradient tests and
 * the other backends are checked against it. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/backend.h"
#include "tgsage/ops.h"

tg_status tg_conv2d_shape_init(tg_conv2d_shape *s, int n, int c, int h, int w,
                               int k, int kh, int kw, int stride, int dil,
                               int groups, tg_error *err) {
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || k <= 0)
        return tg_error_set(err, TG_ERR_SHAPE,
                            "conv2d: empty shape (n=%d c=%d h=%d w=%d k=%d)", n,
                            c, h, w, k);
    if (kh <= 0 || kw <= 0 || stride <= 0 || dil <= 0 || groups <= 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "conv2d: kernel %dx%d, stride %d, dilation %d, "
                            "groups %d: each must be positive",
                            kh, kw, stride, dil, groups);
    if (c % groups || k % groups)
        return tg_error_set(err, TG_ERR_ARG,
                            "conv2d: %d input and %d output channels are not "
                            "divisible by %d groups",
                            c, k, groups);
    s->n = n, s->c = c, s->h = h, s->w = w;
    s->k = k, s->kh = kh, s->kw = kw;
    s->stride = stride, s->dil = dil, s->groups = groups;
    s->x_blk = s->y_blk = 0;
    s->pad_h = dil * (kh - 1) / 2;
    s->pad_w = dil * (kw - 1) / 2;
    s->oh = (h + 2 * s->pad_h - dil * (kh - 1) - 1) / stride + 1;
    s->ow = (w + 2 * s->pad_w - dil * (kw - 1) - 1) / stride + 1;
    if (s->oh <= 0 || s->ow <= 0)
        return tg_error_set(err, TG_ERR_SHAPE,
                            "conv2d: kernel %dx%d (dilation %d) does not fit a "
                            "%dx%d input",
                            kh, kw, dil, h, w);
    return TG_OK;
}

size_t tg_conv2d_scratch_floats(const tg_conv2d_shape *s) {
    return (size_t)(s->c / s->groups) * s->kh * s->kw * s->oh * s->ow;
}

/* x (cg,h,w) -> col (cg*kh*kw, oh*ow) */
static void im2col(const tg_conv2d_shape *s, int cg, const float *x, float *col) {
    const int ohw = s->oh * s->ow;
#pragma omp parallel for collapse(2) schedule(static)
    for (int ci = 0; ci < cg; ci++)
        for (int q = 0; q < s->kh * s->kw; q++) {
            int i = q / s->kw, j = q % s->kw;
            float *dst = col + ((size_t)ci * s->kh * s->kw + q) * ohw;
            const float *src = x + (size_t)ci * s->h * s->w;
            for (int oy = 0; oy < s->oh; oy++) {
                int iy = oy * s->stride - s->pad_h + i * s->dil;
                float *d = dst + oy * s->ow;
                if (iy < 0 || iy >= s->h) {
                    memset(d, 0, sizeof(float) * s->ow);
                    continue;
                }
                for (int ox = 0; ox < s->ow; ox++) {
                    int ix = ox * s->stride - s->pad_w + j * s->dil;
                    d[ox] = (ix >= 0 && ix < s->w) ? src[iy * s->w + ix] : 0.0f;
                }
            }
        }
}

/* col (cg*kh*kw, oh*ow) -> dx (cg,h,w), added into dx */
static void col2im_add(const tg_conv2d_shape *s, int cg, const float *col,
                       float *dx) {
    const int ohw = s->oh * s->ow;
    /* parallel over channels only: taps of one channel overlap in dx */
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < cg; ci++)
        for (int q = 0; q < s->kh * s->kw; q++) {
            int i = q / s->kw, j = q % s->kw;
            const float *src = col + ((size_t)ci * s->kh * s->kw + q) * ohw;
            float *dst = dx + (size_t)ci * s->h * s->w;
            for (int oy = 0; oy < s->oh; oy++) {
                int iy = oy * s->stride - s->pad_h + i * s->dil;
                if (iy < 0 || iy >= s->h) continue;
                for (int ox = 0; ox < s->ow; ox++) {
                    int ix = ox * s->stride - s->pad_w + j * s->dil;
                    if (ix >= 0 && ix < s->w) dst[iy * s->w + ix] += src[oy * s->ow + ox];
                }
            }
        }
}

void tg_conv2d_forward(const tg_conv2d_shape *s, const float *x,
                       const float *wt, const float *bias, float *y,
                       float *scratch) {
    const int G = s->groups, cg = s->c / G, kg = s->k / G;
    const int K = cg * s->kh * s->kw, ohw = s->oh * s->ow;
    for (int b = 0; b < s->n; b++)
        for (int g = 0; g < G; g++) {
            const float *xg = x + ((size_t)b * s->c + (size_t)g * cg) * s->h * s->w;
            float *yg = y + ((size_t)b * s->k + (size_t)g * kg) * ohw;
            const float *wg = wt + (size_t)g * kg * K;
            const float *col = xg;
            /* a 1x1 stride-1 convolution reads the input as its own col */
            if (!(s->kh == 1 && s->kw == 1 && s->stride == 1)) {
                im2col(s, cg, xg, scratch);
                col = scratch;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kg, ohw, K,
                        1.0f, wg, K, col, ohw, 0.0f, yg, ohw);
        }
    if (bias) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int b = 0; b < s->n; b++)
            for (int o = 0; o < s->k; o++) {
                float *p = y + ((size_t)b * s->k + o) * ohw;
                for (int i = 0; i < ohw; i++) p[i] += bias[o];
            }
    }
}

void tg_conv2d_backward(const tg_conv2d_shape *s, const float *x,
                        const float *wt, const float *dy, float *dx, int acc,
                        float *dw, float *db, float *scratch) {
    const int G = s->groups, cg = s->c / G, kg = s->k / G;
    const int K = cg * s->kh * s->kw, ohw = s->oh * s->ow;
    const int direct = s->kh == 1 && s->kw == 1 && s->stride == 1;
    if (dx && !acc) memset(dx, 0, sizeof(float) * (size_t)s->n * s->c * s->h * s->w);
    for (int b = 0; b < s->n; b++)
        for (int g = 0; g < G; g++) {
            const float *xg = x + ((size_t)b * s->c + (size_t)g * cg) * s->h * s->w;
            const float *dyg = dy + ((size_t)b * s->k + (size_t)g * kg) * ohw;
            const float *wg = wt + (size_t)g * kg * K;
            float *dwg = dw + (size_t)g * kg * K;
            const float *col = xg;
            if (!direct) {
                im2col(s, cg, xg, scratch);
                col = scratch;
            }
            /* dW_g (+)= dY_g (kg, ohw) . col^T (ohw, K) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kg, K, ohw,
                        1.0f, dyg, ohw, col, ohw, b == 0 ? 0.0f : 1.0f, dwg, K);
            if (!dx) continue;
            float *dxg = dx + ((size_t)b * s->c + (size_t)g * cg) * s->h * s->w;
            if (direct) {
                /* dX_g += W_g^T (cg, kg) . dY_g (kg, ohw), straight into dx */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, ohw, kg,
                            1.0f, wg, K, dyg, ohw, 1.0f, dxg, ohw);
            } else {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, ohw, kg,
                            1.0f, wg, K, dyg, ohw, 0.0f, scratch, ohw);
                col2im_add(s, cg, scratch, dxg);
            }
        }
    if (db) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < s->k; o++) {
            double acc_b = 0;
            for (int b = 0; b < s->n; b++) {
                const float *p = dy + ((size_t)b * s->k + o) * ohw;
                for (int i = 0; i < ohw; i++) acc_b += p[i];
            }
            db[o] = (float)acc_b;
        }
    }
}

/* ---- the reference backend: no plan state beyond the shape ------------ */

struct tg_conv_plan {
    tg_conv2d_shape s;
};

static tg_conv_plan *ref_plan_new(const tg_conv2d_shape *s, tg_error *err) {
    tg_conv_plan *p = malloc(sizeof *p);
    if (!p) {
        tg_error_set(err, TG_ERR_NOMEM, "conv2d: out of memory for a plan");
        return NULL;
    }
    p->s = *s;
    return p;
}

static void ref_plan_free(tg_conv_plan *p) { free(p); }

static size_t ref_scratch(const tg_conv_plan *p) { return tg_conv2d_scratch_floats(&p->s); }

static void ref_forward(tg_conv_plan *p, const float *x, const float *wt,
                        const float *bias, float *y, float *scratch) {
    tg_conv2d_forward(&p->s, x, wt, bias, y, scratch);
}

static void ref_backward(tg_conv_plan *p, const float *x, const float *wt,
                         const float *dy, float *dx, int acc, float *dw,
                         float *db, float *scratch) {
    tg_conv2d_backward(&p->s, x, wt, dy, dx, acc, dw, db, scratch);
}

const tg_backend tg_backend_ref = {
    .name = "ref",
    .conv_plan_new = ref_plan_new,
    .conv_plan_free = ref_plan_free,
    .conv_scratch_floats = ref_scratch,
    .conv_forward = ref_forward,
    .conv_backward = ref_backward,
};
