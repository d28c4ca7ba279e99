/* pytorch.c - a trained genome net as a directory PyTorch loads: model.py
 * (model_py.h with the genome, input shape and classes filled in),
 * weights.safetensors, genome.json and README.md.
 *
 * The weights are written under the net's own parameter names, which the
 * genome build makes PyTorch module paths (tg_graph_module); the net is
 * first checked against a fresh build of the genome, name by name and
 * shape by shape, so a file is never written for a net of another
 * architecture. PyTorch's BatchNorm2d has one buffer the engine lacks,
 * num_batches_tracked (int64, used only when momentum is None): it is
 * written with the number of steps trained, so loading stays strict. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_py.h"
#include "tgsage/export.h"
#include "tgsage/fileio.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"

/* "n12.conv.w": a parameter named by node, as in built-in nets */
static int named_by_node(const char *name) {
    if (name[0] != 'n' || !isdigit((unsigned char)name[1])) return 0;
    const char *p = name + 1;
    while (isdigit((unsigned char)*p)) p++;
    return *p == '.';
}

static tg_status check_paths(tg_net *net, tg_error *err) {
    int np, ns;
    tg_param *p = tg_net_params(net, &np), *s = tg_net_state(net, &ns);
    for (int i = 0; i < np + ns; i++) {
        const char *name = i < np ? p[i].name : s[i - np].name;
        if (named_by_node(name))
            return tg_error_set(err, TG_ERR_ARG,
                                "export: the net's parameters are named by graph node "
                                "('%s'), not by PyTorch module path: it is a built-in "
                                "network (resnet, small3, candidate6), which has no genome "
                                "to export; export a net built from a genome",
                                name);
    }
    return TG_OK;
}

static int same_param(const tg_param *a, const tg_param *b) {
    if (strcmp(a->name, b->name) || a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d]) return 0;
    return 1;
}

static void describe(const tg_param *p, char *buf, size_t n) {
    int k = snprintf(buf, n, "%s (", p->name);
    for (int d = 0; d < p->ndim && k > 0 && (size_t)k < n; d++)
        k += snprintf(buf + k, n - (size_t)k, d ? "x%d" : "%d", p->dims[d]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, ")");
}

/* Parameters and state of `a` (the net) and `b` (the genome's build) agree. */
static tg_status compare_lists(const char *what, const tg_param *a, int na, const tg_param *b,
                               int nb, tg_error *err) {
    for (int i = 0; i < na || i < nb; i++) {
        if (i < na && i < nb && same_param(&a[i], &b[i])) continue;
        char x[160] = "nothing", y[160] = "nothing";
        if (i < na) describe(&a[i], x, sizeof x);
        if (i < nb) describe(&b[i], y, sizeof y);
        return tg_error_set(err, TG_ERR_ARG,
                            "export: the net is not the genome's network: its %s %d is %s, "
                            "the genome's build has %s",
                            what, i, x, y);
    }
    return TG_OK;
}

static tg_status check_against_genome(const tg_genome *g, tg_net *net, int c, int h, int w,
                                      tg_error *err) {
    tg_graph *gr = tg_genome_build(g, c, h, w, tg_net_classes(net), err);
    if (!gr) return err ? err->status : TG_ERR_ARG;
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_net *ref = tg_net_new(gr, 1, NULL, &rng, err);
    tg_status st = ref ? TG_OK : (err ? err->status : TG_ERR_NOMEM);
    if (st == TG_OK) {
        int na, nb, sa, sb;
        tg_param *pa = tg_net_params(net, &na), *pb = tg_net_params(ref, &nb);
        tg_param *qa = tg_net_state(net, &sa), *qb = tg_net_state(ref, &sb);
        st = compare_lists("parameter", pa, na, pb, nb, err);
        if (st == TG_OK) st = compare_lists("state tensor", qa, sa, qb, sb, err);
    }
    tg_net_free(ref);
    tg_graph_free(gr);
    return st;
}

static void join(char *out, size_t n, const char *dir, const char *file) {
    size_t k = strlen(dir);
    snprintf(out, n, "%s%s%s", dir, k && dir[k - 1] == '/' ? "" : "/", file);
}

/* The net's parameters and BN state, plus num_batches_tracked per BN. */
static tg_status write_weights(const char *path, tg_net *net, int64_t steps,
                               const char *const *meta, tg_error *err) {
    int np, ns;
    tg_param *p = tg_net_params(net, &np), *s = tg_net_state(net, &ns);
    tg_st_tensor *t = calloc((size_t)(np + 2 * ns + 1), sizeof *t);
    char (*nbt)[96] = calloc((size_t)ns + 1, sizeof *nbt);
    if (!t || !nbt) {
        free(t), free(nbt);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    }
    int n = 0;
    for (int i = 0; i < np + ns; i++) {
        const tg_param *x = i < np ? &p[i] : &s[i - np];
        t[n] = (tg_st_tensor){.name = x->name, .dtype = TG_ST_F32, .ndim = x->ndim,
                              .data = x->data};
        for (int d = 0; d < x->ndim; d++) t[n].dims[d] = x->dims[d];
        n++;
        const char *suffix = ".running_var";
        size_t len = strlen(x->name), sl = strlen(suffix);
        if (i >= np && len > sl && !strcmp(x->name + len - sl, suffix)) {
            snprintf(nbt[i - np], sizeof nbt[0], "%.*s.num_batches_tracked", (int)(len - sl),
                     x->name);
            t[n++] = (tg_st_tensor){.name = nbt[i - np], .dtype = TG_ST_I64, .ndim = 0,
                                    .data = &steps};
        }
    }
    tg_status st = tg_safetensors_write(path, t, n, meta, err);
    free(t), free(nbt);
    return st;
}

/* Where a key "@KEY@" of kv starts at p: its index in kv, else -1. */
static int key_at(const char *p, const char *const *kv) {
    for (int i = 0; *p == '@' && kv[i]; i += 2) {
        size_t k = strlen(kv[i]);
        if (!strncmp(p + 1, kv[i], k) && p[1 + k] == '@') return i;
    }
    return -1;
}

/* tmpl with each "@KEY@" of kv (key, value, ..., NULL) replaced by its
 * value; malloc'd. Two passes: the length, then the text. */
static char *substitute(const char *tmpl, const char *const *kv) {
    char *out = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0;
        for (const char *p = tmpl; *p;) {
            int i = key_at(p, kv);
            if (i < 0) {
                if (out) out[n] = *p;
                n++, p++;
                continue;
            }
            size_t v = strlen(kv[i + 1]);
            if (out) memcpy(out + n, kv[i + 1], v);
            n += v, p += strlen(kv[i]) + 2;
        }
        if (out) {
            out[n] = '\0';
            break;
        }
        if (!(out = malloc(n + 1))) return NULL;
    }
    return out;
}

#define README_FMT \
    "# A network of the %s space found by tgsage, for PyTorch\n" \
    "\n" \
    "Genome %s: %zu parameters, %dx%dx%d images (C x H x W), %d classes%s%s.\n" \
    "\n" \
    "    import sys, torch\n" \
    "    sys.path.insert(0, 'path/to/this/directory')\n" \
    "    import model\n" \
    "    net = model.load('path/to/this/directory')   # evaluation mode\n" \
    "    with torch.no_grad():\n" \
    "        logits = net(model.standardize(images))    # images (N, %d, %d, %d)\n" \
    "\n" \
    "- `model.py` needs only torch and the Python standard library. `Net` takes\n" \
    "  images as tgsage feeds them, each standardised on its own:\n" \
    "  `standardize` computes (x - mean) / max(std, 1/sqrt(C*H*W)) per image on\n" \
    "  the pixel values as stored (0..255 for 8-bit images, no other scaling).\n" \
    "  `load` fills every entry of the state_dict (no name missing or\n" \
    "  unexpected, shapes checked).\n" \
    "- `weights.safetensors`: the weights in the safetensors format, named as\n" \
    "  `Net().state_dict()` (module paths of tgsage's docs/spaces.md).\n" \
    "- `genome.json`: the architecture; tgsage builds the same network from it.\n" \
    "\n" \
    "`python3 model.py` loads the weights and prints a summary.\n"

static char *readme(const char *space, const char *hash, size_t params, int c, int h, int w,
                    int classes, const char *source) {
    size_t n = sizeof README_FMT + strlen(space) + strlen(hash) + (source ? strlen(source) : 0) +
               256;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, README_FMT, space, hash, params, c, h, w, classes,
                 source ? "; weights from " : "", source ? source : "", c, h, w);
    return s;
}

tg_status tg_export_pytorch(const char *genome_json, tg_net *net,
                            const tg_export_options *opt, const char *dir,
                            tg_error *err) {
    if (!genome_json || !net)
        return tg_error_set(err, TG_ERR_ARG, "export: no genome or no net given");
    tg_status st = check_paths(net, err);
    if (st != TG_OK) return st;
    tg_space *sp = NULL;
    if (opt && opt->space && opt->space[0] && !(sp = tg_space_parse(opt->space, err)))
        return err ? err->status : TG_ERR_ARG;
    tg_genome *g = tg_genome_parse(genome_json, sp, err);
    if (g && !sp) sp = tg_space_of_genome(g, err);
    if (!g || !sp) {
        tg_genome_free(g);
        tg_space_free(sp);
        return err ? err->status : TG_ERR_ARG;
    }
    int c, h, w;
    tg_graph_node_shape(tg_net_graph(net), 0, &c, &h, &w);
    const int classes = tg_net_classes(net);
    char *canon = tg_genome_json(g), *model = NULL, *text = NULL;
    char hash[33], path[4200], input[64], ncls[16], nsteps[32];
    tg_genome_hash(g, hash);
    const char *space = tg_space_spec(sp);
    const int64_t steps = opt && opt->steps > 0 ? opt->steps : 0;
    const char *source = opt ? opt->source : NULL;
    st = canon ? check_against_genome(g, net, c, h, w, err)
               : tg_error_set(err, TG_ERR_NOMEM, "export: out of memory");
    /* the genome goes into a raw '''...''' literal: it must not end it (a
     * validated genome holds only names and numbers) */
    if (st == TG_OK && strpbrk(canon, "'\\"))
        st = tg_error_set(err, TG_ERR_ARG, "export: the genome's JSON holds a quote or a "
                                           "backslash; it cannot be embedded in model.py");
    if (st == TG_OK) st = tg_mkdirs(dir, err);
    if (st == TG_OK) {
        snprintf(nsteps, sizeof nsteps, "%lld", (long long)steps);
        const char *meta[] = {"format", "pt", "producer", "tgsage", "space", space,
                              "genome_hash", hash, "steps", nsteps,
                              source ? "source" : NULL, source, NULL};
        join(path, sizeof path, dir, "weights.safetensors");
        st = write_weights(path, net, steps, meta, err);
    }
    if (st == TG_OK) {
        size_t n = strlen(canon);
        text = malloc(n + 2);
        if (!text) st = tg_error_set(err, TG_ERR_NOMEM, "export: out of memory");
        else {
            memcpy(text, canon, n), memcpy(text + n, "\n", 2);
            join(path, sizeof path, dir, "genome.json");
            st = tg_file_write(path, text, strlen(text), err);
        }
    }
    if (st == TG_OK) {
        snprintf(input, sizeof input, "%d, %d, %d", c, h, w);
        snprintf(ncls, sizeof ncls, "%d", classes);
        const char *kv[] = {"GENOME", canon, "INPUT", input, "CLASSES", ncls, NULL};
        model = substitute(TG_MODEL_PY, kv);
        join(path, sizeof path, dir, "model.py");
        st = model ? tg_file_write(path, model, strlen(model), err)
                   : tg_error_set(err, TG_ERR_NOMEM, "export: out of memory");
    }
    if (st == TG_OK) {
        free(text);
        text = readme(space, hash, tg_net_param_count(net), c, h, w, classes, source);
        join(path, sizeof path, dir, "README.md");
        st = text ? tg_file_write(path, text, strlen(text), err)
                  : tg_error_set(err, TG_ERR_NOMEM, "export: out of memory");
    }
    free(text), free(model), free(canon);
    tg_genome_free(g);
    tg_space_free(sp);
    return st;
}
