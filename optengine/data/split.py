"""A fixed, seeded train/validation split (stratified for classification when possible)."""

from __future__ import annotations

import math

import numpy as np

from optengine.errors import ConfigError, check_number


def check_seed(field: str, seed) -> int:
    """A data seed is an integer in [0, 2**32 - 1] (what NumPy's and scikit-learn's generators take)."""
    return check_number(field, seed, low=0, high=2**32 - 1, integer=True)


def split(X, y, *, val_fraction, split_seed, stratify: bool):
    """Split ``X, y`` into ``(X_train, y_train, X_val, y_val, info)``.

    ``val_fraction`` in (0, 1); the validation size is ``ceil(val_fraction * n)`` as in
    scikit-learn. Stratification is used when asked and every class has >= 2 samples and
    both parts can hold every class; otherwise the split is a plain shuffle (``info`` says which).
    """
    from sklearn.model_selection import train_test_split

    val_fraction = check_number("dataset.val_fraction", val_fraction, low=0.0, high=1.0,
                                low_open=True, high_open=True)
    split_seed = check_seed("dataset.split_seed", split_seed)
    n = len(X)
    n_val = math.ceil(val_fraction * n)
    if n_val < 1 or n - n_val < 1:
        raise ConfigError("dataset.val_fraction",
                          f"val_fraction={val_fraction} leaves an empty split of {n} samples "
                          f"({n - n_val} train / {n_val} val)")
    strat = None
    if stratify:
        _, counts = np.unique(np.asarray(y), return_counts=True)
        if counts.min() >= 2 and min(n_val, n - n_val) >= len(counts):
            strat = y
    idx_tr, idx_val = train_test_split(np.arange(n), test_size=n_val, random_state=split_seed,
                                       shuffle=True, stratify=strat)
    info = {"val_fraction": val_fraction, "split_seed": split_seed, "stratified": strat is not None}
    return X[idx_tr], y[idx_tr], X[idx_val], y[idx_val], info
