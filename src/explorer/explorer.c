/* explorer.c - what every search algorithm shares: the configuration, the
 * seeded RNG, the history of proposals and results, and the saved state.
 *
 * The state is JSON text holding everything a continuation needs: the
 * space's spec (checked on load), the whole configuration, the RNG's four
 * words as hex strings, every trial (point, state, score, told order) and
 * the algorithm's own state. cJSON's printer takes 15 significant digits
 * whenever they read back within a relative DBL_EPSILON - not exactly: 1 +
 * 2^-52 comes back as 1 - so doubles go through tg_explorer_json_number,
 * the shortest of 15, 16 or 17 digits that reads back bit for bit (cJSON
 * reads numbers with strtod, which is exact). A state is untrusted input:
 * each field is checked with its path named, and a malformed one is
 * refused, never followed. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explorer_internal.h"

static const tg_algo *const ALGOS[] = {&tg_algo_random, &tg_algo_tpe, &tg_algo_rl,
                                       &tg_algo_evolution};
#define NALGOS (int)(sizeof ALGOS / sizeof ALGOS[0])

#define STATE_FORMAT "tgsage-explorer"
#define STATE_VERSION 1

/* the names of ALGOS, in order */
const char *tg_explorer_algorithms(void) { return "random, tpe, rl, evolution"; }

static const tg_algo *find_algo(const char *name) {
    for (int i = 0; i < NALGOS; i++)
        if (!strcmp(ALGOS[i]->name, name)) return ALGOS[i];
    return NULL;
}

/* The defaults of every field (the algorithm's own and the others). */
static void fill_defaults(tg_explorer_config *c) {
    c->tpe_startup = 20;
    c->tpe_candidates = 24;
    c->tpe_forget = 25;
    c->rl_batch = 5;
    c->rl_hidden = 32;
    c->rl_lr = 1e-3;
    c->rl_baseline_decay = 0.95;
    c->evo_population = 20;
    c->evo_sample = 5;
}

tg_status tg_explorer_defaults(const char *algo, tg_explorer_config *c, tg_error *err) {
    if (!algo || !find_algo(algo))
        return tg_error_set(err, TG_ERR_ARG, "unknown search algorithm '%s': expected one of %s",
                            algo ? algo : "(null)", tg_explorer_algorithms());
    memset(c, 0, sizeof *c);
    snprintf(c->algo, sizeof c->algo, "%s", algo);
    fill_defaults(c);
    return TG_OK;
}

/* Zeros become defaults; everything else is range-checked. */
static tg_status resolve_config(const tg_explorer_config *in, tg_explorer_config *out,
                                tg_error *err) {
    if (!memchr(in->algo, '\0', sizeof in->algo) || !find_algo(in->algo))
        return tg_error_set(err, TG_ERR_ARG, "unknown search algorithm '%.15s': expected one of %s",
                            in->algo, tg_explorer_algorithms());
    tg_explorer_config d;
    fill_defaults(&d);
    *out = *in;
#define DEF(f)                                                                                     \
    if (out->f == 0) out->f = d.f
    DEF(tpe_startup);
    DEF(tpe_candidates);
    DEF(tpe_forget);
    DEF(rl_batch);
    DEF(rl_hidden);
    DEF(rl_lr);
    DEF(rl_baseline_decay);
    DEF(evo_population);
    DEF(evo_sample);
#undef DEF
#define RANGE(f, lo, hi)                                                                           \
    if (out->f < (lo) || out->f > (hi))                                                            \
    return tg_error_set(err, TG_ERR_ARG, "explorer config: " #f " %d is not in [%d, %d]", out->f,  \
                        lo, hi)
    RANGE(tpe_startup, 1, 1000000);
    RANGE(tpe_candidates, 1, 100000);
    RANGE(tpe_forget, 1, 1000000);
    RANGE(rl_batch, 1, 100000);
    RANGE(rl_hidden, 1, 4096);
    RANGE(evo_population, 1, 1000000);
    RANGE(evo_sample, 1, out->evo_population);
#undef RANGE
    if (!isfinite(out->rl_lr) || out->rl_lr <= 0 || out->rl_lr > 1)
        return tg_error_set(err, TG_ERR_ARG, "explorer config: rl_lr %g is not in (0, 1]",
                            out->rl_lr);
    if (!isfinite(out->rl_baseline_decay) || out->rl_baseline_decay < 0 ||
        out->rl_baseline_decay >= 1)
        return tg_error_set(err, TG_ERR_ARG,
                            "explorer config: rl_baseline_decay %g is not in [0, 1)",
                            out->rl_baseline_decay);
    return TG_OK;
}

void tg_explorer_random_point(tg_explorer *e, int *x) {
    for (int i = 0; i < e->ndims; i++) {
        if (!tg_space_active(e->space, x, i)) {
            x[i] = -1;
            continue;
        }
        int k = tg_space_dim(e->space, i)->nchoices;
        /* a forced choice draws nothing, so it never shifts the stream */
        x[i] = k > 1 ? (int)tg_rng_below(&e->rng, (uint64_t)k) : 0;
    }
}

tg_explorer *tg_explorer_new(const tg_space *s, const tg_explorer_config *c, tg_error *err) {
    tg_explorer_config cfg;
    if (!s || !c) {
        tg_error_set(err, TG_ERR_ARG, "tg_explorer_new: no space or no config");
        return NULL;
    }
    if (resolve_config(c, &cfg, err) != TG_OK) return NULL;
    tg_explorer *e = calloc(1, sizeof *e);
    if (!e) {
        tg_error_set(err, TG_ERR_NOMEM, "out of memory for the explorer");
        return NULL;
    }
    e->space = s;
    e->ndims = tg_space_ndims(s);
    e->cfg = cfg;
    tg_rng_seed(&e->rng, cfg.seed);
    e->algo = find_algo(cfg.algo);
    if (e->algo->init && e->algo->init(e, err) != TG_OK) {
        e->algo = NULL;   /* init failed: nothing of its own to free */
        tg_explorer_free(e);
        return NULL;
    }
    return e;
}

void tg_explorer_free(tg_explorer *e) {
    if (!e) return;
    if (e->algo && e->algo->free) e->algo->free(e);
    for (int64_t i = 0; i < e->n; i++) free(e->trials[i].x);
    free(e->trials);
    free(e);
}

/* Room for one more trial, its point allocated. */
static tg_status grow(tg_explorer *e, tg_error *err) {
    if (e->n == e->cap) {
        int64_t cap = e->cap ? 2 * e->cap : 64;
        tg_trial *t = realloc(e->trials, (size_t)cap * sizeof *t);
        if (!t) return tg_error_set(err, TG_ERR_NOMEM, "out of memory for %" PRId64 " trials", cap);
        e->trials = t;
        e->cap = cap;
    }
    int *x = malloc((size_t)(e->ndims > 0 ? e->ndims : 1) * sizeof *x);
    if (!x) return tg_error_set(err, TG_ERR_NOMEM, "out of memory for a trial");
    e->trials[e->n] = (tg_trial){x, TG_TRIAL_PENDING, 0.0, -1};
    return TG_OK;
}

tg_status tg_explorer_propose(tg_explorer *e, int64_t *id, int *x, tg_error *err) {
    tg_status st = grow(e, err);
    if (st != TG_OK) return st;
    int *p = e->trials[e->n].x;
    for (int i = 0; i < e->ndims; i++) p[i] = -1;
    st = e->algo->propose(e, p, err);
    if (st != TG_OK) {
        free(p);
        return st;
    }
    /* inactive entries are -1 whatever the algorithm left there */
    tg_space_normalize(e->space, p);
    for (int i = 0; i < e->ndims; i++)
        TG_ASSERT(p[i] < tg_space_dim(e->space, i)->nchoices);
    memcpy(x, p, (size_t)e->ndims * sizeof *x);
    *id = e->n++;
    return TG_OK;
}

tg_status tg_explorer_tell(tg_explorer *e, int64_t id, int ok, double score, tg_error *err) {
    if (id < 0 || id >= e->n)
        return tg_error_set(err, TG_ERR_ARG,
                            "tell: no proposal %" PRId64 " (%" PRId64 " proposed so far)", id,
                            e->n);
    tg_trial *t = &e->trials[id];
    if (t->state != TG_TRIAL_PENDING)
        return tg_error_set(err, TG_ERR_ARG, "tell: proposal %" PRId64 " was already told (%s)",
                            id, t->state == TG_TRIAL_OK ? "ok" : "failed");
    if (ok && !isfinite(score))
        return tg_error_set(err, TG_ERR_ARG, "tell: proposal %" PRId64 ": score %g is not finite",
                            id, score);
    t->state = ok ? TG_TRIAL_OK : TG_TRIAL_FAILED;
    t->score = ok ? score : 0.0;
    t->told_order = e->ntold++;
    if (e->algo->tell) {
        tg_status st = e->algo->tell(e, id, err);
        if (st != TG_OK) {
            t->state = TG_TRIAL_PENDING;
            t->score = 0.0;
            t->told_order = -1;
            e->ntold--;
            return st;
        }
    }
    return TG_OK;
}

int64_t tg_explorer_proposed(const tg_explorer *e) { return e->n; }
const tg_explorer_config *tg_explorer_settings(const tg_explorer *e) { return &e->cfg; }
int64_t tg_explorer_told(const tg_explorer *e) { return e->ntold; }
int tg_explorer_pending(const tg_explorer *e, int64_t id) {
    return id >= 0 && id < e->n && e->trials[id].state == TG_TRIAL_PENDING;
}

/* ---- save ---- */

cJSON *tg_explorer_json_number(double d) {
    /* cJSON's own printer takes 15 digits whenever they read back within a
     * relative DBL_EPSILON, which loses the last bit of e.g. 1 + 2^-52: use
     * the shortest of 15, 16, 17 digits that reads back bit for bit */
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        double back = strtod(buf, NULL);
        if (!memcmp(&back, &d, sizeof d)) break;
    }
    if (!isfinite(d)) snprintf(buf, sizeof buf, "null");
    return cJSON_CreateRaw(buf);
}

static const char *state_name(tg_trial_state s) {
    return s == TG_TRIAL_OK ? "ok" : s == TG_TRIAL_FAILED ? "failed" : "pending";
}

static cJSON *config_json(const tg_explorer_config *c) {
    cJSON *j = cJSON_CreateObject();
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
    cJSON_AddStringToObject(j, "algo", c->algo);
    cJSON_AddStringToObject(j, "seed", seed);   /* a string: beyond 2^53 exactly */
    cJSON_AddNumberToObject(j, "tpe_startup", c->tpe_startup);
    cJSON_AddNumberToObject(j, "tpe_candidates", c->tpe_candidates);
    cJSON_AddNumberToObject(j, "tpe_forget", c->tpe_forget);
    cJSON_AddNumberToObject(j, "rl_batch", c->rl_batch);
    cJSON_AddNumberToObject(j, "rl_hidden", c->rl_hidden);
    cJSON_AddItemToObject(j, "rl_lr", tg_explorer_json_number(c->rl_lr));
    cJSON_AddItemToObject(j, "rl_baseline_decay", tg_explorer_json_number(c->rl_baseline_decay));
    cJSON_AddNumberToObject(j, "evo_population", c->evo_population);
    cJSON_AddNumberToObject(j, "evo_sample", c->evo_sample);
    return j;
}

char *tg_explorer_save(const tg_explorer *e, tg_error *err) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", STATE_FORMAT);
    cJSON_AddNumberToObject(j, "version", STATE_VERSION);
    cJSON_AddStringToObject(j, "space", tg_space_spec(e->space));
    cJSON_AddItemToObject(j, "config", config_json(&e->cfg));
    cJSON *rng = cJSON_AddArrayToObject(j, "rng");
    for (int i = 0; i < 4; i++) {
        char h[17];
        snprintf(h, sizeof h, "%016" PRIx64, e->rng.s[i]);
        cJSON_AddItemToArray(rng, cJSON_CreateString(h));
    }
    cJSON_AddNumberToObject(j, "told", (double)e->ntold);
    cJSON *trials = cJSON_AddArrayToObject(j, "trials");
    for (int64_t i = 0; trials && i < e->n; i++) {
        const tg_trial *t = &e->trials[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "x", cJSON_CreateIntArray(t->x, e->ndims));
        cJSON_AddStringToObject(o, "state", state_name(t->state));
        if (t->state == TG_TRIAL_OK)
            cJSON_AddItemToObject(o, "score", tg_explorer_json_number(t->score));
        if (t->state != TG_TRIAL_PENDING)
            cJSON_AddNumberToObject(o, "told_order", (double)t->told_order);
        cJSON_AddItemToArray(trials, o);
    }
    cJSON *algo = cJSON_AddObjectToObject(j, "algo_state");
    if (algo && e->algo->save) {
        tg_status st = e->algo->save(e, algo, err);
        if (st != TG_OK) {
            cJSON_Delete(j);
            return NULL;
        }
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) tg_error_set(err, TG_ERR_NOMEM, "out of memory writing the explorer state");
    return s;
}

/* ---- load ---- */

#define BAD(...) tg_error_set(err, TG_ERR_FORMAT, "explorer state: " __VA_ARGS__)

/* An integer-valued number in [lo, hi] at obj.key. */
static tg_status get_int(const cJSON *obj, const char *key, const char *path, double lo,
                         double hi, int64_t *out, tg_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v)) return BAD("%s%s: missing or not a number", path, key);
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi) || d != floor(d))
        return BAD("%s%s: %g is not an integer in [%.0f, %.0f]", path, key, d, lo, hi);
    *out = (int64_t)d;
    return TG_OK;
}

static tg_status parse_u64(const char *text, int base, uint64_t *out) {
    if (!text || !*text || strlen(text) > (base == 16 ? 16u : 20u)) return TG_ERR_FORMAT;
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        int dgt;
        if (*p >= '0' && *p <= '9') dgt = *p - '0';
        else if (base == 16 && *p >= 'a' && *p <= 'f') dgt = *p - 'a' + 10;
        else return TG_ERR_FORMAT;
        if (v > (UINT64_MAX - (uint64_t)dgt) / (uint64_t)base) return TG_ERR_FORMAT;
        v = v * (uint64_t)base + (uint64_t)dgt;
    }
    *out = v;
    return TG_OK;
}

static tg_status load_config(const cJSON *j, tg_explorer_config *c, tg_error *err) {
    if (!cJSON_IsObject(j)) return BAD("config: missing or not an object");
    memset(c, 0, sizeof *c);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "algo");
    if (!cJSON_IsString(a) || strlen(a->valuestring) >= sizeof c->algo)
        return BAD("config.algo: missing or not a short string");
    snprintf(c->algo, sizeof c->algo, "%s", a->valuestring);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (!cJSON_IsString(s) || parse_u64(s->valuestring, 10, &c->seed) != TG_OK)
        return BAD("config.seed: missing or not a decimal string of a 64-bit integer");
    int64_t v = 0;
    tg_status st;
#define INT(f)                                                                                     \
    if ((st = get_int(j, #f, "config.", 1, 1e9, &v, err)) != TG_OK) return st;                    \
    c->f = (int)v
    INT(tpe_startup);
    INT(tpe_candidates);
    INT(tpe_forget);
    INT(rl_batch);
    INT(rl_hidden);
    INT(evo_population);
    INT(evo_sample);
#undef INT
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(j, "rl_lr");
    const cJSON *bd = cJSON_GetObjectItemCaseSensitive(j, "rl_baseline_decay");
    if (!cJSON_IsNumber(lr)) return BAD("config.rl_lr: missing or not a number");
    if (!cJSON_IsNumber(bd)) return BAD("config.rl_baseline_decay: missing or not a number");
    c->rl_lr = lr->valuedouble;
    c->rl_baseline_decay = bd->valuedouble;
    /* a saved configuration is resolved (no zeros); a zero would be read as
     * "the default", so refuse it rather than change it */
    if (c->rl_lr == 0 || c->rl_baseline_decay == 0)
        return BAD("config: rl_lr and rl_baseline_decay must not be 0");
    return TG_OK;
}

/* One trial at trials[i]; seen[] marks the told orders already met. */
static tg_status load_trial(tg_explorer *e, const cJSON *o, int64_t i, int64_t ntold,
                            unsigned char *seen, tg_error *err) {
    if (!cJSON_IsObject(o)) return BAD("trials[%" PRId64 "]: not an object", i);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "x");
    if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != e->ndims)
        return BAD("trials[%" PRId64 "].x: not an array of %d choices (the space's dimensions)", i,
                   e->ndims);
    tg_status st = grow(e, err);
    if (st != TG_OK) return st;
    tg_trial *t = &e->trials[e->n];
    e->n++;   /* owned by e from here, freed with it on failure */
    int d = 0;
    for (const cJSON *c = x->child; c; c = c->next, d++) {
        const tg_dim *dim = tg_space_dim(e->space, d);
        if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble) ||
            c->valuedouble < -1 || c->valuedouble >= dim->nchoices)
            return BAD("trials[%" PRId64 "].x[%d] (%s): not -1 or a choice in [0, %d)", i, d,
                       dim->name, dim->nchoices);
        t->x[d] = (int)c->valuedouble;
    }
    for (d = 0; d < e->ndims; d++)
        if ((t->x[d] >= 0) != (tg_space_active(e->space, t->x, d) != 0))
            return BAD("trials[%" PRId64 "].x[%d] (%s): %s", i, d, tg_space_dim(e->space, d)->name,
                       t->x[d] >= 0 ? "a choice in an inactive dimension"
                                    : "no choice in an active dimension");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "state");
    const char *sv = cJSON_IsString(s) ? s->valuestring : "";
    if (!strcmp(sv, "pending")) {
        t->state = TG_TRIAL_PENDING;
        return TG_OK;
    }
    if (!strcmp(sv, "ok")) t->state = TG_TRIAL_OK;
    else if (!strcmp(sv, "failed")) t->state = TG_TRIAL_FAILED;
    else return BAD("trials[%" PRId64 "].state: expected pending, ok or failed", i);
    char path[48];
    snprintf(path, sizeof path, "trials[%" PRId64 "].", i);
    int64_t order = 0;
    if (ntold == 0) return BAD("trials[%" PRId64 "]: told, but the state says none was told", i);
    if ((st = get_int(o, "told_order", path, 0, (double)(ntold - 1), &order, err)) != TG_OK)
        return st;
    if (seen[order]) return BAD("trials[%" PRId64 "].told_order: %" PRId64 " twice", i, order);
    seen[order] = 1;
    t->told_order = order;
    if (t->state == TG_TRIAL_OK) {
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "score");
        if (!cJSON_IsNumber(sc) || !isfinite(sc->valuedouble))
            return BAD("trials[%" PRId64 "].score: missing or not a finite number", i);
        t->score = sc->valuedouble;
    }
    return TG_OK;
}

static tg_status load_body(tg_explorer *e, const cJSON *j, tg_error *err) {
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng");
    if (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4)
        return BAD("rng: not an array of 4 hex strings");
    int k = 0;
    for (const cJSON *c = rng->child; c; c = c->next, k++)
        if (!cJSON_IsString(c) || strlen(c->valuestring) != 16 ||
            parse_u64(c->valuestring, 16, &e->rng.s[k]) != TG_OK)
            return BAD("rng[%d]: not 16 lower-case hex digits", k);
    if (!(e->rng.s[0] | e->rng.s[1] | e->rng.s[2] | e->rng.s[3]))
        return BAD("rng: all zero (not a xoshiro state)");
    const cJSON *trials = cJSON_GetObjectItemCaseSensitive(j, "trials");
    if (!cJSON_IsArray(trials)) return BAD("trials: missing or not an array");
    int64_t n = cJSON_GetArraySize(trials), ntold = 0;
    tg_status st = get_int(j, "told", "", 0, (double)n, &ntold, err);
    if (st != TG_OK) return st;
    unsigned char *seen = calloc((size_t)ntold + 1, 1);
    if (!seen) return tg_error_set(err, TG_ERR_NOMEM, "out of memory loading the explorer");
    int64_t i = 0;
    for (const cJSON *o = trials->child; o && st == TG_OK; o = o->next, i++)
        st = load_trial(e, o, i, ntold, seen, err);
    for (int64_t q = 0; st == TG_OK && q < ntold; q++)
        if (!seen[q]) st = BAD("told: %" PRId64 " results, but no trial has told_order %" PRId64,
                               ntold, q);
    free(seen);
    if (st != TG_OK) return st;
    e->ntold = ntold;
    const cJSON *algo = cJSON_GetObjectItemCaseSensitive(j, "algo_state");
    if (!cJSON_IsObject(algo)) return BAD("algo_state: missing or not an object");
    if (e->algo->load) return e->algo->load(e, algo, err);
    return TG_OK;
}

tg_explorer *tg_explorer_load(const tg_space *s, const char *state, tg_error *err) {
    if (!s || !state) {
        tg_error_set(err, TG_ERR_ARG, "tg_explorer_load: no space or no state");
        return NULL;
    }
    cJSON *j = cJSON_Parse(state);
    if (!j) {
        BAD("not JSON (near byte %ld)",
            cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - state) : -1L);
        return NULL;
    }
    tg_explorer *e = NULL;
    tg_explorer_config cfg;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "space");
    if (!cJSON_IsObject(j) || !cJSON_IsString(f) || strcmp(f->valuestring, STATE_FORMAT)) {
        BAD("format: not a tgsage explorer state");
    } else if (!cJSON_IsNumber(v) || v->valuedouble != STATE_VERSION) {
        BAD("version: expected %d", STATE_VERSION);
    } else if (!cJSON_IsString(sp)) {
        BAD("space: missing or not a string");
    } else if (strcmp(sp->valuestring, tg_space_spec(s))) {
        tg_error_set(err, TG_ERR_ARG, "explorer state is of space '%.200s', not '%.200s'",
                     sp->valuestring, tg_space_spec(s));
    } else if (load_config(cJSON_GetObjectItemCaseSensitive(j, "config"), &cfg, err) == TG_OK &&
               (e = tg_explorer_new(s, &cfg, err)) != NULL &&
               load_body(e, j, err) != TG_OK) {
        tg_explorer_free(e);
        e = NULL;
    }
    cJSON_Delete(j);
    return e;
}
