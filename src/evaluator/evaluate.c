/* evaluate.c - premature accuracy + TG of a trained candidate, and the
 * record that carries them (one allocation sized to the layers and, when
 * asked for, the cropped candidate RDMs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/accuracy.h"
#include "tgsage/evaluator.h"

void tg_eval_record_free(tg_eval_record *rec) {
    free(rec->sim);  /* the slab: every array points into it */
    memset(rec, 0, sizeof *rec);
}

/* Size the record for nt teacher and ns candidate layers, with room for
 * crop x crop blocks of the ns candidate RDMs: doubles first (sim, best_r,
 * rdm_crop), then ints, then the names, so each part is aligned. */
static tg_status record_alloc(tg_eval_record *rec, int nt, int ns, int64_t crop,
                              tg_error *err) {
    memset(rec, 0, sizeof *rec);
    size_t nsim = (size_t)nt * (size_t)ns, ncrop = (size_t)ns * (size_t)crop * (size_t)crop;
    size_t bytes = sizeof(double) * (nsim + (size_t)nt + ncrop) + sizeof(int) * (size_t)nt +
                   64 * ((size_t)nt + (size_t)ns);
    char *slab = calloc(1, bytes);
    if (!slab)
        return tg_error_set(err, TG_ERR_NOMEM, "evaluate: out of memory for %d x %d "
                            "similarities", nt, ns);
    rec->sim = (double *)slab;
    rec->best_r = rec->sim + nsim;
    rec->rdm_crop = crop > 0 ? rec->best_r + nt : NULL;
    rec->crop = crop;
    rec->best = (int *)(rec->best_r + nt + ncrop);
    rec->teacher_layers = (char (*)[64])(rec->best + nt);
    rec->cand_layers = rec->teacher_layers + nt;
    rec->nteacher = nt, rec->ncand = ns;
    return TG_OK;
}

/* tg_eval_rdms, keeping the top-left k x k block of each candidate RDM,
 * k = min(crop, m). */
static tg_status eval_rdms(const tg_teacher *t, const double *const *S, const char *const *names,
                           int ns, int64_t m, double alpha, int64_t crop, tg_eval_record *rec,
                           tg_error *err) {
    memset(rec, 0, sizeof *rec);
    if (t->nlayers < 1 || ns < 1)
        return tg_error_set(err, TG_ERR_ARG, "evaluate: %d teacher and %d candidate layers "
                            "(need at least one of each)", t->nlayers, ns);
    if (m != t->m)
        return tg_error_set(err, TG_ERR_SHAPE, "evaluate: candidate RDMs of %lld items, the "
                            "teacher's of %lld", (long long)m, (long long)t->m);
    const int64_t k = crop < m ? crop : m;
    tg_status st = record_alloc(rec, t->nlayers, ns, k, err);
    if (st != TG_OK) return st;
    for (int s = 0; s < ns && k > 0; s++)
        for (int64_t i = 0; i < k; i++)
            memcpy(rec->rdm_crop + ((size_t)s * k + i) * k, S[s] + i * m, sizeof(double) * k);
    for (int a = 0; a < t->nlayers; a++)
        snprintf(rec->teacher_layers[a], sizeof rec->teacher_layers[0], "%s", t->names[a]);
    for (int s = 0; s < ns; s++)
        snprintf(rec->cand_layers[s], sizeof rec->cand_layers[0], "%s", names[s]);
    rec->alpha = alpha;
    st = tg_tg_similarities((const double *const *)t->rdms, t->nlayers, S, ns, m, t->method,
                            rec->sim, err);
    if (st == TG_OK)
        st = tg_tg_max_mean(rec->sim, t->nlayers, ns, &rec->tg, rec->best, rec->best_r, err);
    if (st != TG_OK) {
        tg_eval_record_free(rec);
        return st;
    }
    rec->score = alpha * rec->tg;
    return TG_OK;
}

tg_status tg_eval_rdms(const tg_teacher *t, const double *const *S, const char *const *names,
                       int ns, int64_t m, double alpha, tg_eval_record *rec, tg_error *err) {
    return eval_rdms(t, S, names, ns, m, alpha, 0, rec, err);
}

tg_status tg_evaluate_candidate(tg_net *net, const tg_dataset *val, const tg_teacher *t,
                                double alpha, tg_eval_record *rec, tg_error *err) {
    return tg_evaluate_candidate_crop(net, val, t, alpha, 0, rec, err);
}

tg_status tg_evaluate_candidate_crop(tg_net *net, const tg_dataset *val, const tg_teacher *t,
                                     double alpha, int64_t crop, tg_eval_record *rec,
                                     tg_error *err) {
    memset(rec, 0, sizeof *rec);
    if (crop < 0)
        return tg_error_set(err, TG_ERR_ARG, "evaluate: crop of %lld (0 keeps no RDMs)",
                            (long long)crop);
    tg_status st = tg_teacher_check_data(t, val, err);
    if (st != TG_OK) return st;
    const tg_graph *g = tg_net_graph(net);
    const int nnodes = tg_graph_nodes(g);
    int *nodes = malloc(sizeof(int) * (size_t)nnodes);
    const char **names = malloc(sizeof(char *) * (size_t)nnodes);
    double **S = calloc((size_t)nnodes, sizeof(double *));
    int nn = 0;
    if (!nodes || !names || !S) {
        st = tg_error_set(err, TG_ERR_NOMEM, "evaluate: out of memory");
        goto done;
    }
    for (int i = 0; i < nnodes; i++)
        if (tg_graph_node_name(g, i)) {
            names[nn] = tg_graph_node_name(g, i);
            nodes[nn++] = i;
        }
    if (nn == 0) {
        st = tg_error_set(err, TG_ERR_ARG, "evaluate: the network names no layers");
        goto done;
    }
    double p, loss;
    if ((st = tg_evaluate(net, val, &p, &loss, err)) != TG_OK) goto done;
    int64_t m;
    st = tg_observe_rdms(net, nodes, nn, val, t->images, t->n, t->unit, t->max_features,
                         t->seed, S, &m, err);
    if (st == TG_OK)
        st = eval_rdms(t, (const double *const *)S, names, nn, m, alpha, crop, rec, err);
    if (st == TG_OK) {
        rec->p = p, rec->val_loss = loss;
        rec->score = p + alpha * rec->tg;
    }
done:
    for (int s = 0; s < nn && S; s++) free(S[s]);
    free(S);
    free(names);
    free(nodes);
    return st;
}

tg_status tg_evaluate_pixels(const tg_dataset *val, const tg_teacher *t, tg_eval_record *rec,
                             tg_error *err) {
    memset(rec, 0, sizeof *rec);
    double *S = NULL;
    int64_t m = 0;
    tg_status st = tg_pixel_rdm(val, t, &S, &m, err);
    const char *name = "pixels";
    if (st == TG_OK) st = eval_rdms(t, (const double *const *)&S, &name, 1, m, 0, 0, rec, err);
    free(S);
    return st;
}
