/* tensorfile.h - tgsage's binary file of named tensors.
 *
 * Checkpoints and the PyTorch reference fixtures use it. Layout, all
 * little-endian:
 *   "TGSGTNSR" (8 bytes), u32 version (1), u32 tensor count,
 *   u32 metadata length, metadata bytes (free text, e.g. the net's spec),
 *   per tensor: u16 name length, name, u8 dtype (0 f32, 1 i32, 2 f64),
 *               u8 ndim (1..8), u32 dims[ndim], the data;
 *   u64 FNV-1a hash of every byte before it.
 * The trailing hash catches truncation and corruption; the magic catches
 * foreign files. Files are read whole, up to TG_TFILE_MAX_BYTES, and
 * written atomically (fileio.h: PATH.tmp.PID, fsync, rename), so a crash or
 * a full disk never leaves a partial file under the name. */
#ifndef TGSAGE_TENSORFILE_H
#define TGSAGE_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"

#define TG_TFILE_VERSION 1
/* Largest file read or written: 64 GiB (64 image RDMs over 11,000 images
 * in a teacher are 58 GiB). A bigger file is refused unread, and the writer
 * refuses to make one, so every file written can be read back. */
#define TG_TFILE_MAX_BYTES ((size_t)1 << 36)

typedef enum { TG_DT_F32 = 0, TG_DT_I32 = 1, TG_DT_F64 = 2 } tg_dtype;

typedef struct {
    char name[128];
    tg_dtype dtype;
    int ndim;
    int64_t dims[8];
    size_t count;       /* product of dims */
    void *data;
} tg_tensor;

typedef struct {
    char *meta;         /* NUL-terminated */
    int n;
    tg_tensor *t;
} tg_tensor_file;

tg_status tg_tfile_read(const char *path, tg_tensor_file *out, tg_error *err);
void tg_tfile_free(tg_tensor_file *f);
/* NULL if absent */
const tg_tensor *tg_tfile_find(const tg_tensor_file *f, const char *name);
/* Write atomically (PATH.tmp.PID, fsync, rename; see fileio.h). */
tg_status tg_tfile_write(const char *path, const char *meta, int n,
                         const tg_tensor *t, tg_error *err);
size_t tg_dtype_size(tg_dtype d);

#endif
