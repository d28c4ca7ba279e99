/* teacher.c - teacher files: RDMs, the images they cover, unit and method. */
#include "tgsage/teacher.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tgsage/fileio.h"
#include "tgsage/tensorfile.h"

void tg_teacher_free(tg_teacher *t) {
    for (int i = 0; i < t->nlayers; i++) free(t->rdms[i]);
    free(t->images);
    free(t->labels);
    memset(t, 0, sizeof *t);
}

tg_status tg_teacher_add(tg_teacher *t, const char *name, const double *rdm, int64_t m,
                         tg_error *err) {
    if (t->nlayers == TG_TEACHER_MAX_LAYERS)
        return tg_error_set(err, TG_ERR_ARG, "teacher: more than %d layers",
                            TG_TEACHER_MAX_LAYERS);
    if (m < 3) return tg_error_set(err, TG_ERR_SHAPE, "teacher layer %s: RDM of %lld items "
                                   "(need at least 3)", name, (long long)m);
    if (t->nlayers && m != t->m)
        return tg_error_set(err, TG_ERR_SHAPE,
                            "teacher layer %s: RDM of %lld items, the others have %lld", name,
                            (long long)m, (long long)t->m);
    for (int i = 0; i < t->nlayers; i++)
        if (strcmp(t->names[i], name) == 0)
            return tg_error_set(err, TG_ERR_ARG, "teacher: two layers named %s", name);
    double *c = malloc(sizeof(double) * (size_t)(m * m));
    if (!c) return tg_error_set(err, TG_ERR_NOMEM, "teacher: out of memory");
    memcpy(c, rdm, sizeof(double) * (size_t)(m * m));
    snprintf(t->names[t->nlayers], sizeof t->names[0], "%s", name);
    t->rdms[t->nlayers++] = c;
    t->m = m;
    return TG_OK;
}

tg_status tg_teacher_save(const char *path, const tg_teacher *t, tg_error *err) {
    if (t->nlayers < 1) return tg_error_set(err, TG_ERR_ARG, "%s: a teacher needs a layer", path);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "tgsage-teacher");
    cJSON_AddNumberToObject(j, "version", TG_TEACHER_VERSION);
    cJSON *names = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < t->nlayers; i++) cJSON_AddItemToArray(names, cJSON_CreateString(t->names[i]));
    cJSON_AddStringToObject(j, "unit", tg_rdm_unit_name(t->unit));
    cJSON_AddStringToObject(j, "method", tg_sim_method_name(t->method));
    cJSON_AddNumberToObject(j, "items", (double)t->m);
    cJSON_AddNumberToObject(j, "images", (double)t->n);
    cJSON_AddStringToObject(j, "data_fingerprint", t->data_fingerprint);
    cJSON_AddStringToObject(j, "data", t->data);
    cJSON_AddStringToObject(j, "source", t->source);
    cJSON_AddNumberToObject(j, "max_features", (double)t->max_features);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    char *meta = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    tg_tensor ts[TG_TEACHER_MAX_LAYERS + 2];
    memset(ts, 0, sizeof ts);
    int n = 0;
    for (int i = 0; i < t->nlayers; i++, n++) {
        snprintf(ts[n].name, sizeof ts[n].name, "rdm.%d", i);
        ts[n].dtype = TG_DT_F64, ts[n].ndim = 2, ts[n].dims[0] = ts[n].dims[1] = t->m;
        ts[n].count = (size_t)(t->m * t->m), ts[n].data = t->rdms[i];
    }
    if (t->n > 0) {
        const char *nm[2] = {"images", "labels"};
        int32_t *v[2] = {t->images, t->labels};
        for (int k = 0; k < 2; k++, n++) {
            snprintf(ts[n].name, sizeof ts[n].name, "%s", nm[k]);
            ts[n].dtype = TG_DT_I32, ts[n].ndim = 1, ts[n].dims[0] = t->n;
            ts[n].count = (size_t)t->n, ts[n].data = v[k];
        }
    }
    tg_status st = meta ? tg_tfile_write(path, meta, n, ts, err)
                        : tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    free(meta);
    return st;
}

tg_status tg_teacher_load(const char *path, tg_teacher *t, tg_error *err) {
    memset(t, 0, sizeof *t);
    tg_tensor_file f;
    tg_status st = tg_tfile_read(path, &f, err);
    if (st != TG_OK) return st;
    cJSON *j = cJSON_Parse(f.meta);
    const cJSON *fmt = cJSON_GetObjectItem(j, "format"), *ver = cJSON_GetObjectItem(j, "version");
    const cJSON *layers = cJSON_GetObjectItem(j, "layers"), *unit = cJSON_GetObjectItem(j, "unit");
    const cJSON *method = cJSON_GetObjectItem(j, "method"), *fp = cJSON_GetObjectItem(j, "data_fingerprint");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "tgsage-teacher") != 0) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: not a tgsage teacher file", path);
        goto done;
    }
    if (!cJSON_IsNumber(ver) || ver->valueint != TG_TEACHER_VERSION) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: teacher format version %d, this tgsage reads %d",
                          path, cJSON_IsNumber(ver) ? ver->valueint : -1, TG_TEACHER_VERSION);
        goto done;
    }
    int u = cJSON_IsString(unit) ? tg_rdm_unit_parse(unit->valuestring) : -1;
    int me = cJSON_IsString(method) ? tg_sim_method_parse(method->valuestring) : -1;
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 1 ||
        cJSON_GetArraySize(layers) > TG_TEACHER_MAX_LAYERS || u < 0 || me < 0 ||
        !cJSON_IsString(fp)) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: teacher metadata incomplete (layers, unit, "
                          "method, data_fingerprint)", path);
        goto done;
    }
    t->unit = (tg_rdm_unit)u, t->method = (tg_sim_method)me;
    snprintf(t->data_fingerprint, sizeof t->data_fingerprint, "%s", fp->valuestring);
    const cJSON *v;
    if (cJSON_IsString(v = cJSON_GetObjectItem(j, "data"))) snprintf(t->data, sizeof t->data, "%s", v->valuestring);
    if (cJSON_IsString(v = cJSON_GetObjectItem(j, "source"))) snprintf(t->source, sizeof t->source, "%s", v->valuestring);
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "max_features"))) t->max_features = (int64_t)v->valuedouble;
    if (cJSON_IsString(v = cJSON_GetObjectItem(j, "seed"))) t->seed = strtoull(v->valuestring, NULL, 10);
    for (int i = 0; i < cJSON_GetArraySize(layers); i++) {
        const cJSON *nm = cJSON_GetArrayItem(layers, i);
        char tn[32];
        snprintf(tn, sizeof tn, "rdm.%d", i);
        const tg_tensor *r = tg_tfile_find(&f, tn);
        if (!cJSON_IsString(nm) || !r || r->dtype != TG_DT_F64 || r->ndim != 2 ||
            r->dims[0] != r->dims[1]) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: layer %d has no square float64 RDM", path, i);
            goto done;
        }
        if ((st = tg_teacher_add(t, nm->valuestring, r->data, r->dims[0], err)) != TG_OK) goto done;
    }
    const tg_tensor *im = tg_tfile_find(&f, "images"), *lb = tg_tfile_find(&f, "labels");
    if (im || lb) {
        if (!im || !lb || im->dtype != TG_DT_I32 || lb->dtype != TG_DT_I32 || im->count != lb->count) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: image indices and labels do not match", path);
            goto done;
        }
        t->n = (int64_t)im->count;
        t->images = malloc(sizeof(int32_t) * im->count + 1);
        t->labels = malloc(sizeof(int32_t) * lb->count + 1);
        if (!t->images || !t->labels) {
            st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        memcpy(t->images, im->data, sizeof(int32_t) * im->count);
        memcpy(t->labels, lb->data, sizeof(int32_t) * lb->count);
    }
done:
    cJSON_Delete(j);
    tg_tfile_free(&f);
    if (st != TG_OK) tg_teacher_free(t);
    return st;
}

tg_status tg_teacher_check_data(const tg_teacher *t, const tg_dataset *d, tg_error *err) {
    if (!t->data_fingerprint[0] || t->n == 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "the teacher is not tied to images of a dataset (made from RDMs "
                            "alone): compare it with candidate RDMs instead");
    if (strcmp(t->data_fingerprint, d->fingerprint) != 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "the teacher was made on other data (%s, fingerprint %s) than %s "
                            "(fingerprint %s)", t->data, t->data_fingerprint, d->source,
                            d->fingerprint);
    for (int64_t i = 0; i < t->n; i++)
        if (t->images[i] < 0 || t->images[i] >= d->n || d->labels[t->images[i]] != t->labels[i])
            return tg_error_set(err, TG_ERR_FORMAT,
                                "teacher image %lld (index %d) does not match %s", (long long)i,
                                t->images[i], d->source);
    return TG_OK;
}

/* Tensor files are read from paths: the bytes go through a private
 * temporary file, removed at once. */
tg_status tg_teacher_load_bytes(const void *buf, size_t n, const char *what, tg_teacher *t,
                                tg_error *err) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !dir[0]) dir = "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/tgsage-teacher-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return tg_error_set(err, TG_ERR_IO, "%s: cannot make a temporary file in %s: %s", what,
                            dir, strerror(errno));
    int ok = tg_write_all(fd, buf, n) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) ok = 0, e = errno;
    tg_status st = ok ? tg_teacher_load(path, t, err)
                      : tg_error_set(err, TG_ERR_IO, "%s: cannot write %s: %s", what, path,
                                     strerror(e));
    unlink(path);
    return st;
}
