"""1-D convolutional network (``cnn1d``) on one flat parameter vector.

Architecture (PyTorch conventions, so weights copy one to one into ``torch.nn``):

- input: a row of X holds ``in_channels * input_length`` values, channel-major
  (x[c, i] = X[row, c * input_length + i]); 1 channel: the row is the sequence itself;
- conv layer l: ``torch.nn.Conv1d(C_in, C_out, K, stride=S, padding=P)``, i.e. a
  cross-correlation with zero padding, z[co, o] = b[co] + sum_{ci, k} W[co, ci, k] *
  x[ci, o*S + k - P] (zero outside 0..L_in-1), L_out = floor((L_in + 2P - K) / S) + 1;
  then ReLU;
- flatten channel-major (``h.view(n, -1)``: feature c * L + i) and a linear head
  ``torch.nn.Linear(C * L, n_outputs)``; cross-entropy (classification) or MSE.

Flat parameters, in order, each tensor row-major in PyTorch's shape:
conv weight (C_out, C_in, K), conv bias (C_out) for every layer; head weight
(n_outputs, C * L), head bias (n_outputs).

``ai`` (int64) = [n_conv, in_channels, input_length, n_outputs, loss,
then per layer C_out, K, S, P, L_out].

The kernels work one row at a time (forward, then backward into the gradient), so the
workspace does not grow with the batch: activations of every layer, the outputs and
two delta buffers.
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel
from .heads import loss_scale, row_loss

A_NCONV, A_CIN, A_LIN, A_NOUT, A_LOSS, A_LAYERS = 0, 1, 2, 3, 4, 5
L_COUT, L_K, L_S, L_P, L_LOUT = 0, 1, 2, 3, 4
PER_LAYER = 5


def out_length(length: int, kernel_size: int, stride: int, padding: int) -> int:
    """Conv1d output length floor((L + 2P - K) / S) + 1 (< 1: the layer does not fit)."""
    return (length + 2 * padding - kernel_size) // stride + 1


def arch(in_channels, input_length, layers, n_outputs, loss_code) -> np.ndarray:
    """``layers`` = [(C_out, K, S, P), ...]; lengths are checked by the caller."""
    ai = [len(layers), in_channels, input_length, n_outputs, loss_code]
    length = input_length
    for cout, k, s, p in layers:
        length = out_length(length, k, s, p)
        ai += [cout, k, s, p, length]
    return np.array(ai, dtype=np.int64)


def shapes(ai):
    """[(name, shape), ...] of the parameter tensors in flat order."""
    out = []
    cin = int(ai[A_CIN])
    for l in range(int(ai[A_NCONV])):
        cout, k = int(ai[A_LAYERS + PER_LAYER * l + L_COUT]), int(ai[A_LAYERS + PER_LAYER * l + L_K])
        out += [(f"conv{l}.weight", (cout, cin, k)), (f"conv{l}.bias", (cout,))]
        cin = cout
    out += [("head.weight", (int(ai[A_NOUT]), _flat(ai))), ("head.bias", (int(ai[A_NOUT]),))]
    return out


def _flat(ai):
    last = A_LAYERS + PER_LAYER * (int(ai[A_NCONV]) - 1)
    return int(ai[last + L_COUT] * ai[last + L_LOUT])


def n_params(ai) -> int:
    return int(sum(np.prod(s) for _, s in shapes(ai)))


def workspace_size(ai) -> int:
    acts = 0
    widest = 0
    for l in range(int(ai[A_NCONV])):
        size = int(ai[A_LAYERS + PER_LAYER * l + L_COUT] * ai[A_LAYERS + PER_LAYER * l + L_LOUT])
        acts += size
        widest = max(widest, size)
    return acts + 2 * int(ai[A_NOUT]) + 2 * widest


@kernel
def _valid_range(k, stride, padding, lin, lout):
    """Output positions o whose input index o*S + k - P lies in 0..lin-1: range(lo, hi)."""
    lo = (padding - k + stride - 1) // stride
    if lo < 0:
        lo = 0
    hi = (lin - 1 + padding - k) // stride + 1
    if hi > lout:
        hi = lout
    return lo, hi


@kernel
def row_forward(ai, theta, x, ws):
    """Forward pass of one row ``x``; activations and outputs go into ``ws``; returns the outputs view."""
    n_conv = ai[A_NCONV]
    cin = ai[A_CIN]
    lin = ai[A_LIN]
    zero = ws.dtype.type(0.0)
    src = x
    p = 0
    a = 0
    for l in range(n_conv):
        base = A_LAYERS + PER_LAYER * l
        cout = ai[base + L_COUT]
        K = ai[base + L_K]
        S = ai[base + L_S]
        P = ai[base + L_P]
        lout = ai[base + L_LOUT]
        W = theta[p:p + cout * cin * K]
        b = theta[p + cout * cin * K:p + cout * cin * K + cout]
        p += cout * cin * K + cout
        dst = ws[a:a + cout * lout]
        for co in range(cout):
            for o in range(lout):
                dst[co * lout + o] = b[co]
            for ci in range(cin):
                for k in range(K):
                    w = W[(co * cin + ci) * K + k]
                    lo, hi = _valid_range(k, S, P, lin, lout)
                    off = ci * lin + k - P
                    for o in range(lo, hi):
                        dst[co * lout + o] += w * src[off + o * S]
            for o in range(lout):
                if dst[co * lout + o] < zero:
                    dst[co * lout + o] = zero
        src = dst
        a += cout * lout
        cin = cout
        lin = lout
    n_out = ai[A_NOUT]
    F = cin * lin
    Wh = theta[p:p + n_out * F]
    bh = theta[p + n_out * F:p + n_out * F + n_out]
    out = ws[a:a + n_out]
    for j in range(n_out):
        s = bh[j]
        for f in range(F):
            s += Wh[j * F + f] * src[f]
        out[j] = s
    return out


@kernel
def cnn_loss_grad(ai, theta, X, yc, yr, idx, grad, ws):
    """Mean loss over the rows ``X[idx]``; its gradient goes into ``grad``."""
    rows = idx.size
    n_conv = ai[A_NCONV]
    n_out = ai[A_NOUT]
    loss = ai[A_LOSS]
    zero = grad.dtype.type(0.0)
    grad[:] = zero
    acts = 0
    widest = 0
    for l in range(n_conv):
        size = ai[A_LAYERS + PER_LAYER * l + L_COUT] * ai[A_LAYERS + PER_LAYER * l + L_LOUT]
        acts += size
        widest = max(widest, size)
    delta = ws[acts + n_out:acts + 2 * n_out]
    bufs = (ws[acts + 2 * n_out:acts + 2 * n_out + widest], ws[acts + 2 * n_out + widest:acts + 2 * n_out + 2 * widest])
    sc = grad.dtype.type(loss_scale(loss, rows, n_out))
    total = 0.0
    for i in range(rows):
        r = idx[i]
        x = X[r]
        out = row_forward(ai, theta, x, ws)
        total += row_loss(loss, out, yc, yr, r, delta)
        for j in range(n_out):
            delta[j] *= sc
        # head: out = Wh h + bh, h = last activation (flattened)
        last = A_LAYERS + PER_LAYER * (n_conv - 1)
        C = ai[last + L_COUT]
        L = ai[last + L_LOUT]
        F = C * L
        p_head = theta.size - n_out * F - n_out
        a_end = acts
        h = ws[a_end - F:a_end]
        Wh = theta[p_head:p_head + n_out * F]
        dWh = grad[p_head:p_head + n_out * F]
        dbh = grad[p_head + n_out * F:p_head + n_out * F + n_out]
        cur = 0
        dz = bufs[cur][:F]
        dz[:] = zero
        for j in range(n_out):
            d = delta[j]
            dbh[j] += d
            for f in range(F):
                dWh[j * F + f] += d * h[f]
                dz[f] += d * Wh[j * F + f]
        for f in range(F):
            if h[f] <= zero:
                dz[f] = zero
        # conv layers, last first
        p_end = p_head
        for l in range(n_conv - 1, -1, -1):
            base = A_LAYERS + PER_LAYER * l
            cout = ai[base + L_COUT]
            K = ai[base + L_K]
            S = ai[base + L_S]
            P = ai[base + L_P]
            lout = ai[base + L_LOUT]
            if l > 0:
                prev = A_LAYERS + PER_LAYER * (l - 1)
                cin = ai[prev + L_COUT]
                lin = ai[prev + L_LOUT]
            else:
                cin = ai[A_CIN]
                lin = ai[A_LIN]
            a_end -= cout * lout
            p_off = p_end - (cout * cin * K + cout)
            W = theta[p_off:p_off + cout * cin * K]
            dW = grad[p_off:p_off + cout * cin * K]
            db = grad[p_off + cout * cin * K:p_end]
            p_end = p_off
            src = x if l == 0 else ws[a_end - cin * lin:a_end]
            dx = bufs[1 - cur][:cin * lin if l > 0 else 0]
            dx[:] = zero
            for co in range(cout):
                s = zero
                for o in range(lout):
                    s += dz[co * lout + o]
                db[co] += s
                for ci in range(cin):
                    for k in range(K):
                        lo, hi = _valid_range(k, S, P, lin, lout)
                        off = ci * lin + k - P
                        acc = zero
                        for o in range(lo, hi):
                            acc += dz[co * lout + o] * src[off + o * S]
                        dW[(co * cin + ci) * K + k] += acc
                        if l > 0:
                            w = W[(co * cin + ci) * K + k]
                            for o in range(lo, hi):
                                dx[off + o * S] += w * dz[co * lout + o]
            if l > 0:
                for f in range(cin * lin):
                    if src[f] <= zero:
                        dx[f] = zero
                cur = 1 - cur
                dz = dx
    return total * loss_scale(loss, rows, n_out)
