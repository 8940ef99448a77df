"""DeepOBS's ``quadratic_deep``: a D-dimensional noisy quadratic with a deep-learning-like spectrum.

Taken from the DeepOBS sources (github.com/fsschneider/DeepOBS, ``deepobs/{tensorflow,pytorch}/
testproblems/quadratic_deep.py``, ``_quadratic.py`` and ``datasets/quadratic.py``):

- per-example loss  l(theta; x) = 0.5 (theta - x)^T Q (theta - x), averaged over the batch, so a
  mini-batch gradient is Q (theta - mean(x_B)); no regulariser;
- Hessian Q = R^T diag(lambda) R: 90 eigenvalues ~ U(0, 1) then 10 ~ U(30, 60), R a Haar-random
  rotation from the subgroup algorithm of Diaconis & Shahshahani, all drawn from
  ``numpy.random.RandomState(42)`` in that order (the module-level generator of DeepOBS, as the
  first test problem of a process sees it);
- data: x ~ N(0, 0.6^2 I) in float32, 1000 draws each for train (RandomState(42)), validation
  (RandomState(44)) and test (RandomState(43));
- theta starts at the vector of ones (``tf.constant_initializer(1.0)``); batch size 128, 100 epochs
  (DeepOBS's defaults for this problem).

DeepOBS evaluates a split in batches of the training batch size with ``drop_remainder=True``:
at batch 128 its test loss is the mean over the first 896 test draws (7 batches). The dataset
``quadratic_deep`` keeps that (``eval_batch=128``; ``None`` keeps all 1000). Its initial test
loss is 353.4468, the figure DeepOBS publishes. Training here uses all 1000 rows per epoch (8
steps: 7 of 128 and one of 104); DeepOBS drops a random 104 each epoch (7 steps).

``ai`` = [D]; ``af`` = Q, row-major (D x D). The metric is 0 (DeepOBS reports no accuracy for
this problem: choose on the loss). The kernels accumulate in float64.
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel

DEEPOBS_SEED = 42          # RandomState of the Hessian (DeepOBS's module-level rng)
DATA_SEEDS = {"train": 42, "val": 44, "test": 43}
NOISE_LEVEL = 0.6
DIM = 100
TRAIN_SIZE = 1000


# -- the problem's definition, in NumPy (DeepOBS's draws, in DeepOBS's order) ------------------

def random_rotation(D: int, rng: np.random.RandomState) -> np.ndarray:
    """A rotation in SO(D), Haar-distributed, by the subgroup algorithm (Diaconis & Shahshahani 1987),
    drawing from ``rng`` exactly as DeepOBS's ``random_rotation`` does."""
    t = 2 * np.pi * rng.uniform()
    R = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    for d in range(2, D):
        v = rng.normal(size=(d + 1, 1))
        v = v / np.sqrt(v.T @ v)                      # a point on the unit sphere S^d
        e = np.zeros((d + 1, 1))
        e[0, 0] = 1.0
        x = (e - v) / np.sqrt((e - v).T @ (e - v))    # the Householder vector taking e to v
        M = np.zeros((d + 1, d + 1))
        M[0, 0] = 1.0
        M[1:, 1:] = R
        R = M - 2 * np.outer(x, x.T @ M)
    return -R


def deepobs_hessian(dim: int = DIM, seed: int = DEEPOBS_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(Q, eigenvalues): 90% of the eigenvalues ~ U(0, 1), the rest ~ U(30, 60), rotated by a random
    rotation, all from ``RandomState(seed)`` (DeepOBS: dim 100, seed 42)."""
    rng = np.random.RandomState(seed)
    n_small = int(round(0.9 * dim))
    eig = np.concatenate((rng.uniform(0.0, 1.0, n_small), rng.uniform(30.0, 60.0, dim - n_small)))
    R = random_rotation(dim, rng)
    return R.T @ np.diag(eig) @ R, eig


def deepobs_draws(split: str, dim: int = DIM, n: int = TRAIN_SIZE, noise_level: float = NOISE_LEVEL) -> np.ndarray:
    """DeepOBS's data of one split: N(0, noise_level^2) draws from its seed, cast to float32 (as DeepOBS
    does), returned as float64."""
    X = np.random.RandomState(DATA_SEEDS[split]).normal(0.0, noise_level, (n, dim))
    return np.float32(X).astype(np.float64)


def reference_loss_grad(Q: np.ndarray, theta: np.ndarray, X: np.ndarray):
    """NumPy reference: (mean over the rows of 0.5 (theta - x)^T Q (theta - x), its gradient)."""
    d = theta[None, :] - X
    losses = 0.5 * np.einsum("ij,jk,ik->i", d, Q, d)
    return float(losses.mean()), Q @ (theta - X.mean(axis=0))


# -- kernels ------------------------------------------------------------------------------------

@kernel
def _row_loss(Q, D, theta, X, r, d):
    """0.5 (theta - x_r)^T Q (theta - x_r), with d (a D-vector of workspace) holding theta - x_r."""
    for j in range(D):
        d[j] = theta[j] - X[r, j]
    s = 0.0
    for j in range(D):
        qd = 0.0
        base = j * D
        for k in range(D):
            qd += Q[base + k] * d[k]
        s += d[j] * qd
    return 0.5 * s


@kernel
def quadratic_loss_grad(ai, af, theta, X, idx, grad, ws):
    """Mean loss over the rows ``idx`` of X and its gradient Q (theta - mean(x)), written into grad."""
    D = ai[0]
    rows = idx.size
    total = 0.0
    for i in range(rows):
        total += _row_loss(af, D, theta, X, idx[i], ws[:D])
    d = ws[:D]
    for j in range(D):  # d <- theta - mean(x_B), the mean summed in float64
        s = 0.0
        for i in range(rows):
            s += X[idx[i], j]
        d[j] = theta[j] - s / rows
    for j in range(D):
        g = 0.0
        base = j * D
        for k in range(D):
            g += af[base + k] * d[k]
        grad[j] = g
    return total / rows


@kernel
def quadratic_evaluate(ai, af, theta, X, ws):
    """(mean loss over every row of X, 0.0): DeepOBS reports no accuracy for quadratic problems."""
    D = ai[0]
    n = X.shape[0]
    total = 0.0
    for r in range(n):
        total += _row_loss(af, D, theta, X, r, ws[:D])
    return total / max(n, 1), 0.0
