/* teacher.h - a teacher: the RDMs of its observed layers on fixed images.
 *
 * A teacher is saved once as a small self-describing file and reused by
 * every worker. It holds one RDM per observed layer (or brain region), which
 * images of which split of which dataset they cover (indices, their labels
 * and the dataset's fingerprint), the RDM unit and the similarity method.
 * A teacher loaded against other data is refused (tg_teacher_check_data).
 * The file is a tgsage tensor file (tensorfile.h): tensors "rdm.<i>" (f64,
 * m x m), "images" and "labels" (i32, n); metadata JSON with format
 * "tgsage-teacher", version, layer names, unit, method, fingerprint. */
#ifndef TGSAGE_TEACHER_H
#define TGSAGE_TEACHER_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/dataset.h"
#include "tgsage/rsa.h"

#define TG_TEACHER_VERSION 1
#define TG_TEACHER_MAX_LAYERS 64

typedef struct {
    int nlayers;
    char names[TG_TEACHER_MAX_LAYERS][64];
    double *rdms[TG_TEACHER_MAX_LAYERS];  /* each m x m */
    int64_t m;
    tg_rdm_unit unit;
    tg_sim_method method;
    int64_t n;                 /* images covered; 0 when not tied to images */
    int32_t *images;           /* (n) indices into the split */
    int32_t *labels;           /* (n) their labels */
    char data_fingerprint[33]; /* of the split the indices refer to; "" if none */
    char data[512];            /* description of that data */
    char source[512];          /* where the RDMs came from */
    int64_t max_features;
    uint64_t seed;
} tg_teacher;

tg_status tg_teacher_save(const char *path, const tg_teacher *t, tg_error *err);
/* *t is overwritten (free a loaded teacher first); zeroed on failure. */
tg_status tg_teacher_load(const char *path, tg_teacher *t, tg_error *err);
void tg_teacher_free(tg_teacher *t);
/* The same from a teacher file's bytes (as a study stores them); `what`
 * names them in messages. */
tg_status tg_teacher_load_bytes(const void *buf, size_t n, const char *what, tg_teacher *t,
                                tg_error *err);
/* Add a layer (the RDM is copied); m must agree with earlier layers. */
tg_status tg_teacher_add(tg_teacher *t, const char *name, const double *rdm, int64_t m,
                         tg_error *err);
/* Check that d is the data the teacher was made on (fingerprint, and the
 * labels at its image indices). */
tg_status tg_teacher_check_data(const tg_teacher *t, const tg_dataset *d, tg_error *err);

/* ---- teachers from recordings (teacher_recordings.c) ---- */

/* The largest regions file `tgsage teacher` reads (tg_file_read refuses a
 * larger one, naming the file and this limit). */
#define TG_TEACHER_REGIONS_MAX_BYTES ((size_t)16 << 20)

/* Add one layer per region of recordings (or any features): F is n x units
 * (row i = image i, float32), labels[i] its category. regions_json NULL:
 * one region of every unit, named `name`; else the text of a JSON object
 * {"V4": [0, 1, ...], "pIT": [...]} of unit indices (each in [0, units),
 * none twice in a region; names of at most 63 bytes), one layer per region
 * in the object's order; `what` names the text in messages (its file).
 * Each region's RDM uses t->unit and t->max_features, its subsample seeded
 * from (t->seed, the region's position). On failure t keeps the layers it
 * had before. */
tg_status tg_teacher_from_recordings(tg_teacher *t, const float *F, int64_t n, int64_t units,
                                     const int32_t *labels, const char *regions_json,
                                     const char *what, const char *name, tg_error *err);
/* Tie t to the first n images of d (a validation split): labels[i] must be
 * d's label of image i (TG_ERR_ARG naming the first that is not); sets
 * t->n, images 0..n-1, their labels, d's fingerprint and description. */
tg_status tg_teacher_tie(tg_teacher *t, const tg_dataset *d, const int32_t *labels, int64_t n,
                         tg_error *err);

#endif
