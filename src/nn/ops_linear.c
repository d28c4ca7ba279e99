/* ops_linear.c - fully connected layer and softmax cross-entropy. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "tgsage/ops.h"

void tg_linear_forward(int n, int in, int out, const float *x, const float *w,
                       const float *b, float *y) {
    /* y (n,out) = x (n,in) . w^T (in,out) + b */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x,
                in, w, in, 0.0f, y, out);
    if (b)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < out; j++) y[(size_t)i * out + j] += b[j];
}

void tg_linear_backward(int n, int in, int out, const float *x, const float *w,
                        const float *dy, float *dx, int acc, float *dw,
                        float *db) {
    /* dw (out,in) = dy^T (out,n) . x (n,in) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy,
                out, x, in, 0.0f, dw, in);
    if (db)
        for (int j = 0; j < out; j++) {
            float s = 0;
            for (int i = 0; i < n; i++) s += dy[(size_t)i * out + j];
            db[j] = s;
        }
    /* dx (n,in) (+)= dy (n,out) . w (out,in) */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f,
                    dy, out, w, in, acc ? 1.0f : 0.0f, dx, in);
}

double tg_softmax_xent(int n, int k, const float *logits, const int32_t *labels,
                       float *dlogits, int *correct) {
    double loss = 0;
    int right = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int arg = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[arg]) arg = j;
        double mx = z[arg], sum = 0;
        for (int j = 0; j < k; j++) sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        loss += lse - z[labels[i]];
        right += arg == labels[i];
        if (dlogits)
            for (int j = 0; j < k; j++)
                dlogits[(size_t)i * k + j] =
                    (float)((exp((double)z[j] - lse) - (j == labels[i])) / n);
    }
    if (correct) *correct = right;
    return loss / n;
}
