/* fuzz_genome.c - libFuzzer target: genome JSON, space specs and points.
 *
 * The input is tried three ways: as a genome document, as a space spec,
 * and as a point of layerwise:10 and of cell (one byte per dimension).
 * Besides not crashing, whatever is accepted must keep the invariants:
 * the canonical JSON parses back to itself, encode then decode gives the
 * same genome, and a decoded point is a valid genome of its space. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tgsage/genome.h"
#include "tgsage/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* g's canonical JSON reparses (against s) to itself; returns it */
static char *check_canonical(const tg_genome *g, const tg_space *s) {
    tg_error err;
    char *j = tg_genome_json(g);
    TG_ASSERT(j);
    tg_genome *g2 = tg_genome_parse(j, s, &err);
    TG_ASSERT(g2);
    char *j2 = tg_genome_json(g2);
    TG_ASSERT(j2 && !strcmp(j, j2));
    free(j2);
    tg_genome_free(g2);
    return j;
}

static void genome(const char *text) {
    tg_error err;
    tg_genome *g = tg_genome_parse(text, NULL, &err);
    if (!g) {
        TG_ASSERT(err.status != TG_OK && err.msg[0]);
        return;
    }
    char *j = check_canonical(g, NULL);
    char h[33];
    tg_genome_hash(g, h);
    TG_ASSERT(strlen(h) == 32);
    tg_space *s = tg_space_of_genome(g, &err);
    TG_ASSERT(s);
    int *x = malloc(sizeof(int) * (size_t)tg_space_ndims(s));
    TG_ASSERT(x && tg_space_encode(s, g, x, &err) == TG_OK);
    tg_genome *d = tg_space_decode(s, x, &err);
    TG_ASSERT(d);
    char *jd = tg_genome_json(d);
    TG_ASSERT(jd && !strcmp(j, jd));
    char *dot = tg_genome_dot(g, 10);
    TG_ASSERT(dot);
    free(dot), free(jd), free(j), free(x);
    tg_genome_free(d);
    tg_space_free(s);
    tg_genome_free(g);
}

static void point(const char *spec, const uint8_t *data, size_t size) {
    tg_error err;
    tg_space *s = tg_space_parse(spec, &err);
    TG_ASSERT(s);
    int n = tg_space_ndims(s);
    int *x = malloc(sizeof(int) * (size_t)n);
    TG_ASSERT(x);
    /* mostly valid choices, sometimes one out of range */
    for (int i = 0; i < n; i++) {
        int b = i < (int)size ? data[i] : 0;
        x[i] = b == 255 ? 99 : b % (tg_space_dim(s, i)->nchoices + (b > 250));
    }
    tg_space_normalize(s, x);
    tg_genome *g = tg_space_decode(s, x, &err);
    if (g) {
        free(check_canonical(g, s));
        tg_genome_free(g);
    }
    free(x);
    tg_space_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    genome(text);
    tg_error err;
    tg_space *s = tg_space_parse(text, &err);
    tg_space_free(s);
    point("layerwise:10", data, size);
    point("cell", data, size);
    free(text);
    return 0;
}
