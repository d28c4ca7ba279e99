/* trainer.h - training a network on a dataset for a budget.
 *
 * A run trains a network given by a *net source* - a built-in name
 * (resnet:N, small3, candidate6) or a genome (JSON text, validated against
 * a search space) - for a budget in epochs, fractional allowed, with the
 * paper's augmentation, an optimizer and a learning-rate schedule; it
 * evaluates on a validation set at the end and at chosen checkpoint
 * points, saving a checkpoint at each. A checkpoint carries in its metadata
 * everything needed to rebuild the network (the net name, or the genome
 * and its space) and to tell which validation split it was trained beside.
 * A run can be stopped (a flag set from a signal handler, or the step
 * callback) and resumed from its resume file: the resumed run ends
 * bit-identical to an uninterrupted one (same machine and thread count),
 * because the loader's stream is a function of (seed, step) and the
 * optimizer state is saved. */
#ifndef TGSAGE_TRAINER_H
#define TGSAGE_TRAINER_H

#include <signal.h>
#include <stdint.h>

#include "tgsage/dataset.h"
#include "tgsage/genome.h"
#include "tgsage/graph.h"
#include "tgsage/loader.h"
#include "tgsage/optim.h"

#define TG_MAX_CHECKPOINTS 32

/* ---- net sources ---------------------------------------------------------- */

/* A network to build, resolved from a name or a genome: built-in graph
 * nets (resnet:N, small3) are built by models.h; candidate6 is a genome of
 * the layer-wise space held here as JSON; any other genome is parsed and
 * validated against its space. */
typedef struct {
    char name[256];      /* the built-in name, or "genome" */
    char *genome;        /* canonical genome JSON (malloc'd); NULL for resnet/small3 */
    char space[128];     /* canonical space spec of the genome; "" without one */
    char hash[33];       /* the genome's hash; "" without one */
    tg_genome *parsed;   /* the genome, or NULL */
} tg_net_source;

/* Resolve a built-in name (genome_json NULL) or a genome's JSON text (net
 * ignored), the genome validated against space_spec ("" or NULL: the space
 * it names). Cheap - nothing as large as a network is allocated - so that
 * a bad name or genome is reported before any data is loaded. *src is
 * zeroed on failure. */
tg_status tg_net_source_resolve(const char *net, const char *genome_json,
                                const char *space_spec, tg_net_source *src, tg_error *err);
/* Its graph for c x h x w images and `classes` outputs. */
tg_graph *tg_net_source_build(const tg_net_source *src, int c, int h, int w, int classes,
                              tg_error *err);
void tg_net_source_free(tg_net_source *src);
/* The built-in names, for help texts and messages. */
const char *tg_net_source_names(void);

/* ---- where the data came from ---------------------------------------------- */

/* The validation split a run trained beside: the training part and the
 * validation part are a seeded split of a dataset's training split, and
 * the training part may have been cut to its first train_limit images.
 * Recorded in every checkpoint, so that the validation images of a later
 * command can be proven held out. all_fingerprint "" means unknown. */
typedef struct {
    char data[256];            /* the dataset spec */
    char all_fingerprint[33];  /* the whole training split, before the split */
    char val_fingerprint[33];  /* the validation part, before any limit */
    uint64_t seed;             /* of the split */
    int64_t nval;              /* images held out */
    int64_t train_limit;       /* training images used: the first N, 0 all */
} tg_split_info;

/* Load spec's training split, hold out nval images (seeded by seed; nval
 * < 0: 5000, or 10% below 20,000 images) and keep the first train_limit
 * training and val_limit validation images (0: all). info (may be NULL)
 * describes the split. */
tg_status tg_split_load(const char *spec, int64_t nval, uint64_t seed, int64_t train_limit,
                        int64_t val_limit, tg_dataset *train, tg_dataset *val,
                        tg_split_info *info, tg_error *err);
/* TG_OK when the validation part of `here` is held out of the training a
 * network trained beside `trained` saw: the same data and split seed, and
 * the same size, or a smaller one (a split of nval images holds out the
 * first nval of the larger split's draws: nested), whatever the training
 * limit. Otherwise TG_ERR_ARG naming what differs. */
tg_status tg_split_check(const tg_split_info *trained, const tg_split_info *here,
                         tg_error *err);

/* ---- runs ------------------------------------------------------------------ */

typedef struct {
    char net[256];            /* resnet:N, small3, candidate6; ignored with genome */
    const char *genome;       /* genome JSON text (not owned), or NULL */
    char space[128];          /* space spec to validate the genome against; "" its own */
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
    tg_split_info split;      /* recorded in the checkpoints; zeroed: unknown */
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

/* What can be checked before any data is loaded: the net source, the
 * budget and batch, the backend, the checkpoint points (ascending, within
 * the budget) and that the output's directory exists and is writable.
 * tg_train_run checks the same. */
tg_status tg_train_check(const tg_train_config *c, int resume, tg_error *err);

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
 * the same network (name or genome), seed, batch and data. TG_ERR_NUMERIC
 * if the loss stops being finite (nothing is saved then). */
tg_status tg_train_run(const tg_train_config *c, const tg_dataset *train,
                       const tg_dataset *val, int resume, const tg_train_hooks *h,
                       tg_train_result *res, tg_error *err);

/* ---- trained networks ------------------------------------------------------ */

/* A trained network rebuilt from a checkpoint written by tg_train_run. */
typedef struct {
    tg_graph *g;
    tg_net *net;
    char net_spec[256];          /* the built-in name, or "genome" */
    char *genome;                /* canonical genome JSON (malloc'd); NULL for a
                                  * built-in graph net (resnet:N, small3) */
    char space[128];             /* the genome's space spec; "" without a genome */
    int c, h, w, classes;
    char data_fingerprint[33];   /* of the training images it was trained on */
    tg_split_info split;         /* the split it was trained beside ("" if unknown) */
    double epoch;                /* how far it was trained */
} tg_trained;

/* Read the checkpoint's metadata, build its network for `batch` images with
 * the named backend ("" or NULL for the default) and load the weights. */
tg_status tg_trained_load(const char *path, int batch, const char *backend,
                          tg_trained *t, tg_error *err);
void tg_trained_free(tg_trained *t);

#endif
