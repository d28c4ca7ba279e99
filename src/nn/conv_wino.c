/* conv_wino.c - Winograd F(2x2, 3x3) and F(2x2, 5x5) convolution, AVX2
 * (conv_wino.h).
 *
 * For F(2, r) with a = r + 1 interpolation points, an output tile is
 *   Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A
 * with d_c the a x a input patch of channel c and g_kc the r x r kernel.
 * The matrices (WINO_F23, WINO_F25 below) follow Lavin and Gray (2016): A^T
 * and G from the points 0, 1, -1 (and 2, -1/2 for r = 5) and infinity,
 * B^T solved so that the identity holds (checked against the reference in
 * tests/test_conv_wino.c). The a * a element-wise products summed over
 * channels are a * a small matrix products, one per position xi of the
 * tile:
 *   M[xi](tile, k) = sum_c V[xi](tile, c) * U[xi](c, k).
 * The transforms are written once, over the matrices, and inlined for each
 * size with the matrices constant, so the compiler drops the zero terms and
 * the multiplications by 1.
 *
 * Work is split into chunks of TB consecutive tiles (over images, tile
 * rows and tile columns), one chunk at a time per thread: transform the
 * chunk's input patches into V (one AVX2 vector holds 8 channels of a
 * blocked layout, so the transforms run on 8 channels at once), multiply
 * by U with a register-blocked kernel (6 tiles x 16 output channels: 12
 * accumulators), and transform M back into the output. V and M of one
 * chunk stay in the core's L2 cache (a * a * TB * (c + k) floats: 192 KB
 * for 64 channels and r = 3). Every output of the forward and
 * backward-data passes is written by one thread, in a fixed order of
 * operations, so those results do not depend on the thread count.
 *
 * Accuracy: F(2, 3)'s coefficients are 0, +-1 and +-1/2, and its error
 * stays at the direct method's order; F(2, 5)'s reach 5/2 and 16/15, and
 * its error is about ten times the direct method's (0.6 of the tests'
 * tolerance on 64 channels, against 0.05 for F(2, 3)). So F(2, 5) serves
 * the backward-data pass only: in the forward pass, five SGD steps of
 * candidate6 drifted from PyTorch's by 7e-6 of the loss (test_torch_parity
 * allows 1e-6), and its weight gradient on 64 channels came out 1.5 times
 * the tolerance from the reference. tests/test_conv_wino.c holds what it
 * runs to 1e-4 + 1e-4 * |ref| against the reference backend. */
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#include "conv_wino.h"

#define TB 24  /* tiles per chunk: 4 groups of the kernel's 6 */
#define RT 6   /* tiles per register block */
#define AMAX 6 /* the largest tile side */
#define TARGET __attribute__((target("avx2,fma")))

/* F(2, r): a = r + 1 points; at is 2 x a, g is a x r, bt is a x a. The
 * kernel's transforms run in double (once per weight, not per tile), so g
 * is kept in double: 1/3 and 1/15 are not floats. */
typedef struct {
    int r, a;
    float at[2][AMAX];
    double g[AMAX][AMAX - 1];
    float bt[AMAX][AMAX];
} wino_mats;

static const wino_mats WINO_F23 = {
    3, 4,
    {{1, 1, 1, 0}, {0, 1, -1, -1}},
    {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
    {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
};

/* points 0, 1, -1, 2, -1/2: in a float32 simulation of the transforms
 * over 64 channels, 1.3e-6 relative error against 2.1e-6 for 0, +-1, +-2
 * (and 1.9e-7 for the direct method) */
static const wino_mats WINO_F25 = {
    5, 6,
    {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -0.5f, 1}},
    {{1, 0, 0, 0, 0},
     {-1.0 / 3, -1.0 / 3, -1.0 / 3, -1.0 / 3, -1.0 / 3},
     {1.0 / 3, -1.0 / 3, 1.0 / 3, -1.0 / 3, 1.0 / 3},
     {1.0 / 15, 2.0 / 15, 4.0 / 15, 8.0 / 15, 16.0 / 15},
     {-16.0 / 15, 8.0 / 15, -4.0 / 15, 2.0 / 15, -1.0 / 15},
     {0, 0, 0, 0, 1}},
    {{1, 1.5f, -2, -1.5f, 1, 0},
     {0, -1, -2.5f, -0.5f, 1, 0},
     {0, 1, 0.5f, -2.5f, 1, 0},
     {0, -0.5f, -1, 0.5f, 1, 0},
     {0, 2, -1, -2, 1, 0},
     {0, 1, 1.5f, -2, -1.5f, 1}},
};

static const wino_mats *mats_of(const tg_conv2d_shape *s) {
    return s->kh == 5 ? &WINO_F25 : &WINO_F23;
}

int wino_fits(const tg_conv2d_shape *s, int pass) {
    static int cpu = -1;
    if (cpu < 0) {
        __builtin_cpu_init();
        cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    const int blk_ok = (s->x_blk == 8 || s->x_blk == 16) && (s->y_blk == 8 || s->y_blk == 16);
    const int r = s->kh;
    const int size_ok = r == 3 || (r == 5 && pass == WINO_BWD_DATA);
    return cpu && blk_ok && size_ok && s->kw == r && s->stride == 1 && s->dil == 1 &&
           s->groups == 1 && s->pad_h == (r - 1) / 2 && s->pad_w == (r - 1) / 2 &&
           s->c % 8 == 0 && s->k % 8 == 0 && s->c % s->x_blk == 0 && s->k % s->y_blk == 0;
}

static size_t positions(const tg_conv2d_shape *s) {
    const int a = mats_of(s)->a;
    return (size_t)a * a;
}

size_t wino_weight_floats(const tg_conv2d_shape *s) {
    return positions(s) * s->c * s->k;
}

size_t wino_work_floats(const tg_conv2d_shape *s, int threads) {
    return (size_t)(threads > 0 ? threads : 1) * positions(s) * TB * (size_t)(s->c + s->k);
}

size_t wino_wgrad_work_floats(const tg_conv2d_shape *s, int threads) {
    return (size_t)(threads > 0 ? threads : 1) * positions(s) *
           ((size_t)TB * (s->c + s->k) + (size_t)s->c * s->k);
}

/* u[xi][ci][co] = (G g G^T)[xi] of each kernel (in double, rounded once):
 * ci the channel read (c forward, k backward), co the one written,
 * contiguous; backward data turns each kernel 180 degrees. Split over ci
 * (each u element is computed by one thread, so the bits do not depend on
 * the count), co innermost so the writes run along u's rows: this runs on
 * every forward and backward call: for a 64 -> 64 3x3 convolution (1.8 ms
 * at 2 threads) it took 0.29 ms serially, 0.14 ms on 2 threads (2-core
 * model-167 Xeon). */
void wino_weights(const tg_conv2d_shape *s, const float *wt, int bwd, float *u, int threads) {
    const wino_mats *W = mats_of(s);
    const int C = s->c, K = s->k, r = W->r, a = W->a, rr = r * r;
    const int ci_n = bwd ? K : C, co_n = bwd ? C : K;
    if (threads < 1) threads = 1;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int ci = 0; ci < ci_n; ci++)
        for (int co = 0; co < co_n; co++) {
            const int k = bwd ? ci : co, c = bwd ? co : ci;
            const float *g = wt + ((size_t)k * C + c) * rr;
            float gr[(AMAX - 1) * (AMAX - 1)];
            for (int q = 0; q < rr; q++) gr[q] = bwd ? g[rr - 1 - q] : g[q];
            double t[AMAX][AMAX - 1];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < r; j++) {
                    double v = 0;
                    for (int q = 0; q < r; q++) v += W->g[i][q] * gr[q * r + j];
                    t[i][j] = v;
                }
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++) {
                    double v = 0;
                    for (int q = 0; q < r; q++) v += t[i][q] * W->g[j][q];
                    u[((size_t)(i * a + j) * ci_n + ci) * co_n + co] = (float)v;
                }
        }
}

/* Where a pass's tensors are, and the tile grid. */
typedef struct {
    const float *in;
    float *out;
    int cin, cout, in_blk, out_blk;
    int h, w, th, tw;
} pass_geo;

/* Offset of the 8-channel vector cb (channels 8cb..8cb+7) at pixel 0 of
 * image n, in nChw<blk>c with blk 8 or 16 (no division: this runs per
 * tile and vector). */
static inline size_t vec_at(int n, int ch, int blk, int cb, int hw) {
    const int sh = blk == 16;
    return ((size_t)n * (ch / blk) + (size_t)(cb >> sh)) * hw * blk + (size_t)(cb & sh) * 8;
}

#define UNROLL _Pragma("GCC unroll 8")
#define ALWAYS TARGET static inline __attribute__((always_inline))

/* sum_l m[l] * v[l] over the terms whose m[l] is not zero (the tests fold
 * away where m is a row of a constant matrix) */
ALWAYS __m256 combine(const float *m, const __m256 *v, int n) {
    __m256 acc = _mm256_setzero_ps();
    UNROLL for (int l = 0; l < n; l++) {
        if (m[l] == 0) continue;
        if (m[l] == 1)
            acc = _mm256_add_ps(acc, v[l]);
        else if (m[l] == -1)
            acc = _mm256_sub_ps(acc, v[l]);
        else
            acc = _mm256_fmadd_ps(_mm256_set1_ps(m[l]), v[l], acc);
    }
    return acc;
}

/* V[xi][t][c] for tile t of the chunk: B^T d B of its a x a input patch.
 * Where the patch leaves the map, a position reads a pixel inside it
 * (clamped) and masks it to zero, so the channel loop has no branches. */
ALWAYS void input_tf(const wino_mats *W, const pass_geo *g, int n, int ty, int tx, int t,
                     float *V) {
    const int a = W->a, pad = (W->r - 1) / 2;
    const int H = g->h, Wd = g->w, B = g->in_blk, y0 = 2 * ty - pad, x0 = 2 * tx - pad;
    const int inside = y0 >= 0 && x0 >= 0 && y0 + a <= H && x0 + a <= Wd;
    size_t off[AMAX * AMAX];
    __m256 mask[AMAX * AMAX];
    UNROLL for (int i = 0; i < a; i++) UNROLL for (int j = 0; j < a; j++) {
        const int y = y0 + i, x = x0 + j;
        const int ok = y >= 0 && y < H && x >= 0 && x < Wd;
        const int yc = y < 0 ? 0 : y >= H ? H - 1 : y, xc = x < 0 ? 0 : x >= Wd ? Wd - 1 : x;
        off[i * a + j] = ((size_t)yc * Wd + xc) * B;
        mask[i * a + j] = _mm256_castsi256_ps(_mm256_set1_epi32(ok ? -1 : 0));
    }
    const size_t xs = (size_t)TB * g->cin;  /* one xi to the next */
    for (int cb = 0; cb < g->cin / 8; cb++) {
        const float *p = g->in + vec_at(n, g->cin, B, cb, H * Wd);
        float *v = V + (size_t)t * g->cin + cb * 8;
        /* e = d B row by row (e[i][j] = sum_l d[i][l] bt[j][l]), then B^T e */
        __m256 e[AMAX][AMAX];
        UNROLL for (int i = 0; i < a; i++) {
            __m256 d[AMAX];
            UNROLL for (int j = 0; j < a; j++) {
                d[j] = _mm256_loadu_ps(p + off[i * a + j]);
                if (!inside) d[j] = _mm256_and_ps(d[j], mask[i * a + j]);
            }
            UNROLL for (int j = 0; j < a; j++) e[j][i] = combine(W->bt[j], d, a);
        }
        UNROLL for (int j = 0; j < a; j++) UNROLL for (int i = 0; i < a; i++)
            _mm256_storeu_ps(v + (i * a + j) * xs, combine(W->bt[i], e[j], a));
    }
}

/* M[xi][t0 + 0..RT)[k0 + 0..16) = V[xi][t0 + ..][:] * U[xi][:][k0 + ..]: the
 * 12 accumulators are named variables, so that they stay in registers
 * (an array of them was spilled to the stack on every step). */
#define ACC_ZERO2(t) __m256 a##t##0 = _mm256_setzero_ps(), a##t##1 = _mm256_setzero_ps()
#define ACC_FMA2(t)                                                   \
    do {                                                              \
        const __m256 b = _mm256_broadcast_ss(v + (size_t)(t) * cin + c); \
        a##t##0 = _mm256_fmadd_ps(b, w0, a##t##0);                    \
        a##t##1 = _mm256_fmadd_ps(b, w1, a##t##1);                    \
    } while (0)
#define ACC_STORE2(t)                                                 \
    do {                                                              \
        _mm256_storeu_ps(m + (size_t)(t) * cout, a##t##0);            \
        _mm256_storeu_ps(m + (size_t)(t) * cout + 8, a##t##1);        \
    } while (0)

TARGET static void gemm_6x16(const float *v, const float *u, float *m, int cin, int cout) {
    ACC_ZERO2(0); ACC_ZERO2(1); ACC_ZERO2(2); ACC_ZERO2(3); ACC_ZERO2(4); ACC_ZERO2(5);
    for (int c = 0; c < cin; c++) {
        const __m256 w0 = _mm256_loadu_ps(u + (size_t)c * cout);
        const __m256 w1 = _mm256_loadu_ps(u + (size_t)c * cout + 8);
        ACC_FMA2(0); ACC_FMA2(1); ACC_FMA2(2); ACC_FMA2(3); ACC_FMA2(4); ACC_FMA2(5);
    }
    ACC_STORE2(0); ACC_STORE2(1); ACC_STORE2(2); ACC_STORE2(3); ACC_STORE2(4); ACC_STORE2(5);
}

/* the same for the last 8 output channels when k is not a multiple of 16 */
#define ACC_ZERO1(t) __m256 a##t = _mm256_setzero_ps()
#define ACC_FMA1(t) \
    a##t = _mm256_fmadd_ps(_mm256_broadcast_ss(v + (size_t)(t) * cin + c), w0, a##t)
#define ACC_STORE1(t) _mm256_storeu_ps(m + (size_t)(t) * cout, a##t)

TARGET static void gemm_6x8(const float *v, const float *u, float *m, int cin, int cout) {
    ACC_ZERO1(0); ACC_ZERO1(1); ACC_ZERO1(2); ACC_ZERO1(3); ACC_ZERO1(4); ACC_ZERO1(5);
    for (int c = 0; c < cin; c++) {
        const __m256 w0 = _mm256_loadu_ps(u + (size_t)c * cout);
        ACC_FMA1(0); ACC_FMA1(1); ACC_FMA1(2); ACC_FMA1(3); ACC_FMA1(4); ACC_FMA1(5);
    }
    ACC_STORE1(0); ACC_STORE1(1); ACC_STORE1(2); ACC_STORE1(3); ACC_STORE1(4); ACC_STORE1(5);
}

/* the chunk's tiles, nt rounded up to RT (the rows past the chunk's tiles
 * are zeros, and their products are not read): M = V * U for each
 * position */
TARGET static void chunk_gemm(const pass_geo *g, int nx, const float *V, const float *U,
                              float *M, int nt) {
    const int cin = g->cin, cout = g->cout;
    for (int xi = 0; xi < nx; xi++) {
        const float *vx = V + (size_t)xi * TB * cin;
        const float *ux = U + (size_t)xi * cin * cout;
        float *mx = M + (size_t)xi * TB * cout;
        for (int k0 = 0; k0 < cout; k0 += 16)
            for (int t0 = 0; t0 < nt; t0 += RT) {
                const float *v = vx + (size_t)t0 * cin;
                float *m = mx + (size_t)t0 * cout + k0;
                if (cout - k0 >= 16)
                    gemm_6x16(v, ux + k0, m, cin, cout);
                else
                    gemm_6x8(v, ux + k0, m, cin, cout);
            }
    }
}

/* A^T M A of tile t into the output (+ bias, or added with acc); the
 * positions past the map's bottom or right edge are not stored. */
ALWAYS void output_tf(const wino_mats *W, const pass_geo *g, int n, int ty, int tx, int t,
                      const float *M, const float *bias, int acc) {
    const int a = W->a, H = g->h, Wd = g->w, B = g->out_blk, y0 = 2 * ty, x0 = 2 * tx;
    const int ny = H - y0 < 2 ? 1 : 2, nx = Wd - x0 < 2 ? 1 : 2;
    const size_t xs = (size_t)TB * g->cout;
    const size_t o00 = ((size_t)y0 * Wd + x0) * B, o01 = o00 + B;
    const size_t o10 = o00 + (size_t)Wd * B, o11 = o10 + B;
    for (int ob = 0; ob < g->cout / 8; ob++) {
        const float *m = M + (size_t)t * g->cout + ob * 8;
        __m256 s0[AMAX], s1[AMAX];  /* the two rows of A^T M */
        UNROLL for (int j = 0; j < a; j++) {
            __m256 col[AMAX];
            UNROLL for (int i = 0; i < a; i++) col[i] = _mm256_loadu_ps(m + (i * a + j) * xs);
            s0[j] = combine(W->at[0], col, a);
            s1[j] = combine(W->at[1], col, a);
        }
        const __m256 b = bias ? _mm256_loadu_ps(bias + ob * 8) : _mm256_setzero_ps();
        __m256 y00 = _mm256_add_ps(combine(W->at[0], s0, a), b);
        __m256 y01 = _mm256_add_ps(combine(W->at[1], s0, a), b);
        __m256 y10 = _mm256_add_ps(combine(W->at[0], s1, a), b);
        __m256 y11 = _mm256_add_ps(combine(W->at[1], s1, a), b);
        float *p = g->out + vec_at(n, g->cout, B, ob, H * Wd);
        if (acc) {
            y00 = _mm256_add_ps(_mm256_loadu_ps(p + o00), y00);
            if (nx > 1) y01 = _mm256_add_ps(_mm256_loadu_ps(p + o01), y01);
            if (ny > 1) y10 = _mm256_add_ps(_mm256_loadu_ps(p + o10), y10);
            if (ny > 1 && nx > 1) y11 = _mm256_add_ps(_mm256_loadu_ps(p + o11), y11);
        }
        _mm256_storeu_ps(p + o00, y00);
        if (nx > 1) _mm256_storeu_ps(p + o01, y01);
        if (ny > 1) _mm256_storeu_ps(p + o10, y10);
        if (ny > 1 && nx > 1) _mm256_storeu_ps(p + o11, y11);
    }
}

/* the transforms with their matrices constant, one copy per size */
TARGET static void input_tf3(const pass_geo *g, int n, int ty, int tx, int t, float *V) {
    input_tf(&WINO_F23, g, n, ty, tx, t, V);
}
TARGET static void input_tf5(const pass_geo *g, int n, int ty, int tx, int t, float *V) {
    input_tf(&WINO_F25, g, n, ty, tx, t, V);
}
TARGET static void output_tf3(const pass_geo *g, int n, int ty, int tx, int t, const float *M,
                              const float *bias, int acc) {
    output_tf(&WINO_F23, g, n, ty, tx, t, M, bias, acc);
}
TARGET static void output_tf5(const pass_geo *g, int n, int ty, int tx, int t, const float *M,
                              const float *bias, int acc) {
    output_tf(&WINO_F25, g, n, ty, tx, t, M, bias, acc);
}

void wino_run(const tg_conv2d_shape *s, int bwd, const float *u, const float *in,
              const float *bias, float *out, int acc, float *work, int threads) {
    const int five = s->kh == 5, nx = (int)positions(s);
    pass_geo g = {in, out, bwd ? s->k : s->c, bwd ? s->c : s->k,
                  bwd ? s->y_blk : s->x_blk, bwd ? s->x_blk : s->y_blk,
                  s->h, s->w, (s->h + 1) / 2, (s->w + 1) / 2};
    const long per_img = (long)g.th * g.tw, tiles = per_img * s->n;
    const long chunks = (tiles + TB - 1) / TB;
    const size_t per_thread = (size_t)nx * TB * (g.cin + g.cout);
    if (threads < 1) threads = 1;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long ch = 0; ch < chunks; ch++) {
        float *V = work + (size_t)omp_get_thread_num() * per_thread;
        float *M = V + (size_t)nx * TB * g.cin;
        const long t0 = ch * TB;
        const int nt = (int)(tiles - t0 < TB ? tiles - t0 : TB);
        for (int t = 0; t < nt; t++) {
            const long q = t0 + t;
            const int n = (int)(q / per_img), r = (int)(q % per_img);
            (five ? input_tf5 : input_tf3)(&g, n, r / g.tw, r % g.tw, t, V);
        }
        for (int t = nt; t % RT; t++)  /* the last chunk's padding rows */
            for (int xi = 0; xi < nx; xi++)
                memset(V + ((size_t)xi * TB + t) * g.cin, 0, sizeof(float) * g.cin);
        chunk_gemm(&g, nx, V, u, M, nt);
        for (int t = 0; t < nt; t++) {
            const long q = t0 + t;
            const int n = (int)(q / per_img), r = (int)(q % per_img);
            (five ? output_tf5 : output_tf3)(&g, n, r / g.tw, r % g.tw, t, M, bias, acc);
        }
    }
}

/* ---- backward weights ------------------------------------------------ *
 * With M = sum_c U .* V and Y = A^T M A, the gradient of a tile's M is
 * A dY A^T, the kernel's transformed gradient sums it against V over all
 * tiles, dU[xi](c, k) = sum_t V[xi](t, c) * (A dY A^T)[xi](t, k), and
 * dw = G^T dU G. Each thread sums its chunks into its own dU; the threads'
 * sums are added in thread order at the end, so a result depends on the
 * thread count (as oneDNN's do), never on timing. F(2x2, 3x3) only. */

/* DY[xi][t][k] = A dY A^T of tile t's 2x2 output gradient (zero past the
 * map's bottom and right edges) */
ALWAYS void dy_tf(const wino_mats *W, const float *dy, int K, int B, int H, int Wd, int n,
                  int ty, int tx, int t, float *DY) {
    const int a = W->a, y0 = 2 * ty, x0 = 2 * tx;
    const int ny = H - y0 < 2 ? 1 : 2, nx = Wd - x0 < 2 ? 1 : 2;
    const size_t o00 = ((size_t)y0 * Wd + x0) * B, o01 = o00 + B;
    const size_t o10 = o00 + (size_t)Wd * B, o11 = o10 + B;
    const size_t xs = (size_t)TB * K;
    float a_col[AMAX][2];  /* A = (A^T)^T, a x 2 */
    UNROLL for (int l = 0; l < a; l++) a_col[l][0] = W->at[0][l], a_col[l][1] = W->at[1][l];
    for (int kb = 0; kb < K / 8; kb++) {
        const float *p = dy + vec_at(n, K, B, kb, H * Wd);
        const __m256 z = _mm256_setzero_ps();
        const __m256 y0v[2] = {_mm256_loadu_ps(p + o00), nx > 1 ? _mm256_loadu_ps(p + o01) : z};
        const __m256 y1v[2] = {ny > 1 ? _mm256_loadu_ps(p + o10) : z,
                               ny > 1 && nx > 1 ? _mm256_loadu_ps(p + o11) : z};
        float *d = DY + (size_t)t * K + kb * 8;
        UNROLL for (int i = 0; i < a; i++) {
            /* row i of A dY: a_col[i][0] * dY row 0 + a_col[i][1] * dY row 1 */
            const __m256 r[2] = {combine(a_col[i], (const __m256[2]){y0v[0], y1v[0]}, 2),
                                 combine(a_col[i], (const __m256[2]){y0v[1], y1v[1]}, 2)};
            UNROLL for (int j = 0; j < a; j++)
                _mm256_storeu_ps(d + (i * a + j) * xs, combine(a_col[j], r, 2));
        }
    }
}

TARGET static void dy_tf3(const float *dy, int K, int B, int H, int Wd, int n, int ty, int tx,
                          int t, float *DY) {
    dy_tf(&WINO_F23, dy, K, B, H, Wd, n, ty, tx, t, DY);
}

/* dU[c0 + 0..4)[k0 + 0..16) += sum over nt tiles of V[t][c] * DY[t][k]:
 * 8 accumulators in registers, loaded and stored once per chunk */
#define WG_LOAD(i) \
    __m256 a##i##0 = _mm256_loadu_ps(du + (size_t)(i) * K), \
           a##i##1 = _mm256_loadu_ps(du + (size_t)(i) * K + 8)
#define WG_FMA(i)                                                      \
    do {                                                               \
        const __m256 b = _mm256_broadcast_ss(v + (size_t)t * C + (i)); \
        a##i##0 = _mm256_fmadd_ps(b, d0, a##i##0);                     \
        a##i##1 = _mm256_fmadd_ps(b, d1, a##i##1);                     \
    } while (0)
#define WG_STORE(i)                                          \
    do {                                                     \
        _mm256_storeu_ps(du + (size_t)(i) * K, a##i##0);     \
        _mm256_storeu_ps(du + (size_t)(i) * K + 8, a##i##1); \
    } while (0)

TARGET static void wgemm_4x16(const float *v, const float *dyt, float *du, int C, int K,
                              int nt) {
    WG_LOAD(0); WG_LOAD(1); WG_LOAD(2); WG_LOAD(3);
    for (int t = 0; t < nt; t++) {
        const __m256 d0 = _mm256_loadu_ps(dyt + (size_t)t * K);
        const __m256 d1 = _mm256_loadu_ps(dyt + (size_t)t * K + 8);
        WG_FMA(0); WG_FMA(1); WG_FMA(2); WG_FMA(3);
    }
    WG_STORE(0); WG_STORE(1); WG_STORE(2); WG_STORE(3);
}

/* the same for the last 8 output channels when k is not a multiple of 16 */
TARGET static void wgemm_4x8(const float *v, const float *dyt, float *du, int C, int K, int nt) {
    __m256 a0 = _mm256_loadu_ps(du), a1 = _mm256_loadu_ps(du + K);
    __m256 a2 = _mm256_loadu_ps(du + 2 * (size_t)K), a3 = _mm256_loadu_ps(du + 3 * (size_t)K);
    for (int t = 0; t < nt; t++) {
        const __m256 d0 = _mm256_loadu_ps(dyt + (size_t)t * K);
        const float *vt = v + (size_t)t * C;
        a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(vt + 0), d0, a0);
        a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(vt + 1), d0, a1);
        a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(vt + 2), d0, a2);
        a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(vt + 3), d0, a3);
    }
    _mm256_storeu_ps(du, a0), _mm256_storeu_ps(du + K, a1);
    _mm256_storeu_ps(du + 2 * (size_t)K, a2), _mm256_storeu_ps(du + 3 * (size_t)K, a3);
}

/* dw (k, c, r, r) = G^T dU G, in double */
static void wgrad_out(const wino_mats *W, const float *du, int C, int K, float *dw) {
    const int a = W->a, r = W->r;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            double t[AMAX - 1][AMAX];  /* G^T dU */
            for (int i = 0; i < r; i++)
                for (int j = 0; j < a; j++) {
                    double v = 0;
                    for (int q = 0; q < a; q++)
                        v += W->g[q][i] * du[((size_t)(q * a + j) * C + c) * K + k];
                    t[i][j] = v;
                }
            float *g = dw + ((size_t)k * C + c) * r * r;
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++) {
                    double v = 0;
                    for (int q = 0; q < a; q++) v += t[i][q] * W->g[q][j];
                    g[i * r + j] = (float)v;
                }
        }
}

void wino_wgrad(const tg_conv2d_shape *s, const float *x, const float *dy, float *dw,
                float *db, float *work, int threads) {
    const int C = s->c, K = s->k, H = s->h, W = s->w, nx = 16;
    pass_geo g = {x, NULL, C, K, s->x_blk, s->y_blk, H, W, (H + 1) / 2, (W + 1) / 2};
    const long per_img = (long)g.th * g.tw, tiles = per_img * s->n;
    const long chunks = (tiles + TB - 1) / TB;
    const size_t nu = (size_t)nx * C * K;
    const size_t per_thread = (size_t)nx * TB * (C + K) + nu;
    if (threads < 1) threads = 1;
    int used = 1;
#pragma omp parallel num_threads(threads)
    {
        const int me = omp_get_thread_num();
#pragma omp single
        used = omp_get_num_threads();
        float *du = work + (size_t)me * per_thread, *V = du + nu;
        float *DY = V + (size_t)nx * TB * C;
        memset(du, 0, sizeof(float) * nu);
#pragma omp for schedule(static)
        for (long ch = 0; ch < chunks; ch++) {
            const long t0 = ch * TB;
            const int nt = (int)(tiles - t0 < TB ? tiles - t0 : TB);
            for (int t = 0; t < nt; t++) {
                const long q = t0 + t;
                const int n = (int)(q / per_img), r = (int)(q % per_img);
                input_tf3(&g, n, r / g.tw, r % g.tw, t, V);
                dy_tf3(dy, K, s->y_blk, H, W, n, r / g.tw, r % g.tw, t, DY);
            }
            for (int xi = 0; xi < nx; xi++) {
                const float *vx = V + (size_t)xi * TB * C, *dyx = DY + (size_t)xi * TB * K;
                float *ux = du + (size_t)xi * C * K;
                for (int c0 = 0; c0 < C; c0 += 4)
                    for (int k0 = 0; k0 < K; k0 += 16) {
                        if (K - k0 >= 16)
                            wgemm_4x16(vx + c0, dyx + k0, ux + (size_t)c0 * K + k0, C, K, nt);
                        else
                            wgemm_4x8(vx + c0, dyx + k0, ux + (size_t)c0 * K + k0, C, K, nt);
                    }
            }
        }
    }
    /* the threads' sums, in thread order */
    for (int th = 1; th < used; th++) {
        const float *o = work + (size_t)th * per_thread;
        for (size_t i = 0; i < nu; i++) work[i] += o[i];
    }
    wgrad_out(&WINO_F23, work, C, K, dw);
    if (db) {
        const int B = s->y_blk, hw = H * W;
        for (int kb = 0; kb < K / 8; kb++) {
            double acc[8] = {0};
            for (int n = 0; n < s->n; n++) {
                const float *p = dy + vec_at(n, K, B, kb, hw);
                for (int q = 0; q < hw; q++)
                    for (int l = 0; l < 8; l++) acc[l] += p[(size_t)q * B + l];
            }
            for (int l = 0; l < 8; l++) db[kb * 8 + l] = (float)acc[l];
        }
    }
}
