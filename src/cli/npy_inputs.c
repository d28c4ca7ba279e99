/* npy_inputs.c - reading the .npy inputs of the representation commands
 * (rdm, compare, teacher, tg) with messages that say what was expected. */
#include <stdlib.h>

#include "cli.h"
#include "tgsage/npy.h"

tg_status tg_cli_read_f64(const char *path, int want_ndim, double **out, int64_t *rows,
                          int64_t *cols, tg_error *err) {
    tg_npy a;
    tg_status st = tg_npy_read(path, &a, err);
    if (st != TG_OK) return st;
    if (a.ndim != want_ndim) {
        st = tg_error_set(err, TG_ERR_SHAPE, "%s: expected a %d-D array, this one has %d "
                          "dimensions", path, want_ndim, a.ndim);
    } else if (!(*out = malloc(sizeof(double) * (a.count + 1)))) {
        st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    } else {
        for (size_t i = 0; i < a.count; i++) {
            switch (a.dtype) {
            case TG_NPY_U8: (*out)[i] = ((const uint8_t *)a.data)[i]; break;
            case TG_NPY_I32: (*out)[i] = ((const int32_t *)a.data)[i]; break;
            case TG_NPY_I64: (*out)[i] = (double)((const int64_t *)a.data)[i]; break;
            case TG_NPY_F32: (*out)[i] = ((const float *)a.data)[i]; break;
            case TG_NPY_F64: (*out)[i] = ((const double *)a.data)[i]; break;
            }
        }
        *rows = a.shape[0];
        *cols = want_ndim > 1 ? a.shape[1] : 1;
    }
    tg_npy_free(&a);
    return st;
}

tg_status tg_cli_read_f32_matrix(const char *path, float **out, int64_t *rows, int64_t *cols,
                                 tg_error *err) {
    tg_npy a;
    tg_status st = tg_npy_read(path, &a, err);
    if (st != TG_OK) return st;
    if (a.ndim != 2) st = tg_error_set(err, TG_ERR_SHAPE, "%s: expected an images x units "
                                       "matrix (2-D), this array has %d dimensions", path, a.ndim);
    else if ((st = tg_npy_to_f32(&a, out, err)) == TG_OK) *rows = a.shape[0], *cols = a.shape[1];
    tg_npy_free(&a);
    return st;
}

tg_status tg_cli_read_labels(const char *path, int64_t n, int32_t **out, tg_error *err) {
    tg_npy a;
    tg_status st = tg_npy_read(path, &a, err);
    if (st != TG_OK) return st;
    if (a.ndim != 1 || a.shape[0] != n)
        st = tg_error_set(err, TG_ERR_SHAPE, "%s: %zu labels for %lld rows of features (a 1-D "
                          "array of one label per row is needed)", path, a.count, (long long)n);
    else
        st = tg_npy_to_i32(&a, out, err);
    tg_npy_free(&a);
    return st;
}
