/* data_opts.c - the data options every command shares: --data, the seeded
 * validation split, limits; and the held-out check of the validation
 * images a trained network is scored on. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

tg_status tg_cli_load_data(const tg_cli_data *o, tg_dataset *train, tg_dataset *val,
                           tg_split_info *info, tg_error *err) {
    return tg_split_load(o->spec, o->val, (uint64_t)o->split_seed, o->train_limit,
                         o->val_limit, train, val, info, err);
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

tg_status tg_cli_load_eval_split(const tg_cli_data *o, const char *split, const tg_trained *t,
                                 tg_dataset *out, tg_error *err) {
    if (strcmp(split, "test") == 0) {
        tg_status st = tg_dataset_load(o->spec, "test", out, err);
        if (st == TG_OK) tg_dataset_limit(out, o->val_limit);
        return st;
    }
    if (strcmp(split, "val") != 0)
        return tg_error_set(err, TG_ERR_ARG, "--split '%s': expected val or test", split);
    tg_dataset train;
    tg_split_info here;
    tg_status st = tg_cli_load_data(o, &train, out, &here, err);
    if (st != TG_OK) return st;
    if (t && t->split.all_fingerprint[0]) {
        /* the validation part is held out if it is the one the network was
         * trained beside, whatever part of the training images it used */
        tg_error e;
        if ((st = tg_split_check(&t->split, &here, &e)) != TG_OK)
            tg_error_set(err, st, "%s. Use the --data, --val and --split-seed of its "
                         "training, or --split test", e.msg);
    } else if (t && strcmp(train.fingerprint, t->data_fingerprint) != 0) {
        /* a checkpoint that predates the recorded split: its training images
         * must be this split's training part */
        st = tg_error_set(err, TG_ERR_ARG,
                          "the checkpoint was trained on other data than the training part "
                          "of this split (fingerprint %s, here %s): its validation images "
                          "may not be held out. Use the --data, --val, --split-seed and "
                          "--train-limit of its training, or --split test",
                          t->data_fingerprint, train.fingerprint);
    }
    if (st != TG_OK) tg_dataset_free(out);
    tg_dataset_free(&train);
    return st;
}
