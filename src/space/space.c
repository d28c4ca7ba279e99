/* space.c - search spaces: spec strings, the flat dimension layout and its
 * conditions, choice labels (see space.h and docs/spaces.md).
 *
 * Layer-wise layout: dimension 0 "nlayers", then for each layer i the six
 * settings and, from layer 1 on, one binary connection per possible source
 * (the image, then layers 0..i-1), every one conditioned on nlayers >= i.
 * Cell layout: for each block its two inputs and two ops, then the two
 * concat flags; nothing is conditional. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "space_internal.h"

const char *const tg_act_names[TG_NACTS] = {"identity", "relu"};
const char *const tg_norm_names[TG_NNORMS] = {"none", "bn"};
const char *const tg_cell_op_names[TG_CELL_NOPS] = {
    "identity", "avg3x3", "max3x3", "dil3x3", "conv1x7_7x1", "sep3x3", "sep5x5", "sep7x7"};
static const char *const NO_YES[2] = {"no", "yes"};

#define SPEC_MAX 1024

/* ---- integer sets -------------------------------------------------------- */

int tg_intset_index(const tg_intset *s, int v) {
    for (int i = 0; i < s->n; i++)
        if (s->v[i] == v) return i;
    return -1;
}

int tg_intset_has(const tg_intset *s, int v) { return tg_intset_index(s, v) >= 0; }

int tg_intset_add(tg_intset *s, int v) {
    if (tg_intset_has(s, v)) return 0;
    if (s->n == TG_SET_MAX) return -1;
    int i = s->n;
    while (i > 0 && s->v[i - 1] > v) {
        s->v[i] = s->v[i - 1];
        i--;
    }
    s->v[i] = v;
    s->n++;
    return 0;
}

void tg_intset_list(const tg_intset *s, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->n && len < size; i++) {
        int k = snprintf(buf + len, size - len, "%s%d", i ? ", " : "", s->v[i]);
        if (k < 0) break;
        len += (size_t)k;
    }
}

static int intset_equal(const tg_intset *a, const tg_intset *b) {
    return a->n == b->n && memcmp(a->v, b->v, sizeof(int) * (size_t)a->n) == 0;
}

void tg_space_default_sets(tg_intset *filters, tg_intset *kernels, tg_intset *strides) {
    *filters = (tg_intset){3, {32, 64, 128}};
    *kernels = (tg_intset){4, {1, 3, 5, 7}};
    *strides = (tg_intset){2, {1, 2}};
}

/* ---- construction -------------------------------------------------------- */

static tg_dim *add_dim(tg_space *s, tg_role role, int nchoices, int cond, int cond_min,
                       int step, const char *group, int edge_src) {
    tg_dim *d = &s->dims[s->ndims];
    memset(d, 0, sizeof *d);
    d->nchoices = nchoices;
    d->cond = cond;
    d->cond_min = cond_min;
    d->step = step;
    snprintf(d->group, sizeof d->group, "%s", group);
    d->edge_src = edge_src;
    s->roles[s->ndims] = role;
    s->ndims++;
    return d;
}

static tg_space *space_alloc(int ndims) {
    tg_space *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->dims = calloc((size_t)ndims, sizeof *s->dims);
    s->roles = calloc((size_t)ndims, sizeof *s->roles);
    if (!s->dims || !s->roles) {
        tg_space_free(s);
        return NULL;
    }
    return s;
}

static void append_set(char *spec, size_t size, const char *key, const tg_intset *v) {
    size_t len = strlen(spec);
    len += (size_t)snprintf(spec + len, size - len, ":%s=", key);
    for (int i = 0; i < v->n && len < size; i++)
        len += (size_t)snprintf(spec + len, size - len, "%s%d", i ? "," : "", v->v[i]);
}

tg_space *tg_space_new_layerwise(int nl, const tg_intset *filters,
                                 const tg_intset *kernels, const tg_intset *strides) {
    TG_ASSERT(nl >= 1 && nl <= TG_LW_MAX_LAYERS);
    TG_ASSERT(filters->n >= 1 && kernels->n >= 1 && strides->n >= 1);
    /* 1 + 6 per layer + (i + 1) connections into layer i >= 1 */
    int ndims = 1 + 6 * nl + (nl - 1) * (nl + 2) / 2;
    tg_space *s = space_alloc(ndims);
    if (!s) return NULL;
    s->layer_off = calloc((size_t)nl, sizeof *s->layer_off);
    if (!s->layer_off) {
        tg_space_free(s);
        return NULL;
    }
    s->kind = TG_SPACE_LAYERWISE;
    s->nl = nl;
    s->filters = *filters, s->kernels = *kernels, s->strides = *strides;
    tg_intset df, dk, ds;
    tg_space_default_sets(&df, &dk, &ds);
    snprintf(s->spec, sizeof s->spec, "layerwise:%d", nl);
    if (!intset_equal(filters, &df)) append_set(s->spec, sizeof s->spec, "filters", filters);
    if (!intset_equal(kernels, &dk)) append_set(s->spec, sizeof s->spec, "kernels", kernels);
    if (!intset_equal(strides, &ds)) append_set(s->spec, sizeof s->spec, "strides", strides);

    for (int i = 0; i < nl; i++) snprintf(s->nlayers_lbl[i], sizeof s->nlayers_lbl[i], "%d", i + 1);
    for (int i = 0; i < filters->n; i++)
        snprintf(s->filters_lbl[i], sizeof s->filters_lbl[i], "%d", filters->v[i]);
    for (int i = 0; i < kernels->n; i++)
        snprintf(s->kernels_lbl[i], sizeof s->kernels_lbl[i], "%d", kernels->v[i]);
    for (int i = 0; i < strides->n; i++)
        snprintf(s->strides_lbl[i], sizeof s->strides_lbl[i], "%d", strides->v[i]);

    tg_dim *d = add_dim(s, TG_ROLE_NLAYERS, nl, -1, 0, -1, "nlayers", -2);
    snprintf(d->name, sizeof d->name, "nlayers");
    static const char *const fields[6] = {"filters", "kh", "kw", "stride", "act", "norm"};
    static const tg_role roles[6] = {TG_ROLE_FILTERS, TG_ROLE_KH,  TG_ROLE_KW,
                                     TG_ROLE_STRIDE,  TG_ROLE_ACT, TG_ROLE_NORM};
    const int counts[6] = {filters->n, kernels->n, kernels->n, strides->n, TG_NACTS,
                           TG_NNORMS};
    for (int i = 0; i < nl; i++) {
        s->layer_off[i] = s->ndims;
        for (int f = 0; f < 6; f++) {
            d = add_dim(s, roles[f], counts[f], 0, i, i, fields[f], -2);
            snprintf(d->name, sizeof d->name, "layers[%d].%s", i, fields[f]);
        }
        for (int j = -1; i > 0 && j < i; j++) {
            d = add_dim(s, TG_ROLE_IN, 2, 0, i, i, "in", j);
            snprintf(d->name, sizeof d->name, "layers[%d].in[%d]", i, j);
        }
    }
    TG_ASSERT(s->ndims == ndims);
    return s;
}

tg_space *tg_space_new_cell(int blocks, int n, int f) {
    TG_ASSERT(blocks >= 1 && blocks <= TG_CELL_MAX_BLOCKS);
    tg_space *s = space_alloc(4 * blocks + 2);
    if (!s) return NULL;
    s->kind = TG_SPACE_CELL;
    s->blocks = blocks, s->n = n, s->f = f;
    snprintf(s->spec, sizeof s->spec, "cell:blocks=%d:n=%d:f=%d", blocks, n, f);
    for (int i = 0; i < blocks + 1; i++)
        snprintf(s->input_lbl[i], sizeof s->input_lbl[i], "%d", i - 2);
    for (int b = 0; b < blocks; b++) {
        for (int q = 0; q < 2; q++) {
            tg_dim *d = add_dim(s, TG_ROLE_CELL_INPUT, 2 + b, -1, 0, b, "inputs", -2);
            snprintf(d->name, sizeof d->name, "blocks[%d].inputs[%d]", b, q);
        }
        for (int q = 0; q < 2; q++) {
            tg_dim *d = add_dim(s, TG_ROLE_CELL_OP, TG_CELL_NOPS, -1, 0, b, "ops", -2);
            snprintf(d->name, sizeof d->name, "blocks[%d].ops[%d]", b, q);
        }
    }
    for (int q = 0; q < 2; q++) {
        tg_dim *d = add_dim(s, TG_ROLE_CONCAT, 2, -1, 0, -1, "concat", -2);
        snprintf(d->name, sizeof d->name, "concat[%d]", q);
    }
    return s;
}

void tg_space_free(tg_space *s) {
    if (!s) return;
    free(s->dims);
    free(s->roles);
    free(s->layer_off);
    free(s);
}

/* ---- spec strings -------------------------------------------------------- */

/* strictly a decimal integer in [lo, hi] */
static int parse_int(const char *t, int lo, int hi, int *out) {
    if (!*t) return -1;
    long v = 0;
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
        if (v > hi) return -1;
    }
    if (v < lo) return -1;
    *out = (int)v;
    return 0;
}

/* "8,16,32" into a set; a message without the spec prefix on failure */
static tg_status parse_set(const char *key, char *val, int lo, int hi, int odd,
                           tg_intset *out, char *msg, size_t msize) {
    out->n = 0;
    if (!*val) {
        snprintf(msg, msize, "%s: no values (expected integers in %d..%d separated by commas)",
                 key, lo, hi);
        return TG_ERR_ARG;
    }
    size_t len = strlen(val);
    if (val[0] == ',' || val[len - 1] == ',' || strstr(val, ",,")) {
        snprintf(msg, msize, "%s: empty value in the list '%s'", key, val);
        return TG_ERR_ARG;
    }
    char *save = NULL;
    for (char *p = val;; p = NULL) {
        char *t = strtok_r(p, ",", &save);
        if (!t) break;
        int v;
        if (parse_int(t, lo, hi, &v) != 0) {
            snprintf(msg, msize, "%s: '%s' is not an integer in %d..%d", key, t, lo, hi);
            return TG_ERR_ARG;
        }
        if (odd && v % 2 == 0) {
            snprintf(msg, msize, "%s: %d is not odd (kernels keep the map's size with "
                     "padding (k-1)/2)", key, v);
            return TG_ERR_ARG;
        }
        if (tg_intset_has(out, v)) {
            snprintf(msg, msize, "%s: %d is listed twice", key, v);
            return TG_ERR_ARG;
        }
        if (tg_intset_add(out, v) != 0) {
            snprintf(msg, msize, "%s: more than %d values", key, TG_SET_MAX);
            return TG_ERR_ARG;
        }
    }
    return TG_OK;
}

/* One "key=value" option of a spec among three keys: its index, with *value
 * pointing at the value (t is cut at the '='); -1 with err set for an
 * unknown or repeated key. */
static int spec_option(char *t, const char *const keys[3], int seen[3], const char *spec,
                       const char *expected, char **value, tg_error *err) {
    char *eq = strchr(t, '=');
    int k = -1;
    if (eq) {
        *eq = '\0';
        for (int i = 0; i < 3; i++)
            if (!strcmp(t, keys[i])) k = i;
    }
    if (k < 0) {
        tg_error_set(err, TG_ERR_ARG, "space '%s': unknown option '%s' (expected %s)", spec, t,
                     expected);
        return -1;
    }
    if (seen[k]++) {
        tg_error_set(err, TG_ERR_ARG, "space '%s': %s given twice", spec, keys[k]);
        return -1;
    }
    *value = eq + 1;
    return k;
}

static tg_space *parse_layerwise(char *rest, const char *spec, tg_error *err) {
    char msg[256];
    tg_intset sets[3];
    tg_space_default_sets(&sets[0], &sets[1], &sets[2]);
    static const char *const keys[3] = {"filters", "kernels", "strides"};
    static const int lo[3] = {1, 1, 1}, hi[3] = {TG_LW_MAX_FILTERS, TG_LW_MAX_KERNEL,
                                                 TG_LW_MAX_STRIDE};
    int seen[3] = {0, 0, 0};
    char *save = NULL;
    char *t = rest ? strtok_r(rest, ":", &save) : NULL;
    int nl;
    if (!t) {
        tg_error_set(err, TG_ERR_ARG, "space '%s': layerwise needs the maximum number of "
                     "layers (layerwise:NL, e.g. layerwise:10)", spec);
        return NULL;
    }
    if (parse_int(t, 1, TG_LW_MAX_LAYERS, &nl) != 0) {
        tg_error_set(err, TG_ERR_ARG, "space '%s': NL '%s' is not an integer in 1..%d", spec,
                     t, TG_LW_MAX_LAYERS);
        return NULL;
    }
    while ((t = strtok_r(NULL, ":", &save))) {
        char *eq;
        int k = spec_option(t, keys, seen, spec, "filters=, kernels= or strides=", &eq, err);
        if (k < 0) return NULL;
        if (parse_set(keys[k], eq, lo[k], hi[k], k == 1, &sets[k], msg, sizeof msg)) {
            tg_error_set(err, TG_ERR_ARG, "space '%s': %s", spec, msg);
            return NULL;
        }
    }
    tg_space *s = tg_space_new_layerwise(nl, &sets[0], &sets[1], &sets[2]);
    if (!s) tg_error_set(err, TG_ERR_NOMEM, "space '%s': out of memory", spec);
    return s;
}

static tg_space *parse_cell(char *rest, const char *spec, tg_error *err) {
    static const char *const keys[3] = {"blocks", "n", "f"};
    static const int hi[3] = {TG_CELL_MAX_BLOCKS, TG_CELL_MAX_N, TG_CELL_MAX_F};
    int val[3] = {5, 2, 16}, seen[3] = {0, 0, 0};
    char *save = NULL;
    for (char *t = rest ? strtok_r(rest, ":", &save) : NULL; t;
         t = strtok_r(NULL, ":", &save)) {
        char *eq;
        int k = spec_option(t, keys, seen, spec, "blocks=, n= or f=", &eq, err);
        if (k < 0) return NULL;
        if (parse_int(eq, 1, hi[k], &val[k]) != 0) {
            tg_error_set(err, TG_ERR_ARG, "space '%s': %s: '%s' is not an integer in 1..%d",
                         spec, keys[k], eq, hi[k]);
            return NULL;
        }
    }
    tg_space *s = tg_space_new_cell(val[0], val[1], val[2]);
    if (!s) tg_error_set(err, TG_ERR_NOMEM, "space '%s': out of memory", spec);
    return s;
}

tg_space *tg_space_parse(const char *spec, tg_error *err) {
    if (!spec) {
        tg_error_set(err, TG_ERR_ARG, "space: no spec given");
        return NULL;
    }
    size_t len = strlen(spec);
    if (len >= SPEC_MAX) {
        tg_error_set(err, TG_ERR_ARG, "space spec of %zu characters is too long (at most %d)",
                     len, SPEC_MAX - 1);
        return NULL;
    }
    char buf[SPEC_MAX];
    memcpy(buf, spec, len + 1);
    char *colon = strchr(buf, ':');
    char *rest = NULL;
    if (colon) {
        *colon = '\0';
        rest = colon + 1;
        /* an empty field ("layerwise:10::x", trailing ':') is an error, which
         * strtok would hide */
        if (!*rest || strstr(rest, "::") || rest[strlen(rest) - 1] == ':') {
            tg_error_set(err, TG_ERR_ARG, "space '%s': empty field", spec);
            return NULL;
        }
    }
    if (!strcmp(buf, "layerwise")) return parse_layerwise(rest, spec, err);
    if (!strcmp(buf, "cell")) return parse_cell(rest, spec, err);
    tg_error_set(err, TG_ERR_ARG, "space '%s': unknown space '%s' (expected layerwise:NL[:filters="
                 "..][:kernels=..][:strides=..] or cell[:blocks=B][:n=N][:f=F])", spec, buf);
    return NULL;
}

const char *tg_space_spec(const tg_space *s) { return s->spec; }

tg_space *tg_space_of_genome(const tg_genome *g, tg_error *err) {
    tg_space *s;
    if (g->kind == TG_SPACE_CELL) {
        s = tg_space_new_cell(g->blocks_per_cell, g->cells_per_stage, g->filters);
    } else {
        /* the defaults, widened by the genome's own filter counts so that a
         * genome of a space with other filter sets still rebuilds */
        tg_intset f, k, st;
        tg_space_default_sets(&f, &k, &st);
        for (int i = 0; i < g->nlayers; i++) {
            int v = g->layers[i].filters;
            if (v >= 1 && v <= TG_LW_MAX_FILTERS) (void)tg_intset_add(&f, v);
        }
        s = tg_space_new_layerwise(g->max_layers, &f, &k, &st);
    }
    if (!s) tg_error_set(err, TG_ERR_NOMEM, "space: out of memory");
    return s;
}

/* ---- dimensions ---------------------------------------------------------- */

int tg_space_ndims(const tg_space *s) { return s->ndims; }

const tg_dim *tg_space_dim(const tg_space *s, int i) {
    TG_ASSERT(i >= 0 && i < s->ndims);
    return &s->dims[i];
}

const char *tg_space_choice_label(const tg_space *s, int i, int j) {
    TG_ASSERT(i >= 0 && i < s->ndims);
    TG_ASSERT(j >= 0 && j < s->dims[i].nchoices);
    switch (s->roles[i]) {
    case TG_ROLE_NLAYERS: return s->nlayers_lbl[j];
    case TG_ROLE_FILTERS: return s->filters_lbl[j];
    case TG_ROLE_KH:
    case TG_ROLE_KW: return s->kernels_lbl[j];
    case TG_ROLE_STRIDE: return s->strides_lbl[j];
    case TG_ROLE_ACT: return tg_act_names[j];
    case TG_ROLE_NORM: return tg_norm_names[j];
    case TG_ROLE_CELL_INPUT: return s->input_lbl[j];
    case TG_ROLE_CELL_OP: return tg_cell_op_names[j];
    case TG_ROLE_IN:
    case TG_ROLE_CONCAT: return NO_YES[j];
    }
    return "?";
}

int tg_space_active(const tg_space *s, const int *x, int i) {
    TG_ASSERT(i >= 0 && i < s->ndims);
    for (;;) {
        const tg_dim *d = &s->dims[i];
        if (d->cond < 0) return 1;
        if (x[d->cond] < d->cond_min) return 0;
        i = d->cond;
    }
}

int tg_space_normalize(const tg_space *s, int *x) {
    int active = 0;
    for (int i = 0; i < s->ndims; i++) {
        if (tg_space_active(s, x, i)) active++;
        else x[i] = -1;
    }
    return active;
}
