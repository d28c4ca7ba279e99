/* fileio.c - bounded whole-file reads and atomic writes (see fileio.h).
 *
 * Reads use open/read on one buffer sized from fstat for a regular file;
 * the end of file is confirmed by a one-byte probe, so a file that grew
 * since fstat is still caught at the limit. Writes are buffered in 64 KiB
 * and go out with write(2), so a short write or ENOSPC is seen at once and
 * not hidden in stdio until fclose. */
#include "tgsage/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_BUF ((size_t)1 << 16)
#define FIRST_STREAM_ALLOC ((size_t)1 << 16)
#define MAX_IO ((size_t)1 << 30) /* per read/write call: below SSIZE_MAX everywhere */

static const char *const UNITS[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

/* Largest unit (index into UNITS) in which bytes is at least 1. */
static int unit_of(uint64_t bytes) {
    int u = 0;
    while (u < 6 && bytes >> (10 * (u + 1))) u++;
    return u;
}

void tg_file_size_str(char *buf, size_t cap, uint64_t bytes) {
    int u = unit_of(bytes);
    if (u == 0) snprintf(buf, cap, "%llu bytes", (unsigned long long)bytes);
    else snprintf(buf, cap, "%.1f %s", (double)bytes / (double)(1ULL << (10 * u)), UNITS[u]);
}

void tg_file_limit_str(char *buf, size_t cap, uint64_t bytes) {
    int u = unit_of(bytes);
    uint64_t one = 1ULL << (10 * u);
    if (bytes % one == 0)
        snprintf(buf, cap, "%llu %s", (unsigned long long)(bytes / one), UNITS[u]);
    else tg_file_size_str(buf, cap, bytes);
}

/* ---- reading -------------------------------------------------------------- */

/* read(2) retried on EINTR: bytes read, 0 at end of file, -1 on error. */
static ssize_t read_some(int fd, void *buf, size_t n) {
    ssize_t r;
    do r = read(fd, buf, n < MAX_IO ? n : MAX_IO);
    while (r < 0 && errno == EINTR);
    return r;
}

static tg_status too_large(const char *path, uint64_t size, size_t limit, tg_error *err) {
    char s[48], l[48], ls[48];
    tg_file_size_str(s, sizeof s, size);
    tg_file_limit_str(l, sizeof l, limit);
    tg_file_size_str(ls, sizeof ls, limit);
    if (strcmp(s, ls) == 0) /* "16.0 MiB is more than the 16 MiB limit": say how much */
        return tg_error_set(err, TG_ERR_UNSUPPORTED,
                            "%s: %s (%llu bytes) is more than the %s (%llu bytes) limit for this "
                            "file",
                            path, s, (unsigned long long)size, l, (unsigned long long)limit);
    return tg_error_set(err, TG_ERR_UNSUPPORTED, "%s: %s is more than the %s limit for this file",
                        path, s, l);
}

tg_status tg_file_read(const char *path, size_t limit, unsigned char **data, size_t *n,
                       tg_error *err) {
    *data = NULL;
    *n = 0;
    if (!path || !*path) return tg_error_set(err, TG_ERR_ARG, "no file path given");
    if (limit > SIZE_MAX - 1) limit = SIZE_MAX - 1; /* room for the NUL */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tg_error_set(err, errno == ENOMEM ? TG_ERR_NOMEM : TG_ERR_IO,
                            "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return tg_error_set(err, TG_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    int regular = S_ISREG(sb.st_mode);
    if (regular && (uint64_t)sb.st_size > limit) {
        close(fd);
        return too_large(path, (uint64_t)sb.st_size, limit, err);
    }
    size_t cap = (size_t)sb.st_size; /* what is there; a stream starts small */
    if (!regular) cap = limit < FIRST_STREAM_ALLOC ? limit : FIRST_STREAM_ALLOC;
    unsigned char *buf = malloc(cap + 1);
    size_t have = 0;
    tg_status st = TG_OK;
    if (!buf) {
        st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory for %zu bytes", path, cap);
        goto done;
    }
    for (;;) {
        if (have == cap) {
            /* full: one more byte says whether the file goes on */
            unsigned char b;
            ssize_t r = read_some(fd, &b, 1);
            if (r < 0) goto read_error;
            if (r == 0) break;
            if (cap >= limit) {
                char l[48];
                tg_file_limit_str(l, sizeof l, limit);
                const char *why = regular ? "it grew while being read"
                                          : "a stream, read up to the limit";
                st = tg_error_set(err, TG_ERR_UNSUPPORTED,
                                  "%s: more than the %s limit for this file (%s)", path, l, why);
                goto done;
            }
            size_t ncap = cap > limit / 2 ? limit : cap < 4096 ? 4096 : 2 * cap;
            if (ncap > limit) ncap = limit;
            unsigned char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf) {
                st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory for %zu bytes", path,
                                  ncap);
                goto done;
            }
            buf = nbuf, cap = ncap;
            buf[have++] = b;
            continue;
        }
        ssize_t r = read_some(fd, buf + have, cap - have);
        if (r < 0) goto read_error;
        if (r == 0) break;
        have += (size_t)r;
    }
    buf[have] = '\0';
    *data = buf, *n = have;
    buf = NULL;
    goto done;
read_error:
    st = tg_error_set(err, TG_ERR_IO, "%s: read error: %s", path, strerror(errno));
done:
    free(buf);
    close(fd); /* read-only: nothing left to report */
    return st;
}

/* ---- writing -------------------------------------------------------------- */

int tg_write_all(int fd, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n < MAX_IO ? n : MAX_IO);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) { /* no progress and no reason: do not spin */
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void fail_step(tg_atomic *a, const char *step) {
    if (a->errnum) return;
    a->errnum = errno ? errno : EIO;
    a->step = step;
}

static void flush(tg_atomic *a) {
    if (!a->errnum && a->used && tg_write_all(a->fd, a->buf, a->used) != 0) fail_step(a, "write");
    a->used = 0;
}

static void release(tg_atomic *a) {
    free(a->buf); /* holds path and tmp too */
    memset(a, 0, sizeof *a);
    a->fd = -1;
}

tg_status tg_atomic_begin(tg_atomic *a, const char *path, tg_error *err) {
    memset(a, 0, sizeof *a);
    a->fd = -1;
    if (!path || !*path) return tg_error_set(err, TG_ERR_ARG, "no file path given");
    size_t plen = strlen(path), tlen = plen + 32;
    a->buf = malloc(WRITE_BUF + plen + 1 + tlen);
    if (!a->buf) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    a->path = (char *)a->buf + WRITE_BUF;
    a->tmp = a->path + plen + 1;
    memcpy(a->path, path, plen + 1);
    snprintf(a->tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (a->fd < 0) {
        int e = errno;
        tg_error_set(err, TG_ERR_IO, "%s: cannot create %s: %s (any previous file at %s is "
                     "unchanged)", path, a->tmp, strerror(e), path);
        release(a);
        return TG_ERR_IO;
    }
    return TG_OK;
}

void tg_atomic_write(tg_atomic *a, const void *data, size_t n) {
    if (a->errnum || n == 0) return;
    if (a->used + n <= WRITE_BUF) {
        memcpy(a->buf + a->used, data, n);
        a->used += n;
        return;
    }
    flush(a);
    if (n < WRITE_BUF) {
        memcpy(a->buf, data, n);
        a->used = n;
    } else if (!a->errnum && tg_write_all(a->fd, data, n) != 0) {
        fail_step(a, "write");
    }
}

/* fsync the directory holding path, so that the rename is on disk too. */
static int sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir) return errno = ENAMETOOLONG, -1;
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e == EINVAL) rc = 0; /* a file system that cannot sync directories */
    errno = e;
    return rc;
}

tg_status tg_atomic_commit(tg_atomic *a, tg_error *err) {
    flush(a);
    if (!a->errnum && fsync(a->fd) != 0) fail_step(a, "sync");
    if (close(a->fd) != 0) fail_step(a, "close");
    a->fd = -1;
    if (!a->errnum && rename(a->tmp, a->path) != 0) fail_step(a, "rename");
    tg_status st = TG_OK;
    if (a->errnum) {
        unlink(a->tmp);
        st = tg_error_set(err, TG_ERR_IO,
                          "%s: cannot %s %s: %s (any previous file at %s is unchanged)", a->path,
                          a->step, a->tmp, strerror(a->errnum), a->path);
    } else if (sync_dir(a->path) != 0) {
        st = tg_error_set(err, TG_ERR_IO,
                          "%s: written, but its directory could not be synced: %s (the new file "
                          "may not survive a crash)",
                          a->path, strerror(errno));
    }
    release(a);
    return st;
}

void tg_atomic_abort(tg_atomic *a) {
    if (a->fd >= 0) {
        close(a->fd);
        unlink(a->tmp);
    }
    release(a);
}

tg_status tg_file_write(const char *path, const void *data, size_t n, tg_error *err) {
    tg_atomic a;
    tg_status st = tg_atomic_begin(&a, path, err);
    if (st != TG_OK) return st;
    tg_atomic_write(&a, data, n);
    return tg_atomic_commit(&a, err);
}

tg_status tg_mkdirs(const char *dir, tg_error *err) {
    char path[4096];
    if (!dir || !dir[0] || strlen(dir) >= sizeof path)
        return tg_error_set(err, TG_ERR_ARG, "directory '%s' is empty or too long",
                            dir ? dir : "(null)");
    strcpy(path, dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char keep = *p;
        *p = '\0';
        struct stat sb;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            return tg_error_set(err, TG_ERR_IO, "cannot create directory %s: %s",
                                path, strerror(e));
        }
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return tg_error_set(err, TG_ERR_IO, "%s is not a directory", path);
        *p = keep;
        if (!keep) break;
    }
    return TG_OK;
}
