/* cmd_teacher.c - `tgsage teacher`: a teacher file from a trained network's
 * layers, from external features (brain recordings, grouped into regions),
 * or from precomputed RDMs. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/evaluator.h"
#include "tgsage/teacher.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static void help(FILE *f) {
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
"          match); --regions groups units into regions, one RDM each: a JSON\n"
"          object {\"V4\": [0, 1, ...], \"pIT\": [...]} of unit indices.\n"
"  --rdms: precomputed RDMs (square .npy), one layer each, named by file; not\n"
"          tied to images, so usable only with candidate RDMs (tgsage tg --rdms).\n"
"\n"
"options:\n"
"  --n N               images observed (with --ckpt) [1000]\n"
"  --unit U            category or image [category]\n"
"  --method M          similarity: pearson, spearman or kendall [pearson]\n"
"  --max-features K    units subsampled per layer or region [1000]\n"
"  --seed S            seed of the subsample [0]\n"
"%s"
"  --threads T         threads, 0 = all cores [0]\n"
"  -o, --out TEACHER   output file (required)\n"
"  -h, --help          show this help\n", tg_cli_data_help());
}

/* Layer name of an RDM file: its base name without .npy */
static void stem(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    if (len > 4 && strcmp(b + len - 4, ".npy") == 0) len -= 4;
    snprintf(out, n, "%.*s", (int)len, b);
}

static tg_status from_ckpt(const char *ckpt, char *layers, const tg_cli_data *data, long n,
                           tg_teacher *t, tg_error *err) {
    tg_trained tr;
    tg_dataset val;
    tg_status st = tg_trained_load(ckpt, 100, "", &tr, err);
    if (st != TG_OK) return st;
    if ((st = tg_cli_load_eval_split(data, "val", tr.data_fingerprint, &val, err)) != TG_OK) {
        tg_trained_free(&tr);
        return st;
    }
    int nodes[TG_EVAL_MAX_LAYERS], nl = 0;
    char *names[TG_EVAL_MAX_LAYERS];
    for (char *tok = strtok(layers, ","); tok && st == TG_OK; tok = strtok(NULL, ",")) {
        if (nl == TG_EVAL_MAX_LAYERS) st = tg_error_set(err, TG_ERR_ARG, "too many layers");
        else if ((nodes[nl] = tg_graph_find(tr.g, tok)) < 0)
            st = tg_error_set(err, TG_ERR_ARG, "%s (%s) has no layer '%s'", ckpt, tr.net_spec, tok);
        else names[nl++] = tok;
    }
    if (st == TG_OK && n > val.n) n = val.n;
    t->n = n;
    t->images = malloc(sizeof(int32_t) * (size_t)n);
    t->labels = malloc(sizeof(int32_t) * (size_t)n);
    if (st == TG_OK && (!t->images || !t->labels)) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    double *rdms[TG_EVAL_MAX_LAYERS] = {0};
    int64_t m;
    if (st == TG_OK) {
        for (int64_t i = 0; i < n; i++) t->images[i] = (int32_t)i, t->labels[i] = val.labels[i];
        st = tg_observe_rdms(tr.net, nodes, nl, &val, t->images, n, t->unit, t->max_features,
                             t->seed, rdms, &m, err);
    }
    for (int l = 0; l < nl && st == TG_OK; l++) st = tg_teacher_add(t, names[l], rdms[l], m, err);
    for (int l = 0; l < nl; l++) free(rdms[l]);
    snprintf(t->data_fingerprint, sizeof t->data_fingerprint, "%s", val.fingerprint);
    snprintf(t->data, sizeof t->data, "%s", val.source);
    snprintf(t->source, sizeof t->source, "%s (%s), layers observed", ckpt, tr.net_spec);
    tg_dataset_free(&val);
    tg_trained_free(&tr);
    return st;
}

/* Unit indices of each region of a JSON file; *nr regions. */
static tg_status read_regions(const char *path, int64_t units, char names[][64],
                              int64_t **idx, int64_t *count, int *nr, tg_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return tg_error_set(err, TG_ERR_IO, "%s: cannot open", path);
    char *buf = malloc(1 << 24);
    size_t len = buf ? fread(buf, 1, (1 << 24) - 1, f) : 0;
    fclose(f);
    if (!buf) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    buf[len] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    tg_status st = TG_OK;
    *nr = 0;
    if (!cJSON_IsObject(j) || !j->child) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: expected a JSON object of region names to "
                          "lists of unit indices", path);
    }
    for (cJSON *r = j ? j->child : NULL; r && st == TG_OK; r = r->next) {
        if (*nr == TG_TEACHER_MAX_LAYERS || !cJSON_IsArray(r) || cJSON_GetArraySize(r) < 1) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: region '%s' is not a non-empty list of "
                              "unit indices", path, r->string);
            break;
        }
        int k = cJSON_GetArraySize(r);
        snprintf(names[*nr], 64, "%s", r->string);
        idx[*nr] = malloc(sizeof(int64_t) * (size_t)k);
        count[*nr] = k;
        if (!idx[*nr]) {
            st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        (*nr)++;
        int q = 0;
        for (cJSON *u = r->child; u; u = u->next, q++) {
            if (!cJSON_IsNumber(u) || u->valuedouble != (double)(int64_t)u->valuedouble ||
                u->valuedouble < 0 || u->valuedouble >= (double)units) {
                st = tg_error_set(err, TG_ERR_FORMAT, "%s: region '%s': entry %d is not a unit "
                                  "index in [0,%lld)", path, r->string, q, (long long)units);
                break;
            }
            idx[*nr - 1][q] = (int64_t)u->valuedouble;
        }
    }
    cJSON_Delete(j);
    return st;
}

static tg_status from_features(const char *xp, const char *yp, const char *rp,
                               const tg_cli_data *data, int tied, tg_teacher *t, tg_error *err) {
    float *X = NULL, *R = NULL;
    int32_t *y = NULL;
    int64_t n = 0, f = 0, *idx[TG_TEACHER_MAX_LAYERS] = {0}, count[TG_TEACHER_MAX_LAYERS];
    char names[TG_TEACHER_MAX_LAYERS][64];
    int nr = 0;
    tg_dataset tr, val;
    tg_status st = tg_cli_read_f32_matrix(xp, &X, &n, &f, err);
    if (st == TG_OK) st = tg_cli_read_labels(yp, n, &y, err);
    if (st == TG_OK && rp) st = read_regions(rp, f, names, idx, count, &nr, err);
    if (st == TG_OK && !rp) {
        nr = 1;
        stem(xp, names[0], sizeof names[0]);
        count[0] = f;
        if (!(idx[0] = malloc(sizeof(int64_t) * (size_t)f))) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; st == TG_OK && i < f; i++) idx[0][i] = i;
    }
    for (int r = 0; r < nr && st == TG_OK; r++) {
        R = realloc(R, sizeof(float) * (size_t)(n * count[r]));
        if (!R) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            break;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t q = 0; q < count[r]; q++) R[i * count[r] + q] = X[i * f + idx[r][q]];
        double *rdm = NULL;
        int64_t m;
        st = tg_rdm_compute(R, n, count[r], y, t->unit, t->max_features, t->seed + (uint64_t)r,
                            &rdm, &m, err);
        if (st == TG_OK) st = tg_teacher_add(t, names[r], rdm, m, err);
        free(rdm);
    }
    if (st == TG_OK && tied) {
        /* rows are the first n validation images of --data: prove it by the labels */
        if ((st = tg_cli_load_data(data, &tr, &val, err)) == TG_OK) {
            if (n > val.n)
                st = tg_error_set(err, TG_ERR_SHAPE, "%s has %lld rows, the validation split "
                                  "only %lld images", xp, (long long)n, (long long)val.n);
            for (int64_t i = 0; st == TG_OK && i < n; i++)
                if (val.labels[i] != y[i])
                    st = tg_error_set(err, TG_ERR_ARG, "%s: label %d of row %lld differs from "
                                      "validation image %lld of %s (label %d)", yp, y[i],
                                      (long long)i, (long long)i, data->spec, val.labels[i]);
            if (st == TG_OK) {
                t->n = n;
                t->images = malloc(sizeof(int32_t) * (size_t)n);
                t->labels = y, y = NULL;
                for (int64_t i = 0; t->images && i < n; i++) t->images[i] = (int32_t)i;
                snprintf(t->data_fingerprint, sizeof t->data_fingerprint, "%s", val.fingerprint);
                snprintf(t->data, sizeof t->data, "%s", val.source);
            }
            tg_dataset_free(&tr);
            tg_dataset_free(&val);
        }
    }
    snprintf(t->source, sizeof t->source, "features %s%s%s", xp, rp ? ", regions " : "", rp ? rp : "");
    for (int r = 0; r < nr; r++) free(idx[r]);
    free(X), free(R), free(y);
    return st;
}

int tg_cmd_teacher(int argc, char **argv) {
    static const struct option longs[] = {
        {"ckpt", 1, 0, 'k'},      {"layers", 1, 0, 'L'},     {"features", 1, 0, 'f'},
        {"labels", 1, 0, 'y'},    {"regions", 1, 0, 'r'},    {"rdms", 0, 0, 'R'},
        {"n", 1, 0, 'n'},         {"unit", 1, 0, 'u'},       {"method", 1, 0, 'm'},
        {"max-features", 1, 0, 'K'}, {"seed", 1, 0, 's'},
        {"threads", 1, 0, 't'},    {"out", 1, 0, 'o'},
        TG_CLI_DATA_OPTIONS, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "teacher", *ckpt = NULL, *xp = NULL, *yp = NULL, *rp = NULL, *outp = NULL;
    char layers[1024] = "";
    int rdms = 0, unit = TG_RDM_CATEGORY, method = TG_SIM_PEARSON, ch;
    long n = 1000, k = 1000, seed = 0, threads = 0;
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'k': ckpt = optarg; break;
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
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &threads); break;
        case 'o': outp = optarg; break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage teacher --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    int sources = (ckpt != NULL) + (xp != NULL) + rdms;
    if (sources != 1 || !outp || (ckpt && !layers[0]) || (xp && !yp) ||
        (!rdms && optind < argc) || (rdms && optind == argc)) {
        fprintf(stderr, "tgsage teacher: give one of --ckpt with --layers, --features with "
                        "--labels, or --rdms with files, and -o (see tgsage teacher --help)\n");
        return TG_EXIT_USAGE;
    }
    tg_threads_set((int)threads);
    tg_error err;
    tg_teacher t;
    memset(&t, 0, sizeof t);
    t.unit = (tg_rdm_unit)unit, t.method = (tg_sim_method)method;
    t.max_features = k, t.seed = (uint64_t)seed;
    tg_status st = TG_OK;
    if (ckpt) {
        st = from_ckpt(ckpt, layers, &data, n, &t, &err);
    } else if (xp) {
        st = from_features(xp, yp, rp, &data, data.given, &t, &err);
    } else {
        snprintf(t.source, sizeof t.source, "precomputed RDMs");
        for (int i = optind; i < argc && st == TG_OK; i++) {
            double *r = NULL;
            int64_t rows = 0, cols = 0;
            char name[64];
            stem(argv[i], name, sizeof name);
            st = tg_cli_read_f64(argv[i], 2, &r, &rows, &cols, &err);
            if (st == TG_OK && rows != cols)
                st = tg_error_set(&err, TG_ERR_SHAPE, "%s: an RDM must be square, this is "
                                  "%lldx%lld", argv[i], (long long)rows, (long long)cols);
            if (st == TG_OK) st = tg_teacher_add(&t, name, r, rows, &err);
            free(r);
        }
    }
    if (st == TG_OK) st = tg_teacher_save(outp, &t, &err);
    if (st != TG_OK) {
        fprintf(stderr, "tgsage teacher: %s\n", err.msg);
        tg_teacher_free(&t);
        return TG_EXIT_FAIL;
    }
    printf("%s: %d layer%s (", outp, t.nlayers, t.nlayers == 1 ? "" : "s");
    for (int i = 0; i < t.nlayers; i++) printf("%s%s", i ? ", " : "", t.names[i]);
    printf("), %lld x %lld %s RDMs, %s%s%s\n", (long long)t.m, (long long)t.m,
           tg_rdm_unit_name(t.unit), tg_sim_method_name(t.method),
           t.n ? ", images of " : ", not tied to images", t.n ? t.data : "");
    tg_teacher_free(&t);
    return TG_EXIT_OK;
}
