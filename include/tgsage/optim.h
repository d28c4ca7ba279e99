/* optim.h - optimizers and learning-rate schedules.
 *
 * The optimizer keeps its state (momentum buffers, squared averages) in one
 * slab matching the net's parameters in order; it updates tg_param.data
 * from tg_param.grad. Semantics follow PyTorch's torch.optim so that a run
 * can be compared step by step with a PyTorch one. */
#ifndef TGSAGE_OPTIM_H
#define TGSAGE_OPTIM_H

#include "tgsage/graph.h"

typedef enum { TG_OPT_SGD, TG_OPT_RMSPROP } tg_opt_kind;

typedef struct {
    tg_opt_kind kind;
    double momentum;      /* SGD and RMSProp momentum (0.9) */
    int nesterov;         /* SGD only */
    double weight_decay;  /* L2, added to the gradient as PyTorch does */
    double alpha;         /* RMSProp decay of the squared average (0.9) */
    double eps;           /* RMSProp epsilon (1e-8, outside the square root) */
    double clip_norm;     /* > 0: clip gradients to this global norm first */
} tg_opt_config;

typedef struct tg_optim tg_optim;

tg_optim *tg_optim_new(const tg_opt_config *cfg, tg_net *net, tg_error *err);
void tg_optim_free(tg_optim *o);
/* One update with learning rate lr. */
void tg_optim_step(tg_optim *o, double lr);
/* The state slab (for checkpoints): floats and their count. */
float *tg_optim_state(tg_optim *o, size_t *count);

typedef enum { TG_LR_CONSTANT, TG_LR_STEP, TG_LR_COSINE } tg_lr_kind;

typedef struct {
    tg_lr_kind kind;
    double lr;        /* initial rate */
    double step;      /* STEP: multiply by gamma every `step` epochs */
    double gamma;
    double total;     /* COSINE: epochs from lr to lr_min */
    double lr_min;
} tg_lr_schedule;

/* Learning rate at a (fractional) epoch. */
double tg_lr_at(const tg_lr_schedule *s, double epoch);

/* Parse "constant", "step:EPOCHS:GAMMA", "cosine" (total set by the
 * caller); TG_ERR_ARG with a message otherwise. */
tg_status tg_lr_parse(const char *text, tg_lr_schedule *s, tg_error *err);

#endif
