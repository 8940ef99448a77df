"""The model interface the trainer compiles against: one entry per model family.

Every family provides ``loss_grad`` (mean mini-batch loss, gradient written in place)
and ``evaluate`` ((mean loss, metric) over a whole split). New families add a branch.
"""

from ..jit import kernel

from .dense import dense_evaluate, dense_loss_grad
from .sparse import sparse_evaluate, sparse_loss_grad
from .surfaces import surface_evaluate, surface_loss_grad

DENSE, SURFACE, SPARSE = 0, 1, 3


@kernel
def loss_grad(family, ai, af, theta, X, yc, yr, idx, grad, ws):
    """Mean loss of the rows ``idx`` of (X, y); its gradient goes into ``grad``."""
    if family == SURFACE:
        return surface_loss_grad(ai, af, theta, X, idx, grad)
    if family == SPARSE:
        return sparse_loss_grad(ai, theta, X, yc, idx, grad, ws)
    return dense_loss_grad(ai, theta, X, yc, yr, idx, grad, ws)


@kernel
def evaluate(family, ai, af, theta, X, yc, yr, ws, chunk):
    """(mean loss, metric) over every row of (X, y)."""
    if family == SURFACE:
        return surface_evaluate(ai, af, theta)
    if family == SPARSE:
        return sparse_evaluate(ai, theta, X, yc, ws, chunk)
    return dense_evaluate(ai, theta, X, yc, yr, ws, chunk)
