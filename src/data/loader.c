/* loader.c - batches prepared on a background thread (see loader.h).
 *
 * Two slots: the producer fills one while the consumer holds the other.
 * A slot carries the step it was made for; tg_loader_seek bumps a
 * generation number so that a batch prepared for the old position is
 * dropped instead of delivered. */
#include "tgsage/loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/prep.h"

typedef struct {
    float *x;
    int32_t *y;
    int n;
    int64_t step;     /* -1: empty */
} slot;

struct tg_loader {
    const tg_dataset *d;
    int batch, shuffle, augment;
    tg_augment aug;
    uint64_t order_seed, aug_seed; /* the user seed's streams ORDER and AUGMENT */
    int64_t per_epoch;
    slot slots[2];
    int held;          /* slot the consumer holds, -1 none */
    int64_t next_cons; /* step the consumer asks for next */
    int64_t next_prod; /* step the producer makes next */
    uint64_t gen;
    int quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    /* producer-only state: the order of the epoch it is in */
    int32_t *order;
    int64_t order_epoch;
};

static void epoch_order(tg_loader *l, int64_t epoch) {
    if (l->order_epoch == epoch) return;
    const int64_t n = l->d->n;
    for (int64_t i = 0; i < n; i++) l->order[i] = (int32_t)i;
    if (l->shuffle) {
        tg_rng r;
        tg_rng_seed(&r, tg_rng_derive(l->order_seed, (uint64_t)epoch));
        tg_rng_shuffle_i32(&r, l->order, n);
    }
    l->order_epoch = epoch;
}

/* Fill s with the batch of `step` (producer thread, without the lock). */
static void make_batch(tg_loader *l, slot *s, int64_t step) {
    const tg_dataset *d = l->d;
    const size_t size = (size_t)d->c * d->h * d->w;
    int64_t epoch = step / l->per_epoch, first = (step % l->per_epoch) * l->batch;
    epoch_order(l, epoch);
    int n = (int)(d->n - first < l->batch ? d->n - first : l->batch);
    for (int i = 0; i < n; i++) {
        int64_t k = l->order[first + i];
        float *out = s->x + (size_t)i * size;
        if (l->augment) {
            tg_rng r;
            tg_rng_seed(&r, tg_rng_derive(tg_rng_derive(l->aug_seed, (uint64_t)epoch),
                                          (uint64_t)k));
            tg_augment_image(d, k, &l->aug, &r, out);
        } else {
            tg_dataset_image(d, k, out);
        }
        s->y[i] = d->labels[k];
    }
    s->n = n;
}

static void *producer(void *arg) {
    tg_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        int free_slot = -1;
        while (!l->quit) {
            for (int i = 0; i < 2 && free_slot < 0; i++)
                if (i != l->held && l->slots[i].step < 0) free_slot = i;
            if (free_slot >= 0) break;
            pthread_cond_wait(&l->cv, &l->mu);
        }
        if (l->quit) break;
        slot *s = &l->slots[free_slot];
        int64_t step = l->next_prod++;
        uint64_t gen = l->gen;
        s->step = -2;  /* being filled */
        pthread_mutex_unlock(&l->mu);
        make_batch(l, s, step);
        pthread_mutex_lock(&l->mu);
        s->step = gen == l->gen ? step : -1;  /* a seek made it stale */
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

tg_loader *tg_loader_new(const tg_dataset *d, int batch, int shuffle,
                         const tg_augment *aug, uint64_t seed, tg_error *err) {
    if (batch <= 0 || d->n <= 0 || d->n > INT32_MAX) {
        tg_error_set(err, TG_ERR_ARG, "loader: batch %d of %lld examples (1 to 2^31-1)",
                     batch, (long long)d->n);
        return NULL;
    }
    tg_loader *l = calloc(1, sizeof *l);
    if (!l) goto nomem;
    l->d = d, l->batch = batch, l->shuffle = shuffle;
    l->order_seed = tg_rng_derive(seed, TG_STREAM_ORDER);
    l->aug_seed = tg_rng_derive(seed, TG_STREAM_AUGMENT);
    l->augment = aug != NULL;
    if (aug) l->aug = *aug;
    l->per_epoch = (d->n + batch - 1) / batch;
    l->held = -1;
    l->order_epoch = -1;
    l->order = malloc(sizeof(int32_t) * (size_t)d->n);
    if (!l->order) goto nomem;
    const size_t size = (size_t)d->c * d->h * d->w;
    for (int i = 0; i < 2; i++) {
        l->slots[i].x = malloc(sizeof(float) * size * (size_t)batch);
        l->slots[i].y = malloc(sizeof(int32_t) * (size_t)batch);
        l->slots[i].step = -1;
        if (!l->slots[i].x || !l->slots[i].y) goto nomem;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->thread, NULL, producer, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        tg_error_set(err, TG_ERR_NOMEM, "loader: cannot start its thread");
        goto fail;
    }
    return l;
nomem:
    tg_error_set(err, TG_ERR_NOMEM, "loader: out of memory for batches of %d", batch);
fail:
    if (l) {
        for (int i = 0; i < 2; i++) free(l->slots[i].x), free(l->slots[i].y);
        free(l->order);
        free(l);
    }
    return NULL;
}

void tg_loader_free(tg_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    for (int i = 0; i < 2; i++) free(l->slots[i].x), free(l->slots[i].y);
    free(l->order);
    free(l);
}

int64_t tg_loader_steps_per_epoch(const tg_loader *l) { return l->per_epoch; }

void tg_loader_seek(tg_loader *l, int64_t step) {
    pthread_mutex_lock(&l->mu);
    l->gen++;
    l->next_cons = l->next_prod = step;
    l->held = -1;
    for (int i = 0; i < 2; i++)
        if (l->slots[i].step != -2) l->slots[i].step = -1;  /* a slot in filling is dropped when done */
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

int tg_loader_next(tg_loader *l, const float **x, const int32_t **y) {
    pthread_mutex_lock(&l->mu);
    if (l->held >= 0) l->slots[l->held].step = -1;  /* give the last one back */
    l->held = -1;
    pthread_cond_broadcast(&l->cv);
    int got = -1;
    while (got < 0) {
        for (int i = 0; i < 2; i++)
            if (l->slots[i].step == l->next_cons) got = i;
        if (got < 0) pthread_cond_wait(&l->cv, &l->mu);
    }
    l->held = got;
    l->next_cons++;
    pthread_mutex_unlock(&l->mu);
    *x = l->slots[got].x;
    *y = l->slots[got].y;
    return l->slots[got].n;
}
