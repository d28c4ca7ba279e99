/* rl_lstm.c - the op pairs of the RL controller: linear, LSTM cell, and the
 * log-probabilities of a softmax and a sigmoid choice with their gradients.
 *
 * The controller is tiny (32 units, one vector per step), so these are
 * plain loops rather than BLAS calls: the same order of operations on every
 * machine, which keeps a saved explorer's continuation bit-identical. */
#include <math.h>
#include <string.h>

#include "rl_ops.h"

static float sigmoidf(float a) { return 1.0f / (1.0f + expf(-a)); }

void tg_rl_linear_forward(float *out, const float *in, const float *w,
                          const float *b, int nin, int nout) {
    for (int o = 0; o < nout; o++) {
        const float *row = w + (size_t)o * nin;
        float s = b ? b[o] : 0.0f;
        for (int i = 0; i < nin; i++) s += row[i] * in[i];
        out[o] = s;
    }
}

void tg_rl_linear_backward(float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w, int nin, int nout) {
    for (int o = 0; o < nout; o++) {
        float g = dout[o];
        if (g == 0.0f) continue;
        float *drow = dw + (size_t)o * nin;
        for (int i = 0; i < nin; i++) drow[i] += g * in[i];
        if (db) db[o] += g;
        if (din) {
            const float *row = w + (size_t)o * nin;
            for (int i = 0; i < nin; i++) din[i] += g * row[i];
        }
    }
}

void tg_rl_lstm_cell_forward(float *h, float *c, float *act, const float *x,
                             const float *h_prev, const float *c_prev,
                             const float *w_ih, const float *w_hh,
                             const float *b, int nin, int H) {
    for (int r = 0; r < 4 * H; r++) {
        const float *wi = w_ih + (size_t)r * nin, *wh = w_hh + (size_t)r * H;
        float s = b[r];
        for (int k = 0; k < nin; k++) s += wi[k] * x[k];
        for (int k = 0; k < H; k++) s += wh[k] * h_prev[k];
        act[r] = s;
    }
    for (int k = 0; k < H; k++) {
        float ig = sigmoidf(act[k]), fg = sigmoidf(act[H + k]);
        float gg = tanhf(act[2 * H + k]), og = sigmoidf(act[3 * H + k]);
        act[k] = ig;
        act[H + k] = fg;
        act[2 * H + k] = gg;
        act[3 * H + k] = og;
        c[k] = fg * c_prev[k] + ig * gg;
        h[k] = og * tanhf(c[k]);
    }
}

void tg_rl_lstm_cell_backward(float *dx, float *dh_prev, float *dc_prev,
                              float *dw_ih, float *dw_hh, float *db,
                              const float *dh, const float *dc,
                              const float *act, const float *c,
                              const float *x, const float *h_prev,
                              const float *c_prev, const float *w_ih,
                              const float *w_hh, int nin, int H, float *da) {
    for (int k = 0; k < H; k++) {
        float ig = act[k], fg = act[H + k], gg = act[2 * H + k],
              og = act[3 * H + k];
        float tc = tanhf(c[k]);
        float dct = dc[k] + dh[k] * og * (1.0f - tc * tc);
        da[k] = dct * gg * ig * (1.0f - ig);
        da[H + k] = dct * c_prev[k] * fg * (1.0f - fg);
        da[2 * H + k] = dct * ig * (1.0f - gg * gg);
        da[3 * H + k] = dh[k] * tc * og * (1.0f - og);
        if (dc_prev) dc_prev[k] = dct * fg;
    }
    for (int r = 0; r < 4 * H; r++) {
        float g = da[r];
        if (g == 0.0f) continue;
        const float *wi = w_ih + (size_t)r * nin, *wh = w_hh + (size_t)r * H;
        float *dwi = dw_ih + (size_t)r * nin, *dwh = dw_hh + (size_t)r * H;
        for (int k = 0; k < nin; k++) dwi[k] += g * x[k];
        for (int k = 0; k < H; k++) dwh[k] += g * h_prev[k];
        db[r] += g;
        if (dx)
            for (int k = 0; k < nin; k++) dx[k] += g * wi[k];
        if (dh_prev)
            for (int k = 0; k < H; k++) dh_prev[k] += g * wh[k];
    }
}

double tg_rl_softmax_logprob_forward(float *probs, const float *logits, int n,
                                     int k) {
    double mx = logits[0];
    for (int j = 1; j < n; j++)
        if (logits[j] > mx) mx = logits[j];
    double sum = 0;
    for (int j = 0; j < n; j++) sum += exp((double)logits[j] - mx);
    double lse = mx + log(sum);
    for (int j = 0; j < n; j++) probs[j] = (float)exp((double)logits[j] - lse);
    return (double)logits[k] - lse;
}

void tg_rl_softmax_logprob_backward(float *dlogits, const float *probs, int n,
                                    int k, float g) {
    for (int j = 0; j < n; j++)
        dlogits[j] += g * ((j == k ? 1.0f : 0.0f) - probs[j]);
}

double tg_rl_sigmoid_logprob_forward(float *p, float z, int y) {
    double zd = z;
    *p = (float)(1.0 / (1.0 + exp(-zd)));
    /* log sigmoid(s) = -log(1 + e^-s), computed without overflow */
    double s = y ? zd : -zd;
    return s >= 0 ? -log1p(exp(-s)) : s - log1p(exp(s));
}

float tg_rl_sigmoid_logprob_backward(float p, int y, float g) {
    return g * ((y ? 1.0f : 0.0f) - p);
}
