"""A Dataset from in-memory arrays, with the same validation as every other source."""

from __future__ import annotations

import numpy as np

from optengine.errors import ConfigError

from .dataset import Dataset, _as_labels, _check_rows, as_features, check_finite, make_dataset
from .files import _resolve_task
from .split import split3
from .standardize import finish


def _needs_encoding(y) -> bool:
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        return bool(len(y)) and y.min() < 0
    return y.dtype.kind not in "bf"


def _pair(X, y, part: str):
    if (X is None) != (y is None):
        missing = f"y_{part}" if y is None else f"X_{part}"
        raise ConfigError(f"dataset.{missing}", f"X_{part} and y_{part} must be given together")


def from_arrays(*, X, y, X_val=None, y_val=None, X_test=None, y_test=None, task=None, test_fraction=0.2,
                val_fraction=0.2, split_seed=0, standardize=None, standardize_target=None) -> Dataset:
    """Wrap ``X, y`` (and optionally ``X_val, y_val`` and/or ``X_test, y_test``) as a Dataset.

    A split you pass is used as it is. A missing one is carved from ``X, y`` with the fixed
    ``split_seed`` (stratified for classification when possible): first the test split,
    ``test_fraction`` of ``X``, kept apart; then the validation split, ``val_fraction`` of what
    remains; the rest trains (so ``X, y`` alone with the defaults give 64% / 16% / 20%).
    ``task=None`` infers it: float y -> regression, otherwise classification. Non-negative
    integer labels are kept as they are; strings or negative labels are mapped to ``0..C-1``
    by sorted unique value over all splits (``info["classes"]``).
    """
    _pair(X_val, y_val, "val")
    _pair(X_test, y_test, "test")
    X = as_features(X, "X")
    y = np.asarray(y)
    _check_rows(X, y, "X", "y")
    if y.dtype.kind == "f":
        check_finite(y, "y")
    task = _resolve_task(task, y, "y")
    if task == "classification" and not _needs_encoding(y):
        y = _as_labels(y, "y")  # fail on bad labels before splitting, naming the user's array
    given = {k: None if v is None else np.asarray(v) if k.startswith("y") else v
             for k, v in (("X_val", X_val), ("y_val", y_val), ("X_test", X_test), ("y_test", y_test))}
    *parts, split_info = split3(X, y, **given, test_fraction=test_fraction, val_fraction=val_fraction,
                                split_seed=split_seed, stratify=task == "classification")
    info = {"source": "arrays", "split": split_info}
    encode = task == "classification" and any(_needs_encoding(yy) for yy in parts[1::2])
    ds = make_dataset("arrays", task, *parts, info=info, encode=encode)
    return finish(ds, standardize, standardize_target, recommended=True)
