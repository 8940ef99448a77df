"""Output losses and metrics shared by the sequence models (``conv.py``, ``recurrent.py``).

These models run one sample (row) at a time, so the loss is written per row:

- cross-entropy: logsumexp(z) - z[y]            (PyTorch ``CrossEntropyLoss`` per sample)
- MSE:           sum_j (z_j - y_j)^2            (the caller divides by rows * outputs,
                                                 PyTorch ``MSELoss(reduction="mean")``)

Metrics over a split: accuracy (cross-entropy) or R^2 per output averaged over outputs
(scikit-learn's ``r2_score`` default, as ``dense.py``).
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel
from .dense import CROSS_ENTROPY, LOSSES, MSE, finish_metric  # one set of loss codes for every family

__all__ = ["CROSS_ENTROPY", "MSE", "LOSSES", "row_loss", "loss_scale", "row_metric", "finish_metric"]


@kernel
def row_loss(loss, out, yc, yr, r, delta):
    """Loss of one row's outputs ``out`` against row ``r`` of the targets (float64).

    If ``delta`` is not empty, d(row loss)/d(out) is written into it.
    """
    n_out = out.size
    want_grad = delta.size > 0
    if loss == CROSS_ENTROPY:
        zmax = out[0]
        for j in range(1, n_out):
            if out[j] > zmax:
                zmax = out[j]
        s = 0.0
        for j in range(n_out):
            s += np.exp(np.float64(out[j] - zmax))
        label = yc[r]
        total = np.log(s) + zmax - out[label]
        if want_grad:
            for j in range(n_out):
                delta[j] = np.exp(np.float64(out[j] - zmax)) / s
            delta[label] -= 1.0
        return total
    total = 0.0
    for j in range(n_out):
        d = out[j] - yr[r, j]
        total += np.float64(d) * d
        if want_grad:
            delta[j] = 2.0 * d
    return total


@kernel
def loss_scale(loss, rows, n_out):
    """The factor that turns summed row losses into the mean loss."""
    if loss == CROSS_ENTROPY:
        return 1.0 / rows
    return 1.0 / (rows * n_out)


@kernel
def row_metric(loss, out, yc, yr, r, ss_res):
    """1 if row ``r`` is classified correctly (cross-entropy), else 0; for MSE adds squared residuals to ``ss_res``."""
    n_out = out.size
    if loss == CROSS_ENTROPY:
        best = 0
        for j in range(1, n_out):
            if out[j] > out[best]:
                best = j
        return 1 if best == yc[r] else 0
    for j in range(n_out):
        d = np.float64(out[j]) - yr[r, j]
        ss_res[j] += d * d
    return 0
