/* error.h - status codes and error messages shared by every tgsage module.
 *
 * Recoverable failures (bad input, I/O, shapes that do not fit) return a
 * tg_status and write a human-readable message into a tg_error the caller
 * owns. Broken invariants (programming errors) abort through TG_ASSERT with
 * file and line. Nothing below src/cli/ prints or exits. */
#ifndef TGSAGE_ERROR_H
#define TGSAGE_ERROR_H

#include <stdio.h>
#include <stdlib.h>

typedef enum {
    TG_OK = 0,
    TG_ERR_ARG,      /* an argument or option is out of range */
    TG_ERR_SHAPE,    /* tensor shapes do not fit together */
    TG_ERR_IO,       /* a file could not be read or written */
    TG_ERR_FORMAT,   /* a file is malformed, truncated or of another kind */
    TG_ERR_NOMEM,    /* an allocation failed */
    TG_ERR_NUMERIC,  /* NaN or Inf where a finite number was required */
    TG_ERR_UNSUPPORTED,
    TG_ERR_DB,       /* the database refused or failed (its own message quoted) */
    TG_ERR_NOT_FOUND,/* a named study, trial or key does not exist */
    TG_ERR_BUSY      /* another process holds it (a study's explorer lease) */
} tg_status;

typedef struct {
    tg_status status;
    char msg[512];
} tg_error;

/* Record a failure in e (may be NULL) and return its status. */
tg_status tg_error_set(tg_error *e, tg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tg_error_clear(tg_error *e);
const char *tg_status_name(tg_status st);

#define TG_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
