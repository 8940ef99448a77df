"""Datasets: ``dataset(name, **kwargs) -> Dataset`` and the registry ``DATASETS``.

``DATASETS[name] = (builder, description, defaults)``; ``defaults`` maps every keyword the
builder takes to its default (``REQUIRED`` for keywords without one). Nothing is ever
downloaded: MNIST-1D is generated locally, the scikit-learn sets are bundled copies.
"""

from __future__ import annotations

import inspect

from optengine.errors import ConfigError, check_choice, check_keys

from .arrays import from_arrays
from .dataset import Dataset, make_dataset
from .files import load_file
from .mnist1d import load_mnist1d
from .sklearn_sets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from .standardize import standardize
from .synthetic import synthetic_classification, synthetic_regression
from .text import load_text_npz, synthetic_text
from .timeseries import ar2, mackey_glass, sines, window_series


class _Required:
    """Marker for a keyword without a default."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()


def _defaults(builder) -> dict:
    return {n: (REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for n, p in inspect.signature(builder).parameters.items()}


_BUILDERS = {
    "mnist1d": (load_mnist1d, "MNIST-1D: 4000/1000 sequences of length 40, 10 classes (generated locally)"),
    "digits": (load_digits, "scikit-learn digits: 1797 8x8 images, 64 features, 10 classes"),
    "iris": (load_iris, "scikit-learn iris: 150 flowers, 4 features, 3 classes"),
    "wine": (load_wine, "scikit-learn wine: 178 wines, 13 features, 3 classes"),
    "breast_cancer": (load_breast_cancer, "scikit-learn breast cancer: 569 samples, 30 features, 2 classes"),
    "diabetes": (load_diabetes, "scikit-learn diabetes: 442 patients, 10 features, regression"),
    "synthetic_regression": (synthetic_regression, "linear y = X w + noise with Gaussian X and w"),
    "synthetic_classification": (synthetic_classification, "balanced Gaussian clusters"),
    "synthetic_text": (synthetic_text, "bag-of-words documents (sparse CSR): Zipf vocabulary + rare class tokens; "
                                       "for sparse_logreg"),
    "text_npz": (load_text_npz, "your CSR bag-of-words .npz (data, indices, indptr, shape + labels); "
                                "for sparse_logreg"),
    "sines": (sines, "time series: sum of sines + noise, windows -> next values (split in time order)"),
    "ar2": (ar2, "time series: AR(2) process, windows -> next values (split in time order)"),
    "mackey_glass": (mackey_glass, "time series: Mackey-Glass delay equation, windows -> next values (time order)"),
    "file": (load_file, "your .csv / .parquet / .npz file"),
    "arrays": (from_arrays, "your in-memory numpy arrays"),
}

DATASETS: dict = {name: (b, desc, _defaults(b)) for name, (b, desc) in _BUILDERS.items()}


def dataset(name: str, **kwargs) -> Dataset:
    """Build the dataset ``name`` with keyword parameters (see ``DATASETS[name][2]``)."""
    check_choice("dataset.name", name, list(DATASETS))
    builder, _, defaults = DATASETS[name]
    check_keys("dataset", kwargs, defaults, f"dataset {name!r}")
    for kw, default in defaults.items():
        if default is REQUIRED and kwargs.get(kw) is None:
            raise ConfigError(f"dataset.{kw}", f"required for dataset {name!r}")
    return builder(**kwargs)


__all__ = ["DATASETS", "REQUIRED", "Dataset", "dataset", "from_arrays", "load_file", "make_dataset",
           "standardize", "window_series"]
