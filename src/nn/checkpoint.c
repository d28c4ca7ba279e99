/* checkpoint.c - net and optimizer state to and from tensor files. */
#include "tgsage/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/tensorfile.h"

static void from_param(tg_tensor *t, const char *prefix, const tg_param *p) {
    snprintf(t->name, sizeof t->name, "%s/%s", prefix, p->name);
    t->dtype = TG_DT_F32;
    t->ndim = p->ndim;
    for (int d = 0; d < p->ndim; d++) t->dims[d] = p->dims[d];
    t->count = p->size;
    t->data = p->data;
}

tg_status tg_ckpt_save(const char *path, tg_net *net, tg_optim *optim,
                       const char *meta, tg_error *err) {
    int np, ns;
    tg_param *p = tg_net_params(net, &np), *s = tg_net_state(net, &ns);
    tg_tensor *t = calloc((size_t)np + ns + 1, sizeof *t);
    if (!t) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    int n = 0;
    for (int i = 0; i < np; i++) from_param(&t[n++], "param", &p[i]);
    for (int i = 0; i < ns; i++) from_param(&t[n++], "state", &s[i]);
    if (optim) {
        size_t cnt;
        float *o = tg_optim_state(optim, &cnt);
        strcpy(t[n].name, "optim");
        t[n].dtype = TG_DT_F32, t[n].ndim = 1, t[n].dims[0] = (int64_t)cnt;
        t[n].count = cnt, t[n].data = o;
        n++;
    }
    tg_status st = tg_tfile_write(path, meta, n, t, err);
    free(t);
    return st;
}

/* Find name in f and check it holds a float tensor of the param's shape. */
static const tg_tensor *match(const tg_tensor_file *f, const char *path,
                              const char *prefix, const tg_param *p, tg_error *err) {
    char name[128];
    snprintf(name, sizeof name, "%s/%s", prefix, p->name);
    const tg_tensor *t = tg_tfile_find(f, name);
    if (!t) {
        tg_error_set(err, TG_ERR_FORMAT,
                     "%s: no tensor '%s': the checkpoint is of another network", path,
                     name);
        return NULL;
    }
    int same = t->dtype == TG_DT_F32 && t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->dims[d] == p->dims[d];
    if (!same) {
        tg_error_set(err, TG_ERR_SHAPE,
                     "%s: tensor '%s' has shape %lldx%lldx%lldx%lld (%d dims), the "
                     "network needs %dx%dx%dx%d",
                     path, name, (long long)t->dims[0],
                     (long long)(t->ndim > 1 ? t->dims[1] : 1),
                     (long long)(t->ndim > 2 ? t->dims[2] : 1),
                     (long long)(t->ndim > 3 ? t->dims[3] : 1), t->ndim, p->dims[0],
                     p->dims[1], p->dims[2], p->dims[3]);
        return NULL;
    }
    return t;
}

tg_status tg_ckpt_load(const char *path, tg_net *net, tg_optim *optim,
                       char **meta, tg_error *err) {
    tg_tensor_file f;
    tg_status st = tg_tfile_read(path, &f, err);
    if (st != TG_OK) return st;
    int np, ns;
    tg_param *p = tg_net_params(net, &np), *s = tg_net_state(net, &ns);
    const tg_tensor *ot = NULL;
    size_t ocount = 0;
    float *ostate = optim ? tg_optim_state(optim, &ocount) : NULL;
    /* validate everything first: a refused file changes nothing */
    for (int i = 0; i < np; i++)
        if (!match(&f, path, "param", &p[i], err)) goto fail;
    for (int i = 0; i < ns; i++)
        if (!match(&f, path, "state", &s[i], err)) goto fail;
    if (optim) {
        ot = tg_tfile_find(&f, "optim");
        if (!ot || ot->dtype != TG_DT_F32 || ot->count != ocount) {
            tg_error_set(err, TG_ERR_FORMAT,
                         "%s: no optimizer state of %zu values for this optimizer",
                         path, ocount);
            goto fail;
        }
    }
    if (meta) {
        *meta = strdup(f.meta);
        if (!*meta) {
            tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    for (int i = 0; i < np; i++)
        memcpy(p[i].data, match(&f, path, "param", &p[i], NULL)->data, 4 * p[i].size);
    for (int i = 0; i < ns; i++)
        memcpy(s[i].data, match(&f, path, "state", &s[i], NULL)->data, 4 * s[i].size);
    if (ot) memcpy(ostate, ot->data, 4 * ocount);
    tg_tfile_free(&f);
    return TG_OK;
fail:
    tg_tfile_free(&f);
    return err ? err->status : TG_ERR_FORMAT;
}
