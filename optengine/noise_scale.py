"""The gradient noise scale (McCandlish et al. 2018, "An Empirical Model of Large-Batch Training"), notes
section 9: ``oe.gradient_noise_scale(model, dataset, params, batch_size=64, n_batches=8, seed=0)``.

From per-example gradients g_1 .. g_n (n = batch_size x n_batches examples drawn without replacement
from the training split with ``seed``) at the parameters ``params``:

    G = mean_i g_i                                   (the mean gradient)
    tr(Sigma) = sum_j  sum_i (g_ij - G_j)^2 / (n - 1)   (the per-example covariance's trace, unbiased)
    B_simple = tr(Sigma) / |G|^2

|G|^2 of the sample mean overestimates the true squared gradient by tr(Sigma) / n on average, so the
result also holds the unbiased ``g_norm_sq_unbiased = |G|^2 - tr(Sigma) / n`` and
``B_simple_unbiased = tr(Sigma) / g_norm_sq_unbiased`` (NaN when that is not positive: the batch is too
small to see the mean gradient through the noise). B_simple estimates the critical batch size: batches
much smaller than it are noise-dominated (doubling the batch nearly halves the steps), much larger ones
waste examples.

Per-example gradients are computed one example at a time with the model's own loss-and-gradient
kernel (the trainer's), accumulated in float64.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, check_number


def gradient_noise_scale(model, dataset, params, *, batch_size: int = 64, n_batches: int = 8, seed: int = 0,
                         dtype=None) -> dict:
    """``{"B_simple", "trace_sigma", "g_norm_sq", "B_simple_unbiased", "g_norm_sq_unbiased", "n_examples"}``
    at ``params`` (see the module). ``model`` and ``dataset`` as for ``oe.train`` (a surface model takes
    ``dataset=None`` or ``{"name": "surface_noise", ...}``: its noise draws are its examples)."""
    from .models.kernels import LOSS_GRAD
    from .train import resolve_dataset, resolve_model, surface_data

    batch_size = check_number("batch_size", batch_size, low=1, integer=True)
    n_batches = check_number("n_batches", n_batches, low=1, integer=True)
    seed = check_number("seed", seed, low=0, high=2**63 - 1, integer=True)
    ds = resolve_dataset(dataset)
    mdl = resolve_model(model, ds)
    if not isinstance(params, np.ndarray) or params.shape != (mdl.n_params,):
        raise ConfigError("params", f"must be a flat array of the {mdl.n_params} parameters of this {mdl.name}, "
                                    f"got {getattr(params, 'shape', type(params))}")
    dt = np.dtype(dtype) if dtype is not None else (params.dtype if params.dtype in (np.float32, np.float64)
                                                     else np.dtype(np.float64))
    if dt not in (np.float32, np.float64):
        raise ConfigError("dtype", f"must be float32 or float64, got {dtype!r}")
    theta = np.ascontiguousarray(params, dtype=dt)
    if mdl.task == "surface":
        if ds is not None:
            raise ConfigError("dataset", f"{mdl.name} is a test surface: leave dataset out, or give "
                                         "{name = \"surface_noise\", n_samples, seed}")
        X, _, _ = surface_data(dataset)
        X, yc, yr = mdl.prepare(X, None, dt, "dataset")
    else:
        if ds is None:
            raise ConfigError("dataset", f"{mdl.name} needs a dataset, e.g. dataset=\"mnist1d\"")
        X, yc, yr = mdl.prepare(ds.X_train, ds.y_train, dt, "dataset.X_train")
    n_rows = X.shape[0]
    n = min(batch_size * n_batches, n_rows)
    if n < 2:
        raise ConfigError("batch_size", f"batch_size x n_batches must be at least 2 examples (the covariance "
                                        f"needs two), got {n}")
    rows = np.random.default_rng([seed, 9]).permutation(n_rows)[:n]
    grads = per_example_gradients(mdl, theta, X, yc, yr, rows, LOSS_GRAD[mdl.family])
    return noise_scale_from_gradients(grads)


def per_example_gradients(mdl, theta, X, yc, yr, rows, loss_grad) -> np.ndarray:
    """n x P float64 array: the gradient of the loss of each example ``rows[i]`` alone."""
    out = np.empty((len(rows), theta.size))
    grad = np.zeros_like(theta)
    ws = np.empty(mdl.workspace_size(1), dtype=theta.dtype)
    idx = np.zeros(1, dtype=np.int64)
    for i, r in enumerate(rows):
        idx[0] = r
        grad[:] = 0
        loss_grad(mdl.ai, mdl.af, theta, X, yc, yr, idx, grad, ws, 0)
        out[i] = grad
    return out


def noise_scale_from_gradients(grads: np.ndarray) -> dict:
    """The noise scale's numbers from an n x P array of per-example gradients (module docstring)."""
    g = np.asarray(grads, dtype=np.float64)
    n = g.shape[0]
    mean = g.mean(axis=0)
    trace = float(((g - mean) ** 2).sum() / (n - 1))
    g2 = float(mean @ mean)
    g2_unbiased = g2 - trace / n
    return {"B_simple": trace / g2 if g2 > 0 else float("inf"), "trace_sigma": trace, "g_norm_sq": g2,
            "B_simple_unbiased": trace / g2_unbiased if g2_unbiased > 0 else float("nan"),
            "g_norm_sq_unbiased": g2_unbiased, "n_examples": int(n)}
