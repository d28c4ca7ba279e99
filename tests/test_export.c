/* test_export.c - `tgsage export`: the safetensors writer byte by byte, the
 * refusals (a built-in net, a net of another genome, bad tensors), and the
 * parity of exported PyTorch modules with tgsage: 20 random genomes of each
 * space, trained two SGD steps (so weights and BN running statistics
 * move), exported and run by PyTorch (tests/export_check.py, one process
 * for all of them) on the images tgsage evaluates; the logits must agree to
 * max|a - b| / max|a| <= 1e-4 per network. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tgsage/export.h"
#include "tgsage/genome.h"
#include "tgsage/models.h"
#include "tgsage/npy.h"
#include "tgsage/optim.h"
#include "tgsage/prep.h"
#include "tgsage/space.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

#define PYTHON "/usr/bin/python3"

static unsigned char *slurp(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    b[*n] = 0;
    return b;
}

/* Fail unless dir holds exactly the n names given (no temporary files). */
static void expect_files(const char *dir, const char *const *names, int n) {
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int known = 0;
        for (int i = 0; i < n; i++) known |= !strcmp(e->d_name, names[i]);
        if (!known) fail_msg("%s holds an unexpected file %s", dir, e->d_name);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, n);
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- the safetensors writer ---------------------------------------------- */

/* Three tensors given F32, I64, F32: the I64 scalar moves to the front (8-byte
 * alignment), the header is padded with spaces to 8 + N = 0 mod 8, values
 * are little-endian. Every byte is spelled out. */
static void test_safetensors_bytes(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    const float w[2] = {1.0f, -2.5f}, m[2] = {0.5f, 3.0f};
    const int64_t steps = 7;
    const tg_st_tensor t[3] = {
        {.name = "w", .dtype = TG_ST_F32, .ndim = 1, .dims = {2}, .data = w},
        {.name = "n", .dtype = TG_ST_I64, .ndim = 0, .data = &steps},
        {.name = "m", .dtype = TG_ST_F32, .ndim = 2, .dims = {1, 2}, .data = m},
    };
    const char *meta[] = {"format", "pt", NULL};
    tg_error err;
    assert_int_equal(tg_safetensors_write(path, t, 3, meta, &err), TG_OK);
    const char *json =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
        "\"m\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[16,24]}}";
    size_t jl = strlen(json);  /* 195: padded to 200 */
    assert_int_equal(jl, 195);
    unsigned char want[8 + 200 + 24];
    memset(want, ' ', sizeof want);
    const unsigned char len[8] = {200, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want, len, 8);
    memcpy(want + 8, json, jl);
    const unsigned char data[24] = {
        7, 0, 0, 0, 0, 0, 0, 0,                        /* n = 7 */
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, /* w = 1, -2.5 */
        0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x40, 0x40, /* m = 0.5, 3 */
    };
    memcpy(want + 208, data, 24);
    size_t n;
    unsigned char *got = slurp(path, &n);
    assert_non_null(got);
    assert_int_equal(n, sizeof want);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("byte %zu is 0x%02x, want 0x%02x", i, got[i], want[i]);
    free(got);
    const char *names[] = {"t.safetensors"};
    expect_files(dir, names, 1);
    tu_rmtree(dir);
}

/* Header lengths of every residue mod 8: the padding is 0..7 spaces so the
 * data starts at a multiple of 8, and the header parses back. No metadata:
 * no __metadata__ key. */
static void test_safetensors_padding(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512], name[16];
    snprintf(path, sizeof path, "%s/p.safetensors", dir);
    int seen[8] = {0};
    const float v = 1.5f;
    for (int k = 1; k <= 8; k++) {
        memset(name, 'a', (size_t)k);
        name[k] = 0;
        tg_st_tensor t = {.name = name, .dtype = TG_ST_F32, .ndim = 1, .dims = {1}, .data = &v};
        tg_error err;
        assert_int_equal(tg_safetensors_write(path, &t, 1, NULL, &err), TG_OK);
        size_t n;
        unsigned char *b = slurp(path, &n);
        uint64_t hl = 0;
        for (int i = 0; i < 8; i++) hl |= (uint64_t)b[i] << (8 * i);
        assert_int_equal((8 + hl) % 8, 0);
        assert_int_equal(n, 8 + hl + 4);
        size_t jl = hl;
        while (jl > 0 && b[8 + jl - 1] == ' ') jl--;
        assert_int_equal(b[8 + jl - 1], '}');
        assert_true(hl - jl < 8);
        assert_int_equal(hl, (jl + 7) / 8 * 8);
        seen[jl % 8] = 1;
        cJSON *h = cJSON_ParseWithLength((const char *)b + 8, hl);
        assert_non_null(h);
        assert_null(cJSON_GetObjectItem(h, "__metadata__"));
        const cJSON *off = cJSON_GetObjectItem(cJSON_GetObjectItem(h, name), "data_offsets");
        assert_int_equal(cJSON_GetArrayItem(off, 0)->valueint, 0);
        assert_int_equal(cJSON_GetArrayItem(off, 1)->valueint, 4);
        float got;
        memcpy(&got, b + 8 + hl, 4);
        assert_true(got == v);
        cJSON_Delete(h);
        free(b);
    }
    for (int r = 0; r < 8; r++)
        if (!seen[r]) fail_msg("no header of length %d mod 8 was tried", r);
    tu_rmtree(dir);
}

static void expect_refused(const char *path, const tg_st_tensor *t, int n,
                           const char *const *meta, tg_status st, const char *want) {
    tg_error err;
    tg_error_clear(&err);
    assert_int_equal(tg_safetensors_write(path, t, n, meta, &err), st);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
}

/* Bad tensors are refused by name and leave an existing file as it was;
 * an unwritable path names the file and leaves no .tmp. */
static void test_safetensors_refusals(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/r.safetensors", dir);
    const float v[2] = {1, 2};
    tg_st_tensor good = {.name = "x", .dtype = TG_ST_F32, .ndim = 1, .dims = {2}, .data = v};
    tg_error err;
    assert_int_equal(tg_safetensors_write(path, &good, 1, NULL, &err), TG_OK);
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);

    tg_st_tensor two[2] = {good, good};
    expect_refused(path, two, 2, NULL, TG_ERR_ARG, "tensor name 'x' is repeated");
    tg_st_tensor t = good;
    t.name = "__metadata__";
    expect_refused(path, &t, 1, NULL, TG_ERR_ARG, "empty or reserved");
    t = good, t.name = "";
    expect_refused(path, &t, 1, NULL, TG_ERR_ARG, "empty or reserved");
    t = good, t.ndim = 9;
    expect_refused(path, &t, 1, NULL, TG_ERR_ARG, "9 dimensions");
    t = good, t.dims[0] = -1;
    expect_refused(path, &t, 1, NULL, TG_ERR_ARG, "dimension 0 is -1");
    t = good, t.data = NULL;
    expect_refused(path, &t, 1, NULL, TG_ERR_ARG, "tensor 'x': no data");
    const char *dup[] = {"a", "1", "a", "2", NULL};
    expect_refused(path, &good, 1, dup, TG_ERR_ARG, "metadata key 'a' is repeated");
    const char *half[] = {"a", NULL};
    expect_refused(path, &good, 1, half, TG_ERR_ARG, "metadata key 'a' has no value");

    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before), free(after);

    const char *names[] = {"r.safetensors"};
    expect_files(dir, names, 1);
    expect_refused("/nonexistent-dir/w.safetensors", &good, 1, NULL, TG_ERR_IO,
                   "/nonexistent-dir/w.safetensors: cannot create");
    tu_rmtree(dir);
}

/* ---- refusals of the PyTorch export -------------------------------------- */

static const char *LW_GENOME =
    "{\"schema\":1,\"space\":\"layerwise\",\"max_layers\":10,\"layers\":["
    "{\"filters\":32,\"kh\":3,\"kw\":3,\"stride\":1,\"act\":\"relu\",\"norm\":\"bn\","
    "\"inputs\":[-1]},"
    "{\"filters\":32,\"kh\":1,\"kw\":5,\"stride\":2,\"act\":\"identity\",\"norm\":\"none\","
    "\"inputs\":[0]}]}";

static tg_net *net_of(tg_graph *g, int batch) {
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_error err;
    assert_non_null(g);
    tg_net *net = tg_net_new(g, batch, NULL, &rng, &err);
    if (!net) fail_msg("tg_net_new: %s", err.msg);
    return net;
}

static void test_refusals(void **state) {
    (void)state;
    const char *tmp = tu_tmpdir();
    char dir[512];
    snprintf(dir, sizeof dir, "%s/out", tmp);
    tg_error err;

    /* a built-in net: parameters named by node */
    tg_graph *g = tg_model_build("small3", 1, 28, 28, 10, &err);
    tg_net *net = net_of(g, 1);
    assert_int_equal(tg_export_pytorch(LW_GENOME, net, NULL, dir, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "built-in network"));
    assert_non_null(strstr(err.msg, "'n1.conv.w'"));
    assert_false(exists(dir));
    tg_net_free(net);
    tg_graph_free(g);

    /* a genome net, but of another genome (the second layer has kw 3, not 5) */
    char other[1024];
    snprintf(other, sizeof other, "%s", LW_GENOME);
    char *kw = strstr(other, "\"kw\":5");
    kw[5] = '3';
    tg_genome *ge = tg_genome_parse(other, NULL, &err);
    assert_non_null(ge);
    g = tg_genome_build(ge, 1, 28, 28, 10, &err);
    net = net_of(g, 1);
    assert_int_equal(tg_export_pytorch(LW_GENOME, net, NULL, dir, &err), TG_ERR_ARG);
    assert_non_null(strstr(err.msg, "not the genome's network"));
    assert_non_null(strstr(err.msg, "layers.1.conv.weight (32x32x1x3)"));
    assert_non_null(strstr(err.msg, "layers.1.conv.weight (32x32x1x5)"));
    assert_false(exists(dir));

    /* a genome that does not parse: the parser's message */
    assert_int_not_equal(tg_export_pytorch("{\"space\":\"layerwise\"", net, NULL, dir, &err),
                         TG_OK);
    assert_non_null(strstr(err.msg, "genome"));
    /* a space the genome does not belong to (filters narrowed to 64) */
    tg_export_options opt = {.space = "layerwise:10:filters=64"};
    assert_int_not_equal(tg_export_pytorch(other, net, &opt, dir, &err), TG_OK);
    assert_non_null(strstr(err.msg, "filters"));

    /* the right genome: written, into a directory created with its parents */
    snprintf(dir, sizeof dir, "%s/a/b", tmp);
    opt = (tg_export_options){.steps = 12, .source = "unit test"};
    if (tg_export_pytorch(other, net, &opt, dir, &err) != TG_OK) fail_msg("%s", err.msg);
    const char *files[] = {"model.py", "weights.safetensors", "genome.json", "README.md"};
    char path[600];
    expect_files(dir, files, 4);
    /* genome.json is the canonical genome, model.py embeds it */
    char *canon = tg_genome_json(ge);
    size_t n;
    snprintf(path, sizeof path, "%s/genome.json", dir);
    unsigned char *txt = slurp(path, &n);
    assert_int_equal(n, strlen(canon) + 1);
    assert_memory_equal(txt, canon, strlen(canon));
    free(txt);
    snprintf(path, sizeof path, "%s/model.py", dir);
    txt = slurp(path, &n);
    assert_non_null(strstr((char *)txt, canon));
    assert_non_null(strstr((char *)txt, "INPUT_SHAPE = (1, 28, 28)"));
    assert_non_null(strstr((char *)txt, "CLASSES = 10\n"));
    assert_null(strstr((char *)txt, "@GENOME@"));
    free(txt);
    /* BN state gets num_batches_tracked = steps; metadata names the source */
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    txt = slurp(path, &n);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)txt[i] << (8 * i);
    cJSON *h = cJSON_ParseWithLength((const char *)txt + 8, hl);
    const cJSON *nbt = cJSON_GetObjectItem(h, "layers.0.bn.num_batches_tracked");
    assert_non_null(nbt);
    assert_string_equal(cJSON_GetObjectItem(nbt, "dtype")->valuestring, "I64");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(nbt, "shape")), 0);
    int64_t v;
    memcpy(&v, txt + 8 + hl + cJSON_GetArrayItem(cJSON_GetObjectItem(nbt, "data_offsets"), 0)
                             ->valueint, 8);
    assert_int_equal(v, 12);
    const cJSON *meta = cJSON_GetObjectItem(h, "__metadata__");
    assert_string_equal(cJSON_GetObjectItem(meta, "source")->valuestring, "unit test");
    assert_string_equal(cJSON_GetObjectItem(meta, "format")->valuestring, "pt");
    assert_string_equal(cJSON_GetObjectItem(meta, "steps")->valuestring, "12");
    assert_non_null(strstr(cJSON_GetObjectItem(meta, "space")->valuestring, "layerwise:10"));
    /* 2 convs (one with bias), 1 BN (4 + 1), fc (2) */
    assert_int_equal(cJSON_GetArraySize(h), 1 + 3 + 5 + 2);
    cJSON_Delete(h);
    free(txt), free(canon);
    tg_net_free(net);
    tg_graph_free(g);
    tg_genome_free(ge);
    tu_rmtree(tmp);
}

/* ---- parity with PyTorch ------------------------------------------------- */

#define NEVAL 16
#define NTRAIN 4
#define STEPS 2
#define PER_SPACE 20

static int have_torch(void) {
    if (access(PYTHON, X_OK) != 0) return 0;
    return system(PYTHON " -c 'import torch, numpy' >/dev/null 2>&1") == 0;
}

/* A uniform random point of the space: each active dimension uniform. */
static tg_genome *random_genome(const tg_space *s, tg_rng *r) {
    int n = tg_space_ndims(s);
    int *x = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        x[i] = -1;
        if (tg_space_active(s, x, i))
            x[i] = (int)tg_rng_below(r, (uint64_t)tg_space_dim(s, i)->nchoices);
    }
    tg_error err;
    tg_genome *g = tg_space_decode(s, x, &err);
    if (!g) fail_msg("tg_space_decode: %s", err.msg);
    free(x);
    return g;
}

typedef struct {
    char dir[600];
    float logits[NEVAL * 10];
    char observed[1024];   /* the graph's named nodes, one per line */
} exported;

/* The graph's named nodes into out->observed, one per line. */
static void list_named(const tg_graph *g, exported *out) {
    size_t k = 0;
    out->observed[0] = 0;
    for (int i = 0; i < tg_graph_nodes(g); i++) {
        const char *name = tg_graph_node_name(g, i);
        if (name && k + strlen(name) + 2 < sizeof out->observed)
            k += (size_t)sprintf(out->observed + k, "%s\n", name);
    }
}

/* A fresh net of g trained STEPS SGD steps on NTRAIN images, with the
 * logits of the NEVAL images in evaluation mode and the graph's named
 * nodes in out. */
static tg_net *train_eval(const tg_graph *g, const float *images, const int32_t *labels,
                          uint64_t seed, exported *out) {
    tg_error err;
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_net *net = tg_net_new(g, NEVAL, NULL, &rng, &err);
    if (!net) fail_msg("tg_net_new: %s", err.msg);
    tg_opt_config oc = {.kind = TG_OPT_SGD, .momentum = 0.9, .weight_decay = 5e-4,
                        .clip_norm = 1.0};
    tg_optim *o = tg_optim_new(&oc, net, &err);
    assert_non_null(o);
    for (int s = 0; s < STEPS; s++) {
        const float *x = images + (size_t)(s % 2) * NTRAIN * 784;
        double loss;
        if (tg_net_forward(net, x, NTRAIN, 1, &err) != TG_OK ||
            tg_net_loss(net, labels + (s % 2) * NTRAIN, &loss, NULL, &err) != TG_OK)
            fail_msg("training step %d: %s", s, err.msg);
        tg_net_backward(net);
        tg_optim_step(o, 0.05);
    }
    if (tg_net_forward(net, images, NEVAL, 0, &err) != TG_OK) fail_msg("%s", err.msg);
    memcpy(out->logits, tg_net_output(net), sizeof out->logits);
    tg_optim_free(o);
    list_named(g, out);
    return net;
}

/* Build, train, evaluate, export to PyTorch and to ONNX. */
static void train_and_export(const tg_genome *ge, const float *images, const int32_t *labels,
                             uint64_t seed, exported *out) {
    tg_error err;
    tg_graph *g = tg_genome_build(ge, 1, 28, 28, 10, &err);
    if (!g) fail_msg("tg_genome_build: %s", err.msg);
    tg_net *net = train_eval(g, images, labels, seed, out);
    char *json = tg_genome_json(ge);
    tg_export_options opt = {.steps = STEPS};
    if (tg_export_pytorch(json, net, &opt, out->dir, &err) != TG_OK)
        fail_msg("export: %s\n%s", err.msg, json);
    if (tg_export_onnx(net, json, &opt, out->dir, &err) != TG_OK)
        fail_msg("export (onnx): %s\n%s", err.msg, json);
    free(json);
    tg_net_free(net);
    tg_graph_free(g);
}

/* NEVAL random 8-bit images (one of them constant: standardised to zeros),
 * their standardisation by tgsage and random labels, drawn from rng seeded
 * with seed (which goes on from there), written to root/raw.npy and
 * root/std.npy for export_check.py and onnx_check.py. */
typedef struct {
    char rawp[600], stdp[600];
    uint8_t raw[NEVAL * 784];
    float std[NEVAL * 784];
    int32_t labels[NEVAL];
} images;

static images *new_images(const char *root, uint64_t seed, tg_rng *rng) {
    images *im = malloc(sizeof *im);
    if (!im) fail_msg("out of memory");
    tg_rng_seed(rng, seed);
    for (int i = 0; i < NEVAL; i++) {
        for (int j = 0; j < 784; j++)
            im->raw[i * 784 + j] = i == 5 ? 77 : (uint8_t)tg_rng_below(rng, 256);
        tg_standardize_image_u8(im->raw + i * 784, 784, im->std + i * 784);
        im->labels[i] = (int32_t)tg_rng_below(rng, 10);
    }
    snprintf(im->rawp, sizeof im->rawp, "%s/raw.npy", root);
    snprintf(im->stdp, sizeof im->stdp, "%s/std.npy", root);
    const int64_t shape[4] = {NEVAL, 1, 28, 28};
    tg_error err;
    assert_int_equal(tg_npy_write(im->rawp, TG_NPY_U8, 4, shape, im->raw, &err), TG_OK);
    assert_int_equal(tg_npy_write(im->stdp, TG_NPY_F32, 4, shape, im->std, &err), TG_OK);
    return im;
}

/* max|a-b| / max|a| of tgsage's logits a and those in dir/file (PyTorch's
 * logits_torch.npy, the ONNX interpreter's logits_onnx.npy) */
static double compare_logits(const char *dir, const char *file, const float *a) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    tg_npy t;
    tg_error err;
    if (tg_npy_read(path, &t, &err) != TG_OK) fail_msg("%s", err.msg);
    assert_int_equal(t.dtype, TG_NPY_F32);
    assert_int_equal(t.count, NEVAL * 10);
    const float *b = t.data;
    double diff = 0, scale = 0;
    for (int j = 0; j < NEVAL * 10; j++) {
        if (!isfinite(a[j]) || !isfinite(b[j])) fail_msg("%s: logit %d is not finite", dir, j);
        diff = fmax(diff, fabs((double)b[j] - a[j]));
        scale = fmax(scale, fabs((double)a[j]));
    }
    tg_npy_free(&t);
    double rel = diff / scale;
    if (!(rel <= 1e-4))
        fail_msg("%s: %s differ from tgsage's logits by max|a-b|/max|a| = %.3g "
                 "(max|a| = %.3g)", dir, file, rel, scale);
    return rel;
}

static int have_onnx(void) {
    return system(PYTHON " -c 'import onnx, torch, numpy' >/dev/null 2>&1") == 0;
}

/* tests/onnx_check.py over the n directories (it checks each model.onnx
 * and runs it on stdp's images). */
static void run_onnx_check(const char *stdp, const exported *ex, int n) {
    size_t cmdn = 4096 + (size_t)n * sizeof ex->dir;
    char *cmd = malloc(cmdn);
    int k = snprintf(cmd, cmdn, PYTHON " %s --std %s", tu_fixture("../onnx_check.py"), stdp);
    for (int i = 0; i < n; i++) k += snprintf(cmd + k, cmdn - (size_t)k, " %s", ex[i].dir);
    int rc = system(cmd);
    if (rc != 0) fail_msg("%s: exit status %d", cmd, rc);
    free(cmd);
}

/* The ONNX model's logits against tgsage's; every named node of the graph
 * (the observed layers) is a tensor of the model under its name. */
static double check_onnx(const exported *e) {
    char path[700];
    snprintf(path, sizeof path, "%s/onnx_tensors.txt", e->dir);
    size_t n;
    unsigned char *names = slurp(path, &n);
    if (!names) fail_msg("%s is missing", path);
    char want[64];
    for (const char *p = e->observed, *q; *p; p = q + 1) {
        q = strchr(p, '\n');
        snprintf(want, sizeof want, "\n%.*s\n", (int)(q - p), p);
        char *all = malloc(n + 2);
        all[0] = '\n';
        memcpy(all + 1, names, n + 1);
        if (!strstr(all, want)) fail_msg("%s: no tensor named %.*s", e->dir, (int)(q - p), p);
        free(all);
    }
    free(names);
    return compare_logits(e->dir, "logits_onnx.npy", e->logits);
}

static void test_parity(void **state) {
    (void)state;
    if (!have_torch()) {
        print_message("skipping: " PYTHON " with torch and numpy is not available "
                      "(apt-get install python3-torch python3-numpy)\n");
        skip();
    }
    const char *tmp = tu_tmpdir();
    char root[512];
    snprintf(root, sizeof root, "%s", tmp);
    tg_rng rng;
    images *im = new_images(root, 2024, &rng);
    tg_error err;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *specs[2] = {"layerwise:10", "cell"};
    exported *ex = calloc(2 * PER_SPACE, sizeof *ex);
    size_t cmdn = 4096 + 2 * PER_SPACE * sizeof ex->dir;
    char *cmd = malloc(cmdn);
    int k = snprintf(cmd, cmdn, PYTHON " %s --raw %s --std %s", tu_fixture("../export_check.py"),
                     im->rawp, im->stdp);
    tg_threads_set(1);  /* the machine is shared; PyTorch gets one thread too */
    for (int s = 0; s < 2; s++) {
        tg_space *sp = tg_space_parse(specs[s], &err);
        if (!sp) fail_msg("tg_space_parse(%s): %s", specs[s], err.msg);
        for (int i = 0; i < PER_SPACE; i++) {
            exported *e = &ex[s * PER_SPACE + i];
            snprintf(e->dir, sizeof e->dir, "%s/%s-%02d", root, s ? "cell" : "layerwise", i);
            tg_genome *ge = random_genome(sp, &rng);
            train_and_export(ge, im->std, im->labels, 100 + (uint64_t)i, e);
            tg_genome_free(ge);
            k += snprintf(cmd + k, cmdn - (size_t)k, " %s", e->dir);
        }
        tg_space_free(sp);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int rc = system(cmd);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    if (rc != 0) fail_msg("%s: exit status %d", cmd, rc);
    double worst[2] = {0, 0}, worst_onnx[2] = {0, 0};
    for (int i = 0; i < 2 * PER_SPACE; i++)
        worst[i / PER_SPACE] = fmax(worst[i / PER_SPACE],
                                    compare_logits(ex[i].dir, "logits_torch.npy", ex[i].logits));
    print_message("parity over %d genomes each: max|a-b|/max|a| worst %.2e (layerwise:10), "
                  "%.2e (cell); tgsage %.1f s, PyTorch %.1f s\n", PER_SPACE, worst[0], worst[1],
                  (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec),
                  (double)(t2.tv_sec - t1.tv_sec) + 1e-9 * (double)(t2.tv_nsec - t1.tv_nsec));
    if (have_onnx()) {
        run_onnx_check(im->stdp, ex, 2 * PER_SPACE);
        for (int i = 0; i < 2 * PER_SPACE; i++)
            worst_onnx[i / PER_SPACE] = fmax(worst_onnx[i / PER_SPACE], check_onnx(&ex[i]));
        print_message("ONNX parity: worst %.2e (layerwise:10), %.2e (cell)\n", worst_onnx[0],
                      worst_onnx[1]);
    } else {
        print_message("skipping the ONNX half: " PYTHON " with onnx is not available "
                      "(apt-get install python3-onnx)\n");
    }
    free(cmd), free(ex);
    free(im);
    tu_rmtree(root);
}

/* ONNX for the built-in networks, which have no genome: resnet:3 (Add,
 * a strided shortcut) and small3 (max pooling), trained two steps and
 * exported. */
static void test_onnx_builtin(void **state) {
    (void)state;
    if (!have_onnx()) {
        print_message("skipping: " PYTHON " with onnx, torch and numpy is not available "
                      "(apt-get install python3-onnx python3-torch)\n");
        skip();
    }
    const char *tmp = tu_tmpdir();
    char root[512];
    snprintf(root, sizeof root, "%s", tmp);
    tg_rng rng;
    images *im = new_images(root, 99, &rng);
    const char *nets[] = {"resnet:3", "small3"};
    exported ex[2];
    tg_threads_set(1);
    for (int i = 0; i < 2; i++) {
        tg_error err;
        tg_graph *g = tg_model_build(nets[i], 1, 28, 28, 10, &err);
        if (!g) fail_msg("tg_model_build(%s): %s", nets[i], err.msg);
        snprintf(ex[i].dir, sizeof ex[i].dir, "%s/net%d", root, i);
        tg_net *net = train_eval(g, im->std, im->labels, 5 + (uint64_t)i, &ex[i]);
        tg_export_options opt = {.steps = STEPS, .source = nets[i]};
        if (i == 0) {  /* refusals: nothing is written */
            char bad[700];
            snprintf(bad, sizeof bad, "%s/sub", im->rawp);
            assert_int_equal(tg_export_onnx(net, NULL, &opt, bad, &err), TG_ERR_IO);
            assert_non_null(strstr(err.msg, "is not a directory"));
            assert_int_not_equal(tg_export_onnx(net, "{\"schema\": 1,", &opt, ex[i].dir, &err),
                                 TG_OK);
            assert_false(exists(ex[i].dir));
        }
        if (tg_export_onnx(net, NULL, &opt, ex[i].dir, &err) != TG_OK)
            fail_msg("export (onnx) %s: %s", nets[i], err.msg);
        tg_net_free(net);
        tg_graph_free(g);
    }
    run_onnx_check(im->stdp, ex, 2);
    for (int i = 0; i < 2; i++)
        print_message("ONNX export of %s: max|a-b|/max|a| = %.2e\n", nets[i], check_onnx(&ex[i]));
    free(im);
    tu_rmtree(root);
}

/* ---- the command ---------------------------------------------------------- */

/* tgsage export on checkpoints of tgsage train: usage errors, a built-in net
 * refused, and a genome (all eight cell ops, N = 1, F = 8) trained two
 * steps, exported, loaded by PyTorch and run on the images tgsage runs. */
static void test_cli(void **state) {
    (void)state;
    tu_expect("--help", 0, "export");
    tu_run("export --help");
    const char *flags[] = {"--ckpt", "--format", "--out", "--json", "pytorch", "[pytorch]"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(tu_out, flags[i])) fail_msg("export --help lacks %s:\n%s", flags[i], tu_out);
    tu_expect("export --ckpt x.ckpt -o d --format tflite", 2,
              "--format 'tflite': expected one of pytorch, onnx");
    tu_expect("export --ckpt x.ckpt", 2, "--ckpt and -o are required");
    tu_expect("export -o d", 2, "--ckpt and -o are required");
    tu_expect("export --ckpt x.ckpt -o d extra", 2, "unexpected argument 'extra'");
    tu_expect("export --frob", 2, "Run 'tgsage export --help'");
    tu_expect("export --ckpt /nonexistent.ckpt -o d", 1, "/nonexistent.ckpt");

    const char *tmp = tu_tmpdir();
    char root[512], args[4096], ckpt[600], out[600];
    snprintf(root, sizeof root, "%s", tmp);
    const char *data = "--train-limit 256 --val 64 --batch 32 --epochs 0.25 --threads 1";
    snprintf(ckpt, sizeof ckpt, "%s/s.ckpt", root);
    snprintf(args, sizeof args, "train --net small3 %s --out %s", data, ckpt);
    tu_expect(args, 0, "");
    snprintf(out, sizeof out, "%s/small3", root);
    snprintf(args, sizeof args, "export --ckpt %s -o %s", ckpt, out);
    tu_expect(args, 1, "holds the built-in network 'small3', which has no genome");
    assert_false(exists(out));
    char small3[600], onnx_out[600];
    snprintf(small3, sizeof small3, "%s", ckpt);
    snprintf(onnx_out, sizeof onnx_out, "%s/small3-onnx", root);
    snprintf(args, sizeof args, "export --ckpt %s --format onnx -o %s --json", ckpt, onnx_out);
    tu_expect(args, 0, "\"files\":[\"model.onnx\"]");
    assert_non_null(strstr(tu_out, "\"net\":\"small3\""));
    const char *onnx_files[] = {"model.onnx"};
    expect_files(onnx_out, onnx_files, 1);
    snprintf(args, sizeof args, "export --ckpt %s --format onnx -o %s", ckpt, onnx_out);
    tu_expect(args, 0, "-> ");
    assert_non_null(strstr(tu_out, "model.onnx"));

    snprintf(ckpt, sizeof ckpt, "%s/g.ckpt", root);
    snprintf(args, sizeof args, "train --genome %s %s --out %s",
             tu_fixture("genomes/cell_all_ops.json"), data, ckpt);
    tu_expect(args, 0, "");
    snprintf(out, sizeof out, "%s/cell", root);
    snprintf(args, sizeof args, "export --ckpt %s --format pytorch -o %s --json", ckpt, out);
    tu_expect(args, 0, "\"format\":\"pytorch\"");
    assert_non_null(strstr(tu_out, "\"steps\":2"));
    assert_non_null(strstr(tu_out, "\"space\":\"cell:"));
    if (!have_torch()) {
        print_message("skipping the PyTorch half: " PYTHON " with torch and numpy is not "
                      "available\n");
        tu_rmtree(root);
        return;
    }
    tg_rng rng;
    images *im = new_images(root, 7, &rng);
    tg_trained t;
    tg_error err;
    if (tg_trained_load(ckpt, NEVAL, "", &t, &err) != TG_OK) fail_msg("%s", err.msg);
    if (tg_net_forward(t.net, im->std, NEVAL, 0, &err) != TG_OK) fail_msg("%s", err.msg);
    snprintf(args, sizeof args, PYTHON " %s --raw %s --std %s %s",
             tu_fixture("../export_check.py"), im->rawp, im->stdp, out);
    int rc = system(args);
    if (rc != 0) fail_msg("%s: exit status %d", args, rc);
    double rel = compare_logits(out, "logits_torch.npy", tg_net_output(t.net));
    print_message("tgsage export of a trained cell genome: max|a-b|/max|a| = %.2e\n", rel);
    tg_trained_free(&t);
    if (have_onnx()) {  /* the ONNX export of small3's checkpoint, run on the same images */
        exported e;
        snprintf(e.dir, sizeof e.dir, "%s", onnx_out);
        if (tg_trained_load(small3, NEVAL, "", &t, &err) != TG_OK) fail_msg("%s", err.msg);
        list_named(t.g, &e);
        if (tg_net_forward(t.net, im->std, NEVAL, 0, &err) != TG_OK) fail_msg("%s", err.msg);
        memcpy(e.logits, tg_net_output(t.net), sizeof e.logits);
        tg_trained_free(&t);
        run_onnx_check(im->stdp, &e, 1);
        print_message("tgsage export --format onnx of small3: max|a-b|/max|a| = %.2e\n",
                      check_onnx(&e));
    }
    free(im);
    tu_rmtree(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_bytes),
        cmocka_unit_test(test_safetensors_padding),
        cmocka_unit_test(test_safetensors_refusals),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_onnx_builtin),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
