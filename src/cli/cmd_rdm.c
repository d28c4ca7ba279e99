/* cmd_rdm.c - `tgsage rdm` and `tgsage compare`: RDMs and their similarity
 * on .npy files, for users who bring their own features. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tgsage/npy.h"
#include "tgsage/rsa.h"
#include "tgsage/threads.h"

static void rdm_help(FILE *f) {
    fprintf(f,
"usage: tgsage rdm --features F.npy [--labels L.npy] [options] -o R.npy\n"
"\n"
"Representational dissimilarity matrix of a feature matrix (images x units):\n"
"1 - Pearson correlation between rows (images) or between category means\n"
"(categories in ascending label order), on a seeded random subsample of the\n"
"units. Writes a float64 square matrix. A row of zero variance correlates 0\n"
"with every other row.\n"
"\n"
"options:\n"
"  --features F.npy    the features, images x units (required)\n"
"  --labels L.npy      one integer label per image (needed for --unit category)\n"
"  --unit U            category or image [category with --labels, else image]\n"
"  --max-features K    units kept at random, 0 = all [1000]\n"
"  --seed S            seed of that choice [0]\n"
"  -o, --out R.npy     output (required)\n"
"  -h, --help          show this help\n");
}

int tg_cmd_rdm(int argc, char **argv) {
    static const struct option longs[] = {
        {"features", 1, 0, 'f'}, {"labels", 1, 0, 'l'}, {"unit", 1, 0, 'u'},
        {"max-features", 1, 0, 'k'}, {"seed", 1, 0, 's'}, {"out", 1, 0, 'o'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *fp = NULL, *lp = NULL, *outp = NULL;
    int unit = -1, ch;
    long k = 1000, seed = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'f': fp = optarg; break;
        case 'l': lp = optarg; break;
        case 'u':
            if ((unit = tg_rdm_unit_parse(optarg)) < 0) {
                fprintf(stderr, "tgsage rdm: --unit '%s': expected category or image\n", optarg);
                bad = 1;
            }
            break;
        case 'k': bad = tg_cli_int("rdm", "--max-features", optarg, 0, 1L << 31, &k); break;
        case 's': bad = tg_cli_int("rdm", "--seed", optarg, 0, 1L << 62, &seed); break;
        case 'o': outp = optarg; break;
        case 'h': rdm_help(stdout); return TG_EXIT_OK;
        default: fprintf(stderr, "Run 'tgsage rdm --help' for the options.\n"); return TG_EXIT_USAGE;
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (!fp || !outp || optind < argc) {
        fprintf(stderr, "tgsage rdm: --features and -o are required (see tgsage rdm --help)\n");
        return TG_EXIT_USAGE;
    }
    if (unit < 0) unit = lp ? TG_RDM_CATEGORY : TG_RDM_IMAGE;
    if (unit == TG_RDM_CATEGORY && !lp) {
        fprintf(stderr, "tgsage rdm: --unit category needs --labels\n");
        return TG_EXIT_USAGE;
    }
    tg_threads_set(0);
    tg_error err;
    float *F = NULL;
    int32_t *labels = NULL;
    double *rdm = NULL;
    int64_t n = 0, f = 0, m = 0;
    int code = TG_EXIT_FAIL;
    if (tg_cli_read_f32_matrix(fp, &F, &n, &f, &err) != TG_OK ||
        (lp && tg_cli_read_labels(lp, n, &labels, &err) != TG_OK) ||
        tg_rdm_compute(F, n, f, labels, (tg_rdm_unit)unit, k, (uint64_t)seed, &rdm, &m, &err) !=
            TG_OK) {
        fprintf(stderr, "tgsage rdm: %s\n", err.msg);
        goto done;
    }
    int64_t shape[2] = {m, m};
    if (tg_npy_write(outp, TG_NPY_F64, 2, shape, rdm, &err) != TG_OK) {
        fprintf(stderr, "tgsage rdm: %s\n", err.msg);
        goto done;
    }
    printf("%s: %lld x %lld %s RDM\n", outp, (long long)m, (long long)m,
           tg_rdm_unit_name((tg_rdm_unit)unit));
    code = TG_EXIT_OK;
done:
    free(F);
    free(labels);
    free(rdm);
    return code;
}

static void compare_help(FILE *f) {
    fprintf(f,
"usage: tgsage compare A.npy B.npy [--method M]\n"
"\n"
"Similarity of two RDMs (square matrices of the same size) over their strict\n"
"upper triangles, printed as one number. With --method cka, A and B are\n"
"instead feature matrices (images x units) with the same images as rows, and\n"
"the number is their linear CKA.\n"
"\n"
"options:\n"
"  --method M          pearson, spearman, kendall (tau-a) or cka [pearson]\n"
"  -h, --help          show this help\n");
}

int tg_cmd_compare(int argc, char **argv) {
    static const struct option longs[] = {{"method", 1, 0, 'm'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int method = TG_SIM_PEARSON, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (ch == 'h') {
            compare_help(stdout);
            return TG_EXIT_OK;
        }
        if (ch != 'm' || (method = tg_sim_method_parse(optarg)) < 0) {
            if (ch == 'm')
                fprintf(stderr, "tgsage compare: --method '%s': expected pearson, spearman, "
                        "kendall or cka\n", optarg);
            else
                fprintf(stderr, "Run 'tgsage compare --help' for the options.\n");
            return TG_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "tgsage compare: expected two .npy files (see tgsage compare --help)\n");
        return TG_EXIT_USAGE;
    }
    const char *pa = argv[optind], *pb = argv[optind + 1];
    tg_threads_set(0);
    tg_error err;
    tg_status st;
    double r = 0;
    if (method == TG_SIM_CKA) {
        float *A = NULL, *B = NULL;
        int64_t na = 0, p = 0, nb = 0, q = 0;
        st = tg_cli_read_f32_matrix(pa, &A, &na, &p, &err);
        if (st == TG_OK) st = tg_cli_read_f32_matrix(pb, &B, &nb, &q, &err);
        if (st == TG_OK && na != nb)
            st = tg_error_set(&err, TG_ERR_SHAPE,
                              "%s has %lld rows and %s %lld: CKA needs the same images", pa,
                              (long long)na, pb, (long long)nb);
        if (st == TG_OK) st = tg_cka_linear(A, p, B, q, na, &r, &err);
        free(A);
        free(B);
    } else {
        double *A = NULL, *B = NULL;
        int64_t ma = 0, ca = 0, mb = 0, cb = 0;
        st = tg_cli_read_f64(pa, 2, &A, &ma, &ca, &err);
        if (st == TG_OK) st = tg_cli_read_f64(pb, 2, &B, &mb, &cb, &err);
        if (st == TG_OK && (ma != ca || mb != cb || ma != mb))
            st = tg_error_set(&err, TG_ERR_SHAPE,
                              "RDMs must be square and of one size: %s is %lldx%lld, %s is "
                              "%lldx%lld", pa, (long long)ma, (long long)ca, pb, (long long)mb,
                              (long long)cb);
        if (st == TG_OK) st = tg_rdm_similarity(A, B, ma, (tg_sim_method)method, &r, &err);
        free(A);
        free(B);
    }
    if (st != TG_OK) {
        fprintf(stderr, "tgsage compare: %s\n", err.msg);
        return TG_EXIT_FAIL;
    }
    printf("%.10g\n", r);
    return TG_EXIT_OK;
}
