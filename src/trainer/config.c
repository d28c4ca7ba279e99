/* config.c - the paper's training presets, and what can be checked of a
 * run before any data is loaded (a bad net name, genome or output path
 * should not cost the minutes a large dataset takes to load). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tgsage/trainer.h"

const char *tg_train_preset_names(void) { return "layerwise, cell, short"; }

tg_status tg_train_preset(const char *name, tg_train_config *c, tg_error *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->net, sizeof c->net, "resnet:1");
    snprintf(c->backend, sizeof c->backend, "dnnl");
    c->batch = 128;
    c->seed = 1;
    c->augment = 1;
    c->aug = (tg_augment){.pad = 4, .flip = 1};
    c->opt = (tg_opt_config){.kind = TG_OPT_SGD, .momentum = 0.9, .nesterov = 1};
    if (strcmp(name, "layerwise") == 0) {
        c->epochs = 300;
        c->lr = (tg_lr_schedule){.kind = TG_LR_STEP, .lr = 0.1, .step = 100, .gamma = 0.1};
    } else if (strcmp(name, "cell") == 0) {
        c->epochs = 600;
        c->opt.weight_decay = 5e-4;
        c->opt.clip_norm = 5;
        c->lr = (tg_lr_schedule){.kind = TG_LR_COSINE, .lr = 0.025};
    } else if (strcmp(name, "short") == 0) {
        c->epochs = 2;
        c->opt.weight_decay = 5e-4;
        c->lr = (tg_lr_schedule){.kind = TG_LR_COSINE, .lr = 0.05};
    } else {
        return tg_error_set(err, TG_ERR_ARG, "preset '%s': expected one of %s", name,
                            tg_train_preset_names());
    }
    return TG_OK;
}

/* The directory of path must exist and take new files (the checkpoint is
 * written as PATH.tmp.PID and renamed). */
static tg_status check_out_dir(const char *path, tg_error *err) {
    char dir[1024];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (slash && !slash[1])
        return tg_error_set(err, TG_ERR_ARG, "output '%s' names a directory, not a file", path);
    if (access(dir, W_OK | X_OK) != 0)
        return tg_error_set(err, TG_ERR_IO, "output '%s': directory '%s' %s", path, dir,
                            errno == ENOENT ? "does not exist"
                            : errno == EACCES ? "is not writable" : strerror(errno));
    return TG_OK;
}

tg_status tg_train_check(const tg_train_config *c, int resume, tg_error *err) {
    tg_net_source src;
    tg_status st = tg_net_source_resolve(c->net, c->genome, c->space, &src, err);
    if (st != TG_OK) return st;
    tg_net_source_free(&src);
    if (!(c->epochs > 0) || c->batch <= 0)
        return tg_error_set(err, TG_ERR_ARG, "train: %g epochs of batch %d", c->epochs,
                            c->batch);
    if (c->backend[0] && !tg_backend_find(c->backend))
        return tg_error_set(err, TG_ERR_ARG, "backend '%s': expected dnnl or ref", c->backend);
    if (c->ncheckpoints < 0 || c->ncheckpoints > TG_MAX_CHECKPOINTS)
        return tg_error_set(err, TG_ERR_ARG, "train: %d checkpoint points (at most %d)",
                            c->ncheckpoints, TG_MAX_CHECKPOINTS);
    for (int i = 0; i < c->ncheckpoints; i++)
        if (!(c->checkpoint_at[i] > 0) || c->checkpoint_at[i] > c->epochs ||
            (i && c->checkpoint_at[i] <= c->checkpoint_at[i - 1]))
            return tg_error_set(err, TG_ERR_ARG,
                                "checkpoint at epoch %g: points must be ascending, after 0 "
                                "and within the %g epochs of the run",
                                c->checkpoint_at[i], c->epochs);
    if (resume && !c->out[0])
        return tg_error_set(err, TG_ERR_ARG, "train: resuming needs the run's output path");
    return c->out[0] ? check_out_dir(c->out, err) : TG_OK;
}
