/* trial_cmd.c - a trial worked on by a command of the worker's own command
 * line (worker.h says what each is given and must give back):
 *   objective_cmd  the genome on stdin, a number on the last line of stdout;
 *   trainer_cmd    the genome file, epochs and an output directory; it
 *                  writes result.json and features/<layer>.npy on the
 *                  teacher's images, whose RDMs and TG are computed here
 *                  exactly as for a candidate trained here (each layer's
 *                  subsample seeded by the teacher's seed and the layer's
 *                  position among the files sorted by name).
 * What the command does wrong is the candidate's failed trial, with the
 * reason: a non-zero exit or timeout (with the tail of its stderr), a
 * missing or malformed result, features of the wrong size. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "run_cmd.h"
#include "tgsage/evaluator.h"
#include "tgsage/fileio.h"
#include "tgsage/npy.h"
#include "tgsage/rng.h"
#include "tgsage/rsa.h"
#include "worker_internal.h"

#define RESULT_MAX_BYTES ((size_t)1 << 20)
#define MAX_FEATURE_FILES 256

static int tick(void *user) { return tg_wk_tick(user); }

/* The shortest of 15-17 significant digits that reads back exactly. */
static void exact_str(double d, char *buf, size_t n) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) return;
    }
}

/* The command's outcome as a failure of the trial, if it failed. */
static int failed(const tg_wk *w, const tg_cmd_result *r, const char *what, tg_wk_outcome *o) {
    if (r->exited && r->code == 0) return 0;
    char why[TG_CMD_ERR_MAX + 128];
    tg_cmd_describe(r, w->c->cmd_timeout_s, why, sizeof why);
    tg_wk_fail(o, "%s %s", what, why);
    return 1;
}

/* scancel and a terminal's Ctrl-C signal every process of the job or group
 * at once, so a stop that arrived while the command ran may have cut the
 * command short, and a script can print a score all the same (its sleep
 * killed, the rest run): its result is not trusted, and the trial is given
 * back. A command killed by a signal may be the first sign of such a stop,
 * the command dying before the worker's SIGTERM is handled: then wait up
 * to a second for that stop, so the trial is given back rather than
 * failed. */
static void settle(tg_wk *w, const tg_cmd_result *r) {
    if (w->lost || w->stopped || !w->c->stop) return;
    if (*w->c->stop) {
        w->stopped = 1;
        return;
    }
    if (!(r->signaled || (r->exited && r->code > 128))) return;
    for (int i = 0; i < 50 && !*w->c->stop; i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (*w->c->stop) w->stopped = 1;
}

/* ---- objective_cmd ---------------------------------------------------------- */

/* The last non-empty line of out, trimmed, into line. */
static void last_line(const char *out, size_t n, char *line, size_t cap) {
    size_t e = n;
    while (e > 0 && strchr(" \t\r\n", out[e - 1])) e--;
    size_t b = e;
    while (b > 0 && out[b - 1] != '\n') b--;
    while (b < e && strchr(" \t\r", out[b])) b++;
    snprintf(line, cap, "%.*s", (int)(e - b), out + b);
}

tg_status tg_wk_objective(tg_wk *w, tg_wk_outcome *o, tg_error *err) {
    char trial[64], seed[64];
    snprintf(trial, sizeof trial, "TG_TRIAL=%lld", (long long)w->claim->number);
    snprintf(seed, sizeof seed, "TG_SEED=%llu", (unsigned long long)w->seed);
    const char *env[] = {trial, seed};
    tg_cmd_spec s = {.script = w->c->objective_cmd, .env = env, .nenv = 2,
                     .input = w->claim->genome, .ninput = strlen(w->claim->genome),
                     .timeout_s = w->c->cmd_timeout_s, .tick = tick, .user = w};
    tg_cmd_result *r = malloc(sizeof *r);
    if (!r) return tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
    tg_status st = tg_cmd_run(&s, r, err);
    if (st == TG_OK) settle(w, r);
    if (st == TG_OK && !w->lost && !w->stopped) {
        o->r.train_s = r->seconds;
        o->r.examples = 0;
        if (!failed(w, r, "objective command", o)) {
            char line[256], *end = NULL;
            last_line(r->out, r->nout, line, sizeof line);
            errno = 0;
            double v = line[0] ? strtod(line, &end) : NAN;
            if (!line[0]) tg_wk_fail(o, "objective printed nothing on stdout, not a number");
            else if (*end || errno == ERANGE || !isfinite(v))
                tg_wk_fail(o, "objective printed '%s', not a number", line);
            else o->r.score = v;
        }
    }
    free(r);
    return st;
}

/* ---- trainer_cmd ------------------------------------------------------------ */

tg_status tg_wk_write_images(tg_wk *w, tg_error *err) {
    const tg_dataset *v = &w->val;
    const int64_t n = w->teacher.n;
    const size_t per = (size_t)v->c * v->h * v->w;
    float *x = malloc(sizeof(float) * per * (size_t)(n > 0 ? n : 1));
    if (!x) return tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory for %lld images",
                                (long long)n);
    /* as tgsage feeds them to a network: standardised per image */
    tg_dataset_images(v, w->teacher.images, 0, (int)n, x);
    snprintf(w->images, sizeof w->images, "%s/images.npy", w->dir);
    const int64_t shape[4] = {n, v->c, v->h, v->w};
    tg_status st = tg_npy_write(w->images, TG_NPY_F32, 4, shape, x, err);
    free(x);
    return st;
}

/* A number of the result object, or a failure naming the key. */
static int result_number(cJSON *j, const char *key, double *v, tg_wk_outcome *o) {
    cJSON *it = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!it) {
        tg_wk_fail(o, "trainer command: result.json has no \"%s\"", key);
        return 0;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
        char *text = cJSON_PrintUnformatted(it);
        tg_wk_fail(o, "trainer command: result.json's \"%s\" is %.200s, not a finite number",
                   key, text ? text : "?");
        free(text);
        return 0;
    }
    *v = it->valuedouble;
    return 1;
}

static void read_result(const char *out, tg_wk_outcome *o) {
    char path[1100];
    snprintf(path, sizeof path, "%s/result.json", out);
    unsigned char *text = NULL;
    size_t n = 0;
    tg_error e;
    if (tg_file_read(path, RESULT_MAX_BYTES, &text, &n, &e) != TG_OK) {
        tg_wk_fail(o, "trainer command wrote no usable OUT/result.json: %s", e.msg);
        return;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)text, n);
    free(text);
    double p, loss, ex;
    if (!cJSON_IsObject(j)) tg_wk_fail(o, "trainer command: result.json is not a JSON object");
    else if (result_number(j, "p", &p, o) && result_number(j, "val_loss", &loss, o) &&
             result_number(j, "examples", &ex, o)) {
        if (p < 0 || p > 1)
            tg_wk_fail(o, "trainer command: result.json's \"p\" is %g, not an accuracy in "
                       "[0, 1]", p);
        else if (ex < 0 || ex != floor(ex) || ex > 9e15)
            tg_wk_fail(o, "trainer command: result.json's \"examples\" is %g, not a count", ex);
        else
            o->r.p = p, o->r.val_loss = loss, o->r.examples = (int64_t)ex;
    }
    cJSON_Delete(j);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The layers' .npy files of dir, sorted (names malloc'd; *n of them). */
static char **list_features(const char *dir, int *n, tg_wk_outcome *o) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        tg_wk_fail(o, "trainer command wrote no OUT/features/ directory (%s)", strerror(errno));
        return NULL;
    }
    char **names = calloc(MAX_FEATURE_FILES, sizeof(char *));
    struct dirent *de;
    while (names && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l <= 4 || strcmp(de->d_name + l - 4, ".npy") != 0) continue;
        if (*n == MAX_FEATURE_FILES || l - 4 >= 64) {
            tg_wk_fail(o, *n == MAX_FEATURE_FILES ? "trainer command wrote more than %d layers "
                       "of features" : "trainer command: feature file name too long (%d+ "
                       "bytes)", MAX_FEATURE_FILES);
            break;
        }
        if (!(names[*n] = strdup(de->d_name))) break;
        (*n)++;
    }
    closedir(d);
    if (!names || o->error[0] || (de && !names[*n])) {
        for (int i = 0; names && i < *n; i++) free(names[i]);
        free(names);
        if (!o->error[0]) tg_wk_fail(o, "worker: out of memory listing features");
        return NULL;
    }
    if (*n == 0) {
        free(names);
        tg_wk_fail(o, "trainer command wrote no OUT/features/<layer>.npy");
        return NULL;
    }
    qsort(names, (size_t)*n, sizeof(char *), by_name);
    return names;
}

/* The RDM of one feature file over the teacher's images, or a failure. */
static double *layer_rdm(const tg_wk *w, const char *dir, const char *name, int pos,
                         int64_t *m, tg_wk_outcome *o) {
    const tg_teacher *t = &w->teacher;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tg_npy a;
    tg_error e;
    if (tg_npy_read(path, &a, &e) != TG_OK) {
        tg_wk_fail(o, "trainer command: features/%s: %s", name, e.msg);
        return NULL;
    }
    double *rdm = NULL;
    float *F = NULL;
    if (a.ndim < 1 || a.shape[0] != t->n || a.count == 0)
        tg_wk_fail(o, "trainer command: features/%s has %lld rows; the teacher's images are "
                   "%lld", name, (long long)(a.ndim ? a.shape[0] : 0), (long long)t->n);
    else if (tg_npy_to_f32(&a, &F, &e) != TG_OK)
        tg_wk_fail(o, "trainer command: features/%s: %s", name, e.msg);
    else {
        const int64_t f = (int64_t)a.count / t->n;
        /* the subsample of the layer at this position, as the evaluator's */
        uint64_t seed = tg_rng_derive(tg_rng_derive(t->seed, TG_STREAM_OBSERVE), (uint64_t)pos);
        if (tg_rdm_compute(F, t->n, f, t->labels, t->unit, t->max_features, seed, &rdm, m,
                           &e) != TG_OK)
            tg_wk_fail(o, "trainer command: features/%s: %s", name, e.msg);
    }
    free(F);
    tg_npy_free(&a);
    return rdm;
}

static tg_status teacher_guidance(tg_wk *w, const char *out, tg_wk_outcome *o,
                                  tg_error *err) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/features", out);
    int ns = 0;
    char **names = list_features(dir, &ns, o);
    if (!names) return TG_OK;
    double **S = calloc((size_t)ns, sizeof(double *));
    tg_status st = S ? TG_OK : tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
    int64_t m = 0;
    for (int i = 0; st == TG_OK && i < ns && !o->error[0]; i++) {
        S[i] = layer_rdm(w, dir, names[i], i, &m, o);
        names[i][strlen(names[i]) - 4] = '\0';  /* the layer's name */
    }
    if (st == TG_OK && !o->error[0]) {
        tg_eval_record rec = {0};
        tg_error e;
        if (tg_eval_rdms(&w->teacher, (const double *const *)S, (const char *const *)names, ns,
                         m, w->study.cfg.alpha, &rec, &e) != TG_OK) {
            tg_wk_fail(o, "trainer command's features: %s", e.msg);
        } else {
            o->r.tg = rec.tg;
            o->sim = tg_wk_sim_json((const char (*)[64])rec.teacher_layers, rec.nteacher,
                                    (const char (*)[64])rec.cand_layers, rec.ncand, rec.sim);
            o->rdms = tg_wk_rdms_json(&w->teacher, &rec, (const double *const *)S, m);
            if (!o->sim || !o->rdms) st = tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
        }
        tg_eval_record_free(&rec);
    }
    for (int i = 0; i < ns; i++) {
        if (S) free(S[i]);
        free(names[i]);
    }
    free(S);
    free(names);
    return st;
}

/* The trial's directory: genome.json and an empty out/. */
static tg_status stage(tg_wk *w, char *dir, size_t n, char *genome, char *out, tg_error *err) {
    tg_status st = tg_wk_trial_dir(w, dir, n, err);
    if (st != TG_OK) return st;
    snprintf(genome, 1024, "%s/genome.json", dir);
    snprintf(out, 1024, "%s/out", dir);
    FILE *f = fopen(genome, "w");
    int ok = f && fputs(w->claim->genome, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || mkdir(out, 0700) != 0)
        return tg_error_set(err, TG_ERR_IO, "worker: cannot prepare %s: %s", dir,
                            strerror(errno));
    return TG_OK;
}

tg_status tg_wk_trainer_cmd(tg_wk *w, tg_wk_outcome *o, tg_error *err) {
    const tg_study_config *cfg = &w->study.cfg;
    char dir[896], genome[1024], out[1024], epochs[40];
    tg_status st = stage(w, dir, sizeof dir, genome, out, err);
    if (st != TG_OK) {
        tg_wk_rmtree(dir);
        return st;
    }
    exact_str(cfg->epochs, epochs, sizeof epochs);
    char e_genome[1300], e_epochs[64], e_out[1300], e_trial[64], e_seed[64], e_images[1200];
    snprintf(e_genome, sizeof e_genome, "TG_GENOME=%s", genome);
    snprintf(e_epochs, sizeof e_epochs, "TG_EPOCHS=%s", epochs);
    snprintf(e_out, sizeof e_out, "TG_OUT=%s", out);
    snprintf(e_trial, sizeof e_trial, "TG_TRIAL=%lld", (long long)w->claim->number);
    snprintf(e_seed, sizeof e_seed, "TG_SEED=%llu", (unsigned long long)w->seed);
    snprintf(e_images, sizeof e_images, "TG_IMAGES=%s", w->images);
    const char *env[] = {e_genome, e_epochs, e_out, e_trial, e_seed, e_images};
    const char *args[] = {"sh", genome, epochs, out};
    size_t ls = strlen(w->c->trainer_cmd) + 8;
    char *script = malloc(ls);
    tg_cmd_result *r = malloc(sizeof *r);
    if (!script || !r) st = tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
    if (st == TG_OK) {
        snprintf(script, ls, "%s \"$@\"", w->c->trainer_cmd);
        tg_cmd_spec s = {.script = script, .args = args, .nargs = 4, .env = env, .nenv = 6,
                         .timeout_s = w->c->cmd_timeout_s, .tick = tick, .user = w};
        st = tg_cmd_run(&s, r, err);
        if (st == TG_OK) settle(w, r);
    }
    if (st == TG_OK && !w->lost && !w->stopped) {
        o->r.train_s = r->seconds;
        if (!failed(w, r, "trainer command", o)) read_result(out, o);
        if (o->r.ok && w->have_teacher && !tg_wk_tick(w))
            st = teacher_guidance(w, out, o, err);
        if (o->r.ok)
            o->r.score = strcmp(cfg->score, "p") == 0 || !w->have_teacher
                             ? o->r.p : o->r.p + cfg->alpha * o->r.tg;
    }
    free(script);
    free(r);
    tg_wk_rmtree(dir);
    return st;
}
