"""Recurrent networks (``rnn``, ``gru``) with backpropagation through time, on one flat vector.

Conventions are PyTorch's (``torch.nn.RNN(nonlinearity="tanh")`` and ``torch.nn.GRU`` with
``batch_first=True``, zero initial state), so weights copy one to one:

- input: a row of X is a sequence of ``seq_len`` steps of ``input_size`` values, time-major
  (x_t[i] = X[row, t * input_size + i]); MNIST-1D's 40 features are a 40-step, 1-input sequence;
- Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh);
- GRU, gates in PyTorch's order (r, z, n):
      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
      h' = (1 - z) * n + z * h
- bidirectional: a second set of weights runs from t = T-1 down to 0; the output at time t
  is [h_fwd_t, h_bwd_t] (PyTorch's ``output[:, t]``);
- head ``last``: Linear on [h_fwd_{T-1}, h_bwd_0] (PyTorch's ``h_n``, directions concatenated);
  head ``all``: Linear on every output flattened time-major (``output.reshape(n, -1)``: feature
  (t * dirs + d) * H + j), as the MNIST-1D reference GRU;
- loss: cross-entropy (sequence classification) or MSE (forecasting the next k values).

Flat parameters, in order, each row-major in PyTorch's shape: per direction (forward, then
reverse) W_ih (G*H, D), W_hh (G*H, H), b_ih (G*H), b_hh (G*H) with G = 1 (RNN) or 3 (GRU,
rows r|z|n); then head weight (n_outputs, F) and head bias (n_outputs).

``ai`` (int64) = [cell, input_size D, hidden_size H, seq_len T, directions, head, loss, n_outputs].
Rows are processed one at a time; the workspace holds one row's states and gates.
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel
from .heads import loss_scale, row_loss

RNN, GRU = 0, 1
CELLS = ("rnn", "gru")
LAST, ALL = 0, 1
HEADS = ("last", "all")
A_CELL, A_D, A_H, A_T, A_DIRS, A_HEAD, A_LOSS, A_NOUT = range(8)


def arch(cell, input_size, hidden_size, seq_len, bidirectional, head, loss_code, n_outputs) -> np.ndarray:
    return np.array([CELLS.index(cell), input_size, hidden_size, seq_len, 2 if bidirectional else 1,
                     HEADS.index(head), loss_code, n_outputs], dtype=np.int64)


def n_features_head(ai) -> int:
    F = int(ai[A_DIRS] * ai[A_H])
    return F * int(ai[A_T]) if ai[A_HEAD] == ALL else F


def shapes(ai):
    """[(name, shape), ...] of the parameter tensors in flat order (PyTorch names)."""
    G = 3 if ai[A_CELL] == GRU else 1
    D, H = int(ai[A_D]), int(ai[A_H])
    out = []
    for d in range(int(ai[A_DIRS])):
        sfx = "_l0" + ("_reverse" if d else "")
        out += [(f"weight_ih{sfx}", (G * H, D)), (f"weight_hh{sfx}", (G * H, H)),
                (f"bias_ih{sfx}", (G * H,)), (f"bias_hh{sfx}", (G * H,))]
    n_out = int(ai[A_NOUT])
    return out + [("head.weight", (n_out, n_features_head(ai))), ("head.bias", (n_out,))]


def n_params(ai) -> int:
    return int(sum(np.prod(s) for _, s in shapes(ai)))


def _per_dir_states(ai):
    G = 3 if ai[A_CELL] == GRU else 1
    T, H = int(ai[A_T]), int(ai[A_H])
    return (T + 1) * H + (4 * T * H if G == 3 else 0)


def workspace_size(ai) -> int:
    G = 3 if ai[A_CELL] == GRU else 1
    H = int(ai[A_H])
    return int(ai[A_DIRS]) * _per_dir_states(ai) + 2 * int(ai[A_NOUT]) + 2 * H + 2 * G * H


@kernel
def _run_direction(ai, theta, p, x, reverse, st, gi, gh):
    """Run one direction over the row ``x``; states (and GRU gates) go into ``st``.

    Step s handles time t = s (forward) or T-1-s (reverse); the state after step s is
    st[(s+1)*H:(s+2)*H] and st[0:H] is the zero initial state. GRU gates r, z, n and
    W_hn h + b_hn of step s follow at offsets (T+1)*H + (q*T + s)*H for q = 0..3.
    ``gi``, ``gh`` (G*H each) are scratch for W_ih x + b_ih and W_hh h + b_hh.
    """
    cell = ai[A_CELL]
    D = ai[A_D]
    H = ai[A_H]
    T = ai[A_T]
    GH = gi.size
    W_ih = theta[p:p + GH * D]
    W_hh = theta[p + GH * D:p + GH * D + GH * H]
    b_ih = theta[p + GH * D + GH * H:p + GH * D + GH * H + GH]
    b_hh = theta[p + GH * D + GH * H + GH:p + GH * D + GH * H + 2 * GH]
    zero = st.dtype.type(0.0)
    one = st.dtype.type(1.0)
    for j in range(H):
        st[j] = zero
    gates = (T + 1) * H
    for s in range(T):
        t = T - 1 - s if reverse else s
        h = st[s * H:(s + 1) * H]
        hn = st[(s + 1) * H:(s + 2) * H]
        for k in range(GH):
            a = b_ih[k]
            for i in range(D):
                a += W_ih[k * D + i] * x[t * D + i]
            gi[k] = a
            c = b_hh[k]
            for m in range(H):
                c += W_hh[k * H + m] * h[m]
            gh[k] = c
        if cell == RNN:
            for k in range(H):
                hn[k] = np.tanh(gi[k] + gh[k])
        else:
            for k in range(H):
                rk = one / (one + np.exp(-(gi[k] + gh[k])))
                zk = one / (one + np.exp(-(gi[H + k] + gh[H + k])))
                nk = np.tanh(gi[2 * H + k] + rk * gh[2 * H + k])
                st[gates + s * H + k] = rk
                st[gates + (T + s) * H + k] = zk
                st[gates + (2 * T + s) * H + k] = nk
                st[gates + (3 * T + s) * H + k] = gh[2 * H + k]
                hn[k] = (one - zk) * nk + zk * h[k]


@kernel
def _layout(ai):
    """(states per direction, parameters per direction, gate rows G*H, head inputs F)."""
    H = ai[A_H]
    T = ai[A_T]
    G = 3 if ai[A_CELL] == GRU else 1
    per = (T + 1) * H + (4 * T * H if G == 3 else 0)
    F = ai[A_DIRS] * H * (T if ai[A_HEAD] == ALL else 1)
    return per, G * H * (ai[A_D] + H + 2), G * H, F


@kernel
def row_forward(ai, theta, x, ws):
    """Forward pass of one row; returns the outputs view in ``ws``."""
    dirs = ai[A_DIRS]
    H = ai[A_H]
    T = ai[A_T]
    n_out = ai[A_NOUT]
    per, block, GH, F = _layout(ai)
    o = dirs * per
    out = ws[o:o + n_out]
    gi = ws[o + 2 * n_out + 2 * H:o + 2 * n_out + 2 * H + GH]
    gh = ws[o + 2 * n_out + 2 * H + GH:o + 2 * n_out + 2 * H + 2 * GH]
    for d in range(dirs):
        _run_direction(ai, theta, d * block, x, d == 1, ws[d * per:(d + 1) * per], gi, gh)
    p = dirs * block
    for j in range(n_out):
        out[j] = theta[p + n_out * F + j]
    all_steps = ai[A_HEAD] == ALL
    for d in range(dirs):
        for t in range(T):
            if not all_steps and t != (0 if d == 1 else T - 1):
                continue
            s = T - 1 - t if d == 1 else t
            f0 = (t * dirs + d) * H if all_steps else d * H
            hs = ws[d * per + (s + 1) * H:d * per + (s + 2) * H]
            for j in range(n_out):
                acc = out[j]
                for m in range(H):
                    acc += theta[p + j * F + f0 + m] * hs[m]
                out[j] = acc
    return out


@kernel
def rnn_loss_grad(ai, theta, X, yc, yr, idx, grad, ws):
    """Mean loss over the rows ``X[idx]``; its gradient (BPTT) goes into ``grad``."""
    rows = idx.size
    cell = ai[A_CELL]
    D = ai[A_D]
    H = ai[A_H]
    T = ai[A_T]
    dirs = ai[A_DIRS]
    n_out = ai[A_NOUT]
    loss = ai[A_LOSS]
    per, block, GH, F = _layout(ai)
    all_steps = ai[A_HEAD] == ALL
    p_head = dirs * block
    zero = grad.dtype.type(0.0)
    one = grad.dtype.type(1.0)
    grad[:] = zero
    o = dirs * per
    delta = ws[o + n_out:o + 2 * n_out]
    dh = ws[o + 2 * n_out:o + 2 * n_out + H]
    dhp = ws[o + 2 * n_out + H:o + 2 * n_out + 2 * H]
    gi = ws[o + 2 * n_out + 2 * H:o + 2 * n_out + 2 * H + GH]
    gh = ws[o + 2 * n_out + 2 * H + GH:o + 2 * n_out + 2 * H + 2 * GH]
    Wh = theta[p_head:p_head + n_out * F]
    dWh = grad[p_head:p_head + n_out * F]
    dbh = grad[p_head + n_out * F:p_head + n_out * F + n_out]
    sc = grad.dtype.type(loss_scale(loss, rows, n_out))
    total = 0.0
    gates = (T + 1) * H
    for i in range(rows):
        r_ = idx[i]
        x = X[r_]
        out = row_forward(ai, theta, x, ws)
        total += row_loss(loss, out, yc, yr, r_, delta)
        for j in range(n_out):
            delta[j] *= sc
            dbh[j] += delta[j]
        for d in range(dirs):
            st = ws[d * per:(d + 1) * per]
            p = d * block
            W_hh = theta[p + GH * D:p + GH * D + GH * H]
            dW_ih = grad[p:p + GH * D]
            dW_hh = grad[p + GH * D:p + GH * D + GH * H]
            db_ih = grad[p + GH * D + GH * H:p + GH * D + GH * H + GH]
            db_hh = grad[p + GH * D + GH * H + GH:p + GH * D + GH * H + 2 * GH]
            for k in range(H):
                dh[k] = zero
            for s in range(T - 1, -1, -1):
                t = T - 1 - s if d == 1 else s
                h = st[s * H:(s + 1) * H]
                hn = st[(s + 1) * H:(s + 2) * H]
                if all_steps or s == T - 1:
                    # the head reads this state: its weight gradient, and the gradient reaching the state
                    f0 = (t * dirs + d) * H if all_steps else d * H
                    for j in range(n_out):
                        dj = delta[j]
                        for k in range(H):
                            dWh[j * F + f0 + k] += dj * hn[k]
                            dh[k] += dj * Wh[j * F + f0 + k]
                if cell == RNN:
                    for k in range(H):
                        gi[k] = dh[k] * (one - hn[k] * hn[k])
                        gh[k] = gi[k]
                        dhp[k] = zero
                else:
                    for k in range(H):
                        rk = st[gates + s * H + k]
                        zk = st[gates + (T + s) * H + k]
                        nk = st[gates + (2 * T + s) * H + k]
                        g = dh[k]
                        dhp[k] = g * zk
                        dan = g * (one - zk) * (one - nk * nk)
                        dar = dan * st[gates + (3 * T + s) * H + k] * rk * (one - rk)
                        daz = g * (h[k] - nk) * zk * (one - zk)
                        gi[k] = dar
                        gi[H + k] = daz
                        gi[2 * H + k] = dan
                        gh[k] = dar
                        gh[H + k] = daz
                        gh[2 * H + k] = dan * rk
                for q in range(GH):
                    a = gi[q]
                    db_ih[q] += a
                    for ii in range(D):
                        dW_ih[q * D + ii] += a * x[t * D + ii]
                    b = gh[q]
                    db_hh[q] += b
                    for m in range(H):
                        dW_hh[q * H + m] += b * h[m]
                        dhp[m] += b * W_hh[q * H + m]
                for m in range(H):
                    dh[m] = dhp[m]
    return total * loss_scale(loss, rows, n_out)
