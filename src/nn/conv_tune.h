/* conv_tune.h - the oneDNN backend's measured layout strategies, cached per
 * machine (private to src/nn/).
 *
 * Which layout strategy is fastest for a pass of a convolution depends on
 * the processor (AVX-512 and AVX2 machines of this workplace disagree on a
 * third of the shapes of conv_dnnl.c's table), so conv_dnnl.c times the
 * candidates when a plan for a new shape is made and remembers the winner
 * in a small text file, one line per (ISA, threads, shape):
 *
 *   v5 avx2 cpu6.167 t2 n128 c64b8 h28 w28 k64b8 3x3 s1 d1 g1 wino23 wino23 wino23
 *
 * (c64b8 and k64b8 where the caller holds x or y in nChw8c: net.c).
 *
 * The file is $TG_TUNE_CACHE, else $XDG_CACHE_HOME/tgsage/dnnl-strategies,
 * else ~/.cache/tgsage/dnnl-strategies. Lines are appended with one write()
 * (O_APPEND), so worker processes sharing the file never interleave; the
 * last line for a key wins. A file that reaches 4 MiB is rewritten at
 * the next store with the current key version's lines only (the version
 * goes up when the candidates change, and older lines are never read
 * again). Because every process of a machine reads the
 * same choice, a run resumed in a new process uses the strategies of the
 * run it continues (bit-identical resume). The cache is an optimisation:
 * when it cannot be read or written, plans are measured again, and nothing
 * else changes. TG_DNNL_TUNE=0 turns measuring off (the heuristic alone:
 * the test suite does, so its figures do not depend on timing). */
#ifndef TGSAGE_CONV_TUNE_H
#define TGSAGE_CONV_TUNE_H

#include <stddef.h>

#include "tgsage/ops.h"

#define CONV_TUNE_PASSES 3

/* 0 when TG_DNNL_TUNE=0 */
int conv_tune_enabled(void);
/* The ISA oneDNN runs at ("avx2", "avx512", ...). */
const char *conv_tune_isa(void);
/* The cache key of a shape at the current ISA, processor model and thread
 * count. */
void conv_tune_key(const tg_conv2d_shape *s, const char *isa, int threads, char *buf,
                   size_t n);
/* Strategy names of the key's last line into strat (indices into names[0..count)); 1 if
 * found. */
int conv_tune_lookup(const char *key, const char *const *names, int count,
                     int strat[CONV_TUNE_PASSES]);
void conv_tune_store(const char *key, const char *const *names,
                     const int strat[CONV_TUNE_PASSES]);

#endif
