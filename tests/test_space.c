/* test_space.c - search spaces: spec strings (canonical forms and every
 * refusal), the dimension layout with its conditions and structure fields,
 * choice labels, and encode/decode round trips over 1,000 random points of
 * layerwise:10, layerwise:20 and cell, every decoded genome validated
 * against its space and built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tgsage/space.h"

static tg_space *space(const char *spec) {
    tg_error err;
    tg_space *s = tg_space_parse(spec, &err);
    if (!s) fail_msg("%s: %s", spec, err.msg);
    return s;
}

static void test_specs(void **state) {
    (void)state;
    const char *pairs[][2] = {
        {"layerwise:10", "layerwise:10"},
        {"layerwise:20", "layerwise:20"},
        {"layerwise:10:filters=32,16,8", "layerwise:10:filters=8,16,32"},
        {"layerwise:10:filters=128,64,32", "layerwise:10"},
        {"layerwise:5:strides=1:kernels=3", "layerwise:5:kernels=3:strides=1"},
        {"layerwise:64:kernels=1,3,5,7:strides=2,1", "layerwise:64"},
        {"cell", "cell:blocks=5:n=2:f=16"},
        {"cell:f=32:blocks=3", "cell:blocks=3:n=2:f=32"},
        {"cell:blocks=5:n=2:f=16", "cell:blocks=5:n=2:f=16"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        tg_space *s = space(pairs[i][0]);
        assert_string_equal(tg_space_spec(s), pairs[i][1]);
        tg_space *t = space(tg_space_spec(s));
        assert_string_equal(tg_space_spec(t), pairs[i][1]);
        assert_int_equal(tg_space_ndims(s), tg_space_ndims(t));
        tg_space_free(s);
        tg_space_free(t);
    }
    const char *bad[][2] = {
        {"resnet", "space 'resnet': unknown space 'resnet' (expected layerwise:NL[:filters=..]"
                   "[:kernels=..][:strides=..] or cell[:blocks=B][:n=N][:f=F])"},
        {"layerwise", "space 'layerwise': layerwise needs the maximum number of layers "
                      "(layerwise:NL, e.g. layerwise:10)"},
        {"layerwise:0", "space 'layerwise:0': NL '0' is not an integer in 1..64"},
        {"layerwise:65", "space 'layerwise:65': NL '65' is not an integer in 1..64"},
        {"layerwise:x", "space 'layerwise:x': NL 'x' is not an integer in 1..64"},
        {"layerwise:10:", "space 'layerwise:10:': empty field"},
        {"layerwise:10::filters=8", "space 'layerwise:10::filters=8': empty field"},
        {"layerwise:10:depth=3", "space 'layerwise:10:depth=3': unknown option 'depth' "
                                 "(expected filters=, kernels= or strides=)"},
        {"layerwise:10:filters", "space 'layerwise:10:filters': unknown option 'filters' "
                                 "(expected filters=, kernels= or strides=)"},
        {"layerwise:10:filters=", "space 'layerwise:10:filters=': filters: no values "
                                  "(expected integers in 1..4096 separated by commas)"},
        {"layerwise:10:filters=8,,16", "space 'layerwise:10:filters=8,,16': filters: empty "
                                       "value in the list '8,,16'"},
        {"layerwise:10:filters=8,16,", "space 'layerwise:10:filters=8,16,': filters: empty "
                                       "value in the list '8,16,'"},
        {"layerwise:10:filters=0", "space 'layerwise:10:filters=0': filters: '0' is not an "
                                   "integer in 1..4096"},
        {"layerwise:10:filters=8,x", "space 'layerwise:10:filters=8,x': filters: 'x' is not "
                                     "an integer in 1..4096"},
        {"layerwise:10:filters=8,8", "space 'layerwise:10:filters=8,8': filters: 8 is listed "
                                     "twice"},
        {"layerwise:10:kernels=3,4", "space 'layerwise:10:kernels=3,4': kernels: 4 is not odd "
                                     "(kernels keep the map's size with padding (k-1)/2)"},
        {"layerwise:10:kernels=17", "space 'layerwise:10:kernels=17': kernels: '17' is not an "
                                    "integer in 1..15"},
        {"layerwise:10:strides=5", "space 'layerwise:10:strides=5': strides: '5' is not an "
                                   "integer in 1..4"},
        {"layerwise:10:strides=1:strides=2", "space 'layerwise:10:strides=1:strides=2': "
                                             "strides given twice"},
        {"cell:blocks=0", "space 'cell:blocks=0': blocks: '0' is not an integer in 1..10"},
        {"cell:n=x", "space 'cell:n=x': n: 'x' is not an integer in 1..10"},
        {"cell:f=2000", "space 'cell:f=2000': f: '2000' is not an integer in 1..1024"},
        {"cell:f=8:f=16", "space 'cell:f=8:f=16': f given twice"},
        {"cell:b=3", "space 'cell:b=3': unknown option 'b' (expected blocks=, n= or f=)"},
        {"cell:", "space 'cell:': empty field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_error err;
        tg_error_clear(&err);
        tg_space *s = tg_space_parse(bad[i][0], &err);
        if (s) fail_msg("'%s' accepted", bad[i][0]);
        if (strcmp(err.msg, bad[i][1]))
            fail_msg("'%s': got\n  %s\nwanted\n  %s", bad[i][0], err.msg, bad[i][1]);
        assert_int_equal(err.status, TG_ERR_ARG);
    }
    char longspec[2000];
    memset(longspec, 'x', sizeof longspec - 1);
    longspec[sizeof longspec - 1] = '\0';
    tg_error err;
    assert_null(tg_space_parse(longspec, &err));
    assert_string_equal(err.msg, "space spec of 1999 characters is too long (at most 1023)");
}

static void test_layout(void **state) {
    (void)state;
    tg_space *s = space("layerwise:3");
    const char *names[] = {
        "nlayers",
        "layers[0].filters", "layers[0].kh", "layers[0].kw", "layers[0].stride",
        "layers[0].act", "layers[0].norm",
        "layers[1].filters", "layers[1].kh", "layers[1].kw", "layers[1].stride",
        "layers[1].act", "layers[1].norm", "layers[1].in[-1]", "layers[1].in[0]",
        "layers[2].filters", "layers[2].kh", "layers[2].kw", "layers[2].stride",
        "layers[2].act", "layers[2].norm", "layers[2].in[-1]", "layers[2].in[0]",
        "layers[2].in[1]"};
    const int nch[] = {3, 3, 4, 4, 2, 2, 2, 3, 4, 4, 2, 2, 2, 2, 2, 3, 4, 4, 2, 2, 2, 2, 2, 2};
    const char *groups[] = {"filters", "kh", "kw", "stride", "act", "norm"};
    assert_int_equal(tg_space_ndims(s), 24);
    for (int i = 0; i < 24; i++) {
        const tg_dim *d = tg_space_dim(s, i);
        assert_string_equal(d->name, names[i]);
        assert_int_equal(d->nchoices, nch[i]);
        if (i == 0) {
            assert_int_equal(d->cond, -1);
            assert_int_equal(d->step, -1);
            assert_string_equal(d->group, "nlayers");
            assert_int_equal(d->edge_src, -2);
            continue;
        }
        int layer = names[i][7] - '0';
        assert_int_equal(d->cond, 0);
        assert_int_equal(d->cond_min, layer);
        assert_int_equal(d->step, layer);
        const char *field = strchr(names[i], '.') + 1;
        if (!strncmp(field, "in[", 3)) {
            assert_string_equal(d->group, "in");
            assert_int_equal(d->edge_src, atoi(field + 3));
        } else {
            int found = 0;
            for (int g = 0; g < 6; g++) found |= !strcmp(d->group, groups[g]);
            assert_true(found);
            assert_string_equal(d->group, field);
            assert_int_equal(d->edge_src, -2);
        }
    }
    /* labels */
    assert_string_equal(tg_space_choice_label(s, 0, 2), "3");
    assert_string_equal(tg_space_choice_label(s, 1, 1), "64");
    assert_string_equal(tg_space_choice_label(s, 2, 3), "7");
    assert_string_equal(tg_space_choice_label(s, 4, 1), "2");
    assert_string_equal(tg_space_choice_label(s, 5, 0), "identity");
    assert_string_equal(tg_space_choice_label(s, 6, 1), "bn");
    assert_string_equal(tg_space_choice_label(s, 13, 1), "yes");
    assert_string_equal(tg_space_choice_label(s, 13, 0), "no");
    /* conditions: one layer leaves layers 1 and 2 inactive */
    int x[24];
    for (int i = 0; i < 24; i++) x[i] = 1;
    x[0] = 0;
    assert_int_equal(tg_space_normalize(s, x), 7);
    for (int i = 1; i < 24; i++) assert_int_equal(x[i], i < 7 ? 1 : -1);
    assert_false(tg_space_active(s, x, 7));
    x[0] = 1;
    assert_true(tg_space_active(s, x, 14));
    assert_false(tg_space_active(s, x, 15));
    x[0] = 2;
    assert_int_equal(tg_space_normalize(s, x), 24);
    tg_space_free(s);

    s = space("layerwise:10:filters=8,16:kernels=3");
    assert_int_equal(tg_space_ndims(s), 1 + 60 + 9 * 12 / 2);
    assert_int_equal(tg_space_dim(s, 1)->nchoices, 2);
    assert_int_equal(tg_space_dim(s, 2)->nchoices, 1);   /* a forced choice */
    assert_string_equal(tg_space_choice_label(s, 1, 0), "8");
    assert_string_equal(tg_space_choice_label(s, 2, 0), "3");
    tg_space_free(s);

    s = space("cell:blocks=2");
    const char *cn[] = {"blocks[0].inputs[0]", "blocks[0].inputs[1]", "blocks[0].ops[0]",
                        "blocks[0].ops[1]", "blocks[1].inputs[0]", "blocks[1].inputs[1]",
                        "blocks[1].ops[0]", "blocks[1].ops[1]", "concat[0]", "concat[1]"};
    const int cc[] = {2, 2, 8, 8, 3, 3, 8, 8, 2, 2};
    const int cs[] = {0, 0, 0, 0, 1, 1, 1, 1, -1, -1};
    const char *cg[] = {"inputs", "inputs", "ops", "ops", "inputs", "inputs", "ops", "ops",
                        "concat", "concat"};
    assert_int_equal(tg_space_ndims(s), 10);
    for (int i = 0; i < 10; i++) {
        const tg_dim *d = tg_space_dim(s, i);
        assert_string_equal(d->name, cn[i]);
        assert_int_equal(d->nchoices, cc[i]);
        assert_int_equal(d->cond, -1);
        assert_int_equal(d->step, cs[i]);
        assert_string_equal(d->group, cg[i]);
        assert_int_equal(d->edge_src, -2);
    }
    assert_string_equal(tg_space_choice_label(s, 4, 0), "-2");
    assert_string_equal(tg_space_choice_label(s, 4, 1), "-1");
    assert_string_equal(tg_space_choice_label(s, 4, 2), "0");
    assert_string_equal(tg_space_choice_label(s, 2, 0), "identity");
    assert_string_equal(tg_space_choice_label(s, 2, 4), "conv1x7_7x1");
    assert_string_equal(tg_space_choice_label(s, 3, 7), "sep7x7");
    assert_string_equal(tg_space_choice_label(s, 9, 1), "yes");
    int y[10] = {0, 1, 2, 3, 2, 0, 4, 5, 1, 0};
    assert_int_equal(tg_space_normalize(s, y), 10);
    tg_space_free(s);
}

static void random_point(const tg_space *s, tg_rng *r, int *x) {
    for (int i = 0; i < tg_space_ndims(s); i++)
        x[i] = tg_space_active(s, x, i)
                   ? (int)tg_rng_below(r, (uint64_t)tg_space_dim(s, i)->nchoices)
                   : -1;
}

/* x2 = encode(decode(x)) equals x but where a layer had no connection
 * chosen (decoded as the image, encoded as in[-1] = 1); returns how many
 * such layers */
static int compare_points(const tg_space *s, const int *x, const int *x2) {
    int n = tg_space_ndims(s), empty = 0;
    for (int i = 0; i < n; i++) {
        const tg_dim *d = tg_space_dim(s, i);
        if (strcmp(d->group, "in") || x[i] < 0) {
            if (x[i] != x2[i]) fail_msg("dimension %s: %d became %d", d->name, x[i], x2[i]);
            continue;
        }
        if (d->edge_src != -1) continue;
        /* the layer's connections are dimensions i .. i + step */
        int any = 0;
        for (int j = 0; j <= d->step; j++) any |= x[i + j];
        if (any) {
            for (int j = 0; j <= d->step; j++)
                if (x[i + j] != x2[i + j]) fail_msg("%s changed", tg_space_dim(s, i + j)->name);
        } else {
            empty++;
            assert_int_equal(x2[i], 1);
            for (int j = 1; j <= d->step; j++) assert_int_equal(x2[i + j], 0);
        }
    }
    return empty;
}

static void round_trips(const char *spec, uint64_t seed) {
    tg_space *s = space(spec);
    int n = tg_space_ndims(s);
    int *x = malloc(sizeof(int) * (size_t)n), *x2 = malloc(sizeof(int) * (size_t)n);
    tg_rng r;
    tg_rng_seed(&r, seed);
    int empty = 0, maxlayers = 0;
    for (int t = 0; t < 1000; t++) {
        tg_error err;
        random_point(s, &r, x);
        tg_genome *g = tg_space_decode(s, x, &err);
        if (!g) fail_msg("%s: %s", spec, err.msg);
        /* valid in its space, and canonical */
        char *j = tg_genome_json(g);
        tg_genome *v = tg_genome_parse(j, s, &err);
        if (!v) fail_msg("%s: decoded %s refused: %s", spec, j, err.msg);
        char *jv = tg_genome_json(v);
        assert_string_equal(j, jv);
        /* builds */
        tg_genome_stats st;
        if (tg_genome_stats_get(g, 1, 28, 28, 10, &st, &err) != TG_OK)
            fail_msg("%s: %s does not build: %s", spec, j, err.msg);
        if (st.nlayers > maxlayers) maxlayers = st.nlayers;
        /* encode inverts decode */
        assert_int_equal(tg_space_encode(s, g, x2, &err), TG_OK);
        empty += compare_points(s, x, x2);
        tg_genome *g2 = tg_space_decode(s, x2, &err);
        char *j2 = tg_genome_json(g2);
        assert_string_equal(j, j2);
        free(j), free(jv), free(j2);
        tg_genome_free(g), tg_genome_free(v), tg_genome_free(g2);
    }
    if (!strncmp(spec, "layerwise", 9)) {
        assert_true(empty > 0);   /* the exception was exercised */
        assert_int_equal(maxlayers, atoi(spec + 10));
    }
    free(x), free(x2);
    tg_space_free(s);
}

static void test_round_trips(void **state) {
    (void)state;
    round_trips("layerwise:10", 1);
    round_trips("layerwise:20", 2);
    round_trips("cell", 3);
    round_trips("layerwise:4:filters=8,16:kernels=1,3:strides=1", 4);
}

static void test_codec_errors(void **state) {
    (void)state;
    tg_space *s = space("layerwise:10");
    int n = tg_space_ndims(s);
    int *x = malloc(sizeof(int) * (size_t)n);
    tg_error err;
    for (int i = 0; i < n; i++) x[i] = 0;
    x[0] = 10;
    assert_null(tg_space_decode(s, x, &err));
    assert_string_equal(err.msg, "nlayers: choice 10 is out of range (0..9)");
    assert_int_equal(err.status, TG_ERR_ARG);
    x[0] = 1;
    x[7 + 1] = 4;   /* layers[1].kh */
    assert_null(tg_space_decode(s, x, &err));
    assert_string_equal(err.msg, "layers[1].kh: choice 4 is out of range (0..3)");
    x[7 + 1] = 0;
    x[7 + 7] = 2;   /* layers[1].in[0] */
    assert_null(tg_space_decode(s, x, &err));
    assert_string_equal(err.msg, "layers[1].in[0]: choice 2 is out of range (0..1)");
    x[7 + 7] = -1;
    assert_null(tg_space_decode(s, x, &err));
    assert_string_equal(err.msg, "layers[1].in[0]: choice -1 is out of range (0..1)");
    /* inactive entries are ignored */
    x[7 + 7] = 1;
    for (int i = 15; i < n; i++) x[i] = 99;
    tg_genome *g = tg_space_decode(s, x, &err);
    if (!g) fail_msg("%s", err.msg);
    char *j = tg_genome_json(g);
    assert_string_equal(j, "{\"layers\":[{\"act\":\"identity\",\"filters\":32,\"inputs\":[-1],"
                           "\"kh\":1,\"kw\":1,\"norm\":\"none\",\"stride\":1},{\"act\":\"identity\","
                           "\"filters\":32,\"inputs\":[0],\"kh\":1,\"kw\":1,\"norm\":\"none\","
                           "\"stride\":1}],\"max_layers\":10,\"schema\":1,\"space\":\"layerwise\"}");
    free(j);
    /* encode checks the genome against the space */
    tg_space *narrow = space("layerwise:10:filters=64,128");
    int *y = malloc(sizeof(int) * (size_t)tg_space_ndims(narrow));
    assert_int_equal(tg_space_encode(narrow, g, y, &err), TG_ERR_ARG);
    assert_string_equal(err.msg, "layers[0].filters: 32 is not one of 64, 128");
    tg_space *cell = space("cell");
    int z[22];
    assert_int_equal(tg_space_encode(cell, g, z, &err), TG_ERR_ARG);
    assert_string_equal(err.msg, "space: \"layerwise\" does not match the space cell:blocks=5:n=2:f=16");
    tg_space *l20 = space("layerwise:20");
    int *w = malloc(sizeof(int) * (size_t)tg_space_ndims(l20));
    assert_int_equal(tg_space_encode(l20, g, w, &err), TG_ERR_ARG);
    assert_string_equal(err.msg, "max_layers: 10 does not match the space layerwise:20");
    tg_genome_free(g);

    /* candidate6 encoded: 6 layers; layer 2 reads layers 0 and 1 */
    g = tg_genome_load(tu_fixture("genomes/candidate6.json"), s, &err);
    if (!g) fail_msg("%s", err.msg);
    assert_int_equal(tg_space_encode(s, g, x, &err), TG_OK);
    assert_int_equal(x[0], 5);
    int l2 = 1 + 6 + 8;   /* first dimension of layer 2 */
    assert_string_equal(tg_space_dim(s, l2 + 6)->name, "layers[2].in[-1]");
    assert_int_equal(x[l2 + 0], 2);   /* 128 */
    assert_int_equal(x[l2 + 3], 1);   /* stride 2 */
    assert_int_equal(x[l2 + 6], 0);
    assert_int_equal(x[l2 + 7], 1);
    assert_int_equal(x[l2 + 8], 1);
    int active = 0;
    for (int i = 0; i < n; i++) active += x[i] >= 0;
    assert_int_equal(active, 1 + 36 + 2 + 3 + 4 + 5 + 6);
    tg_genome_free(g);

    for (int i = 0; i < 22; i++) z[i] = 0;
    z[4] = 3;   /* blocks[1].inputs[0] has 3 choices */
    assert_null(tg_space_decode(cell, z, &err));
    assert_string_equal(err.msg, "blocks[1].inputs[0]: choice 3 is out of range (0..2)");
    z[4] = 2;
    z[21] = 2;
    assert_null(tg_space_decode(cell, z, &err));
    assert_string_equal(err.msg, "concat[1]: choice 2 is out of range (0..1)");
    free(x), free(y), free(w);
    tg_space_free(s), tg_space_free(narrow), tg_space_free(cell), tg_space_free(l20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specs),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_codec_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
