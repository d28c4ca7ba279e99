/* test_show.c - `tgsage show` as a user meets it: the statistics of a
 * genome as JSON (checked value by value), the text and Graphviz forms,
 * --space, --input and --classes, and invalid genomes and options (exit
 * codes, the message on stderr and nothing on stdout). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

static char out_buf[65536], err_buf[65536];
static char dir[256];   /* the outputs of the last run */

static void slurp(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* `$TG_BIN show ARGS` with stdout and stderr kept apart; the exit code */
static int show(const char *args) {
    if (!dir[0]) snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    const char *bin = getenv("TG_BIN");
    char cmd[4096], o[300], e[300];
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(e, sizeof e, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s show %s >%s 2>%s", bin ? bin : "./tgsage", args, o, e);
    int rc = system(cmd);
    slurp(o, out_buf, sizeof out_buf);
    slurp(e, err_buf, sizeof err_buf);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char fixture_arg[4096];
static const char *fx(const char *name) {
    snprintf(fixture_arg, sizeof fixture_arg, "'%s'", tu_fixture(name));
    return fixture_arg;
}

static double num(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(j, key);
    if (!cJSON_IsNumber(v)) fail_msg("no number %s", key);
    return v->valuedouble;
}

static const char *str(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(j, key);
    if (!cJSON_IsString(v)) fail_msg("no string %s", key);
    return v->valuestring;
}

static void test_json(void **state) {
    (void)state;
    char args[4200];
    snprintf(args, sizeof args, "%s --json", fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 0);
    assert_string_equal(err_buf, "");
    cJSON *j = cJSON_Parse(out_buf);
    if (!j) fail_msg("not JSON: %s", out_buf);
    assert_string_equal(str(j, "hash"), "76e7affc04be6dcb9efa5afd92bd50bb");
    assert_string_equal(str(j, "space"), "layerwise:10");
    assert_string_equal(str(j, "kind"), "layerwise");
    /* the parameters of the built-in candidate6 (test_genome checks the net) */
    assert_int_equal((int64_t)num(j, "params"), 547786);
    assert_int_equal((int64_t)num(j, "layers"), 6);
    assert_int_equal((int64_t)num(j, "classes"), 10);
    /* per image: layer0 64*1*9*784, layer1 64*64*25*784, layer2
     * 128*128*9*196, layer3 128*128*3*196, layer4 64*128*3*196, layer5
     * 128*192*9*49, fc 128*10 */
    int64_t macs = 64LL * 9 * 784 + 64LL * 64 * 25 * 784 + 128LL * 128 * 9 * 196 +
                   128LL * 128 * 3 * 196 + 64LL * 128 * 3 * 196 + 128LL * 192 * 9 * 49 + 1280;
    assert_int_equal((int64_t)num(j, "macs"), macs);
    const cJSON *obs = cJSON_GetObjectItem(j, "observed_layers");
    assert_int_equal(cJSON_GetArraySize(obs), 6);
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "layer%d", i);
        assert_string_equal(cJSON_GetArrayItem(obs, i)->valuestring, name);
    }
    const cJSON *shape = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "observed_shapes"), 5);
    assert_int_equal(cJSON_GetArrayItem(shape, 0)->valueint, 128);
    assert_int_equal(cJSON_GetArrayItem(shape, 1)->valueint, 7);
    /* the genome is the canonical one */
    char *g = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "genome"));
    assert_non_null(strstr(g, "{\"layers\":[{\"act\":\"relu\",\"filters\":64,\"inputs\":[-1]"));
    assert_non_null(strstr(g, "\"inputs\":[0,1]"));
    free(g);
    cJSON_Delete(j);

    /* another input shape and number of classes: 3 channels change layer 0
     * and the classifier */
    snprintf(args, sizeof args, "%s --json --input 3,32,32 --classes 100",
             fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 0);
    j = cJSON_Parse(out_buf);
    assert_non_null(j);
    assert_int_equal((int64_t)num(j, "params"), 547786 + 2 * 64 * 9 + 129 * 90);
    cJSON_Delete(j);

    /* a cell genome: 8 observed cells at 28, 14 and 7 */
    snprintf(args, sizeof args, "%s --json --space cell:blocks=5:n=2:f=16",
             fx("genomes/cell_nasnet.json"));
    assert_int_equal(show(args), 0);
    j = cJSON_Parse(out_buf);
    assert_non_null(j);
    assert_string_equal(str(j, "kind"), "cell");
    assert_int_equal((int64_t)num(j, "cells"), 8);
    obs = cJSON_GetObjectItem(j, "observed_layers");
    assert_int_equal(cJSON_GetArraySize(obs), 8);
    assert_string_equal(cJSON_GetArrayItem(obs, 7)->valuestring, "cell7");
    const int sizes[8] = {28, 28, 14, 14, 14, 7, 7, 7};
    for (int i = 0; i < 8; i++) {
        shape = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "observed_shapes"), i);
        assert_int_equal(cJSON_GetArrayItem(shape, 2)->valueint, sizes[i]);
    }
    cJSON_Delete(j);
}

static void test_text_and_dot(void **state) {
    (void)state;
    char args[4200];
    snprintf(args, sizeof args, "%s", fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 0);
    assert_non_null(strstr(out_buf, "hash         76e7affc04be6dcb9efa5afd92bd50bb\n"));
    assert_non_null(strstr(out_buf, "params       547786\n"));
    assert_non_null(strstr(out_buf, "  layer2     128x14x14\n"));
    snprintf(args, sizeof args, "%s --dot", fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 0);
    assert_true(!strncmp(out_buf, "digraph genome {", 16));
    assert_non_null(strstr(out_buf, "image -> layer0;"));
    assert_non_null(strstr(out_buf, "layer0 -> layer2;"));
    assert_non_null(strstr(out_buf, "layer1 -> layer2;"));
    assert_non_null(strstr(out_buf, "layer4 -> layer5;"));
    assert_non_null(strstr(out_buf, "layer5 -> classifier;"));
    assert_null(strstr(out_buf, "layer4 -> classifier;"));
    assert_non_null(strstr(out_buf, "128 filters 3x3, stride 2\\nbn, relu"));
    snprintf(args, sizeof args, "%s --dot", fx("genomes/cell_nasnet.json"));
    assert_int_equal(show(args), 0);
    assert_true(!strncmp(out_buf, "digraph cell {", 14));
    assert_non_null(strstr(out_buf, "hm1 -> block0 [label=\"sep3x3\"];"));
    assert_non_null(strstr(out_buf, "block0 -> block4 [label=\"max3x3\"];"));
    assert_non_null(strstr(out_buf, "block4 -> output;"));
    assert_null(strstr(out_buf, "block0 -> output;"));
    assert_non_null(strstr(out_buf, "hm1 -> output [style=dashed];"));
    assert_null(strstr(out_buf, "hm2 -> output"));
    assert_int_equal(show("--help"), 0);
    const char *flags[] = {"--space SPEC", "--input C,H,W", "[1,28,28]", "--classes K", "[10]",
                           "--batch B", "[128]", "--json", "--dot"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(out_buf, flags[i])) fail_msg("show --help lacks %s", flags[i]);
}

static void test_errors(void **state) {
    (void)state;
    char args[4200], want[4200];
    snprintf(args, sizeof args, "%s --json", fx("genomes/bad_kh.json"));
    assert_int_equal(show(args), 1);
    assert_string_equal(out_buf, "");
    snprintf(want, sizeof want, "tgsage show: %s: layers[3].kh: 4 is not one of 1, 3, 5, 7\n",
             tu_fixture("genomes/bad_kh.json"));
    assert_string_equal(err_buf, want);
    snprintf(args, sizeof args, "%s", fx("genomes/bad_forward_input.json"));
    assert_int_equal(show(args), 1);
    assert_non_null(strstr(err_buf, "layers[2].inputs[0]: 5 is not -1 or an earlier layer (0..1)"));
    snprintf(args, sizeof args, "%s", fx("genomes/bad_cell_op.json"));
    assert_int_equal(show(args), 1);
    assert_non_null(strstr(err_buf, "blocks[0].ops[1]: \"conv3x3\" is not one of"));
    snprintf(args, sizeof args, "%s", fx("genomes/bad_truncated.json"));
    assert_int_equal(show(args), 1);
    assert_non_null(strstr(err_buf, "malformed JSON at line 1, column 81"));
    /* valid, but not in the space given */
    snprintf(args, sizeof args, "%s --space layerwise:20", fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 1);
    assert_non_null(strstr(err_buf, "max_layers: 10 does not match the space layerwise:20"));
    assert_int_equal(show("/nonexistent.json"), 1);
    assert_string_equal(err_buf, "tgsage show: /nonexistent.json: cannot open\n");
    /* usage */
    assert_int_equal(show(""), 2);
    assert_non_null(strstr(err_buf, "expected a genome file"));
    snprintf(args, sizeof args, "%s --space layerwise", fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 2);
    assert_non_null(strstr(err_buf, "--space: space 'layerwise': layerwise needs the maximum"));
    snprintf(args, sizeof args, "%s --json --dot", fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 2);
    snprintf(args, sizeof args, "%s --input 1,28", fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 2);
    assert_non_null(strstr(err_buf, "--input '1,28': expected C,H,W"));
    snprintf(args, sizeof args, "%s --classes 0", fx("genomes/candidate6.json"));
    assert_int_equal(show(args), 2);
    assert_int_equal(show("a.json b.json"), 2);
    assert_non_null(strstr(err_buf, "unexpected argument 'b.json'"));
    assert_int_equal(show("--frob"), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text_and_dot),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (dir[0]) tu_rmtree(dir);
    return rc;
}
