"""Datasets with every split given, so a test's numbers do not depend on how a loader splits its data.

``given(X, y, X_val, y_val, X_test=None, y_test=None)`` is a Dataset with exactly these splits,
whether or not this version's Dataset has a test split (``X_test=None``: none, the train.py
contract's "no test split"). ``iris()`` is scikit-learn's iris standardized and split 120 / 30
with a fixed permutation, the same in every version.
"""

import dataclasses

import numpy as np

import optengine as oe
from optengine.data import Dataset

HAS_TEST_SPLIT = "X_test" in {f.name for f in dataclasses.fields(Dataset)}


def given(X, y, X_val, y_val, X_test=None, y_test=None, **settings):
    """A Dataset of these splits (``settings``: the "arrays" dataset's task, standardize ...)."""
    if HAS_TEST_SPLIT:  # a test split must be given, or it would be carved from X
        tx, ty = (X_val, y_val) if X_test is None else (X_test, y_test)
        ds = oe.dataset("arrays", X=X, y=y, X_val=X_val, y_val=y_val, X_test=tx, y_test=ty, **settings)
        if X_test is None:
            object.__setattr__(ds, "X_test", None)
            object.__setattr__(ds, "y_test", None)
        return ds
    ds = oe.dataset("arrays", X=X, y=y, X_val=X_val, y_val=y_val, **settings)
    if X_test is not None:  # a test split on a Dataset that has none: the attributes train.py reads
        object.__setattr__(ds, "X_test", np.ascontiguousarray(X_test, dtype=np.float64))
        object.__setattr__(ds, "y_test", np.asarray(y_test))
    return ds


def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    return given(X[:120], y[:120], X[120:], y[120:], task="classification", standardize=False)
