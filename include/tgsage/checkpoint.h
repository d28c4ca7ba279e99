/* checkpoint.h - saving and restoring a net's weights, BN statistics and
 * optimizer state, in the tensor file format of tensorfile.h.
 *
 * Tensors are named "param/<name>", "state/<name>" and "optim". The
 * metadata text is the caller's (the trainer stores the net's spec and
 * progress there). Loading checks every tensor's presence and shape before
 * changing anything, so a refused file leaves the net as it was. */
#ifndef TGSAGE_CHECKPOINT_H
#define TGSAGE_CHECKPOINT_H

#include "tgsage/graph.h"
#include "tgsage/optim.h"

/* optim may be NULL */
tg_status tg_ckpt_save(const char *path, tg_net *net, tg_optim *optim,
                       const char *meta, tg_error *err);
/* optim may be NULL (its state is then ignored); *meta (if meta != NULL)
 * receives a malloc'd copy of the metadata text. */
tg_status tg_ckpt_load(const char *path, tg_net *net, tg_optim *optim,
                       char **meta, tg_error *err);

#endif
