/* safetensors.c - writing the safetensors format (Hugging Face's file of
 * named tensors, read by PyTorch, JAX, candle and others).
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON, then the data. The
 * JSON maps each tensor's name to {"dtype", "shape", "data_offsets": [b, e]}
 * (offsets into the data, which follows the header), plus "__metadata__",
 * a string-to-string map. The rules the reference implementation checks,
 * and which we keep: the header starts with '{' and may be padded with
 * spaces (we pad so the data starts at a multiple of 8 bytes, as its
 * writer does); the tensors cover the data exactly, back to back, with no
 * holes and nothing after the last; names are unique. Laying tensors out
 * by decreasing element size keeps each at a multiple of its own size, so
 * a reader can map the file and view the tensors in place. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/export.h"
#include "tgsage/fileio.h"

static size_t dtype_size(tg_st_dtype d) { return d == TG_ST_I64 ? 8 : 4; }
static const char *dtype_name(tg_st_dtype d) { return d == TG_ST_I64 ? "I64" : "F32"; }

/* Values in host order -> little-endian bytes, through a bounce buffer. */
static void write_le(tg_atomic *f, const void *data, size_t count, size_t isz) {
    unsigned char buf[1 << 16];
    const unsigned char *src = data;
    const size_t per = sizeof buf / isz;
    for (size_t i = 0; i < count; i += per) {
        size_t k = count - i < per ? count - i : per;
        for (size_t j = 0; j < k; j++) {
            uint64_t v = 0;
            if (isz == 8) {
                memcpy(&v, src + (i + j) * 8, 8);
            } else {
                uint32_t u;
                memcpy(&u, src + (i + j) * 4, 4);
                v = u;
            }
            for (size_t b = 0; b < isz; b++) buf[j * isz + b] = (unsigned char)(v >> (8 * b));
        }
        tg_atomic_write(f, buf, k * isz);
    }
}

/* Elements of t, or -1 (with err set) for a tensor that cannot be written. */
static int64_t check_tensor(const char *path, const tg_st_tensor *t, int i, tg_error *err) {
    if (!t->name || !t->name[0] || !strcmp(t->name, "__metadata__")) {
        tg_error_set(err, TG_ERR_ARG, "%s: tensor %d: the name '%s' is empty or reserved", path,
                     i, t->name ? t->name : "(null)");
        return -1;
    }
    if (t->dtype != TG_ST_F32 && t->dtype != TG_ST_I64) {
        tg_error_set(err, TG_ERR_ARG, "%s: tensor '%s': dtype %d is not F32 or I64", path,
                     t->name, (int)t->dtype);
        return -1;
    }
    if (t->ndim < 0 || t->ndim > 8) {
        tg_error_set(err, TG_ERR_ARG, "%s: tensor '%s': %d dimensions (0..8 allowed)", path,
                     t->name, t->ndim);
        return -1;
    }
    int64_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        /* 2^50 bytes at most, so every offset is exact in the JSON's doubles */
        if (t->dims[d] < 0 || (t->dims[d] > 0 && count > (INT64_C(1) << 47) / t->dims[d])) {
            tg_error_set(err, TG_ERR_ARG, "%s: tensor '%s': dimension %d is %lld", path,
                         t->name, d, (long long)t->dims[d]);
            return -1;
        }
        count *= t->dims[d];
    }
    if (count > 0 && !t->data) {
        tg_error_set(err, TG_ERR_ARG, "%s: tensor '%s': no data", path, t->name);
        return -1;
    }
    return count;
}

/* The header JSON for tensors in `order`; NULL (err set) on failure. */
static char *make_header(const char *path, const tg_st_tensor *t, const int *order, int n,
                         const int64_t *count, const char *const *meta, tg_error *err) {
    cJSON *h = cJSON_CreateObject();
    int ok = h != NULL;
    if (ok && meta && meta[0]) {
        cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
        ok = m != NULL;
        for (int i = 0; ok && meta[i]; i += 2) {
            if (!meta[i + 1] || cJSON_GetObjectItemCaseSensitive(m, meta[i])) {
                cJSON_Delete(h);
                tg_error_set(err, TG_ERR_ARG, "%s: metadata key '%s' %s", path, meta[i],
                             meta[i + 1] ? "is repeated" : "has no value");
                return NULL;
            }
            ok = cJSON_AddStringToObject(m, meta[i], meta[i + 1]) != NULL;
        }
    }
    int64_t off = 0;
    for (int q = 0; ok && q < n; q++) {
        const tg_st_tensor *x = &t[order[q]];
        if (cJSON_GetObjectItemCaseSensitive(h, x->name)) {
            cJSON_Delete(h);
            tg_error_set(err, TG_ERR_ARG, "%s: tensor name '%s' is repeated", path, x->name);
            return NULL;
        }
        cJSON *e = cJSON_AddObjectToObject(h, x->name);
        cJSON *shape = e && cJSON_AddStringToObject(e, "dtype", dtype_name(x->dtype))
                           ? cJSON_AddArrayToObject(e, "shape")
                           : NULL;
        ok = shape != NULL;
        for (int d = 0; ok && d < x->ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)x->dims[d]));
        int64_t end = off + count[order[q]] * (int64_t)dtype_size(x->dtype);
        cJSON *offs = ok ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        ok = offs && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off)) &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)end));
        off = end;
    }
    char *s = ok ? cJSON_PrintUnformatted(h) : NULL;
    cJSON_Delete(h);
    if (!s) tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory for the header", path);
    return s;
}

tg_status tg_safetensors_write(const char *path, const tg_st_tensor *t, int n,
                               const char *const *meta, tg_error *err) {
    if (n < 0 || (n > 0 && !t))
        return tg_error_set(err, TG_ERR_ARG, "%s: %d tensors", path, n);
    int *order = malloc(sizeof(int) * (size_t)(n + 1));
    int64_t *count = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!order || !count) {
        free(order), free(count);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        count[i] = check_tensor(path, &t[i], i, err);
        if (count[i] < 0 || (total += count[i]) > (INT64_C(1) << 47)) {
            if (count[i] >= 0)
                tg_error_set(err, TG_ERR_ARG, "%s: more than 2^47 values in all", path);
            free(order), free(count);
            return err ? err->status : TG_ERR_ARG;
        }
    }
    /* decreasing element size, stable */
    int q = 0;
    for (int i = 0; i < n; i++)
        if (dtype_size(t[i].dtype) == 8) order[q++] = i;
    for (int i = 0; i < n; i++)
        if (dtype_size(t[i].dtype) == 4) order[q++] = i;
    char *json = make_header(path, t, order, n, count, meta, err);
    if (!json) {
        free(order), free(count);
        return err ? err->status : TG_ERR_NOMEM;
    }
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    unsigned char lenbuf[8];
    for (int b = 0; b < 8; b++) lenbuf[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    tg_atomic f;
    tg_status st = tg_atomic_begin(&f, path, err);
    if (st == TG_OK) {
        tg_atomic_write(&f, lenbuf, 8);
        tg_atomic_write(&f, json, len);
        tg_atomic_write(&f, "        ", padded - len);
        for (int i = 0; i < n; i++)
            write_le(&f, t[order[i]].data, (size_t)count[order[i]], dtype_size(t[order[i]].dtype));
        st = tg_atomic_commit(&f, err);
    }
    free(json), free(order), free(count);
    return st;
}
