/* split.c - the validation split a run trains beside, and the proof that a
 * later command's validation images were held out of a network's training.
 *
 * A network trained on the training part of a seeded split may be scored
 * on that split's validation part, even if it used only the first N images
 * of the training part: what matters is the validation part, fixed by the
 * whole training split, the split seed and the number held out. */
#include <stdio.h>
#include <string.h>

#include "tgsage/trainer.h"

tg_status tg_split_load(const char *spec, int64_t nval, uint64_t seed, int64_t train_limit,
                        int64_t val_limit, tg_dataset *train, tg_dataset *val,
                        tg_split_info *info, tg_error *err) {
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    tg_dataset all;
    tg_status st = tg_dataset_load(spec, "train", &all, err);
    if (st != TG_OK) return st;
    if (nval < 0) nval = all.n >= 20000 ? 5000 : all.n / 10;
    if (nval < 1 || nval >= all.n) {
        tg_dataset_free(&all);
        return tg_error_set(err, TG_ERR_ARG,
                            "--val %lld: the training split has %lld images; hold out at "
                            "least 1 and leave some to train on",
                            (long long)nval, (long long)all.n);
    }
    st = tg_dataset_split(&all, nval, seed, train, val, err);
    if (st == TG_OK && info) {
        memset(info, 0, sizeof *info);
        snprintf(info->data, sizeof info->data, "%s", spec);
        snprintf(info->all_fingerprint, sizeof info->all_fingerprint, "%s", all.fingerprint);
        snprintf(info->val_fingerprint, sizeof info->val_fingerprint, "%s", val->fingerprint);
        info->seed = seed;
        info->nval = nval;
        info->train_limit = train_limit > 0 && train_limit < train->n ? train_limit : 0;
    }
    tg_dataset_free(&all);
    if (st != TG_OK) return st;
    tg_dataset_limit(train, train_limit);
    tg_dataset_limit(val, val_limit);
    return TG_OK;
}

tg_status tg_split_check(const tg_split_info *trained, const tg_split_info *here,
                         tg_error *err) {
    if (!trained->all_fingerprint[0] || !here->all_fingerprint[0])
        return tg_error_set(err, TG_ERR_ARG, "the split a network was trained beside is not "
                            "recorded: its validation images may not be held out");
    if (strcmp(trained->all_fingerprint, here->all_fingerprint) != 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "the checkpoint was trained on other data (%s, training split "
                            "fingerprint %s) than %s (fingerprint %s): its validation "
                            "images may not be held out",
                            trained->data, trained->all_fingerprint, here->data,
                            here->all_fingerprint);
    /* a smaller split of the same seed is nested in the larger one (the
     * partial shuffle of tg_dataset_split draws the held-out positions one
     * by one, the first nval draws the same whatever the size): held out */
    if (trained->seed == here->seed && here->nval < trained->nval) return TG_OK;
    if (trained->seed != here->seed || trained->nval != here->nval)
        return tg_error_set(err, TG_ERR_ARG,
                            "the checkpoint was trained beside another validation split "
                            "(split seed %llu, %lld images held out; here split seed %llu, "
                            "%lld held out): its validation images may not be held out",
                            (unsigned long long)trained->seed, (long long)trained->nval,
                            (unsigned long long)here->seed, (long long)here->nval);
    if (strcmp(trained->val_fingerprint, here->val_fingerprint) != 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "the validation part differs from the one the checkpoint was "
                            "trained beside (fingerprint %s, here %s) although data, seed "
                            "and size agree: its validation images may not be held out",
                            trained->val_fingerprint, here->val_fingerprint);
    return TG_OK;
}
