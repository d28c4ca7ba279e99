/* test_genome.c - genomes: JSON round trips and the canonical form, every
 * validation error with its exact message, hash invariances, and the
 * networks genomes build into (parameter counts against the formula of
 * docs/spaces.md and the built-in candidate6, multiply-adds by hand, module
 * paths, cell networks' observed layers, shapes and a forward pass, and
 * PyTorch's parameter counts and state-dict names for the fixtures), and
 * the training-size refusal. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "testutil.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"
#include "tgsage/threads.h"

/* JSON written with single quotes (readable in C), turned into JSON */
static char *jq(const char *s) {
    char *t = strdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'') *p = '"';
    return t;
}

static tg_genome *parse_q(const char *text, const char *spec, tg_error *err) {
    char *t = jq(text);
    tg_space *s = NULL;
    if (spec) {
        s = tg_space_parse(spec, err);
        assert_non_null(s);
    }
    tg_genome *g = tg_genome_parse(t, s, err);
    tg_space_free(s);
    free(t);
    return g;
}

static char *json_of(const char *text) {
    tg_error err;
    tg_genome *g = parse_q(text, NULL, &err);
    if (!g) fail_msg("%s: %s", text, err.msg);
    char *j = tg_genome_json(g);
    tg_genome_free(g);
    return j;
}

static void hash_of(const char *text, char out[33]) {
    tg_error err;
    tg_genome *g = parse_q(text, NULL, &err);
    if (!g) fail_msg("%s: %s", text, err.msg);
    tg_genome_hash(g, out);
    tg_genome_free(g);
}

#define LAYER(f, kh, in) \
    "{'filters':" #f ",'kh':" #kh ",'kw':3,'stride':1,'act':'relu','norm':'bn','inputs':" in "}"
#define LW(ml, layers) "{'schema':1,'space':'layerwise','max_layers':" #ml ",'layers':[" layers "]}"
#define BLOCK(a, b, o0, o1) "{'inputs':[" #a "," #b "],'ops':['" o0 "','" o1 "']}"
#define CELL(B, N, F, blocks, c0, c1)                                                   \
    "{'schema':1,'space':'cell','blocks_per_cell':" #B ",'cells_per_stage':" #N         \
    ",'filters':" #F ",'blocks':[" blocks "],'concat_inputs':[" #c0 "," #c1 "]}"
#define CELL2 CELL(2, 2, 16, BLOCK(-1, -2, "sep3x3", "identity") "," \
                   BLOCK(0, -1, "avg3x3", "max3x3"), false, true)

static const char *CANDIDATE6_CANON =
    "{\"layers\":["
    "{\"act\":\"relu\",\"filters\":64,\"inputs\":[-1],\"kh\":3,\"kw\":3,\"norm\":\"bn\",\"stride\":1},"
    "{\"act\":\"relu\",\"filters\":64,\"inputs\":[0],\"kh\":5,\"kw\":5,\"norm\":\"bn\",\"stride\":1},"
    "{\"act\":\"relu\",\"filters\":128,\"inputs\":[0,1],\"kh\":3,\"kw\":3,\"norm\":\"bn\",\"stride\":2},"
    "{\"act\":\"relu\",\"filters\":128,\"inputs\":[2],\"kh\":3,\"kw\":1,\"norm\":\"bn\",\"stride\":1},"
    "{\"act\":\"relu\",\"filters\":64,\"inputs\":[3],\"kh\":1,\"kw\":3,\"norm\":\"bn\",\"stride\":1},"
    "{\"act\":\"relu\",\"filters\":128,\"inputs\":[2,4],\"kh\":3,\"kw\":3,\"norm\":\"bn\",\"stride\":2}],"
    "\"max_layers\":10,\"schema\":1,\"space\":\"layerwise\"}";

/* ---- JSON round trips and the canonical form ---------------------------- */

static void test_round_trip(void **state) {
    (void)state;
    tg_error err;
    tg_genome *g = tg_genome_load(tu_fixture("genomes/candidate6.json"), NULL, &err);
    if (!g) fail_msg("%s", err.msg);
    char *j = tg_genome_json(g);
    assert_string_equal(j, CANDIDATE6_CANON);
    assert_string_equal(tg_genome_space_name(g), "layerwise");
    /* canonical -> genome -> canonical is the identity */
    tg_genome *g2 = tg_genome_parse(j, NULL, &err);
    assert_non_null(g2);
    char *j2 = tg_genome_json(g2);
    assert_string_equal(j, j2);
    /* the hash is XXH3-128 of the canonical text, high half first */
    XXH128_hash_t h = XXH3_128bits(CANDIDATE6_CANON, strlen(CANDIDATE6_CANON));
    char want[33], got[33];
    snprintf(want, sizeof want, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    tg_genome_hash(g, got);
    assert_string_equal(got, want);
    /* and it does not change between versions (databases dedupe by it) */
    assert_string_equal(got, "76e7affc04be6dcb9efa5afd92bd50bb");
    /* a copy is equal and independent */
    tg_genome *c = tg_genome_copy(g);
    tg_genome_free(g);
    char *j3 = tg_genome_json(c);
    assert_string_equal(j3, CANDIDATE6_CANON);
    free(j), free(j2), free(j3);
    tg_genome_free(g2);
    tg_genome_free(c);

    const char *cells[] = {"genomes/cell_nasnet.json", "genomes/cell_all_ops.json"};
    for (int i = 0; i < 2; i++) {
        g = tg_genome_load(tu_fixture(cells[i]), NULL, &err);
        if (!g) fail_msg("%s", err.msg);
        assert_string_equal(tg_genome_space_name(g), "cell");
        j = tg_genome_json(g);
        g2 = tg_genome_parse(j, NULL, &err);
        assert_non_null(g2);
        j2 = tg_genome_json(g2);
        assert_string_equal(j, j2);
        c = tg_genome_copy(g2);
        j3 = tg_genome_json(c);
        assert_string_equal(j, j3);
        free(j), free(j2), free(j3);
        tg_genome_free(g), tg_genome_free(g2), tg_genome_free(c);
    }
    j = json_of(CELL2);
    assert_string_equal(j, "{\"blocks\":[{\"inputs\":[-1,-2],\"ops\":[\"sep3x3\",\"identity\"]},"
                           "{\"inputs\":[0,-1],\"ops\":[\"avg3x3\",\"max3x3\"]}],"
                           "\"blocks_per_cell\":2,\"cells_per_stage\":2,"
                           "\"concat_inputs\":[false,true],\"filters\":16,\"schema\":1,"
                           "\"space\":\"cell\"}");
    free(j);
}

/* ---- validation ------------------------------------------------------------ */

typedef struct {
    const char *json;   /* single-quoted */
    const char *space;  /* NULL: the genome's own */
    const char *msg;
} bad_case;

static const bad_case BAD[] = {
    {LW(10, LAYER(32, 3, "[-1]") "," LAYER(32, 3, "[0]") "," LAYER(32, 3, "[1]") ","
            LAYER(32, 4, "[2]")), NULL, "layers[3].kh: 4 is not one of 1, 3, 5, 7"},
    {LW(10, "{'filters':32,'kernel':3,'kw':3,'stride':1,'act':'relu','norm':'bn','inputs':[]}"),
     NULL, "layers[0].kernel: unknown key (expected filters, kh, kw, stride, act, norm, inputs)"},
    {LW(10, LAYER(32, 3, "[-1]") "," LAYER(32, 3, "[0]") "," LAYER(32, 3, "[5]")), NULL,
     "layers[2].inputs[0]: 5 is not -1 or an earlier layer (0..1)"},
    {LW(10, LAYER(32, 3, "[-1]") "," LAYER(32, 3, "[1]")), NULL,
     "layers[1].inputs[0]: 1 is not -1 or an earlier layer (0..0)"},
    {LW(10, LAYER(32, 3, "[-1]") "," LAYER(32, 3, "[0]") "," LAYER(32, 3, "[-2]")), NULL,
     "layers[2].inputs[0]: -2 is not -1 or an earlier layer (0..1)"},
    {LW(10, LAYER(32, 3, "[0]")), NULL,
     "layers[0].inputs[0]: 0 is not -1 (the image: layer 0 has no earlier layer)"},
    {LW(10, LAYER(32, 3, "[-1]") "," LAYER(32, 3, "[0]") "," LAYER(32, 3, "[0,-1,0]")), NULL,
     "layers[2].inputs[2]: 0 is listed twice"},
    {LW(10, LAYER(32, 3, "[-1]") "," LAYER(32, 3, "[0.5]")), NULL,
     "layers[1].inputs[0]: 0.5 is not an integer"},
    {LW(10, LAYER(32, 3, "-1")), NULL, "layers[0].inputs: expected an array, got a number"},
    {LW(2, LAYER(32, 3, "[]") "," LAYER(32, 3, "[]") "," LAYER(32, 3, "[]")), NULL,
     "layers: 3 layers, more than max_layers 2"},
    {LW(10, ""), NULL, "layers: empty (a genome has at least one layer)"},
    {LW(65, LAYER(32, 3, "[]")), NULL, "max_layers: 65 is not in 1..64"},
    {LW(0, LAYER(32, 3, "[]")), NULL, "max_layers: 0 is not in 1..64"},
    {"{'schema':1,'space':'layerwise','max_layers':2.5,'layers':[]}", NULL,
     "max_layers: 2.5 is not an integer"},
    {"{'schema':2,'space':'layerwise','max_layers':10,'layers':[]}", NULL,
     "schema: 2 is not a version this tgsage reads (1)"},
    {"{'schema':'1','space':'layerwise','max_layers':10,'layers':[]}", NULL,
     "schema: expected an integer, got a string"},
    {"{'space':'layerwise','max_layers':10,'layers':[]}", NULL, "missing key \"schema\""},
    {"{'schema':1,'max_layers':10,'layers':[]}", NULL,
     "space: missing (expected \"layerwise\" or \"cell\")"},
    {"{'schema':1,'space':'resnet','max_layers':10,'layers':[]}", NULL,
     "space: \"resnet\" is not one of layerwise, cell"},
    {"{'schema':1,'space':7}", NULL, "space: expected a string, got a number"},
    {"{'schema':1,'space':'layerwise','max_layers':10,'layers':[],'color':'red'}", NULL,
     "color: unknown key (expected schema, space, max_layers, layers)"},
    {"{'schema':1,'space':'layerwise','max_layers':10,'max_layers':10,'layers':[]}", NULL,
     "max_layers: the key appears twice"},
    {"{'schema':1,'space':'layerwise','max_layers':10}", NULL, "missing key \"layers\""},
    {"{'schema':1,'space':'layerwise','max_layers':10,'layers':{}}", NULL,
     "layers: expected an array, got an object"},
    {LW(10, "3"), NULL, "layers[0]: expected an object, got a number"},
    {LW(10, "{'filters':32,'kh':3,'kw':3,'stride':1,'act':'relu','norm':'bn'}"), NULL,
     "layers[0]: missing key \"inputs\""},
    {LW(10, "{'filters':'64','kh':3,'kw':3,'stride':1,'act':'relu','norm':'bn','inputs':[]}"),
     NULL, "layers[0].filters: expected an integer, got a string"},
    {LW(10, "{'filters':1e10,'kh':3,'kw':3,'stride':1,'act':'relu','norm':'bn','inputs':[]}"),
     NULL, "layers[0].filters: 1e+10 is out of range"},
    {LW(10, "{'filters':32,'kh':3,'kh':5,'kw':3,'stride':1,'act':'relu','norm':'bn','inputs':[]}"),
     NULL, "layers[0].kh: the key appears twice"},
    {LW(10, "{'filters':32,'kh':3,'kw':3,'stride':3,'act':'relu','norm':'bn','inputs':[]}"),
     NULL, "layers[0].stride: 3 is not one of 1, 2"},
    {LW(10, "{'filters':32,'kh':3,'kw':9,'stride':1,'act':'relu','norm':'bn','inputs':[]}"),
     NULL, "layers[0].kw: 9 is not one of 1, 3, 5, 7"},
    {LW(10, "{'filters':32,'kh':3,'kw':3,'stride':1,'act':'tanh','norm':'bn','inputs':[]}"),
     NULL, "layers[0].act: \"tanh\" is not one of identity, relu"},
    {LW(10, "{'filters':32,'kh':3,'kw':3,'stride':1,'act':'relu','norm':null,'inputs':[]}"),
     NULL, "layers[0].norm: expected a string, got null"},
    {LW(10, LAYER(32, 3, "[]")), "layerwise:20", "max_layers: 10 does not match the space layerwise:20"},
    {LW(10, LAYER(48, 3, "[]")), "layerwise:10", "layers[0].filters: 48 is not one of 32, 64, 128"},
    {LW(10, LAYER(0, 3, "[]")), NULL, "layers[0].filters: 0 is not one of 32, 64, 128"},
    {LW(10, LAYER(32, 3, "[]")), "layerwise:10:filters=8,16", "layers[0].filters: 32 is not one of 8, 16"},
    {LW(10, LAYER(32, 3, "[]")), "cell", "space: \"layerwise\" does not match the space cell:blocks=5:n=2:f=16"},
    {CELL2, "layerwise:10", "space: \"cell\" does not match the space layerwise:10"},
    {CELL2, "cell", "blocks_per_cell: 2 does not match the space cell:blocks=5:n=2:f=16"},
    {CELL2, "cell:blocks=2:f=32", "filters: 16 does not match the space cell:blocks=2:n=2:f=32"},
    {CELL2, "cell:blocks=2:n=3", "cells_per_stage: 2 does not match the space cell:blocks=2:n=3:f=16"},
    {CELL(3, 2, 16, BLOCK(-1, -2, "sep3x3", "identity"), false, false), NULL,
     "blocks: 1 blocks, but blocks_per_cell is 3"},
    {CELL(2, 2, 16, BLOCK(-1, 0, "sep3x3", "identity") "," BLOCK(0, 0, "sep3x3", "identity"),
          false, false), NULL, "blocks[0].inputs[1]: 0 is not -2 or -1 (block 0 has no earlier block)"},
    {CELL(2, 2, 16, BLOCK(-1, -2, "sep3x3", "identity") "," BLOCK(1, 0, "sep3x3", "identity"),
          false, false), NULL, "blocks[1].inputs[0]: 1 is not -2, -1 or an earlier block (0..0)"},
    {CELL(1, 2, 16, BLOCK(-1, -3, "sep3x3", "identity"), false, false), NULL,
     "blocks[0].inputs[1]: -3 is not -2 or -1 (block 0 has no earlier block)"},
    {CELL(1, 2, 16, BLOCK(-1, -2, "sep3x3", "conv3x3"), false, false), NULL,
     "blocks[0].ops[1]: \"conv3x3\" is not one of identity, avg3x3, max3x3, dil3x3, "
     "conv1x7_7x1, sep3x3, sep5x5, sep7x7"},
    {CELL(1, 2, 16, "{'inputs':[-1,-2,-1],'ops':['sep3x3','identity']}", false, false), NULL,
     "blocks[0].inputs: expected 2 inputs, got 3"},
    {CELL(1, 2, 16, "{'inputs':[-1,-2],'ops':['sep3x3']}", false, false), NULL,
     "blocks[0].ops: expected 2 ops, got 1"},
    {CELL(1, 2, 16, "{'inputs':[-1,-2],'ops':['sep3x3','identity'],'op':1}", false, false), NULL,
     "blocks[0].op: unknown key (expected inputs, ops)"},
    {CELL(1, 2, 16, "{'inputs':[-1,-2]}", false, false), NULL, "blocks[0]: missing key \"ops\""},
    {CELL(1, 2, 16, BLOCK(-1, -2, "sep3x3", "identity"), false, 1), NULL,
     "concat_inputs[1]: expected a boolean, got a number"},
    {"{'schema':1,'space':'cell','blocks_per_cell':1,'cells_per_stage':2,'filters':16,"
     "'blocks':[{'inputs':[-1,-2],'ops':['sep3x3','identity']}],'concat_inputs':[true]}", NULL,
     "concat_inputs: expected 2 booleans, got 1"},
    {CELL(11, 2, 16, "", false, false), NULL, "blocks_per_cell: 11 is not in 1..10"},
    {CELL(1, 0, 16, "", false, false), NULL, "cells_per_stage: 0 is not in 1..10"},
    {"{'schema':1,'space':'cell','blocks_per_cell':1,'cells_per_stage':2,'filters':16,"
     "'blocks':[],'concat_inputs':[true,true],'layers':[]}", NULL,
     "layers: unknown key (expected schema, space, blocks_per_cell, cells_per_stage, filters, "
     "blocks, concat_inputs)"},
    {"[1,2]", NULL, "genome: expected a JSON object, got an array"},
    {"", NULL, "genome: empty document (expected a JSON object)"},
    {"  \n ", NULL, "genome: empty document (expected a JSON object)"},
    {"{'schema': 1,, 'space':'cell'}", NULL,
     "genome: malformed JSON at line 1, column 15 (byte 14) near ' \"space\":\"cell\"}'"},
    {"{'schema': 1}\nx", NULL, "genome: malformed JSON at line 2, column 1 (byte 14) near 'x'"},
    {"{'schema': 1,\n 'space': 'layerwise'", NULL,
     "genome: malformed JSON at line 2, column 22 (byte 35): unexpected end of text"},
};

static void test_validation(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        tg_error err;
        tg_error_clear(&err);
        tg_genome *g = parse_q(BAD[i].json, BAD[i].space, &err);
        if (g) fail_msg("case %zu accepted: %s", i, BAD[i].json);
        if (strcmp(err.msg, BAD[i].msg))
            fail_msg("case %zu: got\n  %s\nwanted\n  %s", i, err.msg, BAD[i].msg);
        assert_int_not_equal(err.status, TG_OK);
    }
    /* the same genome is fine where its values are allowed */
    tg_error err;
    tg_genome *g = parse_q(LW(10, LAYER(8, 3, "[]")), "layerwise:10:filters=8,16,32", &err);
    if (!g) fail_msg("%s", err.msg);
    tg_genome_free(g);
    /* a genome's own space widens the default filters by its own values, so a
     * checkpoint of a narrowed-space genome rebuilds */
    g = parse_q(LW(10, LAYER(8, 3, "[]") "," LAYER(48, 3, "[0]")), NULL, &err);
    if (!g) fail_msg("%s", err.msg);
    tg_space *s = tg_space_of_genome(g, &err);
    assert_string_equal(tg_space_spec(s), "layerwise:10:filters=8,32,48,64,128");
    tg_space_free(s);
    tg_genome_free(g);
    /* control characters of a user's string are not echoed */
    g = parse_q(LW(10, "{'filters':32,'kh':3,'kw':3,'stride':1,'act':'re\\nlu\\u0001',"
                       "'norm':'bn','inputs':[]}"), NULL, &err);
    assert_null(g);
    assert_string_equal(err.msg, "layers[0].act: \"re?lu?\" is not one of identity, relu");
}

static void test_load_errors(void **state) {
    (void)state;
    tg_error err;
    assert_null(tg_genome_load("/nonexistent/g.json", NULL, &err));
    assert_string_equal(err.msg, "/nonexistent/g.json: cannot open");
    assert_int_equal(err.status, TG_ERR_IO);
    const char *p = tu_fixture("genomes/bad_kh.json");
    assert_null(tg_genome_load(p, NULL, &err));
    char want[600];
    snprintf(want, sizeof want, "%s: layers[3].kh: 4 is not one of 1, 3, 5, 7", p);
    assert_string_equal(err.msg, want);
    p = tu_fixture("genomes/bad_truncated.json");
    assert_null(tg_genome_load(p, NULL, &err));
    snprintf(want, sizeof want, "%s: genome: malformed JSON at line 1, column 81 (byte 80): "
             "unexpected end of text", p);
    assert_string_equal(err.msg, want);

    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/nul.json", dir);
    assert_int_equal(tu_write_file(path, "{\"schema\":1}\0{}", 15), 0);
    assert_null(tg_genome_load(path, NULL, &err));
    assert_non_null(strstr(err.msg, "a NUL byte at offset 12"));
    snprintf(path, sizeof path, "%s/big.json", dir);
    size_t n = (1 << 20) + 10;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{', big[n - 1] = '}';
    assert_int_equal(tu_write_file(path, big, n), 0);
    free(big);
    assert_null(tg_genome_load(path, NULL, &err));
    assert_non_null(strstr(err.msg, "larger than 1048576 bytes"));
    tu_rmtree(dir);
}

/* ---- hash ------------------------------------------------------------------ */

static void test_hash(void **state) {
    (void)state;
    char a[33], b[33];
    /* key order, whitespace, order of inputs, [] vs [-1] */
    hash_of(LW(10, LAYER(32, 3, "[-1]") "," LAYER(64, 5, "[-1,0]") "," LAYER(32, 1, "[1,0]")), a);
    hash_of("{ 'layers' : [ {'inputs':[], 'norm':'bn', 'act':'relu', 'stride':1, 'kw':3,"
            " 'kh':3, 'filters':32},\n\t{'kh':5,'filters':64,'inputs':[0,-1],'kw':3,"
            "'stride':1,'act':'relu','norm':'bn'}, {'filters':32,'kh':1,'kw':3,'stride':1,"
            "'act':'relu','norm':'bn','inputs':[0,1]} ],\n 'space':'layerwise',"
            " 'max_layers':10, 'schema':1 }", b);
    assert_string_equal(a, b);
    /* every real change changes it */
    const char *changed[] = {
        LW(10, LAYER(32, 5, "[-1]") "," LAYER(64, 5, "[-1,0]") "," LAYER(32, 1, "[1,0]")),
        LW(10, LAYER(32, 3, "[-1]") "," LAYER(64, 5, "[0]") "," LAYER(32, 1, "[1,0]")),
        LW(10, LAYER(32, 3, "[-1]") "," LAYER(64, 5, "[-1,0]") "," LAYER(32, 1, "[1]")),
        LW(10, LAYER(32, 3, "[-1]") "," LAYER(128, 5, "[-1,0]") "," LAYER(32, 1, "[1,0]")),
        LW(11, LAYER(32, 3, "[-1]") "," LAYER(64, 5, "[-1,0]") "," LAYER(32, 1, "[1,0]")),
        LW(10, LAYER(32, 3, "[-1]") "," LAYER(64, 5, "[-1,0]")),
        LW(10, "{'filters':32,'kh':3,'kw':3,'stride':1,'act':'identity','norm':'bn','inputs':[]}"
               "," LAYER(64, 5, "[-1,0]") "," LAYER(32, 1, "[1,0]")),
    };
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        hash_of(changed[i], b);
        if (!strcmp(a, b)) fail_msg("change %zu kept the hash", i);
    }
    /* cells: one op, one input, one concat flag */
    hash_of(CELL2, a);
    hash_of(CELL(2, 2, 16, BLOCK(-1, -2, "sep3x3", "identity") "," BLOCK(0, -1, "avg3x3", "max3x3"),
                 false, true), b);
    assert_string_equal(a, b);
    const char *cells[] = {
        CELL(2, 2, 16, BLOCK(-1, -2, "sep5x5", "identity") "," BLOCK(0, -1, "avg3x3", "max3x3"),
             false, true),
        CELL(2, 2, 16, BLOCK(-1, -2, "sep3x3", "identity") "," BLOCK(0, -2, "avg3x3", "max3x3"),
             false, true),
        CELL(2, 2, 16, BLOCK(-1, -2, "sep3x3", "identity") "," BLOCK(0, -1, "avg3x3", "max3x3"),
             true, true),
        /* the two inputs of a block are ordered: (input, op) pairs */
        CELL(2, 2, 16, BLOCK(-2, -1, "identity", "sep3x3") "," BLOCK(0, -1, "avg3x3", "max3x3"),
             false, true),
    };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        hash_of(cells[i], b);
        if (!strcmp(a, b)) fail_msg("cell change %zu kept the hash", i);
    }
}

/* ---- builds ---------------------------------------------------------------- */

/* docs/spaces.md's parameter formula, computed from the canonical JSON */
static int64_t formula_params(const char *canon, int cimg, int classes) {
    cJSON *r = cJSON_Parse(canon);
    assert_non_null(r);
    const cJSON *layers = cJSON_GetObjectItem(r, "layers");
    int n = cJSON_GetArraySize(layers);
    int64_t *ch = calloc((size_t)n, sizeof *ch), total = 0, cls = 0;
    char *used = calloc((size_t)n, 1);
    for (int i = 0; i < n; i++) {
        const cJSON *L = cJSON_GetArrayItem(layers, i);
        int64_t f = cJSON_GetObjectItem(L, "filters")->valueint;
        int64_t kh = cJSON_GetObjectItem(L, "kh")->valueint;
        int64_t kw = cJSON_GetObjectItem(L, "kw")->valueint;
        int bn = !strcmp(cJSON_GetObjectItem(L, "norm")->valuestring, "bn");
        int64_t cin = 0;
        const cJSON *in;
        cJSON_ArrayForEach(in, cJSON_GetObjectItem(L, "inputs")) {
            int s = in->valueint;
            cin += s < 0 ? cimg : ch[s];
            if (s >= 0) used[s] = 1;
        }
        total += f * cin * kh * kw + (bn ? 2 * f : f);
        ch[i] = f;
    }
    for (int i = 0; i < n; i++)
        if (!used[i]) cls += ch[i];
    total += (cls + 1) * classes;
    free(ch), free(used);
    cJSON_Delete(r);
    return total;
}

static size_t net_params(const tg_graph *gr) {
    tg_rng r;
    tg_rng_seed(&r, 7);
    tg_error err;
    tg_net *net = tg_net_new(gr, 1, &tg_backend_ref, &r, &err);
    if (!net) fail_msg("%s", err.msg);
    size_t n = tg_net_param_count(net);
    tg_net_free(net);
    return n;
}

static void check_params(const tg_genome *g, int c, int h, int w, int classes) {
    tg_error err;
    tg_graph *gr = tg_genome_build(g, c, h, w, classes, &err);
    if (!gr) fail_msg("%s", err.msg);
    char *j = tg_genome_json(g);
    int64_t want = formula_params(j, c, classes);
    size_t have = net_params(gr);
    if ((int64_t)have != want) fail_msg("%s: net has %zu parameters, formula %lld", j, have,
                                        (long long)want);
    tg_genome_stats s;
    assert_int_equal(tg_genome_stats_get(g, c, h, w, classes, &s, &err), TG_OK);
    assert_int_equal(s.params, want);
    free(j);
    tg_graph_free(gr);
}

/* DESIGN.md's candidate6: every layer conv (no bias) + BN + ReLU;
 * (filters, kh, kw, stride, inputs): (64,3,3,1,[-1]) (64,5,5,1,[0])
 * (128,3,3,2,[1,0]) (128,3,1,1,[2]) (64,1,3,1,[3]) (128,3,3,2,[4,2]);
 * global average pool and linear on the last layer */
static tg_graph *reference_candidate6(void) {
    static const int L[6][4] = {{64, 3, 3, 1}, {64, 5, 5, 1}, {128, 3, 3, 2},
                                {128, 3, 1, 1}, {64, 1, 3, 1}, {128, 3, 3, 2}};
    static const int in[6][2] = {{-1, -9}, {0, -9}, {1, 0}, {2, -9}, {3, -9}, {4, 2}};
    tg_graph *g = tg_graph_new(1, 28, 28);
    int out[6], x = 0;
    for (int i = 0; i < 6; i++) {
        int ins[2], n = 0;
        for (int q = 0; q < 2; q++)
            if (in[i][q] != -9) ins[n++] = in[i][q] < 0 ? 0 : out[in[i][q]];
        x = n == 1 ? ins[0] : tg_graph_concat(g, n, ins);
        x = tg_graph_conv2d(g, x, L[i][0], L[i][1], L[i][2], L[i][3], 1, 1, 0);
        x = tg_graph_relu(g, tg_graph_bn(g, x));
        char name[32];
        snprintf(name, sizeof name, "layer%d", i);
        out[i] = tg_graph_name(g, x, name);
    }
    tg_graph_linear(g, tg_graph_gap(g, x), 10);
    assert_null(tg_graph_error(g));
    return g;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* tests/fixtures/genomes/torch_reference.json (torch_reference.py): the
 * fixtures built as PyTorch modules from docs/spaces.md; the C nets have
 * the same parameter counts and the same state-dict names */
static void test_torch_reference(void **state) {
    (void)state;
    FILE *f = fopen(tu_fixture("genomes/torch_reference.json"), "rb");
    assert_non_null(f);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *ref = cJSON_Parse(text);
    assert_non_null(ref);
    assert_int_equal(cJSON_GetArraySize(ref), 3);
    const cJSON *e;
    cJSON_ArrayForEach(e, ref) {
        char path[64];
        snprintf(path, sizeof path, "genomes/%s", e->string);
        tg_error err;
        tg_genome *g = tg_genome_load(tu_fixture(path), NULL, &err);
        if (!g) fail_msg("%s", err.msg);
        tg_graph *gr = tg_genome_build(g, 1, 28, 28, 10, &err);
        tg_rng r;
        tg_rng_seed(&r, 5);
        tg_net *net = tg_net_new(gr, 1, &tg_backend_ref, &r, &err);
        if (!net) fail_msg("%s", err.msg);
        assert_int_equal(tg_net_param_count(net),
                         (size_t)cJSON_GetObjectItem(e, "params")->valuedouble);
        int np, ns;
        tg_param *p = tg_net_params(net, &np);
        tg_param *st = tg_net_state(net, &ns);
        const char **names = malloc(sizeof(char *) * (size_t)(np + ns));
        for (int i = 0; i < np; i++) names[i] = p[i].name;
        for (int i = 0; i < ns; i++) names[np + i] = st[i].name;
        qsort(names, (size_t)(np + ns), sizeof *names, cmp_str);
        const cJSON *want = cJSON_GetObjectItem(e, "names");
        assert_int_equal(cJSON_GetArraySize(want), np + ns);
        for (int i = 0; i < np + ns; i++)
            if (strcmp(names[i], cJSON_GetArrayItem(want, i)->valuestring))
                fail_msg("%s: name %d is %s, PyTorch's %s", e->string, i, names[i],
                         cJSON_GetArrayItem(want, i)->valuestring);
        free(names);
        tg_net_free(net);
        tg_graph_free(gr);
        tg_genome_free(g);
    }
    cJSON_Delete(ref);
}

static void test_layerwise_params(void **state) {
    (void)state;
    tg_error err;
    tg_genome *g = tg_genome_load(tu_fixture("genomes/candidate6.json"), NULL, &err);
    assert_non_null(g);
    check_params(g, 1, 28, 28, 10);
    check_params(g, 3, 32, 32, 100);
    /* the same network as DESIGN.md's candidate6 written with the engine's
     * builder (the built-in it replaced), concatenating in DESIGN's order */
    tg_graph *ref = reference_candidate6();
    tg_graph *gr = tg_genome_build(g, 1, 28, 28, 10, &err);
    if (!gr) fail_msg("%s", err.msg);
    assert_int_equal(net_params(ref), net_params(gr));
    assert_int_equal(net_params(gr), 547786);
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "layer%d", i);
        int a = tg_graph_find(ref, name), b = tg_graph_find(gr, name);
        assert_true(a > 0 && b > 0);
        int c1, h1, w1, c2, h2, w2;
        tg_graph_node_shape(ref, a, &c1, &h1, &w1);
        tg_graph_node_shape(gr, b, &c2, &h2, &w2);
        assert_true(c1 == c2 && h1 == h2 && w1 == w2);
    }
    tg_graph_free(ref);
    tg_graph_free(gr);
    tg_genome_free(g);

    /* hand-written: biases without BN, identity activations, several leaves,
     * concatenations of maps of different sizes */
    const char *hand[] = {
        LW(4, "{'filters':32,'kh':1,'kw':7,'stride':2,'act':'identity','norm':'none','inputs':[]},"
              "{'filters':64,'kh':5,'kw':1,'stride':1,'act':'relu','norm':'none','inputs':[-1,0]},"
              "{'filters':128,'kh':3,'kw':3,'stride':2,'act':'identity','norm':'bn','inputs':[0]}"),
        LW(3, LAYER(32, 3, "[]") "," LAYER(64, 1, "[]") "," LAYER(32, 5, "[-1]")),
        LW(1, LAYER(128, 7, "[]")),
    };
    for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++) {
        g = parse_q(hand[i], NULL, &err);
        if (!g) fail_msg("%s", err.msg);
        check_params(g, 1, 28, 28, 10);
        check_params(g, 3, 9, 7, 4);
        tg_genome_free(g);
    }
    /* 50 random genomes of layerwise:10 */
    tg_space *s = tg_space_parse("layerwise:10", &err);
    int nd = tg_space_ndims(s);
    int *x = malloc(sizeof(int) * (size_t)nd);
    tg_rng r;
    tg_rng_seed(&r, 2024);
    for (int t = 0; t < 50; t++) {
        for (int i = 0; i < nd; i++)
            x[i] = tg_space_active(s, x, i)
                       ? (int)tg_rng_below(&r, (uint64_t)tg_space_dim(s, i)->nchoices)
                       : -1;
        g = tg_space_decode(s, x, &err);
        if (!g) fail_msg("%s", err.msg);
        check_params(g, 1, 28, 28, 10);
        tg_genome_free(g);
    }
    free(x);
    tg_space_free(s);
}

static void test_module_paths(void **state) {
    (void)state;
    tg_error err;
    tg_genome *g = parse_q(LW(3, "{'filters':32,'kh':3,'kw':3,'stride':1,'act':'relu','norm':"
                                 "'none','inputs':[]}," LAYER(32, 3, "[0]")), NULL, &err);
    tg_graph *gr = tg_genome_build(g, 1, 8, 8, 10, &err);
    tg_rng r;
    tg_rng_seed(&r, 1);
    tg_net *net = tg_net_new(gr, 1, &tg_backend_ref, &r, &err);
    assert_non_null(net);
    int np, ns;
    tg_param *p = tg_net_params(net, &np);
    tg_param *st = tg_net_state(net, &ns);
    const char *want[] = {"layers.0.conv.weight", "layers.0.conv.bias", "layers.1.conv.weight",
                          "layers.1.bn.weight", "layers.1.bn.bias", "fc.weight", "fc.bias"};
    assert_int_equal(np, 7);
    for (int i = 0; i < np; i++) assert_string_equal(p[i].name, want[i]);
    assert_int_equal(ns, 2);
    assert_string_equal(st[0].name, "layers.1.bn.running_mean");
    assert_string_equal(st[1].name, "layers.1.bn.running_var");
    tg_net_free(net);
    tg_graph_free(gr);
    tg_genome_free(g);

    g = tg_genome_load(tu_fixture("genomes/cell_all_ops.json"), NULL, &err);
    gr = tg_genome_build(g, 1, 28, 28, 10, &err);
    net = tg_net_new(gr, 1, &tg_backend_ref, &r, &err);
    assert_non_null(net);
    p = tg_net_params(net, &np);
    /* N = 1: cells 0 (normal), 1 (reduction), 2, 3 (reduction), 4 */
    const char *names[] = {"stem.conv.weight", "stem.bn.weight", "cells.0.pre1.conv.weight",
                           "cells.0.pre0.bn.bias", "cells.0.blocks.0.op0.conv.weight",
                           "cells.0.blocks.0.op1.conv1.weight",
                           "cells.0.blocks.0.op1.conv2.weight",
                           "cells.1.blocks.1.op0.dw1.weight", "cells.1.blocks.1.op0.pw2.weight",
                           "cells.1.blocks.1.op0.bn2.weight",
                           "cells.1.blocks.2.op1.bn1.bias",
                           /* identity of p[-2] at stride 2 in a reduction cell */
                           "cells.1.blocks.2.op0.conv.weight", "cells.1.skip0.conv.weight",
                           "cells.3.skip1.bn.weight", "cells.4.pre0.conv.weight", "fc.weight",
                           "fc.bias"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int found = 0;
        for (int i = 0; i < np; i++) found |= !strcmp(p[i].name, names[k]);
        if (!found) fail_msg("no parameter %s", names[k]);
    }
    /* an identity at stride 1 has no parameters, and normal cells have no
     * skip convolutions */
    for (int i = 0; i < np; i++) {
        assert_null(strstr(p[i].name, "cells.0.blocks.2.op0."));
        assert_null(strstr(p[i].name, "cells.0.skip"));
        assert_null(strstr(p[i].name, "cells.2.skip"));
    }
    tg_net_free(net);
    tg_graph_free(gr);
    tg_genome_free(g);
}

static void test_macs_by_hand(void **state) {
    (void)state;
    tg_error err;
    /* layer 0: 32 3x3 /2 on the image -> 32x14x14; layer 1: 64 1x5 on the
     * image (1x28x28) and layer 0 (zero-padded to 28x28) -> 64x28x28 */
    tg_genome *g = parse_q(LW(2, "{'filters':32,'kh':3,'kw':3,'stride':2,'act':'relu','norm':"
                                 "'bn','inputs':[-1]},{'filters':64,'kh':1,'kw':5,'stride':1,"
                                 "'act':'identity','norm':'none','inputs':[0,-1]}"), NULL, &err);
    if (!g) fail_msg("%s", err.msg);
    tg_genome_stats s;
    assert_int_equal(tg_genome_stats_get(g, 1, 28, 28, 10, &s, &err), TG_OK);
    int64_t macs = 32LL * 1 * 9 * 14 * 14 + 64LL * 33 * 5 * 28 * 28 + 64 * 10;
    assert_int_equal(s.macs, macs);
    assert_int_equal(s.macs, 8336128);
    assert_int_equal(s.params, 32 * 9 + 64 + 64 * 33 * 5 + 64 + 65 * 10);
    /* image, conv/bn/relu of layer 0, the concat, conv of layer 1, gap, fc */
    assert_int_equal(s.activations, 784 + 3 * 6272 + 33 * 784 + 64 * 784 + 64 + 10);
    assert_int_equal(s.nobserved, 2);
    assert_int_equal(s.nlayers, 2);
    /* 4 * (3 * 11626 + 2 * 128 * 95722) bytes = 93.6 MiB */
    assert_int_equal(tg_genome_train_bytes(&s, 128), 98158840);
    assert_int_equal(tg_genome_check_size(&s, 128, 0, &err), TG_OK);
    assert_int_equal(tg_genome_check_size(&s, 128, 98158840, &err), TG_OK);
    assert_int_equal(tg_genome_check_size(&s, 128, 64 << 20, &err), TG_ERR_ARG);
    assert_string_equal(err.msg, "genome needs 93.6 MiB to train at batch 128; the limit is 64 MiB");
    tg_genome_stats big = {0, 0, 3355443, 0, 0};
    assert_int_equal(tg_genome_check_size(&big, 128, (size_t)2 << 30, &err), TG_ERR_ARG);
    assert_string_equal(err.msg, "genome needs 3.2 GiB to train at batch 128; the limit is 2 GiB");
    tg_genome_free(g);

    /* a build needs a positive input shape and number of classes */
    assert_non_null(g = parse_q(LW(1, LAYER(32, 3, "[]")), NULL, &err));
    assert_null(tg_genome_build(g, 1, 28, 28, 0, &err));
    assert_string_equal(err.msg, "genome: input 1x28x28 with 0 classes: each must be positive");
    tg_genome_free(g);
}

static void test_cell_build(void **state) {
    (void)state;
    const char *files[] = {"genomes/cell_nasnet.json", "genomes/cell_all_ops.json"};
    const char *texts[] = {CELL2, CELL(3, 2, 8, BLOCK(-2, -2, "dil3x3", "conv1x7_7x1") ","
                                                BLOCK(-1, 0, "sep7x7", "identity") ","
                                                BLOCK(1, 0, "max3x3", "sep5x5"), true, false)};
    for (int t = 0; t < 4; t++) {
        tg_error err;
        tg_genome *g = t < 2 ? tg_genome_load(tu_fixture(files[t]), NULL, &err)
                             : parse_q(texts[t - 2], NULL, &err);
        if (!g) fail_msg("%s", err.msg);
        tg_space *s = tg_space_of_genome(g, &err);
        int N = t == 1 ? 1 : 2;
        tg_graph *gr = tg_genome_build(g, 1, 28, 28, 10, &err);
        if (!gr) fail_msg("%s", err.msg);
        int ncells = 3 * N + 2;
        tg_genome_stats st;
        assert_int_equal(tg_genome_stats_get(g, 1, 28, 28, 10, &st, &err), TG_OK);
        assert_int_equal(st.nobserved, ncells);
        assert_int_equal(st.nlayers, ncells);
        int named = 0;
        for (int i = 0; i < tg_graph_nodes(gr); i++) named += tg_graph_node_name(gr, i) != NULL;
        assert_int_equal(named, ncells);
        for (int k = 0; k < ncells; k++) {
            char name[32];
            snprintf(name, sizeof name, "cell%d", k);
            int node = tg_graph_find(gr, name);
            if (node < 0) fail_msg("no %s", name);
            int c, h, w;
            tg_graph_node_shape(gr, node, &c, &h, &w);
            /* N normal cells at 28, the reduction and N more at 14, then 7 */
            int want = k < N ? 28 : k <= 2 * N ? 14 : 7;
            if (h != want || w != want) fail_msg("%s is %dx%d, want %d", name, h, w, want);
        }
        if (t == 0) {
            /* N = 2: 8 observed cells; 4 free blocks + p[-1] of 16, 32, 64 filters */
            int c, h, w;
            tg_graph_node_shape(gr, tg_graph_find(gr, "cell0"), &c, &h, &w);
            assert_int_equal(c, 5 * 16);
            tg_graph_node_shape(gr, tg_graph_find(gr, "cell7"), &c, &h, &w);
            assert_int_equal(c, 5 * 64);
        }
        tg_rng r;
        tg_rng_seed(&r, 3);
        tg_net *net = tg_net_new(gr, 2, &tg_backend_ref, &r, &err);
        if (!net) fail_msg("%s", err.msg);
        assert_int_equal((int64_t)tg_net_param_count(net), st.params);
        float x[2 * 28 * 28];
        tu_fill_uniform(&r, x, 2 * 28 * 28, -1, 1);
        for (int training = 0; training < 2; training++) {
            assert_int_equal(tg_net_forward(net, x, 2, training, &err), TG_OK);
            const float *y = tg_net_output(net);
            for (int i = 0; i < 20; i++) assert_true(isfinite(y[i]));
        }
        tg_net_free(net);
        tg_graph_free(gr);
        tg_space_free(s);
        tg_genome_free(g);
    }
}

int main(void) {
    tg_threads_set(1);   /* small nets: threads would only wait on each other */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_validation),
        cmocka_unit_test(test_load_errors),  cmocka_unit_test(test_hash),
        cmocka_unit_test(test_layerwise_params), cmocka_unit_test(test_module_paths),
        cmocka_unit_test(test_macs_by_hand), cmocka_unit_test(test_cell_build),
        cmocka_unit_test(test_torch_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
