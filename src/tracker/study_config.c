/* study_config.c - what a study is, as JSON: defaults, range checks, the
 * exact text stored in studies.config and back, and the comparison made
 * when a search resumes.
 *
 * One table of fields drives all of it, in key order, so the JSON's keys
 * come out sorted and the first difference named is the first key. Doubles
 * are written with the fewest of 15, 16, 17 digits that read back bit for
 * bit; the seed (a uint64) is a decimal string, since a JSON number is a
 * double; other integers are exact JSON integers (at most 2^53 in size).
 * Parsing requires every known key and ignores unknown ones, so a study
 * written by a later tgsage with more fields still opens here. Two keys
 * are optional, written only when they say something, so a study that
 * uses neither has the schema-1 text: "at" (a pool's premature points, an
 * array of doubles; absent means none) and "split_seed" (absent means the
 * seed, as every study held out before the key existed). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/tracker.h"

typedef enum { F_STR, F_DBL, F_INT, F_I64, F_U64, F_ATS } ftype;   /* F_ATS: at + nat */

/* The optional keys: omitted when the value is implied, and implied when
 * absent. */
typedef enum { REQUIRED, OPT_AT, OPT_SPLIT } optional;

typedef struct {
    const char *key;
    ftype type;
    size_t off, size;        /* size: of a char array */
    int resume;              /* must match when a search resumes */
    optional opt;
} field;

#define FLD_OPT(k, t, r, o)                                                                   \
    {#k, t, offsetof(tg_study_config, k), sizeof(((tg_study_config *)0)->k), r, o}
#define FLD(k, t, r) FLD_OPT(k, t, r, REQUIRED)

static const field FIELDS[] = {   /* sorted by key */
    FLD(algo, F_STR, 1),
    FLD(alpha, F_DBL, 1),
    FLD_OPT(at, F_ATS, 1, OPT_AT),
    FLD(batch, F_INT, 1),
    FLD(data, F_STR, 1),
    FLD(epochs, F_DBL, 1),
    FLD(fingerprint, F_STR, 1),
    FLD(lease_s, F_DBL, 1),
    FLD(max_attempts, F_INT, 1),
    FLD(nval, F_I64, 1),
    FLD(parallel, F_INT, 0),
    FLD(score, F_STR, 1),
    FLD(seed, F_U64, 1),
    FLD(space, F_STR, 1),
    FLD_OPT(split_seed, F_U64, 1, OPT_SPLIT),   /* after seed, its default */
    FLD(train_limit, F_I64, 1),
    FLD(trials, F_I64, 0),
};
#define NFIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

#define MAX_EXACT_INT 9007199254740992.0   /* 2^53 */

void tg_study_config_defaults(tg_study_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->algo, sizeof c->algo, "tpe");
    snprintf(c->score, sizeof c->score, "p+tg");
    c->alpha = 1.0;
    c->epochs = 1.0;
    c->batch = 128;
    c->parallel = 1;
    c->max_attempts = 3;
    c->lease_s = 60.0;
}

static int one_of(const char *s, const char *const *set) {
    for (; *set; set++)
        if (!strcmp(s, *set)) return 1;
    return 0;
}

static int terminated(const char *s, size_t n) { return memchr(s, '\0', n) != NULL; }

/* A pool's premature points: strictly ascending inside (0, epochs), since
 * each is a checkpoint of the one training run that ends at epochs (which
 * is the mature point, always recorded). nat 0 is a pool of mature points
 * only. */
static tg_status check_at(const tg_study_config *c, tg_error *err) {
    if (c->nat < 0 || c->nat > TG_STUDY_MAX_AT)
        return tg_error_set(err, TG_ERR_ARG, "at: %d premature points, want 0 to %d", c->nat,
                            TG_STUDY_MAX_AT);
    if (c->nat > 0 && strcmp(c->algo, "pool") != 0)
        return tg_error_set(err, TG_ERR_ARG, "at: only a pool has premature points (algo is "
                            "%s)", c->algo);
    for (int i = 0; i < c->nat; i++) {
        double a = c->at[i];
        if (!isfinite(a) || a <= 0 || a >= c->epochs)
            return tg_error_set(err, TG_ERR_ARG, "at: %g (point %d) is not inside (0, epochs "
                                "%g): the mature point is epochs itself", a, i + 1, c->epochs);
        if (i > 0 && !(a > c->at[i - 1]))
            return tg_error_set(err, TG_ERR_ARG, "at: %g follows %g, want strictly ascending "
                                "points", a, c->at[i - 1]);
    }
    return TG_OK;
}

tg_status tg_study_config_check(const tg_study_config *c, tg_error *err) {
    static const char *const algos[] = {"random", "tpe", "rl", "evolution", "rerank", "pool",
                                        NULL};
    static const char *const scores[] = {"p", "p+tg", "objective", NULL};
    if (!terminated(c->space, sizeof c->space) || !terminated(c->algo, sizeof c->algo) ||
        !terminated(c->score, sizeof c->score) || !terminated(c->data, sizeof c->data) ||
        !terminated(c->fingerprint, sizeof c->fingerprint))
        return tg_error_set(err, TG_ERR_ARG, "study config: a text field is not terminated");
    if (!c->space[0]) return tg_error_set(err, TG_ERR_ARG, "space: not set (e.g. layerwise:10)");
    if (!one_of(c->algo, algos))
        return tg_error_set(err, TG_ERR_ARG, "algo: '%s' is none of random, tpe, rl, evolution, "
                            "rerank, pool", c->algo);
    if (!one_of(c->score, scores))
        return tg_error_set(err, TG_ERR_ARG, "score: '%s' is none of p, p+tg, objective",
                            c->score);
    int objective = !strcmp(c->score, "objective");
    if (!isfinite(c->alpha))
        return tg_error_set(err, TG_ERR_ARG, "alpha: %g is not a finite number", c->alpha);
    if (!isfinite(c->epochs) || c->epochs < 0 || (!objective && c->epochs == 0))
        return tg_error_set(err, TG_ERR_ARG, "epochs: %g, want a positive number", c->epochs);
    if (c->batch < 1) return tg_error_set(err, TG_ERR_ARG, "batch: %d, want >= 1", c->batch);
    if (c->trials < 1 || (double)c->trials > MAX_EXACT_INT)
        return tg_error_set(err, TG_ERR_ARG, "trials: %" PRId64 ", want >= 1", c->trials);
    if (c->parallel < 1)
        return tg_error_set(err, TG_ERR_ARG, "parallel: %d, want >= 1", c->parallel);
    if (!objective && !c->data[0])
        return tg_error_set(err, TG_ERR_ARG, "data: not set (a data spec, e.g. fashion-mnist)");
    size_t nf = strlen(c->fingerprint);
    if (nf != 0 && (nf != 32 || strspn(c->fingerprint, "0123456789abcdef") != 32))
        return tg_error_set(err, TG_ERR_ARG, "fingerprint: '%s' is not 32 lowercase hex digits",
                            c->fingerprint);
    if (c->nval < 0 || (double)c->nval > MAX_EXACT_INT)
        return tg_error_set(err, TG_ERR_ARG, "nval: %" PRId64 ", want >= 0", c->nval);
    if (c->train_limit < 0 || (double)c->train_limit > MAX_EXACT_INT)
        return tg_error_set(err, TG_ERR_ARG, "train_limit: %" PRId64 ", want >= 0 (0: all)",
                            c->train_limit);
    if (c->max_attempts < 1)
        return tg_error_set(err, TG_ERR_ARG, "max_attempts: %d, want >= 1", c->max_attempts);
    if (!isfinite(c->lease_s) || c->lease_s <= 0)
        return tg_error_set(err, TG_ERR_ARG, "lease_s: %g, want a positive number of seconds",
                            c->lease_s);
    return check_at(c, err);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as d. */
static void exact_double(double d, char *buf, size_t n) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        double back = strtod(buf, NULL);
        if (memcmp(&back, &d, sizeof d) == 0) return;
    }
}

/* "[0.1,0.25]" ("[]" when none), each point exact: the JSON array and the
 * diff message's form. */
static void at_text(const tg_study_config *c, char *buf, size_t n) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < c->nat && i < TG_STUDY_MAX_AT && len < n; i++) {
        char num[32];
        exact_double(c->at[i], num, sizeof num);
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "," : "", num);
    }
    if (len < n) snprintf(buf + len, n - len, "]");
}

/* A field's value as text: numbers for the JSON, and any field for the
 * messages of tg_study_config_diff (an empty string shows as ""). */
static void field_text(const field *f, const tg_study_config *c, char *buf, size_t n) {
    const char *base = (const char *)c + f->off;
    switch (f->type) {
    case F_STR: snprintf(buf, n, "%s", base[0] ? base : "\"\""); break;
    case F_DBL: exact_double(*(const double *)(const void *)base, buf, n); break;
    case F_INT: snprintf(buf, n, "%d", *(const int *)(const void *)base); break;
    case F_I64: snprintf(buf, n, "%" PRId64, *(const int64_t *)(const void *)base); break;
    case F_U64: snprintf(buf, n, "%" PRIu64, *(const uint64_t *)(const void *)base); break;
    case F_ATS: at_text(c, buf, n); break;
    }
}

char *tg_study_config_json(const tg_study_config *c, tg_error *err) {
    cJSON *j = cJSON_CreateObject();
    int ok = j != NULL;
    for (int i = 0; ok && i < NFIELDS; i++) {
        const field *f = &FIELDS[i];
        const char *base = (const char *)c + f->off;
        char num[64];
        cJSON *v;
        int implied = (f->opt == OPT_AT && c->nat <= 0) ||
                      (f->opt == OPT_SPLIT && c->split_seed == c->seed);
        if (implied) continue;
        if (f->type == F_ATS) {
            char arr[TG_STUDY_MAX_AT * 26 + 4];
            at_text(c, arr, sizeof arr);
            v = cJSON_CreateRaw(arr);
        } else if (f->type == F_STR) {
            v = cJSON_CreateString(base);
        } else {
            field_text(f, c, num, sizeof num);
            v = f->type == F_U64 ? cJSON_CreateString(num) : cJSON_CreateRaw(num);
        }
        ok = v && cJSON_AddItemToObject(j, f->key, v);
        if (v && !ok) cJSON_Delete(v);
    }
    char *s = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s) tg_error_set(err, TG_ERR_NOMEM, "out of memory writing a study config");
    return s;
}

static tg_status parse_at(const cJSON *v, tg_study_config *c, tg_error *err) {
    if (!cJSON_IsArray(v))
        return tg_error_set(err, TG_ERR_FORMAT, "study config: at is not an array");
    int n = cJSON_GetArraySize(v);
    if (n > TG_STUDY_MAX_AT)
        return tg_error_set(err, TG_ERR_FORMAT, "study config: at has %d points, at most %d",
                            n, TG_STUDY_MAX_AT);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e))
            return tg_error_set(err, TG_ERR_FORMAT, "study config: at[%d] is not a number", i);
        c->at[i] = e->valuedouble;
    }
    c->nat = n;
    return TG_OK;
}

static tg_status parse_field(const field *f, const cJSON *v, tg_study_config *c, tg_error *err) {
    char *base = (char *)c + f->off;
    if (f->type == F_ATS) return parse_at(v, c, err);
    if (f->type == F_STR || f->type == F_U64) {
        if (!cJSON_IsString(v))
            return tg_error_set(err, TG_ERR_FORMAT, "study config: %s is not a string", f->key);
        const char *s = v->valuestring;
        if (f->type == F_STR) {
            if (strlen(s) >= f->size)
                return tg_error_set(err, TG_ERR_FORMAT, "study config: %s is longer than %zu "
                                    "characters", f->key, f->size - 1);
            memcpy(base, s, strlen(s) + 1);
            return TG_OK;
        }
        char *end;
        if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
            return tg_error_set(err, TG_ERR_FORMAT, "study config: %s '%s' is not an unsigned "
                                "integer", f->key, s);
        unsigned long long x = strtoull(s, &end, 10);
        *(uint64_t *)(void *)base = (uint64_t)x;
        return TG_OK;
    }
    if (!cJSON_IsNumber(v))
        return tg_error_set(err, TG_ERR_FORMAT, "study config: %s is not a number", f->key);
    double d = v->valuedouble;
    if (f->type == F_DBL) {
        *(double *)(void *)base = d;
        return TG_OK;
    }
    double lim = f->type == F_INT ? 2147483647.0 : MAX_EXACT_INT;
    if (d != floor(d) || fabs(d) > lim)
        return tg_error_set(err, TG_ERR_FORMAT, "study config: %s %.17g is not an integer in "
                            "range", f->key, d);
    if (f->type == F_INT)
        *(int *)(void *)base = (int)d;
    else
        *(int64_t *)(void *)base = (int64_t)d;
    return TG_OK;
}

tg_status tg_study_config_parse(const char *json, tg_study_config *c, tg_error *err) {
    tg_study_config_defaults(c);
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return tg_error_set(err, TG_ERR_FORMAT, "study config is not a JSON object");
    }
    tg_status st = TG_OK;
    for (int i = 0; st == TG_OK && i < NFIELDS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, FIELDS[i].key);
        if (!v && FIELDS[i].opt == OPT_AT)
            c->nat = 0;
        else if (!v && FIELDS[i].opt == OPT_SPLIT)
            c->split_seed = c->seed;   /* seed is parsed: keys are in order */
        else if (!v)
            st = tg_error_set(err, TG_ERR_FORMAT, "study config: no %s", FIELDS[i].key);
        else
            st = parse_field(&FIELDS[i], v, c, err);
    }
    cJSON_Delete(j);
    return st;
}

static int field_equal(const field *f, const tg_study_config *a, const tg_study_config *b) {
    const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
    switch (f->type) {
    case F_STR: return strncmp(pa, pb, f->size) == 0;
    case F_DBL: {
        double x = *(const double *)(const void *)pa, y = *(const double *)(const void *)pb;
        return x == y || (isnan(x) && isnan(y));
    }
    case F_ATS:
        if (a->nat != b->nat) return 0;
        for (int i = 0; i < a->nat && i < TG_STUDY_MAX_AT; i++)
            if (a->at[i] != b->at[i]) return 0;
        return 1;
    default: return memcmp(pa, pb, f->size) == 0;
    }
}

int tg_study_config_diff(const tg_study_config *stored, const tg_study_config *given,
                         char *msg, size_t n) {
    if (msg && n) msg[0] = '\0';
    for (int i = 0; i < NFIELDS; i++) {
        const field *f = &FIELDS[i];
        if (!f->resume || field_equal(f, stored, given)) continue;
        if (msg && n) {
            char a[600], b[600];
            field_text(f, stored, a, sizeof a);
            field_text(f, given, b, sizeof b);
            snprintf(msg, n, "%s: the study has %s, this run asks for %s", f->key, a, b);
        }
        return 1;
    }
    return 0;
}
