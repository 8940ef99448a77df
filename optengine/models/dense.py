"""Dense networks on one flat parameter vector: linear regression, softmax regression, MLP.

Layer l maps ``sizes[l] -> sizes[l+1]``: z = a @ W_l + b_l, with W_l stored row-major
as ``sizes[l] x sizes[l+1]`` followed by b_l. Hidden layers apply relu or tanh; the
output is linear. Losses are means over the mini-batch (notes 2.3):

- cross-entropy: mean_i [logsumexp(z_i) - z_i[y_i]]           (softmax regression, MLP)
- MSE:           mean over samples and outputs of (z - y)^2     (PyTorch's ``MSELoss``)

``ai`` (int64) describes the architecture: [n_layers, activation, loss, sizes...].
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel
RELU, TANH = 0, 1
ACTIVATIONS = ("relu", "tanh")
from ..layers.loss import CROSS_ENTROPY, LOSSES, MSE, finish_metric  # noqa: F401  (one set of loss codes)
from ..layers.loss import gather_rows as _gather

A_LAYERS, A_ACT, A_LOSS, A_SIZES = 0, 1, 2, 3


def arch(sizes, activation: str, loss: str) -> np.ndarray:
    """The int64 architecture vector of a dense network."""
    return np.array([len(sizes) - 1, ACTIVATIONS.index(activation), LOSSES.index(loss), *sizes], dtype=np.int64)


def n_params(sizes) -> int:
    return int(sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(len(sizes) - 1)))


def workspace_size(sizes, rows: int) -> int:
    """Floats of scratch space for a batch of ``rows``: activations, two delta buffers, the gathered input."""
    widths = list(sizes[1:])
    return int(rows * (sum(widths) + 2 * max(widths) + sizes[0]))


@kernel
def _layer_forward(a_in, W, b, z, act, hidden):
    """z = a_in @ W + b (one BLAS product, sgemm/dgemm), then the activation on hidden layers;
    bias and activation in one pass, written as selects so the loop vectorises."""
    np.dot(a_in, W, z)
    rows, dout = z.shape
    zero = z.dtype.type(0.0)
    for i in range(rows):
        if not hidden:
            for j in range(dout):
                z[i, j] += b[j]
        elif act == RELU:
            for j in range(dout):
                v = z[i, j] + b[j]
                z[i, j] = zero if v < zero else v  # NaN stays NaN
        else:
            for j in range(dout):
                z[i, j] = np.tanh(z[i, j] + b[j])


@kernel
def _widths(ai):
    """(sum, max) of the layer output widths: the sizes of ws's activations and delta buffers."""
    widths_total = 0
    max_w = 0
    for l in range(1, ai[A_LAYERS] + 1):
        widths_total += ai[A_SIZES + l]
        max_w = max(max_w, ai[A_SIZES + l])
    return widths_total, max_w


@kernel
def _input_offset(ai, rows):
    """Offset in ws of the gathered input rows: after the activations and the two delta buffers."""
    widths_total, max_w = _widths(ai)
    return rows * (widths_total + 2 * max_w)


@kernel
def _forward(ai, theta, X, idx, rows, ws):
    """Run the network on ``rows`` samples; return the output view (rows x n_out) in ``ws``.

    ws holds layer l's outputs after layer l-1's from offset 0, and the gathered input rows
    at ``_input_offset``."""
    n_layers = ai[A_LAYERS]
    act = ai[A_ACT]
    din0 = ai[A_SIZES]
    x_off = _input_offset(ai, rows)
    prev = ws[x_off:x_off + rows * din0].reshape((rows, din0))
    _gather(X, idx, prev)
    p_off = 0
    w_off = 0
    for l in range(n_layers):
        din = ai[A_SIZES + l]
        dout = ai[A_SIZES + l + 1]
        W = theta[p_off:p_off + din * dout].reshape((din, dout))
        b = theta[p_off + din * dout:p_off + din * dout + dout]
        p_off += din * dout + dout
        z = ws[w_off:w_off + rows * dout].reshape((rows, dout))
        w_off += rows * dout
        _layer_forward(prev, W, b, z, act, l < n_layers - 1)
        prev = z
    return prev


@kernel
def _output_loss(ai, out, yc, yr, idx, delta):
    """Summed loss of the outputs; if ``delta`` has rows, write d(sum loss)/d(out) into it."""
    rows, n_out = out.shape
    want_grad = delta.shape[0] > 0
    total = 0.0
    if ai[A_LOSS] == CROSS_ENTROPY:
        e = np.empty(n_out)  # exp(z - max), float64, computed once per output
        for i in range(rows):
            zmax = out[i, 0]
            for j in range(1, n_out):
                if out[i, j] > zmax:
                    zmax = out[i, j]
            s = 0.0
            for j in range(n_out):
                e[j] = np.exp(np.float64(out[i, j] - zmax))
                s += e[j]
            label = yc[idx[i]]
            total += np.log(s) + zmax - out[i, label]
            if want_grad:
                for j in range(n_out):
                    delta[i, j] = e[j] / s
                delta[i, label] -= 1.0
    else:
        for i in range(rows):
            for j in range(n_out):
                r = out[i, j] - yr[idx[i], j]
                total += np.float64(r) * r
                if want_grad:
                    delta[i, j] = 2.0 * r
    return total


@kernel
def dense_loss_grad(ai, theta, X, yc, yr, idx, grad, ws):
    """Mean loss over the batch ``X[idx]``; writes its gradient into ``grad``.

    Per layer, last first: dW = A_prev^T @ delta, db = sum of delta's rows, and
    delta_prev = (delta @ W^T) * act'(A_prev); the products are BLAS calls."""
    rows = idx.size
    n_layers = ai[A_LAYERS]
    act = ai[A_ACT]
    widths_total, max_w = _widths(ai)
    out = _forward(ai, theta, X, idx, rows, ws)
    n_out = out.shape[1]
    d_off = rows * widths_total
    buffers = (ws[d_off:d_off + rows * max_w], ws[d_off + rows * max_w:d_off + 2 * rows * max_w])
    x_off = d_off + 2 * rows * max_w
    cur = 0
    delta = buffers[0][:rows * n_out].reshape((rows, n_out))
    total = _output_loss(ai, out, yc, yr, idx, delta)
    scale = 1.0 / rows if ai[A_LOSS] == CROSS_ENTROPY else 1.0 / (rows * n_out)
    sc = delta.dtype.type(scale)
    for i in range(rows):
        for j in range(n_out):
            delta[i, j] *= sc
    zero = delta.dtype.type(0.0)
    one = delta.dtype.type(1.0)
    # Backward pass, last layer first; hidden activations sit before the output in ws.
    p_end = theta.size
    a_end = rows * (widths_total - n_out)
    for l in range(n_layers - 1, -1, -1):
        din = ai[A_SIZES + l]
        dout = ai[A_SIZES + l + 1]
        p_off = p_end - (din * dout + dout)
        W = theta[p_off:p_off + din * dout].reshape((din, dout))
        dW = grad[p_off:p_off + din * dout].reshape((din, dout))
        db = grad[p_off + din * dout:p_end]
        p_end = p_off
        if l > 0:
            a_prev = ws[a_end - rows * din:a_end].reshape((rows, din))
        else:
            a_prev = ws[x_off:x_off + rows * din].reshape((rows, din))  # the gathered input
        np.dot(a_prev.T, delta, dW)
        for j in range(dout):
            db[j] = zero
        for i in range(rows):
            for j in range(dout):
                db[j] += delta[i, j]
        if l > 0:
            a_end -= rows * din
            cur = 1 - cur
            new_delta = buffers[cur][:rows * din].reshape((rows, din))
            np.dot(delta, W.T, new_delta)
            for i in range(rows):
                if act == RELU:
                    for k in range(din):
                        new_delta[i, k] = new_delta[i, k] if a_prev[i, k] > zero else zero
                else:
                    for k in range(din):
                        a = a_prev[i, k]
                        new_delta[i, k] *= one - a * a
            delta = new_delta
    return total * scale


@kernel
def dense_evaluate(ai, theta, X, yc, yr, ws, chunk):
    """(mean loss, metric) over all rows of X: accuracy for cross-entropy, R^2 for MSE.

    R^2 = 1 - SS_res / SS_tot per output, averaged over outputs (scikit-learn's
    ``r2_score`` default); an output with constant targets scores 1 if predicted
    exactly, else 0 (also as scikit-learn).
    """
    n = X.shape[0]
    n_out = ai[A_SIZES + ai[A_LAYERS]]
    total = 0.0
    correct = 0
    ss_res = np.zeros(n_out)
    idx = np.arange(n)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        out = _forward(ai, theta, X, idx[lo:hi], hi - lo, ws)
        total += _output_loss(ai, out, yc, yr, idx[lo:hi], ws[0:0].reshape((0, 0)))
        for i in range(hi - lo):
            if ai[A_LOSS] == CROSS_ENTROPY:
                best = 0
                for j in range(1, n_out):
                    if out[i, j] > out[i, best]:
                        best = j
                if best == yc[lo + i]:
                    correct += 1
            else:
                for j in range(n_out):
                    r = np.float64(out[i, j]) - yr[lo + i, j]
                    ss_res[j] += r * r
    return finish_metric(ai[A_LOSS], total, correct, ss_res, yr, n, n_out)


@kernel
def dense_forward(ai, theta, X, ws, chunk, out):
    """Network outputs for every row of X into ``out`` (n x n_out)."""
    n = X.shape[0]
    idx = np.arange(n)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        z = _forward(ai, theta, X, idx[lo:hi], hi - lo, ws)
        out[lo:hi, :] = z
