/* ops.h - the engine's operators: forward and backward on NCHW float32 batches.
 *
 * Every op is a pair of plain functions taking raw buffers and an explicit
 * shape struct. No op allocates, does I/O or keeps state; scratch memory is
 * passed in by the caller (its size comes from the matching _scratch
 * function). Backward functions that produce an input gradient take an
 * `acc` flag: 0 writes dx, 1 adds into dx (a node feeding several consumers
 * receives the sum of their gradients). Parameter gradients are written. */
#ifndef TGSAGE_OPS_H
#define TGSAGE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"

/* ---- conv2d ---------------------------------------------------------- */

typedef struct {
    int n, c, h, w;       /* input batch, channels, height, width */
    int k, kh, kw;        /* output channels and kernel size */
    int stride, dil;      /* same stride and dilation on both axes */
    int groups;           /* c and k divisible by groups; groups == c is depthwise */
    int pad_h, pad_w;     /* zero padding on each side */
    int oh, ow;           /* output height and width (filled by tg_conv2d_shape_init) */
    /* the caller's layout of x / dx and of y / dy: 0 NCHW (set by
     * tg_conv2d_shape_init), else nChw<blk>c (a backend's conv_blocked
     * says which it runs without reorders; the reference backend has none) */
    int x_blk, y_blk;
} tg_conv2d_shape;

/* Fill pad and output size for "same"-style padding: pad = dil*(k-1)/2 on
 * each side, so stride 1 keeps the size and stride 2 halves it (rounding up).
 * Returns TG_ERR_ARG / TG_ERR_SHAPE (with a message) for a combination that
 * does not make sense. */
tg_status tg_conv2d_shape_init(tg_conv2d_shape *s, int n, int c, int h, int w,
                               int k, int kh, int kw, int stride, int dil,
                               int groups, tg_error *err);

/* x (n,c,h,w), wt (k,c/g,kh,kw), bias (k) or NULL -> y (n,k,oh,ow) */
size_t tg_conv2d_scratch_floats(const tg_conv2d_shape *s);
void tg_conv2d_forward(const tg_conv2d_shape *s, const float *x,
                       const float *wt, const float *bias, float *y,
                       float *scratch);
/* dy (n,k,oh,ow) -> dx (n,c,h,w) (may be NULL), dw (k,c/g,kh,kw), db (k) or NULL */
void tg_conv2d_backward(const tg_conv2d_shape *s, const float *x,
                        const float *wt, const float *dy, float *dx, int acc,
                        float *dw, float *db, float *scratch);

/* ---- batch norm ------------------------------------------------------ */

typedef struct {
    int n, c, hw;
    float eps;         /* 1e-5 as PyTorch */
    float momentum;    /* 0.1 as PyTorch: run = (1-m)*run + m*batch */
} tg_bn_shape;

/* Training: batch statistics; saves mean and inverse std (c each) for the
 * backward pass and updates running mean and unbiased running variance.
 * x (n,c,hw) -> y (n,c,hw); skip (NULL: none) is added to the affine map's
 * result (a residual addition, rounded as the two ops apart), and relu != 0
 * fuses a ReLU after that. */
void tg_bn_forward_train(const tg_bn_shape *s, const float *x,
                         const float *gamma, const float *beta, float *y,
                         float *save_mean, float *save_invstd,
                         float *run_mean, float *run_var, const float *skip, int relu);
/* Evaluation: running statistics. */
void tg_bn_forward_eval(const tg_bn_shape *s, const float *x,
                        const float *gamma, const float *beta, float *y,
                        const float *run_mean, const float *run_var, int relu);
/* dy -> dx, dgamma, dbeta. With relu != 0, y is the fused output and the
 * ReLU's mask (y > 0) is applied to dy first. */
void tg_bn_backward(const tg_bn_shape *s, const float *x, const float *gamma,
                    const float *save_mean, const float *save_invstd,
                    const float *y, int relu, const float *dy, float *dx,
                    int acc, float *dgamma, float *dbeta);

/* ---- channel-blocked layout ----------------------------------------- */

/* oneDNN's nChw<B>c, B = blk (8 or 16; c a multiple of it): element
 * (b, ch, p) of an (n, c, hw) batch at ((b*c/B + ch/B)*hw + p)*B + ch%B.
 * Networks keep the tensors between blocked convolutions in it (net.c);
 * pointwise ops (ReLU, addition) do not care about the layout, and the
 * concatenation above takes a block (hw x B floats) as a plane of width
 * w * B when every part is whole blocks. */
#define TG_MAX_BLOCK 16
void tg_blocked_from_nchw(int n, int c, int hw, int blk, const float *x, float *y);
void tg_blocked_to_nchw(int n, int c, int hw, int blk, const float *x, float *y);
/* as tg_gap_forward / tg_gap_backward (the same bits), x and dx blocked */
void tg_gap_blocked_forward(int n, int c, int hw, int blk, const float *x, float *y);
void tg_gap_blocked_backward(int n, int c, int hw, int blk, const float *dy, float *dx,
                             int acc);
/* As the tg_bn_ functions above on blocked x, y, dy and dx; scratch holds
 * tg_bn_blocked_scratch_floats(s) floats (per-image partial sums). */
size_t tg_bn_blocked_scratch_floats(const tg_bn_shape *s);
void tg_bn_blocked_forward_train(const tg_bn_shape *s, int blk, const float *x,
                                 const float *gamma, const float *beta, float *y,
                                 float *save_mean, float *save_invstd, float *run_mean,
                                 float *run_var, const float *skip, int relu,
                                 float *scratch);
void tg_bn_blocked_forward_eval(const tg_bn_shape *s, int blk, const float *x,
                                const float *gamma, const float *beta, float *y,
                                const float *run_mean, const float *run_var, int relu,
                                float *scratch);
void tg_bn_blocked_backward(const tg_bn_shape *s, int blk, const float *x, const float *gamma,
                            const float *save_mean, const float *save_invstd, const float *y,
                            int relu, const float *dy, float *dx, int acc, float *dgamma,
                            float *dbeta, float *scratch);

/* ---- pointwise ------------------------------------------------------- */

void tg_relu_forward(size_t n, const float *x, float *y);
/* dx (+)= dy where y > 0 (y is the forward output) */
void tg_relu_backward(size_t n, const float *y, const float *dy, float *dx,
                      int acc);
void tg_add_forward(size_t n, const float *a, const float *b, float *y);
/* y = max(a + b, 0), NaN passing (an addition fused with its ReLU; the
 * gradient of each summand is then tg_relu_backward's) */
void tg_add_relu_forward(size_t n, const float *a, const float *b, float *y);
/* dx (+)= dy, for one summand at a time */
void tg_copy_backward(size_t n, const float *dy, float *dx, int acc);

/* ---- pooling --------------------------------------------------------- */

typedef struct {
    int n, c, h, w;
    int k, stride, pad;   /* 3x3 windows, pad 1 */
    int oh, ow;
} tg_pool_shape;

tg_status tg_pool_shape_init(tg_pool_shape *s, int n, int c, int h, int w,
                             int k, int stride, tg_error *err);
/* argmax (n,c,oh,ow) records the flat input index of each window's max */
void tg_maxpool_forward(const tg_pool_shape *s, const float *x, float *y,
                        int32_t *argmax);
void tg_maxpool_backward(const tg_pool_shape *s, const int32_t *argmax,
                         const float *dy, float *dx, int acc);
/* Average over the window's positions inside the image (padding excluded,
 * as PyTorch's count_include_pad=False). */
void tg_avgpool_forward(const tg_pool_shape *s, const float *x, float *y);
void tg_avgpool_backward(const tg_pool_shape *s, const float *dy, float *dx,
                         int acc);

/* x (n,c,hw) -> y (n,c) */
void tg_gap_forward(int n, int c, int hw, const float *x, float *y);
void tg_gap_backward(int n, int c, int hw, const float *dy, float *dx, int acc);

/* ---- concatenation with zero padding --------------------------------- */

/* Part i of a concatenation: ci channels of hi x wi placed at channel offset
 * c0 of an output (n, C, H, W); rows and columns past hi, wi are zero
 * (smaller maps are padded at the bottom and right). */
void tg_concat_forward_part(int n, int ci, int hi, int wi, const float *x,
                            int C, int H, int W, int c0, float *y);
void tg_concat_backward_part(int n, int ci, int hi, int wi, const float *dy,
                             int C, int H, int W, int c0, float *dx, int acc);

/* ---- linear and loss ------------------------------------------------- */

/* x (n,in), w (out,in), b (out) -> y (n,out) */
void tg_linear_forward(int n, int in, int out, const float *x, const float *w,
                       const float *b, float *y);
void tg_linear_backward(int n, int in, int out, const float *x, const float *w,
                        const float *dy, float *dx, int acc, float *dw,
                        float *db);

/* Mean softmax cross-entropy of logits (n,k) against labels in [0,k).
 * Writes dlogits (n,k) (the gradient of the mean) if not NULL and the number
 * of correct argmax predictions into *correct if not NULL. */
double tg_softmax_xent(int n, int k, const float *logits, const int32_t *labels,
                       float *dlogits, int *correct);

#endif
