"""A Dataset from in-memory arrays, with the same validation as every other source."""

from __future__ import annotations

import numpy as np

from optengine.errors import ConfigError

from .dataset import Dataset, _as_labels, _check_rows, as_features, check_finite, make_dataset
from .files import _resolve_task
from .split import split
from .standardize import finish


def _needs_encoding(y) -> bool:
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        return bool(len(y)) and y.min() < 0
    return y.dtype.kind not in "bf"


def from_arrays(*, X, y, X_val=None, y_val=None, task=None, val_fraction=0.2, split_seed=0,
                standardize=None, standardize_target=None) -> Dataset:
    """Wrap ``X, y`` (split by ``val_fraction``) or ``X, y, X_val, y_val`` as a Dataset.

    ``task=None`` infers it: float y -> regression, otherwise classification. Non-negative
    integer labels are kept as they are; strings or negative labels are mapped to ``0..C-1``
    by sorted unique value (``info["classes"]``).
    """
    if (X_val is None) != (y_val is None):
        missing = "y_val" if y_val is None else "X_val"
        raise ConfigError(f"dataset.{missing}", "X_val and y_val must be given together")
    X = as_features(X, "X")
    y = np.asarray(y)
    _check_rows(X, y, "X", "y")
    if y.dtype.kind == "f":
        check_finite(y, "y")
    task = _resolve_task(task, y, "y")
    if task == "classification" and not _needs_encoding(y):
        y = _as_labels(y, "y")  # fail on bad labels before splitting, naming the user's array
    info = {"source": "arrays"}
    if X_val is None:
        Xt, yt, Xv, yv, info["split"] = split(X, y, val_fraction=val_fraction, split_seed=split_seed,
                                               stratify=task == "classification")
    else:
        Xt, yt, Xv, yv = X, y, X_val, np.asarray(y_val)
        info["split"] = "given"
    encode = task == "classification" and (_needs_encoding(yt) or _needs_encoding(yv))
    ds = make_dataset("arrays", task, Xt, yt, Xv, yv, info=info, encode=encode)
    return finish(ds, standardize, standardize_target, recommended=True)
