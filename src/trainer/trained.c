/* trained.c - rebuilding a trained network from its checkpoint. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/checkpoint.h"
#include "tgsage/models.h"
#include "tgsage/tensorfile.h"
#include "tgsage/trainer.h"

void tg_trained_free(tg_trained *t) {
    tg_net_free(t->net);
    tg_graph_free(t->g);
    memset(t, 0, sizeof *t);
}

tg_status tg_trained_load(const char *path, int batch, const char *backend,
                          tg_trained *t, tg_error *err) {
    memset(t, 0, sizeof *t);
    tg_tensor_file f;
    tg_status st = tg_tfile_read(path, &f, err);
    if (st != TG_OK) return st;
    cJSON *j = cJSON_Parse(f.meta);
    tg_tfile_free(&f);
    const cJSON *fmt = cJSON_GetObjectItem(j, "format"), *net = cJSON_GetObjectItem(j, "net");
    const cJSON *in = cJSON_GetObjectItem(j, "input"), *cls = cJSON_GetObjectItem(j, "classes");
    const cJSON *fp = cJSON_GetObjectItem(j, "data_fingerprint");
    const cJSON *ep = cJSON_GetObjectItem(j, "epoch");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "tgsage-checkpoint") != 0 ||
        !cJSON_IsString(net) || !cJSON_IsArray(in) || cJSON_GetArraySize(in) != 3 ||
        !cJSON_IsNumber(cls) || !cJSON_IsString(fp)) {
        cJSON_Delete(j);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: the checkpoint's metadata does not say which network it "
                            "holds (not written by tgsage train?)", path);
    }
    snprintf(t->net_spec, sizeof t->net_spec, "%s", net->valuestring);
    snprintf(t->data_fingerprint, sizeof t->data_fingerprint, "%s", fp->valuestring);
    t->c = cJSON_GetArrayItem(in, 0)->valueint;
    t->h = cJSON_GetArrayItem(in, 1)->valueint;
    t->w = cJSON_GetArrayItem(in, 2)->valueint;
    t->classes = cls->valueint;
    t->epoch = cJSON_IsNumber(ep) ? ep->valuedouble : 0;
    cJSON_Delete(j);
    const tg_backend *be = backend && backend[0] ? tg_backend_find(backend) : NULL;
    if (backend && backend[0] && !be)
        return tg_error_set(err, TG_ERR_ARG, "backend '%s': expected dnnl or ref", backend);
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    t->g = tg_model_build(t->net_spec, t->c, t->h, t->w, t->classes, err);
    if (t->g) t->net = tg_net_new(t->g, batch, be, &rng, err);
    if (t->net) st = tg_ckpt_load(path, t->net, NULL, NULL, err);
    else st = err ? err->status : TG_ERR_FORMAT;
    if (st != TG_OK) tg_trained_free(t);
    return st;
}
