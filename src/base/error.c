/* error.c - formatting of recoverable errors (see error.h). */
#include "tgsage/error.h"

#include <stdarg.h>
#include <string.h>

tg_status tg_error_set(tg_error *e, tg_status st, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->status = st;
    }
    return st;
}

void tg_error_clear(tg_error *e) {
    if (e) {
        e->status = TG_OK;
        e->msg[0] = '\0';
    }
}

const char *tg_status_name(tg_status st) {
    switch (st) {
    case TG_OK: return "ok";
    case TG_ERR_ARG: return "invalid argument";
    case TG_ERR_SHAPE: return "shape mismatch";
    case TG_ERR_IO: return "I/O error";
    case TG_ERR_FORMAT: return "bad file format";
    case TG_ERR_NOMEM: return "out of memory";
    case TG_ERR_NUMERIC: return "non-finite value";
    case TG_ERR_UNSUPPORTED: return "unsupported";
    case TG_ERR_DB: return "database error";
    case TG_ERR_NOT_FOUND: return "not found";
    case TG_ERR_BUSY: return "busy";
    }
    return "unknown";
}
