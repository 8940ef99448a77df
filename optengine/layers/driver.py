"""The one compiled driver every layer model runs on: a model is a program, not a kernel.

``layers/program.py`` turns a layer list into ``ai`` (int64: a header, a table of activations and a
table of ops, then each op's own record) and ``af`` (float64: the ops' floats). The driver runs the
ops in order (forward), the loss, and the ops in reverse (backward), each op one batched kernel of
its module; a new architecture or a new width is new data for the same compiled code, so it never
recompiles (one compile per dtype, cached on disk).

Workspace for ``rows`` samples (``workspace_size``): every activation, a gradient buffer per
activation, each op's ``save`` (kept from forward to backward) and one shared ``tmp``:

    [acts: rows*SUMW][deltas: rows*SUMW][saves: rows*SUMSAVE][tmp: max over ops (rows*tmp_per_row + tmp_fixed)]

Activation 0 is the mini-batch's input rows, gathered in the parameters' dtype (none when the first
op is ``embedding_bag``, which reads the padded sparse rows itself). ``flatten`` is no op at all: it
renames the shape of the same activation. A residual block is two ops: ``residual_begin`` (a copy of
its input, the skip) and ``residual_end`` (y = x + skip); backward, the skip's gradient joins the
block's at ``residual_begin``.
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel
from . import activations, conv, dense, dropout, embedding, norm, pool, recurrent
from .base import OPS
from .loss import CROSS_ENTROPY, count_metric, finish_metric, gather_rows as _gather, output_loss

# header fields
H_NOPS, H_NACTS, H_LOSS, H_NOUT, H_SUMW, H_SUMSAVE, H_OPS, H_ACTS, H_BAG, H_OUT = range(10)
N_HEADER = 10
# per activation: width, offset (prefix sum of widths)
A_WIDTH, A_OFF = 0, 1
ACT_FIELDS = 2
# per op
(O_CODE, O_IN, O_OUT, O_P, O_NP, O_SAVE, O_SAVEROW, O_TMPROW, O_TMPFIXED, O_R, O_RLEN, O_F, O_FLEN,
 O_AUX) = range(14)
OP_FIELDS = 14

DENSE = OPS["dense"]
CONV1D, CONV2D = OPS["conv1d"], OPS["conv2d"]
POOL_FIRST, POOL_LAST = OPS["maxpool1d"], OPS["global_avg_pool"]
ACT_FIRST, ACT_LAST = OPS["relu"], OPS["gelu"]
LAYERNORM, DROPOUT = OPS["layernorm"], OPS["dropout"]
RES_BEGIN, RES_END = OPS["residual_begin"], OPS["residual_end"]
REC_FIRST, REC_LAST = OPS["rnn"], OPS["lstm"]
EMBEDDING_BAG = OPS["embedding_bag"]


@kernel
def _act(ai, ws, rows, a):
    """Activation ``a`` of a batch of ``rows`` as a (rows, width) view of ``ws``."""
    base = ai[H_ACTS] + ACT_FIELDS * a
    w = ai[base + A_WIDTH]
    off = rows * ai[base + A_OFF]
    return ws[off:off + rows * w].reshape((rows, w))


@kernel
def _delta(ai, ws, rows, a):
    """The gradient buffer of activation ``a``."""
    base = ai[H_ACTS] + ACT_FIELDS * a
    w = ai[base + A_WIDTH]
    off = rows * (ai[H_SUMW] + ai[base + A_OFF])
    return ws[off:off + rows * w].reshape((rows, w))


@kernel
def _save(ai, ws, rows, o):
    base = ai[H_OPS] + OP_FIELDS * o
    off = rows * (2 * ai[H_SUMW] + ai[base + O_SAVE])
    return ws[off:off + rows * ai[base + O_SAVEROW]]


@kernel
def _tmp(ai, ws, rows, o):
    base = ai[H_OPS] + OP_FIELDS * o
    off = rows * (2 * ai[H_SUMW] + ai[H_SUMSAVE])
    return ws[off:off + rows * ai[base + O_TMPROW] + ai[base + O_TMPFIXED]]


@kernel
def _op_key(key, o):
    """The random key of op ``o`` at a step (dropout): distinct per op and per step."""
    return key * 1000003 + o * 7919 + 1


@kernel
def _forward_op(ai, af, theta, X, idx, ws, rows, o, training, key):
    base = ai[H_OPS] + OP_FIELDS * o
    code = ai[base + O_CODE]
    r = ai[ai[base + O_R]:ai[base + O_R] + ai[base + O_RLEN]]
    f = af[ai[base + O_F]:ai[base + O_F] + ai[base + O_FLEN]]
    W = theta[ai[base + O_P]:ai[base + O_P] + ai[base + O_NP]]
    y = _act(ai, ws, rows, ai[base + O_OUT])
    if code == EMBEDDING_BAG:
        embedding.embedding_bag_forward(r, f, W, X, idx, y)
        return
    x = _act(ai, ws, rows, ai[base + O_IN])
    save = _save(ai, ws, rows, o)
    tmp = _tmp(ai, ws, rows, o)
    k = _op_key(key, o)
    if code == DENSE:
        dense.dense_forward(r, f, W, x, y, save, tmp, training, k)
    elif code == CONV1D or code == CONV2D:
        conv.conv_forward(r, f, W, x, y, save, tmp, training, k)
    elif POOL_FIRST <= code <= POOL_LAST:
        pool.pool_forward(r, f, W, x, y, save, tmp, training, k)
    elif ACT_FIRST <= code <= ACT_LAST:
        activations.activation_forward(r, f, W, x, y, save, tmp, training, k)
    elif code == LAYERNORM:
        norm.layernorm_forward(r, f, W, x, y, save, tmp, training, k)
    elif code == DROPOUT:
        dropout.dropout_forward(r, f, W, x, y, save, tmp, training, k)
    elif REC_FIRST <= code <= REC_LAST:
        recurrent.recurrent_forward(r, f, W, x, y, save, tmp, training, k)
    elif code == RES_BEGIN:
        y[:, :] = x
    elif code == RES_END:
        skip = _act(ai, ws, rows, ai[base + O_AUX])
        for i in range(rows):
            for j in range(y.shape[1]):
                y[i, j] = x[i, j] + skip[i, j]


@kernel
def _backward_op(ai, af, theta, X, idx, grad, ws, rows, o):
    base = ai[H_OPS] + OP_FIELDS * o
    code = ai[base + O_CODE]
    r = ai[ai[base + O_R]:ai[base + O_R] + ai[base + O_RLEN]]
    f = af[ai[base + O_F]:ai[base + O_F] + ai[base + O_FLEN]]
    p = ai[base + O_P]
    W = theta[p:p + ai[base + O_NP]]
    dW = grad[p:p + ai[base + O_NP]]
    dy = _delta(ai, ws, rows, ai[base + O_OUT])
    if code == EMBEDDING_BAG:
        embedding.embedding_bag_backward(r, f, W, X, idx, dy, dW)
        return
    a_in = ai[base + O_IN]
    need_dx = a_in != 0
    x = _act(ai, ws, rows, a_in)
    y = _act(ai, ws, rows, ai[base + O_OUT])
    dx = _delta(ai, ws, rows, a_in)
    save = _save(ai, ws, rows, o)
    tmp = _tmp(ai, ws, rows, o)
    if code == DENSE:
        dense.dense_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    elif code == CONV1D or code == CONV2D:
        conv.conv_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    elif POOL_FIRST <= code <= POOL_LAST:
        pool.pool_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    elif ACT_FIRST <= code <= ACT_LAST:
        activations.activation_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    elif code == LAYERNORM:
        norm.layernorm_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    elif code == DROPOUT:
        dropout.dropout_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    elif REC_FIRST <= code <= REC_LAST:
        recurrent.recurrent_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    elif code == RES_BEGIN:
        if need_dx:
            # the block's gradient at its input plus the skip's (the gradient at residual_end's output)
            skip = _delta(ai, ws, rows, ai[base + O_AUX])
            for i in range(rows):
                for j in range(dx.shape[1]):
                    dx[i, j] = dy[i, j] + skip[i, j]
    elif code == RES_END:
        dx[:, :] = dy


@kernel
def forward(ai, af, theta, X, idx, ws, training, key):
    """Run every op on the rows ``idx`` of X; return the output activation (rows x n_outputs)."""
    rows = idx.size
    if ai[H_BAG] == 0:
        _gather(X, idx, _act(ai, ws, rows, 0))
    for o in range(ai[H_NOPS]):
        _forward_op(ai, af, theta, X, idx, ws, rows, o, training, key)
    return _act(ai, ws, rows, ai[H_OUT])


@kernel
def layers_loss_grad(ai, af, theta, X, yc, yr, idx, grad, ws, key):
    """Mean loss of the rows ``idx`` of (X, y); its gradient goes into ``grad`` (every entry written).
    ``key``: the step's random key (dropout)."""
    rows = idx.size
    out = forward(ai, af, theta, X, idx, ws, True, key)
    total = output_loss(ai[H_LOSS], out, yc, yr, idx, _delta(ai, ws, rows, ai[H_OUT]))
    for o in range(ai[H_NOPS] - 1, -1, -1):
        _backward_op(ai, af, theta, X, idx, grad, ws, rows, o)
    if ai[H_LOSS] == CROSS_ENTROPY:
        return total / rows
    return total / (rows * ai[H_NOUT])


@kernel
def layers_evaluate(ai, af, theta, X, yc, yr, ws, chunk):
    """(mean loss, metric) over every row of (X, y), ``chunk`` rows per forward pass (dropout off)."""
    n = X.shape[0]
    n_out = ai[H_NOUT]
    total = 0.0
    correct = 0
    ss_res = np.zeros(n_out)
    idx = np.arange(n)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        out = forward(ai, af, theta, X, idx[lo:hi], ws, False, 0)
        total += output_loss(ai[H_LOSS], out, yc, yr, idx[lo:hi], ws[0:0].reshape((0, 0)))
        correct += count_metric(ai[H_LOSS], out, yc, yr, idx[lo:hi], ss_res)
    return finish_metric(ai[H_LOSS], total, correct, ss_res, yr, n, n_out)


@kernel
def layers_forward(ai, af, theta, X, ws, chunk, out):
    """Raw outputs for every row of X into ``out`` (n x n_outputs), dropout off."""
    n = X.shape[0]
    idx = np.arange(n)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        out[lo:hi, :] = forward(ai, af, theta, X, idx[lo:hi], ws, False, 0)
