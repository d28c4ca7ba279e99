/* conv_wino.h - Winograd F(2x2, 3x3) and F(2x2, 5x5) convolution on
 * channel-blocked activations, AVX2 (private to src/nn/).
 *
 * oneDNN 2.6 has a Winograd convolution for AVX-512 only; on an AVX2
 * processor its direct kernels run 3x3 convolutions at ~85-90% of the FMA
 * peak, and that is where ResNet-20 spends 85% of a training step. This
 * kernel computes 2x2 outputs from 4x4 inputs with 16 multiply-adds per
 * input and output channel, against 36 for the direct method, for the
 * forward pass, the backward-data pass (the same convolution with the
 * kernel turned 180 degrees and its two channel axes swapped) and the
 * backward-weights pass. conv_dnnl.c offers it as a layout strategy
 * ("wino23") beside oneDNN's, for all three passes of 3x3 convolutions
 * with 32+ channels (strategy_pick says where and why). */
#ifndef TGSAGE_CONV_WINO_H
#define TGSAGE_CONV_WINO_H

#include <stddef.h>

#include "tgsage/ops.h"

enum { WINO_FWD, WINO_BWD_DATA, WINO_BWD_WEIGHTS };

/* 1 when this processor can run the kernel (AVX2 and FMA) and it computes
 * the pass (WINO_*) of the shape: 3x3, or 5x5 for backward data only (the
 * header comment of conv_wino.c says why), stride 1, no dilation, no
 * groups, "same" padding, both channel counts multiples of 8, and x and y
 * held in nChw8c or nChw16c (s->x_blk and s->y_blk). */
int wino_fits(const tg_conv2d_shape *s, int pass);

/* Floats of the transformed weights of one pass (16 * c * k). */
size_t wino_weight_floats(const tg_conv2d_shape *s);
/* Floats of the per-thread working buffers of one pass, for `threads`
 * threads (the same for both passes). */
size_t wino_work_floats(const tg_conv2d_shape *s, int threads);

/* The transformed weights from wt (k, c, r, r): for the forward pass
 * (bwd = 0) or for the backward-data pass (bwd = 1), on `threads`
 * threads. */
void wino_weights(const tg_conv2d_shape *s, const float *wt, int bwd, float *u, int threads);

/* Forward (bwd = 0): x -> y, plus bias (k, NULL: none). Backward data
 * (bwd = 1): dy -> dx, written or added (acc). u from wino_weights of the
 * same pass; work of wino_work_floats for `threads`, 32-byte aligned. */
void wino_run(const tg_conv2d_shape *s, int bwd, const float *u, const float *in,
              const float *bias, float *out, int acc, float *work, int threads);

/* Floats of backward weights' per-thread working buffers. */
size_t wino_wgrad_work_floats(const tg_conv2d_shape *s, int threads);
/* Backward weights of a 3x3 convolution: x and dy (in the shape's blocked
 * layouts) -> dw (k, c, 3, 3), written, and db (k, NULL: not wanted). */
void wino_wgrad(const tg_conv2d_shape *s, const float *x, const float *dy, float *dw,
                float *db, float *work, int threads);

#endif
