"""The model interface the trainer compiles against: one entry per model family.

Every family provides ``loss_grad`` (mean mini-batch loss, gradient written in place)
and ``evaluate`` ((mean loss, metric) over a whole split). New families add a branch.

Family codes: DENSE 0, SURFACE 1, CONV 2 (cnn1d), RECURRENT 3 (rnn, gru), SPARSE 4
(sparse_logreg on padded token rows, ``models/sparse.py``).
"""

from ..jit import kernel

from .conv import cnn_evaluate, cnn_loss_grad
from .dense import dense_evaluate, dense_loss_grad
from .recurrent import rnn_evaluate, rnn_loss_grad
from .sparse import sparse_evaluate, sparse_loss_grad
from .surfaces import surface_evaluate, surface_loss_grad

DENSE, SURFACE, CONV, RECURRENT, SPARSE = 0, 1, 2, 3, 4


@kernel
def loss_grad(family, ai, af, theta, X, yc, yr, idx, grad, ws):
    """Mean loss of the rows ``idx`` of (X, y); its gradient goes into ``grad``."""
    if family == SURFACE:
        return surface_loss_grad(ai, af, theta, X, idx, grad)
    if family == CONV:
        return cnn_loss_grad(ai, theta, X, yc, yr, idx, grad, ws)
    if family == RECURRENT:
        return rnn_loss_grad(ai, theta, X, yc, yr, idx, grad, ws)
    if family == SPARSE:
        return sparse_loss_grad(ai, theta, X, yc, idx, grad, ws)
    return dense_loss_grad(ai, theta, X, yc, yr, idx, grad, ws)


@kernel
def evaluate(family, ai, af, theta, X, yc, yr, ws, chunk):
    """(mean loss, metric) over every row of (X, y)."""
    if family == SURFACE:
        return surface_evaluate(ai, af, theta)
    if family == CONV:
        return cnn_evaluate(ai, theta, X, yc, yr, ws)
    if family == RECURRENT:
        return rnn_evaluate(ai, theta, X, yc, yr, ws)
    if family == SPARSE:
        return sparse_evaluate(ai, theta, X, yc, ws, chunk)
    return dense_evaluate(ai, theta, X, yc, yr, ws, chunk)
