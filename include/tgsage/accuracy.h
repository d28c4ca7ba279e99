/* accuracy.h - a network run over images of a dataset, in evaluation mode:
 * batched forward passes, accuracy and mean loss.
 *
 * This is the layer between the engine (nn) and the data readers (data),
 * which are peers and know nothing of each other (src/infer/). The
 * trainer's validation, the evaluator's premature accuracy P and its
 * observation of layers, and `tgsage eval` / `features` all run a net over
 * a dataset the same way, through these calls. */
#ifndef TGSAGE_ACCURACY_H
#define TGSAGE_ACCURACY_H

#include <stdint.h>

#include "tgsage/dataset.h"
#include "tgsage/graph.h"

/* Called after the forward pass of list positions [first, first + nb): the
 * net's activations (tg_net_activation, tg_net_output) hold those images.
 * Anything but TG_OK stops the pass and is returned. */
typedef tg_status (*tg_forward_fn)(tg_net *net, int64_t first, int nb, void *user,
                                   tg_error *err);

/* Forward n images of d through net in evaluation mode, in batches of the
 * net's batch size: images idx[0..n) (each checked to be an index of d), or
 * with idx NULL the first n. d's images must have the net's input shape
 * (TG_ERR_SHAPE naming both); n < 0 or n > d->n with idx NULL is
 * TG_ERR_ARG. fn may be NULL. */
tg_status tg_forward_images(tg_net *net, const tg_dataset *d, const int32_t *idx, int64_t n,
                            tg_forward_fn fn, void *user, tg_error *err);

/* Accuracy (fraction of top-1 hits) and mean cross-entropy of net on all
 * of d. d must have at least one image; a label outside the net's classes
 * is TG_ERR_ARG; acc or loss may be NULL. */
tg_status tg_evaluate(tg_net *net, const tg_dataset *d, double *acc, double *loss,
                      tg_error *err);

/* Batch-norm statistics recomputed (common NAS practice before evaluating a
 * briefly trained net, whose running statistics lag its weights): every BN
 * layer's running mean and variance are replaced by the average of the
 * batch statistics over `batches` batches of the net's batch size drawn
 * from d (a seeded sample of images, no augmentation; the variance as
 * PyTorch keeps it, unbiased), the weights untouched. A net without BN is
 * left as it is. The sample is capped at the full batches d holds (d
 * smaller than one batch: one short batch); batches < 1 or fewer than 2
 * images is TG_ERR_ARG, other images than the net's TG_ERR_SHAPE, and on
 * any error the statistics are left as they were. */
tg_status tg_bn_recalibrate(tg_net *net, const tg_dataset *d, int batches, uint64_t seed,
                            tg_error *err);

#endif
