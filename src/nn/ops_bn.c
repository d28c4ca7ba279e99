/* ops_bn.c - batch normalisation over (n, c, hw), optionally fused with ReLU.
 *
 * Statistics are accumulated per plane in float and across planes in
 * double, in two passes (mean, then squared deviations from it). Running statistics follow PyTorch: the
 * running variance is updated with the unbiased batch variance. */
#include <math.h>
#include <string.h>

#include "tgsage/ops.h"

void tg_bn_forward_train(const tg_bn_shape *s, const float *x,
                         const float *gamma, const float *beta, float *y,
                         float *save_mean, float *save_invstd,
                         float *run_mean, float *run_var, int relu) {
    const int n = s->n, c = s->c, hw = s->hw;
    const double cnt = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        /* two passes (mean, then squared deviations): E[x^2] - mean^2 loses
         * every digit when the mean is large against the spread */
        double sum = 0, sq = 0;
        for (int b = 0; b < n; b++) {
            const float *p = x + ((size_t)b * c + ch) * hw;
            float ps = 0;  /* per plane in float, vectorisable */
            for (int i = 0; i < hw; i++) ps += p[i];
            sum += ps;
        }
        const double mean = sum / cnt;
        const float fm = (float)mean;
        for (int b = 0; b < n; b++) {
            const float *p = x + ((size_t)b * c + ch) * hw;
            float pq = 0;
            for (int i = 0; i < hw; i++) pq += (p[i] - fm) * (p[i] - fm);
            sq += pq;
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
            if (relu)
                for (int i = 0; i < hw; i++) {
                    float v = a * p[i] + bb;
                    q[i] = v < 0 ? 0 : v;  /* NaN passes, as PyTorch */
                }
            else
                for (int i = 0; i < hw; i++) q[i] = a * p[i] + bb;
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
            const float *p = x + off, *g = dy + off, *q = y + off;
            float a = 0, ax = 0;
            for (int i = 0; i < hw; i++) {
                float gi = (relu && !(q[i] > 0)) ? 0 : g[i];
                a += gi;
                ax += gi * (p[i] - mean);
            }
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
