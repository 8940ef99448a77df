"""The model interface the trainer compiles against: one entry per model family.

Every family provides ``loss_grad`` (mean mini-batch loss, gradient written in place)
and ``evaluate`` ((mean loss, metric) over a whole split). New families add a branch
to ``_FAMILIES``.

Family codes: DENSE 0, SURFACE 1, CONV 2 (cnn1d), RECURRENT 3 (rnn, gru), SPARSE 4
(sparse_logreg on padded token rows, ``models/sparse.py``).

The family is a compile-time constant: ``loss_grad`` and ``evaluate`` ask numba for it as a
literal (``numba.literally``), and the overloads below pick that family's functions, so a
trainer for MLPs compiles (and caches) the dense model only, not every family. Python code calls
the per-family entries ``LOSS_GRAD[family]``, ``EVALUATE[family]`` and ``ROWS_FORWARD[family]``
instead (see the end of this file): a literal argument passed from Python is retyped on every call.
"""

import numpy as np
from numba import literally, types
from numba.extending import overload

from ..jit import kernel

from . import conv, recurrent
from .conv import cnn_loss_grad
from .dense import dense_evaluate, dense_loss_grad, finish_metric
from .heads import row_loss, row_metric
from .recurrent import rnn_loss_grad
from .sparse import sparse_evaluate, sparse_loss_grad
from .surfaces import surface_evaluate, surface_loss_grad

DENSE, SURFACE, CONV, RECURRENT, SPARSE = 0, 1, 2, 3, 4
FAMILIES = (DENSE, SURFACE, CONV, RECURRENT, SPARSE)


def _family_of(family):
    """The family code of a numba integer literal type (None for a plain integer)."""
    if isinstance(family, types.IntegerLiteral):
        return family.literal_value
    return None


def family_loss_grad(family, ai, af, theta, X, yc, yr, idx, grad, ws):
    """Dispatch target of ``loss_grad`` (compiled code only; see the overload)."""
    raise NotImplementedError("family_loss_grad runs inside numba kernels only")


def family_evaluate(family, ai, af, theta, X, yc, yr, ws, chunk):
    """Dispatch target of ``evaluate`` (compiled code only; see the overload)."""
    raise NotImplementedError("family_evaluate runs inside numba kernels only")


@overload(family_loss_grad, prefer_literal=True)
def _family_loss_grad(family, ai, af, theta, X, yc, yr, idx, grad, ws):
    code = _family_of(family)
    if code not in FAMILIES:
        raise TypeError(f"the model family must be a compile-time literal in {FAMILIES}, got {family}")
    if code == SURFACE:
        return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws: surface_loss_grad(ai, af, theta, X, idx, grad)
    if code == CONV:
        return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws: cnn_loss_grad(ai, theta, X, yc, yr, idx, grad, ws)
    if code == RECURRENT:
        return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws: rnn_loss_grad(ai, theta, X, yc, yr, idx, grad, ws)
    if code == SPARSE:
        return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws: sparse_loss_grad(ai, theta, X, yc, idx, grad, ws)
    return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws: dense_loss_grad(ai, theta, X, yc, yr, idx, grad, ws)


@overload(family_evaluate, prefer_literal=True)
def _family_evaluate(family, ai, af, theta, X, yc, yr, ws, chunk):
    code = _family_of(family)
    if code not in FAMILIES:
        raise TypeError(f"the model family must be a compile-time literal in {FAMILIES}, got {family}")
    if code == SURFACE:
        return lambda family, ai, af, theta, X, yc, yr, ws, chunk: surface_evaluate(ai, af, theta)
    if code == CONV:
        return lambda family, ai, af, theta, X, yc, yr, ws, chunk: rows_evaluate(
            family, ai[conv.A_LOSS], ai[conv.A_NOUT], ai, theta, X, yc, yr, ws)
    if code == RECURRENT:
        return lambda family, ai, af, theta, X, yc, yr, ws, chunk: rows_evaluate(
            family, ai[recurrent.A_LOSS], ai[recurrent.A_NOUT], ai, theta, X, yc, yr, ws)
    if code == SPARSE:
        return lambda family, ai, af, theta, X, yc, yr, ws, chunk: sparse_evaluate(ai, theta, X, yc, ws, chunk)
    return lambda family, ai, af, theta, X, yc, yr, ws, chunk: dense_evaluate(ai, theta, X, yc, yr, ws, chunk)


def family_row_forward(family, ai, theta, x, ws):
    """One sample's outputs (cnn1d, rnn, gru): the target of the overload below (compiled code only)."""
    raise NotImplementedError("family_row_forward runs inside numba kernels only")


@overload(family_row_forward, prefer_literal=True)
def _family_row_forward(family, ai, theta, x, ws):
    code = _family_of(family)
    if code == CONV:
        return lambda family, ai, theta, x, ws: conv.row_forward(ai, theta, x, ws)
    if code == RECURRENT:
        return lambda family, ai, theta, x, ws: recurrent.row_forward(ai, theta, x, ws)
    raise TypeError(f"the model family must be a compile-time literal, CONV ({CONV}) or RECURRENT ({RECURRENT}), "
                    f"got {family}")


@kernel
def rows_evaluate(family, loss, n_out, ai, theta, X, yc, yr, ws):
    """(mean loss, metric) over every row of X, one sample's forward pass at a time (cnn1d, rnn,
    gru): accuracy (cross-entropy) or R^2 (MSE)."""
    fam = literally(family)
    n = X.shape[0]
    total = 0.0
    correct = 0
    ss_res = np.zeros(n_out)
    none = ws[0:0]
    for r in range(n):
        out = family_row_forward(fam, ai, theta, X[r], ws)
        total += row_loss(loss, out, yc, yr, r, none)
        correct += row_metric(loss, out, yc, yr, r, ss_res)
    return finish_metric(loss, total, correct, ss_res, yr, n, n_out)


@kernel
def rows_forward(family, ai, theta, X, ws, out):
    """Raw outputs for every row of X into ``out`` (n x n_outputs): cnn1d, rnn, gru."""
    fam = literally(family)
    for r in range(X.shape[0]):
        out[r, :] = family_row_forward(fam, ai, theta, X[r], ws)


@kernel
def loss_grad(family, ai, af, theta, X, yc, yr, idx, grad, ws):
    """Mean loss of the rows ``idx`` of (X, y); its gradient goes into ``grad``."""
    return family_loss_grad(literally(family), ai, af, theta, X, yc, yr, idx, grad, ws)


@kernel
def evaluate(family, ai, af, theta, X, yc, yr, ws, chunk):
    """(mean loss, metric) over every row of (X, y)."""
    return family_evaluate(literally(family), ai, af, theta, X, yc, yr, ws, chunk)


# -- entry points for calls from Python -------------------------------------------------------------
# Called from Python, a kernel that asks for its family as a literal is retyped on every call: numba
# first types the call with a plain integer, fails, and retries with the literal (~5 ms a call, and
# more for ``evaluate``). The kernels below hold their family as a constant instead (a global is typed
# as a literal), so numba's ordinary dispatch finds their compiled version at once. They run the same
# family code as ``loss_grad`` / ``evaluate`` / ``rows_forward`` above, so their numbers are the same.

@kernel
def dense_loss_grad_entry(ai, af, theta, X, yc, yr, idx, grad, ws):
    return family_loss_grad(DENSE, ai, af, theta, X, yc, yr, idx, grad, ws)


@kernel
def surface_loss_grad_entry(ai, af, theta, X, yc, yr, idx, grad, ws):
    return family_loss_grad(SURFACE, ai, af, theta, X, yc, yr, idx, grad, ws)


@kernel
def conv_loss_grad_entry(ai, af, theta, X, yc, yr, idx, grad, ws):
    return family_loss_grad(CONV, ai, af, theta, X, yc, yr, idx, grad, ws)


@kernel
def recurrent_loss_grad_entry(ai, af, theta, X, yc, yr, idx, grad, ws):
    return family_loss_grad(RECURRENT, ai, af, theta, X, yc, yr, idx, grad, ws)


@kernel
def sparse_loss_grad_entry(ai, af, theta, X, yc, yr, idx, grad, ws):
    return family_loss_grad(SPARSE, ai, af, theta, X, yc, yr, idx, grad, ws)


@kernel
def dense_evaluate_entry(ai, af, theta, X, yc, yr, ws, chunk):
    return family_evaluate(DENSE, ai, af, theta, X, yc, yr, ws, chunk)


@kernel
def surface_evaluate_entry(ai, af, theta, X, yc, yr, ws, chunk):
    return family_evaluate(SURFACE, ai, af, theta, X, yc, yr, ws, chunk)


@kernel
def conv_evaluate_entry(ai, af, theta, X, yc, yr, ws, chunk):
    return family_evaluate(CONV, ai, af, theta, X, yc, yr, ws, chunk)


@kernel
def recurrent_evaluate_entry(ai, af, theta, X, yc, yr, ws, chunk):
    return family_evaluate(RECURRENT, ai, af, theta, X, yc, yr, ws, chunk)


@kernel
def sparse_evaluate_entry(ai, af, theta, X, yc, yr, ws, chunk):
    return family_evaluate(SPARSE, ai, af, theta, X, yc, yr, ws, chunk)


@kernel
def conv_forward_entry(ai, theta, X, ws, out):
    rows_forward(CONV, ai, theta, X, ws, out)


@kernel
def recurrent_forward_entry(ai, theta, X, ws, out):
    rows_forward(RECURRENT, ai, theta, X, ws, out)


LOSS_GRAD = {DENSE: dense_loss_grad_entry, SURFACE: surface_loss_grad_entry, CONV: conv_loss_grad_entry,
             RECURRENT: recurrent_loss_grad_entry, SPARSE: sparse_loss_grad_entry}
EVALUATE = {DENSE: dense_evaluate_entry, SURFACE: surface_evaluate_entry, CONV: conv_evaluate_entry,
            RECURRENT: recurrent_evaluate_entry, SPARSE: sparse_evaluate_entry}
ROWS_FORWARD = {CONV: conv_forward_entry, RECURRENT: recurrent_forward_entry}
