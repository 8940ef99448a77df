"""Z-score standardisation with statistics from the training split only."""

from __future__ import annotations

import dataclasses

import numpy as np

from optengine.errors import ConfigError

from .dataset import Dataset


def zscore_stats(A: np.ndarray):
    """Column means and standard deviations of ``A`` (a zero std becomes 1)."""
    mean = A.mean(axis=0)
    std = A.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return mean, std


def _flag(field: str, value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ConfigError(field, f"must be true or false (or omitted), got {value!r}")


def resolve(standardize, standardize_target, recommended: bool):
    """Turn the user's ``None``/bool choices into two bools (``None`` = recommended / same as X)."""
    x = recommended if standardize is None else _flag("dataset.standardize", standardize)
    y = x if standardize_target is None else _flag("dataset.standardize_target", standardize_target)
    return x, y


def standardize(ds: Dataset, *, X: bool = True, y: bool = False) -> Dataset:
    """Return a copy of ``ds`` with X (and, for regression, y) z-scored by training-split stats,
    applied alike to the training, validation and test splits.

    The stats land in ``info["X_mean"], info["X_std"]`` (and ``y_mean, y_std``); invert a
    prediction with ``pred * y_std + y_mean``. ``info["standardize"]`` records what was done.
    """
    info = dict(ds.info)
    Xs = [ds.X_train, ds.X_val, ds.X_test]
    ys = [ds.y_train, ds.y_val, ds.y_test]
    if X:
        m, s = zscore_stats(Xs[0])
        Xs = [np.ascontiguousarray((A - m) / s) for A in Xs]
        info["X_mean"], info["X_std"] = m, s
    y = bool(y) and ds.task == "regression"
    if y:
        m, s = zscore_stats(ys[0])
        ys = [np.ascontiguousarray((A - m) / s) for A in ys]
        info["y_mean"], info["y_std"] = m, s
    info["standardize"] = {"X": bool(X), "y": y}
    return dataclasses.replace(ds, X_train=Xs[0], X_val=Xs[1], X_test=Xs[2], y_train=ys[0], y_val=ys[1],
                               y_test=ys[2], info=info)


def finish(ds: Dataset, standardize_x, standardize_target, recommended: bool) -> Dataset:
    """Apply the user's (or the recommended) standardisation choice to a freshly built dataset."""
    x, y = resolve(standardize_x, standardize_target, recommended)
    return standardize(ds, X=x, y=y)
