/* conv_tune.c - the cache file of measured convolution strategies (see
 * conv_tune.h). */
#include "conv_tune.h"

#include "tgsage/fileio.h"

#include <errno.h>
#include <oneapi/dnnl/dnnl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* A cache larger than this is not read (it holds ~30,000 lines: far more
 * shapes than any search meets); the next store compacts it (cache_compact). */
#define CACHE_MAX_BYTES (4 << 20)
/* The keys' version: it goes up whenever the candidates or the key change,
 * so that choices measured under other rules are measured again. */
#define KEY_VERSION "v5"

int conv_tune_enabled(void) {
    const char *v = getenv("TG_DNNL_TUNE");
    return !(v && strcmp(v, "0") == 0);
}

const char *conv_tune_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512amx";  /* Sapphire Rapids and later */
    case dnnl_cpu_isa_avx2_vnni: return "avx2vnni";
    default: return "other";
    }
}

/* The processor's family and model ("6.167"), so that machines of one ISA
 * but other cores (a cluster's nodes sharing a home directory) keep their
 * own measurements; "-" where there is no CPUID. */
static void cpu_model(char *buf, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        unsigned family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
        if (family == 0xf) family += (a >> 20) & 0xff;
        if (family >= 6) model |= ((a >> 16) & 0xf) << 4;  /* as Linux reads it */
        snprintf(buf, n, "%u.%u", family, model);
        return;
    }
#endif
    snprintf(buf, n, "-");
}

void conv_tune_key(const tg_conv2d_shape *s, const char *isa, int threads, char *buf,
                   size_t n) {
    /* a channel-blocked x or y (c16b16: 16 channels held in nChw16c) is its
     * own key: the reorders a strategy needs differ */
    char xb[8] = "", yb[8] = "", cpu[24];
    if (s->x_blk) snprintf(xb, sizeof xb, "b%d", s->x_blk);
    if (s->y_blk) snprintf(yb, sizeof yb, "b%d", s->y_blk);
    cpu_model(cpu, sizeof cpu);
    snprintf(buf, n, KEY_VERSION " %s cpu%s t%d n%d c%d%s h%d w%d k%d%s %dx%d s%d d%d g%d", isa, cpu,
             threads, s->n, s->c, xb, s->h, s->w, s->k, yb, s->kh, s->kw, s->stride, s->dil,
             s->groups);
}

/* The cache path into buf; 0 when there is none (no HOME). */
static int cache_path(char *buf, size_t n, int make_dir) {
    const char *p = getenv("TG_TUNE_CACHE");
    if (p && p[0]) {
        snprintf(buf, n, "%s", p);
        return 1;
    }
    char dir[1024];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0])
        snprintf(dir, sizeof dir, "%s/tgsage", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof dir, "%s/.cache/tgsage", home);
    else
        return 0;
    if (make_dir) {
        /* ~/.cache may not exist yet either */
        char parent[1024];
        snprintf(parent, sizeof parent, "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = 0;
            if (mkdir(parent, 0755) != 0 && errno != EEXIST) return 0;
        }
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) return 0;
    }
    snprintf(buf, n, "%s/dnnl-strategies", dir);
    return 1;
}

static int name_index(const char *name, const char *const *names, int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

int conv_tune_lookup(const char *key, const char *const *names, int count,
                     int strat[CONV_TUNE_PASSES]) {
    char path[1100];
    if (!cache_path(path, sizeof path, 0)) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    struct stat st;
    int found = 0;
    if (fstat(fileno(f), &st) == 0 && st.st_size <= CACHE_MAX_BYTES) {
        const size_t klen = strlen(key);
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, key, klen) != 0 || line[klen] != ' ') continue;
            char a[16], b[16], c[16];
            if (sscanf(line + klen, " %15s %15s %15s", a, b, c) != 3) continue;
            int v[CONV_TUNE_PASSES] = {name_index(a, names, count), name_index(b, names, count),
                                       name_index(c, names, count)};
            if (v[0] < 0 || v[1] < 0 || v[2] < 0) continue;  /* a line from another version */
            memcpy(strat, v, sizeof v);
            found = 1;                                       /* the last one wins */
        }
    }
    fclose(f);
    return found;
}

/* Rewrite a cache that has reached CACHE_MAX_BYTES with the lines of the
 * current key version only (older versions' lines are never read again),
 * and, if those alone still fill half of it, only the newer half of them.
 * Atomic (fileio.h); a line another process appends meanwhile may be lost,
 * which costs a measurement, nothing else. */
static void cache_compact(const char *path) {
    unsigned char *data = NULL;
    size_t n = 0;
    if (tg_file_read(path, 2 * (size_t)CACHE_MAX_BYTES, &data, &n, NULL) != TG_OK) return;
    char *text = (char *)data, *out = malloc(n + 1);
    size_t kept = 0;
    if (out) {
        for (char *line = text; *line;) {
            char *end = strchr(line, '\n');
            const size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
            if (end && !strncmp(line, KEY_VERSION " ", strlen(KEY_VERSION) + 1)) {
                memcpy(out + kept, line, len);
                kept += len;
            }
            line += len;
        }
        size_t from = 0;
        if (kept > CACHE_MAX_BYTES / 2) {  /* keep the newer half, from a line start */
            from = kept - CACHE_MAX_BYTES / 2;
            while (from < kept && out[from - 1] != '\n') from++;
        }
        tg_file_write(path, out + from, kept - from, NULL);
    }
    free(out);
    free(data);
}

void conv_tune_store(const char *key, const char *const *names,
                     const int strat[CONV_TUNE_PASSES]) {
    char path[1100];
    if (!cache_path(path, sizeof path, 1)) return;
    struct stat full;
    if (stat(path, &full) == 0 && full.st_size > CACHE_MAX_BYTES) cache_compact(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size <= CACHE_MAX_BYTES) {
        char line[256];
        int len = snprintf(line, sizeof line, "%s %s %s %s\n", key, names[strat[0]],
                           names[strat[1]], names[strat[2]]);
        /* one write: appends from several processes never interleave; a
         * short write leaves a line that lookup skips */
        if (len > 0 && (size_t)len < sizeof line) (void)!write(fd, line, (size_t)len);
    }
    close(fd);
}
