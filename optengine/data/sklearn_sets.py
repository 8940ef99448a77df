"""scikit-learn's bundled datasets (no network): digits, iris, wine, breast_cancer, diabetes.

None has a test split of its own: ``test_fraction`` of the samples is kept apart as the test
split, then ``val_fraction`` of the rest is the validation split (``data.split.split3``,
stratified for the classification sets, seeded by ``split_seed``).
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset, make_dataset
from .split import split3
from .standardize import finish

_LOADERS = {
    "digits": ("load_digits", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}


def load_sklearn(name: str, *, test_fraction=0.2, val_fraction=0.2, split_seed=0, standardize=None,
                 standardize_target=None) -> Dataset:
    """Load ``sklearn.datasets.load_<name>`` and split it in three (stratified for classification)."""
    import sklearn.datasets

    loader, task = _LOADERS[name]
    bunch = getattr(sklearn.datasets, loader)()
    X, y = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
    *parts, split_info = split3(X, y, test_fraction=test_fraction, val_fraction=val_fraction,
                                split_seed=split_seed, stratify=task == "classification")
    names = getattr(bunch, "feature_names", None)
    info = {"source": f"sklearn.datasets.{loader}", "split": split_info}
    if name == "digits":
        info["input_shape"] = [1, 8, 8]  # 8x8 grey images, one channel (for conv2d layers)
    if task == "classification" and getattr(bunch, "target_names", None) is not None:
        info["classes"] = [str(c) for c in bunch.target_names]
    ds = make_dataset(name, task, *parts, feature_names=names, info=info,
                      n_classes=len(info["classes"]) if "classes" in info else None)
    return finish(ds, standardize, standardize_target, recommended=True)


def _classifier(name):
    def build(*, test_fraction=0.2, val_fraction=0.2, split_seed=0, standardize=None) -> Dataset:
        return load_sklearn(name, test_fraction=test_fraction, val_fraction=val_fraction, split_seed=split_seed,
                            standardize=standardize)

    build.__name__ = f"load_{name}"
    build.__doc__ = f"scikit-learn's bundled {name!r} (classification), fixed stratified train / val / test split."
    return build


load_digits = _classifier("digits")
load_iris = _classifier("iris")
load_wine = _classifier("wine")
load_breast_cancer = _classifier("breast_cancer")


def load_diabetes(*, test_fraction=0.2, val_fraction=0.2, split_seed=0, standardize=None,
                  standardize_target=None) -> Dataset:
    """scikit-learn's bundled 'diabetes' (regression, 1 output), fixed shuffled train / val / test split."""
    return load_sklearn("diabetes", test_fraction=test_fraction, val_fraction=val_fraction, split_seed=split_seed,
                        standardize=standardize, standardize_target=standardize_target)
