/* cmd_tg.c - `tgsage tg`: teacher guidance of a trained candidate (with its
 * premature accuracy P and score P + alpha*TG), or of candidate RDMs. */
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
"usage: tgsage tg --teacher TEACHER (--ckpt CKPT | --rdms s1.npy s2.npy ...) [options]\n"
"\n"
"TG = mean over the teacher's layers of the best similarity any candidate\n"
"layer reaches with it. With --ckpt the candidate's named layers are observed\n"
"on the teacher's images (which must be the validation images of --data, as\n"
"when the teacher was made), and its premature accuracy P on the validation\n"
"split and the score P + alpha*TG are reported too.\n"
"\n"
"options:\n"
"  --teacher FILE      a teacher made by tgsage teacher (required)\n"
"  --ckpt CKPT         a trained candidate (tgsage train)\n"
"  --rdms FILES...     candidate RDMs instead (square .npy, the teacher's size)\n"
"  --alpha A           weight of TG in the score [1]\n"
"%s"
"  --threads T         threads, 0 = all cores [0]\n"
"  --json              one JSON object on stdout: tg, per_teacher (teacher_layer,\n"
"                      best_candidate_layer, r) and with --ckpt p and score\n"
"  -h, --help          show this help\n", tg_cli_data_help());
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

int tg_cmd_tg(int argc, char **argv) {
    static const struct option longs[] = {
        {"teacher", 1, 0, 'e'}, {"ckpt", 1, 0, 'k'},        {"rdms", 0, 0, 'R'},
        {"alpha", 1, 0, 'a'},
        {"threads", 1, 0, 't'}, {"json", 0, 0, 'j'},        TG_CLI_DATA_OPTIONS, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "tg", *tp = NULL, *ckpt = NULL;
    int rdms = 0, json = 0, ch;
    double alpha = 1;
    long threads = 0;
    tg_cli_data data = TG_CLI_DATA_DEFAULT;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int bad = 0;
        if (tg_cli_data_option(cmd, ch, optarg, &data, &bad)) {
            if (bad) return TG_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'e': tp = optarg; break;
        case 'k': ckpt = optarg; break;
        case 'R': rdms = 1; break;
        case 'a': bad = tg_cli_double(cmd, "--alpha", optarg, 0, 1e6, &alpha); break;
        case 't': bad = tg_cli_int(cmd, "--threads", optarg, 0, 1024, &threads); break;
        case 'j': json = 1; break;
        case 'h': help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage tg --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (!tp || (ckpt != NULL) == rdms || (rdms && optind == argc) || (!rdms && optind < argc)) {
        fprintf(stderr, "tgsage tg: give --teacher and one of --ckpt or --rdms with files "
                        "(see tgsage tg --help)\n");
        return TG_EXIT_USAGE;
    }
    tg_threads_set((int)threads);
    tg_error err;
    tg_teacher t;
    if (tg_teacher_load(tp, &t, &err) != TG_OK) {
        fprintf(stderr, "tgsage tg: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    tg_eval_record *rec = calloc(1, sizeof *rec);
    tg_status st = rec ? TG_OK : tg_error_set(&err, TG_ERR_NOMEM, "out of memory");
    if (st == TG_OK && ckpt) {
        tg_trained tr;
        tg_dataset val;
        st = tg_trained_load(ckpt, 100, "", &tr, &err);
        if (st == TG_OK) {
            st = tg_cli_load_eval_split(&data, "val", tr.data_fingerprint, &val, &err);
            if (st == TG_OK) {
                st = tg_evaluate_candidate(tr.net, &val, &t, alpha, rec, &err);
                tg_dataset_free(&val);
            }
            tg_trained_free(&tr);
        }
    } else if (st == TG_OK) {
        double *S[TG_EVAL_MAX_LAYERS] = {0};
        int ns = 0;
        for (int i = optind; i < argc && st == TG_OK; i++, ns++) {
            int64_t rows = 0, cols = 0;
            if (ns == TG_EVAL_MAX_LAYERS) {
                st = tg_error_set(&err, TG_ERR_ARG, "more than %d candidate RDMs", ns);
                break;
            }
            st = tg_cli_read_f64(argv[i], 2, &S[ns], &rows, &cols, &err);
            if (st == TG_OK && (rows != cols || rows != t.m))
                st = tg_error_set(&err, TG_ERR_SHAPE, "%s is %lldx%lld; the teacher's RDMs are "
                                  "%lldx%lld", argv[i], (long long)rows, (long long)cols,
                                  (long long)t.m, (long long)t.m);
            char name[64];
            const char *b = strrchr(argv[i], '/');
            snprintf(name, sizeof name, "%s", b ? b + 1 : argv[i]);
            snprintf(rec->cand_layers[ns], sizeof rec->cand_layers[0], "%s", name);
        }
        if (st == TG_OK) {
            rec->nteacher = t.nlayers, rec->ncand = ns;
            for (int a = 0; a < t.nlayers; a++)
                snprintf(rec->teacher_layers[a], sizeof rec->teacher_layers[0], "%s", t.names[a]);
            st = tg_tg_score((const double *const *)t.rdms, t.nlayers, (const double *const *)S,
                             ns, t.m, t.method, &rec->tg, rec->best, rec->best_r, &err);
        }
        for (int i = 0; i < ns; i++) free(S[i]);
    }
    if (st == TG_OK) print_result(json, ckpt != NULL, rec);
    else fprintf(stderr, "tgsage tg: %s\n", err.msg);
    free(rec);
    tg_teacher_free(&t);
    return st == TG_OK ? TG_EXIT_OK : TG_EXIT_FAIL;
}
