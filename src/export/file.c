/* file.c - atomically written output files of the export (see
 * export_internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export_internal.h"

static void file_close(tg_export_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    free(f->path), free(f->tmp);
    f->path = f->tmp = NULL;
}

tg_status tg_export_file_open(tg_export_file *f, const char *path, tg_error *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    size_t n = strlen(path);
    f->path = malloc(n + 1);
    f->tmp = malloc(n + 5);
    if (!f->path || !f->tmp) {
        file_close(f);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(f->path, path, n + 1);
    memcpy(f->tmp, path, n);
    memcpy(f->tmp + n, ".tmp", 5);
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (f->fd < 0) {
        int e = errno;
        tg_status st = tg_error_set(err, TG_ERR_IO, "%s: cannot create %s: %s", path,
                                    f->tmp, strerror(e));
        file_close(f);
        return st;
    }
    return TG_OK;
}

void tg_export_file_write(tg_export_file *f, const void *p, size_t n) {
    const char *c = p;
    while (!f->what && n > 0) {
        ssize_t w = write(f->fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            f->what = "write", f->errnum = w < 0 ? errno : EIO;
            return;
        }
        c += w, n -= (size_t)w;
    }
}

/* Make the rename durable. Best effort: the file is in place already and
 * some file systems refuse fsync on a directory. */
static void sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

tg_status tg_export_file_commit(tg_export_file *f, tg_error *err) {
    if (!f->what && fsync(f->fd) != 0) f->what = "sync", f->errnum = errno;
    if (!f->what) {
        int rc = close(f->fd);
        f->fd = -1;
        if (rc != 0) f->what = "close", f->errnum = errno;
    }
    if (!f->what && rename(f->tmp, f->path) != 0) f->what = "rename", f->errnum = errno;
    if (f->what) {
        tg_status st = tg_error_set(err, TG_ERR_IO,
                                    "%s: cannot %s %s: %s (any previous file at %s is "
                                    "unchanged)",
                                    f->path, f->what, f->tmp, strerror(f->errnum), f->path);
        if (f->fd >= 0) close(f->fd);
        f->fd = -1;
        unlink(f->tmp);
        file_close(f);
        return st;
    }
    sync_dir(f->path);
    file_close(f);
    return TG_OK;
}

void tg_export_file_abort(tg_export_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp) unlink(f->tmp);
    file_close(f);
}

tg_status tg_export_write_text(const char *path, const char *text, tg_error *err) {
    tg_export_file f;
    tg_status st = tg_export_file_open(&f, path, err);
    if (st != TG_OK) return st;
    tg_export_file_write(&f, text, strlen(text));
    return tg_export_file_commit(&f, err);
}
