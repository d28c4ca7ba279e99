/* cmd_tg.c - `tgsage tg`: teacher guidance of a trained candidate (with its
 * premature accuracy P and score P + alpha*TG), or of candidate RDMs. Both
 * forms fill the evaluator's record, whose TG src/rsa/tg.c reduces. */
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

static void help(FILE *f, const tg_cli_common *def) {
    fprintf(f,
"usage: tgsage tg --teacher TEACHER (--ckpt CKPT | --rdms s1.npy s2.npy ... | --pixels)\n"
"                [options]\n"
"\n"
"TG = mean over the teacher's layers of the best similarity any candidate\n"
"layer reaches with it. With --ckpt the candidate's named layers are observed\n"
"on the teacher's images (which must be the validation images of --data, as\n"
"when the teacher was made), and its premature accuracy P on the validation\n"
"split and the score P + alpha*TG are reported too. With --pixels the\n"
"candidate is the raw images themselves (one layer, \"pixels\", standardised\n"
"as networks are fed them): the similarity every network reaches without\n"
"learning anything, TG's floor.\n"
"\n"
"options:\n"
"  --teacher FILE      a teacher made by tgsage teacher (required)\n"
"  --ckpt CKPT         a trained candidate (tgsage train)\n"
"  --rdms FILES...     candidate RDMs instead (square .npy, the teacher's size)\n"
"  --pixels            the raw images of --data instead (the teacher's images)\n"
"  --alpha A           weight of TG in the score [1]\n"
"%s", tg_cli_data_help());
    tg_cli_common_help(f, def, "images per forward pass (with --ckpt)",
                       "one JSON object on stdout: tg, per_teacher (teacher_layer,\n"
                       "                      best_candidate_layer, r), similarities (a\n"
                       "                      teacher x candidate matrix), candidate_layers\n"
                       "                      and with --ckpt p and score");
    fprintf(f, "  -h, --help          show this help\n");
}

static void print_result(int json, int with_p, const tg_eval_record *r) {
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "tg", r->tg);
        cJSON *pt = cJSON_AddArrayToObject(j, "per_teacher");
        for (int a = 0; a < r->nteacher; a++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "teacher_layer", r->teacher_layers[a]);
            cJSON_AddStringToObject(o, "best_candidate_layer", r->cand_layers[r->best[a]]);
            cJSON_AddNumberToObject(o, "r", r->best_r[a]);
            cJSON_AddItemToArray(pt, o);
        }
        cJSON *cl = cJSON_AddArrayToObject(j, "candidate_layers");
        for (int s = 0; s < r->ncand; s++)
            cJSON_AddItemToArray(cl, cJSON_CreateString(r->cand_layers[s]));
        cJSON *sim = cJSON_AddArrayToObject(j, "similarities");
        for (int a = 0; a < r->nteacher; a++)
            cJSON_AddItemToArray(sim, cJSON_CreateDoubleArray(r->sim + (size_t)a * r->ncand,
                                                              r->ncand));
        if (with_p) {
            cJSON_AddNumberToObject(j, "p", r->p);
            cJSON_AddNumberToObject(j, "alpha", r->alpha);
            cJSON_AddNumberToObject(j, "score", r->score);
        }
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
        return;
    }
    for (int a = 0; a < r->nteacher; a++)
        printf("teacher %-12s best candidate layer %-12s r = %.4f\n", r->teacher_layers[a],
               r->cand_layers[r->best[a]], r->best_r[a]);
    printf("TG = %.4f\n", r->tg);
    if (with_p) printf("P = %.4f, score = P + %g*TG = %.4f\n", r->p, r->alpha, r->score);
}

static tg_status from_ckpt(const tg_cli_common *com, const tg_cli_data *data,
                           const tg_teacher *t, double alpha, tg_eval_record *rec,
                           tg_error *err) {
    tg_trained tr;
    tg_dataset val;
    tg_status st = tg_trained_load(com->ckpt, (int)com->batch, com->backend, &tr, err);
    if (st != TG_OK) return st;
    st = tg_cli_load_eval_split(data, "val", &tr, &val, err);
    if (st == TG_OK) {
        st = tg_evaluate_candidate(tr.net, &val, t, alpha, rec, err);
        tg_dataset_free(&val);
    }
    tg_trained_free(&tr);
    return st;
}

static tg_status from_pixels(const tg_cli_data *data, const tg_teacher *t, tg_eval_record *rec,
                             tg_error *err) {
    tg_dataset train, val;
    tg_status st = tg_cli_load_data(data, &train, &val, NULL, err);
    if (st != TG_OK) return st;
    st = tg_evaluate_pixels(&val, t, rec, err);
    tg_dataset_free(&train);
    tg_dataset_free(&val);
    return st;
}

/* Candidate RDMs from files, named by their base names. */
static tg_status from_rdms(char **files, int ns, const tg_teacher *t, double alpha,
                           tg_eval_record *rec, tg_error *err) {
    double **S = calloc((size_t)ns, sizeof(double *));
    const char **names = malloc(sizeof(char *) * (size_t)ns);
    tg_status st = S && names ? TG_OK : tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ns && st == TG_OK; i++) {
        int64_t rows = 0, cols = 0;
        st = tg_cli_read_f64(files[i], 2, &S[i], &rows, &cols, err);
        if (st == TG_OK && (rows != cols || rows != t->m))
            st = tg_error_set(err, TG_ERR_SHAPE, "%s is %lldx%lld; the teacher's RDMs are "
                              "%lldx%lld", files[i], (long long)rows, (long long)cols,
                              (long long)t->m, (long long)t->m);
        const char *b = strrchr(files[i], '/');
        names[i] = b ? b + 1 : files[i];
    }
    if (st == TG_OK)
        st = tg_eval_rdms(t, (const double *const *)S, names, ns, t->m, alpha, rec, err);
    for (int i = 0; S && i < ns; i++) free(S[i]);
    free(S);
    free(names);
    return st;
}

int tg_cmd_tg(int argc, char **argv) {
    static const struct option longs[] = {
        {"teacher", 1, 0, 'e'}, TG_CLI_CKPT_OPTION,    {"rdms", 0, 0, 'R'},
        {"pixels", 0, 0, 'P'},  {"alpha", 1, 0, 'a'},  TG_CLI_COMMON_OPTIONS,
        TG_CLI_DATA_OPTIONS,    {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    const char *cmd = "tg", *tp = NULL;
    int rdms = 0, pixels = 0, ch;
    double alpha = 1;
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    tg_cli_common com = TG_CLI_COMMON_DEFAULT(100), def = com;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_common_option(cmd, ch, optarg, &com, &bad) ||
            tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'e': tp = optarg; break;
        case 'R': rdms = 1; break;
        case 'P': pixels = 1; break;
        case 'a': bad = tg_cli_double(cmd, "--alpha", optarg, 0, 1e6, &alpha); break;
        case 'h': help(stdout, &def); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage tg --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (!tp || (com.ckpt != NULL) + rdms + pixels != 1 || (rdms && optind == argc) ||
        (!rdms && optind < argc)) {
        fprintf(stderr, "tgsage tg: give --teacher and one of --ckpt, --rdms with files or "
                        "--pixels (see tgsage tg --help)\n");
        return TG_EXIT_USAGE;
    }
    tg_threads_set((int)com.threads);
    tg_error err;
    tg_teacher t;
    if (tg_teacher_load(tp, &t, &err) != TG_OK) {
        fprintf(stderr, "tgsage tg: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    tg_eval_record rec = {0};
    tg_status st = com.ckpt ? from_ckpt(&com, &data, &t, alpha, &rec, &err)
                 : pixels   ? from_pixels(&data, &t, &rec, &err)
                            : from_rdms(argv + optind, argc - optind, &t, alpha, &rec, &err);
    if (st == TG_OK) print_result(com.json, com.ckpt != NULL, &rec);
    else fprintf(stderr, "tgsage tg: %s\n", err.msg);
    tg_eval_record_free(&rec);
    tg_teacher_free(&t);
    return st == TG_OK ? TG_EXIT_OK : TG_EXIT_FAIL;
}
