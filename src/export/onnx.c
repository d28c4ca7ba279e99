/* onnx.c - a compiled net as an ONNX model (opset 13), written with
 * protobuf-c from the onnx.proto of Debian's libonnx-dev.
 *
 * The ONNX graph is the net's own graph, node by node (tg_graph_node_op),
 * so any net exports, built-in or genome; the weights are the net's
 * parameters and BN running statistics, which net.c creates in node order
 * (conv weight and bias, BN weight and bias with its running mean and
 * variance, linear weight and bias), so they are taken in that order too.
 * Evaluation mode: BatchNormalization with the running statistics. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "tgsage/export.h"
#include "tgsage/fileio.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"

#define OPSET 13
#define IR_VERSION 7  /* the IR of opset 13 (ONNX 1.8) */
#define BN_EPS 1e-5f  /* ops.h: tg_bn_shape's, PyTorch's */

/* Everything the model's messages point to lives in one arena, freed at
 * once after packing. */
typedef struct block {
    struct block *next;
    max_align_t data[];
} block;

typedef struct {
    block *head;
    int failed;
} arena;

static void *alloc(arena *a, size_t n) {
    block *b = calloc(1, sizeof *b + (n ? n : 1));
    if (!b) {
        a->failed = 1;
        return NULL;
    }
    b->next = a->head, a->head = b;
    return b->data;
}

static void arena_free(arena *a) {
    for (block *b = a->head, *n; b; b = n) n = b->next, free(b);
}

static char *str(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *str(arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = alloc(a, (size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- the model's pieces -------------------------------------------------- */

/* A growing list of message pointers (nodes, initializers). */
typedef struct {
    void **v;
    size_t n, cap;
} list;

static void push(arena *a, list *l, void *m) {
    if (!m) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        void **v = alloc(a, cap * sizeof *v);
        if (!v) return;
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = m;
}

static Onnx__AttributeProto *attr(arena *a, const char *name,
                                  Onnx__AttributeProto__AttributeType type) {
    Onnx__AttributeProto *t = alloc(a, sizeof *t);
    if (!t) return NULL;
    onnx__attribute_proto__init(t);
    t->name = (char *)name;
    t->has_type = 1, t->type = type;
    return t;
}

static Onnx__AttributeProto *attr_ints(arena *a, const char *name, int n, const int64_t *v) {
    Onnx__AttributeProto *t = attr(a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *ints = alloc(a, (size_t)n * sizeof *ints);
    if (!t || !ints) return NULL;
    memcpy(ints, v, (size_t)n * sizeof *ints);
    t->n_ints = (size_t)n, t->ints = ints;
    return t;
}

static Onnx__AttributeProto *attr_int(arena *a, const char *name, int64_t v) {
    Onnx__AttributeProto *t = attr(a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (t) t->has_i = 1, t->i = v;
    return t;
}

static Onnx__AttributeProto *attr_float(arena *a, const char *name, float v) {
    Onnx__AttributeProto *t = attr(a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (t) t->has_f = 1, t->f = v;
    return t;
}

/* A node of op_type from the nin inputs to one output; its attributes
 * are given afterwards (node_attr). */
static Onnx__NodeProto *node(arena *a, list *nodes, const char *op_type, const char *name,
                             int nin, char **in, char *out) {
    Onnx__NodeProto *n = alloc(a, sizeof *n);
    char **ins = alloc(a, (size_t)nin * sizeof *ins), **outs = alloc(a, sizeof *outs);
    if (!n || !ins || !outs) return NULL;
    onnx__node_proto__init(n);
    memcpy(ins, in, (size_t)nin * sizeof *ins);
    outs[0] = out;
    n->n_input = (size_t)nin, n->input = ins;
    n->n_output = 1, n->output = outs;
    n->op_type = (char *)op_type, n->name = (char *)name;
    push(a, nodes, n);
    return n;
}

static void node_attr(arena *a, Onnx__NodeProto *n, Onnx__AttributeProto *t) {
    if (!n || !t) return;
    Onnx__AttributeProto **v = alloc(a, (n->n_attribute + 1) * sizeof *v);
    if (!v) return;
    if (n->n_attribute) memcpy(v, n->attribute, n->n_attribute * sizeof *v);
    v[n->n_attribute++] = t;
    n->attribute = v;
}

/* An initializer: n floats (or int64 when f is NULL), little-endian. */
static Onnx__TensorProto *tensor(arena *a, const char *name, int ndim, const int64_t *dims,
                                 const float *f, const int64_t *i64, size_t n) {
    Onnx__TensorProto *t = alloc(a, sizeof *t);
    int64_t *d = alloc(a, (size_t)ndim * sizeof *d + 1);
    const size_t size = f ? 4 : 8;
    uint8_t *raw = alloc(a, n * size);
    if (!t || !d || !raw) return NULL;
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    memcpy(d, dims, (size_t)ndim * sizeof *d);
    t->n_dims = (size_t)ndim, t->dims = d;
    t->has_data_type = 1;
    t->data_type = f ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT : ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    for (size_t k = 0; k < n; k++) {
        uint64_t v;
        if (f) {
            uint32_t u;
            memcpy(&u, &f[k], 4);
            v = u;
        } else {
            memcpy(&v, &i64[k], 8);
        }
        for (size_t b = 0; b < size; b++) raw[k * size + b] = (uint8_t)(v >> (8 * b));
    }
    t->has_raw_data = 1, t->raw_data.len = n * size, t->raw_data.data = raw;
    return t;
}

/* A float tensor value (N, d1, d2, ...) with N the symbolic batch "N". */
static Onnx__ValueInfoProto *value_info(arena *a, const char *name, int ndim, const int *dims) {
    Onnx__ValueInfoProto *v = alloc(a, sizeof *v);
    Onnx__TypeProto *type = alloc(a, sizeof *type);
    Onnx__TypeProto__Tensor *tt = alloc(a, sizeof *tt);
    Onnx__TensorShapeProto *shape = alloc(a, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **dim = alloc(a, (size_t)(ndim + 1) * sizeof *dim);
    if (!v || !type || !tt || !shape || !dim) return NULL;
    for (int i = 0; i <= ndim; i++) {
        if (!(dim[i] = alloc(a, sizeof *dim[i]))) return NULL;
        onnx__tensor_shape_proto__dimension__init(dim[i]);
        if (i == 0) {
            dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim[i]->dim_param = "N";
        } else {
            dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim[i]->dim_value = dims[i - 1];
        }
    }
    onnx__tensor_shape_proto__init(shape);
    shape->n_dim = (size_t)ndim + 1, shape->dim = dim;
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = shape;
    onnx__type_proto__init(type);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, type->tensor_type = tt;
    onnx__value_info_proto__init(v);
    v->name = (char *)name, v->type = type;
    return v;
}

/* ---- the graph ------------------------------------------------------------ */

/* The name of node i's output: the graph's name for a named node (the
 * evaluator's observed layers: "layer3", "cell2") when no other tensor can
 * carry it, else "n<i>"; the input is "input" and the last node "logits". */
static char *tensor_name(arena *a, const tg_graph *g, int i) {
    const int last = tg_graph_nodes(g) - 1;
    if (i == 0) return "input";
    if (i == last) return "logits";
    const char *name = tg_graph_node_name(g, i);
    int ok = name && name[0] && tg_graph_find(g, name) == i && strcmp(name, "input") &&
             strcmp(name, "logits") && !strchr(name, '.');  /* parameters have dots */
    if (ok && name[0] == 'n' && strspn(name + 1, "0123456789") == strlen(name + 1)) ok = 0;
    return ok ? str(a, "%s", name) : str(a, "n%d", i);
}

typedef struct {
    arena *a;
    list nodes, inits;
    tg_param *p, *s;   /* the parameters and the state, taken in node order */
    int np, ns, ip, is;
} builder;

/* The next parameter (state != 0: running statistic) as an initializer. */
static char *take(builder *b, int state, tg_error *err) {
    if (state ? b->is >= b->ns : b->ip >= b->np) {
        tg_error_set(err, TG_ERR_SHAPE,
                     "export: the net has fewer parameters than its graph's nodes take");
        return NULL;
    }
    tg_param *p = state ? &b->s[b->is++] : &b->p[b->ip++];
    int64_t dims[4];
    for (int d = 0; d < p->ndim; d++) dims[d] = p->dims[d];
    push(b->a, &b->inits, tensor(b->a, p->name, p->ndim, dims, p->data, NULL, p->size));
    return p->name;
}

static tg_status add_node(builder *b, const tg_graph *g, int i, char **names, tg_error *err) {
    arena *a = b->a;
    tg_node_op op;
    tg_graph_node_op(g, i, &op);
    char *out = names[i], *in[8];
    const char *nn = str(a, "node%d", i);
    char *x = op.nin ? names[op.in[0]] : NULL;
    Onnx__NodeProto *n = NULL;
    switch (op.kind) {
    case TG_NODE_CONV: {
        in[0] = x;
        if (!(in[1] = take(b, 0, err))) return err ? err->status : TG_ERR_SHAPE;
        if (op.bias && !(in[2] = take(b, 0, err))) return err ? err->status : TG_ERR_SHAPE;
        n = node(a, &b->nodes, "Conv", nn, op.bias ? 3 : 2, in, out);
        const int64_t k[2] = {op.kh, op.kw}, s[2] = {op.stride, op.stride},
                      d[2] = {op.dil, op.dil}, pad[4] = {op.pad_h, op.pad_w, op.pad_h, op.pad_w};
        node_attr(a, n, attr_ints(a, "kernel_shape", 2, k));
        node_attr(a, n, attr_ints(a, "strides", 2, s));
        node_attr(a, n, attr_ints(a, "dilations", 2, d));
        node_attr(a, n, attr_ints(a, "pads", 4, pad));
        node_attr(a, n, attr_int(a, "group", op.groups));
        break;
    }
    case TG_NODE_BN:
        in[0] = x;
        for (int k = 1; k < 5; k++)
            if (!(in[k] = take(b, k >= 3, err))) return err ? err->status : TG_ERR_SHAPE;
        n = node(a, &b->nodes, "BatchNormalization", nn, 5, in, out);
        node_attr(a, n, attr_float(a, "epsilon", BN_EPS));
        break;
    case TG_NODE_RELU:
        node(a, &b->nodes, "Relu", nn, 1, &x, out);
        break;
    case TG_NODE_MAXPOOL:
    case TG_NODE_AVGPOOL: {
        const int avg = op.kind == TG_NODE_AVGPOOL;
        n = node(a, &b->nodes, avg ? "AveragePool" : "MaxPool", nn, 1, &x, out);
        const int64_t k[2] = {op.kh, op.kw}, s[2] = {op.stride, op.stride},
                      pad[4] = {op.pad_h, op.pad_w, op.pad_h, op.pad_w};
        node_attr(a, n, attr_ints(a, "kernel_shape", 2, k));
        node_attr(a, n, attr_ints(a, "strides", 2, s));
        node_attr(a, n, attr_ints(a, "pads", 4, pad));
        if (avg) node_attr(a, n, attr_int(a, "count_include_pad", 0));
        break;
    }
    case TG_NODE_GAP:
        node(a, &b->nodes, "GlobalAveragePool", nn, 1, &x, out);
        break;
    case TG_NODE_ADD:
        in[0] = names[op.in[0]], in[1] = names[op.in[1]];
        node(a, &b->nodes, "Add", nn, 2, in, out);
        break;
    case TG_NODE_CONCAT: {
        /* smaller maps zero-padded at the bottom and right, then Concat */
        int h, w;
        tg_graph_node_shape(g, i, NULL, &h, &w);
        char **ins = alloc(a, (size_t)op.nin * sizeof *ins);
        if (!ins) break;
        for (int k = 0; k < op.nin; k++) {
            int kh, kw;
            tg_graph_node_shape(g, op.in[k], NULL, &kh, &kw);
            ins[k] = names[op.in[k]];
            if (kh == h && kw == w) continue;
            const int64_t pads[8] = {0, 0, 0, 0, 0, 0, h - kh, w - kw}, dims[1] = {8};
            char *pname = str(a, "n%d.pads%d", i, k), *padded = str(a, "n%d.in%d", i, k);
            push(a, &b->inits, tensor(a, pname, 1, dims, NULL, pads, 8));
            char *pin[2] = {ins[k], pname};
            n = node(a, &b->nodes, "Pad", str(a, "node%d.pad%d", i, k), 2, pin, padded);
            ins[k] = padded;
        }
        n = node(a, &b->nodes, "Concat", nn, op.nin, ins, out);
        node_attr(a, n, attr_int(a, "axis", 1));
        break;
    }
    case TG_NODE_LINEAR: {
        char *flat = str(a, "n%d.flat", i);
        n = node(a, &b->nodes, "Flatten", str(a, "node%d.flatten", i), 1, &x, flat);
        node_attr(a, n, attr_int(a, "axis", 1));
        in[0] = flat;
        for (int k = 1; k < 3; k++)
            if (!(in[k] = take(b, 0, err))) return err ? err->status : TG_ERR_SHAPE;
        n = node(a, &b->nodes, "Gemm", nn, 3, in, out);
        node_attr(a, n, attr_int(a, "transB", 1));
        break;
    }
    case TG_NODE_INPUT:
        break;
    }
    return TG_OK;
}

static Onnx__StringStringEntryProto *entry(arena *a, const char *key, const char *value) {
    Onnx__StringStringEntryProto *e = alloc(a, sizeof *e);
    if (!e) return NULL;
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)key, e->value = str(a, "%s", value);
    return e;
}

/* The genome's canonical form, hash and space for the metadata; NULL
 * genome_json: none. */
static tg_status genome_meta(arena *a, list *meta, const char *genome_json,
                             const tg_export_options *opt, tg_error *err) {
    if (!genome_json) return TG_OK;
    tg_space *sp = NULL;
    if (opt && opt->space && opt->space[0] && !(sp = tg_space_parse(opt->space, err)))
        return err ? err->status : TG_ERR_ARG;
    tg_genome *g = tg_genome_parse(genome_json, sp, err);
    if (g && !sp) sp = tg_space_of_genome(g, err);
    tg_status st = g && sp ? TG_OK : err ? err->status : TG_ERR_ARG;
    if (st == TG_OK) {
        char hash[33], *canon = tg_genome_json(g);
        tg_genome_hash(g, hash);
        push(a, meta, entry(a, "space", tg_space_spec(sp)));
        push(a, meta, entry(a, "genome_hash", hash));
        if (canon) push(a, meta, entry(a, "genome", canon));
        else a->failed = 1;
        free(canon);
    }
    tg_genome_free(g);
    tg_space_free(sp);
    return st;
}

tg_status tg_export_onnx(tg_net *net, const char *genome_json, const tg_export_options *opt,
                         const char *dir, tg_error *err) {
    if (!net || !dir) return tg_error_set(err, TG_ERR_ARG, "export: no net or no directory given");
    const tg_graph *g = tg_net_graph(net);
    const int nn = tg_graph_nodes(g);
    arena a = {0};
    builder b = {.a = &a};
    b.p = tg_net_params(net, &b.np);
    b.s = tg_net_state(net, &b.ns);
    list meta = {0};
    tg_status st = genome_meta(&a, &meta, genome_json, opt, err);
    char **names = alloc(&a, (size_t)nn * sizeof *names);
    for (int i = 0; st == TG_OK && names && i < nn; i++) names[i] = tensor_name(&a, g, i);
    for (int i = 1; st == TG_OK && i < nn; i++) st = add_node(&b, g, i, names, err);
    if (st == TG_OK && (b.ip != b.np || b.is != b.ns))
        st = tg_error_set(err, TG_ERR_SHAPE, "export: the graph's nodes took %d of the "
                          "net's %d parameters and %d of its %d state tensors",
                          b.ip, b.np, b.is, b.ns);
    char steps[32];
    snprintf(steps, sizeof steps, "%lld", (long long)(opt && opt->steps > 0 ? opt->steps : 0));
    push(&a, &meta, entry(&a, "producer", "tgsage"));
    push(&a, &meta, entry(&a, "steps", steps));
    push(&a, &meta, entry(&a, "input", "images as tgsage feeds them: N x C x H x W, float32, "
                                       "each image standardised (zero mean, unit variance)"));
    if (opt && opt->source) push(&a, &meta, entry(&a, "source", opt->source));

    int c, h, w, dims[3];
    tg_graph_node_shape(g, 0, &c, &h, &w);
    dims[0] = c, dims[1] = h, dims[2] = w;
    const int classes = tg_net_classes(net);
    Onnx__ValueInfoProto *in = value_info(&a, "input", 3, dims),
                         *out = value_info(&a, "logits", 1, &classes);
    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    graph.name = "tgsage";
    graph.n_node = b.nodes.n, graph.node = (Onnx__NodeProto **)b.nodes.v;
    graph.n_initializer = b.inits.n, graph.initializer = (Onnx__TensorProto **)b.inits.v;
    graph.n_input = 1, graph.input = &in;
    graph.n_output = 1, graph.output = &out;
    Onnx__OperatorSetIdProto opset, *opsets = &opset;
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "", opset.has_version = 1, opset.version = OPSET;
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1, m.ir_version = IR_VERSION;
    m.n_opset_import = 1, m.opset_import = &opsets;
    m.producer_name = "tgsage", m.producer_version = TG_VERSION;
    m.graph = &graph;
    m.n_metadata_props = meta.n, m.metadata_props = (Onnx__StringStringEntryProto **)meta.v;
    if (st == TG_OK && (a.failed || !names || !in || !out))
        st = tg_error_set(err, TG_ERR_NOMEM, "export: out of memory");
    if (st == TG_OK) {
        size_t n = onnx__model_proto__get_packed_size(&m);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf) st = tg_error_set(err, TG_ERR_NOMEM, "export: out of memory (%zu bytes)", n);
        else {
            onnx__model_proto__pack(&m, buf);
            char path[4200];
            size_t k = strlen(dir);
            snprintf(path, sizeof path, "%s%smodel.onnx", dir, k && dir[k - 1] == '/' ? "" : "/");
            st = tg_mkdirs(dir, err);
            if (st == TG_OK) st = tg_file_write(path, buf, n, err);
            free(buf);
        }
    }
    arena_free(&a);
    return st;
}
