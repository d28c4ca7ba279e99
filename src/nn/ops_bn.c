/* ops_bn.c - batch normalisation over (n, c, hw), optionally fused with ReLU.
 *
 * Statistics are accumulated per plane in float and across planes in
 * double, in two passes (mean, then squared deviations from it). Running statistics follow PyTorch: the
 * running variance is updated with the unbiased batch variance.
 *
 * A plane's sums run in LANES interleaved float accumulators (element i
 * into lane i % LANES) over its first multiple of LANES elements, folded
 * pairwise, then the rest added in order: a fixed order that the compiler
 * vectorises without reassociating anything, so every ISA gives the same
 * bits (this file is compiled without fused multiply-adds). A
 * single serial accumulator, which C's rules leave the compiler no choice
 * but to keep scalar, held resnet20's training to 810 img/s on the 2-core
 * AVX-512 Xeon, BN taking a fifth of the time. */
#include <math.h>
#include <string.h>

#include "tgsage/ops.h"

#define LANES 16

/* LANES floats as one value (GCC's vector extension: two AVX2 registers,
 * or one AVX-512), so the accumulators stay in registers */
typedef float lanes __attribute__((vector_size(LANES * sizeof(float))));
typedef int ilanes __attribute__((vector_size(LANES * sizeof(int))));

/* v = p[0..LANES) (a macro: a vector argument or return value would be
 * passed in another way with and without AVX-512, -Wpsabi) */
#define LOAD(v, p) memcpy(&(v), (p), sizeof(lanes))

static float fold(const lanes *v) {
    float acc[LANES];
    memcpy(acc, v, sizeof acc);
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* sum of p[0..n) */
static float plane_sum(const float *p, int n) {
    lanes acc = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        lanes v;
        LOAD(v, p + i);
        acc += v;
    }
    float r = fold(&acc);
    for (; i < n; i++) r += p[i];
    return r;
}

/* sum of (p[i] - m)^2 */
static float plane_sqdev(const float *p, int n, float m) {
    lanes acc = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        lanes d;
        LOAD(d, p + i);
        d -= m;
        acc += d * d;
    }
    float r = fold(&acc);
    for (; i < n; i++) r += (p[i] - m) * (p[i] - m);
    return r;
}

/* sums of g and g * (p - m), g = dy masked by the fused ReLU's output q */
static void plane_grad_sums(const float *p, const float *dy, const float *q, int relu, int n,
                            float m, float *sg, float *sgx) {
    lanes a = {0}, ax = {0}, zero = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        lanes g, v;
        LOAD(g, dy + i);
        if (relu) { /* lanes where q > 0 is false (NaN too) get 0 */
            LOAD(v, q + i);
            g = (lanes)((ilanes)g & (v > zero));
        }
        LOAD(v, p + i);
        a += g;
        ax += g * (v - m);
    }
    float ra = fold(&a), rax = fold(&ax);
    for (; i < n; i++) {
        float gi = (relu && !(q[i] > 0)) ? 0 : dy[i];
        ra += gi;
        rax += gi * (p[i] - m);
    }
    *sg = ra;
    *sgx = rax;
}

void tg_bn_forward_train(const tg_bn_shape *s, const float *x,
                         const float *gamma, const float *beta, float *y,
                         float *save_mean, float *save_invstd,
                         float *run_mean, float *run_var, const float *skip, int relu) {
    const int n = s->n, c = s->c, hw = s->hw;
    const double cnt = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        /* two passes (mean, then squared deviations): E[x^2] - mean^2 loses
         * every digit when the mean is large against the spread */
        double sum = 0, sq = 0;
        for (int b = 0; b < n; b++) {
            sum += plane_sum(x + ((size_t)b * c + ch) * hw, hw);
        }
        const double mean = sum / cnt;
        const float fm = (float)mean;
        for (int b = 0; b < n; b++) {
            sq += plane_sqdev(x + ((size_t)b * c + ch) * hw, hw, fm);
        }
        double var = sq / cnt;
        double invstd = 1.0 / sqrt(var + s->eps);
        save_mean[ch] = (float)mean;
        save_invstd[ch] = (float)invstd;
        if (run_mean) {
            double unbiased = cnt > 1 ? var * cnt / (cnt - 1) : var;
            run_mean[ch] = (float)((1 - s->momentum) * run_mean[ch] + s->momentum * mean);
            run_var[ch] = (float)((1 - s->momentum) * run_var[ch] + s->momentum * unbiased);
        }
        const float a = (float)(gamma[ch] * invstd);
        const float bb = (float)(beta[ch] - mean * gamma[ch] * invstd);
        for (int b = 0; b < n; b++) {
            const float *p = x + ((size_t)b * c + ch) * hw;
            float *q = y + ((size_t)b * c + ch) * hw;
            const float *r = skip ? skip + ((size_t)b * c + ch) * hw : NULL;
            for (int i = 0; i < hw; i++) {  /* the conditions are hoisted (-O3) */
                float v = a * p[i] + bb;
                if (r) v += r[i];
                q[i] = relu && v < 0 ? 0 : v;  /* NaN passes, as PyTorch */
            }
        }
    }
}

void tg_bn_forward_eval(const tg_bn_shape *s, const float *x,
                        const float *gamma, const float *beta, float *y,
                        const float *run_mean, const float *run_var, int relu) {
    const int n = s->n, c = s->c, hw = s->hw;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            float invstd = 1.0f / sqrtf(run_var[ch] + s->eps);
            float a = gamma[ch] * invstd, bb = beta[ch] - run_mean[ch] * a;
            const float *p = x + ((size_t)b * c + ch) * hw;
            float *q = y + ((size_t)b * c + ch) * hw;
            for (int i = 0; i < hw; i++) {
                float v = a * p[i] + bb;
                q[i] = (relu && v < 0) ? 0 : v;
            }
        }
}

void tg_bn_backward(const tg_bn_shape *s, const float *x, const float *gamma,
                    const float *save_mean, const float *save_invstd,
                    const float *y, int relu, const float *dy, float *dx,
                    int acc, float *dgamma, float *dbeta) {
    const int n = s->n, c = s->c, hw = s->hw;
    const double cnt = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const float mean = save_mean[ch], invstd = save_invstd[ch];
        /* sums of g and g*xhat, where g is dy masked by the fused ReLU */
        double sg = 0, sgx = 0;
        for (int b = 0; b < n; b++) {
            size_t off = ((size_t)b * c + ch) * hw;
            float a, ax;
            plane_grad_sums(x + off, dy + off, y + off, relu, hw, mean, &a, &ax);
            sg += a;
            sgx += ax;
        }
        sgx *= invstd;
        dgamma[ch] = (float)sgx;
        dbeta[ch] = (float)sg;
        if (!dx) continue;
        /* dx = gamma*invstd * (g - mean(g) - xhat*mean(g*xhat)) */
        const float k = gamma[ch] * invstd;
        const float mg = (float)(sg / cnt), mgx = (float)(sgx / cnt);
        for (int b = 0; b < n; b++) {
            size_t off = ((size_t)b * c + ch) * hw;
            const float *p = x + off, *g = dy + off, *q = y + off;
            float *d = dx + off;
            for (int i = 0; i < hw; i++) {
                float gi = (relu && !(q[i] > 0)) ? 0 : g[i];
                float xhat = (p[i] - mean) * invstd;
                float v = k * (gi - mg - xhat * mgx);
                d[i] = acc ? d[i] + v : v;
            }
        }
    }
}
