/* evaluate.c - premature accuracy + TG of a trained candidate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/evaluator.h"
#include "tgsage/trainer.h"

tg_status tg_evaluate_candidate(tg_net *net, const tg_dataset *val, const tg_teacher *t,
                                double alpha, tg_eval_record *rec, tg_error *err) {
    memset(rec, 0, sizeof *rec);
    tg_status st = tg_teacher_check_data(t, val, err);
    if (st != TG_OK) return st;
    const tg_graph *g = tg_net_graph(net);
    int nodes[TG_EVAL_MAX_LAYERS], nn = 0;
    for (int i = 0; i < tg_graph_nodes(g); i++)
        if (tg_graph_node_name(g, i)) {
            if (nn == TG_EVAL_MAX_LAYERS)
                return tg_error_set(err, TG_ERR_ARG, "evaluate: more than %d named layers",
                                    TG_EVAL_MAX_LAYERS);
            snprintf(rec->cand_layers[nn], sizeof rec->cand_layers[0], "%s",
                     tg_graph_node_name(g, i));
            nodes[nn++] = i;
        }
    if (nn == 0) return tg_error_set(err, TG_ERR_ARG, "evaluate: the network names no layers");
    if ((st = tg_evaluate(net, val, &rec->p, &rec->val_loss, err)) != TG_OK) return st;
    double *S[TG_EVAL_MAX_LAYERS];
    int64_t m;
    st = tg_observe_rdms(net, nodes, nn, val, t->images, t->n, t->unit, t->max_features,
                         t->seed, S, &m, err);
    if (st != TG_OK) return st;
    if (m != t->m) {
        st = tg_error_set(err, TG_ERR_SHAPE, "evaluate: candidate RDMs of %lld items, the "
                          "teacher's of %lld", (long long)m, (long long)t->m);
        goto done;
    }
    rec->nteacher = t->nlayers, rec->ncand = nn, rec->alpha = alpha;
    for (int a = 0; a < t->nlayers; a++) {
        snprintf(rec->teacher_layers[a], sizeof rec->teacher_layers[0], "%s", t->names[a]);
        for (int s = 0; s < nn; s++)
            if ((st = tg_rdm_similarity(S[s], t->rdms[a], m, t->method, &rec->sim[a][s], err)) !=
                TG_OK)
                goto done;
    }
    /* TG = mean over teacher layers of the best candidate layer's r (as
     * tg_tg_score, from the similarities already at hand) */
    rec->tg = 0;
    for (int a = 0; a < t->nlayers; a++) {
        rec->best[a] = 0;
        for (int s = 1; s < nn; s++)
            if (rec->sim[a][s] > rec->sim[a][rec->best[a]]) rec->best[a] = s;
        rec->best_r[a] = rec->sim[a][rec->best[a]];
        rec->tg += rec->best_r[a] / t->nlayers;
    }
    rec->score = rec->p + alpha * rec->tg;
done:
    for (int s = 0; s < nn; s++) free(S[s]);
    return st;
}
