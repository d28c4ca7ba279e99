/* export_internal.h - what the export's files share: an atomically written
 * output file (PATH.tmp, written, fsync'd, renamed over PATH), so an
 * interrupted export or a full disk never leaves a partial file under the
 * final name (the previous one stays). */
#ifndef TGSAGE_EXPORT_INTERNAL_H
#define TGSAGE_EXPORT_INTERNAL_H

#include <stddef.h>

#include "tgsage/error.h"

typedef struct {
    char *path, *tmp;   /* malloc'd copies */
    int fd;
    const char *what;   /* the step that failed ("write"), NULL while all is well */
    int errnum;
} tg_export_file;

/* Create PATH.tmp. On failure f is closed and err says why. */
tg_status tg_export_file_open(tg_export_file *f, const char *path, tg_error *err);
/* Append n bytes; a failure is remembered and reported by commit. */
void tg_export_file_write(tg_export_file *f, const void *p, size_t n);
/* fsync, close and rename into place (then fsync the directory, best
 * effort). On any failure the temporary file is removed and err names
 * the file, the step and the reason. f is closed either way. */
tg_status tg_export_file_commit(tg_export_file *f, tg_error *err);
/* Give up: close and remove the temporary file. */
void tg_export_file_abort(tg_export_file *f);

/* Write a whole file atomically. */
tg_status tg_export_write_text(const char *path, const char *text, tg_error *err);

#endif
