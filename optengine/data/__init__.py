"""Datasets: ``dataset(name, **kwargs) -> Dataset`` and the registry ``DATASETS``.

``DATASETS[name] = (builder, description, defaults)``; ``defaults`` maps every keyword the
builder takes to its default (``REQUIRED`` for keywords without one). Nothing is ever
downloaded: MNIST-1D is generated locally, the scikit-learn sets are bundled copies.

Every dataset has three splits: ``train`` (fitted on), ``val`` (scored every epoch; for
early stopping and for choosing between configurations) and ``test`` (kept apart, scored once
after training). A source with a test split of its own keeps it (MNIST-1D: the generator's
1000 test sequences); otherwise ``test_fraction`` of the samples is kept apart first
(stratified for classification where possible). The validation split is ``val_fraction`` of
what remains for training, carved with the fixed ``split_seed`` (default 0). Time series are
split in time order (train, then val, then test), never shuffled. Sizes with the defaults
(``test_fraction=0.2``, ``val_fraction=0.2``; a fraction f of n samples is ``ceil(f * n)``):

======================== ========= ======= ======= =============================================
dataset                  train     val     test    how
======================== ========= ======= ======= =============================================
mnist1d                  3200      800     1000    test = the generator's; val = 0.2 of its 4000
digits                   1149      288     360     of 1797 (stratified)
iris                     96        24      30      of 150 (stratified)
wine                     113       29      36      of 178 (stratified)
breast_cancer            364       91      114     of 569 (stratified)
diabetes                 282       71      89      of 442 (shuffled)
synthetic_regression     640       160     200     of n_samples=1000 (shuffled)
synthetic_classification 640       160     200     of n_samples=1000 (stratified)
synthetic_text           1280      320     400     of n_docs=2000 (stratified)
text_npz                 64%       16%     20%     of the file's documents (stratified)
sines, ar2, mackey_glass 1248      320     400     windows of n_steps=2000 (1280 / 320 / 400 steps;
                                                   window 32, horizon 1), in time order
quadratic_deep           1000      896     896     DeepOBS's draws (seeds 42 / 44 / 43); val and test cut
                                                   to whole batches of eval_batch=128, as DeepOBS scores them
file                     64%       16%     20%     of the rows; or as given (split_column, or the
                                                   .npz arrays X_val, y_val, X_test, y_test)
arrays                   64%       16%     20%     of X, y; or as given (X_val, y_val, X_test, y_test)
======================== ========= ======= ======= =============================================
"""

from __future__ import annotations

import inspect

from optengine.errors import ConfigError, check_choice, check_keys

from .arrays import from_arrays
from .dataset import Dataset, make_dataset
from .deepobs import quadratic_deep
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
    "mnist1d": (load_mnist1d, "MNIST-1D: sequences of length 40, 10 classes (generated locally); 3200 train / "
                              "800 val (carved from the generator's 4000) / 1000 test (the generator's)"),
    "digits": (load_digits, "scikit-learn digits: 1797 8x8 images, 64 features, 10 classes; 1149 / 288 / 360"),
    "iris": (load_iris, "scikit-learn iris: 150 flowers, 4 features, 3 classes; 96 / 24 / 30"),
    "wine": (load_wine, "scikit-learn wine: 178 wines, 13 features, 3 classes; 113 / 29 / 36"),
    "breast_cancer": (load_breast_cancer, "scikit-learn breast cancer: 569 samples, 30 features, 2 classes; "
                                          "364 / 91 / 114"),
    "diabetes": (load_diabetes, "scikit-learn diabetes: 442 patients, 10 features, regression; 282 / 71 / 89"),
    "synthetic_regression": (synthetic_regression, "linear y = X w + noise with Gaussian X and w; "
                                                   "64% / 16% / 20% of n_samples"),
    "synthetic_classification": (synthetic_classification, "balanced Gaussian clusters; "
                                                           "64% / 16% / 20% of n_samples (stratified)"),
    "synthetic_text": (synthetic_text, "bag-of-words documents (sparse CSR): Zipf vocabulary + rare class tokens; "
                                       "for sparse_logreg; 64% / 16% / 20% of n_docs"),
    "text_npz": (load_text_npz, "your CSR bag-of-words .npz (data, indices, indptr, shape + labels); "
                                "for sparse_logreg; 64% / 16% / 20% of the documents"),
    "sines": (sines, "time series: sum of sines + noise, windows -> next values; "
                     "train / val / test in time order (64% / 16% / 20% of n_steps)"),
    "ar2": (ar2, "time series: AR(2) process, windows -> next values; "
                 "train / val / test in time order (64% / 16% / 20% of n_steps)"),
    "mackey_glass": (mackey_glass, "time series: Mackey-Glass delay equation, windows -> next values; "
                                   "train / val / test in time order (64% / 16% / 20% of n_steps)"),
    "quadratic_deep": (quadratic_deep, "DeepOBS quadratic_deep data: x ~ N(0, 0.6^2 I_100), numpy RandomState seeds "
                                       "42 / 44 / 43; 1000 / 896 / 896 (val and test cut to whole batches of 128)"),
    "file": (load_file, "your .csv / .parquet / .npz file; splits as the file gives them "
                        "(split_column, or .npz X_val/X_test), else 64% / 16% / 20% of the rows"),
    "arrays": (from_arrays, "your in-memory numpy arrays; X_val/X_test as given, else carved: "
                            "64% / 16% / 20% of X"),
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
