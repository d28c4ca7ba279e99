/* data_opts.c - the data options every command shares: --data, the seeded
 * validation split, limits. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

tg_status tg_cli_load_data(const tg_cli_data *o, tg_dataset *train, tg_dataset *val,
                           tg_error *err) {
    tg_dataset all;
    tg_status st = tg_dataset_load(o->spec, "train", &all, err);
    if (st != TG_OK) return st;
    int64_t nval = o->val >= 0 ? o->val : (all.n >= 20000 ? 5000 : all.n / 10);
    if (nval < 1 || nval >= all.n) {
        tg_dataset_free(&all);
        return tg_error_set(err, TG_ERR_ARG,
                            "--val %lld: the training split has %lld images; hold out at "
                            "least 1 and leave some to train on",
                            (long long)nval, (long long)all.n);
    }
    st = tg_dataset_split(&all, nval, o->split_seed, train, val, err);
    tg_dataset_free(&all);
    if (st != TG_OK) return st;
    tg_dataset_limit(train, o->train_limit);
    tg_dataset_limit(val, o->val_limit);
    return TG_OK;
}

int tg_cli_data_option(const char *cmd, int ch, const char *arg, tg_cli_data *d, int *bad) {
    switch (ch) {
    case 'd': d->spec = arg, d->given = 1; return 1;
    case 'v': *bad = tg_cli_int(cmd, "--val", arg, 1, 1L << 31, &d->val); return 1;
    case 'x': *bad = tg_cli_int(cmd, "--split-seed", arg, 0, 1L << 62, &d->split_seed); return 1;
    case 'T': *bad = tg_cli_int(cmd, "--train-limit", arg, 0, 1L << 31, &d->train_limit); return 1;
    case 'V': *bad = tg_cli_int(cmd, "--val-limit", arg, 0, 1L << 31, &d->val_limit); return 1;
    }
    return 0;
}

const char *tg_cli_data_help(void) {
    return "  --data SPEC         fashion-mnist, mnist:DIR, cifar10:DIR,\n"
           "                      cifar100:DIR[:coarse] or npy:IMAGES.npy,LABELS.npy\n"
           "                      [fashion-mnist]\n"
           "  --val N             images of the training split held out for\n"
           "                      validation, a seeded split [5000; 10% below 20000]\n"
           "  --split-seed S      seed of that split [0]\n"
           "  --train-limit N     use only the first N training images, 0 = all [0]\n"
           "  --val-limit N       use only the first N validation images, 0 = all [0]\n";
}

tg_status tg_cli_load_eval_split(const tg_cli_data *o, const char *split,
                                 const char *trained_on, tg_dataset *out, tg_error *err) {
    if (strcmp(split, "test") == 0) {
        tg_status st = tg_dataset_load(o->spec, "test", out, err);
        if (st == TG_OK) tg_dataset_limit(out, o->val_limit);
        return st;
    }
    if (strcmp(split, "val") != 0)
        return tg_error_set(err, TG_ERR_ARG, "--split '%s': expected val or test", split);
    tg_dataset train;
    tg_status st = tg_cli_load_data(o, &train, out, err);
    if (st != TG_OK) return st;
    /* the validation part is only held out if the split is the one the
     * network was trained beside: its training part must be the same data */
    if (trained_on && strcmp(train.fingerprint, trained_on) != 0) {
        st = tg_error_set(err, TG_ERR_ARG,
                          "the checkpoint was trained on other data than the training part "
                          "of this split (fingerprint %s, here %s): its validation images "
                          "may not be held out. Use the --data, --val, --split-seed and "
                          "--train-limit of its training, or --split test",
                          trained_on, train.fingerprint);
        tg_dataset_free(out);
    }
    tg_dataset_free(&train);
    return st;
}
