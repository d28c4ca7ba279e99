/* trainer.h - training a network on a dataset for a budget.
 *
 * A run trains a built-in network (later: a genome) for a budget in epochs,
 * fractional allowed, with the paper's augmentation, an optimizer and a
 * learning-rate schedule; it evaluates on a validation set at the end and
 * at chosen checkpoint points, saving a checkpoint at each. A run can be
 * stopped (a flag set from a signal handler, or the step callback) and
 * resumed from its resume file: the resumed run ends bit-identical to an
 * uninterrupted one (same machine and thread count), because the loader's
 * stream is a function of (seed, step) and the optimizer state is saved. */
#ifndef TGSAGE_TRAINER_H
#define TGSAGE_TRAINER_H

#include <signal.h>
#include <stdint.h>

#include "tgsage/dataset.h"
#include "tgsage/graph.h"
#include "tgsage/loader.h"
#include "tgsage/optim.h"

#define TG_MAX_CHECKPOINTS 32

typedef struct {
    char net[256];            /* resnet:N, small3, candidate6 */
    double epochs;            /* budget; 0.25 is a quarter epoch */
    int batch;
    tg_opt_config opt;
    tg_lr_schedule lr;        /* cosine runs over `epochs` */
    int augment;              /* the paper's pad-crop-flip */
    tg_augment aug;
    uint64_t seed;            /* weights, order, augmentation */
    double checkpoint_at[TG_MAX_CHECKPOINTS];  /* epochs, ascending */
    int ncheckpoints;
    char out[1024];           /* final checkpoint; "" for none */
    char backend[16];         /* "dnnl" (default) or "ref" */
    double save_every;        /* epochs between resume saves; 0: only on stop */
} tg_train_config;

/* The named presets of the paper, as starting points every field of which
 * may be overridden:
 *   layerwise  SGD Nesterov 0.9, lr 0.1 divided by 10 every 100 epochs
 *   cell       SGD Nesterov 0.9, lr 0.025 cosine, weight decay 5e-4, clip 5
 *   short      premature training of search candidates: SGD Nesterov 0.9,
 *              lr 0.05 cosine over the budget, weight decay 5e-4, 2 epochs
 * All use the paper's augmentation and batch 128. */
tg_status tg_train_preset(const char *name, tg_train_config *c, tg_error *err);
const char *tg_train_preset_names(void);

typedef struct {
    double epoch;             /* progress in epochs */
    int64_t step, steps;      /* done, and in the whole run */
    double loss, acc;         /* of the last batch */
    double img_s;             /* training throughput so far */
    double seconds;           /* elapsed in this process */
} tg_train_progress;

typedef struct {
    double epoch;
    double val_acc, val_loss;
    char path[1100];          /* checkpoint written, "" if none */
} tg_train_point;

typedef struct {
    /* after every step; return non-zero to stop (as a signal would) */
    int (*on_step)(const tg_train_progress *p, void *user);
    /* after each checkpoint point and at the end */
    void (*on_point)(const tg_train_point *p, void *user);
    void *user;
    volatile sig_atomic_t *stop;  /* set asynchronously to stop; may be NULL */
} tg_train_hooks;

typedef enum { TG_RUN_DONE, TG_RUN_STOPPED } tg_run_state;

typedef struct {
    tg_run_state state;
    tg_train_progress last;
    tg_train_point final;     /* validation at the end (DONE only) */
    int resumed;              /* started from a resume file */
    char resume_path[1100];   /* written when STOPPED */
} tg_train_result;

/* Train per c on `train`, validating on `val`. With resume != 0 the run
 * continues from c->out's resume file (OUT.resume), which must describe
 * the same network, seed, batch and data. TG_ERR_NUMERIC if the loss
 * stops being finite (nothing is saved then). */
tg_status tg_train_run(const tg_train_config *c, const tg_dataset *train,
                       const tg_dataset *val, int resume, const tg_train_hooks *h,
                       tg_train_result *res, tg_error *err);

/* A trained network rebuilt from a checkpoint written by tg_train_run. */
typedef struct {
    tg_graph *g;
    tg_net *net;
    char net_spec[256];
    int c, h, w, classes;
    char data_fingerprint[33];   /* of the data it was trained on */
    double epoch;                /* how far it was trained */
} tg_trained;

/* Read the checkpoint's metadata, build its network for `batch` images with
 * the named backend ("" for the default) and load the weights. */
tg_status tg_trained_load(const char *path, int batch, const char *backend,
                          tg_trained *t, tg_error *err);
void tg_trained_free(tg_trained *t);

/* Accuracy and mean loss of net (evaluation mode) on d. */
tg_status tg_evaluate(tg_net *net, const tg_dataset *d, double *acc, double *loss,
                      tg_error *err);

#endif
