/* genome.c - genomes in memory: allocation, copies, the canonical JSON and
 * its hash.
 *
 * The canonical form is written field by field, never by a JSON printer, so
 * it cannot drift with a library version: keys sorted bytewise, no
 * whitespace, integers in decimal, a layer's inputs ascending with the
 * image as -1 (an empty list is never written). The hash is XXH3-128 of
 * those bytes, as 32 lower-case hex digits, high half first. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "space_internal.h"

tg_genome *tg_genome_new_layerwise(int max_layers, int nlayers) {
    TG_ASSERT(nlayers >= 0 && nlayers <= TG_LW_MAX_LAYERS);
    tg_genome *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->kind = TG_SPACE_LAYERWISE;
    g->max_layers = max_layers;
    g->nlayers = nlayers;
    g->layers = calloc((size_t)nlayers + 1, sizeof *g->layers);
    if (!g->layers) {
        free(g);
        return NULL;
    }
    return g;
}

tg_genome *tg_genome_new_cell(int blocks_per_cell, int cells_per_stage, int filters) {
    tg_genome *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->kind = TG_SPACE_CELL;
    g->blocks_per_cell = blocks_per_cell;
    g->cells_per_stage = cells_per_stage;
    g->filters = filters;
    return g;
}

void tg_genome_free(tg_genome *g) {
    if (!g) return;
    free(g->layers);
    free(g);
}

tg_genome *tg_genome_copy(const tg_genome *g) {
    tg_genome *c = malloc(sizeof *c);
    if (!c) return NULL;
    *c = *g;
    c->layers = NULL;
    if (g->kind == TG_SPACE_LAYERWISE) {
        c->layers = malloc(sizeof *c->layers * ((size_t)g->nlayers + 1));
        if (!c->layers) {
            free(c);
            return NULL;
        }
        memcpy(c->layers, g->layers, sizeof *c->layers * (size_t)g->nlayers);
    }
    return c;
}

const char *tg_genome_space_name(const tg_genome *g) {
    return g->kind == TG_SPACE_CELL ? "cell" : "layerwise";
}

/* ---- canonical JSON -------------------------------------------------------- */

void tg_strbuf_put(tg_strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = 2 * b->cap + (size_t)k + 1;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p, b->cap = cap;
    }
}

char *tg_strbuf_take(tg_strbuf *b) {
    if (b->failed) {
        free(b->s);
        return NULL;
    }
    return b->s;
}


char *tg_genome_json(const tg_genome *g) {
    tg_strbuf b = {malloc(256), 0, 256, 0};
    if (!b.s) return NULL;
    b.s[0] = '\0';
    if (g->kind == TG_SPACE_CELL) {
        tg_strbuf_put(&b, "{\"blocks\":[");
        for (int i = 0; i < g->blocks_per_cell; i++) {
            const tg_cell_block *k = &g->blocks[i];
            tg_strbuf_put(&b, "%s{\"inputs\":[%d,%d],\"ops\":[\"%s\",\"%s\"]}", i ? "," : "", k->in[0],
                k->in[1], tg_cell_op_names[k->op[0]], tg_cell_op_names[k->op[1]]);
        }
        tg_strbuf_put(&b, "],\"blocks_per_cell\":%d,\"cells_per_stage\":%d,\"concat_inputs\":[%s,%s],"
            "\"filters\":%d,\"schema\":%d,\"space\":\"cell\"}",
            g->blocks_per_cell, g->cells_per_stage, g->concat[0] ? "true" : "false",
            g->concat[1] ? "true" : "false", g->filters, TG_SCHEMA_VERSION);
    } else {
        tg_strbuf_put(&b, "{\"layers\":[");
        for (int i = 0; i < g->nlayers; i++) {
            const tg_lw_layer *L = &g->layers[i];
            tg_strbuf_put(&b, "%s{\"act\":\"%s\",\"filters\":%d,\"inputs\":[", i ? "," : "",
                tg_act_names[L->act], L->filters);
            if (L->nin == 0) tg_strbuf_put(&b, "-1");
            for (int q = 0; q < L->nin; q++) tg_strbuf_put(&b, "%s%d", q ? "," : "", L->in[q]);
            tg_strbuf_put(&b, "],\"kh\":%d,\"kw\":%d,\"norm\":\"%s\",\"stride\":%d}", L->kh, L->kw,
                tg_norm_names[L->norm], L->stride);
        }
        tg_strbuf_put(&b, "],\"max_layers\":%d,\"schema\":%d,\"space\":\"layerwise\"}", g->max_layers,
            TG_SCHEMA_VERSION);
    }
    return tg_strbuf_take(&b);
}

void tg_genome_hash(const tg_genome *g, char out[33]) {
    char *j = tg_genome_json(g);
    TG_ASSERT(j);   /* a few kilobytes at most: out of memory here is fatal */
    XXH128_hash_t h = XXH3_128bits(j, strlen(j));
    free(j);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
}
