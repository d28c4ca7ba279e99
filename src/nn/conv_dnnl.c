/* conv_dnnl.c - the oneDNN backend: 2-D convolution through oneDNN 2.6.
 *
 * A plan holds, for one convolution shape, three primitives created once:
 * forward (training), backward data and backward weights (+bias); the two
 * backward descriptors take a forward descriptor as hint. The caller's
 * tensors are plain NCHW / OIHW (GOIHW with groups) and move between calls,
 * so each is wrapped in a memory object whose handle is re-bound every call.
 * Each pass chooses its own layout strategy:
 *   plain    primitives straight on nchw / oihw (oneDNN's gemm kernels);
 *   blocked  format_tag_any (nChw16c, OIhw16i16o ... on AVX-512), direct
 *            algorithm, with cached reorder primitives from / to the caller's
 *            layout around it;
 *   wino     as blocked with the Winograd F(4x4,3x3) algorithm (3x3, stride
 *            1, no dilation, no groups only; elsewhere the pass falls back
 *            to blocked);
 *   nhwc     channels-last activations and any weights, with reorders;
 *   wino23   our own Winograd for AVX2 (conv_wino.c): F(2x2,3x3) for all
 *            three passes and F(2x2,5x5) for backward data, reading and
 *            writing the caller's nChw8c / nChw16c buffers directly, with
 *            no primitive (stride 1, both sides channel-blocked; elsewhere
 *            the pass falls back to blocked).
 * The reordered copies, the weight-gradient / dx staging buffers and the
 * primitives' scratchpads (dnnl_scratchpad_mode_user) all live in the
 * caller's scratch, whose size conv_scratch_floats reports: a graph that
 * allocates one scratch buffer for all nodes pays for the largest node only
 * (batch 128: 117 MB for candidate6's stride-2 128-channel conv, 19 MB for
 * ResNet-20's largest; the reference backend needs ~1-5 MB of im2col).
 * The backward pass reorders dy once when both backward primitives want the
 * same layout. acc=1 runs backward data into its staging buffer and adds it
 * to dx with a reorder carrying a sum post-op (oneDNN 2.6 has no sum
 * post-op on backward data). A missing bias binds a plan-owned zero vector
 * and a missing db a plan-owned sink: one primitive serves both cases, at
 * no measurable cost.
 *
 * Measured on the 2-core AVX-512 machine (AMD EPYC), batch 128 unless
 * noted, ms, min of 3-5 interleaved runs. ref1/ref2: the im2col + OpenBLAS
 * (OpenMP build) backend at 1 and 2 threads, forward + whole backward;
 * plain..nhwc: fwd + bwd_d + bwd_w at 2 threads with one strategy for all
 * passes; pick: the heuristic's strategy per pass (fwd, bwd_d, bwd_w), its
 * per-pass times at 2 threads (a bwd_d time includes a dy reorder that the
 * real backward shares with bwd_w) and its sum at 1 thread:
 *   shape                     ref1  ref2  plain blockd   wino   nhwc  pick   fwd bwd_d bwd_w   pick1
 *   1->64 3x3 28                11    10   10.9   11.6   22.4   21.9  ppb    1.3   1.1   2.0     8.2
 *   64->64 3x3 28              363   186  127.7   66.3   47.9   74.1  wwb   13.6  13.4  21.7    95.1
 *   64->64 5x5 28             1002   516  346.7  164.9      -  162.9  nbb   50.0  51.9  53.6   304.2
 *   128->128 3x3 s2 28         328   178  130.1  103.7      -  102.8  nbb   25.5  27.1  25.1   144.2
 *   128->128 3x1 14            102    57   38.5   30.0      -   37.6  bbb    7.5   7.5   8.6    45.3
 *   128->64 1x3 14              61    37   26.3   18.1      -   19.0  bbb    5.0   4.7   4.3    29.3
 *   192->128 3x3 s2 14         134    75   54.2   45.7      -   40.6  nbb    9.2  10.6   9.7    56.4
 *   128->128 3x1 7              28    17   11.6    7.4      -    9.5  bbb    1.8   1.7   2.2    11.3
 *   64->64 1x3 7                10     7    4.4    2.4      -    2.5  bbb    0.6   0.5   0.6     3.4
 *   1->16 3x3 28                 5     4    4.9    2.5    6.8    3.0  bpb    0.5   0.4   0.3     2.5
 *   16->16 3x3 28               52    30   34.4    6.2    6.6    6.6  bbb    1.8   1.7   1.7    10.6
 *   16->32 3x3 s2 28            23    14   10.3    3.5      -    4.6  bbb    1.2   1.0   1.0     6.6
 *   32->32 3x3 14               35    21   15.9    5.7    6.0    6.0  bbb    1.5   1.4   1.4     8.6
 *   32->64 3x3 s2 14            16    11    7.1    3.4      -    3.7  bbb    0.9   0.9   0.9     5.3
 *   64->64 3x3 7                26    17   11.5    5.1    3.8    5.0  wwb    1.0   0.9   1.4     6.2
 *   16->32 1x1 s2 28             4     3    2.2    2.0      -    2.3  bbb    0.5   0.6   0.6     3.2
 *   32->64 1x1 s2 14             3     2    1.3    1.0      -    1.4  bbb    0.3   0.3   0.3     1.5
 *   32->32 3x3 28, batch 32     33    17   19.0    5.0    3.6    5.5  www    1.2   0.9   0.9     6.5
 *   128->128 3x3 14            299   191   87.3   64.3   45.9   67.0  www   14.1  13.1  14.8    79.9
 *   depthwise 64 3x3 28        210   205  168.8   15.4      -   17.4  bbb    4.5   4.7   4.4    20.6
 *   depthwise 64 5x5 14        154   158   40.1   14.9      -   10.9  bbn    1.3   1.4   8.1    19.1
 *   depthwise 128 7x7 7        180   211   49.0   17.6      -    7.6  bbn    0.8   1.0   6.9    13.4
 *   depthwise 64 7x7 28        868   774  431.6  209.1      -   61.2  bbn    6.8   7.5  44.9   107.6
 *   depthwise 64 3x3 dil2 14    81   123   19.7   14.8      -   12.7  bnb    0.9   4.5   7.3    20.8
 *   64->64 3x3 dil2 14          93    67   27.6   17.2      -   18.8  bbb    5.2   5.6   5.4    30.2
 *   64->64 1x7 14               75    53   23.9   14.1      -   14.3  bbb    4.4   4.3   4.5    24.9
 * Held to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, the model-167 Xeon, batch 128, 2
 * threads, nChw8c, ms, best of 12), oneDNN's direct kernels against wino23:
 *   shape            fwd blocked  wino23   bwd_d blocked  wino23   bwd_w blocked  wino23
 *   16->16 3x3 28          2.96    2.07           2.23    2.17           2.65    2.27
 *   32->32 3x3 14          2.03    1.40           2.03    1.43           2.39    1.66
 *   64->64 3x3 7           2.19    1.84           2.11    1.76           2.35    1.87
 *   64->64 5x5 28         90.0   53.6*          92.1   53.4          97.8   59.8*
 * (* measured, not used: F(2x2,5x5) is too inaccurate there, conv_wino.c)
 * and natively (AVX-512, nChw16c) wino23 lost to oneDNN everywhere (1.95
 * against 1.40 for 16->16 28), so the heuristic takes it on AVX2 only.
 * Hence strategy_pick: blocked by default; Winograd for forward and
 * backward data of 3x3 convolutions with at least 64 channels in and out
 * (or 32 on maps of 20x20 or more) and for backward weights with 128 (or 32
 * on large maps at batch <= 32); plain forward for
 * 1-3 input channels into 64+ filters and plain backward data below 16
 * input channels (where the blocked kernels are 2-5x slower); wino23 for
 * all three passes of 3x3 stride-1 convolutions and the backward data of
 * 5x5 ones, of 32+ channels
 * (oneDNN's Winograd rule) when oneDNN runs AVX2 code and the caller holds
 * both sides blocked;
 * depthwise takes nhwc backward weights for kernels wider than 3 (oneDNN's
 * blocked depthwise weight gradient falls back to gemm: 4-5x slower) and
 * nhwc backward data when dilated. Winograd's error stays within the tests'
 * 1e-4 + 1e-4*|ref| on their shapes. That heuristic is the starting point:
 * by default a plan for a shape with enough work times the candidates of
 * each pass on the machine that runs and keeps a clearly faster one, cached
 * per ISA, threads and shape (strategy_tuned, conv_tune.h; TG_DNNL_TUNE=0
 * keeps the heuristic). TG_DNNL_LAYOUT overrides both (see
 * strategy_from_env) for tests and timing. (nhwc forward measured
 * best for 128+ input channels at stride 2 and 5x5+ kernels on 64+
 * channels, but is off: see strategy_pick.)
 *
 * Threads: Debian's oneDNN runs on OpenMP and sizes its work split when a
 * primitive is created, so a plan keeps the thread count in force when it
 * was made (measured: a plan made at 2 threads still runs 2 after
 * tg_threads_set(1)). Create plans after tg_threads_set and remake them if
 * the count changes. Each plan owns its CPU engine and in-order stream (no
 * global state of ours; oneDNN keeps its own primitive cache, so a plan
 * takes ~1.3 ms to make cold and ~0.04 ms when the kernels are cached).
 * Execution is synchronous; a failing oneDNN call at run time is a broken
 * invariant (TG_ASSERT). The sanitizer build runs clean, LeakSanitizer
 * included. */
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conv_tune.h"
#include "conv_wino.h"
#include "tgsage/backend.h"
#include "tgsage/threads.h"

/* Layout strategies, chosen per pass (see the header comment). */
enum { STRAT_PLAIN, STRAT_BLOCKED, STRAT_WINO, STRAT_NHWC, STRAT_W23, STRAT_COUNT };
static const char *const STRAT_NAME[STRAT_COUNT] = {"plain", "blocked", "wino", "nhwc",
                                                    "wino23"};
enum { PASS_FWD = WINO_FWD, PASS_BWD_D = WINO_BWD_DATA, PASS_BWD_W = WINO_BWD_WEIGHTS,
       PASS_COUNT };
static const char *const PASS_NAME[PASS_COUNT] = {"forward", "backward-data",
                                                  "backward-weights"};

/* One tensor argument of one primitive. `user` wraps the caller's plain
 * buffer (its handle is re-bound every call); `prim` is the primitive's own
 * layout, living in the caller's scratch at byte offset `off`, or is the
 * same object as `user` when the layouts agree. */
typedef struct {
    dnnl_memory_t user, prim;
    dnnl_primitive_t reorder;      /* user -> prim (inputs), prim -> user (outputs) */
    dnnl_primitive_t reorder_add;  /* prim -> user with a sum post-op (dx, acc=1) */
    size_t off;
} dn_tensor;

struct tg_conv_plan {
    tg_conv2d_shape s;
    int strat[PASS_COUNT];     /* the strategy each pass ended up with */
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_t fwd, bwd_d, bwd_w;
    dn_tensor f_x, f_w, f_y;   /* forward: src, weights, dst */
    dn_tensor d_dy, d_w, d_dx; /* backward data: diff_dst, weights, diff_src */
    dn_tensor w_x, w_dy, w_dw; /* backward weights: src, diff_dst, diff_weights */
    dnnl_memory_t f_b, w_db;   /* bias and its gradient: always plain (k) */
    dnnl_memory_t f_pad, d_pad, w_pad; /* user-mode scratchpads, NULL if empty */
    size_t f_pad_off, d_pad_off, w_pad_off;
    int dy_shared;             /* d_dy.prim reuses w_dy.prim's reordered copy */
    int threads;               /* the count in force when the plan was made */
    size_t f_u_off, f_work_off, d_u_off, d_work_off, w_work_off; /* wino23 */
    float *zero_bias;          /* k zeros, bound when the caller has no bias */
    float *db_sink;            /* k floats, bound when the caller wants no db */
    size_t scratch_bytes;      /* from the 64-byte aligned start of scratch */
};

/* ---- plan construction ------------------------------------------------ */

typedef struct {
    const tg_conv2d_shape *s;
    tg_error *err;
    dnnl_status_t st;
} dn_ctx;

/* Record the first oneDNN failure with the shape and the status. */
static int dn_ok(dn_ctx *c, dnnl_status_t st, const char *what) {
    if (st == dnnl_success) return 1;
    if (c->st == dnnl_success) {
        const tg_conv2d_shape *s = c->s;
        c->st = st;
        tg_error_set(c->err, TG_ERR_UNSUPPORTED,
                     "conv2d (oneDNN): %s failed for n=%d c=%d h=%d w=%d -> "
                     "k=%d oh=%d ow=%d, kernel %dx%d, stride %d, dilation %d, "
                     "groups %d: %s",
                     what, s->n, s->c, s->h, s->w, s->k, s->oh, s->ow, s->kh,
                     s->kw, s->stride, s->dil, s->groups, dnnl_status2str(st));
    }
    return 0;
}

static size_t bump(size_t *top, size_t bytes) {
    size_t off = *top;
    *top += (bytes + 63) / 64 * 64;
    return off;
}

static int md_bytes_zero(const dnnl_memory_desc_t *md) {
    return md == NULL || dnnl_memory_desc_get_size(md) == 0;
}

static dnnl_primitive_t make_reorder(dn_ctx *c, dnnl_engine_t eng,
                                     const dnnl_memory_desc_t *from,
                                     const dnnl_memory_desc_t *to, int add) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    if (add) {
        if (!dn_ok(c, dnnl_primitive_attr_create(&attr), "attr") ||
            !dn_ok(c, dnnl_post_ops_create(&ops), "post-ops") ||
            !dn_ok(c, dnnl_post_ops_append_sum(ops, 1.0f), "sum post-op") ||
            !dn_ok(c, dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops"))
            goto out;
    }
    if (dn_ok(c, dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, attr),
              "reorder descriptor"))
        dn_ok(c, dnnl_primitive_create(&r, pd), "reorder primitive");
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return r;
}

/* Set up tensor t between the caller's layout `user_md` and the layout
 * `prim_md` that primitive descriptor chose. is_out: the primitive writes
 * it; with_add: also build the accumulating reorder (for dx). A plain
 * output with with_add gets a separate buffer too, so that acc=1 can run
 * the primitive there and add through reorder_add. */
static int tensor_init(dn_ctx *c, dnnl_engine_t eng, dn_tensor *t,
                       const dnnl_memory_desc_t *user_md,
                       const dnnl_memory_desc_t *prim_md, int is_out,
                       int with_add, size_t *top) {
    if (!prim_md) return dn_ok(c, dnnl_runtime_error, "memory descriptor query");
    if (!dn_ok(c, dnnl_memory_create(&t->user, user_md, eng, DNNL_MEMORY_NONE),
               "memory"))
        return 0;
    int same = dnnl_memory_desc_equal(user_md, prim_md);
    if (same && !with_add) {
        t->prim = t->user;
        return 1;
    }
    if (!dn_ok(c, dnnl_memory_create(&t->prim, prim_md, eng, DNNL_MEMORY_NONE),
               "memory"))
        return 0;
    t->off = bump(top, dnnl_memory_desc_get_size(prim_md));
    if (!same) {
        t->reorder = is_out ? make_reorder(c, eng, prim_md, user_md, 0)
                            : make_reorder(c, eng, user_md, prim_md, 0);
        if (!t->reorder) return 0;
    }
    if (with_add) {
        t->reorder_add = make_reorder(c, eng, prim_md, user_md, 1);
        if (!t->reorder_add) return 0;
    }
    return 1;
}

static void tensor_free(dn_tensor *t) {
    if (t->reorder) dnnl_primitive_destroy(t->reorder);
    if (t->reorder_add) dnnl_primitive_destroy(t->reorder_add);
    if (t->prim && t->prim != t->user) dnnl_memory_destroy(t->prim);
    if (t->user) dnnl_memory_destroy(t->user);
    memset(t, 0, sizeof *t);
}

/* A user-mode scratchpad memory at a fresh offset; NULL when empty. */
static int pad_init(dn_ctx *c, dnnl_engine_t eng, dnnl_primitive_desc_t pd,
                    dnnl_memory_t *m, size_t *off, size_t *top) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (md_bytes_zero(md)) return 1;
    if (!dn_ok(c, dnnl_memory_create(m, md, eng, DNNL_MEMORY_NONE), "scratchpad memory"))
        return 0;
    *off = bump(top, dnnl_memory_desc_get_size(md));
    return 1;
}

static const dnnl_memory_desc_t *q_md(dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

static void conv_plan_free(tg_conv_plan *p);

/* ---- layouts and primitive descriptors -------------------------------- */

/* What every descriptor of one plan shares. */
typedef struct {
    const tg_conv2d_shape *s;
    dnnl_engine_t eng;
    dnnl_primitive_attr_t attr;
    dnnl_memory_desc_t x, y, w, b;   /* the caller's layouts */
    dnnl_primitive_desc_t hint[STRAT_COUNT]; /* forward pds, made on demand */
} pd_ctx;

/* The layouts a strategy asks the primitives for. */
static dnnl_status_t strat_mds(const pd_ctx *q, int strat, dnnl_memory_desc_t *x,
                               dnnl_memory_desc_t *w, dnnl_memory_desc_t *y) {
    const tg_conv2d_shape *s = q->s;
    const int G = s->groups;
    dnnl_dims_t xd = {s->n, s->c, s->h, s->w}, yd = {s->n, s->k, s->oh, s->ow};
    dnnl_dims_t wd = {s->k, s->c, s->kh, s->kw};
    dnnl_dims_t wgd = {G, s->k / G, s->c / G, s->kh, s->kw};
    dnnl_format_tag_t act = strat == STRAT_PLAIN  ? dnnl_nchw
                            : strat == STRAT_NHWC ? dnnl_nhwc
                                                  : dnnl_format_tag_any;
    dnnl_format_tag_t wtag = strat != STRAT_PLAIN ? dnnl_format_tag_any
                             : G > 1              ? dnnl_goihw
                                                  : dnnl_oihw;
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(x, 4, xd, dnnl_f32, act);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(y, 4, yd, dnnl_f32, act);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(w, G > 1 ? 5 : 4, G > 1 ? wgd : wd,
                                          dnnl_f32, wtag);
    return st;
}

static dnnl_format_tag_t block_tag(int blk) {
    return blk == 16 ? dnnl_nChw16c : blk == 8 ? dnnl_nChw8c : dnnl_format_tag_undef;
}

/* The caller's x and y layouts where the shape asks for a blocked one. */
static dnnl_status_t user_blocked(const tg_conv2d_shape *s, dnnl_memory_desc_t *x,
                                  dnnl_memory_desc_t *y) {
    dnnl_dims_t xd = {s->n, s->c, s->h, s->w}, yd = {s->n, s->k, s->oh, s->ow};
    dnnl_status_t st = dnnl_success;
    if (s->x_blk) st = dnnl_memory_desc_init_by_tag(x, 4, xd, dnnl_f32, block_tag(s->x_blk));
    if (st == dnnl_success && s->y_blk)
        st = dnnl_memory_desc_init_by_tag(y, 4, yd, dnnl_f32, block_tag(s->y_blk));
    return st;
}

/* The primitive descriptor of one pass under one strategy; backward passes
 * take the forward descriptor of the same strategy as their hint. */
static dnnl_status_t pass_pd(pd_ctx *q, int pass, int strat,
                             dnnl_primitive_desc_t *pd) {
    const tg_conv2d_shape *s = q->s;
    dnnl_memory_desc_t x, w, y;
    dnnl_convolution_desc_t d;
    dnnl_dims_t strides = {s->stride, s->stride}, dil = {s->dil - 1, s->dil - 1};
    dnnl_dims_t pad = {s->pad_h, s->pad_w};
    const dnnl_alg_kind_t alg =
        strat == STRAT_WINO ? dnnl_convolution_winograd : dnnl_convolution_direct;
    dnnl_status_t st = strat_mds(q, strat, &x, &w, &y);
    if (st != dnnl_success) return st;
    if (!q->hint[strat]) {
        st = dnnl_dilated_convolution_forward_desc_init(
            &d, dnnl_forward_training, alg, &x, &w, &q->b, &y, strides, dil,
            pad, pad);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(&q->hint[strat], &d, q->attr, q->eng, NULL);
        if (st != dnnl_success) return st;
    }
    if (pass == PASS_FWD) {
        *pd = q->hint[strat];  /* owned by q->hint */
        return dnnl_success;
    }
    if (pass == PASS_BWD_D)
        st = dnnl_dilated_convolution_backward_data_desc_init(
            &d, alg, &x, &w, &y, strides, dil, pad, pad);
    else
        st = dnnl_dilated_convolution_backward_weights_desc_init(
            &d, alg, &x, &w, &q->b, &y, strides, dil, pad, pad);
    if (st != dnnl_success) return st;
    return dnnl_primitive_desc_create(pd, &d, q->attr, q->eng, q->hint[strat]);
}

/* The backward descriptors of pds and everything q holds but its engine
 * (the forward descriptors are q's hints). */
static void pds_release(pd_ctx *q, dnnl_primitive_desc_t pds[PASS_COUNT]) {
    if (pds[PASS_BWD_D]) dnnl_primitive_desc_destroy(pds[PASS_BWD_D]);
    if (pds[PASS_BWD_W]) dnnl_primitive_desc_destroy(pds[PASS_BWD_W]);
    for (int i = 0; i < STRAT_COUNT; i++)
        if (q->hint[i]) dnnl_primitive_desc_destroy(q->hint[i]);
    if (q->attr) dnnl_primitive_attr_destroy(q->attr);
}

/* The heuristic of the header comment: a strategy per pass. */
static void strategy_pick(const tg_conv2d_shape *s, int strat[PASS_COUNT]) {
    const int mn = s->c < s->k ? s->c : s->k, area = s->oh * s->ow;
    const int depthwise = s->groups > 1 && s->groups == s->c;
    const int wino = s->kh == 3 && s->kw == 3 && s->stride == 1 && s->dil == 1 &&
                     s->groups == 1;
    int f = STRAT_BLOCKED, d = STRAT_BLOCKED, w = STRAT_BLOCKED;
    if (wino && (mn >= 64 || (mn >= 32 && area >= 400))) f = d = STRAT_WINO;
    if (wino && (mn >= 128 || (mn >= 32 && area >= 400 && s->n <= 32))) w = STRAT_WINO;
    /* oneDNN 2.6's Winograd is AVX-512 only; on AVX2 our F(2x2, 3x3) ran
     * ResNet-20's 3x3 convolutions 1.2-1.45x faster than the direct kernels
     * (each pass; the header comment). The accuracy rule is oneDNN
     * Winograd's, 32+ channels in and out. Its backward weights were off
     * for a while: five SGD steps of resnet:3 ended 8 tolerances from
     * PyTorch's stem weights, which turned out to be one ReLU tie of the
     * float64 reference landing on the other side (docs/performance.md);
     * test_torch_parity judges the steps with the listed ties flipped. */
    if (mn >= 32 && !strncmp(conv_tune_isa(), "avx2", 4)) {
        if (wino_fits(s, WINO_FWD)) f = STRAT_W23;
        if (wino_fits(s, WINO_BWD_DATA)) d = STRAT_W23;
        if (wino_fits(s, WINO_BWD_WEIGHTS)) w = STRAT_W23;
    }
    /* A channels-last forward was up to 1.3x faster for stride-2 convs of
     * >= 128 input channels and 5x5+ kernels of >= 64, but the backward
     * passes of a net whose forward ran channels-last came out wrong (3%
     * in candidate6's layer-2 weight gradient against PyTorch, while the
     * same conv alone and every forward output matched): not used until
     * that is understood (tests/test_torch_parity.c shows it with
     * TG_DNNL_LAYOUT=nhwc,plain,plain). */
    if (s->c < 4 && s->k >= 64) f = STRAT_PLAIN;
    if (s->c < 16) d = STRAT_PLAIN;
    if (depthwise && s->dil > 1) d = STRAT_NHWC;
    if (depthwise && s->kw > 3) w = STRAT_NHWC;
    strat[PASS_FWD] = f, strat[PASS_BWD_D] = d, strat[PASS_BWD_W] = w;
}

static tg_conv_plan *plan_create(const tg_conv2d_shape *s,
                                 const int want[PASS_COUNT], tg_error *err) {
    if (s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0 || s->k <= 0 ||
        s->kh <= 0 || s->kw <= 0 || s->stride <= 0 || s->dil <= 0 ||
        s->groups <= 0 || s->c % s->groups || s->k % s->groups ||
        s->oh <= 0 || s->ow <= 0 || s->pad_h < 0 || s->pad_w < 0) {
        tg_error_set(err, TG_ERR_SHAPE,
                     "conv2d (oneDNN): invalid shape n=%d c=%d h=%d w=%d k=%d "
                     "kernel %dx%d stride %d dilation %d groups %d out %dx%d",
                     s->n, s->c, s->h, s->w, s->k, s->kh, s->kw, s->stride,
                     s->dil, s->groups, s->oh, s->ow);
        return NULL;
    }
    tg_conv_plan *p = calloc(1, sizeof *p);
    float *buf = calloc(2 * (size_t)s->k, sizeof(float));
    if (!p || !buf) {
        free(p);
        free(buf);
        tg_error_set(err, TG_ERR_NOMEM, "conv2d (oneDNN): out of memory for a plan");
        return NULL;
    }
    p->s = *s;
    p->zero_bias = buf;
    p->db_sink = buf + s->k;

    dn_ctx c = {s, err, dnnl_success};
    pd_ctx q;
    memset(&q, 0, sizeof q);
    q.s = s;
    dnnl_primitive_desc_t pds[PASS_COUNT] = {NULL, NULL, NULL};
    if (!dn_ok(&c, dnnl_engine_create(&p->eng, dnnl_cpu, 0), "CPU engine") ||
        !dn_ok(&c, dnnl_stream_create(&p->strm, p->eng, dnnl_stream_default_flags),
               "stream") ||
        !dn_ok(&c, dnnl_primitive_attr_create(&q.attr), "attr") ||
        !dn_ok(&c, dnnl_primitive_attr_set_scratchpad_mode(q.attr, dnnl_scratchpad_mode_user),
               "scratchpad mode"))
        goto fail;
    q.eng = p->eng;
    dnnl_dims_t bd = {s->k};
    if (!dn_ok(&c, strat_mds(&q, STRAT_PLAIN, &q.x, &q.w, &q.y), "memory desc") ||
        !dn_ok(&c, user_blocked(s, &q.x, &q.y), "memory desc") ||
        !dn_ok(&c, dnnl_memory_desc_init_by_tag(&q.b, 1, bd, dnnl_f32, dnnl_x), "memory desc"))
        goto fail;

    /* Winograd exists for few shapes (3x3, stride 1, no dilation, no
     * groups): elsewhere that pass falls back to the direct blocked kernels */
    p->threads = tg_threads_get();
    for (int pass = 0; pass < PASS_COUNT; pass++) {
        int st = want[pass];
        if (st == STRAT_W23 && wino_fits(s, pass)) {  /* PASS_* are WINO_* */
            p->strat[pass] = st;  /* conv_wino.c: no primitive */
            continue;
        }
        if (st == STRAT_W23) st = STRAT_BLOCKED;
        dnnl_status_t rc = pass_pd(&q, pass, st, &pds[pass]);
        if (rc != dnnl_success && st == STRAT_WINO) {
            st = STRAT_BLOCKED;
            rc = pass_pd(&q, pass, st, &pds[pass]);
        }
        if (!dn_ok(&c, rc, PASS_NAME[pass])) goto fail;
        p->strat[pass] = st;
    }
    dnnl_primitive_desc_t fpd = pds[PASS_FWD], dpd = pds[PASS_BWD_D], wpd = pds[PASS_BWD_W];
    if ((fpd && !dn_ok(&c, dnnl_primitive_create(&p->fwd, fpd), "forward primitive")) ||
        (dpd && !dn_ok(&c, dnnl_primitive_create(&p->bwd_d, dpd), "backward-data primitive")) ||
        (wpd && !dn_ok(&c, dnnl_primitive_create(&p->bwd_w, wpd), "backward-weights primitive")))
        goto fail;
    const size_t wino_u = wino_weight_floats(s) * 4, wino_work = wino_work_floats(s, p->threads) * 4;

    /* Scratch: the forward pass and the backward pass each lay out their
     * buffers from offset 0; the plan asks for the larger of the two. The
     * two backward scratchpads run one after the other and share a region. */
    size_t ftop = 0, btop = 0;
    if (!fpd) {
        p->f_u_off = bump(&ftop, wino_u);
        p->f_work_off = bump(&ftop, wino_work);
    } else if (!tensor_init(&c, p->eng, &p->f_x, &q.x, q_md(fpd, dnnl_query_src_md), 0, 0,
                            &ftop) ||
               !tensor_init(&c, p->eng, &p->f_w, &q.w, q_md(fpd, dnnl_query_weights_md), 0, 0,
                            &ftop) ||
               !tensor_init(&c, p->eng, &p->f_y, &q.y, q_md(fpd, dnnl_query_dst_md), 1, 0,
                            &ftop) ||
               !pad_init(&c, p->eng, fpd, &p->f_pad, &p->f_pad_off, &ftop)) {
        goto fail;
    }
    if (!dn_ok(&c, dnnl_memory_create(&p->f_b, &q.b, p->eng, DNNL_MEMORY_NONE), "memory") ||
        !dn_ok(&c, dnnl_memory_create(&p->w_db, &q.b, p->eng, DNNL_MEMORY_NONE), "memory"))
        goto fail;
    const dnnl_memory_desc_t *wdy = wpd ? q_md(wpd, dnnl_query_diff_dst_md) : NULL;
    const dnnl_memory_desc_t *ddy = dpd ? q_md(dpd, dnnl_query_diff_dst_md) : NULL;
    if (wpd &&
        (!tensor_init(&c, p->eng, &p->w_x, &q.x, q_md(wpd, dnnl_query_src_md), 0, 0, &btop) ||
         !tensor_init(&c, p->eng, &p->w_dy, &q.y, wdy, 0, 0, &btop) ||
         !tensor_init(&c, p->eng, &p->w_dw, &q.w, q_md(wpd, dnnl_query_diff_weights_md), 1, 0,
                      &btop)))
        goto fail;
    p->dy_shared = wdy && ddy && dnnl_memory_desc_equal(wdy, ddy);
    if (!dpd) {
        /* wino23 reads dy where the caller holds it */
    } else if (p->dy_shared) {
        /* bwd_d reads the copy bwd_w's reorder made (or the user's buffer) */
        size_t none = 0;
        if (!tensor_init(&c, p->eng, &p->d_dy, &q.y, ddy, 0, 0, &none)) goto fail;
        p->d_dy.off = p->w_dy.off;
        if (p->d_dy.reorder) dnnl_primitive_destroy(p->d_dy.reorder);
        p->d_dy.reorder = NULL;
    } else if (!tensor_init(&c, p->eng, &p->d_dy, &q.y, ddy, 0, 0, &btop)) {
        goto fail;
    }
    if (dpd &&
        (!tensor_init(&c, p->eng, &p->d_w, &q.w, q_md(dpd, dnnl_query_weights_md), 0, 0, &btop) ||
         !tensor_init(&c, p->eng, &p->d_dx, &q.x, q_md(dpd, dnnl_query_diff_src_md), 1, 1,
                      &btop)))
        goto fail;
    /* backward weights runs first: its scratchpad and backward data's own
     * buffers share a region */
    size_t ptop = btop, dtop = btop;
    if (!wpd)
        p->w_work_off = bump(&ptop, wino_wgrad_work_floats(s, p->threads) * 4);
    else if (!pad_init(&c, p->eng, wpd, &p->w_pad, &p->w_pad_off, &ptop))
        goto fail;
    if (!dpd) {
        p->d_u_off = bump(&dtop, wino_u);
        p->d_work_off = bump(&dtop, wino_work);
    } else if (!pad_init(&c, p->eng, dpd, &p->d_pad, &p->d_pad_off, &dtop)) {
        goto fail;
    }
    btop = ptop > dtop ? ptop : dtop;
    p->scratch_bytes = ftop > btop ? ftop : btop;
    goto done;

fail:
    conv_plan_free(p);
    p = NULL;
done:
    pds_release(&q, pds);
    return p;
}

/* TG_DNNL_LAYOUT overrides the heuristic (tests and timing): one strategy
 * name for all passes or three, "fwd,bwd_d,bwd_w", e.g. "wino,wino,blocked".
 * Read once per plan; anything unparsable means the heuristic. */
static int strategy_from_env(int strat[PASS_COUNT]) {
    const char *v = getenv("TG_DNNL_LAYOUT");
    if (!v) return 0;
    int n = 0;
    while (n < PASS_COUNT) {
        size_t len = strcspn(v, ",");
        int found = -1;
        for (int i = 0; i < STRAT_COUNT; i++)
            if (strlen(STRAT_NAME[i]) == len && !strncmp(v, STRAT_NAME[i], len)) found = i;
        if (found < 0) return 0;
        strat[n++] = found;
        if (v[len] != ',') break;
        v += len + 1;
    }
    if (n == 1) strat[PASS_BWD_D] = strat[PASS_BWD_W] = strat[PASS_FWD];
    return n == 1 || n == PASS_COUNT;
}

static void strategy_tuned(const tg_conv2d_shape *s, int strat[PASS_COUNT]);

/* TG_DNNL_LAYOUT, else the measured choice of this machine (conv_tune.h),
 * else the heuristic. */
static tg_conv_plan *conv_plan_new(const tg_conv2d_shape *s, tg_error *err) {
    int strat[PASS_COUNT];
    if (!strategy_from_env(strat)) strategy_tuned(s, strat);
    return plan_create(s, strat, err);
}

static void conv_plan_free(tg_conv_plan *p) {
    if (!p) return;
    dn_tensor *ts[] = {&p->f_x, &p->f_w, &p->f_y, &p->d_dy, &p->d_w,
                       &p->d_dx, &p->w_x, &p->w_dy, &p->w_dw};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) tensor_free(ts[i]);
    dnnl_memory_t ms[] = {p->f_b, p->w_db, p->f_pad, p->d_pad, p->w_pad};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd_d) dnnl_primitive_destroy(p->bwd_d);
    if (p->bwd_w) dnnl_primitive_destroy(p->bwd_w);
    if (p->strm) dnnl_stream_destroy(p->strm);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p->zero_bias);
    free(p);
}

/* 16 floats of slack let the buffers start 64-byte aligned in any scratch. */
static size_t conv_scratch_floats(const tg_conv_plan *p) {
    return p->scratch_bytes ? (p->scratch_bytes + 3) / 4 + 16 : 0;
}

/* ---- execution: a failing oneDNN call here is a broken invariant ------ */

static char *scratch_base(const tg_conv_plan *p, float *scratch) {
    if (!p->scratch_bytes) return NULL;
    TG_ASSERT(scratch != NULL);
    return (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
}

static void bind(dnnl_memory_t m, const void *ptr) {
    /* oneDNN only reads the inputs bound here; it takes a void * */
    dnnl_status_t st = dnnl_memory_set_data_handle(m, (void *)(uintptr_t)ptr);
    TG_ASSERT(st == dnnl_success);
}

static void run(tg_conv_plan *p, dnnl_primitive_t prim, int nargs,
                const dnnl_exec_arg_t *args) {
    dnnl_status_t st = dnnl_primitive_execute(prim, p->strm, nargs, args);
    TG_ASSERT(st == dnnl_success);
}

static void run_reorder(tg_conv_plan *p, dnnl_primitive_t r, dnnl_memory_t from,
                        dnnl_memory_t to) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    run(p, r, 2, a);
}

/* Bind an input tensor to the caller's buffer and bring it into the
 * primitive's layout. */
static void tensor_in(tg_conv_plan *p, dn_tensor *t, const float *user, char *sc) {
    bind(t->user, user);
    if (t->prim == t->user) return;
    bind(t->prim, sc + t->off);
    if (t->reorder) run_reorder(p, t->reorder, t->user, t->prim);
}

/* Bind an output tensor; returns the memory the primitive must write. */
static dnnl_memory_t tensor_out(dn_tensor *t, float *user, char *sc) {
    bind(t->user, user);
    if (t->prim != t->user) bind(t->prim, sc + t->off);
    return t->reorder ? t->prim : t->user;
}

static void conv_forward(tg_conv_plan *p, const float *x, const float *wt,
                         const float *bias, float *y, float *scratch) {
    char *sc = scratch_base(p, scratch);
    if (p->strat[PASS_FWD] == STRAT_W23) {
        float *u = (float *)(void *)(sc + p->f_u_off);
        wino_weights(&p->s, wt, 0, u, p->threads);
        wino_run(&p->s, 0, u, x, bias, y, 0, (float *)(void *)(sc + p->f_work_off), p->threads);
        return;
    }
    tensor_in(p, &p->f_x, x, sc);
    tensor_in(p, &p->f_w, wt, sc);
    bind(p->f_b, bias ? bias : p->zero_bias);
    dnnl_memory_t ym = tensor_out(&p->f_y, y, sc);
    dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, p->f_x.prim},
                            {DNNL_ARG_WEIGHTS, p->f_w.prim},
                            {DNNL_ARG_BIAS, p->f_b},
                            {DNNL_ARG_DST, ym},
                            {DNNL_ARG_SCRATCHPAD, p->f_pad}};
    if (p->f_pad) bind(p->f_pad, sc + p->f_pad_off);
    run(p, p->fwd, p->f_pad ? 5 : 4, a);
    if (p->f_y.reorder) run_reorder(p, p->f_y.reorder, p->f_y.prim, p->f_y.user);
    TG_ASSERT(dnnl_stream_wait(p->strm) == dnnl_success);
}

/* dy -> dw, db. Leaves dy in bwd_w's layout in scratch, where backward_data
 * finds it when the two layouts agree (dy_shared). */
static void backward_weights(tg_conv_plan *p, const float *x, const float *dy,
                             float *dw, float *db, char *sc) {
    if (p->strat[PASS_BWD_W] == STRAT_W23) {
        wino_wgrad(&p->s, x, dy, dw, db, (float *)(void *)(sc + p->w_work_off), p->threads);
        return;
    }
    tensor_in(p, &p->w_x, x, sc);
    tensor_in(p, &p->w_dy, dy, sc);
    dnnl_memory_t dwm = tensor_out(&p->w_dw, dw, sc);
    bind(p->w_db, db ? db : p->db_sink);
    dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, p->w_x.prim},
                            {DNNL_ARG_DIFF_DST, p->w_dy.prim},
                            {DNNL_ARG_DIFF_WEIGHTS, dwm},
                            {DNNL_ARG_DIFF_BIAS, p->w_db},
                            {DNNL_ARG_SCRATCHPAD, p->w_pad}};
    if (p->w_pad) bind(p->w_pad, sc + p->w_pad_off);
    run(p, p->bwd_w, p->w_pad ? 5 : 4, a);
    if (p->w_dw.reorder) run_reorder(p, p->w_dw.reorder, p->w_dw.prim, p->w_dw.user);
}

/* dy -> dx (written, or added with acc) */
static void backward_data(tg_conv_plan *p, const float *wt, const float *dy,
                          float *dx, int acc, char *sc) {
    if (p->strat[PASS_BWD_D] == STRAT_W23) {
        /* its buffers share backward weights' scratchpad region */
        TG_ASSERT(dnnl_stream_wait(p->strm) == dnnl_success);
        float *u = (float *)(void *)(sc + p->d_u_off);
        wino_weights(&p->s, wt, 1, u, p->threads);
        wino_run(&p->s, 1, u, dy, NULL, dx, acc, (float *)(void *)(sc + p->d_work_off),
                 p->threads);
        return;
    }
    tensor_in(p, &p->d_dy, dy, sc);  /* no reorder when shared with w_dy */
    tensor_in(p, &p->d_w, wt, sc);
    dn_tensor *t = &p->d_dx;
    bind(t->user, dx);
    bind(t->prim, sc + t->off);  /* d_dx always has its own buffer */
    dnnl_memory_t dxm = acc || t->reorder ? t->prim : t->user;
    dnnl_exec_arg_t a[4] = {{DNNL_ARG_DIFF_DST, p->d_dy.prim},
                            {DNNL_ARG_WEIGHTS, p->d_w.prim},
                            {DNNL_ARG_DIFF_SRC, dxm},
                            {DNNL_ARG_SCRATCHPAD, p->d_pad}};
    if (p->d_pad) bind(p->d_pad, sc + p->d_pad_off);
    run(p, p->bwd_d, p->d_pad ? 4 : 3, a);
    if (acc)
        run_reorder(p, t->reorder_add, t->prim, t->user);
    else if (t->reorder)
        run_reorder(p, t->reorder, t->prim, t->user);
}

static void conv_backward(tg_conv_plan *p, const float *x, const float *wt,
                          const float *dy, float *dx, int acc, float *dw,
                          float *db, float *scratch) {
    char *sc = scratch_base(p, scratch);
    backward_weights(p, x, dy, dw, db, sc);
    if (dx) backward_data(p, wt, dy, dx, acc, sc);
    TG_ASSERT(dnnl_stream_wait(p->strm) == dnnl_success);
}

/* The layout a pass's primitive descriptor chose for an argument equals
 * nChw<blk>c of dims d. */
static int pd_md_is(dnnl_primitive_desc_t pd, dnnl_query_t what, const dnnl_dims_t d,
                    int blk) {
    const dnnl_memory_desc_t *md = pd ? q_md(pd, what) : NULL;
    dnnl_memory_desc_t want;
    return md && dnnl_memory_desc_init_by_tag(&want, 4, d, dnnl_f32, block_tag(blk)) ==
                     dnnl_success &&
           dnnl_memory_desc_equal(md, &want);
}

/* 16 or 8 when the blocked strategy's primitives of every pass (but
 * backward data if !dx) take x (side 0) or y (side 1) in nChw16c or
 * nChw8c, so a caller holding it in that layout spares their reorders;
 * else 0. Asks primitive descriptors only (no kernel is generated). */
static int conv_blocked(const tg_conv2d_shape *s, int side, int dx) {
    const int ch = side ? s->k : s->c;
    if (ch % 8) return 0;
    pd_ctx q;
    memset(&q, 0, sizeof q);
    q.s = s;
    dnnl_primitive_desc_t pds[PASS_COUNT] = {NULL, NULL, NULL};
    int blk = 0;
    dnnl_dims_t bd = {s->k};
    if (dnnl_engine_create(&q.eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_primitive_attr_create(&q.attr) != dnnl_success ||
        dnnl_primitive_attr_set_scratchpad_mode(q.attr, dnnl_scratchpad_mode_user) !=
            dnnl_success ||
        strat_mds(&q, STRAT_PLAIN, &q.x, &q.w, &q.y) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&q.b, 1, bd, dnnl_f32, dnnl_x) != dnnl_success)
        goto out;
    for (int pass = 0; pass < PASS_COUNT; pass++)
        if ((pass != PASS_BWD_D || dx) &&
            pass_pd(&q, pass, STRAT_BLOCKED, &pds[pass]) != dnnl_success)
            goto out;
    dnnl_dims_t d = {s->n, ch, side ? s->oh : s->h, side ? s->ow : s->w};
    const dnnl_query_t fq = side ? dnnl_query_dst_md : dnnl_query_src_md;
    const dnnl_query_t dq = side ? dnnl_query_diff_dst_md : dnnl_query_diff_src_md;
    const dnnl_query_t wq = side ? dnnl_query_diff_dst_md : dnnl_query_src_md;
    for (int b = 16; b >= 8 && !blk; b /= 2)
        if (ch % b == 0 && pd_md_is(pds[PASS_FWD], fq, d, b) &&
            (!dx || pd_md_is(pds[PASS_BWD_D], dq, d, b)) &&
            pd_md_is(pds[PASS_BWD_W], wq, d, b))
            blk = b;
out:
    pds_release(&q, pds);
    if (q.eng) dnnl_engine_destroy(q.eng);
    return blk;
}

const tg_backend tg_backend_dnnl = {
    .name = "dnnl",
    .conv_plan_new = conv_plan_new,
    .conv_plan_free = conv_plan_free,
    .conv_scratch_floats = conv_scratch_floats,
    .conv_forward = conv_forward,
    .conv_backward = conv_backward,
    .conv_blocked = conv_blocked,
};

/* ---- measured strategies (conv_tune.h) -------------------------------- */

/* Convolutions with less work than this per pass keep the heuristic: they
 * cost little whatever the layout, and timing them is mostly noise. */
#define TUNE_MIN_FLOPS 2e7
/* A measured strategy replaces the heuristic's only when it is this much
 * faster, so timing noise does not flip choices that hardly differ. */
#define TUNE_MARGIN 0.95
#define TUNE_ROUNDS 2  /* rounds over the candidates (strategy_measure) */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct {
    float *x, *w, *y, *dy, *dx, *dw, *db;
} tune_bufs;

/* Seconds of one pass: the best of up to 3 runs after a warm-up. */
static double time_pass(tg_conv_plan *p, int pass, const tune_bufs *b, float *scratch) {
    char *sc = scratch_base(p, scratch);
    double best = 1e30, spent = 0;
    for (int r = 0; r < 3 && (r < 2 || spent < 0.02); r++) {
        double t0 = now_s();
        if (pass == PASS_FWD) {
            conv_forward(p, b->x, b->w, NULL, b->y, scratch);
        } else {
            if (pass == PASS_BWD_W)
                backward_weights(p, b->x, b->dy, b->dw, b->db, sc);
            else
                backward_data(p, b->w, b->dy, b->dx, 0, sc);
            TG_ASSERT(dnnl_stream_wait(p->strm) == dnnl_success);
        }
        double t = now_s() - t0;
        if (r > 0) {
            spent += t;
            if (t < best) best = t;
        }
    }
    return best;
}

/* Time every candidate strategy of every pass and keep, per pass, the
 * fastest if it beats the heuristic's choice by the margin. The candidates
 * are timed in TUNE_ROUNDS rounds, each in the other order, and each keeps
 * its best time: a burst of load from another process (a build, a second
 * worker) then slows every candidate, not only the one it met, and a
 * cached choice is not spoilt by it. The plans are made again each round
 * (oneDNN's primitive cache makes that cheap), so only one candidate's
 * buffers exist at a time. Candidates:
 * plain, blocked, Winograd where the heuristic's accuracy rule admits it
 * (3x3 stride 1, >= 32 channels in and out), channels-last for the
 * backward passes (never for the forward pass: see strategy_pick), and
 * wino23 for every pass conv_wino.c computes, with 32+ channels in and
 * out (strategy_pick). */
static void strategy_measure(const tg_conv2d_shape *s, int strat[PASS_COUNT]) {
    const int mn = s->c < s->k ? s->c : s->k;
    const int wino_ok = s->kh == 3 && s->kw == 3 && s->stride == 1 && s->dil == 1 &&
                        s->groups == 1 && mn >= 32;
    const size_t nx = (size_t)s->n * s->c * s->h * s->w, ny = (size_t)s->n * s->k * s->oh * s->ow;
    const size_t nw = (size_t)s->k * (s->c / s->groups) * s->kh * s->kw;
    tune_bufs b = {malloc(nx * 4), malloc(nw * 4), malloc(ny * 4), malloc(ny * 4),
                   malloc(nx * 4), malloc(nw * 4), malloc((size_t)s->k * 4)};
    double t_st[STRAT_COUNT][PASS_COUNT];  /* best time per candidate; 0: none */
    memset(t_st, 0, sizeof t_st);
    if (b.x && b.w && b.y && b.dy && b.dx && b.dw && b.db) {
        /* small values: no denormals, nothing that a kernel could skip */
        uint32_t r = 12345;
        float *fill[4] = {b.x, b.w, b.y, b.dy};
        size_t len[4] = {nx, nw, ny, ny};
        for (int t = 0; t < 4; t++)
            for (size_t i = 0; i < len[t]; i++) {
                r = r * 1664525u + 1013904223u;
                fill[t][i] = (float)(r >> 8) * (1.0f / 16777216.0f) - 0.5f;
            }
        for (int k = 0; k < TUNE_ROUNDS * STRAT_COUNT; k++) {
            const int round = k / STRAT_COUNT;
            const int st = round % 2 ? STRAT_COUNT - 1 - k % STRAT_COUNT : k % STRAT_COUNT;
            if (st == STRAT_WINO && !wino_ok) continue;
            if (st == STRAT_W23 && mn < 32) continue;  /* the same accuracy rule */
            int want[PASS_COUNT] = {st == STRAT_NHWC ? STRAT_BLOCKED : st, st, st};
            tg_conv_plan *p = plan_create(s, want, NULL);
            if (!p) continue;
            float *scratch = p->scratch_bytes ? malloc(conv_scratch_floats(p) * 4) : NULL;
            if (!p->scratch_bytes || scratch) {
                for (int pass = 0; pass < PASS_COUNT; pass++) {
                    if (p->strat[pass] != want[pass] || (pass == PASS_FWD && st == STRAT_NHWC))
                        continue;  /* fell back, or not a candidate (strategy_pick) */
                    double t = time_pass(p, pass, &b, scratch);
                    if (t_st[st][pass] == 0 || t < t_st[st][pass]) t_st[st][pass] = t;
                }
            }
            free(scratch);
            conv_plan_free(p);
        }
        for (int pass = 0; pass < PASS_COUNT; pass++) {
            const double heur = t_st[strat[pass]][pass];
            int pick = strat[pass];
            for (int st = 0; st < STRAT_COUNT; st++)
                if (t_st[st][pass] > 0 && t_st[st][pass] < t_st[pick][pass]) pick = st;
            if (heur > 0 && t_st[pick][pass] < TUNE_MARGIN * heur) strat[pass] = pick;
        }
    }
    free(b.x), free(b.w), free(b.y), free(b.dy), free(b.dx), free(b.dw), free(b.db);
}

static void strategy_tuned(const tg_conv2d_shape *s, int strat[PASS_COUNT]) {
    strategy_pick(s, strat);
    const double flops = 2.0 * s->n * s->k * (s->c / s->groups) * s->kh * s->kw *
                         (double)s->oh * s->ow;
    if (!conv_tune_enabled() || flops < TUNE_MIN_FLOPS) return;
    char key[160];
    conv_tune_key(s, conv_tune_isa(), tg_threads_get(), key, sizeof key);
    if (conv_tune_lookup(key, STRAT_NAME, STRAT_COUNT, strat)) return;
    strategy_measure(s, strat);
    conv_tune_store(key, STRAT_NAME, strat);
}
