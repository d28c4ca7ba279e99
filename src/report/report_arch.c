/* report_arch.c - the focus study's best architecture drawn (the paper's
 * Figure 6) as nodes and edges placed here, drawn by Vega-Lite layers (rules
 * for the edges, marks and text for the nodes).
 *
 * A layer-wise genome is its DAG: the image, each layer, and the classifier
 * fed by every layer no later layer reads. A cell genome is its cell: the
 * inputs h[-2] and h[-1], one "+" per block with the ops on its incoming
 * edges, and the output concatenation of the blocks no later block reads
 * (and of the cell inputs concat_inputs chooses, dashed). A node's column
 * is its depth, 1 + the deepest of its inputs (the image and the cell
 * inputs are 0, the classifier or output one past the deepest); within a
 * column nodes are stacked in order, centred on 0, first on top. The genome
 * comes from the database, so it is validated first and read back in its
 * canonical form. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "tgsage/genome.h"

#define MAX_NODES 128   /* layer-wise spaces have at most a few dozen layers */

typedef struct {
    char id[24], label[40], detail[80];
    const char *kind;
    int depth;
    double y;
} node;

typedef struct {
    int from, to;
    char label[24];
    const char *style;     /* solid, dashed */
    double at;             /* where along the edge its label sits */
} edge;

typedef struct {
    node n[MAX_NODES];
    int nn;
    edge e[4 * MAX_NODES];
    int ne;
} graph;

static int add_node(graph *g, const char *id, const char *label, const char *detail,
                    const char *kind, int depth) {
    if (g->nn == MAX_NODES) return -1;
    node *v = &g->n[g->nn];
    snprintf(v->id, sizeof v->id, "%s", id);
    snprintf(v->label, sizeof v->label, "%s", label);
    snprintf(v->detail, sizeof v->detail, "%s", detail);
    v->kind = kind;
    v->depth = depth;
    return g->nn++;
}

static void add_edge(graph *g, int from, int to, const char *label, const char *style,
                     double at) {
    if (from < 0 || to < 0 || g->ne == (int)(sizeof g->e / sizeof g->e[0])) return;
    edge *e = &g->e[g->ne++];
    e->from = from, e->to = to, e->style = style, e->at = at;
    snprintf(e->label, sizeof e->label, "%s", label);
}

static int int_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int layerwise(graph *g, const cJSON *doc) {
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(doc, "layers");
    int nl = cJSON_GetArraySize(layers);
    if (nl + 2 > MAX_NODES) return -1;
    int image = add_node(g, "image", "image", "", "image", 0), deepest = 0;
    char *read = calloc((size_t)nl + 1, 1);
    if (!read) return -1;
    for (int i = 0; i < nl; i++) {
        const cJSON *L = cJSON_GetArrayItem(layers, i), *in;
        int depth = 0;
        cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(L, "inputs")) {
            int src = in->valueint;
            int d = src < 0 ? 0 : g->n[1 + src].depth;
            if (d > depth) depth = d;
        }
        char id[24], detail[80];
        snprintf(id, sizeof id, "layer%d", i);
        const char *norm = str_of(L, "norm"), *act = str_of(L, "act");
        snprintf(detail, sizeof detail, "%d %dx%d%s%s%s", int_of(L, "filters"), int_of(L, "kh"),
                 int_of(L, "kw"), int_of(L, "stride") == 2 ? " /2" : "",
                 !strcmp(norm, "bn") ? " bn" : "", !strcmp(act, "relu") ? " relu" : "");
        int v = add_node(g, id, id, detail, "layer", depth + 1);
        if (depth + 1 > deepest) deepest = depth + 1;
        cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(L, "inputs")) {
            int src = in->valueint;
            add_edge(g, src < 0 ? image : 1 + src, v, "", "solid", 0.5);
            if (src >= 0) read[src] = 1;
        }
    }
    int fc = add_node(g, "classifier", "classifier", "pool + fc", "output", deepest + 1);
    for (int i = 0; i < nl; i++)
        if (!read[i]) add_edge(g, 1 + i, fc, "", "solid", 0.5);
    free(read);
    return 0;
}

static int cell(graph *g, const cJSON *doc) {
    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(doc, "blocks");
    int nb = cJSON_GetArraySize(blocks), deepest = 0;
    if (nb + 3 > MAX_NODES) return -1;
    int h2 = add_node(g, "h[-2]", "h[-2]", "", "input", 0);
    int h1 = add_node(g, "h[-1]", "h[-1]", "", "input", 0);
    int read[MAX_NODES] = {0};
    for (int b = 0; b < nb; b++) {
        const cJSON *B = cJSON_GetArrayItem(blocks, b);
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(B, "inputs");
        const cJSON *ops = cJSON_GetObjectItemCaseSensitive(B, "ops");
        int src[2], depth = 0;
        for (int q = 0; q < 2; q++) {
            int s = cJSON_GetArrayItem(in, q) ? cJSON_GetArrayItem(in, q)->valueint : -1;
            src[q] = s == -2 ? h2 : s == -1 ? h1 : 2 + s;
            if (s >= 0) read[s] = 1;
            if (g->n[src[q]].depth > depth) depth = g->n[src[q]].depth;
        }
        char id[24];
        snprintf(id, sizeof id, "block%d", b);
        char label[40];
        snprintf(label, sizeof label, "block %d", b);
        int v = add_node(g, id, label, "+", "block", depth + 1);
        if (depth + 1 > deepest) deepest = depth + 1;
        for (int q = 0; q < 2; q++) {
            const cJSON *op = cJSON_GetArrayItem(ops, q);
            add_edge(g, src[q], v, cJSON_IsString(op) ? op->valuestring : "?", "solid",
                     q == 0 ? 0.4 : 0.65);
        }
    }
    int out = add_node(g, "output", "output", "concat", "output", deepest + 1);
    for (int b = 0; b < nb; b++)
        if (!read[b]) add_edge(g, 2 + b, out, "", "solid", 0.5);
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(doc, "concat_inputs");
    if (cJSON_IsTrue(cJSON_GetArrayItem(ci, 0))) add_edge(g, h2, out, "", "dashed", 0.5);
    if (cJSON_IsTrue(cJSON_GetArrayItem(ci, 1))) add_edge(g, h1, out, "", "dashed", 0.5);
    return 0;
}

/* Stack each column's nodes, centred on 0, the first on top. */
static void place(graph *g) {
    for (int d = 0; d < MAX_NODES; d++) {
        int count = 0, row = 0;
        for (int i = 0; i < g->nn; i++) count += g->n[i].depth == d;
        for (int i = 0; i < g->nn; i++)
            if (g->n[i].depth == d) g->n[i].y = (count - 1) / 2.0 - row++;
    }
}

static tg_status emit(tg_rp *r, const graph *g, cJSON *arch, tg_error *err) {
    cJSON *nodes = tg_rp_rows(r, "arch_nodes"), *edges = tg_rp_rows(r, "arch_edges");
    if (!nodes || !edges) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    int depth = 0;
    double ymin = 0, ymax = 0;
    for (int i = 0; i < g->nn; i++) {
        const node *v = &g->n[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(nodes, o)) {
            cJSON_Delete(o);
            return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        }
        cJSON_AddStringToObject(o, "id", v->id);
        cJSON_AddStringToObject(o, "label", v->label);
        cJSON_AddStringToObject(o, "detail", v->detail);
        cJSON_AddStringToObject(o, "kind", v->kind);
        cJSON_AddNumberToObject(o, "depth", v->depth);
        cJSON_AddNumberToObject(o, "y", v->y);
        if (v->depth > depth) depth = v->depth;
        if (v->y < ymin) ymin = v->y;
        if (v->y > ymax) ymax = v->y;
    }
    for (int i = 0; i < g->ne; i++) {
        const edge *e = &g->e[i];
        const node *a = &g->n[e->from], *b = &g->n[e->to];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(edges, o)) {
            cJSON_Delete(o);
            return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        }
        cJSON_AddStringToObject(o, "from", a->id);
        cJSON_AddStringToObject(o, "to", b->id);
        cJSON_AddNumberToObject(o, "x", a->depth);
        cJSON_AddNumberToObject(o, "y", a->y);
        cJSON_AddNumberToObject(o, "x2", b->depth);
        cJSON_AddNumberToObject(o, "y2", b->y);
        cJSON_AddStringToObject(o, "label", e->label);
        cJSON_AddNumberToObject(o, "lx", a->depth + e->at * (b->depth - a->depth));
        cJSON_AddNumberToObject(o, "ly", a->y + e->at * (b->y - a->y));
        cJSON_AddStringToObject(o, "style", e->style);
    }
    cJSON_AddNumberToObject(arch, "depth", depth);
    cJSON_AddNumberToObject(arch, "ymin", ymin);
    cJSON_AddNumberToObject(arch, "ymax", ymax);
    return TG_OK;
}

/* The complete trial of highest score (lowest number among equals). */
static const tg_trial *best_trial(const tg_rp_study *s) {
    const tg_trial *b = NULL;
    for (int64_t k = 0; k < s->ntrials; k++) {
        const tg_trial *t = &s->trials[k];
        if (t->state == TG_TRIAL_COMPLETE && isfinite(t->score) && t->genome &&
            (!b || t->score > b->score))
            b = t;
    }
    return b;
}

tg_status tg_rp_arch(tg_rp *r, tg_error *err) {
    if (r->focus < 0) {
        tg_rp_note(r, "arch", "no study in this database");
        return TG_OK;
    }
    const tg_rp_study *s = &r->st[r->focus];
    const tg_trial *t = best_trial(s);
    if (!t) {
        tg_rp_note(r, "arch", "study %s has no complete trial yet", s->s.name);
        return TG_OK;
    }
    tg_error gerr;
    tg_genome *gen = tg_genome_parse(t->genome, NULL, &gerr);
    if (!gen) {
        tg_rp_note(r, "arch", "trial %lld of study %s: %s", (long long)t->number, s->s.name,
                   gerr.msg);
        return TG_OK;
    }
    char *canon = tg_genome_json(gen);
    tg_genome_free(gen);
    cJSON *doc = canon ? cJSON_Parse(canon) : NULL;
    free(canon);
    graph *g = calloc(1, sizeof *g);
    if (!doc || !g) {
        cJSON_Delete(doc);
        free(g);
        return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory for the architecture");
    }
    const char *space = str_of(doc, "space");
    int bad = !strcmp(space, "cell") ? cell(g, doc) : layerwise(g, doc);
    tg_status st = TG_OK;
    if (bad) {
        tg_rp_note(r, "arch", "trial %lld of study %s: too large to draw", (long long)t->number,
                   s->s.name);
    } else {
        place(g);
        cJSON *arch = cJSON_AddObjectToObject(r->data, "arch");
        if (!arch) st = tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
        else {
            cJSON_AddStringToObject(arch, "study", s->s.name);
            cJSON_AddNumberToObject(arch, "trial", (double)t->number);
            cJSON_AddStringToObject(arch, "space", space);
            cJSON_AddStringToObject(arch, "hash", t->hash);
            tg_rp_num(arch, "score", t->score);
            tg_rp_num(arch, "p", t->p);
            tg_rp_num(arch, "tg", t->tg);
            if (!strcmp(space, "cell")) {
                char what[160];
                snprintf(what, sizeof what, "%d blocks; %d cells per stage, %d filters",
                         cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "blocks")),
                         int_of(doc, "cells_per_stage"), int_of(doc, "filters"));
                cJSON_AddStringToObject(arch, "summary", what);
            } else {
                char what[64];
                int nl = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "layers"));
                snprintf(what, sizeof what, "%d layer%s", nl, nl == 1 ? "" : "s");
                cJSON_AddStringToObject(arch, "summary", what);
            }
            st = emit(r, g, arch, err);
        }
    }
    cJSON_Delete(doc);
    free(g);
    return st;
}
