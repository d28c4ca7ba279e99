/* trained.c - rebuilding a trained network from its checkpoint alone: the
 * metadata names a built-in net or carries the genome and its space. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/checkpoint.h"
#include "tgsage/tensorfile.h"
#include "trainer_internal.h"

void tg_trained_free(tg_trained *t) {
    tg_net_free(t->net);
    tg_graph_free(t->g);
    free(t->genome);
    memset(t, 0, sizeof *t);
}

tg_status tg_trained_load(const char *path, int batch, const char *backend,
                          tg_trained *t, tg_error *err) {
    memset(t, 0, sizeof *t);
    const tg_backend *be = backend && backend[0] ? tg_backend_find(backend) : NULL;
    if (backend && backend[0] && !be)
        return tg_error_set(err, TG_ERR_ARG, "backend '%s': expected dnnl or ref", backend);
    tg_tensor_file f;
    tg_status st = tg_tfile_read(path, &f, err);
    if (st != TG_OK) return st;
    tg_ckpt_meta m;
    st = tg_ckpt_meta_read(path, f.meta, &m, err);
    tg_tfile_free(&f);
    if (st != TG_OK) return st;
    snprintf(t->net_spec, sizeof t->net_spec, "%s", m.net);
    snprintf(t->data_fingerprint, sizeof t->data_fingerprint, "%s", m.data_fingerprint);
    t->split = m.split;
    t->c = m.c, t->h = m.h, t->w = m.w, t->classes = m.classes;
    t->epoch = m.epoch;
    /* a genome is validated again (the file may come from anywhere) and
     * must still hash as recorded */
    tg_net_source src;
    tg_error e;
    st = tg_net_source_resolve(m.net, m.genome, m.space, &src, &e);
    if (st != TG_OK)
        tg_error_set(err, st, "%s: %s", path, e.msg);
    else if (m.genome && strcmp(src.hash, m.hash) != 0)
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: the genome hashes to %s, the metadata says "
                          "%s", path, src.hash, m.hash);
    tg_ckpt_meta_free(&m);
    if (st != TG_OK) {
        tg_net_source_free(&src);
        return st;
    }
    if (src.genome) {
        t->genome = src.genome, src.genome = NULL;  /* taken over */
        snprintf(t->space, sizeof t->space, "%s", src.space);
    }
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    t->g = tg_net_source_build(&src, t->c, t->h, t->w, t->classes, err);
    tg_net_source_free(&src);
    if (t->g) t->net = tg_net_new(t->g, batch, be, &rng, err);
    if (t->net) st = tg_ckpt_load(path, t->net, NULL, NULL, err);
    else st = err ? err->status : TG_ERR_FORMAT;
    if (st != TG_OK) tg_trained_free(t);
    return st;
}
