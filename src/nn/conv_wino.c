/* conv_wino.c - Winograd F(2x2, 3x3) convolution, AVX2 (conv_wino.h).
 *
 * With the transforms of Lavin and Gray (2016),
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   (input, 4x4 -> 4x4)
 *   G   = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]       (kernel, 3x3 -> 4x4)
 *   A^T = [1 1 1 0; 0 1 -1 -1]                      (output, 4x4 -> 2x2)
 * an output tile Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A. The 16
 * element-wise products summed over channels are 16 small matrix products,
 * one per position xi of the 4x4 tile:
 *   M[xi](tile, k) = sum_c V[xi](tile, c) * U[xi](c, k).
 *
 * Work is split into chunks of TB consecutive tiles (over images, tile
 * rows and tile columns), one chunk at a time per thread: transform the
 * chunk's input patches into V (one AVX2 vector holds 8 channels of a
 * blocked layout, so the transforms run on 8 channels at once), multiply
 * by U with a register-blocked kernel (6 tiles x 16 output channels: 12
 * accumulators), and transform M back into the output. V and M of one
 * chunk stay in the core's L2 cache (16 * TB * (c + k) floats: 192 KB for
 * 64 channels). Every output is written by one thread, in a fixed order of
 * operations, so results do not depend on the thread count.
 *
 * Accuracy: the transforms' coefficients are 0, +-1 and +-1/2, and the
 * error stays at the direct method's order (tests/test_conv_wino.c holds
 * it to the tests' 1e-4 + 1e-4 * |ref| against the reference backend). */
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#include "conv_wino.h"

#define TB 24  /* tiles per chunk: 4 groups of the kernel's 6 */
#define RT 6   /* tiles per register block */
#define TARGET __attribute__((target("avx2,fma")))

int wino_fits(const tg_conv2d_shape *s) {
    static int cpu = -1;
    if (cpu < 0) {
        __builtin_cpu_init();
        cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    const int blk_ok = (s->x_blk == 8 || s->x_blk == 16) && (s->y_blk == 8 || s->y_blk == 16);
    return cpu && blk_ok && s->kh == 3 && s->kw == 3 && s->stride == 1 && s->dil == 1 &&
           s->groups == 1 && s->pad_h == 1 && s->pad_w == 1 && s->c % 8 == 0 &&
           s->k % 8 == 0 && s->c % s->x_blk == 0 && s->k % s->y_blk == 0;
}

size_t wino_weight_floats(const tg_conv2d_shape *s) {
    return (size_t)16 * s->c * s->k;
}

size_t wino_work_floats(const tg_conv2d_shape *s, int threads) {
    return (size_t)(threads > 0 ? threads : 1) * 16 * TB * (size_t)(s->c + s->k);
}

/* 4x4 = G g G^T of one 3x3 kernel g (row-major) */
static void kernel_tf(const float g[9], float out[16]) {
    float t[4][3];
    for (int j = 0; j < 3; j++) {
        const float a = g[j], b = g[3 + j], c = g[6 + j];
        t[0][j] = a;
        t[1][j] = 0.5f * (a + b + c);
        t[2][j] = 0.5f * (a - b + c);
        t[3][j] = c;
    }
    for (int i = 0; i < 4; i++) {
        const float a = t[i][0], b = t[i][1], c = t[i][2];
        out[i * 4 + 0] = a;
        out[i * 4 + 1] = 0.5f * (a + b + c);
        out[i * 4 + 2] = 0.5f * (a - b + c);
        out[i * 4 + 3] = c;
    }
}

/* u[xi][ci][co]: ci the channel read (c forward, k backward), co the one
 * written, contiguous */
void wino_weights(const tg_conv2d_shape *s, const float *wt, int bwd, float *u) {
    const int C = s->c, K = s->k;
    const int ci_n = bwd ? K : C, co_n = bwd ? C : K;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            const float *g = wt + ((size_t)k * C + c) * 9;
            float gr[9], tf[16];
            for (int q = 0; q < 9; q++) gr[q] = bwd ? g[8 - q] : g[q];
            kernel_tf(gr, tf);
            const int ci = bwd ? k : c, co = bwd ? c : k;
            for (int xi = 0; xi < 16; xi++)
                u[((size_t)xi * ci_n + ci) * co_n + co] = tf[xi];
        }
}

/* Where a pass's tensors are: channels, block, and the 8-channel vector of
 * block-of-8 index cb at pixel 0 of image n. */
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

/* V[xi][t][c] for tile t of the chunk: B^T d B of its 4x4 input patch.
 * Where the patch leaves the map, a position reads a pixel inside it
 * (clamped) and masks it to zero, so the channel loop has no branches. */
TARGET static void input_tf(const pass_geo *g, int n, int ty, int tx, int t, float *V) {
    const int H = g->h, W = g->w, B = g->in_blk, y0 = 2 * ty - 1, x0 = 2 * tx - 1;
    const int inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= H && x0 + 4 <= W;
    size_t off[16];
    __m256 mask[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            const int y = y0 + i, x = x0 + j;
            const int ok = y >= 0 && y < H && x >= 0 && x < W;
            const int yc = y < 0 ? 0 : y >= H ? H - 1 : y, xc = x < 0 ? 0 : x >= W ? W - 1 : x;
            off[i * 4 + j] = ((size_t)yc * W + xc) * B;
            mask[i * 4 + j] = _mm256_castsi256_ps(_mm256_set1_epi32(ok ? -1 : 0));
        }
    const size_t xs = (size_t)TB * g->cin;  /* one xi to the next */
    for (int cb = 0; cb < g->cin / 8; cb++) {
        const float *p = g->in + vec_at(n, g->cin, B, cb, H * W);
        float *v = V + (size_t)t * g->cin + cb * 8;
        /* e = d B, row by row; then B^T e, column by column */
        __m256 e[4][4];
        for (int i = 0; i < 4; i++) {
            __m256 d[4];
            for (int j = 0; j < 4; j++) {
                d[j] = _mm256_loadu_ps(p + off[i * 4 + j]);
                if (!inside) d[j] = _mm256_and_ps(d[j], mask[i * 4 + j]);
            }
            e[i][0] = _mm256_sub_ps(d[0], d[2]);
            e[i][1] = _mm256_add_ps(d[1], d[2]);
            e[i][2] = _mm256_sub_ps(d[2], d[1]);
            e[i][3] = _mm256_sub_ps(d[1], d[3]);
        }
        for (int j = 0; j < 4; j++) {
            _mm256_storeu_ps(v + (0 + j) * xs, _mm256_sub_ps(e[0][j], e[2][j]));
            _mm256_storeu_ps(v + (4 + j) * xs, _mm256_add_ps(e[1][j], e[2][j]));
            _mm256_storeu_ps(v + (8 + j) * xs, _mm256_sub_ps(e[2][j], e[1][j]));
            _mm256_storeu_ps(v + (12 + j) * xs, _mm256_sub_ps(e[1][j], e[3][j]));
        }
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
 * are zeros, and their products are not read): M = V * U for each of the
 * 16 positions */
TARGET static void chunk_gemm(const pass_geo *g, const float *V, const float *U, float *M,
                              int nt) {
    const int cin = g->cin, cout = g->cout;
    for (int xi = 0; xi < 16; xi++) {
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
TARGET static void output_tf(const pass_geo *g, int n, int ty, int tx, int t, const float *M,
                             const float *bias, int acc) {
    const int H = g->h, W = g->w, B = g->out_blk, y0 = 2 * ty, x0 = 2 * tx;
    const int ny = H - y0 < 2 ? 1 : 2, nx = W - x0 < 2 ? 1 : 2;
    const size_t xs = (size_t)TB * g->cout;
    const size_t o00 = ((size_t)y0 * W + x0) * B, o01 = o00 + B;
    const size_t o10 = o00 + (size_t)W * B, o11 = o10 + B;
    for (int ob = 0; ob < g->cout / 8; ob++) {
        const float *m = M + (size_t)t * g->cout + ob * 8;
        __m256 s0[4], s1[4];
        for (int j = 0; j < 4; j++) {
            const __m256 m0 = _mm256_loadu_ps(m + (0 + j) * xs);
            const __m256 m1 = _mm256_loadu_ps(m + (4 + j) * xs);
            const __m256 m2 = _mm256_loadu_ps(m + (8 + j) * xs);
            const __m256 m3 = _mm256_loadu_ps(m + (12 + j) * xs);
            s0[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
            s1[j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
        }
        const __m256 b = bias ? _mm256_loadu_ps(bias + ob * 8) : _mm256_setzero_ps();
        __m256 y00 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]), b);
        __m256 y01 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]), b);
        __m256 y10 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]), b);
        __m256 y11 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]), b);
        float *p = g->out + vec_at(n, g->cout, B, ob, H * W);
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

void wino_run(const tg_conv2d_shape *s, int bwd, const float *u, const float *in,
              const float *bias, float *out, int acc, float *work, int threads) {
    pass_geo g = {in, out, bwd ? s->k : s->c, bwd ? s->c : s->k,
                  bwd ? s->y_blk : s->x_blk, bwd ? s->x_blk : s->y_blk,
                  s->h, s->w, (s->h + 1) / 2, (s->w + 1) / 2};
    const long per_img = (long)g.th * g.tw, tiles = per_img * s->n;
    const long chunks = (tiles + TB - 1) / TB;
    const size_t per_thread = (size_t)16 * TB * (g.cin + g.cout);
    if (threads < 1) threads = 1;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long ch = 0; ch < chunks; ch++) {
        float *V = work + (size_t)omp_get_thread_num() * per_thread;
        float *M = V + (size_t)16 * TB * g.cin;
        const long t0 = ch * TB;
        const int nt = (int)(tiles - t0 < TB ? tiles - t0 : TB);
        for (int t = 0; t < nt; t++) {
            const long q = t0 + t;
            const int n = (int)(q / per_img), r = (int)(q % per_img);
            input_tf(&g, n, r / g.tw, r % g.tw, t, V);
        }
        for (int t = nt; t % RT; t++)  /* the last chunk's padding rows */
            for (int xi = 0; xi < 16; xi++)
                memset(V + ((size_t)xi * TB + t) * g.cin, 0, sizeof(float) * g.cin);
        chunk_gemm(&g, V, u, M, nt);
        for (int t = 0; t < nt; t++) {
            const long q = t0 + t;
            const int n = (int)(q / per_img), r = (int)(q % per_img);
            output_tf(&g, n, r / g.tw, r % g.tw, t, M, bias, acc);
        }
    }
}

/* ---- backward weights ------------------------------------------------ *
 * With M = sum_c U .* V and Y = A^T M A, the gradient of a tile's M is
 * A dY A^T, the kernel's transformed gradient sums it against V over all
 * tiles, dU[xi](c, k) = sum_t V[xi](t, c) * (A dY A^T)[xi](t, k), and
 * dw = G^T dU G. Each thread sums its chunks into its own dU; the threads'
 * sums are added in thread order at the end, so a result depends on the
 * thread count (as oneDNN's do), never on timing. */

size_t wino_wgrad_work_floats(const tg_conv2d_shape *s, int threads) {
    return (size_t)(threads > 0 ? threads : 1) * 16 *
           ((size_t)TB * (s->c + s->k) + (size_t)s->c * s->k);
}

/* DY[xi][t][k] = A dY A^T of tile t's 2x2 output gradient (zero past the
 * map's bottom and right edges) */
TARGET static void dy_tf(const float *dy, int K, int B, int H, int W, int n, int ty, int tx,
                         int t, float *DY) {
    const int y0 = 2 * ty, x0 = 2 * tx, ny = H - y0 < 2 ? 1 : 2, nx = W - x0 < 2 ? 1 : 2;
    const size_t o00 = ((size_t)y0 * W + x0) * B, o01 = o00 + B;
    const size_t o10 = o00 + (size_t)W * B, o11 = o10 + B;
    const size_t xs = (size_t)TB * K;
    for (int kb = 0; kb < K / 8; kb++) {
        const float *p = dy + vec_at(n, K, B, kb, H * W);
        const __m256 z = _mm256_setzero_ps();
        const __m256 y00 = _mm256_loadu_ps(p + o00);
        const __m256 y01 = nx > 1 ? _mm256_loadu_ps(p + o01) : z;
        const __m256 y10 = ny > 1 ? _mm256_loadu_ps(p + o10) : z;
        const __m256 y11 = ny > 1 && nx > 1 ? _mm256_loadu_ps(p + o11) : z;
        /* rows: A y = (y0, y0 + y1, y0 - y1, -y1), then the same on columns */
        const __m256 r[4][2] = {{y00, y01},
                                {_mm256_add_ps(y00, y10), _mm256_add_ps(y01, y11)},
                                {_mm256_sub_ps(y00, y10), _mm256_sub_ps(y01, y11)},
                                {_mm256_sub_ps(z, y10), _mm256_sub_ps(z, y11)}};
        float *d = DY + (size_t)t * K + kb * 8;
        for (int i = 0; i < 4; i++) {
            _mm256_storeu_ps(d + (i * 4 + 0) * xs, r[i][0]);
            _mm256_storeu_ps(d + (i * 4 + 1) * xs, _mm256_add_ps(r[i][0], r[i][1]));
            _mm256_storeu_ps(d + (i * 4 + 2) * xs, _mm256_sub_ps(r[i][0], r[i][1]));
            _mm256_storeu_ps(d + (i * 4 + 3) * xs, _mm256_sub_ps(z, r[i][1]));
        }
    }
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

/* dw (k, c, 3, 3) = G^T dU G, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1] */
static void wgrad_out(const float *du, int C, int K, float *dw) {
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            float m[16], r[3][4];
            for (int xi = 0; xi < 16; xi++) m[xi] = du[((size_t)xi * C + c) * K + k];
            for (int j = 0; j < 4; j++) {
                const float a = m[j], b = m[4 + j], cc = m[8 + j], d = m[12 + j];
                r[0][j] = a + 0.5f * (b + cc);
                r[1][j] = 0.5f * (b - cc);
                r[2][j] = 0.5f * (b + cc) + d;
            }
            float *g = dw + ((size_t)k * C + c) * 9;
            for (int i = 0; i < 3; i++) {
                const float a = r[i][0], b = r[i][1], cc = r[i][2], d = r[i][3];
                g[i * 3 + 0] = a + 0.5f * (b + cc);
                g[i * 3 + 1] = 0.5f * (b - cc);
                g[i * 3 + 2] = 0.5f * (b + cc) + d;
            }
        }
}

void wino_wgrad(const tg_conv2d_shape *s, const float *x, const float *dy, float *dw,
                float *db, float *work, int threads) {
    const int C = s->c, K = s->k, H = s->h, W = s->w;
    pass_geo g = {x, NULL, C, K, s->x_blk, s->y_blk, H, W, (H + 1) / 2, (W + 1) / 2};
    const long per_img = (long)g.th * g.tw, tiles = per_img * s->n;
    const long chunks = (tiles + TB - 1) / TB;
    const size_t nu = (size_t)16 * C * K;
    const size_t per_thread = (size_t)16 * TB * (C + K) + nu;
    if (threads < 1) threads = 1;
    int used = 1;
#pragma omp parallel num_threads(threads)
    {
        const int me = omp_get_thread_num();
#pragma omp single
        used = omp_get_num_threads();
        float *du = work + (size_t)me * per_thread, *V = du + nu;
        float *DY = V + (size_t)16 * TB * C;
        memset(du, 0, sizeof(float) * nu);
#pragma omp for schedule(static)
        for (long ch = 0; ch < chunks; ch++) {
            const long t0 = ch * TB;
            const int nt = (int)(tiles - t0 < TB ? tiles - t0 : TB);
            for (int t = 0; t < nt; t++) {
                const long q = t0 + t;
                const int n = (int)(q / per_img), r = (int)(q % per_img);
                input_tf(&g, n, r / g.tw, r % g.tw, t, V);
                dy_tf(dy, K, s->y_blk, H, W, n, r / g.tw, r % g.tw, t, DY);
            }
            for (int xi = 0; xi < 16; xi++) {
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
    wgrad_out(work, C, K, dw);
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
