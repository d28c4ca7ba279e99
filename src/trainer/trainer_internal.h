/* trainer_internal.h - the checkpoint metadata, shared by the files of
 * src/trainer/ (not installed): train.c writes it and checks a resume
 * file's, trained.c reads it to rebuild a network. docs/formats.md shows
 * the JSON. */
#ifndef TGSAGE_TRAINER_INTERNAL_H
#define TGSAGE_TRAINER_INTERNAL_H

#include <stdint.h>

#include "tgsage/trainer.h"

typedef struct {
    char net[256];              /* built-in name, or "genome" */
    char *genome;               /* canonical genome JSON (malloc'd), or NULL */
    char space[128];            /* its space spec, or "" */
    char hash[33];              /* its hash, or "" */
    int c, h, w, classes;       /* input images and outputs */
    char data_fingerprint[33];  /* of the training images used */
    char data[512];             /* their description */
    tg_split_info split;        /* all_fingerprint "" when not recorded */
    double epoch, epochs;       /* reached, and the run's budget */
    int64_t step;
    int batch;
    uint64_t seed;
    double val_acc;             /* < 0: not evaluated (resume files) */
} tg_ckpt_meta;

/* The metadata JSON (malloc'd), or NULL when out of memory. */
char *tg_ckpt_meta_write(const tg_ckpt_meta *m);
/* Parse and check a checkpoint's metadata; path names the file in errors.
 * m->genome is malloc'd (tg_ckpt_meta_free); m is zeroed on failure. */
tg_status tg_ckpt_meta_read(const char *path, const char *json, tg_ckpt_meta *m,
                            tg_error *err);
void tg_ckpt_meta_free(tg_ckpt_meta *m);

#endif
