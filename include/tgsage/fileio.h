/* fileio.h - whole-file reads with a stated limit, and atomic writes.
 *
 * Reading: tg_file_read loads a file into one buffer, refusing a file over
 * the limit its caller states before allocating anything for it:
 *     "regions.json: 20.0 MiB is more than the 16 MiB limit for this file".
 * A regular file costs its size and no more; a pipe or other stream grows
 * the buffer only as bytes arrive, up to the limit.
 *
 * Writing: every file tgsage writes for keeps (checkpoints, teachers, .npy)
 * goes through tg_atomic: the bytes go to PATH.tmp.PID, which is fsync'd,
 * closed and renamed over PATH, then the directory is fsync'd so that the
 * rename survives a crash. Any failure before the rename (cannot create, a
 * short write, a full disk, a file size limit) removes the temporary file
 * and leaves a previous file at PATH as it was; the message names PATH, the
 * step and the reason. File systems that refuse fsync on a directory
 * (EINVAL) are accepted. Two threads of one process writing the same PATH
 * at once are not supported (they share the temporary name); processes do
 * not collide. A process killed mid-write leaves its PATH.tmp.PID behind.
 *
 * Status codes: TG_ERR_ARG (NULL or empty path), TG_ERR_IO (open, read,
 * write, sync, rename), TG_ERR_NOMEM, TG_ERR_UNSUPPORTED (over the limit). */
#ifndef TGSAGE_FILEIO_H
#define TGSAGE_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "tgsage/error.h"

/* The whole file at path into a fresh malloc'd buffer of *n bytes plus a
 * NUL (so text parsers can take it; *n does not count it). A file of more
 * than limit bytes is refused. On failure *data is NULL and *n 0. */
tg_status tg_file_read(const char *path, size_t limit, unsigned char **data, size_t *n,
                       tg_error *err);

/* Byte counts as the messages show them: "512 bytes", "20.0 MiB" (one
 * decimal from 1 KiB up), and for limits "16 MiB" (no decimal when whole). */
void tg_file_size_str(char *buf, size_t cap, uint64_t bytes);
void tg_file_limit_str(char *buf, size_t cap, uint64_t bytes);

/* write(2) all n bytes, retrying short writes and EINTR: 0, or -1 with
 * errno set (ENOSPC on a full disk, EFBIG past a file size limit). */
int tg_write_all(int fd, const void *buf, size_t n);

/* An atomic write in progress. Fields are private. */
typedef struct {
    int fd;
    int errnum;       /* first failure's errno, 0 while all is well */
    const char *step; /* what failed: "create", "write", ... */
    char *path, *tmp; /* copies (one allocation with buf) */
    unsigned char *buf;
    size_t used;
} tg_atomic;

/* Create PATH.tmp.PID for writing. On failure nothing is left to undo. */
tg_status tg_atomic_begin(tg_atomic *a, const char *path, tg_error *err);
/* Append n bytes (buffered). A failure is kept and reported by commit;
 * later writes are then skipped. */
void tg_atomic_write(tg_atomic *a, const void *data, size_t n);
/* Flush, fsync, close, rename over PATH, fsync the directory; or, if
 * anything failed, remove the temporary file. Always releases a. */
tg_status tg_atomic_commit(tg_atomic *a, tg_error *err);
/* Give up: remove the temporary file, release a; PATH is untouched. */
void tg_atomic_abort(tg_atomic *a);

/* n bytes at data as the whole new content of path, atomically. */
tg_status tg_file_write(const char *path, const void *data, size_t n, tg_error *err);

/* Create directory dir and its missing parents (mkdir -p); an error if a
 * component exists and is not a directory. */
tg_status tg_mkdirs(const char *dir, tg_error *err);

#endif
