/* pool.c - a pool of architectures for the predictivity analysis (paper
 * section 4.1, tg_pool_run): K distinct genomes, sampled at random from a
 * space or taken from a study's complete trials, queued in a study of
 * their own (algo "pool") whose workers train each to the mature budget
 * and record P and the similarity to every teacher at the premature
 * points. The study holds every teacher (position 0 first), so a rerun
 * with other teachers or another configuration is refused, naming the
 * difference, rather than mixing two pools in one. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"
#include "tgsage/fileio.h"
#include "tgsage/genome.h"
#include "tgsage/space.h"
#include "tgsage/teacher.h"

#define TEACHER_LIMIT ((size_t)1 << 30)

/* The genomes to queue, canonical JSON and hash each (malloc'd arrays). */
typedef struct {
    int64_t n;
    char **json;
    char (*hash)[33];
} genomes;

static void genomes_free(genomes *g) {
    for (int64_t i = 0; i < g->n; i++) free(g->json[i]);
    free(g->json);
    free(g->hash);
    memset(g, 0, sizeof *g);
}

static tg_status genomes_alloc(genomes *g, int64_t n, tg_error *err) {
    g->json = calloc((size_t)n, sizeof *g->json);
    g->hash = calloc((size_t)n, sizeof *g->hash);
    if (!g->json || !g->hash) return tg_error_set(err, TG_ERR_NOMEM, "pool: out of memory");
    return TG_OK;
}

/* Take over a genome (g is freed); 1 if its hash was new. */
static int keep(genomes *out, tg_genome *g) {
    char h[33];
    tg_genome_hash(g, h);
    for (int64_t i = 0; i < out->n; i++)
        if (!strcmp(out->hash[i], h)) {
            tg_genome_free(g);
            return 0;
        }
    out->json[out->n] = tg_genome_json(g);
    tg_genome_free(g);
    if (!out->json[out->n]) return -1;
    memcpy(out->hash[out->n++], h, sizeof h);
    return 1;
}

/* K distinct genomes of the space from the random explorer seeded by the
 * study's seed: a rerun (or a larger K) draws the same ones first. */
static tg_status sample(const tg_study_config *cfg, const tg_space *sp, genomes *out,
                        tg_error *err) {
    tg_explorer_config ec;
    tg_status st = tg_explorer_defaults("random", &ec, err);
    if (st != TG_OK) return st;
    ec.seed = cfg->seed;
    tg_explorer *ex = tg_explorer_new(sp, &ec, err);
    if (!ex) return err->status;
    int *x = malloc((size_t)tg_space_ndims(sp) * sizeof *x);
    if (!x || (st = genomes_alloc(out, cfg->trials, err)) != TG_OK) {
        free(x);
        tg_explorer_free(ex);
        return x ? st : tg_error_set(err, TG_ERR_NOMEM, "pool: out of memory");
    }
    /* the search's cap: a space with fewer architectures than asked for */
    int64_t cap = 20 * cfg->trials + 100, draws = 0;
    while (st == TG_OK && out->n < cfg->trials && draws < cap) {
        int64_t id;
        tg_genome *g;
        draws++;
        if ((st = tg_explorer_propose(ex, &id, x, err)) != TG_OK) break;
        if (!(g = tg_space_decode(sp, x, err))) {
            st = err->status;
            break;
        }
        if (keep(out, g) < 0) st = tg_error_set(err, TG_ERR_NOMEM, "pool: out of memory");
    }
    free(x);
    tg_explorer_free(ex);
    if (st == TG_OK && out->n < cfg->trials)
        st = tg_error_set(err, TG_ERR_ARG, "pool: %" PRId64 " random draws of %s gave only %"
                          PRId64 " distinct architectures of the %" PRId64 " asked for",
                          draws, cfg->space, out->n, cfg->trials);
    return st;
}

/* The complete trials of study `from`, best first: K of them, or all when
 * cfg->trials is 0 (then set to their number); each must be a genome of
 * the pool's space (cfg->space, or the study's when empty). */
static tg_status from_study(tg_tracker *t, const char *from, tg_study_config *cfg,
                            genomes *out, tg_error *err) {
    tg_study fs;
    tg_status st = tg_study_get(t, from, &fs, err);
    if (st != TG_OK) return st;
    if (!cfg->space[0]) snprintf(cfg->space, sizeof cfg->space, "%s", fs.cfg.space);
    tg_study_counts c;
    if ((st = tg_study_counts_get(t, fs.id, &c, err)) != TG_OK) return st;
    int64_t k = cfg->trials > 0 ? cfg->trials : c.complete;
    if (c.complete < 1)
        return tg_error_set(err, TG_ERR_ARG, "pool: study '%s' has no complete trial", from);
    if (c.complete < k)
        return tg_error_set(err, TG_ERR_ARG, "pool: study '%s' has %" PRId64 " complete trial%s, "
                            "%" PRId64 " asked for", from, c.complete, c.complete == 1 ? "" : "s",
                            k);
    tg_space *sp = tg_space_parse(cfg->space, err);
    if (!sp) return err->status;
    tg_trial *tr = NULL;
    int64_t n = 0;
    if ((st = tg_trial_best(t, fs.id, (int)k, &tr, &n, err)) == TG_OK)
        st = genomes_alloc(out, n, err);
    for (int64_t i = 0; st == TG_OK && i < n; i++) {
        tg_error e;
        tg_genome *g = tg_genome_parse(tr[i].genome ? tr[i].genome : "", sp, &e);
        if (!g)
            st = tg_error_set(err, TG_ERR_ARG, "pool: trial %" PRId64 " of study '%s' is not "
                              "a genome of %s: %s", tr[i].number, from, cfg->space, e.msg);
        else if (keep(out, g) < 0)
            st = tg_error_set(err, TG_ERR_NOMEM, "pool: out of memory");
    }
    tg_trials_free(tr, n);
    tg_space_free(sp);
    if (st == TG_OK) cfg->trials = out->n;
    return st;
}

/* A teacher's name in the study: its file's base name. */
static void teacher_name(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b && b[1] ? b + 1 : path;
    snprintf(out, n, "%s", b[0] ? b : "teacher");
}

/* The study's teachers must be the files given, in order: add those it
 * lacks (a new study, or one whose creator was killed half-way), refuse
 * any difference. */
static tg_status sync_teachers(tg_tracker *t, const tg_study *s, const tg_pool_config *pc,
                               tg_error *err) {
    tg_study_teacher_file *have = NULL;
    int nhave = 0;
    tg_status st = tg_study_teachers(t, s->id, &have, &nhave, err);
    if (st != TG_OK) return st;
    if (nhave > pc->nteachers)
        st = tg_error_set(err, TG_ERR_ARG, "pool study '%s' has %d teachers, this run gives "
                          "%d (a new name starts a new pool)", s->name, nhave, pc->nteachers);
    for (int i = 0; st == TG_OK && i < pc->nteachers; i++) {
        unsigned char *buf = NULL;
        size_t n = 0;
        tg_teacher check;
        if ((st = tg_teacher_load(pc->teachers[i], &check, err)) != TG_OK) break;
        tg_teacher_free(&check);
        if ((st = tg_file_read(pc->teachers[i], TEACHER_LIMIT, &buf, &n, err)) != TG_OK) break;
        char name[128];
        teacher_name(pc->teachers[i], name, sizeof name);
        if (i < nhave) {
            if (have[i].n != n || memcmp(have[i].data, buf, n) != 0)
                st = tg_error_set(err, TG_ERR_ARG, "pool study '%s': teacher %d is %s as "
                                  "stored, this run gives %s, a different file (a new name "
                                  "starts a new pool)", s->name, i, have[i].name,
                                  pc->teachers[i]);
        } else {
            int pos = -1;
            st = tg_study_add_teacher(t, s->id, name, buf, n, &pos, err);
            if (st == TG_OK && pos != i)
                st = tg_error_set(err, TG_ERR_DB, "pool study '%s': teacher %s was stored at "
                                  "position %d, expected %d", s->name, name, pos, i);
        }
        free(buf);
    }
    tg_study_teachers_free(have, nhave);
    return st;
}

static tg_status queue_all(tg_tracker *t, const tg_study *s, const genomes *g, int *added,
                           tg_error *err) {
    tg_enqueue_item *items = calloc((size_t)g->n, sizeof *items);
    int64_t *number = calloc((size_t)g->n, sizeof *number);
    tg_status st = TG_OK;
    if (!items || !number) st = tg_error_set(err, TG_ERR_NOMEM, "pool: out of memory");
    for (int64_t i = 0; st == TG_OK && i < g->n; i++)
        items[i] = (tg_enqueue_item){g->json[i], g->hash[i], -1};
    if (st == TG_OK) st = tg_study_enqueue(t, s->id, items, (int)g->n, number, added, err);
    free(items);
    free(number);
    return st;
}

static tg_status prepare(tg_tracker *t, const tg_pool_config *pc, tg_study_config *cfg,
                         genomes *g, tg_error *err) {
    if (!pc->study || !pc->study[0])
        return tg_error_set(err, TG_ERR_ARG, "pool: no study name given");
    if (pc->nteachers < 1 || !pc->teachers)
        return tg_error_set(err, TG_ERR_ARG, "pool: at least one teacher is needed");
    if (cfg->algo[0] && strcmp(cfg->algo, "pool"))
        return tg_error_set(err, TG_ERR_ARG, "pool: algo '%s': a pool study's algo is pool",
                            cfg->algo);
    snprintf(cfg->algo, sizeof cfg->algo, "pool");
    if (pc->from_study) return from_study(t, pc->from_study, cfg, g, err);
    if (cfg->trials < 1)
        return tg_error_set(err, TG_ERR_ARG, "pool: %" PRId64 " architectures: at least one",
                            cfg->trials);
    tg_space *sp = tg_space_parse(cfg->space, err);
    if (!sp) return err->status;
    tg_status st = sample(cfg, sp, g, err);
    tg_space_free(sp);
    return st;
}

tg_status tg_pool_run(const tg_pool_config *pc, const tg_queue_run_config *q,
                      tg_queue_progress *final, tg_error *err) {
    tg_error_clear(err);
    tg_tracker *t = NULL;
    tg_status st = tg_tracker_open(q->url, &t, err);
    if (st != TG_OK) return st;
    tg_study_config cfg = pc->cfg;
    genomes g = {0};
    tg_study s;
    int created = 0, added = 0;
    st = prepare(t, pc, &cfg, &g, err);
    if (st == TG_OK) st = tg_study_open(t, pc->study, &cfg, NULL, 0, &s, &created, err);
    if (st == TG_OK) st = sync_teachers(t, &s, pc, err);
    if (st == TG_OK) st = queue_all(t, &s, &g, &added, err);
    if (st == TG_OK && q->log) {
        char line[512];
        snprintf(line, sizeof line, "%s pool '%s': %" PRId64 " architectures of %s%s%s, "
                 "trained to %g epochs, %d teacher%s (%d newly queued)",
                 created ? "created" : "resuming", s.name, g.n, cfg.space,
                 pc->from_study ? " from study " : "", pc->from_study ? pc->from_study : "",
                 cfg.epochs, pc->nteachers, pc->nteachers == 1 ? "" : "s", added);
        q->log(q->user, line);
    }
    genomes_free(&g);
    if (st == TG_OK) st = tg_queue_follow(q, t, &s, final, err);
    tg_tracker_close(t);
    return st;
}
