"""Fixed, seeded train / validation / test splits (stratified for classification when possible).

Datasets without a test split of their own keep ``ceil(test_fraction * n)`` samples apart
first, then carve ``ceil(val_fraction * rest)`` validation samples from the rest; the
remainder is the training split. Both carvings shuffle with ``split_seed`` (scikit-learn's
``train_test_split``), so a given seed always gives the same three splits.
"""

from __future__ import annotations

import math

import numpy as np

from optengine.errors import ConfigError, check_number


def check_seed(field: str, seed) -> int:
    """A data seed is an integer in [0, 2**32 - 1] (what NumPy's and scikit-learn's generators take)."""
    return check_number(field, seed, low=0, high=2**32 - 1, integer=True)


def check_fraction(field: str, value) -> float:
    """A split fraction is a number in the open interval (0, 1)."""
    return check_number(field, value, low=0.0, high=1.0, low_open=True, high_open=True)


def part_size(n: int, fraction: float, *, field: str, part: str, rest: str, of: str = "") -> int:
    """``ceil(fraction * n)``, the size of ``part``; ConfigError(field) when ``part`` would be empty
    or leave ``rest`` too small (2 samples for ``"train+val"``, which is split again, else 1)."""
    n_part = math.ceil(fraction * n)
    need_rest = 2 if rest == "train+val" else 1
    if n_part < 1 or n - n_part < need_rest:
        name = field.rsplit(".", 1)[-1]
        raise ConfigError(field, f"{name}={fraction} leaves an empty split of {n} samples{of} "
                                 f"({n - n_part} {rest} / {n_part} {part}); choose a fraction in (0, 1) "
                                 f"that leaves every split at least one sample")
    return n_part


def split_sizes(n: int, *, test_fraction, val_fraction, split_seed) -> dict:
    """Validate the split settings for ``n`` samples (before any data is made) and return the
    sizes ``{"train", "val", "test"}`` that :func:`split3` will produce."""
    test_fraction = check_fraction("dataset.test_fraction", test_fraction)
    val_fraction = check_fraction("dataset.val_fraction", val_fraction)
    check_seed("dataset.split_seed", split_seed)
    n_test = part_size(n, test_fraction, field="dataset.test_fraction", part="test", rest="train+val")
    n_val = part_size(n - n_test, val_fraction, field="dataset.val_fraction", part="val", rest="train",
                      of=f" left after the test split (of {n})")
    return {"train": n - n_test - n_val, "val": n_val, "test": n_test}


def carve(y, *, fraction: float, split_seed: int, stratify: bool, field: str, part: str, rest: str,
          of: str = ""):
    """Indices ``(idx_rest, idx_part, stratified)``: ``ceil(fraction * n)`` of the ``n = len(y)``
    samples go to ``part``, the others to ``rest`` (see :func:`part_size` for the errors).

    Stratification is used when asked and every class has >= 2 samples and both parts can hold
    every class; otherwise the split is a plain shuffle.
    """
    from sklearn.model_selection import train_test_split

    n = len(y)
    n_part = part_size(n, fraction, field=field, part=part, rest=rest, of=of)
    strat = None
    if stratify:
        _, counts = np.unique(np.asarray(y), return_counts=True)
        if counts.min() >= 2 and min(n_part, n - n_part) >= len(counts):
            strat = y
    idx_rest, idx_part = train_test_split(np.arange(n), test_size=n_part, random_state=split_seed,
                                          shuffle=True, stratify=strat)
    return idx_rest, idx_part, strat is not None


def split(X, y, *, val_fraction, split_seed, stratify: bool):
    """Split ``X, y`` into ``(X_train, y_train, X_val, y_val, info)`` (``val_fraction`` in (0, 1);
    the validation size is ``ceil(val_fraction * n)`` as in scikit-learn)."""
    val_fraction = check_fraction("dataset.val_fraction", val_fraction)
    split_seed = check_seed("dataset.split_seed", split_seed)
    it, iv, strat = carve(y, fraction=val_fraction, split_seed=split_seed, stratify=stratify,
                          field="dataset.val_fraction", part="val", rest="train")
    info = {"val_fraction": val_fraction, "split_seed": split_seed, "stratified": strat}
    return X[it], y[it], X[iv], y[iv], info


def split3(X, y, *, X_val=None, y_val=None, X_test=None, y_test=None, test_fraction, val_fraction,
           split_seed, stratify: bool):
    """``(X_train, y_train, X_val, y_val, X_test, y_test, info)`` from the pool ``X, y``.

    A split given as arrays (``X_val, y_val`` / ``X_test, y_test``) is used as it is; a
    missing test split is ``test_fraction`` of the pool, kept apart first; a missing
    validation split is ``val_fraction`` of what remains; the rest trains. ``X`` may be any
    row-indexable array (NumPy, CSR). ``info`` records the settings, the sizes and, per
    split, whether it was ``"given"`` or ``"carved"``. The fractions and the seed are
    validated even where unused.
    """
    test_fraction = check_fraction("dataset.test_fraction", test_fraction)
    val_fraction = check_fraction("dataset.val_fraction", val_fraction)
    split_seed = check_seed("dataset.split_seed", split_seed)
    y = np.asarray(y)
    info = {"test_fraction": test_fraction, "val_fraction": val_fraction, "split_seed": split_seed,
            "test": "given" if X_test is not None else "carved",
            "val": "given" if X_val is not None else "carved"}
    n, stratified = len(y), []
    if X_test is None:
        rest = "train+val" if X_val is None else "train"
        ir, ite, strat = carve(y, fraction=test_fraction, split_seed=split_seed, stratify=stratify,
                               field="dataset.test_fraction", part="test", rest=rest)
        X, y, X_test, y_test = X[ir], y[ir], X[ite], y[ite]
        stratified.append(strat)
    if X_val is None:
        of = f" left after the test split (of {n})" if info["test"] == "carved" else ""
        it, iv, strat = carve(y, fraction=val_fraction, split_seed=split_seed, stratify=stratify,
                              field="dataset.val_fraction", part="val", rest="train", of=of)
        X, y, X_val, y_val = X[it], y[it], X[iv], y[iv]
        stratified.append(strat)
    info["stratified"] = bool(stratified) and all(stratified)
    info["sizes"] = {part: int(np.shape(a)[0]) if np.ndim(a) else 0
                     for part, a in (("train", y), ("val", y_val), ("test", y_test))}
    return X, y, X_val, y_val, X_test, y_test, info
