/* cmd_teacher.c - `tgsage teacher`: a teacher file from a trained network's
 * layers, from external features (brain recordings, grouped into regions),
 * or from precomputed RDMs. The work is the library's (evaluator.h,
 * teacher.h); this file reads the inputs and reports, with its stages on
 * the progress display of the long commands (progress.h). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "tgsage/evaluator.h"
#include "tgsage/fileio.h"
#include "tgsage/teacher.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static void help(FILE *f, const tg_cli_common *def) {
    fprintf(f,
"usage: tgsage teacher (--ckpt CKPT --layers L1,L2,L3 | --features X.npy --labels y.npy\n"
"                       [--regions R.json] | --rdms a.npy b.npy ...) [options] -o TEACHER\n"
"\n"
"Make a teacher: the RDMs of its observed layers on fixed images, saved with\n"
"which images of which data they cover, the RDM unit and the similarity\n"
"method. Every worker then reuses the file.\n"
"  --ckpt: a trained network (tgsage train); its layers observed on the first\n"
"          N validation images.\n"
"  --features: recordings or activations, images x units, whose rows are the\n"
"          first rows of the validation split of --data (their labels must\n"
"          match; without --data the teacher is not tied to images);\n"
"          --regions groups units into regions, one RDM each: a JSON object\n"
"          {\"V4\": [0, 1, ...], \"pIT\": [...]} of unit indices (at most 16 MiB).\n"
"  --rdms: precomputed RDMs (square .npy), one layer each, named by file; not\n"
"          tied to images, so usable only with candidate RDMs (tgsage tg --rdms).\n"
"\n"
"options:\n"
"  --ckpt CKPT         a trained network (tgsage train)\n"
"  --layers LIST       its comma-separated layers to observe (with --ckpt)\n"
"  --features X.npy    recordings, images x units\n"
"  --labels y.npy      their labels, one per row (with --features)\n"
"  --regions R.json    the regions of the units (with --features)\n"
"  --rdms FILES...     precomputed RDMs\n"
"  --n N               images observed (with --ckpt) [1000]\n"
"  --unit U            category or image [category]\n"
"  --method M          similarity: pearson, spearman or kendall [pearson]\n"
"  --max-features K    units subsampled per layer or region [1000]\n"
"  --seed S            seed of the subsample [0]\n"
"%s", tg_cli_data_help());
    tg_cli_common_help(f, def, "images per forward pass (with --ckpt)",
                       "print a JSON object on stdout (teacher, layers, items,\n"
                       "                      unit, method, images, data, data_fingerprint)");
    fprintf(f,
"  -o, --out TEACHER   output file (required)\n"
"  -h, --help          show this help\n"
"\n"
"Its stages go to stderr: one line rewritten in place on a terminal, a log\n"
"line each when piped.\n");
}

/* A stage of the work: rewritten in place on a terminal, a log line when
 * piped. */
static void stage(tg_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stage(tg_progress *p, const char *fmt, ...) {
    char text[400], el[32];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    tg_progress_time(tg_progress_elapsed(p), el, sizeof el);
    if (n >= 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, " | %s", el);
    tg_progress_show(p, text, -1, 1);
}

/* Layer name of an RDM file: its base name without .npy */
static void stem(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    if (len > 4 && strcmp(b + len - 4, ".npy") == 0) len -= 4;
    snprintf(out, n, "%.*s", (int)len, b);
}

static tg_status from_ckpt(const tg_cli_common *com, char *layers, const tg_cli_data *data,
                           long n, tg_teacher *t, tg_progress *pr, tg_error *err) {
    tg_trained tr;
    tg_dataset val;
    stage(pr, "loading %s", com->ckpt);
    tg_status st = tg_trained_load(com->ckpt, (int)com->batch, com->backend, &tr, err);
    if (st != TG_OK) return st;
    stage(pr, "loading the validation split of %s", data->spec);
    if ((st = tg_cli_load_eval_split(data, "val", &tr, &val, err)) != TG_OK) {
        tg_trained_free(&tr);
        return st;
    }
    int nodes[TG_TEACHER_MAX_LAYERS];
    char *names[TG_TEACHER_MAX_LAYERS];
    int nl = tg_cli_split_list(layers, names, TG_TEACHER_MAX_LAYERS);
    if (nl < 0)
        st = tg_error_set(err, TG_ERR_ARG, "--layers: expected 1 to %d comma-separated names",
                          TG_TEACHER_MAX_LAYERS);
    for (int l = 0; l < nl && st == TG_OK; l++)
        if ((nodes[l] = tg_graph_find(tr.g, names[l])) < 0)
            st = tg_error_set(err, TG_ERR_ARG, "%s (%s) has no layer '%s'", com->ckpt,
                              tr.net_spec, names[l]);
    if (st == TG_OK && n > val.n) n = val.n;
    if (st == TG_OK) st = tg_teacher_tie(t, &val, val.labels, n, err);
    double *rdms[TG_TEACHER_MAX_LAYERS] = {0};
    int64_t m = 0;
    if (st == TG_OK) stage(pr, "observing %d layer%s of %s on %ld images", nl, nl == 1 ? "" : "s",
                           tr.net_spec, n);
    if (st == TG_OK)
        st = tg_observe_rdms(tr.net, nodes, nl, &val, t->images, n, t->unit, t->max_features,
                             t->seed, rdms, &m, err);
    for (int l = 0; l < nl && st == TG_OK; l++) st = tg_teacher_add(t, names[l], rdms[l], m, err);
    for (int l = 0; l < nl; l++) free(rdms[l]);
    snprintf(t->source, sizeof t->source, "%s (%s), layers observed", com->ckpt, tr.net_spec);
    tg_dataset_free(&val);
    tg_trained_free(&tr);
    return st;
}

static tg_status from_features(const char *xp, const char *yp, const char *rp,
                               const tg_cli_data *data, tg_teacher *t, tg_progress *pr,
                               tg_error *err) {
    float *X = NULL;
    int32_t *y = NULL;
    unsigned char *regions = NULL;
    size_t rlen = 0;
    int64_t n = 0, f = 0;
    char name[64];
    stem(xp, name, sizeof name);
    stage(pr, "reading %s", xp);
    tg_status st = tg_cli_read_f32_matrix(xp, &X, &n, &f, err);
    if (st == TG_OK) st = tg_cli_read_labels(yp, n, &y, err);
    if (st == TG_OK && rp) {
        st = tg_file_read(rp, TG_TEACHER_REGIONS_MAX_BYTES, &regions, &rlen, err);
        if (st == TG_OK && memchr(regions, '\0', rlen))
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: a NUL byte (not JSON text)", rp);
    }
    if (st == TG_OK) stage(pr, "RDMs of %lld images x %lld units", (long long)n, (long long)f);
    if (st == TG_OK)
        st = tg_teacher_from_recordings(t, X, n, f, y, (const char *)regions, rp, name, err);
    if (st == TG_OK && data->given) {
        /* rows are the first n validation images of --data: prove it by the labels */
        tg_dataset tr, val;
        stage(pr, "checking the labels against %s", data->spec);
        if ((st = tg_cli_load_data(data, &tr, &val, NULL, err)) == TG_OK) {
            tg_error e;
            if ((st = tg_teacher_tie(t, &val, y, n, &e)) != TG_OK)
                tg_error_set(err, st, "%s: %s", yp, e.msg);
            tg_dataset_free(&tr);
            tg_dataset_free(&val);
        }
    }
    snprintf(t->source, sizeof t->source, "features %s%s%s", xp, rp ? ", regions " : "",
             rp ? rp : "");
    free(regions);
    free(X), free(y);
    return st;
}

static tg_status from_rdms(char **files, int nf, tg_teacher *t, tg_error *err) {
    tg_status st = TG_OK;
    snprintf(t->source, sizeof t->source, "precomputed RDMs");
    for (int i = 0; i < nf && st == TG_OK; i++) {
        double *r = NULL;
        int64_t rows = 0, cols = 0;
        char name[64];
        stem(files[i], name, sizeof name);
        st = tg_cli_read_f64(files[i], 2, &r, &rows, &cols, err);
        if (st == TG_OK && rows != cols)
            st = tg_error_set(err, TG_ERR_SHAPE, "%s: an RDM must be square, this is "
                              "%lldx%lld", files[i], (long long)rows, (long long)cols);
        if (st == TG_OK) st = tg_teacher_add(t, name, r, rows, err);
        free(r);
    }
    return st;
}

static void report(int json, const char *outp, const tg_teacher *t) {
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "teacher", outp);
        cJSON *l = cJSON_AddArrayToObject(j, "layers");
        for (int i = 0; i < t->nlayers; i++) cJSON_AddItemToArray(l, cJSON_CreateString(t->names[i]));
        cJSON_AddNumberToObject(j, "items", (double)t->m);
        cJSON_AddStringToObject(j, "unit", tg_rdm_unit_name(t->unit));
        cJSON_AddStringToObject(j, "method", tg_sim_method_name(t->method));
        cJSON_AddNumberToObject(j, "images", (double)t->n);
        cJSON_AddStringToObject(j, "data", t->data);
        cJSON_AddStringToObject(j, "data_fingerprint", t->data_fingerprint);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
        return;
    }
    printf("%s: %d layer%s (", outp, t->nlayers, t->nlayers == 1 ? "" : "s");
    for (int i = 0; i < t->nlayers; i++) printf("%s%s", i ? ", " : "", t->names[i]);
    printf("), %lld x %lld %s RDMs, %s%s%s\n", (long long)t->m, (long long)t->m,
           tg_rdm_unit_name(t->unit), tg_sim_method_name(t->method),
           t->n ? ", images of " : ", not tied to images", t->n ? t->data : "");
}

int tg_cmd_teacher(int argc, char **argv) {
    static const struct option longs[] = {
        TG_CLI_CKPT_OPTION,          {"layers", 1, 0, 'L'},  {"features", 1, 0, 'f'},
        {"labels", 1, 0, 'y'},       {"regions", 1, 0, 'r'}, {"rdms", 0, 0, 'R'},
        {"n", 1, 0, 'n'},            {"unit", 1, 0, 'u'},    {"method", 1, 0, 'm'},
        {"max-features", 1, 0, 'K'}, {"seed", 1, 0, 's'},    {"out", 1, 0, 'o'},
        TG_CLI_COMMON_OPTIONS,       TG_CLI_DATA_OPTIONS,    {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "teacher", *xp = NULL, *yp = NULL, *rp = NULL, *outp = NULL;
    char layers[1024] = "";
    int rdms = 0, unit = TG_RDM_CATEGORY, method = TG_SIM_PEARSON, ch;
    long n = 1000, k = 1000, seed = 0;
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    tg_cli_common com = TG_CLI_COMMON_DEFAULT(100), def = com;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_common_option(cmd, ch, optarg, &com, &bad) ||
            tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'L': snprintf(layers, sizeof layers, "%s", optarg); break;
        case 'f': xp = optarg; break;
        case 'y': yp = optarg; break;
        case 'r': rp = optarg; break;
        case 'R': rdms = 1; break;
        case 'n': bad = tg_cli_int(cmd, "--n", optarg, 3, 1L << 31, &n); break;
        case 'u':
            if ((unit = tg_rdm_unit_parse(optarg)) < 0) {
                fprintf(stderr, "tgsage teacher: --unit '%s': expected category or image\n", optarg);
                bad = 1;
            }
            break;
        case 'm':
            method = tg_sim_method_parse(optarg);
            if (method < 0 || method == TG_SIM_CKA) {
                fprintf(stderr, "tgsage teacher: --method '%s': expected pearson, spearman or "
                        "kendall\n", optarg);
                bad = 1;
            }
            break;
        case 'K': bad = tg_cli_int(cmd, "--max-features", optarg, 0, 1L << 31, &k); break;
        case 's': bad = tg_cli_int(cmd, "--seed", optarg, 0, 1L << 62, &seed); break;
        case 'o': outp = optarg; break;
        case 'h': help(stdout, &def); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage teacher --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    int sources = (com.ckpt != NULL) + (xp != NULL) + rdms;
    if (sources != 1 || !outp || (com.ckpt && !layers[0]) || (xp && !yp) ||
        (rp && !xp) || (!rdms && optind < argc) || (rdms && optind == argc)) {
        fprintf(stderr, "tgsage teacher: give one of --ckpt with --layers, --features with "
                        "--labels, or --rdms with files, and -o (see tgsage teacher --help)\n");
        return TG_EXIT_USAGE;
    }
    tg_threads_set((int)com.threads);
    tg_error err;
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.unit = (tg_rdm_unit)unit, t.method = (tg_sim_method)method;
    t.max_features = k, t.seed = (uint64_t)seed;
    tg_progress pr;
    tg_progress_init(&pr, "teacher");
    tg_status st = com.ckpt ? from_ckpt(&com, layers, &data, n, &t, &pr, &err)
                   : xp     ? from_features(xp, yp, rp, &data, &t, &pr, &err)
                            : from_rdms(argv + optind, argc - optind, &t, &err);
    if (st == TG_OK) {
        stage(&pr, "saving %s", outp);
        st = tg_teacher_save(outp, &t, &err);
    }
    if (st == TG_OK) stage(&pr, "done: %d layer%s", t.nlayers, t.nlayers == 1 ? "" : "s");
    tg_progress_end(&pr);
    if (st != TG_OK) {
        fprintf(stderr, "tgsage teacher: %s\n", err.msg);
        tg_teacher_free(&t);
        return TG_EXIT_FAIL;
    }
    report(com.json, outp, &t);
    tg_teacher_free(&t);
    return TG_EXIT_OK;
}
