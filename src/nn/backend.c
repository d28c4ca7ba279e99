/* backend.c - choosing a convolution backend by name. */
#include <string.h>

#include "tgsage/backend.h"

const tg_backend *tg_backend_find(const char *name) {
    if (strcmp(name, "ref") == 0) return &tg_backend_ref;
    if (strcmp(name, "dnnl") == 0) return &tg_backend_dnnl;
    return NULL;
}

const tg_backend *tg_backend_default(void) { return &tg_backend_dnnl; }
