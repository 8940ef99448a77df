"""The output losses of a layer model, over a whole mini-batch (the dense models' definitions), and the
mini-batch gather both share.

- cross-entropy: mean_i [logsumexp(z_i) - z_i[y_i]]           (PyTorch ``cross_entropy``)
- MSE:           mean over samples and outputs of (z - y)^2     (PyTorch ``MSELoss``)
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel
CROSS_ENTROPY, MSE = 0, 1
LOSSES = ("cross_entropy", "mse")

__all__ = ["CROSS_ENTROPY", "MSE", "LOSSES", "output_loss", "count_metric", "finish_metric", "gather_rows"]


@kernel
def gather_rows(X, idx, out):
    """out[i, :] = X[idx[i], :] in out's dtype: a mini-batch's input rows, contiguous (the layer driver's
    and the dense kernel's first step)."""
    for i in range(idx.size):
        r = idx[i]
        for k in range(X.shape[1]):
            out[i, k] = X[r, k]


@kernel
def output_loss(loss, out, yc, yr, idx, delta):
    """Summed loss of ``out`` (rows x outputs) against the targets of rows ``idx``; if ``delta`` has
    rows, d(mean loss)/d(out) goes into it (the sum's derivative times the mean's factor)."""
    rows, n_out = out.shape
    want_grad = delta.shape[0] > 0
    total = 0.0
    if loss == CROSS_ENTROPY:
        scale = 1.0 / rows
        e = np.empty(n_out)
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
                    delta[i, j] = e[j] / s * scale
                delta[i, label] -= scale
    else:
        scale = 2.0 / (rows * n_out)
        for i in range(rows):
            for j in range(n_out):
                r = out[i, j] - yr[idx[i], j]
                total += np.float64(r) * r
                if want_grad:
                    delta[i, j] = scale * r
    return total


@kernel
def count_metric(loss, out, yc, yr, idx, ss_res):
    """Correct predictions among the rows (cross-entropy); for MSE adds squared residuals to ``ss_res``."""
    rows, n_out = out.shape
    correct = 0
    for i in range(rows):
        if loss == CROSS_ENTROPY:
            best = 0
            for j in range(1, n_out):
                if out[i, j] > out[i, best]:
                    best = j
            if best == yc[idx[i]]:
                correct += 1
        else:
            for j in range(n_out):
                r = np.float64(out[i, j]) - yr[idx[i], j]
                ss_res[j] += r * r
    return correct


@kernel
def finish_metric(loss, total, correct, ss_res, yr, n, n_out):
    """(mean loss, metric) from the sums over ``n`` rows: accuracy, or R^2 averaged over outputs."""
    if loss == CROSS_ENTROPY:
        return total / n, correct / n
    r2 = 0.0
    for j in range(n_out):
        mean = 0.0
        for i in range(n):
            mean += yr[i, j]
        mean /= n
        ss_tot = 0.0
        for i in range(n):
            d = yr[i, j] - mean
            ss_tot += d * d
        if ss_tot > 0:
            r2 += 1.0 - ss_res[j] / ss_tot
        elif ss_res[j] == 0:
            r2 += 1.0
    return total / (n * n_out), r2 / n_out
