"""Seeded synthetic problems: linear regression and Gaussian-cluster classification.

``seed`` draws the data; ``split_seed`` draws the split: ``test_fraction`` of the samples is
kept apart as the test split, ``val_fraction`` of the rest is the validation split
(``data.split.split3``; stratified for classification).
"""

from __future__ import annotations

import numpy as np

from optengine.errors import check_number
from optengine.memory import require

from .dataset import Dataset, make_dataset
from .split import check_seed, split3, split_sizes
from .standardize import finish, resolve

def require_memory(name: str, n: int, d: int, k: int, standardized: bool) -> None:
    """Refuse (ConfigError naming dataset.n_samples) a dataset of ``n x d`` features and ``n x k``
    targets whose generation, split and standardisation would not fit in the memory available.

    Measured peak (tracemalloc): about 2.8 copies of the data (the samples, then the copies
    ``split3`` makes of them) and 3.3 when standardised; the estimate takes 3 and 4.
    """
    copies = 4 if standardized else 3
    require("dataset.n_samples", f"the dataset {name} ({n} x {d} float64, about {copies} copies while "
                                 f"splitting{' and standardising' if standardized else ''})",
            copies * 8 * n * (d + k))


def synthetic_regression(*, n_samples=1000, n_features=10, n_outputs=1, noise=0.1, seed=0, test_fraction=0.2,
                         val_fraction=0.2, split_seed=0, standardize=None, standardize_target=None) -> Dataset:
    """``X ~ N(0, 1)``, ``w ~ N(0, 1)``, ``y = X w + noise * N(0, 1)``; ``w`` in ``info["true_weights"]``."""
    n = check_number("dataset.n_samples", n_samples, low=2, integer=True)
    d = check_number("dataset.n_features", n_features, low=1, integer=True)
    k = check_number("dataset.n_outputs", n_outputs, low=1, integer=True)
    noise = check_number("dataset.noise", noise, low=0.0)
    seed = check_seed("dataset.seed", seed)
    split_sizes(n, test_fraction=test_fraction, val_fraction=val_fraction, split_seed=split_seed)
    require_memory("synthetic_regression", n, d, 3 * k,  # y, the noise and X w
                   any(resolve(standardize, standardize_target, recommended=False)))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal((d, k))
    y = X @ w + noise * rng.standard_normal((n, k))
    *parts, split_info = split3(X, y, test_fraction=test_fraction, val_fraction=val_fraction,
                                split_seed=split_seed, stratify=False)
    info = {"source": "synthetic", "split": split_info, "true_weights": w, "noise": noise, "seed": seed}
    ds = make_dataset("synthetic_regression", "regression", *parts, info=info)
    return finish(ds, standardize, standardize_target, recommended=False)


def synthetic_classification(*, n_samples=1000, n_features=10, n_classes=3, class_sep=1.0, seed=0,
                             test_fraction=0.2, val_fraction=0.2, split_seed=0, standardize=None) -> Dataset:
    """Balanced Gaussian clusters: class means ``class_sep * N(0, 1)``, unit-variance noise."""
    n = check_number("dataset.n_samples", n_samples, low=2, integer=True)
    d = check_number("dataset.n_features", n_features, low=1, integer=True)
    c = check_number("dataset.n_classes", n_classes, low=2, integer=True)
    sep = check_number("dataset.class_sep", class_sep, low=0.0)
    seed = check_seed("dataset.seed", seed)
    if n < 2 * c:
        check_number("dataset.n_samples", n, low=2 * c, integer=True)
    split_sizes(n, test_fraction=test_fraction, val_fraction=val_fraction, split_seed=split_seed)
    require_memory("synthetic_classification", n, d, 1,  # y (int64)
                   resolve(standardize, None, recommended=False)[0])
    rng = np.random.default_rng(seed)
    means = sep * rng.standard_normal((c, d))
    y = rng.permutation(np.arange(n) % c).astype(np.int64)
    X = means[y] + rng.standard_normal((n, d))
    *parts, split_info = split3(X, y, test_fraction=test_fraction, val_fraction=val_fraction,
                                split_seed=split_seed, stratify=True)
    info = {"source": "synthetic", "split": split_info, "class_means": means, "seed": seed}
    ds = make_dataset("synthetic_classification", "classification", *parts, n_classes=c, info=info)
    return finish(ds, standardize, None, recommended=False)
