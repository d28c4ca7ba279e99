/* meta.c - a checkpoint's metadata: which network (name, or genome and
 * space), on which images, beside which validation split, how far trained.
 *
 * 64-bit seeds are written as decimal strings (a JSON number is a double).
 * The genome is stored as its canonical JSON text, a string, so that it
 * reads back byte for byte and hashes the same. Checkpoints written before
 * genomes and splits were recorded still read: without "genome" the net is
 * a built-in name, without "split" the split is unknown. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_internal.h"

void tg_ckpt_meta_free(tg_ckpt_meta *m) {
    free(m->genome);
    memset(m, 0, sizeof *m);
}

static void add_u64(cJSON *j, const char *key, uint64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    cJSON_AddStringToObject(j, key, s);
}

char *tg_ckpt_meta_write(const tg_ckpt_meta *m) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "format", "tgsage-checkpoint");
    cJSON_AddStringToObject(j, "net", m->net);
    if (m->genome) {
        cJSON_AddStringToObject(j, "genome", m->genome);
        cJSON_AddStringToObject(j, "space", m->space);
        cJSON_AddStringToObject(j, "genome_hash", m->hash);
    }
    int dims[3] = {m->c, m->h, m->w};
    cJSON_AddItemToObject(j, "input", cJSON_CreateIntArray(dims, 3));
    cJSON_AddNumberToObject(j, "classes", m->classes);
    cJSON_AddStringToObject(j, "data_fingerprint", m->data_fingerprint);
    cJSON_AddStringToObject(j, "data", m->data);
    if (m->split.all_fingerprint[0]) {
        cJSON *s = cJSON_AddObjectToObject(j, "split");
        cJSON_AddStringToObject(s, "data", m->split.data);
        cJSON_AddStringToObject(s, "fingerprint", m->split.all_fingerprint);
        cJSON_AddStringToObject(s, "val_fingerprint", m->split.val_fingerprint);
        add_u64(s, "seed", m->split.seed);
        cJSON_AddNumberToObject(s, "val", (double)m->split.nval);
        cJSON_AddNumberToObject(s, "train_limit", (double)m->split.train_limit);
    }
    cJSON_AddNumberToObject(j, "epoch", m->epoch);
    cJSON_AddNumberToObject(j, "step", (double)m->step);
    cJSON_AddNumberToObject(j, "epochs", m->epochs);
    cJSON_AddNumberToObject(j, "batch", m->batch);
    add_u64(j, "seed", m->seed);
    if (m->val_acc >= 0) cJSON_AddNumberToObject(j, "val_accuracy", m->val_acc);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* a string member of at most `size` - 1 bytes into out ("" if absent) */
static int get_str(const cJSON *j, const char *key, char *out, size_t size, int required) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    out[0] = '\0';
    if (!v) return !required;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= size) return 0;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 1;
}

static int get_num(const cJSON *j, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) return 0;
    *out = v->valuedouble;
    return 1;
}

static int get_u64(const cJSON *j, const char *key, uint64_t *out) {
    char s[32], *end;
    if (!get_str(j, key, s, sizeof s, 1) || !s[0]) return 0;
    *out = strtoull(s, &end, 10);
    return *end == '\0';
}

static tg_status read_split(const char *path, const cJSON *s, tg_split_info *o, tg_error *err) {
    double val, lim;
    if (!cJSON_IsObject(s) || !get_str(s, "data", o->data, sizeof o->data, 1) ||
        !get_str(s, "fingerprint", o->all_fingerprint, sizeof o->all_fingerprint, 1) ||
        !get_str(s, "val_fingerprint", o->val_fingerprint, sizeof o->val_fingerprint, 1) ||
        !get_u64(s, "seed", &o->seed) || !get_num(s, "val", &val) ||
        !get_num(s, "train_limit", &lim) || !o->all_fingerprint[0] || val < 1 || lim < 0) {
        memset(o, 0, sizeof *o);
        return tg_error_set(err, TG_ERR_FORMAT, "%s: metadata 'split' is malformed (data, "
                            "fingerprint, val_fingerprint, seed, val, train_limit)", path);
    }
    o->nval = (int64_t)val, o->train_limit = (int64_t)lim;
    return TG_OK;
}

tg_status tg_ckpt_meta_read(const char *path, const char *json, tg_ckpt_meta *m,
                            tg_error *err) {
    memset(m, 0, sizeof *m);
    cJSON *j = cJSON_Parse(json ? json : "");
    char fmt[32];
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
    double cls;
    int ok = cJSON_IsObject(j) && get_str(j, "format", fmt, sizeof fmt, 1) &&
             strcmp(fmt, "tgsage-checkpoint") == 0 &&
             get_str(j, "net", m->net, sizeof m->net, 1) && m->net[0] &&
             cJSON_IsArray(in) && cJSON_GetArraySize(in) == 3 && get_num(j, "classes", &cls) &&
             get_str(j, "data_fingerprint", m->data_fingerprint, sizeof m->data_fingerprint, 1);
    int dims[3] = {0, 0, 0};
    for (int i = 0; ok && i < 3; i++) {
        const cJSON *d = cJSON_GetArrayItem(in, i);
        ok = cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= 1 << 16;
        if (ok) dims[i] = d->valueint;
    }
    if (!ok || cls < 1 || cls > 1 << 20) {
        cJSON_Delete(j);
        memset(m, 0, sizeof *m);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: the checkpoint's metadata does not say which network it "
                            "holds (not written by tgsage train?)", path);
    }
    m->c = dims[0], m->h = dims[1], m->w = dims[2], m->classes = (int)cls;
    get_str(j, "data", m->data, sizeof m->data, 0);
    tg_status st = TG_OK;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "genome");
    if (g) {
        if (!cJSON_IsString(g) || !get_str(j, "space", m->space, sizeof m->space, 1) ||
            !get_str(j, "genome_hash", m->hash, sizeof m->hash, 1))
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: metadata 'genome' needs a JSON string "
                              "beside 'space' and 'genome_hash'", path);
        else if (!(m->genome = strdup(g->valuestring)))
            st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "split");
    if (st == TG_OK && sp) st = read_split(path, sp, &m->split, err);
    double v;
    m->epoch = get_num(j, "epoch", &v) ? v : 0;
    m->epochs = get_num(j, "epochs", &v) ? v : 0;
    m->step = get_num(j, "step", &v) ? (int64_t)v : 0;
    m->batch = get_num(j, "batch", &v) ? (int)v : 0;
    m->val_acc = get_num(j, "val_accuracy", &v) ? v : -1;
    if (!get_u64(j, "seed", &m->seed)) m->seed = 0;
    cJSON_Delete(j);
    if (st != TG_OK) tg_ckpt_meta_free(m);
    return st;
}
