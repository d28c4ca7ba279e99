/* worker.c - tg_worker_run: prepare once, then claim, work, report.
 *
 * Everything that could make every trial fail is checked before the first
 * claim, so a misconfigured worker takes no trial from the others: the
 * study exists, the command given suits its score, the data's fingerprint
 * is the study's, the teacher loads and indexes this validation split (a
 * pool study's every teacher).
 *
 * A candidate's own failure (an invalid or oversized genome, a diverging
 * run, a failing command) is a failed trial with the reason. An error of
 * the worker (the database past its retry deadline, its scratch directory)
 * ends tg_worker_run with that error; the trial in hand is then given back
 * by its lease. A stop gives the trial back at once (tg_trial_release). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tgsage/trainer.h"
#include "worker_internal.h"

static int stop_set(const tg_worker_config *c) { return c->stop && *c->stop; }

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Sleep s seconds, waking early on a stop. */
static void nap(const tg_worker_config *c, double s) {
    const double end = mono_s() + s;
    while (!stop_set(c)) {
        double left = end - mono_s();
        if (left <= 0) break;
        if (left > 0.02) left = 0.02;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---- preparing ------------------------------------------------------------- */

static tg_status check_mode(const tg_worker_config *c, const tg_study *s, tg_error *err) {
    const int objective = strcmp(s->cfg.score, "objective") == 0;
    if (strcmp(s->cfg.algo, "pool") == 0 && (c->objective_cmd || c->trainer_cmd || objective))
        return tg_error_set(err, TG_ERR_ARG, "study %s is a pool: its trials are trained and "
                            "evaluated here, at every premature point (no objective or trainer "
                            "command)", s->name);
    if (c->objective_cmd && c->trainer_cmd)
        return tg_error_set(err, TG_ERR_ARG, "worker: give an objective command or a trainer "
                            "command, not both");
    if (objective && !c->objective_cmd)
        return tg_error_set(err, TG_ERR_ARG, "study %s is scored by an objective command: "
                            "give the worker one (--objective-cmd)", s->name);
    if (!objective && c->objective_cmd)
        return tg_error_set(err, TG_ERR_ARG, "study %s scores %s by training; an objective "
                            "command is for studies created with one", s->name, s->cfg.score);
    if (!objective && strcmp(s->cfg.score, "p") && strcmp(s->cfg.score, "p+tg"))
        return tg_error_set(err, TG_ERR_ARG, "study %s: unknown score '%s' (expected p, p+tg "
                            "or objective)", s->name, s->cfg.score);
    if (!strcmp(s->cfg.score, "p+tg") && !s->has_teacher)
        return tg_error_set(err, TG_ERR_ARG, "study %s scores p+tg but holds no teacher",
                            s->name);
    if (!(s->cfg.lease_s > 0))
        return tg_error_set(err, TG_ERR_ARG, "study %s: lease of %g s", s->name,
                            s->cfg.lease_s);
    return TG_OK;
}

static tg_status make_scratch(tg_wk *w, tg_error *err) {
    const char *base = w->c->workdir ? w->c->workdir : getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    int len = snprintf(w->dir, sizeof w->dir, "%s/tgsage-worker-XXXXXX", base);
    if (len < 0 || (size_t)len >= sizeof w->dir - 64)
        return tg_error_set(err, TG_ERR_ARG, "worker: scratch directory path too long: %s",
                            base);
    if (!mkdtemp(w->dir)) {
        tg_status st = tg_error_set(err, TG_ERR_IO, "worker: cannot create a scratch directory "
                                    "in %s: %s", base, strerror(errno));
        w->dir[0] = '\0';
        return st;
    }
    return TG_OK;
}

/* The study's split of its data (or of c->data, a copy of it), checked by
 * fingerprint. */
static tg_status load_data(tg_wk *w, tg_error *err) {
    const tg_study_config *cfg = &w->study.cfg;
    const char *spec = w->c->data ? w->c->data : cfg->data;
    if (!spec[0])
        return tg_error_set(err, TG_ERR_ARG, "study %s names no data; give the worker one",
                            w->study.name);
    tg_status st = tg_split_load(spec, cfg->nval, cfg->split_seed, cfg->train_limit, 0, &w->train,
                                 &w->val, NULL, err);
    if (st != TG_OK) return st;
    w->have_data = 1;
    if (cfg->fingerprint[0] && strcmp(cfg->fingerprint, w->train.fingerprint) != 0)
        return tg_error_set(err, TG_ERR_ARG, "data %s has fingerprint %s, study %s was created "
                            "on %s (data spec %s, %lld held out by split seed %llu, train "
                            "limit %lld)", spec, w->train.fingerprint, w->study.name,
                            cfg->fingerprint, cfg->data, (long long)cfg->nval,
                            (unsigned long long)cfg->split_seed, (long long)cfg->train_limit);
    return TG_OK;
}

/* A teacher file's bytes loaded and checked against the validation split;
 * `what` names it in messages. */
static tg_status load_teacher_bytes(tg_wk *w, const void *buf, size_t n, const char *what,
                                    tg_teacher *out, tg_error *err) {
    char name[400];
    snprintf(name, sizeof name, "study %s's %s", w->study.name, what);
    tg_status st = tg_teacher_load_bytes(buf, n, name, out, err);
    if (st != TG_OK) return st;
    if (w->have_data && (st = tg_teacher_check_data(out, &w->val, err)) != TG_OK) {
        tg_error e = *err;
        tg_teacher_free(out);
        return tg_error_set(err, st, "study %s's %s does not fit its validation split: %s",
                            w->study.name, what, e.msg);
    }
    return TG_OK;
}

/* The study's teacher (position 0). */
static tg_status load_teacher(tg_wk *w, tg_error *err) {
    void *buf = NULL;
    size_t n = 0;
    tg_status st = tg_study_teacher(w->t, w->study.id, &buf, &n, err);
    if (st != TG_OK) return st;
    st = load_teacher_bytes(w, buf, n, "teacher", &w->teacher, err);
    free(buf);
    if (st == TG_OK) w->have_teacher = 1;
    return st;
}

/* A pool's every teacher, by position. */
static tg_status load_pool_teachers(tg_wk *w, tg_error *err) {
    tg_study_teacher_file *a = NULL;
    int n = 0;
    tg_status st = tg_study_teachers(w->t, w->study.id, &a, &n, err);
    if (st != TG_OK) return st;
    if (n == 0) {
        tg_study_teachers_free(a, n);
        return tg_error_set(err, TG_ERR_ARG, "pool study %s holds no teacher yet (tgsage pool "
                            "adds them before it queues the trials)", w->study.name);
    }
    w->teachers = calloc((size_t)n, sizeof *w->teachers);
    w->positions = calloc((size_t)n, sizeof *w->positions);
    if (!w->teachers || !w->positions)
        st = tg_error_set(err, TG_ERR_NOMEM, "worker: out of memory");
    for (int i = 0; st == TG_OK && i < n; i++) {
        char what[200];
        snprintf(what, sizeof what, "teacher %s (position %d)", a[i].name, a[i].position);
        st = load_teacher_bytes(w, a[i].data, a[i].n, what, &w->teachers[i], err);
        if (st == TG_OK) {
            w->positions[i] = a[i].position;
            w->nteachers++;
        }
    }
    tg_study_teachers_free(a, n);
    return st;
}

static tg_status prepare(tg_wk *w, tg_error *err) {
    const tg_worker_config *c = w->c;
    tg_status st = tg_study_get(w->t, c->study, &w->study, err);
    if (st != TG_OK) return st;
    if ((st = check_mode(c, &w->study, err)) != TG_OK) return st;
    if (!(w->space = tg_space_parse(w->study.cfg.space, err))) return err->status;
    if ((st = make_scratch(w, err)) != TG_OK) return st;
    if (c->objective_cmd) return TG_OK;
    if ((w->pool = strcmp(w->study.cfg.algo, "pool") == 0)) {
        if ((st = load_data(w, err)) != TG_OK) return st;
        return load_pool_teachers(w, err);
    }
    /* a trainer command trains elsewhere, but the fingerprint and the
     * teacher's images are this data's */
    if (!c->trainer_cmd || w->study.cfg.fingerprint[0] || w->study.has_teacher)
        if ((st = load_data(w, err)) != TG_OK) return st;
    if (w->study.has_teacher && (st = load_teacher(w, err)) != TG_OK) return st;
    if (c->trainer_cmd && w->have_teacher) st = tg_wk_write_images(w, err);
    return st;
}

static void release_all(tg_wk *w) {
    if (w->have_teacher) tg_teacher_free(&w->teacher);
    for (int i = 0; i < w->nteachers; i++) tg_teacher_free(&w->teachers[i]);
    free(w->teachers);
    free(w->positions);
    if (w->have_data) {
        tg_dataset_free(&w->train);
        tg_dataset_free(&w->val);
    }
    tg_space_free(w->space);
    if (w->dir[0]) tg_wk_rmtree(w->dir);
    tg_tracker_close(w->t);
}

/* ---- one trial ------------------------------------------------------------- */

static size_t memory_limit(const tg_worker_config *c) {
    if (c->max_train_bytes) return c->max_train_bytes;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
}

/* The genome as read from the database, validated like a user's file: a
 * bad one is the candidate's failure (o), not the worker's. */
static tg_genome *check_genome(tg_wk *w, tg_wk_outcome *o) {
    tg_error e;
    tg_genome *g = tg_genome_parse(w->claim->genome, w->space, &e);
    if (!g) {
        tg_wk_fail(o, "invalid genome: %s", e.msg);
        return NULL;
    }
    char hash[33];
    tg_genome_hash(g, hash);
    if (strcmp(hash, w->claim->hash) != 0) {
        tg_wk_fail(o, "the genome hashes to %s, the trial was recorded as %s", hash,
                   w->claim->hash);
        tg_genome_free(g);
        return NULL;
    }
    if (w->c->objective_cmd || w->c->trainer_cmd) return g;
    tg_genome_stats s;
    if (tg_genome_stats_get(g, w->train.c, w->train.h, w->train.w, w->train.classes, &s, &e) !=
            TG_OK ||
        tg_genome_check_size(&s, w->study.cfg.batch, memory_limit(w->c), &e) != TG_OK) {
        tg_wk_fail(o, "oversized genome: %s", e.msg);
        tg_genome_free(g);
        return NULL;
    }
    return g;
}

static void log_result(const tg_wk *w, const tg_wk_outcome *o) {
    const tg_trial_result *r = &o->r;
    const long long num = (long long)w->claim->number;
    if (!r->ok)
        tg_wk_log(w, "trial %lld failed: %s", num, o->error);
    else if (w->c->objective_cmd)
        tg_wk_log(w, "trial %lld complete: score %.6g (objective, %.2f s)", num, r->score,
                  r->train_s);
    else
        tg_wk_log(w, "trial %lld complete: score %.6g (p %.4f, tg %.4f), %lld examples, "
                  "%.2f s training, %.2f s evaluation", num, r->score, r->p, r->tg,
                  (long long)r->examples, r->train_s, r->eval_s);
}

static tg_status work(tg_wk *w, const tg_claim *cl, tg_worker_stats *st, tg_error *err) {
    w->claim = cl;
    w->seed = tg_wk_trial_seed(w->study.cfg.seed, cl->number);
    w->last_beat = mono_s();
    w->lost = w->stopped = 0;
    tg_wk_log(w, "trial %lld: claimed (attempt %d, genome %s)", (long long)cl->number,
              cl->attempt, cl->hash);
    tg_wk_outcome o;
    tg_wk_outcome_init(&o);
    tg_status s = TG_OK;
    tg_genome *g = check_genome(w, &o);
    if (g) {
        if (w->c->objective_cmd) s = tg_wk_objective(w, &o, err);
        else if (w->c->trainer_cmd) s = tg_wk_trainer_cmd(w, &o, err);
        else if (w->pool) s = tg_wk_pool(w, g, &o, err);
        else s = tg_wk_train(w, g, &o, err);
        tg_genome_free(g);
    }
    if (s != TG_OK) {
        tg_wk_outcome_free(&o);
        return s;
    }
    const long long num = (long long)cl->number;
    if (w->stopped) {
        tg_error e;
        s = tg_trial_release(w->t, cl, &w->id, &e);
        if (s == TG_OK) {
            st->released++;
            tg_wk_log(w, "trial %lld: released (stopping); it goes back to waiting", num);
        } else {
            tg_error_set(err, s, "trial %lld: could not give it back: %s", num, e.msg);
        }
    } else if (w->lost) {
        st->fenced++;
        st->examples += o.r.examples;
        tg_wk_log(w, "trial %lld: lease lost (another worker has it now); not reported", num);
    } else {
        o.r.sim = o.sim;
        o.r.rdms = o.rdms;
        o.r.points = o.points;
        o.r.error = o.r.ok ? NULL : o.error;
        int fenced = 0;
        s = tg_trial_report(w->t, cl, &w->id, &o.r, &fenced, err);
        if (s == TG_OK) {
            st->examples += o.r.examples;
            if (fenced) {
                st->fenced++;
                tg_wk_log(w, "trial %lld: fenced: the lease was lost, the result was refused",
                          num);
            } else {
                *(o.r.ok ? &st->completed : &st->failed) += 1;
                log_result(w, &o);
            }
        }
    }
    tg_wk_outcome_free(&o);
    return s;
}

/* ---- the loop -------------------------------------------------------------- */

tg_status tg_worker_run(const tg_worker_config *c, tg_worker_stats *st, tg_error *err) {
    tg_worker_stats dummy;
    tg_error local;
    if (!st) st = &dummy;
    if (!err) err = &local;
    memset(st, 0, sizeof *st);
    if (!c->url || !c->study)
        return tg_error_set(err, TG_ERR_ARG, "worker: a database URL and a study are needed");
    tg_wk w;
    memset(&w, 0, sizeof w);
    w.c = c;
    tg_worker_id_init(&w.id);
    tg_status s = tg_tracker_open(c->url, &w.t, err);
    if (s != TG_OK) return s;
    if ((s = prepare(&w, err)) != TG_OK) {
        release_all(&w);
        return s;
    }
    tg_wk_log(&w, "worker %s on study %s (%s)", w.id.owner, w.study.name,
              c->objective_cmd ? "objective command"
              : c->trainer_cmd ? "trainer command"
              : w.pool         ? "training here, a pool"
                               : "training here");
    const double poll = c->poll_s > 0 ? c->poll_s : 0.5;
    int64_t worked = 0;
    while (!stop_set(c) && (c->max_trials <= 0 || worked < c->max_trials)) {
        tg_claim cl;
        int got = 0;
        if ((s = tg_trial_claim(w.t, w.study.id, &w.id, w.study.cfg.lease_s, &cl, &got, err)) !=
            TG_OK)
            break;
        if (!got) {
            tg_study now;
            if ((s = tg_study_get(w.t, c->study, &now, err)) != TG_OK) break;
            if (now.done) {
                tg_wk_log(&w, "study %s is done", w.study.name);
                break;
            }
            nap(c, poll);
            continue;
        }
        s = work(&w, &cl, st, err);
        tg_claim_free(&cl);
        if (s != TG_OK || w.stopped) break;
        worked++;
    }
    if (s == TG_OK && stop_set(c)) tg_wk_log(&w, "stopped");
    release_all(&w);
    return s;
}
