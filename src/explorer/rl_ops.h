/* rl_ops.h - the op pairs of the RL controller (src/explorer/rl_lstm.c).
 *
 * Plain functions on raw float buffers with explicit sizes, in the style of
 * the engine's ops: no allocation, no state. A backward function adds into
 * the gradients of parameters (dw, db) and of inputs marked "+=", so that
 * the caller can sum the contributions of several consumers; the others it
 * writes. Single vectors only: the controller runs one step at a time.
 * Private to the explorer (and its test). */
#ifndef TGSAGE_RL_OPS_H
#define TGSAGE_RL_OPS_H

/* in (nin), w (nout, nin), b (nout) or NULL -> out (nout) */
void tg_rl_linear_forward(float *out, const float *in, const float *w,
                          const float *b, int nin, int nout);
/* dout (nout) -> din (nin) += w^T dout (din may be NULL), dw += dout in^T,
 * db += dout (db may be NULL) */
void tg_rl_linear_backward(float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w, int nin, int nout);

/* One LSTM cell (PyTorch's gate order i, f, g, o, one bias):
 *   a = w_ih x + w_hh h_prev + b;  i, f, o = sigmoid, g = tanh of a's parts
 *   c = f * c_prev + i * g;        h = o * tanh(c)
 * x (nin), h_prev, c_prev (H), w_ih (4H, nin), w_hh (4H, H), b (4H)
 *   -> h, c (H), act (4H: i, f, g, o after their nonlinearities, kept for
 *      the backward pass) */
void tg_rl_lstm_cell_forward(float *h, float *c, float *act, const float *x,
                             const float *h_prev, const float *c_prev,
                             const float *w_ih, const float *w_hh,
                             const float *b, int nin, int H);
/* dh, dc (H): the gradients reaching h and c from above and from the next
 * step -> dx (nin) +=, dh_prev (H) +=, dc_prev (H) written (either may be
 * NULL), dw_ih, dw_hh, db +=. da is scratch of 4H floats. */
void tg_rl_lstm_cell_backward(float *dx, float *dh_prev, float *dc_prev,
                              float *dw_ih, float *dw_hh, float *db,
                              const float *dh, const float *dc,
                              const float *act, const float *c,
                              const float *x, const float *h_prev,
                              const float *c_prev, const float *w_ih,
                              const float *w_hh, int nin, int H, float *da);

/* The log-probability of choice k under softmax(logits[0..n)): writes the
 * probabilities into probs (n) and returns log probs[k] (computed through
 * log-sum-exp, in double). */
double tg_rl_softmax_logprob_forward(float *probs, const float *logits, int n,
                                     int k);
/* dlogits (n) += g * d(log probs[k]) / d logits = g * (onehot(k) - probs) */
void tg_rl_softmax_logprob_backward(float *dlogits, const float *probs, int n,
                                    int k, float g);

/* The log-probability of y (1 or 0) under Bernoulli(sigmoid(z)): writes
 * sigmoid(z) into *p, returns log sigmoid(z) or log sigmoid(-z). */
double tg_rl_sigmoid_logprob_forward(float *p, float z, int y);
/* g * d(log-probability) / dz = g * (y - p) */
float tg_rl_sigmoid_logprob_backward(float p, int y, float g);

#endif
