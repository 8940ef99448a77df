"""Softmax regression on bag-of-words rows stored as padded ELLPACK (``sparse_logreg``).

Input layout (built by ``SparseLogReg.prepare`` from a CSR matrix): one float row per
document, ``m`` = the largest number of stored tokens of any row of *that* matrix::

    X[i] = [nnz_i, col_0, ..., col_{m-1}, val_0, ..., val_{m-1}]     width 1 + 2m

Only the first ``nnz_i`` slots are read; columns (token ids) are stored as floats, exact
up to 2**24 in float32 and 2**53 in float64. ``m`` is read from ``X.shape[1]``, so the
train and validation matrices may have different widths. Token ids are distinct within
a row and values non-zero (``prepare`` sums duplicates and drops explicit zeros).

Parameters (the same flat layout as ``softmax_regression`` with ``n_features = vocab``)::

    theta = [W (vocab x C, row-major), b (C)]      z_i = b + sum_k val_k * W[col_k, :]

Loss: mean_i [logsumexp(z_i) - z_i[y_i]] (PyTorch's ``cross_entropy``). An empty document
(nnz 0) has z_i = b. ``ai`` (int64) = [vocab, n_classes]; ``af`` is unused.

Gradient: dW[c, :] = (1/B) sum_{i, k: col_k = c} val_k (softmax(z_i) - e_{y_i}), db = (1/B)
sum_i (softmax(z_i) - e_{y_i}). Only the W rows of tokens present in the batch (and b) can
be non-zero; ``grad`` is cleared in full first, so it is a complete, valid dense gradient
whatever it held before (clearing vocab*C floats is a memset, far cheaper than the dense
update rule that follows it in the trainer, which reads and writes 2-4 such vectors; see
``SparseLogReg`` for the update semantics).

Workspace: ``rows * C`` floats (the softmax of each row of the batch or chunk).
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel
from .heads import CROSS_ENTROPY, row_loss, row_metric

A_VOCAB, A_CLASSES = 0, 1


def arch(vocab_size: int, n_classes: int) -> np.ndarray:
    """The int64 architecture vector ``[vocab, n_classes]``."""
    return np.array([vocab_size, n_classes], dtype=np.int64)


def n_params(vocab_size: int, n_classes: int) -> int:
    return int(vocab_size * n_classes + n_classes)


def workspace_size(n_classes: int, rows: int) -> int:
    return int(max(1, rows) * n_classes)


def ell_width(max_nnz: int) -> int:
    return 1 + 2 * int(max_nnz)


@kernel
def _logits(ai, theta, X, row, z):
    """z = b + sum_k val_k W[col_k, :] for document ``row`` of X (z: C floats)."""
    C = ai[A_CLASSES]
    wb = ai[A_VOCAB] * C
    m = (X.shape[1] - 1) // 2
    for j in range(C):
        z[j] = theta[wb + j]
    nnz = int(X[row, 0])
    for k in range(nnz):
        c = int(X[row, 1 + k])
        v = X[row, 1 + m + k]
        off = c * C
        for j in range(C):
            z[j] += v * theta[off + j]


@kernel
def sparse_loss_grad(ai, theta, X, yc, idx, grad, ws):
    """Mean cross-entropy of the documents ``X[idx]``; its full gradient is written into ``grad``.

    ``grad`` (same size as theta) is overwritten: zero everywhere except the W rows of the
    tokens present in the batch and the bias. ``ws`` needs ``len(idx) * C`` floats.
    """
    rows = idx.size
    C = ai[A_CLASSES]
    wb = ai[A_VOCAB] * C
    m = (X.shape[1] - 1) // 2
    zero = grad.dtype.type(0.0)
    for i in range(grad.size):
        grad[i] = zero
    if rows == 0:
        return 0.0
    total = 0.0
    sc = grad.dtype.type(1.0 / rows)
    no_targets = ws[0:0].reshape((0, 0))  # cross-entropy reads the labels only
    for i in range(rows):
        r = idx[i]
        z = ws[i * C:(i + 1) * C]
        _logits(ai, theta, X, r, z)
        total += row_loss(CROSS_ENTROPY, z, yc, no_targets, r, z)  # z now holds softmax(z) - e_y
        for j in range(C):
            z[j] *= sc  # delta_i = (p_i - e_y) / B
            grad[wb + j] += z[j]
        nnz = int(X[r, 0])
        for k in range(nnz):
            c = int(X[r, 1 + k])
            v = X[r, 1 + m + k]
            off = c * C
            for j in range(C):
                grad[off + j] += v * z[j]
    return total / rows


@kernel
def sparse_evaluate(ai, theta, X, yc, ws, chunk):
    """(mean cross-entropy, accuracy) over every document of X; ties go to the lowest class."""
    n = X.shape[0]
    C = ai[A_CLASSES]
    z = ws[0:C]
    empty = ws[0:0]
    no_targets = empty.reshape((0, 0))  # cross-entropy reads the labels only
    total = 0.0
    correct = 0
    for r in range(n):
        _logits(ai, theta, X, r, z)
        correct += row_metric(CROSS_ENTROPY, z, yc, no_targets, r, empty)
        total += row_loss(CROSS_ENTROPY, z, yc, no_targets, r, empty)
    if n == 0:
        return 0.0, 0.0
    return total / n, correct / n


@kernel
def sparse_forward(ai, theta, X, out):
    """Logits of every document of X into ``out`` (n x C)."""
    for r in range(X.shape[0]):
        _logits(ai, theta, X, r, out[r])


@kernel
def csr_to_ell(indptr, indices, data, width, out):
    """Fill ``out`` (n x width, zeroed) with the ELL rows of a canonical CSR matrix."""
    m = (width - 1) // 2
    for r in range(indptr.size - 1):
        lo = indptr[r]
        nnz = indptr[r + 1] - lo
        out[r, 0] = nnz
        for k in range(nnz):
            out[r, 1 + k] = indices[lo + k]
            out[r, 1 + m + k] = data[lo + k]
