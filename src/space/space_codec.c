/* space_codec.c - points of a space <-> genomes, and the check of a
 * genome's values against a space.
 *
 * decode(x) is a genome of the space for every point whose active entries
 * are in range; encode(g) is a point that decodes to g. The two are inverse
 * except in one place: a layer-wise layer with no connection chosen takes
 * the image, the same genome as a layer connected to the image alone, and
 * encode writes it the second way (in[-1] = 1). */
#include <stdio.h>
#include <string.h>

#include "space_internal.h"

static tg_status check_in(const tg_intset *set, int v, const char *path, tg_error *err) {
    if (tg_intset_has(set, v)) return TG_OK;
    char list[512];
    tg_intset_list(set, list, sizeof list);
    return tg_error_set(err, TG_ERR_ARG, "%s: %d is not one of %s", path, v, list);
}

tg_status tg_space_check(const tg_space *s, const tg_genome *g, tg_error *err) {
    if ((int)g->kind != (int)s->kind)
        return tg_error_set(err, TG_ERR_ARG, "space: \"%s\" does not match the space %s",
                            tg_genome_space_name(g), s->spec);
    char path[64];
    if (s->kind == TG_SPACE_CELL) {
        const char *keys[3] = {"blocks_per_cell", "cells_per_stage", "filters"};
        int have[3] = {g->blocks_per_cell, g->cells_per_stage, g->filters};
        int want[3] = {s->blocks, s->n, s->f};
        for (int i = 0; i < 3; i++)
            if (have[i] != want[i])
                return tg_error_set(err, TG_ERR_ARG, "%s: %d does not match the space %s",
                                    keys[i], have[i], s->spec);
        return TG_OK;
    }
    if (g->max_layers != s->nl)
        return tg_error_set(err, TG_ERR_ARG, "max_layers: %d does not match the space %s",
                            g->max_layers, s->spec);
    for (int i = 0; i < g->nlayers; i++) {
        const tg_lw_layer *L = &g->layers[i];
        const char *fields[4] = {"filters", "kh", "kw", "stride"};
        const int vals[4] = {L->filters, L->kh, L->kw, L->stride};
        const tg_intset *sets[4] = {&s->filters, &s->kernels, &s->kernels, &s->strides};
        for (int f = 0; f < 4; f++) {
            snprintf(path, sizeof path, "layers[%d].%s", i, fields[f]);
            tg_status st = check_in(sets[f], vals[f], path, err);
            if (st != TG_OK) return st;
        }
    }
    return TG_OK;
}

/* x[i], which must be a choice of dimension i; -1 (err set) if it is not */
static int choice(const tg_space *s, const int *x, int i, tg_error *err) {
    const tg_dim *d = &s->dims[i];
    if (x[i] < 0 || x[i] >= d->nchoices) {
        tg_error_set(err, TG_ERR_ARG, "%s: choice %d is out of range (0..%d)", d->name, x[i],
                     d->nchoices - 1);
        return -1;
    }
    return x[i];
}

static tg_genome *decode_layerwise(const tg_space *s, const int *x, tg_error *err) {
    int k = choice(s, x, 0, err);
    if (k < 0) return NULL;
    tg_genome *g = tg_genome_new_layerwise(s->nl, k + 1);
    if (!g) {
        tg_error_set(err, TG_ERR_NOMEM, "decode: out of memory");
        return NULL;
    }
    for (int i = 0; i < g->nlayers; i++) {
        tg_lw_layer *L = &g->layers[i];
        int o = s->layer_off[i], c[6];
        for (int f = 0; f < 6; f++)
            if ((c[f] = choice(s, x, o + f, err)) < 0) {
                tg_genome_free(g);
                return NULL;
            }
        L->filters = s->filters.v[c[0]];
        L->kh = s->kernels.v[c[1]];
        L->kw = s->kernels.v[c[2]];
        L->stride = s->strides.v[c[3]];
        L->act = c[4];
        L->norm = c[5];
        L->nin = 0;
        for (int j = -1; i > 0 && j < i; j++) {
            int on = choice(s, x, o + 6 + (j + 1), err);
            if (on < 0) {
                tg_genome_free(g);
                return NULL;
            }
            if (on) L->in[L->nin++] = j;
        }
        if (L->nin == 0) L->in[L->nin++] = -1;
    }
    return g;
}

static tg_genome *decode_cell(const tg_space *s, const int *x, tg_error *err) {
    tg_genome *g = tg_genome_new_cell(s->blocks, s->n, s->f);
    if (!g) {
        tg_error_set(err, TG_ERR_NOMEM, "decode: out of memory");
        return NULL;
    }
    for (int b = 0; b < s->blocks; b++)
        for (int q = 0; q < 2; q++) {
            int in = choice(s, x, 4 * b + q, err);
            int op = in < 0 ? -1 : choice(s, x, 4 * b + 2 + q, err);
            if (op < 0) {
                tg_genome_free(g);
                return NULL;
            }
            g->blocks[b].in[q] = in - 2;
            g->blocks[b].op[q] = op;
        }
    for (int q = 0; q < 2; q++)
        if ((g->concat[q] = choice(s, x, 4 * s->blocks + q, err)) < 0) {
            tg_genome_free(g);
            return NULL;
        }
    return g;
}

tg_genome *tg_space_decode(const tg_space *s, const int *x, tg_error *err) {
    return s->kind == TG_SPACE_CELL ? decode_cell(s, x, err) : decode_layerwise(s, x, err);
}

tg_status tg_space_encode(const tg_space *s, const tg_genome *g, int *x, tg_error *err) {
    tg_status st = tg_space_check(s, g, err);
    if (st != TG_OK) return st;
    for (int i = 0; i < s->ndims; i++) x[i] = -1;
    if (s->kind == TG_SPACE_CELL) {
        for (int b = 0; b < s->blocks; b++)
            for (int q = 0; q < 2; q++) {
                x[4 * b + q] = g->blocks[b].in[q] + 2;
                x[4 * b + 2 + q] = g->blocks[b].op[q];
            }
        x[4 * s->blocks] = g->concat[0];
        x[4 * s->blocks + 1] = g->concat[1];
        return TG_OK;
    }
    x[0] = g->nlayers - 1;
    for (int i = 0; i < g->nlayers; i++) {
        const tg_lw_layer *L = &g->layers[i];
        int o = s->layer_off[i];
        x[o] = tg_intset_index(&s->filters, L->filters);
        x[o + 1] = tg_intset_index(&s->kernels, L->kh);
        x[o + 2] = tg_intset_index(&s->kernels, L->kw);
        x[o + 3] = tg_intset_index(&s->strides, L->stride);
        x[o + 4] = L->act;
        x[o + 5] = L->norm;
        if (i == 0) continue;
        for (int j = -1; j < i; j++) x[o + 6 + (j + 1)] = 0;
        for (int q = 0; q < L->nin; q++) x[o + 6 + (L->in[q] + 1)] = 1;
    }
    return TG_OK;
}
