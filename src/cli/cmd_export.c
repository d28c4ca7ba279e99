/* cmd_export.c - `tgsage export`: a trained network as files other tools
 * load: a plain PyTorch module (src/export/pytorch.c) or an ONNX model
 * (src/export/onnx.c). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/export.h"
#include "tgsage/tensorfile.h"
#include "tgsage/trainer.h"

static const char *const FORMATS = "pytorch, onnx";

static void help(FILE *f) {
    fprintf(f,
"usage: tgsage export --ckpt CKPT -o DIR [options]\n"
"\n"
"Write a trained network as files another framework loads (docs/formats.md).\n"
"--format pytorch, for a genome network (a checkpoint of tgsage train\n"
"--genome, or of candidate6), writes DIR/model.py (a torch.nn.Module built\n"
"from the genome, load(), standardize(); needs only torch), DIR/\n"
"weights.safetensors (the weights under their state_dict names), DIR/\n"
"genome.json and DIR/README.md. --format onnx, for any network (built-in\n"
"ones too), writes DIR/model.onnx: opset 13, input 'input' (N x C x H x W,\n"
"each image standardised), output 'logits', the observed layers under their\n"
"names, the genome in its metadata.\n"
"DIR is created if missing; files in it are replaced.\n"
"\n"
"options:\n"
"  --ckpt CKPT         the checkpoint (required)\n"
"  --format F          %s [pytorch]\n"
"  -o, --out DIR       the directory to write (required)\n"
"  --json              print a JSON object on stdout\n"
"  -h, --help          show this help\n"
"\n"
"Exit status: 0 written, 1 failed (e.g. --format pytorch for a built-in\n"
"network, which has no genome), 2 usage.\n", FORMATS);
}

/* SGD steps the checkpoint was trained ("step" in its metadata), 0 if it
 * does not say. */
static long long ckpt_steps(const char *path) {
    tg_tensor_file f;
    tg_error err;
    if (tg_tfile_read(path, &f, &err) != TG_OK) return 0;
    cJSON *j = cJSON_Parse(f.meta);
    tg_tfile_free(&f);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "step");
    long long steps = cJSON_IsNumber(s) && s->valuedouble > 0 ? (long long)s->valuedouble : 0;
    cJSON_Delete(j);
    return steps;
}

int tg_cmd_export(int argc, char **argv) {
    static const struct option longs[] = {
        {"ckpt", 1, 0, 'k'}, {"format", 1, 0, 'f'}, {"out", 1, 0, 'o'},
        {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    const char *ckpt = NULL, *format = "pytorch", *out = NULL;
    int json = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        switch (ch) {
        case 'k': ckpt = optarg; break;
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 'j': json = 1; break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default:
            fprintf(stderr, "Run 'tgsage export --help' for the options.\n");
            return TG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tgsage export: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }
    const int onnx = !strcmp(format, "onnx");
    if (!onnx && strcmp(format, "pytorch") != 0) {
        fprintf(stderr, "tgsage export: --format '%s': expected one of %s\n", format, FORMATS);
        return TG_EXIT_USAGE;
    }
    if (!ckpt || !out) {
        fprintf(stderr, "tgsage export: --ckpt and -o are required (see tgsage export "
                        "--help)\n");
        return TG_EXIT_USAGE;
    }
    tg_error err;
    tg_trained t;
    if (tg_trained_load(ckpt, 1, "", &t, &err) != TG_OK) {
        fprintf(stderr, "tgsage export: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    if (!t.genome && !onnx) {
        fprintf(stderr, "tgsage export: %s holds the built-in network '%s', which has no "
                        "genome; only genome networks (tgsage train --genome, or candidate6) "
                        "can be exported to PyTorch (--format onnx takes any network)\n",
                ckpt, t.net_spec);
        tg_trained_free(&t);
        return TG_EXIT_FAIL;
    }
    long long steps = ckpt_steps(ckpt);
    tg_export_options opt = {.space = t.space, .steps = steps, .source = ckpt};
    int code = TG_EXIT_OK;
    const char *pt_files[] = {"model.py", "weights.safetensors", "genome.json", "README.md"};
    const char *onnx_files[] = {"model.onnx"};
    const char *const *files = onnx ? onnx_files : pt_files;
    const int nfiles = onnx ? 1 : 4;
    tg_status st = onnx ? tg_export_onnx(t.net, t.genome, &opt, out, &err)
                        : tg_export_pytorch(t.genome, t.net, &opt, out, &err);
    if (st != TG_OK) {
        const char *m = strncmp(err.msg, "export: ", 8) ? err.msg : err.msg + 8;
        fprintf(stderr, "tgsage export: %s\n", m);
        code = TG_EXIT_FAIL;
    } else if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "checkpoint", ckpt);
        cJSON_AddStringToObject(j, "format", format);
        cJSON_AddStringToObject(j, "dir", out);
        if (t.genome) cJSON_AddStringToObject(j, "space", t.space);
        else cJSON_AddStringToObject(j, "net", t.net_spec);
        cJSON_AddNumberToObject(j, "params", (double)tg_net_param_count(t.net));
        cJSON_AddNumberToObject(j, "steps", (double)steps);
        cJSON_AddItemToObject(j, "files", cJSON_CreateStringArray(files, nfiles));
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%s (%s, %zu parameters, %lld steps) -> %s/:", ckpt,
               t.genome ? t.space : t.net_spec, tg_net_param_count(t.net), steps, out);
        for (int i = 0; i < nfiles; i++) printf("%s %s", i ? "," : "", files[i]);
        printf("\n");
    }
    tg_trained_free(&t);
    return code;
}
