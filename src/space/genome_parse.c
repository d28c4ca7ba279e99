/* genome_parse.c - genomes from JSON text, validated field by field.
 *
 * A genome may come from a database or a user, so nothing is trusted: every
 * refusal names the field path and what was allowed
 * ("layers[3].kh: 4 is not one of 1, 3, 5, 7"). Parsing is two steps: the
 * structure here (an object of the known keys, each once, of the right
 * types; inputs that exist and come earlier; counts), then the values
 * against a space (tg_space_check): the one given, or the space the genome
 * names itself (tg_space_of_genome). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "space_internal.h"

#define GENOME_MAX_BYTES (1 << 20)

static const char *type_name(const cJSON *j) {
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "an invalid value";
}

/* a user's string, shortened and with control bytes replaced, for messages */
static const char *shown(const char *s, char buf[48]) {
    size_t n = 0;
    for (; s[n] && n < 40; n++) buf[n] = (s[n] >= 32 && s[n] < 127) ? s[n] : '?';
    if (s[n]) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = '\0';
    return buf;
}

static void join(char *out, size_t size, const char *prefix, const char *key) {
    if (prefix[0]) snprintf(out, size, "%s.%s", prefix, key);
    else snprintf(out, size, "%s", key);
}

/* Unknown or repeated keys of obj (path "" for the document). */
static tg_status check_keys(const cJSON *obj, const char *path, const char *const *keys,
                            int nkeys, tg_error *err) {
    char p[160], c[48];
    for (const cJSON *a = obj->child; a; a = a->next) {
        int known = 0;
        for (int k = 0; k < nkeys; k++) known |= !strcmp(a->string, keys[k]);
        if (!known) {
            char list[200] = "";
            for (int k = 0; k < nkeys; k++) {
                size_t len = strlen(list);
                snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", keys[k]);
            }
            join(p, sizeof p, path, shown(a->string, c));
            return tg_error_set(err, TG_ERR_FORMAT, "%s: unknown key (expected %s)", p, list);
        }
        for (const cJSON *b = obj->child; b != a; b = b->next)
            if (!strcmp(a->string, b->string)) {
                join(p, sizeof p, path, a->string);
                return tg_error_set(err, TG_ERR_FORMAT, "%s: the key appears twice", p);
            }
    }
    return TG_OK;
}

/* obj[key], which must be present */
static const cJSON *field(const cJSON *obj, const char *path, const char *key,
                          tg_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j) tg_error_set(err, TG_ERR_FORMAT, "%s%smissing key \"%s\"", path,
                         path[0] ? ": " : "", key);
    return j;
}

/* An integer with |v| < 1e9. */
static tg_status to_int(const cJSON *j, const char *path, int *out, tg_error *err) {
    if (!cJSON_IsNumber(j))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: expected an integer, got %s", path,
                            type_name(j));
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: %g is not an integer", path, d);
    if (fabs(d) >= 1e9)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: %g is out of range", path, d);
    *out = (int)d;
    return TG_OK;
}

static tg_status int_field(const cJSON *obj, const char *path, const char *key, int lo,
                           int hi, int *out, tg_error *err) {
    char p[160];
    const cJSON *j = field(obj, path, key, err);
    if (!j) return TG_ERR_FORMAT;
    join(p, sizeof p, path, key);
    tg_status st = to_int(j, p, out, err);
    if (st == TG_OK && (*out < lo || *out > hi))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: %d is not in %d..%d", p, *out, lo, hi);
    return st;
}

/* The index of j's string among names. */
static tg_status to_name(const cJSON *j, const char *path, const char *const *names, int n,
                         int *out, tg_error *err) {
    if (!cJSON_IsString(j))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: expected a string, got %s", path,
                            type_name(j));
    for (int i = 0; i < n; i++)
        if (!strcmp(j->valuestring, names[i])) {
            *out = i;
            return TG_OK;
        }
    char list[200] = "", c[48];
    for (int i = 0; i < n; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
    }
    return tg_error_set(err, TG_ERR_FORMAT, "%s: \"%s\" is not one of %s", path,
                        shown(j->valuestring, c), list);
}

static tg_status to_array(const cJSON *j, const char *path, tg_error *err) {
    if (!cJSON_IsArray(j))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: expected an array, got %s", path,
                            type_name(j));
    return TG_OK;
}

static tg_status to_object(const cJSON *j, const char *path, tg_error *err) {
    if (!cJSON_IsObject(j))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: expected an object, got %s", path,
                            type_name(j));
    return TG_OK;
}

/* ---- layer-wise ------------------------------------------------------------ */

static tg_status parse_inputs(const cJSON *arr, int i, tg_lw_layer *L, tg_error *err) {
    char p[160];
    snprintf(p, sizeof p, "layers[%d].inputs", i);
    tg_status st = to_array(arr, p, err);
    if (st != TG_OK) return st;
    int q = 0;
    L->nin = 0;
    for (const cJSON *e = arr->child; e; e = e->next, q++) {
        int v;
        snprintf(p, sizeof p, "layers[%d].inputs[%d]", i, q);
        if ((st = to_int(e, p, &v, err)) != TG_OK) return st;
        if (v < -1 || v >= i) {
            if (i == 0)
                return tg_error_set(err, TG_ERR_FORMAT, "%s: %d is not -1 (the image: layer 0 "
                                    "has no earlier layer)", p, v);
            return tg_error_set(err, TG_ERR_FORMAT, "%s: %d is not -1 or an earlier layer "
                                "(0..%d)", p, v, i - 1);
        }
        for (int r = 0; r < L->nin; r++)
            if (L->in[r] == v)
                return tg_error_set(err, TG_ERR_FORMAT, "%s: %d is listed twice", p, v);
        /* insertion keeps them ascending; distinct values in -1..i-1 fit */
        int r = L->nin++;
        while (r > 0 && L->in[r - 1] > v) {
            L->in[r] = L->in[r - 1];
            r--;
        }
        L->in[r] = v;
    }
    if (L->nin == 0) L->in[L->nin++] = -1;   /* [] is the image */
    return TG_OK;
}

static tg_status parse_layer(const cJSON *j, int i, tg_lw_layer *L, tg_error *err) {
    static const char *const keys[7] = {"filters", "kh", "kw", "stride", "act", "norm",
                                        "inputs"};
    char path[64], p[160];
    snprintf(path, sizeof path, "layers[%d]", i);
    tg_status st = to_object(j, path, err);
    if (st == TG_OK) st = check_keys(j, path, keys, 7, err);
    int *ints[4] = {&L->filters, &L->kh, &L->kw, &L->stride};
    for (int k = 0; k < 4 && st == TG_OK; k++) {
        const cJSON *v = field(j, path, keys[k], err);
        if (!v) return TG_ERR_FORMAT;
        join(p, sizeof p, path, keys[k]);
        st = to_int(v, p, ints[k], err);
    }
    if (st != TG_OK) return st;
    const cJSON *v;
    if (!(v = field(j, path, "act", err))) return TG_ERR_FORMAT;
    join(p, sizeof p, path, "act");
    if ((st = to_name(v, p, tg_act_names, TG_NACTS, &L->act, err)) != TG_OK) return st;
    if (!(v = field(j, path, "norm", err))) return TG_ERR_FORMAT;
    join(p, sizeof p, path, "norm");
    if ((st = to_name(v, p, tg_norm_names, TG_NNORMS, &L->norm, err)) != TG_OK) return st;
    if (!(v = field(j, path, "inputs", err))) return TG_ERR_FORMAT;
    return parse_inputs(v, i, L, err);
}

static tg_genome *parse_layerwise(const cJSON *root, tg_error *err) {
    int max_layers;
    if (int_field(root, "", "max_layers", 1, TG_LW_MAX_LAYERS, &max_layers, err) != TG_OK)
        return NULL;
    const cJSON *arr = field(root, "", "layers", err);
    if (!arr || to_array(arr, "layers", err) != TG_OK) return NULL;
    int n = cJSON_GetArraySize(arr);
    if (n == 0) {
        tg_error_set(err, TG_ERR_FORMAT, "layers: empty (a genome has at least one layer)");
        return NULL;
    }
    if (n > max_layers) {
        tg_error_set(err, TG_ERR_FORMAT, "layers: %d layers, more than max_layers %d", n,
                     max_layers);
        return NULL;
    }
    tg_genome *g = tg_genome_new_layerwise(max_layers, n);
    if (!g) {
        tg_error_set(err, TG_ERR_NOMEM, "genome: out of memory");
        return NULL;
    }
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++)
        if (parse_layer(e, i, &g->layers[i], err) != TG_OK) {
            tg_genome_free(g);
            return NULL;
        }
    return g;
}

/* ---- cell ---------------------------------------------------------------- */

static tg_status parse_block(const cJSON *j, int b, tg_cell_block *k, tg_error *err) {
    static const char *const keys[2] = {"inputs", "ops"};
    char path[64], p[160];
    snprintf(path, sizeof path, "blocks[%d]", b);
    tg_status st = to_object(j, path, err);
    if (st == TG_OK) st = check_keys(j, path, keys, 2, err);
    for (int f = 0; f < 2 && st == TG_OK; f++) {
        const cJSON *arr = field(j, path, keys[f], err);
        if (!arr) return TG_ERR_FORMAT;
        join(p, sizeof p, path, keys[f]);
        if ((st = to_array(arr, p, err)) != TG_OK) return st;
        int n = cJSON_GetArraySize(arr);
        if (n != 2)
            return tg_error_set(err, TG_ERR_FORMAT, "%s: expected 2 %s, got %d", p,
                                f ? "ops" : "inputs", n);
        for (int q = 0; q < 2 && st == TG_OK; q++) {
            const cJSON *e = cJSON_GetArrayItem(arr, q);
            snprintf(p, sizeof p, "%s.%s[%d]", path, keys[f], q);
            if (f == 1) {
                st = to_name(e, p, tg_cell_op_names, TG_CELL_NOPS, &k->op[q], err);
                continue;
            }
            if ((st = to_int(e, p, &k->in[q], err)) != TG_OK) return st;
            if (k->in[q] < -2 || k->in[q] >= b) {
                if (b == 0)
                    return tg_error_set(err, TG_ERR_FORMAT, "%s: %d is not -2 or -1 (block 0 "
                                        "has no earlier block)", p, k->in[q]);
                return tg_error_set(err, TG_ERR_FORMAT, "%s: %d is not -2, -1 or an earlier "
                                    "block (0..%d)", p, k->in[q], b - 1);
            }
        }
    }
    return st;
}

static tg_genome *parse_cell(const cJSON *root, tg_error *err) {
    int bpc, n, f;
    if (int_field(root, "", "blocks_per_cell", 1, TG_CELL_MAX_BLOCKS, &bpc, err) != TG_OK ||
        int_field(root, "", "cells_per_stage", 1, TG_CELL_MAX_N, &n, err) != TG_OK ||
        int_field(root, "", "filters", 1, TG_CELL_MAX_F, &f, err) != TG_OK)
        return NULL;
    const cJSON *arr = field(root, "", "blocks", err);
    if (!arr || to_array(arr, "blocks", err) != TG_OK) return NULL;
    int nb = cJSON_GetArraySize(arr);
    if (nb != bpc) {
        tg_error_set(err, TG_ERR_FORMAT, "blocks: %d blocks, but blocks_per_cell is %d", nb,
                     bpc);
        return NULL;
    }
    tg_genome *g = tg_genome_new_cell(bpc, n, f);
    if (!g) {
        tg_error_set(err, TG_ERR_NOMEM, "genome: out of memory");
        return NULL;
    }
    int b = 0;
    for (const cJSON *e = arr->child; e; e = e->next, b++)
        if (parse_block(e, b, &g->blocks[b], err) != TG_OK) goto fail;
    const cJSON *cat = field(root, "", "concat_inputs", err);
    if (!cat || to_array(cat, "concat_inputs", err) != TG_OK) goto fail;
    if (cJSON_GetArraySize(cat) != 2) {
        tg_error_set(err, TG_ERR_FORMAT, "concat_inputs: expected 2 booleans, got %d",
                     cJSON_GetArraySize(cat));
        goto fail;
    }
    for (int q = 0; q < 2; q++) {
        const cJSON *e = cJSON_GetArrayItem(cat, q);
        if (!cJSON_IsBool(e)) {
            tg_error_set(err, TG_ERR_FORMAT, "concat_inputs[%d]: expected a boolean, got %s", q,
                         type_name(e));
            goto fail;
        }
        g->concat[q] = cJSON_IsTrue(e) ? 1 : 0;
    }
    return g;
fail:
    tg_genome_free(g);
    return NULL;
}

/* ---- the document ---------------------------------------------------------- */

static void parse_error(const char *json, const char *end, tg_error *err) {
    size_t pos = end && end >= json ? (size_t)(end - json) : 0;
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && json[i]; i++) {
        if (json[i] == '\n') line++, col = 1;
        else col++;
    }
    size_t len = strlen(json);
    size_t k = 0;
    while (json[k] == ' ' || json[k] == '\t' || json[k] == '\n' || json[k] == '\r') k++;
    if (k == len) {
        tg_error_set(err, TG_ERR_FORMAT, "genome: empty document (expected a JSON object)");
        return;
    }
    char near[48] = "", c[48];
    snprintf(near, sizeof near, "%.20s", json + (pos < len ? pos : len));
    if (pos >= len)
        tg_error_set(err, TG_ERR_FORMAT, "genome: malformed JSON at line %d, column %d "
                     "(byte %zu): unexpected end of text", line, col, pos);
    else
        tg_error_set(err, TG_ERR_FORMAT, "genome: malformed JSON at line %d, column %d "
                     "(byte %zu) near '%s'", line, col, pos, shown(near, c));
}

tg_genome *tg_genome_parse(const char *json, const tg_space *space, tg_error *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        parse_error(json, end, err);
        return NULL;
    }
    tg_genome *g = NULL;
    static const char *const lw_keys[4] = {"schema", "space", "max_layers", "layers"};
    static const char *const cell_keys[7] = {"schema", "space", "blocks_per_cell",
                                             "cells_per_stage", "filters", "blocks",
                                             "concat_inputs"};
    if (!cJSON_IsObject(root)) {
        tg_error_set(err, TG_ERR_FORMAT, "genome: expected a JSON object, got %s",
                     type_name(root));
        goto done;
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(root, "space");
    if (!sp) {
        tg_error_set(err, TG_ERR_FORMAT, "space: missing (expected \"layerwise\" or \"cell\")");
        goto done;
    }
    static const char *const spaces[2] = {"layerwise", "cell"};
    int kind;
    if (to_name(sp, "space", spaces, 2, &kind, err) != TG_OK) goto done;
    if (check_keys(root, "", kind ? cell_keys : lw_keys, kind ? 7 : 4, err) != TG_OK)
        goto done;
    const cJSON *sc = field(root, "", "schema", err);
    int schema;
    if (!sc || to_int(sc, "schema", &schema, err) != TG_OK) goto done;
    if (schema != TG_SCHEMA_VERSION) {
        tg_error_set(err, TG_ERR_FORMAT, "schema: %d is not a version this tgsage reads (%d)",
                     schema, TG_SCHEMA_VERSION);
        goto done;
    }
    g = kind ? parse_cell(root, err) : parse_layerwise(root, err);
    if (!g) goto done;
    tg_space *own = NULL;
    if (!space && !(space = own = tg_space_of_genome(g, err))) {
        tg_genome_free(g);
        g = NULL;
        goto done;
    }
    if (tg_space_check(space, g, err) != TG_OK) {
        tg_genome_free(g);
        g = NULL;
    }
    tg_space_free(own);
done:
    cJSON_Delete(root);
    return g;
}

tg_genome *tg_genome_load(const char *path, const tg_space *space, tg_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tg_error_set(err, TG_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    char *buf = malloc(GENOME_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    size_t n = fread(buf, 1, GENOME_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    tg_genome *g = NULL;
    if (bad) {
        tg_error_set(err, TG_ERR_IO, "%s: read error", path);
    } else if (n > GENOME_MAX_BYTES) {
        tg_error_set(err, TG_ERR_FORMAT, "%s: larger than %d bytes (a genome is a small JSON "
                     "document)", path, GENOME_MAX_BYTES);
    } else if (memchr(buf, '\0', n)) {
        tg_error_set(err, TG_ERR_FORMAT, "%s: a NUL byte at offset %zu (not JSON text)", path,
                     (size_t)((char *)memchr(buf, '\0', n) - buf));
    } else {
        buf[n] = '\0';
        tg_error e;
        g = tg_genome_parse(buf, space, &e);
        if (!g) tg_error_set(err, e.status, "%s: %s", path, e.msg);
    }
    free(buf);
    return g;
}
