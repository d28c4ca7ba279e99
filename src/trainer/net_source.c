/* net_source.c - the network a run trains: a built-in name or a genome.
 *
 * resnet:N and small3 are graph builders of the engine (models.h).
 * candidate6, the layer-wise benchmark candidate of DESIGN.md, is a genome
 * of the layer-wise space like any searched network, kept here as JSON text
 * (the same genome as tests/fixtures/genomes/candidate6.json), so that it
 * builds, names its parameters and exports exactly as a searched network
 * does; the engine knows nothing of genomes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/models.h"
#include "tgsage/space.h"
#include "tgsage/trainer.h"

/* every layer conv (no bias) + BN + ReLU; (filters, kh, kw, stride, inputs)
 * with -1 the image: (64,3,3,1,[-1]) (64,5,5,1,[0]) (128,3,3,2,[1,0])
 * (128,3,1,1,[2]) (64,1,3,1,[3]) (128,3,3,2,[4,2]) */
static const char CANDIDATE6[] =
    "{\"schema\": 1, \"space\": \"layerwise\", \"max_layers\": 10, \"layers\": ["
    "{\"filters\": 64, \"kh\": 3, \"kw\": 3, \"stride\": 1, \"act\": \"relu\", \"norm\": \"bn\", "
    "\"inputs\": [-1]}, "
    "{\"filters\": 64, \"kh\": 5, \"kw\": 5, \"stride\": 1, \"act\": \"relu\", \"norm\": \"bn\", "
    "\"inputs\": [0]}, "
    "{\"filters\": 128, \"kh\": 3, \"kw\": 3, \"stride\": 2, \"act\": \"relu\", \"norm\": \"bn\", "
    "\"inputs\": [1, 0]}, "
    "{\"filters\": 128, \"kh\": 3, \"kw\": 1, \"stride\": 1, \"act\": \"relu\", \"norm\": \"bn\", "
    "\"inputs\": [2]}, "
    "{\"filters\": 64, \"kh\": 1, \"kw\": 3, \"stride\": 1, \"act\": \"relu\", \"norm\": \"bn\", "
    "\"inputs\": [3]}, "
    "{\"filters\": 128, \"kh\": 3, \"kw\": 3, \"stride\": 2, \"act\": \"relu\", \"norm\": \"bn\", "
    "\"inputs\": [4, 2]}]}";

const char *tg_net_source_names(void) { return "resnet:N, small3, candidate6"; }

void tg_net_source_free(tg_net_source *src) {
    tg_genome_free(src->parsed);
    free(src->genome);
    memset(src, 0, sizeof *src);
}

static tg_status from_genome(const char *json, const char *space_spec, tg_net_source *src,
                             tg_error *err) {
    tg_space *sp = NULL;
    if (space_spec && space_spec[0] && !(sp = tg_space_parse(space_spec, err)))
        return err ? err->status : TG_ERR_ARG;
    src->parsed = tg_genome_parse(json, sp, err);
    tg_space *own = NULL;
    if (src->parsed && !sp) sp = own = tg_space_of_genome(src->parsed, err);
    tg_status st = src->parsed && sp ? TG_OK : (err ? err->status : TG_ERR_FORMAT);
    if (st == TG_OK) {
        snprintf(src->space, sizeof src->space, "%s", tg_space_spec(sp));
        tg_genome_hash(src->parsed, src->hash);
        if (!(src->genome = tg_genome_json(src->parsed)))
            st = tg_error_set(err, TG_ERR_NOMEM, "genome: out of memory");
    }
    tg_space_free(own ? own : sp);
    return st;
}

tg_status tg_net_source_resolve(const char *net, const char *genome_json,
                                const char *space_spec, tg_net_source *src, tg_error *err) {
    memset(src, 0, sizeof *src);
    tg_status st = TG_OK;
    if (genome_json) {
        snprintf(src->name, sizeof src->name, "genome");
        st = from_genome(genome_json, space_spec, src, err);
    } else if (!net || !net[0]) {
        st = tg_error_set(err, TG_ERR_ARG, "no network: give a built-in name (%s) or a genome",
                          tg_net_source_names());
    } else if (strlen(net) >= sizeof src->name) {
        st = tg_error_set(err, TG_ERR_ARG, "net '%.40s...': not a built-in name (%s)", net,
                          tg_net_source_names());
    } else if (strcmp(net, "candidate6") == 0) {
        snprintf(src->name, sizeof src->name, "%s", net);
        st = from_genome(CANDIDATE6, space_spec, src, err);
    } else if ((strncmp(net, "resnet:", 7) == 0 || strcmp(net, "small3") == 0) &&
               space_spec && space_spec[0]) {
        st = tg_error_set(err, TG_ERR_ARG, "net '%s' is not a genome: a space (%s) applies "
                          "only to genomes", net, space_spec);
    } else if (strncmp(net, "resnet:", 7) == 0 || strcmp(net, "small3") == 0) {
        /* a graph built-in: building its graph (no weights) for a nominal
         * input checks the name's argument, and costs microseconds */
        snprintf(src->name, sizeof src->name, "%s", net);
        tg_graph *g = tg_model_build(net, 1, 32, 32, 10, err);
        if (!g) st = err ? err->status : TG_ERR_ARG;
        tg_graph_free(g);
    } else {
        st = tg_error_set(err, TG_ERR_ARG, "unknown net '%s' (built in: %s; or a genome)", net,
                          tg_net_source_names());
    }
    if (st != TG_OK) tg_net_source_free(src);
    return st;
}

tg_graph *tg_net_source_build(const tg_net_source *src, int c, int h, int w, int classes,
                              tg_error *err) {
    if (!src->parsed) return tg_model_build(src->name, c, h, w, classes, err);
    tg_error e;
    tg_graph *g = tg_genome_build(src->parsed, c, h, w, classes, &e);
    if (!g) tg_error_set(err, e.status, "%s: %s", src->name, e.msg);
    return g;
}
